"""The settings are declared once (`lsp_server.settings.SETTINGS`): the server parses with that table, the VS Code
extension contributes exactly those settings, and docs/design.md lists them as the table says.

`python tests/test_settings_contract.py --write` rewrites the Settings section of docs/design.md from the table.
"""
from __future__ import annotations

import json
import sys
from dataclasses import fields
from pathlib import Path

import pytest

from lsp_server.settings import BY_ATTR, LANGUAGES, PER_LANGUAGE, SETTINGS, Setting, Settings, parse_settings

REPO = Path(__file__).resolve().parents[1]
PACKAGE_JSON = REPO / "vscode-extension" / "package.json"
DESIGN = REPO / "docs" / "design.md"
BEGIN = "<!-- settings: generated from lsp_server/settings.py (python tests/test_settings_contract.py --write) -->"
END = "<!-- end of settings -->"
SERVER = [s for s in SETTINGS if s.server]


def _json(value: object) -> str:
    return json.dumps(value)


def settings_markdown() -> str:
    """The Settings table of docs/design.md, rendered from `SETTINGS`."""
    rows = ["| key | type | default | accepted | read by | meaning |", "|---|---|---|---|---|---|"]
    for s in SETTINGS:
        kind = s.type + (", per language" if s.per_language else "")
        if s.minimum is not None or s.maximum is not None:
            accepted = f"{s.minimum} to {s.maximum}"
        elif s.choices is not None:
            accepted = ", ".join(f"`{c}`" for c in s.choices)
        else:
            accepted = ""
        reader = "server" if s.server else "VS Code extension"
        rows.append(f"| `{s.key}` | {kind} | `{_json(s.default)}` | {accepted} | {reader} | {s.description} |")
    return "\n".join([BEGIN, *rows, END])


def _documented() -> str:
    text = DESIGN.read_text(encoding="utf-8")
    assert text.count(BEGIN) == 1 and text.count(END) == 1, "docs/design.md needs one generated Settings table"
    return text[text.index(BEGIN):text.index(END) + len(END)]


def test_the_design_document_lists_every_setting_as_declared() -> None:
    assert _documented() == settings_markdown(), "run `python tests/test_settings_contract.py --write`"


def _contributed() -> dict[str, dict]:
    pkg = json.loads(PACKAGE_JSON.read_text(encoding="utf-8"))
    return pkg["contributes"]["configuration"]["properties"]


def _schema(s: Setting) -> dict:
    """What package.json must say about `s` (besides its description)."""
    out: dict = {"type": s.type, "default": s.default}
    if s.minimum is not None:
        out["minimum"] = s.minimum
    if s.maximum is not None:
        out["maximum"] = s.maximum
    if s.choices is not None:
        out["enum"] = list(s.choices)
    if s.scope is not None:
        out["scope"] = s.scope
    return out


def test_the_extension_contributes_exactly_the_declared_settings() -> None:
    contributed = _contributed()
    assert sorted(contributed) == sorted(f"codecomp.{s.key}" for s in SETTINGS)
    for s in SETTINGS:
        schema = contributed[f"codecomp.{s.key}"]
        described = {k: v for k, v in schema.items() if k not in ("markdownDescription", "description")}
        assert described == _schema(s), s.key
        assert schema.get("markdownDescription") or schema.get("description"), f"{s.key} has no description"


def test_the_extensions_readme_names_every_setting() -> None:
    readme = (REPO / "vscode-extension" / "README.md").read_text(encoding="utf-8")
    assert [s.key for s in SETTINGS if f"| `codecomp.{s.key}` | `{_json(s.default)}` |" not in readme] == []


def test_the_typed_settings_are_the_tables_server_settings() -> None:
    assert [f.name for f in fields(Settings)] == [s.attr for s in SERVER]
    assert set(BY_ATTR) == {s.attr for s in SERVER}
    # the table's defaults, sent as a client would, are the defaults of the typed object and raise no problem
    parsed, problems = parse_settings({"codecomp": {s.key: s.default for s in SERVER}},
                                      Settings(max_items=7, enabled_languages=frozenset()))
    assert problems == [] and parsed == Settings()


def test_the_languages_are_the_engines() -> None:
    from codecomp.syntax import LANGUAGES as ENGINE_LANGUAGES

    assert tuple(LANGUAGES) == tuple(ENGINE_LANGUAGES)


@pytest.mark.parametrize("setting", SERVER, ids=[s.key for s in SERVER])
def test_the_parser_takes_the_bounds_and_choices_of_the_table(setting: Setting) -> None:
    attr = setting.attr
    assert attr is not None
    base = Settings()
    if setting.type == "integer":
        assert setting.minimum is not None and setting.maximum is not None
        good = [setting.minimum, setting.maximum]
        bad = [setting.minimum - 1, setting.maximum + 1, "10", 1.5, True]
    elif setting.choices is not None:
        good = [c.upper() for c in setting.choices] + list(setting.choices)
        bad = ["nonsense", 3]
    elif setting.type == "boolean":
        good = [True, False]
        bad = ["yes", 1]
    else:
        good = ["", "some/path"]
        bad = [3, ["a"]]
    for value in good:
        parsed, problems = parse_settings({setting.key: value}, base)
        assert problems == [], (value, problems)
        if setting.per_language:
            assert parsed.enabled_languages == (frozenset(LANGUAGES) if value else frozenset())
        else:
            assert getattr(parsed, attr) == (value.lower() if setting.choices else value)
    for value in bad:
        parsed, problems = parse_settings({setting.key: value}, base)
        assert getattr(parsed, attr) == getattr(base, attr), value
        assert len(problems) == 1 and f"`{setting.key}`" in problems[0], (value, problems)
    # null is the default again
    changed = parse_settings({setting.key: good[-1] if not setting.per_language else False}, base)[0]
    assert getattr(parse_settings({setting.key: None}, changed)[0], attr) == getattr(Settings(), attr)


def test_per_language_settings_take_an_object_of_languages() -> None:
    (enable,) = [s for s in SETTINGS if s.scope == PER_LANGUAGE]
    s, problems = parse_settings({enable.key: {"javascript": False}})
    assert problems == [] and not s.language_enabled("javascript") and s.language_enabled("cpp")
    s2, problems = parse_settings({enable.key: {"rust": True, "cpp": "yes"}}, s)
    assert s2 == s and len(problems) == 2
    assert any("rust" in p and "unknown language" in p for p in problems)


def test_unknown_keys_are_reported_and_the_extensions_own_are_ignored() -> None:
    s, problems = parse_settings({"languages": {"cpp": False}, "inline": False, "pythonPath": "/usr/bin/python3",
                                  "trace": {"server": "verbose"}})
    assert s == Settings()
    assert sorted(problems) == ["`inline` is not a codecomp setting; ignoring it",
                                "`languages` is not a codecomp setting; ignoring it"]


def _write() -> None:
    text = DESIGN.read_text(encoding="utf-8")
    start, end = text.index(BEGIN), text.index(END) + len(END)
    DESIGN.write_text(text[:start] + settings_markdown() + text[end:], encoding="utf-8")


if __name__ == "__main__":
    if sys.argv[1:] == ["--write"]:
        _write()
    else:
        print(settings_markdown())
