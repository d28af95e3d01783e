"""The evaluation harness end to end on the fixture corpus (quick mode), plus its document handling."""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from codecomp.engine import Engine
from codecomp.eval.documents import FileDoc, Query, utf16_position
from codecomp.eval.engine_system import EngineSystem, first_token
from codecomp.eval.harness import (EvalError, EvalOptions, run_evaluation, sample_identifier_positions,
                                   sample_keystroke_windows, sample_line_positions, sample_token_positions)
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


def _pooled_n(task: dict, system: str, group: str) -> int:
    return task["pooled"][system][group]["n"]


def test_quick_evaluation_end_to_end(quick_report: tuple[dict, Path], fixture_corpus: Path) -> None:
    report, out = quick_report
    meta, tasks = report["meta"], report["tasks"]
    assert meta["projects"] == sorted(meta["files_per_project"]) and meta["split"] == "test"
    assert sum(meta["files_per_project"].values()) == meta["files"] > 0
    ident = tasks["identifiers"]
    names = set(ident["systems"])
    assert {"engine", "unigram", "ngram4-kn", "ngram4-kn+cache", "recency", "file-frequency"} <= names
    # every system is scored on the same positions, and the records hold exactly those positions
    counts = {n: r["all"]["all"]["t0"]["n"] for n, r in ident["systems"].items()}
    assert set(counts.values()) == {ident["positions"]} and ident["positions"] == len(ident["records"]["file"])
    assert ident["sampling"]["positions"] == ident["positions"]
    assert sum(v["drawn"] for v in ident["sampling"]["projects"].values()) == ident["positions"]
    for task in ("tokens", "lines", "keystrokes"):
        assert "engine" in tasks[task]["systems"] and "ngram4-kn+cache" in tasks[task]["systems"]
    # characters to type depend on the text only: the same for every system, and the records' weights
    ks = tasks["keystrokes"]
    assert {r["all"]["typed"] for r in ks["systems"].values()} == {sum(ks["records"]["weights"]["keys"])}
    # the engine is called once per identifier position and typed length asked
    asked = sum(sum(w) for w in ident["records"]["weights"].values())
    assert tasks["latency"]["identifiers"]["n"] == asked
    assert tasks["latency"]["typing"]["n"] > 0      # identifiers typed one character at a time
    assert "skipped" in tasks["char"]           # the fallback engine has no artifact to read a char model from
    assert tasks["naming"]["systems"]["most-frequent-name"]["n"] == tasks["naming"]["positions"] > 0
    assert "seconds" in report and "seconds" not in meta and "train_seconds" not in json.dumps(meta)
    md = (out / "report.md").read_text()
    assert "| system | top-1 (0)" in md and "ngram4-kn+cache" in md
    # figures measured before stand in their own table after the JavaScript identifier table, never among its rows
    js = md.split("### Identifier completion, JavaScript", 1)[1].split("###", 1)[0]
    measured, refs = js.split("Reference figures (not measured in this run)", 1)
    assert "typescript-language-server" not in measured and "33.7" not in measured
    assert "typescript-language-server" in refs and "33.7" in refs
    cpp = md.split("### Identifier completion, C++", 1)[1].split("###", 1)[0]
    assert "clangd" not in md.replace(cpp, "") and "clangd" in cpp.split("Reference figures", 1)[1]
    assert "CodeXGLUE" not in md and "JSNice" not in md   # other languages and datasets: never shown
    assert "By project" in md and "engine minus" in md and "stratified by project" in md
    for png in ("identifiers_by_typed.png", "latency_hist.png"):
        assert (out / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


GROUPS = {"identifiers": ("t0", "t1", "t2", "t3"), "tokens": ("token",), "lines": ("line",),
          "keystrokes": ("keys",), "naming": ("name",)}
HEADLINE = {"identifiers": "top1", "tokens": "accuracy", "lines": "exact_match", "keystrokes": "saved_percent",
            "naming": "exact"}


def _classic(name: str, row: dict) -> tuple[int | None, float]:
    """(n, headline figure) of a system in the per-system tables the report always had."""
    if name == "identifiers":
        return row["all"]["all"]["t0"]["n"], row["all"]["all"]["t0"]["top1"]
    if name == "naming":
        return row["n"], row["exact"]
    if name == "keystrokes":
        return None, row["all"]["saved_percent"]
    return row["all"]["n"], row["all"][HEADLINE[name]]


def test_report_per_project_rows_add_up_to_the_pooled_figures(quick_report: tuple[dict, Path]) -> None:
    """Per-project n sum to the pooled n, pooled figures match the per-system tables, macro is the mean."""
    from codecomp.eval.records import TaskRecords

    tasks = quick_report[0]["tasks"]
    for name, groups in GROUPS.items():
        task = tasks[name]
        rec = TaskRecords.from_json(task["records"])
        assert len(set(rec.projects)) == len(task["sampling"]["projects"]) >= 2
        for system in task["by_project"]:
            for group in groups:
                per = [r[group] for r in task["by_project"][system].values() if group in r]
                pooled = task["pooled"][system][group]
                assert sum(r["n"] for r in per) == pooled["n"]
                fields = [f for f in pooled if f != "n"]
                for field in fields:
                    mean = sum(r[field] for r in per) / len(per)
                    assert task["macro"][system][group][field] == pytest.approx(mean)
                assert rec.pooled(system)[group] == pytest.approx(pooled)     # re-done from the records
            n, headline = _classic(name, task["systems"][system])
            assert task["pooled"][system][groups[0]][HEADLINE[name]] == pytest.approx(headline)
            if n is not None:
                assert task["pooled"][system][groups[0]]["n"] == n
        if "engine" in task["by_project"]:
            compared = {c["b"] for c in task["comparisons"] if c["a"] == "engine"}
            assert compared == set(task["by_project"]) - {"engine"}
    ident = {(c["b"], c["metric"]) for c in tasks["identifiers"]["comparisons"]}
    for metric in ("t0.top1", "t0.top5", "t0.mrr10", "t1.top1", "t1.top5", "t1.mrr10"):
        assert ("ngram4-kn+cache", metric) in ident
    for c in tasks["identifiers"]["comparisons"]:
        assert c["excludes_zero"] == (c["low"] > 0 or c["high"] < 0)


def _doc(project: str, path: str, identifiers: int, lang: str = "javascript") -> FileDoc:
    """A synthetic document: ``identifiers`` lines ``x0 = 1;`` (one identifier, three other tokens each)."""
    text = "".join(f"x{k} = 1;\n" for k in range(identifiers))
    tokens, kinds, starts, lines = [], [], [], []
    off = 0
    for k in range(identifiers):
        for tok, kind in ((f"x{k}", 0), ("=", 4), ("1", 2), (";", 5)):
            starts.append(text.index(tok, off))
            off = starts[-1] + len(tok)
            tokens.append(tok)
            kinds.append(kind)
            lines.append(k)
    return FileDoc(project, path, lang, text, tokens, kinds, starts, lines, list(range(len(tokens))))


def _skewed_docs(small_files: int) -> list[FileDoc]:
    """Project "big": 20 files of 100 identifiers; "a", "b", "c": ``small_files`` files of 10 (100x fewer)."""
    docs = [_doc("big", f"f{i:02d}.js", 100) for i in range(20)]
    for p in ("a", "b", "c"):
        docs += [_doc(p, f"s{i}.js", 10) for i in range(small_files)]
    return docs


def _picked(docs: list[FileDoc], picks: list[tuple[int, int]]) -> list[tuple[str, str, int]]:
    return sorted((docs[d].project, docs[d].path, i) for d, i in picks)


def test_stratified_positions_give_every_project_its_share() -> None:
    from collections import Counter

    docs = _skewed_docs(small_files=4)           # every project can fill an equal share of 15
    sample = sample_identifier_positions(docs, 60, seed=1)
    assert sample.share == 15 and sample.cap == 5             # max(5, 15 // 4)
    assert Counter(docs[d].project for d, _ in sample.picks) == {"a": 15, "b": 15, "c": 15, "big": 15}
    assert max(Counter(d for d, _ in sample.picks).values()) <= 5
    assert all(docs[d].kinds[i] == 0 for d, i in sample.picks)
    assert len(set(sample.picks)) == 60                       # without replacement


def test_stratified_positions_redistribute_what_small_projects_lack() -> None:
    from collections import Counter

    docs = _skewed_docs(small_files=2)           # a, b, c: 2 files x cap 5 = 10 usable each, share 15
    sample = sample_identifier_positions(docs, 60, seed=1)
    assert Counter(docs[d].project for d, _ in sample.picks) == {"a": 10, "b": 10, "c": 10, "big": 30}
    assert sample.projects["a"] == {"files": 2, "eligible": 20, "usable": 10, "drawn": 10}
    assert max(Counter(d for d, _ in sample.picks).values()) == 5
    # inside "big", 30 positions over 20 files under a cap of 5: more than one file is used
    assert len({d for d, _ in sample.picks if docs[d].project == "big"}) >= 6


def test_stratified_positions_are_deterministic_and_order_free() -> None:
    import random

    docs = _skewed_docs(small_files=3)
    a = sample_identifier_positions(docs, 40, seed=1).picks
    assert a == sample_identifier_positions(docs, 40, seed=1).picks
    assert a != sample_identifier_positions(docs, 40, seed=2).picks
    shuffled = list(docs)
    random.Random(5).shuffle(shuffled)
    assert _picked(docs, a) == _picked(shuffled, sample_identifier_positions(shuffled, 40, seed=1).picks)
    # the other samplers follow the same rule
    lines = sample_line_positions(docs, 40, seed=1)
    assert _picked(docs, lines.picks) == _picked(shuffled, sample_line_positions(shuffled, 40, seed=1).picks)
    assert all(i > 0 and docs[d].lines[i] == docs[d].lines[i - 1] for d, i in lines.picks)
    toks = sample_token_positions(docs, 40, seed=1)
    assert {docs[d].project for d, _ in toks.picks} == {"a", "b", "c", "big"} and len(toks.picks) == 40


def test_stratified_positions_do_not_depend_on_the_hash_seed() -> None:
    """Two interpreters with different string hashing draw the same positions."""
    import os
    import subprocess
    import sys

    code = ("import sys; sys.path.insert(0, 'tests'); from test_eval_harness import _skewed_docs; "
            "from codecomp.eval.harness import sample_identifier_positions, sample_keystroke_windows; "
            "d = _skewed_docs(3); print(sample_identifier_positions(d, 50, 4).picks, "
            "sample_keystroke_windows(d, 9, 3, 4)[0])")
    outs = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                           env={**os.environ, "PYTHONHASHSEED": h}, cwd=Path(__file__).resolve().parents[1]).stdout
            for h in ("1", "2")}
    assert len(outs) == 1 and "(" in next(iter(outs))


