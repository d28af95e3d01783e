"""`codecomp export`: trained runs -> an ONNX artifact the torch-free engine serves (docs/design.md, section 4).

For each `--run` folder (written by `codecomp train`), the kind of model is read from its `config.json`:

* token: the one-token `step` graph (`token.onnx`) plus `token_encode.onnx`, which reads a whole chunk of tokens
  in one call (the engine uses it to catch up on many tokens at once, e.g. on the first request in a file), and
  the vocabulary as `token_vocab.json`.  The two graphs hold the same weights, so these are written once, to
  `token_weights.bin`, which both graphs reference as ONNX external data (`share_weights`);
* char: the byte-level `step` graph (`char.onnx`);
* tree: delegated to `training.export_naming.export_naming(run_dir, artifact_dir)`, which writes its graphs and
  returns the manifest section of the naming model.

Every graph is checked against PyTorch right after export (random and real inputs; the largest absolute
difference must stay within `PARITY_TOLERANCE`) and the measured differences are stored in the manifest.
`--quantize int8` additionally applies onnxruntime dynamic int8 quantisation to the token and char graphs and
records how much their predictions move (top-1 agreement and, with `--corpus`, next-token accuracy on held-out
files before and after).  The artifact is assembled in a temporary folder and moved into place at the end, so an
interrupted export never leaves a half artifact behind.
"""
from __future__ import annotations

import json
import math
import platform
import shutil
import time
from dataclasses import fields
from pathlib import Path
from typing import Any, Optional

import numpy as np
import typer

# The encode graph is compared with stepping over chunks of at most this many tokens (a catch-up read).
ENCODE_PARITY_TOKENS = 128
PARITY_TOLERANCE = 1e-4
TOKEN_WEIGHTS = "token_weights.bin"
# Initializers at least this large move to the shared weights file; smaller ones (shapes, scalars) stay inline.
SHARE_MIN_BYTES = 1024
# Offsets in the weights file are multiples of this, so each tensor's data is aligned for direct use.
SHARE_ALIGN = 64
OPSET = 17
TOKEN_OUTPUTS = ["logits", "h_out", "c_out", "key", "query", "gate"]
ENCODE_OUTPUTS = ["h_out", "c_out", "keys", "logits", "query", "gate"]


class ExportError(Exception):
    """The export cannot proceed; the message says why."""


# ---------------------------------------------------------------------------------------------------------------
# Runs
# ---------------------------------------------------------------------------------------------------------------


