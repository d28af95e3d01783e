"""Project context in the engine: `Engine.set_workspace(WorkspaceIndex)`, the "project" candidate source, the
project's scoring columns, freshness of open documents, and the evaluation / tuning adapters."""
from __future__ import annotations

from pathlib import Path

import pytest

from codecomp.engine import Engine, FallbackEngine
from codecomp.engine.candidates import SOURCE_ORDER
from codecomp.engine.core import uri_to_path
from codecomp.engine.scoring import F_PROJECT, F_RELATED, F_TYPED, N_FEATURES, WEIGHTS, combine
from codecomp.engine.workspace import WorkspaceIndex

WIDGET_H = """#pragma once
namespace ui {
class Widget {
 public:
  void resizeTo(int width, int height);
  bool isVisibleNow() const;
  int borderWidth;
};
}
int computeLayoutScore(const ui::Widget& w);
"""
UTIL_JS = """function formatCurrency(x) { return x.toFixed(2); }
function parseQuantity(s) { return Number(s); }
module.exports = { formatCurrency, parseQuantity };
"""


def write(root: Path, rel: str, text: str) -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def engine() -> Engine:
    eng = Engine.load(None)
    assert not getattr(eng, "problem", None), eng.problem
    return eng


@pytest.fixture()
def project(tmp_path: Path) -> tuple[Path, WorkspaceIndex]:
    write(tmp_path, "include/widget.h", WIDGET_H)
    write(tmp_path, "src/util.js", UTIL_JS)
    write(tmp_path, "src/other.cpp", '#include "../include/widget.h"\nvoid g(ui::Widget* p) { p->repaintAll(); }\n')
    index = WorkspaceIndex([tmp_path])
    index.build()
    return tmp_path, index


def complete_at_end(engine, uri: str, text: str, lang: str, max_items: int = 200):
    engine.open(uri, text, lang, 1)
    lines = text.split("\n")
    try:
        return engine.complete(uri, len(lines) - 1, len(lines[-1].encode("utf-16-le")) // 2, max_items=max_items,
                               fragment=False)
    finally:
        engine.close(uri)


def test_uri_to_path() -> None:
    assert uri_to_path("file:///home/u/a%20b.cpp") == "/home/u/a b.cpp"
    assert uri_to_path("file://localhost/x.js") == "/x.js"
    assert uri_to_path("untitled:Untitled-1") is None and uri_to_path("https://example.com/a.js") is None
    assert SOURCE_ORDER.index("documents") + 1 == SOURCE_ORDER.index("project")


@pytest.mark.parametrize("make", [lambda: Engine.load(None), lambda: FallbackEngine()])
def test_member_of_a_type_declared_in_an_included_header(make, project) -> None:
    root, index = project
    eng = make()
    eng.set_workspace(index)
    text = '#include "../include/widget.h"\nvoid paint() {\n  ui::Widget w;\n  w.'
    res = complete_at_end(eng, (root / "src/main.cpp").as_uri(), text, "cpp")
    by_label = {c.label: c for c in res.items}
    assert {"resizeTo", "isVisibleNow", "borderWidth"} <= set(by_label)
    assert by_label["resizeTo"].source == "member" and by_label["resizeTo"].kind == "function"
    if isinstance(eng, Engine):  # with the model, declared members of the receiver's type come first
        assert {c.label for c in res.items[:3]} == {"resizeTo", "isVisibleNow", "borderWidth"}
    assert "project" in res.timings


def test_exports_of_a_required_module(engine, project) -> None:
    root, index = project
    engine.set_workspace(index)
    text = "const u = require('./util');\nfunction total(items) {\n  return u."
    res = complete_at_end(engine, (root / "src/app.js").as_uri(), text, "javascript")
    assert {"formatCurrency", "parseQuantity"} <= {c.label for c in res.items[:5]}
    engine.set_workspace(None)


def test_project_identifiers_and_used_members(engine, project) -> None:
    root, index = project
    engine.set_workspace(index)
    uri = (root / "src/main.cpp").as_uri()
    text = '#include "../include/widget.h"\nint s = comp'
    res = complete_at_end(engine, uri, text, "cpp")
    assert res.items and res.items[0].label == "computeLayoutScore"
    assert res.items[0].source == "project" and res.items[0].kind == "function"
    # `repaintAll` is only seen used after `p->` in another file: offered at `p->` as a project member
    text = '#include "../include/widget.h"\nvoid h(ui::Widget* p) {\n  p->'
    labels = {c.label: c.source for c in complete_at_end(engine, uri, text, "cpp").items}
    assert labels.get("repaintAll") == "project" and labels.get("resizeTo") == "member"
    # the features: the typed-member flag and the related flag are set, the project's probability is filled
    engine.open(uri, text, "cpp", 1)
    try:
        feats = engine.candidate_features(uri, 2, 5).candidates
    finally:
        engine.close(uri)
    assert all(len(f) == N_FEATURES for _, f in feats.values())
    assert feats["resizeTo"][1][F_TYPED] == 1.0 and feats["repaintAll"][1][F_TYPED] == 0.0
    assert feats["repaintAll"][1][F_PROJECT] > 0.0
    text = '#include "../include/widget.h"\nint s = comp'
    engine.open(uri, text, "cpp", 1)
    try:
        feats = engine.candidate_features(uri, 1, 12).candidates
    finally:
        engine.close(uri)
    assert feats["computeLayoutScore"][1][F_RELATED] == 1.0
    engine.set_workspace(None)


