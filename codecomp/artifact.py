"""The model artifact: a folder of ONNX graphs, vocabularies and a manifest (docs/design.md, section 4).

This module is on the serving path, so it imports neither torch nor datasets.  It does three things:

* `write_manifest` records what an export produced (models, languages, training info, sha256 and size of every
  file) so that a copy can be checked later;
* `load` validates a folder and returns an `Artifact`, raising `ArtifactError` with a sentence that says what is
  wrong and how to fix it (missing folder or manifest, bad JSON, wrong format or version, missing, truncated or
  modified files, missing vocabulary);
* `Artifact.session` opens onnxruntime sessions with a small, predictable thread budget (an editor process must
  not take over every core).
"""
from __future__ import annotations

import hashlib
import json
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any

FORMAT = "codecomp-artifact"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"

# Which files each model needs besides the manifest; checked by `load` so a half-copied folder fails early.
REQUIRED_FILES: dict[str, tuple[str, ...]] = {
    "token": ("token.onnx", "token_vocab.json"),
    "char": ("char.onnx",),
    # the Tree-LSTM cells and the name decoder (training/export_naming.py); the names can be overridden in the
    # manifest's "graphs"/"vocab" keys, and `load` checks those too
    "naming": ("naming_up.onnx", "naming_down.onnx", "naming_head.onnx", "naming_decoder.onnx", "naming_vocab.json"),
}
# Keys the engine relies on in each model section.
REQUIRED_KEYS: dict[str, tuple[str, ...]] = {
    "token": ("layers", "hidden", "key_dim", "memory", "vocab_size"),
    "char": ("layers", "hidden", "vocab_size"),
    "naming": ("graphs", "vocab", "hidden"),
    "ranker": ("file", "features", "version"),
}


def required_files(name: str, section: dict[str, Any]) -> tuple[str, ...]:
    """The files the `name` model needs, following the file names its manifest section gives (if any)."""
    if name == "naming":
        graphs = section.get("graphs")
        if isinstance(graphs, dict) and graphs:
            vocab = section.get("vocab")
            return tuple(str(f) for f in graphs.values()) + ((str(vocab),) if isinstance(vocab, str) else ())
    if name == "token":
        # `weights`: the external-data file that the step and chunk graphs share (artifacts exported before it
        # existed carry the weights inside each graph and have no such key)
        shared = (str(section["weights"]),) if section.get("weights") else ()
        return (str(section.get("file", "token.onnx")), str(section.get("vocab", "token_vocab.json"))) + shared
    if name == "char":
        return (str(section.get("file", "char.onnx")),)
    if name in ("ranker", "ranker_file", "ranker_after"):
        return (str(section.get("file", f"{name}.onnx")),)
    return REQUIRED_FILES.get(name, ())

_FIX_HINT = "re-export it with `codecomp export --run RUN --out ARTIFACT`"


class ArtifactError(Exception):
    """The artifact folder cannot be used; the message says why and how to fix it."""


# A model folder may come from anywhere (a download, a colleague, a repository), so everything its manifest says
# is checked before it is acted on: file names must stay inside the folder, files must be regular files of a
# bounded size, and vocabularies must agree with the manifest before anything is allocated from them.
MAX_MANIFEST_BYTES = 16 << 20
MAX_FILE_BYTES = 2 << 30  # protobuf's limit for one ONNX file; nothing larger can be a graph of ours
MAX_VOCAB_BYTES = 64 << 20
MAX_VOCAB_ENTRIES = 1 << 22
MAX_FILES = 4096
# Bounds for the sizes the engine allocates from (state arrays, copy memory): far above any model we train.
DIMENSION_LIMITS: dict[str, int] = {"layers": 64, "hidden": 1 << 16, "key_dim": 1 << 16, "memory": 1 << 20}


def sha256_file(path: Path, chunk: int = 1 << 20, max_bytes: int | None = None) -> str:
    """The `sha256:<hex>` digest of a file, read in chunks so large graphs do not need to fit in memory twice.

    With `max_bytes`, reading stops just past that many bytes (a file that grows while it is read cannot keep the
    caller busy; its digest then simply does not match).
    """
    digest = hashlib.sha256()
    left = None if max_bytes is None else max_bytes + 1
    with open(path, "rb") as handle:
        while left is None or left > 0:
            block = handle.read(chunk if left is None else min(chunk, left))
            if not block:
                break
            digest.update(block)
            if left is not None:
                left -= len(block)
    return "sha256:" + digest.hexdigest()


