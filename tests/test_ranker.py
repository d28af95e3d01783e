"""The learned ranker: its features, training on a real corpus, ONNX serving inside the engine, its refusal of a
mismatched file; and the candidate rules it relies on (no names from comments and strings)."""
from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest

from codecomp.engine import Engine
from codecomp.engine.ranker import FAR, FEATURES, INDEX, Ranker, RankerError, ablate

JS_MEMBERS = ("const foo = require('./foo.js');\n// helper.widget is old, see docs.page\n"
              "const msg = `total ${order.amount} in cart.items`;\n"
              "class Cart {\n  add(item) { this.count += 1; return this.")
CPP_MEMBERS = ('#include "util/path.h"\nstruct Box { int width; };\n// box.legacy is gone\n'
               'int area(Box b) { const char* s = "b.hidden"; return b.')


@pytest.fixture(scope="module")
def engine() -> Engine:
    eng = Engine.load(None)
    assert not getattr(eng, "problem", None)
    return eng


def _sources(engine: Engine, uri: str, text: str, lang: str) -> dict[str, str]:
    """label -> where the candidate came from, for the whole list at the end of `text`."""
    engine.open(uri, text, lang, 1)
    try:
        lines = text.split("\n")
        return {c.label: c.source for c in engine.complete(uri, len(lines) - 1, len(lines[-1]), max_items=10_000).items}
    finally:
        engine.close(uri)


def test_comments_and_strings_give_no_member_or_file_candidates(engine: Engine) -> None:
    # a word seen only in a string or a comment is never taken from the text; the model may still predict a
    # word of its vocabulary (the shipped one knows `h`, as in `x.h`)
    js = _sources(engine, "file:///cart.js", JS_MEMBERS, "javascript")
    assert "count" in js and "add" in js
    for word in ("js", "widget", "page", "helper", "docs"):
        assert js.get(word) in (None, "model"), (word, js.get(word))
    assert js.get("amount") not in (None, "model")   # `${order.amount}` is code inside a template literal
    cpp = _sources(engine, "file:///box.cpp", CPP_MEMBERS, "cpp")
    assert "width" in cpp
    for word in ("legacy", "hidden", "h"):
        assert cpp.get(word) in (None, "model"), (word, cpp.get(word))


def test_feature_rows_on_a_hand_made_case(engine: Engine) -> None:
    text = "let alpha = 1;\nlet beta = alpha + 2;\nlet gamma = al\nalpha = beta;\n"
    uri = "file:///f.js"
    engine.open(uri, text, "javascript", 1)
    try:
        labels, rows = engine.ranker_rows(uri, 2, len("let gamma = al"))
    finally:
        engine.close(uri)
    assert rows.shape == (len(labels), len(FEATURES)) and rows.dtype == np.float32
    row = rows[labels.index("alpha")]
    # distances are measured in the text without the word being typed (`al`): back to `alpha + 2`, on to the
    # `alpha` of the next line (only the newline in between)
    before = text.index("let gamma = al") + len("let gamma = ") - text.index("alpha + 2")
    after = text.index("alpha = beta") - (text.index("let gamma = al") + len("let gamma = al"))
    assert after == 1
    assert row[INDEX["log_dist_before"]] == pytest.approx(math.log1p(before))
    assert row[INDEX["log_dist_after"]] == pytest.approx(math.log1p(after))
    assert row[INDEX["log_file_count"]] == pytest.approx(math.log1p(3))
    assert row[INDEX["case_match"]] == 1.0 and row[INDEX["typed_length"]] == 2.0
    assert row[INDEX["length"]] == 5.0 and row[INDEX["subtokens"]] == 1.0
    assert row[INDEX["lang_cpp"]] == 0.0 and row[INDEX["op_dot"]] == 0.0
    assert sum(row[INDEX[f"source_{s}"]] for s in ("scope", "member", "file", "documents", "project", "model",
                                                     "copy", "keyword")) == 1.0
    assert row[INDEX["p_vocab"]] + row[INDEX["p_copy"]] > 0.0          # the model's two parts are filled
    assert row[INDEX["log_model_rank"]] < FAR
    assert np.all(ablate(rows, "model")[:, INDEX["p_vocab"]] == 0.0)


