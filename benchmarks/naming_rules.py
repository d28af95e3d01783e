"""How often each rule of `codecomp.naming.context` gives the first context name of a symbol, and how often that
name is the one the author chose, on one split (the figures behind `RULE_PRECISION`; measure on valid, never
tune on test).

    python benchmarks/naming_rules.py --corpus data/js-npm --split valid
"""
from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main(argv: list[str] | None = None) -> dict:
    from codecomp.naming.data import NamingDataset

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--corpus", required=True, type=Path, help="corpus folder written by `codecomp corpus build`")
    ap.add_argument("--split", default="valid", help="split to measure")
    args = ap.parse_args(argv)
    ds = NamingDataset.from_corpus(args.corpus, args.split)
    fired: Counter = Counter()
    right: Counter = Counter()
    for i, ref in enumerate(ds.refs):
        got = ds.context_names(i)
        if got:
            fired[(ref.lang, ref.kind, got[0][1])] += 1
            right[(ref.lang, ref.kind, got[0][1])] += got[0][0] == ref.name
    print(f"{len(ds)} symbols of {args.corpus} ({args.split})")
    print("| language | kind | rule | first for | % of symbols | exact % |\n|---|---|---|---|---|---|")
    for key in sorted(fired, key=lambda x: -fired[x]):
        print(f"| {key[0]} | {key[1]} | {key[2]} | {fired[key]} | {100 * fired[key] / max(1, len(ds)):.1f} | "
              f"{100 * right[key] / fired[key]:.1f} |")
    return {"symbols": len(ds), "fired": {"/".join(k): v for k, v in fired.items()},
            "right": {"/".join(k): v for k, v in right.items()}}


if __name__ == "__main__":
    main()
