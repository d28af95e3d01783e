"""Freshness of the engine's analyses: what a request offers comes from the document as it is now.

Scope analyses and member scans are keyed by the exact text they read (the document without the word at the
cursor), never by their age, so a name deleted by an edit is gone from the very next request, whatever the
clock says; and with background analysis off (as in the evaluation) an answer is a function of the text and
the cursor alone.
"""
from __future__ import annotations

import itertools
import time

import pytest

from codecomp.engine import FallbackEngine
from codecomp.engine.session import SYNC_SCOPE_BYTES

URI = "file:///fresh.js"
# long enough for the background scope analysis and (in the old design) the time-based member-scan reuse
FILLER = "".join(f"function filler{i}(a, b) {{ const s{i} = a.left + b.right; return s{i}; }}\n"
                 for i in range(900))
assert len(FILLER) > max(SYNC_SCOPE_BYTES, 50_000)


def end_of(text: str) -> tuple[int, int]:
    """LSP position of the cursor: at the `|` marker when there is one (stripped by `clean`), else at the end
    (ASCII texts here)."""
    cut = text.index("|") if "|" in text else len(text)
    lines = text[:cut].split("\n")
    return len(lines) - 1, len(lines[-1])


def clean(text: str) -> str:
    return text.replace("|", "")


def labels(eng: FallbackEngine, text: str) -> list[str]:
    return [c.label for c in eng.complete(URI, *end_of(text), max_items=500).items]


def scope_doc(filler: str) -> tuple[str, str]:
    """(text with a local `zqxStale`, the same text with its only occurrence deleted); cursor after `return zq`."""
    before = filler + "function work(input) {\n  let zqxStale = input;\n  let zqKeep = 2;\n  return zq|;\n}\n"
    after = before.replace("  let zqxStale = input;\n", "")
    return before, after


@pytest.mark.parametrize("filler", ["", FILLER], ids=["short-file", "long-file"])
def test_a_deleted_local_is_not_offered_by_the_next_request(filler: str) -> None:
    eng = FallbackEngine()
    before, after = scope_doc(filler)
    eng.open(URI, clean(before), "javascript", 1)
    first = eng.complete(URI, *end_of(before), max_items=500).items
    doc = eng.document(URI)
    if doc._scope_future is not None:  # a long file: let its first analysis finish, so it could go stale
        doc._scope_future.result()
        first = eng.complete(URI, *end_of(before), max_items=500).items
    found = {c.label: c for c in first}
    assert found["zqxStale"].source == "scope" and found["zqxStale"].kind == "variable"
    eng.change(URI, clean(after), 2)
    assert "zqxStale" not in labels(eng, after)  # at once: no sleep, no clock
    assert "zqKeep" in labels(eng, after)


@pytest.mark.parametrize("filler", ["", FILLER], ids=["short-file", "long-file"])
def test_a_deleted_member_is_not_offered_after_the_dot(filler: str) -> None:
    eng = FallbackEngine()
    before = filler + "const obj = make();\nobj.oldMember = 1;\nobj.kept = 2;\nobj."
    after = before.replace("obj.oldMember = 1;\n", "")
    eng.open(URI, clean(before), "javascript", 1)
    found = {c.label: c for c in eng.complete(URI, *end_of(before), max_items=500).items}
    assert found["oldMember"].source == "member"
    eng.change(URI, clean(after), 2)
    got = labels(eng, after)
    assert "oldMember" not in got and "kept" in got


