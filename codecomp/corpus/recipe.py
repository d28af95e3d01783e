"""Corpus recipes: the TOML file that says which code goes into a corpus and how it is filtered and split.

A recipe has a `name`, the `languages` to keep, a `[limits]` table and one `[[source]]` table per source of code.
Parsing is strict: an unknown key, a missing field or a value of the wrong type raises `RecipeError` with a
sentence naming the offending entry, so a typo never silently changes what a corpus contains.

Example::

    name = "fixtures"
    languages = ["cpp", "javascript"]

    [limits]
    max_file_bytes = 1000000
    seed = 13

    [[source]]
    kind = "folder"
    path = "fixtures"          # relative to the recipe file
    per_subfolder = true       # one project per top-level subfolder

An optional `[split]` table pins projects to the held-out splits by name (`valid = [...]`, `test = [...]`);
every other project then goes to train.  Pinning keeps the held-out projects fixed while a recipe grows (the
seeded assignment of `limits.split` would otherwise deal them anew whenever a project is added).
"""
from __future__ import annotations

from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10: the same parser, published as `tomli`
    import tomli as tomllib  # type: ignore[no-redef]

SUPPORTED_LANGUAGES: tuple[str, ...] = ("cpp", "javascript")
SOURCE_KINDS: tuple[str, ...] = ("folder", "system", "npm", "debian", "hub")


class RecipeError(ValueError):
    """A recipe file that cannot be used; the message says what is wrong and where."""


@dataclass(frozen=True)
class Limits:
    """Filtering, de-duplication and split settings of a recipe."""

    max_file_bytes: int = 1_000_000
    max_line_length: int = 1000
    max_avg_line_length: float = 200.0
    max_error_fraction: float = 0.05
    near_dup_threshold: float = 0.8
    max_tokens_per_project: int = 2_000_000
    min_tokens: int = 10
    split: tuple[float, float, float] = (0.8, 0.1, 0.1)  # train, valid, test
    seed: int = 0
    num_perm: int = 128
    shingle_size: int = 5


@dataclass(frozen=True)
class SourceSpec:
    """One `[[source]]` table. Only the fields of its `kind` are meaningful (checked by `parse_recipe`)."""

    kind: str
    name: str
    # folder / system
    path: Path | None = None
    project: str | None = None
    per_subfolder: bool = False
    assume_language: str | None = None  # language of files without an extension (libstdc++ headers)
    what: str | None = None              # system: which system code ("libstdc++")
    # npm
    packages: tuple[str, ...] = ()
    # debian
    # (packages is shared with npm: source package names)
    # hub
    dataset: str | None = None
    data_files: tuple[str, ...] = ()
    hub_split: str = "train"
    text_column: str = "content"
    language_column: str = "language"
    project_column: str | None = None
    path_column: str | None = None
    max_files: int | None = None
    exclude: tuple[str, ...] = ()


@dataclass(frozen=True)
class Recipe:
    """A parsed recipe. `base_dir` is the folder of the recipe file; relative source paths are resolved from it."""

    name: str
    languages: tuple[str, ...]
    limits: Limits
    sources: tuple[SourceSpec, ...]
    base_dir: Path
    text: str = field(repr=False, default="")
    # project name -> "valid" | "test", from the [split] table; empty: the seeded assignment of limits.split.
    pinned: dict[str, str] = field(default_factory=dict)


# Every key a recipe may hold (corpora/README.md documents each one): the top level, [split], and per source kind
# (besides `kind` and `name`, which every source accepts); [limits] takes the fields of `Limits`.
TOP_LEVEL_KEYS: tuple[str, ...] = ("name", "description", "languages", "limits", "split", "source")
SPLIT_KEYS: tuple[str, ...] = ("valid", "test")
_KIND_KEYS: dict[str, set[str]] = {
    "folder": {"path", "project", "per_subfolder", "assume_language", "exclude"},
    "system": {"what", "path", "project", "assume_language", "exclude"},
    "npm": {"packages", "exclude"},
    "debian": {"packages", "exclude"},
    "hub": {"dataset", "data_files", "split", "text_column", "language_column", "project_column",
            "path_column", "max_files"},
}


def _want(value: Any, typ: type | tuple[type, ...], where: str, what: str) -> Any:
    if isinstance(value, bool) and typ in (int, float, (int, float)):
        raise RecipeError(f"{where}: {what} must be a number, not {value!r}")
    if not isinstance(value, typ):
        names = typ.__name__ if isinstance(typ, type) else " or ".join(t.__name__ for t in typ)
        raise RecipeError(f"{where}: {what} must be of type {names}, not {value!r}")
    return value


