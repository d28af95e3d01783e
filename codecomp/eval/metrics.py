"""Metric definitions of the evaluation harness, as small pure functions.

Every figure in an evaluation report comes from one of these functions, so that the engine and every baseline
are scored by exactly the same code.  The definitions follow the benchmarks they are compared with:

* ranking (identifier completion): top-k accuracy and MRR with a rank cut-off (rank > cutoff scores 0);
* token accuracy (CodeXGLUE token-level style): exact top-1 next-token match, sentinels excluded, an
  out-of-vocabulary target counts as wrong unless the system actually produced it;
* line completion (CodeXGLUE line-level style): exact match after whitespace normalisation and edit
  similarity ``100 * (1 - Levenshtein / max(len))``;
* keystrokes saved, bits per character, naming scores (exact, top-5, sub-token F1) and latency percentiles;
* aggregation of per-position outcomes by group (project) with the macro average over groups, and the paired
  bootstrap over files (clusters) that puts a confidence interval on the difference between two systems.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Iterable, Mapping, Sequence

import numpy as np
from rapidfuzz.distance import Levenshtein

from codecomp.syntax.names import split_subtokens  # noqa: F401  (part of this module's API)

# Stream markers that are not code tokens; token accuracy never scores them as targets.
SENTINELS: frozenset[str] = frozenset({"<bos>", "<eos>", "<eol>", "<pad>", "<s>", "</s>", "<EOL>"})


# ----------------------------------------------------------------------------------------------- ranking
def rank_of(suggestions: Sequence[str], target: str) -> int | None:
    """1-based rank of ``target`` among ``suggestions`` (exact string match), or None when absent."""
    for i, s in enumerate(suggestions):
        if s == target:
            return i + 1
    return None


def top_k_hit(suggestions: Sequence[str], target: str, k: int) -> bool:
    """Whether ``target`` is among the first ``k`` suggestions."""
    r = rank_of(suggestions, target)
    return r is not None and r <= k


def reciprocal_rank(suggestions: Sequence[str], target: str, cutoff: int = 10) -> float:
    """1/rank of the target; 0 when it is missing or ranked below ``cutoff``."""
    r = rank_of(suggestions, target)
    if r is None or r > cutoff:
        return 0.0
    return 1.0 / r


@dataclass
class RankingScores:
    """Aggregated ranking quality over a set of positions (percentages for top-k, MRR in [0, 1])."""

    n: int
    top1: float
    top5: float
    mrr10: float

    def as_dict(self) -> dict[str, float]:
        """Plain dict for report.json."""
        return {"n": self.n, "top1": self.top1, "top5": self.top5, "mrr10": self.mrr10}


def ranking_scores(cases: Iterable[tuple[Sequence[str], str]]) -> RankingScores:
    """Top-1 %, top-5 % and MRR@10 over ``(suggestions, target)`` pairs; an empty set scores 0 with n=0."""
    n = hit1 = hit5 = 0
    rr = 0.0
    for suggestions, target in cases:
        n += 1
        r = rank_of(suggestions, target)
        if r is not None:
            hit1 += r <= 1
            hit5 += r <= 5
            rr += 1.0 / r if r <= 10 else 0.0
    if n == 0:
        return RankingScores(0, 0.0, 0.0, 0.0)
    return RankingScores(n, 100.0 * hit1 / n, 100.0 * hit5 / n, rr / n)


# ----------------------------------------------------------------------------------------- token accuracy
def token_accuracy(predictions: Sequence[str | None], targets: Sequence[str]) -> tuple[float, int]:
    """Percentage of exact next-token matches and the number of scored targets.

    Targets that are sentinels are skipped.  No special case exists for out-of-vocabulary targets: a system
    scores on them only when it literally produced the target text (for instance by copying it).
    """
    if len(predictions) != len(targets):
        raise ValueError(f"token_accuracy needs one prediction per target ({len(predictions)} vs {len(targets)})")
    n = correct = 0
    for p, t in zip(predictions, targets):
        if t in SENTINELS:
            continue
        n += 1
        correct += p is not None and p == t
    return (100.0 * correct / n if n else 0.0), n


# ------------------------------------------------------------------------------------------ line completion
_WORD = re.compile(r"\w")


def normalise_code(text: str) -> str:
    """Whitespace-normalised form of a code fragment.

    Whitespace runs are removed, except that one space is kept where it separates two word characters
    (``int  x`` -> ``int x``, ``f ( a , b )`` -> ``f(a,b)``); so layout differences never count as errors.
    """
    out: list[str] = []
    pending_space = False
    for ch in text:
        if ch.isspace():
            pending_space = True
            continue
        if pending_space and out and _WORD.match(out[-1]) and _WORD.match(ch):
            out.append(" ")
        pending_space = False
        out.append(ch)
    return "".join(out)


def exact_match(prediction: str, target: str) -> bool:
    """Line-level exact match after :func:`normalise_code`."""
    return normalise_code(prediction) == normalise_code(target)


def edit_similarity(prediction: str, target: str) -> float:
    """``100 * (1 - Levenshtein(p, t) / max(len(p), len(t)))`` on normalised strings; two empty strings score 100."""
    p, t = normalise_code(prediction), normalise_code(target)
    longest = max(len(p), len(t))
    if longest == 0:
        return 100.0
    return 100.0 * (1.0 - Levenshtein.distance(p, t) / longest)


def line_scores(cases: Iterable[tuple[str, str]]) -> dict[str, float]:
    """Exact match % and mean edit similarity over ``(prediction, target)`` pairs."""
    n = em = 0
    es = 0.0
    for p, t in cases:
        n += 1
        em += exact_match(p, t)
        es += edit_similarity(p, t)
    if n == 0:
        return {"n": 0, "exact_match": 0.0, "edit_sim": 0.0}
    return {"n": n, "exact_match": 100.0 * em / n, "edit_sim": es / n}


# ------------------------------------------------------------------------------------------- keystrokes
def accepted_insertion(suggestion: str, typed: str, following: str) -> str:
    """What accepting ``suggestion`` would insert, if it is correct; else the empty string.

    ``typed`` is what the user already typed of the current word (the suggestion replaces it) and
    ``following`` is the text the user is about to type.  A suggestion is correct when it starts with what
    was typed and the rest is a prefix of ``following``.
    """
    if not suggestion.startswith(typed):
        return ""
    rest = suggestion[len(typed):]
    if rest and following.startswith(rest):
        return rest
    return ""


def keystrokes_saved(saved: int, total: int) -> float:
    """Percentage of keystrokes saved: ``100 * saved / total`` (0 for an empty text)."""
    if saved < 0 or total < 0 or saved > total:
        raise ValueError(f"keystrokes saved must be between 0 and the total ({saved} of {total})")
    return 100.0 * saved / total if total else 0.0


# --------------------------------------------------------------------------------------------- char model
def bits_per_char(log_probs: Sequence[float], base: float = math.e) -> float:
    """Mean negative log2-probability per predicted character, given per-character log-probabilities.

    ``base`` is the base the log-probabilities are expressed in (natural logs by default).
    """
    if not len(log_probs):
        raise ValueError("bits per character needs at least one predicted character")
    scale = math.log2(base)
    return -sum(log_probs) * scale / len(log_probs)


# ------------------------------------------------------------------------------------------------ naming
def subtoken_f1(prediction: str, target: str) -> float:
    """F1 of the sub-token multisets of a predicted and a true name (``getUser`` vs ``get_user_name``: 0.8).

    The one definition of sub-token F1 in codecomp (the naming task and its per-symbol records use it).
    A name without sub-tokens (empty, or only ``_`` and ``$``) matches only itself: two equal such names score
    1, anything else against one of them 0.  So an empty prediction never earns credit for a real name."""
    p, t = split_subtokens(prediction), split_subtokens(target)
    if not p or not t:
        return float(prediction == target)
    remaining = list(t)
    common = 0
    for s in p:
        if s in remaining:
            remaining.remove(s)
            common += 1
    if common == 0:
        return 0.0
    precision, recall = common / len(p), common / len(t)
    return 2 * precision * recall / (precision + recall)


def naming_scores(cases: Iterable[tuple[Sequence[str], str]]) -> dict[str, float]:
    """Exact match % (top-1), top-5 % and mean sub-token F1 of the top-1 name over ``(names, true_name)``."""
    n = exact = top5 = 0
    f1 = 0.0
    for names, target in cases:
        n += 1
        exact += bool(names) and names[0] == target
        top5 += target in list(names)[:5]
        f1 += subtoken_f1(names[0], target) if names else 0.0
    if n == 0:
        return {"n": 0, "exact": 0.0, "top5": 0.0, "subtoken_f1": 0.0}
    return {"n": n, "exact": 100.0 * exact / n, "top5": 100.0 * top5 / n, "subtoken_f1": 100.0 * f1 / n}


# ----------------------------------------------------------------------------------------------- latency
def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0-100) with linear interpolation between closest ranks."""
    if not len(values):
        raise ValueError("a percentile needs at least one value")
    if not 0 <= q <= 100:
        raise ValueError(f"percentile must be between 0 and 100, got {q}")
    xs = sorted(values)
    pos = (len(xs) - 1) * q / 100.0
    lo = math.floor(pos)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def latency_summary(values_ms: Sequence[float]) -> dict[str, float]:
    """p50 / p95 / p99 / mean / max of latencies in milliseconds."""
    if not len(values_ms):
        return {"n": 0}
    return {
        "n": len(values_ms),
        "p50": percentile(values_ms, 50),
        "p95": percentile(values_ms, 95),
        "p99": percentile(values_ms, 99),
        "mean": sum(values_ms) / len(values_ms),
        "max": max(values_ms),
    }


