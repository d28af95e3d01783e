"""ONNX export of the bidirectional Tree-LSTM naming model, with a parity check against PyTorch.

The engine runs the level loop itself (numpy, codecomp/engine/naming.py), so only the cells are exported:

* `naming_up.onnx`: embeddings + child-sum cell for the nodes of one height.
  inputs `node_type` int64[n], `token` int64[n], `child_h` [m,H], `child_c` [m,H], `child_slot` int64[m]
  (the row of each child's parent among the n nodes); outputs `h`, `c` [n,H];
* `naming_down.onnx`: top-down cell for the nodes of one depth.
  inputs `h_up` [n,H], `h_parent` [n,H], `c_parent` [n,H]; outputs `h`, `c` [n,H];
* `naming_head.onnx`: pooling of one symbol's occurrence states and the heads.
  input `occ_states` [S,2H]; outputs `name_logits` [1,V], `style_logits` [1,S], `dec_h0` [1,Hd], `code` [1,C];
* `naming_decoder.onnx`: one sub-token decoder step.
  inputs `prev` int64[B], `h` [B,Hd], `ctx` [B,C]; outputs `logits` [B,Vs], `h_out` [B,Hd];
* `naming_vocab.json`: the vocabularies and preprocessing settings (`codecomp.naming.vocab.NamingVocab`).

Parity: random inputs through each graph, and real examples through the whole numpy level loop + beam search
inputs, compared with PyTorch; the largest absolute difference must stay within `PARITY_TOLERANCE`.
"""
from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from codecomp.naming.trees import NamingExample, batch_examples
from codecomp.naming.vocab import GRAPH_FILES, VOCAB_FILE, NamingVocab
from training.models.tree_lstm import BiTreeLSTM, batch_to_tensors, load_run

PARITY_TOLERANCE = 1e-4
OPSET = 17


class NamingExportError(Exception):
    """The naming model cannot be exported; the message says why."""


class _Up(nn.Module):
    def __init__(self, model: BiTreeLSTM) -> None:
        super().__init__()
        self.embed, self.cell = model.embed, model.up

    def forward(self, node_type, token, child_h, child_c, child_slot):
        return self.cell(self.cell.w(self.embed(node_type, token)), child_h, child_c, child_slot)


class _Down(nn.Module):
    def __init__(self, model: BiTreeLSTM) -> None:
        super().__init__()
        self.cell = model.down

    def forward(self, h_up, h_parent, c_parent):
        return self.cell(self.cell.w(h_up), h_parent, c_parent)


class _Head(nn.Module):
    def __init__(self, model: BiTreeLSTM) -> None:
        super().__init__()
        self.head = model.head

    def forward(self, occ_states):
        # The same pooling as NameHead.forward for a single symbol: mean and max over its occurrences.
        pooled = torch.cat([occ_states.mean(dim=0, keepdim=True), occ_states.amax(dim=0, keepdim=True)], dim=1)
        return self.head.from_pooled(pooled)


class _Decoder(nn.Module):
    def __init__(self, model: BiTreeLSTM) -> None:
        super().__init__()
        self.decoder = model.decoder

    def forward(self, prev, h, ctx):
        return self.decoder(prev, h, ctx)


def _export(module: nn.Module, args: tuple, path: Path, inputs: list[str], outputs: list[str],
            dynamic: dict[str, dict[int, str]]) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            torch.onnx.export(module, args, str(path), input_names=inputs, output_names=outputs,
                              dynamic_axes=dynamic, opset_version=OPSET, dynamo=False, do_constant_folding=True)
        except Exception as exc:  # the exporter raises many kinds of errors
            raise NamingExportError(f"ONNX export of {path.name} failed: {exc}") from None


def _session(path: Path):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.log_severity_level = 3
    return ort.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"])


