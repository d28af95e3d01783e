"""onnxruntime runners for the step graphs of the artifact (docs/design.md, section 4), torch-free.

`TokenModel.context` brings a document's `ContextCache` up to date with the code tokens before the cursor:
it compares the model ids with those already consumed, rolls back to the last checkpoint before the first
difference and steps through the rest, so the common case (typing at the end) costs one or two steps.
`TokenModel.distribution` turns the cached outputs into the mixed vocabulary + copy distribution in numpy; given
the document's language, it removes the words the artifact's per-language masks ban there (an artifact without
masks bans nothing).
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from itertools import repeat
from typing import Callable

import numpy as np

from codecomp.artifact import Artifact, ArtifactError
from codecomp.syntax import Token, TokenKind
from codecomp.engine.session import CHECKPOINT, ContextCache
from codecomp.engine.types import Cancelled

SPECIALS = ("<pad>", "<unk>", "<bos>", "<eos>", "<str>", "<num>")


N_SPECIALS = len(SPECIALS)
ENCODE_MIN = 4  # fewer new tokens than this are stepped one by one (a chunk call has its own overhead)


def softmax(x: np.ndarray) -> np.ndarray:
    """Numerically stable softmax over the last axis (float64 for the sums, so tiny probabilities survive)."""
    x = np.asarray(x, dtype=np.float64)
    x = x - x.max(axis=-1, keepdims=True)
    e = np.exp(x)
    return e / e.sum(axis=-1, keepdims=True)


@dataclass
class Distribution:
    """Next-token distribution at a position: vocabulary part, copy part and the gate that mixes them."""

    p_vocab: np.ndarray          # [V] softmax of the logits
    copy: dict[str, float]       # token text -> attention mass of its occurrences in the memory
    gate: float                  # probability of copying
    top_words: list[str] | None = None  # most probable vocabulary words, filled on first use

    def prob(self, text: str, vocab_id: int | None) -> float:
        """p(text) under the mixture of docs/design.md section 4 (OOV words get only their copy mass)."""
        p = self.copy.get(text, 0.0) * self.gate
        if vocab_id is not None:
            p += (1.0 - self.gate) * float(self.p_vocab[vocab_id])
        return p

    def probs(self, texts: list[str], vocab_ids: list[int | None]) -> np.ndarray:
        """`prob` of many candidates at once (float64, the same numbers)."""
        n = len(texts)
        p = np.fromiter(map(self.copy.get, texts, repeat(0.0)), np.float64, n) * self.gate
        known = np.fromiter((i is not None for i in vocab_ids), bool, n)
        if known.any():
            ids = np.fromiter((i if i is not None else 0 for i in vocab_ids), np.int64, n)
            p = np.where(known, p + (1.0 - self.gate) * self.p_vocab[ids].astype(np.float64), p)
        return p


class TokenModel:
    """The token LSTM with copy attention, one step at a time."""

    def __init__(self, artifact: Artifact, threads: int = 1, use_encoder: bool = True) -> None:
        info = artifact.models["token"]
        self.info = info
        self.layers = int(info["layers"])
        self.hidden = int(info["hidden"])
        self.key_dim = int(info["key_dim"])
        self.memory = int(info["memory"])
        self.session = artifact.session(info.get("file", "token.onnx"), threads=threads)
        self.vocab = artifact.vocab(info.get("vocab", "token_vocab.json"))
        self.index = {w: i for i, w in enumerate(self.vocab)}
        for special in ("<unk>", "<bos>"):
            if special not in self.index:
                raise ArtifactError(f"The token vocabulary has no {special} entry; re-export the model.")
        self.unk = self.index["<unk>"]
        self.bos = self.index["<bos>"]
        self.eos = self.index.get("<eos>", -1)
        self.str_id = self.index.get("<str>", self.unk)
        self.num_id = self.index.get("<num>", self.unk)
        inputs = [i.name for i in self.session.get_inputs()]
        outputs = [o.name for o in self.session.get_outputs()]
        expected_in = ["token", "h", "c"]
        expected_out = ["logits", "h_out", "c_out", "key", "query", "gate"]
        if inputs != expected_in or outputs != expected_out:
            raise ArtifactError(
                f"token.onnx has inputs {inputs} and outputs {outputs}, expected {expected_in} and {expected_out}; "
                "re-export it with this version of codecomp."
            )
        self._scale = 1.0 / math.sqrt(self.key_dim)
        self.language_masks = self._read_language_masks(artifact, info, len(self.vocab))
        # optional chunk graph (same weights): many tokens per call, e.g. the first request in a long file
        self.encoder = None
        encode_file = info.get("encode_file")
        if use_encoder and encode_file and artifact.file(encode_file).is_file():
            self.encoder = artifact.session(encode_file, threads=threads)

    @staticmethod
    def _read_language_masks(artifact: Artifact, info: dict, size: int) -> dict[str, np.ndarray]:
        """language -> bool [V] of the words a document of that language may get (empty: no masking).

        The file (written by `codecomp export` from the training vocabulary) lists, per language, the ids of
        the words seen in that language's training files.
        """
        name = info.get("language_masks")
        if not name:
            return {}
        try:
            doc = json.loads(artifact.file(name).read_text(encoding="utf-8"))
            masks = {}
            for lang, ids in doc["allowed"].items():
                mask = np.zeros(size, dtype=bool)
                mask[np.asarray(ids, dtype=np.int64)] = True
                masks[str(lang)] = mask
            return masks
        except (OSError, ValueError, KeyError, TypeError, IndexError) as exc:
            raise ArtifactError(f"{name} in the artifact is not a readable per-language mask file ({exc}); "
                                "re-export the model.") from None

    # -- raw steps -----------------------------------------------------------------------------------------------
    def zero_state(self, batch: int = 1) -> tuple[np.ndarray, np.ndarray]:
        """The initial (h, c)."""
        shape = (self.layers, batch, self.hidden)
        return np.zeros(shape, np.float32), np.zeros(shape, np.float32)

    def step(self, ids: np.ndarray, h: np.ndarray, c: np.ndarray) -> dict[str, np.ndarray]:
        """One step for a batch of token ids."""
        logits, h2, c2, key, query, gate = self.session.run(
            None, {"token": np.asarray(ids, dtype=np.int64), "h": h, "c": c})
        return {"logits": logits, "h": h2, "c": c2, "key": key, "query": query, "gate": gate}

    def encode(self, ids: np.ndarray, h: np.ndarray, c: np.ndarray) -> dict[str, np.ndarray]:
        """Read a chunk of tokens [B, T] at once; the outputs of its last position plus every key [B, T, K]."""
        h2, c2, keys, logits, query, gate = self.encoder.run(
            None, {"tokens": np.asarray(ids, dtype=np.int64), "h": h, "c": c})
        return {"logits": logits, "h": h2, "c": c2, "key": keys[:, -1], "keys": keys, "query": query, "gate": gate}

    def id_of(self, text: str) -> int:
        """Vocabulary id of a spelling (`<unk>` when unknown)."""
        return self.index.get(text, self.unk)

    def token_id(self, tok: Token) -> int:
        """Model id of a code token, by the training rule: its own id when its text is a (non-special) word of
        the vocabulary, else `<str>` for string-like literals, `<num>` for numbers and `<unk>` for the rest."""
        i = self.index.get(tok.text)
        if i is not None and i >= N_SPECIALS:
            return i
        if tok.kind is TokenKind.STRING:
            return self.str_id
        if tok.kind is TokenKind.NUMBER:
            return self.num_id
        return self.unk

    # -- cached context ------------------------------------------------------------------------------------------
    def context(self, ctx: ContextCache, tokens: list[Token], should_stop: Callable[[], bool] | None = None) -> int:
        """Bring `ctx` up to date with `tokens` (the code tokens after the anchor); returns the steps run.

        `should_stop` is asked between steps; when it says yes, the work done so far is kept (a later request
        continues from there) and `Cancelled` is raised.
        """
        have = ctx.ids
        # the first `stable` tokens are those whose ids were consumed: only the rest are looked up
        same = min(ctx.stable, len(tokens), len(have) - 1) if have else 0
        ids = have[:same + 1] if have else [self.bos]
        ids.extend(self.token_id(t) for t in tokens[same:])
        lcp = 0
        limit = min(len(have), len(ids))
        # one C-level comparison settles the common case (only new tokens at the end)
        if limit and have[:limit] == ids[:limit]:
            lcp = limit
        else:
            while lcp < limit and have[lcp] == ids[lcp]:
                lcp += 1
        if lcp == len(have) == len(ids) and ctx.last is not None:
            ctx.last_steps = 0
            ctx.stable = len(tokens)
            return 0
        if lcp < len(have) or ctx.last is None:
            # strictly before the end: the outputs of the last step are needed, and checkpoints keep only (h, c)
            start = max((k for k in ctx.checkpoints if k <= lcp and k < len(ids)), default=0)
            if start == 0 or start not in ctx.checkpoints:
                start = 0
                h, c = self.zero_state()
                ctx.checkpoints.clear()
            else:
                h, c = ctx.checkpoints[start]
                for k in [k for k in ctx.checkpoints if k > start]:
                    del ctx.checkpoints[k]
            del have[start:]
            del ctx.keys[start:]
            ctx.last = None
        else:
            h, c = ctx.last["h"], ctx.last["c"]
        out = ctx.last
        steps = 0
        while len(have) < len(ids):
            if should_stop is not None and should_stop():
                # a consistent, shorter context: the next request resumes from this step
                ctx.last = out
                ctx.last_steps = steps
                ctx.stable = max(len(have) - 1, 0)
                ctx.texts = self._texts(tokens, ctx.stable)
                raise Cancelled(f"the request was cancelled after {steps} model steps")
            n = len(have)
            # read up to the next checkpoint boundary in one call when the chunk graph is there
            end = min(len(ids), (n // CHECKPOINT + 1) * CHECKPOINT)
            if self.encoder is not None and end - n >= ENCODE_MIN:
                out = self.encode(np.array([ids[n:end]], np.int64), h, c)
                ctx.keys.extend(out.pop("keys")[0])
            else:
                end = n + 1
                out = self.step(np.array([ids[n]], np.int64), h, c)
                ctx.keys.append(out["key"][0])
            h, c = out["h"], out["c"]
            have.extend(ids[n:end])
            steps += end - n
            if len(have) % CHECKPOINT == 0:
                ctx.checkpoints[len(have)] = (h, c)
        ctx.last = out
        ctx.last_steps = steps
        ctx.stable = len(tokens)
        ctx.texts = self._texts(tokens, len(tokens))
        return steps

    def _texts(self, tokens: list[Token], n: int) -> list[str]:
        """The spellings of the ids consumed for `tokens[:n]` as far back as the copy memory reaches (the list
        aligns with the end of the keys); the copy memory matches exact token texts, and <bos> matches nothing
        a candidate can be."""
        lo = max(0, n - self.memory)
        return (["<bos>"] if lo == 0 else []) + [t.text for t in tokens[lo:n]]

    def memory_of(self, keys: list[np.ndarray]) -> np.ndarray:
        """The copy memory: the last `memory` keys as one [n, K] array."""
        n = min(len(keys), self.memory)
        return np.stack(keys[-n:]) if n else np.zeros((0, self.key_dim), np.float32)

    def distribution(self, last: dict[str, np.ndarray], keys: list[np.ndarray] | np.ndarray, texts: list[str],
                     lang: str | None = None) -> Distribution:
        """The next-token distribution after the step that produced `last`, copying from the last `memory` keys.

        `keys` is the list of keys or an already stacked memory array whose rows align with the end of `texts`.
        With the document's `lang`, vocabulary words banned in that language get probability 0 (the softmax
        runs over the allowed words only, as in training); a language without a mask bans nothing.
        """
        logits = last["logits"][0]
        mask = self.language_masks.get(lang) if lang else None
        if mask is not None:
            logits = np.where(mask, logits, -np.inf)
        p_vocab = softmax(logits)
        gate = float(np.asarray(last["gate"]).reshape(-1)[0])
        copy: dict[str, float] = {}
        mem = keys if isinstance(keys, np.ndarray) else self.memory_of(keys)
        n = min(mem.shape[0], self.memory)
        if n:
            att = softmax(mem[-n:] @ last["query"][0] * self._scale)
            for text, weight in zip(texts[-n:], att.tolist()):
                copy[text] = copy.get(text, 0.0) + weight
        return Distribution(p_vocab=p_vocab, copy=copy, gate=gate)

    def cached_distribution(self, ctx: ContextCache, lang: str | None = None) -> Distribution:
        """`distribution` at the end of `ctx`, computed once per model state (typing inside a word reuses it).

        `lang` is the document's language (None: the cache's `lang` attribute when it has one, else no mask).
        """
        lang = lang if lang is not None else getattr(ctx, "lang", None)
        cached = ctx.dist
        if cached is not None and cached[0] is ctx.last and (len(cached) < 4 or cached[3] == lang):
            return cached[1]
        mem = self.memory_of(ctx.keys)
        dist = self.distribution(ctx.last, mem, ctx.texts, lang)
        ctx.dist = (ctx.last, dist, mem, lang)
        return dist


class CharModel:
    """The byte-level LSTM (used to score identifiers the token model has never seen, and by `codecomp sample`)."""

    def __init__(self, artifact: Artifact, threads: int = 1) -> None:
        info = artifact.models["char"]
        self.layers = int(info["layers"])
        self.hidden = int(info["hidden"])
        self.session = artifact.session(info.get("file", "char.onnx"), threads=threads)
        inputs = [i.name for i in self.session.get_inputs()]
        if inputs != ["byte", "h", "c"]:
            raise ArtifactError(f"char.onnx has inputs {inputs}, expected ['byte', 'h', 'c']; re-export it.")

    def zero_state(self, batch: int = 1) -> tuple[np.ndarray, np.ndarray]:
        """The initial (h, c)."""
        shape = (self.layers, batch, self.hidden)
        return np.zeros(shape, np.float32), np.zeros(shape, np.float32)

    def step(self, byte_ids: np.ndarray, h: np.ndarray, c: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """One step: (logits [B, 259], h, c)."""
        logits, h2, c2 = self.session.run(None, {"byte": np.asarray(byte_ids, np.int64), "h": h, "c": c})
        return logits, h2, c2
