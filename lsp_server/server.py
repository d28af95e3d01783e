"""The codecomp language server: thin pygls handlers over `codecomp.engine.Engine`.

Threading model: the event loop owns the documents and the protocol; the engine lives on ONE worker thread
(`EngineHost`), so engine calls never block the loop; they run in order of priority (requests on documents of
up to 256 KB first, then the rest, idle work last) and in order of arrival within one.  A request takes a snapshot of its
document (text + version), hands the engine work to the worker and waits at most `requestTimeoutMs`; when
the worker is late the request is answered from the words of the file instead, so the editor is never kept
waiting.  $/cancelRequest cancels work that has not started; results computed for a version the client
has since edited are dropped.  The server never opens the files behind the URIs of the documents it is sent:
an open document is its editor text.  The project index (`lsp_server/project.py`, setting `workspaceIndex`)
reads the other source files of the workspace folders in the background; the engine uses it for project
context, and an open document replaces its file's disk copy there from didOpen to didClose.
"""
from __future__ import annotations

import asyncio
import concurrent.futures
import inspect
import itertools
import logging
import os
import queue
import stat
import sys
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable

from lsprotocol import types
from pygls.lsp.server import LanguageServer

from lsp_server import __version__
from lsp_server.convert import completion_items, edit_range, inline_items, occurrence_offsets
from lsp_server.documents import UTF16, Document, DocumentError, DocumentStore
from lsp_server.lexical import complete_words, prefix_at
from lsp_server.project import ProjectIndexer
from lsp_server.protocol import CodecompProtocol, StreamReaderAdapter, ThreadedReader, read_loop
from lsp_server.settings import LOG_LEVELS, Settings, parse_settings

log = logging.getLogger("codecomp.lsp")

LANGUAGE_IDS = {
    "cpp": "cpp", "c++": "cpp", "cuda-cpp": "cpp", "c": "cpp", "objective-cpp": "cpp",
    "javascript": "javascript", "javascriptreact": "javascript", "js": "javascript", "jsx": "javascript",
}
EXTENSIONS = {
    **{ext: "cpp" for ext in (".cc", ".cpp", ".cxx", ".c++", ".h", ".hpp", ".hh", ".hxx", ".ipp", ".tcc", ".inl", ".c")},
    **{ext: "javascript" for ext in (".js", ".mjs", ".cjs", ".jsx")},
}


def language_of(language_id: str, uri: str) -> str | None:
    """The engine language of a document, from its languageId, else from its extension."""
    lang = LANGUAGE_IDS.get((language_id or "").lower())
    if lang:
        return lang
    path = uri.split("?", 1)[0].split("#", 1)[0].lower()
    for ext, lang in EXTENSIONS.items():
        if path.endswith(ext):
            return lang
    return None


SUPERSEDED = object()  # run_engine's result for a request that a newer one of its kind replaced


def _consume(fut: "asyncio.Future[Any]") -> None:
    if not fut.cancelled():
        fut.exception()


@dataclass(frozen=True)
class Snapshot:
    """A consistent view of a document taken on the event loop, safe to use on the worker thread."""

    uri: str
    text: str
    version: int
    lang: str
    generation: int = 0  # which didOpen of this URI the text belongs to (a URI may be reopened)


# Priorities of the engine worker's queue (lower first; first come, first served within one). Everything runs
# as URGENT, in order, except the work of documents over SMALL_DOCUMENT_BYTES (their sync at didOpen and their
# requests: NORMAL), so that a large file being opened or analysed never makes the other documents wait for it,
# and idle work, which comes last. Lifecycle jobs (close, workspace) keep their order with the requests.
# Loading the engine goes before everything: a request must never be served by the old engine, or by none, when
# a load was asked for first.
LOAD, URGENT, NORMAL, IDLE = -1, 0, 1, 2
SMALL_DOCUMENT_BYTES = 256 << 10