def test_keystroke_windows_are_stratified_one_per_file() -> None:
    from collections import Counter

    docs = _skewed_docs(small_files=2)
    windows, sample = sample_keystroke_windows(docs, 8, 3, seed=0)
    assert sample.cap == 1
    assert Counter(docs[d].project for d, _, _ in windows) == {"a": 2, "b": 2, "c": 2, "big": 2}
    assert len({d for d, _, _ in windows}) == 8
    for d, s, e in windows:
        # three code lines, or what is left of the file
        assert docs[d].lines[e - 1] - docs[d].lines[s] == min(2, docs[d].lines[-1] - docs[d].lines[s])
        assert e == len(docs[d].tokens) or docs[d].lines[e] == docs[d].lines[s] + 3


def test_equal_shares_water_filling() -> None:
    from codecomp.eval.sampling import equal_shares, stratified_files

    assert equal_shares({"a": 2, "b": 100, "c": 100}, 50, 0, "t") == {"a": 2, "b": 24, "c": 24}
    odd = equal_shares({"a": 2, "b": 100, "c": 100}, 51, 0, "t")
    assert odd["a"] == 2 and sorted((odd["b"], odd["c"])) == [24, 25]
    assert equal_shares({"a": 2, "b": 3}, 50, 0, "t") == {"a": 2, "b": 3}     # not enough: everything
    assert equal_shares({"a": 0, "b": 9}, 4, 0, "t") == {"a": 0, "b": 4}
    # file sampling: 1, 10 and 100 files, 12 wanted -> 1, then 5 or 6 each for the others
    projects = ["p1"] + ["p2"] * 10 + ["p3"] * 100
    chosen = stratified_files(projects, [str(i) for i in range(len(projects))], 12, seed=0)
    got = sorted(sum(projects[i] == p for i in chosen) for p in ("p2", "p3"))
    assert len(chosen) == 12 and 0 in chosen and got == [5, 6]


