"""`codecomp complete FILE:LINE:COL`: the engine from the command line (torch-free).

LINE and COL are 1-based, as editors and compilers print them, in the input and in every position printed (text
and JSON); COL counts characters of the line (UTF-16 code units, like LSP, which equals characters outside the
astral planes), and COL 1 is before the first character.  A position past the end of its line or of the file is
an error.  The output lists the ranked identifiers with their scores and sources, the fragment (or why there is
none), and the time each stage took.  With `--workspace DIR` the engine first indexes DIR and completes with
project context (names and members from the project's other files).
"""
from __future__ import annotations

import json
import re
import sys
import time
from pathlib import Path
from typing import Optional

import typer

from codecomp.engine.location import parse_location

_BREAK = re.compile(r"\r\n|\r|\n")   # line breaks as in LSP (and the engine)
POSITIONS = "1-based line and column; a column counts UTF-16 code units, and column 1 is before the first character"


def check_position(text: str, line: int, col: int) -> str | None:
    """Why a 0-based (line, UTF-16 column) is not a position of `text`, in 1-based words; None when it is one."""
    lines = _BREAK.split(text)
    if line >= len(lines):
        return (f"line {line + 1} is past the end of the file, which has {len(lines)} line"
                f"{'s' if len(lines) != 1 else ''} (the last position is {len(lines)}:{_utf16_len(lines[-1]) + 1})")
    last_col = _utf16_len(lines[line]) + 1
    if col >= last_col:
        return (f"column {col + 1} is past the end of line {line + 1}, whose last position is "
                f"{line + 1}:{last_col} (after its last character)")
    return None


def _utf16_len(s: str) -> int:
    return len(s.encode("utf-16-le", "surrogatepass")) // 2


def complete_command(
    location: str = typer.Argument(..., metavar="FILE:LINE:COL",
                                   help="Where to complete; LINE and COL are 1-based (COL 1 = before the first character), "
                                        "as are the positions printed."),
    model: Optional[Path] = typer.Option(None, "--model", help="Artifact folder (default: the shipped model)."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
    max_items: int = typer.Option(20, "--max-items", min=1, help="How many identifiers to list."),
    lang: Optional[str] = typer.Option(None, "--lang", help="cpp or javascript (default: from the file extension)."),
    threads: int = typer.Option(1, "--threads", min=1, help="onnxruntime threads."),
    workspace: Optional[Path] = typer.Option(None, "--workspace", help="Index this folder first and complete "
                                                                       "with project context."),
) -> None:
    """Print ranked completions and a fragment at FILE:LINE:COL (1-based), with timings.

    Example: codecomp complete src/cart.js:33:19 --max-items 5
    """
    from codecomp.engine import Engine
    from codecomp.syntax import detect_language

    try:
        path, line, col = parse_location(location)
        line, col = line - 1, col - 1   # the engine's positions are 0-based
    except ValueError as exc:
        typer.echo(f"codecomp complete: {exc}", err=True)
        raise typer.Exit(2)
    if not path.is_file():
        typer.echo(f"codecomp complete: {path} is not a file", err=True)
        raise typer.Exit(2)
    language = lang or detect_language(str(path))
    if language not in ("cpp", "javascript"):
        typer.echo(f"codecomp complete: cannot tell the language of {path}; pass --lang cpp or --lang javascript",
                   err=True)
        raise typer.Exit(2)
    data = path.read_bytes()
    text = data.decode("utf-8", errors="replace")
    problem = check_position(text, line, col)
    if problem:
        typer.echo(f"codecomp complete: {path}: {problem}", err=True)
        raise typer.Exit(2)
    t0 = time.perf_counter()
    engine = Engine.load(model, threads=threads)
    load_ms = (time.perf_counter() - t0) * 1000
    if engine.problem:
        typer.echo(f"note: {engine.problem}", err=True)
    index_ms = None
    if workspace is not None:
        if not workspace.is_dir():
            typer.echo(f"codecomp complete: the workspace {workspace} is not a folder", err=True)
            raise typer.Exit(2)
        from codecomp.engine.workspace import WorkspaceIndex

        t0 = time.perf_counter()
        index = WorkspaceIndex([workspace])
        index.build()
        engine.set_workspace(index)
        index_ms = (time.perf_counter() - t0) * 1000
    uri = path.resolve().as_uri()
    t0 = time.perf_counter()
    engine.open(uri, text, language, 1)
    open_ms = (time.perf_counter() - t0) * 1000
    result = engine.complete(uri, line, col, max_items=max_items)
    timings = {"load": round(load_ms, 2), **({"index": round(index_ms, 2)} if index_ms is not None else {}),
               "open": round(open_ms, 2), **result.timings}
    rl, rc = result.replace_start
    if as_json:
        doc = {"positions": POSITIONS,
               "file": str(path), "line": line + 1, "column": col + 1,
               **result.to_dict()}
        # the engine speaks 0-based LSP positions; the command line speaks 1-based ones, in and out
        doc["replace_start"] = {"line": rl + 1, "column": rc + 1}
        doc["timings"] = timings
        doc["engine"] = type(engine).__name__
        doc["problem"] = engine.problem
        json.dump(doc, sys.stdout, ensure_ascii=False, indent=2)
        sys.stdout.write("\n")
        return
    typer.echo(f"{path}:{line + 1}:{col + 1}  prefix {result.prefix!r} (replaces from {rl + 1}:{rc + 1})  "
               f"engine: {type(engine).__name__}")
    if result.note:
        typer.echo(f"  ({result.note})")
    if result.items:
        width = max(len(c.label) for c in result.items)
        for rank, cand in enumerate(result.items, 1):
            typer.echo(f"  {rank:>3}. {cand.label:<{width}}  {cand.score:8.3f}  {cand.kind:<10} {cand.source}")
    else:
        typer.echo("  no identifiers")
    if result.fragment is not None:
        typer.echo(f"  fragment: {result.fragment.text!r}  (score {result.fragment.score:.3f})")
    else:
        typer.echo(f"  no fragment: {result.fragment_reason or 'none at this position'}")
    typer.echo("  timings (ms): " + ", ".join(f"{k} {v:.2f}" for k, v in timings.items()))
