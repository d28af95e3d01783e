"""`codecomp tune`: search the engine's ranking weights on a validation split.

The engine ranks candidates with a few hand-set weights (`codecomp.engine.scoring.Weights`).  This module is the
search that sets them, kept in the repository so that the figures can be reproduced and redone after any change
to the model or the candidates:

1. sample identifier positions of the valid split (stratified by project, as the evaluation does), hide the
   identifier, and ask the engine for the scoring signals of every candidate at typed 0 and 1 through
   `Engine.candidate_features` -- the same code path that serves completions; with `--project-context` (the
   default) the engine has the file's project as its workspace, built as the evaluation builds it
   (`codecomp.eval.project_context`: the split's other files of the project);
2. cache them, so that scoring one weight setting over all positions is a few vectorised numpy operations
   (`scoring.combine_matrix`, held equal to the engine's `combine` by a test);
3. coordinate search: each weight in turn is tried at a grid of multiples of its current value and kept where the
   objective improves (macro average over projects of top-5 at typed 0; MRR@10 breaks ties), for a few rounds.

It never reads the test split: `--split test` is refused.
"""
from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any, Callable, Iterable, List, Optional, Sequence

import numpy as np
import typer

# Multiples of the current value tried for each weight, per round of the coordinate search.
GRID = (0.0, 0.25, 0.5, 0.75, 0.9, 1.1, 1.25, 1.5, 2.0, 3.0)
TYPED = (0, 1)
# Ranges outside which a weight stops meaning what the formula says (doc_max is a mixing share).
BOUNDS = {"doc_max": (0.0, 0.99), "doc_beta": (1.0, 1e6)}


@dataclass
class Case:
    """One (position, typed length): the candidates' signals and where the true identifier is among them."""

    project: str
    typed: int
    n_idents: int
    neural: bool
    tiers: np.ndarray       # (k,) match tier of each candidate
    feats: np.ndarray       # (k, F) raw signals, scoring.F_* columns
    tiebreak: np.ndarray    # (k,) position of each candidate in (length, label) order: the engine's tie order
    target: int             # index of the true identifier among the candidates, -1 when it is not one
    where: tuple[int, int] = (-1, -1)   # (document, token) of the position


def collect_cases(engine: Any, docs: Sequence[Any], positions: Iterable[tuple[int, int]],
                  typed: Sequence[int] = TYPED, progress: bool = True, workspaces: Any = None) -> list[Case]:
    """The engine's candidate signals at every position and typed length (the identifier hidden).

    `workspaces`: a `project_context.ProjectWorkspaces`; each file is then completed with its project as the
    engine's workspace (file:// URIs inside the project's folder), else file-only."""
    from codecomp.eval.project_context import shown_positions

    # the evaluation's own adapters open the documents, so tuning sees them exactly as the evaluation does
    cases: list[Case] = []
    for d, i, t, uri, line, col in shown_positions(engine, docs, positions, typed, workspaces, progress,
                                                   "tune: candidate signals"):
        cf = engine.candidate_features(uri, line, col)
        if cf is None:
            continue
        target = docs[d].tokens[i]
        labels = sorted(cf.candidates, key=lambda lab: (len(lab), lab))
        order = {lab: r for r, lab in enumerate(labels)}
        names = list(cf.candidates)
        tiers = np.array([cf.candidates[n][0] for n in names], dtype=np.int64)
        feats = np.array([cf.candidates[n][1] for n in names], dtype=np.float64).reshape(len(names), -1)
        tiebreak = np.array([order[n] for n in names], dtype=np.int64)
        cases.append(Case(docs[d].project, t, cf.n_idents, cf.neural, tiers, feats, tiebreak,
                          names.index(target) if target in cf.candidates else -1, (d, i)))
    return cases


def case_rank(case: Case, weights: Any) -> int | None:
    """1-based rank of the true identifier under `weights` with the engine's ordering (tier, then score
    descending, then shorter and alphabetical), None when it is not a candidate."""
    from codecomp.engine.scoring import combine_matrix

    if case.target < 0:
        return None
    s = combine_matrix(case.feats, case.n_idents, case.neural, weights)
    t = case.target
    tt, ts, tb = case.tiers[t], s[t], case.tiebreak[t]
    before = (case.tiers < tt) | ((case.tiers == tt) & ((s > ts) | ((s == ts) & (case.tiebreak < tb))))
    return int(before.sum()) + 1


def objective(cases: Sequence[Case], weights: Any, typed: int = 0) -> tuple[float, float, dict[str, float]]:
    """(macro top-5 %, macro MRR@10, per-project top-5 %) at `typed` over `cases`."""
    per: dict[str, list[tuple[bool, float]]] = {}
    for c in cases:
        if c.typed != typed:
            continue
        r = case_rank(c, weights)
        per.setdefault(c.project, []).append((r is not None and r <= 5, 1.0 / r if r is not None and r <= 10 else 0.0))
    if not per:
        return 0.0, 0.0, {}
    top5 = {p: 100.0 * sum(h for h, _ in v) / len(v) for p, v in per.items()}
    mrr = {p: sum(x for _, x in v) / len(v) for p, v in per.items()}
    return (float(np.mean(list(top5.values()))), float(np.mean(list(mrr.values()))),
            dict(sorted(top5.items())))


