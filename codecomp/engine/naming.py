"""Name suggestions for variables, parameters and functions: the torch-free side of the naming model.

The naming model is a bidirectional Tree-LSTM (training/models/tree_lstm.py).  To rename a symbol, every
occurrence of it is hidden (its identifier leaf gets the `<mask>` token), the tree is encoded bottom-up (child-sum
Tree-LSTM, leaves to root) and top-down (each node from its parent's downward state and its own upward state),
and the states of the hidden leaves are pooled into one vector from which two heads predict the name:

* a classifier over frequent whole names plus one `<other>` class;
* a small GRU decoder over lower-cased sub-tokens (``maxRetries`` -> ``max``, ``retries``) and a style head
  (camelCase, PascalCase, snake_case, UPPER_SNAKE) that renders the sub-tokens, so unseen names are possible.

Both are combined into one ranked list: a name of the vocabulary scores p(name); any other name scores
p(<other>) * p(style) * p(sub-tokens).

This module holds everything both training and serving need, so that they prepare trees the same way:
name splitting and rendering, the vocabulary file, the window that bounds a tree around the occurrences, the
level plan of a batch of trees, the ranking; and the serving half: `NameSuggester`, which runs the exported ONNX
cells in a numpy level loop.  It never imports torch.

Windows: a symbol in a large file is modelled inside a window of at most `max_nodes` nodes around its first
occurrence: the largest ancestor subtree that fits, then the ancestors above it with as many whole neighbouring
sibling subtrees as fit (see `window_nodes`).  Occurrences outside the window are still renamed but not read by
the model.  This keeps training and inference time bounded whatever the file size, and bounds the depth of the
level loop by `max_nodes`.
"""
from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import numpy as np

from codecomp.syntax.tree import depths, heights

# Kinds of symbols the model names (the corpus stores these three in `sym_kind`).
NAMING_KINDS: tuple[str, ...] = ("variable", "parameter", "function")

# Special entries of the leaf-token vocabulary.
PAD, UNK, MASK = 0, 1, 2
TOKEN_SPECIALS: tuple[str, ...] = ("<pad>", "<unk>", "<mask>")
# Special entries of the sub-token vocabulary.
SUB_PAD, SUB_UNK, SUB_BOS, SUB_EOS = 0, 1, 2, 3
SUBTOKEN_SPECIALS: tuple[str, ...] = ("<pad>", "<unk>", "<bos>", "<eos>")
# Index 0 of the name vocabulary: "some name that is not in this list".
OTHER_NAME = "<other>"
BASE_STYLES: tuple[str, ...] = ("camel", "pascal", "snake", "upper")
# A style may carry a prefix the sub-tokens cannot spell: `_count`, `__first` (library code), `$el` (jQuery).
PREFIXES: tuple[str, ...] = ("", "_", "__", "$")
STYLES: tuple[str, ...] = tuple(p + s for p in PREFIXES for s in BASE_STYLES)

VOCAB_FORMAT = "codecomp-naming-vocab"
VOCAB_FILE = "naming_vocab.json"
GRAPH_FILES: dict[str, str] = {
    "up": "naming_up.onnx",
    "down": "naming_down.onnx",
    "head": "naming_head.onnx",
    "decoder": "naming_decoder.onnx",
}

# ---------------------------------------------------------------------------------------------------------------
# Names: sub-tokens and styles
# ---------------------------------------------------------------------------------------------------------------

_WORD_SPLIT = re.compile(r"[^A-Za-z0-9]+")
_CAMEL_PART = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|[0-9]+")


def split_name(name: str) -> list[str]:
    """Lower-cased sub-tokens of an identifier: ``parseHTTPHeader_v2`` -> ``parse http header v 2``."""
    parts: list[str] = []
    for word in _WORD_SPLIT.split(name):
        parts.extend(p.lower() for p in _CAMEL_PART.findall(word))
    return parts


