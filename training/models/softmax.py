"""Output layers of the token LSTM's vocabulary softmax: the fused full softmax loss and an adaptive softmax.

`target_log_softmax` is log softmax(logits)[target] with a hand-fused, cache-blocked backward: the training loss
of the full softmax.

`AdaptiveSoftmax` (Grave et al., "Efficient softmax approximation for GPUs", 2017) splits the vocabulary, whose
ids are sorted by frequency (`training.vocab.build_vocab`), at `cutoffs` into a head and tail clusters::

    head      ids [0, c0) plus one "cluster token" per tail cluster  -> softmax over c0 + K scores
    cluster i ids [c_i, c_{i+1})                                     -> softmax over its words, from a
                                                                        projection of size embed / div^(i+1)

    p(w) = p_head(w)                                  for w in the head
    p(w) = p_head(cluster i) * p_i(w | cluster i)     for w in cluster i

This is an exact, normalised distribution over the whole vocabulary (not an approximation of another one), so
validation, the exported graphs and the engine use it as is: `log_probs` writes the full [N, V] log-probabilities.
Training needs only log p(target): every position pays for the head, but a tail cluster is computed only at the
positions whose target lies in it, which with code's Zipfian token counts is a small fraction of them.  That is
where the speed comes from: the full softmax multiplies every position by all V output vectors.

With tied weights (the token LSTM's default), the head's word vectors are the input embeddings' rows (through the
model's H->E projection, as for the full softmax), and a tail cluster's vectors are its embedding rows mapped to the
cluster's smaller size by a learnt E->d matrix, so the adaptive layer adds few parameters.
"""
from __future__ import annotations

from typing import Any, Sequence

import torch
import torch.nn.functional as F
from torch import nn

# Scores of the [N, V] logits handled at once by `_TargetLogSoftmax`: 512K float32 scores are 2 MB (64 rows of an
# 8,000-word softmax), so each block's float32 copy, exponentials and gradient stay in the core's cache instead of
# streaming [N, V] float32 arrays through memory several times (on 2 CPU cores that streaming was most of the
# loss's cost).  Narrow softmaxes (the adaptive head's ~1,000 words) take more rows per block: fewer small ops.
SOFTMAX_BLOCK = 64
SOFTMAX_BLOCK_SCORES = SOFTMAX_BLOCK * 8000


