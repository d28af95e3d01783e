"""Per-document n-gram models: the statistics a file offers about itself, cheap and torch-free.

Code repeats itself locally (the same receivers, the same call patterns), so a small model of the document
being edited is a strong complement to a model trained on other projects.  Two forms live here:

* `FileCache`: a Witten-Bell interpolated n-gram model of a token stream, updatable one position at a time
  (the evaluation baselines grow it as a user types, or hide one position of a whole file);
* `IdentifierNgrams`: the engine's form.  At a completion position it counts, over the whole document (text
  after the cursor included), which identifiers follow the last few tokens before the cursor (`order - 1`),
  with one regular-expression scan per order, and mixes those counts with Witten-Bell back-off down to the
  file's identifier frequencies.  Nothing has to be maintained between keystrokes, and the scans are cached
  per (document version, context), so repeated requests at one position cost nothing.

Both share `witten_bell`, the one interpolation rule.
"""
from __future__ import annotations

import heapq
import re
from collections import Counter
from dataclasses import dataclass
from itertools import repeat
from typing import Callable, Sequence

from codecomp.engine.lexing import WORD_BYTES, find_identifiers, is_identifier


def witten_bell(p_lower: float, count: int, total: int, types: int) -> float:
    """Witten-Bell interpolation: P = (c(w) + T * P_lower) / (N + T) for a context seen N times with T types."""
    if total <= 0:
        return p_lower
    return (count + types * p_lower) / (total + types)


class FileCache:
    """A Witten-Bell interpolated n-gram model of one file's own tokens, updatable in both directions.

    ``add`` counts the n-grams ending at one stream position (the harness grows the cache as the user types);
    ``remove`` / ``restore`` uncount and recount exactly the n-grams that contain one position, so the harness
    can hide the blanked token (remove, query, restore) as if no n-gram through it had ever been counted.
    """

    def __init__(self, order: int = 3, is_word: Callable[[str], bool] = is_identifier) -> None:
        self.order = order
        self.is_word = is_word
        self.counts: dict[tuple[str, ...], dict[str, int]] = {}
        self.totals: dict[tuple[str, ...], int] = {}
        self.stream: list[str] = []

    def _change(self, pos: int, delta: int, first: int = 0, lo: int = 0) -> None:
        """Add `delta` to the n-grams ending at stream position `pos` whose context is at least `first` tokens
        long (orders `first + 1` .. `order`) and starts at or after position `lo`; counts and totals that drop to
        zero are deleted, so a cache that removed an n-gram is identical to one that never counted it."""
        w = self.stream[pos]
        for m in range(first, self.order):
            if pos - m < lo:
                break
            ctx = tuple(self.stream[pos - m:pos])
            d = self.counts.setdefault(ctx, {})
            c = d.get(w, 0) + delta
            if c > 0:
                d[w] = c
            else:
                d.pop(w, None)
            if not d:
                del self.counts[ctx]
            t = self.totals.get(ctx, 0) + delta
            if t > 0:
                self.totals[ctx] = t
            else:
                self.totals.pop(ctx, None)

    def build(self, stream: Sequence[str], upto: int | None = None) -> None:
        """Reset the cache to ``stream`` with the n-grams ending before position ``upto`` counted."""
        self.counts, self.totals, self.stream = {}, {}, list(stream)
        for pos in range(len(self.stream) if upto is None else upto):
            self._change(pos, +1)

    def build_parts(self, parts: Sequence[Sequence[str]]) -> None:
        """Reset the cache to the n-grams inside each of `parts` (none spans two parts): a file with a hole,
        such as the lines before and after a line being written."""
        self.counts, self.totals, self.stream = {}, {}, []
        for part in parts:
            lo = len(self.stream)
            self.stream.extend(part)
            for pos in range(lo, len(self.stream)):
                self._change(pos, +1, lo=lo)

    def add(self, pos: int) -> None:
        """Count the n-grams ending at stream position ``pos``."""
        self._change(pos, +1)

    def _hole(self, pos: int, delta: int) -> None:
        """Change exactly the counted n-grams that contain position ``pos``: those ending at ``p`` in
        ``pos .. pos + order - 1`` that reach back to ``pos`` (context length at least ``p - pos``).  The shorter
        n-grams ending after the hole do not contain it and stay counted."""
        for p in range(pos, min(pos + self.order, len(self.stream))):
            self._change(p, delta, first=p - pos)

    def remove(self, pos: int) -> None:
        """Uncount every n-gram that contains position ``pos`` (its word is unseen, before and as context)."""
        self._hole(pos, -1)

    def restore(self, pos: int) -> None:
        """Undo :meth:`remove`: count again exactly the n-grams it uncounted."""
        self._hole(pos, +1)

    def size(self) -> int:
        """Number of tokens counted."""
        return self.totals.get((), 0)

    def prob(self, context: Sequence[str], word: str) -> float:
        """Witten-Bell interpolated P(word | context) from the file's counts (0 for a word not in the file)."""
        total = self.totals.get((), 0)
        if total <= 0:
            return 0.0
        p = self.counts.get((), {}).get(word, 0) / total
        for m in range(1, self.order):
            if len(context) < m:
                break
            ctx = tuple(context[-m:])
            n = self.totals.get(ctx, 0)
            if n <= 0:
                break
            d = self.counts.get(ctx, {})
            p = witten_bell(p, d.get(word, 0), n, len(d))
        return p

    def words(self) -> list[str]:
        """Distinct tokens counted."""
        return list(self.counts.get((), {}).keys())

    def candidates(self, context: Sequence[str], prefix: str, words_only: bool, n: int) -> list[str]:
        """Tokens seen after a suffix of the context, plus the ``n`` most frequent tokens of the file,
        restricted to those starting with ``prefix`` (and word-like ones when ``words_only``), in sorted order.

        Ties among the most frequent are broken by the token itself, and the result is sorted, so it never
        depends on set or hash order (``PYTHONHASHSEED``)."""
        def ok(w: str) -> bool:
            return w.startswith(prefix) and (not words_only or self.is_word(w))

        out: set[str] = set()
        for m in range(1, self.order):
            if len(context) < m:
                break
            d = self.counts.get(tuple(context[-m:]))
            if not d:
                break
            out.update(w for w in d if ok(w))
        uni = self.counts.get((), {})
        out.update(heapq.nsmallest(n, (w for w in uni if ok(w)), key=lambda w: (-uni[w], w)))
        return sorted(out)


