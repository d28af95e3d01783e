"""The document's own lines as evidence for multi-token fragments: repeated statements and where lines end.

Code repeats itself line by line (the same call with another argument, the same `require`, the same closing
`});`), and the token model never sees line breaks.  This module reads the document as a stream of code tokens
with an end-of-line marker between lines (comments skipped, a string literal one token) and answers two
questions for the fragment decoder (`codecomp.engine.fragments`):

* `LineStats.repeats(context, prefix)`: the continuations of the current line found after the longest earlier
  (or later) occurrences of the tokens before the cursor -- the rest of a line that started the same way, with
  how long the shared context is and how often each continuation occurs.  This is an n-gram cache of unbounded
  order, restricted to the rest of a line.
* `LineStats.p_break(a, b)`: the probability that a line ends between two adjacent tokens `a` and `b`, from the
  document's own layout (a `;` ends a line, a `)` before `{` usually does not; a file without semicolons ends
  lines after `)`), smoothed towards a small table of defaults for short documents.

The document is read in two parts, the lines before the cursor's line and the lines after it; each part is
lexed once and kept while it stays the same (typing inside one line changes neither), and extended rather than
re-read when the cursor moves down a line.  Everything is numpy over interned token ids.
"""
from __future__ import annotations

import re
from bisect import bisect_right
from dataclasses import dataclass, field

import numpy as np

EOL = 0                 # id of the end-of-line marker in a stream
MAX_MATCH = 48          # context tokens compared at most (longer shared contexts count as this long)
MAX_REPEATS = 6         # distinct continuations returned
MAX_SCAN = 400          # occurrences of the longest context looked at (the most recent first)
SCAN_BEFORE = 200_000   # bytes of the document read before / after the cursor's line in very long files
SCAN_AFTER = 100_000
BREAK_PRIOR = 4.0       # pseudo-count of the default line-break probability of a token
PAIR_PRIOR = 2.0        # pseudo-count of a token's own break probability for one of its pairs

_LEX = re.compile(rb"""
    //[^\n]*|/\*.*?(?:\*/|\Z)                                   # comments (dropped)
  | "(?:[^"\\\n]|\\.)*"? | '(?:[^'\\\n]|\\.)*'? | `(?:[^`\\]|\\.)*`?
  | \#[ \t]*[A-Za-z_]+
  | [A-Za-z_$\x80-\xff][A-Za-z0-9_$\x80-\xff]*
  | \.?[0-9](?:[eEpP][+-]|[A-Za-z0-9_.'])*
  | >>>=|<<=|>>=|>>>|\.\.\.|===|!==|\*\*=|<=>|->\*|&&=|\|\|=|\?\?=
  | ::|->|\+\+|--|<<|<=|>=|==|!=|&&|\|\||\?\?|\?\.|\+=|-=|\*=|/=|%=|&=|\|=|\^=|=>|\*\*
  | \S""", re.S | re.X)

# How often a line ends after a token, before the document says otherwise.
_DEFAULT_BREAK = {b";": 0.97, b"{": 0.9, b"}": 0.75, b",": 0.12, b")": 0.12, b"]": 0.1, b"=>": 0.05,
                  b":": 0.15}
_BREAK_OTHER = 0.04


def lex(data: bytes) -> list[tuple[bytes, int]]:
    """(token, start byte) of the code tokens of `data` (comments dropped; a string literal is one token)."""
    out = []
    for m in _LEX.finditer(data):
        tok = m.group()
        if tok[:2] in (b"//", b"/*"):
            continue
        out.append((tok, m.start()))
    return out


def open_stack(data: bytes) -> list[str]:
    """The brackets still open at the end of `data` (innermost last); closers without an opener are ignored."""
    stack: list[str] = []
    pairs = {b")": "(", b"]": "[", b"}": "{"}
    for tok, _ in lex(data):
        if tok in (b"(", b"[", b"{"):
            stack.append(tok.decode())
        elif tok in pairs:
            if stack and stack[-1] == pairs[tok]:
                stack.pop()
    return stack


class Vocab:
    """Token spelling -> small integer, per document (0 is the end-of-line marker)."""

    def __init__(self) -> None:
        self.ids: dict[bytes, int] = {}
        self.words: list[bytes] = [b"\n"]

    def id(self, tok: bytes) -> int:
        i = self.ids.get(tok)
        if i is None:
            i = self.ids[tok] = len(self.words)
            self.words.append(tok)
        return i

    def get(self, tok: bytes) -> int:
        """The id of a spelling, -1 when the document never had it."""
        return self.ids.get(tok, -1)