def test_no_project_context_without_a_file_uri_or_an_index(engine, project) -> None:
    root, index = project
    text = '#include "../include/widget.h"\nint s = comp'
    assert "computeLayoutScore" not in {c.label for c in complete_at_end(engine, (root / "src/m.cpp").as_uri(),
                                                                          text, "cpp").items}
    engine.set_workspace(index)
    try:
        assert "computeLayoutScore" not in {c.label for c in complete_at_end(engine, "untitled:Untitled-1", text,
                                                                              "cpp").items}
    finally:
        engine.set_workspace(None)


def test_the_index_copy_of_an_open_document_never_brings_back_a_deleted_name(engine, tmp_path: Path) -> None:
    """Edits reach the index only on `sync_workspace`; until then its copy of the document is stale, and a name
    deleted from the document must not come back from it (neither as an identifier nor as a member)."""
    path = write(tmp_path, "a.js", "")
    write(tmp_path, "b.js", "const box = {};\nbox.sharedMember = 1;\n")
    index = WorkspaceIndex([tmp_path])
    index.build()
    engine.set_workspace(index)
    uri = path.as_uri()
    text = "const box = {};\nbox.qzOldMember = 1;\nlet zqOldName = 2;\nbox."
    engine.open(uri, text, "javascript", 1)
    try:
        assert "qzOldMember" in {c.label for c in engine.complete(uri, 3, 4, max_items=500, fragment=False).items}
        deleted = "const box = {};\nbox."
        engine.change(uri, deleted, 2)
        got = {c.label for c in engine.complete(uri, 1, 4, max_items=500, fragment=False).items}
        assert "qzOldMember" not in got and "sharedMember" in got
        engine.change(uri, "const box = {};\nlet v = zq", 3)
        assert "zqOldName" not in {c.label for c in engine.complete(uri, 1, 10, max_items=500, fragment=False).items}
        # other documents see the edited text once it is handed over
        assert engine.sync_workspace() == 1
        other = (tmp_path / "c.js").as_uri()
        res = complete_at_end(engine, other, "box.", "javascript")
        assert "qzOldMember" not in {c.label for c in res.items}
    finally:
        engine.close(uri)
        engine.set_workspace(None)


def test_results_are_a_function_of_text_cursor_and_index(engine, project) -> None:
    root, index = project
    engine.set_workspace(index)
    uri = (root / "src/main.cpp").as_uri()
    text = '#include "../include/widget.h"\nvoid paint() {\n  ui::Widget w;\n  w.'
    first = [(c.label, c.score) for c in complete_at_end(engine, uri, text, "cpp").items]
    engine.open(uri, text, "cpp", 1)
    try:
        engine.change(uri, text + "res", 2)                  # typing a word reuses the lookups ...
        engine.change(uri, text, 3)
        again = [(c.label, c.score) for c in engine.complete(uri, 3, 4, max_items=200, fragment=False).items]
    finally:
        engine.close(uri)
        engine.set_workspace(None)
    assert again == first


def test_weights_without_a_project_leave_the_file_only_order() -> None:
    """With the project's columns at zero, the project weights scale every candidate alike."""
    rows = [(0.2, 0.1, 0.0, 1.0, 0.0, 0.0, 0.0, 0.7, 0.0) + (0.0,) * 4,
            (0.1, 0.3, 0.01, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0) + (0.0,) * 4]
    from dataclasses import replace

    no_project = replace(WEIGHTS, project=0.0)
    for n in (10, 500):
        a = [combine(r, n, True, WEIGHTS) for r in rows]
        b = [combine(r, n, True, no_project) for r in rows]
        assert (a[0] > a[1]) == (b[0] > b[1])


def test_evaluation_workspaces_hold_the_projects_other_files(engine, fixture_corpus: Path) -> None:
    from codecomp.eval.documents import Query
    from codecomp.eval.harness import docs_of, load_split
    from codecomp.eval.project_context import ProjectEngineSystem, ProjectWorkspaces, found_summary, target_kind

    docs = docs_of(load_split(fixture_corpus, "valid", None, 0))
    workspaces = ProjectWorkspaces(docs)
    try:
        system = ProjectEngineSystem(Engine.load(None), workspaces)
        system.task = "identifiers"
        doc = max(docs, key=lambda d: len(workspaces.by_project[d.project]))
        i = next(k for k, t in enumerate(doc.tokens) if doc.kinds[k] == 0 and k > 10)
        system.start_file(doc)
        ranked = system.rank(Query(doc, i, "", "blank"), 10)
        index = workspaces.index_for(doc.project)
        assert system.engine.workspace is index
        assert len(index.files) == len(workspaces.by_project[doc.project])
        assert len(ranked) <= 10 and target_kind(doc, i) in ("plain", "member", "type")
        summary = found_summary([system])["systems"][system.name]["t0"]["all"]
        assert summary["n"] == 1
    finally:
        workspaces.cleanup()
    assert not workspaces.root.exists()