def _str_list(value: Any, where: str, what: str) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    _want(value, list, where, what)
    for item in value:
        _want(item, str, where, f"every entry of {what}")
    return tuple(value)


def _parse_limits(table: Any, where: str) -> Limits:
    if table is None:
        return Limits()
    _want(table, dict, where, "[limits]")
    known = {f.name for f in fields(Limits)}
    unknown = sorted(set(table) - known)
    if unknown:
        raise RecipeError(f"{where}: unknown key(s) in [limits]: {', '.join(unknown)} (known: {', '.join(sorted(known))})")
    values: dict[str, Any] = {}
    for key, raw in table.items():
        default = getattr(Limits, key)
        if key == "split":
            parts = _want(raw, list, where, "limits.split")
            if len(parts) != 3 or not all(isinstance(p, (int, float)) and not isinstance(p, bool) and p >= 0 for p in parts):
                raise RecipeError(f"{where}: limits.split must be three non-negative numbers [train, valid, test], not {raw!r}")
            total = float(sum(parts))
            if total <= 0:
                raise RecipeError(f"{where}: limits.split must not be all zero")
            values[key] = tuple(float(p) / total for p in parts)
        elif isinstance(default, int):
            values[key] = int(_want(raw, int, where, f"limits.{key}"))
            if values[key] < 0:
                raise RecipeError(f"{where}: limits.{key} must not be negative")
        else:
            values[key] = float(_want(raw, (int, float), where, f"limits.{key}"))
    limits = Limits(**values)
    if not 0.0 <= limits.max_error_fraction <= 1.0:
        raise RecipeError(f"{where}: limits.max_error_fraction must be between 0 and 1")
    if not 0.0 < limits.near_dup_threshold <= 1.0:
        raise RecipeError(f"{where}: limits.near_dup_threshold must be in (0, 1]")
    if limits.shingle_size < 1 or limits.num_perm < 16:
        raise RecipeError(f"{where}: limits.shingle_size must be >= 1 and limits.num_perm >= 16")
    return limits


def _parse_source(table: Any, index: int, base_dir: Path, where: str) -> SourceSpec:
    here = f"{where}: [[source]] #{index + 1}"
    _want(table, dict, here, "a source")
    kind = table.get("kind")
    if kind not in SOURCE_KINDS:
        raise RecipeError(f"{here}: kind must be one of {', '.join(SOURCE_KINDS)}, not {kind!r}")
    allowed = _KIND_KEYS[kind] | {"kind", "name"}
    unknown = sorted(set(table) - allowed)
    if unknown:
        raise RecipeError(f"{here} ({kind}): unknown key(s) {', '.join(unknown)} (allowed: {', '.join(sorted(allowed))})")
    args: dict[str, Any] = {"kind": kind}
    if "exclude" in table:
        args["exclude"] = _str_list(table["exclude"], here, "exclude")
    if kind in ("folder", "system"):
        if "path" in table:
            args["path"] = (base_dir / _want(table["path"], str, here, "path")).absolute()
        elif kind == "folder":
            raise RecipeError(f"{here} (folder): `path` is required")
        if "project" in table:
            args["project"] = _want(table["project"], str, here, "project")
        if "per_subfolder" in table:
            args["per_subfolder"] = _want(table["per_subfolder"], bool, here, "per_subfolder")
        if args.get("per_subfolder") and args.get("project"):
            raise RecipeError(f"{here}: give either `project` or `per_subfolder = true`, not both")
        if "assume_language" in table:
            lang = _want(table["assume_language"], str, here, "assume_language")
            if lang not in SUPPORTED_LANGUAGES:
                raise RecipeError(f"{here}: assume_language must be one of {', '.join(SUPPORTED_LANGUAGES)}")
            args["assume_language"] = lang
        if kind == "system":
            what = _want(table.get("what", "libstdc++"), str, here, "what")
            if what != "libstdc++":
                raise RecipeError(f"{here} (system): only what = \"libstdc++\" is supported, not {what!r}")
            args["what"] = what
            args.setdefault("assume_language", "cpp")
            args.setdefault("project", "libstdc++")
    elif kind in ("npm", "debian"):
        if "packages" not in table:
            raise RecipeError(f"{here} ({kind}): `packages` is required")
        args["packages"] = _str_list(table["packages"], here, "packages")
        if not args["packages"]:
            raise RecipeError(f"{here} ({kind}): `packages` is empty")
    else:  # hub
        if "dataset" not in table:
            raise RecipeError(f"{here} (hub): `dataset` is required (a Hugging Face dataset name, or a format "
                              f"such as \"parquet\" or \"json\" together with data_files)")
        args["dataset"] = _want(table["dataset"], str, here, "dataset")
        if "data_files" in table:
            files = _str_list(table["data_files"], here, "data_files")
            args["data_files"] = tuple(str((base_dir / f).absolute()) if "://" not in f else f for f in files)
        if "split" in table:
            args["hub_split"] = _want(table["split"], str, here, "split")
        for key in ("text_column", "language_column", "project_column", "path_column"):
            if key in table:
                args[key] = _want(table[key], str, here, key)
        if "max_files" in table:
            args["max_files"] = int(_want(table["max_files"], int, here, "max_files"))
    default_name = {
        "folder": lambda: f"folder:{args['path'].name}",
        "system": lambda: f"system:{args.get('what')}",
        "npm": lambda: f"npm#{index + 1}",
        "debian": lambda: f"debian#{index + 1}",
        "hub": lambda: f"hub:{args['dataset']}",
    }[kind]
    args["name"] = _want(table.get("name", default_name()), str, here, "name")
    return SourceSpec(**args)