def test_records_per_project_and_macro_on_a_hand_made_case() -> None:
    from codecomp.eval.records import TaskRecords

    docs = [_doc("p", "one.js", 2), _doc("p", "two.js", 2), _doc("q", "q.js", 2)]
    rec = TaskRecords.of_docs(docs, [(0, 0), (0, 4), (1, 0), (2, 0), (2, 4)])
    assert rec.files == ["p/one.js", "p/two.js", "q/q.js"] and rec.file == [0, 0, 1, 2, 2]
    rec.add_group("t1", [1, 1, 0, 1, 1], {"top1": 100.0, "mrr10": 1.0})
    rec.set("engine", "t1", "top1", [1, 0, 0, 1, 1])
    rec.set("engine", "t1", "mrr10", [1, 0.5, 0, 1, 1])
    rec.set("base", "t1", "top1", [0, 0, 1, 1, 0])
    rec.set("base", "t1", "mrr10", [0.5, 0, 1, 1, 0.25])
    by = rec.by_project("engine")
    assert by["p"]["t1"] == {"n": 2, "top1": 50.0, "mrr10": 0.75}    # the unasked position of two.js left out
    assert by["q"]["t1"] == {"n": 2, "top1": 100.0, "mrr10": 1.0}
    assert rec.pooled("engine")["t1"] == {"n": 4, "top1": 75.0, "mrr10": 0.875}
    assert rec.macro("engine")["t1"] == {"projects": 2, "top1": 75.0, "mrr10": 0.875}
    assert rec.macro("base")["t1"]["top1"] == pytest.approx((0 + 50) / 2)
    assert rec.pooled("base")["t1"]["top1"] == pytest.approx(25.0)
    comps = {c["metric"]: c for c in rec.compare("engine", "base", seed=0)}
    # two.js has no asked position, so only two files take part in the bootstrap
    assert comps["t1.top1"]["diff"] == pytest.approx(50.0) and comps["t1.top1"]["files"] == 2
    assert TaskRecords.from_json(json.loads(json.dumps(rec.to_json()))).by_project("base") == rec.by_project("base")


