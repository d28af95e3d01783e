"""How files reach each other: C++ `#include` and JavaScript `require` / `import` resolution.

Resolution looks paths up in the set of indexed files first (no file-system access on the completion path);
only `node_modules` packages are looked up on disk, once per (folder, package), because they are not part of
the walked workspace.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Callable

JS_SUFFIXES = ("", ".js", ".mjs", ".cjs", ".jsx", "/index.js", "/index.mjs", "/index.cjs")
MAX_PACKAGE_DEPTH = 16  # folders walked up looking for node_modules


def resolve_include(spec: str, quoted: bool, includer: str, roots: list[str], include_dirs: list[str],
                    exists: Callable[[str], bool]) -> str | None:
    """The file a C++ `#include` names: the includer's folder (quoted form only), then each root, its
    `include/` and `src/`, then the compile flags' `-I` folders."""
    bases = [os.path.dirname(includer)] if quoted else []
    for root in roots:
        bases += [root, os.path.join(root, "include"), os.path.join(root, "src")]
    bases += include_dirs
    for base in bases:
        candidate = os.path.normpath(os.path.join(base, spec))
        if exists(candidate):
            return candidate
    return None


def is_relative_spec(spec: str) -> bool:
    """`./x`, `../x` or an absolute path (not a package name)."""
    return spec.startswith(("./", "../", "/")) or spec in (".", "..")


def package_name(spec: str) -> str:
    """`lodash/fp` -> `lodash`, `@scope/pkg/sub` -> `@scope/pkg`."""
    parts = spec.split("/")
    return "/".join(parts[:2]) if spec.startswith("@") else parts[0]


def resolve_relative(spec: str, importer: str, exists: Callable[[str], bool]) -> str | None:
    """A relative JS specifier as a file: exact, with `.js`/`.mjs`/`.cjs`/`.jsx`, or a folder's `index.js`."""
    base = os.path.normpath(os.path.join(os.path.dirname(importer), spec))
    for suffix in JS_SUFFIXES:
        candidate = base + suffix
        if exists(candidate):
            return candidate
    return None


@dataclass(frozen=True, slots=True)
class Package:
    """A package found in a `node_modules` folder: its name, folder and entry file (None if none exists)."""

    name: str
    folder: str
    entry: str | None


def _entry_of(folder: str, subpath: str) -> str | None:
    """The entry file of a package folder (package.json `exports` ".", `module`, `main`, then index.js), or of
    a sub-path (`pkg/sub`)."""
    if subpath:
        return _first_file(os.path.join(folder, subpath))
    try:
        with open(os.path.join(folder, "package.json"), encoding="utf-8", errors="replace") as fh:
            meta = json.load(fh)
    except (OSError, ValueError):
        meta = {}
    for target in _entry_targets(meta if isinstance(meta, dict) else {}):
        found = _first_file(os.path.join(folder, target))
        if found:
            return found
    return _first_file(os.path.join(folder, "index"))


def _entry_targets(meta: dict) -> list[str]:
    """Candidate entry paths from a package.json, most specific first (CommonJS `require` before `import`:
    the index reads both module systems equally)."""
    out: list[str] = []
    exports = meta.get("exports")
    if isinstance(exports, dict) and "." in exports:
        exports = exports["."]
    out.extend(_export_targets(exports))
    for key in ("main", "module"):
        if isinstance(meta.get(key), str):
            out.append(meta[key])
    return out


def _export_targets(value: object, depth: int = 0) -> list[str]:
    """File targets of a package.json `exports` value (string, or nested condition objects)."""
    if depth > 4:
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [t for v in value for t in _export_targets(v, depth + 1)]
    if isinstance(value, dict):
        keys = [k for k in ("require", "node", "default", "import") if k in value]
        keys += [k for k in value if k not in keys and not k.startswith(".") and k != "types"]
        return [t for k in keys for t in _export_targets(value[k], depth + 1)]
    return []


def _first_file(base: str) -> str | None:
    base = os.path.normpath(base)
    for suffix in JS_SUFFIXES:
        candidate = base + suffix
        if os.path.isfile(candidate):
            return candidate
    return None


class PackageFinder:
    """Finds `node_modules` packages on disk for bare specifiers, with a cache (see the module docstring).

    Only packages whose folder lies inside one of the roots are returned: a workspace never reads outside itself.
    """

    def __init__(self, real_roots: list[str]) -> None:
        self.real_roots = real_roots
        self.cache: dict[tuple[str, str], Package | None] = {}

    def find(self, spec: str, importer: str) -> Package | None:
        """The package (and entry file) a bare specifier such as `lodash` or `@scope/x/sub` names."""
        name = package_name(spec)
        subpath = spec[len(name):].lstrip("/")
        folder = os.path.dirname(importer)
        key = (folder, spec)
        if key in self.cache:
            return self.cache[key]
        found = None
        for _ in range(MAX_PACKAGE_DEPTH):
            candidate = os.path.join(folder, "node_modules", name)
            if os.path.isdir(candidate):
                real = os.path.realpath(candidate)
                if any(real == r or real.startswith(r.rstrip(os.sep) + os.sep) for r in self.real_roots):
                    entry = _entry_of(candidate, subpath)
                    if entry is not None and not os.path.realpath(entry).startswith(real):
                        entry = None  # a link out of the package
                    found = Package(name, candidate, entry)
                break
            parent = os.path.dirname(folder)
            if parent == folder:
                break
            folder = parent
        self.cache[key] = found
        return found
