"""Cheap, local views of a document for the completion path.

`codecomp.syntax.parse` tokenizes a whole file, which is right for corpora but too slow to repeat on every
keystroke of a long file.  The engine instead keeps the tree-sitter tree (re-parsed incrementally) and asks for
the tokens of one byte range at a time, classified with the same tables as `codecomp.syntax.tokenize`, so the
model sees the tokens it was trained on.  This module also answers "where is the cursor" questions: inside a
comment or string, the identifier prefix being typed, whether the position follows a member-access operator.
"""
from __future__ import annotations

import re
from functools import lru_cache, partial
from typing import Any

import numpy as np
from tree_sitter import Tree

from codecomp.syntax.tokens import Token, TokenKind, kind_tables

# Identifiers: ASCII letters, digits, `_` and `$`, plus non-ASCII identifier characters (JavaScript allows
# Unicode ID_Start/ID_Continue, C++ compilers accept extended characters in UTF-8).  The bytes pattern lets
# every non-ASCII byte through, which is fast for the common all-ASCII case; the rare non-ASCII matches are
# re-checked character by character (`split_identifiers`) so `→` or a non-breaking space never become words.
IDENT_BYTES = re.compile(rb"[A-Za-z_$\x80-\xff][A-Za-z0-9_$\x80-\xff]*")
_IDENT_CHAR = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_$")
WORD_BYTES = _IDENT_CHAR | frozenset(range(0x80, 0x100))  # the byte values an `IDENT_BYTES` match continues with
_JOINERS = frozenset("\u200c\u200d")  # ZWNJ / ZWJ continue a JavaScript identifier
# A non-ASCII run longer than this is prose or data (a long line of CJK text, emoji art), not names anyone
# completes: it is skipped instead of being split character by character.
MAX_RUN_BYTES = 256
# Checks of the current line (an unterminated string, open brackets) read at most this many bytes before the
# cursor, so a line of a megabyte costs what a line of a few kilobytes does.
LINE_WINDOW = 4096


def is_ident_start(ch: str) -> bool:
    """Whether a character may start an identifier (Unicode XID_Start, `_`, `$`)."""
    return ch == "$" or ch.isidentifier()


def is_ident_continue(ch: str) -> bool:
    """Whether a character may continue an identifier (Unicode XID_Continue, `$`, ZWNJ, ZWJ)."""
    return ch == "$" or ch in _JOINERS or ("a" + ch).isidentifier()


def split_identifiers(raw: bytes) -> list[bytes]:
    """The real identifiers inside a non-ASCII match of `IDENT_BYTES` (a word may be cut by a non-ASCII
    character that is not an identifier character, such as `a→b`); none in a run over `MAX_RUN_BYTES`."""
    if len(raw) > MAX_RUN_BYTES:
        return []
    text = raw.decode("utf-8", "replace")
    out: list[str] = []
    cur = ""
    for ch in text:
        if cur and is_ident_continue(ch) and ch != "\ufffd":
            cur += ch
        elif is_ident_start(ch) and ch != "\ufffd":
            if cur:
                out.append(cur)
            cur = ch
        else:
            if cur:
                out.append(cur)
            cur = ""
    if cur:
        out.append(cur)
    return [w.encode("utf-8", "surrogatepass") for w in out]


def find_identifiers(source: bytes, start: int = 0, end: int | None = None) -> list[bytes]:
    """Identifier spellings (bytes) in `source[start:end]`, non-ASCII ones checked by Unicode rules."""
    end = len(source) if end is None else end
    found = IDENT_BYTES.findall(source, start, end)
    if source[start:end].isascii() or all(w.isascii() for w in found):
        return found
    out: list[bytes] = []
    for w in found:
        if w.isascii():
            out.append(w)
        else:
            out.extend(split_identifiers(w))
    return out
MEMBER_OPERATORS = (b"?.", b"->", b"::", b".")


def tokens_in_range(tree: Tree, source: bytes, lang: str, start: int, end: int) -> list[Token]:
    """Tokens (comments included) that overlap [start, end), in source order.

    The walk jumps straight to the first child that reaches `start` (`goto_first_child_for_byte`), so the cost is
    the depth of the tree plus the number of tokens returned, not the size of the file.
    """
    out: list[Token] = []
    _walk_tokens(tree, lang, start, end, None, partial(_emit_token, out, source, lang, kind_tables(lang)))
    return out


