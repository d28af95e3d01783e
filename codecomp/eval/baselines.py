"""Baseline completion systems, scored on the same positions as the engine.

All baselines are pure Python / numpy (no torch) and answer the interface the harness uses for every system
(:class:`CompletionSystem`): rank words at a position given what was typed, predict the rest of the line,
predict the next token.  They are:

* ``unigram``: global token frequency of the training split;
* ``ngram4-kn``: a 4-gram model with interpolated modified Kneser-Ney smoothing (Chen & Goodman), counted
  with numpy so that millions of training tokens take seconds;
* ``ngram4-kn+cache``: the same mixed with a per-file cache (a Witten-Bell n-gram of the file itself, in the
  spirit of Hellendoorn & Devanbu 2017); the cache sees what the engine sees: the whole file except the
  blanked position, or only the text left of the cursor when the user is typing;
* ``recency``: identifiers of the file, the most recently used before the cursor first;
* ``file-frequency``: identifiers of the file by number of occurrences;
* ``repeat-line``: line completion only: the rest of the most recent earlier line of the file that starts with
  the same tokens as the cursor's line so far.
"""
from __future__ import annotations

from collections import Counter
from typing import Protocol, Sequence

import numpy as np
from tqdm import tqdm

from codecomp.engine.ngram import FileCache  # the per-file cache is shared with the engine
from codecomp.eval.documents import EOL, IDENTIFIER, FileDoc, Query, is_word

BOS = "<bos>"
UNK = "<unk>"
_SPECIALS = (BOS, UNK)
_MAX_LINE_TOKENS = 24


class CompletionSystem(Protocol):
    """What the harness asks of every system (the engine adapter and each baseline)."""

    name: str
    tasks: frozenset[str]

    def start_file(self, doc: FileDoc) -> None:
        """Called before the first query on a file (queries of one file come in increasing position)."""

    def rank(self, q: Query, k: int = 10) -> list[str]:
        """Up to ``k`` completion labels at the cursor, best first (labels include what was typed)."""

    def rest_of_line(self, q: Query) -> str:
        """Predicted text from the cursor to the end of the line (excluding what was typed)."""

    def next_token(self, q: Query) -> str | None:
        """Predicted next token at the cursor (``q.typed`` is empty)."""


def join_tokens(tokens: Sequence[str]) -> str:
    """Render predicted tokens as code: a space only between two word-like tokens."""
    out = ""
    for t in tokens:
        if out and (out[-1].isalnum() or out[-1] in "_$") and (t[:1].isalnum() or t[:1] in "_$"):
            out += " "
        out += t
    return out