def read_run(run_dir: Path) -> dict[str, Any]:
    """The `config.json` of a run folder, with readable errors."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise ExportError(f"the run folder {run_dir} does not exist; train one with `codecomp train`")
    path = run_dir / "config.json"
    if not path.is_file():
        raise ExportError(f"{run_dir} has no config.json, so it is not a training run folder")
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ExportError(f"{path} is not valid JSON ({exc})") from None
    if config.get("task") not in ("char", "token", "tree"):
        raise ExportError(f"{path} names the model {config.get('task')!r}; expected char, token or tree")
    return config


def checkpoint_path(run_dir: Path, which: str = "best") -> Path:
    """`ckpt-best.pt` (or `ckpt-last.pt` when asked or when no best exists yet)."""
    best, last = run_dir / "ckpt-best.pt", run_dir / "ckpt-last.pt"
    if which == "best" and best.is_file():
        return best
    if last.is_file():
        return last
    raise ExportError(f"{run_dir} has no checkpoint (ckpt-best.pt or ckpt-last.pt); train it first")


def _config_from(cls, values: dict[str, Any]):
    """Build a config dataclass from a stored dict, ignoring keys this version does not know."""
    names = {f.name for f in fields(cls)}
    return cls(**{k: v for k, v in (values or {}).items() if k in names})


def load_token_model(run_dir: Path, config: dict[str, Any], which: str = "best"):
    """The trained `TokenLSTM` of a run, in eval mode, and its vocabulary."""
    import torch

    from training.loop import load_checkpoint
    from training.models.token_lstm import TokenLSTM, TokenLSTMConfig
    from training.vocab import Vocab

    info = config.get("task_info", {})
    vocab_path = run_dir / "vocab.json"
    if not vocab_path.is_file():
        raise ExportError(f"{run_dir} has no vocab.json; the token run is incomplete")
    vocab = Vocab.load(vocab_path)
    model_cfg = _config_from(TokenLSTMConfig, info.get("config", {}))
    model = TokenLSTM(model_cfg, len(vocab))
    state = load_checkpoint(checkpoint_path(run_dir, which))
    try:
        model.load_state_dict(state["model"] if "model" in state else state)
    except RuntimeError as exc:
        raise ExportError(f"the checkpoint of {run_dir} does not fit its config.json ({exc})") from None
    model.eval()
    return model, vocab


def load_char_model(run_dir: Path, config: dict[str, Any], which: str = "best"):
    """The trained `CharLSTM` of a run, in eval mode."""
    import torch

    from training.loop import load_checkpoint
    from training.models.char_lstm import CharLSTM, CharLSTMConfig

    model_cfg = _config_from(CharLSTMConfig, config.get("task_info", {}).get("config", {}))
    model = CharLSTM(model_cfg)
    state = load_checkpoint(checkpoint_path(run_dir, which))
    try:
        model.load_state_dict(state["model"] if "model" in state else state)
    except RuntimeError as exc:
        raise ExportError(f"the checkpoint of {run_dir} does not fit its config.json ({exc})") from None
    model.eval()
    return model


# ---------------------------------------------------------------------------------------------------------------
# Graph wrappers
# ---------------------------------------------------------------------------------------------------------------


def _wrappers():
    """torch.nn wrappers defined lazily so that importing this module does not import torch."""
    import torch
    from torch import nn

    class Step(nn.Module):
        """A model's `step` as the graph: token/byte int64 [B], h, c -> the step outputs (design section 4)."""

        def __init__(self, model) -> None:
            super().__init__()
            self.model = model

        def forward(self, ids, h, c):
            return self.model.step(ids, h, c)

    class TokenEncode(nn.Module):
        """tokens int64 [B, T], h, c -> h_out, c_out, keys [B, T, K], and the step outputs of the last position.

        Equal to T calls of `step` (tested), but one LSTM kernel: the engine's way to read many tokens at once.
        """

        def __init__(self, model) -> None:
            super().__init__()
            self.model = model

        def forward(self, tokens, h, c):
            m = self.model
            e = m.emb(tokens)
            y, (h2, c2) = m.lstm(e, (h, c))
            keys = m.key(torch.cat([y, e], dim=-1))
            logits, _key, query, gate_logit = m._heads(y[:, -1], e[:, -1])
            return h2, c2, keys, logits, query, torch.sigmoid(gate_logit)

    return Step, TokenEncode


def _onnx_export(module, args: tuple, path: Path, input_names: list[str], output_names: list[str],
                 dynamic_axes: dict[str, dict[int, str]]) -> None:
    """torch.onnx.export with dynamic axes; the TorchScript exporter first (fast, exact LSTM op), dynamo second."""
    import warnings

    import torch

    # The wrapper must be in eval mode too, or dropout between LSTM layers is exported.
    module.eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            torch.onnx.export(module, args, str(path), input_names=input_names, output_names=output_names,
                              dynamic_axes=dynamic_axes, opset_version=OPSET, dynamo=False, do_constant_folding=True)
            return
        except Exception as legacy_exc:  # the legacy exporter may be unavailable in a later torch
            first = legacy_exc
        try:
            from torch.export import Dim

            dims: dict[str, Any] = {}
            named = {}
            for name, axes in dynamic_axes.items():
                if name in input_names:
                    dims[name] = {ax: named.setdefault(label, Dim(label)) for ax, label in axes.items()}
            torch.onnx.export(module, args, str(path), input_names=input_names, output_names=output_names,
                              dynamic_shapes=dims, opset_version=OPSET, dynamo=True, external_data=False)
        except Exception as exc:
            raise ExportError(f"ONNX export of {path.name} failed ({first}; then {exc})") from None


def _session(path: Path):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.log_severity_level = 3
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def _max_diff(a_list, b_list) -> float:
    return max(float(np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64)).max()) for a, b in zip(a_list, b_list))