def name_style(name: str) -> str:
    """The spelling convention of a name, one of `STYLES`: an optional prefix (`_`, `__`, `$`) and camel, pascal,
    snake or upper (single lower-case words count as camel)."""
    lead = len(name) - len(name.lstrip("_$"))
    prefix = name[:lead] if name[:lead] in PREFIXES else ""
    core = name.strip("_$")
    if "_" in core:
        base = "upper" if core.upper() == core and any(ch.isalpha() for ch in core) else "snake"
    elif core[:1].isupper():
        upper = len(core) > 1 and core.upper() == core and any(ch.isalpha() for ch in core[1:])
        base = "upper" if upper else "pascal"
    else:
        base = "camel"
    return prefix + base


def render_name(subtokens: Sequence[str], style: str) -> str:
    """Spell lower-case sub-tokens in a style: (["max", "retries"], "camel") -> ``maxRetries``, "_snake" ->
    ``_max_retries``."""
    parts = [p for p in subtokens if p]
    if not parts:
        return ""
    base = next((b for b in BASE_STYLES if style.endswith(b)), "camel")
    prefix = style[: len(style) - len(base)]
    if base == "snake":
        body = "_".join(parts)
    elif base == "upper":
        body = "_".join(p.upper() for p in parts)
    elif base == "pascal":
        body = "".join(p[:1].upper() + p[1:] for p in parts)
    else:
        body = parts[0] + "".join(p[:1].upper() + p[1:] for p in parts[1:])
    return prefix + body


def subtoken_f1(predicted: str, target: str) -> float:
    """F1 of the sub-token multisets of two names (``maxCount`` vs ``max_size``: 0.5)."""
    pred, gold = split_name(predicted), split_name(target)
    if not pred or not gold:
        return float(predicted == target)
    remaining = list(gold)
    hits = 0
    for part in pred:
        if part in remaining:
            remaining.remove(part)
            hits += 1
    if hits == 0:
        return 0.0
    precision, recall = hits / len(pred), hits / len(gold)
    return 2 * precision * recall / (precision + recall)


# ---------------------------------------------------------------------------------------------------------------
# Vocabulary
# ---------------------------------------------------------------------------------------------------------------


class NamingError(Exception):
    """The naming model cannot be used; the message says why."""


