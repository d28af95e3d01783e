"""Trees as the naming model reads them: the window around a symbol, examples, level plans and batches.

Windows: a symbol in a large file is modelled inside a window of at most `max_nodes` nodes around its first
occurrence: the largest ancestor subtree that fits, then the ancestors above it with as many whole neighbouring
sibling subtrees as fit (see `window_nodes`).  Occurrences outside the window are still renamed but not read by
the model.  This keeps training and inference time bounded whatever the file size, and bounds the depth of the
level loop by `max_nodes`.

Training (corpus rows, `codecomp.naming.data`) and serving (a parsed file, `example_from_parsed`) both go through
`prepare_file` and `PreparedFile.example`, so the model sees the same input either way.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from codecomp.naming.vocab import MASK, PAD, NamingVocab
from codecomp.syntax.tree import depths, heights


def subtree_sizes(parent: np.ndarray, depth: np.ndarray | None = None) -> np.ndarray:
    """Number of nodes in the subtree of every node (pre-order arrays: subtree of i is [i, i + size[i]))."""
    parent = np.asarray(parent, dtype=np.int64)
    n = parent.shape[0]
    size = np.ones(n, dtype=np.int64)
    if n == 0:
        return size
    depth = depths(parent) if depth is None else np.asarray(depth)
    order = np.argsort(depth, kind="stable")
    sorted_depth = depth[order]
    cuts = np.nonzero(np.diff(sorted_depth))[0] + 1
    # Deepest level first: a level's sizes are final before they are added to their parents.
    for level in reversed(np.split(order, cuts)):
        kids = level[parent[level] >= 0]
        if kids.size:
            np.add.at(size, parent[kids], size[kids])
    return size


def sibling_links(parent: np.ndarray, sizes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(previous sibling, next sibling) of every node, -1 where there is none (pre-order arrays)."""
    parent = np.asarray(parent, dtype=np.int64)
    n = parent.shape[0]
    after = np.arange(n, dtype=np.int64) + sizes          # first index after the subtree
    parent_end = np.where(parent >= 0, after[np.maximum(parent, 0)], 0)
    has_next = (parent >= 0) & (after < parent_end)
    next_sib = np.where(has_next, after, -1)
    prev_sib = np.full(n, -1, dtype=np.int64)
    prev_sib[next_sib[has_next]] = np.nonzero(has_next)[0]
    return prev_sib, next_sib


def window_nodes(parent: np.ndarray, sizes: np.ndarray, prev_sib: np.ndarray, next_sib: np.ndarray, anchor: int,
                 max_nodes: int) -> np.ndarray:
    """Sorted node indices of the window around `anchor`: a connected part of the tree of at most `max_nodes`.

    First the largest ancestor subtree of the anchor that fits; then, one level up at a time, the parent plus
    whole sibling subtrees on both sides (next sibling first, since uses follow declarations), as long as they
    fit.  In a long function this keeps the statements around a declaration instead of just its own statement.
    Every step adds at least one node, so the loops are bounded by `max_nodes`.
    """
    node = int(anchor)
    while parent[node] >= 0 and sizes[parent[node]] <= max_nodes:
        node = int(parent[node])
    ranges = [(node, node + int(sizes[node]))]
    used = int(sizes[node])
    top = node
    while used < max_nodes and parent[top] >= 0:
        up = int(parent[top])
        used += 1
        ranges.append((up, up + 1))
        left = right = top
        grow = True
        while grow:
            grow = False
            nxt = int(next_sib[right])
            if nxt >= 0 and used + sizes[nxt] <= max_nodes:
                right, used, grow = nxt, used + int(sizes[nxt]), True
                ranges.append((nxt, nxt + int(sizes[nxt])))
            prv = int(prev_sib[left])
            if prv >= 0 and used + sizes[prv] <= max_nodes:
                left, used, grow = prv, used + int(sizes[prv]), True
                ranges.append((prv, prv + int(sizes[prv])))
        top = up
    return np.sort(np.concatenate([np.arange(lo, hi, dtype=np.int64) for lo, hi in ranges]))


@dataclass
class NamingExample:
    """One symbol of one file, ready for the model: a window of the tree with its occurrences hidden.

    Arrays are over the window's nodes, in pre-order: `node_type` (embedding index), `token` (leaf-token id,
    `MASK` at the occurrences, PAD for inner nodes), `parent` (-1 for the window root), `depth`.
    `occ` are the window positions of the hidden occurrences the model reads.
    """

    lang: str
    kind: str
    name: str
    node_type: np.ndarray
    token: np.ndarray
    parent: np.ndarray
    depth: np.ndarray
    occ: np.ndarray


