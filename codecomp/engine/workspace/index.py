"""The workspace index: every C++ and JavaScript file of the project, read once, queried in microseconds.

Per file (see `lexical`): identifier counts, declarations (kind, container), includes / imports / exports and
the code-token stream (kept zlib-compressed, so the file's contributions can be removed again on an update).
Per language, aggregated over the project (see `tables`): identifier counts (a dense array by token id),
token n-grams `previous 1..3 tokens -> identifier`, member uses per receiver (`recv.m`, `recv->m`, `T::m`),
declared members per container, base classes.

Concurrency: one writer at a time (`_write` lock: the background build, open/close/update calls); readers take
no lock.  Every aggregate a query reads is either an immutable tuple of numpy segments swapped in one
assignment, or a count array updated in place (a reader may see a batch half-counted, never a broken array).
A build commits files in small batches, so completions see partial results while it runs.

Open documents: the editor's text replaces the file's disk copy from `open_document` until `close_document`,
whatever the disk says meanwhile (`update_file` leaves an open file alone).
"""
from __future__ import annotations

import itertools
import os
import threading
import time
import zlib
from collections import OrderedDict
from dataclasses import dataclass, field
from itertools import repeat
from pathlib import Path
from typing import Callable, Iterable

import numpy as np

from codecomp.syntax import KEYWORDS, detect_language
from codecomp.engine.background import background_turn
from codecomp.engine.workspace import lexical
from codecomp.engine.workspace.discovery import (DiscoveryConfig, Discovered, discover, gitignored, include_dirs,
                                                 inside, is_minified_name)
from codecomp.engine.workspace.lexical import Declaration, Include
from codecomp.engine.workspace.receiver import ReceiverType, receiver_at
from codecomp.engine.workspace.relations import (PackageFinder, is_relative_spec, resolve_include,
                                                 resolve_relative)
from codecomp.engine.workspace.tables import (AFTER_TAG, ID_BITS, ID_MASK, SegmentedCounts, Vocabulary,
                                              context_prefixes, mix, pack, reduce_counts)

NGRAM_ORDER = 3              # contexts of the previous 1..3 code tokens
AFTER_ORDER = 2              # ... and of the next 1..2 (the code after a word, when the file has it)
KINDS = ("identifier", "namespace", "class", "enum", "enumerator", "macro", "typedef", "function", "method",
         "field", "variable", "export", "base")
_KIND_CODE = {k: i for i, k in enumerate(KINDS)}
_MEMBER_FAMILY = {".": 1, "->": 1, "?.": 1, "::": 2}
BATCH_FILES = 64             # files per commit during a build (partial results become visible per batch)
MAX_PACKAGES = 256           # node_modules entry files indexed per build
MAX_PACKAGE_FILES = 512      # ... with the files they re-export, at most
# entries per query cache: per open document (related files and their declarations), per context (n-gram
# levels), per language (most frequent identifiers)
CHANGE_LOG_MIN = 4096   # paths the change log keeps at least (`changes_since`)
CACHE_SIZES = {"related": 64, "related_decls": 64, "related_sorted": 64, "top": 8, "levels": 256, "own_ngrams": 16,
               "own_members": 16, "identifiers": 32, "unigram": 8}


_SERIALS = itertools.count(1)


@dataclass(slots=True)
class FileEntry:
    """One indexed file.  `origin`: "disk", "editor" (an open document's text) or "package" (a node_modules
    entry, used through imports only: it adds nothing to the project's counts)."""

    path: str
    lang: str
    size: int
    mtime_ns: int
    origin: str
    ident_ids: np.ndarray
    ident_counts: np.ndarray
    tokens_z: bytes               # the code-token ids, int32, zlib-compressed
    decls: np.ndarray             # declarations packed in int64: name id | container id << 24 | kind << 48
    includes: tuple[Include, ...] = ()
    imports: tuple[str, ...] = ()
    exports: tuple[str, ...] = ()
    reexports: tuple[str, ...] = ()
    # a number no other entry of this process has: caches are keyed by it (an `id()` is reused once an entry
    # is freed, which served a replaced file's cached n-grams for its successor)
    serial: int = field(default_factory=lambda: next(_SERIALS))

    @property
    def external(self) -> bool:
        return self.origin == "package"

    def token_ids(self) -> np.ndarray:
        return np.frombuffer(zlib.decompress(self.tokens_z), dtype=np.int32).astype(np.int64)


@dataclass(frozen=True, slots=True)
class ProjectIdentifier:
    """An identifier of the project for one file: its count over the project (the asking file excluded),
    its kind when declared, and whether it is declared in a file the asking file includes or imports."""

    name: str
    count: int
    kind: str = "identifier"
    related: bool = False     # declared in an included / imported file (transitively)
    declared: bool = False    # declared somewhere in the project


@dataclass(frozen=True, slots=True)
class Member:
    """A member offered after `.`, `->`, `::`: `source` is "declared" (a declaration in the type or its
    bases), "export" (a module's export), or "used" (seen after the same receiver in the project)."""

    name: str
    kind: str
    source: str
    count: int = 0


@dataclass(frozen=True, slots=True)
class MemberCompletion:
    """What the index knows at a member-access position."""

    receiver: ReceiverType
    members: list[Member]


@dataclass
class BuildReport:
    """The outcome of `build`: files indexed, skipped by discovery (by reason), seconds, cancelled or not."""

    files: int = 0
    packages: int = 0
    bytes: int = 0
    seconds: float = 0.0
    cancelled: bool = False
    truncated: bool = False
    skipped: dict[str, int] = field(default_factory=dict)