def _module(name: str, salt: int) -> str:
    body = "".join(f"function {name}Part{i}(items) {{\n  const kept = items.filter((x) => x % {i + 2 + salt} === 0);\n"
                   f"  return kept.length > {i + salt} ? kept : null;\n}}\n" for i in range(3))
    return body + f"module.exports = {{ {', '.join(f'{name}Part{i}' for i in range(3))} }};\n"


def test_whole_project_workspaces_hold_the_files_the_budget_cut(engine, tmp_path: Path) -> None:
    """A corpus with a per-project token budget keeps part of a project; the same recipe built with
    `--max-tokens-per-project 0` keeps all of it, and its copy of the project is the evaluation's workspace:
    names declared only in the cut files are offered, and a corpus that does not match is refused."""
    from typer.testing import CliRunner

    from codecomp.cli import app
    from codecomp.eval.harness import docs_of, load_split
    from codecomp.eval.project_context import ProjectWorkspaces, whole_projects

    for p, n in (("big", 6), ("other", 2)):
        for i in range(n):
            write(tmp_path, f"projects/{p}/m{i}.js", _module(f"{p}{i}zq", 10 * i))
    recipe = write(tmp_path, "recipe.toml", """name = "whole"
languages = ["javascript"]
[limits]
min_tokens = 5
max_tokens_per_project = 300
[split]
valid = ["big"]
[[source]]
kind = "folder"
name = "projects"
path = "projects"
per_subfolder = true
""")
    runner = CliRunner()
    for out, extra in (("capped", []), ("whole", ["--max-tokens-per-project", "0"])):
        res = runner.invoke(app, ["corpus", "build", str(recipe), "--out", str(tmp_path / out), "-q", "-j", "1",
                                  *extra])
        assert res.exit_code == 0, res.output
    docs = docs_of(load_split(tmp_path / "capped", "valid", None, 0))
    assert 0 < len(docs) < 6
    whole = whole_projects(tmp_path / "whole", "valid", docs)
    assert sorted(f.path for f in whole["big"]) == [f"m{i}.js" for i in range(6)]
    cut = sorted({f.path for f in whole["big"]} - {d.path for d in docs})[0]
    name = f"big{cut[1]}zqPart1"
    workspaces = ProjectWorkspaces(docs, whole=whole)
    try:
        index = workspaces.index_for("big")
        assert len(index.files) == 6
        engine.set_workspace(index)
        doc = docs[0]
        res = complete_at_end(engine, workspaces.uri_of(doc), doc.text + f"\n{name[:9]}", "javascript")
        assert name in [c.label for c in res.items]
    finally:
        engine.set_workspace(None)
        workspaces.cleanup()
    with pytest.raises(ValueError, match="no valid file of the project"):
        whole_projects(tmp_path / "whole", "valid", docs_of(load_split(tmp_path / "capped", "train", None, 0)))
    changed = docs_of(load_split(tmp_path / "capped", "valid", None, 0))
    changed[0].text += "\n// edited\n"
    with pytest.raises(ValueError, match="not in the workspace corpus"):
        whole_projects(tmp_path / "whole", "valid", changed)


def test_companion_files_follow_the_files_that_come_and_go(tmp_path: Path, monkeypatch) -> None:
    """A source file's companions (same folder, same stem) follow the index's changes without a rebuild of
    the map, and a reader left behind by the change log builds it again: the same answer either way."""
    import codecomp.engine.workspace.index as index_mod
    from codecomp.engine.candidates import _COMPANIONS, companion_files

    for rel in ("src/widget.h", "src/widget.cc", "src/other.cc", "lib/widget.h"):
        write(tmp_path, rel, "int x;\n")
    index = WorkspaceIndex([tmp_path])
    index.build()
    cc = str(tmp_path / "src/widget.cc")
    assert companion_files(index, cc) == [str(tmp_path / "src/widget.h")]
    built = _COMPANIONS[index][1]
    write(tmp_path, "src/widget.inl.h", "int y;\n")
    index.update_file(tmp_path / "src/widget.inl.h")
    index.remove_file(tmp_path / "src/widget.h")
    assert companion_files(index, cc) == [str(tmp_path / "src/widget.inl.h")]
    assert _COMPANIONS[index][1] is built  # followed, not built again
    assert companion_files(index, str(tmp_path / "src/other.cc")) == []
    monkeypatch.setattr(index_mod, "CHANGE_LOG_MIN", 2)
    for rel in ["src/widget.h"] + [f"src/n{i % 3}.cc" for i in range(40)]:
        index.update_file(write(tmp_path, rel, "int z;\n"))
    assert index.changes_since(_COMPANIONS[index][0])[0] is None
    assert companion_files(index, cc) == sorted([str(tmp_path / "src/widget.h"), str(tmp_path / "src/widget.inl.h")])
    assert _COMPANIONS[index][1] is not built
