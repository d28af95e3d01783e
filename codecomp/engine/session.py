"""Per-document state of the engine: text, incrementally re-parsed tree, identifier counts, cached model context.

Like a language server's document store, every `change` records a single edit (found by comparing the old and
new text) and tells the tree-sitter tree about it; the tree itself is re-parsed lazily on the next request, so a
burst of keystrokes costs one parse.  Derived data is kept incrementally:

* identifier counts of the whole file (candidates that occur after the cursor too) are updated from the edited
  lines only;
* the code tokens between an *anchor* and the cursor are cached; an edit drops the cached tokens from the edit
  (or from the first syntactically changed range) onwards;
* the model context (`ContextCache`) keeps model states at checkpoints every `CHECKPOINT` tokens, so typing at
  the end encodes only the new tokens and an edit in the middle restarts from the checkpoint before it.

The anchor bounds the work: the first request on a long file encodes only the last `WINDOW` tokens before the
cursor, and the context never grows past `MAX_CONTEXT` tokens before the anchor moves forward again.

In the editor, idle time fills a second cache, the *track*: model states from the start of the file, with a
checkpoint every `CHECKPOINT` tokens, kept valid up to the first edit and extended again after it.  A request
that would re-anchor (the cursor jumped elsewhere in the file) adopts the track's last checkpoint before the
cursor instead, when there is one close enough, and reads only the few tokens after it.  The track reads the
file as the model was trained, state carried from the first token, so its contexts are never shorter than a
window.
"""
from __future__ import annotations

import re
import time
from bisect import bisect_left, bisect_right
from collections import Counter, OrderedDict
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from codecomp.syntax import SlicedParse, Token, TokenKind
from codecomp.syntax.languages import IDLE_SLICE_S, SLICE_S
from codecomp.syntax.parsed import changed_span, edit_tree
from codecomp.engine.background import background_turn
from codecomp.engine.lexing import (find_identifiers, literal_ranges, literal_spans, merge_span_arrays,
                                    merge_spans, prefix_start, tokens_in_range, tokens_outside,
                                    unreused_tokens)

WINDOW = 256          # tokens encoded on the first request at a position
# In the editor a fresh window is shorter: on the valid splits (300 positions per language, file alone) 128 tokens
# ranked as well as 256 (top-5 at typed 0: JS 73.0 vs 73.3, C++ 81.0 vs 80.0) and reads in half the time, which
# is what a jump costs when the track is not current.  The evaluation keeps WINDOW.
EDITOR_WINDOW = 128
MAX_CONTEXT = 1024    # tokens after the anchor before the anchor is moved forward
CHECKPOINT = 32       # model states are kept every this many tokens
JUMP_BYTES = 16 * WINDOW  # a request this far after the cached context starts a fresh window (or adopts the track)
TRACK_TOKENS = 32_768    # the track (model states across the whole file, filled in idle time) stops here
TRACK_SLICE_BYTES = 512  # code read into the track per model call in idle time (about 100 tokens)
TRACKS_KEPT = 2          # documents that keep a track: the most recently used ones
MAX_BYTES = 8 << 20   # documents larger than this are not parsed at all (an editor may open a data dump)
SYNC_SCOPE_BYTES = 8_000   # files up to this size get their scope analysis inline (bounded keystroke cost)
SPLICE_MAX_BYTES = 1 << 16  # an edit handed over that removes and inserts more than this: whole texts compared
BACKGROUND_DELAY_S = 0.15  # ... starting a little later, so the request that triggered it is answered first
# ... and keeping that thread busy for at most this share of the time: after an analysis that took t seconds of
# CPU, the next starts no sooner than t * (1 / share - 1) later (requests meanwhile use the latest one, as while
# one runs).  In a 164 KB file an analysis restarted at every new word kept the thread busy all the time, and
# its hold on the interpreter slowed down every message the server read and wrote.
BACKGROUND_SHARE = 0.25
# Parsing in the editor is bounded (`SlicedParse`): a request parses for at most REQUEST_PARSE_S (the rest goes on
# at the next request or in idle time, `Document.parse_some`; meanwhile the document is served without syntax);
# a parse that takes more than MAX_PARSE_S in all, or grows the process by MAX_PARSE_GROWTH, is given up and
# the document is served without syntax until it is reopened.  With `background_analysis` off (evaluation)
# every parse runs to the end.
REQUEST_PARSE_S = 0.03
MAX_PARSE_S = 4.0
MAX_PARSE_GROWTH = 200 << 20


def _encode(text: str) -> bytes:
    # "surrogatepass" as in the syntax layer: a lone surrogate from a JSON client must not make a request fail
    return text.encode("utf-8", "surrogatepass")


class LineTable:
    """LSP position <-> byte conversions for one version of a document, computed with numpy.

    Only the line starts are computed up front (vectorised: a keystroke in a long file must not pay a Python
    loop over the whole text); the UTF-16 arithmetic is done for the one line a request touches.  Line breaks are
    "\\n", "\\r\\n" and a lone "\\r", as in LSP.  Out-of-range positions clamp, and a column inside a
    surrogate pair or past the end of its line maps to the start of that character / the end of the line.
    """

    __slots__ = ("source", "starts", "ends", "lone_cr")

    def __init__(self, source: bytes) -> None:
        self.source = source
        a = np.frombuffer(source, dtype=np.uint8)
        nl = np.flatnonzero(a == 10)
        cr = np.flatnonzero(a == 13)
        if cr.size:
            nxt = cr + 1
            lone = cr[(nxt >= a.size) | (a[np.minimum(nxt, a.size - 1)] != 10)]
            crlf = cr[(nxt < a.size) & (a[np.minimum(nxt, a.size - 1)] == 10)]
            breaks_end = np.sort(np.concatenate([nl + 1, lone + 1]))
            # where each line's text ends: before "\r\n", "\n" or a lone "\r"
            line_ends = np.sort(np.concatenate([np.setdiff1d(nl, crlf + 1), crlf, lone]))
        else:
            breaks_end = nl + 1
            line_ends = nl
        # a lone "\r" ends an LSP line but not a tree-sitter row: then lines and rows differ
        self.lone_cr = bool(cr.size) and bool(lone.size)
        self.starts = np.concatenate([[0], breaks_end]).astype(np.int64)
        self.ends = np.concatenate([line_ends, [len(source)]]).astype(np.int64)

    def edited(self, source: bytes, start: int, old_end: int, new_end: int) -> "LineTable":
        """The table of `source`, the text after bytes [start, old_end) of this table's text became
        [start, new_end): only the breaks around the edit are looked for again, the others are kept or moved.

        Whether a byte ends a line depends on it and the byte before it ("\\r\\n"), and whether a line starts
        at a byte on that byte and the one before; so every position before `start` keeps its answer, every
        position after `new_end` has the answer of its old position, and only [start, new_end] is read."""
        delta = new_end - old_end
        old_starts, old_ends = self.starts[1:], self.ends[:-1]
        new_starts, new_ends = _breaks(source, start, new_end)
        keep_s, keep_e = np.searchsorted(old_starts, start), np.searchsorted(old_ends, start)
        tail_s, tail_e = np.searchsorted(old_starts, old_end + 1), np.searchsorted(old_ends, old_end + 1)
        table = LineTable.__new__(LineTable)
        table.source = source
        table.lone_cr = self.lone_cr or b"\r" in source[max(start - 1, 0):new_end + 1]
        table.starts = np.concatenate([[0], old_starts[:keep_s], new_starts, old_starts[tail_s:] + delta]).astype(np.int64)
        table.ends = np.concatenate([old_ends[:keep_e], new_ends, old_ends[tail_e:] + delta, [len(source)]]).astype(np.int64)
        return table

    def byte_of(self, line: int, utf16_col: int) -> int:
        """Byte offset of an LSP position (clamped)."""
        line = max(line, 0)
        if line >= len(self.starts):
            return len(self.source)
        start, end = int(self.starts[line]), int(self.ends[line])
        text = self.source[start:end]
        if text.isascii():
            return start + min(max(utf16_col, 0), end - start)
        # C-speed conversions, no loop per character: the first `utf16_col` UTF-16 units of the line, without a
        # trailing half of a surrogate pair (a column inside a character means its start), back to UTF-8 bytes
        col = max(utf16_col, 0)
        whole = text.decode("utf-8", "surrogatepass").encode("utf-16-le", "surrogatepass")
        units = whole[:2 * col]
        if len(units) >= 2 and 0xD8 <= units[-1] <= 0xDB and 0xDC <= whole[2 * col + 1:2 * col + 2].ljust(1)[0] <= 0xDF:
            units = units[:-2]   # a pair was cut (a lone surrogate from a JSON client is one unit of its own)
        return start + len(units.decode("utf-16-le", "surrogatepass").encode("utf-8", "surrogatepass"))

    def position_of_byte(self, byte: int) -> tuple[int, int]:
        """(line, utf16_col) of a byte offset (a byte inside a character maps to that character's start)."""
        byte = min(max(byte, 0), len(self.source))
        line = int(np.searchsorted(self.starts, byte, side="right")) - 1
        start, end = int(self.starts[line]), int(self.ends[line])
        piece = self.source[start:min(byte, end)]
        if piece.isascii():
            return line, len(piece)
        # a character cut at the end is dropped: its start is meant
        for cut in range(4):
            try:
                text = piece[:len(piece) - cut].decode("utf-8", "surrogatepass")
                break
            except UnicodeDecodeError:
                continue
        else:
            text = piece.decode("utf-8", "ignore")
        return line, len(text.encode("utf-16-le", "surrogatepass")) // 2