# ---------------------------------------------------------------------------------------------------------------
# Token model
# ---------------------------------------------------------------------------------------------------------------


def sample_sequences(vocab_size: int, count: int = 4, length: int = 48, seed: int = 0,
                     real: list[list[int]] | None = None) -> list[np.ndarray]:
    """Token id sequences for parity checks: random ids, plus real files' ids when given."""
    rng = np.random.default_rng(seed)
    seqs = [rng.integers(0, vocab_size, size=length, dtype=np.int64) for _ in range(count)]
    for ids in real or []:
        if len(ids) > 1:
            seqs.append(np.asarray(ids[:length], dtype=np.int64))
    return seqs


def token_parity(model, step_path: Path, encode_path: Path | None, seqs: list[np.ndarray], seed: int = 0
                 ) -> dict[str, float]:
    """Largest |ONNX - PyTorch| over random states (batch 3) and over stepping through each sequence."""
    import torch

    cfg = model.config
    rng = np.random.default_rng(seed)
    sess = _session(step_path)
    L, H = cfg.layers, cfg.hidden
    worst_random = 0.0
    for _ in range(3):
        tok = rng.integers(0, model.vocab_size, size=3, dtype=np.int64)
        h = rng.standard_normal((L, 3, H)).astype(np.float32) * 0.5
        c = rng.standard_normal((L, 3, H)).astype(np.float32) * 0.5
        ours = sess.run(None, {"token": tok, "h": h, "c": c})
        ref = [t.numpy() for t in model.step(torch.from_numpy(tok), torch.from_numpy(h), torch.from_numpy(c))]
        worst_random = max(worst_random, _max_diff(ours, ref))
    worst_seq = 0.0
    worst_encode = 0.0
    worst_drift = 0.0
    enc = _session(encode_path) if encode_path is not None else None
    for seq in seqs:
        h = np.zeros((L, 1, H), np.float32)
        c = np.zeros((L, 1, H), np.float32)
        th, tc = torch.from_numpy(h), torch.from_numpy(c)
        keys_onnx = []
        for tok in seq:
            # Each step is compared from the SAME input state (PyTorch's), so the figure is the graph's own
            # error; the drift of two independent float32 recurrences over a long file is reported apart.
            ours = sess.run(None, {"token": np.array([tok], np.int64), "h": th.numpy(), "c": tc.numpy()})
            free = sess.run(None, {"token": np.array([tok], np.int64), "h": h, "c": c})
            ref = model.step(torch.tensor([int(tok)]), th, tc)
            worst_seq = max(worst_seq, _max_diff(ours, [t.numpy() for t in ref]))
            worst_drift = max(worst_drift, _max_diff(free, [t.numpy() for t in ref]))
            h, c, th, tc = free[1], free[2], ref[1], ref[2]
            keys_onnx.append(free[3][0])
            ours = free
        if enc is not None and len(seq) <= ENCODE_PARITY_TOKENS:
            zeros = np.zeros((L, 1, H), np.float32)
            e_out = enc.run(None, {"tokens": seq[None, :], "h": zeros, "c": zeros})
            # the chunk graph must agree with stepping the step graph token by token
            worst_encode = max(worst_encode, _max_diff([e_out[0], e_out[1], e_out[2][0], e_out[3], e_out[4], e_out[5]],
                                                       [h, c, np.stack(keys_onnx), ours[0], ours[4], ours[5]]))
    return {"random_max_abs_diff": worst_random, "sequence_max_abs_diff": worst_seq,
            "encode_max_abs_diff": worst_encode}, {"sequence_drift_max_abs_diff": worst_drift}


