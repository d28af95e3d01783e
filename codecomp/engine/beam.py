"""Beam search for the rest of a line with the token model (vocabulary + copy), batched, torch-free.

The token model never saw line breaks, so where a line ends comes from the document (`LineStats.p_break`): after
every prefix `h` of a hypothesis the probability that the line ends there is the mass of the next tokens `x`
weighted by P(a break between last(h) and x); a hypothesis that goes on with `x` keeps p(x) * (1 - P(break)).
A finished line scores log P(tokens, then a break).

All live hypotheses (and the *forced* rows: given continuations, such as a line repeated in the document, whose
probability is wanted) advance in one model call per step.  The copy memory of a row is the context's memory
plus the keys of the tokens the row has read, so a fragment can copy a name it just introduced.

Syntax rules: a closing bracket must close the innermost bracket open at the cursor (within the last few
kilobytes) or one the fragment opened; a `;` outside parentheses ends the line; a finished line has closed every
bracket it opened, unless it ends by opening one (`function () {`); no trigram repeats inside a fragment; the
special tokens (`<str>`, `<num>`, `<unk>`...) cannot be shown and are never chosen.
"""
from __future__ import annotations

import math
import re
import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from codecomp.engine.types import Cancelled

OPENERS = {"(": ")", "[": "]", "{": "}"}
CLOSERS = {v: k for k, v in OPENERS.items()}
SPECIALS = ("<pad>", "<unk>", "<bos>", "<eos>", "<str>", "<num>")
_STRING = re.compile(r"""^(?:[LuUR]|u8)?R?["'`]""")
_NUMBER = re.compile(r"^\.?[0-9]")
FLOOR = 1e-7          # probability given to a forced token the model cannot produce at all
END_TOP = 12          # next tokens whose own break probability enters the end-of-line probability


@dataclass
class Line:
    """A finished line: its tokens and log P(tokens, then the end of the line)."""

    tokens: list[str]
    logp: float
    end_logp: float                      # log P(the line ends after the last token)
    forced: int = -1                     # index of the forced continuation it scores (-1: found by the beam)
    min_logp: float = 0.0                # the least probable token's log-probability


@dataclass
class _Row:
    tokens: list[str]
    logp: float
    stack: list[str]                     # brackets open at this point (innermost last)
    opened: int                          # brackets the fragment opened and has not closed
    min_logp: float = 0.0
    forced: list[str] | None = None      # tokens still to read (forced rows)
    forced_index: int = -1


@dataclass
class SearchSpec:
    """What the search starts from and how far it may go."""

    last: dict[str, np.ndarray]          # model outputs at the cursor (after the last context token)
    memory: np.ndarray                   # copy keys [n, K] aligned with the end of `texts`
    texts: list[str]
    lang: str
    stack: list[str]                     # brackets open at the cursor, innermost last
    prev: str | None                     # the last code token before the fragment
    line_start: bool                     # no code before the cursor on its line
    first: list[tuple[str, float]] | None = None   # allowed first tokens with prior weights (None: any)
    forced: list[list[str]] = field(default_factory=list)
    also_first: list[str] = field(default_factory=list)  # first tokens tried whatever the model says (the list's top)
    rest_first: str | None = None        # the token already after the cursor on its line, if any
    width: int = 5
    max_tokens: int = 16
    expand: int = 6                      # children per hypothesis
    budget_s: float | None = None        # stop growing lines after this long (None: no limit)


def _input_id(model, text: str) -> int:
    i = model.index.get(text)
    if i is not None:
        return i
    if _STRING.match(text) and len(text) >= 2:
        return model.str_id
    if _NUMBER.match(text):
        return model.num_id
    return model.unk


