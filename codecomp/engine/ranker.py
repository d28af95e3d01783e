"""The learned ranker: many signals per candidate, one score from a gradient-boosted tree ensemble in ONNX.

Candidate generation (`candidates.gather`) and the raw scoring signals (`scoring.candidate_features`) are shared
with the hand-set mix; this module adds the signals the mix ignores and turns them into one float32 row per
candidate, in the fixed column order `FEATURES` (documented in docs/design.md, "Ranker features").  The same
function computes the rows for serving and for training (`codecomp train ranker`), so the model never sees a
feature computed differently from how it was trained.

The ensemble is a LightGBM LambdaRank model exported to ONNX (`ai.onnx.ml` TreeEnsemble); an artifact carries it
as `models.ranker` with its feature list and version.  `Ranker` feeds it exactly the columns that list names, in
its order (a ranker fitted before a column was appended reads the columns it knows), and refuses a list with a
name this engine does not compute, so an engine never feeds columns in the wrong order.
"""
from __future__ import annotations

import math
from collections import Counter
from functools import lru_cache
from itertools import repeat
from operator import attrgetter
from typing import Any, Mapping, Sequence

import numpy as np

from codecomp.engine.candidates import code_counts, nearby_uses
from codecomp.engine.scoring import (F_DOC, F_KEYWORD, F_MEMBER, F_MODEL, F_NEAR, F_NONMEMBER, F_OTHER, F_PCOUNT,
                                     F_PROJECT, F_RECEIVER, F_RELATED, F_SCOPE, F_TYPED, WEIGHTS, Weights,
                                     combine_matrix)
from codecomp.syntax.names import STYLES, naming_style, split_subtokens

VERSION = 2
SOURCES = ("scope", "member", "file", "documents", "project", "model", "copy", "keyword")
KINDS = ("variable", "function", "class", "field", "keyword", "identifier")
FAR = math.log1p(1e7)  # the distance feature of a name that does not occur on that side of the cursor

# Column order of a feature row.  Append only, and bump VERSION when the meaning of a column changes.
FEATURES: tuple[str, ...] = (
    # the model
    "p_vocab", "p_copy", "log_p_model", "log_model_rank", "gate",
    # the document and the other open documents
    "p_doc_ngram", "log_p_doc_ngram", "p_other",
    # the project (workspace index)
    "p_project_ngram", "project_related", "typed_member", "log_project_count",
    # hints of the hand-set mix
    "in_scope", "member", "non_member", "log_receiver", "log_near", "keyword_typed0",
    # where the name occurs in this file
    "log_file_count", "log_dist_before", "log_dist_after",
    # the name itself and the typed prefix
    "match_tier", "case_match", "length", "subtokens", "style_match", "style_share", "typed_length",
    # the position
    "lang_cpp", "op_dot", "op_arrow", "op_scope",
    # where the candidate came from and what it is
    *(f"source_{s}" for s in SOURCES), *(f"kind_{k}" for k in KINDS),
    # today's hand-set score, as one more signal
    "mix_score",
    # the project: how much more often than usual each name comes right before the code after the cursor
    "project_after_lift", "project_after_known",
)
INDEX = {name: i for i, name in enumerate(FEATURES)}
# Column groups the ablations of the evaluation drop (set to a constant) to measure what they contribute.
GROUPS: dict[str, tuple[str, ...]] = {
    "model": ("p_vocab", "p_copy", "log_p_model", "log_model_rank", "gate", "source_model", "source_copy",
              "mix_score"),
    "project": ("p_project_ngram", "project_related", "typed_member", "log_project_count", "source_project",
                "mix_score", "project_after_lift", "project_after_known"),
}


class RankerError(ValueError):
    """A ranker file that this engine cannot use; the message says why."""


def model_ranks(dist: Any, ids: np.ndarray) -> np.ndarray:
    """Rank (0 = most probable) in the model's distribution of the vocabulary words `ids`, as a stable sort of
    the whole distribution would give it (ties in vocabulary order), without sorting it per request: the number
    of words more probable, plus, for a probability of zero (a word masked for this language), the words of
    probability zero before it.  The sorted probabilities are computed once per distribution."""
    cached = getattr(dist, "sorted_p", None)
    if cached is None:
        p = dist.p_vocab
        zeros = p == 0
        cached = dist.sorted_p = (np.sort(p), np.cumsum(zeros) - zeros)
    ordered, zeros_before = cached
    p = dist.p_vocab[ids]
    ranks = ordered.shape[0] - np.searchsorted(ordered, p, side="right")
    return np.where(p == 0, ranks + zeros_before[ids], ranks)


@lru_cache(maxsize=1 << 16)
def _name_facts(label: str) -> tuple[int, int, str]:
    """(length, sub-tokens, naming style) of a name: the same for every request, so computed once."""
    return len(label), len(split_subtokens(label)), naming_style(label)


