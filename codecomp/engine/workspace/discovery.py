"""Finding the C++ and JavaScript files of a workspace, and reading its compile flags.

Rules (all configurable through `DiscoveryConfig`): files whose extension `codecomp.syntax.detect_language`
knows; `.gitignore` files honoured at every level (with `pathspec`, git's own matching rules); dependency,
output and vendored folders skipped (`node_modules` is read only through the imports that reach it, see
`relations`); minified files skipped; caps on the size of one file, the number of files and the total bytes.
A symbolic link is followed only when its target lies inside a root (resolved and checked), and every real
folder is visited once, so link cycles end.
"""
from __future__ import annotations

import json
import os
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import pathspec

from codecomp.syntax import detect_language

SKIP_DIRS = frozenset({
    "node_modules", "bower_components", "jspm_packages", ".git", ".hg", ".svn", "build", "builds", "dist", "out",
    "target", "coverage", "third_party", "third-party", "thirdparty", "3rdparty", "vendor", "vendors",
    "external", "extern", "deps", "__pycache__", ".venv", "venv", ".cache", ".next", ".nuxt",
})
SKIP_DIR_PREFIXES = ("cmake-build-", "bazel-")
MINIFIED_SUFFIXES = (".min.js", ".min.mjs", ".min.cjs", "-min.js", ".bundle.js")


@dataclass(frozen=True)
class DiscoveryConfig:
    """What discovery reads; the defaults suit an editor session on an ordinary repository."""

    max_file_bytes: int = 1 << 20
    max_files: int = 20_000
    max_total_bytes: int = 512 << 20
    skip_dirs: frozenset[str] = SKIP_DIRS
    skip_hidden: bool = True          # folders starting with "." (editor and tool state)
    honour_gitignore: bool = True


@dataclass
class Discovered:
    """One file found: absolute path (as reached, not resolved), language, size and modification time."""

    path: str
    lang: str
    size: int
    mtime_ns: int


@dataclass
class DiscoveryReport:
    """What a walk found and what it left out, by reason."""

    files: list[Discovered] = field(default_factory=list)
    skipped: dict[str, int] = field(default_factory=dict)
    truncated: bool = False  # a cap on count or bytes was reached

    def skip(self, reason: str) -> None:
        self.skipped[reason] = self.skipped.get(reason, 0) + 1


@dataclass
class _Ignore:
    """The `.gitignore` of one folder: its patterns apply to paths relative to that folder."""

    base: str
    spec: pathspec.PathSpec


def _read_gitignore(folder: str) -> _Ignore | None:
    path = os.path.join(folder, ".gitignore")
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            lines = fh.read().splitlines()
    except OSError:
        return None
    spec = pathspec.GitIgnoreSpec.from_lines(lines)
    return _Ignore(folder, spec) if spec.patterns else None


def _ignored(ignores: list[_Ignore], path: str, is_dir: bool) -> bool:
    """Whether the innermost `.gitignore` that has a say about `path` ignores it (later files override)."""
    verdict = False
    for ig in ignores:
        rel = os.path.relpath(path, ig.base).replace(os.sep, "/")
        if is_dir:
            rel += "/"
        result = ig.spec.check_file(rel)
        if result.include is not None:
            verdict = result.include
    return verdict


def gitignored(root: str, path: str) -> bool:
    """Whether the `.gitignore` files from `root` down to `path`'s folder ignore `path` or a folder on the way
    (for single files reported by a file watcher after the build)."""
    rel = os.path.relpath(path, root)
    if rel.startswith(".."):
        return False
    parts = rel.split(os.sep)
    ignores: list[_Ignore] = []
    folder = root
    for i, part in enumerate(parts):
        own = _read_gitignore(folder)
        if own is not None:
            ignores.append(own)
        folder = os.path.join(folder, part)
        if ignores and _ignored(ignores, folder, i < len(parts) - 1):
            return True
    return False


def is_minified_name(name: str) -> bool:
    """Whether a file name says the file is minified or bundled."""
    return name.endswith(MINIFIED_SUFFIXES)


def inside(path: str, roots: list[str]) -> bool:
    """Whether the resolved `path` lies in one of the (resolved) `roots`."""
    return any(path == r or path.startswith(r.rstrip(os.sep) + os.sep) for r in roots)


def discover(roots: list[str | Path], config: DiscoveryConfig = DiscoveryConfig(),
             should_stop: Callable[[], bool] | None = None) -> DiscoveryReport:
    """Walk the roots (see the module docstring); files come in a stable, sorted order."""
    report = DiscoveryReport()
    real_roots = [os.path.realpath(r) for r in roots]
    seen_dirs: set[str] = set()
    total = 0
    for root in roots:
        for item in _walk(os.path.abspath(root), real_roots, config, report, seen_dirs):
            if should_stop is not None and should_stop():
                report.truncated = True
                return report
            if len(report.files) >= config.max_files or total + item.size > config.max_total_bytes:
                report.truncated = True
                report.skip("cap")
                return report
            total += item.size
            report.files.append(item)
    return report


