"""Lines of the other files of the workspace, for the rest of the current line (fragments with project context).

A project repeats its statements across files (the same `import` lines, the same registration
`proto.add = add;`, the same `EXPECT_EQ(...)` shapes): when the current line starts the way lines of other
files start, their rest is a candidate for the fragment.  `ProjectLines` reads the files a `WorkspaceIndex`
lists (the editor's text for open documents, the disk copy for the others; package entries are left out) with
the lexer of `codecomp.engine.linestats`, and keeps, for every line and every prefix of it up to `MAX_PREFIX`
tokens, two 64-bit keys: the hash of the prefix alone, and the hash of the prefix after the last two tokens of
the previous code line.  A lookup hashes the cursor's line the same way and reads the matching entries with a
binary search; the continuations are grouped and counted.  The file being completed never counts (its own lines
are `LineStats`' business, and a stale copy of it must not speak for it).

Reading a file costs about as much as lexing it; `update(budget_s)` reads files until its budget is spent (the
engine gives it a few milliseconds per request and its idle time) or a request waits, and a lookup uses what is
read so far.  A file larger than `PIECE_BYTES` is read one piece of whole lines per step (`piece_bounds`), so
that a request never waits for all of a 250 KB file (50-100 ms on a 2-core machine).  The
entries of the files on disk live in sorted levels of at most `LEVEL_ENTRIES` (adding a file copies one level),
and only there once merged (a piece then keeps its tokens alone); the entries of changed files are taken out of
the levels when many of the files changed.  The open documents (which change as the user types) are kept apart,
one small array each.  Which files to read comes from the index's change log (`WorkspaceIndex.changes_since`),
so a step never looks at every file of a large workspace.
"""
from __future__ import annotations

import itertools
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from codecomp.engine.linestats import EOL, Part, Vocab

MAX_PREFIX = 24            # prefixes longer than this many tokens are not indexed
MAX_TOKENS = 3_000_000     # tokens read from the workspace at most (memory: about 50 bytes per token)
MAX_FILE_BYTES = 1 << 20   # larger files are skipped (generated code, bundles)
PIECE_BYTES = 8 << 10      # a larger file is read in pieces of whole lines of about this size, one per step
                           # (16 KB pieces of lodash.js took up to 9 ms each, and a request waited for one)
PIECE_OVERLAP = 2048       # bytes before a piece lexed with it, for the context of its first line
MAX_ENTRIES = 400          # matching entries looked at per lookup
LEVEL_ENTRIES = 1 << 16    # merged entries per sorted level (adding files copies one level: about a millisecond)
MERGE_ENTRIES = 1 << 15    # entries merged per step: a request waits for one step (a merge of all that a 20 ms
                           # slice had read, into levels of 2^18 entries, took up to 26 ms)
_NO_KEYS = np.zeros(0, np.uint64)
_NO_SPANS = np.zeros(0, np.int32)
_P = np.uint64(0x100000001B3)
_SEED_A = np.uint64(0x9E3779B97F4A7C15)
_SEED_B = np.uint64(0xC2B2AE3D27D4EB4F)


def _mix(h: np.ndarray, x: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):
        return (h ^ (x.astype(np.uint64) + np.uint64(1))) * _P


def _mix1(h: int, x: int) -> int:
    return int(_mix(np.array([h], np.uint64), np.array([x], np.int64))[0])


@dataclass
class FileLines:
    """One file's lines and its entries: key -> (stream position where the continuation starts, line end)."""

    part: Part
    keys: np.ndarray          # uint64, sorted
    starts: np.ndarray        # int32 stream position of the first continuation token
    ends: np.ndarray          # int32 stream position just after the line's last token


@dataclass
class ProjectRepeat:
    """A continuation of the current line found in other files of the project."""

    text: str
    tokens: list[str]
    count: int             # occurrences with this continuation
    total: int             # occurrences of the same line start, whatever follows
    with_prev: bool        # found after the same previous-line ending too (the stronger match)
    files: int             # distinct files it occurs in


