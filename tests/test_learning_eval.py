"""The simulated user of `codecomp eval --tasks learning` (codecomp/eval/learning_eval.py)."""
from __future__ import annotations

from pathlib import Path

from codecomp.engine import FallbackEngine
from codecomp.eval.documents import FileDoc
from codecomp.eval.learning_eval import LearningOptions, eval_learning, learning_markdown, plan, project_files
from test_eval_harness import row_of

# Every file of this project calls the project's own helpers on the same receiver; a file alone never tells
# which one comes next, the project does.
FILE = """const store = require('./store');
function handle{n}(request) {{
  const record = store.loadRecordById(request.id);
  store.saveRecordSnapshot(record);
  return store.formatRecordForDisplay(record);
}}
module.exports = handle{n};
"""


def project(n_files: int = 8) -> list[FileDoc]:
    return [FileDoc.from_row(row_of(FILE.format(n=i), "javascript", "shop", f"src/h{i}.js")) for i in range(n_files)]


def test_the_plan_measures_the_first_file_and_the_second_half_apart_from_the_updates() -> None:
    files = project()
    opts = LearningOptions(update_positions=10, measured=12, first_file=4)
    first, second, update = plan(files, opts, "shop")
    assert len(first) == 4 and {f for f, _ in first} == {0}
    assert len(second) == 12 and {f for f, _ in second} <= set(range(4, 8))
    assert len(update) == 10 and not update & (first | second)
    assert plan(files, opts, "shop") == (first, second, update)  # deterministic for a seed
    ordered = project_files(files, "shop", opts)
    assert sorted(d.path for d in ordered) == sorted(d.path for d in files)
    assert [d.path for d in project_files(files, "shop", LearningOptions(max_files=3))] == [d.path for d in ordered[:3]]


def test_learning_helps_where_the_project_repeats_itself_and_not_in_the_first_file() -> None:
    engine = FallbackEngine()
    opts = LearningOptions(update_positions=20, measured=40, first_file=10)
    out, timing = eval_learning(engine, project(), opts, progress=False)
    res = out["languages"]["javascript"]
    second, first = res["second_half"]["t0"], res["first_file"]["t0"]
    assert second["n"] == 40 and first["n"] == 10
    # the same positions with learning off and on: the gain is their difference
    assert second["gain"] == round(second["on"] - second["off"], 2)
    assert second["gain"] > 10, second
    assert first["on"] >= first["off"], first
    assert res["projects"]["shop"]["events"]["updates"] > 0
    assert timing["javascript"]["updates"] > 0 and timing["javascript"]["mean_us"] < 1000
    assert engine.learning is None  # the engine is left as it was found
    again, _ = eval_learning(FallbackEngine(), project(), opts, progress=False)
    assert again == out  # a function of the documents and the options
    md = "\n".join(learning_markdown(out, timing))
    assert "## Learning from the user" in md and "| javascript | second half | 0 | 40 |" in md and "every file" in md


def test_quick_learning_task_in_the_evaluation(fixture_corpus: Path) -> None:
    from codecomp.eval.harness import EvalOptions, run_evaluation

    result = run_evaluation(FallbackEngine(), "engine", fixture_corpus,
                            EvalOptions(quick=True, progress=False, tasks=("learning",)))
    langs = result.tasks["learning"]["languages"]
    assert langs and all(r["first_file"]["t0"]["n"] > 0 for r in langs.values())
    assert set(result.seconds["learning_updates"]) <= set(langs)
