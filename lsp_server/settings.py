"""The server's settings: one typed object parsed from initializationOptions or workspace/didChangeConfiguration.

Accepted shape (every key optional; the same object may be wrapped in {"codecomp": {...}}):

    {"modelPath": "path/to/artifact" | null,   # null: the model shipped with the package
     "maxItems": 50,                            # completion items per request (1..500)
     "languages": {"cpp": true, "javascript": true},
     "inline": true,                            # inline (ghost text) completion
     "logLevel": "warning",                     # error | warning | info | debug
     "requestTimeoutMs": 1000,                  # every request is answered within this bound
     "maxDocumentKiB": 2048,                    # larger documents get no completions
     "workspaceIndex": true,                    # index the workspace folders for project context
     "maxIndexedFiles": 20000,                  # at most this many files are indexed
     "simulateSlowEngineMs": 0}                 # diagnostics: delay every engine call (checks the time bound)

Invalid values never stop the server: they fall back to the default, and `parse_settings` returns one
sentence per problem so the server can tell the user.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from typing import Any

LOG_LEVELS = {"error": logging.ERROR, "warning": logging.WARNING, "info": logging.INFO, "debug": logging.DEBUG}
LANGUAGES = ("cpp", "javascript")


@dataclass(frozen=True)
class Settings:
    """Typed server settings (see module docstring for the wire format)."""

    model_path: str | None = None
    max_items: int = 50
    languages: dict[str, bool] = field(default_factory=lambda: {lang: True for lang in LANGUAGES})
    inline: bool = True
    log_level: str = "warning"
    request_timeout_ms: int = 1000
    max_document_kib: int = 2048
    workspace_index: bool = True
    max_indexed_files: int = 20_000
    simulate_slow_engine_ms: int = 0

    def language_enabled(self, lang: str | None) -> bool:
        return lang is not None and self.languages.get(lang, False)


def _int(raw: dict[str, Any], key: str, default: int, lo: int, hi: int, problems: list[str]) -> int:
    if key not in raw or raw[key] is None:
        return default
    value = raw[key]
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != int(value):
        problems.append(f"`{key}` must be a whole number between {lo} and {hi}, got {value!r}; using {default}")
        return default
    if not lo <= int(value) <= hi:
        problems.append(f"`{key}` must be between {lo} and {hi}, got {value!r}; using {default}")
        return default
    return int(value)


def _bool(value: Any, key: str, default: bool, problems: list[str]) -> bool:
    if value is None:
        return default
    if isinstance(value, dict) and "enabled" in value:  # {"enabled": true} is accepted too
        value = value["enabled"]
    if not isinstance(value, bool):
        problems.append(f"`{key}` must be true or false, got {value!r}; using {str(default).lower()}")
        return default
    return value


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

    model_path = base.model_path
    if "modelPath" in raw:
        value = raw["modelPath"]
        if value is None or value == "":
            model_path = None
        elif isinstance(value, str):
            model_path = value
        else:
            problems.append(f"`modelPath` must be a path string or null, got {value!r}; using the shipped model")
            model_path = None

    languages = dict(base.languages)
    # `enable` is the name the editor settings use (codecomp.enable); `languages` is accepted as well.
    for key in ("enable", "languages"):
        if raw.get(key) is None:
            continue
        value = raw[key]
        if not isinstance(value, dict):
            problems.append(f"`{key}` must be an object like {{\"cpp\": true}}, got {value!r}; ignoring it")
            continue
        for lang, flag in value.items():
            if lang not in LANGUAGES:
                problems.append(f"`{key}.{lang}`: unknown language (known: {', '.join(LANGUAGES)}); ignoring it")
                continue
            languages[lang] = _bool(flag, f"{key}.{lang}", languages[lang], problems)

    log_level = base.log_level
    if raw.get("logLevel") is not None:
        value = raw["logLevel"]
        if isinstance(value, str) and value.lower() in LOG_LEVELS:
            log_level = value.lower()
        else:
            problems.append(f"`logLevel` must be one of {', '.join(LOG_LEVELS)}, got {value!r}; using {base.log_level}")

    settings = replace(
        base,
        model_path=model_path,
        max_items=_int(raw, "maxItems", base.max_items, 1, 500, problems),
        languages=languages,
        inline=_bool(raw.get("inline"), "inline", base.inline, problems),
        log_level=log_level,
        request_timeout_ms=_int(raw, "requestTimeoutMs", base.request_timeout_ms, 50, 60_000, problems),
        max_document_kib=_int(raw, "maxDocumentKiB", base.max_document_kib, 1, 65_536, problems),
        workspace_index=_bool(raw.get("workspaceIndex"), "workspaceIndex", base.workspace_index, problems),
        max_indexed_files=_int(raw, "maxIndexedFiles", base.max_indexed_files, 1, 1_000_000, problems),
        simulate_slow_engine_ms=_int(raw, "simulateSlowEngineMs", base.simulate_slow_engine_ms, 0, 600_000, problems),
    )
    return settings, problems
