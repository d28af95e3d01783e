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
