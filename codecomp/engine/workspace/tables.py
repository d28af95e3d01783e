"""Compact count tables for the workspace index: a token vocabulary and segmented sorted-key counts.

A workspace of 10,000 files holds millions of (context, identifier) pairs; Python dicts would cost ~100 bytes
an entry, so counts live in numpy arrays instead: sorted unique uint64 keys with int64 counts.  A table is a
short tuple of such *segments*, each immutable: adding a batch of files appends a segment and merges the
smaller trailing ones (a binary-counter policy keeps O(log n) segments), removing a file appends its counts
negated.  Readers take the tuple once and never see a half-made update, so queries need no lock.

Keys pack a 40-bit prefix (an n-gram context hash, a receiver, a container) with a 24-bit token id, so all the
identifiers after one context are one contiguous range of every segment.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np

ID_BITS = 24
ID_MASK = (1 << ID_BITS) - 1
MAX_IDS = 1 << ID_BITS
PREFIX_MASK = (1 << 40) - 1
AFTER_TAG = 4                # order tags 1..3: tokens before a word; 5..7: tokens after it


class Vocabulary:
    """Token spelling (bytes) -> id, growing only, safe to read while one writer adds.

    Ids 0.. are reserved: 0 = beginning of file, 1 = any number, 2 = any string.  `is_ident[id]` tells
    identifiers (what completion offers) from keywords and punctuation (context only).
    """

    BOS, NUMBER, STRING = 0, 1, 2

    def __init__(self, keywords: frozenset[str]) -> None:
        self.ids: dict[bytes, int] = {b"\x00bos": 0, b"0": 1, b'"': 2}
        self.words: list[bytes] = [b"\x00bos", b"0", b'"']
        self.keywords = frozenset(k.encode() for k in keywords)
        self.is_ident = np.zeros(1024, dtype=bool)
        self.is_word = np.zeros(1024, dtype=bool)   # identifiers and keywords (`this` is a receiver)
        self.lock = threading.Lock()

    def __len__(self) -> int:
        return len(self.words)

    def word(self, i: int) -> str:
        """The spelling of id `i`."""
        return self.words[i].decode("utf-8", "replace")

    def get(self, token: bytes) -> int | None:
        """The id of a token, None when never seen (numbers share one id)."""
        if token[:1].isdigit():
            return self.NUMBER
        return self.ids.get(token)

    def encode(self, tokens: list[bytes]) -> np.ndarray:
        """Ids of a token list (new spellings are added; numbers all map to NUMBER)."""
        local: dict[bytes, int] = {}
        ids = self.ids
        missing = []
        # new spellings get ids in the order they first occur (not a set's order, which changes from one process
        # to the next with the string hash seed): ties between equally frequent names are then broken the same way
        # in every run
        for t in dict.fromkeys(tokens):
            i = ids.get(t)
            if i is None:
                if t[:1].isdigit():
                    i = self.NUMBER
                else:
                    missing.append(t)
                    continue
            local[t] = i
        if missing:
            with self.lock:
                for t in missing:
                    local[t] = self._add(t)
        return np.fromiter(map(local.__getitem__, tokens), dtype=np.int64, count=len(tokens))

    def _add(self, token: bytes) -> int:
        i = self.ids.get(token)
        if i is not None:
            return i
        i = len(self.words)
        if i >= MAX_IDS:
            return self.STRING  # a pathological workspace: later spellings are not told apart
        if i >= self.is_ident.size:
            self.is_ident = _grown(self.is_ident)
            self.is_word = _grown(self.is_word)
        first = token[0]
        word = first >= 0x80 or first in b"_$" or chr(first).isalpha()
        self.is_word[i] = word
        self.is_ident[i] = word and token not in self.keywords
        self.words.append(token)
        self.ids[token] = i  # published last: a reader that finds the id finds the word too
        return i


def _grown(flags: np.ndarray) -> np.ndarray:
    """A copy of a flag array with twice the room (readers keep the old one until they look again)."""
    out = np.zeros(flags.size * 2, dtype=bool)
    out[:flags.size] = flags
    return out


def reduce_counts(keys: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sorted unique keys with summed counts, entries summing to zero dropped."""
    if keys.size == 0:
        return keys.astype(np.uint64), counts.astype(np.int32)
    order = np.argsort(keys, kind="stable")  # two sorted runs: timsort merges them in linear time
    k = keys[order]
    c = counts[order].astype(np.int64)
    starts = np.concatenate(([0], np.flatnonzero(k[1:] != k[:-1]) + 1))
    uk = k[starts]
    uc = np.add.reduceat(c, starts)
    keep = uc != 0
    # int32 counts halve the memory of the largest tables; no workspace repeats one n-gram 2**31 times
    return uk[keep], np.clip(uc[keep], -(2**31), 2**31 - 1).astype(np.int32)


@dataclass(frozen=True, slots=True)
class Segment:
    """Sorted unique keys and their counts (immutable)."""

    keys: np.ndarray
    counts: np.ndarray

    @property
    def size(self) -> int:
        return int(self.keys.size)


