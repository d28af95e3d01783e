"""Keystroke latency of the completion engine, replaying real held-out files as if typed.

For each file, a block of lines is removed and then typed back character by character; after every keystroke
the engine gets the new text (`change`) and a completion request at the cursor, exactly as the language server
calls it.  Reported per keystroke: the identifier list (change + complete without fragment), the fragment (the
extra decoding), the first request after opening each file, and the process memory (RSS).

    python benchmarks/engine_latency.py --corpus data/js-npm --model artifacts/model --max-files 10
    python benchmarks/engine_latency.py src/a.cpp src/b.js --model artifacts/model --json out.json
    python benchmarks/engine_latency.py --workspace path/to/project --max-files 10   # with project context

With `--workspace DIR` the engine gets a workspace index of DIR (built before the replay, its time reported)
and, without files or --corpus, replays files of DIR itself under their real file:// URIs, so included and
imported files resolve as in an editor.  As the language server does when typing pauses, the index reads the
edited document at the end of every typed line (timed apart, as "workspace_sync", not part of a keystroke).

Targets on 2 CPU cores: identifiers p50 <= 5 ms and p99 <= 20 ms; fragments p99 <= 60 ms; first request after
opening a 2,000-line file <= 100 ms (`--long-file` builds one from the held-out files to check it).
"""
from __future__ import annotations

import json
import os
import shlex
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import numpy as np
import typer

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

TARGETS = {"identifiers": {"p50": 5.0, "p99": 20.0}, "fragments": {"p99": 60.0}, "first_request_long": {"max": 100.0}}


@dataclass
class Series:
    """Latencies (ms) of one kind of request."""

    values: list[float] = field(default_factory=list)

    def stats(self) -> dict[str, float]:
        if not self.values:
            return {"n": 0}
        a = np.asarray(self.values)
        return {"n": int(a.size), "p50": float(np.percentile(a, 50)), "p95": float(np.percentile(a, 95)),
                "p99": float(np.percentile(a, 99)), "max": float(a.max()), "mean": float(a.mean())}


def held_out_files(corpus: Path, split: str, max_files: int, min_lines: int) -> list[tuple[str, str, str]]:
    """(name, language, text) of files of a corpus split (the test split: projects never trained on)."""
    from codecomp.corpus.reader import open_split

    ds = open_split(corpus, split, ["project", "path", "language", "text"])
    out = []
    for row in ds:
        if row["text"].count("\n") >= min_lines:
            out.append((f"{row['project']}/{row['path']}", row["language"], row["text"]))
        if len(out) >= max_files:
            break
    return out


def read_files(paths: list[Path]) -> list[tuple[str, str, str]]:
    from codecomp.syntax import detect_language

    out = []
    for p in paths:
        lang = detect_language(str(p))
        if lang is None:
            typer.echo(f"skipping {p}: not C++ or JavaScript", err=True)
            continue
        out.append((str(p), lang, p.read_text(encoding="utf-8", errors="replace")))
    return out


def workspace_files(index, max_files: int, min_lines: int, seed: int = 0) -> list[tuple[str, str, str]]:
    """(absolute path, language, text) of up to `max_files` indexed files of the workspace, drawn at random."""
    import random

    paths = sorted(p for p, e in index.files.items() if not e.external)
    random.Random(seed).shuffle(paths)
    out = []
    for p in paths:
        text = Path(p).read_text(encoding="utf-8", errors="replace")
        if text.count("\n") >= min_lines:
            out.append((p, index.files[p].lang, text))
        if len(out) >= max_files:
            break
    return out


