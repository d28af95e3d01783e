"""The engine host: the completion engine and the one worker thread that every engine call runs on.

The server never calls the engine on its event loop: it hands jobs to `EngineHost.submit`, which runs them one
at a time on the worker, in order of priority (`LOAD`, `URGENT`, `NORMAL`, `IDLE`; first come, first served
within one).  The engine is driven through its declared API, `codecomp.engine.types.CompletionEngine`.

What completes when the model cannot: `Engine.load` decides (its `FallbackEngine`, with a `.problem` for the
user).  The host adds no fallback of its own; when the engine cannot even be created (a broken install),
`load` raises, the host holds no engine, and the server answers from the words of the file.
"""
from __future__ import annotations

import concurrent.futures
import itertools
import logging
import queue
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

from codecomp.engine.types import Completion, CompletionEngine, NameSuggestions
from lsp_server import gc_policy

if TYPE_CHECKING:
    from codecomp.engine.learning import Learning
    from codecomp.engine.workspace import WorkspaceIndex

log = logging.getLogger("codecomp.lsp")

# Priorities of the worker's queue (lower first; first come, first served within one). Everything runs as
# URGENT, in order, except the work of documents over SMALL_DOCUMENT_BYTES (their sync at didOpen and their
# requests: NORMAL), so that a large file being opened or analysed never makes the other documents wait for it,
# and idle work, which comes last. Lifecycle jobs (close, workspace) keep their order with the requests.
# Loading the engine goes before everything: a request must never be served by the old engine, or by none, when
# a load was asked for first.
LOAD, URGENT, NORMAL, IDLE = -1, 0, 1, 2
SMALL_DOCUMENT_BYTES = 256 << 10


@dataclass(frozen=True)
class Snapshot:
    """A consistent view of a document taken on the event loop, safe to use on the worker thread."""

    uri: str
    text: str
    version: int
    lang: str
    generation: int = 0  # which didOpen of this URI the text belongs to (a URI may be reopened)
    # (version before, edit): the one edit that made this text from that version (`Document.last_edit`)
    edit: tuple[int, tuple[int, int, int, int, str]] | None = None


