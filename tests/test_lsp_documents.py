"""The server's document model: incremental edits in UTF-16/UTF-8/UTF-32 columns, LSP line breaks, settings."""
from __future__ import annotations

import re

import pytest
from hypothesis import given, settings as hsettings, strategies as st
from lsprotocol import types

from codecomp.engine.types import Completion
from lsp_server.documents import UTF8, UTF16, UTF32, Document, DocumentError, units
from lsp_server.lexical import complete_words
from lsp_server.settings import Settings, parse_settings


def naive_lines(text: str) -> list[str]:
    """Reference split on LSP line breaks, keeping terminators."""
    parts = re.split(r"(\r\n|\r|\n)", text)
    lines = ["".join(parts[i : i + 2]) for i in range(0, len(parts), 2)]
    return lines


def naive_offset(text: str, line: int, col: int, enc: str) -> int:
    lines = naive_lines(text)
    if line >= len(lines):
        return len(text)
    base = sum(len(l) for l in lines[:line])
    content = lines[line].rstrip("\r\n")
    used = 0
    for i, ch in enumerate(content):
        w = units(ch, enc)
        if used + w > col:
            return base + i
        used += w
    return base + len(content)


def change(sl: int, sc: int, el: int, ec: int, text: str) -> types.TextDocumentContentChangePartial:
    return types.TextDocumentContentChangePartial(
        range=types.Range(start=types.Position(line=sl, character=sc), end=types.Position(line=el, character=ec)),
        text=text,
    )


def test_astral_characters_count_two_utf16_units() -> None:
    doc = Document("file:///a.js", "let 𝒳 = 1;\nlet é = 𝒳;\n", 1, "javascript")
    # "let 𝒳" is 6 UTF-16 units: the space after it starts at column 6.
    assert doc.offset_at(0, 6, UTF16) == 5
    assert doc.offset_at(0, 6, UTF8) == 4  # "let " is 4 bytes, 𝒳 is 4 bytes: column 6 is inside it
    assert doc.offset_at(0, 5, UTF32) == 5
    # a column inside the surrogate pair clamps to the start of the character
    assert doc.offset_at(0, 5, UTF16) == 4
    assert doc.position_at(5, UTF16) == types.Position(line=0, character=6)
    assert doc.position_at(5, UTF8) == types.Position(line=0, character=8)
    doc.apply(change(1, 4, 1, 5, "ee"), UTF16)
    assert doc.text == "let 𝒳 = 1;\nlet ee = 𝒳;\n"


def test_line_breaks_follow_lsp_rules() -> None:
    doc = Document("file:///a.cpp", "a\r\nb\rc\nd\u2028e\x0cf", 1, "cpp")
    assert doc.line_count == 4
    assert doc.line_text(3) == "d\u2028e\x0cf"  # only \n, \r\n and \r break lines
    # inserting "\n" after a lone "\r" turns it into one "\r\n" break
    doc.apply(change(1, 1, 2, 0, "\r\n"), UTF16)
    assert doc.text == "a\r\nb\r\nc\nd\u2028e\x0cf"
    assert doc.line_count == 4
    # splitting a "\r\n" by an insertion in the middle creates two breaks
    doc.apply(change(0, 1, 1, 0, "\rX\n"), UTF16)
    assert doc.text == "a\rX\nb\r\nc\nd\u2028e\x0cf"
    assert doc.line_count == 5


def test_out_of_range_positions_clamp_and_reversed_ranges_fail() -> None:
    doc = Document("file:///a.cpp", "int x;\n", 1, "cpp")
    assert doc.offset_at(0, 999) == 6
    assert doc.offset_at(99, 0) == len(doc.text)
    doc.apply(change(50, 0, 60, 0, "y"), UTF16)  # past the end: an append
    assert doc.text == "int x;\ny"
    with pytest.raises(DocumentError, match="before it starts"):
        doc.apply(change(0, 5, 0, 1, "z"), UTF16)


def test_lone_surrogates_are_replaced_without_moving_positions() -> None:
    doc = Document("file:///a.js", "a\ud800b", 1, "javascript")
    assert doc.text == "a\ufffdb"
    assert doc.offset_at(0, 2) == 2


edit_text = st.lists(st.sampled_from(list("ab_ \n\r\t(é𝒳\u0301") + ["\r\n"]), max_size=8).map("".join)


