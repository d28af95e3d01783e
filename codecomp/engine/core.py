"""The completion engines: `Engine` (neural, ONNX) and `FallbackEngine` (no model), same API (docs/design.md §5).

`Engine.load(path)` returns a neural engine when the artifact at `path` (default: the shipped one) loads, and a
`FallbackEngine` otherwise, whose `.problem` says in words what went wrong and how to fix it.  Both keep the
open documents in a `DocumentStore` and answer `complete` with the same pipeline:

    position -> byte (UTF-16 aware) -> quiet in comments/strings -> prefix and member context
    -> candidates (scope, members, file, open documents, project, model vocabulary, copy, keywords)
    -> scores (model mixed with the document's own identifier n-grams and the project's, plus hints)
    -> prefix filter and ordering -> fragment (neural only)

Project context: `set_workspace(index)` gives the engine a `codecomp.engine.workspace.WorkspaceIndex`.  Documents
with a file:// URI then get candidates and statistics from the rest of the project; the index holds the
editor's text of every open document instead of its disk copy (`open` and `close` tell it at once, `change`
marks it for `sync_workspace`, which the caller runs when the user pauses: re-reading a long file on every
keystroke would cost more than a completion).  A document's own results never depend on the index's copy of
that document (its counts, n-grams, member uses and declarations are left out), only on the other files.
"""
from __future__ import annotations

import heapq
import itertools
import math
import os
import time
from collections import OrderedDict
from dataclasses import dataclass
from functools import partial
from operator import itemgetter
from pathlib import Path
from typing import Any, Callable
from urllib.parse import unquote, urlparse

from codecomp.artifact import ArtifactError, default_path, load as load_artifact
from codecomp.syntax import LANGUAGES, language_from_id
from codecomp.syntax.languages import IDLE_SLICE_S
from codecomp.engine import candidates as cand_mod
from codecomp.engine.fragments import OFFER_THRESHOLD, decode
from codecomp.engine.learning import KEEP_ROWS, Context, Learner, Learning, Shown, context_of
from codecomp.engine.lexing import (LINE_WINDOW, inside_comment_or_string, member_operator_before, prefix_start,
                                    tokens_in_range)
from codecomp.engine.ranking import EXACT, match_tier, order_key
from codecomp.engine.scoring import candidate_features, document_ngrams, feature_matrix, near_counts, score_pool
from codecomp.engine.background import foreground
from codecomp.engine.session import Document, DocumentStore, TextEdit
from codecomp.engine.types import Cancelled, Candidate, Completion, Fragment, NameSuggestions

MAX_DOCUMENTS = 64  # open documents kept; the least recently used beyond this are dropped
MODEL_WORDS = 200   # the most probable vocabulary words offered as candidates
MAX_SHOWN = 32      # shown lists kept for their learning event (`BaseEngine.learn`)
PROJECT_LINES_AFTER_S = 0.3  # idle work reads the project's lines only after a pause in typing this long
PROJECT_LINES_MS = 5  # time a request may spend reading workspace files for fragments (the rest in idle time)


@dataclass
class Gathered:
    """One request after candidate generation, before scoring (see `BaseEngine._gather`)."""

    doc: Document
    cursor: int                                         # byte offset of the cursor
    prefix: str                                         # the typed part of the word
    replace_start: tuple[int, int]                      # LSP position where the prefix starts
    member_op: str | None                               # ".", "->", "::" or None
    state: object | None                                # the model's distribution at the prefix start
    matching: dict[str, tuple[int, cand_mod.Pool]]      # label -> (match tier, candidate)
    near: object
    ngrams: object
    note: str | None
    timings: dict[str, float]
    t_start: float
    project: dict[str, float] | None = None              # label -> the project's n-gram probability
    learner: Learner | None = None                       # the workspace's learner (None: learning is off)
    context: Context | None = None                       # the learner's context of the position
    rows: Any = None                                     # the ranker's feature rows, when it ranked
    cache: Any = None                                    # the learner's cache features of the candidates
    base: Any = None                                     # the offline scores the learner corrected
    after: dict[str, float] | None = None                # label -> the project's lift before the next tokens


@dataclass
class CandidateFeatures:
    """The scoring signals at one position: label -> (match tier, feature tuple in `scoring.F_*` order)."""

    prefix: str
    member_op: str | None
    n_idents: int                                       # identifiers of the document (the mix's size term)
    neural: bool                                        # whether the model's column is filled
    candidates: dict[str, tuple[int, tuple[float, ...]]]


def _ms(t0: float) -> float:
    return round((time.perf_counter() - t0) * 1000.0, 3)


def _stopper(should_stop: Callable[[], bool] | None, deadline: float | None) -> Callable[[], bool] | None:
    """One stop test from a caller's callback and/or a `time.monotonic()` deadline (None: never stop)."""
    if deadline is None:
        return should_stop
    if should_stop is None:
        return lambda: time.monotonic() >= deadline
    return lambda: time.monotonic() >= deadline or bool(should_stop())


def uri_to_path(uri: str) -> str | None:
    """The local path of a file:// URI (percent-decoded, absolute); None for any other scheme (untitled
    buffers, remote files), which get no project context."""
    parsed = urlparse(uri)
    if parsed.scheme != "file" or parsed.netloc not in ("", "localhost"):
        return None
    path = unquote(parsed.path)
    if os.name == "nt" and len(path) > 2 and path[0] == "/" and path[2] == ":":
        path = path[1:]  # /C:/x -> C:/x
    return os.path.abspath(path) if path else None


def _in_slices(step: Callable[[], bool], budget_s: float, should_stop: Callable[[], bool] | None) -> None:
    """Call `step` (one short slice of work, True once none is left) until it is done, `budget_s` has passed or
    `should_stop` says a request waits: a request waits for one slice at most."""
    deadline = time.perf_counter() + budget_s
    while not step():
        if (should_stop is not None and should_stop()) or time.perf_counter() >= deadline:
            break


def _check(stop: Callable[[], bool] | None) -> None:
    """Raise `Cancelled` when the caller asked to stop."""
    if stop is not None and stop():
        raise Cancelled("the request was cancelled")


def _unusable(exc: Exception) -> str:
    """The fallback engine's message for a model that could not be loaded."""
    detail = str(exc) if isinstance(exc, ArtifactError) else f"{type(exc).__name__}: {exc}"
    return (f"The completion model could not be loaded: {detail} "
            "Completions come from the words of your open files until then.")


def _normalise_lang(lang: str) -> str:
    """Accept our names ("cpp") and LSP language ids ("javascriptreact"); raise ValueError for others."""
    if lang in LANGUAGES:
        return lang
    mapped = language_from_id(lang or "")
    if mapped is None:
        raise ValueError(f"codecomp completes {', '.join(LANGUAGES)}, not {lang!r}")
    return mapped


_FIRST = itemgetter(0)


