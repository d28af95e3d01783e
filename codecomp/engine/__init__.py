"""The torch-free completion engine (docs/design.md, section 5).

    from codecomp.engine import Engine
    engine = Engine.load(None)          # the shipped model, or a FallbackEngine with `.problem` set
    engine.open(uri, text, "cpp", 1)
    result = engine.complete(uri, line, utf16_col)

Layout: `session` (per-document state), `lexing` (local token views of the tree), `models` (onnxruntime step
graphs), `candidates`, `ngram` (the document's own n-gram statistics), `scoring`, `ranking`, `fragments`, `core`
(the engines), `naming` (the naming model's ONNX graphs, behind `suggest_names`), `cli` (`codecomp complete`),
`naming_cli` (`codecomp name`), `location` (their FILE:LINE:COL).  `complete` and `suggest_names` take
`should_stop=` / `deadline=` so a cancelled request stops between model steps.
"""
from codecomp.engine.core import BaseEngine, Engine, FallbackEngine
from codecomp.engine.types import Cancelled, Candidate, Completion, Fragment, NameSuggestions

__all__ = ["BaseEngine", "Cancelled", "Candidate", "Completion", "Engine", "FallbackEngine", "Fragment", "NameSuggestions"]
