"""Held-out files and evaluation positions, as the harness hands them to every system under test.

A :class:`FileDoc` is one corpus row (docs/design.md section 2) with the offsets the harness needs: token
start/end as character offsets into ``text`` (the corpus stores bytes), the line of every token, and the
token stream the n-gram baselines read.  A :class:`Query` is one evaluation position: a token of a file,
what the user has typed of it, and which part of the file the system may see.
"""
from __future__ import annotations

import bisect
import re
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Literal, Mapping

# TokenKind values fixed by docs/design.md section 1 (kept here so the harness never needs tree-sitter).
IDENTIFIER, KEYWORD, NUMBER, STRING, OPERATOR, PUNCTUATION, COMMENT, PREPROCESSOR, OTHER = range(9)

EOL = "<eol>"
STR_CLASS = "<str>"
NUM_CLASS = "<num>"

_WORD_RE = re.compile(r"^[A-Za-z_$][A-Za-z0-9_$]*$")
_STRING_START = re.compile(r"^(?:[LuUR]|u8)?R?[\"'`]")
_NUMBER_START = re.compile(r"^\.?[0-9]")

View = Literal["blank", "left", "line"]


def is_word(token: str) -> bool:
    """Whether a token is word-like (an identifier or keyword), i.e. something a completion list offers."""
    return bool(_WORD_RE.match(token))


def token_class(token: str) -> str:
    """The class a token is scored as in token accuracy: literals collapse to ``<str>`` / ``<num>``.

    This mirrors the literal normalisation of the CodeXGLUE token-level task and is applied to targets
    and predictions alike, by looking at the text only (so every system is treated the same).
    """
    if token in (STR_CLASS, NUM_CLASS):
        return token
    if _STRING_START.match(token) and len(token) >= 2:
        return STR_CLASS
    if _NUMBER_START.match(token):
        return NUM_CLASS
    return token


def stream_token(token: str, kind: int) -> str:
    """The form of a token in the n-gram baselines' stream: string literals (except empty ones) become ``<str>``."""
    if kind == STRING and len(token) > 2:
        return STR_CLASS
    return token


@dataclass
class FileDoc:
    """One held-out file with token offsets in characters and token lines (comments are not tokens here)."""

    project: str
    path: str
    lang: str
    text: str
    tokens: list[str]
    kinds: list[int]
    start_chars: list[int]
    lines: list[int] = field(default_factory=list)
    # index of each kept token in the corpus row (rows index symbols by corpus token index)
    row_index: list[int] = field(default_factory=list)
    # (name, kind, occurrences as corpus token indices) of the row's symbols, when the corpus has them
    symbols: list[tuple[str, str, list[int]]] = field(default_factory=list)

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> "FileDoc":
        """Build from a corpus row, converting the stored byte offsets to character offsets.

        Tokens whose stored text does not match the file at their offset are dropped (they cannot be
        placed in the document, so no system could be asked about them).
        """
        text: str = row["text"]
        raw = text.encode("utf-8")
        if len(raw) == len(text):
            char_of_byte = None
        else:
            # Byte offset -> character offset, only needed for files with non-ASCII characters.
            char_of_byte = [0] * (len(raw) + 1)
            b = 0
            for i, ch in enumerate(text):
                n = len(ch.encode("utf-8"))
                for k in range(n):
                    char_of_byte[b + k] = i
                b += n
            char_of_byte[len(raw)] = len(text)
        tokens, kinds, starts, row_index = [], [], [], []
        for j, (tok, kind, sb) in enumerate(zip(row["tokens"], row["kinds"], row["starts"])):
            if not 0 <= sb <= len(raw):
                continue
            sc = sb if char_of_byte is None else char_of_byte[sb]
            if text[sc:sc + len(tok)] != tok:
                continue
            tokens.append(tok)
            kinds.append(int(kind))
            starts.append(sc)
            row_index.append(j)
        newlines = [m.start() for m in re.finditer("\n", text)]
        lines = [bisect.bisect_left(newlines, s) for s in starts]
        symbols = [(str(n), str(k), [int(o) for o in occ])
                   for n, k, occ in zip(row.get("sym_name") or [], row.get("sym_kind") or [], row.get("sym_occ") or [])]
        return cls(row.get("project", ""), row.get("path", ""), row.get("language", ""), text, tokens, kinds,
                   starts, lines, row_index, symbols)

    @cached_property
    def row_pos(self) -> dict[int, int]:
        """Corpus token index -> index in ``tokens``."""
        return {r: i for i, r in enumerate(self.row_index)}

    def end_char(self, i: int) -> int:
        """Character offset just past token ``i``."""
        return self.start_chars[i] + len(self.tokens[i])

    @cached_property
    def stream(self) -> tuple[list[str], list[int]]:
        """The baseline token stream (``<eol>`` between lines, long strings as ``<str>``) and, for every
        token, its index in that stream."""
        out: list[str] = []
        pos: list[int] = []
        for i, (tok, kind) in enumerate(zip(self.tokens, self.kinds)):
            if i > 0 and self.lines[i] != self.lines[i - 1]:
                out.append(EOL)
            pos.append(len(out))
            out.append(stream_token(tok, kind))
        return out, pos

    def line_end(self, offset: int) -> int:
        """Character offset of the end of the line containing ``offset`` (before its newline)."""
        j = self.text.find("\n", offset)
        return len(self.text) if j < 0 else j

    def identifier_counts(self, exclude: int | None = None) -> dict[str, int]:
        """Identifier occurrence counts of the file, optionally without occurrence ``exclude``."""
        counts: dict[str, int] = {}
        for i, (tok, kind) in enumerate(zip(self.tokens, self.kinds)):
            if kind == IDENTIFIER and i != exclude:
                counts[tok] = counts.get(tok, 0) + 1
        return counts