class EngineHost:
    """Owns the engine and the single worker thread that every engine call runs on, taking jobs from a priority
    queue.  The methods below `submit` and `shutdown` run on the worker."""

    def __init__(self) -> None:
        self._queue: queue.PriorityQueue = queue.PriorityQueue()
        self._order = itertools.count()
        self._worker = threading.Thread(target=self._work, name="codecomp-engine", daemon=True)
        self._worker.start()
        self.engine: CompletionEngine | None = None
        self._versions: dict[str, tuple[int, int]] = {}  # uri -> (generation, version) the engine holds
        self.delay_s = 0.0  # simulateSlowEngineMs: makes every engine call slow, to check the time bound
        self.workspace: WorkspaceIndex | None = None  # the project index the engine is given (kept across reloads)
        self.learning: Learning | None = None  # what was learned from the user (kept across reloads)
        self.learning_on = False               # whether the engine uses it (setting learnFromUser)

        self.running_since: float | None = None  # when the job now on the worker started
        self.waited_ms = 0.0  # how long the job now on the worker waited in the queue
        self.idle_pending = False  # the engine had background work after the last job (read by the loop)
        self.idle_after_s = 0.0    # ... and the pause in requests it waits for (`Engine.idle_delay`)

    def submit(self, fn: Callable[..., Any], *args: Any, priority: int = URGENT) -> concurrent.futures.Future:
        fut: concurrent.futures.Future = concurrent.futures.Future()
        fut.queued_at = time.perf_counter()  # type: ignore[attr-defined]  (the wait is logged at debug level)
        self._queue.put((priority, next(self._order), fut, fn, args))
        return fut

    def _work(self) -> None:
        while True:
            _, _, fut, fn, args = self._queue.get()
            if fut is None:
                return
            if not fut.set_running_or_notify_cancel():
                continue
            self.waited_ms = (time.perf_counter() - fut.queued_at) * 1e3
            try:
                fut.set_result(self._timed(fn, *args))
            except BaseException as exc:  # handed to whoever waits on the future
                fut.set_exception(exc)

    def _timed(self, fn: Callable[..., Any], *args: Any) -> Any:
        self.running_since = time.monotonic()
        try:
            return fn(*args)
        finally:
            self.running_since = None
            engine = self.engine
            self.idle_pending = pending = engine is not None and engine.has_idle_work()
            self.idle_after_s = engine.idle_delay() if pending else 0.0

    def stuck_for(self) -> float:
        """Seconds the current worker job has been running (0 when idle)."""
        since = self.running_since
        return 0.0 if since is None else time.monotonic() - since

    def shutdown(self) -> None:
        while True:  # cancel what has not started, then stop the worker
            try:
                _, _, fut, _, _ = self._queue.get_nowait()
            except queue.Empty:
                break
            if fut is not None:
                fut.cancel()
        self._queue.put((LOAD - 1, -1, None, None, None))

    # -- worker-thread functions ----------------------------------------------------------------
    def load(self, model_path: str | None) -> str | None:
        """Load the engine for `model_path` (None: the shipped model); returns its problem (a sentence for the
        user) when it could not use the model.  Raises only when no engine can be created at all."""
        t0 = time.perf_counter()
        self._versions.clear()
        self.engine = None  # if the load raises, requests are answered without an engine
        from codecomp.engine import Engine

        engine = Engine.load(model_path)
        self.engine = engine
        if self.workspace is not None:
            engine.set_workspace(self.workspace)
        if self.learning_on and self.learning is not None:
            engine.set_learning(self.learning)
        gc_policy.settle()  # the model's objects live as long as the engine: keep them out of later collections
        log.info("engine %s loaded in %.0f ms (problem: %s)", type(engine).__name__,
                 (time.perf_counter() - t0) * 1e3, engine.problem)
        return engine.problem

    def sync(self, snap: Snapshot) -> bool:
        """Bring the engine's copy of the document to `snap`; False when it already holds a newer one."""
        if self.engine is None:
            return True
        held = self._versions.get(snap.uri)
        want = (snap.generation, snap.version)
        if held is not None and held > want:
            return False
        if held == want:
            return True
        try:
            if held is not None and held[0] != snap.generation:
                self._forget(snap.uri)  # the document was reopened: start from its new text
                held = None
            if held is None:
                self.engine.open(snap.uri, snap.text, snap.lang, snap.version)
            elif snap.edit is not None and held == (snap.generation, snap.edit[0]):
                self.engine.change(snap.uri, snap.text, snap.version, edit=snap.edit[1])
            else:
                self.engine.change(snap.uri, snap.text, snap.version)
            self._versions[snap.uri] = want
        except Exception:
            log.exception("engine could not take %s version %s", snap.uri, snap.version)
            self._forget(snap.uri)
            raise
        return True

    def close(self, uri: str) -> None:
        if self.engine is not None and uri in self._versions:
            self._forget(uri)

    def idle(self, budget_s: float = 0.02, snap: Snapshot | None = None) -> bool:
        """A slice of the engine's background work (the next request prepared, unfinished parses, the model
        track), which yields as soon as another job is queued; True while some remains.  `snap`: the latest
        text of the document being edited, handed to the engine first."""
        if self.engine is None:
            return False
        if snap is not None:
            try:
                self.sync(snap)
            except Exception:  # logged by `sync`; the request that comes next tries again
                return self.engine.has_idle_work()
        t0 = time.perf_counter()
        more = self.engine.work_in_idle(budget_s, should_stop=self.has_waiting_jobs)
        spent = time.perf_counter() - t0
        if spent > 2 * budget_s + 0.005:  # a step that could not stop in time makes a request wait behind it
            log.debug("idle work (%s) ran %.1f ms for a %.1f ms slice", self.engine.idle_work, spent * 1e3,
                      budget_s * 1e3)
        return more

    def has_waiting_jobs(self) -> bool:
        """Whether a job waits in the worker's queue."""
        return not self._queue.empty()

    def set_workspace(self, index: WorkspaceIndex | None) -> None:
        """Give the engine the project index (None: no project context)."""
        self.workspace = index
        if self.engine is not None:
            self.engine.set_workspace(index)

    # -- learning from the user (codecomp.engine.learning) ---------------------------------------------------------
    def configure_learning(self, on: bool, persist: bool, folders: list[str]) -> list[str]:
        """Learn from the user (`on`) in these workspace folders, persisting or not; returns the problems met
        (sentences for the user)."""
        from codecomp.engine.learning import Learning

        if self.learning is None:
            self.learning = Learning()
        self.learning.set_folders(folders)
        self.learning.set_persist(persist)
        self.learning_on = on
        if self.engine is not None:
            self.engine.set_learning(self.learning if on else None)
        return self._learning_problems()

    def _learning_problems(self) -> list[str]:
        if self.learning is None:
            return []
        problems, self.learning.problems = self.learning.problems, []
        return problems

    def learn(self, shown_id: int, label: str, accepted: bool) -> bool:
        """One learning event (see `codecomp.engine.learning`); False when it was not counted."""
        if self.engine is None or not self.learning_on:
            return False
        return self.engine.learn(shown_id, label, accepted)

    def save_learning(self) -> tuple[list[str], list[str]]:
        """Write what was learned when persistence is on: (files written, problems)."""
        if self.learning is None:
            return [], []
        return self.learning.save(), self._learning_problems()

    def reset_learning(self) -> tuple[list[str], list[str]]:
        """Forget what was learned, its files included: (files removed, problems)."""
        if self.learning is None:
            return [], []
        removed = self.learning.reset()
        if self.engine is not None and self.learning_on:
            self.engine.set_learning(self.learning)  # forgets the lists shown before the reset too
        return removed, self._learning_problems()

    def sync_workspace(self, snaps: list[Snapshot]) -> None:
        """Bring the engine to these snapshots, then hand the changed texts to the project index."""
        if self.engine is None:
            return
        for snap in snaps:
            try:
                self.sync(snap)
            except Exception:  # logged by sync; the other documents still go to the index
                continue
        self.engine.sync_workspace()

    def _forget(self, uri: str) -> None:
        self._versions.pop(uri, None)
        if self.engine is None:
            return
        try:
            self.engine.close(uri)
        except Exception:
            log.debug("engine.close(%s) failed", uri, exc_info=True)

    def _slow(self, cancel: threading.Event) -> None:
        if self.delay_s:
            cancel.wait(self.delay_s)  # a cancelled request stops waiting at once

    def complete(self, snap: Snapshot, line: int, col: int, max_items: int, fragment: bool,
                 cancel: threading.Event) -> Completion | None:
        """The engine's completion at (line, UTF-16 col) of `snap`; None when there is no engine, the request
        was cancelled, or the engine holds a newer version of the document."""
        self._slow(cancel)
        t0 = time.perf_counter()
        if cancel.is_set() or self.engine is None or not self.sync(snap):
            return None
        t1 = time.perf_counter()
        result = self.engine.complete(snap.uri, line, col, max_items=max_items, fragment=fragment,
                                      should_stop=cancel.is_set)
        if log.isEnabledFor(logging.DEBUG):
            log.debug("completion at %d:%d of %s: queued %.1f ms, sync %.1f ms, engine %.1f ms %s", line, col,
                      snap.uri, self.waited_ms, (t1 - t0) * 1e3, (time.perf_counter() - t1) * 1e3,
                      result.timings)
        return result

    def suggest_names(self, snap: Snapshot, line: int, col: int, k: int,
                      cancel: threading.Event) -> NameSuggestions | None:
        """Name suggestions for the symbol at (line, UTF-16 col); None as for `complete`."""
        self._slow(cancel)
        if cancel.is_set() or self.engine is None or not self.sync(snap):
            return None
        return self.engine.suggest_names(snap.uri, line, col, k=k, should_stop=cancel.is_set)