def export_token(run_dir: Path, out: Path, config: dict[str, Any], real_ids: list[list[int]] | None = None,
                 which: str = "best") -> dict[str, Any]:
    """Export a token run into `out`; returns its manifest section."""
    import torch

    model, vocab = load_token_model(run_dir, config, which)
    Step, TokenEncode = _wrappers()
    cfg = model.config
    L, H = cfg.layers, cfg.hidden
    h = torch.zeros(L, 2, H)
    c = torch.zeros(L, 2, H)
    step_path = out / "token.onnx"
    _onnx_export(Step(model), (torch.tensor([2, 3]), h, c), step_path, ["token", "h", "c"], TOKEN_OUTPUTS,
                 {"token": {0: "batch"}, "h": {1: "batch"}, "c": {1: "batch"}, "logits": {0: "batch"},
                  "h_out": {1: "batch"}, "c_out": {1: "batch"}, "key": {0: "batch"}, "query": {0: "batch"},
                  "gate": {0: "batch"}})
    encode_path = out / "token_encode.onnx"
    _onnx_export(TokenEncode(model), (torch.tensor([[2, 3, 4], [5, 6, 7]]), h, c), encode_path,
                 ["tokens", "h", "c"], ENCODE_OUTPUTS,
                 {"tokens": {0: "batch", 1: "time"}, "h": {1: "batch"}, "c": {1: "batch"}, "h_out": {1: "batch"},
                  "c_out": {1: "batch"}, "keys": {0: "batch", 1: "time"}, "logits": {0: "batch"},
                  "query": {0: "batch"}, "gate": {0: "batch"}})
    shutil.copyfile(run_dir / "vocab.json", out / "token_vocab.json")
    masks_section = _export_language_masks(run_dir, out, vocab)
    parity, drift = token_parity(model, step_path, encode_path, sample_sequences(len(vocab), real=real_ids))
    worst = max(parity.values())
    if not worst <= PARITY_TOLERANCE:
        raise ExportError(f"the exported token graph differs from PyTorch by {worst:.2e} (> {PARITY_TOLERANCE}; "
                          f"{parity}); the export is not trustworthy")
    languages = config.get("task_info", {}).get("languages") or config.get("languages")
    return {"file": "token.onnx", "encode_file": "token_encode.onnx", "vocab": "token_vocab.json",
            "layers": L, "hidden": H, "embed": cfg.embed, "key_dim": cfg.key_dim, "memory": cfg.memory,
            "vocab_size": len(vocab), "languages": languages or ["cpp", "javascript"], "parity": parity,
            # informational: two float32 recurrences run apart over a whole file
            "drift": drift,
            "dtype": "float32", **masks_section}


def _export_language_masks(run_dir: Path, out: Path, vocab) -> dict[str, Any]:
    """Copy the run's per-language masks into the artifact; returns the manifest keys that name them.

    The engine bans, for a document of language L, the words not seen in L's training files (the training
    loss did the same).  A run without masks (one language, or trained before masks existed) exports none,
    which the engine reads as "no masking".
    """
    from training.vocab import LANGUAGES_FILE, LanguageMasks

    path = run_dir / LANGUAGES_FILE
    if not path.is_file():
        return {}
    masks = LanguageMasks.load(path)
    if masks.vocab_digest != vocab.digest():
        raise ExportError(f"{path} was built for another vocabulary than {run_dir / 'vocab.json'}; "
                          "the run folder is inconsistent")
    shutil.copyfile(path, out / "token_languages.json")
    return {"language_masks": "token_languages.json"}


def share_weights(folder: Path, graphs: list[str], weights_name: str) -> dict[str, Any]:
    """Move the large initializers of self-contained `graphs` (file names in `folder`) into one external-data file.

    Identical tensors (by content, whatever their names) are stored once, so graphs exported from the same
    weights, such as the token step and chunk graphs (float32 or int8 alike), share a single copy.  Each graph
    keeps its own nodes and small constants and refers to the file by a plain name next to it, which
    onnxruntime resolves relative to the graph.  Returns the sizes before and after, for the manifest.
    """
    import hashlib

    import onnx
    from onnx import numpy_helper
    from onnx.external_data_helper import set_external_data

    before = {g: (folder / g).stat().st_size for g in graphs}
    offsets: dict[bytes, tuple[int, int]] = {}    # content digest -> (offset, length) in the weights file
    with open(folder / weights_name, "wb") as blob:
        for name in graphs:
            model = onnx.load(str(folder / name))
            for tensor in model.graph.initializer:
                array = numpy_helper.to_array(tensor)
                if array.nbytes < SHARE_MIN_BYTES or array.dtype == object:
                    continue
                raw = np.ascontiguousarray(array).astype(array.dtype.newbyteorder("<"), copy=False).tobytes()
                digest = hashlib.sha256(raw + str((array.dtype.str, array.shape)).encode()).digest()
                if digest not in offsets:
                    pad = -blob.tell() % SHARE_ALIGN
                    blob.write(b"\0" * pad)
                    offsets[digest] = (blob.tell(), len(raw))
                    blob.write(raw)
                offset, length = offsets[digest]
                replacement = numpy_helper.from_array(array, tensor.name)
                set_external_data(replacement, weights_name, offset, length)
                replacement.ClearField("raw_data")
                tensor.CopyFrom(replacement)
            # serialised as is: onnx.save would try to write the external data itself
            (folder / name).write_bytes(model.SerializeToString())
    after = {g: (folder / g).stat().st_size for g in graphs}
    return {"graph_bytes_inline": sum(before.values()), "graph_bytes_shared": sum(after.values()),
            "weights_bytes": (folder / weights_name).stat().st_size, "shared_tensors": len(offsets)}


