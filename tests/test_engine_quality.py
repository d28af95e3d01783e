"""Ranking quality pieces of the engine and the engine fixes that go with them.

* the document's own identifier n-grams (`codecomp.engine.ngram`), text after the cursor included;
* member access ranks what followed the same receiver first;
* identifiers with non-ASCII characters (JavaScript Unicode identifiers, UTF-8 identifiers in C++);
* cooperative cancellation (`should_stop` / `deadline`) of completion and naming requests;
* an artifact that holds only a naming model still serves names through the fallback engine.
"""
from __future__ import annotations

import math
import time
from collections import Counter
from pathlib import Path

import pytest

from codecomp.engine import Engine, FallbackEngine
from codecomp.engine.lexing import find_identifiers, is_identifier, prefix_start
from codecomp.engine.ngram import FileCache, IdentifierNgrams, witten_bell
from codecomp.engine.scoring import WEIGHTS, combine

REPO = Path(__file__).resolve().parents[1]
JS = (REPO / "codecomp" / "samples" / "shopping_cart.js").read_text(encoding="utf-8")


def end_of(text: str) -> tuple[int, int]:
    """LSP position at the end of `text`."""
    lines = text.split("\n")
    return len(lines) - 1, len(lines[-1].encode("utf-16-le")) // 2


def _ngrams(text: str, cursor: int | None = None, prefix: str = "") -> IdentifierNgrams:
    src = text.encode()
    cursor = len(src) if cursor is None else cursor
    ids = Counter(find_identifiers(src))
    return IdentifierNgrams(src, cursor - len(prefix.encode()), prefix, ids, sum(ids.values()))


# -- document n-grams -----------------------------------------------------------------------------------------


def test_ngrams_condition_on_the_tokens_before_the_cursor() -> None:
    text = "cart.total = 1; cart.items.push(x); cart.total += 2; other.items = []; cart."
    ng = _ngrams(text)
    assert ng.levels[0].counts == Counter({"total": 2, "items": 2, "push": 1})  # after `.`
    assert ng.levels[1].counts == Counter({"total": 2, "items": 1})          # after `cart .`
    assert ng.prob("total") > ng.prob("items") > ng.prob("other") > 0.0
    assert ng.prob("nowhere") == 0.0
    # a word-like context token is matched whole: `xcart.` is not `cart.`
    levels = _ngrams("xcart.zz = 1; cart.").levels
    assert levels[0].counts == Counter({"zz": 1}) and len(levels) == 1  # `cart .` was never seen


def test_ngrams_see_the_text_after_the_cursor_but_not_the_word_typed() -> None:
    text = "function f(a) {\n  return a.|;\n}\nvar y = a.size + a.size;\n"
    cursor = text.index("|")
    text = text.replace("|", "")
    ng = _ngrams(text, cursor)
    assert ng.levels[1].counts["size"] == 2  # `a . size` occurs only after the cursor
    # the word being typed at the cursor is no evidence for itself
    typed = text[:cursor] + "si" + text[cursor:]
    ng = _ngrams(typed, cursor + 2, prefix="si")
    assert "si" not in ng.levels[0].counts and ng.unigram("si") == 0.0


def test_witten_bell_is_normalised_on_a_file_cache() -> None:
    stream = "a . b ( c ) ; a . b ( d ) ; a . e".split()
    cache = FileCache(order=3)
    cache.build(stream)
    total = sum(cache.prob(["a", "."], w) for w in set(stream))
    assert total == pytest.approx(1.0)
    assert witten_bell(0.25, 0, 0, 0) == 0.25
    assert cache.prob(["a", "."], "b") > cache.prob(["a", "."], "e") > cache.prob(["a", "."], "c")


def test_combine_prefers_the_document_when_the_model_is_unsure() -> None:
    # features: model, doc, other, scope, member, non-member, receiver, near, keyword
    seen = (0.001, 0.4, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)
    unseen = (0.01, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)
    assert combine(seen, 500, True) > combine(unseen, 500, True)
    # an empty file says nothing about itself: the model decides
    assert combine(seen, 0, True) < combine(unseen, 0, True)
    # however long the file, the model keeps a share: a word only the model knows is never scored as impossible
    model_only = (0.5, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)
    assert combine(model_only, 10**9, True) > math.log(0.5 * (1.0 - WEIGHTS.doc_max) * 0.99) > math.log(1e-6)


def test_a_local_used_in_a_repeated_pattern_ranks_first() -> None:
    text = ("function total(list) {\n  let acc = 0;\n  let extra = 1;\n  for (const v of list) {\n"
            "    acc += v;\n    acc += extra;\n    acc += 2 * v;\n    |\n  }\n  return acc;\n}\n")
    cut = text.index("|")
    eng = FallbackEngine()
    eng.open("file:///acc.js", text.replace("|", ""), "javascript", 1)
    line = text[:cut].count("\n")
    res = eng.complete("file:///acc.js", line, cut - text.rfind("\n", 0, cut) - 1)
    assert res.items[0].label == "acc", [c.label for c in res.items[:5]]
    # and after typing its first letter, against `abs`-like keywords and the other locals
    eng.change("file:///acc.js", text.replace("|", "a"), 2)
    assert eng.complete("file:///acc.js", line, 5).items[0].label == "acc"


