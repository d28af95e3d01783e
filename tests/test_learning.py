"""Learning from the user (codecomp/engine/learning.py): the per-workspace learner and the engine's use of it.

Bounded in time and memory, decaying, saved only when persistence is on and only inside the workspace folder's
`.codecomp/`, forgotten by a reset; and through the engine: an event moves the ranking, each shown list counts
once, and an engine without learning ranks as before.
"""
from __future__ import annotations

import json
import os
import random
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

from codecomp.engine import FallbackEngine
from codecomp.engine.learning import (CACHE_FEATURES, KEEP_ROWS, MAX_CONTEXTS, MAX_NAMES, MAX_UNIGRAMS, Context,
                                      Learner, LearnerConfig, Learning, Shown, context_of, learning_file)


def ctx(*tokens: str, doc: str = "file:///w/a.js") -> Context:
    return Context(tuple(tokens), doc)


def shown(learner: Learner, context: Context, labels: list[str], rows: int = 0) -> Shown:
    base = np.linspace(1.0, 0.0, len(labels))
    cache = learner.cache_features(context, labels)
    r = np.random.default_rng(0).normal(size=(len(labels), rows)).astype(np.float32) if rows else None
    return Shown(learner, context, labels, base, cache, r)


def test_context_is_the_two_code_tokens_before_the_word() -> None:
    src = b'let total = items.reduce((s, x) => s + x.price, 0); // items.\nconsole.'
    c = context_of(src, len(src), "javascript", "file:///w/a.js", member=True)
    assert c.tokens == ("console", ".") and c.member
    s = b'const name = "items."; name.'
    assert context_of(s, len(s), "javascript").tokens == ("name", ".")
    assert context_of(b"", 0, "cpp").tokens == ()


def test_names_used_in_other_documents_become_candidates_with_features() -> None:
    learner = Learner()
    for _ in range(3):
        learner.observe_name(ctx("cart", ".", doc="file:///w/other.js"), "checkout")
    here = ctx("cart", ".", doc="file:///w/a.js")
    assert learner.candidates(here, "") == ["checkout"]
    assert learner.candidates(here, "x") == []
    x = learner.cache_features(here, ["checkout", "total"])
    assert x.shape == (2, len(CACHE_FEATURES))
    assert x[0, 0] > x[1, 0] and x[0, 1] > 0 and x[1, 1] == 0
    # a name typed only in the document being completed adds nothing: the engine already reads that document
    mine = ctx("cart", ".", doc="file:///w/a.js")
    learner.observe_name(mine, "remove")
    assert "remove" not in learner.candidates(mine, "")
    assert learner.cache_features(mine, ["remove"])[0, 1] == 0
    # with a prefix typed, names used anywhere that start with its letter are offered
    assert "checkout" in learner.candidates(ctx("let", "y", doc="file:///w/b.js"), "ch")


def test_cpp_candidates_get_no_cache_features_but_the_cache_still_offers_names() -> None:
    learner = Learner()
    for _ in range(3):
        learner.observe_name(Context(("cfg", "->"), "file:///w/other.cc", True, "cpp"), "timeout")
    here = Context(("cfg", "->"), "file:///w/a.cc", True, "cpp")
    assert learner.candidates(here, "") == ["timeout"]
    assert not learner.cache_features(here, ["timeout", "size"], [True, False]).any()
    # the same uses seen from a JavaScript document do carry features
    js = Context(("cfg", "->"), "file:///w/a.js", True, "javascript")
    assert learner.cache_features(js, ["timeout"])[0, 1] > 0
    # the correction then moves only the offline score (and the ranker's row): the scores are a * base
    base = np.array([0.3, 0.9])
    assert np.allclose(learner.scores(base, learner.cache_features(here, ["timeout", "size"]), None),
                       learner.a * base)
    # a C++ scale per column turns them on: the JavaScript features times the factors
    scaled = Learner(LearnerConfig(cpp_cache_scale=(0.5, 0.0, 1.0, 0.25, 1.0)))
    for _ in range(3):
        scaled.observe_name(Context(("cfg", "->"), "file:///w/other.cc", True, "cpp"), "timeout")
    full = scaled.cache_features(js, ["timeout", "size"], [True, False])
    assert full.any()
    np.testing.assert_allclose(scaled.cache_features(here, ["timeout", "size"], [True, False]),
                               full * np.array([0.5, 0.0, 1.0, 0.25, 1.0]))


