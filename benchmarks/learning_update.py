"""Learning from the user: the cost of one event and the memory of a learner, on real code.

Types the files of a corpus split the way the learning evaluation does (codecomp/eval/learning_eval.py): every
identifier is a cache event (`Learner.observe_name`); every `--every`-th one is a full event, a list of
`KEEP_ROWS` items with ranker-sized feature rows whose name moves the correction (`Learner.observe`).  Prints
p50/p99/max of each kind of event, the time to compute the cache features of a 300-candidate list (what a
completion request adds), the learner's size, and the memory it holds (tracemalloc, in a second pass over the
same events: tracing slows every allocation, so the timings come from a pass without it).

    python benchmarks/learning_update.py --corpus data/js-npm --split test --max-identifiers 50000
"""
from __future__ import annotations

import argparse
import shlex
import sys
import time
import tracemalloc
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--corpus", type=Path, required=True, help="corpus folder (codecomp corpus build)")
    ap.add_argument("--split", default="test")
    ap.add_argument("--max-identifiers", type=int, default=50_000, help="events in all")
    ap.add_argument("--every", type=int, default=10, help="one full event (with a list) every this many")
    args = ap.parse_args(argv)

    import numpy as np

    from codecomp.engine.learning import KEEP_ROWS, Learner, Shown, context_of
    from codecomp.engine.ranker import FEATURES
    from codecomp.eval.documents import IDENTIFIER
    from codecomp.eval.harness import docs_of, load_split
    from codecomp.eval.metrics import percentile

    docs = docs_of(load_split(args.corpus, args.split))
    rng = np.random.default_rng(0)
    rows = rng.normal(size=(KEEP_ROWS, len(FEATURES))).astype(np.float32)
    base = np.linspace(2.0, -2.0, KEEP_ROWS)
    def run(timed: bool) -> tuple[Learner, int, list[float], list[float], list[float]]:
        learner = Learner()
        cache_us: list[float] = []
        full_us: list[float] = []
        features_us: list[float] = []
        recent: list[str] = []
        n = 0
        for doc in docs:
            raw = doc.text.encode("utf-8", "surrogatepass")
            if len(raw) != len(doc.text):
                continue  # byte offsets equal character offsets: enough files for a timing
            uri = f"file:///bench/{doc.project}/{doc.path}"
            for i, kind in enumerate(doc.kinds):
                if kind != IDENTIFIER:
                    continue
                name = doc.tokens[i]
                ctx = context_of(raw, doc.start_chars[i], doc.lang, uri,
                                 i > 0 and doc.tokens[i - 1] in (".", "->", "::"))
                recent = (recent + [name])[-400:]
                if n % args.every == 0 and len(recent) >= KEEP_ROWS:
                    labels = list(dict.fromkeys(recent[::-1]))[:KEEP_ROWS - 1]
                    labels = ([name] + [x for x in labels if x != name])[:KEEP_ROWS]
                    t0 = time.perf_counter()
                    feats = learner.cache_features(ctx, labels + recent[:300 - len(labels)])
                    features_us.append((time.perf_counter() - t0) * 1e6)
                    shown = Shown(learner, ctx, labels, base[:len(labels)], feats[:len(labels)], rows[:len(labels)])
                    t0 = time.perf_counter()
                    learner.observe(shown, name)
                    full_us.append((time.perf_counter() - t0) * 1e6)
                else:
                    t0 = time.perf_counter()
                    learner.observe_name(ctx, name)
                    cache_us.append((time.perf_counter() - t0) * 1e6)
                n += 1
                if n >= args.max_identifiers:
                    return learner, n, cache_us, full_us, features_us
        return learner, n, cache_us, full_us, features_us

    learner, n, cache_us, full_us, features_us = run(True)
    del learner
    tracemalloc.start()
    before, _ = tracemalloc.get_traced_memory()
    learner = run(False)[0]
    held, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()

    def row(label: str, xs: list[float]) -> str:
        return (f"| {label} | {len(xs)} | {percentile(xs, 50):.0f} | {percentile(xs, 99):.0f} | {max(xs):.0f} |"
                if xs else f"| {label} | 0 | - | - | - |")

    print("| event | n | p50 µs | p99 µs | max µs |\n|---|---|---|---|---|")
    print(row("cache only (observe_name)", cache_us))
    print(row(f"full: a list of {KEEP_ROWS} rows x {len(FEATURES)} features (observe)", full_us))
    print(row("cache features of a 300-candidate list (per request)", features_us))
    size = learner.size()
    print(f"\nlearner after {n} events: {size['contexts']} contexts, {size['entries']} entries, "
          f"{(held - before) / 1e6:.1f} MB held (peak {(peak - before) / 1e6:.1f} MB)")
    print("\ncommand: python " + " ".join(shlex.quote(a) for a in [sys.argv[0], *(argv or sys.argv[1:])]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
