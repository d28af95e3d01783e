"""Token-level LSTM with a copy (pointer) mechanism, and its training task.

The model reads the syntax layer's tokens (comments dropped by the corpus builder) as vocabulary ids
(`training.vocab`).  At every position t, after reading token x_t, it emits

* `logits` over the vocabulary for the next token,
* `key_t`   (from the LSTM output and the embedding of x_t): the address of "the token just read",
* `query_t` (from the LSTM output): what the next token should look like,
* `gate_t`  (sigmoid): how much probability goes to copying.

The next-token distribution mixes the vocabulary softmax with a copy distribution over the last `memory`
positions of the same file (docs/design.md section 4)::

    p(w) = (1 - gate) * softmax(logits)[w] + gate * sum_{j: text_j == w} softmax_j(query . key_j / sqrt(K))

Memory positions are the tokens read so far in the file, the current one included, at most `memory` of them.
Matching is on the exact token *text*, so an identifier that is out of vocabulary but appeared earlier in the
file can be predicted.  Training maximises log p(target) under this mixture, with one convention for targets
outside the vocabulary: the vocabulary part scores the fallback id of the target (<unk>, or <str>/<num> for
rare literals), i.e. "some rare token", and the copy part scores the exact text.  So an OOV identifier that
appears in memory is learnt through copying, and an absent one still has a finite loss.  (For accuracy, only
the copy part counts for OOV targets, since a completion list cannot offer "<unk>".)

Language masks: in a corpus of several languages, the vocabulary records for each word the languages whose
training files use it (`training.vocab.LanguageMasks`).  For a file of language L, the words banned in L are
removed from the vocabulary softmax (a large negative score added to their logits) and its targets banned in L
are scored as their fallback id.  Validation does this, the artifact carries the masks and the engine applies
them to the document's language, so a JavaScript file is never offered `static_cast` from the vocabulary.  The
training loss is not masked by default (`mask_loss`): on a mixed corpus, masking only at evaluation gave the
same or better accuracy than masking the loss as well (300 steps each: identifier top-5 0.352 vs 0.335).

Training speed on the CPU: vocabulary logits are computed only at positions with a target (no padding), the
loss's log-softmax is fused and blocked (`training.models.softmax.target_log_softmax`), and the copy softmax avoids
`exp` underflow.  With `softmax = "adaptive"` the vocabulary part is an adaptive softmax
(`training.models.softmax.AdaptiveSoftmax`): an exact distribution over the whole vocabulary whose training loss
computes the rare words' clusters only where the target is one of them.  The `logits` it gives to validation and
to the exported graphs are then its full log-probabilities (any softmax of them is the same distribution, so the
engine's formula below is unchanged).

`forward` processes a chunk for training; `step` is the one-token graph exported to ONNX with exactly the
outputs the engine expects: ``step(token[B], h, c) -> (logits[B,V], h_out, c_out, key[B,K], query[B,K],
gate[B,1])``; `step` and `forward` share every layer, so their numbers agree (tested).

Inference protocol (what training assumes, so the engine must do the same): a file starts from zero (h, c)
and an empty memory; feed `<bos>` first, then each token's id (`Vocab.id_of(text, kind)`, comments skipped).
After feeding a token, append (its `key`, its text) to the memory (`<bos>` has a key but a text no token
has), drop entries older than `memory` positions, and score the next token with that step's `query` and
`gate` over the memory, the entry just appended included.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from training.data import (DocBatcher, Field, SequenceDataConfig, bits, eval_rows, load_corpus,
                           truncate_docs)
from training.loop import ConfigError, TrainingError, dataclass_from_dict
from training.models.dropout import FastDropout
from training.models.softmax import SOFTMAX_BLOCK, AdaptiveSoftmax, pad_rows, target_log_softmax  # noqa: F401 (re-exported)
from training.vocab import (BOS_ID, EOS_ID, KIND_IDENTIFIER, LANGUAGES_FILE, NUM_ID, PAD_ID, SPECIALS, STR_ID,
                            UNK_ID, LanguageMasks, Vocab, VocabError, build_language_masks, build_vocab)

COPY_FLOOR = -80.0  # lowest shifted copy score: exp(-80) is still a normal float32 (see copy_weights)
_FLOOR_WEIGHT = math.exp(COPY_FLOOR)
_NO_SCORE = -1e30   # the score of entries a query may not attend to, before the shift (see copy_weights)
TEXT_PAD, TEXT_BOS, TEXT_EOS = -1, -2, -3   # text ids of padding / <bos> / <eos>; real texts are >= 0
FIELDS = (Field("ids", BOS_ID, EOS_ID, PAD_ID), Field("text", TEXT_BOS, TEXT_EOS, TEXT_PAD),
          Field("kind", -1, -1, -1))
# With language masks: the per-language targets and the language of every position (0 on padding: never scored).
MASK_FIELDS = (Field("tid", BOS_ID, EOS_ID, PAD_ID), Field("lang", None, None, 0))
MASKED_LOGIT = -1e4   # added to the logit of a word banned in the file's language


@dataclass
class TokenLSTMConfig:
    """Shape of the token LSTM (the `[model]` table of a token config)."""

    vocab_size: int = 8000       # upper bound; the built vocabulary may be smaller on a small corpus
    min_count: int = 2           # tokens seen fewer times in train are not in the vocabulary
    embed: int = 128
    hidden: int = 256
    layers: int = 1
    dropout: float = 0.1
    key_dim: int = 64
    memory: int = 384            # copy memory: the last `memory` tokens of the file
    tie_weights: bool = True     # output layer shares the embedding matrix (through an H->E projection)
    language_masks: bool = True  # per-language output masks (training/vocab.py, `LanguageMasks`): in validation,
                                 # the export and the engine
    lang_min_count: int = 2      # a word is allowed in a language seen at least this often in its train files
    mask_loss: bool = False      # also mask the training loss (measured no better: see the module docstring)
    softmax: str = "full"        # "full": one softmax over the vocabulary; "adaptive": `AdaptiveSoftmax`
    # adaptive only: ids where the head ends and each tail cluster starts (ids are sorted by frequency), and the
    # factor by which each further cluster's projection shrinks (embed / div, embed / div^2, ...)
    adaptive_cutoffs: list = field(default_factory=lambda: [1000, 3000])
    adaptive_div: float = 2.0

    def validate(self) -> None:
        for name in ("vocab_size", "embed", "hidden", "layers", "key_dim", "memory", "min_count", "lang_min_count"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"[model].{name} must be positive")
        if self.vocab_size <= len(SPECIALS):
            raise ConfigError(f"[model].vocab_size must exceed the {len(SPECIALS)} special tokens")
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError("[model].dropout must be in [0, 1)")
        if self.softmax not in ("full", "adaptive"):
            raise ConfigError(f"[model].softmax must be \"full\" or \"adaptive\", not {self.softmax!r}")
        cutoffs = self.adaptive_cutoffs
        if self.softmax == "adaptive":
            if not cutoffs or any(isinstance(c, bool) or not isinstance(c, int) for c in cutoffs):
                raise ConfigError("[model].adaptive_cutoffs must be a non-empty list of whole numbers")
            if list(cutoffs) != sorted(set(cutoffs)) or cutoffs[0] <= len(SPECIALS):
                raise ConfigError(f"[model].adaptive_cutoffs must increase and start past the {len(SPECIALS)} "
                                  "special tokens")
            if not self.adaptive_div >= 1.0:
                raise ConfigError("[model].adaptive_div must be at least 1")

    def describe(self) -> dict[str, Any]:
        """The config as recorded in a run's config.json and checked on resume.

        A full-softmax config leaves out the adaptive keys, so runs started before they existed still resume.
        """
        config = asdict(self)
        if self.softmax == "full":
            for name in ("softmax", "adaptive_cutoffs", "adaptive_div"):
                config.pop(name)
        return config


class TokenLSTM(nn.Module):
    """Embedding -> LSTM -> (vocabulary logits, copy key, copy query, copy gate)."""

    def __init__(self, config: TokenLSTMConfig, vocab_size: int) -> None:
        super().__init__()
        config.validate()
        self.config = config
        self.vocab_size = vocab_size
        E, H, K = config.embed, config.hidden, config.key_dim
        self.emb = nn.Embedding(vocab_size, E)
        self.lstm = nn.LSTM(E, H, config.layers, batch_first=True,
                            dropout=config.dropout if config.layers > 1 else 0.0)
        self.drop = FastDropout(config.dropout)
        self.adaptive: AdaptiveSoftmax | None = None
        if config.softmax == "adaptive":
            self.adaptive = AdaptiveSoftmax(H, E, vocab_size, config.adaptive_cutoffs, config.adaptive_div,
                                            tied=config.tie_weights)
        elif config.tie_weights:
            self.proj = nn.Linear(H, E)
            self.out_bias = nn.Parameter(torch.zeros(vocab_size))
        else:
            self.out = nn.Linear(H, vocab_size)
        self.key = nn.Linear(H + E, K)
        self.query = nn.Linear(H, K)
        self.gate = nn.Linear(H, 1)
        nn.init.normal_(self.emb.weight, std=E ** -0.5)

    def init_state(self, batch: int, device: torch.device | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Zero (h, c), each [L, B, H]."""
        shape = (self.config.layers, batch, self.config.hidden)
        dev = device or self.emb.weight.device
        return torch.zeros(shape, device=dev), torch.zeros(shape, device=dev)

    def _tied(self) -> torch.Tensor | None:
        """The embedding matrix when the output layer shares it, else None."""
        return self.emb.weight if self.config.tie_weights else None

    def _logits(self, y: torch.Tensor) -> torch.Tensor:
        """Vocabulary scores from LSTM outputs y [..., H]: logits, or the adaptive softmax's full log-probs."""
        if self.adaptive is not None:
            return self.adaptive.log_probs(y, self._tied())
        if self.config.tie_weights:
            return F.linear(self.proj(y), self.emb.weight, self.out_bias)
        return self.out(y)

    def _heads(self, y: torch.Tensor, e: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Vocabulary logits, key, query and gate logit from LSTM outputs y [..., H] and input embeddings e."""
        key = self.key(torch.cat([y, e], dim=-1))
        return self._logits(y), key, self.query(y), self.gate(y)

    def forward(self, x: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor] | None = None,
                select: torch.Tensor | None = None, target: torch.Tensor | None = None,
                bias: torch.Tensor | None = None
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        """x int64 [B, T] -> logits [B,T,V], key [B,T,K], query [B,T,K], gate *logit* [B,T,1], final (h, c).

        With `select` (int64 indices into the flattened B*T positions), logits are computed only for those
        positions and returned as [len(select), V]: the vocabulary layer is most of a training step's work, and
        padding positions need none of it.  With `target` as well (the targets at `select`, and `bias` [len(select),
        V] or None, added to the scores), the first result is log p_vocab(target) [len(select)] in float32 instead:
        the adaptive softmax then computes only the clusters the targets are in.
        """
        if state is None:
            state = self.init_state(x.shape[0], x.device)
        e = self.emb(x)
        y, (h, c) = self.lstm(self.drop(e), state)
        y = self.drop(y)
        # under bf16 autocast y is bf16: joining e in y's dtype keeps the [B, T, H+E] input of the key in bf16
        # (joined in float32 it was built, then cast again: two copies of the largest activation of the step)
        key = self.key(torch.cat([y, e.to(y.dtype)], dim=-1))
        query, gate_logit = self.query(y), self.gate(y)
        if select is None:
            return self._logits(y), key, query, gate_logit, (h, c)
        y_sel = y.reshape(-1, y.shape[-1]).index_select(0, select)
        if target is None:
            return self._logits(y_sel), key, query, gate_logit, (h, c)
        if self.adaptive is not None:
            return self.adaptive.target_log_prob(y_sel, target, self._tied(), bias), key, query, gate_logit, (h, c)
        return target_log_softmax(self._logits(y_sel), target, bias), key, query, gate_logit, (h, c)

    def step(self, token: torch.Tensor, h: torch.Tensor, c: torch.Tensor
             ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """The exported graph: token int64 [B], h/c [L,B,H] -> logits, h_out, c_out, key, query, gate (sigmoid)."""
        e = self.emb(token).unsqueeze(1)
        y, (h2, c2) = self.lstm(e, (h, c))
        logits, key, query, gate_logit = self._heads(y[:, 0], e[:, 0])
        return logits, h2, c2, key, query, torch.sigmoid(gate_logit)


# --------------------------------------------------------------------------------------------------------------
# Copy-mixture math (shared by training, evaluation and the tests)
# --------------------------------------------------------------------------------------------------------------


@dataclass
class Memory:
    """Copy memory carried across chunks of one batch row: the last M keys and their token texts (oldest first).

    `text` is -1 for empty slots.  `vid` holds the vocabulary ids of the same positions (used by evaluation).
    """

    keys: torch.Tensor   # [B, M, K] (detached)
    text: torch.Tensor   # [B, M] int64
    vid: torch.Tensor    # [B, M] int64

    @classmethod
    def empty(cls, batch: int, size: int, key_dim: int, device: torch.device) -> "Memory":
        return cls(torch.zeros(batch, size, key_dim, device=device),
                   torch.full((batch, size), TEXT_PAD, dtype=torch.long, device=device),
                   torch.full((batch, size), PAD_ID, dtype=torch.long, device=device))

    def reset_rows(self, reset: torch.Tensor) -> "Memory":
        """Empty the rows that start a new file."""
        r = reset[:, None]
        return Memory(self.keys * (~r).to(self.keys.dtype)[..., None], self.text.masked_fill(r, TEXT_PAD),
                      self.vid.masked_fill(r, PAD_ID))


def memory_window(mem_text: torch.Tensor, chunk_text: torch.Tensor, size: int) -> torch.Tensor:
    """valid [B, T, M+T]: which memory entries query i may attend to.

    Entries are the carried memory (M slots, slot m is M-m positions before the chunk) followed by the chunk's
    own positions; query i sees chunk positions j <= i with i - j < size and carried slots m > i (the rest of
    the window of `size` positions), and never empty/padding slots.
    """
    B, M = mem_text.shape
    T = chunk_text.shape[1]
    dev = chunk_text.device
    i = torch.arange(T, device=dev)[:, None]
    m = torch.arange(M, device=dev)[None, :]
    j = torch.arange(T, device=dev)[None, :]
    carried = (m > i) & (m >= M - size)                  # [T, M]
    own = (j <= i) & (i - j < size)                      # [T, T]
    pos_ok = torch.cat([carried, own], dim=1)[None]      # [1, T, M+T]
    filled = torch.cat([mem_text, chunk_text], dim=1) != TEXT_PAD   # [B, M+T]
    return pos_ok & filled[:, None, :]


def copy_log_probs(logits: torch.Tensor, gate_logit: torch.Tensor, query: torch.Tensor, keys: torch.Tensor,
                   valid: torch.Tensor, match: torch.Tensor, target_vid: torch.Tensor
                   ) -> tuple[torch.Tensor, torch.Tensor]:
    """log p(target) under the vocabulary/copy mixture, and the copy attention (normalised over valid entries).

    logits [B,T,V], gate_logit [B,T,1], query [B,T,K], keys [B,S,K], valid/match [B,T,S] bool,
    target_vid [B,T] (the vocabulary id, or fallback id, of each target).  All math in float32.
    """
    B, T, V = logits.shape
    log_pv = target_log_softmax(logits.reshape(B * T, V), target_vid.reshape(-1)).view(B, T)
    return mixture_log_probs(log_pv, gate_logit, query, keys, valid, match)


def mixture_log_probs(log_pv: torch.Tensor, gate_logit: torch.Tensor, query: torch.Tensor, keys: torch.Tensor,
                      valid: torch.Tensor, match: torch.Tensor, want_attn: bool = True
                      ) -> tuple[torch.Tensor, torch.Tensor | None]:
    """`copy_log_probs` from log p_vocab(target) [B,T] already computed (e.g. only at non-padding positions).

    The attention (second result) is only needed by evaluation; training passes `want_attn=False` (None).
    """
    query, keys, gate_logit = query.float(), keys.float(), gate_logit.float()
    # the 1/sqrt(K) scale on the [B,T,K] queries, not on the [B,T,S] scores: one pass less over the big tensor
    scores = torch.einsum("btk,bsk->bts", query / math.sqrt(query.shape[-1]), keys)
    weights = copy_weights(scores.detach(), valid)
    log_copy = _CopyLogMass.apply(scores, weights, match)
    attn = weights / weights.sum(dim=-1, keepdim=True) if want_attn else None
    z = gate_logit.squeeze(-1)
    logp = torch.logaddexp(F.logsigmoid(-z) + log_pv, F.logsigmoid(z) + log_copy)
    return logp, attn


def copy_weights(scores: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """exp(score - the row's best valid score) [B,T,S] over the valid entries; exp(COPY_FLOOR) elsewhere.

    Softmax in probability space: one exp pass (the log-space form took three).  Invalid entries and entries far
    below the row's best are clamped to exp(-80) instead of exp(-1e9): the CPU's vectorised exp takes a slow path
    when its result underflows, which made this the costliest part of the copy head; 1e-35 per entry changes no
    probability that matters (next to the row's best entry, exp(0)).
    """
    # invalid entries take a score so low that, shifted by the row's best, they clamp to the floor; a row with no
    # valid entry has that score as its best and is shifted by 0 instead
    shifted = torch.where(valid, scores, torch.tensor(_NO_SCORE, dtype=scores.dtype, device=scores.device))
    top = shifted.amax(dim=-1, keepdim=True)
    top = torch.where(top > _NO_SCORE / 2, top, torch.zeros_like(top))
    return shifted.sub_(top).clamp_min_(COPY_FLOOR).exp_()


class _CopyLogMass(torch.autograd.Function):
    """log(copy attention mass on the entries whose text is the target) [B,T] from scores [B,T,S] and their
    `copy_weights`, with a fused backward: grad_s = g * w * (match / mass - 1 / norm) on the entries above the
    floor, in three passes where autograd's chain of masked, clamped and normalised tensors took about ten (a
    tenth of a CPU training step)."""

    @staticmethod
    def forward(ctx: Any, scores: torch.Tensor, weights: torch.Tensor, match: torch.Tensor) -> torch.Tensor:
        norm = weights.sum(dim=-1)
        mass = torch.where(match, weights, torch.zeros((), dtype=weights.dtype, device=weights.device)).sum(-1)
        ratio = mass / norm
        ctx.save_for_backward(weights, match, mass, norm, ratio)
        return torch.log(ratio.clamp_min(1e-30))

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, None, None]:
        weights, match, mass, norm, ratio = ctx.saved_tensors
        g = torch.where(ratio > 1e-30, grad, torch.zeros_like(grad))       # the clamp passes no gradient
        per_norm = (g / norm)[..., None]
        per_mass = (g / mass.clamp_min(1e-38))[..., None]
        out = torch.where(match, per_mass - per_norm, -per_norm).mul_(weights)
        # entries at the floor (invalid ones, or clamped far below the best) are constants: no gradient (in a row
        # with no valid entry every weight is the floor, and the formula would give them all one)
        return out.masked_fill_(weights <= _FLOOR_WEIGHT, 0.0), None, None


def mixture_ranks(logits: torch.Tensor, gate_logit: torch.Tensor, attn: torch.Tensor, valid: torch.Tensor,
                  all_text: torch.Tensor, all_vid: torch.Tensor, target_vid: torch.Tensor,
                  target_text: torch.Tensor) -> torch.Tensor:
    """Rank (0 = best) of the target among the distinct completion candidates under the mixture.

    Candidates are the real vocabulary words (ids past the specials) and the distinct out-of-vocabulary texts
    in the copy window.  An out-of-vocabulary target that is not in the window gets rank 1e9.
    """
    B, T, V = logits.shape
    g = torch.sigmoid(gate_logit.float())                                  # [B,T,1]
    pv = torch.softmax(logits.float(), dim=-1)
    vid = all_vid[:, None, :].expand(B, T, -1)
    copy_v = torch.zeros_like(pv).scatter_add_(2, vid, attn)               # copy mass per vocabulary id
    score_v = (1 - g) * pv + g * copy_v
    score_v[..., : len(SPECIALS)] = -1.0                                   # specials are not completions
    same = (all_text[:, :, None] == all_text[:, None, :]) & (all_text[:, :, None] >= 0)   # [B,S,S]
    mass = torch.bmm(attn, same.float())                                   # copy mass of each entry's text
    count = torch.bmm(valid.float(), same.float()).clamp_min(1.0)          # entries sharing that text
    in_vocab_t = target_vid >= len(SPECIALS)
    match_t = (all_text[:, None, :] == target_text[..., None]) & valid & (target_text[..., None] >= 0)
    target_copy = (attn * match_t).sum(-1)
    s_t = torch.where(in_vocab_t, score_v.gather(-1, target_vid.clamp_min(0)[..., None]).squeeze(-1),
                      g.squeeze(-1) * target_copy)
    better_v = (score_v > s_t[..., None]).sum(-1)
    oov_entry = (all_vid < len(SPECIALS)) & (all_text >= 0)               # [B,S]
    other = (all_text[:, None, :] != target_text[..., None])
    better_c = ((g * mass > s_t[..., None]) & valid & oov_entry[:, None, :] & other).float() / count
    rank = better_v.float() + better_c.sum(-1)
    absent = (~in_vocab_t) & (target_copy <= 0)
    return torch.where(absent, torch.full_like(rank, 1e9), rank.round())


# --------------------------------------------------------------------------------------------------------------
# Task
# --------------------------------------------------------------------------------------------------------------


@dataclass
class TokenDataConfig(SequenceDataConfig):
    """The `[data]` table of a token config (items are tokens; the base's defaults)."""


def local_text_ids(tokens: list[str]) -> np.ndarray:
    """Per-file ids of token texts (first occurrence order): equal ids <=> equal texts within the file."""
    table: dict[str, int] = {}
    return np.fromiter((table.setdefault(t, len(table)) for t in tokens), dtype=np.int64, count=len(tokens))


class TokenTask:
    """Training task for `TokenLSTM` (see `training.loop.Task`): stateful truncated BPTT with a carried copy memory."""

    name = "token"
    unit = "token"

    def __init__(self, corpus: Path | str, sections: dict[str, Any], seed: int) -> None:
        unknown = sorted(set(sections) - {"model", "data"})
        if unknown:
            raise ConfigError(f"unknown config section(s) {unknown} for the token model; allowed: [model], [data], [train]")
        self.model_config: TokenLSTMConfig = dataclass_from_dict(TokenLSTMConfig, sections.get("model"), "model")
        self.model_config.validate()
        self.data: TokenDataConfig = dataclass_from_dict(TokenDataConfig, sections.get("data"), "data")
        self.data.validate()
        self.seed = seed
        self.corpus = load_corpus(corpus, languages=self.data.languages)
        if len(self.corpus.split("train")) == 0:
            raise ConfigError("the corpus has no training files for the selected languages")
        if len(self.corpus.split("valid")) == 0:
            raise ConfigError("the corpus has no validation files for the selected languages; early stopping "
                              "and ckpt-best.pt need some: rebuild the corpus with a 'valid' split")
        self.vocab: Vocab | None = None
        self.masks: LanguageMasks | None = None
        self.lang_index: dict[str, int] = {}
        self.lang_bias: torch.Tensor | None = None    # [languages, V]: 0 allowed, MASKED_LOGIT banned
        self.fields: tuple[Field, ...] = FIELDS
        self.batcher: DocBatcher | None = None
        self.carry: dict[str, Any] | None = None

    # -- setup ---------------------------------------------------------------------------------------------
    def _docs(self, split: str, max_items: int, seed: int, max_doc_items: int = 0, masked: bool = True
              ) -> list[dict[str, np.ndarray]]:
        """Encode a split file by file (streamed: only the int arrays are kept).

        With language masks, each file also gets `tid` (its targets, words banned in its language replaced by
        their fallback id) and `lang` (the index of its language in `self.lang_index`, per position).
        """
        assert self.vocab is not None
        docs = []
        for r in self.corpus.rows(split, ["tokens", "kinds", "language"], max_items, "tokens", seed, max_doc_items):
            ids = self.vocab.encode(r["tokens"], r["kinds"])
            doc = {"ids": ids, "text": local_text_ids(r["tokens"]), "kind": np.asarray(r["kinds"], dtype=np.int32)}
            if masked and self.masks is not None:
                doc["tid"] = self.masks.fallback_targets(ids, r["kinds"], r["language"])
                doc["lang"] = np.full(len(ids), self.lang_index.get(r["language"], 0), dtype=np.int32)
            docs.append(doc)
        return docs

    def _build_vocab(self, path: Path, masks_path: Path) -> None:
        """Count the train split once (per language) and write the vocabulary and, if wanted, its masks."""
        from collections import Counter

        # The same (capped) subset of files as the training data, so rare words are counted alike.
        counts: dict[str, Counter] = {}
        for r in self.corpus.rows("train", ["tokens", "language"], self.data.max_train_items, "tokens", self.seed):
            counts.setdefault(r["language"], Counter()).update(r["tokens"])
        total: Counter = Counter()
        for c in counts.values():
            total.update(c)
        self.vocab = build_vocab((), self.model_config.vocab_size, self.model_config.min_count, counts=total)
        self.vocab.save(path)
        if self.model_config.language_masks and len(counts) > 1:
            build_language_masks(self.vocab, counts, self.model_config.lang_min_count).save(masks_path)

    def build_model(self, run_dir: Path) -> nn.Module:
        path = Path(run_dir) / "vocab.json"
        masks_path = Path(run_dir) / LANGUAGES_FILE
        if path.exists():
            try:
                self.vocab = Vocab.load(path)
            except VocabError as exc:
                raise TrainingError(f"cannot use the vocabulary in the run folder: {exc}") from None
        else:
            self._build_vocab(path, masks_path)
        self.masks = None
        if self.model_config.language_masks and masks_path.exists():
            try:
                self.masks = LanguageMasks.load(masks_path)
            except VocabError as exc:
                raise TrainingError(f"cannot use the language masks in the run folder: {exc}") from None
        self.lang_index = {lang: i for i, lang in enumerate(self.masks.languages)} if self.masks else {}
        self.lang_bias = None
        if self.masks is not None:
            # 0 where a word is allowed, a large negative score where not: added to the logits, it removes
            # the banned words from the softmax (finite, so a stray banned target stays a finite loss).
            table = np.stack([self.masks.allowed[lang] for lang in self.masks.languages])
            self.lang_bias = torch.from_numpy(np.where(table, 0.0, MASKED_LOGIT).astype(np.float32))
        self.fields = FIELDS + (MASK_FIELDS if self.masks is not None else ())
        mask_loss = self.masks is not None and self.model_config.mask_loss
        self.train_docs = self._docs("train", self.data.max_train_items, self.seed, masked=mask_loss)
        self.valid_docs = truncate_docs(self._docs("valid", self.data.eval_max_items, 0, self.data.eval_max_doc_items),
                                        self.data.eval_max_doc_items)
        self.valid_items = sum(len(d["ids"]) for d in self.valid_docs)   # sizes the loop's end-of-budget reserve
        self.batcher = DocBatcher(self.train_docs, self.fields if mask_loss else FIELDS, self.data.batch_size,
                                  self.data.seq_len, self.seed)
        return TokenLSTM(self.model_config, len(self.vocab))

    def describe(self) -> dict[str, Any]:
        config = self.model_config.describe()
        if getattr(self, "masks", None) is None:
            # a run without masks describes itself as before masks existed, so its older checkpoints resume
            config.pop("language_masks"), config.pop("lang_min_count")
        info = {"model": "token", "config": config,
                "languages": self.corpus.split_languages("train"),
                "vocab_size": len(self.vocab) if self.vocab else None,
                "vocab_digest": self.vocab.digest() if self.vocab else None,
                "batch_size": self.data.batch_size, "seq_len": self.data.seq_len}
        if getattr(self, "masks", None) is not None:
            info["language_masks_digest"] = self.masks.digest()
        return info

    # -- batches -------------------------------------------------------------------------------------------
    def num_train_batches(self, epoch: int, rank: int, world_size: int) -> int:
        assert self.batcher is not None, "build_model must be called first"
        return self.batcher.num_batches(epoch, world_size)

    def train_batches(self, epoch: int, rank: int, world_size: int, start_batch: int) -> Iterator[dict]:
        assert self.batcher is not None, "build_model must be called first"
        if start_batch == 0:
            self.carry = None
        for b in self.batcher.batches(epoch, rank, world_size, start_batch):
            yield {k: torch.from_numpy(v).long() if v.dtype == np.int32 else torch.from_numpy(v)
                   for k, v in b.items()}

    # -- loss ----------------------------------------------------------------------------------------------
    def chunk(self, model: nn.Module, batch: dict, carry: dict[str, Any] | None, full_logits: bool = False
              ) -> tuple[torch.Tensor, dict[str, torch.Tensor], dict[str, Any]]:
        """Run one chunk: per-position log p(target) [B,T], tensors for metrics, and the new carry.

        Training (`full_logits` False) computes vocabulary logits only at positions with a target; evaluation
        asks for all of them (ranks need the whole distribution), masked by the file's language.
        """
        cfg = self.model_config
        x, reset = batch["ids"], batch["reset"]
        target = batch.get("tid_next", batch["ids_next"])
        B, T = x.shape
        if carry is None:
            state = None
            mem = Memory.empty(B, cfg.memory, cfg.key_dim, x.device)
        else:
            keep = (~reset).to(carry["h"].dtype)[None, :, None]
            state = (carry["h"] * keep, carry["c"] * keep)
            mem = Memory(carry["keys"], carry["text"], carry["vid"]).reset_rows(reset)
        flat_target = target.reshape(-1)
        select = None if full_logits else torch.nonzero(flat_target != PAD_ID).squeeze(1)
        n_select = 0
        if select is not None:
            n_select = select.shape[0]
            # the same few row counts every batch, so the CPU's matrix kernels are built once (see pad_rows)
            select = pad_rows(select)
        bias = None
        if self.lang_bias is not None and "lang" in batch:
            table = self.lang_bias.to(x.device)
            rows = batch["lang"].reshape(-1)
            bias = table.index_select(0, rows if select is None else rows.index_select(0, select))
        if select is None:
            logits, key, query, gate_logit, (h, c) = model(x, state)
        else:
            # the model returns log p_vocab(target) at the selected positions (see TokenLSTM.forward)
            logits = None
            picked, key, query, gate_logit, (h, c) = model(x, state, select, flat_target.index_select(0, select),
                                                           bias)
        with torch.autocast(x.device.type, enabled=False):
            if select is None:
                # the adaptive softmax's scores are already log-probs: the log-softmax below only renormalises
                # them over the words the file's language allows
                logits = logits.float().reshape(B * T, -1)
                if bias is not None:
                    logits = logits + bias
                log_pv = target_log_softmax(logits, flat_target).view(B, T)
                logits = logits.view(B, T, -1)
            else:
                log_pv = torch.zeros(B * T, dtype=picked.dtype, device=x.device).index_copy(
                    0, select[:n_select], picked[:n_select])
                log_pv = log_pv.view(B, T)
            # in float32, the dtype of the carried keys and of the copy head's math (the keys are bf16 values
            # under autocast, so this is the same tensor as joining in bf16 and converting, with two copies less)
            keys_all = torch.cat([mem.keys, key.float()], dim=1)
            text_all = torch.cat([mem.text, batch["text"]], dim=1)
            vid_all = torch.cat([mem.vid, x], dim=1)
            valid = memory_window(mem.text, batch["text"], cfg.memory)
            match = (text_all[:, None, :] == batch["text_next"][..., None]) & (batch["text_next"][..., None] >= 0)
            logp, attn = mixture_log_probs(log_pv, gate_logit, query, keys_all, valid, match, want_attn=full_logits)
        M = cfg.memory
        new_carry = {"h": h.detach(), "c": c.detach(), "keys": keys_all[:, -M:].detach().float(),
                     "text": text_all[:, -M:], "vid": vid_all[:, -M:]}
        extras = {"logits": logits, "gate_logit": gate_logit, "attn": attn, "valid": valid,
                  "text_all": text_all, "vid_all": vid_all}
        return logp, extras, new_carry

    def loss(self, model: nn.Module, batch: dict) -> tuple[torch.Tensor, int, dict[str, Any]]:
        logp, extras, self.carry = self.chunk(model, batch, self.carry)
        mask = batch["ids_next"] != PAD_ID
        count = int(mask.sum())
        loss = -(logp * mask).sum() / max(1, count)
        # Metrics stay tensors: the loop converts them only on the steps it logs.
        gate = (torch.sigmoid(extras["gate_logit"].detach().float().squeeze(-1)) * mask).sum() / max(1, count)
        return loss, count, {"bpt": loss.detach() / math.log(2), "gate": gate}

    @torch.no_grad()
    def evaluate(self, model: nn.Module) -> dict[str, float]:
        return evaluate_token(self, model, self.valid_docs)

    def state_dict(self) -> dict[str, Any]:
        return dict(self.carry) if self.carry else {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.carry = dict(state) if state else None


@torch.no_grad()
def evaluate_token(task: TokenTask, model: nn.Module, docs: list[dict[str, np.ndarray]]) -> dict[str, float]:
    """Validation metrics, each file read from a zero state as in the engine.

    loss/bpt: nats/bits per token under the mixture; acc/acc5: top-1/top-5 over the distinct candidates;
    ident_acc/ident_acc5: the same where the target is an identifier; oov_rate: targets outside the
    vocabulary; oov_copy_acc5: top-5 among out-of-vocabulary targets present in the copy window (reachable
    only by copying).
    """
    if not docs:
        return {"loss": math.nan, "bpt": math.nan, "acc": math.nan, "acc5": math.nan}
    device = next(model.parameters()).device
    batcher = DocBatcher(docs, task.fields, eval_rows(len(docs), task.data.eval_batch_size), task.data.seq_len,
                         seed=0, shuffle=False)
    sums = {"nll": 0.0, "n": 0, "top1": 0, "top5": 0, "id_n": 0, "id_top1": 0, "id_top5": 0, "oov": 0,
            "oov_copyable": 0, "oov_top5": 0}
    carry = None
    for b in batcher.batches(0, 0, 1, 0):
        batch = {k: (torch.from_numpy(v).long() if v.dtype == np.int32 else torch.from_numpy(v)).to(device)
                 for k, v in b.items()}
        logp, ex, carry = task.chunk(model, batch, carry, full_logits=True)
        mask = batch["ids_next"] != PAD_ID
        with torch.autocast(device.type, enabled=False):
            rank = mixture_ranks(ex["logits"], ex["gate_logit"], ex["attn"], ex["valid"], ex["text_all"],
                                 ex["vid_all"], batch["ids_next"], batch["text_next"])
        ident = mask & (batch["kind_next"] == KIND_IDENTIFIER)
        sums["nll"] += float(-(logp * mask).sum())
        sums["n"] += int(mask.sum())
        sums["top1"] += int(((rank < 1) & mask).sum())
        sums["top5"] += int(((rank < 5) & mask).sum())
        sums["id_n"] += int(ident.sum())
        sums["id_top1"] += int(((rank < 1) & ident).sum())
        sums["id_top5"] += int(((rank < 5) & ident).sum())
        oov = mask & (batch["ids_next"] < len(SPECIALS)) & (batch["ids_next"] != EOS_ID)
        copyable = oov & (rank < 1e9)      # out of vocabulary but present in the copy window
        sums["oov"] += int(oov.sum())
        sums["oov_copyable"] += int(copyable.sum())
        sums["oov_top5"] += int(((rank < 5) & copyable).sum())
    n, idn = max(1, sums["n"]), max(1, sums["id_n"])
    loss = sums["nll"] / n
    return {"loss": loss, "bpt": bits(loss), "acc": sums["top1"] / n, "acc5": sums["top5"] / n,
            "ident_acc": sums["id_top1"] / idn, "ident_acc5": sums["id_top5"] / idn,
            "oov_rate": sums["oov"] / n, "oov_copy_acc5": sums["oov_top5"] / max(1, sums["oov_copyable"]),
            "items": float(sums["n"])}