def make_example(vocab: NamingVocab, prep: "PreparedFile", kind: str, name: str, occ_nodes: Sequence[int],
                 anchor: int) -> NamingExample:
    """Cut the window around `anchor` (the first occurrence) and hide every occurrence of the symbol.

    `occ_nodes` are the node indices of all occurrences in the prepared file.
    """
    nodes = window_nodes(prep.parent, prep.sizes, prep.prev_sib, prep.next_sib, anchor, vocab.max_nodes)
    remap = np.full(prep.parent.shape[0], -1, dtype=np.int64)
    remap[nodes] = np.arange(nodes.shape[0])
    outer = prep.parent[nodes]
    win_parent = np.where(outer >= 0, remap[np.maximum(outer, 0)], -1)
    occ = np.unique(np.asarray(occ_nodes, dtype=np.int64))
    inside = remap[occ]
    inside = np.sort(inside[inside >= 0])
    token = prep.leaf_token[nodes].astype(np.int64)
    token[inside] = MASK
    return NamingExample(
        lang=prep.lang,
        kind=kind,
        name=name,
        node_type=vocab.type_ids(prep.lang, prep.node_type[nodes]),
        token=token,
        parent=win_parent,
        depth=prep.depth[nodes] - prep.depth[nodes[0]],
        occ=inside,
    )


@dataclass
class UpLevel:
    """One bottom-up step: `nodes` of one height; `children` of those nodes and, per child, the position of its
    parent inside `nodes` (`slot`)."""

    nodes: np.ndarray
    children: np.ndarray
    slot: np.ndarray


@dataclass
class DownLevel:
    """One top-down step: `nodes` of one depth and their parents (index N, a zero state, for roots)."""

    nodes: np.ndarray
    parents: np.ndarray


@dataclass
class TreeBatch:
    """A batch of trees flattened into one forest (numpy), with its level plan.

    `occ` are the forest positions of the hidden occurrences, `occ_seg` the example each belongs to.
    """

    node_type: np.ndarray
    token: np.ndarray
    parent: np.ndarray
    up: list[UpLevel]
    down: list[DownLevel]
    occ: np.ndarray
    occ_seg: np.ndarray
    num_trees: int

    @property
    def num_nodes(self) -> int:
        """Nodes in the forest."""
        return int(self.parent.shape[0])


def _group(key: np.ndarray) -> list[np.ndarray]:
    order = np.argsort(key, kind="stable")
    cuts = np.nonzero(np.diff(key[order]))[0] + 1
    return np.split(order, cuts) if key.shape[0] else []


def plan_levels(parent: np.ndarray, depth: np.ndarray | None = None) -> tuple[list[UpLevel], list[DownLevel]]:
    """Level plan of a forest: every node of one height in one upward step, of one depth in one downward step.

    No recursion and no per-node Python work: numpy grouping only, so depth is limited by memory, not the stack.
    """
    parent = np.asarray(parent, dtype=np.int64)
    n = parent.shape[0]
    depth = depths(parent).astype(np.int64) if depth is None else np.asarray(depth, dtype=np.int64)
    height = heights(parent, depth).astype(np.int64)
    up: list[UpLevel] = []
    pos = np.zeros(n, dtype=np.int64)
    has_parent = parent >= 0
    parent_height = np.where(has_parent, height[np.maximum(parent, 0)], -1)
    child_groups = {int(h): g for h, g in zip(*_unique_groups(parent_height[has_parent], np.nonzero(has_parent)[0]))}
    for nodes in _group(height):
        pos[nodes] = np.arange(nodes.shape[0])
        h = int(height[nodes[0]])
        children = child_groups.get(h, np.zeros(0, dtype=np.int64))
        up.append(UpLevel(nodes=nodes, children=children, slot=pos[parent[children]]))
    down = [DownLevel(nodes=nodes, parents=np.where(parent[nodes] >= 0, parent[nodes], n)) for nodes in _group(depth)]
    return up, down


def _unique_groups(key: np.ndarray, values: np.ndarray) -> tuple[list[int], list[np.ndarray]]:
    if key.shape[0] == 0:
        return [], []
    order = np.argsort(key, kind="stable")
    sorted_key = key[order]
    cuts = np.nonzero(np.diff(sorted_key))[0] + 1
    starts = np.concatenate([[0], cuts])
    return [int(sorted_key[s]) for s in starts], np.split(values[order], cuts)