def _dominant_style(near: Mapping[str, int]) -> tuple[str, dict[str, float]]:
    """The most common naming style among the names near the cursor, and each style's share."""
    counts: Counter[str] = Counter()
    for name, n in near.items():
        if n > 0:
            counts[naming_style(name)] += n
    total = sum(counts.values())
    if not total:
        return "other", {}
    return max(STYLES, key=lambda s: (counts[s], -STYLES.index(s))), {s: c / total for s, c in counts.items()}


_SOURCE_COLUMN = {s: INDEX[f"source_{s}"] for s in SOURCES}
_KIND_COLUMN = {k: INDEX[f"kind_{k}"] for k in KINDS}
_IDENTIFIER_KIND = _KIND_COLUMN["identifier"]
_SOURCE_OF = attrgetter("source")
_KIND_OF = attrgetter("kind")


def feature_rows(matching: Mapping[str, tuple[int, Any]], base: Mapping[str, Sequence[float]] | np.ndarray, doc: Any,
                 cursor: int, prefix: str, member_op: str | None, dist: Any = None, index: Mapping[str, int] | None = None,
                 near: Mapping[str, int] | None = None, weights: Weights = WEIGHTS,
                 after_lift: Mapping[str, float] | None = None) -> tuple[list[str], np.ndarray]:
    """(labels, rows): one float32 row of `FEATURES` per candidate.

    `matching` is label -> (match tier, candidate) from the engine's gathering, `base` label -> the raw signals of
    `scoring.candidate_features` (F_* columns), or those rows as one array in the order of `matching`
    (`scoring.feature_matrix`); `dist`/`index` are the model's distribution and vocabulary index
    (None without a model); `after_lift` label -> the project's lift before the code after the cursor (None without
    project context or code after the cursor)."""
    labels = list(matching)
    n = len(labels)
    x = np.zeros((n, len(FEATURES)), dtype=np.float32)
    if not n:
        return labels, x
    # C-level loops (map, fromiter) throughout: this runs for every candidate of every request
    if isinstance(base, np.ndarray):  # `scoring.feature_matrix`: already rows in the order of `matching`
        f = base.reshape(n, -1)
    else:
        f = np.array(list(map(base.__getitem__, labels)), dtype=np.float64).reshape(n, -1)
    neural = dist is not None and index is not None
    col = INDEX
    x[:, col["mix_score"]] = combine_matrix(f, doc.ident_total, neural, weights)
    x[:, col["p_doc_ngram"]] = f[:, F_DOC]
    x[:, col["log_p_doc_ngram"]] = np.log(f[:, F_DOC] + 1e-9)
    x[:, col["p_other"]] = f[:, F_OTHER]
    x[:, col["p_project_ngram"]] = f[:, F_PROJECT]
    x[:, col["project_related"]] = f[:, F_RELATED]
    x[:, col["typed_member"]] = f[:, F_TYPED]
    x[:, col["log_project_count"]] = f[:, F_PCOUNT]
    x[:, col["in_scope"]] = f[:, F_SCOPE]
    x[:, col["member"]] = f[:, F_MEMBER]
    x[:, col["non_member"]] = f[:, F_NONMEMBER]
    x[:, col["log_receiver"]] = f[:, F_RECEIVER]
    x[:, col["log_near"]] = f[:, F_NEAR]
    x[:, col["keyword_typed0"]] = f[:, F_KEYWORD]
    x[:, col["log_p_model"]] = np.log(f[:, F_MODEL] + 1e-9)
    if neural:
        vids = np.fromiter(map(index.get, labels, repeat(-1)), dtype=np.int64, count=n)
        known = vids >= 0
        safe = np.where(known, vids, 0)
        ranks = model_ranks(dist, safe)
        x[:, col["gate"]] = dist.gate
        x[:, col["p_vocab"]] = np.where(known, (1.0 - dist.gate) * dist.p_vocab[safe], 0.0)
        x[:, col["p_copy"]] = dist.gate * np.fromiter(map(dist.copy.get, labels, repeat(0.0)), np.float64, n)
        x[:, col["log_model_rank"]] = np.log1p(np.where(known, ranks, dist.p_vocab.shape[0]).astype(np.float64))
    else:
        x[:, col["log_model_rank"]] = FAR
    last_before, first_after, cut = nearby_uses(doc, cursor)
    counts = code_counts(doc, cursor)
    style, shares = _dominant_style(near or {})
    tiers, entries = zip(*map(matching.__getitem__, labels))
    # where the name occurs in this file: uses in the whole file; the last use before the cursor and the first
    # after it, looked for within `candidates.NEAR_SPAN` bytes
    x[:, col["log_file_count"]] = np.log1p(np.fromiter(map(counts.get, map(str.encode, labels), repeat(0)), np.float64, n))
    before = np.fromiter(map(last_before.get, labels, repeat(-1)), np.float64, n)
    after = np.fromiter(map(first_after.get, labels, repeat(-1)), np.float64, n)
    x[:, col["log_dist_before"]] = np.where(before >= 0, np.log1p(np.maximum(cut - before, 0)), FAR)
    x[:, col["log_dist_after"]] = np.where(after >= 0, np.log1p(np.maximum(after - cut, 0)), FAR)
    x[:, col["match_tier"]] = tiers
    if prefix:
        low_prefix = prefix.lower()
        x[:, col["case_match"]] = [1.0 if label.startswith(prefix) else 0.5 if label.lower().startswith(low_prefix)
                                   else 0.0 for label in labels]
    lengths, subtokens, styles = zip(*map(_name_facts, labels))
    x[:, col["length"]] = lengths
    x[:, col["subtokens"]] = subtokens
    x[:, col["style_match"]] = np.fromiter(map(style.__eq__, styles), np.float64, n)
    x[:, col["style_share"]] = np.fromiter(map(shares.get, styles, repeat(0.0)), np.float64, n)
    # one-hot source and kind: flat indices into the row-major rows (a candidate of no known source gets none)
    width = len(FEATURES)
    flat = x.reshape(-1)
    source = np.fromiter(map(_SOURCE_COLUMN.get, map(_SOURCE_OF, entries), repeat(-1)), np.int64, n)
    at = np.arange(0, n * width, width)
    flat[(at + source)[source >= 0]] = 1.0
    flat[at + np.fromiter(map(_KIND_COLUMN.get, map(_KIND_OF, entries), repeat(_IDENTIFIER_KIND)), np.int64, n)] = 1.0
    x[:, col["typed_length"]] = len(prefix)
    x[:, col["lang_cpp"]] = 1.0 if doc.lang == "cpp" else 0.0
    x[:, col["op_dot"]] = 1.0 if member_op in (".", "?.") else 0.0
    x[:, col["op_arrow"]] = 1.0 if member_op == "->" else 0.0
    x[:, col["op_scope"]] = 1.0 if member_op == "::" else 0.0
    if after_lift is not None:
        x[:, col["project_after_lift"]] = np.fromiter(map(after_lift.get, labels, repeat(0.0)), np.float64, n)
        x[:, col["project_after_known"]] = 1.0
    return labels, x


