"""Flat numpy view of a syntax tree (`AstArrays`) and vectorised helpers over parent arrays.

The arrays keep named nodes plus token leaves, in pre-order (so `parent[i] < i`).  They feed the corpus (one row
of int32 lists per file) and the Tree-LSTM naming model, which processes nodes level by level: `heights` and
`level_schedule` compute that order with numpy, without recursion, so 10,000-deep trees are fine.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from tree_sitter import Tree

from .tokens import TokenKind, kind_tables

ERROR_NAME = "ERROR"


@dataclass(frozen=True, slots=True)
class AstArrays:
    """Parallel int32 arrays over the kept nodes of one file, in pre-order.

    node_type: canonical tree-sitter kind id (see `node_type_names`; ERROR nodes use the extra last id)
    parent: index of the parent node, -1 for the root
    child_index: position among the kept children of the parent
    depth: 0 for the root
    token: for token leaves, index into the token list the arrays were built for (`ParsedFile.code_tokens()` by
        default, i.e. comments excluded; `ParsedFile.tokens` with `include_comments=True`), else -1
    """

    node_type: np.ndarray
    parent: np.ndarray
    child_index: np.ndarray
    depth: np.ndarray
    token: np.ndarray

    def __len__(self) -> int:
        return int(self.parent.shape[0])


@lru_cache(maxsize=None)
def node_type_names(lang: str) -> list[str]:
    """Node-type names of `lang` indexed by the ids used in `AstArrays.node_type`.

    Index = tree-sitter kind id; one extra last entry, "ERROR", is the id of error-recovery nodes (tree-sitter
    gives them the out-of-range id 65535).
    """
    return [*kind_tables(lang).names, ERROR_NAME]


@lru_cache(maxsize=None)
def _named_table(lang: str) -> tuple[bool, ...]:
    from .languages import get_language

    language = get_language(lang)
    return tuple(bool(language.node_kind_is_named(k)) for k in range(language.node_kind_count))


def build_ast_arrays(tree: Tree, lang: str, include_comments: bool = False) -> AstArrays:
    """Flatten `tree` into `AstArrays`.

    Token leaves are found exactly as `tokenize` finds tokens (atomic literals, non-empty leaves), so the n-th
    token leaf is token n.  Comment leaves are dropped unless `include_comments`.
    """
    tables = kind_tables(lang)
    atomic, kinds, canonical = tables.atomic, tables.kinds, tables.canonical
    named = _named_table(lang)
    n_kinds = len(atomic)
    error_id = n_kinds
    comment_kind = TokenKind.COMMENT
    node_type: list[int] = []
    parent: list[int] = []
    child_index: list[int] = []
    depth: list[int] = []
    token: list[int] = []
    n_children: list[int] = []
    token_no = 0
    stack: list[int] = []
    cur_parent = -1
    cursor = tree.walk()
    goto_first_child = cursor.goto_first_child
    goto_next_sibling = cursor.goto_next_sibling
    goto_parent = cursor.goto_parent
    while True:
        node = cursor.node
        kid = node.kind_id
        known = kid < n_kinds
        if (known and atomic[kid]) or not goto_first_child():
            # A leaf (or atomic literal): kept when it is a token.
            start = node.start_byte
            end = node.end_byte
            if not parent:
                # The root is always kept, even for an empty file, so every array has a root at index 0.
                node_type.append(canonical[kid] if known else error_id)
                parent.append(-1)
                child_index.append(0)
                depth.append(0)
                n_children.append(0)
                token.append(-1)
                if end <= start:
                    return _finish(node_type, parent, child_index, depth, token)
                cur_parent = 0
            if end > start:
                is_comment = known and kinds[kid] is comment_kind
                if include_comments or not is_comment:
                    node_type.append(canonical[kid] if known else error_id)
                    parent.append(cur_parent)
                    if cur_parent >= 0:
                        child_index.append(n_children[cur_parent])
                        n_children[cur_parent] += 1
                        depth.append(depth[cur_parent] + 1)
                    else:
                        child_index.append(0)
                        depth.append(0)
                    n_children.append(0)
                    token.append(token_no)
                    token_no += 1
            while not goto_next_sibling():
                if not goto_parent():
                    return _finish(node_type, parent, child_index, depth, token)
                cur_parent = stack.pop()
        else:
            # An inner node; the cursor is already on its first child.
            stack.append(cur_parent)
            if not known or named[kid]:
                idx = len(parent)
                node_type.append(canonical[kid] if known else error_id)
                parent.append(cur_parent)
                if cur_parent >= 0:
                    child_index.append(n_children[cur_parent])
                    n_children[cur_parent] += 1
                    depth.append(depth[cur_parent] + 1)
                else:
                    child_index.append(0)
                    depth.append(0)
                n_children.append(0)
                token.append(-1)
                cur_parent = idx


def _finish(node_type: list[int], parent: list[int], child_index: list[int], depth: list[int],
            token: list[int]) -> AstArrays:
    as_i32 = lambda xs: np.asarray(xs, dtype=np.int32)  # noqa: E731
    return AstArrays(as_i32(node_type), as_i32(parent), as_i32(child_index), as_i32(depth), as_i32(token))


def depths(parent: np.ndarray) -> np.ndarray:
    """Depth of every node from a parent array (-1 = root), by pointer doubling: O(N log D) numpy work."""
    parent = np.asarray(parent, dtype=np.int64)
    dist = (parent >= 0).astype(np.int64)
    up = parent.copy()
    while True:
        live = np.nonzero(up >= 0)[0]
        if live.size == 0:
            return dist.astype(np.int32)
        target = up[live]
        # Synchronous update: read the old arrays before writing.
        new_dist = dist[live] + dist[target]
        new_up = up[target]
        dist[live] = new_dist
        up[live] = new_up


def heights(parent: np.ndarray, depth: np.ndarray | None = None) -> np.ndarray:
    """Height of every node (0 for leaves, 1 + max child height otherwise).

    Processes one depth level at a time, deepest first, with `np.maximum.at`; `depth` is computed when not given.
    """
    parent = np.asarray(parent, dtype=np.int64)
    n = parent.shape[0]
    height = np.zeros(n, dtype=np.int32)
    if n == 0:
        return height
    if depth is None:
        depth = depths(parent)
    depth = np.asarray(depth)
    for level in reversed(_groups(depth)):
        kids = level[parent[level] >= 0]
        if kids.size:
            np.maximum.at(height, parent[kids], height[kids] + 1)
    return height


def _groups(key: np.ndarray) -> list[np.ndarray]:
    """Indices grouped by equal `key`, groups in increasing key order, indices ascending inside a group."""
    if key.shape[0] == 0:
        return []
    order = np.argsort(key, kind="stable")
    sorted_key = key[order]
    cuts = np.nonzero(np.diff(sorted_key))[0] + 1
    return np.split(order, cuts)


def level_schedule(parent: np.ndarray, by: str = "height", depth: np.ndarray | None = None) -> list[np.ndarray]:
    """Node indices grouped into levels that can be processed together.

    by="height": level k holds the nodes of height k (leaves first): every node comes after all its children,
    the bottom-up order of a child-sum Tree-LSTM.  by="depth": level k holds the nodes at depth k (root first),
    the top-down order.  Indices are int64 and ascending within a level.
    """
    parent = np.asarray(parent)
    if by == "height":
        return _groups(heights(parent, depth))
    if by == "depth":
        return _groups(depths(parent) if depth is None else np.asarray(depth))
    raise ValueError(f"level_schedule: 'by' must be 'height' or 'depth', not {by!r}")