def batch_examples(examples: Sequence[NamingExample]) -> TreeBatch:
    """Concatenate examples into one forest and plan its levels."""
    if not examples:
        raise ValueError("batch_examples needs at least one example")
    offsets = np.cumsum([0] + [int(e.parent.shape[0]) for e in examples])
    parent = np.concatenate([np.where(e.parent >= 0, e.parent + off, -1) for e, off in zip(examples, offsets)])
    depth = np.concatenate([e.depth for e in examples]).astype(np.int64)
    up, down = plan_levels(parent, depth)
    return TreeBatch(
        node_type=np.concatenate([e.node_type for e in examples]).astype(np.int64),
        token=np.concatenate([e.token for e in examples]).astype(np.int64),
        parent=parent.astype(np.int64),
        up=up,
        down=down,
        occ=np.concatenate([e.occ + off for e, off in zip(examples, offsets)]).astype(np.int64),
        occ_seg=np.concatenate([np.full(e.occ.shape[0], i, dtype=np.int64) for i, e in enumerate(examples)]),
        num_trees=len(examples),
    )


def code_occurrences(parsed: Any, symbol: Any) -> list[int]:
    """The symbol's occurrences as indices into the comment-free tokens (`parsed.code_tokens()`, what corpora
    store and the AST leaves index); the symbol's own occurrences index all tokens."""
    index = parsed.code_index()
    return [index[o] for o in symbol.occurrences if 0 <= o < len(index) and index[o] >= 0]


def example_from_parsed(vocab: NamingVocab, parsed: Any, symbol: Any) -> NamingExample | str:
    """Build the model input for `symbol` of a parsed file, or a sentence saying why it cannot be built.

    Prepared exactly like the corpus rows the model was trained on (`codecomp.naming.data`): comment-free
    tokens, the window anchored at the first occurrence.
    """
    arrays = parsed.ast_arrays()
    if len(arrays) == 0:
        return "the file has no syntax tree"
    code_texts = [t.text for t in parsed.code_tokens()]
    occ_code = code_occurrences(parsed, symbol)
    built = prepare_file(vocab, parsed.lang, np.asarray(arrays.node_type), np.asarray(arrays.parent),
                         np.asarray(arrays.depth), np.asarray(arrays.token), code_texts)
    example = built.example(vocab, symbol.kind, symbol.name, occ_code)
    if example is None:
        return "the symbol's occurrences are not in the syntax tree"
    return example


@dataclass
class PreparedFile:
    """One file's arrays as the naming model reads them: node types, parents, depths, leaf-token ids, subtree
    sizes, and the node of each (comment-free) token."""

    lang: str
    node_type: np.ndarray
    parent: np.ndarray
    depth: np.ndarray
    leaf_token: np.ndarray
    node_of_token: np.ndarray
    sizes: np.ndarray
    prev_sib: np.ndarray
    next_sib: np.ndarray
    token_texts: Sequence[str] = ()
    sym_occ: Sequence[Sequence[int]] = ()

    def example(self, vocab: NamingVocab, kind: str, name: str, occ_tokens: Sequence[int]) -> NamingExample | None:
        """The example of one symbol given its occurrences as token indices; None if none is in the tree."""
        n_tok = self.node_of_token.shape[0]
        occ_nodes = [int(self.node_of_token[t]) for t in occ_tokens if 0 <= t < n_tok and self.node_of_token[t] >= 0]
        if not occ_nodes:
            return None
        return make_example(vocab, self, kind, name, occ_nodes, min(occ_nodes))


def prepare_file(vocab: NamingVocab | None, lang: str, node_type: np.ndarray, parent: np.ndarray, depth: np.ndarray,
                 ast_token: np.ndarray, token_texts: Sequence[str]) -> PreparedFile:
    """Arrays of one file (`AstArrays` fields and the comment-free token texts); leaf ids need `vocab`."""
    parent = np.asarray(parent, dtype=np.int64)
    leaf = np.asarray(ast_token, dtype=np.int64)
    n_tok = len(token_texts)
    valid = (leaf >= 0) & (leaf < n_tok)
    if vocab is not None:
        ids = np.array([vocab.token_id(t) for t in token_texts] + [PAD], dtype=np.int64)
        leaf_token = np.where(valid, ids[np.where(valid, leaf, n_tok)], PAD)
    else:
        leaf_token = np.zeros(parent.shape[0], dtype=np.int64)
    node_of_token = np.full(n_tok, -1, dtype=np.int64)
    node_of_token[leaf[valid]] = np.nonzero(valid)[0]
    depth = np.asarray(depth, dtype=np.int64) if depth is not None and len(depth) == len(parent) else depths(parent)
    sizes = subtree_sizes(parent, depth)
    prev_sib, next_sib = sibling_links(parent, sizes)
    return PreparedFile(lang, np.asarray(node_type, dtype=np.int64), parent, depth, leaf_token, node_of_token,
                        sizes, prev_sib, next_sib, token_texts)