class SegmentedCounts:
    """Counts keyed by uint64, as a tuple of immutable segments (see the module docstring).

    One writer at a time (the index holds its write lock); any number of lock-free readers.
    """

    def __init__(self) -> None:
        self.segments: tuple[Segment, ...] = ()

    def add(self, keys: np.ndarray, counts: np.ndarray) -> None:
        """Add counts (negative to remove); keys need not be sorted or unique."""
        k, c = reduce_counts(np.asarray(keys, dtype=np.uint64), np.asarray(counts, dtype=np.int64))
        if k.size == 0:
            return
        segs = list(self.segments) + [Segment(k, c)]
        # merge while the newest segment is at least half the size of the one before it
        while len(segs) >= 2 and segs[-1].size * 2 >= segs[-2].size:
            b, a = segs.pop(), segs.pop()
            mk, mc = reduce_counts(np.concatenate((a.keys, b.keys)), np.concatenate((a.counts, b.counts)))
            segs.append(Segment(mk, mc))
        # many tiny segments (single-file updates) are folded together too, so queries stay cheap
        while len(segs) > 12:
            b, a = segs.pop(), segs.pop()
            mk, mc = reduce_counts(np.concatenate((a.keys, b.keys)), np.concatenate((a.counts, b.counts)))
            segs.append(Segment(mk, mc))
        self.segments = tuple(segs)

    def compact(self) -> None:
        """Merge every segment into one (after a full build)."""
        segs = self.segments
        if len(segs) > 1:
            mk, mc = reduce_counts(np.concatenate([s.keys for s in segs]), np.concatenate([s.counts for s in segs]))
            self.segments = (Segment(mk, mc),) if mk.size else ()

    def nbytes(self) -> int:
        return sum(s.keys.nbytes + s.counts.nbytes for s in self.segments)

    def get(self, keys: np.ndarray) -> np.ndarray:
        """Counts of `keys` (0 for absent ones)."""
        keys = np.asarray(keys, dtype=np.uint64)
        out = np.zeros(keys.shape, dtype=np.int64)
        for seg in self.segments:
            if seg.size == 0:
                continue
            pos = np.searchsorted(seg.keys, keys)
            pos_c = np.minimum(pos, seg.size - 1)
            hit = seg.keys[pos_c] == keys
            out += np.where(hit, seg.counts[pos_c], 0)
        return out

    def prefix_range(self, prefix: int) -> tuple[np.ndarray, np.ndarray]:
        """(token ids, counts) of every key with this 40-bit prefix, positive counts only, ids ascending."""
        lo = np.uint64((prefix & PREFIX_MASK) << ID_BITS)
        hi = np.uint64(((prefix & PREFIX_MASK) + 1) << ID_BITS)
        parts_k, parts_c = [], []
        for seg in self.segments:
            a, b = np.searchsorted(seg.keys, [lo, hi])
            if b > a:
                parts_k.append(seg.keys[a:b])
                parts_c.append(seg.counts[a:b])
        if not parts_k:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
        if len(parts_k) == 1:
            k, c = parts_k[0], parts_c[0]
        else:
            k, c = reduce_counts(np.concatenate(parts_k), np.concatenate(parts_c))
        keep = c > 0
        return (k[keep] & np.uint64(ID_MASK)).astype(np.int64), c[keep]


def pack(prefix: np.ndarray | int, ids: np.ndarray | int) -> np.ndarray:
    """Keys from 40-bit prefixes and 24-bit token ids."""
    p = np.asarray(prefix, dtype=np.uint64) & np.uint64(PREFIX_MASK)
    return (p << np.uint64(ID_BITS)) | (np.asarray(ids, dtype=np.uint64) & np.uint64(ID_MASK))


_M1 = np.uint64(0x9E3779B97F4A7C15)
_M2 = np.uint64(0xBF58476D1CE4E5B9)


def mix(h: np.ndarray | int, token: np.ndarray | int) -> np.ndarray:
    """Hash of a context extended by one token (uint64 arithmetic wraps by design)."""
    with np.errstate(over="ignore"):
        x = (np.asarray(h, dtype=np.uint64) * _M1) ^ (np.asarray(token, dtype=np.uint64) + _M2)
        x ^= x >> np.uint64(29)
        return x * _M2


def context_prefixes(ids: np.ndarray, positions: np.ndarray, order: int, after: bool = False) -> list[np.ndarray]:
    """For each position, the hashed contexts of its previous 1..order tokens (the next ones, nearest first, when
    `after`), tagged with the order (orders after the word are tagged `AFTER_TAG + m`, apart from those before).

    `ids` must have `order` padding ids on that side so that every position has a full context.
    """
    out = []
    h = np.zeros(positions.shape, dtype=np.uint64)
    step, tag = (1, AFTER_TAG) if after else (-1, 0)
    for m in range(1, order + 1):
        h = mix(h, ids[positions + step * m])
        out.append((h & np.uint64((1 << 37) - 1)) | np.uint64((m + tag) << 37))
    return out
