"""Learning from the user: compare learner settings on a validation split with the evaluation's simulated user.

Runs `codecomp.eval.learning_eval.eval_learning` (the code behind `codecomp eval --tasks learning`) once per
setting, on the same projects and positions, and prints per language the top-1 gain (learning on minus off) over
the second half of each project's files and over its first file, at 0 and 1 characters typed.  A setting is a
name and `field=value` pairs of `codecomp.engine.learning.LearnerConfig`; tuples are written with `/`:

    python benchmarks/learning_tune.py --corpus data/cpp-valid-extra --split valid \\
        --setting shipped --setting "low-cache:w_prior=0.3/0/0/0/0"

Each setting starts from the shipped one (`DEFAULT_CONFIG`); `--language` restricts the files read.
The test split is refused: settings are chosen on valid data only.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def parse_setting(text: str, base: object) -> tuple[str, object]:
    """`name[:field=value,field=value]` -> (name, a LearnerConfig from `base` with those fields replaced)."""
    name, _, rest = text.partition(":")
    changes = {}
    names = [f.name for f in dataclasses.fields(base)]
    for pair in filter(None, rest.split(",")):
        key, _, value = pair.partition("=")
        key = key.strip()
        if key not in names:
            raise SystemExit(f"unknown LearnerConfig field {key!r}; fields: {', '.join(names)}")
        current = getattr(base, key)
        if isinstance(current, tuple):
            changes[key] = tuple(float(v) for v in value.split("/"))
        elif isinstance(current, bool):
            changes[key] = value.strip().lower() in ("1", "true", "yes", "on")
        else:
            changes[key] = type(current)(value)
    return name, dataclasses.replace(base, **changes)


def learning_arguments(parser: argparse.ArgumentParser) -> None:
    """The arguments the learning benchmarks share: which corpus, split, model and language."""
    parser.add_argument("--corpus", type=Path, required=True)
    parser.add_argument("--split", default="valid")
    parser.add_argument("--model", type=Path, default=None, help="model artifact (default: the shipped one)")
    parser.add_argument("--language", default=None, help="only this language's files (cpp, javascript)")
    parser.add_argument("--measured", type=int, default=100, help="measured positions per project (second half)")
    parser.add_argument("--seed", type=int, default=0)


def engine_and_docs(args: argparse.Namespace) -> tuple[object, list]:
    """The engine and the split's files (of `--language` only, when given); exits when there are none."""
    from codecomp.engine import Engine
    from codecomp.eval.harness import docs_of, load_split

    engine = Engine.load(args.model)
    docs = docs_of(load_split(args.corpus, args.split, None, args.seed), False, "files")
    if args.language:
        docs = [d for d in docs if d.lang == args.language]
    if not docs:
        raise SystemExit(f"no files in the {args.split} split of {args.corpus}")
    return engine, docs


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    learning_arguments(parser)
    parser.add_argument("--setting", action="append", default=[],
                        help="NAME[:field=value,...] (repeatable); a name alone: the shipped setting")
    parser.add_argument("--out", type=Path, default=None, help="also write the figures as JSON here")
    args = parser.parse_args(argv)
    if args.split == "test":
        raise SystemExit("the test split is never used for tuning; use --split valid")

    from codecomp.engine.learning import DEFAULT_CONFIG, Learning
    from codecomp.eval.learning_eval import LearningOptions, eval_learning

    engine, docs = engine_and_docs(args)
    langs = sorted({d.lang for d in docs})
    opts = LearningOptions(measured=args.measured, seed=args.seed)
    rows, results = [], {}
    for text in args.setting or ["shipped"]:
        name, cfg = parse_setting(text, DEFAULT_CONFIG)
        for lang in langs:
            t0 = time.perf_counter()
            task, _ = eval_learning(engine, [d for d in docs if d.lang == lang], opts, progress=False,
                                    learning_factory=lambda cfg=cfg: Learning(config=cfg))
            fig = task["languages"].get(lang)
            if not fig:
                continue
            results[f"{name}/{lang}"] = {"config": dataclasses.asdict(cfg), **fig}
            for group in ("second_half", "first_file"):
                for typed in ("0", "1"):
                    g = fig.get(group, {}).get(f"t{typed}")
                    if g and g["n"]:
                        rows.append((name, lang, group, typed, g["n"], g["off"], g["on"], g["gain"],
                                     g["gain_interval"]))
            print(f"{name}/{lang}: {time.perf_counter() - t0:.0f} s", file=sys.stderr, flush=True)
    print(f"{'setting':<18} {'lang':<11} {'group':<12} typed {'n':>5} {'off':>6} {'on':>6} {'gain':>6}  95 % interval")
    for name, lang, group, typed, n, off, on, gain, (lo, hi) in rows:
        print(f"{name:<18} {lang:<11} {group:<12} {typed:>5} {n:>5} {off:6.1f} {on:6.1f} {gain:+6.1f}  "
              f"[{lo:+.1f}, {hi:+.1f}]")
    if args.out:
        args.out.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