def unreused_tokens(old_tree: Tree, tree: Tree, source: bytes, lang: str, start: int, end: int,
                    empty: bool = False) -> tuple[list[Token], list[tuple[int, int]]]:
    """(tokens, spans): `tokens_in_range` of `tree` without the subtrees it reused from `old_tree`, and the byte
    spans of those subtrees, in order; `tree` is an incremental re-parse from `old_tree`, the edited tree of the
    text before.

    A subtree the re-parse took over (the same node id at the same place) holds exactly the tokens it held in the
    old tree.  tree-sitter reports a range as changed when its syntax changed: typing a `{` inside a long function
    reshapes the tree up to the function's start, although the tokens there stay what they were, and most of
    that range is subtrees taken over whole.  Reading only the rest costs what the reshaped nodes hold, not what
    the range holds (a few hundred tokens instead of tens of thousands in a long bundle).  `empty`: also the
    zero-width nodes error recovery inserts (a missing `"`), which no token list holds but which can be literals."""
    old_root = old_tree.root_node
    reused: list[tuple[int, int]] = []

    def same(node) -> bool:
        s, e, nid = node.start_byte, node.end_byte, node.id
        old = old_root.descendant_for_byte_range(s, e)
        while old is not None and old.start_byte == s and old.end_byte == e:
            if old.id == nid:
                if e > s:
                    reused.append((s, e))
                return True
            old = old.parent
        return False

    out: list[Token] = []
    _walk_tokens(tree, lang, start, end, same, partial(_emit_token, out, source, lang, kind_tables(lang)), empty)
    return out, reused


def tokens_outside(tree: Tree, source: bytes, lang: str, start: int, end: int, spans: set[tuple[int, int]],
                   empty: bool = False) -> list[Token]:
    """`tokens_in_range` of `tree` without the nodes whose byte span is one of `spans` (and what they hold).

    With the spans `unreused_tokens` found (subtrees a re-parse took over from this tree), these are this tree's
    tokens around them, read without looking anything up in the other tree: a node of one of those spans holds
    the same tokens as the subtree taken over (the same bytes, and when nodes of one span nest, the inner one
    holds all of the outer one's)."""
    out: list[Token] = []

    def skip(node) -> bool:
        return (node.start_byte, node.end_byte) in spans

    _walk_tokens(tree, lang, start, end, skip, partial(_emit_token, out, source, lang, kind_tables(lang)), empty)
    return out


def _emit_token(out: list[Token], source: bytes, lang: str, tables: Any, node, kid: int) -> bool:
    n_start, n_end = node.start_byte, node.end_byte
    text = source[n_start:n_end].decode("utf-8", "replace")
    if kid < len(tables.kinds):
        kind, name = tables.kinds[kid], tables.names[kid]
    else:
        kind, name = TokenKind.OTHER, node.type
    if name == "ERROR" or (kind is TokenKind.OTHER and kid >= len(tables.kinds)):
        kind = _spelling_kind(text, lang)
    row, col = node.start_point
    out.append(Token(text, kind, name, n_start, n_end, row, col))
    return True


def _walk_tokens(tree: Tree, lang: str, start: int, end: int, skip: Any, emit: Any, empty: bool = False) -> None:
    """Visit the token nodes (leaves, and atomic nodes such as strings) that overlap [start, end) in source order,
    calling `emit(node, kind_id)` for each (it returns False to stop the walk); `skip(node)`, when given, is
    asked of every overlapping node first, and a node it accepts is passed over with its subtree.
    Zero-width nodes are passed over unless `empty` (then those within [start, end] are visited too)."""
    if end <= start:
        return
    tables = kind_tables(lang)
    atomic = tables.atomic
    n_kinds = len(tables.kinds)
    cursor = tree.walk()
    while True:
        node = cursor.node
        n_start, n_end = node.start_byte, node.end_byte
        if n_start >= end and n_end > n_start:
            return
        descended = False
        if n_end > start or (empty and n_end == n_start == start):
            kid = node.kind_id
            is_atomic = kid < n_kinds and atomic[kid]
            if skip is not None and skip(node):
                pass  # the same as before: nothing below it to visit
            else:
                if not is_atomic:
                    if n_start < start:
                        descended = cursor.goto_first_child_for_byte(start) is not None
                    else:
                        descended = cursor.goto_first_child()
                if not descended and not is_atomic and node.child_count:
                    descended = False  # every child ends before `start`: nothing to emit here
                elif not descended and (n_end > n_start or empty) and not emit(node, kid):
                    return
        if descended:
            continue
        while not cursor.goto_next_sibling():
            if not cursor.goto_parent():
                return


