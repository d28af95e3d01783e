"""Where corpus files come from: folders, system headers, npm packages, Debian source packages and dataset hubs.

Every source kind turns one `[[source]]` recipe entry into `Unit`s: a unit is the smallest piece that can fail as
a whole (one npm package, one Debian source package, one folder project, one dataset).  Fetching a unit gives
`Candidate` files plus the files already skipped while walking (symlinks, unreadable folders).  A unit that cannot
be fetched raises `SourceError` with a sentence naming it; the builder stops or, with --keep-going, counts it.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from codecomp.corpus.recipe import Recipe, SourceSpec


class SourceError(RuntimeError):
    """A whole source (package, folder, dataset) could not be fetched; the message names it and says why."""


@dataclass(frozen=True, slots=True)
class Candidate:
    """A file that may enter the corpus: on disk (`fs_path`) or already in memory (`data`, hub rows)."""

    source: str
    project: str
    path: str          # path inside the project, '/'-separated
    language: str
    fs_path: str | None = None
    data: bytes | None = None


@dataclass(frozen=True, slots=True)
class Skip:
    """A file rejected before analysis, with the filter key and a one-line reason."""

    reason: str
    source: str
    project: str
    path: str
    detail: str


@dataclass(slots=True)
class Fetched:
    """What fetching a unit produced."""

    candidates: list[Candidate] = field(default_factory=list)
    skips: list[Skip] = field(default_factory=list)
    info: dict = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Unit:
    """A fetchable piece of a source. `fetch()` may take long (downloads) and may raise `SourceError`."""

    name: str
    kind: str
    source: str
    fetch: Callable[[], Fetched]


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