class _Oracle:
    """A system that always proposes the whole rest of the window (or, with ``word_only``, the current token)."""

    name = "oracle"
    tasks = frozenset({"keystrokes"})

    def __init__(self, end_c: int, word_only: bool) -> None:
        self.end_c, self.word_only = end_c, word_only

    def suggestions(self, q: Query) -> tuple[str | None, str | None]:
        if self.word_only:
            return q.target, None
        return None, q.typed + q.doc.text[q.cursor:self.end_c]


def test_simulated_typing_hand_computed() -> None:
    from codecomp.eval.harness import layout_mask, simulate_typing

    doc = FileDoc.from_row(row_of("foo = barbaz;\n", "javascript"))
    # foo: accepted at its first character (saves 3 - 1); "=" and ";" are one character (nothing to save);
    # barbaz saves 6 - 1; 13 characters to type, 4 calls (f, =, b, ;)
    assert simulate_typing(_Oracle(0, True), doc, 0, len(doc.tokens)) == (7, 13, 4)
    src = "a = 1;\n    bb = 2;\n"
    doc = FileDoc.from_row(row_of(src, "javascript"))
    assert layout_mask("a;\n  b") == [True, True, True, False, False, True]
    # accepting everything at once covers 14 typed characters (the 4 indentation spaces are not typed): 13 saved
    assert simulate_typing(_Oracle(len(src) - 1, False), doc, 0, len(doc.tokens)) == (13, 14, 1)
    # a comment is not counted as characters to type (its newline is): "a = 1;" + "\n" + "b = 2;" = 13;
    # all eight tokens are one character long, so nothing is saved, and each is asked once
    doc = FileDoc.from_row(row_of("a = 1; // a long note\n/* more */ b = 2;\n", "javascript"))
    assert simulate_typing(_Oracle(0, True), doc, 0, len(doc.tokens)) == (0, 13, 8)


