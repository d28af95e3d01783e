"""Debian sources: source packages fetched with `apt-get source` through a private source list.

The machine's own apt configuration is left untouched: at run time we read the archive address of its Debian
sources (the first `URIs:` line of /etc/apt/sources.list.d/debian.sources, or the first `deb` line of
/etc/apt/sources.list) and its release codename (/etc/os-release), write a one-line `deb-src` list into the
cache folder, and point apt at it with -o options so that the package lists and caches also live in the cache
folder.  `apt-get source` needs `dpkg-source` (package dpkg-dev) to unpack; no package is ever installed.
"""
from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

from codecomp.corpus.recipe import Recipe, SourceSpec
from codecomp.corpus.sources.base import Fetched, SourceError, Unit
from codecomp.corpus.sources.folder import walk_tree

# Debian policy 5.6.1: lower-case letters, digits, '+', '-', '.'; at least two characters; starts alphanumeric.
_NAME_RE = re.compile(r"[a-z0-9][a-z0-9+.-]+")
_DONE = ".codecomp-complete"
KEYRING = "/usr/share/keyrings/debian-archive-keyring.gpg"
APT_TIMEOUT_S = 900


def valid_source_name(name: str) -> bool:
    """Whether `name` is a syntactically valid Debian source package name."""
    return bool(_NAME_RE.fullmatch(name))


def _archive_uri() -> str:
    deb822 = Path("/etc/apt/sources.list.d/debian.sources")
    if deb822.exists():
        for line in deb822.read_text(encoding="utf-8", errors="replace").splitlines():
            if line.startswith("URIs:") and len(line.split()) > 1:
                return line.split()[1]
    legacy = Path("/etc/apt/sources.list")
    if legacy.exists():
        for line in legacy.read_text(encoding="utf-8", errors="replace").splitlines():
            parts = line.split()
            if parts and parts[0] == "deb":
                rest = [p for p in parts[1:] if not p.startswith("[") and not p.endswith("]")]
                if rest:
                    return rest[0]
    raise SourceError("cannot find the Debian archive address in this machine's apt configuration "
                      "(/etc/apt/sources.list.d/debian.sources or /etc/apt/sources.list)")


def _codename() -> str:
    try:
        for line in Path("/etc/os-release").read_text(encoding="utf-8").splitlines():
            if line.startswith("VERSION_CODENAME="):
                value = line.split("=", 1)[1].strip().strip('"')
                if value:
                    return value
    except OSError:
        pass
    raise SourceError("cannot find the Debian release codename (VERSION_CODENAME in /etc/os-release); "
                      "Debian sources need a Debian machine")


class AptSources:
    """The private apt state under `cache_dir/debian/apt`, prepared (with `apt-get update`) on first use."""

    def __init__(self, cache_dir: Path) -> None:
        self.root = cache_dir / "debian" / "apt"
        self._ready = False
        self._lock = threading.Lock()
        self._error: SourceError | None = None

    def options(self) -> list[str]:
        return ["-o", f"Dir::Etc::SourceList={self.root / 'sources.list'}",
                "-o", "Dir::Etc::SourceParts=/nonexistent",
                "-o", f"Dir::State::Lists={self.root / 'lists'}",
                "-o", f"Dir::Cache={self.root / 'cache'}",
                "-o", "APT::Sandbox::User=root",
                "-o", "Acquire::Retries=2"]

    def prepare(self) -> None:
        with self._lock:
            if self._ready:
                return
            if self._error is not None:
                raise self._error
            try:
                self._prepare()
            except SourceError as exc:
                self._error = exc
                raise
            self._ready = True

    def _prepare(self) -> None:
        for tool, package in (("apt-get", "apt"), ("dpkg-source", "dpkg-dev")):
            if shutil.which(tool) is None:
                raise SourceError(f"Debian sources need `{tool}`; install it with `apt-get install -y {package}`")
        (self.root / "lists" / "partial").mkdir(parents=True, exist_ok=True)
        (self.root / "cache" / "archives" / "partial").mkdir(parents=True, exist_ok=True)
        line = f"deb-src [signed-by={KEYRING}] {_archive_uri()} {_codename()} main\n"
        (self.root / "sources.list").write_text(line, encoding="utf-8")
        proc = subprocess.run(["apt-get", *self.options(), "-q", "update"], capture_output=True, text=True,
                              timeout=APT_TIMEOUT_S, stdin=subprocess.DEVNULL)
        if proc.returncode != 0:
            tail = [ln for ln in (proc.stderr or proc.stdout).splitlines() if ln.strip()][-1:] or ["no output"]
            raise SourceError(f"`apt-get update` of the Debian source lists failed: {tail[0]}")


def fetch_debian_source(name: str, cache_dir: Path, apt: AptSources) -> Path:
    """Download (once) and unpack Debian source package `name`; return its folder. Raises `SourceError`."""
    if not valid_source_name(name):
        raise SourceError(f"Debian source package {name!r} is not a valid package name (lower-case letters, "
                          f"digits, '+', '-' and '.', starting with a letter or digit)")
    target = cache_dir / "debian" / "src" / name
    if (target / _DONE).exists():
        return target
    apt.prepare()
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=f".{name}-") as tmp:
        try:
            proc = subprocess.run(["apt-get", *apt.options(), "-q", "source", name], capture_output=True,
                                  text=True, cwd=tmp, timeout=APT_TIMEOUT_S, stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            raise SourceError(f"Debian source package {name}: `apt-get source` did not finish within "
                              f"{APT_TIMEOUT_S} s") from None
        if proc.returncode != 0:
            errors = [ln[3:] for ln in proc.stderr.splitlines() if ln.startswith("E: ")]
            why = errors[0] if errors else (proc.stderr.strip().splitlines() or ["no output"])[-1]
            raise SourceError(f"Debian source package {name} could not be fetched: {why}")
        dirs = [p for p in Path(tmp).iterdir() if p.is_dir() and not p.is_symlink()]
        if len(dirs) != 1:
            raise SourceError(f"Debian source package {name}: expected one unpacked folder, found {len(dirs)}")
        (dirs[0] / _DONE).write_text(proc.stdout.splitlines()[0] if proc.stdout else "", encoding="utf-8")
        if target.exists():
            shutil.rmtree(target)
        dirs[0].rename(target)
    return target


def debian_units(spec: SourceSpec, recipe: Recipe, cache_dir: Path) -> Iterator[Unit]:
    """One unit per source package; the project is the source package name."""
    apt = AptSources(cache_dir)
    for name in spec.packages:
        def fetch(name: str = name) -> Fetched:
            folder = fetch_debian_source(name, cache_dir, apt)
            # The Debian packaging folder and quilt state hold build scripts and patches, not project code.
            fetched = walk_tree(folder, source=spec.name, project=name, languages=recipe.languages,
                                exclude=spec.exclude + (_DONE, "debian", ".pc"))
            fetched.info["package"] = name
            return fetched

        yield Unit(f"debian:{name}", "debian", spec.name, fetch)
