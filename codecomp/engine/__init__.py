"""The torch-free completion engine (docs/design.md, section 5).

    from codecomp.engine import Engine
    engine = Engine.load(None)          # the shipped model, or a FallbackEngine with `.problem` set
    engine.open(uri, text, "cpp", 1)
    result = engine.complete(uri, line, utf16_col)

Layout: `types` (the results and the `CompletionEngine` API that clients drive), `session` (per-document
state), `lexing` (local token views of the tree), `models` (onnxruntime step graphs), `candidates`, `ngram` (the
document's own n-gram statistics), `scoring`, `ranking`, `fragments`, `core` (the engines, imported on first
use), `naming` (the naming model's ONNX graphs, behind `suggest_names`), `cli` (`codecomp complete`),
`naming_cli` (`codecomp name`), `location` (their FILE:LINE:COL).  `complete` and `suggest_names` take
`should_stop=` / `deadline=` so a cancelled request stops between model steps.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from codecomp.engine.types import Cancelled, Candidate, Completion, CompletionEngine, Fragment, NameSuggestions

if TYPE_CHECKING:
    from codecomp.engine.core import BaseEngine, Engine, FallbackEngine

__all__ = ["BaseEngine", "Cancelled", "Candidate", "Completion", "CompletionEngine", "Engine", "FallbackEngine",
           "Fragment", "NameSuggestions"]


def __getattr__(name: str) -> Any:
    # The engines are imported on first use: `codecomp.engine.types` (the contract) stays cheap to import.
    if name in ("BaseEngine", "Engine", "FallbackEngine"):
        from codecomp.engine import core

        return getattr(core, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