def test_typing_a_word_reuses_the_analysis_and_never_offers_the_shorter_word() -> None:
    """`foo` grown to `foob` is no longer in the document as `foo`: the analysis that served `foo` must not
    bring it back, and one analysis serves every keystroke of the word."""
    eng = FallbackEngine()
    head = "function work(input) {\n  let total = input;\n  let foo"
    eng.open(URI, head, "javascript", 1)
    eng.complete(URI, *end_of(head))
    doc = eng.document(URI)
    analysis = doc.analysis
    assert analysis is not None and b"foo" not in analysis.base  # the word at the cursor is left out
    for version, text in enumerate([head + "b", head + "ba", head + "bar = 1;\n  return fo"], start=2):
        eng.change(URI, text, version)
        got = labels(eng, text)
        assert "foo" not in got and "foob" not in got and "fooba" not in got
    assert doc.analysis is not analysis  # `= 1;` is more than typing the word: analysed afresh
    assert "foobar" in labels(eng, head + "bar = 1;\n  return fo")
    eng.change(URI, head + "bar = 1;\n  return fob", 9)
    kept = doc.analysis
    eng.complete(URI, *end_of(head + "bar = 1;\n  return fob"))
    assert doc.analysis is kept  # typing inside the returned word: same analysed text, nothing recomputed


def _requests(eng: FallbackEngine, texts: list[str]) -> list[list[tuple]]:
    out = []
    for version, text in enumerate(texts, start=1):
        if version == 1:
            eng.open(URI, clean(text), "javascript", version)
        else:
            eng.change(URI, clean(text), version)
        for _ in range(2):  # the same request twice in a row
            res = eng.complete(URI, *end_of(text), max_items=100)
            out.append([(c.label, c.kind, c.score, c.source) for c in res.items])
    return out


EDITS = [
    "function work(input) {\n  let zqxStale = input;\n  let zqKeep = 2;\n  return zq|;\n}\n",
    "function work(input) {\n  let zqxStale = input;\n  let zqKeep = 2;\n  return zqx|;\n}\n",
    "function work(input) {\n  let zqKeep = 2;\n  return zqx|;\n}\n",
    "function work(input) {\n  let zqKeep = 2;\n  const obj = {};\n  obj.size = 1;\n  return obj.|;\n}\n",
    "function work(input) {\n  let zqKeep = 2;\n  const obj = {};\n  return obj.|;\n}\n",
    "function work(input) {\n  let zqKeep = 2;\n  const obj = {};\n  return |;\n}\n",
]


def test_results_do_not_depend_on_the_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    expected = _requests(FallbackEngine(), EDITS)
    jumps = itertools.count()
    real_monotonic, real_perf = time.monotonic, time.perf_counter
    # every reading of either clock is hours after the previous one
    monkeypatch.setattr(time, "monotonic", lambda: real_monotonic() + 7200.0 * next(jumps))
    monkeypatch.setattr(time, "perf_counter", lambda: real_perf() + 7200.0 * next(jumps))
    assert _requests(FallbackEngine(), EDITS) == expected
    long_texts = [FILLER + t for t in EDITS]
    monkeypatch.undo()
    reference = _requests(_synchronous(), long_texts)
    monkeypatch.setattr(time, "monotonic", lambda: real_monotonic() + 7200.0 * next(jumps))
    monkeypatch.setattr(time, "perf_counter", lambda: real_perf() + 7200.0 * next(jumps))
    assert _requests(_synchronous(), long_texts) == reference


def _synchronous() -> FallbackEngine:
    """An engine that analyses inline whatever the file size, as the evaluation drives it."""
    eng = FallbackEngine()
    eng.store.background_analysis = False
    return eng


def test_without_background_analysis_an_answer_is_a_function_of_text_and_cursor() -> None:
    """After any history of edits, a request answers exactly what a fresh engine opened on the same text does."""
    texts = [FILLER + t for t in EDITS] + [FILLER + EDITS[0].replace("input", "inp").replace("zq|", "z|q")]
    eng = _synchronous()
    for version, text in enumerate(texts, start=1):
        if version == 1:
            eng.open(URI, clean(text), "javascript", version)
        else:
            eng.change(URI, clean(text), version)
        got = [(c.label, c.kind, c.score, c.source) for c in eng.complete(URI, *end_of(text), max_items=100).items]
        fresh = _synchronous()
        fresh.open(URI, clean(text), "javascript", 1)
        want = [(c.label, c.kind, c.score, c.source) for c in fresh.complete(URI, *end_of(text), max_items=100).items]
        assert got == want, version
        assert eng.document(URI)._scope_future is None  # nothing left running in the background


