"""Folder sources: a local tree of code (one project, or one project per top-level subfolder), and the
`system` source that finds the libstdc++ headers of this machine.

Also home of `walk_tree`, the safe directory walk every on-disk source uses: it never follows symlinks (so a
link cannot lead out of the source or into a loop), visits entries in sorted order (so builds are
deterministic) and reports folders it cannot read instead of failing.
"""
from __future__ import annotations

import errno
import fnmatch
import os
import re
from collections.abc import Iterator
from pathlib import Path

from codecomp.corpus.recipe import Recipe, SourceSpec
from codecomp.corpus.sources.base import Candidate, Fetched, Skip, SourceError, Unit
from codecomp.syntax import detect_language

LIBSTDCXX_ROOT = Path("/usr/include/c++")


def _excluded(rel: str, patterns: tuple[str, ...]) -> bool:
    return any(fnmatch.fnmatch(rel, p) or fnmatch.fnmatch(rel.rsplit("/", 1)[-1], p) for p in patterns)


def _language(name: str, languages: tuple[str, ...], assume_language: str | None) -> str | None:
    lang = detect_language(name)
    if lang is None and assume_language and "." not in name:
        lang = assume_language
    return lang if lang in languages else None


def _symlink_skip(full: str, root: str, rel: str, source: str, project: str) -> Skip:
    """Explain why a symlink is not followed: a loop, a link out of the source, or a link to code we read anyway."""
    try:
        target = os.path.realpath(full, strict=True)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return Skip("symlink_loop", source, project, rel, "symbolic link loop (the link points back to itself)")
        return Skip("symlink", source, project, rel, "dangling symbolic link (its target does not exist)")
    if os.path.commonpath([target, root]) != root:
        return Skip("symlink", source, project, rel, "symbolic link to a location outside the source; not followed")
    return Skip("symlink", source, project, rel, "symbolic link inside the source; its target is read directly")


def walk_tree(root: Path, *, source: str, project: str, languages: tuple[str, ...],
              assume_language: str | None = None, exclude: tuple[str, ...] = (),
              prefix: str = "") -> Fetched:
    """All files of `languages` under `root`, as candidates of `project`; symlinks and unreadable folders are
    reported as skips. `prefix` is prepended to the paths (for projects that are subfolders of an archive)."""
    out = Fetched()
    root_s = os.path.realpath(root)
    errors: list[OSError] = []

    def onerror(exc: OSError) -> None:
        errors.append(exc)

    for dirpath, dirnames, filenames in os.walk(root_s, onerror=onerror, followlinks=False):
        dirnames.sort()
        rel_dir = os.path.relpath(dirpath, root_s)
        rel_dir = "" if rel_dir == "." else rel_dir.replace(os.sep, "/") + "/"
        kept_dirs = []
        for d in dirnames:
            full = os.path.join(dirpath, d)
            rel = prefix + rel_dir + d
            if os.path.islink(full):
                out.skips.append(_symlink_skip(full, root_s, rel, source, project))
            elif not _excluded(rel, exclude):
                kept_dirs.append(d)
        dirnames[:] = kept_dirs
        for name in sorted(filenames):
            full = os.path.join(dirpath, name)
            rel = prefix + rel_dir + name
            if _excluded(rel, exclude):
                continue
            if os.path.islink(full):
                skip = _symlink_skip(full, root_s, rel, source, project)
                # Links to files of other types are noise; loops are always worth reporting.
                if skip.reason == "symlink_loop" or _language(name, languages, assume_language):
                    out.skips.append(skip)
                continue
            lang = _language(name, languages, assume_language)
            if lang is not None:
                out.candidates.append(Candidate(source, project, rel, lang, fs_path=full))
    for exc in errors:
        path = exc.filename or "?"
        rel = prefix + os.path.relpath(path, root_s).replace(os.sep, "/") if path != "?" else "?"
        if os.path.realpath(path) == root_s:
            raise SourceError(f"source {source!r}: cannot read folder {root}: {exc.strerror or exc}")
        out.skips.append(Skip("unreadable", source, project, rel, f"folder cannot be read: {exc.strerror or exc}"))
    return out


def libstdcxx_dir(base: Path = LIBSTDCXX_ROOT) -> Path:
    """The newest versioned libstdc++ header folder (e.g. /usr/include/c++/12) of this machine."""
    try:
        versions = [p for p in base.iterdir() if p.is_dir() and re.fullmatch(r"\d+(\.\d+)*", p.name)]
    except OSError:
        versions = []
    if not versions:
        raise SourceError(f"no libstdc++ headers found under {base}; install libstdc++-dev (e.g. "
                          f"`apt-get install libstdc++-12-dev`) or give `path` in the recipe")
    return max(versions, key=lambda p: tuple(int(x) for x in p.name.split(".")))


def folder_units(spec: SourceSpec, recipe: Recipe) -> Iterator[Unit]:
    """Units of a folder/system source: the whole folder, or one unit per top-level subfolder."""
    if spec.kind == "system":
        root = spec.path if spec.path is not None else None
        try:
            root = root or libstdcxx_dir()
        except SourceError as exc:
            yield Unit(spec.name, spec.kind, spec.name, _raiser(exc))
            return
    else:
        root = spec.path
    assert root is not None
    if not root.is_dir():
        yield Unit(spec.name, spec.kind, spec.name, _raiser(SourceError(
            f"source {spec.name!r}: folder {root} does not exist or is not a folder")))
        return

    def walk(path: Path, project: str) -> Fetched:
        fetched = walk_tree(path, source=spec.name, project=project, languages=recipe.languages,
                            assume_language=spec.assume_language, exclude=spec.exclude)
        fetched.info["path"] = str(path)
        return fetched

    if not spec.per_subfolder:
        project = spec.project or root.name
        yield Unit(f"{spec.name}", spec.kind, spec.name, lambda: walk(root, project))
        return
    try:
        entries = sorted(os.scandir(root), key=lambda e: e.name)
    except OSError as exc:
        yield Unit(spec.name, spec.kind, spec.name, _raiser(SourceError(
            f"source {spec.name!r}: cannot list folder {root}: {exc.strerror or exc}")))
        return
    subdirs = [e.name for e in entries if e.is_dir(follow_symlinks=False)]
    for name in subdirs:
        sub = root / name
        yield Unit(f"{spec.name}/{name}", spec.kind, spec.name, (lambda sub=sub, name=name: walk(sub, name)))
    if len(subdirs) < len(entries):
        # Files lying directly in the root form one more project named after the root; the subfolders
        # (already units of their own) are excluded from this walk.
        def top_level() -> Fetched:
            fetched = walk_tree(root, source=spec.name, project=root.name, languages=recipe.languages,
                                assume_language=spec.assume_language,
                                exclude=spec.exclude + tuple(glob_escape(n) for n in subdirs))
            fetched.info["path"] = str(root)
            return fetched
        yield Unit(f"{spec.name}/.", spec.kind, spec.name, top_level)


def glob_escape(name: str) -> str:
    """Escape fnmatch metacharacters so that `name` matches only itself."""
    return re.sub(r"([*?\[])", r"[\1]", name)


def _raiser(exc: Exception):
    def fetch() -> Fetched:
        raise exc
    return fetch
