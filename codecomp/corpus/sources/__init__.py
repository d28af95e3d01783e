"""Where corpus files come from: folders, system headers, npm packages, Debian source packages and dataset hubs.

Every source kind turns one `[[source]]` recipe entry into `Unit`s: a unit is the smallest piece that can fail as
a whole (one npm package, one Debian source package, one folder project, one dataset).  Fetching a unit gives
`Candidate` files plus the files already skipped while walking (symlinks, unreadable folders).  A unit that cannot
be fetched raises `SourceError` with a sentence naming it; the builder stops or, with --keep-going, counts it.
"""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from codecomp.corpus.recipe import Recipe, SourceSpec
from codecomp.corpus.sources.base import Candidate, Fetched, Skip, SourceError, Unit

__all__ = ["Candidate", "Fetched", "Skip", "SourceError", "Unit", "iter_units"]


def iter_units(spec: SourceSpec, recipe: Recipe, cache_dir: Path) -> Iterator[Unit]:
    """The units of one recipe source. Cheap: nothing is downloaded until a unit's `fetch` is called."""
    if spec.kind in ("folder", "system"):
        from codecomp.corpus.sources.folder import folder_units
        yield from folder_units(spec, recipe)
    elif spec.kind == "npm":
        from codecomp.corpus.sources.npm import npm_units
        yield from npm_units(spec, recipe, cache_dir)
    elif spec.kind == "debian":
        from codecomp.corpus.sources.debian import debian_units
        yield from debian_units(spec, recipe, cache_dir)
    elif spec.kind == "hub":
        from codecomp.corpus.sources.hub import hub_units
        yield from hub_units(spec, recipe)
    else:  # parse_recipe rejects unknown kinds; this guards programmatic misuse
        raise SourceError(f"source {spec.name!r} has unknown kind {spec.kind!r}")