@hsettings(max_examples=300, deadline=None)
@given(
    initial=edit_text,
    edits=st.lists(st.tuples(st.integers(0, 6), st.integers(0, 14), st.integers(0, 6), st.integers(0, 14), edit_text), max_size=12),
    enc=st.sampled_from([UTF16, UTF8, UTF32]),
)
def test_incremental_edits_match_a_naive_reference(initial: str, edits: list, enc: str) -> None:
    doc = Document("file:///f.cpp", initial, 1, "cpp")
    ref = initial
    for sl, sc, el, ec, text in edits:
        s, e = naive_offset(ref, sl, sc, enc), naive_offset(ref, el, ec, enc)
        if e < s:
            with pytest.raises(DocumentError):
                doc.apply(change(sl, sc, el, ec, text), enc)
            continue
        doc.apply(change(sl, sc, el, ec, text), enc)
        ref = ref[:s] + text + ref[e:]
        assert doc.text == ref
        lines = naive_lines(ref)
        assert doc.line_count == len(lines)
        starts = [sum(len(l) for l in lines[:i]) for i in range(len(lines))]
        assert doc.starts == starts
    for off in range(len(ref) + 1):
        if ref[off - 1 : off + 1] == "\r\n":
            continue  # between "\r" and "\n" is not a position
        pos = doc.position_at(off, enc)
        # a position computed from an offset converts back to the same offset unless it splits a character
        assert doc.offset_at(pos.line, pos.character, enc) == off


def test_lexical_words_rank_by_frequency_and_skip_the_word_being_typed() -> None:
    text = "int tally = 0; tally += tax; int tag;\r\n  🙂 ta"
    res = complete_words(Document("file:///w.cpp", text, 1, "cpp"), len(text), 10)
    assert isinstance(res, Completion)  # the engine's own result type
    assert res.prefix == "ta"
    assert [c.label for c in res.items] == ["tally", "tag", "tax"]
    assert res.replace_start == (1, 5)  # engine coordinates: line, UTF-16 column (the emoji is two units)


def test_settings_parse_and_keep_their_value_with_messages() -> None:
    s, problems = parse_settings({"codecomp": {"maxItems": 7, "enable": {"cpp": False}, "inlineCompletions": False,
                                               "logLevel": "DEBUG", "modelPath": "m"}})
    assert problems == []
    assert (s.max_items, s.language_enabled("cpp"), s.language_enabled("javascript"), s.inline_completions,
            s.log_level, s.model_path) == (7, False, True, False, "debug", "m")
    s2, problems = parse_settings({"maxItems": "lots", "enable": {"rust": True, "cpp": "yes"},
                                   "logLevel": 3, "requestTimeoutMs": 10}, s)
    assert s2.max_items == 7 and not s2.language_enabled("cpp") and s2.log_level == "debug"
    assert s2.request_timeout_ms == Settings().request_timeout_ms
    assert len(problems) == 5
    assert any("maxItems" in p and "whole number" in p for p in problems)
    assert any("rust" in p and "unknown language" in p for p in problems)
    s3, problems = parse_settings(["not", "an", "object"], s2)
    assert s3 == s2 and "JSON object" in problems[0]


def test_enable_takes_one_flag_or_one_per_language() -> None:
    s, problems = parse_settings({"codecomp": {"enable": False}})
    assert problems == [] and not s.language_enabled("cpp") and not s.language_enabled("javascript")
    s2, problems = parse_settings({"enable": "no"}, s)
    assert s2 == s and "`enable` must be true, false or an object" in problems[0]


@hsettings(max_examples=300, deadline=None)
@given(text=st.text(alphabet=st.sampled_from("ab\n\r é漢🙂𝔘\t"), max_size=40), line=st.integers(0, 4),
       col=st.integers(0, 30), enc=st.sampled_from([UTF8, UTF16, UTF32]))
def test_position_conversions_match_a_per_character_reference(text: str, line: int, col: int, enc: str) -> None:
    doc = Document("file:///p.txt", text, 1, "plaintext")
    offset = doc.offset_at(line, col, enc)
    assert offset == naive_offset(text, line, col, enc)
    pos = doc.position_at(offset, enc)
    assert doc.offset_at(pos.line, pos.character, enc) == offset   # a round trip lands on the same character
