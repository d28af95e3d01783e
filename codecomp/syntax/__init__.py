"""Syntax layer of codecomp: tree-sitter parsing, tokens, flat AST arrays, scopes and position conversions.

Torch-free: this package is on the serving path.  The contracts are in docs/design.md, section 1.

    pf = parse(text, "cpp")                 # ParsedFile: lang, source (bytes), tree, tokens (comments included)
    pf.code_tokens()                        # tokens without comments (what corpora store)
    pf.ast_arrays()                         # AstArrays over named nodes + token leaves, token -> code_tokens()
    pf.scopes().visible_at(byte)            # names usable at a position
    pf.error_fraction(), pf.unparsed_fraction()
    reparse(pf, new_text)                   # incremental re-parse (or edit_tree + parse(..., old_tree=...))
    LineIndex(text).byte_of(line, utf16_col)

Modules: `languages` (registry, parsers, keywords), `tokens` (TokenKind, Token, tokenize), `parsed` (ParsedFile,
parse, incremental helpers), `tree` (AstArrays, heights, level_schedule), `scopes` (Scope, Symbol, ScopeInfo),
`lineindex` (LineIndex).  Its speed against raw parsing: `python benchmarks/syntax_speed.py PATHS`.
"""

from .languages import (
    KEYWORDS,
    LANGUAGES,
    SlicedParse,
    check_language,
    detect_language,
    get_language,
    get_parser,
    is_keyword,
    language_from_id,
)
from .lineindex import LineIndex
from .parsed import ParsedFile, changed_span, edit_tree, parse, point_of_byte, reparse
from .scopes import Scope, ScopeInfo, Symbol
from .tokens import Token, TokenKind, tokenize
from .tree import AstArrays, depths, heights, level_schedule, node_type_names

__all__ = [
    "KEYWORDS", "LANGUAGES", "AstArrays", "LineIndex", "ParsedFile", "Scope", "ScopeInfo", "SlicedParse", "Symbol",
    "Token",
    "TokenKind", "changed_span", "check_language", "depths", "detect_language", "edit_tree", "get_language",
    "get_parser", "heights", "is_keyword", "language_from_id", "level_schedule", "node_type_names", "parse",
    "point_of_byte", "reparse", "tokenize",
]
