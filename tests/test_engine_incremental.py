"""Per-keystroke analyses kept up to date incrementally give exactly what a scan of the whole text gives.

A document's comment and literal ranges (`Document.literal_ranges`, and `Document.request_literal_ranges` of the
text without the word at the cursor that requests parse), its identifier counts in code
(`candidates.code_counts`) and its member uses (`candidates.member_names`) are brought up to date from the
edited region after each keystroke instead of being recomputed from the whole file.  Here real fixture files
are edited at random (typing, deleting, pasting, and the characters that change what is code: quotes, comment
openers and closers, backticks, brackets) and after every edit each incremental answer is compared with the
whole-text computation of the same text.
"""
from __future__ import annotations

import random
from collections import Counter
from pathlib import Path

import pytest

from codecomp.engine import candidates as cand_mod
from codecomp.engine import session as session_mod
from codecomp.engine.lexing import find_identifiers, literal_ranges
from codecomp.engine.session import Document, LineTable
from codecomp.syntax import parsed as parsed_mod
from codecomp.syntax.languages import get_parser

FIXTURES = Path(__file__).resolve().parents[1] / "corpora" / "fixtures"
FILES = {
    "javascript": ["router/lib/router.js", "tasklist/src/list.js", "textstats/sentences.js"],
    "cpp": ["inifile/src/ini.cpp", "geometry/shapes.cc", "ringbuffer/main.cpp"],
}
# what is inserted: plain typing, and the pieces that open or close comments, strings and blocks
PIECES = {
    "javascript": ["a", "x", " ", "\n", "'", '"', "`", "/*", "*/", "//", "${", "}", "(", ")", "{", "/", ".",
                   "foo.bar", "\\", "é", "😀", "const s = 'it'; // note\n"],
    "cpp": ["a", "x", " ", "\n", "'", '"', "/*", "*/", "//", "#include <x>\n", "#if 0\n", "#endif\n", "R\"(",
            ")\"", "(", ")", "{", "}", "->", "::", "\\", "é", "😀", "auto s = \"it\"; // note\n"],
}


def _edits(text: str, lang: str, rng: random.Random, n: int):
    """`n` successive (text, where the edit was), each text one random edit away from the one before."""
    pos = rng.randrange(len(text) + 1)
    for _ in range(n):
        # mostly near the previous edit, as when typing; now and then anywhere
        pos = rng.randrange(len(text) + 1) if rng.random() < 0.2 else min(max(pos + rng.randint(-8, 8), 0), len(text))
        kind = rng.random()
        if kind < 0.6:
            piece = rng.choice(PIECES[lang])
            text = text[:pos] + piece + text[pos:]
        elif kind < 0.85:
            text = text[:pos] + text[pos + rng.randint(1, 12):]
        else:  # a line moved elsewhere (a paste)
            line = text[pos:text.find("\n", pos) + 1 if "\n" in text[pos:] else len(text)]
            text = text[:pos] + text[pos + len(line):]
            at = rng.randrange(len(text) + 1)
            text = text[:at] + line + text[at:]
            pos = at
        yield text, pos


def _whole_member_names(doc: Document, op: str, cursor: int):
    """`member_names` computed from scratch (its caches emptied)."""
    saved = {k: doc.extra.pop(k) for k in list(doc.extra) if k in ("members", "qualified")}
    try:
        return cand_mod.member_names(doc, op, cursor)
    finally:
        for k in ("members", "qualified"):
            doc.extra.pop(k, None)
        doc.extra.update(saved)