def test_the_evaluation_adapter_turns_background_analysis_off() -> None:
    from codecomp.eval.engine_system import EngineSystem

    eng = FallbackEngine()
    EngineSystem(eng)
    eng.open(URI, clean(FILLER + EDITS[0]), "javascript", 1)
    assert eng.document(URI).background_analysis is False


def _items(eng, text: str) -> list[tuple]:
    return [(c.label, c.kind, c.score, c.source) for c in eng.complete(URI, *end_of(text), max_items=100).items]


def test_the_keystrokes_of_a_word_share_one_parse_of_the_text_without_it() -> None:
    """Requests read the tree of the analysis text (the document without the word at the cursor): typing a word
    re-parses nothing after its first character, and every answer is that of a fresh engine on the same text."""
    eng = _synchronous()
    stem = FILLER + "function work(input) {\n  const total = input.left;\n  return "
    eng.open(URI, stem + "\n}\n", "javascript", 1)
    assert _items(eng, stem + "|\n}\n")
    doc = eng.document(URI)
    parses = []
    real = doc._start_request_parse
    doc._start_request_parse = lambda *a: (parses.append(a[0]), real(*a))[1]
    for version, word in enumerate(["t", "to", "tot", "tota"], start=2):
        text = stem + word + "|\n}\n"
        eng.change(URI, clean(text), version)
        got = _items(eng, text)
        fresh = _synchronous()
        fresh.open(URI, clean(text), "javascript", 1)
        assert got == _items(fresh, text), word
        assert "total" in [label for label, *_ in got]
    # the text without the word is the text the first request parsed: no parse at all while the word is typed
    assert parses == []
    eng.change(URI, clean(stem + "total.|\n}\n"), 9)
    assert _items(eng, stem + "total.|\n}\n") is not None
    assert len(parses) == 1  # the `.` changes the text without the word: one re-parse


def test_idle_time_prepares_the_next_request_and_its_answer_does_not_change(monkeypatch: pytest.MonkeyPatch) -> None:
    """After an edit that asked nothing (a `(`), idle time parses and gathers where the cursor is; the request
    that follows parses nothing and answers what a fresh engine answers."""
    eng = FallbackEngine()
    stem = FILLER + "function work(input) {\n  const total = input.left;\n  return filler1"
    eng.open(URI, stem + "\n}\n", "javascript", 1)
    _items(eng, stem + "|\n}\n")
    doc = eng.document(URI)
    while eng.work_in_idle(0.02):
        pass
    eng.change(URI, stem + "(\n}\n", 2)  # a keystroke without a request
    cursor = len((stem + "(").encode())
    assert doc.expected_cursor() == cursor and doc.prefetch_pending
    assert eng.has_idle_work()
    from codecomp.syntax import SlicedParse
    from codecomp.syntax.languages import IDLE_SLICE_S, SLICE_S

    slices = []
    real_advance = SlicedParse.advance

    def advance(self, budget, slice_s=SLICE_S):
        slices.append(slice_s)
        return real_advance(self, budget, slice_s)

    monkeypatch.setattr(SlicedParse, "advance", advance)
    while doc.prefetch_pending:
        eng.work_in_idle(0.002)
    monkeypatch.undo()
    # the parse went in short slices (a request that comes meanwhile waits for one at most)
    assert slices and set(slices) == {IDLE_SLICE_S}
    assert doc.gathered == (2, cursor)
    # a long file's scope analysis was started by the preparation, at once (no request to let finish first)
    assert doc._scope_future is not None
    doc._scope_future.result(timeout=30)
    parses = []
    real = doc._start_request_parse
    doc._start_request_parse = lambda *a: (parses.append(a[0]), real(*a))[1]
    text = stem + "(t|\n}\n"
    eng.change(URI, clean(text), 3)
    got = _items(eng, text)
    assert parses == []  # the text without `t` is the one idle time parsed
    fresh = _synchronous()
    fresh.open(URI, clean(text), "javascript", 1)
    assert got == _items(fresh, text)


