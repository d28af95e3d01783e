"""Workspace index: indexing throughput, memory and query latency on a large real tree.

Indexes the given folders (or a corpus laid out as one folder per project) with `WorkspaceIndex.build`, then
times the queries the engine makes at sampled identifier positions (after `prepare`, which the engine runs
when a document opens): project identifiers for the typed prefix, n-gram scores of those candidates after the
position's context, and member completion at `.`/`->`/`::`.
Also reported: tree-sitter on a sample of the same files, parsing alone and `codecomp.syntax.parse` (tree and
tokens, the least a tree-based reading needs), against the index's whole lexical reading of a file,
how well the lexical identifiers agree with tree-sitter's, and how often an identifier that occurs nowhere
else in its file is offered by the project index (the gap this index closes).

    python benchmarks/workspace_index.py data/.cache/debian/src data/.cache/npm /usr/include
    python benchmarks/workspace_index.py --corpus data/js-npm --split train

Targets on 2 CPU cores: >= 500 files/s; <= 150 MB more memory (RSS) for 10,000 files; queries in milliseconds.
"""
from __future__ import annotations

import gc
import json
import random
import shlex
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Optional

import numpy as np
import psutil
import typer

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

TARGETS = {"files_per_s": 500.0, "rss_mb_per_10k": 150.0}


def layout_corpus(corpus: Path, split: str, out: Path, max_files: int) -> int:
    """Write the files of a corpus split under `out/<project>/<path>` (a real tree to index)."""
    from codecomp.corpus.reader import open_split

    n = 0
    for row in open_split(corpus, split, ["project", "path", "text"]):
        target = out / row["project"].replace("/", "__") / row["path"].lstrip("/")
        if ".." in target.parts:
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(row["text"], encoding="utf-8")
        n += 1
        if n >= max_files:
            break
    return n


def percentiles(values: list[float]) -> dict[str, float]:
    if not values:
        return {"n": 0}
    a = np.asarray(values)
    return {"n": int(a.size), "p50": float(np.percentile(a, 50)), "p99": float(np.percentile(a, 99)),
            "max": float(a.max())}


def sample_positions(index, rng: random.Random, count: int) -> list[tuple[str, str, bytes, int, str]]:
    """(path, lang, source, prefix start, word) at the start of random identifiers of random indexed files
    (words the index counted for that file, so not inside comments or strings as a rule)."""
    from codecomp.engine.workspace import lexical

    paths = [p for p, e in index.files.items() if not e.external]
    out = []
    for _ in range(count * 4):
        if len(out) >= count or not paths:
            break
        path = rng.choice(paths)
        entry = index.files[path]
        try:
            source = Path(path).read_bytes()
        except OSError:
            continue
        words = [m for m in lexical.IDENT.finditer(source) if m.start() > 0]
        if not words:
            continue
        m = rng.choice(words)
        wid = index.tables[entry.lang].vocab.ids.get(m.group())
        if wid is None or not np.any(entry.ident_ids == wid):
            continue
        out.append((path, entry.lang, source, m.start(), m.group().decode("utf-8", "replace")))
    return out


def time_queries(index, positions) -> tuple[dict[str, list[float]], dict[str, int]]:
    """Latency (ms) of each query kind at each position, and how often the written word was offered."""
    from codecomp.engine.workspace import context_at
    from codecomp.engine.workspace.receiver import receiver_at

    series: dict[str, list[float]] = {"prepare (on open)": [], "identifiers": [], "ngram_scores": [],
                                      "member_completion": [], "per_position": []}
    found = Counter()
    for path, lang, source, pstart, word in positions:
        prefix = word[:1]
        t0 = time.perf_counter()
        index.prepare(path)  # what the engine does when the document opens, off the request path
        series["prepare (on open)"].append((time.perf_counter() - t0) * 1000)
        t0 = time.perf_counter()
        items = index.identifiers(path, prefix, limit=200)
        t1 = time.perf_counter()
        ctx = context_at(source, pstart, lang)
        index.ngram_scores(path, ctx, [p.name for p in items[:100]])
        t2 = time.perf_counter()
        member_ms = 0.0
        if receiver_at(source, pstart, lang) is not None:
            t3 = time.perf_counter()
            index.member_completion(path, source, pstart)
            member_ms = (time.perf_counter() - t3) * 1000
            series["member_completion"].append(member_ms)
        series["identifiers"].append((t1 - t0) * 1000)
        series["ngram_scores"].append((t2 - t1) * 1000)
        series["per_position"].append((t2 - t0) * 1000 + member_ms)
        entry = index.files.get(path)
        vocab = index.tables[lang].vocab
        wid = vocab.ids.get(word.encode())
        in_file = 0
        if entry is not None and wid is not None:
            hit = np.flatnonzero(entry.ident_ids == wid)
            in_file = int(entry.ident_counts[hit[0]]) if hit.size else 0
        if in_file <= 1:  # the written word occurs nowhere else in its file: only the project can offer it
            found["unseen_in_file"] += 1
            if any(p.name == word for p in index.identifiers(path, word, limit=50)):
                found["offered_by_project"] += 1
    return series, found