def file_lines(data: bytes, vocab: Vocab, skip_bytes: int = 0) -> FileLines:
    """The entries of one file's text (none for the lines that start in its first `skip_bytes` bytes, which are
    read only for the previous-line context of the line after them)."""
    part = Part.read(data, vocab)
    ids = part.ids.astype(np.int64)
    n = ids.size
    is_eol = ids == EOL
    eol_pos = np.flatnonzero(is_eol)
    line = np.cumsum(is_eol) - 1                       # line of each stream entry (its EOL included)
    k = np.arange(n) - eol_pos[line] - 1               # index inside the line (-1 for the marker)
    line_end = np.append(eol_pos[1:], n)               # stream position after each line's last token
    # the seed of each line with context: the last two tokens of the previous line
    seed_b = np.full(eol_pos.size, _SEED_B, np.uint64)
    prev_last = eol_pos[1:] - 1
    prev_last2 = eol_pos[1:] - 2
    has1 = prev_last > eol_pos[:-1]
    has2 = prev_last2 > eol_pos[:-1]
    sb = np.full(eol_pos.size - 1, _SEED_B, np.uint64)
    sb = np.where(has2, _mix(sb, np.where(has2, ids[np.maximum(prev_last2, 0)], 0)), sb)
    sb = np.where(has1, _mix(sb, np.where(has1, ids[np.maximum(prev_last, 0)], 0)), sb)
    seed_b[1:] = sb
    h_a = np.zeros(n, np.uint64)
    h_b = np.zeros(n, np.uint64)
    keys, starts, ends = [], [], []
    for kk in range(min(MAX_PREFIX, int(k.max()) + 1 if n else 0)):
        pos = np.flatnonzero(k == kk)
        if not pos.size:
            break
        ln = line[pos]
        # entries for the continuation starting at `pos` (prefix of kk tokens before it)
        if kk == 0:
            keys.append(seed_b[ln])
        else:
            keys.append(np.concatenate([h_a[pos - 1], h_b[pos - 1]]))
            pos2 = np.concatenate([pos, pos])
            starts.append(pos2.astype(np.int32))
            ends.append(line_end[line[pos2]].astype(np.int32))
        if kk == 0:
            starts.append(pos.astype(np.int32))
            ends.append(line_end[ln].astype(np.int32))
        prev_a = np.full(pos.size, _SEED_A, np.uint64) if kk == 0 else h_a[pos - 1]
        prev_b = seed_b[ln] if kk == 0 else h_b[pos - 1]
        h_a[pos] = _mix(prev_a, ids[pos])
        h_b[pos] = _mix(prev_b, ids[pos])
    if keys:
        key = np.concatenate(keys)
        st = np.concatenate(starts)
        en = np.concatenate(ends)
    else:
        key, st, en = np.zeros(0, np.uint64), np.zeros(0, np.int32), np.zeros(0, np.int32)
    if skip_bytes and st.size:
        keep = part.starts[st] >= skip_bytes
        key, st, en = key[keep], st[keep], en[keep]
    order = np.argsort(key, kind="stable")
    return FileLines(part, key[order], st[order], en[order])


def piece_bounds(data: bytes, size: int | None = None) -> list[tuple[int, int, int]]:
    """How a file is read in pieces: (first byte lexed, first byte of the piece, end) of each.  A piece ends at a
    line end, never inside a block comment, and is lexed from a line about `PIECE_OVERLAP` bytes before it (the
    start of a block comment around that line), which gives its first line the previous code line it has in the
    whole file."""
    n = len(data)
    if not n:
        return [(0, 0, 0)]
    size = PIECE_BYTES if size is None else size
    out: list[tuple[int, int, int]] = []
    lo = 0
    while lo < n:
        hi = n
        if n - lo > size:
            end = data.find(b"\n", lo + size)
            hi = n if end < 0 else end + 1
            if data.rfind(b"/*", lo, hi) > data.rfind(b"*/", lo, hi):   # inside a comment: end after it
                close = data.find(b"*/", hi)
                end = -1 if close < 0 else data.find(b"\n", close)
                hi = n if end < 0 else end + 1
        read_from = 0 if lo == 0 else data.rfind(b"\n", 0, max(0, lo - PIECE_OVERLAP)) + 1
        opened = data.rfind(b"/*", 0, read_from)
        if read_from and opened > data.rfind(b"*/", 0, read_from):
            read_from = data.rfind(b"\n", 0, opened) + 1
        out.append((read_from, lo, hi))
        lo = hi
    return out