def _parse_work(monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    """The texts whose parses advance from now on (a finished parse that is only collected is not work)."""
    from codecomp.syntax import SlicedParse
    from codecomp.syntax.languages import SLICE_S

    work: list[bytes] = []
    real_advance = SlicedParse.advance

    def advance(self, budget, slice_s=SLICE_S):
        if not self.done:
            work.append(self.source)
        return real_advance(self, budget, slice_s)

    monkeypatch.setattr(SlicedParse, "advance", advance)
    return work


@pytest.mark.parametrize("lang,stem,keys", [
    ("javascript", "function work(input) {\n  const total = input.left;\n  return total", ["."]),
    ("cpp", "struct P { int left; };\nint work(P *input) {\n  P *total = input;\n  return total", ["-", ">"]),
    ("cpp", "namespace ns { int left; }\nint work() {\n  return ns", [":", ":"]),
], ids=["js-dot", "cpp-arrow", "cpp-scope"])
def test_idle_time_parses_ahead_of_a_trigger(monkeypatch: pytest.MonkeyPatch, lang: str, stem: str,
                                             keys: list[str]) -> None:
    """A trigger asks at once, with a text no request has parsed: idle time parses the text it would make ahead
    of it (`.` after a name, `>` after `-`, the second `:`), so the trigger's request parses nothing, and its
    answer is that of a fresh engine."""
    uri = URI.replace(".js", ".cc" if lang == "cpp" else ".js")
    eng = FallbackEngine()
    eng.open(uri, stem + "\n}\n", lang, 1)
    eng.complete(uri, *end_of(stem), max_items=100)
    doc = eng.document(uri)
    typed = stem
    for version, key in enumerate(keys, start=2):
        if version > 2:  # a keystroke without a request (`-`, the first `:`) reaches the engine as an edit
            eng.change(uri, typed + "\n}\n", version)
        while eng.work_in_idle(0.02):
            pass
        assert not doc.speculation_pending and doc._spec is not None and doc._spec.job.done
        typed += key
    work = _parse_work(monkeypatch)
    text = typed + "|\n}\n"
    eng.change(uri, clean(text), 9)
    got = [(c.label, c.kind, c.score, c.source) for c in eng.complete(uri, *end_of(text), max_items=100).items]
    assert work == []
    assert doc._spec is None  # taken: the request tree is now the tree of the trigger's text
    fresh = _synchronous()
    fresh.open(uri, clean(text), lang, 1)
    want = fresh.complete(uri, *end_of(text), max_items=100).items
    assert got == [(c.label, c.kind, c.score, c.source) for c in want]


def test_a_wrong_guess_ahead_of_a_trigger_is_dropped(monkeypatch: pytest.MonkeyPatch) -> None:
    """When the user types something else than the trigger idle time parsed ahead of, the next request parses
    its own text from the request tree, as without the guess, and answers what a fresh engine answers."""
    eng = FallbackEngine()
    stem = "function work(input) {\n  const total = input.left;\n  return total"
    eng.open(URI, stem + "\n}\n", "javascript", 1)
    _items(eng, stem + "|\n}\n")
    doc = eng.document(URI)
    while eng.work_in_idle(0.02):
        pass
    guessed = doc._spec
    assert guessed is not None and guessed.job.source.endswith(b"total.\n}\n")
    work = _parse_work(monkeypatch)
    text = stem + " + t|\n}\n"
    eng.change(URI, clean(text), 2)
    got = _items(eng, text)
    assert work and all(source != guessed.job.source for source in work)
    fresh = _synchronous()
    fresh.open(URI, clean(text), "javascript", 1)
    assert got == _items(fresh, text)
    assert "total" in [label for label, *_ in got]


JS_STEPS = ["", "i", "if", "if (", "if (a", "if (a)", "if (a) {", "if (a) {\n    v", "if (a) {\n    v}",
            "if (a) {\n    v}\n"]


def test_the_model_context_after_a_change_of_syntax_holds_the_tokens_of_the_text() -> None:
    """The model reads the tokens of the request tree.  After a re-parse that reshaped the tree before the edit
    (a `{` typed in a long function) the context keeps the tokens that did not change, and what it
    holds is always exactly the code tokens of the current text from its anchor to the cursor."""
    from codecomp.engine import Engine
    from codecomp.engine.lexing import prefix_start, tokens_in_range
    from codecomp.syntax import TokenKind

    body = "".join(f"  var v{i} = compute(v{i - 1}, {i});\n" for i in range(1, 80))
    # one long function (as in a bundle): a `{` typed in it reshapes the tree up to its start
    head = ";(function() {\n  function compute(a, b) { return a + b; }\n" + body + "  "
    tail = "\n  return v79;\n}.call(this));\n"
    eng = Engine.load(None)
    eng.store.background_analysis = False
    uri = "file:///ctx.js"
    eng.open(uri, head + tail, "javascript", 1)
    doc = eng.document(uri)
    steps = []
    for version, typed in enumerate(JS_STEPS, start=2):
        text = head + typed + tail
        eng.change(uri, text, version)
        line, col = (head + typed).count("\n"), len((head + typed).rsplit("\n", 1)[-1])
        assert eng.complete(uri, line, col, max_items=30, fragment=False).items is not None
        ctx = doc.context
        tree, base, _cut = doc.request_syntax(prefix_start(doc.source, len((head + typed).encode())))
        want = [t for t in tokens_in_range(tree, base, "javascript", ctx.anchor, ctx.covered)
                if t.kind is not TokenKind.COMMENT and t.start_byte >= ctx.anchor and t.end_byte <= ctx.covered]
        assert ctx.tokens == want, typed
        steps.append(ctx.last_steps)
    # after the first request the model reads what was typed, never the whole window again (128+ tokens)
    assert max(steps[1:]) < 20, steps


def test_a_long_files_next_background_analysis_waits_for_its_share(monkeypatch: pytest.MonkeyPatch) -> None:
    """A long file's scope analyses keep the background thread busy for at most `BACKGROUND_SHARE` of the time:
    after one ends, the next starts only once the one before has rested for its share; requests meanwhile get
    the finished one (of an earlier text, `exact` False), never a name that is gone."""
    from codecomp.engine import session as session_mod

    eng = FallbackEngine()
    before, after = scope_doc(FILLER)
    eng.open(URI, clean(before), "javascript", 1)
    doc = eng.document(URI)
    eng.complete(URI, *end_of(before), max_items=500)
    assert doc._scope_future is not None
    doc._scope_future.result(timeout=30)
    # a share so small that the rest lasts for hours: the next text gets no analysis of its own
    monkeypatch.setattr(session_mod, "BACKGROUND_SHARE", 1e-9)
    assert "zqxStale" in labels(eng, before)  # collects the finished analysis, and rests
    assert doc._scope_future is None and doc._scope_rest_until > time.perf_counter() + 3600
    eng.change(URI, clean(after), 2)
    assert "zqxStale" not in labels(eng, after) and "zqKeep" in labels(eng, after)
    assert doc._scope_future is None  # still resting: the earlier analysis served
    # once rested, the next request starts one for its text
    doc._scope_rest_until = 0.0
    labels(eng, after)
    assert doc._scope_future is not None
    doc._scope_future.result(timeout=30)