def tree_sitter_comparison(index, rng: random.Random, count: int) -> dict[str, float]:
    """Parse-only tree-sitter files/s vs the full lexical reading on the same sample; identifier agreement."""
    from codecomp.engine.workspace import analyze
    from codecomp.engine.workspace.lexical import is_word
    from codecomp.syntax import KEYWORDS, TokenKind, get_parser, parse

    paths = [p for p, e in index.files.items() if not e.external]
    sample = [(p, index.files[p].lang) for p in rng.sample(paths, min(count, len(paths)))]
    sources = [(Path(p).read_bytes(), lang) for p, lang in sample]
    t0 = time.process_time()
    for src, lang in sources:
        get_parser(lang).parse(src)
    ts_cpu = time.process_time() - t0
    t0 = time.process_time()
    for src, lang in sources:
        parse(src, lang)
    tokens_cpu = time.process_time() - t0
    t0 = time.process_time()
    for src, lang in sources:
        analyze(src, lang)
    lex_cpu = time.process_time() - t0
    agree = total = 0
    for src, lang in sources[:100]:
        ref = Counter(t.text for t in parse(src, lang).tokens if t.kind == TokenKind.IDENTIFIER)
        facts = analyze(src, lang)
        got = Counter(t.decode("utf-8", "replace") for t in facts.tokens
                      if is_word(t) and t.decode("utf-8", "replace") not in KEYWORDS[lang])
        got.update(w.decode("utf-8", "replace") for w in facts.extra_identifiers)
        agree += sum((ref & got).values())
        total += sum(ref.values())
    return {"files": len(sources), "tree_sitter_parse_files_per_cpu_s": len(sources) / max(ts_cpu, 1e-9),
            "syntax_parse_files_per_cpu_s": len(sources) / max(tokens_cpu, 1e-9),
            "lexical_files_per_cpu_s": len(sources) / max(lex_cpu, 1e-9),
            "identifier_agreement": agree / max(total, 1)}