@dataclass
class NamingVocab:
    """Vocabularies of the naming model, stored as `naming_vocab.json` in run folders and artifacts.

    `node_types[lang] = (offset, count)`: the embedding index of a node is `offset + node_type` (0 = unknown).
    `settings` holds the preprocessing settings the model was trained with (window size, decoder length).
    """

    node_types: dict[str, tuple[int, int]]
    tokens: list[str]
    names: list[str]
    subtokens: list[str]
    styles: list[str] = field(default_factory=lambda: list(STYLES))
    settings: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._token_ids = {t: i for i, t in enumerate(self.tokens)}
        self._name_ids = {t: i for i, t in enumerate(self.names)}
        self._sub_ids = {t: i for i, t in enumerate(self.subtokens)}

    @property
    def num_node_types(self) -> int:
        """Size of the node-type embedding table."""
        return 1 + sum(count for _, count in self.node_types.values())

    @property
    def max_nodes(self) -> int:
        """Window size (nodes) used around a symbol."""
        return int(self.settings.get("max_nodes", 512))

    @property
    def max_subtokens(self) -> int:
        """Longest sub-token sequence the decoder produces."""
        return int(self.settings.get("max_subtokens", 6))

    @classmethod
    def build(
        cls,
        node_type_counts: dict[str, int],
        token_counts: dict[str, int],
        name_counts: dict[str, int],
        subtoken_counts: dict[str, int],
        max_tokens: int,
        max_names: int,
        max_subtokens_vocab: int,
        min_name_count: int = 2,
        settings: dict[str, Any] | None = None,
    ) -> "NamingVocab":
        """Vocabularies from frequency counts (most frequent first, ties broken alphabetically)."""

        def top(counts: dict[str, int], n: int, min_count: int = 1, exclude: Iterable[str] = ()) -> list[str]:
            skip = set(exclude)
            items = sorted(((c, w) for w, c in counts.items() if c >= min_count and w not in skip),
                           key=lambda cw: (-cw[0], cw[1]))
            return [w for _, w in items[: max(0, n)]]

        node_types: dict[str, tuple[int, int]] = {}
        offset = 1
        for lang in sorted(node_type_counts):
            node_types[lang] = (offset, int(node_type_counts[lang]))
            offset += int(node_type_counts[lang])
        tokens = list(TOKEN_SPECIALS) + top(token_counts, max_tokens - len(TOKEN_SPECIALS), exclude=TOKEN_SPECIALS)
        names = [OTHER_NAME] + top(name_counts, max_names - 1, min_name_count, exclude=(OTHER_NAME,))
        subs = list(SUBTOKEN_SPECIALS) + top(subtoken_counts, max_subtokens_vocab - len(SUBTOKEN_SPECIALS),
                                             exclude=SUBTOKEN_SPECIALS)
        return cls(node_types, tokens, names, subs, list(STYLES), dict(settings or {}))

    def to_json(self) -> dict[str, Any]:
        """The JSON form written to `naming_vocab.json`."""
        return {
            "format": VOCAB_FORMAT,
            "version": 1,
            "node_types": {k: list(v) for k, v in self.node_types.items()},
            "tokens": self.tokens,
            "names": self.names,
            "subtokens": self.subtokens,
            "styles": self.styles,
            "settings": self.settings,
        }

    def save(self, path: str | Path) -> None:
        """Write the vocabulary as JSON."""
        Path(path).write_text(json.dumps(self.to_json(), ensure_ascii=False) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, path: str | Path) -> "NamingVocab":
        """Read `naming_vocab.json`; raise `NamingError` with a readable message when it is unusable."""
        path = Path(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError as exc:
            raise NamingError(f"The naming vocabulary {path} is missing; re-export the model.") from exc
        except (OSError, ValueError) as exc:
            raise NamingError(f"The naming vocabulary {path} cannot be read ({exc}); re-export the model.") from exc
        if not isinstance(data, dict) or data.get("format") != VOCAB_FORMAT:
            raise NamingError(f"{path} is not a naming vocabulary (format {VOCAB_FORMAT!r} expected).")
        try:
            return cls(
                node_types={k: (int(v[0]), int(v[1])) for k, v in data["node_types"].items()},
                tokens=list(data["tokens"]),
                names=list(data["names"]),
                subtokens=list(data["subtokens"]),
                styles=list(data.get("styles", STYLES)),
                settings=dict(data.get("settings", {})),
            )
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            raise NamingError(f"The naming vocabulary {path} is incomplete ({exc}); re-export the model.") from exc

    def type_ids(self, lang: str, node_type: np.ndarray) -> np.ndarray:
        """Embedding indices of the node types of one file (0 for unknown languages or ids)."""
        node_type = np.asarray(node_type, dtype=np.int64)
        if lang not in self.node_types:
            return np.zeros_like(node_type)
        offset, count = self.node_types[lang]
        ok = (node_type >= 0) & (node_type < count)
        return np.where(ok, node_type + offset, 0)

    def token_id(self, text: str) -> int:
        """Id of a leaf token text (UNK when not in the vocabulary)."""
        return self._token_ids.get(text, UNK)

    def name_id(self, name: str) -> int:
        """Index of a whole name in the name vocabulary (0 = `<other>`)."""
        return self._name_ids.get(name, 0)

    def subtoken_ids(self, name: str) -> list[int]:
        """Sub-token ids of a name, truncated to `max_subtokens`, without BOS/EOS."""
        return [self._sub_ids.get(p, SUB_UNK) for p in split_name(name)[: self.max_subtokens]]

    def style_id(self, name: str) -> int:
        """Index of the style of a name (its style without prefix when the vocabulary lacks the prefixed one)."""
        style = name_style(name)
        if style not in self.styles:
            style = next(b for b in BASE_STYLES if style.endswith(b))
        return self.styles.index(style)


# ---------------------------------------------------------------------------------------------------------------
# Trees: windows, examples, batches, level plans
# ---------------------------------------------------------------------------------------------------------------


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


# ---------------------------------------------------------------------------------------------------------------
# Ranking
# ---------------------------------------------------------------------------------------------------------------


def log_softmax(x: np.ndarray) -> np.ndarray:
    """Numerically stable log-softmax over the last axis."""
    x = np.asarray(x, dtype=np.float64)
    m = x.max(axis=-1, keepdims=True)
    return x - m - np.log(np.exp(x - m).sum(axis=-1, keepdims=True))


def beam_search(
    step: Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]],
    h0: np.ndarray,
    beam: int,
    max_len: int,
) -> list[tuple[list[int], float]]:
    """Beam search over sub-token ids with a decoder `step(prev_ids, h) -> (logits, h)`.

    Returns finished sequences (without BOS/EOS) with their log-probabilities, best first.  `<unk>`, `<pad>` and
    `<bos>` are never produced; sequences still open at `max_len` are closed there.
    """
    seqs: list[list[int]] = [[]]
    scores = np.zeros(1)
    h = np.asarray(h0, dtype=np.float32).reshape(1, -1)
    prev = np.array([SUB_BOS], dtype=np.int64)
    finished: list[tuple[list[int], float]] = []
    for t in range(max_len):
        logits, h = step(prev, h)
        logp = log_softmax(logits)
        logp[:, [SUB_PAD, SUB_UNK, SUB_BOS]] = -np.inf
        if t == 0:
            logp[:, SUB_EOS] = -np.inf  # a name has at least one sub-token
        total = scores[:, None] + logp
        flat = total.ravel()
        width = min(beam, int(np.isfinite(flat).sum()))
        if width <= 0:
            break
        best = np.argpartition(-flat, width - 1)[:width]
        best = best[np.argsort(-flat[best], kind="stable")]
        vocab_size = logp.shape[1]
        new_seqs, new_scores, new_rows, new_prev = [], [], [], []
        for idx in best:
            row, tok = divmod(int(idx), vocab_size)
            if tok == SUB_EOS:
                finished.append((seqs[row], float(flat[idx])))
            else:
                new_seqs.append(seqs[row] + [tok])
                new_scores.append(float(flat[idx]))
                new_rows.append(row)
                new_prev.append(tok)
        if not new_seqs:
            break
        seqs, scores = new_seqs, np.array(new_scores)
        h = h[np.array(new_rows)]
        prev = np.array(new_prev, dtype=np.int64)
        if len(finished) >= beam and max(s for _, s in finished) >= scores.max():
            break
    else:
        finished.extend(zip(seqs, scores.tolist()))
    finished.sort(key=lambda item: -item[1])
    return finished[:beam]


