"""`codecomp corpus build` and `codecomp corpus stats`: the command-line face of the corpus pipeline.

Heavy imports (datasets, datasketch) happen inside the commands so that `codecomp --help` stays fast and works on
the serving install.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import NoReturn, Optional

import typer

app = typer.Typer(no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
                  help="Build and inspect corpora of real C++ and JavaScript code.")


def _fail(message: str, code: int = 2) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


@app.command("build", short_help="Build a corpus from a recipe: fetch, filter, split, parse.")
def build_command(
    recipe: Path = typer.Argument(..., help="Recipe TOML file (see corpora/*.toml)."),
    out: Path = typer.Option(..., "--out", "-o", help="Output folder; replaced only when the build succeeds."),
    keep_going: bool = typer.Option(False, "--keep-going", help="Skip sources that cannot be fetched (they are "
                                    "counted in stats.json) instead of stopping."),
    workers: Optional[int] = typer.Option(None, "--workers", "-j", min=1,
                                          help="Processes used for parsing (default: all cores)."),
    cache: Optional[Path] = typer.Option(None, "--cache", help="Folder for downloaded packages, reused between "
                                         "builds (default: ~/.cache/codecomp/sources)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bars."),
    max_tokens_per_project: Optional[int] = typer.Option(
        None, "--max-tokens-per-project", min=0,
        help="Override the recipe's per-project token budget; 0: no budget, every file of a project that passes "
             "the filters is kept (e.g. whole projects as evaluation workspaces, `codecomp eval --workspaces`)."),
) -> None:
    """Build a corpus from RECIPE into --out: fetch, filter, de-duplicate, split by project, parse, save.

    Example: codecomp corpus build corpora/fixtures.toml --out data/fixtures
    """
    import dataclasses
    import warnings

    from codecomp.corpus.build import CorpusBuildError, EmptySplitWarning, build_corpus
    from codecomp.corpus.recipe import RecipeError, load_recipe

    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", EmptySplitWarning)
            parsed = load_recipe(recipe)
            if max_tokens_per_project is not None:
                budget = max_tokens_per_project or 2 ** 62
                parsed = dataclasses.replace(parsed, limits=dataclasses.replace(
                    parsed.limits, max_tokens_per_project=budget))
            stats = build_corpus(parsed, out, workers=workers, keep_going=keep_going, cache_dir=cache,
                                 progress=None if not quiet else False)
    except (RecipeError, CorpusBuildError) as exc:
        _fail(str(exc))
    except KeyboardInterrupt:
        _fail("interrupted; nothing was written to --out", 130)
    except OSError as exc:  # disk full, permissions changed mid-build...
        _fail(f"the build failed and --out was left unchanged: {exc.strerror or exc}"
              + (f" ({exc.filename})" if getattr(exc, "filename", None) else ""))
    typer.echo(format_stats(stats))
    typer.echo(f"corpus written to {out}")
    for w in caught:
        if issubclass(w.category, EmptySplitWarning):
            typer.echo(f"warning: {w.message}", err=True)
        else:
            warnings.showwarning(w.message, w.category, w.filename, w.lineno)


@app.command("stats", short_help="Print the split sizes and filter counts of a corpus.")
def stats_command(
    corpus: Path = typer.Argument(..., help="A corpus folder written by `codecomp corpus build`."),
    as_json: bool = typer.Option(False, "--json", help="Print stats.json as is."),
) -> None:
    """Print the size of each split and the count of every filter of a built corpus."""
    path = corpus / "stats.json"
    if not corpus.is_dir():
        _fail(f"{corpus} is not a folder; give the --out folder of `codecomp corpus build`")
    try:
        stats = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        _fail(f"{corpus} has no stats.json, so it is not a corpus built by `codecomp corpus build`")
    except (OSError, ValueError) as exc:
        _fail(f"cannot read {path}: {exc}")
    typer.echo(json.dumps(stats, indent=2) if as_json else format_stats(stats))


def format_stats(stats: dict) -> str:
    """A plain-text summary of a corpus's stats.json: a table of splits, then filter counts and examples."""
    lines = [f"corpus {stats.get('recipe', '?')}: {stats.get('kept', '?')} files kept of "
             f"{stats.get('candidates', '?')} candidates"
             + (f", built in {stats['seconds']:.1f} s with {stats.get('workers', '?')} workers" if "seconds" in stats else "")]
    header = f"{'split':<6} {'files':>8} {'lines':>10} {'tokens':>12} {'MB':>8} {'projects':>8}  languages"
    lines += ["", header, "-" * len(header)]
    for name, st in stats.get("splits", {}).items():
        langs = ", ".join(f"{k}:{v}" for k, v in st.get("languages", {}).items())
        lines.append(f"{name:<6} {st['files']:>8} {st['lines']:>10} {st['tokens']:>12} {st['bytes'] / 1e6:>8.2f} "
                     f"{len(st['projects']):>8}  {langs}")
    filters = {k: v for k, v in stats.get("filters", {}).items() if v}
    lines += ["", "filtered: " + (", ".join(f"{k}={v}" for k, v in filters.items()) if filters else "nothing")]
    for failed in stats.get("failed_sources", []):
        lines.append(f"source skipped: {failed['error']}")
    examples = stats.get("skipped_examples", [])
    if examples:
        lines.append("examples:")
        shown: dict[str, int] = {}
        for ex in examples:
            if shown.get(ex["reason"], 0) >= 2:
                continue
            shown[ex["reason"]] = shown.get(ex["reason"], 0) + 1
            where = f"{ex['project']}/{ex['path']}" if ex["path"] else ex["project"]
            lines.append(f"  {ex['reason']:<16} {where}: {ex['detail']}")
    return "\n".join(lines)
