"""What the shipped naming model (the Tree-LSTM) reads and how much its answer depends on it, on one split.

Prints: the share of leaf tokens in the examples' windows that the leaf vocabulary knows (the rest read as
`<unk>`); how concentrated the names are (training names among the 10 / 100 most frequent, split names inside
the name vocabulary); and, over N examples, how varied the model's first names are and how often they change
when every identifier of the window except the hidden occurrences is replaced by `<unk>` (if they rarely
change, the identifiers around a symbol barely reach the name head).

    python benchmarks/naming_diagnosis.py --corpus data/js-npm --split valid --examples 300
"""
from __future__ import annotations

import argparse
import random
import sys
from collections import Counter
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main(argv: list[str] | None = None) -> dict:
    import numpy as np

    from codecomp.engine.naming import NameSuggester
    from codecomp.naming.data import NamingDataset
    from codecomp.naming.vocab import MASK, PAD, UNK

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--corpus", required=True, type=Path)
    ap.add_argument("--split", default="valid")
    ap.add_argument("--model", type=Path, default=Path(__file__).resolve().parents[1] / "codecomp" / "default_model")
    ap.add_argument("--examples", type=int, default=300)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)

    suggester = NameSuggester.from_artifact(args.model)
    vocab = suggester.vocab
    data = NamingDataset.from_corpus(args.corpus, args.split)
    train = NamingDataset.from_corpus(args.corpus, "train")
    names = Counter(r.name for r in train.refs)
    total = sum(names.values())
    top10 = sum(c for _, c in names.most_common(10)) / total
    top100 = sum(c for _, c in names.most_common(100)) / total
    in_vocab = sum(1 for r in data.refs if vocab.name_id(r.name)) / max(1, len(data.refs))

    picks = random.Random(args.seed).sample(range(len(data)), min(args.examples, len(data)))
    leaves = known = 0
    firsts, changed, max_p = [], 0, []
    for i in picks:
        ex = data.example(i, vocab)
        leaf = (ex.token != PAD) & (ex.token != MASK)
        leaves += int(leaf.sum())
        known += int((leaf & (ex.token != UNK)).sum())
        got = suggester.predict(ex, 5)
        blind = suggester.predict(replace(ex, token=np.where(leaf, UNK, ex.token)), 5)
        first = got[0][0] if got else ""
        firsts.append(first)
        max_p.append(got[0][1] if got else 0.0)
        changed += first != (blind[0][0] if blind else "")
    common = Counter(firsts).most_common(3)
    out = {"leaf_tokens_known": known / max(1, leaves), "train_names_in_top10": top10,
           "train_names_in_top100": top100, "split_names_in_name_vocab": in_vocab,
           "distinct_first_names": len(set(firsts)) / max(1, len(firsts)),
           "commonest_first_names": common, "first_changed_without_identifiers": changed / max(1, len(picks)),
           "mean_first_score": float(np.mean(max_p)) if max_p else 0.0, "examples": len(picks)}
    print(f"{args.corpus} ({args.split}), {len(picks)} examples, model {args.model}")
    print(f"- leaf tokens of the windows the leaf vocabulary knows: {100 * out['leaf_tokens_known']:.1f} %")
    print(f"- training names among the 10 / 100 most frequent: {100 * top10:.1f} % / {100 * top100:.1f} %; "
          f"{args.split} names in the name vocabulary: {100 * in_vocab:.1f} %")
    print(f"- distinct first names: {100 * out['distinct_first_names']:.1f} % of the examples; commonest: "
          + ", ".join(f"{n} ({c})" for n, c in common))
    print(f"- first name changed when the window's identifiers read as <unk>: "
          f"{100 * out['first_changed_without_identifiers']:.1f} % of the examples; mean first score "
          f"{out['mean_first_score']:.3f}")
    return out


if __name__ == "__main__":
    main()
