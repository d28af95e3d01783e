"""The weight search of `codecomp tune`: its features are the engine's, its ranking is the engine's, and the
search finds a weight that a constructed case needs."""
from __future__ import annotations

import math
import random
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from codecomp.engine import Engine
from codecomp.engine.scoring import (WEIGHTS, F_MODEL, F_NEAR, F_PCOUNT, F_PROJECT, N_FEATURES, Weights, combine,
                                     combine_matrix)
from codecomp.eval.engine_system import EngineSystem
from codecomp.eval.documents import Query, utf16_position
from codecomp.eval.harness import docs_of, load_split, sample_identifier_positions
from codecomp.eval.tune import Case, case_rank, collect_cases, coordinate_search, objective


def test_vectorised_combine_equals_the_engines_combine() -> None:
    rng = random.Random(5)
    w = Weights(doc_max=0.6, doc_beta=150.0, other=0.1, scope=0.5, member=1.2, non_member=2.0, receiver=0.8,
                near=0.4, keyword=1.5, project=0.4, related=0.7, typed=1.3, project_count=0.2)
    probability = {0, 1, 2, F_PROJECT}
    rows = [tuple(rng.random() if j in probability else 3 * rng.random() if j in (F_NEAR, F_PCOUNT)
                  else float(rng.randint(0, 1)) for j in range(N_FEATURES)) for _ in range(50)]
    for neural in (True, False):
        for n in (0, 7, 900):
            got = combine_matrix(np.array(rows), n, neural, w)
            want = [combine(r, n, neural, w) for r in rows]
            assert np.allclose(got, want, rtol=0, atol=1e-12)


@pytest.fixture(scope="module")
def engine() -> Engine:
    eng = Engine.load(None)
    assert not getattr(eng, "problem", None), eng.problem
    eng.use_ranker(False)   # the weights tuned here are those of the hand-set mix, not of the learned ranker
    eng.store.background_analysis = False   # as under the evaluation adapter that collects the tuning cases
    return eng


def test_tuning_ranks_exactly_as_the_engine_serves(engine: Engine, fixture_corpus: Path) -> None:
    """With today's weights, the rank that the search computes from cached features is the rank of the true
    identifier in the engine's own completion list, at every sampled position."""
    docs = docs_of(load_split(fixture_corpus, "valid", None, 0))
    positions = sample_identifier_positions(docs, 30, 0)
    cases = collect_cases(engine, docs, positions, typed=(0,), progress=False)
    assert len(cases) >= 10
    checked = 0
    # the engine is shown the same documents in the same order as when the cases were collected (one file
    # open at a time, updated between positions): the int8 graphs' dynamic quantisation makes the model's
    # numbers depend on how the context was read, so a fresh open could differ in the last digits
    shown = EngineSystem(engine)
    for case in cases:
        d, i = case.where
        doc = docs[d]
        uri, line, col = shown.show(Query(doc, i, "", "blank"))
        labels = [c.label for c in engine.complete(uri, line, col, max_items=100_000, fragment=False).items]
        want = labels.index(doc.tokens[i]) + 1 if doc.tokens[i] in labels else None
        assert case_rank(case, WEIGHTS) == want
        checked += want is not None
    shown.close_all()
    assert checked >= 5  # the comparison covered real ranks, not only misses


def _case(project: str, target_near: float, rival_model: float, target_model: float = 0.05) -> Case:
    """Six candidates: the true one (index 0) is used near the cursor, the rivals are what the model prefers."""
    feats = np.zeros((6, N_FEATURES))
    feats[:, F_MODEL] = [target_model, rival_model, 0.3, 0.25, 0.2, 0.15]
    feats[0, F_NEAR] = target_near
    return Case(project, 0, 1000, True, np.zeros(6, dtype=np.int64), feats, np.arange(6), 0)


def test_search_finds_the_weight_a_case_needs() -> None:
    cases = [_case(f"p{k % 3}", math.log1p(4), 0.5) for k in range(12)]
    start = replace(WEIGHTS, near=0.0)
    assert case_rank(cases[0], start) == 6          # without the recency signal the true name comes last
    best, history = coordinate_search(cases, start, rounds=3, log=lambda _: None)
    assert best.near > 0.0
    assert objective(cases, best)[0] == 100.0
    assert history[0]["top5"] == 0.0 and history[-1]["top5"] == 100.0


def test_objective_is_a_macro_average_over_projects() -> None:
    hit = _case("big", 0.0, 0.5, target_model=0.9)   # ranked first with the default weights
    miss = replace(hit, target=-1)             # the true identifier is not a candidate
    cases = [hit] * 9 + [miss]
    cases[-1] = replace(miss, project="small")
    top5, _, per = objective(cases, WEIGHTS)
    assert per == {"big": 100.0, "small": 0.0}
    assert top5 == 50.0                        # pooled would be 90 %


def test_tune_refuses_the_test_split(fixture_corpus: Path) -> None:
    from codecomp.cli import app

    res = CliRunner().invoke(app, ["tune", "--corpus", str(fixture_corpus), "--split", "test"])
    assert res.exit_code == 2
    assert "test split" in res.output


def test_tuning_with_project_context_ranks_as_the_engine_serves(engine: Engine, fixture_corpus: Path) -> None:
    """`--project-context`: the features come from the engine with the file's project as its workspace, and
    today's weights rank from them exactly as that engine serves."""
    from codecomp.eval.project_context import ProjectWorkspaces

    docs = docs_of(load_split(fixture_corpus, "valid", None, 0))
    positions = list(sample_identifier_positions(docs, 20, 0))
    workspaces = ProjectWorkspaces(docs)
    try:
        cases = collect_cases(engine, docs, positions, typed=(0,), progress=False, workspaces=workspaces)
        assert len(cases) >= 5
        assert any(c.feats[:, F_PROJECT].any() for c in cases)  # the project's column is filled
        for case in cases:
            d, i = case.where
            doc = docs[d]
            text, cursor = Query(doc, i, "", "blank").document()
            workspaces.activate(engine, doc)
            uri = workspaces.uri_of(doc)
            engine.open(uri, text, doc.lang, 1)
            try:
                line, col = utf16_position(text, cursor)
                labels = [c.label for c in engine.complete(uri, line, col, max_items=100_000, fragment=False).items]
            finally:
                engine.close(uri)
            want = labels.index(doc.tokens[i]) + 1 if doc.tokens[i] in labels else None
            assert case_rank(case, WEIGHTS) == want
    finally:
        engine.set_workspace(None)
        workspaces.cleanup()
