"""The evaluation harness end to end on the fixture corpus (quick mode), plus its document handling."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from codecomp.engine import Engine
from codecomp.eval.documents import FileDoc, Query, utf16_position
from codecomp.eval.engine_system import EngineSystem, first_token
from codecomp.eval.harness import EvalError, EvalOptions, run_evaluation, sample_identifier_positions
from codecomp.eval.report import write_report
from codecomp.syntax import parse


def row_of(source: str, lang: str, project: str = "p", path: str = "a.js") -> dict:
    """A corpus row made the way the corpus builder makes them (real tree-sitter tokens, comments dropped)."""
    parsed = parse(source, lang)
    toks = [t for t in parsed.tokens if int(t.kind) != 6]
    return {"project": project, "path": path, "language": lang, "text": source,
            "tokens": [t.text for t in toks], "kinds": [int(t.kind) for t in toks],
            "starts": [t.start_byte for t in toks]}


def test_filedoc_offsets_with_non_ascii_text() -> None:
    src = "const café = 'naïve';\n// ünïcode comment\nlet 𝒳 = café + 1;\n"
    doc = FileDoc.from_row(row_of(src, "javascript"))
    assert "café" in doc.tokens
    for i, tok in enumerate(doc.tokens):
        assert src[doc.start_chars[i]:doc.end_char(i)] == tok     # byte offsets became character offsets
    i = max(j for j, t in enumerate(doc.tokens) if t == "café")
    assert doc.lines[i] == 2
    q = Query(doc, i, "ca", "blank")
    text, cursor = q.document()
    assert text == "const café = 'naïve';\n// ünïcode comment\nlet 𝒳 = ca + 1;\n"
    assert text[:cursor].endswith("let 𝒳 = ca")
    # 𝒳 is two UTF-16 code units: "let 𝒳 = ca" is 11 units long
    assert utf16_position(text, cursor) == (2, 11)
    left, lc = Query(doc, i, "", "left").document()
    assert left.endswith("let 𝒳 = ") and lc == len(left)
    assert Query(doc, doc.tokens.index("="), "", "left").line_target() == "= 'naïve';"


def test_first_token_of_fragments() -> None:
    assert first_token("  foo(bar)") == "foo"
    assert first_token("=== b") == "==="
    assert first_token("'s' + x") == "'s'"
    assert first_token("->next") == "->"
    assert first_token("   ") is None


def test_engine_adapter_reads_what_the_engine_serves() -> None:
    engine = Engine.load(Path("no-such-model-folder"))
    assert engine.problem  # a fallback engine that says why
    src = "function total(items) {\n  let totalCount = 0;\n  return totalCount + items.length;\n}\n"
    doc = FileDoc.from_row(row_of(src, "javascript"))
    sysm = EngineSystem(engine)
    i = max(j for j, t in enumerate(doc.tokens) if t == "totalCount")
    ranked = sysm.rank(Query(doc, i, "to", "blank"), 10)
    assert "totalCount" in ranked and all(r.startswith("to") or r.lower().startswith("t") for r in ranked)
    assert len(sysm.latencies_ms["other"]) == 1 and sysm.latencies_ms["other"][0] > 0


def test_options_validate() -> None:
    with pytest.raises(EvalError, match="unknown task"):
        EvalOptions(tasks=("identifiers", "speed"))
    with pytest.raises(EvalError, match="positive"):
        EvalOptions(max_positions=0)
    assert EvalOptions(quick=True).max_positions == 20


@pytest.fixture(scope="module")
def quick_report(fixture_corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, Path]:
    engine = Engine.load(Path("no-such-model-folder"))
    opts = EvalOptions(quick=True, progress=False, seed=3)
    result = run_evaluation(engine, "engine", fixture_corpus, opts)
    out = tmp_path_factory.mktemp("report")
    write_report(result, out)
    return json.loads((out / "report.json").read_text()), out


def test_quick_evaluation_end_to_end(quick_report: tuple[dict, Path], fixture_corpus: Path) -> None:
    report, out = quick_report
    meta, tasks = report["meta"], report["tasks"]
    assert meta["projects"] and meta["files"] > 0 and meta["split"] == "test"
    ident = tasks["identifiers"]
    names = set(ident["systems"])
    assert {"engine", "unigram", "ngram4-kn", "ngram4-kn+cache", "recency", "file-frequency"} <= names
    # every system is scored on the same positions
    counts = {n: r["all"]["all"]["t0"]["n"] for n, r in ident["systems"].items()}
    assert len(set(counts.values())) == 1 and ident["positions"] == next(iter(counts.values())) > 0
    for r in ident["systems"].values():
        for t in ("t0", "t1"):
            s = r["all"]["all"][t]
            assert 0 <= s["top1"] <= s["top5"] <= 100 and 0 <= s["mrr10"] <= 1
    # the per-file cache helps over the plain n-gram on held-out projects (their identifiers are new)
    cache = ident["systems"]["ngram4-kn+cache"]["all"]["all"]["t1"]["mrr10"]
    plain = ident["systems"]["ngram4-kn"]["all"]["all"]["t1"]["mrr10"]
    assert cache >= plain
    for task in ("tokens", "lines", "keystrokes"):
        assert "engine" in tasks[task]["systems"] and "ngram4-kn+cache" in tasks[task]["systems"]
    ks = tasks["keystrokes"]["systems"]["ngram4-kn+cache"]["all"]
    assert 0 <= ks["saved"] <= ks["typed"] and ks["typed"] > 0
    lat = tasks["latency"]["all"]
    assert lat["n"] > 0 and lat["p50"] <= lat["p95"] <= lat["p99"]
    assert tasks["latency"]["typing"]["n"] > 0      # identifiers typed one character at a time
    assert "skipped" in tasks["char"]           # the fallback engine has no artifact to read a char model from
    assert tasks["naming"]["systems"]["most-frequent-name"]["n"] > 0
    md = (out / "report.md").read_text()
    assert "| system | top-1 (0)" in md and "ngram4-kn+cache" in md
    assert "typescript-language-server" in md and "33.7" in md      # reference figures beside ours
    for png in ("identifiers_by_typed.png", "latency_hist.png"):
        assert (out / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_positions_are_deterministic(fixture_corpus: Path) -> None:
    from codecomp.eval.harness import docs_of, load_split

    docs = docs_of(load_split(fixture_corpus, "test"))
    a = sample_identifier_positions(docs, 15, seed=1)
    assert a == sample_identifier_positions(docs, 15, seed=1)
    assert a != sample_identifier_positions(docs, 15, seed=2)
    assert all(docs[d].kinds[i] == 0 for d, i in a)


def test_cli(fixture_corpus: Path, tmp_path: Path) -> None:
    from codecomp.cli import app

    runner = CliRunner()
    res = runner.invoke(app, ["eval", "--corpus", str(fixture_corpus), "--out", str(tmp_path / "r"), "--quick",
                              "--tasks", "identifiers,latency", "--no-progress", "--model", str(tmp_path)])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "r" / "report.md").is_file()
    assert "identifiers top-1" in res.output
    bad = runner.invoke(app, ["eval", "--corpus", str(tmp_path / "missing"), "--out", str(tmp_path / "x")])
    assert bad.exit_code == 2 and "does not exist" in bad.output
    bad = runner.invoke(app, ["eval", "--corpus", str(fixture_corpus), "--out", str(tmp_path / "x"),
                              "--tasks", "identifiers,bogus"])
    assert bad.exit_code == 2 and "unknown task" in bad.output
    bad = runner.invoke(app, ["eval", "--corpus", str(fixture_corpus), "--out", str(tmp_path / "x"),
                              "--split", "holdout", "--quick", "--no-progress"])
    assert bad.exit_code == 2 and "no split 'holdout'" in bad.output


def test_neural_engine_end_to_end(fixture_corpus: Path, repo_root: Path, tmp_path: Path) -> None:
    """A real exported artifact (tiny token, char and naming models): every task measured through the engine."""
    pytest.importorskip("torch")
    import sys

    sys.path.insert(0, str(Path(__file__).parent))
    from test_export import make_char_run, make_token_run
    from training.cli import make_task, read_config
    from training.export import export_runs
    from training.loop import LoopConfig, dataclass_from_dict, train

    doc = read_config(repo_root / "training" / "configs" / "tiny-tree.toml", "tree")
    cfg = dataclass_from_dict(LoopConfig, doc["train"], "train")
    cfg.max_steps, cfg.eval_every = 4, 4
    task = make_task("tree", fixture_corpus, {k: doc[k] for k in ("model", "data")}, cfg.seed)
    train(task, tmp_path / "tree-run", cfg, progress=False, extra_config={"corpus": str(fixture_corpus)})
    runs = [make_token_run(tmp_path / "token-run"), make_char_run(tmp_path / "char-run"), tmp_path / "tree-run"]
    art = tmp_path / "artifact"
    export_runs(runs, art, log=lambda m: None)

    engine = Engine.load(art)
    assert engine.problem is None and engine.name == "neural"
    opts = EvalOptions(quick=True, progress=False, tasks=("tokens", "identifiers", "lines", "char", "naming", "latency"))
    result = run_evaluation(engine, "engine", fixture_corpus, opts, artifact_path=art)
    ch = result.tasks["char"]
    # a barely trained byte model: close to the log2(259) = 8.02 bits of a uniform guess, and finite
    assert 3.0 < ch["bits_per_char"] < 12.0 and ch["characters"] > 0
    assert result.meta["vocabulary_split"] == "the model's token vocabulary"
    tok = result.tasks["tokens"]["systems"]
    assert tok["engine"]["all"]["n"] == tok["engine-model"]["all"]["n"] == tok["ngram4-kn"]["all"]["n"] > 0
    naming = result.tasks["naming"]["systems"]
    assert naming["engine"]["n"] == naming["most-frequent-name"]["n"] > 0
    assert 0.0 <= naming["engine"]["top5"] <= 100.0
    assert result.latencies_ms["identifiers"] and min(result.latencies_ms["identifiers"]) > 0
    written = write_report(result, tmp_path / "rep", runs=[tmp_path / "tree-run"])
    assert "learning_curves" in written and written["learning_curves"].read_bytes()[:4] == b"\x89PNG"
    md = written["md"].read_text()
    assert "Bits per character" in md and "most-frequent-name" in md


def test_evaluation_code_never_imports_torch() -> None:
    import subprocess
    import sys

    code = ("import sys, codecomp.eval.harness, codecomp.eval.baselines, codecomp.eval.report, "
            "codecomp.eval.engine_system, codecomp.eval.cli, codecomp.eval.naming_eval; "
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_engine_failures_are_counted_not_fatal() -> None:
    """A file the engine refuses (a language it does not complete) scores as misses with the reason kept."""
    engine = Engine.load(Path("no-such-model-folder"))
    row = row_of("const a = 1;\nconst b = a;\n", "javascript")
    row["language"] = "python"
    doc = FileDoc.from_row(row)
    sysm = EngineSystem(engine)
    assert sysm.rank(Query(doc, 6, "", "blank")) == []
    assert sysm.next_token(Query(doc, 3, "", "left")) is None
    assert sysm.rest_of_line(Query(doc, 3, "", "left")) == ""
    (msg, count), = sysm.errors.items()
    assert count == 3 and "python" in msg


def test_train_data_respects_the_token_budget_per_language(fixture_corpus: Path) -> None:
    from codecomp.eval.harness import load_train_data

    full = load_train_data(fixture_corpus, 10_000_000, None, 0, progress=False)
    small = load_train_data(fixture_corpus, 200, None, 0, progress=False)
    assert set(full.streams) == {"cpp", "javascript"}
    for lang in full.streams:
        assert small.tokens[lang] >= 200 or small.files[lang] == full.files[lang]
        assert small.files[lang] <= full.files[lang]
    assert sum(small.files.values()) < sum(full.files.values())
    assert full.names  # declaration contexts with the names given there


def test_runs_named_by_the_manifest(tmp_path: Path) -> None:
    from codecomp.eval.report import read_metrics, runs_from_manifest

    run = tmp_path / "token-run"
    run.mkdir()
    (run / "metrics.jsonl").write_text('{"step": 1, "split": "train", "loss": 4.0}\nnot json\n'
                                       '{"step": 2, "split": "valid", "loss": 3.5}\n')
    art = tmp_path / "artifact"
    art.mkdir()
    (art / "manifest.json").write_text(json.dumps({"training": {"runs": {"token": {"path": str(run)},
                                                                         "char": {"config": {}}}}}))
    assert runs_from_manifest(art) == [run]
    assert [r["loss"] for r in read_metrics(run)] == [4.0, 3.5]
    assert runs_from_manifest(tmp_path / "nothing-here") == []
