"""Measure the syntax layer's speed against raw tree-sitter parsing.

    python benchmarks/syntax_speed.py [--repeat N] FILE_OR_DIR...

Prints, per language, the bytes processed and the seconds spent in raw `Parser.parse`, in `tokenize`, in
`build_ast_arrays` and in scope analysis (best of N repeats), with the ratio of each to the raw parse.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from codecomp.syntax.languages import LANGUAGES, detect_language, get_parser  # noqa: E402
from codecomp.syntax.parsed import ParsedFile  # noqa: E402
from codecomp.syntax.scopes import compute_scopes  # noqa: E402
from codecomp.syntax.tokens import tokenize  # noqa: E402
from codecomp.syntax.tree import build_ast_arrays  # noqa: E402


def _collect(paths: list[str]) -> dict[str, list[bytes]]:
    found: dict[str, list[bytes]] = defaultdict(list)
    for path in paths:
        walk = [path] if os.path.isfile(path) else [os.path.join(d, f) for d, _, fs in os.walk(path) for f in fs]
        for name in walk:
            lang = detect_language(name)
            if lang is None:
                # extension-less C++ standard headers (`vector`, `map`) are common benchmark input
                if os.path.isfile(name) and "." not in os.path.basename(name) and "include" in name:
                    lang = "cpp"
                else:
                    continue
            try:
                with open(name, "rb") as f:
                    found[lang].append(f.read())
            except OSError:
                continue
    return found


def _best(fn, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python benchmarks/syntax_speed.py", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("paths", nargs="+", help="source files or folders (C++ and JavaScript by extension)")
    ap.add_argument("--repeat", type=int, default=3, help="repeats per measurement; the best is kept")
    args = ap.parse_args(argv)
    files = _collect(args.paths)
    if not files:
        print("no C++ or JavaScript files found under the given paths", file=sys.stderr)
        return 1
    for lang in LANGUAGES:
        data = files.get(lang)
        if not data:
            continue
        parser = get_parser(lang)
        trees = [parser.parse(d) for d in data]
        parsed = [ParsedFile(lang, d, t, tokenize(t, d, lang)) for d, t in zip(data, trees)]
        t_parse = _best(lambda: [parser.parse(d) for d in data], args.repeat)
        t_tok = _best(lambda: [tokenize(t, d, lang) for t, d in zip(trees, data)], args.repeat)
        t_ast = _best(lambda: [build_ast_arrays(t, lang) for t in trees], args.repeat)
        t_scope = _best(lambda: [compute_scopes(p) for p in parsed], args.repeat)
        mb = sum(map(len, data)) / 1e6
        n_tok = sum(len(p.tokens) for p in parsed)
        print(f"{lang}: {len(data)} files, {mb:.2f} MB, {n_tok} tokens")
        for label, secs in (("parse", t_parse), ("tokenize", t_tok), ("ast_arrays", t_ast), ("scopes", t_scope)):
            print(f"  {label:<10} {secs:7.3f} s  {mb / secs:6.2f} MB/s  {secs / t_parse:5.2f}x parse")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