# --------------------------------------------------------------------------------------------- n-gram KN
class KneserNeyModel:
    """Interpolated modified Kneser-Ney n-gram model over token strings.

    Storage: for each order ``k`` the k-grams are keyed by ``dense_index(context) * V + word`` where
    ``dense_index`` numbers the distinct (k-1)-grams of the training data; keys live in sorted int64 arrays
    (lookups by binary search), so memory stays near 8 bytes per distinct n-gram.  Every file is padded on
    the left with ``order - 1`` ``<bos>`` markers; ``<bos>`` is never predicted.
    """

    def __init__(self, order: int = 4, min_count: int = 1, max_vocab: int | None = None) -> None:
        if order < 1:
            raise ValueError(f"an n-gram model needs order >= 1, got {order}")
        self.order = order
        self.min_count = min_count
        self.max_vocab = max_vocab
        self.vocab: list[str] = []
        self.index: dict[str, int] = {}

    # ------------------------------------------------------------------------------------------ training
    def fit(self, streams: Sequence[Sequence[str]], progress: bool = False) -> "KneserNeyModel":
        """Count and smooth over token streams (one per file)."""
        n = self.order
        freq: Counter[str] = Counter()
        for s in tqdm(streams, desc="n-gram vocabulary", disable=not progress, leave=False):
            freq.update(s)
        for sp in _SPECIALS:
            freq.pop(sp, None)
        # most frequent first, ties by the word itself: ids never depend on the order files were counted in
        ranked = sorted(freq.items(), key=lambda wc: (-wc[1], wc[0]))[:self.max_vocab]
        words = [w for w, c in ranked if c >= self.min_count]
        self.vocab = list(_SPECIALS) + words
        self.index = {w: i for i, w in enumerate(self.vocab)}
        V = self.V = len(self.vocab)
        bos, unk = 0, 1

        pieces = []
        for s in tqdm(streams, desc="n-gram ids", disable=not progress, leave=False):
            pieces.append(np.zeros(n - 1, dtype=np.int64))
            pieces.append(np.fromiter((self.index.get(t, unk) for t in s), dtype=np.int64, count=len(s)))
        ids = np.concatenate(pieces) if pieces else np.zeros(0, dtype=np.int64)
        T = len(ids)

        # keys[k][i] identifies the k-gram ending at position t = i + k - 1.
        keys: dict[int, np.ndarray] = {1: ids}
        self.ctx_tables: dict[int, np.ndarray] = {}
        dense = ids  # dense index of the (k-1)-gram ending at each position (order 1: the word id itself)
        for k in range(2, n + 1):
            key = dense[: T - k + 1] * V + ids[k - 1:]
            keys[k] = key
            if k < n:
                table = _unique(key)
                self.ctx_tables[k] = table
                dense = np.searchsorted(table, key)

        # Adjusted counts: raw counts at the highest order, continuation counts below it.
        self.ev_keys: dict[int, np.ndarray] = {}
        self.ev_counts: dict[int, np.ndarray] = {}
        valid_top = ids[n - 1:] != bos
        top_keys, top_first, top_counts = np.unique(keys[n][valid_top], return_index=True, return_counts=True)
        self.ev_keys[n], self.ev_counts[n] = top_keys, top_counts
        # positions t of one occurrence of each distinct higher-order event, walked down the orders
        t_rep = np.flatnonzero(valid_top)[top_first] + (n - 1)
        for k in range(n - 1, 0, -1):
            suffix = keys[k][t_rep - (k - 1)]
            ks, first, counts = np.unique(suffix, return_index=True, return_counts=True)
            self.ev_keys[k], self.ev_counts[k] = ks, counts
            t_rep = t_rep[first]

        # Per-context totals and counts-of-counts, and the discounts of each order.
        self.discounts: dict[int, tuple[float, float, float]] = {}
        self.ctx_ids: dict[int, np.ndarray] = {}
        self.ctx_stats: dict[int, np.ndarray] = {}  # rows: total, gamma numerator
        for k in range(1, n + 1):
            a = self.ev_counts[k]
            cc = [int(np.sum(a == j)) for j in (1, 2, 3, 4)]
            d = _modified_kn_discounts(*cc)
            self.discounts[k] = d
            disc = np.where(a == 1, d[0], np.where(a == 2, d[1], d[2]))
            ctx = self.ev_keys[k] // V if k > 1 else np.zeros(len(a), dtype=np.int64)
            uniq, starts = np.unique(ctx, return_index=True)
            total = np.add.reduceat(a, starts) if len(a) else np.zeros(0, dtype=np.int64)
            gnum = np.add.reduceat(disc, starts) if len(a) else np.zeros(0)
            self.ctx_ids[k] = uniq
            self.ctx_stats[k] = np.stack([total.astype(np.float64), gnum.astype(np.float64)])
        self.unigram_adj = np.zeros(V, dtype=np.float64)
        self.unigram_adj[self.ev_keys[1]] = self.ev_counts[1]
        self.raw_freq = np.zeros(V, dtype=np.int64)
        for w, c in freq.items():
            i = self.index.get(w)
            if i is not None:
                self.raw_freq[i] = c
        self.p_unigram = self._p1(np.arange(V))
        self._sorted_words = sorted(range(V), key=lambda i: self.vocab[i])
        self._sorted_strings = [self.vocab[i] for i in self._sorted_words]
        # rank of each id in string order: the explicit tie-break of every ranking (higher score, then the string)
        self.string_rank = np.empty(V, dtype=np.int64)
        self.string_rank[self._sorted_words] = np.arange(V)
        self._unigram_order = self.ranked(np.arange(V), self.p_unigram)
        self.word_mask = np.array([is_word(w) and w not in _SPECIALS for w in self.vocab], dtype=bool)
        self.candidate_mask = np.ones(V, dtype=bool)
        self.candidate_mask[[bos, unk]] = False
        return self

    def ranked(self, ids: np.ndarray, scores: np.ndarray) -> np.ndarray:
        """``ids`` ordered by score (highest first), equal scores by the token's string."""
        ids = np.asarray(ids, dtype=np.int64)
        return ids[np.lexsort((self.string_rank[ids], -np.asarray(scores)))]

    # ------------------------------------------------------------------------------------------ scoring
    def _discount(self, k: int, a: np.ndarray) -> np.ndarray:
        d1, d2, d3 = self.discounts[k]
        return np.where(a == 0, 0.0, np.where(a == 1, d1, np.where(a == 2, d2, d3)))

    def _p1(self, w: np.ndarray) -> np.ndarray:
        total, gnum = self.ctx_stats[1][:, 0] if self.ctx_stats[1].shape[1] else (0.0, 0.0)
        if total <= 0:
            return np.full(len(w), 1.0 / self.V)
        a = self.unigram_adj[w]
        return np.maximum(a - self._discount(1, a), 0.0) / total + (gnum / total) / self.V

    def context_ids(self, context: Sequence[str]) -> list[int | None]:
        """Dense index of each context suffix: element ``k`` (2..n) is the context used at order ``k``,
        None when that suffix never occurred in training."""
        n, V = self.order, self.V
        out: list[int | None] = [None] * (n + 1)
        if n < 2:
            return out
        tail = [self.index.get(t, 1) for t in context[-(n - 1):]]
        ctx = [0] * (n - 1 - len(tail)) + tail  # left padding with <bos>, as in training
        out[2] = ctx[-1]
        for k in range(3, n + 1):
            gram = ctx[-(k - 1):]
            d: int | None = gram[0]
            for j in range(2, k):
                key = d * V + gram[j - 1]
                table = self.ctx_tables[j]
                pos = int(np.searchsorted(table, key))
                if pos >= len(table) or table[pos] != key:
                    d = None
                    break
                d = pos
            out[k] = d
        return out

    def probs(self, context: Sequence[str], words: np.ndarray) -> np.ndarray:
        """P(w | context) for an array of word ids."""
        words = np.asarray(words, dtype=np.int64)
        p = self._p1(words)
        cids = self.context_ids(context)
        V = self.V
        for k in range(2, self.order + 1):
            c = cids[k]
            if c is None:
                continue
            ci = self.ctx_ids[k]
            pos = int(np.searchsorted(ci, c))
            if pos >= len(ci) or ci[pos] != c:
                continue
            total, gnum = self.ctx_stats[k][:, pos]
            keys = c * V + words
            ek = self.ev_keys[k]
            j = np.minimum(np.searchsorted(ek, keys), len(ek) - 1)
            a = np.where(ek[j] == keys, self.ev_counts[k][j], 0).astype(np.float64)
            p = np.maximum(a - self._discount(k, a), 0.0) / total + (gnum / total) * p
        return p

    def distribution(self, context: Sequence[str]) -> np.ndarray:
        """The full next-token distribution over the vocabulary (sums to 1)."""
        return self.probs(context, np.arange(self.V))

    def continuations(self, context: Sequence[str]) -> np.ndarray:
        """Ids of every word seen after some suffix of the context (order >= 2)."""
        cids = self.context_ids(context)
        V = self.V
        parts = []
        for k in range(2, self.order + 1):
            c = cids[k]
            if c is None:
                continue
            ek = self.ev_keys[k]
            lo, hi = np.searchsorted(ek, [c * V, (c + 1) * V])
            parts.append(ek[lo:hi] - c * V)
        return _unique(np.concatenate(parts)) if parts else np.zeros(0, dtype=np.int64)

    def prefix_mask(self, prefix: str) -> np.ndarray | None:
        """Boolean mask of vocabulary entries starting with ``prefix`` (None when the prefix is empty)."""
        if not prefix:
            return None
        import bisect

        lo = bisect.bisect_left(self._sorted_strings, prefix)
        hi = bisect.bisect_left(self._sorted_strings, prefix + "\U0010ffff")
        mask = np.zeros(self.V, dtype=bool)
        mask[self._sorted_words[lo:hi]] = True
        return mask

    def top(self, context: Sequence[str], k: int, prefix: str = "", words_only: bool = False,
            extra: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """The ``k + extra`` most probable next tokens (ids, probabilities), filtered by prefix / word-ness.

        Exact: a word unseen after every context suffix scores a constant times its unigram probability,
        so the candidates are the continuations plus the best unigrams.
        """
        allowed = self.candidate_mask & (self.word_mask if words_only else True)
        pm = self.prefix_mask(prefix)
        if pm is not None:
            allowed = allowed & pm
        want = k + extra
        cont = self.continuations(context)
        cont = cont[allowed[cont]]
        # the best allowed unigrams, walking the precomputed unigram order
        best_uni = self._unigram_order[np.flatnonzero(allowed[self._unigram_order])[:want + len(cont)]]
        cand = _unique(np.concatenate([cont, best_uni]))
        if len(cand) == 0:
            return np.zeros(0, dtype=np.int64), np.zeros(0)
        p = self.probs(context, cand)
        order = np.lexsort((self.string_rank[cand], -p))[:want]  # ties by string, as everywhere
        return cand[order], p[order]


def _unique(a: np.ndarray) -> np.ndarray:
    """Sorted distinct values (sort-based: faster than hashing for large integer arrays)."""
    if len(a) == 0:
        return a
    x = np.sort(a)
    return x[np.concatenate(([True], x[1:] != x[:-1]))]


def _modified_kn_discounts(n1: int, n2: int, n3: int, n4: int) -> tuple[float, float, float]:
    """Chen & Goodman discounts D1, D2, D3+ from counts-of-counts, clamped to valid ranges.

    On tiny data the estimates are undefined or out of range; fixed fallbacks keep the model normalised.
    """
    if n1 == 0 or n2 == 0:
        return 0.5, 1.0, 1.5
    y = n1 / (n1 + 2 * n2)
    d1 = 1 - 2 * y * n2 / n1
    d2 = 2 - 3 * y * n3 / n2 if n3 else 1.0
    d3 = 3 - 4 * y * n4 / n3 if n3 and n4 else 1.5
    return (min(max(d1, 0.05), 1.0), min(max(d2, 0.05), 2.0), min(max(d3, 0.05), 3.0))


# ---------------------------------------------------------------------------------------------- systems
class NGramSystem:
    """4-gram Kneser-Ney completion, optionally mixed with the per-file cache.

    Mixing weight of the cache: ``cache_max * n / (n + cache_beta)`` where ``n`` is the number of tokens the
    cache has counted: a longer file tells more about itself.  Inside the cache, Witten-Bell back-off takes
    care of contexts the file has not seen.  The defaults (cache order 5, weight up to 0.9) were chosen on
    the valid split of the npm corpus, never on test.
    """

    def __init__(self, model: KneserNeyModel, cache: bool = True, cache_order: int = 5,
                 cache_beta: float = 20.0, cache_max: float = 0.9) -> None:
        self.model = model
        self.use_cache = cache
        self.name = f"ngram{model.order}-kn" + ("+cache" if cache else "")
        self.tasks = frozenset({"tokens", "identifiers", "lines", "keystrokes"})
        self.cache = FileCache(cache_order, is_word=is_word)
        self.cache_beta = cache_beta
        self.cache_max = cache_max
        self._doc: FileDoc | None = None
        self._left_upto = 0

    def start_file(self, doc: FileDoc) -> None:
        """Reset the cache for a new file."""
        self._doc = doc
        self._mode: str | None = None

    def _prepare(self, q: Query) -> list[str]:
        """Set the cache to what the query may see; return the left context stream."""
        stream, pos = q.doc.stream
        p = pos[q.index]
        if self._doc is not q.doc:
            self.start_file(q.doc)
        if self.use_cache:
            if q.view == "line":
                # the file without the rest of the cursor's line: what precedes the cursor, and the lines after
                after = _next_line_token(q.doc, q.index)
                tail = stream[pos[after] - 1:] if after < len(pos) else []
                self.cache.build_parts([stream[:p], tail])
                self._mode = None
            elif q.view == "blank":
                if self._mode != "blank":
                    self.cache.build(stream)
                    self._mode = "blank"
            else:
                if self._mode != "left" or p < self._left_upto:
                    self.cache.build(stream, upto=p)
                    self._mode = "left"
                    self._left_upto = p
                while self._left_upto < p:
                    self.cache.add(self._left_upto)
                    self._left_upto += 1
        return stream[:p]

    def _scored(self, context: Sequence[str], k: int, prefix: str, words_only: bool) -> list[tuple[str, float]]:
        """The ``k`` best tokens under the mixture, among the n-gram's and the cache's best candidates."""
        ids, probs = self.model.top(context, k, prefix, words_only, extra=10)
        global_p = {self.model.vocab[i]: p for i, p in zip(ids.tolist(), probs.tolist())}
        lam = 0.0
        if self.use_cache and self.cache.size() > 0:
            n = self.cache.size()
            lam = self.cache_max * n / (n + self.cache_beta)
        if lam <= 0:
            return _best(global_p, k)
        cands = self.cache.candidates(context, prefix, words_only, k + 10)
        missing = [w for w in cands if w not in global_p]
        if missing:
            mids = np.array([self.model.index.get(w, 1) for w in missing], dtype=np.int64)
            for w, i, p in zip(missing, mids.tolist(), self.model.probs(context, mids).tolist()):
                global_p[w] = p if i != 1 else 0.0  # a word the n-gram never saw gets only cache mass
        scores = {w: (1 - lam) * p + lam * self.cache.prob(context, w) for w, p in global_p.items()}
        return _best(scores, k)

    def rank(self, q: Query, k: int = 10) -> list[str]:
        """Words completing the typed prefix, by mixed n-gram probability."""
        context = self._prepare(q)
        hidden = q.view == "blank" and self.use_cache
        if hidden:
            self.cache.remove(q.doc.stream[1][q.index])
        try:
            return [w for w, _ in self._scored(context, k, q.typed, True)]
        finally:
            if hidden:
                self.cache.restore(q.doc.stream[1][q.index])

    def next_token(self, q: Query) -> str | None:
        """Most probable next token (any kind) given the left context."""
        context = self._prepare(q)
        best = self._scored(context, 1, "", False)
        return best[0][0] if best else None

    def rest_of_line(self, q: Query) -> str:
        """Greedy decoding until the end-of-line marker."""
        context = list(self._prepare(q))
        hidden = q.view == "blank" and self.use_cache
        if hidden:
            self.cache.remove(q.doc.stream[1][q.index])
        try:
            out: list[str] = []
            prefix = q.typed
            for _ in range(_MAX_LINE_TOKENS):
                best = self._scored(context, 1, prefix, False)
                if not best or best[0][0] == EOL:
                    break
                tok = best[0][0]
                out.append(tok[len(prefix):] if prefix else tok)
                context.append(tok)
                prefix = ""
            if not out:
                return ""
            # render with the typed part in place so spacing is right, then drop what was typed
            out[0] = q.typed + out[0]
            return join_tokens(out)[len(q.typed):]
        finally:
            if hidden:
                self.cache.restore(q.doc.stream[1][q.index])


def _next_line_token(doc: FileDoc, i: int) -> int:
    """Index of the first token on a line after token ``i``'s line (``len(tokens)`` when there is none)."""
    j = i
    while j < len(doc.tokens) and doc.lines[j] == doc.lines[i]:
        j += 1
    return j


class RepeatLineSystem:
    """The rest of the most recent earlier line that starts with the same tokens as the cursor's line so far.

    The line's tokens before the cursor (none at the start of a line) and the typed part of the current word
    must match the start of that earlier line, which must go on after them; the prediction is the rest of that
    line's code as written there.  No prediction (an empty one) when no earlier line starts that way.  A cheap
    baseline for ghost text: an engine that cannot beat it at the start of lines is not worth showing.
    """

    name = "repeat-line"
    tasks = frozenset({"lines"})

    def __init__(self) -> None:
        self._doc: FileDoc | None = None
        self._starts: list[int] = []    # first token index of each code line, in order

    def start_file(self, doc: FileDoc) -> None:
        """Index the lines of the file (first token of each)."""
        self._doc = doc
        self._starts = [i for i in range(len(doc.tokens)) if i == 0 or doc.lines[i] != doc.lines[i - 1]]

    def rest_of_line(self, q: Query) -> str:
        """The rest of the latest earlier line that starts like the cursor's line; empty when none does."""
        d = q.doc
        if self._doc is not d:
            self.start_file(d)
        i = q.index
        first = i
        while first > 0 and d.lines[first - 1] == d.lines[i]:
            first -= 1
        typed_tokens = d.tokens[first:i]
        k = len(typed_tokens)
        from bisect import bisect_left

        for li in range(bisect_left(self._starts, first) - 1, -1, -1):
            s = self._starts[li]
            e = self._starts[li + 1] if li + 1 < len(self._starts) else len(d.tokens)
            if e - s <= k or d.tokens[s:s + k] != typed_tokens or not d.tokens[s + k].startswith(q.typed):
                continue
            start = d.start_chars[s + k] + len(q.typed)
            rest = d.text[start:d.end_char(e - 1)]
            if rest.strip():
                return rest
        return ""

    def rank(self, q: Query, k: int = 10) -> list[str]:
        """Not a ranking system."""
        return []

    def next_token(self, q: Query) -> str | None:
        """Not used: this baseline only takes part in line completion."""
        return None


class UnigramSystem:
    """Global token frequency of the training split (no context at all)."""

    name = "unigram"
    tasks = frozenset({"tokens", "identifiers", "keystrokes"})

    def __init__(self, model: KneserNeyModel) -> None:
        self.model = model
        order = model.ranked(np.arange(model.V), model.raw_freq)  # most frequent first, ties by string
        self._words = [model.vocab[i] for i in order if model.word_mask[i] and model.raw_freq[i] > 0]
        self._tokens = [model.vocab[i] for i in order if model.candidate_mask[i] and model.raw_freq[i] > 0
                        and model.vocab[i] != EOL]

    def start_file(self, doc: FileDoc) -> None:
        """Nothing depends on the file."""

    def rank(self, q: Query, k: int = 10) -> list[str]:
        """The most frequent words starting with the typed prefix."""
        out = []
        for w in self._words:
            if w.startswith(q.typed):
                out.append(w)
                if len(out) == k:
                    break
        return out

    def next_token(self, q: Query) -> str | None:
        """Always the most frequent token."""
        return self._tokens[0] if self._tokens else None

    def rest_of_line(self, q: Query) -> str:
        """Completes only the typed word."""
        r = self.rank(q, 1)
        return r[0][len(q.typed):] if r else ""


class RecencySystem:
    """Identifiers of the file, most recently used before the cursor first, then the nearest ones after."""

    name = "recency"
    tasks = frozenset({"identifiers", "keystrokes"})

    def start_file(self, doc: FileDoc) -> None:
        """Nothing to precompute."""

    def rank(self, q: Query, k: int = 10) -> list[str]:
        """Identifiers by distance to the cursor, those before the cursor first."""
        d = q.doc
        seen: dict[str, None] = {}
        for i in range(q.index - 1, -1, -1):
            if d.kinds[i] == IDENTIFIER and d.tokens[i].startswith(q.typed):
                seen.setdefault(d.tokens[i])
                if len(seen) >= k:
                    return list(seen)
        if q.view == "blank":
            for i in range(q.index + 1, len(d.tokens)):
                if d.kinds[i] == IDENTIFIER and d.tokens[i].startswith(q.typed):
                    seen.setdefault(d.tokens[i])
                    if len(seen) >= k:
                        break
        return list(seen)

    def next_token(self, q: Query) -> str | None:
        """Not a next-token model: the most recent identifier."""
        r = self.rank(q, 1)
        return r[0] if r else None

    def rest_of_line(self, q: Query) -> str:
        """Completes only the typed word."""
        r = self.rank(q, 1)
        return r[0][len(q.typed):] if r else ""


class FileFrequencySystem:
    """Identifiers of the file by frequency (the blanked occurrence not counted); ties by first use."""

    name = "file-frequency"
    tasks = frozenset({"identifiers", "keystrokes"})

    def __init__(self) -> None:
        self._doc: FileDoc | None = None
        self._counts: dict[str, int] = {}
        self._first_doc: FileDoc | None = None
        self._first: dict[str, int] = {}

    def start_file(self, doc: FileDoc) -> None:
        """Counts are computed on the first query of a file."""

    def rank(self, q: Query, k: int = 10) -> list[str]:
        """The file's identifiers starting with the typed prefix, most frequent first."""
        d = q.doc
        if q.view == "blank":
            if self._doc is not d:
                self._doc, self._counts = d, d.identifier_counts()
            counts = dict(self._counts)
            if d.kinds[q.index] == IDENTIFIER:
                counts[d.tokens[q.index]] -= 1  # the blanked occurrence is not seen
        else:
            counts = {}
            for i in range(q.index):
                if d.kinds[i] == IDENTIFIER:
                    counts[d.tokens[i]] = counts.get(d.tokens[i], 0) + 1
        first = self._first_use(d)
        ranked = sorted((w for w, c in counts.items() if c > 0 and w.startswith(q.typed)),
                        key=lambda w: (-counts[w], first[w], w))  # ties: the word used first in the file
        return ranked[:k]

    def _first_use(self, d: FileDoc) -> dict[str, int]:
        """Token index of each identifier's first occurrence in the file (the documented tie-break)."""
        if self._first_doc is not d:
            self._first_doc, self._first = d, {}
            for i, (tok, kind) in enumerate(zip(d.tokens, d.kinds)):
                if kind == IDENTIFIER:
                    self._first.setdefault(tok, i)
        return self._first

    def next_token(self, q: Query) -> str | None:
        """Not a next-token model: the file's most frequent identifier."""
        r = self.rank(q, 1)
        return r[0] if r else None

    def rest_of_line(self, q: Query) -> str:
        """Completes only the typed word."""
        r = self.rank(q, 1)
        return r[0][len(q.typed):] if r else ""


def _best(scores: dict[str, float], k: int) -> list[tuple[str, float]]:
    """The ``k`` best (token, score) pairs: highest score first, equal scores by the token's string, so the
    ranking never depends on the order the candidates were collected in (set order, ``PYTHONHASHSEED``)."""
    return sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))[:k]


def train_baselines(streams: Sequence[Sequence[str]], order: int = 4, progress: bool = True,
                    max_vocab: int | None = None) -> list[CompletionSystem]:
    """Train the n-gram on token streams of the training files (see ``FileDoc.stream``); return every baseline."""
    model = KneserNeyModel(order=order, max_vocab=max_vocab).fit(streams, progress=progress)
    return [UnigramSystem(model), NGramSystem(model, cache=False), NGramSystem(model, cache=True),
            FileFrequencySystem(), RecencySystem(), RepeatLineSystem()]
