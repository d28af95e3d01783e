"""LineIndex: LSP (UTF-16) positions, code-point offsets and UTF-8 bytes."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from codecomp.syntax import LineIndex, parse

TEXT = "ab\r\né😀x\rlast\n"
#        line 0: "ab" (CRLF)   line 1: "é😀x" (CR)   line 2: "last" (LF)   line 3: ""


def test_lines_and_breaks() -> None:
    li = LineIndex(TEXT)
    assert li.line_count == 4
    assert [li.line_text(i) for i in range(4)] == ["ab", "é😀x", "last", ""]
    assert li.line_text(99) == ""


def test_utf16_columns_with_astral_characters() -> None:
    li = LineIndex(TEXT)
    line1 = TEXT.index("é")
    assert li.offset_of(1, 0) == line1
    assert li.offset_of(1, 1) == line1 + 1          # after é
    assert li.offset_of(1, 2) == line1 + 1          # inside the 😀 surrogate pair: clamps to its start
    assert li.offset_of(1, 3) == line1 + 2          # after 😀 (2 UTF-16 units)
    assert li.offset_of(1, 4) == line1 + 3          # after x
    assert li.offset_of(1, 99) == line1 + 3         # past the end of the line: clamps before the break
    byte1 = len(TEXT[:line1].encode())
    assert li.byte_of(1, 1) == byte1 + 2            # é is 2 bytes
    assert li.byte_of(1, 3) == byte1 + 6            # 😀 is 4 bytes
    assert li.position_of_offset(line1 + 2) == (1, 3)
    assert li.position_of_byte(byte1 + 6) == (1, 3)
    assert li.position_of_byte(byte1 + 4) == (1, 1)  # a byte inside 😀 maps to its start


def test_clamping() -> None:
    li = LineIndex(TEXT)
    assert li.offset_of(99, 0) == len(TEXT)
    assert li.byte_of(99, 5) == len(TEXT.encode()) == li.byte_length
    assert li.offset_of(0, -3) == 0
    assert li.position_of_offset(2) == (0, 2)
    assert li.position_of_offset(3) == (0, 2)       # between \r and \n: end of line 0
    assert li.position_of_offset(10**6) == (3, 0)
    assert li.position_of_byte(-5) == (0, 0)
    assert LineIndex("").offset_of(0, 5) == 0 and LineIndex("").position_of_byte(3) == (0, 0)


def test_rejects_bytes() -> None:
    with pytest.raises(TypeError, match="as str"):
        LineIndex(b"abc")  # type: ignore[arg-type]


def test_agrees_with_tree_sitter_token_positions() -> None:
    src = 'const s = "é😀";\r\nlet x = s; // ü\nx.'
    pf = parse(src, "javascript")
    li = LineIndex(src)
    for t in pf.tokens:
        line, col16 = li.position_of_byte(t.start_byte)
        assert line == t.line
        assert li.byte_of(line, col16) == t.start_byte
        assert src[li.offset_of(line, col16):].startswith(t.text)


_PIECES = st.sampled_from(["a", "b", " ", "é", "😀", "\n", "\r", "\r\n", "€", "\t", "\U0001F600x"])


def _char_boundaries(text: str) -> list[int]:
    """Offsets that are real positions: not between the \\r and \\n of a CRLF."""
    return [i for i in range(len(text) + 1) if not (0 < i < len(text) and text[i - 1] == "\r" and text[i] == "\n")]


@settings(max_examples=200, deadline=None)
@given(st.lists(_PIECES, max_size=40))
def test_round_trips(pieces: list[str]) -> None:
    text = "".join(pieces)
    li = LineIndex(text)
    for i in _char_boundaries(text):
        line, col = li.position_of_offset(i)
        assert li.offset_of(line, col) == i
        b = li.byte_of_offset(i)
        assert b == len(text[:i].encode())
        assert li.byte_of(line, col) == b
        assert li.position_of_byte(b) == (line, col)
        assert li.offset_of_byte(b) == i
        # UTF-16 column = code units since the start of the line.
        start = li.line_start_offset(line)
        assert col == len(text[start:i].encode("utf-16-le")) // 2


@settings(max_examples=100, deadline=None)
@given(st.lists(_PIECES, max_size=30), st.integers(-3, 50), st.integers(-3, 80))
def test_any_position_maps_into_the_text(pieces: list[str], line: int, col: int) -> None:
    text = "".join(pieces)
    li = LineIndex(text)
    off = li.offset_of(line, col)
    assert 0 <= off <= len(text)
    assert 0 <= li.byte_of(line, col) <= len(text.encode())
    assert li.position_of_offset(off)[0] == min(max(line, 0), li.line_count - 1) or line >= li.line_count
