"""Position conversions between LSP positions (line, UTF-16 column), code-point offsets and UTF-8 bytes.

Editors speak UTF-16 columns, Python strings index code points and tree-sitter counts bytes; every request on the
completion path crosses these worlds, so `LineIndex` does one O(n) pass up front and answers each conversion with a
binary search.  Lines that are pure ASCII (the usual case) need no per-character tables at all; the tables of other
lines are built on first use and cached.

Line breaks are "\\n", "\\r\\n" and a lone "\\r", as in the LSP specification.  Out-of-range input clamps: a line
past the end maps to the end of the text, a column past the end of its line to the end of the line (before the
line break), and a column inside a surrogate pair (or a byte inside a multi-byte character) to the start of that
character.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from itertools import accumulate

_BREAK = re.compile(r"\r\n|\r|\n")


def _utf8_len(code: int) -> int:
    if code < 0x80:
        return 1
    if code < 0x800:
        return 2
    if code < 0x10000:
        return 3
    return 4


class LineIndex:
    """Converts positions within one text; build a new index when the text changes."""

    __slots__ = ("text", "_starts", "_ends", "_byte_starts", "_ascii", "_tables")

    def __init__(self, text: str) -> None:
        if not isinstance(text, str):
            raise TypeError(f"LineIndex needs the document text as str, got {type(text).__name__}")
        self.text = text
        starts = [0]
        ends: list[int] = []
        for m in _BREAK.finditer(text):
            ends.append(m.start())
            starts.append(m.end())
        ends.append(len(text))
        self._starts = starts
        self._ends = ends
        self._tables: dict[int, tuple[list[int], list[int]]] = {}
        if text.isascii():
            self._ascii = None  # every line is ASCII
            self._byte_starts = starts
        else:
            n = len(starts)
            # Byte length of each line including its break; "surrogatepass" so that lone surrogates (which a
            # JSON client can send) count as the 3 bytes tree-sitter would see after the same encoding.
            bounds = [*starts, len(text)]
            seg_bytes = [len(text[bounds[i]:bounds[i + 1]].encode("utf-8", "surrogatepass")) for i in range(n)]
            self._byte_starts = [0, *accumulate(seg_bytes)][:n]
            self._ascii = [text[starts[i]:ends[i]].isascii() for i in range(n)]

    # -- basic facts ---------------------------------------------------------------------------------------------
    @property
    def line_count(self) -> int:
        """Number of lines (a text ending in a line break has an empty last line)."""
        return len(self._starts)

    def line_text(self, line: int) -> str:
        """Text of `line` without its line break ("" past the end)."""
        if not 0 <= line < len(self._starts):
            return ""
        return self.text[self._starts[line]:self._ends[line]]

    def line_start_offset(self, line: int) -> int:
        """Code-point offset where `line` starts (clamped)."""
        return self._starts[min(max(line, 0), len(self._starts) - 1)]

    # -- per-line tables -----------------------------------------------------------------------------------------
    def _line_tables(self, line: int) -> tuple[list[int], list[int]] | None:
        """(utf16 prefix sums, byte prefix sums) per code point of a non-ASCII line; None for an ASCII line."""
        if self._ascii is None or self._ascii[line]:
            return None
        tables = self._tables.get(line)
        if tables is None:
            codes = [ord(c) for c in self.text[self._starts[line]:self._ends[line]]]
            u16 = [0, *accumulate(2 if c > 0xFFFF else 1 for c in codes)]
            b8 = [0, *accumulate(_utf8_len(c) for c in codes)]
            tables = self._tables[line] = (u16, b8)
        return tables

    def _clamp_line(self, line: int) -> int | None:
        if line < 0:
            return 0
        if line >= len(self._starts):
            return None
        return line

    # -- LSP position -> offsets ---------------------------------------------------------------------------------
    def _cp_col(self, line: int, utf16_col: int) -> int:
        length = self._ends[line] - self._starts[line]
        col = max(utf16_col, 0)
        tables = self._line_tables(line)
        if tables is None:
            return min(col, length)
        return bisect_right(tables[0], col) - 1

    def offset_of(self, line: int, utf16_col: int) -> int:
        """Code-point offset into the text of an LSP position (clamped, see module docs)."""
        ln = self._clamp_line(line)
        if ln is None:
            return len(self.text)
        return self._starts[ln] + self._cp_col(ln, utf16_col)

    def byte_of(self, line: int, utf16_col: int) -> int:
        """UTF-8 byte offset of an LSP position (clamped)."""
        ln = self._clamp_line(line)
        if ln is None:
            return self.byte_length
        cp = self._cp_col(ln, utf16_col)
        tables = self._line_tables(ln)
        return self._byte_starts[ln] + (cp if tables is None else tables[1][cp])

    @property
    def byte_length(self) -> int:
        """Length of the text in UTF-8 bytes."""
        last = len(self._starts) - 1
        return self._byte_starts[last] + self._line_byte_len(last, self._ends[last] - self._starts[last])

    def _line_byte_len(self, line: int, cp: int) -> int:
        tables = self._line_tables(line)
        return cp if tables is None else tables[1][cp]

    # -- offsets -> LSP position ---------------------------------------------------------------------------------
    def position_of_offset(self, offset: int) -> tuple[int, int]:
        """(line, utf16_col) of a code-point offset; offsets inside a "\\r\\n" clamp to the line end."""
        offset = min(max(offset, 0), len(self.text))
        line = bisect_right(self._starts, offset) - 1
        cp = min(offset - self._starts[line], self._ends[line] - self._starts[line])
        tables = self._line_tables(line)
        return line, (cp if tables is None else tables[0][cp])

    def position_of_byte(self, byte: int) -> tuple[int, int]:
        """(line, utf16_col) of a UTF-8 byte offset; a byte inside a character maps to that character's start."""
        byte = max(byte, 0)
        line = bisect_right(self._byte_starts, byte) - 1
        col_bytes = byte - self._byte_starts[line]
        length = self._ends[line] - self._starts[line]
        tables = self._line_tables(line)
        if tables is None:
            return line, min(col_bytes, length)
        cp = bisect_right(tables[1], col_bytes) - 1
        return line, tables[0][cp]

    def offset_of_byte(self, byte: int) -> int:
        """Code-point offset of a UTF-8 byte offset (clamped to a character start / the line end)."""
        byte = max(byte, 0)
        line = bisect_right(self._byte_starts, byte) - 1
        col_bytes = byte - self._byte_starts[line]
        length = self._ends[line] - self._starts[line]
        tables = self._line_tables(line)
        if tables is None:
            return self._starts[line] + min(col_bytes, length)
        return self._starts[line] + bisect_right(tables[1], col_bytes) - 1

    def byte_of_offset(self, offset: int) -> int:
        """UTF-8 byte offset of a code-point offset (clamped like `position_of_offset`)."""
        offset = min(max(offset, 0), len(self.text))
        line = bisect_right(self._starts, offset) - 1
        cp = min(offset - self._starts[line], self._ends[line] - self._starts[line])
        return self._byte_starts[line] + self._line_byte_len(line, cp)
