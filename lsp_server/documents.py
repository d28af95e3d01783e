"""Open documents as the language server sees them: text, version, and position conversions.

The client talks in LSP positions (line, column in the negotiated encoding: UTF-16 code units by default,
UTF-8 bytes or code points when the client asks for them); Python strings index code points; the engine
takes (line, UTF-16 column).  Everything that converts between those
lives here so the handlers stay small.

Line breaks follow the LSP rules ("\\n", "\\r\\n" and a lone "\\r").  The table of line starts is updated
incrementally on every edit, so a keystroke in a large file costs time proportional to the edit, not to the
file.  The engine counts lines the same way (codecomp.syntax.LineIndex), so engine coordinates are LSP
UTF-16 positions.
"""
from __future__ import annotations

import bisect
import re
from dataclasses import dataclass, field

from lsprotocol import types

_BREAK = re.compile(r"\r\n|\r|\n")

UTF8 = "utf-8"
UTF16 = "utf-16"
UTF32 = "utf-32"


class DocumentError(ValueError):
    """A client message refers to text that does not exist (bad range, unknown document)."""


def sanitize(text: str) -> str:
    """Replace lone surrogates (legal in JSON, illegal in UTF-8) by U+FFFD.

    A lone surrogate and U+FFFD are both one UTF-16 unit and one code point, so positions stay valid.
    """
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return "".join("\ufffd" if 0xD800 <= ord(ch) <= 0xDFFF else ch for ch in text)


def units(text: str, encoding: str) -> int:
    """Length of `text` in code units of `encoding` (C-speed codecs, no loop per character)."""
    if encoding == UTF32 or text.isascii():
        return len(text)
    if encoding == UTF8:
        return len(text.encode("utf-8", "surrogatepass"))
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def _offset_in_line(line: str, col: int, encoding: str) -> int:
    """Code-point index in `line` of column `col` (code units); inside a character or past the end clamps.

    Done with the codecs (C speed) rather than a loop per character, so a megabyte-long line costs
    milliseconds: the first `col` units, less a character they cut in half, decoded back and counted."""
    if col <= 0:
        return 0
    if encoding == UTF32 or line.isascii():
        return min(col, len(line))
    if encoding == UTF8:
        return len(line.encode("utf-8", "surrogatepass")[:col].decode("utf-8", "ignore"))
    whole = line.encode("utf-16-le", "surrogatepass")
    head = whole[:2 * col]
    if len(head) >= 2 and 0xD8 <= head[-1] <= 0xDB and 0xDC <= (whole[2 * col + 1] if len(whole) > 2 * col + 1 else 0) <= 0xDF:
        head = head[:-2]  # the column is inside a surrogate pair: the character's start
    return len(head.decode("utf-16-le", "surrogatepass"))


def _line_starts(text: str, lo: int = 0, hi: int | None = None) -> list[int]:
    """Offsets in (lo, hi] where a line starts, looking only at text[lo-1 : hi+1]."""
    hi = len(text) if hi is None else hi
    a = max(lo - 1, 0)
    b = min(hi + 1, len(text))
    return [m.end() for m in _BREAK.finditer(text, a, b) if lo <= m.end() <= hi and m.end() > 0]


