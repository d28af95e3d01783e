"""Export of trained runs to an ONNX artifact: parity with PyTorch, manifest, int8 quantisation, bad input.

The runs are tiny but real: the vocabulary comes from the bundled sample files (tokenized by the real syntax
layer) and the token model takes real optimiser steps on them.  `make_token_run`, `make_char_run` and
`make_artifact` are reused by the engine tests.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

REPO = Path(__file__).resolve().parents[1]
SAMPLES = [REPO / "codecomp" / "samples" / "inventory.cpp", REPO / "codecomp" / "samples" / "shopping_cart.js"]


def sample_token_rows() -> tuple[list[list[str]], list[list[int]]]:
    """Code tokens (texts, kinds) of the sample files, as the corpus stores them."""
    from codecomp.syntax import TokenKind, detect_language, parse

    texts, kinds = [], []
    for path in SAMPLES:
        parsed = parse(path.read_text(encoding="utf-8"), detect_language(str(path)))
        code = [t for t in parsed.tokens if t.kind != TokenKind.COMMENT]
        texts.append([t.text for t in code])
        kinds.append([int(t.kind) for t in code])
    return texts, kinds


def make_token_run(folder: Path, steps: int = 60, seed: int = 0, layers: int = 2, hidden: int = 32,
                   options: dict | None = None) -> Path:
    """A token run folder (config.json, vocab.json, ckpt-best.pt, metrics.jsonl) trained for `steps` steps.

    `options`: further `TokenLSTMConfig` fields (e.g. the adaptive softmax).
    """
    from training.models.token_lstm import TokenLSTM, TokenLSTMConfig
    from training.vocab import BOS_ID, EOS_ID, build_vocab

    folder.mkdir(parents=True, exist_ok=True)
    texts, kinds = sample_token_rows()
    vocab = build_vocab(texts, vocab_size=400, min_count=1)
    vocab.save(folder / "vocab.json")
    cfg = TokenLSTMConfig(vocab_size=400, min_count=1, embed=16, hidden=hidden, layers=layers, dropout=0.0,
                          key_dim=8, memory=64, **(options or {}))
    torch.manual_seed(seed)
    torch.set_num_threads(1)  # tiny model: threads only add contention
    model = TokenLSTM(cfg, len(vocab))
    ids = [[BOS_ID, *vocab.encode(t, k).tolist(), EOS_ID] for t, k in zip(texts, kinds)]
    # chunks of 48 tokens from the start of each file keep each step cheap
    seqs = [torch.tensor(row[i:i + 49]) for row in ids for i in range(0, len(row) - 49, 48)]
    opt = torch.optim.Adam(model.parameters(), lr=0.03)
    losses = []
    for step in range(steps):
        seq = seqs[step % len(seqs)][None, :]
        # (an adaptive softmax's scores are log-probs: cross-entropy of them is the same loss)
        logits, _k, _q, _g, _ = model(seq[:, :-1])
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), seq[:, 1:].reshape(-1))
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    model.eval()
    torch.save({"model": model.state_dict(), "step": steps}, folder / "ckpt-best.pt")

    (folder / "config.json").write_text(json.dumps({
        "task": "token", "unit": "token", "train": {"steps": steps},
        "task_info": {"model": "token", "config": cfg.describe(), "vocab_size": len(vocab)}}), encoding="utf-8")
    (folder / "metrics.jsonl").write_text(json.dumps({"step": steps, "loss": losses[-1] if losses else None}) + "\n")
    return folder


def make_char_run(folder: Path, seed: int = 0) -> Path:
    """A char run folder with a randomly initialised byte LSTM."""
    from training.models.char_lstm import CharLSTM, CharLSTMConfig

    folder.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    cfg = CharLSTMConfig(embed=8, hidden=24, layers=2, dropout=0.0)
    model = CharLSTM(cfg).eval()
    torch.save({"model": model.state_dict()}, folder / "ckpt-last.pt")
    from dataclasses import asdict

    (folder / "config.json").write_text(json.dumps({"task": "char", "task_info": {"model": "char",
                                                                                  "config": asdict(cfg)}}))
    return folder


def make_artifact(tmp: Path, quantize: str | None = None, steps: int = 60, name: str = "artifact",
                  options: dict | None = None) -> Path:
    """An exported artifact with a token and a char model (the runs are made once per folder; `options`: further
    token model config fields, used when the token run is first made)."""
    from training.export import export_runs

    token = tmp / "token-run"
    char = tmp / "char-run"
    if not (token / "ckpt-best.pt").is_file():
        make_token_run(token, steps=steps, options=options)
    if not (char / "ckpt-last.pt").is_file():
        make_char_run(char)
    out = tmp / name
    export_runs([token, char], out, quantize=quantize, log=lambda m: None)
    return out


@pytest.fixture(scope="module")
def artifact_dir(tmp_path_factory) -> Path:
    return make_artifact(tmp_path_factory.mktemp("export"))


def test_export_writes_a_valid_artifact(artifact_dir: Path) -> None:
    from codecomp.artifact import load

    art = load(artifact_dir)
    assert set(art.models) == {"token", "char"}
    manifest = json.loads((artifact_dir / "manifest.json").read_text())
    assert manifest["format"] == "codecomp-artifact" and manifest["format_version"] == 1
    for name in ("token.onnx", "token_encode.onnx", "token_vocab.json", "char.onnx"):
        assert manifest["files"][name].startswith("sha256:")
    tok = art.models["token"]
    assert (tok["layers"], tok["hidden"], tok["key_dim"], tok["memory"]) == (2, 32, 8, 64)
    assert tok["vocab_size"] == len(art.vocab())
    for value in tok["parity"].values():
        assert value <= 1e-4
    assert manifest["training"]["runs"]["token"]["last_metrics"]["step"] == 60
    assert not (artifact_dir.parent / "artifact.partial").exists()


def test_onnx_step_matches_pytorch_on_a_real_file(artifact_dir: Path) -> None:
    """Independent parity check: step the ONNX graph and the PyTorch model through a real file."""
    import onnxruntime as ort

    from training.export import load_token_model, read_run
    from training.vocab import BOS_ID

    run = artifact_dir.parent / "token-run"
    model, vocab = load_token_model(run, read_run(run))
    sess = ort.InferenceSession(str(artifact_dir / "token.onnx"), providers=["CPUExecutionProvider"])
    texts, kinds = sample_token_rows()
    ids = [BOS_ID, *vocab.encode(texts[1], kinds[1]).tolist()][:120]
    h = np.zeros((2, 1, 32), np.float32)
    c = np.zeros((2, 1, 32), np.float32)
    th, tc = torch.zeros(2, 1, 32), torch.zeros(2, 1, 32)
    worst = 0.0
    for i in ids:
        ours = sess.run(None, {"token": np.array([i], np.int64), "h": h, "c": c})
        with torch.no_grad():
            ref = model.step(torch.tensor([i]), th, tc)
        worst = max(worst, max(float(np.abs(a - b.numpy()).max()) for a, b in zip(ours, ref)))
        h, c, th, tc = ours[1], ours[2], ref[1], ref[2]
    assert worst <= 1e-4
    # batch axis is dynamic: a batch of 5 runs and row 0 equals the single-row result
    tok = np.array([ids[3], 7, 8, 9, 10], np.int64)
    hb = np.repeat(h, 5, axis=1)
    cb = np.repeat(c, 5, axis=1)
    batch = sess.run(None, {"token": tok, "h": hb, "c": cb})
    single = sess.run(None, {"token": tok[:1], "h": h, "c": c})
    assert batch[0].shape == (5, len(vocab))
    assert np.abs(batch[0][0] - single[0][0]).max() <= 1e-5


def test_encode_graph_equals_stepping(artifact_dir: Path) -> None:
    import onnxruntime as ort

    step = ort.InferenceSession(str(artifact_dir / "token.onnx"), providers=["CPUExecutionProvider"])
    enc = ort.InferenceSession(str(artifact_dir / "token_encode.onnx"), providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(3)
    seq = rng.integers(0, 100, size=40).astype(np.int64)
    h0 = rng.standard_normal((2, 1, 32)).astype(np.float32) * 0.3
    c0 = rng.standard_normal((2, 1, 32)).astype(np.float32) * 0.3
    h, c = h0, c0
    keys = []
    for t in seq:
        out = step.run(None, {"token": t[None], "h": h, "c": c})
        h, c = out[1], out[2]
        keys.append(out[3][0])
    e = enc.run(None, {"tokens": seq[None], "h": h0, "c": c0})
    assert np.abs(e[0] - h).max() <= 1e-5 and np.abs(e[1] - c).max() <= 1e-5
    assert np.abs(e[2][0] - np.stack(keys)).max() <= 1e-5
    assert np.abs(e[3] - out[0]).max() <= 1e-4


def test_int8_quantisation_is_measured(artifact_dir: Path) -> None:
    from codecomp.artifact import load

    float_dir = artifact_dir
    q_dir = make_artifact(artifact_dir.parent, quantize="int8", name="artifact-int8")
    art = load(q_dir)
    q = art.models["token"]["quantization"]
    assert art.models["token"]["dtype"] == "int8-dynamic"
    assert 0.0 <= q["top1_agreement"] <= 1.0 and q["positions"] > 50
    assert abs(q["acc_change"] - (q["int8_next_token_acc"] - q["float_next_token_acc"])) < 1e-9
    assert q["int8_bytes"] < q["float_bytes"]
    # the weights live in the file both token graphs share
    def token_bytes(folder: Path) -> int:
        return sum((folder / name).stat().st_size for name in ("token.onnx", "token_weights.bin"))

    assert token_bytes(q_dir) < token_bytes(float_dir)
    assert not list(q_dir.glob("*.fp32.onnx"))


def test_export_rejects_bad_runs(tmp_path: Path) -> None:
    from training.export import ExportError, export_runs

    with pytest.raises(ExportError, match="does not exist"):
        export_runs([tmp_path / "nope"], tmp_path / "out")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ExportError, match="config.json"):
        export_runs([tmp_path / "empty"], tmp_path / "out")
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "config.json").write_text("{not json")
    with pytest.raises(ExportError, match="not valid JSON"):
        export_runs([bad], tmp_path / "out")
    nockpt = tmp_path / "nockpt"
    nockpt.mkdir()
    (nockpt / "config.json").write_text(json.dumps({"task": "char", "task_info": {"config": {}}}))
    with pytest.raises(ExportError, match="no checkpoint"):
        export_runs([nockpt], tmp_path / "out")
    char = make_char_run(tmp_path / "char")
    with pytest.raises(ExportError, match="two char runs"):
        export_runs([char, char], tmp_path / "out")
    with pytest.raises(ExportError, match="int8"):
        export_runs([char], tmp_path / "out", quantize="int4")
    other = tmp_path / "precious"
    other.mkdir()
    (other / "notes.txt").write_text("keep me")
    with pytest.raises(ExportError, match="not an artifact folder"):
        export_runs([char], other)
    assert (other / "notes.txt").read_text() == "keep me"
    assert not (tmp_path / "out").exists()


def test_export_command_line(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from codecomp.cli import app

    char = make_char_run(tmp_path / "char")
    runner = CliRunner()
    result = runner.invoke(app, ["export", "--run", str(char), "--out", str(tmp_path / "art")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "art" / "char.onnx").is_file()
    # exporting again replaces the artifact in place
    result = runner.invoke(app, ["export", "--run", str(char), "--out", str(tmp_path / "art")])
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["export", "--run", str(tmp_path / "missing"), "--out", str(tmp_path / "x")])
    assert result.exit_code == 1
    assert "does not exist" in result.output
    assert "Traceback" not in result.output
