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
from dataclasses import dataclass, field
from pathlib import Path
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
}


def required_files(name: str, section: dict[str, Any]) -> tuple[str, ...]:
    """The files the `name` model needs, following the file names its manifest section gives (if any)."""
    if name == "naming":
        graphs = section.get("graphs")
        if isinstance(graphs, dict) and graphs:
            vocab = section.get("vocab")
            return tuple(str(f) for f in graphs.values()) + ((str(vocab),) if isinstance(vocab, str) else ())
    if name == "token":
        return (str(section.get("file", "token.onnx")), str(section.get("vocab", "token_vocab.json")))
    if name == "char":
        return (str(section.get("file", "char.onnx")),)
    return REQUIRED_FILES.get(name, ())

_FIX_HINT = "re-export it with `codecomp export --run RUN --out ARTIFACT`"


class ArtifactError(Exception):
    """The artifact folder cannot be used; the message says why and how to fix it."""


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    """The `sha256:<hex>` digest of a file, read in chunks so large graphs do not need to fit in memory twice."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while True:
            block = handle.read(chunk)
            if not block:
                break
            digest.update(block)
    return "sha256:" + digest.hexdigest()


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
        """The path of a file of the artifact."""
        return self.path / name

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

    def vocab(self, name: str = "token_vocab.json") -> list[str]:
        """The vocabulary of a tokenizers WordLevel JSON file as a list indexed by id."""
        if name not in self._vocab_cache:
            self._vocab_cache[name] = read_vocab(self.file(name))
        return self._vocab_cache[name]


def read_vocab(path: Path) -> list[str]:
    """Read a tokenizers JSON (WordLevel model) or a plain {token: id} JSON into a list indexed by id."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ArtifactError(f"The vocabulary {path} is missing; {_FIX_HINT}.") from exc
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ArtifactError(f"The vocabulary {path} is not valid JSON ({exc}); {_FIX_HINT}.") from exc
    mapping = data.get("model", {}).get("vocab") if isinstance(data, dict) and "model" in data else data
    if not isinstance(mapping, dict) or not mapping:
        raise ArtifactError(f"The vocabulary {path} holds no word list; {_FIX_HINT}.")
    size = max(int(i) for i in mapping.values()) + 1
    words = [""] * size
    for word, idx in mapping.items():
        words[int(idx)] = word
    return words


def load(path: str | Path, verify_checksums: bool = True) -> Artifact:
    """Validate the artifact folder at `path` and return it; raise `ArtifactError` saying what is wrong."""
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
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ArtifactError(f"The manifest {manifest_path} is not valid JSON ({exc}); {_FIX_HINT}.") from exc
    if not isinstance(manifest, dict):
        raise ArtifactError(f"The manifest {manifest_path} is not a JSON object; {_FIX_HINT}.")
    if manifest.get("format") != FORMAT:
        raise ArtifactError(
            f"The manifest {manifest_path} says format {manifest.get('format')!r}, expected {FORMAT!r}: "
            "this folder was not written by `codecomp export`."
        )
    version = manifest.get("format_version")
    if version != FORMAT_VERSION:
        raise ArtifactError(
            f"The artifact at {folder} has format version {version!r}, but this codecomp reads version "
            f"{FORMAT_VERSION}; {_FIX_HINT} with this version of codecomp, or install the matching version."
        )
    models = manifest.get("models")
    files = manifest.get("files")
    if not isinstance(models, dict) or not models:
        raise ArtifactError(f"The manifest {manifest_path} lists no models; {_FIX_HINT}.")
    if not isinstance(files, dict):
        raise ArtifactError(f"The manifest {manifest_path} has no file checksums; {_FIX_HINT}.")
    for name, section in models.items():
        if not isinstance(section, dict):
            raise ArtifactError(f"The manifest entry for the {name} model is not an object; {_FIX_HINT}.")
        for key in REQUIRED_KEYS.get(name, ()):
            if key not in section:
                raise ArtifactError(f"The manifest entry for the {name} model lacks {key!r}; {_FIX_HINT}.")
        if name == "naming" and not isinstance(section.get("graphs"), dict):
            raise ArtifactError(f"The manifest entry for the naming model has no table of graphs; {_FIX_HINT}.")
        for required in required_files(name, section):
            if not (folder / required).is_file():
                what = "vocabulary" if required.endswith(".json") else "graph"
                raise ArtifactError(
                    f"The {name} model's {what} {required} is missing from {folder}; copy the whole folder or {_FIX_HINT}."
                )
            if required not in files:
                raise ArtifactError(f"The manifest has no checksum for {required}; {_FIX_HINT}.")
    sizes = manifest.get("sizes", {}) if isinstance(manifest.get("sizes"), dict) else {}
    for rel, expected in files.items():
        target = folder / rel
        if not target.is_file():
            raise ArtifactError(f"The file {rel} listed in the manifest is missing from {folder}; copy the whole folder or {_FIX_HINT}.")
        actual_size = target.stat().st_size
        if rel in sizes and actual_size < int(sizes[rel]):
            raise ArtifactError(
                f"The file {rel} in {folder} is truncated ({actual_size} of {sizes[rel]} bytes): the copy or download "
                "was interrupted; copy it again."
            )
        if verify_checksums and sha256_file(target) != expected:
            raise ArtifactError(
                f"The file {rel} in {folder} does not match its checksum in the manifest: it was modified or damaged; "
                f"copy it again or {_FIX_HINT}."
            )
    languages = manifest.get("languages") or []
    artifact = Artifact(path=folder, manifest=manifest, languages=list(languages), models=dict(models))
    if artifact.has("token"):
        vocab = artifact.vocab(models["token"].get("vocab", "token_vocab.json"))
        if len(vocab) != int(models["token"]["vocab_size"]):
            raise ArtifactError(
                f"The token vocabulary has {len(vocab)} entries but the manifest says {models['token']['vocab_size']}; "
                f"{_FIX_HINT}."
            )
    return artifact