@pytest.mark.parametrize("lang", ["javascript", "cpp"])
@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("retokenize", [False, True], ids=["ranges", "tokens"])
def test_incremental_analyses_equal_whole_scans(lang, seed, retokenize, monkeypatch):
    # "tokens": every changed range is compared token by token before its literals are queried again
    # (`literal_windows`), which otherwise happens only for ranges larger than these small files have
    if retokenize:
        monkeypatch.setattr(session_mod, "RETOKENIZE_BYTES", -1)
    rng = random.Random(seed)
    queries = Counter()
    real = session_mod.literal_spans
    real_lines = cand_mod.changed_lines

    def counted_lines(old, new):
        got = real_lines(old, new)
        queries["lines" if got is not None else "rescan"] += 1
        return got

    monkeypatch.setattr(cand_mod, "changed_lines", counted_lines)

    current: list[Document] = []

    def counted(tree, lang, start=None, end=None):
        # the document's own tree, or the request tree (the text without the word at the cursor)
        which = "request " if current and tree is current[-1]._req_tree and tree is not current[-1].tree else ""
        queries[which + ("window" if start is not None else "whole")] += 1
        return real(tree, lang, start, end)

    monkeypatch.setattr(session_mod, "literal_spans", counted)
    for name in FILES[lang]:
        text = (FIXTURES / name).read_text(encoding="utf-8")
        doc = Document(f"file:///{name}", text, lang)
        doc.background_analysis = False
        current.append(doc)
        incremental_steps = 0
        for version, (new, pos) in enumerate(_edits(text, lang, rng, 60), start=1):
            doc.change(new, version)
            tree = doc.ensure_parsed()
            assert tree is not None
            if doc._literals.source is not None:
                incremental_steps += 1
            assert doc.literal_ranges() == literal_ranges(tree, lang), (name, version)
            # the cursor where the edit was, as when typing (bytes and characters agree before the first
            # non-ASCII character; elsewhere it is just another cursor), now and then anywhere
            cursor = min(pos, len(doc.source)) if rng.random() < 0.8 else rng.randrange(len(doc.source) + 1)
            base, ranges = doc.request_literal_ranges(cursor)
            assert base == doc.analysis_text(cursor)[0]
            assert ranges == literal_ranges(doc.request_tree(cursor), lang), (name, version)
            text_now, _ = cand_mod.code_text(doc, cursor)
            assert cand_mod.code_counts(doc, cursor) == Counter(find_identifiers(text_now)), (name, version)
            op = rng.choice([".", "::"])
            got = cand_mod.member_names(doc, op, cursor)
            want = _whole_member_names(doc, op, cursor)
            assert got[0] == want[0] and got[1] == want[1], (name, version, op)
            assert all(got[0].values()) and all(c and all(c.values()) for c in got[1].values())
        assert incremental_steps > 40
    # the windows were queried, not the whole tree at every edit
    assert queries["window"] > 3 * queries["whole"], queries
    # so were they for the request tree, though a cursor that moves to another word changes its text in two
    # places (the old word back, the new one out), which reads as one edit spanning both
    assert queries["request window"] > queries["request whole"], queries
    # and the counts were brought up to date from the changed lines, not rescanned, most of the time
    assert queries["lines"] > queries["rescan"], queries


@pytest.mark.parametrize("seed", [0, 1])
def test_line_table_after_edits_equals_a_fresh_one(seed):
    rng = random.Random(seed)
    text = (FIXTURES / "router/lib/router.js").read_text(encoding="utf-8")
    doc = Document("file:///r.js", text, "javascript")
    pieces = ["\n", "\r\n", "\r", "x", "é", "😀", "a\rb", "\n\n"]
    for version in range(1, 200):
        pos = rng.randrange(len(doc.text) + 1)
        if rng.random() < 0.6:
            new = doc.text[:pos] + rng.choice(pieces) + doc.text[pos:]
        else:
            new = doc.text[:pos] + doc.text[pos + rng.randint(1, 6):]
        doc.byte_of(0, 0)  # the table of the old text is built, so the next one derives from it
        doc.change(new, version)
        fresh = LineTable(doc.source)
        got = doc.index
        assert got.starts.tolist() == fresh.starts.tolist(), version
        assert got.ends.tolist() == fresh.ends.tolist(), version