def block_rows(width: int) -> int:
    """Rows per block of a softmax over `width` scores: at least SOFTMAX_BLOCK, about 2 MB of float32."""
    return max(SOFTMAX_BLOCK, SOFTMAX_BLOCK_SCORES // max(1, width))


# Rows of a variable-size product are padded up to a multiple of this (`pad_rows`).  On the CPU, oneDNN builds a
# new kernel for every new matrix shape (a bf16 [~1,900 x 192] x [192 x 1,002] product took 7-15 ms with a new row
# count against 1-3 ms with a cached one); the number of positions with a target, and of targets in each tail
# cluster, changes every batch, so without padding nearly every product of the output layer paid that price.
ROW_BUCKET = 64


def pad_rows(index: torch.Tensor, multiple: int = ROW_BUCKET) -> torch.Tensor:
    """`index` (1-D) lengthened to a multiple of `multiple` by repeating its first entry (empty stays empty).

    The caller computes on all of them and keeps the first len(index) results: the repeated rows are real rows
    (valid targets), so nothing special is computed, and the results it drops carry no gradient."""
    extra = -index.shape[0] % multiple
    if extra == 0:
        return index
    return torch.cat([index, index[:1].expand(extra)])


class _TargetLogSoftmax(torch.autograd.Function):
    """log_softmax(logits + bias)[target] per row, in float32, block by block, with a fused backward.

    Forward keeps only the per-row log-normaliser; backward recomputes softmax block by block and writes
    grad * (onehot(target) - softmax) straight into the gradient in the logits' dtype (bf16 under autocast).
    """

    @staticmethod
    def forward(ctx: Any, logits: torch.Tensor, target: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
        n = logits.shape[0]
        rows = block_rows(logits.shape[1])
        lse = torch.empty(n, dtype=torch.float32, device=logits.device)
        for s in range(0, n, rows):
            lse[s:s + rows] = torch.logsumexp(_block(logits, bias, s, rows), dim=-1)
        picked = logits.gather(-1, target[:, None]).squeeze(-1).float()
        if bias is not None:
            picked = picked + bias.gather(-1, target[:, None]).squeeze(-1)
        ctx.save_for_backward(logits, target, bias if bias is not None else lse.new_empty(0), lse)
        ctx.has_bias = bias is not None
        return picked - lse

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, None, None]:
        logits, target, bias, lse = ctx.saved_tensors
        bias = bias if ctx.has_bias else None
        out = torch.empty_like(logits)
        grad = grad.float()
        rows = block_rows(logits.shape[1])
        for s in range(0, logits.shape[0], rows):
            e = s + rows
            g = _block(logits, bias, s, rows).sub_(lse[s:e, None]).exp_().mul_(-grad[s:e, None])
            g.scatter_add_(-1, target[s:e, None], grad[s:e, None])
            out[s:e] = g
        return out, None, None


def _block(logits: torch.Tensor, bias: torch.Tensor | None, start: int, rows: int) -> torch.Tensor:
    """Rows start..start+rows of logits (+ bias) as a new float32 tensor (safe to modify in place)."""
    x = logits[start:start + rows]
    if bias is not None:
        return x.float() + bias[start:start + rows]      # a new tensor whatever x's dtype
    return x.float() if x.dtype != torch.float32 else x.clone()


def target_log_softmax(logits: torch.Tensor, target: torch.Tensor, bias: torch.Tensor | None = None
                       ) -> torch.Tensor:
    """log softmax(logits + bias)[target] for logits [N, V], target [N] (bias [N, V] or None), float32."""
    if torch.is_grad_enabled() and (logits.requires_grad or (bias is not None and bias.requires_grad)):
        return _TargetLogSoftmax.apply(logits, target, bias)
    x = logits.float() if bias is None else logits.float() + bias
    return torch.log_softmax(x, dim=-1).gather(-1, target[:, None]).squeeze(-1)



def cluster_bounds(cutoffs: Sequence[int], vocab_size: int) -> list[int]:
    """[c0, c1, ..., vocab_size]: the ascending cutoffs that fall inside the vocabulary, then its size.

    A small corpus builds a smaller vocabulary than configured, so cutoffs past its end are dropped (with all of
    them gone, the head is the whole vocabulary and the layer is a plain softmax).
    """
    inside = sorted({int(c) for c in cutoffs if 0 < int(c) < vocab_size})
    return inside + [vocab_size]


class AdaptiveSoftmax(nn.Module):
    """Frequency-clustered softmax over `vocab_size` words (see the module docstring).

    `tied`: word vectors come from the embedding matrix passed to each call ([V, embed]); otherwise the layer has
    its own output matrices.  `div`: tail cluster i projects to max(1, round(embed / div^(i+1))) dimensions.
    """

    def __init__(self, hidden: int, embed: int, vocab_size: int, cutoffs: Sequence[int], div: float,
                 tied: bool) -> None:
        super().__init__()
        self.bounds = cluster_bounds(cutoffs, vocab_size)
        self.head_size = self.bounds[0]
        self.n_clusters = len(self.bounds) - 1
        self.vocab_size = vocab_size
        self.tied = tied
        dims = [max(1, round(embed / div ** (i + 1))) for i in range(self.n_clusters)]
        self.dims = dims
        if tied:
            self.head_proj = nn.Linear(hidden, embed)
            self.bias = nn.Parameter(torch.zeros(vocab_size))
            self.cluster_weight = nn.Parameter(torch.randn(self.n_clusters, embed) * embed ** -0.5)
            self.cluster_bias = nn.Parameter(torch.zeros(self.n_clusters))
            # E -> d maps of the tied embedding rows (none where the cluster keeps the full size)
            self.tail_down = nn.ModuleList(nn.Linear(embed, d, bias=False) if d != embed else nn.Identity()
                                           for d in dims)
        else:
            self.head = nn.Linear(hidden, self.head_size + self.n_clusters)
            self.tail_out = nn.ModuleList(nn.Linear(d, hi - lo) for d, lo, hi in
                                          zip(dims, self.bounds[:-1], self.bounds[1:]))
        self.tail_proj = nn.ModuleList(nn.Linear(hidden, d) for d in dims)

    # -- scores ------------------------------------------------------------------------------------------------
    def head_logits(self, y: torch.Tensor, emb: torch.Tensor | None, levels: tuple | None = None) -> torch.Tensor:
        """[N, c0 + K] scores of the head words and the cluster tokens, from LSTM outputs y [N, H] (`levels`:
        `_levels(emb)` when the caller already has it)."""
        if not self.tied:
            return self.head(y)
        words, biases = levels or self._levels(emb)
        weight = torch.cat([words[0], self.cluster_weight.to(emb.dtype)], dim=0)
        return F.linear(self.head_proj(y), weight, torch.cat([biases[0], self.cluster_bias], dim=0))

    def tail_logits(self, i: int, y: torch.Tensor, emb: torch.Tensor | None, levels: tuple | None = None
                    ) -> torch.Tensor:
        """[N, size of cluster i] scores of the words of tail cluster i."""
        z = self.tail_proj[i](y)
        if not self.tied:
            return self.tail_out[i](z)
        words, biases = levels or self._levels(emb)
        return F.linear(z, self.tail_down[i](words[i + 1]), biases[i + 1])

    def _levels(self, emb: torch.Tensor) -> tuple[tuple[torch.Tensor, ...], tuple[torch.Tensor, ...]]:
        """The tied embedding rows and the word biases, each cut into the head's and each cluster's words.

        One split, not a slice per level: the backward of a slice writes a vocabulary-sized zero gradient for
        each slice, that of a split one gradient for all (a few ms of a CPU training step)."""
        sizes = [hi - lo for lo, hi in zip([0, *self.bounds[:-1]], self.bounds)]
        return emb.split(sizes), self.bias.split(sizes)

    # -- distributions -----------------------------------------------------------------------------------------
    def log_probs(self, y: torch.Tensor, emb: torch.Tensor | None) -> torch.Tensor:
        """Full log-probabilities [..., V] (logsumexp 0 on every row): what validation and the export use."""
        shape = y.shape[:-1]
        y = y.reshape(-1, y.shape[-1])
        if self.tied:
            head_logits, tails = self._tied_scores(y, emb)
        else:
            head_logits = self.head_logits(y, emb)
            tails = [self.tail_logits(i, y, emb) for i in range(self.n_clusters)]
        head = torch.log_softmax(head_logits.float(), dim=-1)
        c0 = self.head_size
        parts = [head[:, :c0]]
        for i, tail in enumerate(tails):
            parts.append(torch.log_softmax(tail.float(), dim=-1) + head[:, c0 + i:c0 + i + 1])
        return torch.cat(parts, dim=-1).reshape(*shape, self.vocab_size)

    def _tied_scores(self, y: torch.Tensor, emb: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Head and tail scores of every position, as `head_logits` / `tail_logits` compute them, but with one
        product by the whole embedding matrix.

        Each level's scores are (a vector in embedding space) . (embedding rows): for tail i, z W^T with
        W = emb[lo:hi] D^T equals (z D) emb[lo:hi]^T.  Multiplying the stacked vectors by all of `emb` and keeping
        each level's columns reads the matrix once, as the full softmax does, and an exported graph then holds no
        sliced or projected copy of the embeddings (ONNX constant folding would store each one).
        """
        n, c0 = y.shape[0], self.head_size
        vectors = [self.head_proj(y)]
        for i in range(self.n_clusters):
            z = self.tail_proj[i](y)
            down = self.tail_down[i]
            vectors.append(z @ down.weight if isinstance(down, nn.Linear) else z)
        # [(K + 1) n, V], every word's bias included (each level keeps only its own columns); with a bias the
        # ONNX exporter writes a Gemm that reads `emb` as it is, not a transposed copy of it
        scores = F.linear(torch.cat(vectors, dim=0), emb, self.bias)
        head = torch.cat([scores[:n, :c0], F.linear(vectors[0], self.cluster_weight, self.cluster_bias)], dim=-1)
        tails = [scores[(i + 1) * n:(i + 2) * n, lo:hi]
                 for i, (lo, hi) in enumerate(zip(self.bounds[:-1], self.bounds[1:]))]
        return head, tails

    def target_log_prob(self, y: torch.Tensor, target: torch.Tensor, emb: torch.Tensor | None,
                        bias: torch.Tensor | None = None) -> torch.Tensor:
        """log p(target) [N] for y [N, H] and target [N], float32: the training loss's vocabulary part.

        `bias` [N, V] (the language masks' 0 / large negative scores, or None) is added inside each softmax the
        target goes through: the head's words and the target's cluster (cluster tokens are never masked).
        """
        c0 = self.head_size
        head_target = target
        members: list[torch.Tensor] = []
        for i in range(self.n_clusters):
            inside = (target >= self.bounds[i]) & (target < self.bounds[i + 1])
            head_target = torch.where(inside, torch.full_like(target, c0 + i), head_target)
            members.append(torch.nonzero(inside).squeeze(1))
        head_bias = None
        if bias is not None:
            head_bias = torch.cat([bias[:, :c0], bias.new_zeros(bias.shape[0], self.n_clusters)], dim=1)
        levels = self._levels(emb) if self.tied else None
        logp = target_log_softmax(self.head_logits(y, emb, levels), head_target, head_bias)
        for i, rows in enumerate(members):
            if rows.numel() == 0:
                continue
            lo, hi = self.bounds[i], self.bounds[i + 1]
            padded = pad_rows(rows)
            tail = self.tail_logits(i, y.index_select(0, padded), emb, levels)
            tail_bias = None if bias is None else bias.index_select(0, padded)[:, lo:hi]
            picked = target_log_softmax(tail, target.index_select(0, padded) - lo, tail_bias)
            logp = logp.index_add(0, rows, picked[:rows.shape[0]])
        return logp