def coordinate_search(cases: Sequence[Case], start: Any, rounds: int = 3, grid: Sequence[float] = GRID,
                      log: Callable[[str], None] = print, names: Sequence[str] | None = None
                      ) -> tuple[Any, list[dict[str, Any]]]:
    """Greedy coordinate search over the fields of `start` (a `Weights`; only those in `names` when given),
    maximising (top-5, MRR) at typed 0."""
    best = start
    best_key = objective(cases, best)[:2]
    history = [{"round": 0, "weights": asdict(best), "top5": best_key[0], "mrr10": best_key[1]}]
    for rnd in range(1, rounds + 1):
        changed = False
        for f in fields(best):
            if names is not None and f.name not in names:
                continue
            current = getattr(best, f.name)
            tried = sorted({round(current * m, 6) for m in grid} | ({0.1, 0.5, 1.0} if current == 0 else set()))
            for value in tried:
                lo, hi = BOUNDS.get(f.name, (0.0, float("inf")))
                if not lo <= value <= hi:
                    continue
                cand = replace(best, **{f.name: value})
                key = objective(cases, cand)[:2]
                if key > best_key:
                    best, best_key, changed = cand, key, True
        history.append({"round": rnd, "weights": asdict(best), "top5": best_key[0], "mrr10": best_key[1]})
        log(f"round {rnd}: top-5 {best_key[0]:.2f} %, MRR@10 {best_key[1]:.4f}")
        if not changed:
            break
    return best, history


def tune_command(
    corpus: List[Path] = typer.Option(..., "--corpus", help="Corpus folder(s); their valid splits are pooled."),
    model: Optional[Path] = typer.Option(None, "--model", help="Model artifact folder (default: the shipped model)."),
    split: str = typer.Option("valid", "--split", help="Split to tune on (never test)."),
    max_positions: int = typer.Option(600, "--max-positions", help="Identifier positions per corpus."),
    seed: int = typer.Option(0, "--seed", help="Seed of the position sampling."),
    rounds: int = typer.Option(3, "--rounds", help="Rounds of the coordinate search."),
    out: Optional[Path] = typer.Option(None, "--out", help="Write tune.json (positions, history, best weights) here."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show progress bars."),
    project_context: bool = typer.Option(True, "--project-context/--file-only",
                                         help="Complete with each file's project as the workspace (as "
                                              "`codecomp eval` does), or from the file alone."),
    only: Optional[str] = typer.Option(None, "--weights",
                                       help="Comma-separated weights to search (default: all), e.g. "
                                            "project,related,typed,project_count to leave the file-only "
                                            "ranking as it is."),
) -> None:
    """Tune the engine's ranking weights by coordinate search on the valid split, and print them."""
    from codecomp.engine import Engine
    from codecomp.engine.scoring import WEIGHTS
    from codecomp.eval.harness import docs_of, load_split, sample_identifier_positions
    from codecomp.eval.project_context import ProjectWorkspaces

    if split == "test":
        typer.echo("codecomp tune: tuning on the test split would leak it into every later figure; use valid.",
                   err=True)
        raise typer.Exit(2)
    engine = Engine.load(model)
    if getattr(engine, "problem", None):
        typer.echo(f"codecomp tune: {engine.problem}", err=True)
        raise typer.Exit(1)
    t0 = time.perf_counter()
    cases: list[Case] = []
    for c in corpus:
        docs = docs_of(load_split(c, split, None, seed), progress, f"{c.name} {split} files")
        positions = sample_identifier_positions(docs, max_positions, seed)
        workspaces = ProjectWorkspaces(docs) if project_context else None
        try:
            cases += collect_cases(engine, docs, positions, progress=progress, workspaces=workspaces)
        finally:
            if workspaces is not None:
                workspaces.cleanup()
    t_collect = time.perf_counter() - t0
    start_top5, start_mrr, start_per = objective(cases, WEIGHTS)
    typer.echo(f"{len(cases)} cases from {len({c.project for c in cases})} projects in {t_collect:.0f} s; "
               f"today's weights: top-5 {start_top5:.2f} %, MRR@10 {start_mrr:.4f} (typed 0, macro over projects)")
    names = [n.strip() for n in only.split(",") if n.strip()] if only else None
    unknown = sorted(set(names or ()) - {f.name for f in fields(WEIGHTS)})
    if unknown:
        typer.echo(f"codecomp tune: unknown weights {', '.join(unknown)}", err=True)
        raise typer.Exit(2)
    best, history = coordinate_search(cases, WEIGHTS, rounds, log=typer.echo, names=names)
    top5, mrr, per = objective(cases, best)
    t1_before = objective(cases, WEIGHTS, typed=1)
    t1_after = objective(cases, best, typed=1)
    typer.echo(f"best: top-5 {top5:.2f} % (was {start_top5:.2f}), MRR@10 {mrr:.4f} (was {start_mrr:.4f}); "
               f"typed 1 top-5 {t1_after[0]:.2f} % (was {t1_before[0]:.2f})")
    typer.echo("weights: " + ", ".join(f"{k}={v:g}" for k, v in asdict(best).items()))
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        doc = {"corpus": [str(c) for c in corpus], "split": split, "seed": seed, "max_positions": max_positions,
               "project_context": project_context, "searched": names or "all",
               "model": str(model) if model else "default", "cases": len(cases),
               "projects": sorted({c.project for c in cases}), "collect_seconds": round(t_collect, 1),
               "start": {"weights": asdict(WEIGHTS), "top5_t0": start_top5, "mrr10_t0": start_mrr,
                         "top5_t1": t1_before[0], "per_project_top5_t0": start_per},
               "best": {"weights": asdict(best), "top5_t0": top5, "mrr10_t0": mrr, "top5_t1": t1_after[0],
                        "per_project_top5_t0": per},
               "history": history}
        (out / "tune.json").write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
        typer.echo(f"wrote {out / 'tune.json'}")
