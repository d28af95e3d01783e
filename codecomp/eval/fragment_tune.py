"""Fit the fragment decoder's calibrated score and its offer threshold on a held-out split (never test).

The engine scores every candidate rest of the line (the beam's lines and the document's repeated
continuations, `codecomp.engine.fragments.line_candidates`) with a logistic model of "this is exactly the rest of
the line" over the features `fragments.FEATURES`, shows the best candidate that adds no syntax error, and offers
it when its calibrated probability reaches `fragments.OFFER_THRESHOLD`.  This module collects the candidates at positions
of the three kinds the evaluation asks (inside a line with the left context only; at the start of a line's
code, the rest of the line removed, with nothing and with the first token typed), drawn from a stream of its
own so that they are not the evaluation's positions, fits the choice weights (a conditional logit over each
position's candidates) and the calibration of the chosen candidate's probability (a logistic regression on its
score and softmax share), both by Newton's method in numpy, and picks the lowest threshold whose precision
reaches `--precision`:

    python -m codecomp.eval.fragment_tune --corpus data/js-npm --corpus data/cpp-debian --split valid

It prints the weights, the calibration and the threshold (to copy into `fragments.WEIGHTS`, `CALIBRATION` and
`OFFER_THRESHOLD`) with the exact
match of the chosen candidate and the oracle (any candidate exact), fitted on one half of the files and
measured on the other, then refitted on all of them.
"""
from __future__ import annotations

import json
import math
import random
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from codecomp.eval import metrics as M
from codecomp.eval.documents import FileDoc, Query
from codecomp.eval.sampling import stratified_sample


@dataclass
class Position:
    """The candidates at one position: features [n, F], exact [n], syntax ok [n]."""

    kind: str
    lang: str
    file: str
    features: np.ndarray
    exact: np.ndarray
    effect: np.ndarray            # [n, 2]: errors added to the line, to the code after it
    texts: list[str]
    target: str


def _queries(docs: Sequence[FileDoc], n: int, seed: int) -> list[tuple[str, int, Query]]:
    """(kind, doc index, query) at positions drawn for tuning only (streams unlike the evaluation's)."""
    from codecomp.eval.harness import _eligible

    out: list[tuple[str, int, Query]] = []
    mid = stratified_sample(_eligible(docs, lambda doc, i: i > 0 and doc.lines[i] == doc.lines[i - 1]),
                            n, seed, "fragment-tune-mid")
    for d, i in mid.picks:
        out.append(("mid", d, Query(docs[d], i, "", "left")))
    starts = stratified_sample(_eligible(docs, lambda doc, i: i == 0 or doc.lines[i] != doc.lines[i - 1]),
                               n, seed, "fragment-tune-start")
    for d, i in starts.picks:
        doc = docs[d]
        out.append(("t0", d, Query(doc, i, "", "line")))
        if i + 1 < len(doc.tokens) and doc.lines[i + 1] == doc.lines[i]:
            out.append(("t1", d, Query(doc, i, doc.tokens[i], "line")))
    return out


