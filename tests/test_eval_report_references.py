"""Evaluation reports keep this run's rows apart from figures measured elsewhere, which are shown only where the
task, the language and the split match."""
from __future__ import annotations

import re

from codecomp.eval.reference import REFERENCES, Reference, references_for
from codecomp.eval.report import REFERENCE_HEADING, render_markdown


def _ident(top1: float, top5: float) -> dict:
    row = {"top1": top1, "top5": top5, "mrr10": 0.5, "n": 40}
    return {"t0": row, "t1": row}


def small_report(languages: list[str], split: str = "test") -> dict:
    """A report.json as the harness writes it, cut down to identifier completion and next-token accuracy."""
    per_lang = {lang: {"all": _ident(41.0, 62.0)} for lang in languages}
    systems = {"engine": {"all": {"all": _ident(41.0, 62.0)}, **per_lang},
               "recency": {"all": {"all": _ident(7.0, 30.0)}, **{k: {"all": _ident(7.0, 30.0)} for k in per_lang}}}
    return {"meta": {"corpus": "fixtures", "split": split, "files": 4, "languages": languages, "projects": ["p"],
                     "engine": "engine", "engine_kind": "neural", "model": "m", "max_positions": 40, "seed": 0},
            "tasks": {"identifiers": {"systems": systems},
                      "tokens": {"positions": 40, "systems": {"engine": {"all": {"accuracy": 50.0, "n": 40}}}}},
            "written": "-", "seconds": {"total": 1.0}}


REFS = [
    Reference("js tool", "held-out JS, earlier positions", "notes", "identifiers", "javascript",
              metrics={"ident.t0.top1": 12.3, "ident.t0.top5": 45.6}),
    Reference("cpp tool", "held-out C++, earlier positions", "notes", "identifiers", "cpp",
              metrics={"ident.t0.top5": 77.7}),
    Reference("valid-split tool", "valid split", "notes", "identifiers", "javascript", split="valid",
              metrics={"ident.t0.top1": 99.1}),
    Reference("js tokens tool", "held-out JS", "notes", "tokens", "javascript", metrics={"tokens.accuracy": 66.6}),
]


def tables(md: str) -> list[tuple[str, list[str]]]:
    """(the paragraph before, the rows) of every markdown table."""
    out, lines = [], md.splitlines()
    for i, line in enumerate(lines):
        if line.startswith("|---"):
            rows, j = [], i + 1
            while j < len(lines) and lines[j].startswith("|"):
                rows.append(lines[j])
                j += 1
            before = next((lines[k] for k in range(i - 2, -1, -1) if lines[k].strip()), "")
            out.append((before, rows))
    return out


def test_reference_figures_have_their_own_table_and_only_where_they_match() -> None:
    md = render_markdown(small_report(["javascript"]), {}, references=REFS)
    ref_tables = [(before, rows) for before, rows in tables(md) if before.startswith(REFERENCE_HEADING)]
    measured = [rows for before, rows in tables(md) if not before.startswith(REFERENCE_HEADING)]
    # two reference tables: after the JavaScript identifier table and after the (JavaScript-only) next-token
    # table, each holding the matching figures only
    assert [rows for _, rows in ref_tables] == [["| js tool | 12.3 | 45.6 |"], ["| js tokens tool | 66.6 |"]]
    assert md.index("### Identifier completion, JavaScript") < md.index(REFERENCE_HEADING + ":")
    assert "Data: held-out JS, earlier positions. Source: notes." in md
    # the run's own tables hold the run's systems only
    for rows in measured:
        for row in rows:
            assert not re.search(r"tool|ref\.", row), row
    # another language, another split and a pooled two-language token table never show a reference
    assert "cpp tool" not in md and "valid-split tool" not in md
    # with one language the pooled next-token table is that language's: its matching figure is shown apart
    assert "js tokens tool" in md.split("## Next-token accuracy", 1)[1]

    both = render_markdown(small_report(["cpp", "javascript"]), {}, references=REFS)
    assert "js tokens tool" not in both                       # pooled over two languages: nothing matches
    assert both.count(REFERENCE_HEADING + ":") == 2           # the C++ and the JavaScript identifier tables
    assert "| cpp tool | 77.7 |" in both

    valid = render_markdown(small_report(["javascript"], split="valid"), {}, references=REFS)
    assert "| valid-split tool | 99.1 |" in valid and "js tool" not in valid


def test_shipped_references_only_name_tasks_and_languages_the_harness_measures() -> None:
    from codecomp.eval.harness import ALL_TASKS

    assert REFERENCES
    for ref in REFERENCES:
        assert ref.task in ALL_TASKS and ref.language in ("cpp", "javascript") and ref.metrics
        prefix = {"identifiers": "ident.", "tokens": "tokens.", "lines": "lines.", "naming": "naming."}[ref.task]
        assert all(key.startswith(prefix) for key in ref.metrics), ref
    assert not references_for("identifiers", None, "test", ["ident.t0.top1"])   # pooled languages: none
    assert {r.system for r in references_for("identifiers", "cpp", "test", ["ident.t0.top5"])} == {"clangd"}
