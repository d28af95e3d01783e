"""Parsing entry points: `parse` a file into a `ParsedFile` (tree + tokens), and incremental re-parsing helpers.

`ParsedFile` is the one object the rest of codecomp gets from the syntax layer; derived views (AST arrays, scopes,
the comment-free token list) are computed on first use and cached on the object.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable

from tree_sitter import Point, Tree

from .languages import check_language, get_parser
from .tokens import Token, TokenKind, tokenize
from .tree import AstArrays, build_ast_arrays

if TYPE_CHECKING:
    from .scopes import ScopeInfo


def _as_bytes(source: str | bytes | bytearray | memoryview) -> bytes:
    if isinstance(source, str):
        # "surrogatepass": a lone surrogate (possible in editor buffers) must not make parsing fail.
        return source.encode("utf-8", "surrogatepass")
    if isinstance(source, (bytes, bytearray, memoryview)):
        return bytes(source)
    raise TypeError(f"source must be str or bytes, got {type(source).__name__}")


@dataclass(eq=False)
class ParsedFile:
    """A parsed source file: language, UTF-8 source, tree-sitter tree and its tokens (comments included)."""

    lang: str
    source: bytes
    tree: Tree
    tokens: list[Token]
    _cache: dict = field(default_factory=dict, repr=False)

    def __repr__(self) -> str:
        return f"ParsedFile(lang={self.lang!r}, {len(self.source)} bytes, {len(self.tokens)} tokens)"

    # -- token helpers -------------------------------------------------------------------------------------------
    def _starts_ends(self) -> tuple[list[int], list[int]]:
        se = self._cache.get("starts_ends")
        if se is None:
            se = self._cache["starts_ends"] = ([t.start_byte for t in self.tokens], [t.end_byte for t in self.tokens])
        return se

    def token_at(self, byte: int) -> int | None:
        """Index of the token containing `byte` or ending exactly at it (the latter wins: it is the word being
        typed); None when `byte` is in whitespace between tokens or outside the file."""
        starts, ends = self._starts_ends()
        i = bisect_right(starts, byte) - 1
        if i < 0:
            return None
        if starts[i] == byte and i > 0 and ends[i - 1] == byte:
            return i - 1
        return i if byte <= ends[i] else None

    def tokens_before(self, byte: int) -> int:
        """Number of tokens that end at or before `byte`."""
        return bisect_right(self._starts_ends()[1], byte)

    def code_tokens(self) -> list[Token]:
        """The tokens without comments (the token list of corpora and of `ast_arrays()`)."""
        code = self._cache.get("code_tokens")
        if code is None:
            code = self._cache["code_tokens"] = [t for t in self.tokens if t.kind != TokenKind.COMMENT]
        return code

    def code_index(self) -> list[int]:
        """For each entry of `tokens`, its index in `code_tokens()`, or -1 for comments."""
        index = self._cache.get("code_index")
        if index is None:
            index, n = [], 0
            for t in self.tokens:
                if t.kind == TokenKind.COMMENT:
                    index.append(-1)
                else:
                    index.append(n)
                    n += 1
            self._cache["code_index"] = index
        return index

    # -- tree views ----------------------------------------------------------------------------------------------
    def error_fraction(self) -> float:
        """Share of the source bytes covered by ERROR nodes (outermost ones only; MISSING nodes are 0 bytes)."""
        if not self.source:
            return 0.0
        root = self.tree.root_node
        if not root.has_error:
            return 0.0
        covered = 0
        stack = [root]
        while stack:
            node = stack.pop()
            if node.is_error:
                covered += node.end_byte - node.start_byte
            elif node.has_error:
                stack.extend(node.children)
        return min(covered / len(self.source), 1.0)

    def unparsed_fraction(self) -> float:
        """Share of the source bytes that error recovery could not place in any well-formed subtree.

        Tree-sitter sometimes wraps a whole file in one ERROR node because of a single construct it cannot
        handle (macro-heavy headers do this), so `error_fraction` is then close to 1 although almost everything
        inside parsed fine.  This measure counts only the tokens sitting directly in ERROR nodes, outside any
        error-free named subtree: a fairer "how broken is this file" figure for corpus filters.
        """
        if not self.source:
            return 0.0
        root = self.tree.root_node
        if not root.has_error:
            return 0.0
        covered = 0
        stack = [(root, False)]
        while stack:
            node, in_error = stack.pop()
            for child in node.children:
                if child.is_error:
                    if child.child_count == 0:
                        covered += child.end_byte - child.start_byte
                    else:
                        stack.append((child, True))
                elif child.has_error:
                    stack.append((child, in_error))
                elif in_error and not child.is_named:
                    covered += child.end_byte - child.start_byte
        return min(covered / len(self.source), 1.0)

    def ast_arrays(self, include_comments: bool = False) -> AstArrays:
        """The flat AST; `token` indexes `code_tokens()` (or `tokens` when `include_comments`)."""
        key = ("ast", include_comments)
        arrays = self._cache.get(key)
        if arrays is None:
            arrays = self._cache[key] = build_ast_arrays(self.tree, self.lang, include_comments)
        return arrays

    def scopes(self, pause: Callable[[], None] | None = None) -> ScopeInfo:
        """Scopes and symbols of the file (token indices refer to `tokens`); `pause`: see `tokens.tokenize`."""
        info = self._cache.get("scopes")
        if info is None:
            from .scopes import compute_scopes

            info = self._cache["scopes"] = compute_scopes(self, pause)
        return info


def parse(source: str | bytes, lang: str, old_tree: Tree | None = None) -> ParsedFile:
    """Parse `source` as `lang` ("cpp" or "javascript").

    Pass `old_tree` (already updated with `Tree.edit`, e.g. through `edit_tree`) to re-parse incrementally.
    Syntax errors never raise: tree-sitter recovers and the tree contains ERROR / MISSING nodes.
    """
    check_language(lang)
    data = _as_bytes(source)
    parser = get_parser(lang)
    if old_tree is not None and old_tree.language != parser.language:
        old_tree = None  # a tree of another language cannot seed this parse
    tree = parser.parse(data, old_tree) if old_tree is not None else parser.parse(data)
    return ParsedFile(lang, data, tree, tokenize(tree, data, lang))


def point_of_byte(source: bytes, byte: int) -> Point:
    """tree-sitter Point (row, byte column) of `byte` in `source`."""
    byte = min(max(byte, 0), len(source))
    row = source.count(b"\n", 0, byte)
    col = byte - (source.rfind(b"\n", 0, byte) + 1)
    return Point(row, col)


def edit_tree(tree: Tree, old_source: bytes, new_source: bytes, start_byte: int, old_end_byte: int,
              new_end_byte: int, old_lines: Any = None) -> None:
    """Tell `tree` (in place) that old_source[start_byte:old_end_byte] became new_source[start_byte:new_end_byte].
    `old_lines`: the line starts of `old_source` (an array, `.starts`) when its lines are tree-sitter's rows (no
    lone "\r"); then no row is counted from the start of the text."""
    if old_lines is None:
        start_point = point_of_byte(old_source, start_byte)
        old_end_point = point_of_byte(old_source, old_end_byte)
    else:
        start_point, old_end_point = (_point_in(old_lines.starts, b) for b in (start_byte, old_end_byte))
    inserted = new_source[start_byte:new_end_byte]
    breaks = inserted.count(b"\n")
    new_end_point = Point(start_point[0] + breaks, len(inserted) - inserted.rfind(b"\n") - 1) if breaks \
        else Point(start_point[0], start_point[1] + len(inserted))
    tree.edit(start_byte=start_byte, old_end_byte=old_end_byte, new_end_byte=new_end_byte,
              start_point=start_point, old_end_point=old_end_point, new_end_point=new_end_point)


def _point_in(starts: Any, byte: int) -> Point:
    row = bisect_right(starts, byte) - 1
    return Point(row, byte - int(starts[row]))


def changed_span(old: bytes | str, new: bytes | str) -> tuple[int, int, int]:
    """(start, old_end, new_end) of the smallest single edit turning `old` into `new` (both bytes or both str)."""
    limit = min(len(old), len(new))
    # Binary searches on slice equality: the comparisons run in C, so this is fast even for large files.
    lo, hi = 0, limit
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if old[:mid] == new[:mid]:
            lo = mid
        else:
            hi = mid - 1
    prefix = lo
    lo, hi = 0, limit - prefix
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if old[len(old) - mid:] == new[len(new) - mid:]:
            lo = mid
        else:
            hi = mid - 1
    suffix = lo
    return prefix, len(old) - suffix, len(new) - suffix


def reparse(previous: ParsedFile, new_source: str | bytes) -> ParsedFile:
    """Parse `new_source` reusing `previous.tree` (which is left untouched: a copy is edited)."""
    data = _as_bytes(new_source)
    start, old_end, new_end = changed_span(previous.source, data)
    tree = previous.tree.copy()
    edit_tree(tree, previous.source, data, start, old_end, new_end)
    return parse(data, previous.lang, old_tree=tree)