def replay(engine, name: str, lang: str, text: str, lines: int, series: dict[str, Series], fragments: bool) -> int:
    """Type `lines` lines from the middle of `text` back in, one character at a time; returns keystrokes.
    `name` is an absolute path for workspace files (their real URI), else a label under file:///bench/."""
    all_lines = text.splitlines(keepends=True)
    start = max(0, len(all_lines) // 2 - lines // 2)
    block = "".join(all_lines[start:start + lines])
    prefix = "".join(all_lines[:start])
    suffix = "".join(all_lines[start + lines:])
    uri = Path(name).as_uri() if os.path.isabs(name) else f"file:///bench/{name}"
    t0 = time.perf_counter()
    engine.open(uri, prefix + suffix, lang, 0)
    series.setdefault("open", Series()).values.append((time.perf_counter() - t0) * 1000)
    line0 = prefix.count("\n")
    t0 = time.perf_counter()
    engine.complete(uri, line0, 0, fragment=fragments)
    series["first_request"].values.append((time.perf_counter() - t0) * 1000)
    typed = ""
    version = 1
    for ch in block:
        typed += ch
        version += 1
        c0 = time.thread_time()
        t0 = time.perf_counter()
        engine.change(uri, prefix + typed + suffix, version)
        t_change = (time.perf_counter() - t0) * 1000
        line = line0 + typed.count("\n")
        col = len(typed) - (typed.rfind("\n") + 1)
        col16 = len(typed[len(typed) - col:].encode("utf-16-le")) // 2
        res = engine.complete(uri, line, col16, fragment=fragments)
        # CPU time of this thread: the work itself, without the waits of a busy machine's scheduler
        series["cpu_per_keystroke"].values.append((time.thread_time() - c0) * 1000)
        frag_ms = res.timings.get("fragment", 0.0)
        for stage, ms in res.timings.items():
            series.setdefault("stage:" + stage, Series()).values.append(ms)
        series["change"].values.append(t_change)
        series["identifiers"].values.append(t_change + res.timings.get("total", 0.0) - frag_ms)
        if fragments and "fragment" in res.timings:
            series["fragments"].values.append(frag_ms)
        if ch == "\n" and getattr(engine, "workspace", None) is not None:
            t0 = time.perf_counter()
            engine.sync_workspace()
            series.setdefault("workspace_sync", Series()).values.append((time.perf_counter() - t0) * 1000)
    engine.close(uri)
    return len(block)


def first_request_long(engine, files: list[tuple[str, str, str]], target_lines: int = 2000) -> float | None:
    """Open a file of `target_lines` lines (held-out files of one language concatenated) and time one request."""
    by_lang: dict[str, list[str]] = {}
    for _, lang, text in files:
        by_lang.setdefault(lang, []).append(text)
    lang, texts = max(by_lang.items(), key=lambda kv: sum(t.count("\n") for t in kv[1]))
    body = ""
    while body.count("\n") < target_lines and texts:
        for t in texts:
            body += t if t.endswith("\n") else t + "\n"
            if body.count("\n") >= target_lines:
                break
    # the request is made at the end of a statement being typed, as after opening a file to extend it
    probe = "  auto value = st" if lang == "cpp" else "const value = re"
    body = body.rstrip("\n") + "\n" + probe
    uri = "file:///bench/long"
    engine.open(uri, body, lang, 0)
    t0 = time.perf_counter()
    res = engine.complete(uri, body.count("\n"), len(probe))
    ms = (time.perf_counter() - t0) * 1000
    if not res.items:
        typer.echo(f"note: the 2,000-line probe got no items ({res.note})", err=True)
    engine.close(uri)
    return ms


def main(
    files: Optional[list[Path]] = typer.Argument(None, help="Source files to replay (instead of --corpus)."),
    corpus: Optional[Path] = typer.Option(None, "--corpus", help="Corpus folder; its --split files are replayed."),
    split: str = typer.Option("test", "--split", help="Corpus split to read."),
    model: Optional[Path] = typer.Option(None, "--model", help="Artifact folder (default: the shipped model; none: fallback)."),
    max_files: int = typer.Option(8, "--max-files", help="How many files to replay."),
    lines: int = typer.Option(12, "--lines", help="Lines typed back per file."),
    min_lines: int = typer.Option(40, "--min-lines", help="Skip corpus files shorter than this."),
    fragments: bool = typer.Option(True, "--fragments/--no-fragments", help="Also decode fragments."),
    long_file: bool = typer.Option(True, "--long-file/--no-long-file", help="Time the first request on a 2,000-line file."),
    threads: int = typer.Option(1, "--threads", help="onnxruntime intra-op threads."),
    workspace: Optional[Path] = typer.Option(None, "--workspace", help="Index this folder and complete with "
                                                                       "project context (see the docstring)."),
    seed: int = typer.Option(0, "--seed", help="Seed of the draw of workspace files."),
    json_out: Optional[Path] = typer.Option(None, "--json", help="Also write the figures to this JSON file."),
    gc_policy: str = typer.Option("server", "--gc", help="server: the language server's collector settings "
                                                         "(rarer old-generation collections, the loaded engine and "
                                                         "index frozen out of them); python: the defaults."),
) -> None:
    """Replay typing of held-out files and report per-keystroke latency percentiles and memory."""
    import psutil

    from codecomp.engine import Engine

    if corpus is None and not files and workspace is None:
        typer.echo("give source files, --corpus DIR or --workspace DIR", err=True)
        raise typer.Exit(2)
    proc = psutil.Process()
    if gc_policy not in ("server", "python"):
        typer.echo("--gc is server or python", err=True)
        raise typer.Exit(2)
    if gc_policy == "server":
        from lsp_server import gc_policy as policy

        policy.for_serving()
    index, index_info = None, None
    if workspace is not None:
        from codecomp.engine.workspace import WorkspaceIndex

        rss_before = proc.memory_info().rss
        index = WorkspaceIndex([workspace])
        built = index.build()
        index_info = {"root": str(workspace), "files": built.files, "packages": built.packages,
                      "seconds": round(built.seconds, 2), "rss_mb": (proc.memory_info().rss - rss_before) / 2**20}
    if corpus:
        todo = held_out_files(corpus, split, max_files, min_lines)
    elif files:
        todo = read_files(list(files))
    else:
        todo = workspace_files(index, max_files, min_lines, seed)
    if not todo:
        typer.echo("no files to replay", err=True)
        raise typer.Exit(1)
    rss0 = proc.memory_info().rss
    t0 = time.perf_counter()
    engine = Engine.load(model, threads=threads)
    if index is not None:
        engine.set_workspace(index)
    load_ms = (time.perf_counter() - t0) * 1000
    if gc_policy == "server":
        policy.settle()   # as the server does once the engine and the project index are built
    if engine.problem:
        typer.echo(f"note: {engine.problem}", err=True)
    series: dict[str, Series] = {k: Series() for k in ("identifiers", "fragments", "change", "first_request",
                                                       "cpu_per_keystroke")}
    keys = 0
    from tqdm import tqdm

    for name, lang, text in tqdm(todo, desc="replaying", unit="file"):
        keys += replay(engine, name, lang, text, lines, series, fragments)
    long_ms = first_request_long(engine, todo) if long_file else None
    rss1 = proc.memory_info().rss
    report = {
        "command": "python " + " ".join(shlex.quote(a) for a in sys.argv),
        "engine": type(engine).__name__, "model": str(model) if model else "default",
        "files": len(todo), "names": [n for n, _, _ in todo], "keystrokes": keys, "threads": threads, "cpus": os.cpu_count(),
        "gc": gc_policy,
        "load_average": os.getloadavg(),
        "load_ms": load_ms, "rss_mb_before_load": rss0 / 2**20, "rss_mb_after": rss1 / 2**20,
        "latency_ms": {k: s.stats() for k, s in series.items()},
        "first_request_2000_lines_ms": long_ms, "workspace": index_info,
    }
    typer.echo(f"\nengine {report['engine']} ({report['model']}), {len(todo)} files, {keys} keystrokes, "
               f"{threads} thread(s), load {load_ms:.0f} ms; machine load average "
               f"{report['load_average'][0]:.1f} on {os.cpu_count()} CPUs (wall-clock figures include waiting for a CPU)")
    if index_info is not None:
        typer.echo(f"workspace index of {index_info['root']}: {index_info['files']} files, built in "
                   f"{index_info['seconds']:.1f} s, {index_info['rss_mb']:.0f} MB")
    typer.echo("| request | n | p50 ms | p95 ms | p99 ms | max ms | target |")
    typer.echo("|---|---|---|---|---|---|---|")
    for k, s in report["latency_ms"].items():
        if not s.get("n") or k.startswith("stage:"):
            continue
        target = ", ".join(f"{q} <= {v:g}" for q, v in TARGETS.get(k, {}).items())
        typer.echo(f"| {k} | {s['n']} | {s['p50']:.2f} | {s['p95']:.2f} | {s['p99']:.2f} | {s['max']:.2f} | {target} |")
    if long_ms is not None:
        typer.echo(f"| first request, 2,000-line file | 1 | {long_ms:.2f} | | | | <= 100 |")
    stages = {k[6:]: v for k, v in report["latency_ms"].items() if k.startswith("stage:")}
    if stages:
        typer.echo("per-stage p50 / p99 ms: " + ", ".join(f"{k} {v['p50']:.2f} / {v['p99']:.2f}"
                                                        for k, v in stages.items() if v.get("n")))
    typer.echo(f"RSS: {rss0 / 2**20:.0f} MB before loading the engine, {rss1 / 2**20:.0f} MB after the replay")
    typer.echo(f"command: {report['command']}")
    if json_out:
        json_out.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    typer.run(main)