class BaseEngine:
    """Document management and the completion pipeline shared by both engines."""

    problem: str | None = None
    name = "base"

    def __init__(self, max_contexts: int = 16) -> None:
        self.store = DocumentStore(max_contexts=max_contexts)
        self.workspace: Any = None          # a WorkspaceIndex, or None: no project context
        self._unsynced: set[str] = set()    # open documents whose latest text the index has not read yet
        self.open_timings: dict[str, float] = {}  # ms of the last `open` (its project part included)
        self.learning: Learning | None = None  # learning from the user (None: off)
        self._shown: OrderedDict[int, Shown] = OrderedDict()  # the last lists shown, for their events
        self._shown_ids = itertools.count(1)

    # -- learning from the user ----------------------------------------------------------------------------------
    def set_learning(self, learning: Learning | None) -> None:
        """Learn from the user's choices with these per-workspace learners (None: do not learn, and rank as
        the offline model alone does)."""
        self.learning = learning
        self._shown.clear()

    def learn(self, shown_id: int, label: str, accepted: bool = False) -> bool:
        """One learning event: `label` stood where the list `Completion.shown_id` was shown (`accepted`: taken
        from the list, else typed by hand).  Each list counts once; False when it is unknown (too old, already
        counted, or learning is off)."""
        shown = self._shown.pop(shown_id, None)
        if shown is None or self.learning is None or not isinstance(label, str):
            return False
        shown.learner.observe(shown, label, accepted)
        self.learning.touched(shown.learner)
        return True

    # -- project context -----------------------------------------------------------------------------------------
    def set_workspace(self, index: Any) -> None:
        """Use a `WorkspaceIndex` for project context (None: none).  Open documents are handed to it at once."""
        old, self.workspace = self.workspace, index
        if old is not None and old is not index:
            for uri in list(self.store.docs):
                path = uri_to_path(uri)
                if path is not None:
                    old.close_document(path)
        self._unsynced.clear()
        if index is not None:
            for uri, doc in list(self.store.docs.items()):
                self._index_open(uri, doc.text)

    def _index_open(self, uri: str, text: str) -> None:
        """Hand an opened document's text to the index and warm its per-file caches (`prepare`)."""
        path = uri_to_path(uri)
        if self.workspace is None or path is None:
            return
        self.workspace.open_document(path, text)
        self.workspace.prepare(path)
        self._unsynced.discard(uri)

    def sync_workspace(self, uri: str | None = None) -> int:
        """Give the index the current text of the documents changed since they were last handed over (one
        document, or all with None); returns how many were read.  Cheap when nothing changed."""
        if self.workspace is None:
            self._unsynced.clear()
            return 0
        done = 0
        for u in ([uri] if uri is not None else sorted(self._unsynced)):
            doc = self.store.get(u)
            path = uri_to_path(u)
            if u in self._unsynced and doc is not None and path is not None:
                self.workspace.change_document(path, doc.text)
                # the caches the next completion needs, refilled here (when typing pauses) rather than on
                # the next keystroke
                self.workspace.prepare(path)
                self.workspace.identifiers(path, "", limit=cand_mod.PROJECT_WORDS)
                done += 1
            self._unsynced.discard(u)
        return done

    # -- documents -----------------------------------------------------------------------------------------------
    def open(self, uri: str, text: str, lang: str, version: int = 0) -> None:
        """Start tracking a document (re-opening replaces it); with a workspace index, its text replaces the
        file's disk copy in the index from now on."""
        if not isinstance(text, str):
            raise TypeError(f"the text of {uri} must be str, got {type(text).__name__}")
        t0 = time.perf_counter()
        with foreground():  # as for an edit: background analyses wait while a document is opened
            self.store.open(uri, text, _normalise_lang(lang), version)
            while len(self.store.docs) > MAX_DOCUMENTS:
                self.close(next(iter(self.store.docs)))
            t1 = time.perf_counter()
            self._index_open(uri, text)
        self.open_timings = {"document": round((t1 - t0) * 1000.0, 3), "project": _ms(t1)}

    def change(self, uri: str, text: str, version: int | None = None, edit: TextEdit | None = None) -> None:
        """Replace the text of an open document (full synchronisation); `edit`, when the caller knows it, is the
        one edit that made `text` from the text held (`session.TextEdit`), which spares comparing the texts."""
        doc = self.store.get(uri)
        if doc is None:
            raise KeyError(f"{uri} is not open: call open() before change()")
        if not isinstance(text, str):
            raise TypeError(f"the text of {uri} must be str, got {type(text).__name__}")
        with foreground():  # an edit is part of a keystroke's request: background analyses wait meanwhile
            doc.change(text, version, edit)
        self.store.touch(uri)
        if self.workspace is not None and uri_to_path(uri) is not None:
            self._unsynced.add(uri)

    def close(self, uri: str) -> None:
        """Stop tracking a document (unknown URIs are ignored); the index reads the file's disk copy again."""
        had = self.store.get(uri) is not None
        self.store.close(uri)
        self._unsynced.discard(uri)
        path = uri_to_path(uri)
        if had and self.workspace is not None and path is not None \
                and not any(uri_to_path(u) == path for u in self.store.docs):
            self.workspace.close_document(path)

    def work_in_idle(self, budget_s: float = 0.05, should_stop: Callable[[], bool] | None = None) -> bool:
        """Advance background work for up to `budget_s` seconds: the preparation of the next request in the most
        recently used document (`_prefetch`), else the parse ahead of a trigger typed next there
        (`Document.speculate`), else the unfinished parse of the most recently used document that
        has one, else the model track of the most recently used document (`_fill_track`), which
        stops early when `should_stop` says so (a request is waiting).  True while some remains (call again
        when idle)."""
        prepare = self._prepare_target()
        # Background analyses wait meanwhile, as during a request: a request that comes waits for the step under
        # way, and that step must not share the interpreter (in 540 KB of lodash.js, the project's n-gram
        # lookups of a new word took 20-30 ms of wall time for 2-4 ms of work while a scope analysis ran).
        with foreground():
            return self._work_in_idle(prepare, budget_s, should_stop)

    def _work_in_idle(self, prepare: Document | None, budget_s: float, should_stop: Callable[[], bool] | None
                      ) -> bool:
        waiting = [d for d in self.store.docs.values() if d.parse_pending]
        speculate = self._speculate_target() if prepare is None else None
        if prepare is not None:
            self.idle_work = "prepare"
            self._prefetch(prepare, budget_s, should_stop)
        elif speculate is not None:
            self.idle_work = "parse ahead of a trigger"
            cursor = speculate.expected_cursor()
            if cursor is not None:
                _in_slices(partial(speculate.speculate, cursor, IDLE_SLICE_S), budget_s, should_stop)
        elif waiting:
            self.idle_work = "parse"
            doc = max(waiting, key=lambda d: d.last_used)
            _in_slices(partial(doc.parse_some, 0.0, IDLE_SLICE_S), budget_s, should_stop)
        else:
            doc = self._track_target()
            if doc is not None:
                self.idle_work = "model track"
                self._fill_track(doc, time.perf_counter() + budget_s, should_stop)
            else:
                self.idle_work = "project lines"
                self._read_project_lines(budget_s, should_stop)
        return self.has_idle_work()

    idle_work = ""  # what the latest `work_in_idle` did (for the server's debug log)

    def has_idle_work(self) -> bool:
        """Whether `work_in_idle` has something to do."""
        return self._request_work_pending() or self._project_lines_pending()

    def _request_work_pending(self) -> bool:
        """Whether idle work for the next requests is left: the next request to prepare, a parse ahead of a
        trigger, an unfinished parse, the model track."""
        return (self._prepare_target() is not None or self._speculate_target() is not None
                or any(d.parse_pending for d in self.store.docs.values()) or self._track_target() is not None)

    def idle_delay(self) -> float:
        """How long the user should have paused before `work_in_idle` runs: no time while a request's work is
        left (the next request to prepare, a parse, the model track), `PROJECT_LINES_AFTER_S` when only the
        project's lines are.  Those serve no particular request, and read between keystrokes they shared the
        interpreter with the next one: in a workspace of 15,000 files, whose lines take a few hundred slices
        to read, a request waited for the slice under way at every keystroke."""
        return 0.0 if self._request_work_pending() else PROJECT_LINES_AFTER_S

    def _prepare_target(self) -> Document | None:
        """The document whose next request idle time prepares: the most recently used one, when it has that
        work left (`Document.prefetch_pending`)."""
        recent = next(reversed(self.store.docs.values()), None)
        return recent if recent is not None and recent.prefetch_pending else None

    def _speculate_target(self) -> Document | None:
        """The document where idle time parses ahead of a trigger (`Document.speculate`): the most recently used
        one, when its next request is prepared and such a parse is pending."""
        recent = next(reversed(self.store.docs.values()), None)
        return recent if recent is not None and recent.speculation_pending else None

    def _prefetch(self, doc: Document, budget_s: float, should_stop: Callable[[], bool] | None) -> None:
        """Gather ahead of time what the next request in `doc` will need (`Document.expected_cursor`): the parse
        of its analysis text, in short slices, then the evidence `_gather` collects (scopes, counts, project
        lookups, the model's reading of the code before the cursor), all kept under keys of the text and the
        cursor, so the request finds them ready and its answer is the one it would have computed itself.  After
        a `(` the next keystroke usually starts a word whose analysis text is the current one; a word being
        typed keeps it.  Stops between slices, and between model steps, when `should_stop` says a request
        waits; what is done is kept."""
        deadline = time.perf_counter() + budget_s
        cursor = doc.expected_cursor()
        if cursor is None:
            return
        stop = should_stop or (lambda: False)
        while not doc.prepare_request_syntax(cursor, IDLE_SLICE_S):
            if stop() or time.perf_counter() >= deadline:
                return
        line, col = doc.position_of_byte(cursor)
        pstart = prefix_start(doc.source, cursor)
        prefix = doc.source[pstart:cursor].decode("utf-8", "replace")
        member_op = member_operator_before(doc.source, pstart)
        doc.preparing = True
        try:
            # the costliest parts of the gathering one at a time, each kept under its key (the text and the
            # cursor), so that a request that comes meanwhile waits for one of them at most, not for all: in a
            # 540 KB file the whole gathering took 10-60 ms
            for step in (doc.request_literal_ranges, partial(cand_mod.code_counts, doc), doc.scopes,
                         lambda _: self._model_state(doc, pstart, stop),
                         lambda _: document_ngrams(doc, pstart, prefix),
                         lambda _: self._project(doc, pstart, prefix, member_op, None)):
                if stop():
                    return
                step(cursor)
            if stop():
                return
            self._gather(doc.uri, line, col, stop, asked=False)
        except Cancelled:
            return  # a request is waiting: the model steps done so far are kept
        finally:
            doc.preparing = False
        doc.gathered = (doc.version, cursor)

    def _read_project_lines(self, budget_s: float, should_stop: Callable[[], bool] | None = None) -> None:
        """Read workspace files for fragments (engines that decode fragments with project context), stopping
        between files when `should_stop` says so."""

    def _project_lines_pending(self) -> bool:
        return False

    def _track_target(self) -> Document | None:
        """The document whose track idle time fills: the most recently used one, when it has work left."""
        if not self.store.docs or not self._has_track:
            return None
        doc = next(reversed(self.store.docs.values()))
        return doc if doc.track_pending else None

    _has_track = False  # engines with a token model fill tracks

    def _fill_track(self, doc: Document, deadline: float, should_stop: Callable[[], bool] | None) -> None:
        """Extend `doc`'s track until `deadline` or `should_stop` (engines with a token model)."""

    def document(self, uri: str) -> Document | None:
        """The engine's copy of an open document."""
        return self.store.get(uri)

    # -- completion ----------------------------------------------------------------------------------------------
    def complete(self, uri: str, line: int, utf16_col: int, max_items: int = 50, fragment: bool = True, *,
                 should_stop: Callable[[], bool] | None = None, deadline: float | None = None) -> Completion:
        """Ranked completions at an LSP position (0-based line, UTF-16 column).

        `should_stop` (e.g. a cancellation event's `is_set`) is asked between model steps, and `deadline` is a
        `time.monotonic()` instant; when either says stop while the model reads the context, an empty result
        with the note "cancelled" comes back at once (the model work done so far is kept for the next request);
        when it says stop during the fragment, the list goes out without one.
        """
        stop = _stopper(should_stop, deadline)
        try:
            with foreground():
                result = self._complete(uri, line, utf16_col, max_items, fragment, stop)
        except Cancelled as exc:
            result = Completion([], "", (max(line, 0), max(utf16_col, 0)), None, {}, note=f"cancelled: {exc}")
        if result.fragment is None and result.fragment_reason is None:
            result.fragment_reason = ("no fragment was asked for" if not fragment
                                      else result.note or "no fragment at this position")
        return result

    def _gather(self, uri: str, line: int, utf16_col: int, stop: Callable[[], bool] | None, asked: bool = True
                ) -> "Gathered | Completion":
        """Everything a completion knows before it ranks: the candidates that match the typed prefix and the
        evidence to score them.  A `Completion` instead when there is nothing to rank (not open, inside a
        comment, string or number, file too large).  Completion and feature extraction (tuning, the learned
        ranker) both start here, so they see exactly the same candidates.  `asked` False: idle work gathering
        ahead of a request (`_prefetch`), not a request."""
        t_start = time.perf_counter()
        timings: dict[str, float] = {}
        doc = self.store.get(uri)
        if doc is None:
            return Completion([], "", (max(line, 0), max(utf16_col, 0)), None, timings,
                              note=f"{uri} is not open in the engine")
        self.store.touch(uri)
        doc.begin_request()
        t0 = time.perf_counter()
        cursor = doc.byte_of(max(line, 0), max(utf16_col, 0))
        if asked:
            doc.asked = (doc.version, cursor)
        pos = doc.position_of_byte(cursor)
        if doc.too_large:
            return Completion([], "", pos, None, timings,
                              note="the file is too large for completion (over 8 MB); it is not analysed")
        tree, base, cut = doc.request_syntax(cursor)  # the text without the word at the cursor
        timings["parse"] = _ms(t0)
        if asked and tree is not None:
            doc.gathered = doc.asked  # what idle time would gather for this position, this request does
        where = inside_comment_or_string(tree, base, doc.lang, cut) if tree is not None else None
        if where is not None:
            timings["total"] = _ms(t_start)
            return Completion([], "", pos, None, timings, note=f"no completion inside a {where}")
        pstart = prefix_start(doc.source, cursor)
        prefix = doc.source[pstart:cursor].decode("utf-8", "replace")
        replace_start = doc.position_of_byte(pstart)
        if prefix[:1].isdigit():
            timings["total"] = _ms(t_start)
            return Completion([], prefix, replace_start, None, timings, note="no completion inside a number")
        member_op = member_operator_before(doc.source, pstart)
        t0 = time.perf_counter()
        note = None
        if tree is None:
            note = (f"served without syntax: {doc.syntax_off}" if doc.syntax_off else
                    "the file is still being parsed; served without syntax for now")
        try:
            state = self._model_state(doc, pstart, stop)
        except Cancelled:
            raise
        except Exception as exc:  # a failing model must cost the user the ranking quality, not the list
            state, note = None, f"the model failed on this document ({type(exc).__name__}: {exc}); ranked without it"
        timings["model"] = _ms(t0)
        t0 = time.perf_counter()
        t1 = time.perf_counter()
        ngrams = document_ngrams(doc, pstart, prefix)
        timings["ngrams"] = _ms(t1)
        others = [d for d in self.store.docs.values() if d is not doc]
        model_words, copy_words = self._model_words(state, prefix)
        near = near_counts(doc, cursor)
        # words that followed the same context anywhere in the file are candidates even in a file with more
        # distinct names than are scored by default
        wanted = {w.encode("utf-8", "surrogatepass") for w in near}
        wanted.update(w.encode("utf-8", "surrogatepass") for w in ngrams.words())
        t_project = time.perf_counter()
        project, note = self._project(doc, pstart, prefix, member_op, note)
        project_ms = _ms(t_project)
        pool = cand_mod.gather(doc, others, cursor, prefix, member_op, model_words, copy_words, near=wanted,
                               project=project, timings=timings)
        learner = context = None
        if self.learning is not None:
            learner = self.learning.for_path(uri_to_path(doc.uri))
            context = context_of(doc.source, pstart, doc.lang, doc.uri, member=member_op is not None)
            keywords = cand_mod.KEYWORDS.get(doc.lang, frozenset())
            for name in learner.candidates(context, prefix):
                if name not in pool and name not in keywords and cand_mod.is_identifier(name):
                    pool[name] = cand_mod.Pool(name, "identifier", "learned")
        if prefix:
            matching: dict[str, tuple[int, cand_mod.Pool]] = {}
            for label, entry in pool.items():
                tier = match_tier(label, prefix)
                if tier is not None:
                    matching[label] = (tier, entry)
        else:  # nothing typed: everything matches, exactly
            matching = {label: (EXACT, entry) for label, entry in pool.items()}
        t_project = time.perf_counter()
        probs = self._project_probs(project, matching)
        after = self._project_after(project, matching)
        timings["project"] = round(project_ms + _ms(t_project), 3)
        timings["candidates"] = _ms(t0)
        return Gathered(doc, cursor, prefix, replace_start, member_op, state, matching, near, ngrams, note,
                        timings, t_start, probs, learner, context, after=after)

    def _project(self, doc: Document, pstart: int, prefix: str, member_op: str | None, note: str | None
                 ) -> tuple[cand_mod.ProjectContext | None, str | None]:
        """The workspace index's evidence at a position (None without an index or a file path); a failing
        index costs the project's candidates, never the list."""
        path = uri_to_path(doc.uri) if self.workspace is not None else None
        if path is None:
            return None, note
        try:
            return cand_mod.project_lookup(self.workspace, path, doc, pstart, prefix, member_op), note
        except Exception as exc:
            return None, note or f"the project index failed ({type(exc).__name__}: {exc}); ranked without it"

    def _project_probs(self, project: cand_mod.ProjectContext | None,
                       matching: dict[str, tuple[int, cand_mod.Pool]]) -> dict[str, float] | None:
        """The project's n-gram probability of every matching label: one index call per request."""
        if project is None or not matching:
            return None
        try:
            return self.workspace.ngram_scores(project.path, project.context, list(matching))
        except Exception:  # a hint only: the candidates are ranked without it
            return None

    def _project_after(self, project: cand_mod.ProjectContext | None,
                       matching: dict[str, tuple[int, cand_mod.Pool]]) -> dict[str, float] | None:
        """How much more often than usual the project has each matching label right before the code that
        follows the cursor: log(P(label | next tokens) / P(label)) under the project's statistics (None
        without project context or without code after the word).  The code after the word does not change while
        the word is typed, so the lifts are kept in the project context of the word and only labels not seen at
        an earlier keystroke are looked up."""
        if project is None or not matching or not project.after:
            return None
        lifts = project.after_lift
        missing = [k for k in matching if k not in lifts]
        if missing:
            try:
                p_after = self.workspace.ngram_scores(project.path, project.after, missing, after=True)
                p_any = self.workspace.unigram_scores(project.path, missing)
            except Exception:  # a hint only
                return None
            lifts.update((k, math.log((p_after.get(k, 0.0) + 1e-9) / (p_any.get(k, 0.0) + 1e-9))) for k in missing)
        return {k: lifts[k] for k in matching}

    def _complete(self, uri: str, line: int, utf16_col: int, max_items: int, fragment: bool,
                  stop: Callable[[], bool] | None) -> Completion:
        g = self._gather(uri, line, utf16_col, stop)
        if isinstance(g, Completion):
            return g
        doc, cursor, prefix, note, timings = g.doc, g.cursor, g.prefix, g.note, g.timings
        t0 = time.perf_counter()
        scores, note = self._rank(g, note)
        base = scores
        if g.learner is not None:
            t1 = time.perf_counter()
            scores = self._corrected(g, scores)
            base = g.base
        # only the first items are shown (and kept for learning): the smallest keys, in order, are what a full
        # sort would put first
        keep = max(0, max_items, KEEP_ROWS if g.learner is not None else 0)
        ranked = heapq.nsmallest(keep, ((order_key(tier, scores[label], label), entry)
                                        for label, (tier, entry) in g.matching.items()), key=_FIRST)
        items = [Candidate(e.label, e.kind, round(scores[e.label], 4), e.source) for _, e in ranked[:max(0, max_items)]]
        shown_id = None
        if g.learner is not None:
            shown_id = self._remember(g, [e.label for _, e in ranked[:KEEP_ROWS]], base)
            timings["learning"] = _ms(t1)
        timings["rank"] = _ms(t0)
        frag = why = None
        if fragment:
            t0 = time.perf_counter()
            try:
                frag, why = self._fragment(doc, g.state, items, prefix, cursor, stop)
                if frag is not None and getattr(frag, "note", None):
                    note = f"{note}; {frag.note}" if note else frag.note
            except Cancelled:  # the list is ready: it goes out without the fragment
                why = "the fragment was cancelled"
                note = note or why
            except Exception as exc:  # same as above: the list still goes out
                why = f"the fragment could not be decoded ({type(exc).__name__}: {exc})"
                note = note or why
            timings["fragment"] = _ms(t0)
        timings["total"] = _ms(g.t_start)
        return Completion(items, prefix, g.replace_start, frag, timings, note=note, fragment_reason=why,
                          shown_id=shown_id)

    def _corrected(self, g: Gathered, scores: dict[str, float]) -> dict[str, float]:
        """The scores after the workspace learner's correction (`learning.Learner.scores`)."""
        import numpy as np

        labels = list(g.matching)
        base = np.fromiter(map(scores.__getitem__, labels), np.float64, len(labels))
        learned = np.fromiter((g.matching[label][1].source == "learned" for label in labels), bool, len(labels))
        if learned.any() and not learned.all():
            # a name only the learner offers is unknown to the offline ranking, whose score for it can be
            # anything (the mix gives it a tiny probability): it starts at the lowest score of the others
            base = np.where(learned, np.maximum(base, base[~learned].min()), base)
            scores = dict(zip(labels, base.tolist()))
        g.base = scores
        g.cache = g.learner.cache_features(g.context, labels, learned)
        rows = g.rows if g.rows is not None and g.rows.shape[0] == len(labels) else None
        g.rows = rows
        return dict(zip(labels, g.learner.scores(base, g.cache, rows).tolist()))

    def _remember(self, g: Gathered, shown: list[str], base: dict[str, float]) -> int:
        """Keep the first items of a shown list for its learning event; returns the list's id."""
        import numpy as np

        where = {label: i for i, label in enumerate(g.matching)}
        at = np.fromiter((where[label] for label in shown), np.int64, len(shown))
        sid = next(self._shown_ids)
        self._shown[sid] = Shown(g.learner, g.context, shown,
                                 np.fromiter((base[label] for label in shown), np.float64, len(shown)),
                                 g.cache[at], g.rows[at] if g.rows is not None else None, g.prefix)
        while len(self._shown) > MAX_SHOWN:
            self._shown.popitem(last=False)
        return sid

    def candidate_features(self, uri: str, line: int, utf16_col: int) -> CandidateFeatures | None:
        """The raw scoring signals of every candidate at a position, as the ranking of `complete` sees them
        (None where `complete` would return no list).  For tuning the weights and training rankers."""
        g = self._gather(uri, line, utf16_col, None)
        if isinstance(g, Completion):
            return None
        feats = self._features({k: v[1] for k, v in g.matching.items()}, g.doc, g.cursor, g.prefix, g.member_op,
                               g.state, g.near, g.ngrams, g.project)
        return CandidateFeatures(g.prefix, g.member_op, g.doc.ident_total, g.state is not None,
                                 {label: (tier, feats[label]) for label, (tier, _) in g.matching.items()})

    # -- the learned ranker ---------------------------------------------------------------------------------------
    ranker = None                   # a `ranker.Ranker` when the artifact carries one and it loads
    ranker_file = None              # the one for positions without project evidence (optional; else `ranker`)
    ranker_after = None             # the one for project evidence with code after the cursor on its line (optional)
    ranker_problem: str | None = None
    _ranker_on = True

    def use_ranker(self, on: bool) -> None:
        """Rank with the artifact's learned ranker (when it has one) or with the hand-set mix."""
        self._ranker_on = on

    def _rank(self, g: Gathered, note: str | None) -> tuple[dict[str, float], str | None]:
        """Scores of the matching candidates: the learned ranker when present, else the hand-set mix; a failing
        ranker costs the ranking quality, never the list."""
        # regimes with different signals: with project evidence at the position (a workspace index), and without
        # it (a lone file); with project evidence, code after the cursor on its line or none (a line being
        # written): an artifact may carry a ranker trained for each
        if g.project is None and self.ranker_file is not None:
            ranker = self.ranker_file
        elif g.after is not None and self.ranker_after is not None:
            ranker = self.ranker_after
        else:
            ranker = self.ranker
        if ranker is not None and self._ranker_on and g.matching:
            try:
                labels, rows = self._ranker_rows(g)
                g.rows = rows
                return dict(zip(labels, ranker.score(rows).tolist())), note
            except Exception as exc:
                note = note or f"the ranker failed ({type(exc).__name__}: {exc}); ranked with the hand-set mix"
        return self._score({k: v[1] for k, v in g.matching.items()}, g.doc, g.cursor, g.prefix, g.member_op,
                           g.state, g.near, g.ngrams, g.project), note

    def _ranker_rows(self, g: Gathered):
        from codecomp.engine.ranker import feature_rows

        base = self._features({k: v[1] for k, v in g.matching.items()}, g.doc, g.cursor, g.prefix, g.member_op,
                              g.state, g.near, g.ngrams, g.project, matrix=True)
        model = getattr(self, "model", None) if g.state is not None else None
        return feature_rows(g.matching, base, g.doc, g.cursor, g.prefix, g.member_op, g.state,
                            model.index if model is not None else None, g.near, after_lift=g.after)

    def ranker_rows(self, uri: str, line: int, utf16_col: int):
        """(labels, feature rows) of every candidate at a position, exactly as the learned ranker would see them
        (None where `complete` would return no list).  For training and measuring rankers."""
        g = self._gather(uri, line, utf16_col, None)
        if isinstance(g, Completion):
            return None
        return self._ranker_rows(g)

    # hooks the neural engine overrides
    def _model_state(self, doc: Document, pstart: int, stop: Callable[[], bool] | None = None):
        return None

    def _model_words(self, state, prefix: str) -> tuple[list[str], list[str]]:
        return [], []

    def _score(self, pool, doc: Document, cursor: int, prefix: str, member_op: str | None, state,
               near=None, ngrams=None, project=None) -> dict[str, float]:
        return score_pool(pool, doc, cursor, prefix, member_op, near=near, ngrams=ngrams, project=project)

    def _features(self, pool, doc: Document, cursor: int, prefix: str, member_op: str | None, state,
                  near=None, ngrams=None, project=None, matrix: bool = False):
        """`scoring.candidate_features` (`matrix`: `scoring.feature_matrix`, rows in the order of `pool`)."""
        fn = feature_matrix if matrix else candidate_features
        return fn(pool, doc, cursor, prefix, member_op, near=near, ngrams=ngrams, project=project)

    def _fragment(self, doc: Document, state, items: list[Candidate], prefix: str, cursor: int,
                  stop: Callable[[], bool] | None = None) -> tuple[Fragment | None, str | None]:
        """(fragment, None), or (None, why there is none in words)."""
        return None, "fragments need the token model, and this engine has none"

    # -- naming --------------------------------------------------------------------------------------------------
    artifact = None                 # the loaded artifact, when there is one (the fallback may hold a naming-only one)
    threads = 1
    _naming_model = None
    _naming_error: str | None = None

    def naming_model(self):
        """The artifact's naming model (a `codecomp.engine.naming.NameSuggester`), loaded on first use; None
        without one or when it is broken (`naming_problem` says why)."""
        if (self._naming_model is None and self._naming_error is None and self.artifact is not None
                and self.artifact.has("naming")):
            from codecomp.engine.naming import NameSuggester

            try:
                self._naming_model = NameSuggester.from_artifact(self.artifact, threads=self.threads)
            except Exception as exc:  # a broken naming part must not take completion down with it
                self._naming_error = f"the naming model could not be loaded: {exc}"
        return self._naming_model

    def suggest_names(self, uri: str, line: int, utf16_col: int, k: int = 5, *,
                      should_stop: Callable[[], bool] | None = None, deadline: float | None = None
                      ) -> NameSuggestions:
        """Names for the variable, parameter or function at a position, with all occurrences to rename.

        `should_stop` / `deadline` as in `complete`: checked between the stages (parse, analysis, model); a
        stopped request returns no names and the reason "cancelled".
        """
        stop = _stopper(should_stop, deadline)
        try:
            with foreground():
                return self._suggest_names(uri, line, utf16_col, k, stop)
        except Cancelled as exc:
            return NameSuggestions("", [], [], reason=f"cancelled: {exc}")

    def _suggest_names(self, uri: str, line: int, utf16_col: int, k: int,
                       stop: Callable[[], bool] | None) -> NameSuggestions:
        doc = self.store.get(uri)
        if doc is None:
            return NameSuggestions("", [], [], reason=f"{uri} is not open in the engine")
        if doc.too_large:
            return NameSuggestions("", [], [], reason="the file is too large to analyse")
        doc.begin_request()
        from codecomp.syntax import ParsedFile
        from codecomp.syntax.tokens import tokenize
        from codecomp.engine import naming

        _check(stop)
        tree = doc.ensure_parsed()
        if tree is None:
            return NameSuggestions("", [], [], reason=doc.syntax_off or "the file is still being parsed")
        parsed = ParsedFile(doc.lang, doc.source, tree, tokenize(tree, doc.source, doc.lang))
        cursor = doc.byte_of(max(line, 0), max(utf16_col, 0))
        _check(stop)
        suggester = self.naming_model()
        _check(stop)
        found = naming.find_symbol(parsed, cursor)
        if isinstance(found, str):
            return NameSuggestions("", [], [], reason=found)
        symbol, spans = found
        if suggester is not None:
            names, reason = suggester.suggest(parsed, symbol, k)
        else:
            names, reason = [], self.naming_problem()
        ranges = [(doc.position_of_byte(a), doc.position_of_byte(b)) for a, b in spans]
        return NameSuggestions(symbol.name, ranges, names, kind=symbol.kind, reason=reason)

    def naming_problem(self) -> str:
        """Why names cannot be suggested by this engine."""
        return self.problem or "the model has no naming part; rename suggestions need a model trained with `codecomp train tree`"