def _spelling_kind(text: str, lang: str) -> TokenKind:
    """Kind of a leaf that error recovery left untyped, judged by its spelling."""
    from codecomp.syntax.languages import is_keyword

    if text and is_ident_start(text[0]) and all(is_ident_continue(ch) for ch in text[1:]):
        return TokenKind.KEYWORD if is_keyword(text, lang) else TokenKind.IDENTIFIER
    if text[:1].isdigit():
        return TokenKind.NUMBER
    return TokenKind.OTHER


def prefix_start(source: bytes, cursor: int) -> int:
    """Byte where the identifier being typed at `cursor` starts (== cursor when none is being typed).

    Non-ASCII identifier characters count (JavaScript `𝒳va`, C++ `größe`): a UTF-8 character is decoded
    and checked with the Unicode identifier rules.  A run of digits comes back whole (`core` reports it as a
    number).
    """
    i = cursor
    while i > 0:
        b = source[i - 1]
        if b < 0x80:
            if b not in _IDENT_CHAR:
                break
            i -= 1
            continue
        j = i - 1
        while j > 0 and i - j < 4 and 0x80 <= source[j] < 0xC0:
            j -= 1  # back to the lead byte of the character
        try:
            ch = source[j:i].decode("utf-8")
        except UnicodeDecodeError:
            break
        if len(ch) != 1 or not is_ident_continue(ch):
            break
        i = j
    return i


def member_operator_before(source: bytes, start: int) -> str | None:
    """The member-access operator (`.`, `->`, `::`, `?.`) just before `start`, skipping blanks, else None."""
    i = start
    while i > 0 and source[i - 1] in b" \t":
        i -= 1
    for op in MEMBER_OPERATORS:
        if i >= len(op) and source[i - len(op):i] == op:
            # "1." is a number, "..." is a spread: neither is member access
            if op == b"." and i >= 2 and (source[i - 2:i - 1].isdigit() or source[i - 2:i - 1] == b"."):
                return None
            return op.decode()
    return None


def inside_comment_or_string(tree: Tree, source: bytes, lang: str, cursor: int) -> str | None:
    """"comment" or "string" when the cursor sits inside such a token (where completion must stay quiet)."""
    if not source:
        return None
    probe = max(0, min(cursor - 1, len(source) - 1))
    toks = tokens_in_range(tree, source, lang, probe, probe + 1)
    for tok in toks:
        if tok.kind is TokenKind.COMMENT:
            line_comment = tok.text.startswith("//") or tok.text.startswith("#!")
            if tok.start_byte < cursor < tok.end_byte or (line_comment and cursor == tok.end_byte
                                                           and tok.start_byte < cursor):
                return "comment"
            # an unterminated block comment runs to the end of the file
            if tok.text.startswith("/*") and not tok.text.endswith("*/") and tok.start_byte < cursor:
                return "comment"
        elif tok.kind is TokenKind.STRING:
            if tok.start_byte < cursor < tok.end_byte:
                if tok.node_type == "template_string" and _in_substitution(source[tok.start_byte:cursor]):
                    return None  # `${...}` holds code: complete there like anywhere else
                return "string"
    # an unterminated string or template literal is an ERROR region: judge by the quotes on the line so far
    line_start = max(source.rfind(b"\n", 0, cursor) + 1, cursor - LINE_WINDOW)
    line = source[line_start:cursor]
    if _open_quote(line, lang):
        return "string"
    return None


def _in_substitution(before: bytes) -> bool:
    """Whether the end of a template literal's prefix is inside an open `${ ... }`."""
    opened = before.rfind(b"${")
    return opened >= 0 and before.find(b"}", opened) < 0


