"""Token stream of a tree-sitter tree: the leaves of the concrete syntax tree, classified into `TokenKind`s.

String-like literals (strings, template strings, characters, raw strings, regexes) are atomic: one token each,
their inner nodes are not split.  The walk is iterative (a `TreeCursor`), so arbitrarily deep nesting works.

Classification rules (per tree-sitter node type, precomputed per language into a table indexed by kind id):
- identifier-like named types (`identifier`, `field_identifier`, `property_identifier`, `type_identifier`, ...,
  i.e. every type whose name ends in "identifier" plus the shorthand-property types) -> IDENTIFIER;
- anonymous nodes spelled as a word (`if`, `return`, `const`, ...), and the named word-like leaves
  `primitive_type`, `auto`, `this`, `super`, `true`, `false`, `null`, `nullptr`, `undefined` -> KEYWORD;
- `number_literal` / `number` -> NUMBER; string-like literals -> STRING (also `system_lib_string` of `#include <..>`);
- brackets, `;`, `,`, `.`, `:`, `::`, `...`, `?.` (JS `optional_chain`) -> PUNCTUATION; every other symbol -> OPERATOR;
- `comment` (and JS `html_comment`, `hash_bang_line`) -> COMMENT;
- preprocessor directive keywords (`#include`, `#define`, ...), `preproc_arg` (the raw text of a macro body or
  `#if` condition) and `preproc_directive` -> PREPROCESSOR;
- C++ `user_defined_literal` (atomic) -> NUMBER or STRING by its first character; ERROR leaves -> by spelling
  (IDENTIFIER, KEYWORD, NUMBER), see `refine_kind`;
- anything else (e.g. `jsx_text`, stray symbols inside ERROR nodes) -> OTHER.
Zero-width leaves (MISSING nodes inserted by error recovery, automatic semicolons) produce no token.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import IntEnum
from functools import lru_cache
from typing import Callable

from tree_sitter import Tree

from .languages import get_language


class TokenKind(IntEnum):
    """Token classes; the values are stored in corpora and must never change."""

    IDENTIFIER = 0
    KEYWORD = 1
    NUMBER = 2
    STRING = 3
    OPERATOR = 4
    PUNCTUATION = 5
    COMMENT = 6
    PREPROCESSOR = 7
    OTHER = 8


@dataclass(frozen=True, slots=True)
class Token:
    """One leaf of the syntax tree.  `line` is 0-based; `col` is in bytes from the start of that line.

    `line`/`col` are tree-sitter's row and column, which count "\n" only; for LSP positions (where a lone "\r"
    also ends a line, and columns are UTF-16) convert `start_byte` with `LineIndex.position_of_byte`.
    """

    text: str
    kind: TokenKind
    node_type: str
    start_byte: int
    end_byte: int
    line: int
    col: int


ATOMIC_TYPES: frozenset[str] = frozenset({
    # C++
    "string_literal", "raw_string_literal", "char_literal", "system_lib_string", "user_defined_literal",
    "number_literal",
    # JavaScript
    "string", "template_string", "regex", "number", "comment", "html_comment",
    # both: a comment never has children, listed for clarity
})

_STRING_TYPES = frozenset({"string_literal", "raw_string_literal", "char_literal", "system_lib_string",
                           "string", "template_string", "regex"})
_NUMBER_TYPES = frozenset({"number_literal", "number"})
_COMMENT_TYPES = frozenset({"comment", "html_comment", "hash_bang_line"})
_KEYWORD_NAMED = frozenset({"primitive_type", "auto", "this", "super", "true", "false", "null", "nullptr",
                            "undefined"})
_IDENTIFIER_NAMED = frozenset({"shorthand_property_identifier", "shorthand_property_identifier_pattern",
                               "private_property_identifier", "statement_identifier", "field_identifier",
                               "type_identifier", "namespace_identifier", "property_identifier", "identifier",
                               "jsx_identifier"})
_PREPROC_NAMED = frozenset({"preproc_arg", "preproc_directive"})
_PUNCTUATION_NAMED = frozenset({"optional_chain"})
_PUNCTUATION = frozenset({"(", ")", "[", "]", "{", "}", ";", ",", ".", ":", "::", "...", "?."})
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


def classify_type(name: str, named: bool) -> TokenKind:
    """The TokenKind of a leaf of tree-sitter type `name` (`named`: whether the type is a named node)."""
    if name in _COMMENT_TYPES:
        return TokenKind.COMMENT
    if name in _STRING_TYPES:
        return TokenKind.STRING
    if name in _NUMBER_TYPES:
        return TokenKind.NUMBER
    if named:
        if name in _IDENTIFIER_NAMED or name.endswith("identifier"):
            return TokenKind.IDENTIFIER
        if name in _KEYWORD_NAMED:
            return TokenKind.KEYWORD
        if name in _PREPROC_NAMED:
            return TokenKind.PREPROCESSOR
        if name in _PUNCTUATION_NAMED:
            return TokenKind.PUNCTUATION
        return TokenKind.OTHER
    if name.startswith("#") and len(name) > 1:
        return TokenKind.PREPROCESSOR
    if _WORD.match(name):
        return TokenKind.KEYWORD
    if name in _PUNCTUATION:
        return TokenKind.PUNCTUATION
    if name and not name.isspace():
        return TokenKind.OPERATOR
    return TokenKind.OTHER


@dataclass(frozen=True, slots=True)
class KindTables:
    """Per-language lookup tables indexed by tree-sitter kind id."""

    kinds: tuple[TokenKind, ...]   # token kind of a leaf of this type
    atomic: tuple[bool, ...]       # emit as one token without descending
    names: tuple[str, ...]         # node-type name
    canonical: tuple[int, ...]     # id of the first kind with the same (name, named): aliases share one id


@lru_cache(maxsize=None)
def kind_tables(lang: str) -> KindTables:
    """Build (once) the classification tables of `lang`."""
    language = get_language(lang)
    count = language.node_kind_count
    kinds, atomic, names, canonical = [], [], [], []
    first_id: dict[tuple[str, bool], int] = {}
    for kid in range(count):
        name = language.node_kind_for_id(kid) or ""
        named = bool(language.node_kind_is_named(kid))
        kinds.append(classify_type(name, named))
        atomic.append(named and name in ATOMIC_TYPES)
        names.append(name)
        canonical.append(first_id.setdefault((name, named), kid))
    return KindTables(tuple(kinds), tuple(atomic), tuple(names), tuple(canonical))


def refine_kind(name: str, text: str, lang: str) -> TokenKind:
    """Kind of a leaf whose type alone does not say (the table gives OTHER): judged by its spelling.

    Covers ERROR leaves (text error recovery could not place) and C++ `user_defined_literal` (`10ms`, `"s"sv`),
    which is a number or a string depending on what carries the suffix.
    """
    from .languages import is_keyword

    if name == "user_defined_literal":
        return TokenKind.NUMBER if text[:1].isdigit() or text[:1] == "." else TokenKind.STRING
    if name != "ERROR":
        return TokenKind.OTHER
    if _WORD.match(text):
        return TokenKind.KEYWORD if is_keyword(text, lang) else TokenKind.IDENTIFIER
    if text[:1].isdigit():
        return TokenKind.NUMBER
    return TokenKind.OTHER


# The frozen dataclass __init__ goes through object.__setattr__ once per field, which makes it the most expensive
# step of tokenizing; filling the slots through their descriptors builds the same immutable object ~2x faster.
_new_object = object.__new__
_SET_TEXT = Token.text.__set__  # type: ignore[attr-defined]
_SET_KIND = Token.kind.__set__  # type: ignore[attr-defined]
_SET_TYPE = Token.node_type.__set__  # type: ignore[attr-defined]
_SET_START = Token.start_byte.__set__  # type: ignore[attr-defined]
_SET_END = Token.end_byte.__set__  # type: ignore[attr-defined]
_SET_LINE = Token.line.__set__  # type: ignore[attr-defined]
_SET_COL = Token.col.__set__  # type: ignore[attr-defined]


# tokens (or nodes) between two calls of a long analysis's `pause` hook: about 0.1 ms of work, so that a request
# that wants the interpreter back (after an onnxruntime call, which lets go of it) waits no longer than that
# (512 let a request wait 1-2 ms after each such call while a long C++ file was analysed)
PAUSE_EVERY = 32


def tokenize(tree: Tree, source: bytes, lang: str, pause: Callable[[], None] | None = None) -> list[Token]:
    """All tokens (comments included) of `tree`, in source order.

    `pause` (for analyses that run on a background thread) is called every `PAUSE_EVERY` tokens: it may block
    while work that must not wait for this one runs (the thread holds the interpreter lock otherwise)."""
    tables = kind_tables(lang)
    kinds, atomic, names = tables.kinds, tables.atomic, tables.names
    n_kinds = len(kinds)
    tokens: list[Token] = []
    append = tokens.append
    error_kind = TokenKind.OTHER
    cursor = tree.walk()
    goto_first_child = cursor.goto_first_child
    goto_next_sibling = cursor.goto_next_sibling
    goto_parent = cursor.goto_parent
    while True:
        node = cursor.node
        kid = node.kind_id
        is_atomic = kid < n_kinds and atomic[kid]
        if is_atomic or not goto_first_child():
            start = node.start_byte
            end = node.end_byte
            if end > start:
                text = source[start:end].decode("utf-8", "replace")
                if kid < n_kinds:
                    kind = kinds[kid]
                    name = names[kid]
                else:
                    kind, name = error_kind, node.type
                if kind is error_kind and (name == "ERROR" or name == "user_defined_literal"):
                    kind = refine_kind(name, text, lang)
                row, col = node.start_point
                tok = _new_object(Token)
                _SET_TEXT(tok, text)
                _SET_KIND(tok, kind)
                _SET_TYPE(tok, name)
                _SET_START(tok, start)
                _SET_END(tok, end)
                _SET_LINE(tok, row)
                _SET_COL(tok, col)
                append(tok)
                if pause is not None and not len(tokens) % PAUSE_EVERY:
                    pause()
            while not goto_next_sibling():
                if not goto_parent():
                    return tokens