def check_shared_token_graphs(folder: Path, reference: dict[str, list[np.ndarray]], inputs: dict[str, dict]
                              ) -> float:
    """Largest difference between the graphs' outputs after `share_weights` and `reference` (taken before)."""
    worst = 0.0
    for name, feed in inputs.items():
        worst = max(worst, _max_diff(_session(folder / name).run(None, feed), reference[name]))
    return worst


def _token_probe_inputs(section: dict[str, Any]) -> dict[str, dict[str, np.ndarray]]:
    """A fixed input for each token graph, to check that moving the weights changed no number."""
    rng = np.random.default_rng(0)
    L, H, V = section["layers"], section["hidden"], section["vocab_size"]
    h = rng.standard_normal((L, 2, H)).astype(np.float32) * 0.5
    c = rng.standard_normal((L, 2, H)).astype(np.float32) * 0.5
    return {section["file"]: {"token": rng.integers(0, V, size=2, dtype=np.int64), "h": h, "c": c},
            section["encode_file"]: {"tokens": rng.integers(0, V, size=(2, 5), dtype=np.int64), "h": h, "c": c}}


def share_token_weights(folder: Path, section: dict[str, Any]) -> dict[str, Any]:
    """Write the token graphs' weights once (`TOKEN_WEIGHTS`) and check that both graphs still give the same
    numbers; returns the manifest keys to add to the token section."""
    probes = _token_probe_inputs(section)
    reference = {name: _session(folder / name).run(None, feed) for name, feed in probes.items()}
    sizes = share_weights(folder, [section["file"], section["encode_file"]], TOKEN_WEIGHTS)
    worst = check_shared_token_graphs(folder, reference, probes)
    if not worst <= 1e-6:
        raise ExportError(f"the token graphs give other numbers once their weights are shared ({worst:.2e})")
    return {"weights": TOKEN_WEIGHTS, "weights_sharing": sizes}


# ---------------------------------------------------------------------------------------------------------------
# Char model
# ---------------------------------------------------------------------------------------------------------------


def char_parity(model, path: Path, samples: list[bytes], seed: int = 0) -> dict[str, float]:
    """Largest |ONNX - PyTorch| for random states and for stepping through byte strings."""
    import torch

    cfg = model.config
    rng = np.random.default_rng(seed)
    sess = _session(path)
    L, H = cfg.layers, cfg.hidden
    worst_random = 0.0
    for _ in range(3):
        b = rng.integers(0, 259, size=3, dtype=np.int64)
        h = rng.standard_normal((L, 3, H)).astype(np.float32) * 0.5
        c = rng.standard_normal((L, 3, H)).astype(np.float32) * 0.5
        ours = sess.run(None, {"byte": b, "h": h, "c": c})
        ref = [t.numpy() for t in model.step(torch.from_numpy(b), torch.from_numpy(h), torch.from_numpy(c))]
        worst_random = max(worst_random, _max_diff(ours, ref))
    worst_seq = 0.0
    for text in samples:
        h = np.zeros((L, 1, H), np.float32)
        c = np.zeros((L, 1, H), np.float32)
        th, tc = torch.from_numpy(h), torch.from_numpy(c)
        for b in text[:64]:
            ours = sess.run(None, {"byte": np.array([b], np.int64), "h": h, "c": c})
            ref = model.step(torch.tensor([b]), th, tc)
            worst_seq = max(worst_seq, _max_diff(ours, [t.numpy() for t in ref]))
            h, c, th, tc = ours[1], ours[2], ref[1], ref[2]
    return {"random_max_abs_diff": worst_random, "sequence_max_abs_diff": worst_seq}