@dataclass
class Part:
    """One lexed stretch of whole lines: a stream of ids with `EOL` before every line, and for every stream entry
    the byte span of its token (relative to `data`; -1 for a marker)."""

    data: bytes
    ids: np.ndarray                      # int32 stream, EOL before each line
    starts: np.ndarray                   # int64 start byte per stream entry (-1 for EOL)
    ends: np.ndarray                     # int64 end byte per stream entry (-1 for EOL)
    lines: np.ndarray                    # line number (inside `data`) of each stream entry
    _line_end: np.ndarray | None = None

    @property
    def line_end(self) -> np.ndarray:
        """For every stream position, the position of the next EOL marker at or after it (the stream's length
        when none)."""
        if self._line_end is None:
            n = self.ids.size
            eols = np.flatnonzero(self.ids == EOL)
            idx = np.searchsorted(eols, np.arange(n))
            self._line_end = np.append(eols, n)[idx]
        return self._line_end

    @classmethod
    def read(cls, data: bytes, vocab: Vocab) -> "Part":
        toks = lex(data)
        if not toks:
            return cls(data, np.zeros(1, np.int32), np.full(1, -1, np.int64), np.full(1, -1, np.int64),
                       np.zeros(1, np.int64))
        starts = np.fromiter((s for _, s in toks), np.int64, len(toks))
        ends = starts + np.fromiter((len(t) for t, _ in toks), np.int64, len(toks))
        ids = np.fromiter((vocab.id(t) for t, _ in toks), np.int32, len(toks))
        newlines = np.flatnonzero(np.frombuffer(data, np.uint8) == 10)
        line = np.searchsorted(newlines, starts)
        new_line = np.ones(len(toks), bool)
        new_line[1:] = line[1:] != line[:-1]
        # one EOL before every token that starts a line: positions of the tokens in the stream
        pos = np.arange(len(toks)) + np.cumsum(new_line)
        n = len(toks) + int(new_line.sum())
        s_ids = np.zeros(n, np.int32)
        s_starts = np.full(n, -1, np.int64)
        s_ends = np.full(n, -1, np.int64)
        s_lines = np.zeros(n, np.int64)
        s_ids[pos], s_starts[pos], s_ends[pos], s_lines[pos] = ids, starts, ends, line
        s_lines[pos[new_line] - 1] = line[new_line]
        return cls(data, s_ids, s_starts, s_ends, s_lines)


@dataclass
class Repeat:
    """A continuation of the current line seen elsewhere in the document."""

    text: str              # what follows the context there, to the end of that line's code
    tokens: list[str]      # its tokens
    match: int             # tokens of context shared with the cursor (end-of-line markers included)
    count: int             # occurrences with this continuation (among the occurrences looked at)
    total: int             # occurrences sharing `match` context tokens or more, whatever follows
    line: int              # 0-based line of the nearest occurrence (in the document)


