"""Line fragments: the document's and the project's repeated lines, the beam's syntax rules, the tree-sitter check,
agreement with the completion list, the offer threshold, and the evaluation's line-start task and baselines."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from codecomp.engine import Engine
from codecomp.engine.fragments import adds_errors, calibrate, error_nodes
from codecomp.engine.linestats import LineStats, lex, open_stack
from codecomp.engine.projectlines import ProjectLines
from codecomp.syntax import parse

REPO = Path(__file__).resolve().parents[1]
JS = (REPO / "codecomp" / "samples" / "shopping_cart.js").read_text(encoding="utf-8")

REGISTRY = b"""const a = require('a');
function f(x) {
  register(x, 1);
  return x;
}
function g(y) {
  register(y, 2);
  return y;
}
function h(z) {
  register(
"""


def stats_at_last_line(src: bytes) -> LineStats:
    lo = src.rfind(b"\n", 0, len(src) - 1) + 1
    return LineStats.of(src, lo, len(src) - 1)


# -- the document's lines ---------------------------------------------------------------------------------------
def test_repeats_prefer_the_longest_shared_context() -> None:
    st = stats_at_last_line(REGISTRY)
    reps = st.repeats([b"register", b"("])
    # `{ EOL register (` occurs twice; the nearest occurrence's continuation comes first among equals
    assert [r.text for r in reps[:2]] == ["y, 2);", "x, 1);"]
    assert reps[0].match == reps[1].match == 5 and reps[0].line == 6
    assert all(r.match < 5 for r in reps[2:])
    # the typed prefix filters the continuations
    assert [r.text for r in st.repeats([], prefix="ret")] == ["return y;", "return x;"]
    # a token the document has nowhere else matches nothing
    assert st.repeats([b"unknownName"]) == []


def test_line_breaks_come_from_the_document() -> None:
    st = stats_at_last_line(REGISTRY)
    assert st.p_break(b";", b"return") > 0.9
    assert st.p_break(b")", b"{") < 0.1       # `) {` never broken in this file
    no_semicolons = b"foo(a)\nbar(b)\nbaz(c)\nqux(d)\nx\n"
    st2 = stats_at_last_line(no_semicolons)
    assert st2.p_break(b")", b"qux") > 0.5 > st.p_break(b")", b"foo")


def test_parts_are_reused_while_typing_inside_a_line() -> None:
    cache: dict = {}
    src = REGISTRY
    lo = src.rfind(b"\n", 0, len(src) - 1) + 1
    first = LineStats.of(src, lo, len(src) - 1, cache)
    typed = src[:-1] + b"z, 3"
    again = LineStats.of(typed + b"\n", lo, len(typed), cache)
    assert again.before is first.before          # the lines before the cursor's line were not lexed again
    # moving down a line extends the cached part instead of reading it all again
    nxt = typed + b");\n  return z;\n"
    lo2 = nxt.rfind(b"\n", 0, len(nxt) - 1) + 1
    third = LineStats.of(nxt, lo2, len(nxt) - 1, cache)
    assert third.before.ids.size > first.before.ids.size
    assert [r.text for r in third.repeats([b"return"])][:1] == ["z;"] or third.repeats([b"return"])


def test_lexer_and_open_brackets() -> None:
    assert [t for t, _ in lex(b"a = 'x // y'; // gone\n/* c */ b->c")] == [b"a", b"=", b"'x // y'", b";", b"b",
                                                                           b"->", b"c"]
    assert open_stack(b"f(a, [1, {x: g(") == ["(", "[", "{", "("]
    assert open_stack(b"f(a) + g('(')") == []


# -- the project's lines ----------------------------------------------------------------------------------------
class _Entry:
    def __init__(self, serial: int) -> None:
        self.serial, self.external, self.origin = serial, False, "disk"


class _Index:
    def __init__(self, files: dict[str, _Entry]) -> None:
        self.files, self.open_docs = files, set()


def test_project_lines_skip_the_own_file_and_rank_the_previous_line_first(tmp_path: Path) -> None:
    texts = {"a.js": "import a from './a';\nproto.add = add;\nproto.sub = sub;\n",
             "b.js": "import b from './b';\nproto.add = add;\nproto.mul = mul;\n",
             "c.js": "proto.add = add;\n"}
    files = {}
    for i, (name, text) in enumerate(texts.items()):
        (tmp_path / name).write_text(text)
        files[str(tmp_path / name)] = _Entry(i)
    pl = ProjectLines(_Index(files))
    assert pl.update(None) and not pl.pending()
    own = str(tmp_path / "c.js")
    found = pl.lookup(own, [b"add", b";"], [b"proto", b"."])
    # after `add ;` the next line is `proto.sub` (a.js) or `proto.mul` (b.js); `proto.add` follows other lines
    assert {r.text for r in found if r.with_prev} == {"sub = sub;", "mul = mul;"}
    assert [r.text for r in found if not r.with_prev] == ["add = add;"] and found[-1].count == 2
    # the file being completed never counts: from b.js, only a.js speaks
    assert {r.text for r in pl.lookup(str(tmp_path / "b.js"), [b"add", b";"], [b"proto", b"."]) if r.with_prev} \
        == {"sub = sub;"}
    # a changed file is read again
    (tmp_path / "a.js").write_text("proto.add = add;\nproto.div = div;\n")
    files[str(tmp_path / "a.js")] = _Entry(10)
    assert pl.pending() and pl.update(None)
    assert "div = div;" in {r.text for r in pl.lookup(own, [b"add", b";"], [b"proto", b"."])}


def test_project_lines_stop_reading_when_a_request_waits_and_merge_what_they_read_next_time(tmp_path: Path) -> None:
    files = {}
    for i in range(4):
        (tmp_path / f"m{i}.js").write_text(f"proto.add = add;\nproto.op{i} = op{i};\n")
        files[str(tmp_path / f"m{i}.js")] = _Entry(i)
    pl = ProjectLines(_Index(files))
    asked = []

    def waiting() -> bool:  # a request arrives once two files are read
        asked.append(1)
        return len(pl.files) >= 2

    assert not pl.update(10.0, should_stop=waiting)
    assert len(pl.files) == 2 and asked
    # what was read is not merged while the request waits (the lookup does not see it yet)...
    assert pl.pending() and len(pl._unmerged()) == 2
    # ...the next slice merges it first, then reads the rest
    assert pl.update(None) and not pl.pending()
    found = {r.text for r in pl.lookup(None, [b"add", b";"], [b"proto", b"."]) if r.with_prev}
    assert found == {f"op{i} = op{i};" for i in range(4)}


def test_a_large_file_is_read_a_piece_per_step_with_the_entries_of_the_whole(tmp_path: Path, monkeypatch) -> None:
    import codecomp.engine.projectlines as projectlines

    body = "".join(f"// step {i}\nregister(handler{i}, {i});\n/* a block\n   comment {i} */\nproto.op{i % 7} = op{i};\n"
                   for i in range(60))
    (tmp_path / "big.js").write_text(body)
    files = {str(tmp_path / "big.js"): _Entry(1)}
    whole = ProjectLines(_Index(files))
    assert whole.update(None)
    monkeypatch.setattr(projectlines, "PIECE_BYTES", 300)
    monkeypatch.setattr(projectlines, "PIECE_OVERLAP", 100)
    bounds = projectlines.piece_bounds(body.encode(), 300)
    assert len(bounds) > 5 and bounds[0][1] == 0 and bounds[-1][2] == len(body.encode())
    assert all(a[2] == b[1] for a, b in zip(bounds, bounds[1:]))  # the pieces tile the file
    for _, lo, _ in bounds[1:]:
        head = body.encode()[:lo]
        assert head.endswith(b"\n") and head.rfind(b"/*") < head.rfind(b"*/")  # at a line end, outside comments
    pieced = ProjectLines(_Index(files))
    read: list[int] = []
    real = projectlines.piece_lines
    monkeypatch.setattr(projectlines, "piece_lines", lambda *a: read.append(1) or real(*a))
    steps = []
    while True:  # a request arrives as soon as a piece is read: each step reads one
        before = len(read)
        finished = pieced.update(10.0, should_stop=lambda: len(read) > before)
        steps.append(len(read) - before)
        if finished or len(steps) > 100:
            break
    assert steps == [1] * len(bounds)
    pieced.update(None)
    assert not pieced.pending() and len(pieced.files[str(tmp_path / "big.js")][1]) == len(bounds)
    for tail, line in (([b"1", b")", b";"], [b"proto", b"."]), ([b";"], [b"register", b"("]), ([], [b"proto"])):
        got = [(r.text, r.count, r.total, r.with_prev, r.files) for r in pieced.lookup(None, tail, line, limit=50)]
        want = [(r.text, r.count, r.total, r.with_prev, r.files) for r in whole.lookup(None, tail, line, limit=50)]
        assert got == want and got


def test_a_large_file_is_merged_a_few_pieces_per_step_and_found_the_same_at_every_step(tmp_path: Path,
                                                                                      monkeypatch) -> None:
    """A merge step takes at most `MERGE_ENTRIES` entries (at least one piece): a lookup between two steps reads
    the merged pieces from the levels and the others from the file, and finds what a lookup after one merge of
    everything finds."""
    import codecomp.engine.projectlines as projectlines

    body = "".join(f"register(handler{i}, {i});\nproto.op{i % 7} = op{i};\n" for i in range(80))
    big = tmp_path / "big.js"
    big.write_text(body)
    (tmp_path / "small.js").write_text("register(handler1, 1);\nproto.op1 = op1;\n")
    files = {str(big): _Entry(1), str(tmp_path / "small.js"): _Entry(2)}
    monkeypatch.setattr(projectlines, "PIECE_BYTES", 300)
    monkeypatch.setattr(projectlines, "PIECE_OVERLAP", 100)
    whole = ProjectLines(_Index(files))
    assert whole.update(None) and not whole._unmerged()
    monkeypatch.setattr(projectlines, "MERGE_ENTRIES", 40)
    stepwise = ProjectLines(_Index(files))
    stepwise.update(10.0, should_stop=lambda: len(stepwise.files) == 2)  # everything read, nothing merged
    assert len(stepwise.files[str(big)][1]) > 4 and len(stepwise._unmerged()) == 2
    queries = (([b"1", b")", b";"], [b"proto", b"."]), ([b";"], [b"register", b"("]), ([], [b"proto"]))

    def found(pl):
        return [[(r.text, r.count, r.total, r.with_prev, r.files) for r in pl.lookup(None, tail, line, limit=50)]
                for tail, line in queries]

    want = found(whole)
    assert all(want)
    steps = 0
    while stepwise._unmerged():
        assert found(stepwise) == want
        stepwise._merge(stop=lambda: True)  # one step
        steps += 1
    assert steps > 3 and found(stepwise) == want and not stepwise.pending()


def test_files_merged_one_at_a_time_are_found_as_if_merged_at_once(tmp_path: Path, monkeypatch) -> None:
    import codecomp.engine.projectlines as projectlines

    monkeypatch.setattr(projectlines, "LEVEL_ENTRIES", 60)
    files = {}
    for i in range(40):
        (tmp_path / f"f{i}.js").write_text(f"init();\nproto.add = add{i % 3};\nproto.op{i % 5} = op;\n" * (1 + i % 4))
        files[str(tmp_path / f"f{i}.js")] = _Entry(i)
    at_once = ProjectLines(_Index(files))
    assert at_once.update(None)
    stepwise = ProjectLines(_Index(files))
    while True:
        before = len(stepwise.files)
        if stepwise.update(10.0, should_stop=lambda: len(stepwise.files) > before):
            break
        stepwise.update(10.0, should_stop=lambda: True)  # the next slice merges what the last one read
    stepwise.update(None)
    assert len(stepwise._levels) > 3 and not stepwise.pending()
    own = str(tmp_path / "f7.js")
    for tail, line in (([b"(", b")", b";"], [b"proto", b"."]), ([b";"], [b"proto"]), ([], [b"init"])):
        want = [(r.text, r.count, r.total, r.with_prev, r.files) for r in at_once.lookup(own, tail, line, limit=20)]
        assert want and [(r.text, r.count, r.total, r.with_prev, r.files)
                         for r in stepwise.lookup(own, tail, line, limit=20)] == want


# -- syntax check and calibration -------------------------------------------------------------------------------
def test_error_check_counts_only_what_the_fragment_breaks() -> None:
    src = b"function h(z) {\n  "
    tree = parse(src, "javascript").tree
    lo = src.rfind(b"\n") + 1
    assert error_nodes(tree, lo, len(src), len(src)) == 0
    # a complete statement adds nothing; the unclosed block at the end is no error of the line
    assert not adds_errors(tree, src, "javascript", len(src), len(src), "foo(z, 3);", lo, len(src))
    assert adds_errors(tree, src, "javascript", len(src), len(src), "foo(z, ) 3;", lo, len(src))
    cpp = b"int f() {\n  "
    t2 = parse(cpp, "cpp").tree
    lo2 = cpp.rfind(b"\n") + 1
    assert not adds_errors(t2, cpp, "cpp", len(cpp), len(cpp), "int x = 3;", lo2, len(cpp))
    assert adds_errors(t2, cpp, "cpp", len(cpp), len(cpp), "int x = = 3;", lo2, len(cpp))


def test_a_line_that_closes_what_the_code_below_expects_repairs_it() -> None:
    from codecomp.engine.fragments import LineCandidate, pick, syntax_effect

    # the closing line of `f` was removed: `}` repairs the code after the cursor's line
    src = b"function f(a) {\n  if (a) {\n    g(a);\n  \n}\nfunction h() {}\n"
    cur = src.index(b"  \n}") + 2
    lo, hi = cur - 2, cur
    tree = parse(src, "javascript").tree
    assert syntax_effect(tree, src, "javascript", cur, cur, "}", lo, hi)[1] < 0
    # in balanced code the same `}` breaks what follows
    ok = b"function f(a) {\n  g(a);\n  \n}\nfunction h() {}\n"
    cur2 = ok.index(b"  \n}") + 2
    assert syntax_effect(parse(ok, "javascript").tree, ok, "javascript", cur2, cur2, "}", cur2 - 2, cur2)[1] > 0
    # at the end of what is typed nothing after the line can tell
    end = b"function f(a) {\n  "
    assert syntax_effect(parse(end, "javascript").tree, end, "javascript", len(end), len(end), "}",
                         len(end) - 2, len(end))[1] == 0
    # the repair outweighs a better score; a break is refused
    close, call = LineCandidate("}", ["}"], score=1.0), LineCandidate("g(a);", ["g", "(", "a", ")", ";"], score=2.0)
    effects = {"}": (0, -1), "g(a);": (0, 0)}
    chosen, refused = pick([call, close], lambda c: effects[c.text])
    assert chosen is close and refused == 0 and chosen.score > 2.0
    chosen, refused = pick([call, close], lambda c: {"}": (0, 0), "g(a);": (0, 1)}[c.text])
    assert chosen is close and refused == 1


def test_calibration_is_monotone_in_the_score() -> None:
    probs = calibrate([2.0, 1.0, -1.0], (-0.2, 0.3, 2.5))
    assert probs[0] > probs[1] > probs[2] and all(0 < p < 1 for p in probs)
    # a clear winner is more likely exact than one among equals
    assert calibrate([2.0, -3.0], (-0.2, 0.3, 2.5))[0] > calibrate([2.0, 2.0], (-0.2, 0.3, 2.5))[0]


# -- the engine -------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def shipped() -> Engine:
    eng = Engine.load(None)
    assert isinstance(eng, Engine), eng.problem
    return eng


def _untimed(engine: Engine, uri: str) -> None:
    """Decode fragments to the end, as the evaluation does: in the editor the beam search stops after its time
    budget, so on a loaded machine a candidate these tests look for could be cut."""
    engine.document(uri).background_analysis = False


def test_a_repeated_statement_is_completed_and_checked(shipped: Engine) -> None:
    # at the start of the new function's body, the statement that starts the other bodies is the candidate
    src = REGISTRY.decode()[:-1]
    src = src[:src.rfind("\n") + 1] + "  "
    shipped.open("file:///reg.js", src, "javascript", 1)
    _untimed(shipped, "file:///reg.js")
    shipped.fragment_threshold, saved = 0.0, shipped.fragment_threshold
    try:
        res = shipped.complete("file:///reg.js", src.count("\n"), 2)
    finally:
        shipped.fragment_threshold = saved
    assert res.fragment is not None
    assert "\n" not in res.fragment.text and 0.0 < res.fragment.score < 1.0
    # the statement that starts the other bodies is a candidate, with the document's evidence for it
    cands = {c.text: c for c, _ in shipped.line_candidates("file:///reg.js", src.count("\n"), 2)}
    rep = cands["register(y, 2);"].repeat
    assert rep is not None and rep.match >= 3 and rep.line == 6
    # the fragment parses: no ERROR node in the line once inserted
    doc = (src + res.fragment.text).encode()
    assert error_nodes(parse(doc, "javascript").tree, len(src.encode()) - 2, len(doc), len(doc)) == 0
    shipped.close("file:///reg.js")


def test_fragments_agree_with_the_list_or_say_why(shipped: Engine) -> None:
    shipped.open("file:///cart.js", JS, "javascript", 1)
    _untimed(shipped, "file:///cart.js")
    shipped.fragment_threshold, saved = 0.0, shipped.fragment_threshold
    seen = disagree = 0
    try:
        for line_no, line in enumerate(JS.splitlines()):
            for col in range(len(line) - len(line.lstrip()), len(line) + 1, 9):
                res = shipped.complete("file:///cart.js", line_no, col, max_items=5)
                if res.fragment is None or not res.items:
                    continue
                seen += 1
                top = res.items[0].label
                if not res.fragment.text.startswith(top):
                    disagree += 1
                    assert res.fragment.note and f"`{top}`" in res.fragment.note
                    assert res.note and res.fragment.note in res.note
    finally:
        shipped.fragment_threshold = saved
    assert seen > 10


def test_no_fragment_below_the_threshold(shipped: Engine) -> None:
    src = REGISTRY.decode()[:-1] + "z, "
    shipped.open("file:///reg.js", src, "javascript", 1)
    _untimed(shipped, "file:///reg.js")
    line, col = src.count("\n"), len(src.splitlines()[-1])
    saved = shipped.fragment_threshold
    try:
        shipped.fragment_threshold = 0.0
        assert shipped.complete("file:///reg.js", line, col).fragment is not None
        shipped.fragment_threshold = 1.01
        res = shipped.complete("file:///reg.js", line, col)
    finally:
        shipped.fragment_threshold = saved
    assert res.fragment is None and "below the 1.01 needed" in res.fragment_reason


def test_greedy_mode_is_the_earlier_decoder(shipped: Engine) -> None:
    shipped.open("file:///cart.js", JS, "javascript", 1)
    _untimed(shipped, "file:///cart.js")
    shipped.fragment_mode = "greedy"
    try:
        res = shipped.complete("file:///cart.js", *_after(JS, "this.items.push("))
    finally:
        shipped.fragment_mode = "beam"
    assert res.fragment is None or math.isfinite(res.fragment.score)


def _after(text: str, needle: str) -> tuple[int, int]:
    i = text.index(needle) + len(needle)
    return text.count("\n", 0, i), i - (text.rfind("\n", 0, i) + 1)


# -- the evaluation ---------------------------------------------------------------------------------------------
def test_line_view_and_repeat_line_baseline() -> None:
    from test_eval_baselines import make_doc

    from codecomp.eval.baselines import RepeatLineSystem
    from codecomp.eval.documents import Query

    doc = make_doc(["a . b ( 1 ) ;", "c = d ;", "a . b ( 2 ) ;", "a . b ( 3 ) ;", "e ;"])
    third = doc.tokens.index("2") - 4          # the `a` of `a . b ( 2 ) ;`
    fourth = doc.tokens.index("3") - 4
    q = Query(doc, fourth, "", "line")
    text, cursor = q.document()
    assert text == "a . b ( 1 ) ;\nc = d ;\na . b ( 2 ) ;\n\ne ;\n" and cursor == text.index("\n\ne") + 1
    assert q.line_target() == "a . b ( 3 ) ;"
    rep = RepeatLineSystem()
    # nothing typed: the previous line; the first token typed: the latest line starting with it
    assert rep.rest_of_line(q) == "a . b ( 2 ) ;"
    assert rep.rest_of_line(Query(doc, fourth, "a", "line")) == " . b ( 2 ) ;"
    assert rep.rest_of_line(Query(doc, third, "c", "line")) == " = d ;"
    assert rep.rest_of_line(Query(doc, third, "z", "line")) == ""
    # inside a line: the tokens so far must match
    assert rep.rest_of_line(Query(doc, fourth + 4, "", "left")) == "2 ) ;"


def test_ngram_cache_sees_the_file_without_the_rest_of_the_line() -> None:
    from codecomp.engine.ngram import FileCache

    cache = FileCache(3)
    cache.build_parts([["a", "b", "c"], ["d", "e"]])
    assert ("c",) not in cache.counts          # no n-gram spans the two parts
    assert cache.counts[("d",)] == {"e": 1} and cache.size() == 5


def test_line_start_task_scores_coverage_and_precision() -> None:
    from test_eval_baselines import make_doc

    from codecomp.eval.baselines import RepeatLineSystem
    from codecomp.eval.harness import eval_line_starts, sample_line_start_positions

    docs = [make_doc(["x = 1 ;", "x = 1 ;", "y = 2 ;", "x = 1 ;"], path=f"f{i}.js") for i in range(3)]
    rep = RepeatLineSystem()
    sample = sample_line_start_positions(docs, 12, 0)
    out = eval_line_starts([rep], docs, sample, progress=False, primary="repeat-line")
    t0, t1 = out["systems"]["repeat-line"]["t0"]["all"], out["systems"]["repeat-line"]["t1"]["all"]
    assert t0["n"] == t1["n"] == len(sample.picks)
    # the first line has no earlier line: no answer there, so coverage is below 100 and precision is defined
    assert 0 < t0["coverage"] < 100 and t0["precision"] is not None
    assert t0["offered_exact"] <= t0["exact_match"] and t0["saved_percent"] >= 0


# -- generation with the syntax check ---------------------------------------------------------------------------
class _ScriptedStepper:
    """A byte 'model' that writes a scripted line, and the next script line each time it is sent back to a saved
    state (a line sampled again)."""

    def __init__(self, lines: list[bytes]) -> None:
        self.lines = lines
        self.pos = 0
        self.tries = 0

    def __call__(self, b: int) -> np.ndarray:
        self.pos = 0 if b in (10, 257) else self.pos + 1
        line = self.lines[min(self.tries, len(self.lines) - 1)]
        logits = np.full(259, -1e9)
        logits[line[self.pos] if self.pos < len(line) else 258] = 0.0
        return logits

    def save(self) -> object:
        return self.pos

    def load(self, state: object) -> None:
        self.pos = state  # type: ignore[assignment]
        self.tries += 1


def test_a_line_that_breaks_the_parse_is_sampled_again() -> None:
    from codecomp.engine.generate import error_count, sample_lines

    step = _ScriptedStepper([b"int x = = 3;\n", b"int y = 4;\n"])
    logits = step(257)
    out, rep = sample_lines(step, b"", "cpp", max_chars=20, seed=0, attempts=3, logits=logits)
    assert out.startswith(b"int y = 4;\n") and rep.resampled >= 1
    assert error_count(out, "cpp") == 0
    assert error_count(b"int x = = 3;\n", "cpp") > 0


def test_workspace_lexer_reads_a_file_that_ends_with_a_declaration_keyword() -> None:
    # a document cut right after `const` (a user typing it at the end of a file) is read, not an exception
    from codecomp.engine.workspace import lexical

    facts = lexical.analyze(b"var a = 1;\nconst", "javascript")
    assert [d.name for d in facts.declarations] == ["a"]


def test_project_lines_pending_is_kept_until_the_index_changes(tmp_path: Path) -> None:
    """Once everything is read, `pending` answers without scanning the files again until the index counts a change
    (its `generation`) or the open documents change; then it looks again and sees the changed file."""
    files = {}
    for i in range(3):
        (tmp_path / f"m{i}.js").write_text(f"proto.add = add;\nproto.op{i} = op{i};\n")
        files[str(tmp_path / f"m{i}.js")] = _Entry(i)
    index = _Index(files)
    index.generation = 0
    pl = ProjectLines(index)
    assert pl.pending() and pl.update(None) and not pl.pending()
    scans = []
    real = pl._todo
    pl._todo = lambda limit=None: (scans.append(limit), real(limit))[1]
    assert not pl.pending() and not pl.pending() and scans == []
    # a file changed: the index counts it, and the next question scans again
    (tmp_path / "m1.js").write_text("proto.add = add;\nproto.mod = mod;\n")
    files[str(tmp_path / "m1.js")] = _Entry(10)
    assert not pl.pending()  # (the index has not counted it yet: still the answer kept for its generation)
    index.generation += 1
    assert pl.pending() and scans
    assert pl.update(None) and not pl.pending()
    assert "mod = mod;" in {r.text for r in pl.lookup(None, [b"add", b";"], [b"proto", b"."])}
    # an opened document changes what is read: asked again
    scans.clear()
    index.open_docs.add(str(tmp_path / "m2.js"))
    pl.pending()
    assert scans


def test_the_document_being_edited_is_read_once_another_one_is(tmp_path: Path) -> None:
    """The open document being edited (`current`) is not read while it is: a lookup from it never counts its own
    lines, and its text changes at every pause.  Once another document is the current one, its latest editor
    text is read, and a lookup from that other document finds it."""
    texts = {"a.js": "proto.add = add;\nproto.sub = sub;\n", "b.js": "proto.add = add;\nproto.mul = mul;\n"}
    files = {}
    for i, (name, text) in enumerate(texts.items()):
        (tmp_path / name).write_text(text)
        files[str(tmp_path / name)] = _Entry(i)
    editor = {str(tmp_path / "a.js"): "proto.add = add;\nproto.typed = typed;\n"}
    files[str(tmp_path / "a.js")] = edited = _Entry(5)
    edited.origin = "editor"
    index = _Index(files)
    index.open_docs.add(str(tmp_path / "a.js"))
    pl = ProjectLines(index, editor.get)
    pl.current = str(tmp_path / "a.js")
    assert pl.update(None) and not pl.pending()
    assert str(tmp_path / "a.js") not in pl.files
    pl.current = str(tmp_path / "b.js")
    assert pl.pending() and pl.update(None)
    assert "typed = typed;" in {r.text for r in pl.lookup(str(tmp_path / "b.js"), [b"add", b";"], [b"proto", b"."])}


def test_project_lines_follow_the_index_change_log_and_read_only_what_changed(tmp_path: Path, monkeypatch) -> None:
    """With a real index, a step does not look at every file: the project's lines take the paths the index
    changed since their last look (`changes_since`), read those (and only those) again, forget a removed file,
    and look at every file again when the log no longer reaches back to their mark."""
    import codecomp.engine.workspace.index as index_mod
    from codecomp.engine.workspace import WorkspaceIndex

    for i in range(6):
        (tmp_path / f"m{i}.js").write_text(f"proto.add = add;\nproto.op{i} = op{i};\n")
    index = WorkspaceIndex([tmp_path])
    index.build()
    pl = ProjectLines(index)
    read: list[str] = []
    real_text = pl._text
    pl._text = lambda path, entry: (read.append(Path(path).name), real_text(path, entry))[1]
    assert pl.update(None) and sorted(read) == [f"m{i}.js" for i in range(6)] and not pl.pending()

    def found() -> set[str]:
        return {r.text for r in pl.lookup(None, [b"add", b";"], [b"proto", b"."], limit=10) if r.with_prev}

    assert found() == {f"op{i} = op{i};" for i in range(6)}
    changes, mark = index.changes_since(None)
    assert changes is None and index.changes_since(mark) == ([], mark)
    # one file changed on disk: the log names it, and it alone is read again
    (tmp_path / "m2.js").write_text("proto.add = add;\nproto.mod = mod;\n")
    index.update_file(tmp_path / "m2.js")
    assert index.changes_since(mark)[0] == [str(tmp_path / "m2.js")]
    read.clear()
    assert pl.pending() and pl.update(None) and read == ["m2.js"] and not pl._queue
    assert "mod = mod;" in found() and "op2 = op2;" not in found()
    # a removed file is forgotten without reading anything
    read.clear()
    (tmp_path / "m3.js").unlink()
    index.remove_file(tmp_path / "m3.js")
    assert pl.pending() and pl.update(None) and read == [] and "op3 = op3;" not in found()
    assert str(tmp_path / "m3.js") not in pl.files
    # the log keeps a bounded tail: a reader left behind looks at every file again and misses nothing
    monkeypatch.setattr(index_mod, "CHANGE_LOG_MIN", 4)
    for rep in range(24):
        (tmp_path / "m4.js").write_text(f"proto.add = add;\nproto.v{rep} = v{rep};\n")
        index.update_file(tmp_path / "m4.js")
    assert index.changes_since(pl._mark)[0] is None
    read.clear()
    assert pl.update(None) and read == ["m4.js"]
    assert "v23 = v23;" in found() and "v0 = v0;" not in found() and "mod = mod;" in found()
    # the changed file's old entries were taken out of the levels on the way (not kept, masked, 24 times over)
    assert len(pl._merged_paths) < 5 + 16 and all(fid.max() < len(pl._merged_paths) for _, fid, _, _ in pl._levels)
    # merged pieces keep their tokens only: the entries live in the levels
    assert all(fl.keys.size == 0 for _, pieces in pl.files.values() for fl in pieces)


def test_the_project_lines_wait_for_a_pause_in_typing_while_request_work_does_not(tmp_path: Path) -> None:
    """`idle_delay`: idle work for the next request (its preparation, the model track) may run between
    keystrokes; once only the project's lines are left to read, it asks for a pause in typing, and the host
    hands that pause to the server with its `idle_pending` after every job."""
    from codecomp.engine.core import PROJECT_LINES_AFTER_S
    from codecomp.engine.workspace import WorkspaceIndex
    from lsp_server.host import EngineHost

    for i in range(3):
        (tmp_path / f"m{i}.js").write_text(f"proto.add = add;\nproto.op{i} = op{i};\n")
    index = WorkspaceIndex([tmp_path])
    index.build()
    eng = Engine.load(None)
    assert isinstance(eng, Engine), eng.problem
    eng.set_workspace(index)
    uri = (tmp_path / "app.js").as_uri()
    eng.open(uri, "proto.add = add;\nproto.", "javascript", 1)
    eng.complete(uri, 1, 6, fragment=False)
    host = EngineHost()
    host.engine = eng
    try:
        def after_a_job() -> tuple[bool, float]:  # what the host tells the server after a job (read by the next)
            host.submit(lambda: None).result(10)
            return host.submit(lambda: (host.idle_pending, host.idle_after_s)).result(10)

        assert eng._request_work_pending() and eng.idle_delay() == 0.0 and after_a_job() == (True, 0.0)
        for _ in range(200):  # the request work first: no pause asked for while some is left
            if not eng._request_work_pending():
                break
            assert eng.idle_delay() == 0.0
            host.submit(eng.work_in_idle, 1.0).result(10)
        assert eng._project_lines_pending() and eng.idle_delay() == PROJECT_LINES_AFTER_S > 0
        assert after_a_job() == (True, PROJECT_LINES_AFTER_S)
        while eng.has_idle_work():
            host.submit(eng.work_in_idle, 1.0).result(10)
        assert after_a_job() == (False, 0.0)
    finally:
        host.shutdown()
    assert {f"op{i} = op{i};" for i in range(3)} <= {r.text for r in eng.project_lines().lookup(
        None, [b"add", b";"], [b"proto", b"."], limit=10) if r.with_prev}
    # an edit brings request work back: no pause asked for
    eng.change(uri, "proto.add = add;\nproto.op(", 2)
    assert eng._request_work_pending() and eng.idle_delay() == 0.0