def collect(engine: Any, docs: Sequence[FileDoc], n: int, seed: int, progress: bool = True,
            project: bool = False) -> list[Position]:
    """The candidates and their features at tuning positions of `docs` (with each file's project as the
    workspace when `project`, as the evaluation's engine+project system)."""
    from tqdm import tqdm

    from codecomp.engine.fragments import FEATURES
    from codecomp.eval.engine_system import EngineSystem
    from codecomp.eval.project_context import ProjectEngineSystem, ProjectWorkspaces

    workspaces = ProjectWorkspaces(docs) if project else None
    shown = ProjectEngineSystem(engine, workspaces) if workspaces is not None else EngineSystem(engine)
    out: list[Position] = []
    current = -1
    try:
        for kind, d, q in tqdm(_queries(docs, n, seed), desc="fragment candidates", disable=not progress):
            if d != current:
                shown.start_file(q.doc)
                current = d
            uri, line, col = shown.show(q)
            found = engine.line_candidates(uri, line, col)
            target = q.line_target()
            if not found:
                out.append(Position(kind, q.doc.lang, f"{q.doc.project}/{q.doc.path}", np.zeros((0, len(FEATURES))),
                                    np.zeros(0, bool), np.zeros((0, 2), int), [], target))
                continue
            doc = engine.document(uri)
            prefix_len = _prefix_len(doc, uri, line, col, engine)
            feats, exact, ok, texts = [], [], [], []
            for cand, effect in found:
                f = cand.features(q.doc.lang)
                feats.append([f[k] for k in FEATURES])
                inserted = cand.text[prefix_len:] if len(cand.text) >= prefix_len else cand.text
                exact.append(M.exact_match(inserted, target))
                ok.append(effect)
                texts.append(inserted)
            out.append(Position(kind, q.doc.lang, f"{q.doc.project}/{q.doc.path}", np.asarray(feats, float),
                                np.asarray(exact, bool), np.asarray(ok, int).reshape(-1, 2), texts, target))
    finally:
        shown.close_all()
        if workspaces is not None:
            engine.set_workspace(None)
            workspaces.cleanup()
    return out


def _prefix_len(doc: Any, uri: str, line: int, col: int, engine: Any) -> int:
    from codecomp.engine.lexing import prefix_start

    cursor = doc.byte_of(line, col)
    return len(doc.source[prefix_start(doc.source, cursor):cursor].decode("utf-8", "replace"))


def fit_logistic(X: np.ndarray, y: np.ndarray, l2: float = 1.0, iters: int = 50) -> np.ndarray:
    """Weights of an L2-regularised logistic regression (the first column is the bias, not regularised)."""
    w = np.zeros(X.shape[1])
    reg = np.full(X.shape[1], l2)
    reg[0] = 1e-6
    for _ in range(iters):
        z = np.clip(X @ w, -30, 30)
        p = 1.0 / (1.0 + np.exp(-z))
        grad = X.T @ (p - y) + reg * w
        hess = (X * (p * (1 - p))[:, None]).T @ X + np.diag(reg)
        step = np.linalg.solve(hess, grad)
        w -= step
        if np.abs(step).max() < 1e-8:
            break
    return w


def fit_choice(positions: Sequence[Position], l2: float = 1.0, iters: int = 100) -> np.ndarray:
    """Weights of a conditional logit over each position's candidates (the softmax of the scores of one
    position's candidates models which is exact; positions without an exact candidate say nothing), by Newton's
    method with an L2 penalty (the bias column cancels out and stays 0)."""
    F = positions[0].features.shape[1] if positions else 0
    w = np.zeros(F)
    data = [(p.features, p.exact.astype(float)) for p in positions if p.features.shape[0] and p.exact.any()]
    reg = np.full(F, l2)
    for _ in range(iters):
        g = reg * w
        H = np.diag(reg)
        for X, y in data:
            z = X @ w
            e = np.exp(z - z.max())
            s = e / e.sum()
            g = g + X.T @ (s - y / y.sum())
            m = X.T @ s
            H = H + (X * s[:, None]).T @ X - np.outer(m, m)
        step = np.linalg.solve(H + 1e-9 * np.eye(F), g)
        w -= step
        if np.abs(step).max() < 1e-7:
            break
    return w


