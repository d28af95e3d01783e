"""npm sources: published package tarballs fetched with `npm pack` and unpacked safely.

`npm pack NAME@VERSION` downloads the tarball exactly as published; it never runs the package's install scripts
(and `--ignore-scripts` makes sure of it).  The tarball is unpacked by our own code, member by member: only
regular files and folders are written, never links or devices, and a member whose path is absolute or climbs
out with `..` is refused, so a hostile archive cannot write outside the cache folder.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tarfile
import tempfile
from collections.abc import Iterator
from pathlib import Path, PurePosixPath

from codecomp.corpus.recipe import Recipe, SourceSpec
from codecomp.corpus.sources.base import Fetched, Skip, SourceError, Unit
from codecomp.corpus.sources.folder import walk_tree

_DONE = ".codecomp-complete"
NPM_TIMEOUT_S = 300


def split_spec(spec: str) -> tuple[str, str | None]:
    """'lodash@4.17.21' -> ('lodash', '4.17.21'); '@scope/pkg@1.0.0' -> ('@scope/pkg', '1.0.0')."""
    at = spec.rfind("@")
    if at > 0:
        return spec[:at], spec[at + 1:]
    return spec, None


def _cache_name(spec: str) -> str:
    return re.sub(r"[^A-Za-z0-9._@+-]", "_", spec.replace("/", "__"))


def _npm_error(stderr: str, stdout: str) -> str:
    """The most useful line of npm's output on failure."""
    try:
        summary = json.loads(stdout).get("error", {}).get("summary")
        if summary:
            return summary.strip().splitlines()[0]
    except (ValueError, AttributeError):
        pass
    lines = [ln.strip() for ln in stderr.splitlines() if ln.strip()]
    for ln in lines:
        if re.search(r"\b(404|E404|EINVALID|ETARGET|ENOTFOUND|EAI_AGAIN|ECONNREFUSED|Invalid)\b", ln):
            return re.sub(r"^npm (error|ERR!)\s*", "", ln)
    useful = [ln for ln in lines if "A complete log" not in ln and "_logs" not in ln]
    return re.sub(r"^npm (error|ERR!)\s*", "", useful[-1]) if useful else "npm failed without a message"


def safe_extract(tarball: Path, dest: Path, strip_first: bool = True) -> list[str]:
    """Unpack `tarball` into `dest` writing only regular files and folders inside `dest`.

    Returns one-line notes about the members that were refused (links, devices, unsafe paths)."""
    refused: list[str] = []
    dest = dest.resolve()
    try:
        tar = tarfile.open(tarball, "r:*")
    except (tarfile.TarError, OSError) as exc:
        raise SourceError(f"archive {tarball.name} cannot be opened: {exc}") from None
    with tar:
        for member in tar:
            parts = PurePosixPath(member.name.replace("\\", "/")).parts
            if strip_first and len(parts) > 0:
                parts = parts[1:]
            if not parts:
                continue
            if member.name.startswith("/") or any(p in ("..", "") for p in parts) or ":" in parts[0]:
                refused.append(f"{member.name}: unsafe path, not extracted")
                continue
            target = dest.joinpath(*parts)
            if os.path.commonpath([str(target), str(dest)]) != str(dest):
                refused.append(f"{member.name}: path leaves the package folder, not extracted")
                continue
            if member.isdir():
                target.mkdir(parents=True, exist_ok=True)
            elif member.isfile():
                target.parent.mkdir(parents=True, exist_ok=True)
                # A file where a folder (or link) of the same name already exists is refused, never replaced.
                if target.is_symlink() or target.is_dir():
                    refused.append(f"{member.name}: clashes with an existing entry, not extracted")
                    continue
                src = tar.extractfile(member)
                if src is None:
                    continue
                with src, open(target, "wb") as fh:
                    shutil.copyfileobj(src, fh)
                os.chmod(target, 0o644)
            else:
                refused.append(f"{member.name}: {'link' if member.issym() or member.islnk() else 'special file'}, not extracted")
    return refused


def fetch_npm_package(spec: str, cache_dir: Path) -> Path:
    """Download (once) and unpack npm package `spec`; return the unpacked folder. Raises `SourceError`."""
    npm = shutil.which("npm")
    if npm is None:
        raise SourceError(f"npm package {spec}: the `npm` command is not installed (install Node.js and npm)")
    root = cache_dir / "npm"
    target = root / _cache_name(spec)
    if (target / _DONE).exists():
        return target
    root.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=root, prefix=".pack-") as tmp:
        cmd = [npm, "pack", spec, "--json", "--ignore-scripts", "--pack-destination", tmp,
               "--cache", str(cache_dir / "npm-cache"), "--loglevel", "error", "--no-fund", "--no-audit"]
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=NPM_TIMEOUT_S, cwd=tmp,
                                  stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            raise SourceError(f"npm package {spec}: `npm pack` did not finish within {NPM_TIMEOUT_S} s "
                              f"(is the registry reachable?)") from None
        if proc.returncode != 0:
            raise SourceError(f"npm package {spec} could not be fetched: {_npm_error(proc.stderr, proc.stdout)}")
        tarballs = sorted(Path(tmp).glob("*.tgz"))
        if not tarballs:
            raise SourceError(f"npm package {spec}: `npm pack` succeeded but produced no tarball")
        staging = Path(tmp) / "unpacked"
        staging.mkdir()
        refused = safe_extract(tarballs[0], staging)
        (staging / _DONE).write_text("\n".join(refused) + ("\n" if refused else ""), encoding="utf-8")
        if target.exists():
            shutil.rmtree(target)
        staging.rename(target)
    return target


def npm_units(spec: SourceSpec, recipe: Recipe, cache_dir: Path) -> Iterator[Unit]:
    """One unit per package of the source; the project is the package name."""
    for package in spec.packages:
        name, _version = split_spec(package)

        def fetch(package: str = package, name: str = name) -> Fetched:
            folder = fetch_npm_package(package, cache_dir)
            fetched = walk_tree(folder, source=spec.name, project=name, languages=recipe.languages,
                                exclude=spec.exclude + (_DONE, "node_modules"))
            notes = (folder / _DONE).read_text(encoding="utf-8").splitlines()
            for note in notes:
                member, _, why = note.partition(": ")
                fetched.skips.append(Skip("unsafe_archive_member", spec.name, name, member, why))
            fetched.info["package"] = package
            return fetched

        yield Unit(f"npm:{package}", "npm", spec.name, fetch)