def test_member_access_ranks_the_receivers_members_first() -> None:
    text = ("const order = load();\nconst user = me();\n"
            "order.total = 1; order.lines.push(2); user.name = 'x'; user.email = 'y';\n"
            "user.name.trim(); user.email.trim(); user.name.length;\n"
            "if (order.total > 0) { order.")
    eng = FallbackEngine()
    eng.open("file:///o.js", text, "javascript", 1)
    labels = [c.label for c in eng.complete("file:///o.js", *end_of(text)).items]
    assert set(labels[:2]) == {"total", "lines"}, labels[:6]


# -- non-ASCII identifiers ------------------------------------------------------------------------------------


def test_identifier_characters_follow_unicode() -> None:
    src = "let 𝒳val = 1; 𝒳va".encode()
    assert src[prefix_start(src, len(src)):].decode() == "𝒳va"
    assert [w.decode() for w in find_identifiers("a→b größe\u00a0x $y _z ab\u200dc".encode())] == [
        "a", "b", "größe", "x", "$y", "_z", "ab\u200dc"]
    assert is_identifier("größe") and is_identifier("$el") and is_identifier("𝒳val")
    assert not is_identifier("1a") and not is_identifier("a-b") and not is_identifier("→")
    # a non-identifier character ends the prefix
    src = "x = a→bc".encode()
    assert src[prefix_start(src, len(src)):].decode() == "bc"