def test_an_old_habit_fades() -> None:
    learner = Learner(LearnerConfig(half_life=100))
    old, new = ctx("a", "=", doc="file:///w/1.js"), ctx("a", "=", doc="file:///w/2.js")
    for _ in range(20):
        learner.observe_name(old, "oldName")
    here = ctx("a", "=", doc="file:///w/3.js")
    first = learner.cache_features(here, ["oldName"])[0, 1]
    for _ in range(100):  # one half-life of other events
        learner.observe_name(ctx("b", "(", doc="file:///w/2.js"), "unrelated")
    faded = learner.cache_features(here, ["oldName"])[0, 1]
    assert np.expm1(faded) == pytest.approx(np.expm1(first) / 2, rel=0.02)
    for _ in range(20):
        learner.observe_name(new, "newName")
    f = learner.cache_features(here, ["oldName", "newName"])
    assert f[1, 0] > f[0, 0]  # the new habit now ranks first in that context


def test_an_event_moves_the_correction_towards_the_chosen_name() -> None:
    learner = Learner()
    c = ctx("x", "=", doc="file:///w/a.js")
    labels = ["first", "second", "third"]
    before = learner.scores(np.linspace(1.0, 0.0, 3), learner.cache_features(c, labels), None)
    s = shown(learner, c, labels, rows=8)
    assert learner.observe(s, "third") is True
    assert learner.events.updates == 1 and learner.events.typed == 1
    after = learner.scores(s.base, s.cache, s.rows)
    assert after[2] - after[0] > before[2] - before[0]
    # a name that was not in the list still counts in the cache, but the correction cannot move
    assert learner.observe(shown(learner, c, labels), "elsewhere", accepted=True) is False
    assert learner.events.accepted == 1 and "elsewhere" in learner.names