def export_char(run_dir: Path, out: Path, config: dict[str, Any], samples: list[bytes] | None = None,
                which: str = "best") -> dict[str, Any]:
    """Export a char run into `out`; returns its manifest section."""
    import torch

    model = load_char_model(run_dir, config, which)
    Step, _ = _wrappers()
    cfg = model.config
    L, H = cfg.layers, cfg.hidden
    path = out / "char.onnx"
    _onnx_export(Step(model), (torch.tensor([65, 66]), torch.zeros(L, 2, H), torch.zeros(L, 2, H)), path,
                 ["byte", "h", "c"], ["logits", "h_out", "c_out"],
                 {"byte": {0: "batch"}, "h": {1: "batch"}, "c": {1: "batch"}, "logits": {0: "batch"},
                  "h_out": {1: "batch"}, "c_out": {1: "batch"}})
    default_samples = [b"int main() {\n  return 0;\n}\n", b"function f(a, b) { return a + b; }\n"]
    parity = char_parity(model, path, (samples or []) + default_samples)
    worst = max(parity.values())
    if not worst <= PARITY_TOLERANCE:
        raise ExportError(f"the exported char graph differs from PyTorch by {worst:.2e} (> {PARITY_TOLERANCE})")
    return {"file": "char.onnx", "layers": L, "hidden": H, "embed": cfg.embed, "vocab_size": 259,
            "specials": {"pad": 256, "bos": 257, "eos": 258}, "parity": parity, "dtype": "float32"}


# ---------------------------------------------------------------------------------------------------------------
# Quantisation
# ---------------------------------------------------------------------------------------------------------------


