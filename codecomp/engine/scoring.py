"""Scores of candidates: a log-linear mix of the model, the document's own n-gram statistics and a few hints.

Probabilities (mixed linearly, then put in log space):

* the model: vocabulary softmax plus copy attention (`models.Distribution`), absent in the fallback engine;
* the document: Witten-Bell identifier n-grams of the whole file, text after the cursor included
  (`ngram.IdentifierNgrams`): what followed the same one to four tokens elsewhere in the file, backed off
  to the file's identifier frequencies.  Its share grows with the file (`doc_max * n / (n + doc_beta)`
  for a file of n identifiers): a long file says more about itself;
* the other open documents and a small keyword prior;
* the project (with a workspace index): Witten-Bell n-grams of the project's other files
  (`WorkspaceIndex.ngram_scores`), added with the weight `project` to the model's part of the mix (background
  knowledge, like the model: the document's share is untouched); without an index the scores are exactly the
  file-only ones.

Hints are additive in log space: names visible in the scope at the cursor, members at a member-access
position, names seen after the same receiver, words used close to the cursor, (with nothing typed) a
penalty for keywords, and from the project: declared in an included / imported file, declared by the
receiver's known type, and the log of the project count.  The weights (`Weights`) are tuned by coordinate search on identifier positions of the
valid splits (never on test), top-5 with nothing typed as the objective: `codecomp tune` (codecomp/eval/tune.py)
is that search, and MODEL_CARD.md gives the command and what it found.
"""
from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from itertools import repeat
from operator import attrgetter

import numpy as np

from codecomp.engine.candidates import Pool
from codecomp.engine.lexing import find_identifiers
from codecomp.engine.ngram import IdentifierNgrams
from codecomp.engine.session import Document

NEAR_BYTES = (2000, 600)  # bytes before / after the cursor that count as "near"
NGRAM_ORDER = 5           # identifier n-grams condition on up to four tokens before the cursor (tuned: 4 < 5 ~ 6)


@dataclass(frozen=True)
class Weights:
    """The few numbers of the mix (see the module docstring)."""

    doc_max: float = 0.7        # largest share of the document's statistics next to the model
    doc_beta: float = 200.0     # file size (identifiers) at which the share is half of doc_max
    other: float = 0.05         # weight of the other open documents' counts and the keyword prior
    scope: float = 0.7          # in scope at the cursor (not after `x.`)
    member: float = 1.5         # used as a member somewhere, at a member-access position
    non_member: float = 3.0     # never used as a member, at `.` / `->`
    receiver: float = 1.0       # per log(1 + uses after the same receiver)
    near: float = 0.35          # per log(1 + uses near the cursor)
    # with nothing typed yet, keywords (short, typed without thinking) make way for names; once a prefix is
    # typed (`re` -> `return`) keywords compete on equal terms
    keyword: float = 2.0
    # project context (no effect without a workspace index: its columns are then all zero), searched with the
    # weights above held fixed (`codecomp tune --weights project,related,typed,project_count`), so the
    # file-only ranking stays as it was
    project: float = 1.5        # weight of the project's n-gram probability in the mix
    related: float = 0.75       # declared in a file the document includes / imports, or in a companion file
    typed: float = 1.25         # declared by (or exported for) the receiver's known type, at a member access
    project_count: float = 0.0  # per log(1 + occurrences in the project's other files)


WEIGHTS = Weights()
# Feature columns of `candidate_features` (the project's columns come last: tuning code indexes the first nine).
F_MODEL, F_DOC, F_OTHER, F_SCOPE, F_MEMBER, F_NONMEMBER, F_RECEIVER, F_NEAR, F_KEYWORD = range(9)
F_PROJECT, F_RELATED, F_TYPED, F_PCOUNT = range(9, 13)
N_FEATURES = 13


def near_counts(doc: Document, cursor: int) -> Counter[str]:
    """Identifier counts in a window around the cursor (a cheap recency signal)."""
    lo = max(0, cursor - NEAR_BYTES[0])
    hi = min(len(doc.source), cursor + NEAR_BYTES[1])
    return Counter(m.decode("utf-8", "replace") for m in find_identifiers(doc.source, lo, hi))