@pytest.mark.parametrize("lang, uri, text, prefix, label", [
    ("javascript", "file:///u.js", "const 𝒳value = 1;\nconsole.log(𝒳value);\nlet y = 𝒳va", "𝒳va", "𝒳value"),
    ("javascript", "file:///v.js", "const café = 2;\nlet total = caf", "caf", "café"),
    ("cpp", "file:///u.cpp", "int größe = 3;\nint main() { return grö", "grö", "größe"),
])
def test_non_ascii_identifiers_complete_whole(lang: str, uri: str, text: str, prefix: str, label: str) -> None:
    eng = FallbackEngine()
    eng.open(uri, text, lang, 1)
    res = eng.complete(uri, *end_of(text))
    assert res.prefix == prefix
    assert res.items and res.items[0].label == label
    # the replaced range starts where the prefix starts, in UTF-16 units (𝒳 is two of them)
    line, col = end_of(text)
    assert res.replace_start == (line, col - len(prefix.encode("utf-16-le")) // 2)


# -- cancellation ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def artifact(tmp_path_factory) -> Path:
    pytest.importorskip("torch")
    from test_export import make_artifact

    return make_artifact(tmp_path_factory.mktemp("quality"), steps=30)


def test_cancelled_completion_stops_and_resumes(artifact: Path) -> None:
    eng = Engine.load(artifact)
    assert isinstance(eng, Engine), eng.problem
    uri = "file:///cart.js"
    eng.open(uri, JS, "javascript", 1)
    pos = end_of(JS)
    asked = []

    def stop_after_three() -> bool:
        asked.append(1)
        return len(asked) > 3

    res = eng.complete(uri, *pos, should_stop=stop_after_three)
    assert res.items == [] and res.note and res.note.startswith("cancelled")
    kept = len(eng.document(uri).context.ids)
    assert eng.complete(uri, *pos, deadline=time.monotonic() - 1.0).note.startswith("cancelled")
    # the next request continues from there and ranks exactly like a fresh engine
    resumed = eng.complete(uri, *pos)
    assert 1 <= kept < len(eng.document(uri).context.ids)  # it had stopped part-way and kept what it read
    fresh = Engine.load(artifact)
    fresh.open(uri, JS, "javascript", 1)
    expected = fresh.complete(uri, *pos)
    assert [(c.label, c.score) for c in resumed.items] == [(c.label, c.score) for c in expected.items]
    assert resumed.note is None
    # with the context already read, a stop can only come during the fragment: the list still goes out
    late = eng.complete(uri, *pos, should_stop=lambda: True)
    assert [c.label for c in late.items] == [c.label for c in expected.items]
    assert late.fragment is None
    assert late.note in (None, "the fragment was cancelled")
    # a stop test that never fires changes nothing
    again = eng.complete(uri, *pos, should_stop=lambda: False, deadline=time.monotonic() + 60.0)
    assert [c.label for c in again.items] == [c.label for c in expected.items]


def test_cancelled_name_suggestions_say_so(artifact: Path) -> None:
    eng = Engine.load(artifact)
    eng.open("file:///cart.js", JS, "javascript", 1)
    line = JS[:JS.index("const existing")].count("\n")
    res = eng.suggest_names("file:///cart.js", line, 8, should_stop=lambda: True)
    assert res.names == [] and res.reason.startswith("cancelled")


# -- naming-only artifact -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def naming_artifact(fixture_corpus, repo_root, tmp_path_factory) -> Path:
    pytest.importorskip("torch")
    from codecomp.artifact import write_manifest
    from training.cli import make_task, read_config
    from training.export_naming import export_naming
    from training.loop import LoopConfig, dataclass_from_dict, train

    doc = read_config(repo_root / "training" / "configs" / "tiny-tree.toml", "tree")
    cfg = dataclass_from_dict(LoopConfig, doc["train"], "train")
    cfg.max_steps, cfg.eval_every = 4, 4
    task = make_task("tree", fixture_corpus, {k: doc[k] for k in ("model", "data")}, cfg.seed)
    run = tmp_path_factory.mktemp("naming-only") / "run"
    train(task, run, cfg, progress=False, extra_config={"corpus": str(fixture_corpus)})
    out = tmp_path_factory.mktemp("naming-only-artifact")
    section = export_naming(run, out)
    write_manifest(out, {"naming": section}, section["languages"])
    return out


def test_naming_only_artifact_serves_names_in_the_fallback(naming_artifact: Path) -> None:
    eng = Engine.load(naming_artifact)
    assert isinstance(eng, FallbackEngine)
    assert "no token model" in eng.problem
    src = "int sum_values(int values) {\n  int total = 0;\n  total += values;\n  return total;\n}\n"
    eng.open("file:///n.cpp", src, "cpp", 1)
    res = eng.suggest_names("file:///n.cpp", 1, 6)
    assert res.symbol == "total" and len(res.occurrences) == 3
    assert res.names, res.reason
    names = [n for n, _ in res.names]
    scores = [sc for _, sc in res.names]
    assert len(names) == len(set(names)) <= 5 and all(is_identifier(n) for n in names), res.names
    assert scores == sorted(scores, reverse=True)
    # completion still works, from the words of the file
    assert eng.complete("file:///n.cpp", 2, 4).items[0].label == "total"


def test_ngram_scans_survive_typing_a_word_but_not_other_edits() -> None:
    from codecomp.engine.scoring import document_ngrams

    base = "cart.total = 1;\ncart.items = 2;\nlet z = cart."
    eng = FallbackEngine()
    uri = "file:///t.js"
    eng.open(uri, base, "javascript", 1)
    eng.complete(uri, *end_of(base))
    doc = eng.document(uri)
    scans = doc.extra["ngram_cache"][2]
    assert scans  # the request filled it
    for i, text in enumerate([base + "t", base + "to", base + "tot"], start=2):
        eng.change(uri, text, i)
        res = eng.complete(uri, *end_of(text))
        assert doc.extra["ngram_cache"][2] is scans  # reused: only the word being typed changed
        assert res.items[0].label == "total"
        # and the counts are those a fresh scan finds
        fresh = _ngrams(text, prefix=text[len(base):])
        cached = document_ngrams(doc, len(base.encode()), text[len(base):])
        assert [lv.counts for lv in cached.levels] == [lv.counts for lv in fresh.levels]
    edited = "cart.total = 1;\ncart.items = 2;\ncart.extra = 3;\nlet z = cart.tot"
    eng.change(uri, edited, 9)
    eng.complete(uri, *end_of(edited))
    assert doc.extra["ngram_cache"][2] is not scans  # a line added elsewhere: counted afresh
    assert document_ngrams(doc, len(edited.encode()) - 3, "tot").levels[0].counts["extra"] == 1


def test_a_request_cancelled_before_any_step_reads_nothing(artifact: Path) -> None:
    eng = Engine.load(artifact)
    uri = "file:///cart.js"
    eng.open(uri, JS, "javascript", 1)
    res = eng.complete(uri, *end_of(JS), should_stop=lambda: True)
    assert res.items == [] and res.note.startswith("cancelled")
    assert eng.document(uri).context.last is None
    fresh = Engine.load(artifact)
    fresh.open(uri, JS, "javascript", 1)
    assert ([c.label for c in eng.complete(uri, *end_of(JS)).items]
            == [c.label for c in fresh.complete(uri, *end_of(JS)).items])


def test_fragment_start_is_never_a_special_token() -> None:
    """When <unk> (an out-of-vocabulary identifier) is the vocabulary's argmax, the fragment starts with the best
    spelling that can be shown: a vocabulary word or a word of the copy memory."""
    import numpy as np

    from codecomp.engine.fragments import _best_token
    from codecomp.engine.models import Distribution

    class Vocab:  # the two attributes _best_token reads from a TokenModel
        vocab = ["<pad>", "<unk>", "<bos>", "<eos>", "<str>", "<num>", "items", "name"]
        index = {w: i for i, w in enumerate(vocab)}

    dist = Distribution(p_vocab=np.array([0, .6, 0, 0, .1, 0, .2, .1]), copy={"<unk>": .5, "total": .3}, gate=.5)
    best, p = _best_token(Vocab, dist)
    assert best == "total" and abs(p - .15) < 1e-9
    dist = Distribution(p_vocab=np.array([0, .6, 0, 0, .1, 0, .3, .0]), copy={}, gate=.5)
    assert _best_token(Vocab, dist)[0] == "items"