def rank_names(
    vocab: NamingVocab,
    name_logits: np.ndarray,
    style_logits: np.ndarray,
    decoded: Sequence[tuple[list[int], float]],
    k: int,
) -> list[tuple[str, float]]:
    """One ranked list from the name classifier and the sub-token decoder (scores are probabilities).

    A vocabulary name scores its classifier probability; a name the decoder spells that is not in the vocabulary
    scores p(<other>) * p(style) * p(sub-tokens), summed over the ways to spell it.
    """
    p_name = np.exp(log_softmax(np.asarray(name_logits).reshape(-1)))
    p_style = np.exp(log_softmax(np.asarray(style_logits).reshape(-1)))
    scores: dict[str, float] = {}
    top = np.argsort(-p_name[1:], kind="stable")[: max(k, 1) * 2] + 1
    for idx in top:
        scores[vocab.names[int(idx)]] = float(p_name[idx])
    p_other = float(p_name[0])
    for ids, logp in decoded:
        parts = [vocab.subtokens[i] for i in ids]
        for s, style in enumerate(vocab.styles):
            name = render_name(parts, style)
            if not name:
                continue
            vid = vocab.name_id(name)
            if vid:
                scores.setdefault(name, float(p_name[vid]))
            else:
                scores[name] = scores.get(name, 0.0) + p_other * float(p_style[s]) * math.exp(logp)
    ranked = sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))
    return ranked[:k]


# ---------------------------------------------------------------------------------------------------------------
# Serving
# ---------------------------------------------------------------------------------------------------------------