@dataclass
class Document:
    """One open text document.  `text` is only ever replaced, never mutated, so a (text, version) pair
    read together is a consistent snapshot that worker threads may use while the event loop edits on."""

    uri: str
    text: str
    version: int
    language_id: str
    generation: int = 0  # distinguishes successive didOpen of the same URI
    starts: list[int] = field(default_factory=list)
    # (version before, edit) when the latest didChange was one range replacement (`apply`'s edit): the engine,
    # holding that version, takes the edit instead of comparing whole texts
    last_edit: tuple[int, tuple[int, int, int, int, str]] | None = None

    def __post_init__(self) -> None:
        self.text = sanitize(self.text)
        self.starts = [0] + _line_starts(self.text, 1)

    # -- geometry --------------------------------------------------------------------------------
    @property
    def line_count(self) -> int:
        return len(self.starts)

    def line_text(self, line: int) -> str:
        """Text of `line` without its terminator."""
        start = self.starts[line]
        end = self.starts[line + 1] if line + 1 < len(self.starts) else len(self.text)
        seg = self.text[start:end]
        if seg.endswith("\r\n"):
            return seg[:-2]
        if seg.endswith(("\n", "\r")):
            return seg[:-1]
        return seg

    def offset_at(self, line: int, col: int, encoding: str = UTF16) -> int:
        """Code-point offset of an LSP position; past the end of a line or of the document clamps."""
        if line < 0:
            return 0
        if line >= len(self.starts):
            return len(self.text)
        return self.starts[line] + _offset_in_line(self.line_text(line), col, encoding)

    def position_at(self, offset: int, encoding: str = UTF16) -> types.Position:
        """LSP position of a code-point offset (clamped into the document)."""
        offset = max(0, min(offset, len(self.text)))
        line = bisect.bisect_right(self.starts, offset) - 1
        start = self.starts[line]
        return types.Position(line=line, character=units(self.text[start:offset], encoding))

    def contains(self, line: int) -> bool:
        return 0 <= line < len(self.starts)

    # -- engine coordinates: (line, UTF-16 column) with the same LSP line breaks -----------------
    def engine_position(self, offset: int) -> tuple[int, int]:
        """(line, UTF-16 column) of `offset`, the engine's coordinates (codecomp.syntax.LineIndex)."""
        pos = self.position_at(offset, UTF16)
        return pos.line, pos.character

    def engine_offset(self, line: int, utf16_col: int) -> int:
        """Inverse of `engine_position` (clamping)."""
        return self.offset_at(line, utf16_col, UTF16)

    # -- edits ---------------------------------------------------------------------------------
    def apply(self, change: types.TextDocumentContentChangeEvent, encoding: str = UTF16
              ) -> tuple[int, int, int, int, str] | None:
        """Apply one contentChanges entry (full text, or a range replacement); a range replacement is returned
        in the engine's coordinates of the text before it (start line and UTF-16 column, end line and column,
        the inserted text: `codecomp.engine.session.TextEdit`), a full text as None."""
        new = sanitize(change.text)
        rng = getattr(change, "range", None)
        if rng is None:
            self.text = new
            self.starts = [0] + _line_starts(new, 1)
            return None
        s = self.offset_at(rng.start.line, rng.start.character, encoding)
        e = self.offset_at(rng.end.line, rng.end.character, encoding)
        if e < s:
            raise DocumentError(
                f"the change range ends ({rng.end.line}:{rng.end.character}) before it starts "
                f"({rng.start.line}:{rng.start.character})"
            )
        edit = (*self.engine_position(s), *self.engine_position(e), new)
        self.text = self.text[:s] + new + self.text[e:]
        delta = len(new) - (e - s)
        keep_before = self.starts[: bisect.bisect_left(self.starts, s)]
        after = self.starts[bisect.bisect_right(self.starts, e) :]
        middle = _line_starts(self.text, s, s + len(new))
        self.starts = (keep_before or [0]) + middle + [p + delta for p in after]
        return edit


class DocumentStore:
    """The documents the client has opened.  Only these are ever read: the server never opens files."""

    def __init__(self) -> None:
        self._docs: dict[str, Document] = {}
        self._opens = 0

    def open(self, uri: str, text: str, version: int, language_id: str) -> Document:
        self._opens += 1
        doc = Document(uri=uri, text=text, version=version, language_id=language_id, generation=self._opens)
        self._docs[uri] = doc
        return doc

    def get(self, uri: str) -> Document | None:
        return self._docs.get(uri)

    def close(self, uri: str) -> Document | None:
        return self._docs.pop(uri, None)

    def __len__(self) -> int:
        return len(self._docs)

    def __iter__(self):
        return iter(list(self._docs.values()))