class EngineHost:
    """Owns the engine and the single worker thread that every engine call runs on, taking jobs from a priority
    queue (`URGENT`, `NORMAL`, `IDLE`)."""

    def __init__(self) -> None:
        self._queue: queue.PriorityQueue = queue.PriorityQueue()
        self._order = itertools.count()
        self._worker = threading.Thread(target=self._work, name="codecomp-engine", daemon=True)
        self._worker.start()
        self.engine: Any = None
        self.problem: str | None = None
        self.source = "none"
        self._versions: dict[str, tuple[int, int]] = {}  # uri -> (generation, version) the engine holds
        self.delay_s = 0.0  # simulateSlowEngineMs: makes every engine call slow, to check the time bound
        self.workspace: Any = None  # the project index the engine is given (kept across model reloads)

        self.running_since: float | None = None  # when the job now on the worker started
        self.idle_pending = False  # the engine had background work after the last job (read by the loop)

    def submit(self, fn: Callable[..., Any], *args: Any, priority: int = URGENT) -> concurrent.futures.Future:
        fut: concurrent.futures.Future = concurrent.futures.Future()
        self._queue.put((priority, next(self._order), fut, fn, args))
        return fut

    def _work(self) -> None:
        while True:
            _, _, fut, fn, args = self._queue.get()
            if fut is None:
                return
            if not fut.set_running_or_notify_cancel():
                continue
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
            check = getattr(self.engine, "has_idle_work", None)
            self.idle_pending = bool(check is not None and check())

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
        """Load the engine (or its fallback); returns the problem to tell the user, if any."""
        t0 = time.perf_counter()
        self._versions.clear()
        try:
            from codecomp.engine import Engine
        except Exception as exc:  # a broken install: keep serving words of the file
            self.engine, self.source = None, "lexical"
            self.problem = (
                f"codecomp could not load its completion engine ({type(exc).__name__}: {exc}). "
                "Reinstall the package (pip install --force-reinstall codecomp); until then completions "
                "come from the words of the open file."
            )
            log.error("%s", self.problem)
            return self.problem
        try:
            self.engine = Engine.load(model_path)
            self.problem = getattr(self.engine, "problem", None)
        except Exception as exc:
            log.exception("Engine.load failed")
            try:
                self.engine = Engine.load(None)
                self.problem = f"the model at {model_path!r} could not be loaded ({exc}); using the shipped model"
            except Exception:
                self.engine = None
                self.problem = f"the completion engine failed to start ({exc}); completions come from the words of the file"
        self.source = type(self.engine).__name__ if self.engine is not None else "lexical"
        if self.workspace is not None:
            self.set_workspace(self.workspace)
        log.info("engine %s loaded in %.0f ms (problem: %s)", self.source, (time.perf_counter() - t0) * 1e3, self.problem)
        return self.problem

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

    def idle(self, budget_s: float = 0.02) -> bool:
        """A slice of the engine's background work (unfinished parses); True while some remains."""
        work = getattr(self.engine, "work_in_idle", None)
        return bool(work is not None and work(budget_s))

    def set_workspace(self, index: Any) -> None:
        """Give the engine the project index (None: no project context)."""
        self.workspace = index
        if self.engine is not None and hasattr(self.engine, "set_workspace"):
            self.engine.set_workspace(index)

    def sync_workspace(self, snaps: list[Snapshot]) -> None:
        """Bring the engine to these snapshots, then hand the changed texts to the project index."""
        if self.engine is None or not hasattr(self.engine, "sync_workspace"):
            return
        for snap in snaps:
            try:
                self.sync(snap)
            except Exception:  # logged by sync; the other documents still go to the index
                continue
        self.engine.sync_workspace()

    def _forget(self, uri: str) -> None:
        self._versions.pop(uri, None)
        try:
            self.engine.close(uri)
        except Exception:
            log.debug("engine.close(%s) failed", uri, exc_info=True)

    def _slow(self, cancel: threading.Event) -> None:
        if self.delay_s:
            cancel.wait(self.delay_s)  # a cancelled request stops waiting at once

    def complete(self, snap: Snapshot, line: int, col: int, max_items: int, fragment: bool, cancel: threading.Event) -> Any:
        self._slow(cancel)
        if cancel.is_set() or self.engine is None or not self.sync(snap):
            return None
        params = inspect.signature(self.engine.complete).parameters
        extra = {"should_stop": cancel.is_set} if "should_stop" in params else {}  # stop mid-way when cancelled
        if "fragment" in params:
            return self.engine.complete(snap.uri, line, col, max_items=max_items, fragment=fragment, **extra)
        return self.engine.complete(snap.uri, line, col, max_items=max_items, **extra)

    def suggest_names(self, snap: Snapshot, line: int, col: int, k: int, cancel: threading.Event) -> Any:
        self._slow(cancel)
        if cancel.is_set() or self.engine is None or not self.sync(snap):
            return None
        suggest = getattr(self.engine, "suggest_names", None)
        if suggest is not None and "should_stop" in inspect.signature(suggest).parameters:
            return suggest(snap.uri, line, col, k=k, should_stop=cancel.is_set)
        return suggest(snap.uri, line, col, k=k) if suggest else None