def _walk(root: str, real_roots: list[str], config: DiscoveryConfig, report: DiscoveryReport,
          seen_dirs: set[str]) -> Iterator[Discovered]:
    """Depth-first walk of one root, yielding the files that pass every rule."""
    stack: list[tuple[str, list[_Ignore]]] = [(root, [])]
    while stack:
        folder, ignores = stack.pop()
        real = os.path.realpath(folder)
        if real in seen_dirs or not inside(real, real_roots):
            report.skip("outside_root" if real not in seen_dirs else "cycle")
            continue
        seen_dirs.add(real)
        if config.honour_gitignore:
            own = _read_gitignore(folder)
            if own is not None:
                ignores = ignores + [own]
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError:
            report.skip("unreadable")
            continue
        subdirs = []
        for entry in entries:
            item = _visit(entry, ignores, real_roots, config, report)
            if item == "dir":
                subdirs.append(entry.path)
            elif item is not None:
                yield item
        stack.extend((d, ignores) for d in reversed(subdirs))


def _admitted(entry: os.DirEntry, is_dir: bool, is_link: bool, ignores: list[_Ignore], real_roots: list[str],
              report: DiscoveryReport) -> bool:
    """The checks folders and files share: not ignored by a .gitignore, and a link stays inside a root."""
    if ignores and _ignored(ignores, entry.path, is_dir):
        report.skip("gitignore")
        return False
    if is_link and not inside(os.path.realpath(entry.path), real_roots):
        report.skip("outside_root")
        return False
    return True


def _visit(entry: os.DirEntry, ignores: list[_Ignore], real_roots: list[str], config: DiscoveryConfig,
           report: DiscoveryReport) -> Discovered | str | None:
    """A file record, "dir" for a folder to descend into, or None (skipped, with the reason counted)."""
    name = entry.name
    try:
        is_link = entry.is_symlink()
        is_dir = entry.is_dir()  # follows links; the target is checked below
    except OSError:
        report.skip("unreadable")
        return None
    if is_dir:
        if name in config.skip_dirs or name.startswith(SKIP_DIR_PREFIXES) or (
                config.skip_hidden and name.startswith(".")):
            report.skip("skipped_dir")
            return None
        return "dir" if _admitted(entry, True, is_link, ignores, real_roots, report) else None
    lang = detect_language(name)
    if lang is None:
        return None
    if is_minified_name(name):
        report.skip("minified")
        return None
    if not _admitted(entry, False, is_link, ignores, real_roots, report):
        return None
    try:
        st = entry.stat()
    except OSError:
        report.skip("unreadable")
        return None
    if st.st_size > config.max_file_bytes:
        report.skip("too_large")
        return None
    return Discovered(entry.path, lang, st.st_size, st.st_mtime_ns)


# ------------------------------------------------------------------------------------------- compile flags
def include_dirs(root: str | Path) -> list[str]:
    """`-I`/`-isystem`/`-iquote` folders of the root's compile_commands.json or compile_flags.txt (also looked
    for in `build/`), made absolute; at most 64, in first-seen order."""
    root = str(root)
    out: dict[str, None] = {}
    for folder in (root, os.path.join(root, "build")):
        flags_file = os.path.join(folder, "compile_flags.txt")
        if os.path.isfile(flags_file):
            try:
                args = Path(flags_file).read_text(encoding="utf-8", errors="replace").split("\n")
            except OSError:
                args = []
            _collect(args, folder, out)
        commands = os.path.join(folder, "compile_commands.json")
        if os.path.isfile(commands):
            for directory, args in _commands(commands):
                _collect(args, directory, out)
    return list(out)[:64]


def _commands(path: str) -> Iterator[tuple[str, list[str]]]:
    """(directory, arguments) of each entry of a compile_commands.json (bounded: the first 2,000)."""
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            entries = json.load(fh)
    except (OSError, ValueError):
        return
    if not isinstance(entries, list):
        return
    for entry in entries[:2000]:
        if not isinstance(entry, dict):
            continue
        directory = str(entry.get("directory") or os.path.dirname(path))
        args = entry.get("arguments")
        if not isinstance(args, list):
            try:
                args = shlex.split(str(entry.get("command", "")))
            except ValueError:
                args = []
        yield directory, [str(a) for a in args]


def _collect(args: list[str], base: str, out: dict[str, None]) -> None:
    """Add the include folders named by compiler arguments (`-Ifoo`, `-I foo`, `-isystem foo`, `-iquote foo`)."""
    args = [a.strip() for a in args if a.strip()]
    i = 0
    while i < len(args):
        a = args[i]
        folder = None
        for flag in ("-I", "-isystem", "-iquote", "/I"):
            if a == flag and i + 1 < len(args):
                folder = args[i + 1]
                i += 1
                break
            if a.startswith(flag) and len(a) > len(flag):
                folder = a[len(flag):]
                break
        if folder:
            out.setdefault(os.path.normpath(os.path.join(base, folder)))
        i += 1