def _picks(positions: Sequence[Position], w: np.ndarray, bonus: float | None = None
           ) -> list[tuple[np.ndarray, int | None]]:
    """(scores, index of the candidate shown) per position, as the engine picks (`fragments.pick`): among the
    best `SYNTAX_CHECKS` by score, those adding a syntax error refused, a repair worth `bonus`; the shown one's
    score includes its bonus."""
    from codecomp.engine.fragments import REPAIR_BONUS, SYNTAX_CHECKS

    bonus = REPAIR_BONUS if bonus is None else bonus
    out = []
    for pos in positions:
        if not pos.features.shape[0]:
            out.append((np.zeros(0), None))
            continue
        z = pos.features @ w
        order = np.argsort(-z, kind="stable")
        best, best_s = None, -np.inf
        for j in order[:SYNTAX_CHECKS]:
            if best is not None and best_s >= z[j] + bonus:
                break
            line, after = pos.effect[j]
            if line > 0 or after > 0:
                continue
            s = z[j] + (bonus if after < 0 else 0.0)
            if s > best_s:
                best, best_s = int(j), s
        if best is not None:
            z = z.copy()
            z[best] = best_s
        out.append((z, best))
    return out


def calibration_rows(positions: Sequence[Position], w: np.ndarray, bonus: float | None = None
                     ) -> tuple[np.ndarray, np.ndarray]:
    """(1, score, log softmax share) of the shown candidate at each position, and whether it is exact."""
    X, y = [], []
    for pos, (z, pick) in zip(positions, _picks(positions, w, bonus)):
        if pick is None:
            continue
        top = z.max()
        share = z[pick] - top - np.log(np.exp(z - top).sum())
        X.append([1.0, z[pick], share])
        y.append(float(pos.exact[pick]))
    return np.asarray(X), np.asarray(y)


def choose(positions: Sequence[Position], w: np.ndarray, cal: np.ndarray, bonus: float | None = None
           ) -> list[tuple[float, bool]]:
    """(confidence, exact) of the candidate the engine would show at each position (0, False: none)."""
    from codecomp.engine.fragments import calibrate

    out = []
    for pos, (z, pick) in zip(positions, _picks(positions, w, bonus)):
        if pick is None:
            out.append((0.0, False))
            continue
        conf = calibrate(z.tolist(), tuple(cal))[pick]
        out.append((float(conf), bool(pos.exact[pick])))
    return out


def threshold_for(chosen: Sequence[tuple[float, bool]], precision: float) -> float:
    """The lowest threshold whose offered fragments are exact at least `precision` of the time (1.0: none)."""
    ranked = sorted(chosen, key=lambda ce: -ce[0])
    best = 1.0
    hits = 0
    for k, (conf, exact) in enumerate(ranked, 1):
        hits += exact
        if hits / k >= precision and k >= 10:
            best = conf
    return best


def summary(positions: Sequence[Position], w: np.ndarray, cal: np.ndarray, threshold: float,
            bonus: float | None = None) -> dict[str, dict[str, float]]:
    """Per kind and language: exact % of the chosen candidate, oracle %, coverage and precision at the threshold."""
    chosen = choose(positions, w, cal, bonus)
    groups: dict[str, list[int]] = {}
    for j, pos in enumerate(positions):
        for key in (pos.kind, f"{pos.kind}/{pos.lang}"):
            groups.setdefault(key, []).append(j)
    out = {}
    for key, idx in sorted(groups.items()):
        n = len(idx)
        exact = sum(chosen[j][1] for j in idx)
        oracle = sum(bool(positions[j].exact.any()) for j in idx)
        offered = [j for j in idx if chosen[j][0] >= threshold and chosen[j][0] > 0]
        hits = sum(chosen[j][1] for j in offered)
        out[key] = {"n": n, "exact": 100.0 * exact / n, "oracle": 100.0 * oracle / n,
                    "coverage": 100.0 * len(offered) / n,
                    "precision": 100.0 * hits / len(offered) if offered else float("nan")}
    return out