def _shown(name: str) -> str:
    """A manifest entry as quoted in messages: short and printable, since the manifest may be hostile."""
    text = name if len(name) <= 80 else name[:77] + "..."
    return "".join(ch if ch.isprintable() else "?" for ch in text)


def check_name(name: Any, where: str) -> str:
    """`name` if it is a plain relative file name inside a folder (POSIX separators), else `ArtifactError`.

    `where` says which manifest entry held it.  The message never repeats an escaping name: it would only show
    the user a path outside the folder that the model tried to reach.
    """
    if not isinstance(name, str) or not name or "\x00" in name:
        raise ArtifactError(f"The manifest's {where} is not a file name; {_FIX_HINT}.")
    posix, windows = PurePosixPath(name), PureWindowsPath(name)
    if posix.is_absolute() or windows.is_absolute() or windows.drive or "\\" in name or ".." in posix.parts:
        raise ArtifactError(
            f"The manifest's {where} names a file outside the model folder, which a model may not use; "
            f"only files inside the folder can be part of a model. Use a model you trust, or {_FIX_HINT}."
        )
    return name


def resolve_inside(folder: Path, name: Any, where: str) -> Path:
    """The real path of the file `name` of the artifact at `folder`, refused when it leads outside the folder.

    Symbolic links are followed first, so a link inside the folder that points elsewhere is refused too.  The
    returned path may not exist; callers report missing files in their own words.
    """
    rel = check_name(name, where)
    try:
        root = folder.resolve(strict=True)
        target = (root / rel).resolve()
    except (OSError, RuntimeError) as exc:  # a link loop or an unreadable folder
        raise ArtifactError(f"The file {_shown(rel)} in {folder} cannot be resolved ({type(exc).__name__}); "
                            f"copy the folder again or {_FIX_HINT}.") from None
    if target != root and not target.is_relative_to(root):
        raise ArtifactError(
            f"The file {_shown(rel)} in {folder} is a link to a place outside the model folder, which a model may "
            f"not use; copy the real file into the folder or {_FIX_HINT}."
        )
    return target


def regular_size(folder: Path, rel: str, target: Path, limit: int) -> int:
    """Size of `target` after checking that it is a regular file of at most `limit` bytes (no read, no hash)."""
    try:
        info = os.stat(target)
    except FileNotFoundError:
        raise ArtifactError(
            f"The file {_shown(rel)} listed in the manifest is missing from {folder}; copy the whole folder or "
            f"{_FIX_HINT}."
        ) from None
    except OSError as exc:
        raise ArtifactError(f"The file {_shown(rel)} in {folder} cannot be read ({exc.strerror}); "
                            f"copy it again or {_FIX_HINT}.") from None
    if not stat.S_ISREG(info.st_mode):
        raise ArtifactError(
            f"The file {_shown(rel)} in {folder} is not a regular file (a folder, device or pipe), so it cannot "
            f"be part of a model; copy the real file or {_FIX_HINT}."
        )
    if info.st_size > limit:
        raise ArtifactError(
            f"The file {_shown(rel)} in {folder} is {info.st_size} bytes, more than a model file may be ({limit} "
            f"bytes); it is not part of a codecomp model: copy the folder again or {_FIX_HINT}."
        )
    return info.st_size


def default_path() -> Path:
    """Where the shipped default artifact lives (inside the package); it may be absent in a source checkout."""
    return Path(__file__).resolve().parent / "default_model"


