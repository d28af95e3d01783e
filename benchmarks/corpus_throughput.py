"""Corpus pipeline throughput: MB of source per second, against raw tree-sitter parsing of the same files.

Takes the candidate files of a recipe (fetched sources are read from the cache, nothing is downloaded for a
recipe whose packages are cached), samples up to --max-mb of them into a temporary folder recipe with the same
limits, then times:
  * raw tree-sitter: `Parser.parse` of every file, one process (the lower bound of any parsing pipeline);
  * codecomp.syntax.parse + tokens: our parse with token extraction, one process;
  * the full pipeline (`build_corpus`: filters, MinHash, de-duplication, split, rows, Arrow output) with 1 and
    with 2 worker processes.
Prints a table and the command that produced it.

    python benchmarks/corpus_throughput.py --help
"""
from __future__ import annotations

import argparse
import random
import shlex
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def sample_files(recipe_path: Path, cache: Path | None, max_mb: float, out_dir: Path) -> tuple[Path, list[tuple[str, Path]]]:
    """Copy up to `max_mb` of the recipe's candidate files (a seeded random sample) into `out_dir`, one
    subfolder per project, and write a folder recipe over them with the original limits."""
    from codecomp.corpus.build import default_cache_dir
    from codecomp.corpus.recipe import load_recipe
    from codecomp.corpus.sources import SourceError, iter_units

    recipe = load_recipe(recipe_path)
    per_project: dict[str, list] = {}
    for spec in recipe.sources:
        for unit in iter_units(spec, recipe, cache or default_cache_dir()):
            try:
                fetched = unit.fetch()
            except SourceError as exc:
                print(f"skipping {unit.name}: {exc}", file=sys.stderr)
                continue
            for c in fetched.candidates:
                if c.fs_path is not None:
                    per_project.setdefault(c.project, []).append(c)
    budget = int(max_mb * 1e6)
    chosen: list[tuple[str, Path]] = []
    used = 0
    # A seeded shuffle over all projects: a fair sample of file sizes and kinds (big bundles included).
    pool = sorted((c for v in per_project.values() for c in v), key=lambda c: (c.project, c.path))
    random.Random(0).shuffle(pool)
    for c in pool:
        if used >= budget:
            break
        src = Path(c.fs_path)
        try:
            size = src.stat().st_size
        except OSError:
            continue
        if size > recipe.limits.max_file_bytes or used + size > budget * 1.1:
            continue
        dest = out_dir / "code" / c.project.replace("/", "__") / c.path
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, dest)
        chosen.append((c.language, dest))
        used += size
    limits = "\n".join(f"{k} = {list(v) if isinstance(v, tuple) else v!r}".replace("'", '"')
                       for k, v in vars(recipe.limits).items())
    folder_recipe = out_dir / "bench.toml"
    folder_recipe.write_text(f'name = "bench"\nlanguages = {list(recipe.languages)!r}\n[limits]\n{limits}\n'
                             f'[[source]]\nkind = "folder"\npath = "code"\nper_subfolder = true\n'.replace("'", '"'))
    return folder_recipe, chosen


def time_raw_parse(files: list[tuple[str, Path]]) -> float:
    from codecomp.syntax import get_parser

    blobs = [(lang, p.read_bytes()) for lang, p in files]
    for lang in {lang for lang, _ in blobs}:  # load the grammars outside the timing
        get_parser(lang).parse(b"x")
    start = time.perf_counter()
    for lang, data in blobs:
        get_parser(lang).parse(data)
    return time.perf_counter() - start


def time_our_parse(files: list[tuple[str, Path]]) -> float:
    from codecomp.syntax import parse

    blobs = [(lang, p.read_bytes()) for lang, p in files]
    start = time.perf_counter()
    for lang, data in blobs:
        parse(data, lang).code_tokens()
    return time.perf_counter() - start


def time_pipeline(recipe: Path, workers: int, out: Path) -> tuple[float, dict]:
    import datasets  # noqa: F401  (imported outside the timing, like in a running build)
    import datasketch  # noqa: F401

    from codecomp.corpus.build import build_corpus

    start = time.perf_counter()
    stats = build_corpus(recipe, out, workers=workers, progress=False, cache_dir=out.parent / "cache")
    return time.perf_counter() - start, stats


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Throughput (MB/s) of the corpus pipeline with 1 and 2 processes, against raw tree-sitter "
                    "parsing of the same files.",
        epilog="example: python benchmarks/corpus_throughput.py --recipe corpora/js-npm.toml --cache data/.cache "
               "--max-mb 4")
    parser.add_argument("--recipe", type=Path, default=REPO / "corpora" / "fixtures.toml",
                        help="recipe whose files are measured (default: corpora/fixtures.toml)")
    parser.add_argument("--cache", type=Path, default=None,
                        help="source cache of earlier builds (npm/Debian packages); default ~/.cache/codecomp/sources")
    parser.add_argument("--max-mb", type=float, default=4.0, help="MB of source files to sample (default 4)")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2],
                        help="process counts to run the pipeline with (default: 1 2)")
    args = parser.parse_args(argv)
    if not args.recipe.is_file():
        parser.error(f"recipe {args.recipe} does not exist")

    with tempfile.TemporaryDirectory(prefix="corpus-bench-") as tmp:
        tmp_path = Path(tmp)
        recipe, files = sample_files(args.recipe, args.cache, args.max_mb, tmp_path)
        if not files:
            parser.error("the recipe has no readable candidate files (are its packages in --cache?)")
        mb = sum(p.stat().st_size for _, p in files) / 1e6
        rows = [("raw tree-sitter parse", 1, time_raw_parse(files)),
                ("codecomp.syntax.parse + tokens", 1, time_our_parse(files))]
        kept = {}
        for n in args.workers:
            seconds, stats = time_pipeline(recipe, n, tmp_path / f"out-{n}")
            rows.append(("full pipeline (build_corpus)", n, seconds))
            kept[n] = stats["kept"]

    print(f"{len(files)} files, {mb:.2f} MB sampled from {args.recipe}")
    header = f"{'stage':<32} {'processes':>9} {'seconds':>9} {'MB/s':>8}"
    print(header)
    print("-" * len(header))
    for name, n, seconds in rows:
        print(f"{name:<32} {n:>9} {seconds:>9.2f} {mb / seconds:>8.2f}")
    print(f"files kept by the pipeline: {', '.join(f'{k} with {n} process(es)' for n, k in kept.items())}")
    print("command: " + shlex.join([Path(sys.executable).name, *sys.argv]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
