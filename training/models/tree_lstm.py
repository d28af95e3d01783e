"""Bidirectional Tree-LSTM over syntax trees, and its training task: naming variables, parameters and functions.

Model (`BiTreeLSTM`):

* node input: a node-type embedding, plus a token embedding for leaves (the hidden symbol's leaves get `<mask>`);
* upward pass: child-sum Tree-LSTM from the leaves to the root.  For node j with children k:
  ``h~ = sum_k h_k``, ``i, o, u = W x_j + U h~``, ``f_k = sigma(W_f x_j + U_f h_k)``,
  ``c_j = sigma(i) * tanh(u) + sum_k f_k * c_k``, ``h_j = sigma(o) * tanh(c_j)``;
* downward pass: an LSTM step per node whose input is the node's upward state and whose previous state is the
  parent's downward state (zero for the root), so every node sees the whole tree around it;
* naming head: the [upward, downward] states of the hidden occurrences are pooled (mean and max) into one code,
  from which a whole-name classifier, a style classifier and a GRU sub-token decoder predict the name (see
  codecomp/engine/naming.py for how they are combined into one ranked list).

Batching is by level across a batch of trees: one cell call for all nodes of one height (upward) and one for all
nodes of one depth (downward), child sums with `scatter_add`.  There is no recursion and no per-node Python work,
so very deep trees only cost one cell call per level.  `reference_encode` is the straightforward per-node
recursive version of the same math, used by the tests and benchmarks/tree_batching.py.

`TreeTask` plugs the model into the shared training loop (training/loop.py); the examples come from
codecomp/naming/data.py.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from codecomp.naming.trees import NamingExample, TreeBatch, batch_examples
from codecomp.naming.vocab import SUB_BOS, SUB_EOS, SUB_PAD, VOCAB_FILE, NamingVocab
from training.loop import ConfigError, TrainingError, dataclass_from_dict

# ---------------------------------------------------------------------------------------------------------------
# Config
# ---------------------------------------------------------------------------------------------------------------


@dataclass
class TreeConfig:
    """The `[model]` table of a tree config."""

    hidden: int = 128            # Tree-LSTM state size (both directions)
    embed: int = 128             # node-type and token embedding size
    code: int = 128              # size of the pooled symbol code
    dec_hidden: int = 128        # sub-token decoder GRU size
    sub_embed: int = 64          # sub-token embedding size
    max_tokens: int = 8000       # leaf-token vocabulary (incl. <pad> <unk> <mask>)
    max_names: int = 2000        # whole-name vocabulary (incl. <other>)
    max_subtokens_vocab: int = 4000
    min_name_count: int = 2      # a whole name needs this many training symbols to enter the vocabulary
    max_nodes: int = 512         # window: nodes around a symbol the model reads
    max_subtokens: int = 6       # longest decoded name, in sub-tokens

    def validate(self) -> None:
        """Reject impossible values with a readable message."""
        for name, value in asdict(self).items():
            if value <= 0:
                raise ConfigError(f"[model].{name} must be positive, got {value}")
        if self.max_tokens < 4 or self.max_names < 2 or self.max_subtokens_vocab < 5:
            raise ConfigError("[model] vocabularies are too small (max_tokens >= 4, max_names >= 2, "
                              "max_subtokens_vocab >= 5)")


# ---------------------------------------------------------------------------------------------------------------
# Cells
# ---------------------------------------------------------------------------------------------------------------


class NodeEmbedding(nn.Module):
    """Node input: type embedding + token embedding (PAD = zero vector for inner nodes)."""

    def __init__(self, num_types: int, num_tokens: int, dim: int) -> None:
        super().__init__()
        self.type_emb = nn.Embedding(num_types, dim)
        self.token_emb = nn.Embedding(num_tokens, dim, padding_idx=0)

    def forward(self, node_type: torch.Tensor, token: torch.Tensor) -> torch.Tensor:
        return self.type_emb(node_type) + self.token_emb(token)


class ChildSumCell(nn.Module):
    """Child-sum Tree-LSTM cell for a set of nodes and all their children at once."""

    def __init__(self, in_dim: int, hidden: int) -> None:
        super().__init__()
        self.hidden = hidden
        self.w = nn.Linear(in_dim, 4 * hidden)            # i, o, u, f from the node input
        self.u_iou = nn.Linear(hidden, 3 * hidden, bias=False)
        self.u_f = nn.Linear(hidden, hidden, bias=False)

    def forward(self, wx: torch.Tensor, child_h: torch.Tensor, child_c: torch.Tensor, slot: torch.Tensor
                ) -> tuple[torch.Tensor, torch.Tensor]:
        """`wx` = self.w(x) for n nodes [n, 4H]; children [m, H] with `slot` [m] = their parent's row in wx."""
        hid = self.hidden
        if child_h.shape[0] == 0 and not torch.onnx.is_in_onnx_export():
            # Leaves (the whole first upward level): no child terms, so skip their matmuls and scatters.
            io = torch.sigmoid(wx[:, : 2 * hid])
            c = io[:, :hid] * torch.tanh(wx[:, 2 * hid: 3 * hid])
            return io[:, hid:] * torch.tanh(c), c
        n = wx.shape[0]
        child_h = child_h.to(wx.dtype)
        # scatter_add (not index_add): it exports to ONNX ScatterElements(reduction="add") exactly.
        rows = slot.unsqueeze(1).expand(-1, hid)
        h_sum = wx.new_zeros(n, hid).scatter_add(0, rows, child_h)
        iou = wx[:, : 3 * hid] + self.u_iou(h_sum)
        io = torch.sigmoid(iou[:, : 2 * hid])
        f = torch.sigmoid(wx[:, 3 * hid:].index_select(0, slot) + self.u_f(child_h))
        fc = wx.new_zeros(n, hid).scatter_add(0, rows, f * child_c.to(wx.dtype))
        c = io[:, :hid] * torch.tanh(iou[:, 2 * hid:]) + fc
        h = io[:, hid:] * torch.tanh(c)
        return h, c