def _breaks(source: bytes, lo: int, hi: int) -> tuple[np.ndarray, np.ndarray]:
    """(line starts after 0, line ends before the end of the text) at positions in [lo, hi], by `LineTable`'s
    rules: a line ends at a "\\r" or at a "\\n" not after "\\r", and one starts after a "\\n" or after a "\\r"
    not followed by "\\n"."""
    n = len(source)
    w0, w1 = max(lo - 1, 0), min(hi + 2, n)
    a = np.frombuffer(source, dtype=np.uint8, count=w1 - w0, offset=w0) if w1 > w0 else np.zeros(0, np.uint8)
    pos = np.arange(w0, w1)
    prev = np.concatenate([[0], a[:-1]])        # the byte before each (0 before the text or the window)
    nxt = np.concatenate([a[1:], [0]])          # the byte after each (0 after the text or the window)
    if w0 > 0:
        prev[0] = source[w0 - 1]
    if w1 < n:
        nxt[-1] = source[w1]
    ends = pos[((a == 13) | ((a == 10) & (prev != 13))) & (pos >= lo) & (pos <= hi)]
    # a start at p follows the break at p - 1
    breaks = (a == 10) | ((a == 13) & (nxt != 10))
    starts = pos[breaks] + 1
    starts = starts[(starts >= max(lo, 1)) & (starts <= hi)]
    return starts.astype(np.int64), ends.astype(np.int64)


# (start line, start UTF-16 column, end line, end UTF-16 column, inserted text): one edit in LSP coordinates
TextEdit = tuple[int, int, int, int, str]


@dataclass(frozen=True, slots=True)
class Edit:
    """The single edit between two versions: bytes [start, old_end) of the old text became [start, new_end)."""

    old_version: int
    new_version: int
    start: int
    old_end: int
    new_end: int
    word_only: bool  # both the removed and the inserted bytes are identifier characters


_IDENT_ONLY = re.compile(rb"[A-Za-z0-9_$\x80-\xff]*")


def _ident_only(data: bytes) -> bool:
    return _IDENT_ONLY.fullmatch(data) is not None


def line_bounds(data: bytes, start: int, end: int) -> tuple[int, int]:
    """Widen [start, end) to whole lines, so identifiers cut by the edit are recounted whole."""
    lo = data.rfind(b"\n", 0, start) + 1
    hi = data.find(b"\n", end)
    return lo, (len(data) if hi < 0 else hi)