def document_ngrams(doc: Document, pstart: int, prefix: str) -> IdentifierNgrams:
    """The document's identifier n-grams at a position.

    They are read from `Document.analysis_text` (the document without the word at the cursor), so they are a
    function of the text and the cursor alone: the word being typed is never evidence, and no earlier version of
    the document can leak in.  The regular-expression scans are cached under that text and the prefix start, so
    the cache survives every keystroke of a name (the analysed text does not change while one word is typed) and
    nothing else.
    """
    cursor = pstart + len(prefix.encode("utf-8", "surrogatepass"))
    base, cut, _ = doc.analysis_text(cursor)
    cache = doc.extra.get("ngram_cache")  # (analysed text, prefix start, {key: counts})
    if cache is None or cache[1] != cut or (cache[0] is not base and cache[0] != base):
        cache = (base, cut, {})
        doc.extra["ngram_cache"] = cache
    return IdentifierNgrams(base, cut, prefix, doc.idents, doc.ident_total, order=NGRAM_ORDER,
                            cache=cache[2], version=0)


def candidate_features(pool: dict[str, Pool], doc: Document, cursor: int, prefix: str, member_op: str | None,
                       dist=None, model=None, near: Counter[str] | None = None,
                       ngrams: IdentifierNgrams | None = None,
                       project: dict[str, float] | None = None) -> dict[str, tuple[float, ...]]:
    """The raw signals of every candidate (columns F_*), before weighting.  `project`: the project's n-gram
    probability of each label (`WorkspaceIndex.ngram_scores`), None without project context."""
    f = feature_matrix(pool, doc, cursor, prefix, member_op, dist, model, near, ngrams, project)
    return dict(zip(pool, map(tuple, f.tolist())))


def feature_matrix(pool: dict[str, Pool], doc: Document, cursor: int, prefix: str, member_op: str | None,
                   dist=None, model=None, near: Counter[str] | None = None, ngrams: IdentifierNgrams | None = None,
                   project: dict[str, float] | None = None) -> np.ndarray:
    """`candidate_features` as one float64 array, a row per candidate in the order of `pool`."""
    near = Counter(near) if near is not None else near_counts(doc, cursor)
    # the word being typed counts once near the cursor; that occurrence is not evidence
    if prefix:
        near[prefix] -= 1
    if ngrams is None:
        ngrams = document_ngrams(doc, cursor - len(prefix.encode("utf-8", "surrogatepass")), prefix)
    labels = list(pool)
    n = len(labels)
    if not n:
        return np.zeros((0, N_FEATURES), dtype=np.float64)
    # column by column with C-level loops (this runs for every candidate of every request); the arithmetic is
    # that of one candidate at a time, in the same order, so the numbers are the same to the last bit
    entries = list(pool.values())
    f = np.zeros((n, N_FEATURES), dtype=np.float64)
    if dist is not None and model is not None:
        f[:, F_MODEL] = dist.probs(labels, list(map(model.index.get, labels)))
    f[:, F_DOC] = ngrams.probs(labels)
    keyword_source = np.fromiter(map("keyword".__eq__, map(_SOURCE, entries)), np.float64, n)
    f[:, F_OTHER] = (0.3 * np.fromiter(map(_OTHER_COUNT, entries), np.float64, n) + 0.5 * keyword_source) \
        / (doc.ident_total + 1)
    if member_op in (None, "::"):
        f[:, F_SCOPE] = np.fromiter(map(_IN_SCOPE, entries), np.float64, n)
    if member_op is not None and member_op != "::":
        f[:, F_NONMEMBER] = 1.0 - np.fromiter(map(_MEMBER, entries), np.float64, n)
    if member_op:
        f[:, F_MEMBER] = np.fromiter(map(_MEMBER, entries), np.float64, n)
        f[:, F_RECEIVER] = np.fromiter(map(_log1p_positive, map(_RECEIVER_COUNT, entries)), np.float64, n)
        f[:, F_TYPED] = np.fromiter(map(_TYPED_MEMBER, entries), np.float64, n)
    f[:, F_NEAR] = np.fromiter(map(_log1p_positive, map(near.get, labels, repeat(0))), np.float64, n)
    if not prefix:
        f[:, F_KEYWORD] = np.fromiter(map("keyword".__eq__, map(_KIND, entries)), np.float64, n)
    if project is not None:
        f[:, F_PROJECT] = np.fromiter(map(project.get, labels, repeat(0.0)), np.float64, n)
    f[:, F_RELATED] = np.fromiter(map(_RELATED, entries), np.float64, n)
    f[:, F_PCOUNT] = np.fromiter(map(math.log1p, map(_PROJECT_COUNT, entries)), np.float64, n)
    return f