def parse_recipe(text: str, base_dir: Path, where: str = "recipe") -> Recipe:
    """Parse recipe TOML `text`; relative paths are resolved against `base_dir`."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise RecipeError(f"{where} is not valid TOML: {exc}") from None
    unknown = sorted(set(data) - set(TOP_LEVEL_KEYS))
    if unknown:
        raise RecipeError(f"{where}: unknown top-level key(s) {', '.join(unknown)} "
                          f"(known: {', '.join(sorted(TOP_LEVEL_KEYS))})")
    name = _want(data.get("name", Path(where).stem), str, where, "name")
    languages = _str_list(data.get("languages", list(SUPPORTED_LANGUAGES)), where, "languages")
    bad = [lang for lang in languages if lang not in SUPPORTED_LANGUAGES]
    if bad or not languages:
        raise RecipeError(f"{where}: languages must be a non-empty subset of {list(SUPPORTED_LANGUAGES)}, got {list(languages)}")
    limits = _parse_limits(data.get("limits"), where)
    raw_sources = data.get("source", [])
    _want(raw_sources, list, where, "[[source]]")
    if not raw_sources:
        raise RecipeError(f"{where}: the recipe has no [[source]] entries, so there is nothing to build")
    sources = tuple(_parse_source(t, i, base_dir, where) for i, t in enumerate(raw_sources))
    names = [s.name for s in sources]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise RecipeError(f"{where}: source names must be unique; repeated: {', '.join(dupes)} (set `name = ...`)")
    pinned = _parse_split(data.get("split"), where)
    return Recipe(name=name, languages=languages, limits=limits, sources=sources, base_dir=base_dir, text=text,
                  pinned=pinned)


def _parse_split(table: Any, where: str) -> dict[str, str]:
    """The [split] table: project names pinned to valid and test; a project may appear once."""
    if table is None:
        return {}
    _want(table, dict, where, "[split]")
    unknown = sorted(set(table) - set(SPLIT_KEYS))
    if unknown:
        raise RecipeError(f"{where}: unknown key(s) in [split]: {', '.join(unknown)} (known: test, valid; "
                          f"every project not named there goes to train)")
    pinned: dict[str, str] = {}
    for split in SPLIT_KEYS:
        for project in _str_list(table.get(split, []), where, f"split.{split}"):
            if project in pinned:
                raise RecipeError(f"{where}: project {project!r} is pinned twice in [split]")
            pinned[project] = split
    return pinned


def load_recipe(path: str | Path) -> Recipe:
    """Read and parse a recipe file, with a clear `RecipeError` if it is missing or unreadable."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise RecipeError(f"recipe file {path} does not exist") from None
    except IsADirectoryError:
        raise RecipeError(f"recipe {path} is a folder; give the path of a .toml recipe file") from None
    except OSError as exc:
        raise RecipeError(f"cannot read recipe {path}: {exc.strerror or exc}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise RecipeError(f"recipe {path} is not UTF-8 text") from None
    return parse_recipe(text, path.absolute().parent, where=str(path))
