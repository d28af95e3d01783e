"""What the learned ranker adds to a completion request: feature rows and ONNX scoring, against the hand-set mix.

At sampled identifier positions of held-out files (the identifier hidden, nothing typed), the engine gathers the
candidates once, then times (a) the hand-set mix's scoring and (b) the ranker's feature rows plus the ONNX
ensemble, on the same candidates.  Prints p50/p99 of each, the added time, and the candidate counts.

    python benchmarks/ranker_latency.py --model MODEL_WITH_RANKER --corpus data/js-npm --split test
"""
from __future__ import annotations

import argparse
import shlex
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", type=Path, required=True, help="artifact with a ranker (codecomp train ranker --install)")
    ap.add_argument("--ranker", type=Path, help="or: a ranker run folder to attach to --model's engine")
    ap.add_argument("--corpus", type=Path, required=True, help="corpus folder (codecomp corpus build)")
    ap.add_argument("--split", default="test")
    ap.add_argument("--positions", type=int, default=300)
    ap.add_argument("--repeat", type=int, default=5, help="timings per position (the minimum counts)")
    args = ap.parse_args(argv)

    import numpy as np

    from codecomp.engine import Engine
    from codecomp.eval.documents import Query, utf16_position
    from codecomp.eval.harness import docs_of, load_split, sample_identifier_positions
    from codecomp.eval.metrics import percentile

    engine = Engine.load(args.model)
    if args.ranker is not None:
        from codecomp.eval.project_context import load_ranker_run

        engine.ranker = load_ranker_run(args.ranker)
    if engine.ranker is None:
        print(f"the model has no usable ranker: {engine.ranker_problem}", file=sys.stderr)
        return 2
    docs = docs_of(load_split(args.corpus, args.split, None, 0))
    mix_ms, feat_ms, score_ms, sizes = [], [], [], []
    for d, i in sample_identifier_positions(docs, args.positions, 0):
        doc = docs[d]
        text, cursor = Query(doc, i, "", "blank").document()
        uri = "file:///bench" + (".js" if doc.lang == "javascript" else ".cpp")
        engine.open(uri, text, doc.lang, 1)
        line, col = utf16_position(text, cursor)
        g = engine._gather(uri, line, col, None)
        if hasattr(g, "items") or not g.matching:
            engine.close(uri)
            continue
        pool = {k: v[1] for k, v in g.matching.items()}
        best = [float("inf")] * 3
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            engine._score(pool, g.doc, g.cursor, g.prefix, g.member_op, g.state, g.near, g.ngrams, g.project)
            g.doc.extra.pop("nearby_uses", None)  # the ranker's own scan of the code near the cursor is timed too
            t1 = time.perf_counter()
            labels, rows = engine._ranker_rows(g)
            t2 = time.perf_counter()
            engine.ranker.score(rows)
            t3 = time.perf_counter()
            best = [min(best[0], t1 - t0), min(best[1], t2 - t1), min(best[2], t3 - t2)]
        mix_ms.append(best[0] * 1e3)
        feat_ms.append(best[1] * 1e3)
        score_ms.append(best[2] * 1e3)
        sizes.append(len(labels))
        engine.close(uri)
    added = [f + s - m for f, s, m in zip(feat_ms, score_ms, mix_ms)]
    print(f"{len(sizes)} positions, candidates per request: median {int(np.median(sizes))}, max {max(sizes)}")
    print("| ms per request | p50 | p99 |\n|---|---|---|")
    band = [a for a, n in zip(added, sizes) if 250 <= n <= 350]   # the target is stated for 300 candidates
    for name, xs in (("hand-set mix", mix_ms), ("ranker features", feat_ms), ("ranker ONNX scoring", score_ms),
                     ("added by the ranker (features + scoring - mix)", added),
                     (f"added, requests with 250-350 candidates (n={len(band)})", band)):
        if xs:
            print(f"| {name} | {percentile(xs, 50):.2f} | {percentile(xs, 99):.2f} |")
    print("\ncommand: python " + " ".join(shlex.quote(a) for a in [sys.argv[0], *(argv or sys.argv[1:])]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