def export_graphs(model: BiTreeLSTM, vocab: NamingVocab, out_dir: Path) -> dict[str, str]:
    """Write the four graphs and the vocabulary into `out_dir`; returns {role: file name}."""
    model = model.float().eval().cpu()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    H, Hd, C = model.config.hidden, model.config.dec_hidden, model.config.code
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        _export(_Up(model), (torch.tensor([1, 2, 3]), torch.tensor([0, 4, 2]), torch.randn(4, H, generator=g),
                             torch.randn(4, H, generator=g), torch.tensor([0, 0, 2, 1])),
                out_dir / GRAPH_FILES["up"], ["node_type", "token", "child_h", "child_c", "child_slot"], ["h", "c"],
                {"node_type": {0: "n"}, "token": {0: "n"}, "child_h": {0: "m"}, "child_c": {0: "m"},
                 "child_slot": {0: "m"}, "h": {0: "n"}, "c": {0: "n"}})
        _export(_Down(model), (torch.randn(3, H, generator=g), torch.randn(3, H, generator=g),
                               torch.randn(3, H, generator=g)),
                out_dir / GRAPH_FILES["down"], ["h_up", "h_parent", "c_parent"], ["h", "c"],
                {"h_up": {0: "n"}, "h_parent": {0: "n"}, "c_parent": {0: "n"}, "h": {0: "n"}, "c": {0: "n"}})
        _export(_Head(model), (torch.randn(3, 2 * H, generator=g),), out_dir / GRAPH_FILES["head"],
                ["occ_states"], ["name_logits", "style_logits", "dec_h0", "code"], {"occ_states": {0: "s"}})
        _export(_Decoder(model), (torch.tensor([2, 5]), torch.randn(2, Hd, generator=g),
                                  torch.randn(2, C, generator=g)),
                out_dir / GRAPH_FILES["decoder"], ["prev", "h", "ctx"], ["logits", "h_out"],
                {"prev": {0: "b"}, "h": {0: "b"}, "ctx": {0: "b"}, "logits": {0: "b"}, "h_out": {0: "b"}})
    vocab.save(out_dir / VOCAB_FILE)
    return dict(GRAPH_FILES)


def _max_diff(a: Any, b: Any) -> float:
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return float(np.abs(a - b).max()) if a.size else 0.0


def check_parity(model: BiTreeLSTM, out_dir: Path, examples: list[NamingExample] | None = None,
                 seed: int = 0) -> dict[str, float]:
    """Largest absolute differences between PyTorch and onnxruntime, per graph and for whole examples."""
    from codecomp.engine.naming import NameSuggester

    model = model.float().eval().cpu()
    out_dir = Path(out_dir)
    vocab = NamingVocab.load(out_dir / VOCAB_FILE)
    sessions = {role: _session(out_dir / name) for role, name in GRAPH_FILES.items()}
    rng = np.random.default_rng(seed)
    H, Hd, C = model.config.hidden, model.config.dec_hidden, model.config.code
    diffs: dict[str, float] = {}
    with torch.no_grad():
        n, m = 7, 9
        nt = rng.integers(0, vocab.num_node_types, n)
        tk = rng.integers(0, len(vocab.tokens), n)
        ch, cc = rng.standard_normal((m, H)).astype(np.float32), rng.standard_normal((m, H)).astype(np.float32)
        slot = rng.integers(0, n, m)
        ref = _Up(model)(*(torch.from_numpy(a) for a in (nt, tk, ch, cc, slot)))
        got = sessions["up"].run(None, {"node_type": nt, "token": tk, "child_h": ch, "child_c": cc, "child_slot": slot})
        diffs["up"] = max(_max_diff(r.numpy(), o) for r, o in zip(ref, got))
        # A level of leaves has no children at all.
        got0 = sessions["up"].run(None, {"node_type": nt, "token": tk, "child_h": ch[:0], "child_c": cc[:0],
                                         "child_slot": slot[:0]})
        ref0 = _Up(model)(torch.from_numpy(nt), torch.from_numpy(tk), torch.zeros(0, H), torch.zeros(0, H),
                          torch.zeros(0, dtype=torch.long))
        diffs["up_leaves"] = max(_max_diff(r.numpy(), o) for r, o in zip(ref0, got0))
        hu, hp, cp = (rng.standard_normal((n, H)).astype(np.float32) for _ in range(3))
        ref = _Down(model)(torch.from_numpy(hu), torch.from_numpy(hp), torch.from_numpy(cp))
        got = sessions["down"].run(None, {"h_up": hu, "h_parent": hp, "c_parent": cp})
        diffs["down"] = max(_max_diff(r.numpy(), o) for r, o in zip(ref, got))
        occ = np.tanh(rng.standard_normal((3, 2 * H))).astype(np.float32)
        ref = _Head(model)(torch.from_numpy(occ))
        got = sessions["head"].run(None, {"occ_states": occ})
        diffs["head"] = max(_max_diff(r.numpy(), o) for r, o in zip(ref, got))
        prev = rng.integers(0, len(vocab.subtokens), 4)
        h = rng.standard_normal((4, Hd)).astype(np.float32)
        ctx = rng.standard_normal((4, C)).astype(np.float32)
        ref = _Decoder(model)(torch.from_numpy(prev), torch.from_numpy(h), torch.from_numpy(ctx))
        got = sessions["decoder"].run(None, {"prev": prev, "h": h, "ctx": ctx})
        diffs["decoder"] = max(_max_diff(r.numpy(), o) for r, o in zip(ref, got))
        # Whole examples: the engine's numpy level loop against the PyTorch forward pass.
        if examples:
            suggester = NameSuggester(vocab, sessions)
            worst = 0.0
            for ex in examples:
                batch = batch_examples([ex])
                tb = batch_to_tensors(batch)
                ref_up, ref_dn = model.encode(tb)
                got_up, got_dn = suggester.encode(batch)
                worst = max(worst, _max_diff(ref_up.numpy(), got_up), _max_diff(ref_dn.numpy(), got_dn))
                ref_heads = model(tb)
                states = np.concatenate([got_up[batch.occ], got_dn[batch.occ]], axis=1).astype(np.float32)
                got_heads = sessions["head"].run(None, {"occ_states": states})
                worst = max(worst, max(_max_diff(r.numpy(), o) for r, o in zip(ref_heads, got_heads)))
            diffs["examples"] = worst
            diffs["num_examples"] = float(len(examples))
    return diffs


