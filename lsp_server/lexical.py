"""Last-resort completions from the words of the open document, computed without the engine.

The server answers with them when the engine gives no answer in time (it is busy or stuck, and the editor still
gets an answer within `requestTimeoutMs`) or gives none at all (it could not be created).  They need no parse
and no state beyond the text, so they always come within a millisecond or two, and they are the engine's own
result type (`codecomp.engine.types.Completion`), so they go through the same conversion to LSP.
"""
from __future__ import annotations

import re
from collections import Counter

from codecomp.engine.types import Candidate, Completion
from lsp_server.documents import Document

_WORD = re.compile(r"(?:[^\W\d]|\$)[\w$]*")
_PREFIX = re.compile(r"[\w$]*\Z")
WINDOW = 100_000  # characters around the cursor that are scanned: bounds the cost on huge files
NOTE = "the completion engine did not answer in time: words of this file"


def prefix_at(text: str, offset: int) -> str:
    """The identifier characters immediately before `offset`."""
    m = _PREFIX.search(text, max(0, offset - 256), offset)
    return m.group(0) if m else ""


def complete_words(doc: Document, offset: int, max_items: int) -> Completion:
    """Words of the document near `offset` (a code-point offset) that extend the typed prefix, most frequent
    (then nearest) first."""
    text = doc.text
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
    items = [Candidate(label=w, kind="identifier", score=counts[w] / total, source="file",
                       detail="word in this file") for w in ranked]
    return Completion(items=items, prefix=prefix, replace_start=doc.engine_position(start), note=NOTE)