class DownCell(nn.Module):
    """Top-down LSTM step: input = the node's upward state, previous state = the parent's downward state."""

    def __init__(self, hidden: int) -> None:
        super().__init__()
        self.hidden = hidden
        self.w = nn.Linear(hidden, 4 * hidden)            # i, f, o, u
        self.u = nn.Linear(hidden, 4 * hidden, bias=False)

    def forward(self, wx: torch.Tensor, h_parent: torch.Tensor, c_parent: torch.Tensor
                ) -> tuple[torch.Tensor, torch.Tensor]:
        """`wx` = self.w(h_up) [n, 4H]; parent states [n, H]."""
        gates = wx + self.u(h_parent.to(wx.dtype))
        ifo = torch.sigmoid(gates[:, : 3 * self.hidden])
        hid = self.hidden
        c = ifo[:, hid: 2 * hid] * c_parent.to(wx.dtype) + ifo[:, :hid] * torch.tanh(gates[:, 3 * hid:])
        h = ifo[:, 2 * hid:] * torch.tanh(c)
        return h, c


class NameHead(nn.Module):
    """Pool the occurrence states of each symbol and predict name, style and the decoder's start state."""

    def __init__(self, hidden: int, code: int, num_names: int, num_styles: int, dec_hidden: int) -> None:
        super().__init__()
        self.proj = nn.Linear(4 * hidden, code)
        self.name_out = nn.Linear(code, num_names)
        self.style_out = nn.Linear(code, num_styles)
        self.dec_init = nn.Linear(code, dec_hidden)

    def from_pooled(self, pooled: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """(name_logits, style_logits, decoder h0, code) from pooled [B, 4H]."""
        z = torch.tanh(self.proj(pooled))
        return self.name_out(z), self.style_out(z), torch.tanh(self.dec_init(z)), z

    def forward(self, states: torch.Tensor, seg: torch.Tensor, num: int) -> tuple[torch.Tensor, ...]:
        """states [S, 2H] of all occurrences, seg [S] their symbol, num symbols (each has >= 1 occurrence)."""
        width = states.shape[1]
        count = torch.zeros(num, device=states.device, dtype=states.dtype).index_add(
            0, seg, torch.ones_like(seg, dtype=states.dtype))
        mean = states.new_zeros(num, width).index_add(0, seg, states) / count.clamp(min=1).unsqueeze(1)
        mx = states.new_full((num, width), -1e4).scatter_reduce(
            0, seg.unsqueeze(1).expand(-1, width), states, reduce="amax", include_self=True)
        return self.from_pooled(torch.cat([mean, mx], dim=1))


class SubtokenDecoder(nn.Module):
    """GRU over lower-case sub-tokens; every step also reads the symbol code."""

    def __init__(self, vocab: int, embed: int, code: int, hidden: int) -> None:
        super().__init__()
        self.hidden = hidden
        self.emb = nn.Embedding(vocab, embed, padding_idx=SUB_PAD)
        self.w = nn.Linear(embed + code, 3 * hidden)
        self.u = nn.Linear(hidden, 3 * hidden)
        self.out = nn.Linear(hidden, vocab)

    def forward(self, prev: torch.Tensor, h: torch.Tensor, ctx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """One step: previous sub-token ids [B], state [B, Hd], code [B, C] -> (logits [B, V], new state)."""
        x = torch.cat([self.emb(prev), ctx.to(self.emb.weight.dtype)], dim=1)
        wx = self.w(x)
        uh = self.u(h.to(wx.dtype))
        r = torch.sigmoid(wx[:, : self.hidden] + uh[:, : self.hidden])
        z = torch.sigmoid(wx[:, self.hidden: 2 * self.hidden] + uh[:, self.hidden: 2 * self.hidden])
        n = torch.tanh(wx[:, 2 * self.hidden:] + r * uh[:, 2 * self.hidden:])
        h_new = (1 - z) * n + z * h.to(wx.dtype)
        return self.out(h_new), h_new


# ---------------------------------------------------------------------------------------------------------------
# The model
# ---------------------------------------------------------------------------------------------------------------


class BiTreeLSTM(nn.Module):
    """Bidirectional Tree-LSTM with the naming head and sub-token decoder."""

    def __init__(self, config: TreeConfig, num_types: int, num_tokens: int, num_names: int, num_subtokens: int,
                 num_styles: int) -> None:
        super().__init__()
        self.config = config
        self.embed = NodeEmbedding(num_types, num_tokens, config.embed)
        self.up = ChildSumCell(config.embed, config.hidden)
        self.down = DownCell(config.hidden)
        self.head = NameHead(config.hidden, config.code, num_names, num_styles, config.dec_hidden)
        self.decoder = SubtokenDecoder(num_subtokens, config.sub_embed, config.code, config.dec_hidden)

    def encode(self, batch: dict[str, Any]) -> tuple[torch.Tensor, torch.Tensor]:
        """Upward and downward states [N, H] of every node of a forest (see `batch_to_tensors`).

        Nodes are laid out level after level (by height upward, by depth downward), so a level's inputs and
        outputs are contiguous slices; only children and parents are gathered.
        """
        hid = self.config.hidden
        x = self.embed(batch["node_type"], batch["token"])
        n = x.shape[0]
        # Input projections of all nodes in one matmul, in upward level order.
        wx = self.up.w(x.index_select(0, batch["up_order"]))
        h_up = wx.new_zeros(n, hid)
        c_up = wx.new_zeros(n, hid)
        for lo, hi, children, slot in batch["up"]:
            h, c = self.up(wx[lo:hi], h_up.index_select(0, children), c_up.index_select(0, children), slot)
            h_up[lo:hi] = h.to(h_up.dtype)
            c_up[lo:hi] = c.to(c_up.dtype)
        h_up = h_up.index_select(0, batch["up_rank"])           # back to node order
        wd = self.down.w(h_up.index_select(0, batch["down_order"]))
        # Row n is the zero "parent" of every root.
        h_dn = wd.new_zeros(n + 1, hid)
        c_dn = wd.new_zeros(n + 1, hid)
        for lo, hi, parents in batch["down"]:
            h, c = self.down(wd[lo:hi], h_dn.index_select(0, parents), c_dn.index_select(0, parents))
            h_dn[lo:hi] = h.to(h_dn.dtype)
            c_dn[lo:hi] = c.to(c_dn.dtype)
        return h_up, h_dn[:n].index_select(0, batch["down_rank"])

    def forward(self, batch: dict[str, Any]) -> tuple[torch.Tensor, ...]:
        """(name_logits [B, V], style_logits [B, S], decoder h0 [B, Hd], code [B, C]) for a batch of symbols;
        plus teacher-forced decoder logits [B, T, Vs] when the batch has `dec_in` (training: everything runs inside
        forward so that DistributedDataParallel sees every parameter used)."""
        h_up, h_dn = self.encode(batch)
        occ = batch["occ"]
        states = torch.cat([h_up.index_select(0, occ), h_dn.index_select(0, occ)], dim=1)
        heads = self.head(states, batch["occ_seg"], int(batch["num_trees"]))
        if "dec_in" not in batch:
            return heads
        return (*heads, self.decoder_logits(heads[2], heads[3], batch["dec_in"]))

    def decoder_logits(self, h0: torch.Tensor, ctx: torch.Tensor, inputs: torch.Tensor) -> torch.Tensor:
        """Teacher-forced decoder logits [B, T, V] for input sub-token ids [B, T] (starting with BOS)."""
        h = h0
        out = []
        for t in range(inputs.shape[1]):
            logits, h = self.decoder(inputs[:, t], h, ctx)
            out.append(logits)
        return torch.stack(out, dim=1)


def reference_encode(model: BiTreeLSTM, node_type: np.ndarray, token: np.ndarray, parent: np.ndarray
                     ) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-node recursive evaluation of the same math as `BiTreeLSTM.encode` for one tree or forest.

    One cell call per node, children visited by recursion: the plain textbook implementation, used to check the
    level-batched one and as the benchmark's baseline.  Needs a recursion limit above the tree depth.
    """
    hid = model.config.hidden
    n = len(parent)
    children: list[list[int]] = [[] for _ in range(n)]
    for i, p in enumerate(parent):
        if p >= 0:
            children[int(p)].append(i)
    nt = torch.as_tensor(np.asarray(node_type, dtype=np.int64))
    tk = torch.as_tensor(np.asarray(token, dtype=np.int64))
    h_up: list[torch.Tensor | None] = [None] * n
    c_up: list[torch.Tensor | None] = [None] * n
    h_dn: list[torch.Tensor | None] = [None] * n

    def up(i: int) -> None:
        for k in children[i]:
            up(k)
        x = model.embed(nt[i: i + 1], tk[i: i + 1])
        wx = model.up.w(x)
        kids = children[i]
        if kids:
            ch = torch.cat([h_up[k] for k in kids])
            cc = torch.cat([c_up[k] for k in kids])
        else:
            ch = cc = wx.new_zeros(0, hid)
        slot = torch.zeros(len(kids), dtype=torch.long)
        h_up[i], c_up[i] = model.up(wx, ch, cc, slot)

    def down(i: int, hp: torch.Tensor, cp: torch.Tensor) -> None:
        h, c = model.down(model.down.w(h_up[i]), hp, cp)
        h_dn[i] = h
        for k in children[i]:
            down(k, h, c)

    zero = torch.zeros(1, hid)
    for root in [i for i in range(n) if parent[i] < 0]:
        up(root)
        down(root, zero, zero)
    return torch.cat(h_up), torch.cat(h_dn)


def batch_to_tensors(batch: TreeBatch) -> dict[str, Any]:
    """The torch form of a `TreeBatch` (CPU tensors; the loop moves them to the device).

    `up_order` / `down_order` list the nodes level after level; `up_rank` / `down_rank` are their inverses.
    Upward levels are (lo, hi, children, slot) with children as positions in `up_order`; downward levels
    (lo, hi, parents) with parents as positions in `down_order` (N for roots: the zero row).
    """
    n = batch.num_nodes
    up_order = np.concatenate([lv.nodes for lv in batch.up]) if batch.up else np.zeros(0, dtype=np.int64)
    down_order = np.concatenate([lv.nodes for lv in batch.down]) if batch.down else np.zeros(0, dtype=np.int64)
    up_rank = np.empty(n, dtype=np.int64)
    up_rank[up_order] = np.arange(n)
    down_rank = np.empty(n + 1, dtype=np.int64)
    down_rank[down_order] = np.arange(n)
    down_rank[n] = n
    t = torch.from_numpy
    up, down, lo = [], [], 0
    for lv in batch.up:
        hi = lo + lv.nodes.shape[0]
        up.append((lo, hi, t(up_rank[lv.children]), t(lv.slot)))
        lo = hi
    lo = 0
    for lv in batch.down:
        hi = lo + lv.nodes.shape[0]
        down.append((lo, hi, t(down_rank[lv.parents])))
        lo = hi
    return {
        "node_type": t(batch.node_type),
        "token": t(batch.token),
        "up_order": t(up_order),
        "up_rank": t(up_rank),
        "down_order": t(down_order),
        "down_rank": t(down_rank[:n].copy()),
        "up": up,
        "down": down,
        "occ": t(batch.occ),
        "occ_seg": t(batch.occ_seg),
        "num_trees": batch.num_trees,
    }


def name_targets(vocab: NamingVocab, names: Sequence[str]) -> dict[str, torch.Tensor]:
    """Targets of a batch: name class, style class, decoder inputs and outputs ([B, T], padded with PAD)."""
    seqs = [vocab.subtoken_ids(n) or [SUB_EOS] for n in names]
    length = max(len(s) for s in seqs) + 1
    dec_in = torch.full((len(names), length), SUB_PAD, dtype=torch.long)
    dec_out = torch.full((len(names), length), SUB_PAD, dtype=torch.long)
    for b, s in enumerate(seqs):
        dec_in[b, : len(s) + 1] = torch.tensor([SUB_BOS] + s)
        dec_out[b, : len(s) + 1] = torch.tensor(s + [SUB_EOS])
    return {
        "name_id": torch.tensor([vocab.name_id(n) for n in names], dtype=torch.long),
        "style_id": torch.tensor([vocab.style_id(n) for n in names], dtype=torch.long),
        "dec_in": dec_in,
        "dec_out": dec_out,
    }


def make_batch(vocab: NamingVocab, examples: Sequence[NamingExample]) -> dict[str, Any]:
    """Inputs and targets of one training batch."""
    out = batch_to_tensors(batch_examples(examples))
    out.update(name_targets(vocab, [e.name for e in examples]))
    return out


def naming_loss(model: nn.Module, batch: dict[str, Any]) -> tuple[torch.Tensor, dict[str, float], torch.Tensor]:
    """Sum of the whole-name, style and mean sub-token cross-entropies, metrics, and the name logits."""
    name_logits, style_logits, _, _, dec_logits = model(batch)
    name_loss = F.cross_entropy(name_logits.float(), batch["name_id"])
    style_loss = F.cross_entropy(style_logits.float(), batch["style_id"])
    sub_loss = F.cross_entropy(dec_logits.float().reshape(-1, dec_logits.shape[-1]), batch["dec_out"].reshape(-1),
                               ignore_index=SUB_PAD)
    loss = name_loss + style_loss + sub_loss
    with torch.no_grad():
        name_acc = (name_logits.argmax(1) == batch["name_id"]).float().mean()
    metrics = {"name_loss": float(name_loss.detach()), "style_loss": float(style_loss.detach()),
               "subtoken_loss": float(sub_loss.detach()), "name_acc": float(name_acc)}
    return loss, metrics, name_logits.detach()


def build_naming_model(config: TreeConfig, vocab: NamingVocab) -> BiTreeLSTM:
    """A model sized for `vocab`."""
    return BiTreeLSTM(config, vocab.num_node_types, len(vocab.tokens), len(vocab.names), len(vocab.subtokens),
                      len(vocab.styles))


# ---------------------------------------------------------------------------------------------------------------
# Training task
# ---------------------------------------------------------------------------------------------------------------


@dataclass
class TreeDataConfig:
    """The `[data]` table of a tree config."""

    batch_size: int = 32               # symbols (trees) per batch
    eval_batch_size: int = 32
    eval_max_examples: int = 2000      # symbols of the valid split scored per validation (0: all)
    max_train_examples: int = 0        # cap on training symbols (0: all)
    languages: list = None             # None: all languages in the corpus

    def validate(self) -> None:
        if self.batch_size <= 0 or self.eval_batch_size <= 0:
            raise ConfigError("[data] batch_size and eval_batch_size must be positive")
        if self.eval_max_examples < 0 or self.max_train_examples < 0:
            raise ConfigError("[data] eval_max_examples and max_train_examples must be >= 0")


class TreeTask:
    """Training task for `BiTreeLSTM` (see `training.loop.Task`): one symbol per tree, batches of trees."""

    name = "tree"
    unit = "node"

    def __init__(self, corpus: Path | str, sections: dict[str, Any], seed: int) -> None:
        from codecomp.naming.data import NamingDataError, NamingDataset

        unknown = sorted(set(sections) - {"model", "data"})
        if unknown:
            raise ConfigError(f"unknown config section(s) {unknown} for the tree model; allowed: [model], [data], "
                              "[train]")
        self.model_config: TreeConfig = dataclass_from_dict(TreeConfig, sections.get("model"), "model")
        self.model_config.validate()
        self.data: TreeDataConfig = dataclass_from_dict(TreeDataConfig, sections.get("data"), "data")
        self.data.validate()
        self.seed = seed
        try:
            self.train_set = NamingDataset.from_corpus(corpus, "train", self.data.languages)
        except NamingDataError as exc:
            raise TrainingError(str(exc)) from None
        if len(self.train_set) == 0:
            raise TrainingError("the corpus' train split has no variables, parameters or functions to name; "
                                "use a bigger corpus")
        try:
            self.valid_set = NamingDataset.from_corpus(corpus, "valid", self.data.languages)
        except NamingDataError:
            self.valid_set = None  # validation then uses the first training symbols
        self.vocab: NamingVocab | None = None

    # -- vocabulary and model ----------------------------------------------------------------------------------

    def _settings(self) -> dict[str, Any]:
        cfg = self.model_config
        return {"max_nodes": cfg.max_nodes, "max_subtokens": cfg.max_subtokens, "hidden": cfg.hidden,
                "dec_hidden": cfg.dec_hidden, "code": cfg.code}

    def build_model(self, run_dir: Path) -> nn.Module:
        """Build (first run) or load (resume) `naming_vocab.json` in the run folder, then the model."""
        path = Path(run_dir) / VOCAB_FILE
        if path.exists():
            self.vocab = NamingVocab.load(path)
            if self.vocab.settings != self._settings():
                raise TrainingError(f"{path} was written with other model settings ({self.vocab.settings}); "
                                    "train into a new --out folder")
        else:
            self.vocab = self.train_set.build_vocab(self.model_config, self._settings())
            tmp = path.with_name(path.name + ".tmp")
            self.vocab.save(tmp)
            tmp.replace(path)
        return build_naming_model(self.model_config, self.vocab)

    def describe(self) -> dict[str, Any]:
        digest = ""
        if self.vocab is not None:
            digest = hashlib.sha256(json.dumps(self.vocab.to_json(), sort_keys=True).encode()).hexdigest()[:16]
        return {"model": "tree", "config": asdict(self.model_config), "batch_size": self.data.batch_size,
                "vocab_sha256": digest}

    # -- data --------------------------------------------------------------------------------------------------

    def _train_indices(self, epoch: int, rank: int, world_size: int) -> np.ndarray:
        n = len(self.train_set)
        order = np.random.default_rng([self.seed, epoch]).permutation(n)
        if self.data.max_train_examples:
            order = order[: self.data.max_train_examples]
        return order[rank::world_size]

    def num_train_batches(self, epoch: int, rank: int, world_size: int) -> int:
        n = len(self.train_set)
        if self.data.max_train_examples:
            n = min(n, self.data.max_train_examples)
        # Every rank gets the same number of batches: the smallest shard decides.
        return (n // world_size) // self.data.batch_size

    def train_batches(self, epoch: int, rank: int, world_size: int, start_batch: int) -> Iterator[dict]:
        assert self.vocab is not None, "build_model must run before train_batches"
        mine = self._train_indices(epoch, rank, world_size)
        bs = self.data.batch_size
        for b in range(start_batch, self.num_train_batches(epoch, rank, world_size)):
            idx = mine[b * bs: (b + 1) * bs]
            yield make_batch(self.vocab, [self.train_set.example(int(i), self.vocab) for i in idx])

    def loss(self, model: nn.Module, batch: dict) -> tuple[torch.Tensor, int, dict[str, float]]:
        loss, metrics, _ = naming_loss(model, batch)
        return loss, int(batch["node_type"].shape[0]), metrics

    def evaluate(self, model: nn.Module) -> dict[str, float]:
        """Mean loss and whole-name accuracy on the first symbols of the valid split.

        `name_top1` / `name_top5`: the right name is among the classifier's 1 / 5 best vocabulary names (names
        outside the vocabulary count as misses; the full ranking with the decoder is measured by `codecomp eval`,
        codecomp/eval/naming_eval.py).
        """
        assert self.vocab is not None
        data = self.valid_set if self.valid_set is not None and len(self.valid_set) else self.train_set
        n = len(data) if not self.data.eval_max_examples else min(len(data), self.data.eval_max_examples)
        device = next(model.parameters()).device
        from training.loop import move_to

        total, top1, top5, parts = 0.0, 0.0, 0.0, {"name_loss": 0.0, "subtoken_loss": 0.0}
        bs = self.data.eval_batch_size
        for start in range(0, n, bs):
            exs = [data.example(i, self.vocab) for i in range(start, min(n, start + bs))]
            batch = move_to(make_batch(self.vocab, exs), device)
            loss, metrics, name_logits = naming_loss(model, batch)
            ranked = name_logits.float().clone()
            ranked[:, 0] = -torch.inf   # rank real names only: "<other>" is not a suggestion
            best = ranked.topk(min(5, ranked.shape[1] - 1), dim=1).indices
            target = batch["name_id"].unsqueeze(1)
            known = target.squeeze(1) != 0   # <other> is not a name
            top1 += float(((best[:, :1] == target).any(1) & known).sum())
            top5 += float(((best == target).any(1) & known).sum())
            total += float(loss) * len(exs)
            for k in parts:
                parts[k] += metrics[k] * len(exs)
        n = max(n, 1)
        return {"loss": total / n, "name_top1": top1 / n, "name_top5": top5 / n,
                **{k: v / n for k, v in parts.items()}}

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        pass


def load_run(run_dir: Path | str, best: bool = True) -> tuple[BiTreeLSTM, NamingVocab, dict[str, Any]]:
    """Load a trained tree run: (model in eval mode, vocabulary, config.json contents)."""
    from training.loop import load_checkpoint

    run_dir = Path(run_dir)
    cfg_path = run_dir / "config.json"
    if not cfg_path.exists():
        raise TrainingError(f"{run_dir} is not a training run folder (no config.json)")
    config_doc = json.loads(cfg_path.read_text(encoding="utf-8"))
    if config_doc.get("task") != "tree":
        raise TrainingError(f"{run_dir} holds a {config_doc.get('task')!r} run, not a tree (naming) run")
    model_cfg = TreeConfig(**config_doc["task_info"]["config"])
    vocab = NamingVocab.load(run_dir / VOCAB_FILE)
    ckpt = run_dir / ("ckpt-best.pt" if best and (run_dir / "ckpt-best.pt").exists() else "ckpt-last.pt")
    state = load_checkpoint(ckpt)
    model = build_naming_model(model_cfg, vocab)
    model.load_state_dict(state["model"])
    model.eval()
    return model, vocab, config_doc