def test_distances_are_looked_for_in_a_window_around_the_cursor(engine: Engine) -> None:
    from codecomp.engine.candidates import NEAR_SPAN

    filler = "x0 = 0;\n" * (NEAR_SPAN // 8 + 10)      # more than a window of code between the far use and the cursor
    text = ("let farName = 1;\n" + filler + "let nearName = farName + 2;\nlet v = \n")
    uri = "file:///w.js"
    engine.open(uri, text, "javascript", 1)
    try:
        lines = text.split("\n")
        labels, rows = engine.ranker_rows(uri, len(lines) - 2, len("let v = "))
    finally:
        engine.close(uri)
    near, far = rows[labels.index("nearName")], rows[labels.index("farName")]
    assert near[INDEX["log_dist_before"]] < FAR and near[INDEX["log_dist_after"]] == FAR
    # farName's use on the line above is within the window; its declaration far above is not, yet it counts
    assert far[INDEX["log_file_count"]] == pytest.approx(math.log1p(2))
    assert far[INDEX["log_dist_before"]] < math.log1p(64)


def test_a_word_cut_by_the_window_edge_is_not_a_use() -> None:
    from codecomp.engine.candidates import nearby_uses
    from codecomp.engine.session import Document

    text = "abcdefgh = 1;\nvalue = \n"
    doc = Document("file:///e.js", text, "javascript", 1)
    cursor = len(text.encode()) - 1
    before, after, cut = nearby_uses(doc, cursor, span=cursor - 4)     # the window starts inside `abcdefgh`
    assert "efgh" not in before and "abcdefgh" not in before
    assert before["value"] == text.index("value") and not after
    whole, _, _ = nearby_uses(Document("file:///f.js", text, "javascript", 1), cursor)
    assert whole["abcdefgh"] == 0


def _without_rankers(artifact: Path) -> None:
    """Remove the learned rankers an artifact carries (the shipped one carries three)."""
    from codecomp.artifact import write_manifest

    manifest = json.loads((artifact / "manifest.json").read_text())
    slots = ("ranker", "ranker_file", "ranker_after")
    models = {k: v for k, v in manifest["models"].items() if k not in slots}
    for slot in slots:
        if slot in manifest["models"]:
            (artifact / manifest["models"][slot]["file"]).unlink()
    write_manifest(artifact, models, manifest["languages"], manifest.get("training"))


@pytest.fixture(scope="module")
def trained(fixture_corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    from training.ranker import train_ranker

    run = tmp_path_factory.mktemp("ranker-run")
    artifact = tmp_path_factory.mktemp("ranker-artifact") / "model"
    shutil.copytree(Path(__file__).resolve().parents[1] / "codecomp" / "default_model", artifact)
    _without_rankers(artifact)   # the ranker trained here must be the one that serves
    info = train_ranker(fixture_corpus, run, None, positions=120, install=artifact, progress=False,
                        log=lambda m: None)
    assert info["train_groups"] > 50 and info["valid_groups"] > 10
    return run, artifact


def test_training_writes_an_onnx_ranker_that_the_engine_serves(trained: tuple[Path, Path]) -> None:
    run, artifact = trained
    info = json.loads((run / "ranker.json").read_text())
    # the after-cursor columns are for the after-only ranker (`models.ranker_after`) alone
    assert info["features"] == list(FEATURES[:INDEX["project_after_lift"]]) and info["parity_max_abs_diff"] < 1e-3
    manifest = json.loads((artifact / "manifest.json").read_text())
    assert manifest["models"]["ranker"]["file"] == "ranker.onnx" and "ranker.onnx" in manifest["files"]
    eng = Engine.load(artifact)
    assert eng.ranker is not None and eng.ranker_problem is None
    src = "function total(items) {\n  let sum = 0;\n  for (const item of items) sum += item.price;\n  return s"
    eng.open("file:///t.js", src, "javascript", 1)
    res = eng.complete("file:///t.js", 3, len("  return s"), max_items=1000, fragment=False)
    labels, rows = eng.ranker_rows("file:///t.js", 3, len("  return s"))
    scores = dict(zip(labels, eng.ranker.score(rows).tolist()))
    served = [c.label for c in res.items]
    assert served[0] == "sum"
    # the list is ordered by match tier, then by the ranker's score
    tiers = {lab: int(rows[i, INDEX["match_tier"]]) for i, lab in enumerate(labels)}
    keys = [(tiers[lab], -scores[lab]) for lab in served]
    assert keys == sorted(keys)
    eng.use_ranker(False)
    mix = [c.label for c in eng.complete("file:///t.js", 3, len("  return s"), max_items=1000, fragment=False).items]
    assert sorted(mix) == sorted(served)   # the same candidates, ranked by the hand-set mix


def test_a_ranker_with_other_features_is_refused(trained: tuple[Path, Path], tmp_path: Path) -> None:
    import onnxruntime as ort

    run, artifact = trained
    session = ort.InferenceSession(str(run / "ranker.onnx"), providers=["CPUExecutionProvider"])
    with pytest.raises(RankerError, match="feature version"):
        Ranker(session, {"features": list(FEATURES[:-1]), "version": 1})
    broken = tmp_path / "model"
    shutil.copytree(artifact, broken)
    manifest = json.loads((broken / "manifest.json").read_text())
    manifest["models"]["ranker"]["features"] = ["something_else"]
    (broken / "manifest.json").write_text(json.dumps(manifest))
    eng = Engine.load(broken)
    assert eng.ranker is None and "retrain" in (eng.ranker_problem or "").lower()
    eng.open("file:///u.js", "let total = 1;\ntot", "javascript", 1)
    assert [c.label for c in eng.complete("file:///u.js", 1, 3).items][:1] == ["total"]   # the mix still ranks


def test_saved_features_of_several_runs_are_pooled(trained: tuple[Path, Path], tmp_path: Path) -> None:
    from training.ranker import Groups, train_ranker

    run, _ = trained
    one = Groups.load(run / "features-train.npz")
    pooled_run = tmp_path / "pooled"
    info = train_ranker(Path("unused"), pooled_run, None, features_from=[run, run], progress=False,
                        log=lambda m: None)
    assert info["train_groups"] == 2 * len(one.y)
    assert info["features_from"] == [str(run), str(run)]
    both = Groups.load(pooled_run / "features-train.npz")   # the pooled groups are saved for later re-fits
    assert len(both.y) == 2 * len(one.y) and both.missed == 2 * one.missed
    np.testing.assert_array_equal(both.x[len(one.y)], one.x[0])


def test_a_ranker_fitted_before_columns_were_appended_reads_the_columns_it_knows(trained: tuple[Path, Path],
                                                                                tmp_path: Path) -> None:
    import onnxruntime as ort

    from training.ranker import Groups, train_ranker

    run, _ = trained
    width = INDEX["project_after_lift"]   # rows saved before the after-context columns existed
    old = tmp_path / "old"
    old.mkdir()
    for split in ("train", "valid"):
        Groups.load(run / f"features-{split}.npz").narrowed(width).save(old / f"features-{split}.npz")
    refit = tmp_path / "refit"
    info = train_ranker(Path("unused"), refit, None, features_from=[old], progress=False, log=lambda m: None)
    assert info["features"] == list(FEATURES[:width])
    session = ort.InferenceSession(str(refit / "ranker.onnx"), providers=["CPUExecutionProvider"])
    ranker = Ranker(session, info)
    rows = Groups.load(run / "features-valid.npz").x[0]
    wide = rows.copy()
    wide[:, width:] = 123.0   # columns it does not know change nothing
    direct = session.run(None, {"features": np.ascontiguousarray(rows[:, :width])})[0].reshape(-1)
    np.testing.assert_allclose(ranker.score(wide), direct, rtol=1e-6)
    # sets of different widths are not pooled silently
    with pytest.raises(ValueError, match="different columns"):
        train_ranker(Path("unused"), tmp_path / "mixed", None, features_from=[old, run], progress=False,
                     log=lambda m: None)


def test_an_after_only_ranker_serves_where_code_follows_the_cursor_on_its_line(trained: tuple[Path, Path],
                                                                              tmp_path: Path) -> None:
    from codecomp.engine.workspace import WorkspaceIndex
    from training.ranker import Groups, train_ranker

    run, artifact = trained
    groups = Groups.load(run / "features-train.npz")
    known = INDEX["project_after_known"]
    groups.x[0] = groups.x[0].copy()
    groups.x[0][:, known] = 0.0     # a position with nothing after the cursor on its line
    kept = groups.with_code_after()
    assert len(kept.y) == len(groups.y) - 1 - sum(x[0, known] == 0 for x in groups.x[1:])
    assert kept.x[0] is groups.x[1] and all(x[0, known] == 1.0 for x in kept.x)
    kept = Groups.load(run / "features-train.npz").with_code_after()
    model = tmp_path / "model"
    shutil.copytree(artifact, model)
    info = train_ranker(Path("unused"), tmp_path / "after", None, features_from=[run], after_only=True,
                        install=model, progress=False, log=lambda m: None)
    assert info["after_only"] and info["train_groups"] == len(kept.y) and info["features"] == list(FEATURES)
    manifest = json.loads((model / "manifest.json").read_text())
    assert manifest["models"]["ranker_after"]["file"] == "ranker_after.onnx"
    eng = Engine.load(model)
    assert eng.ranker_after is not None and eng.ranker is not None and eng.ranker_problem is None
    project = tmp_path / "project"
    project.mkdir()
    (project / "lib.js").write_text("function load(store) {\n  store.open(1);\n  return store.size;\n}\n")
    index = WorkspaceIndex([project])
    index.build()
    eng.set_workspace(index)
    used: list[str] = []
    for slot in ("ranker", "ranker_after"):
        real = getattr(eng, slot)
        setattr(eng, slot, type("Recording", (), {"score": lambda self, x, r=real, s=slot: used.append(s) or r.score(x)})())
    uri = (project / "main.js").as_uri()
    eng.open(uri, "function run(store) {\n  let n = 0;\n   .open(2);\n  n\n}\n", "javascript", 1)
    eng.complete(uri, 2, 2, max_items=20, fragment=False)   # `.open(2);` follows on the line
    eng.complete(uri, 3, 3, max_items=20, fragment=False)   # nothing follows on the line
    assert used == ["ranker_after", "ranker"]


def test_a_file_only_ranker_serves_positions_without_project_evidence(trained: tuple[Path, Path],
                                                                        tmp_path: Path) -> None:
    from training.ranker import install_ranker

    run, artifact = trained
    file_run = tmp_path / "file-run"
    shutil.copytree(run, file_run)
    info = json.loads((file_run / "ranker.json").read_text())
    info["project_context"] = False
    (file_run / "ranker.json").write_text(json.dumps(info))
    both = tmp_path / "model"
    shutil.copytree(artifact, both)
    assert install_ranker(file_run, both) == "ranker_file"
    manifest = json.loads((both / "manifest.json").read_text())
    assert manifest["models"]["ranker_file"]["file"] == "ranker_file.onnx" and "ranker_file.onnx" in manifest["files"]
    eng = Engine.load(both)
    assert eng.ranker is not None and eng.ranker_file is not None

    class Spy:
        def __init__(self, inner) -> None:
            self.inner, self.calls = inner, 0

        def score(self, x):
            self.calls += 1
            return self.inner.score(x)

    eng.ranker, eng.ranker_file = Spy(eng.ranker), Spy(eng.ranker_file)
    eng.open("file:///lone.js", "let total = 1;\nlet t = tot", "javascript", 1)
    assert [c.label for c in eng.complete("file:///lone.js", 1, len("let t = tot")).items][:1] == ["total"]
    assert eng.ranker_file.calls == 1 and eng.ranker.calls == 0   # no workspace: the file-only ranker ranks


def test_preprocessor_directive_words_are_no_file_candidates(engine: Engine) -> None:
    """`#endif`, `#ifdef`, `#include`, `#pragma` and `defined` are no names of the code (they were offered as file
    words); a real identifier spelled the same, and the macro names of those lines, still are."""
    text = ('#include "box.h"\n#ifdef USE_BOX\n#pragma once\n#endif\n#if defined(HAVE_X)\n#endif\n'
            "int include = 1;\nvoid f() {\n  ")
    cpp = _sources(engine, "file:///pp.cpp", text, "cpp")
    for word in ("endif", "ifdef", "pragma", "defined"):  # (the model may still copy a token it read)
        assert cpp.get(word) not in ("file", "scope", "project"), (word, cpp.get(word))
    assert cpp.get("include") not in (None, "model") and cpp.get("USE_BOX") not in (None, "model")
    assert cpp.get("HAVE_X") not in (None, "model")


def test_names_never_used_as_members_come_after_the_receiver_types_members() -> None:
    from codecomp.engine.ranker import receiver_order

    x = np.zeros((3, len(FEATURES)), dtype=np.float32)
    x[:, INDEX["op_dot"]] = 1.0
    x[0, INDEX["typed_member"]] = 1.0   # declared by the receiver's type
    x[1, INDEX["member"]] = 1.0         # used as a member in the file
    x[2, INDEX["non_member"]] = 1.0     # never used as a member: the enclosing function's name, say
    scores = np.array([0.5, -2.0, 9.0], dtype=np.float32)
    out = receiver_order(x, scores)
    assert list(np.argsort(-out)) == [0, 1, 2] and out.dtype == np.float32
    assert out[0] == scores[0] and out[1] == scores[1]
    no_type = x.copy()
    no_type[:, INDEX["typed_member"]] = 0.0   # the receiver's type unknown: the ranker's order stands
    assert np.array_equal(receiver_order(no_type, scores), scores)
    scope = x.copy()
    scope[:, INDEX["op_dot"]] = 0.0           # not a member access
    assert np.array_equal(receiver_order(scope, scores), scores)