class CodecompServer(LanguageServer):
    """Language server state: settings, documents and the engine host."""

    def __init__(self, model_path: str | None = None, log_level: str | None = None) -> None:
        super().__init__(
            "codecomp", __version__, text_document_sync_kind=types.TextDocumentSyncKind.Incremental,
            protocol_cls=CodecompProtocol, max_workers=2,
        )
        self.cli_model_path = model_path
        self.settings = Settings(model_path=model_path, log_level=log_level or "warning")
        self.docs = DocumentStore()
        self.host = EngineHost()
        self.encoding = UTF16
        self.inline_supported = False
        self.exit_code = 0
        self._told: set[str] = set()  # messages already shown once
        self._loaded: concurrent.futures.Future | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.project = ProjectIndexer(self)
        self._idle_queued = False  # a slice of idle work is queued on the engine worker
        # the newest pending request of each kind per document: (its cancel flag, its "superseded" event)
        self._pending: dict[tuple[str, str], tuple[threading.Event, asyncio.Event]] = {}

    # -- messages -------------------------------------------------------------------------------
    def tell_once(self, key: str, message: str, kind: types.MessageType = types.MessageType.Warning) -> None:
        """window/showMessage, at most once per key (thread-safe)."""
        if key in self._told:
            return
        self._told.add(key)
        send = lambda: self.window_show_message(types.ShowMessageParams(type=kind, message=f"codecomp: {message}"))
        if self._loop is not None and threading.current_thread() is not threading.main_thread():
            self._loop.call_soon_threadsafe(send)
        else:
            send()

    def report_server_error(self, error: Exception, source: Any) -> None:
        # Errors are answered in the response or logged; popping up a window per bad message would let a
        # misbehaving client flood the user.
        log.warning("server error (%s): %s", getattr(source, "__name__", source), error)

    # -- settings and engine --------------------------------------------------------------------
    def apply_settings(self, raw: Any) -> None:
        old = self.settings
        self.settings, problems = parse_settings(raw, old)
        level = LOG_LEVELS[self.settings.log_level]
        logging.getLogger().setLevel(level)
        # pygls logs every message body at INFO: only worth it (and only affordable) when debugging.
        logging.getLogger("pygls").setLevel(level if level <= logging.DEBUG else max(level, logging.WARNING))
        if problems:
            self.window_show_message(types.ShowMessageParams(
                type=types.MessageType.Warning, message="codecomp settings: " + "; ".join(problems)))
        self.host.delay_s = self.settings.simulate_slow_engine_ms / 1000
        if self._loaded is not None and self.settings.model_path != old.model_path:
            self.load_engine()
        if self.project.started and (self.settings.workspace_index, self.settings.max_indexed_files) != \
                (old.workspace_index, old.max_indexed_files):
            asyncio.ensure_future(self.project.start())

    def load_engine(self) -> None:
        def done(fut: concurrent.futures.Future) -> None:
            problem = None if fut.cancelled() or fut.exception() else fut.result()
            if fut.exception() is not None:
                problem = f"the completion engine failed to start: {fut.exception()}"
            if problem:
                self.tell_once(f"model:{self.settings.model_path}", problem)

        self._loaded = self.host.submit(self.host.load, self.settings.model_path, priority=LOAD)
        self._loaded.add_done_callback(done)

    # -- document helpers -----------------------------------------------------------------------
    def snapshot(self, doc: Document, quiet: bool = False) -> Snapshot | None:
        """A snapshot if the document may be analysed (language enabled, size and content in bounds); `quiet`:
        no message about an oversized document (a background sync, not a request of the user)."""
        lang = language_of(doc.language_id, doc.uri)
        if not self.settings.language_enabled(lang):
            return None
        if len(doc.text) > self.settings.max_document_kib * 1024:
            if quiet:
                return None
            self.tell_once(f"size:{doc.uri}", f"{doc.uri} is larger than maxDocumentKiB "
                           f"({self.settings.max_document_kib} KiB); no completions for it.", types.MessageType.Info)
            return None
        if "\x00" in doc.text:
            log.info("%s looks binary (NUL characters); no completions", doc.uri)
            return None
        return Snapshot(doc.uri, doc.text, doc.version, lang, doc.generation)  # type: ignore[arg-type]

    async def run_engine(self, fn: Callable[..., Any], snap: Snapshot, *args: Any,
                         kind: str | None = None) -> tuple[bool, Any]:
        """Run an engine call on the worker within the time bound: (in_time, result).

        With a `kind` ("completion", "inline"), a newer request of that kind for the same document supersedes
        this one: it stops waiting at once and answers (False, SUPERSEDED), and its engine work is skipped (or
        stopped mid-way), so a burst of requests never queues behind work nobody will read."""
        bound = self.settings.request_timeout_ms / 1000
        if self.host.stuck_for() > bound:
            # The worker is still on an overrun job: answer at once instead of queueing behind it.
            return False, None
        cancel = threading.Event()
        superseded = asyncio.Event()
        key = (kind, snap.uri) if kind else None
        if key is not None:
            older = self._pending.get(key)
            if older is not None:
                older[0].set()
                older[1].set()
            self._pending[key] = (cancel, superseded)
        priority = URGENT if len(snap.text) <= SMALL_DOCUMENT_BYTES else NORMAL
        fut = asyncio.wrap_future(self.host.submit(fn, snap, *args, cancel, priority=priority))
        fut.add_done_callback(_consume)  # a job nobody waits for any more may still fail: no "never retrieved"
        watch = asyncio.ensure_future(superseded.wait())
        try:
            done, _ = await asyncio.wait({fut, watch}, timeout=bound, return_when=asyncio.FIRST_COMPLETED)
            if fut in done:
                return True, fut.result()
            cancel.set()
            if superseded.is_set():
                return False, SUPERSEDED
            log.warning("engine did not answer within %d ms", self.settings.request_timeout_ms)
            return False, None
        except asyncio.CancelledError:
            cancel.set()  # $/cancelRequest: work not yet started will not run
            raise
        except Exception as exc:
            log.exception("engine call failed")
            self.tell_once(f"engine-error:{type(exc).__name__}", f"the completion engine failed ({exc}); "
                           "using the words of the file for now. Please report this with the log.")
            return False, None
        finally:
            watch.cancel()
            if key is not None and self._pending.get(key, (None,))[0] is cancel:
                del self._pending[key]

    def schedule_idle(self) -> None:
        """Queue one slice of the engine's background work behind whatever the worker has to do; it queues the
        next one when it is done, until none is left.  Requests that arrive meanwhile wait at most a slice."""
        if self._idle_queued or self._loop is None or not self.host.idle_pending:
            return  # nothing to do: no job per request when no parse is unfinished
        self._idle_queued = True
        loop = self._loop

        def done(fut: concurrent.futures.Future) -> None:
            more = not fut.cancelled() and fut.exception() is None and fut.result()
            loop.call_soon_threadsafe(self._idle_done, bool(more))

        self.host.submit(self.host.idle, priority=IDLE).add_done_callback(done)

    def schedule_idle_from_worker(self, _done: concurrent.futures.Future | None = None) -> None:
        """`schedule_idle`, called from the worker thread (a future's done callback)."""
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self.schedule_idle)

    def _idle_done(self, more: bool) -> None:
        self._idle_queued = False
        if more:
            self.schedule_idle()

    def stale(self, snap: Snapshot) -> bool:
        doc = self.docs.get(snap.uri)
        return doc is None or doc.version != snap.version or doc.generation != snap.generation

    # -- transport --------------------------------------------------------------------------------
    def start_io(self, stdin: Any = None, stdout: Any = None) -> None:  # type: ignore[override]
        """Serve over stdio with the hardened read loop."""
        from pygls.io_ import StdoutWriter

        stdin = stdin or sys.stdin.buffer
        stdout = stdout or sys.stdout.buffer
        self.protocol.set_writer(StdoutWriter(stdout))

        async def main() -> None:
            await self._serve(await _stdin_reader(stdin, stdout))

        self._run_coro(main())

    def start_tcp(self, host: str, port: int) -> None:
        """Serve ONE client over TCP (the editor connects to host:port)."""

        async def main() -> None:
            done = asyncio.Event()
            taken = False

            async def on_client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
                nonlocal taken
                if taken:
                    # One editor per server: a second connection would take over the output channel (and
                    # receive the first editor's replies, its code included), so it is closed unanswered.
                    log.warning("refusing a second connection from %s", writer.get_extra_info("peername"))
                    writer.close()
                    return
                taken = True
                self.protocol.set_writer(writer)  # type: ignore[arg-type]
                try:
                    await self._serve(StreamReaderAdapter(reader))
                finally:
                    done.set()

            server = await asyncio.start_server(on_client, host, port, limit=1 << 16)
            log.warning("listening on %s", ", ".join(str(s.getsockname()) for s in server.sockets))
            async with server:
                await done.wait()

        self._run_coro(main())

    def _run_coro(self, coro: Any) -> None:
        try:
            asyncio.run(coro)
        except (KeyboardInterrupt, BrokenPipeError):
            pass
        finally:
            self.project.shutdown()
            self.host.shutdown()

    async def _serve(self, reader: Any) -> None:
        self._loop = asyncio.get_running_loop()
        stop = threading.Event()
        self._stop_event = stop
        try:
            await read_loop(reader, self.protocol, stop.is_set)  # type: ignore[arg-type]
        except SystemExit as exc:  # the exit notification
            self.exit_code = int(exc.code or 0)