@dataclass(frozen=True)
class Query:
    """One position to complete.

    The cursor is at the start of token ``index`` plus ``len(typed)`` characters.  ``view == "blank"``: the
    system sees the whole file with that one token replaced by ``typed`` (text after the cursor stays);
    ``view == "left"``: it sees only the text before the cursor (the user is typing the file);
    ``view == "line"``: it sees the file without the rest of the cursor's line (the user is writing that line
    among existing code: the lines after it stay).
    """

    doc: FileDoc
    index: int
    typed: str = ""
    view: View = "blank"

    @property
    def target(self) -> str:
        """The true token at the position."""
        return self.doc.tokens[self.index]

    @property
    def cursor(self) -> int:
        """Cursor offset (characters) in the original file text."""
        return self.doc.start_chars[self.index] + len(self.typed)

    def document(self) -> tuple[str, int]:
        """The document text the system sees and the cursor offset in it."""
        start = self.doc.start_chars[self.index]
        before = self.doc.text[:start] + self.typed
        if self.view == "left":
            return before, len(before)
        if self.view == "line":
            return before + self.doc.text[self.doc.line_end(self.cursor):], len(before)
        return before + self.doc.text[self.doc.end_char(self.index):], len(before)

    def following(self) -> str:
        """The text from the cursor to the end of its line, as it stands in the file."""
        return self.doc.text[self.cursor:self.doc.line_end(self.cursor)]

    def line_target(self) -> str:
        """The line-completion target: from the cursor to the end of the last code token on the cursor's
        line (a trailing comment is not code and is not expected)."""
        d, line = self.doc, self.doc.lines[self.index]
        j = self.index
        while j + 1 < len(d.tokens) and d.lines[j + 1] == line:
            j += 1
        return d.text[self.cursor:max(self.cursor, d.end_char(j))]


def utf16_position(text: str, offset: int) -> tuple[int, int]:
    """LSP position (line, UTF-16 column) of a character offset."""
    line = text.count("\n", 0, offset)
    line_start = text.rfind("\n", 0, offset) + 1
    col = len(text[line_start:offset].encode("utf-16-le")) // 2
    return line, col
