"""`SlicedParse`: a tree-sitter parse in bounded slices that resumes where it stopped and gives up on
pathological input, and the engine's use of it (requests answered without syntax while a parse is under way)."""
from __future__ import annotations

from codecomp.engine import Engine
from codecomp.syntax import SlicedParse, get_parser

LONG = "".join(f"int value{i} = compute(value{i - 1}, {i}) * (other + {i});\n" for i in range(1, 20000)).encode()


def test_a_parse_in_short_slices_resumes_and_ends_with_the_same_tree() -> None:
    job = SlicedParse("cpp", LONG)
    rounds = 0
    while not job.advance(0.001):
        rounds += 1
    assert rounds > 1, "the parse was expected to need several slices"
    assert job.failed is None and job.tree is not None
    whole = get_parser("cpp").parse(LONG)
    assert str(job.tree.root_node) == str(whole.root_node)


def test_an_incremental_sliced_parse_matches_a_plain_reparse() -> None:
    from codecomp.syntax import changed_span, edit_tree

    old = get_parser("cpp").parse(LONG)
    new_source = LONG.replace(b"value500 =", b"renamed500 =", 1)
    start, old_end, new_end = changed_span(LONG, new_source)
    edit_tree(old, LONG, new_source, start, old_end, new_end)
    job = SlicedParse("cpp", new_source, old)
    assert job.advance(None) and job.failed is None
    assert str(job.tree.root_node) == str(get_parser("cpp").parse(new_source).root_node)


def test_a_parse_that_grows_without_bound_is_given_up() -> None:
    deep = b"int f() { return " + b"a<" * 100000
    job = SlicedParse("cpp", deep, max_growth=30 << 20)
    assert job.advance(None)
    assert job.tree is None and "MB" in (job.failed or "")
    slow = SlicedParse("cpp", LONG, max_seconds=0.0)
    assert slow.advance(None) and slow.tree is None and "took more than" in (slow.failed or "")


def test_the_engine_answers_without_syntax_until_the_parse_is_done() -> None:
    engine = Engine.load(None)
    uri = "file:///sliced.cpp"
    text = LONG.decode() * 3 + "int z = val"
    engine.open(uri, text, "cpp", 1)
    doc = engine.document(uri)
    line = text.count("\n")
    first = engine.complete(uri, line, len("int z = val"))
    if doc.parse_pending:   # a fast machine may finish within the request's share
        assert "still being parsed" in (first.note or "")
        assert first.items, "the list is served from the words of the file meanwhile"
    while engine.work_in_idle(0.01):
        pass
    assert not doc.parse_pending and doc.tree is not None
    done = engine.complete(uri, line, len("int z = val"))
    assert "parsed" not in (done.note or "") and done.items
    # in evaluation mode (no background work) a document is always parsed whole before it is answered
    engine.store.background_analysis = False
    engine.open("file:///eval.cpp", text, "cpp", 1)
    assert "parsed" not in (engine.complete("file:///eval.cpp", line, len("int z = val")).note or "")
