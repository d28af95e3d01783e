"""Scores of candidates: the model's probability mixed with a per-file cache model and a few syntactic hints.

The model probability (vocabulary softmax and copy attention, see `models.Distribution`) is interpolated with a
unigram "cache" distribution of the document's identifiers, which covers names the model has never seen and
helps short contexts.  Hints are additive in log space: names visible in the scope at the cursor, members at a
member-access position, and words used close to the cursor (recency).  Without a model (the fallback engine)
only the cache part and the hints remain.
"""
from __future__ import annotations

import math
from collections import Counter

from codecomp.engine.candidates import Pool
from codecomp.engine.lexing import IDENT_BYTES
from codecomp.engine.session import Document

MODEL_WEIGHT = 0.8     # share of the model in the interpolation with the cache distribution
SCOPE_BONUS = 0.7
MEMBER_BONUS = 1.5
NON_MEMBER_PENALTY = 3.0
RECEIVER_WEIGHT = 1.0
NEAR_WEIGHT = 0.35
NEAR_BYTES = (2000, 600)  # bytes before / after the cursor that count as "near"


def near_counts(doc: Document, cursor: int) -> Counter[str]:
    """Identifier counts in a window around the cursor (a cheap recency signal)."""
    lo = max(0, cursor - NEAR_BYTES[0])
    hi = min(len(doc.source), cursor + NEAR_BYTES[1])
    return Counter(m.decode("utf-8", "replace") for m in IDENT_BYTES.findall(doc.source, lo, hi))


def score_pool(pool: dict[str, Pool], doc: Document, cursor: int, prefix: str, member_op: str | None,
               dist=None, model=None, near: Counter[str] | None = None) -> dict[str, float]:
    """Score of every candidate in `pool` (higher is better; comparable within one request)."""
    total = doc.ident_total + 1
    near = Counter(near) if near is not None else near_counts(doc, cursor)
    # the word being typed counts once in the file and near the cursor; that occurrence is not evidence
    if prefix:
        near[prefix] -= 1
    idents = doc.idents
    scores: dict[str, float] = {}
    for label, entry in pool.items():
        if member_op and entry.member:
            # after `x.`, how often a name was used as a member says more than how often it occurs at all
            count = entry.member_count
        else:
            count = entry.count or idents.get(label.encode(), 0)
            if label == prefix:
                count -= 1
        p_cache = (max(count, 0) + 0.3 * entry.other_count + (0.05 if entry.source == "keyword" else 0.0)) / total
        if dist is not None:
            p_model = dist.prob(label, model.index.get(label))
            p = MODEL_WEIGHT * p_model + (1.0 - MODEL_WEIGHT) * p_cache
        else:
            p = p_cache
        score = math.log(p + 1e-9)
        if entry.in_scope and member_op in (None, "::"):
            score += SCOPE_BONUS  # after `x.` what is visible here says nothing about x's members
        if member_op:
            # after `.`/`->` a name never used as a member is unlikely (it may still be a member declared elsewhere)
            score += MEMBER_BONUS if entry.member else (-NON_MEMBER_PENALTY if member_op != "::" else 0.0)
            if entry.receiver_count > 0:
                score += RECEIVER_WEIGHT * math.log1p(entry.receiver_count)
        n = near.get(label, 0)
        if n > 0:
            score += NEAR_WEIGHT * math.log1p(n)
        scores[label] = score
    return scores
