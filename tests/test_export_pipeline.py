"""The whole path from a corpus to served completions: train tiny token, char and tree runs with the real loop on
the fixture corpus, export them into ONE artifact (int8, checks on held-out files), and serve it torch-free."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("torch")


def _train(kind: str, corpus: Path, repo_root: Path, out: Path, steps: int) -> Path:
    from training.cli import make_task, read_config
    from training.loop import LoopConfig, dataclass_from_dict, train

    doc = read_config(repo_root / "training" / "configs" / f"tiny-{kind}.toml", kind)
    cfg = dataclass_from_dict(LoopConfig, doc["train"], "train")
    cfg.max_steps, cfg.eval_every = steps, steps
    task = make_task(kind, corpus, {k: doc[k] for k in ("model", "data") if k in doc}, cfg.seed)
    train(task, out, cfg, progress=False, extra_config={"corpus": str(corpus)})
    return out


@pytest.fixture(scope="module")
def pipeline_artifact(fixture_corpus: Path, repo_root: Path, tmp_path_factory) -> Path:
    from training.export import export_runs

    base = tmp_path_factory.mktemp("pipeline")
    runs = [_train("token", fixture_corpus, repo_root, base / "token", 20),
            _train("char", fixture_corpus, repo_root, base / "char", 6),
            _train("tree", fixture_corpus, repo_root, base / "tree", 6)]
    out = base / "artifact"
    export_runs(runs, out, quantize="int8", corpus=fixture_corpus, log=lambda m: None)
    return out


def test_one_artifact_holds_all_models(pipeline_artifact: Path) -> None:
    from codecomp.artifact import load

    art = load(pipeline_artifact)
    assert set(art.models) == {"token", "char", "naming"}
    manifest = json.loads((pipeline_artifact / "manifest.json").read_text())
    assert set(manifest["training"]["runs"]) == {"token", "char", "tree"}
    assert manifest["training"]["corpus_stats_sha256"]
    q = art.models["token"]["quantization"]
    # measured on held-out files of the corpus (not only random ids)
    assert q["positions"] > 64 and 0.0 <= q["float_next_token_acc"] <= 1.0
    assert all(v <= 1e-4 for v in art.models["token"]["parity"].values())


def test_served_by_the_engine(pipeline_artifact: Path) -> None:
    from codecomp.engine import Engine

    eng = Engine.load(pipeline_artifact)
    assert isinstance(eng, Engine), eng.problem
    src = "int total = 0;\nint count = 3;\nfor (int i = 0; i < count; i++) {\n  total += i;\n}\nreturn to"
    eng.open("file:///a.cpp", src, "cpp", 1)
    res = eng.complete("file:///a.cpp", 5, 9)
    assert res.items[0].label == "total"
    names = eng.suggest_names("file:///a.cpp", 0, 5)
    assert names.symbol == "total" and names.kind == "variable"
    assert names.occurrences == [((0, 4), (0, 9)), ((3, 2), (3, 7))]  # "to" on the last line is another name
    assert names.names and names.reason is None