class _FakeByteModel:
    """A byte model without weights: uniform, or (``peaked``) 7x more likely to repeat the previous byte."""

    def __init__(self, peaked: bool) -> None:
        self.peaked = peaked

    def zero_state(self, batch: int) -> tuple[np.ndarray, np.ndarray]:
        return np.zeros((batch, 1)), np.zeros((batch, 1))

    def step(self, prev: np.ndarray, h: np.ndarray, c: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        logits = np.zeros((len(prev), 259))
        if self.peaked:
            logits[np.arange(len(prev)), prev] = np.log(7.0)
        return logits, h, c


def test_char_bits_hand_computed() -> None:
    from codecomp.eval.harness import char_model_nats

    uniform = char_model_nats(_FakeByteModel(False), [b"abc", b"x"])
    assert uniform == pytest.approx([3 * math.log(259), math.log(259)])
    # peaked: p(repeat) = 7 / 265, p(other) = 1 / 265.  "aab": a (1/265), a (7/265), b (1/265)
    chunks = [b"aab", b"zz", b"q"]
    batched = char_model_nats(_FakeByteModel(True), chunks)
    assert batched[0] == pytest.approx(-math.log(1 / 265) * 2 - math.log(7 / 265))
    # chunks of different lengths stepped together give what each gives alone
    alone = [char_model_nats(_FakeByteModel(True), [c])[0] for c in chunks]
    assert batched == pytest.approx(alone)


def test_eval_files_are_stratified_by_project(fixture_corpus: Path) -> None:
    from codecomp.eval.harness import docs_of, load_split

    every = docs_of(load_split(fixture_corpus, "test"))
    projects = sorted({d.project for d in every})
    some = docs_of(load_split(fixture_corpus, "test", limit=len(projects), seed=0))
    assert sorted(d.project for d in some) == projects          # one file per project, none crowded out
    assert [(d.project, d.path) for d in every] == sorted((d.project, d.path) for d in every)


def test_two_runs_with_different_hash_seeds_give_the_same_report(fixture_corpus: Path, tmp_path: Path) -> None:
    """report.json depends on the corpus, the model and the seed only (timing keys aside)."""
    import os
    import subprocess
    import sys

    reports = []
    for h in ("11", "12"):
        out = tmp_path / f"r{h}"
        subprocess.run([sys.executable, "-m", "codecomp", "eval", "--corpus", str(fixture_corpus), "--out", str(out),
                        "--quick", "--no-progress", "--model", str(tmp_path), "--tasks",
                        "identifiers,tokens,lines,keystrokes,naming"], check=True, capture_output=True,
                       env={**os.environ, "PYTHONHASHSEED": h})
        report = json.loads((out / "report.json").read_text())
        for key in ("seconds", "written"):
            report.pop(key)
        reports.append(report)
    assert reports[0] == reports[1]


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
    # the figure is the artifact's char model read over the chunks the harness draws (the arithmetic itself is
    # checked on hand-computed cases in test_char_bits_hand_computed)
    from codecomp.artifact import load as load_artifact
    from codecomp.engine.models import CharModel
    from codecomp.eval.harness import char_chunks, char_model_nats, docs_of, load_split

    chunks = char_chunks(docs_of(load_split(fixture_corpus, "test")), opts.char_bytes, opts.seed)
    assert ch["chunks"] == len(chunks) and ch["bytes"] == sum(len(c) for c in chunks)
    nats = char_model_nats(CharModel(load_artifact(art)), chunks)
    assert ch["bits_per_byte"] == pytest.approx(nats.sum() / math.log(2) / ch["bytes"])
    assert result.meta["vocabulary_split"] == "the model's token vocabulary"
    tok = result.tasks["tokens"]["systems"]
    assert tok["engine"]["all"]["n"] == tok["engine-model"]["all"]["n"] == tok["ngram4-kn"]["all"]["n"] > 0
    naming = result.tasks["naming"]
    assert naming["systems"]["engine"]["n"] == naming["systems"]["most-frequent-name"]["n"] == naming["positions"] > 0
    assert {c["b"] for c in naming["comparisons"]} == {"most-frequent-name"}
    assert "engine-model" in result.tasks["tokens"]["by_project"]
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


def test_report_json_keeps_number_lists_on_one_line_and_strings_intact() -> None:
    from codecomp.eval.report import dumps_compact

    data = {"values": [1, 0.5, -3e-05, 0], "code": "x = a[\n 1 ,2 ];", "nested": [[1, 2], [3]], "names": ["a"]}
    text = dumps_compact(data)
    assert json.loads(text) == data
    assert '"values": [1, 0.5, -3e-05, 0]' in text


def test_a_corpus_of_held_out_projects_only_takes_its_baselines_from_another(fixture_corpus: Path,
                                                                                 tmp_path: Path) -> None:
    """A validation-only corpus (no train split, as corpora/cpp-valid-extra.toml) is evaluated with the baselines
    trained on another corpus's train split; without one, a message says what to do."""
    from codecomp.cli import app
    from codecomp.corpus.build import build_corpus

    recipe = tmp_path / "held-out.toml"
    recipe.write_text(
        'name = "held-out"\nlanguages = ["cpp", "javascript"]\n[limits]\nmin_tokens = 10\nsplit = [0.0, 1.0, 0.0]\n'
        'seed = 1\n[split]\nvalid = ["colorkit", "geometry", "inifile", "ringbuffer", "router", "tasklist",\n'
        '"textstats", "wordfreq"]\n[[source]]\nkind = "folder"\nname = "fixtures"\n'
        f'path = "{(Path(__file__).resolve().parents[1] / "corpora" / "fixtures").as_posix()}"\nper_subfolder = true\n', encoding="utf-8")
    corpus = tmp_path / "corpus"
    build_corpus(recipe, corpus, workers=1)
    runner = CliRunner()
    args = ["eval", "--corpus", str(corpus), "--split", "valid", "--quick", "--tasks", "identifiers",
            "--no-progress", "--file-only", "--model", str(tmp_path)]
    bad = runner.invoke(app, args + ["--out", str(tmp_path / "x")])
    assert bad.exit_code != 0 and "--baselines-from" in bad.output
    res = runner.invoke(app, args + ["--out", str(tmp_path / "r"), "--baselines-from", str(fixture_corpus)])
    assert res.exit_code == 0, res.output
    report = json.loads((tmp_path / "r" / "report.json").read_text())
    assert report["tasks"]["identifiers"]["positions"] > 0 and report["meta"]["baselines"]
