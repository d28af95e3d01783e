"""Last-resort completions from the words of the open document, computed without the engine.

Used in two situations only: when a request overruns its time bound (the engine is busy or stuck, and the
editor still gets an answer in time), and when the engine package itself cannot be imported (a broken
install).  It needs no parse and no state beyond the text, so it always answers within a millisecond or two.
"""
from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field

_WORD = re.compile(r"(?:[^\W\d]|\$)[\w$]*")
_PREFIX = re.compile(r"[\w$]*\Z")
WINDOW = 100_000  # characters around the cursor that are scanned: bounds the cost on huge files


@dataclass(frozen=True)
class LexicalCandidate:
    label: str
    kind: str = "identifier"
    score: float = 0.0
    source: str = "lexical"
    detail: str = "word in this file"


@dataclass
class LexicalResult:
    """Same fields as the engine's Completion (design.md section 5) that the server reads."""

    items: list[LexicalCandidate]
    prefix: str
    prefix_start: int  # code-point offset of the typed prefix
    fragment: None = None
    timings: dict[str, float] = field(default_factory=dict)


def prefix_at(text: str, offset: int) -> str:
    """The identifier characters immediately before `offset`."""
    m = _PREFIX.search(text, max(0, offset - 256), offset)
    return m.group(0) if m else ""


def complete_words(text: str, offset: int, max_items: int) -> LexicalResult:
    """Words of `text` near `offset` that extend the typed prefix, most frequent (then nearest) first."""
    prefix = prefix_at(text, offset)
    start = offset - len(prefix)
    lo, hi = max(0, offset - WINDOW), min(len(text), offset + WINDOW)
    counts: Counter[str] = Counter()
    last_seen: dict[str, int] = {}
    for m in _WORD.finditer(text, lo, hi):
        if m.start() == start:
            continue  # the word being typed is not a suggestion for itself
        word = m.group(0)
        if word.startswith(prefix) and word != prefix:
            counts[word] += 1
            last_seen[word] = -abs(m.start() - offset)
    ranked = sorted(counts, key=lambda w: (-counts[w], -last_seen[w], w))[:max_items]
    total = sum(counts.values()) or 1
    items = [LexicalCandidate(label=w, score=counts[w] / total) for w in ranked]
    return LexicalResult(items=items, prefix=prefix, prefix_start=start)