class Searcher:
    """One beam search (see the module docstring); `break_p(a, b)` is the line-break probability."""

    def __init__(self, model, spec: SearchSpec, break_p: Callable[[str, str | None], float],
                 should_stop: Callable[[], bool] | None = None) -> None:
        self.model = model
        self.spec = spec
        self.break_p = break_p
        self.stop = should_stop
        self.V = len(model.vocab)
        self.banned = np.array([model.index[s] for s in SPECIALS if s in model.index], np.int64)
        self.mask = model.language_masks.get(spec.lang) if spec.lang else None
        # texts outside the vocabulary get ids after it, per search
        self.extra_texts: list[str] = []
        self.extra_ids: dict[str, int] = {}
        n = min(spec.memory.shape[0], model.memory)
        self.mem = spec.memory[-n:] if n else spec.memory[:0]
        self.mem_ids = np.array([self._text_id(t) for t in spec.texts[-n:]] if n else [], np.int64)
        self._breaks: dict[tuple[str, str | None], float] = {}

    def _text_id(self, text: str) -> int:
        i = self.model.index.get(text)
        if i is not None and i >= len(SPECIALS):
            return i
        if text in ("<bos>",) or not text:
            return -1
        j = self.extra_ids.get(text)
        if j is None:
            j = self.extra_ids[text] = self.V + len(self.extra_texts)
            self.extra_texts.append(text)
        return j

    def _text_of(self, i: int) -> str:
        return self.model.vocab[i] if i < self.V else self.extra_texts[i - self.V]

    def _p_break(self, a: str | None, b: str | None) -> float:
        if a is None:
            return 1.0
        key = (a, b)
        p = self._breaks.get(key)
        if p is None:
            p = self._breaks[key] = self.break_p(a, b)
        return p

    # ------------------------------------------------------------------------------------------- distributions
    def distributions(self, out: dict[str, np.ndarray], extra_keys: np.ndarray | None,
                      extra_ids: np.ndarray | None) -> np.ndarray:
        """p [B, V + extra] of the next token for every row (vocabulary and copy mixed; specials zeroed)."""
        logits = np.asarray(out["logits"], np.float32)
        B = logits.shape[0]
        if self.mask is not None:
            logits = np.where(self.mask[None, :], logits, np.float32(-np.inf))
        logits = logits - logits.max(axis=1, keepdims=True)
        p_vocab = np.exp(logits)
        p_vocab /= p_vocab.sum(axis=1, keepdims=True, dtype=np.float64).astype(np.float32)
        gate = np.asarray(out["gate"], np.float64).reshape(B)
        query = np.asarray(out["query"], np.float64)
        scores = [self.mem @ query.T * self.model._scale] if self.mem.shape[0] else []   # [n, B]
        ids = [np.broadcast_to(self.mem_ids[:, None], (self.mem_ids.size, B))] if self.mem.shape[0] else []
        if extra_keys is not None and extra_keys.shape[1]:
            scores.append(np.einsum("btk,bk->tb", extra_keys, query) * self.model._scale)
            ids.append(extra_ids.T)
        width = self.V + len(self.extra_texts)
        p = np.zeros((B, width), np.float32)
        p[:, :self.V] = (1.0 - gate)[:, None].astype(np.float32) * p_vocab
        if scores:
            s = np.concatenate(scores, axis=0)            # [slots, B]
            idx = np.concatenate(ids, axis=0)             # [slots, B]
            s = s - s.max(axis=0, keepdims=True)
            att = np.exp(s)
            att /= att.sum(axis=0, keepdims=True)
            ok = idx >= 0
            rows = np.broadcast_to(np.arange(B)[None, :], idx.shape)
            flat = (rows[ok] * width + idx[ok]).astype(np.int64)
            copy = np.bincount(flat, weights=att[ok] * gate[rows[ok]], minlength=B * width)
            p += copy.reshape(B, width)
        if self.banned.size:
            p[:, self.banned] = 0.0
        return p

    # ------------------------------------------------------------------------------------------- syntax
    def _after(self, row: _Row, tok: str) -> tuple[list[str], int] | None:
        """(open brackets, brackets the fragment opened) after `tok`, or None when the token is not allowed."""
        stack, opened = row.stack, row.opened
        if tok in CLOSERS:
            if not stack or stack[-1] != CLOSERS[tok]:
                return None
            return stack[:-1], max(opened - 1, 0)
        if tok in OPENERS:
            return stack + [tok], opened + 1
        return stack, opened

    def _may_end(self, row: _Row) -> bool:
        if not row.tokens:
            return False
        last = row.tokens[-1]
        return row.opened == 0 or last in OPENERS

    def _forced_end(self, row: _Row) -> bool:
        last = row.tokens[-1] if row.tokens else None
        return last == ";" and not (row.stack and row.stack[-1] == "(")

    def _repeats(self, row: _Row, tok: str) -> bool:
        t = row.tokens
        if len(t) >= 2 and t[-1] == tok and t[-2] == tok:
            return True
        if len(t) >= 3:
            tri = (t[-2], t[-1], tok)
            for i in range(len(t) - 3):
                if (t[i], t[i + 1], t[i + 2]) == tri:
                    return True
        return False

    # ------------------------------------------------------------------------------------------- search
    def run(self) -> list[Line]:
        spec, model = self.spec, self.model
        last = spec.last
        p0 = self.distributions(last, None, None)[0]
        start = _Row([], 0.0, list(spec.stack), 0)
        rows: list[_Row] = []
        first_ids: list[int] = []
        # the first token: the allowed ones (a typed prefix), else the model's best; weighted by whether a line
        # break comes before it (the cursor at the start of a line's code) or not
        if spec.first is not None:
            options = [(t, w) for t, w in spec.first]
        else:
            k = min(spec.width * 2, p0.size - 1)
            top = np.argpartition(-p0, k)[:k]
            options = [(self._text_of(int(i)), float(p0[int(i)])) for i in top if p0[int(i)] > 0]
            have = {t for t, _ in options}
            for tok in spec.also_first:
                i = self._text_id(tok)
                if tok not in have and 0 <= i < p0.size and p0[i] > 0:
                    options.append((tok, float(p0[i])))
        weighted = []
        for tok, w in options:
            pb = self._p_break(spec.prev, tok)
            w = w * (pb if spec.line_start else 1.0 - pb) if spec.prev is not None else w
            if w > 0 and tok != spec.rest_first:
                weighted.append((tok, w))
        total = sum(w for _, w in weighted) or 1.0
        weighted.sort(key=lambda tw: -tw[1])
        for tok, w in weighted[:spec.width]:
            nxt = self._after(start, tok)
            if nxt is None:
                continue
            lp = math.log(w / total)
            rows.append(_Row([tok], lp, nxt[0], nxt[1], lp))
            first_ids.append(self._text_id(tok))
        for j, toks in enumerate(spec.forced):
            if not toks:
                continue
            i = self._text_id(toks[0])
            p = float(p0[i]) if 0 <= i < p0.size else 0.0
            pb = self._p_break(spec.prev, toks[0])
            p *= (pb if spec.line_start else 1.0 - pb) if spec.prev is not None else 1.0
            lp = math.log(max(p, FLOOR))
            rows.append(_Row([toks[0]], lp, list(spec.stack), 0, lp, forced=toks[1:], forced_index=j))
            first_ids.append(i)
        if not rows:
            return []
        finished: list[Line] = []
        h = np.repeat(last["h"], len(rows), axis=1)
        c = np.repeat(last["c"], len(rows), axis=1)
        extra_keys = np.zeros((len(rows), 0, self.mem.shape[1] if self.mem.ndim == 2 else model.key_dim), np.float64)
        extra_ids = np.zeros((len(rows), 0), np.int64)
        deadline = None if spec.budget_s is None else time.perf_counter() + spec.budget_s
        for step in range(spec.max_tokens):
            if self.stop is not None and self.stop():
                raise Cancelled("the request was cancelled")
            if deadline is not None and time.perf_counter() > deadline:
                if finished or time.perf_counter() > deadline + spec.budget_s:
                    break  # out of time: the lines finished so far (none, when even twice the time is spent)
            ids = np.array([_input_id(model, r.tokens[-1]) for r in rows], np.int64)
            out = model.step(ids, h, c)
            extra_keys = np.concatenate([extra_keys, np.asarray(out["key"], np.float64)[:, None, :]], axis=1)
            extra_ids = np.concatenate([extra_ids, np.array([[self._text_id(r.tokens[-1])] for r in rows])], axis=1)
            # an id given to a text the first time this step must fit in the row's width
            p = self.distributions(out, extra_keys, extra_ids)
            children: list[tuple[float, int, _Row]] = []
            keep_forced: list[tuple[int, _Row]] = []
            for b, row in enumerate(rows):
                pb_row = p[b]
                a = row.tokens[-1]
                if row.forced is not None:
                    if not row.forced:
                        end = self._end_prob(a, pb_row, self._top(pb_row))
                        finished.append(Line(row.tokens, row.logp + math.log(max(end, FLOOR)),
                                             math.log(max(end, FLOOR)), row.forced_index, row.min_logp))
                        continue
                    tok = row.forced[0]
                    i = self._text_id(tok)
                    q = float(pb_row[i]) if 0 <= i < pb_row.size else 0.0
                    q *= 1.0 - self._p_break(a, tok)
                    lq = math.log(max(q, FLOOR))
                    keep_forced.append((b, _Row(row.tokens + [tok], row.logp + lq, row.stack, 0,
                                                min(row.min_logp, lq), row.forced[1:], row.forced_index)))
                    continue
                forced_end = self._forced_end(row)
                top = self._top(pb_row)
                if self._may_end(row) or forced_end:
                    end = 1.0 if forced_end else self._end_prob(a, pb_row, top)
                    if end > 0:
                        finished.append(Line(row.tokens, row.logp + math.log(end), math.log(end), -1, row.min_logp))
                if forced_end or len(row.tokens) >= spec.max_tokens:
                    continue
                for i in top[:spec.expand]:
                    q = float(pb_row[i])
                    if q <= 0:
                        continue
                    tok = self._text_of(i)
                    if tok == spec.rest_first or self._repeats(row, tok):
                        continue
                    nxt = self._after(row, tok)
                    if nxt is None:
                        continue
                    q *= 1.0 - self._p_break(a, tok)
                    if q <= 0:
                        continue
                    lq = math.log(q)
                    children.append((row.logp + lq, b, _Row(row.tokens + [tok], row.logp + lq, nxt[0], nxt[1],
                                                            min(row.min_logp, lq))))
            children.sort(key=lambda x: -x[0])
            best_done = max((f.logp for f in finished if f.forced < 0), default=-math.inf)
            # probabilities only fall as a line grows: a live row below the best finished line cannot win
            children = [ch for ch in children[:spec.width] if ch[0] > best_done]
            nxt_rows = [(b, r) for _, b, r in children] + keep_forced
            if not nxt_rows:
                break
            parents = np.array([b for b, _ in nxt_rows], np.int64)
            rows = [r for _, r in nxt_rows]
            h, c = out["h"][:, parents, :], out["c"][:, parents, :]
            extra_keys, extra_ids = extra_keys[parents], extra_ids[parents]
        return finished

    @staticmethod
    def _top(p: np.ndarray, k: int = END_TOP) -> list[int]:
        """The `k` most probable next tokens, best first."""
        k = min(k, p.size - 1)
        top = np.argpartition(-p, k)[:k]
        return top[np.argsort(-p[top], kind="stable")].tolist()

    def _end_prob(self, a: str, p: np.ndarray, top: list[int]) -> float:
        """P(the line ends after `a`) = sum over next tokens x of p(x) P(break | a, x) (the best few exactly, the
        rest with the break probability of `a` alone)."""
        mass = 0.0
        end = 0.0
        for i in top:
            q = float(p[i])
            if q <= 0:
                continue
            mass += q
            end += q * self._p_break(a, self._text_of(i))
        end += max(0.0, 1.0 - mass) * self._p_break(a, None)
        return min(max(end, 0.0), 1.0)