@dataclass
class LineStats:
    """The document's lines around one cursor line (see the module docstring)."""

    vocab: Vocab
    before: Part                          # the lines before the cursor's line
    after: Part                           # the lines after it
    before_line0: int                     # document line of the first line of `before`
    after_line0: int                      # document line of the first line of `after`
    _breaks: dict[int, dict[int, tuple[int, int]]] = field(default_factory=dict)
    _break_one: dict[int, tuple[int, int]] = field(default_factory=dict)

    # ------------------------------------------------------------------------------------------- building
    @classmethod
    def of(cls, source: bytes, line_start: int, line_end: int, cache: dict | None = None) -> "LineStats":
        """Statistics of `source` around the line [line_start, line_end) (its own text is not read: the cursor's
        line is what is being predicted).  `cache` (a dict kept with the document) keeps the parts between
        calls."""
        cache = cache if cache is not None else {}
        vocab = cache.setdefault("vocab", Vocab())
        lo = source.rfind(b"\n", 0, max(0, line_start - SCAN_BEFORE)) + 1 if line_start > SCAN_BEFORE else 0
        before_data = source[lo:line_start]
        hi_cut = line_end + 1 + SCAN_AFTER
        hi = len(source) if hi_cut >= len(source) else source.rfind(b"\n", 0, hi_cut) + 1
        hi = max(hi, min(len(source), line_end + 1))
        after_data = source[min(line_end + 1, len(source)):hi]
        before = _cached_part(cache, "before", before_data, vocab, grow="end")
        after = _cached_part(cache, "after", after_data, vocab, grow="start")
        before_line0 = source.count(b"\n", 0, lo)
        cursor_line = before_line0 + before_data.count(b"\n")
        stats = cls(vocab, before, after, before_line0, cursor_line + 1)
        kept = cache.get("breaks")
        if kept is not None and kept[0] is before and kept[1] is after:
            stats._breaks, stats._break_one = kept[2], kept[3]   # the same parts: the same counts
        else:
            cache["breaks"] = (before, after, stats._breaks, stats._break_one)
        return stats

    def previous_line(self) -> list[bytes]:
        """The tokens of the last code line before the cursor's line (empty at the top of the file)."""
        part = self.before
        ids = part.ids
        eols = np.flatnonzero(ids == EOL)
        if not eols.size or eols[-1] + 1 >= ids.size:
            return []
        a = int(eols[-1]) + 1
        return [part.data[int(s):int(e)] for s, e in zip(part.starts[a:].tolist(), part.ends[a:].tolist())]

    # ------------------------------------------------------------------------------------------- repeats
    def context_ids(self, line_tokens: list[bytes]) -> list[int]:
        """The id context at the cursor: the last tokens of the lines before, an EOL, the line's own tokens
        (-1 for a spelling the document has nowhere else: nothing matches it)."""
        tail = self.before.ids[-MAX_MATCH:].tolist()
        return tail + [EOL] + [self.vocab.get(t) for t in line_tokens]

    def repeats(self, line_tokens: list[bytes], prefix: str = "", limit: int = MAX_REPEATS) -> list[Repeat]:
        """Continuations of the current line (its tokens before the cursor: `line_tokens`; the word being typed:
        `prefix`) after the longest shared contexts in the document, the best supported first."""
        ctx = self.context_ids(line_tokens)
        if ctx[-1] < 0:
            return []
        parts = ((self.before, False), (self.after, True))
        cols = []  # per part: (match lengths, distances, positions)
        for k, (part, after) in enumerate(parts):
            pos, length = _matches(part.ids, ctx)
            # the nearest occurrences first: the end of `before`, the start of `after`
            dist = (part.ids.size - pos) if not after else (pos + 1)
            cols.append((length, dist, pos, np.full(pos.size, k)))
        length = np.concatenate([c[0] for c in cols])
        if not length.size:
            return []
        dist = np.concatenate([c[1] for c in cols])
        pos = np.concatenate([c[2] for c in cols])
        which = np.concatenate([c[3] for c in cols])
        order = np.lexsort((dist, -length))[:MAX_SCAN]   # longest match first, then nearest
        found = [(int(length[j]), 0, parts[int(which[j])][0], int(pos[j]), parts[int(which[j])][1]) for j in order]
        groups: dict[bytes, Repeat] = {}
        pre = prefix.encode("utf-8", "surrogatepass")
        for n, _, part, p, after in found:
            q = p + 1
            end = int(part.line_end[q])
            if end == q:
                continue
            a, b = int(part.starts[q]), int(part.ends[end - 1])
            data = part.data
            if pre and not data[a:int(part.ends[q])].startswith(pre):
                continue
            key = data[a:b]
            rep = groups.get(key)
            if rep is None:
                line = int(part.lines[p]) + (self.after_line0 if after else self.before_line0)
                groups[key] = Repeat(key.decode("utf-8", "replace"), [], n, 1, 0, line)
            else:
                rep.count += 1
        longest_first = [-f[0] for f in found]
        for key, rep in groups.items():
            rep.total = bisect_right(longest_first, -rep.match)
        reps = sorted(groups.values(), key=lambda r: (-r.match, -r.count))[:limit]
        for rep in reps:
            rep.tokens = [t.decode("utf-8", "replace") for t, _ in lex(rep.text.encode("utf-8", "surrogatepass"))]
        return [r for r in reps if r.tokens]

    # ------------------------------------------------------------------------------------------- line breaks
    def p_break(self, a: bytes, b: bytes | None) -> float:
        """P(a line break between the adjacent code tokens `a` and `b`) (`b` None: after `a`, whatever follows)."""
        ia = self.vocab.get(a)
        prior = _DEFAULT_BREAK.get(a, _BREAK_OTHER)
        if ia < 0:
            return prior
        one = self._break_one.get(ia)
        if one is None:
            self._count_breaks(ia)
            one = self._break_one[ia]
        n, k = one
        p_a = (k + BREAK_PRIOR * prior) / (n + BREAK_PRIOR)
        if b is None:
            return p_a
        ib = self.vocab.get(b)
        n2, k2 = self._breaks[ia].get(ib, (0, 0)) if ib >= 0 else (0, 0)
        return (k2 + PAIR_PRIOR * p_a) / (n2 + PAIR_PRIOR)

    def _count_breaks(self, ia: int) -> None:
        pairs: dict[int, list[int]] = {}
        n = k = 0
        for part in (self.before, self.after):
            ids = part.ids
            at = np.flatnonzero(ids[:-1] == ia)
            if not at.size:
                continue
            nxt = at + 1
            brk = ids[nxt] == EOL
            # the token after a break: skip the marker
            follow = np.where(brk, np.minimum(nxt + 1, ids.size - 1), nxt)
            follow_ids = ids[follow]
            valid = ~(brk & (nxt + 1 >= ids.size))
            for f, b in zip(follow_ids[valid].tolist(), brk[valid].tolist()):
                c = pairs.setdefault(f, [0, 0])
                c[0] += 1
                c[1] += b
            n += int(valid.sum())
            k += int((brk & valid).sum())
        self._breaks[ia] = {f: (c[0], c[1]) for f, c in pairs.items()}
        self._break_one[ia] = (n, k)


