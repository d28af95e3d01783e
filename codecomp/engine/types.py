"""Result types of the completion engine (docs/design.md, section 5).

They are plain dataclasses so that the language server, the evaluation harness and the command line can read
them without knowing how they were computed.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

# Candidate kinds the engine produces (the language server maps them onto LSP CompletionItemKind).
KINDS = ("variable", "function", "class", "field", "keyword", "identifier", "fragment")

Position = tuple[int, int]          # (line, utf16_col), both 0-based
Range = tuple[Position, Position]   # [start, end)


class Cancelled(Exception):
    """Raised inside the engine when the caller's `should_stop` asked it to stop (the request was cancelled)."""


@dataclass(slots=True)
class Candidate:
    """One ranked completion.

    `label` replaces the text from `Completion.replace_start` to the cursor.  `score` is comparable within one
    result only (higher is better).  `source` says where the candidate came from: "scope" (a symbol visible at
    the cursor), "member" (a member/property seen in the file, at a `.`/`->`/`::` position), "file" (an
    identifier of this file), "documents" (an identifier of another open document), "model" (the model's
    vocabulary), "copy" (the model's copy mechanism) or "keyword".
    """

    label: str
    kind: str
    score: float
    source: str
    detail: str = ""


@dataclass(slots=True)
class Fragment:
    """A multi-token continuation; `text` replaces the text from `replace_start` to the cursor, like a label."""

    text: str
    score: float


@dataclass
class Completion:
    """The answer to one completion request."""

    items: list[Candidate]
    prefix: str
    replace_start: Position
    fragment: Fragment | None = None
    timings: dict[str, float] = field(default_factory=dict)
    # Why the list is empty or degraded, in words for a user (None when all is well).
    note: str | None = None
    # Why `fragment` is None, in words for a user (None when there is a fragment).
    fragment_reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dictionary."""
        return asdict(self)


@dataclass
class NameSuggestions:
    """Names proposed for the symbol at a position, with every occurrence to rename."""

    symbol: str
    occurrences: list[Range]
    names: list[tuple[str, float]]
    kind: str = ""                  # "variable", "parameter" or "function"
    reason: str | None = None       # why `names` is empty, in words for a user

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dictionary."""
        return asdict(self)