class _LangTables:
    """The aggregates of one language (see the module docstring)."""

    def __init__(self, lang: str) -> None:
        self.lang = lang
        self.vocab = Vocabulary(KEYWORDS[lang])
        self.unigram = np.zeros(4096, dtype=np.int64)     # identifier count by token id
        self.total = 0                                    # sum of `unigram`
        self.decl_kind = np.zeros(4096, dtype=np.int8)    # a kind code of each declared name (last writer wins)
        self.decl_count = np.zeros(4096, dtype=np.int32)  # declarations of each name over the project
        self.ngrams = SegmentedCounts()
        self.members = SegmentedCounts()
        self.decls = SegmentedCounts()                    # container id -> declared name id
        self.bases = SegmentedCounts()                    # class id -> base class id
        # case-insensitive prefix search: identifier ids sorted by lower-case spelling (compared through the
        # vocabulary, so no second copy of the names); ids from `sorted_upto` on (added since the last
        # `reindex`) are scanned instead
        self.sorted_ids: list[int] = []
        self.sorted_upto = 3
        self.op_ids = {op: self.vocab.encode([op.encode()])[0] for op in _MEMBER_FAMILY}

    def ensure_room(self) -> None:
        """Grow the per-id arrays to the vocabulary (new arrays are swapped in whole)."""
        n = len(self.vocab)
        if n > self.unigram.size:
            size = max(n, self.unigram.size * 2)
            for name in ("unigram", "decl_kind", "decl_count"):
                old = getattr(self, name)
                new = np.zeros(size, dtype=old.dtype)
                new[:old.size] = old
                setattr(self, name, new)

    def reindex(self, force: bool = False) -> None:
        """Rebuild the sorted prefix index when the vocabulary grew by a quarter (or when forced)."""
        n = len(self.vocab)
        if not force and n - self.sorted_upto < max(4096, self.sorted_upto // 4):
            return
        words, is_ident = self.vocab.words, self.vocab.is_ident
        ids = sorted((i for i in range(3, n) if is_ident[i]), key=lambda i: words[i].lower())
        # a reader between these two assignments scans a few ids twice: harmless
        self.sorted_ids, self.sorted_upto = ids, n

    def prefix_ids(self, prefix: str) -> np.ndarray:
        """Ids of identifiers starting with `prefix`, case-insensitively."""
        from bisect import bisect_left

        ids, upto = self.sorted_ids, self.sorted_upto
        words = self.vocab.words
        # the length first, the flags after: a writer grows the flag arrays before it appends a word, so flags
        # read after the length cover every id below it (read the other way round, a word added in between
        # would index past the end of the older, smaller array)
        n = len(words)
        is_ident = self.vocab.is_ident
        low = prefix.encode("utf-8", "surrogatepass").lower()  # ASCII letters fold; other bytes compare as they are
        key = lambda i: words[i].lower()  # noqa: E731 - the sort key of `reindex`
        lo = bisect_left(ids, low, key=key)
        hi = bisect_left(ids, low + b"\xff", lo, key=key)
        found = ids[lo:hi]
        extra = [i for i in range(upto, n) if is_ident[i] and words[i].lower().startswith(low)]
        return np.asarray(found + extra, dtype=np.int64)


class WorkspaceIndex:
    """The index of one workspace (see the module docstring).

        index = WorkspaceIndex([root])
        index.build(progress=lambda done, total: ...)        # or index.start_build(): a background thread
        index.open_document(path, text); index.close_document(path)
        index.update_file(path); index.remove_file(path)     # watched-file events and saves
        index.identifiers(path, prefix)                      # -> [ProjectIdentifier]
        index.ngram_scores(path, context, ["a", "b"])        # -> {"a": p, "b": p}
        index.member_completion(path, source, pstart)        # -> MemberCompletion | None
        index.members("Widget", "cpp"); index.module_exports(path, "./util"); index.related_files(path)
        index.prepare(path)                                  # warm the per-file caches (on document open)
    """

    def __init__(self, roots: Iterable[str | Path], config: DiscoveryConfig = DiscoveryConfig()) -> None:
        self.roots = [os.path.abspath(r) for r in roots]
        self.real_roots = [os.path.realpath(r) for r in self.roots]
        self.config = config
        self.files: dict[str, FileEntry] = {}
        self.open_docs: set[str] = set()
        self.include_dirs: list[str] = []
        self.tables = {lang: _LangTables(lang) for lang in ("cpp", "javascript")}
        self.packages = PackageFinder(self.real_roots)
        self.generation = 0         # any change
        self.relations_version = 0  # a path added or removed, or a file's includes / imports changed
        self.decl_version = 0       # a file's declarations changed
        self._write = threading.RLock()
        # the paths added, replaced or removed, in the order of their commits (`changes_since`): a reader that
        # keeps up with the index (the project's lines) reads what changed instead of looking at every file
        self._changed: list[str] = []
        self._changed_base = 0      # the log position of `_changed[0]` (older positions were dropped)
        self._log_lock = threading.Lock()
        # query caches, one LRU per kind so that many small entries (per-file include targets) never evict the
        # few large ones (the declarations reachable from an open document)
        self._caches: dict[str, OrderedDict[tuple, object]] = {name: OrderedDict() for name in CACHE_SIZES}
        self._targets: dict[str, tuple[tuple[int, int], list[str]]] = {}  # path -> (stamp, resolved targets)
        self._cache_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._cancel = threading.Event()
        self.progress: tuple[int, int] = (0, 0)
        self.last_report: BuildReport | None = None

    # ------------------------------------------------------------------------------------------- building
    def build(self, progress: Callable[[int, int], None] | None = None,
              should_stop: Callable[[], bool] | None = None) -> BuildReport:
        """Discover and index every file of the roots (then the node_modules entries they import).

        Files are committed every `BATCH_FILES`, so queries see partial results; `should_stop` (or `cancel()`
        for a background build) ends the build between files, keeping what was indexed.
        """
        t0 = time.perf_counter()
        stop = should_stop or self._cancel.is_set
        report = BuildReport()
        self.include_dirs = [d for root in self.roots for d in include_dirs(root)]
        found = discover(self.roots, self.config, stop)
        report.skipped, report.truncated = dict(found.skipped), found.truncated
        total = len(found.files)
        self.progress = (0, total)
        batch: list[FileEntry] = []
        for done, item in enumerate(found.files, 1):
            if stop():
                report.cancelled = True
                break
            background_turn()  # a request that runs meanwhile goes first (codecomp.engine.background)
            entry = self._read(item)
            if entry is not None:
                batch.append(entry)
                report.bytes += entry.size
            if len(batch) >= BATCH_FILES:
                self._commit(batch)
                batch = []
            self.progress = (done, total)
            if progress is not None and (done % BATCH_FILES == 0 or done == total):
                progress(done, total)
        self._commit(batch)
        if not report.cancelled and not report.truncated:
            # a rebuild: files deleted since the last one go (open documents stay as the editor has them)
            found_paths = {item.path for item in found.files}
            self._commit([], [p for p, e in list(self.files.items()) if e.origin == "disk" and p not in found_paths])
        report.files = sum(1 for e in self.files.values() if not e.external)
        if not report.cancelled:
            report.packages = self._index_packages(stop)
        with self._write:
            for tables in self.tables.values():
                for table in (tables.ngrams, tables.members, tables.decls, tables.bases):
                    table.compact()
                tables.reindex(force=True)
        _release_free_memory()
        report.seconds = time.perf_counter() - t0
        self.last_report = report
        return report

    def start_build(self, progress: Callable[[int, int], None] | None = None) -> threading.Thread:
        """Run `build` on a daemon thread; `cancel()` stops it, `wait()` joins it."""
        self._cancel.clear()
        self._thread = threading.Thread(target=self.build, kwargs={"progress": progress}, daemon=True,
                                        name="workspace-index")
        self._thread.start()
        return self._thread

    def cancel(self) -> None:
        """Stop a running build (what it indexed stays)."""
        self._cancel.set()

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for a background build; True when it has finished."""
        if self._thread is None:
            return True
        self._thread.join(timeout)
        return not self._thread.is_alive()

    @property
    def building(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _read(self, item: Discovered) -> FileEntry | None:
        """Read and analyse a discovered file (outside the lock); None when unreadable, minified or open."""
        if item.path in self.open_docs:
            return None  # the editor's text is the truth for an open file
        try:
            with open(item.path, "rb") as fh:
                source = fh.read(self.config.max_file_bytes + 1)
        except OSError:
            return None
        if len(source) > self.config.max_file_bytes or lexical.looks_minified(source) or b"\x00" in source[:8192]:
            return None
        return self._analyze(item.path, item.lang, source, "disk", item.mtime_ns)

    def _analyze(self, path: str, lang: str, source: bytes, origin: str, mtime_ns: int = 0) -> FileEntry:
        """The `FileEntry` of a source text (interning its tokens in the language's vocabulary)."""
        facts = lexical.analyze(source, lang)
        tables = self.tables[lang]
        ids = tables.vocab.encode(facts.tokens)
        is_ident = tables.vocab.is_ident
        idents = ids[is_ident[ids]]
        if facts.extra_identifiers:
            extra = tables.vocab.encode(facts.extra_identifiers)
            idents = np.concatenate((idents, extra[tables.vocab.is_ident[extra]]))
        uid, ucount = np.unique(idents, return_counts=True)
        return FileEntry(
            path=path, lang=lang, size=len(source), mtime_ns=mtime_ns, origin=origin,
            ident_ids=uid.astype(np.int32), ident_counts=ucount.astype(np.int32),
            tokens_z=zlib.compress(ids.astype(np.int32).tobytes(), 1),
            decls=self._pack_declarations(tables, facts.declarations), includes=tuple(facts.includes),
            imports=tuple(facts.imports),
            exports=tuple(facts.exports), reexports=tuple(facts.reexports))

    @staticmethod
    def _pack_declarations(tables: _LangTables, decls: list[Declaration]) -> np.ndarray:
        """Declarations as one int64 each (8 bytes instead of a ~60-byte object: 25 per file add up)."""
        if not decls:
            return np.zeros(0, dtype=np.int64)
        # one vocabulary call for all names and containers ("" -> the reserved id 0: file level)
        words = tables.vocab.encode([d.name.encode() for d in decls]
                                    + [d.container.encode() or b"\x00bos" for d in decls])
        kinds = np.fromiter((_KIND_CODE.get(d.kind, 0) for d in decls), dtype=np.int64, count=len(decls))
        return words[:len(decls)] | (words[len(decls):] << ID_BITS) | (kinds << (2 * ID_BITS))

    def declarations(self, entry: FileEntry) -> list[Declaration]:
        """The declarations of a file entry, as records."""
        word = self.tables[entry.lang].vocab.word
        out = []
        for packed in entry.decls.tolist():
            container = (packed >> ID_BITS) & ID_MASK
            out.append(Declaration(word(packed & ID_MASK), KINDS[packed >> (2 * ID_BITS)],
                                   word(container) if container else ""))
        return out

    # ------------------------------------------------------------------------------------------- committing
    def _derived(self, entry: FileEntry) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """The keys a file adds to each aggregate table (recomputed from its tokens, also for removal)."""
        tables = self.tables[entry.lang]
        vocab = tables.vocab
        ids = entry.token_ids()
        out: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        if not entry.external and ids.size:
            padded = np.concatenate((np.zeros(NGRAM_ORDER, dtype=np.int64), ids, np.zeros(AFTER_ORDER, np.int64)))
            pos = np.flatnonzero(vocab.is_ident[ids]) + NGRAM_ORDER
            keys = [pack(p, padded[pos]) for p in context_prefixes(padded, pos, NGRAM_ORDER)]
            keys += [pack(p, padded[pos]) for p in context_prefixes(padded, pos, AFTER_ORDER, after=True)]
            k = np.concatenate(keys) if keys else np.zeros(0, dtype=np.uint64)
            out["ngrams"] = (k, np.ones(k.size, dtype=np.int64))
            out["members"] = self._member_keys(tables, ids)
        if entry.decls.size:
            names, containers = entry.decls & ID_MASK, (entry.decls >> ID_BITS) & ID_MASK
            base = (entry.decls >> (2 * ID_BITS)) == _KIND_CODE["base"]
            for table, sel in (("decls", ~base), ("bases", base)):
                if sel.any():
                    out[table] = (pack(containers[sel], names[sel]), np.ones(int(sel.sum()), dtype=np.int64))
        return out

    @staticmethod
    def _member_keys(tables: _LangTables, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """`recv OP member` triples of a token-id stream as (family, receiver) -> member keys."""
        if ids.size < 3:
            return np.zeros(0, dtype=np.uint64), np.zeros(0, dtype=np.int64)
        recv, op, mem = ids[:-2], ids[1:-1], ids[2:]
        family = np.zeros(op.shape, dtype=np.int64)
        for text, fam in _MEMBER_FAMILY.items():
            family[op == tables.op_ids[text]] = fam
        ok = (family > 0) & tables.vocab.is_word[recv] & tables.vocab.is_ident[mem]
        prefix = mix(family[ok], recv[ok])
        return pack(prefix, mem[ok]), np.ones(int(ok.sum()), dtype=np.int64)

    def _commit(self, entries: list[FileEntry], removed: Iterable[str] = ()) -> None:
        """Replace / add `entries` and drop `removed` paths, updating every aggregate in one batch per table."""
        if not entries and not removed:
            return
        with self._write:
            # a disk copy read by a build just before the editor opened the file must not replace the editor's
            # text (the read happens outside the lock)
            entries = [e for e in entries if e.origin != "disk" or e.path not in self.open_docs]
            changes: dict[str, dict[str, list]] = {}
            olds = [self.files[e.path] for e in entries if e.path in self.files]
            olds += [self.files[p] for p in removed if p in self.files]
            for sign, group in ((-1, olds), (1, entries)):
                for entry in group:
                    self._account(entry, sign, changes)
            for entry in entries:
                old = self.files.get(entry.path)
                if old is None or old.includes != entry.includes or old.imports != entry.imports \
                        or old.reexports != entry.reexports:
                    self.relations_version += 1
                if old is None or not np.array_equal(old.decls, entry.decls) or old.exports != entry.exports:
                    self.decl_version += 1
                self.files[entry.path] = entry
            for path in removed:
                if self.files.pop(path, None) is not None:
                    self.relations_version += 1
                    self.decl_version += 1
            with self._log_lock:
                self._changed += [e.path for e in entries]
                self._changed += list(removed)
                if len(self._changed) > max(CHANGE_LOG_MIN, 2 * len(self.files)):  # a reader that far behind
                    drop = len(self._changed) // 2                                  # looks at every file again
                    del self._changed[:drop]
                    self._changed_base += drop
            for lang, tables_changes in changes.items():
                tables = self.tables[lang]
                for name, (keys, counts) in tables_changes.items():
                    if keys:
                        getattr(tables, name).add(np.concatenate(keys), np.concatenate(counts))
                tables.reindex()
            self.generation += 1

    def changes_since(self, mark: int | None) -> tuple[list[str] | None, int]:
        """The paths added, replaced or removed since `mark` (a mark this returned before), in commit order and
        possibly repeated, and the mark of now.  None instead of the paths when `mark` is None or older than
        what the log keeps: the caller then looks at every file of `files`."""
        with self._log_lock:
            now = self._changed_base + len(self._changed)
            if mark is None or mark < self._changed_base:
                return None, now
            return self._changed[mark - self._changed_base:], now

    def _account(self, entry: FileEntry, sign: int, changes: dict[str, dict[str, list]]) -> None:
        """Add (sign 1) or subtract (-1) one file's counts: dense arrays now, table keys into `changes`."""
        tables = self.tables[entry.lang]
        tables.ensure_room()
        if not entry.external:
            np.add.at(tables.unigram, entry.ident_ids, sign * entry.ident_counts.astype(np.int64))
            tables.total += sign * int(entry.ident_counts.sum())
        per = changes.setdefault(entry.lang, {})
        for name, (keys, counts) in self._derived(entry).items():
            slot = per.setdefault(name, ([], []))
            slot[0].append(keys)
            slot[1].append(sign * counts)
        tables.ensure_room()
        kinds = entry.decls >> (2 * ID_BITS)
        sel = kinds != _KIND_CODE["base"]
        names = entry.decls[sel] & ID_MASK
        np.add.at(tables.decl_count, names, sign)
        if sign > 0:
            tables.decl_kind[names] = kinds[sel]

    # ------------------------------------------------------------------------------------------- updates
    def open_document(self, path: str | Path, text: str) -> None:
        """From now on the editor's `text` is this file (its disk copy no longer counts).  Call again on
        changes (a debounce of a second or so is plenty: the index is for other files' benefit)."""
        path = os.path.abspath(path)
        lang = detect_language(path)
        if lang is None:
            return
        with self._write:
            self.open_docs.add(path)
            entry = self._analyze(path, lang, text.encode("utf-8", "surrogatepass"), "editor")
            self._commit([entry])

    change_document = open_document

    def close_document(self, path: str | Path) -> None:
        """The editor closed the file: its disk copy counts again (or it is dropped if it is not a workspace
        file on disk)."""
        path = os.path.abspath(path)
        with self._write:
            self.open_docs.discard(path)
            self._refresh(path)

    def update_file(self, path: str | Path) -> None:
        """A watched file was created or changed on disk (ignored while the file is open in the editor)."""
        path = os.path.abspath(path)
        with self._write:
            if path not in self.open_docs:
                self._refresh(path)

    def remove_file(self, path: str | Path) -> None:
        """A watched file was deleted (an open document stays as the editor has it)."""
        path = os.path.abspath(path)
        with self._write:
            if path not in self.open_docs:
                self._commit([], [path])

    def _refresh(self, path: str) -> None:
        """Re-read a file from disk if it belongs to the workspace, else drop it."""
        entry = None
        item = self._discovered(path)
        if item is not None:
            entry = self._read(item)
        if entry is not None:
            self._commit([entry])
        elif path in self.files and not self.files[path].external:
            self._commit([], [path])

    def _discovered(self, path: str) -> Discovered | None:
        """A `Discovered` record for one path when the discovery rules would have picked it (language, inside a
        root, size cap, not minified by name, no skipped or git-ignored folder on the way)."""
        lang = detect_language(path)
        if lang is None or is_minified_name(os.path.basename(path)):
            return None
        real = os.path.realpath(path)
        if not inside(real, self.real_roots):
            return None
        root = next((r for r in self.roots if path.startswith(r.rstrip(os.sep) + os.sep)), None)
        if root is not None:
            parts = os.path.relpath(os.path.dirname(path), root).split(os.sep)
            if any(p in self.config.skip_dirs or (self.config.skip_hidden and p.startswith(".") and p != ".")
                   for p in parts):
                return None
            if self.config.honour_gitignore and gitignored(root, path):
                return None
        try:
            st = os.stat(path)
        except OSError:
            return None
        if st.st_size > self.config.max_file_bytes:
            return None
        return Discovered(path, lang, st.st_size, st.st_mtime_ns)

    # ------------------------------------------------------------------------------------------- packages
    def _index_packages(self, stop: Callable[[], bool]) -> int:
        """Index the node_modules entry files that the JS files import (bounded), as external files."""
        wanted: list[tuple[str, str]] = []
        seen: set[str] = set()
        for entry in list(self.files.values()):
            if entry.lang != "javascript" or entry.external:
                continue
            for spec in entry.imports:
                if not is_relative_spec(spec) and (os.path.dirname(entry.path), spec) not in seen:
                    seen.add((os.path.dirname(entry.path), spec))
                    wanted.append((spec, entry.path))
        count = 0
        for spec, importer in wanted:
            if stop() or count >= MAX_PACKAGES:
                break
            if self._package_entry(spec, importer) is not None:
                count += 1
        return count

    def _package_entry(self, spec: str, importer: str) -> FileEntry | None:
        """The indexed entry file of the package a bare specifier names (indexed now if needed)."""
        pkg = self.packages.find(spec, importer)
        if pkg is None or pkg.entry is None:
            return None
        return self._external(pkg.entry, depth=2)

    def _external(self, path: str, depth: int) -> FileEntry | None:
        """Index a package file and, `depth` levels down, the relative modules it re-exports."""
        entry = self.files.get(path)
        if entry is None:
            if sum(1 for e in list(self.files.values()) if e.external) >= MAX_PACKAGE_FILES:
                return None
            try:
                with open(path, "rb") as fh:
                    source = fh.read(self.config.max_file_bytes + 1)
            except OSError:
                return None
            if len(source) > self.config.max_file_bytes:
                return None
            entry = self._analyze(path, "javascript", source, "package")
            self._commit([entry])
        if depth > 0:
            for spec in entry.reexports:
                if is_relative_spec(spec):
                    target = resolve_relative(spec, path, os.path.isfile)
                    if target is not None:
                        self._external(target, depth - 1)
        return entry

    # ------------------------------------------------------------------------------------------- relations
    def _exists(self, path: str) -> bool:
        return path in self.files

    def resolve(self, path: str | Path, spec: str) -> str | None:
        """The file an include (C++, `"x.h"` or `<x.h>` form decided by the spec's brackets if given) or a JS
        import specifier names, as seen from `path`; None when not in the index."""
        path = os.path.abspath(path)
        if detect_language(path) == "cpp":
            quoted = not spec.startswith("<")
            return resolve_include(spec.strip('<>"'), quoted, path, self.roots, self.include_dirs, self._exists)
        if is_relative_spec(spec):
            return resolve_relative(spec, path, self._exists)
        entry = self._package_entry(spec, path)
        return entry.path if entry is not None else None

    def _direct(self, entry: FileEntry) -> list[str]:
        """Files one file includes or imports directly (cached per generation)."""
        stamp = (entry.serial, self.relations_version)
        cached = self._targets.get(entry.path)
        if cached is not None and cached[0] == stamp:
            return cached[1]
        out: list[str] = []
        if entry.lang == "cpp":
            for inc in entry.includes:
                target = resolve_include(inc.spec, inc.quoted, entry.path, self.roots, self.include_dirs,
                                         self._exists)
                if target is not None:
                    out.append(target)
        else:
            for spec in entry.imports:
                target = self.resolve(entry.path, spec)
                if target is not None:
                    out.append(target)
        self._targets[entry.path] = (stamp, out)
        return out

    def related_files(self, path: str | Path, max_depth: int = 6, max_files: int = 256) -> list[str]:
        """The files `path` includes / imports, transitively (breadth first, bounded), nearest first."""
        path = os.path.abspath(path)
        key = ("related", path, max_depth, max_files, self.relations_version)
        cached = self._cached(key)
        if cached is not None:
            return cached  # type: ignore[return-value]
        seen = {path}
        out: list[str] = []
        frontier = [path]
        for _ in range(max_depth):
            nxt = []
            for p in frontier:
                entry = self.files.get(p)
                if entry is None:
                    continue
                for target in self._direct(entry):
                    if target not in seen and len(out) < max_files:
                        seen.add(target)
                        out.append(target)
                        nxt.append(target)
            frontier = nxt
            if not frontier:
                break
        self._store(key, out)
        return out

    def prepare(self, path: str | Path) -> None:
        """Fill the caches a first completion in `path` needs (its related files and their declarations: ~20 ms
        for a C++ file with a deep include tree) and the file's own n-grams (left out of its scores).  Call it
        off the request path, e.g. when a document opens."""
        path = os.path.abspath(path)
        self.related_declarations(path)
        entry = self.files.get(path)
        if entry is not None and not entry.external:
            self._own_ngrams(entry)

    def related_declarations(self, path: str | Path) -> dict[str, Declaration]:
        """Declarations of the files `path` reaches (nearest file wins per name), cached per generation."""
        path = os.path.abspath(path)
        key = ("related_decls", path, self.relations_version, self.decl_version)
        cached = self._cached(key)
        if cached is not None:
            return cached  # type: ignore[return-value]
        out: dict[str, Declaration] = {}
        for p in self.related_files(path):
            entry = self.files.get(p)
            if entry is None:
                continue
            for d in self.declarations(entry):
                if d.kind != "base":
                    out.setdefault(d.name, d)
        self._store(key, out)
        return out

    # ------------------------------------------------------------------------------------------- queries
    def _lang_of(self, path: str) -> str | None:
        entry = self.files.get(path)
        return entry.lang if entry is not None else detect_language(path)

    def identifiers(self, path: str | Path, prefix: str = "", limit: int = 200,
                    exclude_self: bool = True) -> list[ProjectIdentifier]:
        """Project identifiers for completion in `path`: those starting with `prefix` (in any case) or, with
        no prefix, the most frequent; for C++ also names declared in the files `path` includes (in scope even
        if the project never uses them).  Counts exclude `path` itself when `exclude_self` (the engine counts
        the open document on its own).  At most `limit`, most frequent first (with no prefix: declared in an
        included / imported file first)."""
        path = os.path.abspath(path)
        # a function of the index's contents: the same query (every keystroke after a space or a bracket asks
        # for the most frequent names) is answered from the cache until something is indexed again
        key = ("identifiers", path, prefix, limit, exclude_self, self.generation)
        cached = self._cached(key)
        if cached is not None:
            return list(cached)
        lang = self._lang_of(path)
        if lang is None:
            return []
        tables = self.tables[lang]
        own = self.files.get(path) if exclude_self else None
        # the per-id arrays are swapped one by one when the vocabulary grows: read each once, use ids all have
        unigram, decl_count, decl_kind = tables.unigram, tables.decl_count, tables.decl_kind
        ids = self._matching_ids(tables, prefix, limit)
        ids = ids[ids < min(unigram.size, decl_count.size, decl_kind.size)]
        counts = unigram[ids]
        if own is not None and ids.size and not own.external:
            counts = counts - self._own_counts(own, ids, np.ones(ids.shape, dtype=bool))
        keep = counts > 0
        ids, counts = ids[keep], counts[keep]
        if ids.size > limit:  # only the most frequent are worth decoding
            top = np.argpartition(-counts, limit)[:limit]
            ids, counts = ids[top], counts[top]
        related = self.related_declarations(path)
        out: dict[str, ProjectIdentifier] = {}
        word = tables.vocab.word
        declared = decl_count[ids] > 0
        kinds = decl_kind[ids]
        for i, c, dec, k in zip(ids.tolist(), counts.tolist(), declared.tolist(), kinds.tolist()):
            name = word(i)
            d = related.get(name)
            kind = d.kind if d is not None else (KINDS[k] if dec else "identifier")
            out[name] = ProjectIdentifier(name, int(c), kind, d is not None, dec)
        # a JS module's names are not in scope in the importer (they are reached through the import object:
        # `member_completion`), so only C++ adds the declarations of included files the project never uses
        if lang == "cpp":
            for name, d in self._related_prefixed(path, related, prefix, limit):
                if name not in out:
                    out[name] = ProjectIdentifier(name, 0, d.kind, True, True)
        ranked = sorted(out.values(), key=lambda p: (-p.related, -p.count, p.name)) if not prefix else \
            sorted(out.values(), key=lambda p: (-p.count, p.name))
        ranked = ranked[:limit]
        self._store(key, ranked)
        return list(ranked)

    def _related_prefixed(self, path: str, related: dict[str, Declaration], prefix: str, limit: int
                          ) -> list[tuple[str, Declaration]]:
        """Up to `limit` related declarations whose names start with `prefix` (any case), by bisection in a
        sorted list cached with the related declarations."""
        from bisect import bisect_left

        key = ("related_sorted", path, self.relations_version, self.decl_version)
        names = self._cached(key)
        if names is None:
            names = sorted((n.lower(), n) for n in related if lexical.IDENT.fullmatch(n.encode()))
            self._store(key, names)
        low = prefix.lower()
        lo = bisect_left(names, (low,))  # type: ignore[arg-type]
        out = []
        for low_name, name in names[lo:lo + limit]:  # type: ignore[index]
            if not low_name.startswith(low):
                break
            out.append((name, related[name]))
        return out

    def _matching_ids(self, tables: _LangTables, prefix: str, limit: int) -> np.ndarray:
        """Ids of identifiers worth checking: those starting with the prefix, or the most frequent ones."""
        if prefix:
            ids = tables.prefix_ids(prefix)
            unigram = tables.unigram
            ids = ids[ids < unigram.size]
            return ids[unigram[ids] > 0]
        key = ("top", tables.lang, limit, self.generation)
        cached = self._cached(key)
        if cached is None:
            counts = tables.unigram
            k = min(limit * 2 + 64, int((counts > 0).sum()))
            cached = np.argpartition(-counts, k)[:k] if 0 < k < counts.size else np.flatnonzero(counts > 0)
            self._store(key, cached)
        return cached  # type: ignore[return-value]

    def context_ids(self, lang: str, context: list[bytes]) -> list[int | None]:
        """Vocabulary ids of context tokens (None for a token the project never had)."""
        vocab = self.tables[lang].vocab
        return [vocab.get(t) for t in context]

    def ngram_scores(self, path: str | Path, context: list[bytes], candidates: Iterable[str],
                     exclude_self: bool = True, after: bool = False) -> dict[str, float]:
        """P(candidate | the previous code tokens) under the project's statistics: Witten-Bell interpolation of
        the 3-, 2- and 1-token contexts down to the project's identifier frequencies (as the engine's
        per-document `IdentifierNgrams`).  `context`: code tokens before the word being typed, oldest first
        (`context_at` gives them).  With `after`, P(candidate | the next code tokens) from the 2- and 1-token
        contexts after the word instead (`context_after` gives them, nearest first).  The file `path` itself is
        left out when `exclude_self`."""
        path = os.path.abspath(path)
        lang = self._lang_of(path)
        names = list(candidates)
        if lang is None or not names:
            return {}
        tables = self.tables[lang]
        vocab = tables.vocab
        ids = np.fromiter(map(vocab.ids.get, (n.encode("utf-8", "surrogatepass") for n in names), repeat(-1)),
                          np.int64, len(names))
        known = (ids >= 0) & (ids < tables.unigram.size)
        safe = np.where(known, ids, 0)
        own = self.files.get(path) if exclude_self else None
        own = own if own is not None and not own.external else None
        counts = np.where(known, tables.unigram[safe], 0)
        total = tables.total
        if own is not None:
            counts = counts - self._own_counts(own, safe, known)
            total -= int(own.ident_counts.sum())
        p = counts / total if total > 0 else np.zeros(len(names))
        for level in self._levels(tables, path, context, own, after):
            ctx_ids, ctx_counts, n, types = level
            pos = np.searchsorted(ctx_ids, safe)
            pos_c = np.minimum(pos, max(ctx_ids.size - 1, 0))
            c = np.where(known & (ctx_ids.size > 0) & (ctx_ids[pos_c] == safe), ctx_counts[pos_c], 0) \
                if ctx_ids.size else np.zeros(len(names))
            p = (c + types * p) / (n + types)
        return dict(zip(names, np.maximum(p, 0.0).tolist()))

    def unigram_scores(self, path: str | Path, candidates: Iterable[str]) -> dict[str, float]:
        """`ngram_scores` with no context (the project's identifier frequencies, `path` left out), remembered
        per file until something is indexed again: they do not depend on the position."""
        path = os.path.abspath(path)
        key = ("unigram", path, self.generation)
        known = self._cached(key)
        if known is None:
            known = {}
            self._store(key, known)
        missing = [c for c in candidates if c not in known]
        if missing:
            known.update(self.ngram_scores(path, [], missing))
        return known  # type: ignore[return-value]

    def ngram_words(self, path: str | Path, context: list[bytes], limit: int = 50) -> list[tuple[str, int]]:
        """The identifiers the project has after the longest known suffix of `context`, most frequent first."""
        path = os.path.abspath(path)
        lang = self._lang_of(path)
        if lang is None:
            return []
        tables = self.tables[lang]
        own = self.files.get(path)
        levels = self._levels(tables, path, context, own if own is not None and not own.external else None)
        if not levels:
            return []
        ids, counts, _, _ = levels[-1]
        top = np.argsort(-counts, kind="stable")[:limit]
        return [(tables.vocab.word(int(ids[i])), int(counts[i])) for i in top]

    def _own_counts(self, own: FileEntry, ids: np.ndarray, known: np.ndarray) -> np.ndarray:
        if not own.ident_ids.size:
            return np.zeros(ids.shape, dtype=np.int64)
        pos = np.minimum(np.searchsorted(own.ident_ids, ids), own.ident_ids.size - 1)
        return np.where(known & (own.ident_ids[pos] == ids), own.ident_counts[pos], 0)

    def _levels(self, tables: _LangTables, path: str, context: list[bytes], own: FileEntry | None,
                after: bool = False) -> list[tuple[np.ndarray, np.ndarray, int, int]]:
        """(ids, counts, total, types) after each context suffix of 1..3 tokens, shortest first (with `after`:
        before each run of the 1..2 tokens that follow the word, nearest first); stops at the first context the
        project never saw."""
        ctx = [tables.vocab.get(t) for t in (context[:AFTER_ORDER][::-1] if after else context[-NGRAM_ORDER:])]
        tag = AFTER_TAG if after else 0
        key = ("levels", tables.lang, tuple(ctx), tag, own.path if own else None, self.generation)
        cached = self._cached(key)
        if cached is not None:
            return cached  # type: ignore[return-value]
        levels = []
        h = np.uint64(0)
        own_keys = self._own_ngrams(own) if own is not None else None
        for m in range(1, len(ctx) + 1):
            tok = ctx[-m]
            if tok is None:
                break
            h = mix(h, tok)
            prefix = int((h & np.uint64((1 << 37) - 1)) | np.uint64((m + tag) << 37))
            ids, counts = tables.ngrams.prefix_range(prefix)
            if own_keys is not None and ids.size:
                counts = counts - self._own_range(own_keys, prefix, ids)
                keep = counts > 0
                ids, counts = ids[keep], counts[keep]
            n = int(counts.sum())
            if n <= 0:
                break
            levels.append((ids, counts, n, int(ids.size)))
        self._store(key, levels)
        return levels

    def _own_ngrams(self, own: FileEntry) -> tuple[np.ndarray, np.ndarray]:
        key = ("own_ngrams", own.path, own.serial)
        cached = self._cached(key)
        if cached is None:
            keys, counts = self._derived(own).get("ngrams", (np.zeros(0, np.uint64), np.zeros(0, np.int64)))
            cached = reduce_counts(keys, counts)
            self._store(key, cached)
        return cached  # type: ignore[return-value]

    @staticmethod
    def _own_range(own: tuple[np.ndarray, np.ndarray], prefix: int, ids: np.ndarray) -> np.ndarray:
        keys, counts = own
        wanted = pack(prefix, ids)
        if not keys.size:
            return np.zeros(ids.shape, dtype=np.int64)
        pos = np.minimum(np.searchsorted(keys, wanted), keys.size - 1)
        return np.where(keys[pos] == wanted, counts[pos], 0)

    def _own_members(self, own: FileEntry) -> tuple[np.ndarray, np.ndarray]:
        """The member-use keys of one file, reduced (to leave its uses out of `member_uses`)."""
        key = ("own_members", own.path, own.serial)
        cached = self._cached(key)
        if cached is None:
            cached = reduce_counts(*self._member_keys(self.tables[own.lang], own.token_ids()))
            self._store(key, cached)
        return cached  # type: ignore[return-value]

    def _own_declared(self, path: str | None) -> dict[tuple[int, int], int]:
        """(container id, name id) -> declarations of that member in the file `path` (empty for None)."""
        own = self.files.get(path) if path is not None else None
        if own is None or not own.decls.size:
            return {}
        sel = (own.decls >> (2 * ID_BITS)) != _KIND_CODE["base"]
        out: dict[tuple[int, int], int] = {}
        for packed in own.decls[sel].tolist():
            pair = ((packed >> ID_BITS) & ID_MASK, packed & ID_MASK)
            out[pair] = out.get(pair, 0) + 1
        return out

    def members(self, type_name: str, lang: str, include_bases: bool = True, depth: int = 4,
                limit: int = 1000, exclude: str | None = None) -> list[Member]:
        """Members declared in a class / struct / namespace / enum / JS class or object named `type_name`
        (anywhere in the project, and in its base classes up to `depth` levels); at most `limit` per type.
        Declarations of the file `exclude` do not count (see `member_completion`)."""
        tables = self.tables[lang]
        own = self._own_declared(exclude)
        out: dict[str, Member] = {}
        todo, seen = [type_name], set()
        for _ in range(depth + 1):
            nxt = []
            for name in todo:
                cid = tables.vocab.ids.get(name.encode())
                if cid is None or name in seen:
                    continue
                seen.add(name)
                ids, counts = tables.decls.prefix_range(cid)
                if ids.size > limit:  # a namespace such as `std`: the most declared names are enough
                    top = np.argpartition(-counts, limit)[:limit]
                    ids, counts = ids[top], counts[top]
                for i, c in zip(ids.tolist(), counts.tolist()):
                    c -= own.get((cid, i), 0)
                    if c <= 0:
                        continue
                    word = tables.vocab.word(i)
                    if word not in out:
                        kind = KINDS[tables.decl_kind[i]] if i < tables.decl_kind.size else "identifier"
                        out[word] = Member(word, kind, "declared", int(c))
                if include_bases:
                    base_ids, _ = tables.bases.prefix_range(cid)
                    nxt.extend(tables.vocab.word(i) for i in base_ids.tolist())
            todo = nxt
            if not todo:
                break
        return sorted(out.values(), key=lambda m: m.name)

    def member_uses(self, receiver: str, lang: str, operator: str = ".", limit: int = 300,
                    exclude: str | None = None) -> list[tuple[str, int]]:
        """Names used after `receiver` with this operator's family (`.`/`->`/`?.` or `::`) over the project,
        most frequent first, at most `limit`.  Uses in the file `exclude` do not count."""
        tables = self.tables[lang]
        rid = tables.vocab.ids.get(receiver.encode())
        if rid is None:
            return []
        prefix = int(mix(_MEMBER_FAMILY.get(operator, 1), rid))
        ids, counts = tables.members.prefix_range(prefix)
        own = self.files.get(exclude) if exclude is not None else None
        if own is not None and not own.external and ids.size:
            counts = counts - self._own_range(self._own_members(own), prefix, ids)
            keep = counts > 0
            ids, counts = ids[keep], counts[keep]
        if ids.size > limit:
            top = np.argpartition(-counts, limit)[:limit]
            ids, counts = ids[top], counts[top]
        order = np.argsort(-counts, kind="stable")
        return [(tables.vocab.word(int(ids[i])), int(counts[i])) for i in order]

    def module_exports(self, path: str | Path, spec: str, depth: int = 3) -> list[str]:
        """Names a module exports, as imported from `path` with `spec` (`./util`, `lodash`): its ES and
        CommonJS exports, keys of an exported object, members of an exported class / object / function, and
        the exports of modules it re-exports."""
        path = os.path.abspath(path)
        target = self.resolve(path, spec)
        entry = self.files.get(target) if target else None
        return self._exports_of(entry, depth) if entry is not None else []

    def _exports_of(self, entry: FileEntry, depth: int) -> list[str]:
        out: dict[str, None] = dict.fromkeys(n for n in entry.exports if n != "default")
        decls = self.declarations(entry)
        aliases = {d.name for d in decls if d.kind == "export" and d.container == "module.exports"}
        for d in decls:
            if d.container in aliases and d.kind != "base":
                out.setdefault(d.name)
        if depth > 0:
            for spec in entry.reexports:
                target = self.resolve(entry.path, spec)
                sub = self.files.get(target) if target else None
                if sub is not None and sub is not entry:
                    for name in self._exports_of(sub, depth - 1):
                        out.setdefault(name)
        return list(out)

    def member_completion(self, path: str | Path, source: bytes | str, pstart: int,
                          exclude_self: bool = False) -> MemberCompletion | None:
        """Members for a member-access position (`pstart`: byte where the word being typed starts in `source`,
        the editor's text of `path`): a module's exports, the declared members of the receiver's type (with
        bases), then names used after the same receiver in the project.  None when `pstart` does not follow
        `.`, `->`, `?.` or `::`.  With `exclude_self`, the index's copy of `path` adds no declared member and no
        use: the caller reads `source` itself, and a copy the editor has changed since must not bring back a
        name that was deleted."""
        path = os.path.abspath(path)
        exclude = path if exclude_self else None
        lang = self._lang_of(path)
        if lang is None:
            return None
        recv = receiver_at(source, pstart, lang)
        if recv is None:
            return None
        out: dict[str, Member] = {}
        if recv.module is not None:
            for name in self.module_exports(path, recv.module):
                out.setdefault(name, Member(name, "export", "export"))
        if recv.type_name:
            for m in self.members(recv.type_name, lang, exclude=exclude):
                out.setdefault(m.name, m)
        for name, count in self.member_uses(recv.receiver, lang, recv.operator, exclude=exclude):
            if name in out:
                m = out[name]
                out[name] = Member(m.name, m.kind, m.source, m.count + count)
            else:
                out[name] = Member(name, "field", "used", count)
        return MemberCompletion(recv, list(out.values()))

    def file_declarations(self, path: str | Path) -> list[Declaration]:
        """The declarations of one indexed file."""
        entry = self.files.get(os.path.abspath(path))
        return self.declarations(entry) if entry is not None else []

    def stats(self) -> dict[str, int]:
        """Sizes of the index (files, bytes of the count tables), for logs and benchmarks."""
        files = list(self.files.values())
        table_bytes = sum(t.nbytes() for tables in self.tables.values()
                          for t in (tables.ngrams, tables.members, tables.decls, tables.bases))
        return {"files": sum(1 for e in files if not e.external), "packages": sum(1 for e in files if e.external),
                "vocabulary": sum(len(t.vocab) for t in self.tables.values()), "table_bytes": table_bytes,
                "token_bytes": sum(len(e.tokens_z) for e in files)}

    # ------------------------------------------------------------------------------------------- cache
    def _cached(self, key: tuple) -> object | None:
        """A cached query result; `key[0]` names the cache (see `CACHE_SIZES`)."""
        with self._cache_lock:
            cache = self._caches[key[0]]
            value = cache.get(key)
            if value is not None:
                cache.move_to_end(key)
            return value

    def _store(self, key: tuple, value: object) -> None:
        with self._cache_lock:
            cache = self._caches[key[0]]
            cache[key] = value
            while len(cache) > CACHE_SIZES[key[0]]:
                cache.popitem(last=False)


def _release_free_memory() -> None:
    """Give the memory a build freed back to the system.  Merging count tables allocates large temporary
    arrays between many small live objects; glibc keeps such freed heap pages unless asked (without this the
    process stays 2-3x larger than what the index holds).  A no-op where glibc is not the C library."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def context_after(source: bytes | str, end: int, lang: str, n: int = AFTER_ORDER) -> list[bytes]:
    """The first `n` code tokens after byte `end` (the end of the word at the cursor) on the same line, nearest
    first, for `WorkspaceIndex.ngram_scores(..., after=True)`; fewer (none) where the line ends sooner.

    Only the cursor's line: a user writing a new line among existing code has the next line after the cursor,
    which says nothing about the word being written (measured: ranked on it, top-1 fell by 14 points)."""
    data = source.encode("utf-8", "surrogatepass") if isinstance(source, str) else source
    stop = data.find(b"\n", end, end + 400)
    window = data[end:stop if stop >= 0 else end + 400]
    stripped = lexical.strip(window, lang).code
    return lexical.code_tokens(stripped)[:n]


def context_at(source: bytes | str, pstart: int, lang: str, n: int = NGRAM_ORDER) -> list[bytes]:
    """The last `n` code tokens before byte `pstart` (comments and literals handled as when indexing), for
    `WorkspaceIndex.ngram_scores`."""
    data = source.encode("utf-8", "surrogatepass") if isinstance(source, str) else source
    window = data[max(0, pstart - 400):pstart]
    stripped = lexical.strip(window, lang).code
    return lexical.code_tokens(stripped)[-n:]
