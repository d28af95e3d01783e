"""Generate code with a char-LSTM: from a training run folder (torch) or from an artifact's char.onnx (onnxruntime).

The sampling itself is numpy with a seeded generator, so the same seed gives the same text.  The artifact path
imports neither torch nor datasets.  With a syntax check (`codecomp sample --syntax-check`, the default) the
text is generated line by line and a line whose addition gives the text more tree-sitter ERROR nodes is sampled
again (`codecomp.engine.generate.sample_lines`).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

import numpy as np

BOS, EOS = 257, 258


class SampleError(ValueError):
    """The model path cannot be sampled from (missing, not a char model, damaged)."""


def sample_bytes(step: Callable[[int], np.ndarray], prefix: bytes, *, temperature: float, top_k: int,
                 max_chars: int, seed: int) -> bytes:
    """Feed <bos> + prefix through `step` (byte -> logits[259]), then sample up to `max_chars` bytes or <eos>."""
    if temperature <= 0:
        raise SampleError("--temperature must be greater than 0")
    if max_chars < 0 or top_k < 0:
        raise SampleError("--max-chars and --top-k must not be negative")
    rng = np.random.default_rng(seed)
    logits = step(BOS)
    for b in prefix:
        logits = step(b)
    out = bytearray()
    for _ in range(max_chars):
        z = np.asarray(logits, dtype=np.float64)[:256] / temperature   # specials are never emitted as text
        if 0 < top_k < 256:
            cut = np.partition(z, -top_k)[-top_k]
            z = np.where(z >= cut, z, -np.inf)
        eos_logit = float(logits[EOS]) / temperature
        z = np.append(z, eos_logit)
        p = np.exp(z - z.max())
        p /= p.sum()
        choice = int(rng.choice(len(p), p=p))
        if choice == 256:
            break
        out.append(choice)
        logits = step(choice)
    return bytes(out)


class _BoxStepper:
    """A step function over a state held in `box` (h, c), whose state can be saved and restored."""

    def __init__(self, fn: Callable[[int], np.ndarray], box: dict) -> None:
        self.fn = fn
        self.box = box

    def __call__(self, b: int) -> np.ndarray:
        return self.fn(b)

    def save(self) -> object:
        return self.box["h"], self.box["c"]

    def load(self, state: object) -> None:
        self.box["h"], self.box["c"] = state  # type: ignore[misc]


def _run_stepper(run_dir: Path) -> _BoxStepper:
    """A step function over a char-LSTM training run (torch)."""
    import torch

    from training.loop import TrainingError, load_checkpoint
    from training.models.char_lstm import CharLSTM, CharLSTMConfig

    cfg_path = run_dir / "config.json"
    if not cfg_path.exists():
        raise SampleError(f"{run_dir} is neither a training run (no config.json) nor an artifact (no manifest.json)")
    doc = json.loads(cfg_path.read_text(encoding="utf-8"))
    if doc.get("task") != "char":
        raise SampleError(f"{run_dir} holds a {doc.get('task')!r} model; `codecomp sample` needs a char model")
    ckpt = run_dir / "ckpt-best.pt"
    if not ckpt.exists():
        ckpt = run_dir / "ckpt-last.pt"
    try:
        state = load_checkpoint(ckpt)
    except TrainingError as exc:
        raise SampleError(str(exc)) from None
    model = CharLSTM(CharLSTMConfig(**doc["task_info"]["config"]))
    model.load_state_dict(state["model"])
    model.eval()
    h, c = model.init_state(1)
    box = {"h": h, "c": c}

    @torch.no_grad()
    def step(b: int) -> np.ndarray:
        logits, box["h"], box["c"] = model.step(torch.tensor([b]), box["h"], box["c"])
        return logits[0].double().numpy()

    return _BoxStepper(step, box)


def _artifact_stepper(art_dir: Path) -> _BoxStepper:
    """A step function over an artifact's char.onnx (onnxruntime, no torch)."""
    import onnxruntime as ort

    manifest = json.loads((art_dir / "manifest.json").read_text(encoding="utf-8"))
    meta = manifest.get("models", {}).get("char")
    onnx_path = art_dir / "char.onnx"
    if meta is None or not onnx_path.exists():
        raise SampleError(f"the artifact {art_dir} has no char model (char.onnx)")
    sess = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    layers, hidden = int(meta["layers"]), int(meta["hidden"])
    box = {"h": np.zeros((layers, 1, hidden), np.float32), "c": np.zeros((layers, 1, hidden), np.float32)}

    def step(b: int) -> np.ndarray:
        logits, box["h"], box["c"] = sess.run(["logits", "h_out", "c_out"],
                                              {"byte": np.array([b], np.int64), "h": box["h"], "c": box["c"]})
        return logits[0].astype(np.float64)

    return _BoxStepper(step, box)


def stepper_for(path: Path | str) -> _BoxStepper:
    """The byte stepper of an artifact folder (onnxruntime) or of a char training run (torch)."""
    path = Path(path)
    if not path.exists():
        raise SampleError(f"model path {path} does not exist")
    return _artifact_stepper(path) if (path / "manifest.json").exists() else _run_stepper(path)


def sample_from_path(path: Path | str, prefix: str, *, temperature: float = 0.8, top_k: int = 0,
                     max_chars: int = 400, seed: int = 0, lang: str | None = None, attempts: int = 8):
    """Generated continuation of `prefix` (text only, without the prefix).

    With `lang` ("cpp" or "javascript") the text is generated line by line with the syntax check of
    `codecomp.engine.generate.sample_lines` (at most `attempts` samples per line); without it, byte by byte."""
    step = stepper_for(path)
    if lang is not None:
        from codecomp.engine.generate import sample_lines

        if temperature <= 0:
            raise SampleError("--temperature must be greater than 0")
        if max_chars < 0 or top_k < 0 or attempts < 1:
            raise SampleError("--max-chars and --top-k must not be negative, --attempts must be at least 1")
        data, _ = sample_lines(step, prefix.encode("utf-8"), lang, temperature=temperature, top_k=top_k,
                               max_chars=max_chars, seed=seed, attempts=attempts)
    else:
        data = sample_bytes(step, prefix.encode("utf-8"), temperature=temperature, top_k=top_k,
                            max_chars=max_chars, seed=seed)
    return data.decode("utf-8", errors="replace")