@dataclass
class NameSuggestions:
    """Names proposed for one symbol.

    `occurrences` are byte spans [start, end) of every occurrence to rename; `names` ranked (name, score) with
    scores in [0, 1]; `reason` says in words why the list is empty (None when it is not).
    """

    symbol: str = ""
    kind: str = ""
    occurrences: list[tuple[int, int]] = field(default_factory=list)
    names: list[tuple[str, float]] = field(default_factory=list)
    reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dictionary."""
        return {"symbol": self.symbol, "kind": self.kind, "occurrences": [list(o) for o in self.occurrences],
                "names": [[n, s] for n, s in self.names], "reason": self.reason}


def _empty(reason: str, symbol: str = "", kind: str = "", occurrences=None) -> NameSuggestions:
    return NameSuggestions(symbol=symbol, kind=kind, occurrences=list(occurrences or []), names=[], reason=reason)


class NameSuggester:
    """Runs the exported naming model with onnxruntime: the Tree-LSTM level loop is numpy."""

    def __init__(self, vocab: NamingVocab, sessions: dict[str, Any], beam: int = 8) -> None:
        self.vocab = vocab
        self.sessions = sessions
        self.beam = beam
        self.hidden = int(vocab.settings["hidden"])

    @classmethod
    def from_artifact(cls, artifact: Any, threads: int = 1) -> "NameSuggester":
        """Load from an artifact folder (path) or a loaded `codecomp.artifact.Artifact`.

        Raises `NamingError` when the artifact has no naming model or its files are unusable.
        """
        from codecomp import artifact as artifact_mod

        if not isinstance(artifact, artifact_mod.Artifact):
            try:
                artifact = artifact_mod.load(artifact)
            except artifact_mod.ArtifactError as exc:
                raise NamingError(str(exc)) from exc
        if not artifact.has("naming"):
            raise NamingError(
                f"The model at {artifact.path} has no naming model; export one with `codecomp export` from a run "
                "trained with `codecomp train tree`."
            )
        section = artifact.models["naming"]
        vocab = NamingVocab.load(artifact.file(section.get("vocab", VOCAB_FILE)))
        graphs = section.get("graphs", GRAPH_FILES)
        sessions = {}
        for role in GRAPH_FILES:
            name = graphs.get(role, GRAPH_FILES[role])
            if not artifact.file(name).is_file():
                raise NamingError(f"The naming graph {artifact.file(name)} is missing; re-export the model.")
            try:
                sessions[role] = artifact.session(name, threads=threads)
            except artifact_mod.ArtifactError as exc:
                raise NamingError(str(exc)) from exc
        suggester = cls(vocab, sessions)
        suggester.warm_up()
        return suggester

    def warm_up(self) -> None:
        """Run every graph once on a two-node tree: onnxruntime's first run of a graph is much slower than the
        next ones, and that cost belongs to loading, not to the user's first rename."""
        parent = np.array([-1, 0], dtype=np.int64)
        example = NamingExample("", "", "", np.zeros(2, dtype=np.int64), np.array([PAD, MASK], dtype=np.int64),
                                parent, np.array([0, 1], dtype=np.int64), np.array([1], dtype=np.int64))
        try:
            self.predict(example, 1)
        except Exception as exc:  # onnxruntime raises several private exception types
            raise NamingError(f"the naming model does not run ({exc}); re-export it with `codecomp export`") from exc

    # -- model -------------------------------------------------------------------------------------------------

    def encode(self, batch: TreeBatch) -> tuple[np.ndarray, np.ndarray]:
        """Upward and downward hidden states [N, H] of every node of a forest (level loop over the ONNX cells)."""
        n, hid = batch.num_nodes, self.hidden
        h_up = np.zeros((n, hid), dtype=np.float32)
        c_up = np.zeros((n, hid), dtype=np.float32)
        up = self.sessions["up"]
        for level in batch.up:
            h, c = up.run(None, {
                "node_type": batch.node_type[level.nodes],
                "token": batch.token[level.nodes],
                "child_h": h_up[level.children],
                "child_c": c_up[level.children],
                "child_slot": level.slot,
            })
            h_up[level.nodes] = h
            c_up[level.nodes] = c
        # One extra zero row: the "parent" of a root.
        h_down = np.zeros((n + 1, hid), dtype=np.float32)
        c_down = np.zeros((n + 1, hid), dtype=np.float32)
        down = self.sessions["down"]
        for level in batch.down:
            h, c = down.run(None, {
                "h_up": h_up[level.nodes],
                "h_parent": h_down[level.parents],
                "c_parent": c_down[level.parents],
            })
            h_down[level.nodes] = h
            c_down[level.nodes] = c
        return h_up, h_down[:n]

    def predict(self, example: NamingExample, k: int = 5) -> list[tuple[str, float]]:
        """Ranked names for one prepared example (empty when the window holds no occurrence)."""
        if example.occ.shape[0] == 0:
            return []
        batch = batch_examples([example])
        h_up, h_down = self.encode(batch)
        states = np.concatenate([h_up[batch.occ], h_down[batch.occ]], axis=1).astype(np.float32)
        name_logits, style_logits, dec_h0, ctx = self.sessions["head"].run(None, {"occ_states": states})
        decoder = self.sessions["decoder"]

        def step(prev: np.ndarray, h: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            rows = prev.shape[0]
            logits, h_out = decoder.run(None, {"prev": prev, "h": h.astype(np.float32),
                                               "ctx": np.repeat(ctx, rows, axis=0)})
            return logits, h_out

        decoded = beam_search(step, dec_h0, beam=max(self.beam, k), max_len=self.vocab.max_subtokens)
        return rank_names(self.vocab, name_logits, style_logits, decoded, k)

    # -- files -------------------------------------------------------------------------------------------------

    def suggest(self, parsed: Any, byte_offset: int, k: int = 5) -> NameSuggestions:
        """Names for the symbol whose identifier is at `byte_offset` of a `ParsedFile`.

        Empty result with a `reason` when the position is not on a declared variable, parameter or function.
        """
        if k <= 0:
            return _empty("k must be at least 1")
        found = find_symbol(parsed, byte_offset)
        if isinstance(found, str):
            return _empty(found)
        symbol, spans = found
        example = example_from_parsed(self.vocab, parsed, symbol)
        if isinstance(example, str):
            return _empty(example, symbol.name, symbol.kind, spans)
        names = self.predict(example, k)
        return NameSuggestions(symbol=symbol.name, kind=symbol.kind, occurrences=spans, names=names,
                               reason=None if names else "the model proposed no name")


def find_symbol(parsed: Any, byte_offset: int) -> tuple[Any, list[tuple[int, int]]] | str:
    """The declared symbol whose identifier contains `byte_offset`, with the byte spans of its occurrences; or a
    sentence saying why there is none."""
    from codecomp.syntax import TokenKind

    if not parsed.source.strip():
        return "the file is empty"
    if byte_offset < 0 or byte_offset > len(parsed.source):
        return f"byte offset {byte_offset} is outside the file ({len(parsed.source)} bytes)"
    index = parsed.token_at(byte_offset)
    nxt = 0 if index is None else index + 1
    if (index is None or parsed.tokens[index].kind != TokenKind.IDENTIFIER) and nxt < len(parsed.tokens) \
            and parsed.tokens[nxt].start_byte == byte_offset and parsed.tokens[nxt].kind == TokenKind.IDENTIFIER:
        index = nxt  # a cursor just before an identifier that follows `(`, `.`, ... names that identifier
    if index is None or parsed.tokens[index].kind != TokenKind.IDENTIFIER:
        return "the position is not on an identifier"
    scopes = parsed.scopes()
    for symbol in scopes.symbols:
        if symbol.kind in NAMING_KINDS and index in symbol.occurrences:
            spans = sorted((parsed.tokens[o].start_byte, parsed.tokens[o].end_byte) for o in symbol.occurrences)
            return symbol, spans
    for symbol in scopes.symbols:
        if index in symbol.occurrences:
            return f"'{symbol.name}' is a {symbol.kind}; only variables, parameters and functions are named"
    return f"'{parsed.tokens[index].text}' is not declared in this file"


def example_from_parsed(vocab: NamingVocab, parsed: Any, symbol: Any) -> NamingExample | str:
    """Build the model input for `symbol` of a parsed file, or a sentence saying why it cannot be built.

    Prepared exactly like the corpus rows the model was trained on (training/naming_data.py): comment-free
    tokens, the window anchored at the first occurrence.
    """
    arrays = parsed.ast_arrays()
    if len(arrays) == 0:
        return "the file has no syntax tree"
    # The AST leaves index the comment-free tokens; the symbol's occurrences index all tokens.
    code_index = parsed.code_index()
    code_texts = [t.text for t in parsed.code_tokens()]
    occ_code = [code_index[o] for o in symbol.occurrences if 0 <= o < len(code_index) and code_index[o] >= 0]
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
