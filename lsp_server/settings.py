"""The settings of codecomp, declared once in `SETTINGS`, and their parsing into one typed `Settings` object.

The server reads them from initializationOptions, workspace/didChangeConfiguration and workspace/configuration
(section `codecomp`), as one JSON object, optionally wrapped in {"codecomp": {...}}; every key is optional.
The VS Code extension contributes each of them as `codecomp.<key>` with the same type, default and bounds, and
sends each once; two more are the extension's own (no `attr`: the server ignores them).  The table is
checked against the extension's package.json and against the Settings section of docs/design.md by
tests/test_settings_contract.py.

Invalid values never stop the server: the setting keeps its current value (its default at first), and
`parse_settings` returns one sentence per problem so the server can tell the user.  `null` means the default.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from typing import Any

LOG_LEVELS = {"error": logging.ERROR, "warning": logging.WARNING, "info": logging.INFO, "debug": logging.DEBUG}
LANGUAGES = ("cpp", "javascript")  # the engine's languages (codecomp.syntax.LANGUAGES; a test keeps them equal)

PER_LANGUAGE = "language-overridable"  # VS Code's scope for a setting that can differ per language


@dataclass(frozen=True)
class Setting:
    """One setting: its key (`codecomp.<key>` in VS Code), JSON type, default, bounds and meaning."""

    key: str
    type: str                             # "string", "integer" or "boolean"
    default: Any
    description: str
    minimum: int | None = None            # integers: the accepted range
    maximum: int | None = None
    choices: tuple[str, ...] | None = None  # strings: the accepted values
    scope: str | None = None              # VS Code's scope; PER_LANGUAGE: the value may differ per language
    attr: str | None = None               # the `Settings` attribute; None: not read by the server

    @property
    def server(self) -> bool:
        return self.attr is not None

    @property
    def per_language(self) -> bool:
        return self.scope == PER_LANGUAGE


SETTINGS: tuple[Setting, ...] = (
    Setting("modelPath", "string", "",
            "Model artifact folder (made by `codecomp export`). Empty or null: the model shipped with codecomp.",
            scope="machine-overridable", attr="model_path"),
    Setting("maxItems", "integer", 50, "Completion items per request.", minimum=1, maximum=500, attr="max_items"),
    Setting("enable", "boolean", True,
            "Offer completions. Per language on the wire: an object such as `{\"cpp\": false}`; in VS Code "
            "a language block such as `\"[cpp]\": {\"codecomp.enable\": false}`.",
            scope=PER_LANGUAGE, attr="enabled_languages"),
    Setting("inlineCompletions", "boolean", True,
            "Inline (ghost text) completion of multi-token fragments, for editors that support it.",
            attr="inline_completions"),
    Setting("logLevel", "string", "warning", "Log verbosity of the server (on its stderr).",
            choices=tuple(LOG_LEVELS), attr="log_level"),
    Setting("requestTimeoutMs", "integer", 1000,
            "Every request is answered within this time (from the words of the file when the model is late).",
            minimum=50, maximum=60_000, attr="request_timeout_ms"),
    Setting("maxDocumentKiB", "integer", 2048, "Larger documents get no completions.",
            minimum=1, maximum=65_536, attr="max_document_kib"),
    Setting("workspaceIndex", "boolean", True,
            "Index the C++ and JavaScript files of the workspace folders in the background, so that completions "
            "also offer names declared or used in files that are not open.", attr="workspace_index"),
    Setting("maxIndexedFiles", "integer", 20_000, "Largest number of workspace files the index reads.",
            minimum=1, maximum=1_000_000, attr="max_indexed_files"),
    Setting("learnFromUser", "boolean", True,
            "Learn from the completions you accept and the names you type where a list was shown, so that the "
            "ranking adapts to each workspace. Kept in memory only, unless `persistLearning` is on.",
            attr="learn_from_user"),
    Setting("persistLearning", "boolean", False,
            "Keep what was learned from you across restarts, in the file `.codecomp/learning.json` inside each "
            "workspace folder (never elsewhere, never sent anywhere). Off: nothing is read or written.",
            attr="persist_learning"),
    Setting("simulateSlowEngineMs", "integer", 0,
            "Diagnostics: delay every engine call by this much, to check the time bound.",
            minimum=0, maximum=600_000, attr="simulate_slow_engine_ms"),
    # read by the VS Code extension only
    Setting("pythonPath", "string", "",
            "The Python interpreter that has codecomp installed. Empty: the Python extension's "
            "interpreter, else `python3`. Changing it restarts the server.", scope="machine-overridable"),
    Setting("trace.server", "string", "off",
            "How much of the protocol traffic to trace in the codecomp output; `messages` and `verbose` "
            "also raise the server's `logLevel` to `info` and `debug`.", choices=("off", "messages", "verbose")),
)
BY_KEY = {s.key: s for s in SETTINGS}
BY_ATTR = {s.attr: s for s in SETTINGS if s.attr is not None}


def _typed(setting: Setting, value: Any) -> Any:
    """A wire value of `setting` (already checked) as the `Settings` attribute holds it."""
    if setting.per_language:
        return frozenset(LANGUAGES) if value else frozenset()
    return value


def _default(attr: str) -> Any:
    setting = BY_ATTR[attr]
    return _typed(setting, setting.default)


@dataclass(frozen=True)
class Settings:
    """Typed server settings; the defaults, types and bounds are those of `SETTINGS`."""

    model_path: str = field(default=_default("model_path"))  # "": the shipped model
    max_items: int = field(default=_default("max_items"))
    enabled_languages: frozenset[str] = field(default=_default("enabled_languages"))
    inline_completions: bool = field(default=_default("inline_completions"))
    log_level: str = field(default=_default("log_level"))
    request_timeout_ms: int = field(default=_default("request_timeout_ms"))
    max_document_kib: int = field(default=_default("max_document_kib"))
    workspace_index: bool = field(default=_default("workspace_index"))
    max_indexed_files: int = field(default=_default("max_indexed_files"))
    learn_from_user: bool = field(default=_default("learn_from_user"))
    persist_learning: bool = field(default=_default("persist_learning"))
    simulate_slow_engine_ms: int = field(default=_default("simulate_slow_engine_ms"))

    def language_enabled(self, lang: str | None) -> bool:
        return lang is not None and lang in self.enabled_languages


def _shown(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, frozenset):
        return "{" + ", ".join(f'"{lang}": {str(lang in value).lower()}' for lang in LANGUAGES) + "}"
    return repr(value)


def _check(setting: Setting, value: Any, name: str) -> tuple[bool, Any, str | None]:
    """(ok, value, problem) for one scalar wire value of `setting` (`name`: how to call it in a message)."""
    if setting.type == "boolean":
        if isinstance(value, bool):
            return True, value, None
        return False, None, f"`{name}` must be true or false, got {value!r}"
    if setting.type == "integer":
        lo, hi = setting.minimum, setting.maximum
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value != int(value):
            return False, None, f"`{name}` must be a whole number between {lo} and {hi}, got {value!r}"
        if not lo <= int(value) <= hi:  # type: ignore[operator]
            return False, None, f"`{name}` must be between {lo} and {hi}, got {value!r}"
        return True, int(value), None
    if setting.choices is not None:
        if not isinstance(value, str) or value.lower() not in setting.choices:
            return False, None, f"`{name}` must be one of {', '.join(setting.choices)}, got {value!r}"
        return True, value.lower(), None
    if not isinstance(value, str):
        return False, None, f"`{name}` must be a string, got {value!r}"
    return True, value, None


def _per_language(setting: Setting, value: Any, current: frozenset[str], problems: list[str]) -> frozenset[str]:
    """A per-language boolean: one value for every language, or an object {language: value}."""
    if not isinstance(value, dict):
        ok, flag, _ = _check(setting, value, setting.key)
        if ok:
            return frozenset(LANGUAGES) if flag else frozenset()
        problems.append(f"`{setting.key}` must be true, false or an object like {{\"cpp\": false}}, got {value!r}; "
                        f"keeping {_shown(current)}")
        return current
    on = set(current)
    for lang, flag in value.items():
        if lang not in LANGUAGES:
            problems.append(f"`{setting.key}.{lang}`: unknown language (known: {', '.join(LANGUAGES)}); ignoring it")
            continue
        if flag is None:
            flag = setting.default
        ok, flag, problem = _check(setting, flag, f"{setting.key}.{lang}")
        if not ok:
            problems.append(f"{problem}; keeping {_shown(lang in current)}")
        elif flag:
            on.add(lang)
        else:
            on.discard(lang)
    return frozenset(on)


def parse_settings(raw: Any, base: Settings | None = None) -> tuple[Settings, list[str]]:
    """Parse client settings on top of `base` (defaults when None).  Returns (settings, problems)."""
    base = base or Settings()
    problems: list[str] = []
    if raw is None:
        return base, problems
    if not isinstance(raw, dict):
        return base, [f"settings must be a JSON object, got {type(raw).__name__}; keeping the current settings"]
    if isinstance(raw.get("codecomp"), dict):
        raw = raw["codecomp"]

    editor_only = {s.key.split(".")[0] for s in SETTINGS if not s.server}
    changes: dict[str, Any] = {}
    for key, value in raw.items():
        setting = BY_KEY.get(key)
        if setting is None or not setting.server:
            if key not in editor_only:
                problems.append(f"`{key}` is not a codecomp setting; ignoring it")
            continue
        attr = setting.attr
        assert attr is not None
        current = getattr(base, attr)
        if value is None:
            changes[attr] = _typed(setting, setting.default)
        elif setting.per_language:
            changes[attr] = _per_language(setting, value, current, problems)
        else:
            ok, checked, problem = _check(setting, value, key)
            if ok:
                changes[attr] = _typed(setting, checked)
            else:
                problems.append(f"{problem}; keeping {_shown(current)}")
    return replace(base, **changes), problems
