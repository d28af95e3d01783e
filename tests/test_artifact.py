"""`codecomp.artifact`: manifest writing and validation with a clear message for every kind of damage."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from codecomp.artifact import ArtifactError, FORMAT_VERSION, default_path, load, read_vocab, write_manifest

TOKEN_SECTION = {"layers": 1, "hidden": 4, "key_dim": 2, "memory": 8, "vocab_size": 7}
VOCAB = ["<pad>", "<unk>", "<bos>", "<eos>", "<str>", "<num>", "foo"]


def _identity_graph(path: Path) -> None:
    """A real (tiny) ONNX graph: y = x."""
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper

    node = helper.make_node("Identity", ["x"], ["y"])
    graph = helper.make_graph([node], "identity", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))


def _vocab_json(words: list[str]) -> str:
    from tokenizers import Tokenizer
    from tokenizers.models import WordLevel

    return Tokenizer(WordLevel({w: i for i, w in enumerate(words)}, unk_token="<unk>")).to_str()


@pytest.fixture()
def art(tmp_path: Path) -> Path:
    folder = tmp_path / "art"
    folder.mkdir()
    _identity_graph(folder / "token.onnx")
    (folder / "token_vocab.json").write_text(_vocab_json(VOCAB), encoding="utf-8")
    write_manifest(folder, {"token": dict(TOKEN_SECTION)}, ["javascript", "cpp"], {"recipe": "test"})
    return folder


def _manifest(folder: Path) -> dict:
    return json.loads((folder / "manifest.json").read_text())


def _rewrite(folder: Path, **changes) -> None:
    doc = _manifest(folder)
    doc.update(changes)
    (folder / "manifest.json").write_text(json.dumps(doc))


def test_roundtrip(art: Path) -> None:
    a = load(art)
    assert a.languages == ["cpp", "javascript"]
    assert a.has("token") and not a.has("naming")
    assert a.vocab() == VOCAB
    doc = _manifest(art)
    assert doc["format_version"] == FORMAT_VERSION
    assert set(doc["files"]) == {"token.onnx", "token_vocab.json"}
    assert doc["training"] == {"recipe": "test"}
    sess = a.session("token.onnx", threads=1)
    x = np.array([1.0, 2.0], np.float32)
    assert np.array_equal(sess.run(None, {"x": x})[0], x)
    assert sess.get_session_options().intra_op_num_threads == 1
    assert a.session("token.onnx", threads=3).get_session_options().intra_op_num_threads == 3


@pytest.mark.parametrize("damage, message", [
    ("missing_folder", "does not exist"),
    ("is_file", "is a file"),
    ("no_manifest", "no manifest.json"),
    ("bad_json", "not valid JSON"),
    ("wrong_format", "not written by `codecomp export`"),
    ("wrong_version", "format version 99"),
    ("no_models", "lists no models"),
    ("missing_key", "lacks 'memory'"),
    ("missing_vocab", "vocabulary token_vocab.json is missing"),
    ("missing_graph", "graph token.onnx is missing"),
    ("modified", "does not match its checksum"),
    ("truncated", "truncated"),
    ("vocab_size", "manifest says 9"),
    ("bad_vocab", "holds no word list"),
])
def test_damage_is_explained(art: Path, damage: str, message: str) -> None:
    target = art
    if damage == "missing_folder":
        target = art.parent / "elsewhere"
    elif damage == "is_file":
        target = art / "token.onnx"
    elif damage == "no_manifest":
        (art / "manifest.json").unlink()
    elif damage == "bad_json":
        (art / "manifest.json").write_text("{ nope")
    elif damage == "wrong_format":
        _rewrite(art, format="something-else")
    elif damage == "wrong_version":
        _rewrite(art, format_version=99)
    elif damage == "no_models":
        _rewrite(art, models={})
    elif damage == "missing_key":
        section = {k: v for k, v in TOKEN_SECTION.items() if k != "memory"}
        _rewrite(art, models={"token": section})
    elif damage == "missing_vocab":
        (art / "token_vocab.json").unlink()
    elif damage == "missing_graph":
        (art / "token.onnx").unlink()
    elif damage == "modified":
        data = bytearray((art / "token.onnx").read_bytes())
        data[-1] ^= 1
        (art / "token.onnx").write_bytes(bytes(data))
    elif damage == "truncated":
        data = (art / "token.onnx").read_bytes()
        (art / "token.onnx").write_bytes(data[: len(data) // 2])
    elif damage == "vocab_size":
        _rewrite(art, models={"token": dict(TOKEN_SECTION, vocab_size=9)})
    elif damage == "bad_vocab":
        (art / "token_vocab.json").write_text("[]")
        write_manifest(art, {"token": dict(TOKEN_SECTION)}, ["cpp"])
    with pytest.raises(ArtifactError, match=message) as info:
        load(target)
    # every message tells the user what to do, not just what broke
    text = str(info.value)
    assert any(word in text for word in ("export", "copy", "pass", "install", "folder")), text


def test_checksums_can_be_skipped_for_speed(art: Path) -> None:
    data = bytearray((art / "token.onnx").read_bytes())
    data[-1] ^= 1
    (art / "token.onnx").write_bytes(bytes(data))
    assert load(art, verify_checksums=False).has("token")


NAMING_GRAPHS = {"up": "naming_up.onnx", "down": "naming_down.onnx", "head": "naming_head.onnx",
                 "decoder": "naming_decoder.onnx"}


def _add_naming(art: Path) -> dict:
    for name in NAMING_GRAPHS.values():
        _identity_graph(art / name)
    (art / "naming_vocab.json").write_text("{}")
    section = {"graphs": dict(NAMING_GRAPHS), "vocab": "naming_vocab.json", "hidden": 4}
    write_manifest(art, {"token": dict(TOKEN_SECTION), "naming": section}, ["cpp"])
    return section


def test_manifest_covers_files_of_other_exporters(art: Path) -> None:
    _add_naming(art)
    assert "naming_vocab.json" in _manifest(art)["files"]
    assert load(art).has("naming")
    (art / "naming_vocab.json").write_text('{"x": 1}')
    with pytest.raises(ArtifactError, match="naming_vocab.json"):
        load(art)


@pytest.mark.parametrize("missing", ["naming_head.onnx", "naming_vocab.json"])
def test_naming_files_are_required(art: Path, missing: str) -> None:
    _add_naming(art)
    (art / missing).unlink()
    with pytest.raises(ArtifactError, match=missing):
        load(art)


@pytest.mark.parametrize("key", ["graphs", "vocab", "hidden"])
def test_naming_keys_are_required(art: Path, key: str) -> None:
    section = _add_naming(art)
    del section[key]
    write_manifest(art, {"token": dict(TOKEN_SECTION), "naming": section}, ["cpp"])
    with pytest.raises(ArtifactError, match=f"naming model lacks '{key}'"):
        load(art)


def test_read_vocab_plain_mapping(tmp_path: Path) -> None:
    path = tmp_path / "v.json"
    path.write_text(json.dumps({"a": 1, "b": 0}))
    assert read_vocab(path) == ["b", "a"]
    with pytest.raises(ArtifactError, match="missing"):
        read_vocab(tmp_path / "none.json")


def test_default_path_is_inside_the_package() -> None:
    path = default_path()
    assert path.name == "default_model" and path.parent.name == "codecomp"
    if (path / "manifest.json").is_file():  # shipped in this build: it must be valid
        assert load(path).has("token")


# -- model folders from elsewhere: the manifest is untrusted input ------------------------------------------------
FOREIGN = "FOREIGN_secret"


def _foreign(tmp_path: Path, data: bytes = b"private data\n") -> Path:
    """A file outside the model folder (but inside the test's own temporary folder)."""
    path = tmp_path / f"{FOREIGN}.bin"
    path.write_bytes(data)
    return path


def _list_file(folder: Path, rel: str, target: Path | None = None) -> None:
    """Add `rel` to the manifest with the real checksum and size of `target` (default: the file it names)."""
    from codecomp.artifact import sha256_file

    target = target if target is not None else folder / rel
    doc = _manifest(folder)
    doc["files"][rel] = sha256_file(target)
    doc["sizes"][rel] = target.stat().st_size
    (folder / "manifest.json").write_text(json.dumps(doc))


def _refused(folder: Path, match: str) -> str:
    with pytest.raises(ArtifactError, match=match) as info:
        load(folder)
    text = str(info.value)
    assert FOREIGN not in text and "/etc" not in text, f"the message names an outside file: {text}"
    return text


@pytest.mark.parametrize("entry", ["../{name}", "{abs}", "sub/../../{name}", "..\\{name}", "C:/{name}", "//host/{name}"])
def test_manifest_names_outside_the_folder_are_refused(art: Path, tmp_path: Path, entry: str) -> None:
    foreign = _foreign(tmp_path)
    rel = entry.format(name=foreign.name, abs=str(foreign))
    _list_file(art, rel, foreign)
    _refused(art, "outside the model folder")


def test_a_graph_outside_the_folder_is_not_loaded(art: Path, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    shutil.copy(art / "token.onnx", elsewhere / f"{FOREIGN}.onnx")
    rel = f"../elsewhere/{FOREIGN}.onnx"
    doc = _manifest(art)
    doc["models"]["token"]["file"] = rel
    (art / "manifest.json").write_text(json.dumps(doc))
    _list_file(art, rel, elsewhere / f"{FOREIGN}.onnx")
    _refused(art, "outside the model folder")
    with pytest.raises(ArtifactError, match="outside the model folder"):
        load(art.parent / "art" / ".." / "art", verify_checksums=False)


@pytest.mark.parametrize("which", ["token_vocab.json", "token.onnx", "manifest.json", "extra.bin"])
def test_links_that_lead_outside_the_folder_are_refused(art: Path, tmp_path: Path, which: str) -> None:
    if which == "manifest.json":
        foreign = tmp_path / f"{FOREIGN}.json"
        foreign.write_text((art / "manifest.json").read_text())
        (art / "manifest.json").unlink()
        (art / "manifest.json").symlink_to(foreign)
    elif which == "extra.bin":
        foreign = _foreign(tmp_path)
        (art / which).symlink_to(foreign)
        _list_file(art, which, foreign)
    else:
        foreign = tmp_path / f"{FOREIGN}{Path(which).suffix}"
        shutil.move(art / which, foreign)
        (art / which).symlink_to(foreign)
    text = _refused(art, "outside the model folder")
    assert which in text  # the name in the folder is given, where it leads is not


def test_links_inside_the_folder_are_fine(art: Path) -> None:
    (art / "real").mkdir()
    shutil.move(art / "token.onnx", art / "real" / "token.onnx")
    (art / "token.onnx").symlink_to(art / "real" / "token.onnx")
    assert load(art).has("token")


@pytest.mark.timeout(60)
def test_a_pipe_in_the_folder_is_refused_without_reading_it(art: Path) -> None:
    os = pytest.importorskip("os")
    os.mkfifo(art / "pipe.bin")  # opening it to hash it would wait for a writer forever
    doc = _manifest(art)
    doc["files"]["pipe.bin"] = "sha256:" + "0" * 64
    (art / "manifest.json").write_text(json.dumps(doc))
    _refused(art, "not a regular file")


def test_files_are_sized_before_they_are_hashed(art: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import codecomp.artifact as artifact_mod

    def no_hashing(*args: object, **kwargs: object) -> str:
        raise AssertionError("a file was hashed before its size was checked")

    with open(art / "huge.bin", "wb") as handle:
        handle.truncate(3 << 20)  # sparse: costs no disk
    _list_file(art, "huge.bin")
    monkeypatch.setattr(artifact_mod, "MAX_FILE_BYTES", 2 << 20)
    monkeypatch.setattr(artifact_mod, "sha256_file", no_hashing)
    _refused(art, "more than a model file may be")
    monkeypatch.setattr(artifact_mod, "MAX_FILE_BYTES", 1 << 30)
    doc = _manifest(art)
    doc["sizes"]["huge.bin"] = 10
    (art / "manifest.json").write_text(json.dumps(doc))
    _refused(art, "larger than the manifest says")


@pytest.mark.parametrize("sizes", [{"token.onnx": "12"}, {"token.onnx": -1}, {"token.onnx": True}, {"token.onnx": 1e3}])
def test_invalid_sizes_are_explained(art: Path, sizes: dict) -> None:
    doc = _manifest(art)
    doc["sizes"].update(sizes)
    (art / "manifest.json").write_text(json.dumps(doc))
    _refused(art, "not a valid byte count")


@pytest.mark.parametrize("key, value", [("hidden", 10**12), ("memory", 0), ("layers", "2"), ("vocab_size", 10**9),
                                        ("vocab_size", 7.0)])
def test_model_dimensions_are_bounded(art: Path, key: str, value: object) -> None:
    _rewrite(art, models={"token": dict(TOKEN_SECTION, **{key: value})})
    _refused(art, f"invalid '{key}'")


def test_deeply_nested_manifest_is_an_error(art: Path) -> None:
    (art / "manifest.json").write_text("[" * 100_000 + "]" * 100_000)
    _refused(art, "nested too deeply")


@pytest.mark.parametrize("vocab, size, message", [
    ({"a": 0, "b": 300_000_000}, 2, "number its 2 words 0 to 1"),
    ({"a": 0, "b": 0}, 2, "each once"),
    ({"a": 0, "b": "1"}, 2, "number its 2 words"),
    ({"a": 0, "b": True}, 2, "number its 2 words"),
    ({"a": 0, "b": -1}, 2, "number its 2 words"),
    ({"a": 0, "b": 1, "c": 2}, 2, "manifest says 2"),
])
def test_vocabularies_are_checked_before_anything_is_allocated(art: Path, vocab: dict, size: int, message: str) -> None:
    import tracemalloc

    (art / "token_vocab.json").write_text(json.dumps({"model": {"type": "WordLevel", "vocab": vocab}}))
    write_manifest(art, {"token": dict(TOKEN_SECTION, vocab_size=size)}, ["cpp"])
    tracemalloc.start()
    try:
        _refused(art, message)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 16 << 20, f"refusing a tiny vocabulary took {peak} bytes"


def test_vocabularies_have_a_byte_cap(art: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import codecomp.artifact as artifact_mod

    monkeypatch.setattr(artifact_mod, "MAX_VOCAB_BYTES", 64)
    _refused(art, "more than a model file may be")
    with pytest.raises(ArtifactError, match="more than a vocabulary may be"):
        read_vocab(art / "token_vocab.json", max_bytes=64)


def test_artifact_file_names_stay_inside(art: Path, tmp_path: Path) -> None:
    a = load(art)
    assert a.file("token.onnx") == (art / "token.onnx").resolve()
    for name in ("../x.onnx", str(_foreign(tmp_path)), ""):
        with pytest.raises(ArtifactError, match="outside the model folder|not a file name"):
            a.file(name)


def test_the_engine_falls_back_with_a_message_that_names_no_outside_file(art: Path, tmp_path: Path) -> None:
    from codecomp.engine import Engine

    foreign = _foreign(tmp_path)
    _list_file(art, str(foreign), foreign)
    engine = Engine.load(art)
    assert type(engine).__name__ == "FallbackEngine"
    assert "outside the model folder" in engine.problem and FOREIGN not in engine.problem