# ------------------------------------------------------------------------------- groups and the bootstrap
def grouped_ratios(num: Sequence[float], den: Sequence[float], groups: Sequence[str], scale: float = 1.0
                   ) -> dict[str, tuple[int, float]]:
    """Per group: (positions scored, ``scale * sum(num) / sum(den)``) over the positions of that group.

    A position is scored when its ``den`` is positive (for a mean, ``den`` is 1 where the position was asked
    and 0 where not); groups without a scored position are left out.  Groups come back sorted by name.
    """
    sums: dict[str, list[float]] = {}
    for x, w, g in zip(num, den, groups):
        if w > 0:
            acc = sums.setdefault(g, [0, 0.0, 0.0])
            acc[0] += 1
            acc[1] += x
            acc[2] += w
    return {g: (int(acc[0]), scale * acc[1] / acc[2]) for g, acc in sorted(sums.items())}


def macro_average(per_group: Mapping[str, float]) -> float:
    """Unweighted mean over groups of each group's figure (every project counts the same, whatever its size)."""
    if not per_group:
        raise ValueError("a macro average needs at least one group")
    return sum(per_group.values()) / len(per_group)


@dataclass
class BootstrapCI:
    """A difference ``metric(A) - metric(B)`` with its bootstrap percentile interval."""

    diff: float
    low: float
    high: float
    clusters: int
    resamples: int
    level: float

    @property
    def excludes_zero(self) -> bool:
        """Whether the whole interval lies on one side of 0 (the only case the report calls a difference)."""
        return self.low > 0.0 or self.high < 0.0

    def as_dict(self) -> dict[str, float | int | bool]:
        """Plain dict for report.json."""
        return {"diff": self.diff, "low": self.low, "high": self.high, "excludes_zero": self.excludes_zero,
                "files": self.clusters, "resamples": self.resamples, "level": self.level}