@pytest.mark.parametrize("lang", ["javascript", "cpp"])
def test_the_tokens_outside_reused_subtrees_and_those_inside_are_the_new_trees_tokens(lang):
    """`unreused_tokens` reads a re-parse's tokens without the subtrees it took over from the tree before; the
    tokens of the old tree inside those subtrees, put back in between, give exactly the new tree's tokens of the
    range, after every random edit (and some of those edits reshape the tree far before them); the old tree read
    around the same spans (`tokens_outside`) with the same tokens put back gives the old tree's tokens."""
    from codecomp.engine.lexing import tokens_in_range, tokens_outside, unreused_tokens
    from codecomp.syntax import SlicedParse
    from codecomp.syntax.parsed import changed_span, edit_tree

    rng = random.Random(7)
    skipped = 0
    for name in FILES[lang]:
        text = (FIXTURES / name).read_text(encoding="utf-8")
        old_source = text.encode("utf-8")
        job = SlicedParse(lang, old_source)
        job.advance(None)
        old_tree = job.tree
        for new, _pos in _edits(text, lang, rng, 40):
            source = new.encode("utf-8")
            start, old_end, new_end = changed_span(old_source, source)
            edited = old_tree.copy()
            edit_tree(edited, old_source, source, start, old_end, new_end)
            job = SlicedParse(lang, source, edited)
            job.advance(None)
            for r in edited.changed_ranges(job.tree):
                lo, hi = r.start_byte, r.end_byte
                fresh, reused = unreused_tokens(edited, job.tree, source, lang, lo, hi)
                assert reused == sorted(reused) and all(a[1] <= b[0] for a, b in zip(reused, reused[1:]))
                kept = [t for s, e in reused for t in tokens_in_range(edited, source, lang, s, e)
                        if t.start_byte >= s and t.end_byte <= e]
                got = sorted(fresh + kept, key=lambda t: (t.start_byte, t.end_byte))
                assert got == tokens_in_range(job.tree, source, lang, lo, hi), (name, lo, hi)
                # the old tree read around the same spans, without lookups in the new one, plus the same kept
                # tokens, gives the old tree's tokens of the range (read from the new text, as its user does)
                around = tokens_outside(edited, source, lang, lo, hi, set(reused))
                old_got = sorted(around + kept, key=lambda t: (t.start_byte, t.end_byte))
                assert old_got == tokens_in_range(edited, source, lang, lo, hi), (name, lo, hi)
                skipped += len(kept)
            old_source, old_tree = source, job.tree
    assert skipped > 0  # some subtrees were taken over, and their tokens were not read from the new tree


@pytest.mark.parametrize("lang", ["javascript", "cpp"])
@pytest.mark.parametrize("seed", [0, 1])
def test_an_edit_handed_over_gives_the_document_a_whole_text_gives(lang, seed):
    """`Document.change` with the edit (LSP coordinates of the text held, as the server knows it) ends in the same
    bytes, lines, identifier counts, tree and tokens as with the whole text compared, after random edits that
    insert, delete and replace (line breaks of every kind, astral characters, comments and strings opened)."""
    rng = random.Random(seed)
    text = (FIXTURES / FILES[lang][seed]).read_text(encoding="utf-8")
    uri = "file:///e." + ("js" if lang == "javascript" else "cpp")
    whole, edited = Document(uri, text, lang), Document(uri, text, lang)
    pieces = PIECES[lang] + ["\r", "\r\n", "\n\r", ""]
    for version in range(1, 120):
        pos = rng.randrange(len(text) + 1)
        cut = min(len(text), pos + (rng.randint(0, 6) if rng.random() < 0.5 else 0))
        inserted = rng.choice(pieces)
        new = text[:pos] + inserted + text[cut:]

        def lsp(cp: int) -> tuple[int, int]:
            return edited.position_of_byte(len(text[:cp].encode("utf-8", "surrogatepass")))

        (l0, c0), (l1, c1) = lsp(pos), lsp(cut)
        if rng.random() < 0.5:  # the tables exist before the edit (the common case in the server) or not
            whole.byte_of(0, 0)
        whole.change(new, version)
        edited.change(new, version, (l0, c0, l1, c1, inserted))
        text = new
        assert edited.source == whole.source == text.encode("utf-8", "surrogatepass")
        assert edited.text == text and edited.idents == whole.idents, version
        assert edited.index.starts.tolist() == LineTable(edited.source).starts.tolist(), version
        # without a lone "\r" (once seen, the flag may stay: rows are then counted) a tree edit's rows and
        # columns come from the lines: the same as counted
        assert edited.index.lone_cr or not LineTable(edited.source).lone_cr
        if not edited.index.lone_cr:
            for b in (rng.randrange(len(edited.source) + 1) for _ in range(5)):
                assert parsed_mod._point_in(edited.index.starts, b) == parsed_mod.point_of_byte(edited.source, b)
        if version % 10 == 0:
            for doc in (whole, edited):
                while not doc.parse_some(None, 0.05):
                    pass
            assert str(edited.tree.root_node) == str(whole.tree.root_node), version
            # and both are what a parse from scratch gives, rows and columns included (the tokens carry them)
            scratch = get_parser(lang).parse(edited.source)
            assert str(scratch.root_node) == str(edited.tree.root_node), version
            fresh = session_mod.tokens_in_range(scratch, edited.source, lang, 0, len(edited.source))
            for doc in (whole, edited):
                assert session_mod.tokens_in_range(doc.tree, doc.source, lang, 0, len(doc.source)) == fresh, version