# ----------------------------------------------------------------------------------------- engine form
_WORD = rb"[A-Za-z_$\x80-\xff][A-Za-z0-9_$\x80-\xff]*"
# tokens as the context sees them: words, numbers, the multi-character operators, any other single character
_TOKEN = re.compile(_WORD + rb"""|[0-9][A-Za-z0-9_.']*|\?\.|->|::|===|!==|==|!=|<=|>=|&&|\|\||=>|\+\+|--|\S""")
CONTEXT_BYTES = 400          # the last tokens before the cursor are looked for in this many bytes
SCAN_BEFORE = 200_000        # bytes before / after the cursor that are scanned in very long files
SCAN_AFTER = 100_000


def context_tokens(source: bytes, start: int, n: int) -> list[bytes]:
    """The last `n` tokens (bytes) before `start`, by a light lexer (comments and strings are not special)."""
    return _TOKEN.findall(source, max(0, start - CONTEXT_BYTES), start)[-n:]


def _pattern(context: Sequence[bytes]) -> re.Pattern[bytes]:
    """A pattern matching `context` (tokens separated by blanks) followed by an identifier (group 1).

    It starts with the first token's literal bytes so the regular-expression engine can skip ahead by a fast
    literal search; that a word-like first token is not the tail of a longer word is checked by the caller.
    """
    parts: list[bytes] = []
    prev_word = False
    for i, tok in enumerate(context):
        word = _is_word_byte(tok[:1])
        if i == 0:
            parts.append(re.escape(tok))
        else:
            parts.append((rb"\s+" if word and prev_word else rb"\s*") + re.escape(tok))
        prev_word = _is_word_byte(tok[-1:])
    parts.append((rb"\s+" if prev_word else rb"\s*") + b"(" + _WORD + b")")
    return re.compile(b"".join(parts))




