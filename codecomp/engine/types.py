"""The completion engine's contract (docs/design.md, section 5): its result types and its API.

The results are plain dataclasses so that the language server, the evaluation harness and the command line can
read them without knowing how they were computed.  `CompletionEngine` is the API that `Engine.load` returns
(a neural `Engine` or a `FallbackEngine`) and that the language server drives.  Importing this module loads no
model runtime (onnxruntime is imported only when a model is loaded).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Protocol

if TYPE_CHECKING:
    from codecomp.engine.learning import Learning
    from codecomp.engine.workspace import WorkspaceIndex

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
    # why the fragment does not start with the list's top item, when it does not (None otherwise)
    note: str | None = None


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
    # The id of this list for `learn` (None when the engine does not learn from the user).
    shown_id: int | None = None

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


class CompletionEngine(Protocol):
    """What a client may call on an engine (`codecomp.engine.BaseEngine` implements it).

    Positions are (0-based line, UTF-16 column).  `should_stop` is asked between model steps: a cancelled call
    returns an empty result whose `note` / `reason` starts with "cancelled".
    """

    #: why the model is not used (a user-facing sentence), None when it is
    problem: str | None

    def open(self, uri: str, text: str, lang: str, version: int = 0) -> None: ...

    def change(self, uri: str, text: str, version: int | None = None,
               edit: tuple[int, int, int, int, str] | None = None) -> None: ...

    def close(self, uri: str) -> None: ...

    def complete(self, uri: str, line: int, utf16_col: int, max_items: int = 50, fragment: bool = True, *,
                 should_stop: Callable[[], bool] | None = None, deadline: float | None = None) -> Completion: ...

    def suggest_names(self, uri: str, line: int, utf16_col: int, k: int = 5, *,
                      should_stop: Callable[[], bool] | None = None, deadline: float | None = None
                      ) -> NameSuggestions: ...

    def work_in_idle(self, budget_s: float = 0.05, should_stop: Callable[[], bool] | None = None) -> bool: ...

    def has_idle_work(self) -> bool: ...

    def idle_delay(self) -> float: ...

    def set_workspace(self, index: WorkspaceIndex | None) -> None: ...

    def set_learning(self, learning: Learning | None) -> None: ...

    def learn(self, shown_id: int, label: str, accepted: bool = False) -> bool: ...

    def sync_workspace(self, uri: str | None = None) -> int: ...
