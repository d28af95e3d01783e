"""Character-level (UTF-8 byte) LSTM language model and its training task.

The model reads bytes (ids 0..255) plus three specials (`PAD`, `BOS`, `EOS`); it generates code fragments and
whole lines.  `forward` is used for training; `step` is the one-token graph exported to ONNX (`char.onnx`,
docs/design.md section 4): ``step(byte[B], h[L,B,H], c[L,B,H]) -> (logits[B,259], h, c)``.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from training.data import (DocBatcher, Field, SequenceDataConfig, bits, eval_rows, load_corpus, text_bytes,
                           truncate_docs)
from training.loop import ConfigError, dataclass_from_dict
from training.models.dropout import FastDropout

PAD, BOS, EOS = 256, 257, 258
VOCAB_SIZE = 259
FIELDS = (Field("x", BOS, EOS, PAD),)


@dataclass
class CharLSTMConfig:
    """Shape of the char-LSTM (the `[model]` table of a char config)."""

    embed: int = 64
    hidden: int = 256
    layers: int = 1
    dropout: float = 0.1

    def validate(self) -> None:
        for name in ("embed", "hidden", "layers"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"[model].{name} must be positive")
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError("[model].dropout must be in [0, 1)")


class CharLSTM(nn.Module):
    """Embedding -> L-layer LSTM -> linear over the 259 byte symbols."""

    def __init__(self, config: CharLSTMConfig) -> None:
        super().__init__()
        config.validate()
        self.config = config
        self.emb = nn.Embedding(VOCAB_SIZE, config.embed)
        self.lstm = nn.LSTM(config.embed, config.hidden, config.layers, batch_first=True,
                            dropout=config.dropout if config.layers > 1 else 0.0)
        self.drop = FastDropout(config.dropout)
        self.out = nn.Linear(config.hidden, VOCAB_SIZE)

    def init_state(self, batch: int, device: torch.device | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Zero (h, c), each [L, B, H]."""
        shape = (self.config.layers, batch, self.config.hidden)
        dev = device or self.out.weight.device
        return torch.zeros(shape, device=dev), torch.zeros(shape, device=dev)

    def forward(self, x: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor] | None = None
                ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        """x: int64 [B, T] -> logits [B, T, 259] and the final (h, c)."""
        if state is None:
            state = self.init_state(x.shape[0], x.device)
        y, (h, c) = self.lstm(self.drop(self.emb(x)), state)
        return self.out(self.drop(y)), (h, c)

    def step(self, byte: torch.Tensor, h: torch.Tensor, c: torch.Tensor
             ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """One step for inference/export: byte int64 [B], h/c [L, B, H] -> (logits [B, 259], h, c)."""
        y, (h2, c2) = self.lstm(self.emb(byte).unsqueeze(1), (h, c))
        return self.out(y[:, 0]), h2, c2


@dataclass
class CharDataConfig(SequenceDataConfig):
    """The `[data]` table of a char config (items are bytes)."""

    seq_len: int = 128
    eval_max_items: int = 200_000
    eval_max_doc_items: int = 8192


class CharTask:
    """Training task for `CharLSTM` (see `training.loop.Task`): stateful truncated BPTT over byte streams."""

    name = "char"
    unit = "byte"

    def __init__(self, corpus: Path | str, sections: dict[str, Any], seed: int) -> None:
        unknown = sorted(set(sections) - {"model", "data"})
        if unknown:
            raise ConfigError(f"unknown config section(s) {unknown} for the char model; allowed: [model], [data], [train]")
        self.model_config: CharLSTMConfig = dataclass_from_dict(CharLSTMConfig, sections.get("model"), "model")
        self.model_config.validate()
        self.data: CharDataConfig = dataclass_from_dict(CharDataConfig, sections.get("data"), "data")
        self.data.validate()
        self.seed = seed
        self.corpus = load_corpus(corpus, languages=self.data.languages)
        self.train_docs = [{"x": text_bytes(r["text"])} for r in self.corpus.rows(
            "train", ["text"], self.data.max_train_items, "text", seed)]
        self.valid_docs = truncate_docs([{"x": text_bytes(r["text"])} for r in self.corpus.rows(
            "valid", ["text"], self.data.eval_max_items, "text", 0, self.data.eval_max_doc_items)],
            self.data.eval_max_doc_items)
        self.valid_items = sum(len(d["x"]) for d in self.valid_docs)   # sizes the loop's end-of-budget reserve
        if not self.train_docs:
            raise ConfigError("the corpus has no training files for the selected languages")
        if not self.valid_docs:
            raise ConfigError("the corpus has no validation files for the selected languages; early stopping "
                              "and ckpt-best.pt need some: rebuild the corpus with a 'valid' split")
        self.batcher = DocBatcher(self.train_docs, FIELDS, self.data.batch_size, self.data.seq_len, seed)
        self.carry: tuple[torch.Tensor, torch.Tensor] | None = None

    def build_model(self, run_dir: Path) -> nn.Module:
        return CharLSTM(self.model_config)

    def describe(self) -> dict[str, Any]:
        return {"model": "char", "config": asdict(self.model_config),
                "languages": self.corpus.split_languages("train"), "vocab_size": VOCAB_SIZE,
                "batch_size": self.data.batch_size, "seq_len": self.data.seq_len}

    def num_train_batches(self, epoch: int, rank: int, world_size: int) -> int:
        return self.batcher.num_batches(epoch, world_size)

    def train_batches(self, epoch: int, rank: int, world_size: int, start_batch: int) -> Iterator[dict]:
        if start_batch == 0:
            self.carry = None
        for b in self.batcher.batches(epoch, rank, world_size, start_batch):
            yield {"x": torch.from_numpy(b["x"]).long(), "y": torch.from_numpy(b["x_next"]).long(),
                   "reset": torch.from_numpy(b["reset"])}

    def loss(self, model: nn.Module, batch: dict) -> tuple[torch.Tensor, int, dict[str, float]]:
        state = reset_state(self.carry, batch["reset"])
        logits, (h, c) = model(batch["x"], state)
        self.carry = (h.detach(), c.detach())
        y = batch["y"]
        loss = F.cross_entropy(logits.float().reshape(-1, VOCAB_SIZE), y.reshape(-1), ignore_index=PAD)
        count = int((y != PAD).sum())
        return loss, count, {"bpc": bits(float(loss.detach()))}

    def evaluate(self, model: nn.Module) -> dict[str, float]:
        return evaluate_char(model, self.valid_docs, self.data.eval_batch_size, self.data.seq_len,
                             self.data.eval_max_items)

    def state_dict(self) -> dict[str, Any]:
        return {} if self.carry is None else {"h": self.carry[0], "c": self.carry[1]}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.carry = (state["h"], state["c"]) if state else None


def reset_state(state: tuple[torch.Tensor, torch.Tensor] | None, reset: torch.Tensor
                ) -> tuple[torch.Tensor, torch.Tensor] | None:
    """Zero the carried (h, c) of the rows that start a new document (reset: bool [B])."""
    if state is None:
        return None
    keep = (~reset).to(state[0].dtype)[None, :, None]
    return state[0] * keep, state[1] * keep


@torch.no_grad()
def evaluate_char(model: nn.Module, docs: list[dict[str, np.ndarray]], batch_size: int, seq_len: int,
                  max_items: int) -> dict[str, float]:
    """Bits per byte and byte accuracy on whole documents, each read from a zero state as at inference."""
    if not docs:
        return {"loss": math.nan, "bpc": math.nan, "acc": math.nan}
    device = next(model.parameters()).device
    batcher = DocBatcher(docs, FIELDS, eval_rows(len(docs), batch_size), seq_len, seed=0, shuffle=False)
    total, correct, count = 0.0, 0, 0
    state = None
    for b in batcher.batches(0, 0, 1, 0):
        x, y = torch.from_numpy(b["x"]).long().to(device), torch.from_numpy(b["x_next"]).long().to(device)
        state = reset_state(state, torch.from_numpy(b["reset"]).to(device))
        logits, state = model(x, state)
        logits = logits.float()
        mask = y != PAD
        nll = F.cross_entropy(logits.reshape(-1, VOCAB_SIZE), y.reshape(-1), reduction="none", ignore_index=PAD)
        total += float(nll.sum())
        correct += int(((logits.argmax(-1) == y) & mask).sum())
        count += int(mask.sum())
    loss = total / max(1, count)
    return {"loss": loss, "bpc": bits(loss), "acc": correct / max(1, count), "items": float(count)}