def test_update_time_is_well_under_a_millisecond() -> None:
    learner = Learner()
    rng = random.Random(1)
    names = [f"name{i}" for i in range(3000)]
    labels = names[:KEEP_ROWS]
    rows = np.random.default_rng(1).normal(size=(KEEP_ROWS, 59)).astype(np.float32)
    times = []
    for i in range(3000):
        c = ctx(rng.choice(names), rng.choice([".", "(", "="]), doc=f"file:///w/{i % 7}.js")
        s = Shown(learner, c, labels, np.linspace(2, -2, KEEP_ROWS), learner.cache_features(c, labels), rows)
        t0 = time.perf_counter()
        learner.observe(s, rng.choice(labels))
        times.append(time.perf_counter() - t0)
    times.sort()
    assert times[len(times) // 2] < 1e-3 and sum(times) / len(times) < 1e-3, (times[len(times) // 2], times[-1])


def test_memory_is_bounded_however_many_events() -> None:
    learner = Learner()
    rng = random.Random(2)
    tracemalloc.start()
    try:
        for i in range(120_000):
            learner.observe_name(ctx(f"t{rng.randrange(50_000)}", f"u{rng.randrange(20)}", doc=f"file:///w/{i}.js"),
                                 f"n{rng.randrange(100_000)}")
        current, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    size = learner.size()
    assert len(learner.tables[2]) <= MAX_CONTEXTS[2] and len(learner.tables[1]) <= MAX_CONTEXTS[1]
    assert all(len(e) <= MAX_NAMES[k] for k in (1, 2) for e in learner.tables[k].values())
    assert len(learner.names) <= MAX_UNIGRAMS
    assert size["entries"] <= MAX_CONTEXTS[2] * MAX_NAMES[2] + MAX_CONTEXTS[1] * MAX_NAMES[1] + MAX_UNIGRAMS
    assert current < 32 << 20, f"{current / 1e6:.1f} MB"
    assert len(learner.doc_ids) <= 256


def _trained(folder: Path) -> tuple[Learning, Learner]:
    learning = Learning([str(folder)])
    learner = learning.for_path(str(folder / "src" / "a.js"))
    for _ in range(4):
        learner.observe_name(ctx("cart", ".", doc="file:///b.js"), "checkout")
    learning.touched(learner)
    return learning, learner


def test_nothing_is_written_or_read_unless_persistence_is_on(tmp_path: Path) -> None:
    learning, learner = _trained(tmp_path)
    assert learning.save() == [] and list(tmp_path.iterdir()) == []
    # a file already there is not read either while persistence is off
    (tmp_path / ".codecomp").mkdir()
    (tmp_path / ".codecomp" / "learning.json").write_text(json.dumps(learner.to_json()))
    fresh = Learning([str(tmp_path)])
    assert fresh.for_path(str(tmp_path / "a.js")).empty()


def test_persistence_writes_inside_the_folder_only_and_reads_it_back(tmp_path: Path) -> None:
    learning, learner = _trained(tmp_path)
    learning.set_persist(True)
    written = learning.save()
    assert written == [learning_file(str(tmp_path))]
    assert sorted(p.name for p in (tmp_path / ".codecomp").iterdir()) == [".gitignore", "learning.json"]
    assert "*" in (tmp_path / ".codecomp" / ".gitignore").read_text().splitlines()
    assert learning.save() == []  # nothing changed since
    again = Learning([str(tmp_path)], persist=True)
    back = again.for_path(str(tmp_path / "x.js"))
    here = ctx("cart", ".", doc="file:///c.js")
    assert back.candidates(here, "") == ["checkout"]
    assert np.allclose(back.cache_features(here, ["checkout"]), learner.cache_features(here, ["checkout"]))
    # documents outside every folder have a learner that is never written
    loose = again.for_path("/elsewhere/y.js")
    loose.observe_name(here, "loose")
    again.touched(loose)
    assert again.save() == []


def test_a_codecomp_folder_that_leads_outside_the_workspace_is_refused(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    ws = tmp_path / "ws"
    ws.mkdir()
    os.symlink(outside, ws / ".codecomp")
    learning, _ = _trained(ws)
    learning.set_persist(True)
    assert learning.save() == []
    assert list(outside.iterdir()) == [] and learning.problems


def test_a_broken_or_foreign_file_is_not_used(tmp_path: Path) -> None:
    (tmp_path / ".codecomp").mkdir()
    path = tmp_path / ".codecomp" / "learning.json"
    for content in ("{not json", json.dumps({"format": "other"}),
                    json.dumps({"format": "codecomp-learning", "version": 1, "names": [["x", -1]]})):
        path.write_text(content)
        learning = Learning([str(tmp_path)], persist=True)
        assert learning.for_path(str(tmp_path / "a.js")).empty()
        assert learning.problems


def test_reset_forgets_memory_and_files(tmp_path: Path) -> None:
    learning, learner = _trained(tmp_path)
    learning.set_persist(True)
    learning.save()
    assert (tmp_path / ".codecomp" / "learning.json").exists()
    assert learning.reset() == [learning_file(str(tmp_path))]
    assert not (tmp_path / ".codecomp" / "learning.json").exists()
    after = learning.for_path(str(tmp_path / "a.js"))
    assert after.empty() and after.candidates(ctx("cart", ".", doc="file:///c.js"), "") == []
    assert learner.empty()  # the old object was cleared too (an engine may still hold it)


# -- through the engine ------------------------------------------------------------------------------------------
OTHER = "const cart = makeCart();\ncart.checkoutNow(1);\ncart.checkoutNow(2);\n"
HERE = "const cart = makeCart();\ncart."


def test_the_engine_learns_from_events_and_counts_each_list_once() -> None:
    eng = FallbackEngine()
    eng.open("file:///w/here.js", HERE, "javascript", 1)
    plain = eng.complete("file:///w/here.js", 1, 5)
    assert plain.shown_id is None  # learning is off: no list id
    learning = Learning(["/w"])
    eng.set_learning(learning)
    first = eng.complete("file:///w/here.js", 1, 5)
    assert first.shown_id is not None
    assert [c.label for c in first.items] == [c.label for c in plain.items]  # nothing learned yet: same order
    assert "checkoutNow" not in [c.label for c in first.items]
    # in another file of the workspace, the user typed `checkoutNow` where lists were shown after `cart.`
    eng.open("file:///w/other.js", OTHER + "cart.", "javascript", 1)
    for _ in range(2):
        res = eng.complete("file:///w/other.js", 3, 5)
        assert eng.learn(res.shown_id, "checkoutNow") is True
        assert eng.learn(res.shown_id, "checkoutNow") is False  # a list counts once
    eng.close("file:///w/other.js")
    after = eng.complete("file:///w/here.js", 1, 5)
    labels = [c.label for c in after.items]
    assert labels[0] == "checkoutNow", labels[:5]
    assert after.items[0].source == "learned"
    assert learning.for_path("/w/here.js").events.typed == 2
    eng.set_learning(None)
    assert "checkoutNow" not in [c.label for c in eng.complete("file:///w/here.js", 1, 5).items]