class FallbackEngine(BaseEngine):
    """Completion without a model: identifiers of the open documents ranked by frequency and recency, keywords.

    `problem` holds a user-facing sentence about why the model is not used (None when chosen deliberately).
    """

    name = "fallback"

    def __init__(self, problem: str | None = None, max_contexts: int = 16, artifact=None, threads: int = 1) -> None:
        super().__init__(max_contexts)
        self.problem = problem
        # an artifact without a token model may still hold a naming model: rename suggestions keep working
        self.artifact = artifact
        self.threads = threads

    def naming_problem(self) -> str:
        """Why names cannot be suggested by this engine."""
        if self._naming_error:
            return self._naming_error
        if self.artifact is not None and not self.artifact.has("naming"):
            return "the model has no naming part; rename suggestions need a model trained with `codecomp train tree`"
        return self.problem or "no model is loaded, so names cannot be suggested"


class Engine(BaseEngine):
    """Neural completion engine backed by an artifact's ONNX graphs."""

    name = "neural"

    def __init__(self, artifact, threads: int = 1, max_contexts: int = 16) -> None:
        from codecomp.engine.models import TokenModel

        super().__init__(max_contexts)
        self.artifact = artifact
        self.threads = threads
        if not artifact.has("token"):
            raise ArtifactError(
                f"The artifact at {artifact.path} has no token model, which completion needs; export a token run "
                "into it with `codecomp export --run RUN --out ARTIFACT`."
            )
        self.model = TokenModel(artifact, threads=threads)
        for slot in ("ranker", "ranker_file", "ranker_after"):
            if artifact.has(slot):
                self._load_ranker(artifact, slot, threads)

    def _load_ranker(self, artifact, slot: str, threads: int) -> None:
        """One of the artifact's learned rankers (`slot`: "ranker", "ranker_file" for positions without
        project evidence, "ranker_after" for those with it and code after the cursor on its line); one that does
        not fit this engine is reported and the mix ranks instead."""
        from codecomp.engine.ranker import Ranker, RankerError

        info = artifact.models[slot]
        try:
            setattr(self, slot, Ranker(artifact.session(str(info.get("file", f"{slot}.onnx")), threads=threads), info))
        except (RankerError, ArtifactError) as exc:
            self.ranker_problem = f"The learned ranker is not used: {exc}"
        except Exception as exc:  # a broken graph: complete with the hand-set mix
            self.ranker_problem = f"The learned ranker could not be loaded ({type(exc).__name__}: {exc})."

    @classmethod
    def load(cls, model_path: str | Path | None = None, threads: int = 1, max_contexts: int = 16) -> BaseEngine:
        """A neural engine for the artifact at `model_path` (None: the shipped default), else a `FallbackEngine`.

        This is the one place that decides what completes when the model cannot: a missing or broken model (any
        error while reading the artifact or opening its graphs) gives the fallback engine, whose `.problem` says
        in words what went wrong and how to fix it.  Never raises for a model problem.
        """
        path = Path(model_path) if model_path is not None else default_path()
        if model_path is None and not (path / "manifest.json").is_file():
            return FallbackEngine(
                "No default model is installed, so completions come from the words of your open files. "
                "Train and export one (`codecomp train token`, `codecomp export`) and pass it with --model "
                "or the codecomp.modelPath setting.", max_contexts)
        try:
            artifact = load_artifact(path)
        except Exception as exc:
            return FallbackEngine(_unusable(exc), max_contexts)
        try:
            return cls(artifact, threads=threads, max_contexts=max_contexts)
        except Exception as exc:
            # e.g. a naming-only artifact: completion falls back, rename suggestions still use the model
            return FallbackEngine(_unusable(exc), max_contexts, artifact=artifact, threads=threads)

    # -- neural hooks --------------------------------------------------------------------------------------------
    _has_track = True
    fragment_mode = "beam"          # "greedy": the single-path decoder of earlier versions (for comparisons)
    fragment_threshold = OFFER_THRESHOLD  # a fragment less likely than this to be exactly right is not shown
    fragment_width = 5              # live hypotheses of the beam
    fragment_max_tokens = 16        # tokens of a fragment at most
    fragment_budget_ms = 20.0       # the beam stops growing lines after this long, and the syntax checks stop
                                    # after 1.5 times this once a candidate passed (not in the evaluation)

    def _fill_track(self, doc: Document, deadline: float, should_stop: Callable[[], bool] | None) -> None:
        try:
            while doc.track_pending and time.perf_counter() < deadline and not (should_stop and should_stop()):
                self.model.context(doc.track, doc.extend_track(), should_stop=should_stop)
        except Cancelled:
            pass  # a request is waiting: the steps done so far are kept, the track goes on next time
        except Exception as exc:  # idle work only: requests still get windows of the model
            doc.track_off = f"the model failed on this document ({type(exc).__name__}: {exc})"
            doc.track.reset()

    def _model_state(self, doc: Document, pstart: int, stop: Callable[[], bool] | None = None):
        tokens = doc.code_tokens_before(pstart)
        if tokens is None:
            return None  # no tree of the current text yet: no model context (the list is ranked without it)
        ctx = doc.context
        self.model.context(ctx, tokens, should_stop=stop)
        return self.model.cached_distribution(ctx, lang=doc.lang)

    def _model_words(self, state, prefix: str) -> tuple[list[str], list[str]]:
        if state is None:
            return [], []
        import numpy as np

        words = getattr(state, "top_words", None)
        if words is None:  # once per model state: typing inside a word reuses it
            p = state.p_vocab
            k = min(MODEL_WORDS, p.shape[0] - 1)
            top = np.argpartition(-p, k)[:k] if k > 0 else np.arange(p.shape[0])
            # a word the document's language never uses (masked to probability 0) is no candidate
            words = state.top_words = [self.model.vocab[int(i)] for i in top if p[int(i)] > 0.0]
        if prefix:
            low = prefix[:1].lower()
            words = [w for w in words if w[:1].lower() == low]
        return words, list(state.copy)

    def _score(self, pool, doc: Document, cursor: int, prefix: str, member_op: str | None, state,
               near=None, ngrams=None, project=None) -> dict[str, float]:
        return score_pool(pool, doc, cursor, prefix, member_op, dist=state, model=self.model if state else None,
                          near=near, ngrams=ngrams, project=project)

    def _features(self, pool, doc: Document, cursor: int, prefix: str, member_op: str | None, state,
                  near=None, ngrams=None, project=None, matrix: bool = False):
        fn = feature_matrix if matrix else candidate_features
        return fn(pool, doc, cursor, prefix, member_op, dist=state, model=self.model if state else None, near=near,
                  ngrams=ngrams, project=project)

    def _fragment(self, doc: Document, state, items: list[Candidate], prefix: str, cursor: int,
                  stop: Callable[[], bool] | None = None) -> tuple[Fragment | None, str | None]:
        if state is None or doc.context.last is None:
            return None, "the token model has not read the code before the cursor"
        if doc.source[cursor:cursor + 1].decode("latin-1").isalnum() or doc.source[cursor:cursor + 1] in (b"_", b"$"):
            # a fragment would have to splice the rest of the word
            return None, "the cursor is inside a word"
        tree = doc.ensure_parsed()  # the checks read the document's own tree (the list read `request_tree`)
        if tree is not None and any(t.start_byte < cursor < t.end_byte for t in
                                    tokens_in_range(tree, doc.source, doc.lang, cursor - 1, cursor + 1)):
            # such as `&|&` or `!|=`: nothing sensible starts there
            return None, "the cursor is inside an operator"
        if self.fragment_mode != "greedy":
            return self._line_fragment(doc, state, items, prefix, cursor, stop)
        if prefix:
            if not items:
                return None, "no identifier starts with the typed prefix"
            first = items[0].label
        else:
            from codecomp.engine.fragments import _best_token, UNRENDERABLE

            first, p = _best_token(self.model, state)
            if first in UNRENDERABLE or p <= 0.0:
                return None, "the most likely next token is a string, a number or unknown: it has no text to show"
        line_start = doc.source.rfind(b"\n", 0, cursor) + 1
        line_end = doc.source.find(b"\n", cursor)
        line_end = len(doc.source) if line_end < 0 else line_end
        before = doc.source[line_start:cursor - len(prefix.encode())].decode("utf-8", "replace")
        after = doc.source[cursor:line_end].decode("utf-8", "replace")
        ctx = doc.context
        mem = ctx.dist[2] if ctx.dist is not None and ctx.dist[0] is ctx.last else self.model.memory_of(ctx.keys)
        return decode(self.model, ctx.last, mem, ctx.texts, first, doc.lang, after, before, should_stop=stop)

    def _line_candidates(self, doc: Document, state, items: list[Candidate], prefix: str, cursor: int,
                         stop: Callable[[], bool] | None, weights=None):
        """(every candidate rest of the line best first, where the line is (lo, hi), pstart): the beam's lines
        and the document's repeated continuations (`fragments.line_candidates`)."""
        from codecomp.engine.beam import SearchSpec
        from codecomp.engine.fragments import WEIGHTS, line_candidates
        from codecomp.engine.linestats import LineStats, lex, open_stack

        model, src = self.model, doc.source
        pstart = cursor - len(prefix.encode("utf-8", "surrogatepass"))
        line_lo = src.rfind(b"\n", 0, pstart) + 1
        line_hi = src.find(b"\n", cursor)
        line_hi = len(src) if line_hi < 0 else line_hi
        line_tokens = [t for t, _ in lex(src[max(line_lo, pstart - LINE_WINDOW):pstart])]
        rest = lex(src[cursor:min(line_hi, cursor + LINE_WINDOW)])
        stats = LineStats.of(src, line_lo, line_hi, cache=doc.extra.setdefault("line_stats", {}))
        repeats = stats.repeats(line_tokens, prefix)
        ctx = doc.context
        mem = ctx.dist[2] if ctx.dist is not None and ctx.dist[0] is ctx.last else model.memory_of(ctx.keys)
        prev = ctx.texts[-1] if ctx.texts and ctx.texts[-1] != "<bos>" else None
        top = items[0].label if items else None
        first = None
        if prefix:
            first = [(it.label, max(state.prob(it.label, model.index.get(it.label)), 1e-4)) for it in items[:4]]
        spec = SearchSpec(ctx.last, mem, ctx.texts, doc.lang, open_stack(src[max(0, pstart - LINE_WINDOW):pstart]),
                          prev, not line_tokens, first,
                          rest_first=rest[0][0].decode("utf-8", "replace") if rest else None,
                          also_first=[top] if top and not prefix else [], width=self.fragment_width,
                          max_tokens=self.fragment_max_tokens,
                          budget_s=self.fragment_budget_ms / 1000.0 if doc.background_analysis else None)
        project = self._project_repeats(doc, stats, line_tokens, prefix)
        cands = line_candidates(model, spec, stats, repeats, top, doc.lang, stop,
                                weights if weights is not None else WEIGHTS, project)
        return [c for c in cands if c.text and c.text != prefix], (line_lo, line_hi), pstart

    _project_lines = None

    def _read_project_lines(self, budget_s: float, should_stop: Callable[[], bool] | None = None) -> None:
        pl = self._idle_project_lines()
        if pl is not None:
            try:
                pl.update(budget_s, should_stop)
            except Exception:  # idle work only: fragments go on without the project's lines
                self._project_lines = None
                self.workspace_lines_off = True

    def _project_lines_pending(self) -> bool:
        pl = self._idle_project_lines()
        return pl is not None and pl.pending()

    def _idle_project_lines(self):
        """`project_lines` for idle work, told the document being edited (the most recent one); None without a
        workspace or an open document."""
        pl = self.project_lines() if self.store.docs else None
        if pl is not None:
            pl.current = uri_to_path(next(reversed(self.store.docs)))
        return pl

    workspace_lines_off = False

    def project_lines(self):
        """The workspace's lines for fragments (`projectlines.ProjectLines`), None without a workspace."""
        if self.workspace is None or self.workspace_lines_off:
            return None
        pl = self._project_lines
        if pl is None or pl.index is not self.workspace:
            from codecomp.engine.projectlines import ProjectLines

            def open_text(path: str) -> str | None:
                for uri, d in self.store.docs.items():
                    if uri_to_path(uri) == path:
                        return d.text
                return None

            pl = self._project_lines = ProjectLines(self.workspace, open_text)
        return pl

    def _project_repeats(self, doc: Document, stats, line_tokens: list[bytes], prefix: str) -> list:
        """The project's continuations of the current line (none without a workspace or a file path); the
        workspace's files are read a few milliseconds per request (all of them when nothing runs in the
        background, as in the evaluation)."""
        path = uri_to_path(doc.uri) if self.workspace is not None else None
        pl = self.project_lines() if path is not None else None
        if pl is None:
            return []
        try:
            pl.current = path
            pl.update(PROJECT_LINES_MS / 1000.0 if doc.background_analysis else None)
            return pl.lookup(path, stats.previous_line()[-2:], line_tokens, prefix)
        except Exception:  # evidence only: the fragment goes on without the project's lines
            return []

    def _line_fragment(self, doc: Document, state, items: list[Candidate], prefix: str, cursor: int,
                       stop: Callable[[], bool] | None) -> tuple[Fragment | None, str | None]:
        """The rest of the line (`fragment_mode` "beam"): the best of the beam's lines and the document's
        repeated continuations by calibrated probability, checked with tree-sitter, offered when that
        probability reaches `fragment_threshold` (docs/design.md, section 5, Fragments)."""
        from codecomp.engine.fragments import pick, syntax_effect

        t_start = time.perf_counter()
        cands, (line_lo, line_hi), pstart = self._line_candidates(doc, state, items, prefix, cursor, stop)
        if not cands:
            return None, "no continuation of the line is likely enough to show"
        if doc.tree is not None and not doc.dirty:
            editor = doc.background_analysis  # bounded in the editor; every check runs to the end in the evaluation
            deadline = t_start + self.fragment_budget_ms * 1.5 / 1000.0 if editor else None
            limit = self.fragment_budget_ms / 2000.0 if editor else None
            chosen, _ = pick(cands, lambda c: syntax_effect(doc.tree, doc.source, doc.lang, pstart, cursor, c.text,
                                                            line_lo, line_hi, limit), deadline)
        else:
            chosen = cands[0]  # no tree of the current text: nothing to check against
        if chosen is None:
            return None, "every likely continuation of the line would add a syntax error to it"
        if chosen.confidence < self.fragment_threshold:
            return None, (f"the best continuation `{chosen.text}` is exact with probability {chosen.confidence:.2f}, "
                          f"below the {self.fragment_threshold:.2f} needed to show it")
        frag = Fragment(text=chosen.text, score=round(chosen.confidence, 4))
        top = items[0].label if items else None
        if top is not None and chosen.tokens[0] != top:
            why = (f"the same line continues this way at line {chosen.repeat.line + 1} of the file"
                   if chosen.repeat is not None else
                   "the model and the file's line statistics put more probability on it")
            frag.note = f"the fragment starts with `{chosen.tokens[0]}` rather than the top item `{top}`: {why}"
        return frag, None

    def line_candidates(self, uri: str, line: int, utf16_col: int, weights=None
                        ) -> list[tuple[object, tuple[int, int]]] | None:
        """Every candidate rest of the line at a position with its `fragments.syntax_effect` (errors added to the
        line, to the code after it), as the fragment decoder sees them (None where `complete` would decode no
        fragment).  For tuning `fragments.WEIGHTS`, the calibration and the threshold."""
        from codecomp.engine.fragments import syntax_effect

        g = self._gather(uri, line, utf16_col, None)
        if isinstance(g, Completion) or g.state is None or g.doc.context.last is None:
            return None
        scores, _ = self._rank(g, None)
        ranked = heapq.nsmallest(50, ((order_key(tier, scores[label], label), entry)
                                      for label, (tier, entry) in g.matching.items()), key=_FIRST)
        items = [Candidate(e.label, e.kind, scores[e.label], e.source) for _, e in ranked]
        doc, cursor = g.doc, g.cursor
        doc.ensure_parsed()
        cands, (lo, hi), pstart = self._line_candidates(doc, g.state, items, g.prefix, cursor, None, weights)
        out = []
        for cand in cands:
            effect = (0, 0) if doc.tree is None or doc.dirty else \
                syntax_effect(doc.tree, doc.source, doc.lang, pstart, cursor, cand.text, lo, hi)
            out.append((cand, effect))
        return out

    def naming_problem(self) -> str:
        """Why names cannot be suggested by this engine."""
        if self._naming_error:
            return self._naming_error
        return "the model has no naming part; rename suggestions need a model trained with `codecomp train tree`"
