"""What every source kind produces: units to fetch, candidate files, skipped files, and the error of a source.

The source modules (folder, npm, debian, hub) import these; `codecomp.corpus.sources.iter_units` dispatches to
them.  Kept apart from the package's `__init__` so that the source modules and the dispatcher do not import each
other.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field


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