def main(argv: list[str] | None = None) -> None:
    import argparse

    from codecomp.engine import Engine
    from codecomp.engine.fragments import FEATURES
    from codecomp.eval.harness import docs_of, load_split

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--corpus", action="append", required=True, type=Path)
    ap.add_argument("--split", default="valid")
    ap.add_argument("--model", type=Path, default=None)
    ap.add_argument("--positions", type=int, default=200, help="positions per kind and corpus")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--precision", type=float, default=0.5, help="precision the threshold must reach")
    ap.add_argument("--l2", type=float, default=1.0)
    ap.add_argument("--regimes", default="file,project",
                    help="file: lone files; project: each file's project as the workspace (both: every position twice)")
    ap.add_argument("--save", type=Path, default=None, help="keep the collected candidates (JSON) here")
    ap.add_argument("--load", type=Path, default=None, help="fit on candidates saved before instead")
    args = ap.parse_args(argv)
    if args.split == "test":
        sys.exit("fragment_tune: tune on the valid split, never on test")
    if args.load:
        raw = json.loads(args.load.read_text())
        positions = [Position(r["kind"], r["lang"], r["file"], np.asarray(r["features"], float).reshape(-1, len(FEATURES)),
                              np.asarray(r["exact"], bool), np.asarray(r["effect"], int).reshape(-1, 2), r["texts"],
                              r["target"])
                     for r in raw]
    else:
        engine = Engine.load(args.model)
        positions = []
        for corpus in args.corpus:
            docs = docs_of(load_split(corpus, args.split, 3000, args.seed))
            for regime in args.regimes.split(","):
                found = collect(engine, docs, args.positions, args.seed, project=regime == "project")
                for p in found:
                    p.kind = f"{p.kind}+{regime}"
                positions += found
        if args.save:
            args.save.write_text(json.dumps([{"kind": p.kind, "lang": p.lang, "file": p.file,
                                              "features": p.features.tolist(), "exact": p.exact.tolist(),
                                              "effect": p.effect.tolist(), "texts": p.texts, "target": p.target}
                                             for p in positions]))
    files = sorted({p.file for p in positions})
    random.Random(args.seed).shuffle(files)
    half = set(files[: len(files) // 2])
    parts = ([p for p in positions if p.file in half], [p for p in positions if p.file not in half])

    def fit(ps: Sequence[Position]) -> tuple[np.ndarray, np.ndarray, float]:
        w = fit_choice(ps, args.l2)
        # the repair bonus: the one of a few that gives the most exact choices
        bonus = max((0.0, 0.5, 1.0, 2.0, 4.0, 8.0),
                    key=lambda b: (sum(e for _, e in choose(ps, w, np.array([0.0, 1.0, 0.0]), b)), -b))
        X, y = calibration_rows(ps, w, bonus)
        return w, fit_logistic(X, y, 0.1), bonus

    def show(rows: dict[str, dict[str, float]]) -> None:
        for key, r in rows.items():
            print(f"  {key:24s} n={r['n']:4d} exact {r['exact']:5.1f}  oracle {r['oracle']:5.1f}  "
                  f"coverage {r['coverage']:5.1f}  precision {r['precision']:5.1f}")

    for a, b in ((0, 1), (1, 0)):
        w, cal, bonus = fit(parts[a])
        th = threshold_for(choose(parts[a], w, cal, bonus), args.precision)
        print(f"fitted on half {a}, measured on half {b} (threshold {th:.3f}, repair bonus {bonus}):")
        show(summary(parts[b], w, cal, th, bonus))
    w, cal, bonus = fit(positions)
    th = threshold_for(choose(positions, w, cal, bonus), args.precision)
    print("all positions:")
    show(summary(positions, w, cal, th, bonus))
    print("WEIGHTS = {" + ", ".join(f'"{k}": {v:.4g}' for k, v in zip(FEATURES, w) if abs(v) > 1e-9) + "}")
    print(f"CALIBRATION = ({cal[0]:.4g}, {cal[1]:.4g}, {cal[2]:.4g})")
    print(f"REPAIR_BONUS = {bonus}")
    print(f"OFFER_THRESHOLD = {th:.3f}")


if __name__ == "__main__":
    main()