def main(
    roots: Optional[list[Path]] = typer.Argument(None, help="Folders to index as one workspace."),
    corpus: Optional[Path] = typer.Option(None, "--corpus", help="Corpus folder: its --split files are laid out "
                                                                  "as one folder per project and indexed."),
    split: str = typer.Option("train", "--split", help="Corpus split to lay out."),
    max_files: int = typer.Option(20_000, "--max-files", help="File cap of the index (and of the layout)."),
    queries: int = typer.Option(500, "--queries", help="Sampled positions for the query latencies."),
    seed: int = typer.Option(7, "--seed"),
    json_out: Optional[Path] = typer.Option(None, "--json", help="Also write the figures to this JSON file."),
) -> None:
    """Index a large tree and report throughput, memory and query latency (see the module docstring)."""
    from codecomp.engine.workspace import DiscoveryConfig, WorkspaceIndex

    tmp = None
    if corpus is not None:
        tmp = tempfile.TemporaryDirectory(prefix="workspace-bench-")
        n = layout_corpus(corpus, split, Path(tmp.name), max_files)
        typer.echo(f"laid out {n} files of {corpus} ({split})", err=True)
        roots = [Path(tmp.name)]
    if not roots:
        typer.echo("give folders to index or --corpus DIR", err=True)
        raise typer.Exit(2)
    proc = psutil.Process()
    gc.collect()
    rss0 = proc.memory_info().rss
    index = WorkspaceIndex(roots, DiscoveryConfig(max_files=max_files))
    cpu0, t0 = time.process_time(), time.perf_counter()
    report = index.build()
    seconds, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    gc.collect()
    rss_mb = (proc.memory_info().rss - rss0) / 1e6
    stats = index.stats()
    rng = random.Random(seed)
    positions = sample_positions(index, rng, queries)
    time_queries(index, positions[:20])  # warm the caches the first queries fill
    series, found = time_queries(index, positions)
    ts = tree_sitter_comparison(index, rng, 300)
    files = max(report.files, 1)
    figures = {
        "roots": [str(r) for r in roots], "files": report.files, "packages": report.packages,
        "mb": report.bytes / 1e6, "seconds": seconds, "cpu_seconds": cpu, "files_per_s": report.files / seconds,
        "files_per_cpu_s": report.files / max(cpu, 1e-9), "rss_mb": rss_mb, "rss_mb_per_1k": rss_mb / files * 1000,
        "rss_mb_per_10k": rss_mb / files * 10_000, "skipped": report.skipped, "truncated": report.truncated,
        "index": stats, "queries": {k: percentiles(v) for k, v in series.items()},
        "unseen_in_file": found["unseen_in_file"], "offered_by_project": found["offered_by_project"],
        "tree_sitter": ts, "cores": psutil.cpu_count(), "load": psutil.getloadavg()[0],
    }
    print_table(figures)
    if json_out is not None:
        json_out.write_text(json.dumps(figures, indent=2))
    if tmp is not None:
        tmp.cleanup()


def print_table(f: dict) -> None:
    """The figures as markdown tables, and the command that reproduces them."""
    echo = typer.echo
    echo(f"\n{f['files']} files ({f['mb']:.0f} MB) + {f['packages']} package entries, {f['cores']} cores, "
         f"load {f['load']:.1f} while running")
    echo("| figure | value | target |")
    echo("|---|---|---|")
    echo(f"| files/s (wall) | {f['files_per_s']:.0f} | >= {TARGETS['files_per_s']:.0f} |")
    echo(f"| files per CPU-second | {f['files_per_cpu_s']:.0f} | |")
    echo(f"| seconds to a full index | {f['seconds']:.1f} | |")
    echo(f"| RSS added per 1,000 files | {f['rss_mb_per_1k']:.1f} MB | |")
    echo(f"| RSS added, scaled to 10,000 files | {f['rss_mb_per_10k']:.0f} MB | <= {TARGETS['rss_mb_per_10k']:.0f} MB |")
    echo(f"| count tables / compressed token streams | {f['index']['table_bytes'] / 1e6:.1f} MB / "
         f"{f['index']['token_bytes'] / 1e6:.1f} MB | |")
    ts = f["tree_sitter"]
    echo(f"| tree-sitter parse only, files per CPU-s ({ts['files']} files) | "
         f"{ts['tree_sitter_parse_files_per_cpu_s']:.0f} | |")
    echo(f"| codecomp.syntax.parse (tree + tokens), files per CPU-s (same files) | "
         f"{ts['syntax_parse_files_per_cpu_s']:.0f} | |")
    echo(f"| lexical reading (tokens + declarations + relations), files per CPU-s | "
         f"{ts['lexical_files_per_cpu_s']:.0f} | |")
    echo(f"| identifier occurrences agreeing with tree-sitter | {100 * ts['identifier_agreement']:.1f} % | |")
    if f["unseen_in_file"]:
        echo(f"| written word absent from the rest of its file, offered by the project | "
             f"{100 * f['offered_by_project'] / f['unseen_in_file']:.0f} % of {f['unseen_in_file']} | |")
    echo("\n| query | n | p50 ms | p99 ms | max ms |")
    echo("|---|---|---|---|---|")
    for name, q in f["queries"].items():
        if q.get("n"):
            echo(f"| {name} | {q['n']} | {q['p50']:.2f} | {q['p99']:.2f} | {q['max']:.2f} |")
    echo("\nreproduce: python " + " ".join(shlex.quote(a) for a in sys.argv))


if __name__ == "__main__":
    typer.run(main)
