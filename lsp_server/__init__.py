"""The codecomp language server (pygls): completion, inline completion and rename suggestions over LSP.

Start it with `codecomp serve` or `python -P -m lsp_server`; see docs/editors.md for editor set-up.
"""
import codecomp  # noqa: F401  (switches onnxruntime telemetry off before anything loads onnxruntime)

__version__ = "0.1.0"