def write_manifest(
    folder: Path,
    models: dict[str, dict[str, Any]],
    languages: list[str],
    training: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Write `manifest.json` for every file now in `folder` and return the manifest.

    Checksums and sizes cover every file except the manifest itself, including files written by other exporters
    (the naming model), so the manifest is written last.
    """
    folder = Path(folder)
    files: dict[str, str] = {}
    sizes: dict[str, int] = {}
    for path in sorted(folder.rglob("*")):
        if not path.is_file() or path.name == MANIFEST:
            continue
        rel = path.relative_to(folder).as_posix()
        files[rel] = sha256_file(path)
        sizes[rel] = path.stat().st_size
    manifest = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "languages": sorted(set(languages)),
        "models": models,
        "files": files,
        "sizes": sizes,
        "training": training or {},
    }
    tmp = folder / (MANIFEST + ".tmp")
    tmp.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    os.replace(tmp, folder / MANIFEST)  # atomic: a reader never sees half a manifest
    return manifest


@dataclass
class Artifact:
    """A validated artifact folder."""

    path: Path
    manifest: dict[str, Any]
    languages: list[str]
    models: dict[str, dict[str, Any]]
    _vocab_cache: dict[str, list[str]] = field(default_factory=dict, repr=False)

    def has(self, model: str) -> bool:
        """Whether the artifact holds this model ("token", "char", "naming")."""
        return model in self.models

    def file(self, name: str) -> Path:
        """The path of a file of the artifact; `ArtifactError` when `name` leads outside the folder."""
        return resolve_inside(self.path, name, "file name asked for by the engine")

    def session(self, name: str, threads: int = 1, optimize: bool = True):
        """An onnxruntime session for the graph `name` (e.g. "token.onnx").

        One intra-op thread by default: the step graphs are small, so extra threads cost more in synchronisation
        than they save, and the editor keeps its other cores.
        """
        import onnxruntime as ort  # imported here so that `import codecomp.artifact` stays cheap

        options = ort.SessionOptions()
        options.intra_op_num_threads = max(1, int(threads))
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = (
            ort.GraphOptimizationLevel.ORT_ENABLE_ALL if optimize else ort.GraphOptimizationLevel.ORT_DISABLE_ALL
        )
        options.log_severity_level = 3  # warnings about unused initialisers are noise for users
        try:
            return ort.InferenceSession(str(self.file(name)), sess_options=options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises several private exception types
            raise ArtifactError(f"The model graph {self.file(name)} could not be opened ({exc}); {_FIX_HINT}.") from exc

    def vocab(self, name: str = "token_vocab.json", expected_size: int | None = None) -> list[str]:
        """The vocabulary of a tokenizers WordLevel JSON file as a list indexed by id.

        `expected_size` (the manifest's vocab_size) is checked before any list is built from the file.
        """
        if name not in self._vocab_cache:
            self._vocab_cache[name] = read_vocab(self.file(name), expected_size=expected_size)
        return self._vocab_cache[name]


def read_vocab(path: Path, expected_size: int | None = None, max_bytes: int = MAX_VOCAB_BYTES) -> list[str]:
    """Read a tokenizers JSON (WordLevel model) or a plain {token: id} JSON into a list indexed by id.

    The file must be a regular file of at most `max_bytes`; its ids must be integers that number the words
    0..n-1 (each once), and n must equal `expected_size` when given.  All of this is checked before the list is
    allocated, so a tiny file claiming id 300000000 costs nothing.
    """
    path = Path(path)
    try:
        info = os.stat(path)
        if not stat.S_ISREG(info.st_mode):
            raise ArtifactError(f"The vocabulary {path} is not a regular file; {_FIX_HINT}.")
        if info.st_size > max_bytes:
            raise ArtifactError(
                f"The vocabulary {path} is {info.st_size} bytes, more than a vocabulary may be ({max_bytes} bytes); "
                f"{_FIX_HINT}."
            )
        with open(path, "rb") as handle:
            # The size seen above, not the cap: read(n) reserves n bytes up front.  A file that grew since the
            # check is cut short and then fails to parse.
            raw = handle.read(info.st_size)
        data = json.loads(raw.decode("utf-8"))
    except FileNotFoundError as exc:
        raise ArtifactError(f"The vocabulary {path} is missing; {_FIX_HINT}.") from exc
    except OSError as exc:
        raise ArtifactError(f"The vocabulary {path} cannot be read ({exc.strerror}); {_FIX_HINT}.") from exc
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ArtifactError(f"The vocabulary {path} is not valid JSON ({exc}); {_FIX_HINT}.") from exc
    except RecursionError:
        raise ArtifactError(f"The vocabulary {path} is not a vocabulary (nested too deeply); {_FIX_HINT}.") from None
    mapping = data.get("model", {}).get("vocab") if isinstance(data, dict) and "model" in data else data
    if not isinstance(mapping, dict) or not mapping:
        raise ArtifactError(f"The vocabulary {path} holds no word list; {_FIX_HINT}.")
    size = len(mapping)
    if expected_size is not None and size != expected_size:
        raise ArtifactError(
            f"The token vocabulary has {size} entries but the manifest says {expected_size}; {_FIX_HINT}."
        )
    if size > MAX_VOCAB_ENTRIES:
        raise ArtifactError(f"The vocabulary {path} has {size} entries, more than {MAX_VOCAB_ENTRIES}; {_FIX_HINT}.")
    seen = bytearray(size)  # one byte per word: bounded by the (capped) file size
    for idx in mapping.values():
        if isinstance(idx, bool) or not isinstance(idx, int) or not 0 <= idx < size or seen[idx]:
            raise ArtifactError(
                f"The vocabulary {path} does not number its {size} words 0 to {size - 1}, each once "
                f"(found id {_shown(str(idx))}); {_FIX_HINT}."
            )
        seen[idx] = 1
    words = [""] * size
    for word, idx in mapping.items():
        words[idx] = word
    return words


def _bounded_int(value: Any, low: int, high: int) -> int | None:
    """`value` when it is an integer (not a bool) in [low, high], else None."""
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        return None
    return value


def load(path: str | Path, verify_checksums: bool = True) -> Artifact:
    """Validate the artifact folder at `path` and return it; raise `ArtifactError` saying what is wrong.

    The folder is untrusted input: every file name in the manifest must stay inside the folder (after links are
    followed) and name a regular file of bounded size, which is checked before anything is read or hashed.
    """
    folder = Path(path).expanduser()
    if not folder.exists():
        raise ArtifactError(
            f"No model found at {folder}: the folder does not exist. Pass --model PATH to an artifact made by "
            "`codecomp export`, or install a build that ships the default model."
        )
    if not folder.is_dir():
        raise ArtifactError(f"The model path {folder} is a file, not an artifact folder; pass the folder instead.")
    manifest_path = folder / MANIFEST
    if not manifest_path.is_file():
        raise ArtifactError(f"The folder {folder} has no {MANIFEST}, so it is not a codecomp artifact; {_FIX_HINT}.")
    real_manifest = resolve_inside(folder, MANIFEST, MANIFEST)
    manifest_size = regular_size(folder, MANIFEST, real_manifest, MAX_MANIFEST_BYTES)
    try:
        with open(real_manifest, "rb") as handle:
            manifest = json.loads(handle.read(manifest_size).decode("utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ArtifactError(f"The manifest {manifest_path} is not valid JSON ({exc}); {_FIX_HINT}.") from exc
    except RecursionError:
        raise ArtifactError(f"The manifest {manifest_path} is not valid JSON (nested too deeply); {_FIX_HINT}.") from None
    if not isinstance(manifest, dict):
        raise ArtifactError(f"The manifest {manifest_path} is not a JSON object; {_FIX_HINT}.")
    if manifest.get("format") != FORMAT:
        raise ArtifactError(
            f"The manifest {manifest_path} says format {_shown(str(manifest.get('format')))}, expected {FORMAT!r}: "
            "this folder was not written by `codecomp export`."
        )
    version = manifest.get("format_version")
    if version != FORMAT_VERSION:
        raise ArtifactError(
            f"The artifact at {folder} has format version {_shown(str(version))}, but this codecomp reads version "
            f"{FORMAT_VERSION}; {_FIX_HINT} with this version of codecomp, or install the matching version."
        )
    models = manifest.get("models")
    files = manifest.get("files")
    if not isinstance(models, dict) or not models:
        raise ArtifactError(f"The manifest {manifest_path} lists no models; {_FIX_HINT}.")
    if not isinstance(files, dict):
        raise ArtifactError(f"The manifest {manifest_path} has no file checksums; {_FIX_HINT}.")
    if len(files) > MAX_FILES:
        raise ArtifactError(f"The manifest {manifest_path} lists {len(files)} files, more than a model has "
                            f"({MAX_FILES}); {_FIX_HINT}.")
    # Every name is checked before any file is touched, so a hostile entry is refused even when it comes last.
    for rel in files:
        check_name(rel, "list of files")
    vocab_files: set[str] = set()
    for name, section in models.items():
        if not isinstance(section, dict):
            raise ArtifactError(f"The manifest entry for the {name} model is not an object; {_FIX_HINT}.")
        for key in REQUIRED_KEYS.get(name, ()):
            if key not in section:
                raise ArtifactError(f"The manifest entry for the {name} model lacks {key!r}; {_FIX_HINT}.")
        for key, high in DIMENSION_LIMITS.items():
            if key in section and _bounded_int(section[key], 1, high) is None:
                raise ArtifactError(f"The manifest entry for the {name} model has an invalid {key!r} (a whole number "
                                    f"from 1 to {high} is expected); {_FIX_HINT}.")
        if "vocab_size" in section and _bounded_int(section["vocab_size"], 1, MAX_VOCAB_ENTRIES) is None:
            raise ArtifactError(f"The manifest entry for the {name} model has an invalid 'vocab_size' (a whole number "
                                f"from 1 to {MAX_VOCAB_ENTRIES} is expected); {_FIX_HINT}.")
        if name == "naming" and not isinstance(section.get("graphs"), dict):
            raise ArtifactError(f"The manifest entry for the naming model has no table of graphs; {_FIX_HINT}.")
        # The token model's chunk graph is optional: the engine does without it when it was not exported.
        optional = {section["encode_file"]} if name == "token" and section.get("encode_file") else set()
        for required in [*required_files(name, section), *optional]:
            where = f"entry for the {name} model"
            real = resolve_inside(folder, required, where)
            if not real.is_file():
                if required in optional and not real.exists():
                    continue
                what = "vocabulary" if required.endswith(".json") else "weights" if required.endswith(".bin") else "graph"
                raise ArtifactError(
                    f"The {name} model's {what} {_shown(required)} is missing from {folder}; copy the whole folder "
                    f"or {_FIX_HINT}."
                )
            if required not in files:
                raise ArtifactError(f"The manifest has no checksum for {_shown(required)}; {_FIX_HINT}.")
            if required.endswith(".json"):
                vocab_files.add(required)  # vocabularies are parsed whole, so they get the smaller cap
    raw_sizes = manifest.get("sizes", {})
    sizes = raw_sizes if isinstance(raw_sizes, dict) else {}
    # Two passes: every file is located and sized (cheap) before any is hashed (slow), so a bad entry is
    # refused at once instead of after hashing everything listed before it.
    located: list[tuple[str, Any, Path, int]] = []
    for rel, expected in files.items():
        target = resolve_inside(folder, rel, "list of files")
        limit = MAX_VOCAB_BYTES if rel in vocab_files else MAX_FILE_BYTES
        actual_size = regular_size(folder, rel, target, limit)
        if rel in sizes:
            wanted = _bounded_int(sizes[rel], 0, limit)
            if wanted is None:
                raise ArtifactError(f"The manifest's size for {_shown(rel)} is not a valid byte count; {_FIX_HINT}.")
            if actual_size < wanted:
                raise ArtifactError(
                    f"The file {_shown(rel)} in {folder} is truncated ({actual_size} of {wanted} bytes): the "
                    "copy or download was interrupted; copy it again."
                )
            if actual_size > wanted:
                raise ArtifactError(
                    f"The file {_shown(rel)} in {folder} is larger than the manifest says ({actual_size} instead "
                    f"of {wanted} bytes): it was modified or damaged; copy it again or {_FIX_HINT}."
                )
        located.append((rel, expected, target, actual_size))
    for rel, expected, target, actual_size in located if verify_checksums else ():
        if sha256_file(target, max_bytes=actual_size) != expected:
            raise ArtifactError(
                f"The file {_shown(rel)} in {folder} does not match its checksum in the manifest: it was "
                f"modified or damaged; copy it again or {_FIX_HINT}."
            )
    languages = manifest.get("languages") or []
    if not isinstance(languages, list):
        raise ArtifactError(f"The manifest {manifest_path} has no list of languages; {_FIX_HINT}.")
    artifact = Artifact(path=folder, manifest=manifest, languages=list(languages), models=dict(models))
    if artifact.has("token"):
        artifact.vocab(models["token"].get("vocab", "token_vocab.json"), expected_size=models["token"]["vocab_size"])
    return artifact