def _log1p_positive(x: float) -> float:
    return math.log1p(x) if x > 0 else 0.0


_SOURCE, _KIND, _OTHER_COUNT = attrgetter("source"), attrgetter("kind"), attrgetter("other_count")
_IN_SCOPE, _MEMBER, _RECEIVER_COUNT = attrgetter("in_scope"), attrgetter("member"), attrgetter("receiver_count")
_TYPED_MEMBER, _RELATED, _PROJECT_COUNT = attrgetter("typed_member"), attrgetter("project_related"), \
    attrgetter("project_count")


def combine(f: tuple[float, ...], n_idents: int, neural: bool, w: Weights = WEIGHTS) -> float:
    """One candidate's score from its features (higher is better; comparable within one request)."""
    if len(f) < N_FEATURES:  # features of the file-only columns alone: no project context
        f = tuple(f) + (0.0,) * (N_FEATURES - len(f))
    # the project is background knowledge like the model: it joins the model's part of the mix, so that a
    # long file's own statistics keep their share (and without an index, column 0, every score is exactly
    # the file-only one)
    background = f[F_MODEL] + w.project * f[F_PROJECT] if neural else w.project * f[F_PROJECT]
    if neural:
        lam = w.doc_max * n_idents / (n_idents + w.doc_beta)
        p = (1.0 - lam) * background + lam * f[F_DOC]
    else:
        p = f[F_DOC] + background
    p += w.other * f[F_OTHER]
    return (math.log(p + 1e-9) + w.scope * f[F_SCOPE] + w.member * f[F_MEMBER] - w.non_member * f[F_NONMEMBER]
            + w.receiver * f[F_RECEIVER] + w.near * f[F_NEAR] - w.keyword * f[F_KEYWORD]
            + w.related * f[F_RELATED] + w.typed * f[F_TYPED] + w.project_count * f[F_PCOUNT])


def combine_matrix(f, n_idents: int, neural: bool, w: Weights = WEIGHTS):
    """`combine` for many candidates at once: `f` is a float array of shape (candidates, len(F_*)).

    The same formula as `combine` (a test holds them equal); the tuning search evaluates thousands of weight
    settings over the same cached features, which is only practical vectorised."""
    import numpy as np

    f = np.asarray(f, dtype=np.float64)
    if f.shape[1] < N_FEATURES:  # the file-only columns alone: no project context
        f = np.pad(f, ((0, 0), (0, N_FEATURES - f.shape[1])))
    background = (f[:, F_MODEL] if neural else 0.0) + w.project * f[:, F_PROJECT]
    if neural:
        lam = w.doc_max * n_idents / (n_idents + w.doc_beta)
        p = (1.0 - lam) * background + lam * f[:, F_DOC]
    else:
        p = f[:, F_DOC] + background
    p = p + w.other * f[:, F_OTHER]
    return (np.log(p + 1e-9) + w.scope * f[:, F_SCOPE] + w.member * f[:, F_MEMBER]
            - w.non_member * f[:, F_NONMEMBER] + w.receiver * f[:, F_RECEIVER] + w.near * f[:, F_NEAR]
            - w.keyword * f[:, F_KEYWORD] + w.related * f[:, F_RELATED] + w.typed * f[:, F_TYPED]
            + w.project_count * f[:, F_PCOUNT])


def score_pool(pool: dict[str, Pool], doc: Document, cursor: int, prefix: str, member_op: str | None,
               dist=None, model=None, near: Counter[str] | None = None, ngrams: IdentifierNgrams | None = None,
               weights: Weights = WEIGHTS, project: dict[str, float] | None = None) -> dict[str, float]:
    """Score of every candidate in `pool` (higher is better; comparable within one request)."""
    feats = candidate_features(pool, doc, cursor, prefix, member_op, dist, model, near, ngrams, project)
    neural = dist is not None and model is not None
    n = doc.ident_total
    return {label: combine(f, n, neural, weights) for label, f in feats.items()}
