"""Stratified sampling of evaluation positions: every project an equal share, no file more than a cap.

A held-out split is a handful of projects of very different sizes; drawing positions uniformly from the
pooled split would mostly measure its largest project (and, inside it, its largest files).  Every sampler
of the harness therefore follows one rule, which the report repeats:

1. **Projects.** The ``n`` positions are split equally between the projects that have at least one eligible
   position.  A project that cannot fill its share gives all it can, and what it leaves is split equally
   between the other projects, repeatedly (water-filling).  When the positions do not divide evenly, the
   last few go one each to projects taken in a seeded random order.
2. **Files.** No file gives more than ``cap = max(min_cap, share // 4)`` positions, where
   ``share = n // projects`` is the equal share before any redistribution.  What a project can give is the sum
   over its files of ``min(eligible positions, cap)``.
3. **Inside a project.** Positions are drawn uniformly at random from the project's eligible positions,
   skipping positions of a file that already gave ``cap``; so what a capped file cannot give is drawn from the
   project's other files.

The draw is deterministic for a seed: files are put in (project, path) order whatever order the caller holds
them in, and every random stream is derived with SHA-256 from the seed, a stream name and the project name,
never from Python's salted ``hash`` or from the iteration order of a set.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Iterator, Mapping, Sequence

import numpy as np

# Stated in the report beside the per-project rows.
RULE = ("Positions are stratified by project: each project of the split gets an equal share of the positions "
        "of a task; a project with fewer usable positions than its share gives all it has and the rest is split "
        "equally between the other projects. No file gives more than max(5, share // 4) positions "
        "(share = positions // projects; max(1, share // 4) keystroke windows); inside a project, positions are drawn uniformly among its files' "
        "positions, skipping files that reached the cap.")


def rng_for(seed: int, stream: str, key: str = "") -> np.random.Generator:
    """A numpy generator that depends only on ``(seed, stream, key)`` (stable across processes and runs)."""
    digest = hashlib.sha256(f"{seed}/{stream}/{key}".encode("utf-8")).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "little"))


def equal_shares(usable: Mapping[str, int], total: int, seed: int, stream: str) -> dict[str, int]:
    """Split ``total`` equally between the keys of ``usable``, none above its usable count (water-filling).

    Keys that cannot take their equal share take all they can and the rest is split again between the
    others.  The remainder of an uneven split goes one each to keys in a seeded random order (not the
    alphabetical one, which would favour the same projects in every task).  The result sums to
    ``min(total, sum(usable))``.
    """
    alloc = {k: 0 for k in sorted(usable)}
    open_keys = [k for k in alloc if usable[k] > 0]
    left = min(total, sum(max(0, v) for v in usable.values()))
    names = list(alloc)
    order = [names[i] for i in rng_for(seed, stream, "remainder").permutation(len(names)).tolist()]
    while left > 0 and open_keys:
        share = left // len(open_keys)
        if share == 0:
            # fewer positions left than open keys: one each, in the seeded order (every open key has room)
            for k in [k for k in order if k in open_keys][:left]:
                alloc[k] += 1
            break
        full = [k for k in open_keys if usable[k] - alloc[k] <= share]
        if full:
            for k in full:
                left -= usable[k] - alloc[k]
                alloc[k] = usable[k]
            open_keys = [k for k in open_keys if k not in full]
            continue
        for k in open_keys:
            alloc[k] += share
        left -= share * len(open_keys)
    return alloc


@dataclass
class Sample:
    """Positions drawn by :func:`stratified_sample` and how they were allotted (for the report)."""

    picks: list[tuple[int, int]]                   # (file index in the caller's list, position), sorted
    share: int                                     # equal share per project before redistribution
    cap: int                                       # most positions one file may give
    projects: dict[str, dict[str, int]] = field(default_factory=dict)

    def __iter__(self) -> Iterator[tuple[int, int]]:
        """The picks, so a Sample can stand where a list of (file, position) pairs is expected."""
        return iter(self.picks)

    def __len__(self) -> int:
        return len(self.picks)

    def summary(self) -> dict[str, object]:
        """JSON form: share, cap and per project its files, eligible / usable positions and the positions drawn."""
        return {"share": self.share, "cap": self.cap, "positions": len(self.picks), "projects": self.projects}


def _draw_capped(positions: Sequence[np.ndarray], k: int, cap: int, rng: np.random.Generator
                 ) -> list[tuple[int, int]]:
    """``k`` (file, position) pairs drawn uniformly from the files' positions, at most ``cap`` per file.

    Equivalent to walking a random permutation of all positions and skipping those of files that already gave
    ``cap``; done with numpy so that a project of a million tokens takes milliseconds.
    """
    counts = np.array([len(p) for p in positions], dtype=np.int64)
    if k <= 0 or counts.sum() == 0:
        return []
    owner = np.repeat(np.arange(len(positions)), counts)
    flat = np.concatenate([np.asarray(p, dtype=np.int64) for p in positions])
    perm = rng.permutation(len(flat))
    own = owner[perm]
    # rank of every drawn element among the draws of its own file (0 for the first one)
    order = np.argsort(own, kind="stable")
    sorted_own = own[order]
    starts = np.flatnonzero(np.r_[True, sorted_own[1:] != sorted_own[:-1]])
    group_start = np.repeat(starts, np.diff(np.r_[starts, len(own)]))
    rank = np.empty(len(own), dtype=np.int64)
    rank[order] = np.arange(len(own)) - group_start
    kept = perm[rank < cap][:k]
    return [(int(owner[j]), int(flat[j])) for j in kept]


def stratified_sample(files: Sequence[tuple[str, str, Sequence[int]]], n: int, seed: int, stream: str,
                      min_cap: int = 5, cap: int | None = None) -> Sample:
    """Draw ``n`` positions from ``files`` = ``(project, path, eligible positions)`` by the module's rule.

    ``stream`` names the task so that tasks draw independently; ``cap`` overrides the per-file cap
    ``max(min_cap, share // 4)``.  Fewer than ``n`` positions come back only when the files cannot give more
    under the cap.  The picks are sorted by the caller's file index, then position.
    """
    order = sorted(range(len(files)), key=lambda f: (files[f][0], files[f][1], f))
    by_project: dict[str, list[int]] = {}
    for f in order:
        if len(files[f][2]):
            by_project.setdefault(files[f][0], []).append(f)
    share = n // len(by_project) if by_project else 0
    file_cap = cap if cap is not None else max(min_cap, share // 4)
    usable = {p: sum(min(len(files[f][2]), file_cap) for f in fs) for p, fs in by_project.items()}
    alloc = equal_shares(usable, n, seed, stream)
    picks: list[tuple[int, int]] = []
    info: dict[str, dict[str, int]] = {}
    for project, fs in sorted(by_project.items()):
        positions = [np.asarray(files[f][2], dtype=np.int64) for f in fs]
        drawn = _draw_capped(positions, alloc[project], file_cap, rng_for(seed, stream, project))
        picks += [(fs[local], pos) for local, pos in drawn]
        info[project] = {"files": len(fs), "eligible": int(sum(len(p) for p in positions)),
                         "usable": usable[project], "drawn": len(drawn)}
    return Sample(sorted(picks), share, file_cap, info)


def stratified_files(projects: Sequence[str], paths: Sequence[str], limit: int | None, seed: int) -> list[int]:
    """Indices of at most ``limit`` files, an equal number per project (water-filled), sorted.

    Used when a split has more files than the evaluation reads, so that a large project cannot crowd out the
    small ones before positions are even drawn.
    """
    if limit is None or len(projects) <= limit:
        return list(range(len(projects)))
    files = [(projects[i], paths[i], (0,)) for i in range(len(projects))]
    return sorted(f for f, _ in stratified_sample(files, limit, seed, "files", cap=1).picks)