def ablate(x: np.ndarray, group: str) -> np.ndarray:
    """A copy of the rows with one group of columns (`GROUPS`) set to zero: what a ranker trained without those
    signals sees."""
    out = x.copy()
    for name in GROUPS[group]:
        if INDEX[name] < out.shape[1]:  # rows saved before a column of the group was appended lack it
            out[:, INDEX[name]] = 0.0
    return out


class Ranker:
    """An ONNX tree ensemble that scores feature rows (higher is better)."""

    def __init__(self, session: Any, info: Mapping[str, Any]) -> None:
        features = tuple(info.get("features") or ())
        unknown = [f for f in features if f not in INDEX]
        if int(info.get("version", -1)) != VERSION or not features or unknown:
            raise RankerError(
                f"the ranker was trained on feature version {info.get('version')!r} with {len(features)} "
                f"features{' (unknown here: ' + ', '.join(unknown[:3]) + ')' if unknown else ''}; this engine "
                f"computes version {VERSION} with {len(FEATURES)}. Retrain it with `codecomp train ranker`.")
        # the columns the ensemble reads, in its order (None: all of them, as computed)
        self.columns = None if features == FEATURES else np.array([INDEX[f] for f in features], dtype=np.int64)
        inputs = session.get_inputs()
        if len(inputs) != 1:
            raise RankerError("the ranker graph must have exactly one input (the feature rows)")
        self.session = session
        self.input = inputs[0].name
        self.info = dict(info)
        self.ablation = info.get("ablation")  # a column group the ranker was trained without, if any

    def score(self, x: np.ndarray) -> np.ndarray:
        """One score per row."""
        if x.shape[0] == 0:
            return np.zeros(0, dtype=np.float32)
        if self.ablation:
            x = ablate(x, self.ablation)
        fed = x if self.columns is None else x[:, self.columns]
        out = self.session.run(None, {self.input: np.ascontiguousarray(fed, dtype=np.float32)})[0]
        return receiver_order(x, np.asarray(out, dtype=np.float32).reshape(-1))


def receiver_order(x: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """At `.` / `->` whose receiver's type is known (a candidate is one of the members it declares), the names
    never used as a member anywhere come after every other candidate, in their own order: a tree ensemble can
    score such a name (the enclosing function's own name after `w.`) above the type's members, which a user
    would take for a broken list.  Elsewhere the scores are returned as they are."""
    col = INDEX
    if not len(scores) or not (x[0, col["op_dot"]] or x[0, col["op_arrow"]]) or not x[:, col["typed_member"]].any():
        return scores
    outside = x[:, col["non_member"]] > 0
    if not outside.any() or outside.all():
        return scores
    return np.where(outside, scores - (float(scores.max() - scores.min()) + 1.0), scores).astype(np.float32)