def piece_lines(data: bytes, vocab: Vocab, read_from: int, lo: int, hi: int) -> FileLines:
    """The entries of the lines of data[lo:hi] (`piece_bounds`), its part's spans given in `data`'s offsets."""
    fl = file_lines(data[read_from:hi], vocab, lo - read_from)
    p = fl.part
    first_line = data.count(b"\n", 0, read_from)
    # kept for as long as the workspace is open: 32-bit spans and line numbers (a file read is at most
    # `MAX_FILE_BYTES`), half the bytes of the 64-bit ones a document's parts use
    part = Part(data, p.ids, np.where(p.starts >= 0, p.starts + read_from, -1).astype(np.int32),
                np.where(p.ends >= 0, p.ends + read_from, -1).astype(np.int32),
                (p.lines + first_line).astype(np.int32))
    return FileLines(part, fl.keys, fl.starts, fl.ends)


def _insert(into, add):
    """Sorted entry arrays (keys, file ids, starts, ends) with `add`'s inserted after equal keys of `into`."""
    at = np.searchsorted(into[0], add[0], side="right")
    return tuple(np.insert(a, at, b) for a, b in zip(into, add))


def _tokens(pieces: list[FileLines]) -> int:
    return sum(fl.part.ids.size for fl in pieces)


class ProjectLines:
    """The lines of a workspace's files (see the module docstring)."""

    def __init__(self, index, open_text: Callable[[str], str | None] | None = None) -> None:
        self.index = index
        self.open_text = open_text          # path -> the editor's text of an open document (None: not open)
        self.vocab = Vocab()
        self.files: dict[str, tuple[int, list[FileLines]]] = {}   # path -> (index entry serial, its pieces)
        # path -> (serial, text, `piece_bounds`, pieces read): a large file whose reading spans several steps
        self._partial: dict[str, tuple[int, bytes, list[tuple[int, int, int]], list[FileLines]]] = {}
        self.tokens = 0
        # the merged entries: sorted arrays (keys, file ids, starts, ends) in the order they were filled, each
        # filled up to `LEVEL_ENTRIES` before the next one starts, so adding a file copies at most one of them
        self._levels: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = []
        self._merged_paths: list[str] = []
        self._merged_parts: list[Part] = []
        self._merged: dict[str, int] = {}   # path -> how many of its pieces are in the merged entries
        self._masked: set[int] = set()      # merged files (by position) changed or gone since: their entries skipped
        self._unmerged_paths: dict[str, None] = {}  # read files with pieces not merged yet (open documents too)
        # the paths to look at (new, changed or gone since they were read), kept up to date from the index's
        # change log (`changes_since`) at `_mark`, so that a step does not look at every file: in a workspace of
        # 15,000 files that look took 20 ms, and a step of idle work read almost nothing after it
        self._queue: dict[str, None] = {}
        self._mark: int | None = None
        self.full = False                   # MAX_TOKENS reached: further files are not read
        self._settled: tuple | None = None  # the index's state when nothing was pending (`pending`)
        # the open document being edited (the engine's most recent one): its lines are not read while it is.
        # A lookup never counts the file being completed, and every pause in typing hands the index a new text
        # of it, which was read again at once: all of a 540 KB file after each pause, one piece per idle step.
        # Once another document is edited, its latest text is read.
        self.current: str | None = None

    # ------------------------------------------------------------------------------------------- reading
    def pending(self) -> bool:
        """Whether some workspace file is not read (or changed since), or read and not merged yet.  Asked before
        every slice of idle work: once nothing is, the answer is kept until the index or its open documents
        change (a scan of every file costs milliseconds in a workspace of thousands)."""
        generation = getattr(self.index, "generation", None)  # (an index that does not count its changes: no cache)
        key = None if generation is None else (generation, frozenset(getattr(self.index, "open_docs", ())),
                                                self.current)
        if key is not None and self._settled == key:
            return False
        busy = bool(self._todo(1)) or bool(self._unmerged())
        self._settled = None if busy else key
        return busy

    def _refresh(self) -> None:
        """Queue the paths the index changed since the last look (every path the first time, or when the index
        keeps no change log or no longer reaches back that far)."""
        feed = getattr(self.index, "changes_since", None)
        changed, now = feed(self._mark) if feed is not None else (None, None)
        self._mark = now
        if changed is None:
            changed = [*self.index.files, *self.files, *self._partial]
        for path in changed:
            self._queue[path] = None

    def _todo(self, limit: int | None = None) -> list[str]:
        return list(itertools.islice(self._todo_iter(), limit))

    def _todo_iter(self) -> Iterator[str]:
        """The queued paths to read (new or changed) or to forget (gone), in queue order, looked at as they are
        taken; paths found up to date leave the queue.  The document being edited stays queued until another
        one is."""
        self._refresh()
        files = self.index.files
        for path in list(self._queue):
            entry = files.get(path)
            if entry is None or entry.external:
                if path in self.files or path in self._partial:
                    yield path     # gone: forgotten by `update`
                else:
                    del self._queue[path]
            elif path == self.current and entry.origin == "editor":
                continue
            else:
                have = self.files.get(path)
                if (have is not None and have[0] == entry.serial) or (have is None and self.full):
                    del self._queue[path]
                else:
                    yield path

    def _unmerged(self) -> list[str]:
        open_docs = getattr(self.index, "open_docs", ())
        return [p for p in self._unmerged_paths if p not in open_docs]

    def _forget(self, path: str) -> None:
        """Leave out a file read before (changed or gone)."""
        old = self.files.pop(path, None)
        if old is not None:
            self.tokens -= _tokens(old[1])
        self._unmerged_paths.pop(path, None)
        self._unmerge(path)

    def update(self, budget_s: float | None = 0.005, should_stop: Callable[[], bool] | None = None) -> bool:
        """Read changed or new files until `budget_s` is spent (None: all of them) or `should_stop` says so (a
        request is waiting) and add them to the merged entries; True when everything is read.

        Files read by an earlier call that ran out of time are merged first; what this call reads is merged at
        its end only while time is left, else by the next call: the budget is overrun by at most one piece of a
        file and one merge, not by both each time."""
        deadline = None if budget_s is None else time.perf_counter() + budget_s
        self._settled = None

        def stop() -> bool:
            return (deadline is not None and time.perf_counter() > deadline) or \
                (should_stop is not None and should_stop())

        files = self.index.files
        if self._unmerged() and not stop():
            self._merge(stop)
        done = True
        for path in self._todo_iter():
            if stop():
                done = False
                break
            entry = files.get(path)
            if entry is None or entry.external:
                self._forget(path)
                self._partial.pop(path, None)
                self._queue.pop(path, None)
                continue
            partial = self._partial.pop(path, None)
            if partial is None or partial[0] != entry.serial:
                data = self._text(path, entry) or b""
                partial = (entry.serial, data, piece_bounds(data), [])
            serial, data, bounds, pieces = partial
            pieces.append(piece_lines(data, self.vocab, *bounds[len(pieces)]))
            while len(pieces) < len(bounds) and not stop():  # a large file: a request waits for one piece
                pieces.append(piece_lines(data, self.vocab, *bounds[len(pieces)]))
            if len(pieces) < len(bounds):
                self._partial[path] = partial   # the rest at the next step
                done = False
                break
            self._forget(path)
            self.files[path] = (serial, pieces)
            self._unmerged_paths[path] = None
            self._queue.pop(path, None)  # (changed while it was read: the index's log queues it again)
            self.tokens += _tokens(pieces)
            if self.tokens > MAX_TOKENS:
                self.full = True
                break
        if not stop():
            self._merge(stop)
        return done

    def _text(self, path: str, entry) -> bytes | None:
        if entry.origin == "editor" and self.open_text is not None:
            text = self.open_text(path)
            if text is not None:
                return text.encode("utf-8", "surrogatepass")
        try:
            if os.path.getsize(path) > MAX_FILE_BYTES:
                return None
            return Path(path).read_bytes()
        except OSError:
            return None

    def _unmerge(self, path: str) -> None:
        """Leave out the merged entries of a file that changed or went away (they are skipped from now on)."""
        if self._merged.pop(path, None) is not None:
            self._masked.update(i for i, p in enumerate(self._merged_paths) if p == path)

    def _merge(self, stop: Callable[[], bool] | None = None) -> None:
        """Bring the merged entries up to date: the files read since are inserted into the last sorted level (a
        new one when it is full), at most `MERGE_ENTRIES` entries per step, until `stop` says so (a lookup reads
        the files not merged yet apart); when a quarter of the merged files have changed since, their entries are
        taken out (`_compact`).  The open documents stay apart (they change as the user types)."""
        if len(self._masked) > max(16, len(self._merged_paths) // 4):
            self._compact()
        pending = [(p, k) for p in self._unmerged() for k in range(self._merged.get(p, 0), len(self.files[p][1]))]
        new: list[tuple[str, int]] = []
        size = 0
        for p, k in pending:
            entries = self.files[p][1][k].keys.size
            if new and size + entries > MERGE_ENTRIES:
                self._merge_step(new)
                new, size = [], 0
                if stop is not None and stop():
                    return
            new.append((p, k))
            size += entries
        if new:
            self._merge_step(new)

    def _compact(self) -> None:
        """Take the entries of the merged files that changed or went away out of the levels (they were skipped
        until now), renumbering the others; the levels stay sorted."""
        keep = [i for i in range(len(self._merged_paths)) if i not in self._masked]
        renumber = np.full(len(self._merged_paths), -1, np.int32)
        renumber[keep] = np.arange(len(keep), dtype=np.int32)
        levels = []
        for keys, fid, st, en in self._levels:
            new_fid = renumber[fid]
            ok = new_fid >= 0
            if ok.any():
                levels.append((keys[ok], new_fid[ok], st[ok], en[ok]))
        self._levels = levels
        self._merged_paths = [self._merged_paths[i] for i in keep]
        self._merged_parts = [self._merged_parts[i] for i in keep]
        self._masked = set()

    def _merge_step(self, new: list[tuple[str, int]]) -> None:
        """Merge these pieces (path, piece number), each the next unmerged piece of its file."""
        base = len(self._merged_paths)
        paths = [p for p, _ in new]
        parts = [self.files[p][1][k] for p, k in new]
        keys = np.concatenate([f.keys for f in parts])
        fid = np.concatenate([np.full(f.keys.size, base + i, np.int32) for i, f in enumerate(parts)])
        st = np.concatenate([f.starts for f in parts])
        en = np.concatenate([f.ends for f in parts])
        order = np.argsort(keys, kind="stable")
        add = (keys[order], fid[order], st[order], en[order])
        if self._levels and self._levels[-1][0].size < LEVEL_ENTRIES:
            self._levels[-1] = _insert(self._levels[-1], add)
        else:
            self._levels.append(add)
        self._merged_paths += paths
        self._merged_parts += [f.part for f in parts]
        for (p, k), f in zip(new, parts):
            self._merged[p] = k + 1
            if k + 1 == len(self.files[p][1]):
                self._unmerged_paths.pop(p, None)
            # the levels hold its entries now: the piece keeps its tokens only (a third of its memory)
            self.files[p][1][k] = FileLines(f.part, _NO_KEYS, _NO_SPANS, _NO_SPANS)

    # ------------------------------------------------------------------------------------------- lookups
    def lookup(self, own_path: str | None, prev_tail: list[bytes], line_tokens: list[bytes], prefix: str = "",
               limit: int = 4) -> list[ProjectRepeat]:
        """Continuations of a line that starts with `line_tokens` (the word being typed: `prefix`) after a
        previous code line ending with `prev_tail`, in the files other than `own_path`; the best supported
        first (those found after the same previous-line ending before the others)."""
        if not self._levels and not self.files:
            return []
        ids = [self.vocab.get(t) for t in line_tokens[-MAX_PREFIX:]]
        if len(line_tokens) > MAX_PREFIX or any(i < 0 for i in ids):
            return []
        tail = [self.vocab.get(t) for t in prev_tail[-2:]]
        h_b = _SEED_B
        for t in tail:
            h_b = np.uint64(_mix1(int(h_b), t)) if t >= 0 else None
            if h_b is None:
                break
        h_a = _SEED_A
        for i in ids:
            h_a = np.uint64(_mix1(int(h_a), i))
            if h_b is not None:
                h_b = np.uint64(_mix1(int(h_b), i))
        found: dict[tuple[bytes, ...], ProjectRepeat] = {}
        pre = prefix.encode("utf-8", "surrogatepass")
        for key, with_prev in ((h_b, True), (h_a if ids else None, False)):
            if key is None:
                continue
            groups = self._entries(key, own_path)
            total = sum(len(v) for v in groups.values())
            for toks, occ in sorted(groups.items(), key=lambda kv: -len(kv[1])):
                if pre and not toks[0].startswith(pre):
                    continue
                have = found.get(toks)
                if have is not None:
                    continue
                part, a, b = occ[0]
                text = part.data[int(part.starts[a]):int(part.ends[b - 1])].decode("utf-8", "replace")
                found[toks] = ProjectRepeat(text, [t.decode("utf-8", "replace") for t in toks], len(occ), total,
                                            with_prev, len({id(o[0].data) for o in occ}))
            if len(found) >= limit:
                break
        out = sorted(found.values(), key=lambda r: (-r.with_prev, -r.count))
        return out[:limit]

    def _entries(self, key: np.uint64, own_path: str | None) -> dict[tuple[bytes, ...], list]:
        """Continuation tokens -> [(part, start, end)] of the entries under `key` (the own file left out)."""
        out: dict[tuple[bytes, ...], list] = {}
        sources = []
        looked = 0
        for keys, fid, st, en in self._levels:  # in the order they were filled, as one merged array would be
            lo, hi = np.searchsorted(keys, key, side="left"), np.searchsorted(keys, key, side="right")
            n = max(0, min(hi - lo, MAX_ENTRIES - looked))
            looked += n
            for j in range(lo, lo + n):
                f = int(fid[j])
                if f not in self._masked and self._merged_paths[f] != own_path:
                    sources.append((self._merged_parts[f], int(st[j]), int(en[j])))
        merged = self._merged
        for path in self._unmerged_paths:
            if path == own_path:
                continue
            for lines in self.files[path][1][merged.get(path, 0):]:   # the pieces not merged yet
                lo, hi = np.searchsorted(lines.keys, key, side="left"), np.searchsorted(lines.keys, key, side="right")
                for j in range(lo, min(hi, lo + MAX_ENTRIES)):
                    sources.append((lines.part, int(lines.starts[j]), int(lines.ends[j])))
        for part, a, b in sources:
            toks = tuple(part.data[int(s):int(e)] for s, e in zip(part.starts[a:b].tolist(), part.ends[a:b].tolist()))
            if toks:
                out.setdefault(toks, []).append((part, a, b))
        return out
