"""`codecomp name FILE:LINE:COL`: suggest names for the variable, parameter or function at a position.

LINE and COL are 1-based, the way compilers print positions (``main.cpp:12:9``); COL counts characters (code
points) of the line, so a tab or an accented letter is one column.  The command prints the ranked names with
their scores and every occurrence a rename would change.  It asks the engine (`Engine.suggest_names`) exactly as
the language server does.  Torch-free: the engine runs the exported ONNX naming model.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from codecomp.engine.location import LocationError, parse_location
from codecomp.engine.types import NameSuggestions


def byte_offset(source: bytes, line: int, col: int) -> int:
    """Byte offset of 1-based (line, character column) in UTF-8 `source`; a column past the line end clamps."""
    lines = source.split(b"\n")
    if line > len(lines):
        raise LocationError(f"line {line} is past the end of the file ({len(lines)} lines)")
    start = sum(len(row) + 1 for row in lines[: line - 1])
    text = lines[line - 1].rstrip(b"\r").decode("utf-8", errors="replace")
    return start + len(text[: col - 1].encode("utf-8"))


def line_col(source: bytes, offset: int) -> tuple[int, int]:
    """1-based (line, character column) of a byte offset."""
    before = source[:offset]
    line = before.count(b"\n") + 1
    last = before.rfind(b"\n")
    return line, len(before[last + 1:].decode("utf-8", errors="replace")) + 1


def suggest_at(path: Path, line: int, col: int, model: Optional[Path], top: int
               ) -> tuple[NameSuggestions, bytes, list[tuple[int, int]]]:
    """Ask the engine for names at a 1-based position of a file, as the language server does; returns the
    suggestions, the file's bytes as the engine read them and the byte span of every occurrence."""
    from codecomp.engine import Engine
    from codecomp.engine.naming import NamingError
    from codecomp.syntax import detect_language

    if not path.is_file():
        raise LocationError(f"{path} does not exist or is not a file")
    lang = detect_language(str(path))
    if lang is None:
        raise LocationError(f"{path.name}: unsupported file type (codecomp names C++ and JavaScript files)")
    try:
        text = path.read_bytes().decode("utf-8", errors="replace")
    except OSError as exc:
        raise LocationError(f"cannot read {path}: {exc.strerror or exc}") from None
    offset = byte_offset(text.encode("utf-8"), line, col)
    engine = Engine.load(model)
    if engine.naming_model() is None:
        raise NamingError(engine.naming_problem())
    engine.store.background_analysis = False  # parse to the end now: a command has no idle time to wait for
    uri = path.resolve().as_uri()
    engine.open(uri, text, lang, 1)
    doc = engine.document(uri)
    result = engine.suggest_names(uri, *doc.position_of_byte(offset), k=top)
    spans = [(doc.byte_of(*start), doc.byte_of(*end)) for start, end in result.occurrences]
    return result, doc.source, spans


def name_command(
    location: str = typer.Argument(..., metavar="FILE:LINE:COL",
                                   help="Position of the symbol: LINE and COL are 1-based, COL in characters."),
    model: Optional[Path] = typer.Option(None, "--model", help="Artifact folder with a naming model "
                                                               "(default: the shipped model)."),
    top: int = typer.Option(5, "--top", min=1, max=100, help="How many names to print."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object instead of text."),
) -> None:
    """Suggest names for the variable, parameter or function at FILE:LINE:COL and list what a rename changes.

    Example: codecomp name src/main.cpp:12:9 --model artifacts/latest --top 5
    """
    from codecomp.engine.naming import NamingError

    try:
        path, line, col = parse_location(location)
        result, source, spans = suggest_at(path, line, col, model, top)
    except (LocationError, NamingError) as exc:
        typer.echo(f"codecomp name: error: {exc}", err=True)
        raise typer.Exit(2)
    occurrences = [{"line": line_col(source, s)[0], "col": line_col(source, s)[1], "start_byte": s, "end_byte": e}
                   for s, e in spans]
    if as_json:
        doc = {"file": str(path), "line": line, "col": col, "symbol": result.symbol, "kind": result.kind,
               "names": [{"name": n, "score": round(float(p), 6)} for n, p in result.names],
               "occurrences": occurrences, "reason": result.reason}
        typer.echo(json.dumps(doc, ensure_ascii=False))
        return
    if not result.names:
        typer.echo(f"no name suggestions at {path}:{line}:{col}: {result.reason}")
        return
    typer.echo(f"{result.kind} '{result.symbol}' at {path}:{line}:{col}")
    width = max(len(n) for n, _ in result.names)
    for rank, (name, score) in enumerate(result.names, 1):
        typer.echo(f"  {rank:>2}. {name:<{width}}  {score:.4f}")
    where = ", ".join(f"{o['line']}:{o['col']}" for o in occurrences)
    typer.echo(f"a rename changes {len(occurrences)} occurrence(s): {where}")