def _is_word_byte(b: bytes) -> bool:
    return bool(b) and b[0] in WORD_BYTES


@dataclass
class ContextCounts:
    """Identifiers seen after one context in a document: counts, their total, and the number of types."""

    counts: Counter[str]
    total: int
    types: int


class IdentifierNgrams:
    """Witten-Bell identifier n-grams of one document at one position (see the module docstring).

    `prob(word)` = WB(order n | WB(order n-1 | ... | unigram of the file's identifiers)).  The occurrence the
    user is typing (the word that starts at the cursor's prefix) is never counted.
    """

    def __init__(self, source: bytes, pstart: int, prefix: str, idents: Counter[bytes], ident_total: int,
                 order: int = 5, cache: dict | None = None, version: int = 0) -> None:
        self.prefix = prefix
        self.idents = idents
        self.total = max(ident_total - (1 if prefix else 0), 0)
        ctx = context_tokens(source, pstart, order - 1)
        self.levels: list[ContextCounts] = []
        lo = max(0, pstart - SCAN_BEFORE)
        hi = min(len(source), pstart + SCAN_AFTER)
        for m in range(1, len(ctx) + 1):
            key = (version, pstart, tuple(ctx[-m:]))
            level = cache.get(key) if cache is not None else None
            if level is None:
                counts: Counter[str] = Counter()
                guard = _is_word_byte(ctx[-m][:1])  # a word-like first token must not be the end of a longer word
                for match in _pattern(ctx[-m:]).finditer(source, lo, hi):
                    if match.start(1) == pstart:
                        continue  # the word being typed (or right after the cursor) is not evidence
                    if guard and match.start() > 0 and source[match.start() - 1] in WORD_BYTES:
                        continue
                    raw = match.group(1)
                    if raw.isascii():
                        counts[raw.decode()] += 1
                    else:
                        words = find_identifiers(raw)
                        if words and words[0] == raw:
                            counts[raw.decode("utf-8", "replace")] += 1
                level = ContextCounts(counts, sum(counts.values()), len(counts))
                if cache is not None:
                    cache[key] = level
            if level.total == 0:
                break  # a longer context than one never seen is never seen either
            self.levels.append(level)

    def unigram(self, word: str) -> float:
        """The file's identifier frequency of `word` (the occurrence being typed not counted)."""
        if self.total <= 0:
            return 0.0
        c = self.idents.get(word.encode("utf-8", "surrogatepass"), 0) - (1 if word == self.prefix else 0)
        return max(c, 0) / self.total

    def prob(self, word: str) -> float:
        """P(word | the last tokens) under the document's own statistics."""
        p = self.unigram(word)
        for level in self.levels:
            p = witten_bell(p, level.counts.get(word, 0), level.total, level.types)
        return p

    def probs(self, words: Sequence[str]) -> "np.ndarray":
        """`prob` of many words at once (float64, the same numbers: the same operations in the same order)."""
        import numpy as np

        n = len(words)
        if self.total <= 0:
            p = np.zeros(n, dtype=np.float64)
        else:
            c = np.fromiter(map(self.idents.get, (w.encode("utf-8", "surrogatepass") for w in words), repeat(0)),
                            np.int64, n)
            if self.prefix:
                c -= np.fromiter(map(self.prefix.__eq__, words), np.int64, n)
            p = np.maximum(c, 0) / self.total
        for level in self.levels:
            counts = np.fromiter(map(level.counts.get, words, repeat(0)), np.float64, n)
            p = (counts + level.types * p) / (level.total + level.types)
        return p

    def words(self) -> list[str]:
        """Identifiers seen after some context suffix, longest context first."""
        out: dict[str, None] = {}
        for level in reversed(self.levels):
            for w in level.counts:
                out.setdefault(w)
        return list(out)