async def _stdin_reader(stdin: Any, stdout: Any) -> Any:
    """A non-blocking reader on stdin when it is a pipe of its own (the usual editor set-up: no thread hop
    per message), else a reader thread (files, terminals, or a channel shared with stdout, which must stay
    blocking)."""
    try:
        st_in, st_out = os.fstat(stdin.fileno()), os.fstat(stdout.fileno())
        if stat.S_ISFIFO(st_in.st_mode) and (st_in.st_dev, st_in.st_ino) != (st_out.st_dev, st_out.st_ino):
            reader = asyncio.StreamReader(limit=1 << 16)
            loop = asyncio.get_running_loop()
            await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), stdin)
            return StreamReaderAdapter(reader)
    except (OSError, ValueError, AttributeError, NotImplementedError):
        log.debug("stdin is not a pipe; reading it on a thread", exc_info=True)
    return ThreadedReader(stdin)


server_features: list[tuple[str, Any, Callable[..., Any]]] = []


def feature(name: str, options: Any = None) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Collect handlers; `create_server` registers them on a fresh server."""

    def wrap(fn: Callable[..., Any]) -> Callable[..., Any]:
        server_features.append((name, options, fn))
        return fn

    return wrap


# ---------------------------------------------------------------------------------------------- lifecycle
@feature(types.INITIALIZE)
def initialize(ls: CodecompServer, params: types.InitializeParams) -> None:
    enc = ls.protocol.workspace.position_encoding if ls.protocol._workspace else None
    ls.encoding = str(enc.value if hasattr(enc, "value") else enc or UTF16)
    ls.apply_settings(params.initialization_options)
    caps = params.capabilities.text_document
    ls.inline_supported = bool(caps is not None and getattr(caps, "inline_completion", None) is not None)
    if ls.inline_supported:
        # Advertised only to clients that declared inline completion (LSP 3.18); the `inline` setting
        # is checked per request, so it can be switched on and off without a restart.
        ls.feature(types.TEXT_DOCUMENT_INLINE_COMPLETION, types.InlineCompletionOptions())(inline_completion)
    ls.project.read_capabilities(params)
    ls.load_engine()


@feature(types.INITIALIZED)
async def initialized(ls: CodecompServer, params: types.InitializedParams) -> None:
    await pull_configuration(ls)
    await ls.project.start()


async def pull_configuration(ls: CodecompServer) -> None:
    ws = ls.client_capabilities.workspace
    if ws is None or not ws.configuration:
        return
    try:
        values = await asyncio.wait_for(
            ls.workspace_configuration_async(types.ConfigurationParams(items=[types.ConfigurationItem(section="codecomp")])),
            2.0,
        )
    except Exception as exc:  # the client may not answer; settings stay as they are
        log.info("workspace/configuration failed: %s", exc)
        return
    if values and isinstance(values[0], dict) and values[0]:
        ls.apply_settings(values[0])


@feature(types.WORKSPACE_DID_CHANGE_CONFIGURATION)
async def did_change_configuration(ls: CodecompServer, params: types.DidChangeConfigurationParams) -> None:
    settings = params.settings
    if isinstance(settings, dict) and settings:
        ls.apply_settings(settings)
    else:
        await pull_configuration(ls)


@feature(types.SHUTDOWN)
def shutdown(ls: CodecompServer, params: Any) -> None:
    ls.project.shutdown()
    ls.host.shutdown()


@feature(types.WORKSPACE_DID_CHANGE_WATCHED_FILES)
def did_change_watched_files(ls: CodecompServer, params: types.DidChangeWatchedFilesParams) -> None:
    ls.project.files_changed(params.changes)


@feature(types.WORKSPACE_DID_CHANGE_WORKSPACE_FOLDERS)
async def did_change_workspace_folders(ls: CodecompServer, params: types.DidChangeWorkspaceFoldersParams) -> None:
    ls.project.folders_changed(params.event)
    await ls.project.start()


# ---------------------------------------------------------------------------------------------- sync
@feature(types.TEXT_DOCUMENT_DID_OPEN)
def did_open(ls: CodecompServer, params: types.DidOpenTextDocumentParams) -> None:
    td = params.text_document
    doc = ls.docs.open(td.uri, td.text, td.version, td.language_id)
    # the engine takes the editor's text now, not at the first request: from didOpen on, the project index
    # must hold this text instead of the file's disk copy
    snap = ls.snapshot(doc, quiet=True)
    if snap is not None:
        synced = ls.host.submit(ls.host.sync, snap, priority=URGENT if len(snap.text) <= SMALL_DOCUMENT_BYTES
                                else NORMAL)
        # a long file is parsed in slices between requests, from the moment the engine holds it
        synced.add_done_callback(ls.schedule_idle_from_worker)


@feature(types.TEXT_DOCUMENT_DID_SAVE)
def did_save(ls: CodecompServer, params: types.DidSaveTextDocumentParams) -> None:
    ls.project.sync_now(params.text_document.uri)


@feature(types.TEXT_DOCUMENT_DID_CHANGE)
def did_change(ls: CodecompServer, params: types.DidChangeTextDocumentParams) -> None:
    doc = ls.docs.get(params.text_document.uri)
    if doc is None:
        log.warning("didChange for a document that is not open: %s", params.text_document.uri)
        return
    for change in params.content_changes:
        try:
            doc.apply(change, ls.encoding)
        except DocumentError as exc:
            log.warning("ignoring a change to %s: %s", doc.uri, exc)
    doc.version = params.text_document.version
    ls.project.schedule_sync()


@feature(types.TEXT_DOCUMENT_DID_CLOSE)
def did_close(ls: CodecompServer, params: types.DidCloseTextDocumentParams) -> None:
    if ls.docs.close(params.text_document.uri) is not None:
        ls.host.submit(ls.host.close, params.text_document.uri)


# ---------------------------------------------------------------------------------------------- features
def _request_point(ls: CodecompServer, uri: str, pos: types.Position) -> tuple[Document, Snapshot, int] | None:
    doc = ls.docs.get(uri)
    if doc is None or not doc.contains(pos.line) or pos.character < 0:
        return None
    snap = ls.snapshot(doc)
    if snap is None:
        return None
    return doc, snap, doc.offset_at(pos.line, pos.character, ls.encoding)


async def _complete(ls: CodecompServer, doc: Document, snap: Snapshot, offset: int, fragment: bool,
                    kind: str) -> tuple[Any, int] | None:
    """Engine result and the offset where the replaced prefix starts; None when stale or superseded."""
    line, col = doc.engine_position(offset)
    in_time, result = await ls.run_engine(ls.host.complete, snap, line, col, ls.settings.max_items, fragment,
                                          kind=kind)
    ls.schedule_idle()  # what the request left unfinished (a long parse) goes on between requests
    if result is SUPERSEDED or ls.stale(snap):
        return None
    if not in_time or result is None:
        words = complete_words(snap.text, offset, ls.settings.max_items)
        return words, words.prefix_start
    start = offset - len(prefix_at(snap.text, offset))
    replace_start = getattr(result, "replace_start", None)
    if replace_start is not None:
        cand = doc.engine_offset(*replace_start)
        if doc.position_at(cand).line == doc.position_at(offset).line and cand <= offset:
            start = cand
    return result, start


@feature(types.TEXT_DOCUMENT_COMPLETION, types.CompletionOptions(trigger_characters=[".", ">", ":"]))
async def completion(ls: CodecompServer, params: types.CompletionParams) -> types.CompletionList:
    empty = types.CompletionList(is_incomplete=True, items=[])
    point = _request_point(ls, params.text_document.uri, params.position)
    if point is None:
        return empty
    doc, snap, offset = point
    # Clients with inline completion get the fragment as ghost text; the list then skips its decoding.
    with_fragment = not (ls.inline_supported and ls.settings.inline)
    done = await _complete(ls, doc, snap, offset, with_fragment, "completion")
    if done is None:
        return empty
    result, start = done
    items = completion_items(result, doc, start, offset, ls.encoding, ls.settings.max_items)
    return types.CompletionList(is_incomplete=True, items=items)


async def inline_completion(ls: CodecompServer, params: types.InlineCompletionParams) -> types.InlineCompletionList:
    empty = types.InlineCompletionList(items=[])
    if not ls.settings.inline:
        return empty
    point = _request_point(ls, params.text_document.uri, params.position)
    if point is None:
        return empty
    doc, snap, offset = point
    done = await _complete(ls, doc, snap, offset, True, "inline")
    if done is None:
        return empty
    result, start = done
    return types.InlineCompletionList(items=inline_items(result, doc, start, offset, ls.encoding))


@feature(types.TEXT_DOCUMENT_CODE_ACTION,
         types.CodeActionOptions(code_action_kinds=[types.CodeActionKind.RefactorRewrite]))
async def code_action(ls: CodecompServer, params: types.CodeActionParams) -> list[types.CodeAction]:
    only = params.context.only if params.context else None
    if only and not any(types.CodeActionKind.RefactorRewrite.value.startswith(str(getattr(k, "value", k))) for k in only):
        return []
    point = _request_point(ls, params.text_document.uri, params.range.start)
    if point is None:
        return []
    doc, snap, offset = point
    line, col = doc.engine_position(offset)
    in_time, names = await ls.run_engine(ls.host.suggest_names, snap, line, col, 5)
    if not in_time or names is None or ls.stale(snap):
        return []
    symbol = str(getattr(names, "symbol", "") or "")
    spans = occurrence_offsets(doc, getattr(names, "occurrences", []) or [])
    if not symbol or not spans:
        return []
    actions = []
    for name, _score in list(getattr(names, "names", []) or [])[:5]:
        if not name or name == symbol:
            continue
        edits = [types.TextEdit(range=edit_range(doc, a, b, ls.encoding), new_text=str(name)) for a, b in spans]
        actions.append(types.CodeAction(
            title=f"Rename `{symbol}` to `{name}`",
            kind=types.CodeActionKind.RefactorRewrite,
            edit=types.WorkspaceEdit(changes={doc.uri: edits}),
        ))
    return actions


def create_server(model_path: str | None = None, log_level: str | None = None) -> CodecompServer:
    """A server with every feature registered (inline completion is added at initialize if supported)."""
    ls = CodecompServer(model_path=model_path, log_level=log_level)
    for name, options, fn in server_features:
        ls.feature(name, options)(fn)
    return ls