def quantize_graph(path: Path) -> Path:
    """Replace the float graph at `path` by its dynamic int8 version (weights int8, activations quantised on the
    fly); returns the path of the kept float copy (deleted by the caller)."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    import logging

    float_copy = path.with_name(path.stem + ".fp32.onnx")
    shutil.move(path, float_copy)
    logging.disable(logging.WARNING)  # onnxruntime suggests pre-processing for static (image) models: not ours
    try:
        quantize_dynamic(str(float_copy), str(path), weight_type=QuantType.QInt8)
    finally:
        logging.disable(logging.NOTSET)
    return float_copy


def next_token_accuracy(step_path: Path, seqs: list[np.ndarray], layers: int, hidden: int) -> tuple[float, np.ndarray]:
    """Top-1 accuracy of the vocabulary head on next-token prediction, and all logits (for agreement)."""
    sess = _session(step_path)
    hits, total = 0, 0
    all_logits = []
    for seq in seqs:
        h = np.zeros((layers, 1, hidden), np.float32)
        c = np.zeros((layers, 1, hidden), np.float32)
        for i in range(len(seq) - 1):
            out = sess.run(None, {"token": seq[i:i + 1], "h": h, "c": c})
            h, c = out[1], out[2]
            all_logits.append(out[0][0])
            hits += int(int(out[0][0].argmax()) == int(seq[i + 1]))
            total += 1
    return hits / max(1, total), np.stack(all_logits) if all_logits else np.zeros((0, 1))


def measure_quantization(float_path: Path, int8_path: Path, seqs: list[np.ndarray], layers: int, hidden: int
                         ) -> dict[str, float]:
    """How int8 changes the token model: accuracy before/after, top-1 agreement, mean |logit| change, sizes."""
    acc_f, logits_f = next_token_accuracy(float_path, seqs, layers, hidden)
    acc_q, logits_q = next_token_accuracy(int8_path, seqs, layers, hidden)
    agree = float((logits_f.argmax(-1) == logits_q.argmax(-1)).mean()) if len(logits_f) else math.nan
    return {"float_next_token_acc": acc_f, "int8_next_token_acc": acc_q, "acc_change": acc_q - acc_f,
            "top1_agreement": agree, "mean_abs_logit_change": float(np.abs(logits_f - logits_q).mean()),
            "float_bytes": float_path.stat().st_size, "int8_bytes": int8_path.stat().st_size,
            "positions": int(len(logits_f))}


# ---------------------------------------------------------------------------------------------------------------
# Held-out data for checks
# ---------------------------------------------------------------------------------------------------------------


def held_out_files(corpus: Path | None, limit: int = 8) -> list[dict[str, Any]]:
    """A few rows of the corpus test split (valid if test is empty) for parity and quantisation checks."""
    if corpus is None:
        return []
    from training.data import load_corpus

    c = load_corpus(corpus)
    for split in ("test", "valid"):
        try:
            ds = c.split(split)
        except Exception:
            continue
        if len(ds):
            n = min(limit, len(ds))
            return [ds[i] for i in range(n)]
    return []


# ---------------------------------------------------------------------------------------------------------------
# Orchestration
# ---------------------------------------------------------------------------------------------------------------


def export_runs(runs: list[Path], out: Path, quantize: str | None = None, corpus: Path | None = None,
                which: str = "best", log=print) -> dict[str, Any]:
    """Export every run into one artifact at `out` (replacing an artifact already there); returns the manifest."""
    from codecomp.artifact import MANIFEST, load, write_manifest

    if quantize not in (None, "int8"):
        raise ExportError(f"--quantize accepts only int8, not {quantize!r}")
    if not runs:
        raise ExportError("give at least one --run folder")
    configs = [(Path(r), read_run(Path(r))) for r in runs]
    kinds = [cfg["task"] for _, cfg in configs]
    for kind in set(kinds):
        if kinds.count(kind) > 1:
            raise ExportError(f"two {kind} runs given; an artifact holds one model of each kind")
    out = Path(out)
    if out.exists() and not (out / MANIFEST).is_file() and any(out.iterdir()):
        raise ExportError(f"{out} exists and is not an artifact folder; choose another --out or empty it")
    work = out.with_name(out.name + ".partial")
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    rows = held_out_files(corpus)
    models: dict[str, dict[str, Any]] = {}
    languages: set[str] = set()
    training: dict[str, Any] = {"runs": {}, "exported_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                                "hardware": {"machine": platform.machine(), "python": platform.python_version()}}
    import torch

    try:
        # no_grad for the whole export: parity checks run the models many times and need no autograd graph
        with torch.no_grad():
            _export_each(configs, work, rows, quantize, corpus, which, models, languages, training, log)
        if corpus is not None:
            stats = Path(corpus) / "stats.json"
            if stats.is_file():
                import hashlib

                training["corpus_stats_sha256"] = hashlib.sha256(stats.read_bytes()).hexdigest()
        manifest = write_manifest(work, models, sorted(languages), training)
        load(work)  # the artifact must pass the engine's own validation before it replaces anything
        if out.exists():
            shutil.rmtree(out)
        work.rename(out)
        return manifest
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise


def _export_each(configs, work: Path, rows, quantize, corpus, which: str, models: dict, languages: set,
                 training: dict, log) -> None:
    """Export every run into `work`, filling `models`, `languages` and `training` (see `export_runs`)."""
    for run_dir, cfg in configs:
        kind = cfg["task"]
        log(f"exporting the {kind} model of {run_dir}")
        if kind == "token":
            real_ids = _real_token_ids(run_dir, rows)
            section = export_token(run_dir, work, cfg, real_ids, which)
            if quantize == "int8":
                float_copy = quantize_graph(work / "token.onnx")
                seqs = sample_sequences(section["vocab_size"], count=2, length=64, real=real_ids)
                section["quantization"] = measure_quantization(float_copy, work / "token.onnx", seqs,
                                                               section["layers"], section["hidden"])
                section["dtype"] = "int8-dynamic"
                float_copy.unlink()
                # the chunk graph is quantised the same way, so both paths give (nearly) the same numbers
                quantize_graph(work / "token_encode.onnx").unlink()
                log(f"  int8: {json.dumps(section['quantization'])}")
            section.update(share_token_weights(work, section))
            log(f"  shared weights: {json.dumps(section['weights_sharing'])}")
        elif kind == "char":
            samples = [r["text"].encode("utf-8", "replace")[:256] for r in rows[:2]]
            section = export_char(run_dir, work, cfg, samples, which)
            if quantize == "int8":
                float_copy = quantize_graph(work / "char.onnx")
                section["quantization"] = {"float_bytes": float_copy.stat().st_size,
                                           "int8_bytes": (work / "char.onnx").stat().st_size}
                section["dtype"] = "int8-dynamic"
                float_copy.unlink()
        else:
            try:
                from training.export_naming import export_naming
            except ImportError as exc:
                raise ExportError(f"this build cannot export naming models ({exc})") from None
            section = export_naming(run_dir, work, corpus=corpus) if corpus else export_naming(run_dir, work)
            if not isinstance(section, dict):
                raise ExportError("the naming exporter returned no manifest section")
        log(f"  parity: {json.dumps(section.get('parity', {}))}")
        models["naming" if kind == "tree" else kind] = section
        languages.update(section.get("languages") or ["cpp", "javascript"])
        training["runs"][kind] = _run_summary(run_dir, cfg)


def _real_token_ids(run_dir: Path, rows: list[dict[str, Any]]) -> list[list[int]]:
    """Model ids of held-out files (for parity on real inputs and the quantisation measurement)."""
    if not rows:
        return []
    from training.vocab import BOS_ID, Vocab

    vocab = Vocab.load(run_dir / "vocab.json")
    return [[BOS_ID] + vocab.encode(r["tokens"], r["kinds"]).tolist() for r in rows if r.get("tokens")]


def _run_summary(run_dir: Path, cfg: dict[str, Any]) -> dict[str, Any]:
    """What the manifest records about a run: its config and its last metrics line."""
    summary: dict[str, Any] = {"config": cfg.get("task_info", {}), "train": cfg.get("train", {})}
    metrics = run_dir / "metrics.jsonl"
    if metrics.is_file():
        lines = [ln for ln in metrics.read_text(encoding="utf-8").splitlines() if ln.strip()]
        if lines:
            try:
                summary["last_metrics"] = json.loads(lines[-1])
            except json.JSONDecodeError:
                pass
    for key in ("corpus", "recipe", "device", "world_size"):
        if key in cfg:
            summary[key] = cfg[key]
    return summary


def export_command(
    run: list[Path] = typer.Option(..., "--run", help="A run folder from `codecomp train` (repeat for char, token, tree)."),
    out: Path = typer.Option(..., "--out", help="Artifact folder to write (an existing artifact there is replaced)."),
    quantize: Optional[str] = typer.Option(None, "--quantize", help="'int8': dynamic int8 quantisation of the graphs."),
    corpus: Optional[Path] = typer.Option(None, "--corpus", help="Corpus whose held-out files feed the parity and quantisation checks."),
    checkpoint: str = typer.Option("best", "--checkpoint", help="Which checkpoint to export: best or last."),
) -> None:
    """Export trained runs to an ONNX artifact: graphs, vocabularies, manifest with checksums, parity-checked.

    Example: codecomp export --run runs/token --run runs/char --out artifacts/model --quantize int8
    """
    if checkpoint not in ("best", "last"):
        typer.echo("codecomp export: --checkpoint must be best or last", err=True)
        raise typer.Exit(2)
    try:
        manifest = export_runs(list(run), out, quantize, corpus, checkpoint, log=lambda m: typer.echo(m, err=True))
    except ExportError as exc:
        typer.echo(f"codecomp export: {exc}", err=True)
        raise typer.Exit(1)
    except Exception as exc:  # training-side errors (TrainingError, VocabError) carry readable messages too
        if type(exc).__name__ in ("TrainingError", "VocabError", "ConfigError", "ArtifactError", "NamingError",
                                   "NamingExportError"):
            typer.echo(f"codecomp export: {exc}", err=True)
            raise typer.Exit(1)
        raise
    size = sum(p.stat().st_size for p in Path(out).iterdir() if p.is_file())
    typer.echo(f"wrote {out} ({', '.join(sorted(manifest['models']))}; {size / 1e6:.1f} MB)")