@dataclass
class ContextCache:
    """Model states along the code tokens after `anchor`, reused across requests."""

    anchor: int = -1                                    # byte where the encoded context starts; -1: not anchored
    tokens: list[Token] = field(default_factory=list)   # code tokens from the anchor, all ending <= covered
    covered: int = -1                                   # every code token ending <= covered is in `tokens`
    ids: list[int] = field(default_factory=list)        # model ids consumed so far (starts with <bos>)
    checkpoints: dict[int, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    keys: list[np.ndarray] = field(default_factory=list)  # copy key of each consumed id
    last: dict[str, np.ndarray] | None = None           # outputs of the step that consumed ids[-1]
    texts: list[str] = field(default_factory=list)      # spelling of each consumed id, for the copy mechanism
    last_steps: int = 0                                 # tokens the model read for the latest request
    dist: Any = None                                    # (last, Distribution, memory array) cached by the model
    stable: int = 0     # the first `stable` tokens are those whose ids were consumed (ids[1:stable + 1])
    base: int = 0       # tokens adopted from the track: not counted against MAX_CONTEXT
    fixed: bool = False  # a track: anchored at byte 0 for good (a reset keeps the anchor)

    def reset(self) -> None:
        """Forget everything (the next request re-anchors; a track starts again from byte 0)."""
        self.anchor, self.covered, self.last, self.dist = -1, -1, None, None
        self.tokens.clear(), self.ids.clear(), self.checkpoints.clear(), self.keys.clear(), self.texts.clear()
        self.stable = self.base = 0
        if self.fixed:
            self.anchor = self.covered = 0

    def truncate(self, keep: int) -> None:
        """Keep the first `keep` tokens."""
        del self.tokens[keep:]
        self.stable = min(self.stable, keep)
        self.base = min(self.base, keep)

    def invalidate_from(self, byte: int) -> None:
        """Drop the cached tokens that could have changed because of an edit or re-parse at `byte`."""
        if self.anchor < 0:
            return
        if byte <= self.anchor:
            self.reset()
            return
        # a token ending exactly at the edit may have grown ("fo" + "o"), so it goes too
        self.truncate(bisect_left(self.tokens, byte, key=_END))
        self.covered = min(self.covered, self.tokens[-1].end_byte if self.tokens else self.anchor)

    def usable_checkpoint(self, end: int) -> int:
        """The largest checkpoint k (ids[:k] consumed, state kept) after which at least one consumed token still
        ends at or before `end`; 0 when there is none."""
        valid = min(self.stable, len(self.tokens), len(self.ids) - 1)
        n = bisect_right(self.tokens, end, hi=max(valid, 0), key=_END)  # consumed tokens ending <= end
        k = (n // CHECKPOINT) * CHECKPOINT
        while k > 0 and (k not in self.checkpoints or k >= n + 1):
            k -= CHECKPOINT
        return k


def _map_window(lo: int, hi: int, start: int, old_end: int, new_end: int) -> tuple[int, int]:
    """A byte range [lo, hi) of the text before an edit (bytes [start, old_end) became [start, new_end)) in the
    text after it; a range that touches the edit grows to cover what was inserted."""
    delta = new_end - old_end
    if hi < start:
        return lo, hi
    if lo > old_end:
        return lo + delta, hi + delta
    return min(lo, start), max(hi + delta, new_end)


def _first_changed_token(ctx: ContextCache, job: SlicedParse, lang: str, lo: int, hi: int, limit: int) -> int:
    """Where the tokens `ctx` holds in [lo, hi) first differ from those of `job.tree`, the finished re-parse
    (from `job.old_tree`, whose tokens `ctx` holds), or `limit` when none does.  A range tree-sitter reports as
    changed is often one whose tokens stayed the same under different parents (typing a `{` inside a long
    function reshapes the tree up to its start), and the model reads tokens, not the tree: only a token that
    changed costs its reading.  The subtrees the re-parse took over whole hold the same tokens
    (`unreused_tokens`): only the tokens around them are compared."""
    if ctx.anchor < 0:
        return limit
    lo, hi = max(lo, ctx.anchor), min(hi, ctx.covered)
    if hi <= lo:
        return limit
    fresh, reused = unreused_tokens(job.old_tree, job.tree, job.source, lang, lo, hi)
    fresh = [t for t in fresh
             if t.kind is not TokenKind.COMMENT and t.start_byte >= ctx.anchor and t.end_byte <= ctx.covered]
    # the held tokens outside the reused subtrees: those that overlap a gap between them
    gaps, pos = [], lo
    for s, e in reused:
        if s > pos:
            gaps.append((pos, s))
        pos = max(pos, e)
    if pos < hi:
        gaps.append((pos, hi))
    tokens, held, taken = ctx.tokens, [], -1
    for g0, g1 in gaps:
        j = max(bisect_right(tokens, g0, key=_END), taken + 1)  # the first token ending after the gap starts
        while j < len(tokens) and tokens[j].start_byte < g1:
            held.append(tokens[j])
            taken = j
            j += 1
    for old, new in zip(held, fresh):
        if old != new:
            return min(old.start_byte, new.start_byte)
    if len(held) != len(fresh):
        extra = held[len(fresh)] if len(held) > len(fresh) else fresh[len(held)]
        return extra.start_byte
    return limit


# Ranges tree-sitter reports as changed that add up to more than this are compared token by token before their
# literals are queried again (`literal_windows`); smaller ones are queried as they are.
RETOKENIZE_BYTES = 4096


def literal_windows(job: SlicedParse, lang: str, changed: list[tuple[int, int]], edit: tuple[int, int]
                    ) -> list[tuple[int, int]]:
    """The parts of the changed ranges of a finished re-parse whose comments and literals can have changed:
    where its tokens differ from those of the tree it came from (`job.old_tree`, edited by the one edit that
    replaced bytes [edit[0], edit[1]) of the new text).  Comments and literals are tokens, or lie inside one (the
    text of a template string), so where every token stayed the same they did too.  A reshaped range (a `{`
    typed in a long function: the whole function) mostly holds subtrees the re-parse took over, and both trees
    are read only around them (`unreused_tokens`); a query of the literals of the whole range cost 16-26 ms in
    lodash.js.  The old tree's tokens are read from the new text, which is theirs everywhere but at the edit: a
    token that touches it counts as changed.  Small ranges are returned as they are."""
    if sum(hi - lo for lo, hi in changed) <= RETOKENIZE_BYTES:
        return changed
    e0, e1 = edit

    def same(a: Token, b: Token) -> bool:
        return a == b and (a.end_byte < e0 or a.start_byte > e1)

    out: list[tuple[int, int]] = []
    for lo, hi in changed:
        # a byte either side, as `LiteralSpans` widens its windows: a literal can start where a range ends
        lo, hi = max(lo - 1, 0), min(hi + 1, len(job.source))
        new, reused = unreused_tokens(job.old_tree, job.tree, job.source, lang, lo, hi, empty=True)
        # the old tree around the same subtrees: no lookup in the other tree per node (a third of the time)
        old = tokens_outside(job.old_tree, job.source, lang, lo, hi, set(reused), empty=True)
        n = min(len(new), len(old))
        i = 0
        while i < n and same(new[i], old[i]):
            i += 1
        if i == len(new) == len(old):
            continue  # every token the same
        j = 0
        while j < n - i and same(new[-1 - j], old[-1 - j]):
            j += 1
        differ = new[i:len(new) - j] + old[i:len(old) - j]
        out.append((min(t.start_byte for t in differ), max(t.end_byte for t in differ)))
    return out


class LiteralSpans:
    """The comment and literal spans of a document's tree (`lexing.literal_spans`), brought up to date after an
    edit by querying only the windows that can have changed, not the whole tree again.

    The spans of the last query are kept with the text they were read from.  For a newer tree, the single edit
    between the two texts (`changed_span`) moves the spans after it and drops those that touch it; the edited
    bytes and every range whose syntax tree-sitter reports as changed since (`Tree.changed_ranges`: a `/*` or a
    quote typed far above can turn the rest of the file into a comment or a string) are queried again, each
    widened by a byte.  The result equals a query of the whole tree (a test edits real files at random and
    compares)."""

    MAX_WINDOWS = 64  # more pending windows than this: one query of the whole tree instead

    def __init__(self, lang: str) -> None:
        self.lang = lang
        self.reset()

    def reset(self) -> None:
        """Forget the spans (the next query reads the whole tree): a parse from scratch, or no tree."""
        self.tree: Any = None
        self.source: bytes | None = None
        self.starts = self.ends = np.zeros(0, dtype=np.int64)   # the spans, sorted (numpy: a few thousand of them)
        self.merged: list[tuple[int, int]] = []
        self.windows: list[tuple[int, int]] = []   # ranges of the current text whose syntax changed since

    def edited(self, start: int, old_end: int, new_end: int) -> None:
        """The text changed: keep the pending windows in the coordinates of the new text."""
        if self.source is not None:
            self.windows = [_map_window(lo, hi, start, old_end, new_end) for lo, hi in self.windows]

    def syntax_changed(self, ranges: list[tuple[int, int]]) -> None:
        """A parse found these ranges (of the current text) syntactically changed."""
        if self.source is not None:
            self.windows.extend(ranges)
            if len(self.windows) > self.MAX_WINDOWS:
                self.reset()

    def ranges(self, tree: Any, source: bytes) -> list[tuple[int, int]]:
        """Merged spans of `tree`, which must be the tree of `source` (no edit pending)."""
        if tree is self.tree and source is self.source:
            return self.merged
        whole = self.source is None
        if not whole:
            start, old_end, new_end = changed_span(self.source, source)
            delta = new_end - old_end
            windows = self.windows + ([(start, new_end)] if old_end > start or new_end > start else [])
            windows = merge_spans(sorted((max(lo - 1, 0), min(hi + 1, len(source))) for lo, hi in windows))
            whole = sum(hi - lo for lo, hi in windows) > len(source) // 2
        if whole:
            starts, ends = _span_arrays(literal_spans(tree, self.lang))
        else:
            s, e = self.starts, self.ends
            keep = (e < start) | (s > old_end)
            moved = s > old_end
            starts = np.where(moved, s + delta, s)[keep]
            ends = np.where(moved, e + delta, e)[keep]
            found = []
            for lo, hi in windows:  # what meets a window is read again from the tree
                out = ~((starts < hi) & (ends > lo))
                starts, ends = starts[out], ends[out]
                found.extend(literal_spans(tree, self.lang, lo, hi))
            found_s, found_e = _span_arrays(found)
            starts, ends = np.concatenate([starts, found_s]), np.concatenate([ends, found_e])
            order = np.lexsort((ends, starts))
            starts, ends = starts[order], ends[order]
            if starts.size > 1:  # a span found by two windows is one span
                first = np.ones(starts.size, dtype=bool)
                first[1:] = (starts[1:] != starts[:-1]) | (ends[1:] != ends[:-1])
                starts, ends = starts[first], ends[first]
        self.tree, self.source, self.starts, self.ends, self.windows = tree, source, starts, ends, []
        self.merged = merge_span_arrays(starts, ends)
        return self.merged


def _span_arrays(spans: list[tuple[int, int]]) -> tuple[np.ndarray, np.ndarray]:
    if not spans:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    a = np.asarray(spans, dtype=np.int64)
    return a[:, 0].copy(), a[:, 1].copy()


def _END(tok: Token) -> int:
    return tok.end_byte


class Document:
    """One open document."""

    def __init__(self, uri: str, text: str, lang: str, version: int = 0) -> None:
        self.uri = uri
        self.lang = lang
        self.version = version
        self.text = text
        self.source = _encode(text)
        self.too_large = len(self.source) > MAX_BYTES
        self.tree = None                # the tree of the current text (with `dirty` edits not yet re-parsed)
        self.dirty = False              # the tree has pending edits and must be re-parsed before use
        self.parsing: SlicedParse | None = None  # an unfinished parse (of an earlier text, maybe)
        self.syntax_off: str | None = None  # why this document is served without syntax (a parse was given up)
        self._parse_left: float | None = None  # what the current request may still spend parsing (`begin_request`)
        self._pending: list[tuple[int, int, int]] = []
        self._index: LineTable | None = None
        self._literals = LiteralSpans(lang)
        self.idents: Counter[bytes] = Counter(find_identifiers(self.source))
        self.context = ContextCache()
        self.track = ContextCache(anchor=0, covered=0, fixed=True)  # filled in idle time (see the module's text)
        self.track_off: str | None = None  # why the track is not filled (the model failed on it)
        # scope analyses are keyed by the text they analysed, never by their age (see `scopes`)
        self.analysis: ScopeAnalysis | None = None  # the latest finished analysis (of this or an earlier text)
        self._scope_future = None       # background analysis of a long file, if one is running
        self._future_base: bytes | None = None
        self._scope_rest_until = 0.0    # no new background analysis before this time (`BACKGROUND_SHARE`)
        self.background_analysis = True  # False: every analysis and parse runs inline to the end (evaluation)
        self.last_used = time.monotonic()
        self.extra: dict[str, Any] = {}  # per-document data of other components (e.g. the naming model)
        self.last_edit: Edit | None = None
        # the request path's syntax: a tree of the analysis text (`request_tree`), apart from the document's own
        self._req_source: bytes | None = None   # the analysis text `_req_tree` is the tree of
        self._req_tree = None
        self._req_job: SlicedParse | None = None  # an unfinished re-parse toward a newer analysis text
        self._req_edit = (0, 0, 0)              # the edit that job applies to `_req_source`
        self._req_literals = LiteralSpans(lang)
        self._spec: _Speculation | None = None  # a re-parse of the request tree toward the next trigger (`speculate`)
        self.asked: tuple[int, int] | None = None     # (version, cursor) of the latest request (`expected_cursor`)
        self.gathered: tuple[int, int] | None = None  # (version, cursor) whose evidence was last gathered
        self.preparing = False  # idle time is gathering ahead of a request (`Engine.work_in_idle`)
        if not self.too_large:
            self.parsing = self._new_parse(self.source, None)

    # -- text ----------------------------------------------------------------------------------------------------
    @property
    def index(self) -> LineTable:
        """Position conversions for the current text (built on first use after a change)."""
        if self._index is None:
            self._index = LineTable(self.source)
        return self._index

    @property
    def ident_total(self) -> int:
        """Number of identifier occurrences in the document (cached per version)."""
        cached = self.extra.get("ident_total")
        if cached is None or cached[0] != self.version:
            cached = self.extra["ident_total"] = (self.version, sum(self.idents.values()))
        return cached[1]

    def change(self, text: str, version: int | None = None, edit: TextEdit | None = None) -> None:
        """Replace the whole text (LSP full sync); the minimal single edit is derived and applied.  `edit`, when
        the caller knows it, is the one edit that turned the current text into `text`: (start line, start UTF-16
        column, end line, end UTF-16 column, inserted text), in the current text's coordinates.  Then the edit is
        applied to the bytes held and the whole text is neither encoded nor compared again (in a 540 KB file
        that took 2-3 ms per keystroke)."""
        old = self.source
        spliced = self._splice(edit) if edit is not None else None
        if spliced is not None:
            new, start, old_end, new_end = spliced
        else:
            new = _encode(text)
            start, old_end, new_end = changed_span(old, new)
        lo_old, hi_old = line_bounds(old, start, old_end)
        lo_new, hi_new = line_bounds(new, start, new_end)
        removed = find_identifiers(old, lo_old, hi_old)
        self.idents.subtract(removed)
        self.idents.update(find_identifiers(new, lo_new, hi_new))
        for word in set(removed):  # drop the words that no longer occur (only those touched can be at zero)
            if self.idents[word] <= 0:
                del self.idents[word]
        self.too_large = len(new) > MAX_BYTES
        self._literals.edited(start, old_end, new_end)
        if self.too_large or self.syntax_off:
            self.tree, self.parsing, self.dirty = None, None, False
            self._reset_request_syntax()
        elif self.parsing is not None:
            pass  # the running parse is brought up to the new text when it ends (see `parse_some`)
        elif self.tree is None:
            self.parsing = self._new_parse(new, None)
        elif start != old_end or start != new_end:
            lines = self._index if self._index is not None and not self._index.lone_cr else None
            edit_tree(self.tree, old, new, start, old_end, new_end, lines)
            self._pending.append((start, old_end, new_end))
            self.dirty = True
        # (the model context is not touched here: it holds tokens of the request tree, which drops what its own
        # re-parses change, `request_syntax`; an edit inside the word being typed changes nothing it holds)
        self.track.invalidate_from(start)
        old_version = self.version
        # the line table of the new text comes from the old one when there is one (a keystroke in a long file
        # must not pay for finding every line break again)
        index = self._index.edited(new, start, old_end, new_end) if self._index is not None else None
        self.text, self.source, self._index = text, new, index
        if version is not None:
            self.version = version
        else:
            self.version += 1
        # what the edit did, for caches that survive edits inside one word (typing a name)
        self.last_edit = Edit(old_version, self.version, start, old_end, new_end,
                              _ident_only(old[start:old_end]) and _ident_only(new[start:new_end]))

    def _splice(self, edit: TextEdit) -> tuple[bytes, int, int, int] | None:
        """(new bytes, start, old end, new end) of `edit` applied to the bytes held, trimmed to the bytes that
        change; None when it does not fit them (the caller then compares whole texts)."""
        l0, c0, l1, c1, inserted = edit
        index = self.index
        start, old_end = index.byte_of(l0, c0), index.byte_of(l1, c1)
        old = self.source
        ins = _encode(inserted)
        removed = old[start:old_end]
        if old_end < start or len(removed) + len(ins) > SPLICE_MAX_BYTES:
            return None
        # the smallest edit, as a comparison of the whole texts would find it
        head, removed_end, inserted_end = changed_span(removed, ins)
        return old[:start] + ins + old[old_end:], start + head, start + removed_end, start + inserted_end

    def _new_parse(self, source: bytes, old_tree) -> SlicedParse:
        return SlicedParse(self.lang, source, old_tree, MAX_PARSE_S, MAX_PARSE_GROWTH)

    @property
    def parse_pending(self) -> bool:
        """A parse is under way (`parse_some` advances it)."""
        return self.parsing is not None

    def parse_some(self, budget_s: float | None, slice_s: float = SLICE_S) -> bool:
        """Advance the document's parse for up to `budget_s` seconds (None: to the end); True when the tree of
        the current text is ready (or the document has no syntax: too large, or a parse was given up)."""
        if self.too_large or self.syntax_off:
            return True
        if self.parsing is None:
            if not self.dirty:
                return True
            self.parsing = self._new_parse(self.source, self.tree)  # incremental: the edited tree
        deadline = None if budget_s is None else time.perf_counter() + budget_s
        while True:
            job = self.parsing
            left = None if deadline is None else max(deadline - time.perf_counter(), 0.0)
            if not job.advance(left, slice_s):
                return False
            self.parsing = None
            if job.failed:
                self._give_up_syntax(job.failed)
                return True
            changed_ranges: list[tuple[int, int]] = []
            if job.old_tree is None:
                self.track.reset()
                self._literals.reset()
            else:
                # tokens can change before an edit too (a `>` turning `a < b` into template arguments); the
                # track reads this tree (requests read `request_tree`, which follows its own changes)
                track = self.track
                for changed in job.old_tree.changed_ranges(job.tree):
                    lo, hi = changed.start_byte, changed.end_byte
                    first = _first_changed_token(track, job, self.lang, lo, hi, -1)
                    if first >= 0:
                        track.invalidate_from(first)
                    changed_ranges.append((lo, hi))
            self.tree, self.dirty = job.tree, False
            self._pending.clear()
            if job.source is self.source or job.source == self.source:
                self._literals.syntax_changed(changed_ranges)
                return True
            # the text changed while it was parsed: one edit brings the tree to the current text
            start, old_end, new_end = changed_span(job.source, self.source)
            self._literals.syntax_changed([_map_window(lo, hi, start, old_end, new_end) for lo, hi in changed_ranges])
            edit_tree(self.tree, job.source, self.source, start, old_end, new_end)
            self.track.invalidate_from(start)
            self.parsing = self._new_parse(self.source, self.tree)

    def literal_ranges(self) -> list[tuple[int, int]]:
        """Merged byte ranges of the comments and literals of the current tree (`lexing.literal_ranges`); kept up
        to date incrementally (`LiteralSpans`) while the tree is that of the current text."""
        tree = self.tree
        if tree is None:
            return []
        if self.dirty or self.parsing is not None:  # the edited tree of an earlier text: read whole, not kept
            return literal_ranges(tree, self.lang)
        return self._literals.ranges(tree, self.source)

    def begin_request(self) -> None:
        """A request starts: parsing may take up to `REQUEST_PARSE_S` of it in all (see `ensure_parsed`)."""
        self._parse_left = REQUEST_PARSE_S

    def ensure_parsed(self):
        """The tree of the current text, or None: an oversized document, a parse given up, or (in the editor)
        a parse that needs more than the request's share of time (`begin_request`; without one, each call may
        parse for `REQUEST_PARSE_S`); it goes on at the next request or in idle time."""
        if not self.background_analysis:
            self.parse_some(None)
            return self.tree
        budget = REQUEST_PARSE_S if self._parse_left is None else self._parse_left
        if self.parsing is not None or self.dirty:
            if budget <= 0:
                return None
            t0 = time.perf_counter()
            done = self.parse_some(budget)
            if self._parse_left is not None:
                self._parse_left = max(0.0, self._parse_left - (time.perf_counter() - t0))
            if not done:
                return None
        return self.tree

    def request_tree(self, cursor: int):
        """The tree of `analysis_text(cursor)` (the document without the word at the cursor), or None: no syntax
        (see `ensure_parsed`), or (in the editor) a re-parse that needs more than the request's share of time
        (it goes on at the next request).

        Every request reads its syntax here, not from the document's own tree: the analysis text stays the same
        while a word is typed, so one re-parse serves all its keystrokes (a re-parse of a C++ file takes
        milliseconds per 10 KB where error recovery left fragile nodes, and a tree of the text with the word
        would be needed at every keystroke).  The tree follows the analysis texts of successive requests by
        incremental re-parses of its own; the first comes from the document's tree.  Its result is that of a
        parse of the analysis text, so answers stay a function of the text and the cursor."""
        return self.request_syntax(cursor)[0]

    def request_syntax(self, cursor: int) -> tuple[Any, bytes, int]:
        """(tree or None, analysis text, cursor's byte in it): `request_tree` with the text it parsed."""
        base, cut, _cut_end = self.analysis_text(cursor)
        if self.too_large or self.syntax_off:
            return None, base, cut
        if self._request_tree_of(base):
            return self._req_tree, self._req_source, cut
        if self._req_job is None:
            seed = self.ensure_parsed() if self._req_tree is None else None  # the first: the document's tree
            if self._req_tree is None and seed is None:
                return None, base, cut
            self._start_request_parse(base, seed)
        # in the editor, what is left of the request's share (at least one slice of the parser runs: a parse
        # that ends within it is never left for later, whatever the clock says)
        budget = (REQUEST_PARSE_S if self._parse_left is None else self._parse_left) \
            if self.background_analysis else None
        t0 = time.perf_counter()
        done = self._advance_request_syntax(base, budget)
        if self._parse_left is not None:
            self._parse_left = max(0.0, self._parse_left - (time.perf_counter() - t0))
        if not done or self._req_tree is None:
            return None, base, cut
        return self._req_tree, self._req_source, cut

    def _request_tree_of(self, base: bytes) -> bool:
        """Whether the request tree is the finished tree of `base`."""
        return self._req_job is None and self._req_tree is not None and \
            (self._req_source is base or self._req_source == base)

    def _start_request_parse(self, base: bytes, seed=None) -> None:
        """Start the request tree's re-parse toward `base`: from the request tree, or the first time from `seed`
        (the document's tree of its current text)."""
        spec = self._spec
        if self._speculated(base) and not spec.job.failed:
            # idle time parsed this text ahead of the keystroke that made it (`speculate`): its re-parse from the
            # request tree is finished, and finishing it does exactly what finishing one started now would do
            self._req_job, self._req_edit, self._spec = spec.job, spec.edit, None
            return
        if self._req_tree is None:
            self.context.reset()
            self._req_literals.reset()
            self._req_job, self._req_edit = self._reparse(self.source, seed, base)
        else:
            self._req_job, self._req_edit = self._reparse(self._req_source, self._req_tree, base)

    def _reparse(self, old_source: bytes, old_tree, base: bytes) -> tuple[SlicedParse, tuple[int, int, int]]:
        """(an incremental re-parse of `base` from `old_tree`, the tree of `old_source`; the edit between them)."""
        start, old_end, new_end = changed_span(old_source, base)
        edited = old_tree.copy()  # the tree it comes from must keep describing its own text
        edit_tree(edited, old_source, base, start, old_end, new_end)
        return SlicedParse(self.lang, base, edited, MAX_PARSE_S, MAX_PARSE_GROWTH), (start, old_end, new_end)

    def _advance_request_syntax(self, base: bytes, budget: float | None, slice_s: float = SLICE_S) -> bool:
        """Run the request tree's re-parse for up to `budget` seconds (None: to the end), then on toward `base`
        if the text it parsed is an earlier one; True when the tree of `base` is there (or syntax is off)."""
        deadline = None if budget is None else time.perf_counter() + budget
        while True:
            job = self._req_job
            left = None if deadline is None else max(deadline - time.perf_counter(), 0.0)
            if not job.advance(left, slice_s):
                return False
            self._req_job = None
            if job.failed:
                self._give_up_syntax(job.failed)
                return True
            start, old_end, new_end = self._req_edit
            changed = [(r.start_byte, r.end_byte) for r in job.old_tree.changed_ranges(job.tree)]
            # the model context holds tokens of earlier analysis texts: drop those from the edit on, and before
            # it those that a change of syntax (a `>` turning `a < b` into template arguments) really changed
            first = start
            for lo, hi in changed:
                if lo < first:
                    first = _first_changed_token(self.context, job, self.lang, lo, min(hi, first), first)
            self.context.invalidate_from(first)
            self._req_literals.edited(start, old_end, new_end)
            self._req_literals.syntax_changed(literal_windows(job, self.lang, changed, (start, new_end)))
            self._req_source, self._req_tree = job.source, job.tree
            if job.source is base or job.source == base:
                return True
            self._start_request_parse(base)  # requests moved on meanwhile

    def expected_cursor(self) -> int | None:
        """Where the next request will most likely be: after the latest edit when it came after the latest
        request (the user typed on), else where the latest request was; None when neither is known."""
        edit, asked = self.last_edit, self.asked
        if edit is not None and edit.new_version == self.version and (asked is None or asked[0] != self.version):
            return min(edit.new_end, len(self.source))
        if asked is not None:
            return min(asked[1], len(self.source))
        return None

    @property
    def prefetch_pending(self) -> bool:
        """Idle time can gather the evidence of the next request ahead of it (`Engine.work_in_idle`)."""
        if self.too_large or self.syntax_off or not self.background_analysis:
            return False
        cursor = self.expected_cursor()
        return cursor is not None and self.gathered != (self.version, cursor)

    def prepare_request_syntax(self, cursor: int, slice_s: float) -> bool:
        """One short slice of the parse a request at `cursor` needs (the document's own first, when there is no
        request tree yet); True when `request_tree(cursor)` is ready (or there is no syntax to be had)."""
        if self.too_large or self.syntax_off:
            return True
        base, _cut, _end = self.analysis_text(cursor)
        if self._request_tree_of(base):
            return True
        if self._req_job is None:
            if self._req_tree is None and (self.parsing is not None or self.dirty):
                self.parse_some(0.0, slice_s)  # the document's own tree first
                return False
            if self._req_tree is None and self.tree is None:
                return True
            self._start_request_parse(base, self.tree)
        return self._advance_request_syntax(base, 0.0, slice_s)

    def speculation(self, cursor: int) -> bytes | None:
        """The analysis text of the member-access trigger most likely typed next at `cursor` (`next_trigger`), or
        None when no trigger is likely there."""
        op = next_trigger(self.source, cursor, self.lang)
        if op is None:
            return None
        return analysis_of(self.source[:cursor] + op + self.source[cursor:], cursor + len(op))[0]

    def speculate(self, cursor: int, slice_s: float) -> bool:
        """One short slice of a re-parse of the request tree toward `speculation(cursor)`: the text a trigger
        typed next (`.` after a name, `>` after `-`, the second `:`) would make.  A trigger asks for completion at
        once, with a new analysis text and no pause before it to parse it in; when the guess was right, that
        request finds the re-parse done (`_start_request_parse`), and when it was wrong, it is dropped.  Only once
        the request tree is that of `analysis_text(cursor)` (the expected request's own parse comes first).  True
        when nothing is left to do."""
        target = self._speculation_target(cursor)
        if target is None:
            return True
        spec = self._spec
        if spec is None or spec.origin is not self._req_source or spec.job.source != target:
            job, edit = self._reparse(self._req_source, self._req_tree, target)
            spec = self._spec = _Speculation(self._req_source, job, edit)
        return spec.job.advance(0.0, slice_s)

    @property
    def speculation_pending(self) -> bool:
        """Idle time can parse ahead of a trigger at the expected cursor (`speculate`)."""
        cursor = self.expected_cursor() if self.background_analysis else None
        target = None if cursor is None else self._speculation_target(cursor)
        return target is not None and not self._speculated(target)

    def _speculation_target(self, cursor: int) -> bytes | None:
        """`speculation(cursor)` when idle time can parse toward it now (the request tree is that of
        `analysis_text(cursor)`, and no re-parse of its own is under way), else None."""
        if self.too_large or self.syntax_off or self._req_job is not None or self._req_tree is None:
            return None
        target = self.speculation(cursor)
        if target is None or not self._request_tree_of(self.analysis_text(cursor)[0]):
            return None
        return target

    def _speculated(self, text: bytes) -> bool:
        """Whether the re-parse ahead of a trigger (`speculate`) has ended for `text`, from the request tree as
        it is now."""
        spec = self._spec
        return spec is not None and self._req_tree is not None and spec.origin is self._req_source \
            and spec.job.done and (spec.job.source is text or spec.job.source == text)

    def _give_up_syntax(self, why: str) -> None:
        """A parse was given up: the document is served without syntax until it is reopened."""
        self.syntax_off = f"{why}; the file is served without syntax until it is reopened"
        self.tree, self.parsing, self.dirty = None, None, False
        self._reset_contexts()
        self._literals.reset()
        self._reset_request_syntax()

    def _reset_request_syntax(self) -> None:
        self._req_source, self._req_tree, self._req_job, self._spec = None, None, None, None
        self._req_literals.reset()

    def request_literal_ranges(self, cursor: int) -> tuple[bytes, list[tuple[int, int]]]:
        """(analysis text, merged byte ranges of its comments and literals): `literal_ranges` of the request
        tree at `cursor` (none without one), kept up to date incrementally."""
        tree, base, _cut = self.request_syntax(cursor)
        if tree is None:
            return base, []
        return base, self._req_literals.ranges(tree, base)

    def byte_of(self, line: int, utf16_col: int) -> int:
        """Byte offset of an LSP position, clamped into the document (never inside a character)."""
        return self.index.byte_of(line, utf16_col)

    def position_of_byte(self, byte: int) -> tuple[int, int]:
        """LSP position of a byte offset."""
        return self.index.position_of_byte(byte)

    def _invalidate_from(self, byte: int) -> None:
        self.context.invalidate_from(byte)
        self.track.invalidate_from(byte)

    def _reset_contexts(self) -> None:
        self.context.reset()
        self.track.reset()

    # -- tokens --------------------------------------------------------------------------------------------------
    def code_tokens_before(self, end: int) -> list[Token] | None:
        """Code tokens (no comments) from the context anchor up to `end`, using and extending the cache; None when
        there is no request tree (`request_tree`).

        Re-anchors when there is no anchor yet, when `end` moved before it, when more than `window` tokens
        separate `end` from what the cache covers (a jump forward), or when the context grew past `MAX_CONTEXT`
        tokens: then the track's last checkpoint before `end` is adopted when there is one, else only the last
        `window` tokens before `end` are kept.
        """
        tree, base, _cut = self.request_syntax(end)
        ctx = self.context
        if tree is None:
            return None
        if ctx.anchor < 0 or end < ctx.anchor or end - ctx.covered > JUMP_BYTES:
            self._reanchor(end, tree, base)  # (a jump far: tokenizing all the code in between would cost more)
        if end < ctx.covered:
            # the cursor moved back: the cache covers more than asked, keep the tokens ending before `end`
            ctx.truncate(bisect_right(ctx.tokens, end, key=_END))
            ctx.covered = end
            if ctx.usable_checkpoint(end) == 0 and ctx.tokens and ctx.anchor > 0:
                self._adopt_track(end, ctx.anchor)  # nothing to resume from but the anchor: the track may be closer
        self._extend(ctx, tree, end, self.window, base)
        if len(ctx.tokens) - ctx.base > MAX_CONTEXT:
            self._reanchor(end, tree, base)
            self._extend(ctx, tree, end, self.window, base)
        return ctx.tokens

    def _extend(self, ctx: ContextCache, tree, end: int, window: int | None, source: bytes | None = None) -> None:
        """Add the code tokens between `ctx.covered` and `end` (of `tree`, the tree of `source`: by default the
        document's text); more than `window` of them start a fresh window."""
        if end <= ctx.covered:
            return
        fresh = tokens_in_range(tree, self.source if source is None else source, self.lang, ctx.covered, end)
        last_end = ctx.tokens[-1].end_byte if ctx.tokens else ctx.anchor
        added = []
        for tok in fresh:
            if tok.end_byte <= last_end or tok.kind is TokenKind.COMMENT:
                continue
            if tok.end_byte > end:
                break
            added.append(tok)
        if window is not None and len(added) > window:
            # a jump forward: reading every token in between would cost more than a fresh window
            ctx.reset()
            ctx.tokens = added[-window:]
            ctx.anchor = ctx.tokens[0].start_byte
        else:
            ctx.tokens.extend(added)
        ctx.covered = end

    @property
    def window(self) -> int:
        """Tokens of a fresh window: `WINDOW`, or `EDITOR_WINDOW` in the editor (with background work on)."""
        return min(WINDOW, EDITOR_WINDOW) if self.background_analysis else WINDOW

    def _reanchor(self, end: int, tree, source: bytes) -> None:
        if not self._adopt_track(end):
            self._anchor(end, tree, source)

    def _adopt_track(self, end: int, after: int = 0) -> bool:
        """Start the context from the track's last checkpoint before `end`, when the track has one within
        `JUMP_BYTES` (and past byte `after`): the model then reads only the tokens after it."""
        track = self.track
        k = track.usable_checkpoint(end)
        if k == 0:
            return False
        resume = track.tokens[k - 2].end_byte  # the end of the last token read before the checkpoint
        if resume < after or end - resume > JUMP_BYTES:
            return False
        ctx = self.context
        ctx.reset()
        ctx.anchor = 0
        ctx.tokens = track.tokens[:k - 1]
        ctx.ids = track.ids[:k]
        ctx.keys = track.keys[:k]
        ctx.checkpoints = {j: state for j, state in track.checkpoints.items() if j <= k}
        ctx.stable = ctx.base = k - 1
        ctx.covered = ctx.tokens[-1].end_byte if ctx.tokens else 0
        return True

    @property
    def track_pending(self) -> bool:
        """The track can be extended (`extend_track`) or has tokens the model has not read yet."""
        track = self.track
        if self.too_large or self.syntax_off or self.track_off or not self.background_analysis \
                or self.tree is None or self.parsing is not None:
            return False
        unread = min(track.stable, len(track.ids) - 1) < len(track.tokens)
        return unread or (track.covered < len(self.source) and len(track.tokens) < TRACK_TOKENS)

    def extend_track(self, max_bytes: int = TRACK_SLICE_BYTES) -> list[Token]:
        """Add up to `max_bytes` of code to the track's tokens (the model reads them next); its tokens."""
        track = self.track
        if self.dirty and not self.parse_some(0.0, IDLE_SLICE_S):
            return track.tokens  # the edited text is being parsed, a short slice at a time (idle time goes on)
        if self.tree is not None and len(track.tokens) < TRACK_TOKENS:
            self._extend(track, self.tree, min(len(self.source), track.covered + max_bytes), None)
        return track.tokens

    def _anchor(self, end: int, tree, source: bytes) -> None:
        """Anchor the context so that about `window` code tokens (of `tree`, the tree of `source`) precede
        `end`."""
        ctx = self.context
        ctx.reset()
        window = self.window
        span = window * 8
        while True:
            start = max(0, end - span)
            toks = [t for t in tokens_in_range(tree, source, self.lang, start, end)
                    if t.kind is not TokenKind.COMMENT and t.end_byte <= end and t.start_byte >= start]
            if len(toks) >= window or start == 0:
                break
            span *= 4
        whole = start == 0 and len(toks) <= window  # everything from the start of the file fits
        toks = toks[-window:]
        ctx.anchor = 0 if whole or not toks else toks[0].start_byte
        ctx.tokens = toks
        ctx.covered = end

    def analysis_text(self, cursor: int) -> tuple[bytes, int, int]:
        """(base, cut, cut_end): the text a scope analysis at `cursor` reads, and the word it leaves out.

        The base is the document without the identifier the cursor is in or at the end of (bytes [cut, cut_end)
        of the current text), so it is a function of the text and the cursor only, and it stays the same while
        that word is being typed: one analysis serves every keystroke of a word.  Removing a maximal word joins
        two non-word characters, so every identifier of the base is an identifier of the current text.
        """
        return analysis_of(self.source, cursor)

    def scopes(self, cursor: int, max_bytes: int = 400_000, sync_bytes: int = SYNC_SCOPE_BYTES
               ) -> ScopeView | None:
        """The scope analysis for a request at `cursor`, or None (see docs/design.md, "Freshness").

        Freshness rule: an analysis is used as current only when the text it analysed is byte for byte the
        current `analysis_text(cursor)`; no analysis is ever reused because it is recent.  When there is none:

        * with `background_analysis` off (evaluation), or for files up to `sync_bytes`, it is computed inline, so
          the answer is a function of the text and the cursor alone;
        * otherwise (a long file in the editor) it is started on the background thread (once the one before has
          rested for its share, `BACKGROUND_SHARE`) and this request gets the latest finished analysis of an
          earlier text with `exact=False`: its callers must offer only names that still occur in the current
          text (`Document.idents`), never the earlier text's.

        Files over `max_bytes` are not analysed at all.
        """
        if self.too_large or len(self.source) > max_bytes:
            return None
        fut = self._scope_future
        if fut is not None and fut.done():
            self._scope_future, base_done = None, self._future_base
            self._future_base = None
            try:
                result, cpu_s, ended = fut.result()
                self._scope_rest_until = ended + cpu_s * (1 / BACKGROUND_SHARE - 1)
            except Exception:  # a hint only: a failed analysis must not cost the user the completion list
                result = None
            if result is not None and base_done is not None:
                self.analysis = ScopeAnalysis(base_done, result)
        base, cut, cut_end = self.analysis_text(cursor)
        current = self.analysis
        if current is not None and current.base == base:
            return ScopeView(current, cut, True)
        if not self.background_analysis or len(base) <= sync_bytes:
            tree = self.request_tree(cursor)
            if tree is None:
                return None
            try:
                info = analyse_scopes(base, tree, self.lang)
            except Exception:  # a hint only, as above
                return None
            self.analysis = ScopeAnalysis(base, info)
            return ScopeView(self.analysis, cut, True)
        if self._scope_future is None and time.perf_counter() >= self._scope_rest_until:
            tree = self.request_tree(cursor)
            if tree is not None:
                tree = tree.copy()  # read on the background thread while requests go on with theirs
                self._future_base = base
                self._scope_future = _scope_pool().submit(_background_analysis, base, tree, self.lang)
        if current is None:
            return None
        # where the cursor is in the earlier text: the single edit between the two texts shifts what follows it
        start, old_end, new_end = changed_span(current.base, base)
        pos = cut if cut <= start else (start if cut < new_end else cut - new_end + old_end)
        return ScopeView(current, pos, False)


_WORD_TAIL = re.compile(rb"[A-Za-z0-9_$\x80-\xff]+")


def analysis_of(source: bytes, cursor: int) -> tuple[bytes, int, int]:
    """`Document.analysis_text` of `source` at `cursor`."""
    cursor = min(max(cursor, 0), len(source))
    cut = prefix_start(source, cursor)
    m = _WORD_TAIL.match(source, cursor)
    cut_end = m.end() if m else cursor
    if cut == cut_end:
        return source, cut, cut_end
    return source[:cut] + source[cut_end:], cut, cut_end


def next_trigger(source: bytes, cursor: int, lang: str) -> bytes | None:
    """The member-access trigger most likely typed next at `cursor`, judged by the byte before it: `.` after a
    name (not a number) or a closing `)` / `]`, and in C++ `>` after `-` and a second `:` after a single one;
    None elsewhere."""
    prev = source[cursor - 1:cursor]
    if not prev:
        return None
    if lang == "cpp" and prev == b"-":
        return b">"
    if lang == "cpp" and prev == b":":
        return None if source[cursor - 2:cursor - 1] == b":" else b":"
    if prev in b")]":
        return b"."
    start = prefix_start(source, cursor)
    if start < cursor and not source[start:start + 1].isdigit():
        return b"."
    return None


@dataclass(slots=True)
class _Speculation:
    """A re-parse of the request tree (of the text `origin`) toward the analysis text a trigger typed next would
    make (`Document.speculate`), with the edit between the two."""

    origin: bytes
    job: SlicedParse
    edit: tuple[int, int, int]


@dataclass(slots=True)
class ScopeAnalysis:
    """A scope analysis and the exact text it analysed (the key it is found by)."""

    base: bytes
    info: Any          # codecomp.syntax.ScopeInfo
    # Not the tokens it was computed from: a long file has tens of thousands, and kept alive until the next
    # analysis they outlived the collector's youngest generation, so that each collection of the middle one
    # walked them all (10-35 ms in a 540 KB file, in whichever request or idle slice it fell).


@dataclass(frozen=True, slots=True)
class ScopeView:
    """What `Document.scopes` answers: an analysis, the cursor's byte in its text, and whether it is current."""

    analysis: ScopeAnalysis
    position: int
    exact: bool


_POOL = None


def _scope_pool():
    """One background thread for scope analyses of long files (created on first use)."""
    global _POOL
    if _POOL is None:
        from concurrent.futures import ThreadPoolExecutor

        _POOL = ThreadPoolExecutor(max_workers=1, thread_name_prefix="codecomp-scopes")
    return _POOL


def analyse_scopes(source: bytes, tree, lang: str, delay_s: float = 0.0, background: bool = False):
    """The ScopeInfo of a snapshot; runs on the caller's or the background thread.

    On the background thread it starts `delay_s` later, so that the request that asked for it finishes first,
    and it steps aside whenever a request runs (`foreground`): it holds the interpreter lock while it runs, and
    a request that had to share it would wait for it.
    """
    pause = None
    if background:
        if delay_s:
            time.sleep(delay_s)
        pause = background_turn
    from codecomp.syntax import ParsedFile
    from codecomp.syntax.tokens import tokenize

    return ParsedFile(lang, source, tree, tokenize(tree, source, lang, pause)).scopes(pause)


def _background_analysis(source: bytes, tree, lang: str):
    """(`analyse_scopes` on the background thread, the CPU seconds it took, when it ended)."""
    t0 = time.thread_time()
    result = analyse_scopes(source, tree, lang, BACKGROUND_DELAY_S, True)
    return result, time.thread_time() - t0, time.perf_counter()


class DocumentStore:
    """Open documents with a bound on how many keep their (memory-heavy) model context."""

    def __init__(self, max_contexts: int = 16) -> None:
        self.docs: OrderedDict[str, Document] = OrderedDict()
        self.max_contexts = max_contexts
        # False: scope analyses of long files run inline too, so that answers never depend on whether a
        # background job has finished (the evaluation sets this; an editor keeps keystrokes fast instead)
        self.background_analysis = True

    def open(self, uri: str, text: str, lang: str, version: int = 0) -> Document:
        """Open (or re-open) a document."""
        doc = Document(uri, text, lang, version)
        doc.background_analysis = self.background_analysis
        self.docs[uri] = doc
        self.touch(uri)
        return doc

    def get(self, uri: str) -> Document | None:
        """The open document for `uri`, or None."""
        return self.docs.get(uri)

    def touch(self, uri: str) -> None:
        """Mark `uri` most recently used; drop the model context (and track) of the least recently used
        documents."""
        doc = self.docs.get(uri)
        if doc is None:
            return
        doc.last_used = time.monotonic()
        self.docs.move_to_end(uri)
        for i, other in enumerate(reversed(self.docs.values())):
            if i >= TRACKS_KEPT and other.track.tokens:
                other.track.reset()
            if i >= self.max_contexts and other.context.anchor >= 0:
                other.context.reset()

    def close(self, uri: str) -> None:
        """Forget a document."""
        self.docs.pop(uri, None)
