"""Benchmark: level-batched bidirectional Tree-LSTM vs the per-node recursive implementation of the same math.

Trees are real naming windows: the C++ and JavaScript files of corpora/fixtures are parsed, and each declared
variable, parameter or function gives one tree (the window the model reads, at most --max-nodes nodes).  For 1,
16 and 64 trees per batch, both implementations encode the same trees (upward and downward passes, no gradient)
and the table reports nodes per second of CPU time (best of repeated runs), the speed-up and the largest
difference between their states.

    python benchmarks/tree_batching.py                      # CPU, 1 thread, cpu-default model size
    python benchmarks/tree_batching.py --batches 1 16 64 128 --hidden 256 --threads 2
"""
from __future__ import annotations

import argparse
import glob
import shlex
import sys
import time
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from codecomp.naming.trees import batch_examples  # noqa: E402
from training.models.tree_lstm import TreeConfig, batch_to_tensors, build_naming_model, reference_encode  # noqa: E402
from codecomp.naming.data import NamingDataset, row_from_source  # noqa: E402


def load_trees(max_nodes: int, hidden: int) -> tuple[list, object, TreeConfig]:
    """Naming windows of the fixture projects and a vocabulary/model config for them."""
    rows = []
    for path in sorted(glob.glob(str(REPO / "corpora" / "fixtures" / "**" / "*"), recursive=True)):
        if path.endswith((".js", ".mjs", ".cjs")):
            lang = "javascript"
        elif path.endswith((".cc", ".cpp", ".h", ".hpp")):
            lang = "cpp"
        else:
            continue
        rows.append(row_from_source(Path(path).read_text(encoding="utf-8"), lang))
    data = NamingDataset.from_rows(rows)
    cfg = TreeConfig(hidden=hidden, embed=96, max_nodes=max_nodes)
    vocab = data.build_vocab(cfg, {"max_nodes": max_nodes, "max_subtokens": cfg.max_subtokens, "hidden": hidden})
    return [data.example(i, vocab) for i in range(len(data))], vocab, cfg


def timed(fn, min_seconds: float) -> tuple[float, object]:
    """Best CPU time of repeated calls (at least one call, repeated until `min_seconds` of CPU have passed).

    CPU time of this process, not wall time: on a shared machine other processes would otherwise dominate the
    measurement.  With one torch thread the two are the same on an idle machine.
    """
    best, out, start = float("inf"), None, time.process_time()
    while True:
        t0 = time.process_time()
        out = fn()
        best = min(best, time.process_time() - t0)
        if time.process_time() - start >= min_seconds:
            return best, out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog="Prints a table of nodes/s for both implementations and the speed-up.")
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 16, 64], help="trees per batch to measure")
    parser.add_argument("--hidden", type=int, default=128, help="Tree-LSTM state size (cpu-default: 128)")
    parser.add_argument("--max-nodes", type=int, default=384, help="window size in nodes (cpu-default: 384)")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--min-seconds", type=float, default=1.0, help="time each measurement at least this long")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if any(b <= 0 for b in args.batches) or args.hidden <= 0 or args.max_nodes <= 0 or args.threads <= 0:
        parser.error("--batches, --hidden, --max-nodes and --threads must be positive")

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    trees, vocab, cfg = load_trees(args.max_nodes, args.hidden)
    model = build_naming_model(cfg, vocab).eval()
    rng = np.random.default_rng(args.seed)
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, 4 * args.max_nodes + 100))  # the reference recurses once per tree level

    print(f"trees: {len(trees)} naming windows from corpora/fixtures, mean {np.mean([len(t.parent) for t in trees]):.0f}"
          f" nodes; hidden {args.hidden}; {args.threads} thread(s); torch {torch.__version__}")
    header = f"{'trees/batch':>11} {'nodes':>7} {'batched nodes/s':>16} {'per-node nodes/s':>17} {'speed-up':>9} {'max |diff|':>11}"
    print(header)
    print("-" * len(header))
    results = []
    with torch.no_grad():
        for size in args.batches:
            picked = [trees[int(i)] for i in rng.choice(len(trees), size=size, replace=len(trees) < size)]
            nodes = sum(len(t.parent) for t in picked)

            def batched():
                # Planning the levels is part of the cost: it is done for every batch in training too.
                return model.encode(batch_to_tensors(batch_examples(picked)))

            def per_node():
                outs = [reference_encode(model, t.node_type, t.token, t.parent) for t in picked]
                return torch.cat([o[0] for o in outs]), torch.cat([o[1] for o in outs])

            t_batched, (bu, bd) = timed(batched, args.min_seconds)
            t_ref, (ru, rd) = timed(per_node, args.min_seconds)
            diff = max(float((bu - ru).abs().max()), float((bd - rd).abs().max()))
            results.append((size, nodes, nodes / t_batched, nodes / t_ref, t_ref / t_batched, diff))
            print(f"{size:>11} {nodes:>7} {nodes / t_batched:>16,.0f} {nodes / t_ref:>17,.0f} "
                  f"{t_ref / t_batched:>8.1f}x {diff:>11.1e}")
    sys.setrecursionlimit(limit)
    print(f"command: python benchmarks/tree_batching.py {shlex.join(argv if argv is not None else sys.argv[1:])}".rstrip())
    worst = max(r[5] for r in results)
    if worst > 1e-5:
        print(f"error: the two implementations differ by {worst:.1e} (> 1e-5)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