def _open_quote(line: bytes, lang: str) -> bool:
    """Whether a string opened on this line (before the cursor) is still open, for lines the parser rejected."""
    quote = 0
    i = 0
    n = len(line)
    while i < n:
        ch = line[i]
        if quote:
            if ch == 0x5C:  # backslash escapes the next byte
                i += 2
                continue
            if ch == quote:
                quote = 0
        elif ch in (0x22, 0x27) or (ch == 0x60 and lang == "javascript"):
            # a C++ digit separator (1'000) is not a quote
            if not (ch == 0x27 and lang == "cpp" and i > 0 and chr(line[i - 1]).isalnum()):
                quote = ch
        elif ch == 0x2F and i + 1 < n and line[i + 1] == 0x2F:
            return False  # the rest is a comment
        i += 1
    return quote != 0


def is_identifier(text: str) -> bool:
    """Whether `text` is one whole identifier by the rules above (`$`, `_`, Unicode letters and digits)."""
    if not text:
        return False
    if text.isascii():
        return _ASCII_IDENT.fullmatch(text) is not None
    return is_ident_start(text[0]) and all(is_ident_continue(ch) for ch in text[1:])


_ASCII_IDENT = re.compile(r"[A-Za-z_$][A-Za-z0-9_$]*")


# Nodes whose text is not code: names inside them are never completion candidates or member uses.  A JS template
# literal is code inside `${...}`, so only its literal fragments count.
_LITERAL_QUERIES = {
    "javascript": "[(comment) (string) (regex) (string_fragment)] @lit",
    # C++ also: the directive words of preprocessor lines (`#endif`, `#include`, `#pragma`, `defined`), which are
    # no names of the code (`endif` was offered as a file word)
    "cpp": "[(comment) (string_literal) (raw_string_literal) (char_literal) (system_lib_string)"
           ' "#include" "#define" "#if" "#ifdef" "#ifndef" "#elif" "#else" "#endif" "#elifdef" "#elifndef"'
           ' (preproc_directive) "defined"] @lit',
}


@lru_cache(maxsize=None)
def _literal_query(lang: str):
    from tree_sitter import Query

    from codecomp.syntax.languages import get_language

    return Query(get_language(lang), _LITERAL_QUERIES[lang])


def literal_spans(tree: Tree, lang: str, start: int | None = None, end: int | None = None) -> list[tuple[int, int]]:
    """Sorted byte spans [start, end) of the comment and literal nodes of a parse tree (`_LITERAL_QUERIES`), as
    they are (nested and touching spans not merged); with `start`/`end`, only the nodes that intersect that range
    (a query of a window costs what the window holds, not what the file holds)."""
    from tree_sitter import QueryCursor

    cursor = QueryCursor(_literal_query(lang))
    if start is not None:
        cursor.set_byte_range(max(start, 0), max(end if end is not None else start, max(start, 0)))
    return sorted((n.start_byte, n.end_byte) for n in cursor.captures(tree.root_node).get("lit", []))


def merge_spans(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Sorted spans merged where they overlap or touch."""
    if not spans:
        return []
    a = np.asarray(spans, dtype=np.int64)
    return merge_span_arrays(a[:, 0], a[:, 1])


def merge_span_arrays(starts: np.ndarray, ends: np.ndarray) -> list[tuple[int, int]]:
    """`merge_spans` of spans given as two arrays sorted by start: a span that starts at or before the furthest
    end so far joins the group before it."""
    if not starts.size:
        return []
    reach = np.maximum.accumulate(ends)
    new_group = np.ones(starts.size, dtype=bool)
    new_group[1:] = starts[1:] > reach[:-1]
    firsts = np.flatnonzero(new_group)
    return list(zip(starts[firsts].tolist(), np.maximum.reduceat(ends, firsts).tolist()))


def literal_ranges(tree: Tree, lang: str) -> list[tuple[int, int]]:
    """Sorted, merged byte ranges [start, end) of the comments and string/char/regex literals of a parse tree (and
    in C++ of the preprocessor's directive words)."""
    return merge_spans(literal_spans(tree, lang))