def bootstrap_indices(n_clusters: int, n_resamples: int, seed: int) -> np.ndarray:
    """``n_resamples`` x ``n_clusters`` cluster indices drawn with replacement (one resample per row)."""
    return np.random.default_rng(seed).integers(0, n_clusters, size=(n_resamples, n_clusters))


def paired_cluster_bootstrap(a: Sequence[float], b: Sequence[float], den: Sequence[float], clusters: Sequence[int],
                             n_resamples: int = 1000, seed: int = 0, level: float = 0.95, scale: float = 1.0,
                             resamples: np.ndarray | None = None) -> BootstrapCI:
    """Paired, clustered bootstrap of ``scale * (sum(a) - sum(b)) / sum(den)``.

    ``a`` and ``b`` are the per-position numerators of two systems scored on the same positions, ``den`` the
    per-position denominators (1 for a plain mean; 0 for a position that is not scored), ``clusters`` the file
    of each position.  Files, not positions, are resampled with replacement, and a drawn file brings all its
    positions for both systems: positions of one file are not independent (one file's style, names and idioms
    make its positions succeed or fail together), and pairing removes the between-file variance both systems
    share.  Only files with a scored position take part.  The interval is the ``level`` percentile interval of
    the resampled differences (numpy's linear interpolation between order statistics).  ``resamples`` (rows of
    indices into the sorted distinct clusters) replaces the random draw, for tests that enumerate every resample.
    """
    a_arr, b_arr = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    d_arr, c_arr = np.asarray(den, dtype=np.float64), np.asarray(clusters)
    if not len(a_arr) == len(b_arr) == len(d_arr) == len(c_arr):
        raise ValueError("a paired bootstrap needs one value of each system, a weight and a cluster per position")
    scored = d_arr > 0
    if not scored.any():
        raise ValueError("a paired bootstrap needs at least one scored position")
    _, inv = np.unique(c_arr[scored], return_inverse=True)
    n_clusters = int(inv.max()) + 1
    delta = np.bincount(inv, weights=a_arr[scored] - b_arr[scored], minlength=n_clusters)
    weight = np.bincount(inv, weights=d_arr[scored], minlength=n_clusters)
    diff = float(scale * delta.sum() / weight.sum())
    idx = resamples if resamples is not None else bootstrap_indices(n_clusters, n_resamples, seed)
    # every drawn file has a positive weight, so no resample divides by zero
    diffs = scale * delta[idx].sum(axis=1) / weight[idx].sum(axis=1)
    alpha = (1.0 - level) / 2.0
    low, high = np.quantile(diffs, [alpha, 1.0 - alpha])
    return BootstrapCI(diff, float(low), float(high), n_clusters, int(idx.shape[0]), level)
