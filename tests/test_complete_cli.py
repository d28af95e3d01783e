"""`codecomp complete`: one 1-based position convention in and out, positions past the end refused, and a reason
whenever there is no fragment.  Runs on the shipped model (no torch needed)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from codecomp.cli import app
from codecomp.engine import Engine
from codecomp.engine.cli import check_position

REPO = Path(__file__).resolve().parents[1]
JS = (REPO / "codecomp" / "samples" / "shopping_cart.js").read_text(encoding="utf-8")
runner = CliRunner()


def one_based_after(text: str, needle: str) -> tuple[int, int]:
    """1-based (line, column) right after the first `needle` (ASCII text)."""
    end = text.index(needle) + len(needle)
    return text.count("\n", 0, end) + 1, end - (text.rfind("\n", 0, end) + 1) + 1


@pytest.fixture()
def cart(tmp_path: Path) -> Path:
    path = tmp_path / "cart.js"
    path.write_text(JS, encoding="utf-8")
    return path


def test_json_positions_are_one_based_like_the_input(cart: Path) -> None:
    line, col = one_based_after(JS, "return this.items.red")       # 3 characters of `reduce` typed
    out = runner.invoke(app, ["complete", f"{cart}:{line}:{col}", "--json", "--max-items", "5"])
    assert out.exit_code == 0, out.output
    doc = json.loads(out.stdout)
    assert doc["positions"].startswith("1-based")
    assert (doc["line"], doc["column"]) == (line, col)
    assert doc["prefix"] == "red"
    # the replaced text starts where `red` starts: same line, 3 columns to the left, in the same convention
    assert doc["replace_start"] == {"line": line, "column": col - 3}
    assert JS.splitlines()[line - 1][doc["replace_start"]["column"] - 1:].startswith("reduce")
    text = runner.invoke(app, ["complete", f"{cart}:{line}:{col}", "--max-items", "5"])
    assert text.exit_code == 0
    assert f"{cart}:{line}:{col}  prefix 'red' (replaces from {line}:{col - 3})" in text.stdout


def test_positions_past_the_end_are_errors(cart: Path) -> None:
    lines = JS.split("\n")                   # the sample ends with a line break: its last line is empty
    last_line = len(lines)
    width = len(lines[28])                    # line 29
    cases = [(f"{last_line + 1}:1", f"line {last_line + 1} is past the end of the file"),
             ("500:3", "line 500 is past the end of the file"),
             (f"29:{width + 2}", f"column {width + 2} is past the end of line 29"),
             (f"{last_line}:2", f"column 2 is past the end of line {last_line}")]
    for where, message in cases:
        out = runner.invoke(app, ["complete", f"{cart}:{where}"])
        assert out.exit_code == 2, (where, out.output)
        assert message in out.output
        assert "last position is" in out.output
    # the last positions themselves are valid: after the last character of a line, and the empty last line
    for where in (f"29:{width + 1}", f"{last_line}:1"):
        out = runner.invoke(app, ["complete", f"{cart}:{where}", "--max-items", "1"])
        assert out.exit_code == 0, (where, out.output)


def test_check_position_counts_utf16_units_and_lsp_line_breaks() -> None:
    text = "a😀b\r\nx\ry"                          # 😀 is two UTF-16 units; "\r" alone breaks a line too
    assert check_position(text, 0, 4) is None         # after `b`: column 5 in 1-based words
    assert "column 6 is past the end of line 1" in check_position(text, 0, 5)
    assert check_position(text, 2, 1) is None
    assert "line 4 is past the end" in check_position(text, 3, 0)
    assert "which has 3 lines" in check_position(text, 3, 0)


def test_an_absent_fragment_says_why(cart: Path) -> None:
    # inside a word (the cursor is before `TAX_RATE` on its line): a fragment would have to splice the word
    line, col = one_based_after(JS, "return discounted * (1 + ")
    out = runner.invoke(app, ["complete", f"{cart}:{line}:{col}", "--json"])
    doc = json.loads(out.stdout)
    assert doc["fragment"] is None and doc["fragment_reason"] == "the cursor is inside a word"
    out = runner.invoke(app, ["complete", f"{cart}:{line}:{col}"])
    assert "no fragment: the cursor is inside a word" in out.stdout
    # inside a comment: no list and no fragment, and the reason is the same as the list's
    line, col = one_based_after(JS, "// A shopping")
    doc = json.loads(runner.invoke(app, ["complete", f"{cart}:{line}:{col}", "--json"]).stdout)
    assert doc["items"] == [] and doc["fragment"] is None
    assert doc["fragment_reason"] == doc["note"] == "no completion inside a comment"


def test_every_completion_has_a_fragment_or_a_reason() -> None:
    engine = Engine.load(None)
    engine.open("file:///cart.js", JS, "javascript", 1)
    seen_fragment = seen_reason = False
    for line_no, line in enumerate(JS.split("\n")):
        for col in range(0, len(line) + 1, 7):
            res = engine.complete("file:///cart.js", line_no, col, max_items=5)
            assert (res.fragment is None) != (res.fragment_reason is None), (line_no, col, res)
            seen_fragment |= res.fragment is not None
            seen_reason |= res.fragment_reason is not None
    assert seen_fragment and seen_reason
    res = engine.complete("file:///cart.js", 20, 4, fragment=False)
    assert res.fragment is None and res.fragment_reason == "no fragment was asked for"