def _cached_part(cache: dict, key: str, data: bytes, vocab: Vocab, grow: str) -> Part:
    """The part for `data`, from the cache when it holds the same bytes; when the cached bytes are a whole-line
    piece of `data` (the cursor moved down a line), only the rest is lexed and the two are joined."""
    old: Part | None = cache.get(key)
    if old is not None and old.data == data:
        return old
    part = None
    if old is not None and old.data and len(old.data) < len(data):
        if grow == "end" and data.startswith(old.data) and old.data.endswith(b"\n"):
            part = _join(old, Part.read(data[len(old.data):], vocab), data)
        elif grow == "start" and data.endswith(old.data) and data[len(data) - len(old.data) - 1:][:1] == b"\n":
            part = _join(Part.read(data[:len(data) - len(old.data)], vocab), old, data)
    if part is None:
        part = Part.read(data, vocab)
    cache[key] = part
    return part


def _join(a: Part, b: Part, data: bytes) -> Part:
    """Two parts of consecutive whole lines as one (`data` = a.data + b.data)."""
    shift = len(a.data)
    line_shift = a.data.count(b"\n")
    b_ids = b.ids
    b_starts = np.where(b.starts >= 0, b.starts + shift, -1)
    b_ends = np.where(b.ends >= 0, b.ends + shift, -1)
    if a.ids.size == 1 and a.starts[0] < 0:  # an empty first part: only its marker
        a_sl = slice(0, 0)
    else:
        a_sl = slice(0, a.ids.size)
    return Part(data, np.concatenate([a.ids[a_sl], b_ids]), np.concatenate([a.starts[a_sl], b_starts]),
                np.concatenate([a.ends[a_sl], b_ends]), np.concatenate([a.lines[a_sl], b.lines + line_shift]))


def _matches(ids: np.ndarray, ctx: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """Stream positions p where ids[p] == ctx[-1] and something follows on p's line, with how many context
    tokens match there (ids[p - m] == ctx[-1 - m] for m < length)."""
    if ids.size < 2:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    pos = np.flatnonzero(ids[:-1] == ctx[-1])
    if not pos.size:
        return pos, pos
    pos = pos[ids[pos + 1] != EOL]  # a continuation must exist on that line
    length = np.ones(pos.size, np.int64)
    alive = np.arange(pos.size)
    for m in range(1, min(len(ctx), MAX_MATCH)):
        want = ctx[-1 - m]
        if want < 0:
            break
        back = pos[alive] - m
        ok = back >= 0
        ok[ok] = ids[back[ok]] == want
        alive = alive[ok]
        if not alive.size:
            break
        length[alive] += 1
    return pos, length