def export_naming(run_dir: str | Path, artifact_dir: str | Path, corpus: str | Path | None = None,
                  parity_examples: int = 8) -> dict[str, Any]:
    """Export the naming model of a `codecomp train tree` run into `artifact_dir`; return its manifest section.

    Parity is checked on random inputs and, when the run's corpus (or `corpus`) is readable, on real examples of
    its valid split; a difference above `PARITY_TOLERANCE` raises `NamingExportError`.
    """
    from training.loop import TrainingError

    try:
        model, vocab, config_doc = load_run(run_dir)
    except (TrainingError, OSError, KeyError, ValueError) as exc:
        raise NamingExportError(f"cannot load the naming run {run_dir}: {exc}") from None
    out = Path(artifact_dir)
    files = export_graphs(model, vocab, out)
    examples = _parity_examples(corpus or config_doc.get("corpus"), vocab, parity_examples)
    parity = check_parity(model, out, examples)
    worst = max(v for k, v in parity.items() if k != "num_examples")
    if not worst <= PARITY_TOLERANCE:
        for name in list(files.values()) + [VOCAB_FILE]:
            (out / name).unlink(missing_ok=True)
        raise NamingExportError(f"the exported naming graphs differ from PyTorch by {worst:.2e} "
                                f"(> {PARITY_TOLERANCE}); details: {parity}")
    cfg = model.config
    return {
        "kind": "bi-tree-lstm",
        "graphs": files,
        "vocab": VOCAB_FILE,
        "hidden": cfg.hidden,
        "dec_hidden": cfg.dec_hidden,
        "code": cfg.code,
        "max_nodes": cfg.max_nodes,
        "max_subtokens": cfg.max_subtokens,
        "names": len(vocab.names),
        "subtokens": len(vocab.subtokens),
        "tokens": len(vocab.tokens),
        "languages": sorted(vocab.node_types),
        "parity": parity,
        "parity_tolerance": PARITY_TOLERANCE,
    }


def _parity_examples(corpus: str | Path | None, vocab: NamingVocab, count: int) -> list[NamingExample]:
    """A few real examples of the corpus' valid (or train) split; empty when the corpus is not readable."""
    if not corpus or count <= 0:
        return []
    from codecomp.naming.data import NamingDataError, NamingDataset

    for split in ("valid", "train"):
        try:
            data = NamingDataset.from_corpus(corpus, split)
        except (NamingDataError, OSError):
            continue
        if len(data):
            return [data.example(i, vocab) for i in range(min(count, len(data)))]
    return []

