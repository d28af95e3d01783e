"""The naming model end to end: train a tiny Tree-LSTM on the fixture corpus with the real loop, export it to ONNX,
check parity with PyTorch, serve suggestions torch-free, and run `codecomp name` as a user would."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from codecomp.artifact import write_manifest
from codecomp.engine import Engine
from codecomp.engine.naming import NameSuggester, NamingError, beam_search, rank_names


@pytest.fixture(scope="module")
def naming_run(fixture_corpus, repo_root, tmp_path_factory) -> Path:
    """A tiny naming run trained with the shared loop (what `codecomp train tree` does)."""
    from training.cli import make_task, read_config
    from training.loop import LoopConfig, dataclass_from_dict, train

    doc = read_config(repo_root / "training" / "configs" / "tiny-tree.toml", "tree")
    cfg = dataclass_from_dict(LoopConfig, doc["train"], "train")
    cfg.max_steps, cfg.eval_every = 12, 6
    task = make_task("tree", fixture_corpus, {k: doc[k] for k in ("model", "data")}, cfg.seed)
    run = tmp_path_factory.mktemp("naming") / "run"
    result = train(task, run, cfg, progress=False, extra_config={"corpus": str(fixture_corpus)})
    assert result.steps == 12
    return run


@pytest.fixture(scope="module")
def artifact(naming_run, tmp_path_factory) -> Path:
    from training.export_naming import export_naming

    out = tmp_path_factory.mktemp("naming-artifact")
    section = export_naming(naming_run, out)
    write_manifest(out, {"naming": section}, section["languages"])
    return out


def test_training_wrote_a_run(naming_run):
    rows = [json.loads(line) for line in (naming_run / "metrics.jsonl").read_text().splitlines()]
    train_rows = [r for r in rows if r["split"] == "train"]
    assert train_rows[-1]["loss"] < train_rows[0]["loss"]
    assert any(r["split"] == "valid" and "name_top5" in r for r in rows)
    assert (naming_run / "naming_vocab.json").exists() and (naming_run / "ckpt-last.pt").exists()


def test_resume_continues_the_run(naming_run, fixture_corpus, repo_root, tmp_path):
    import shutil

    from training.cli import make_task, read_config
    from training.loop import LoopConfig, dataclass_from_dict, train

    run = tmp_path / "run"
    shutil.copytree(naming_run, run)
    doc = read_config(repo_root / "training" / "configs" / "tiny-tree.toml", "tree")
    cfg = dataclass_from_dict(LoopConfig, doc["train"], "train")
    cfg.max_steps, cfg.eval_every = 15, 6
    task = make_task("tree", fixture_corpus, {k: doc[k] for k in ("model", "data")}, cfg.seed)
    result = train(task, run, cfg, resume=True, progress=False)
    assert result.steps == 15
    steps = [json.loads(line)["step"] for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert steps == sorted(steps) and steps[-1] == 15


def test_export_parity_within_tolerance(artifact):
    manifest = json.loads((artifact / "manifest.json").read_text())
    section = manifest["models"]["naming"]
    parity = section["parity"]
    assert parity["num_examples"] >= 1          # real corpus examples went through the numpy level loop
    for key in ("up", "up_leaves", "down", "head", "decoder", "examples"):
        assert parity[key] <= 1e-4, (key, parity)
    for name in section["graphs"].values():
        assert (artifact / name).is_file() and name in manifest["files"]


def test_parity_checker_catches_a_broken_graph(naming_run, tmp_path):
    from training.export_naming import check_parity, export_graphs
    from training.models.tree_lstm import load_run

    model, vocab, _ = load_run(naming_run)
    export_graphs(model, vocab, tmp_path)
    with __import__("torch").no_grad():
        model.down.u.weight.add_(0.5)          # the PyTorch side no longer matches the exported graph
    assert check_parity(model, tmp_path)["down"] > 1e-3


CPP = """#include <vector>
int sum_values(const std::vector<int>& values) {
    int total = 0;
    for (int v : values) { total += v; }
    return total;
}
"""


def suggest_at_byte(engine, source: str, lang: str, offset: int, k: int = 5):
    """`Engine.suggest_names` at a byte offset of `source` (opened as a document), with the byte span of every
    occurrence."""
    uri = f"file:///naming-test/doc.{'cpp' if lang == 'cpp' else 'js'}"
    engine.open(uri, source, lang, 1)
    doc = engine.document(uri)
    got = engine.suggest_names(uri, *doc.position_of_byte(offset), k=k)
    spans = [(doc.byte_of(*a), doc.byte_of(*b)) for a, b in got.occurrences]
    engine.close(uri)
    return got, spans


@pytest.fixture(scope="module")
def engine(artifact):
    eng = Engine.load(artifact)
    assert eng.naming_model() is not None, eng.naming_problem()
    eng.store.background_analysis = False
    return eng


def test_suggest_on_a_parsed_file(engine):
    at = CPP.index("total = 0") + 2
    got, spans = suggest_at_byte(engine, CPP, "cpp", at, k=4)
    assert got.symbol == "total" and got.kind == "variable" and got.reason is None
    assert [CPP.encode()[s:e].decode() for s, e in spans] == ["total"] * 3
    assert 1 <= len(got.names) <= 4
    scores = [s for _, s in got.names]
    assert scores == sorted(scores, reverse=True) and all(0.0 <= s <= 1.0 for s in scores)
    assert len({n for n, _ in got.names}) == len(got.names)
    assert all(n.isidentifier() for n, _ in got.names)
    # Parameters and functions work too, from any occurrence.
    assert suggest_at_byte(engine, CPP, "cpp", CPP.rindex("values") + 1)[0].symbol == "values"
    assert suggest_at_byte(engine, CPP, "cpp", CPP.index("sum_values"))[0].kind == "function"
    assert suggest_at_byte(engine, CPP, "cpp", at, k=0)[0].reason == "k must be at least 1"


@pytest.mark.parametrize("source,lang,offset,reason", [
    ("", "cpp", 0, "empty"),
    ("int x = 1;", "cpp", 3, "not on an identifier"),
    ("@@@ ### $$$ ((( ]]] }}} !!!", "cpp", 2, "not on an identifier"),
    ("struct S { int f; }; int g(S s) { return s.f; }", "cpp", 16, "field"),
    ("foo(bar);", "javascript", 5, "not declared"),
])
def test_bad_positions_give_a_reason(engine, source, lang, offset, reason):
    got, _ = suggest_at_byte(engine, source, lang, offset)
    assert got.names == [] and reason in got.reason


def test_find_symbol_outside_the_file():
    from codecomp.engine.naming import find_symbol
    from codecomp.syntax import parse

    assert "outside the file" in find_symbol(parse(b"int x = 1;", "cpp"), 99)


def test_extreme_trees_do_not_crash(engine):
    deep = "function f(a) { return " + "(" * 3000 + "a" + ")" * 3000 + "; }"
    got, _ = suggest_at_byte(engine, deep, "javascript", deep.index("(a)") + 1)
    assert got.symbol == "a" and got.names
    wide = "function g(k) { return [" + ", ".join(["k"] * 4000) + "]; }"
    got, _ = suggest_at_byte(engine, wide, "javascript", wide.index("(k)") + 1)
    assert got.symbol == "k" and got.names and len(got.occurrences) == 4001
    broken = "int main( { int count = 0;; ]] count++ <<>> }}}"
    got, _ = suggest_at_byte(engine, broken, "cpp", broken.index("count"))
    assert got.names or got.reason


def test_missing_or_wrong_artifact_is_a_clear_error(tmp_path):
    with pytest.raises(NamingError, match="does not exist"):
        NameSuggester.from_artifact(tmp_path / "nowhere")
    (tmp_path / "char.onnx").write_bytes(b"0")
    write_manifest(tmp_path, {"char": {"layers": 1, "hidden": 2, "vocab_size": 3}}, ["cpp"])
    with pytest.raises(NamingError, match="no naming model"):
        NameSuggester.from_artifact(tmp_path)


def test_beam_search_and_ranking_with_the_real_decoder(artifact):
    suggester = NameSuggester.from_artifact(artifact)
    vocab = suggester.vocab
    dec = suggester.sessions["decoder"]
    ctx = np.zeros((1, int(vocab.settings["code"])), dtype=np.float32)
    h0 = np.zeros((1, int(vocab.settings["dec_hidden"])), dtype=np.float32)

    def step(prev, h):
        return dec.run(None, {"prev": prev, "h": h, "ctx": np.repeat(ctx, len(prev), axis=0)})

    beams = beam_search(step, h0, beam=4, max_len=vocab.max_subtokens)
    assert 1 <= len(beams) <= 4
    assert all(ids and all(i >= 4 for i in ids) and len(ids) <= vocab.max_subtokens for ids, _ in beams)
    logps = [lp for _, lp in beams]
    assert logps == sorted(logps, reverse=True) and all(lp <= 0 for lp in logps)
    name_logits = np.zeros(len(vocab.names))
    name_logits[0] = 5.0                              # almost all mass on "some other name"
    ranked = rank_names(vocab, name_logits, np.zeros(len(vocab.styles)), beams, k=3)
    assert len(ranked) == 3 and ranked[0][1] >= ranked[-1][1]
    assert sum(s for _, s in ranked) <= 1.0 + 1e-9


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "codecomp", "name", *args], capture_output=True, text=True,
                          timeout=120)


def test_name_command_end_to_end(artifact, tmp_path):
    src = tmp_path / "sum.cpp"
    src.write_text(CPP, encoding="utf-8")
    # Line 3, column 9 (1-based) is the `t` of `total`.
    done = _cli(f"{src}:3:9", "--model", str(artifact), "--top", "3")
    assert done.returncode == 0, done.stderr
    assert "variable 'total'" in done.stdout
    assert "3 occurrence(s): 3:9, 4:28, 5:12" in done.stdout
    assert len([line for line in done.stdout.splitlines() if line.strip()[:2].rstrip(".").isdigit()]) == 3
    doc = json.loads(_cli(f"{src}:3:9", "--model", str(artifact), "--json").stdout)
    assert doc["symbol"] == "total" and len(doc["names"]) == 5 and doc["reason"] is None
    assert [o["line"] for o in doc["occurrences"]] == [3, 4, 5]
    off = _cli(f"{src}:1:2", "--model", str(artifact))
    assert off.returncode == 0 and "not on an identifier" in off.stdout
    for bad, message in [(f"{src}:99:1", "past the end"), (f"{src}:x:1", "whole numbers"),
                         (f"{tmp_path}/none.cpp:1:1", "does not exist"), (f"{src}", "FILE:LINE:COL")]:
        done = _cli(bad, "--model", str(artifact))
        assert done.returncode == 2 and message in done.stderr, (bad, done.stderr)
    txt = tmp_path / "notes.txt"
    txt.write_text("hello", encoding="utf-8")
    assert "unsupported file type" in _cli(f"{txt}:1:1", "--model", str(artifact)).stderr
    assert "codecomp export" in _cli(f"{src}:3:9", "--model", str(tmp_path / "no-model")).stderr


def test_serving_side_never_imports_torch():
    code = ("import sys, codecomp.engine.naming, codecomp.engine.naming_cli, codecomp.naming.data; "
            "print('torch' in sys.modules, 'datasets' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.stdout.split() == ["False", "False"], done.stderr


def test_evaluation_of_model_and_baseline(engine, fixture_corpus):
    from codecomp.eval.engine_system import EngineSystem
    from codecomp.eval.naming_eval import BASELINE_NAME, eval_naming

    report = eval_naming(EngineSystem(engine), fixture_corpus, "test", n=25, seed=0, progress=False)
    assert 10 <= report["positions"] <= 25          # the stratified draw caps the symbols taken per file
    for side in ("engine", BASELINE_NAME):
        scores = report["systems"][side]
        assert scores["n"] == report["positions"]
        assert 0.0 <= scores["exact"] <= scores["top5"] <= 100.0
        assert 0.0 <= scores["subtoken_f1"] <= 100.0


def test_variables_in_different_contexts_get_names_from_their_contexts(engine):
    """The declared names (a, b, c) say nothing; what they are initialised with does, and leads the list."""
    src = ("const a = require('path');\nconst b = require('child_process');\n"
           "function f(options) { let c = options.timeout; return a.join(b.x, c); }\n")
    firsts = {}
    for name in ("a", "b", "c"):
        got, _ = suggest_at_byte(engine, src, "javascript", src.index(f" {name} =") + 1)
        assert got.symbol == name and got.reason is None
        firsts[name] = got.names[0][0]
        assert len({n for n, _ in got.names}) == len(got.names)
    assert firsts == {"a": "path", "b": "childProcess", "c": "timeout"}
