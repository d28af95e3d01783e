"""The codecomp language server: thin pygls handlers over the engine's API (`codecomp.engine.types`).

Threading model: the event loop owns the documents and the protocol; the engine lives on ONE worker thread
(`EngineHost`, lsp_server/host.py), so engine calls never block the loop; they run in order of priority
(requests on documents of up to 256 KB first, then the rest, idle work last) and in order of arrival within
one.  A request takes a snapshot of its document (text + version), hands the engine work to the worker and
waits at most `requestTimeoutMs`; when the worker is late (or there is no engine) the request is answered from
the words of the file instead, so the editor is never kept waiting.  $/cancelRequest cancels work that has not
started; results computed for a version the client has since edited are dropped.  The server never opens the
files behind the URIs of the documents it is sent: an open document is its editor text.  The project index
(`lsp_server/project.py`, setting `workspaceIndex`) reads the other source files of the workspace folders in
the background; the engine uses it for project context, and an open document replaces its file's disk copy
there from didOpen to didClose.  Learning from the user (`lsp_server/learning.py`, settings `learnFromUser` and
`persistLearning`): completion and inline items carry the command `codecomp.accepted`, `didChange` is followed
for the names typed where a list was shown, and `codecomp.resetLearning` forgets what was learned.
"""
from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import os
import stat
import sys
import threading
import time
from typing import Any, Callable

from lsprotocol import types
from pygls.lsp.server import LanguageServer

from codecomp.engine.types import Completion
from codecomp.naming.context import AUTOMATIC_MIN_SCORE
from lsp_server import __version__
from lsp_server.convert import completion_items, edit_range, inline_items, occurrence_offsets
from lsp_server.documents import UTF16, Document, DocumentError, DocumentStore, sanitize
from lsp_server.host import IDLE, LOAD, NORMAL, SMALL_DOCUMENT_BYTES, URGENT, EngineHost, Snapshot
from lsp_server.learning import ACCEPTED, RESET, SignalTracker, leading_word
from lsp_server.lexical import complete_words, prefix_at
from lsp_server.project import ProjectIndexer
from lsp_server.protocol import CodecompProtocol, StreamReaderAdapter, ThreadedReader, read_loop
from lsp_server.settings import LOG_LEVELS, Settings, parse_settings

log = logging.getLogger("codecomp.lsp")

IDLE_AFTER_S = 0.03  # background work (long parses, the model track) starts after this long without a request
# ... and this long after an edit: a keystroke that asks nothing (a `(`, a space) has no answer to write, and the
# next request, at a typist's pace some 100 ms later, finds more of its work done the sooner it starts
IDLE_AFTER_EDIT_S = 0.005
IDLE_BUDGET_S = 0.02  # ... in slices of about this long (each stops early when a request comes in)
SAVE_DELAY_S = 5.0   # after the last learning event, what was learned is saved (when persistLearning is on)

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


class CodecompServer(LanguageServer):
    """Language server state: settings, documents and the engine host."""

    def __init__(self, model_path: str | None = None, log_level: str | None = None) -> None:
        super().__init__(
            "codecomp", __version__, text_document_sync_kind=types.TextDocumentSyncKind.Incremental,
            protocol_cls=CodecompProtocol, max_workers=2,
        )
        self.settings = Settings(model_path=model_path or "", log_level=log_level or Settings.log_level)
        self.docs = DocumentStore()
        self.host = EngineHost()
        self.encoding = UTF16
        self.inline_supported = False
        self.exit_code = 0
        self._told: set[str] = set()  # messages already shown once
        self._loaded: concurrent.futures.Future | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.project = ProjectIndexer(self)
        self._idle_queued = False  # a slice of idle work is queued on the engine worker (or waits for quiet)
        self._idle_timer: asyncio.TimerHandle | None = None  # ... waiting for quiet: when it starts
        self._last_request = 0.0   # time.monotonic() when the last completion-like request came in
        self._last_change = 0.0    # ... and the last edit
        self._changed: str | None = None  # the document edited last, whose text idle work hands the engine first
        # the newest pending request of each kind per document: (its cancel flag, its "superseded" event)
        self._pending: dict[tuple[str, str], tuple[threading.Event, asyncio.Event]] = {}
        self.signals = SignalTracker()  # the implicit learning signal (names typed where a list was shown)
        self._save_handle: asyncio.TimerHandle | None = None
        self._configured = False        # initialize has set learning up (it needs the workspace folders)

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
        if self._configured and (self.settings.learn_from_user, self.settings.persist_learning) != \
                (old.learn_from_user, old.persist_learning):
            self.configure_learning()

    # -- learning from the user -----------------------------------------------------------------
    @property
    def learning(self) -> bool:
        return self.settings.learn_from_user

    def configure_learning(self) -> None:
        """Tell the engine host the learning settings and the workspace folders (learners are per folder)."""
        self._configured = True
        if not self.learning:
            self.signals.clear()
        fut = self.host.submit(self.host.configure_learning, self.learning, self.settings.persist_learning,
                               list(self.project.roots), priority=LOAD)
        fut.add_done_callback(self._learning_problems)

    def _learning_problems(self, fut: concurrent.futures.Future) -> None:
        if fut.cancelled() or fut.exception() is not None:
            return
        result = fut.result()
        problems = result[1] if isinstance(result, tuple) else result
        for problem in problems or ():
            self.tell_once(f"learning:{problem}", problem)

    def learn(self, shown_id: int, name: str, accepted: bool) -> None:
        """Hand one learning event to the engine (between requests), and save later when persisting."""
        # (not IDLE: an event must not wait behind idle work, nor be left behind by the save at shutdown)
        fut = self.host.submit(self.host.learn, shown_id, name, accepted, priority=NORMAL)
        if self.settings.persist_learning and self._loop is not None:
            loop = self._loop
            fut.add_done_callback(lambda f: loop.call_soon_threadsafe(self._schedule_save)
                                  if not f.cancelled() and f.exception() is None and f.result() else None)

    def _schedule_save(self) -> None:
        if self._save_handle is not None:
            self._save_handle.cancel()
        self._save_handle = asyncio.get_running_loop().call_later(SAVE_DELAY_S, self.save_learning)

    def save_learning(self, priority: int = IDLE) -> concurrent.futures.Future:
        """Write what was learned (the host writes only when persistLearning is on)."""
        self._save_handle = None
        fut = self.host.submit(self.host.save_learning, priority=priority)
        fut.add_done_callback(self._learning_problems)
        return fut

    def accept_command(self, uri: str, shown_id: int | None) -> Callable[[str], types.Command | None]:
        """The command an item of list `shown_id` carries: the editor runs it when the user accepts the item."""
        if shown_id is None or not self.learning:
            return lambda name: None
        return lambda name: types.Command(title="", command=ACCEPTED, arguments=[uri, shown_id, name]) \
            if name else None

    def load_engine(self) -> None:
        """Load the engine for the `modelPath` setting on the worker, and tell the user once what it could not
        use.  Which engine serves without a usable model is decided by `Engine.load` alone (see host.py)."""
        def done(fut: concurrent.futures.Future) -> None:
            if fut.cancelled():
                return
            exc = fut.exception()
            if exc is not None:
                log.error("the completion engine could not be created", exc_info=exc)
                problem: str | None = (f"the completion engine could not be created ({type(exc).__name__}: {exc}); "
                                       "completions come from the words of the file. Reinstalling codecomp "
                                       "should fix this.")
            else:
                problem = fut.result()
            if problem:
                self.tell_once(f"model:{self.settings.model_path}", problem)

        self._loaded = self.host.submit(self.host.load, self.settings.model_path or None, priority=LOAD)
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
        return Snapshot(doc.uri, doc.text, doc.version, lang, doc.generation, doc.last_edit)  # type: ignore[arg-type]

    async def run_engine(self, fn: Callable[..., Any], snap: Snapshot, *args: Any,
                         kind: str | None = None) -> tuple[bool, Any]:
        """Run an engine call on the worker within the time bound: (in_time, result).

        With a `kind` ("completion", "inline"), a newer request of that kind for the same document supersedes
        this one: it stops waiting at once and answers (False, SUPERSEDED), and its engine work is skipped (or
        stopped mid-way), so a burst of requests never queues behind work nobody will read."""
        bound = self.settings.request_timeout_ms / 1000
        self._last_request = time.monotonic()
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
        """Queue one slice of the engine's background work once the server has been quiet for `IDLE_AFTER_S`
        (no request came in meanwhile); each slice queues the next one when it is done, until none is left.  A
        request that arrives during a slice waits at most one model chunk: the slice stops between chunks."""
        if self._loop is None or not (self.host.idle_pending or self._changed):
            return  # nothing to do: no job per request when no parse is unfinished
        if self._idle_queued:
            # a slice waiting out a pause in typing (for work that serves no request) starts sooner when an edit
            # comes: the next request is to be prepared with it, which waits for no pause
            if self._changed and self._idle_timer is not None:
                self._idle_timer.cancel()
                self._start_idle()
            return
        self._idle_queued = True
        self._start_idle()

    def _start_idle(self) -> None:
        # Not at once after a request: its answer is still being built and written on the event loop, and a
        # slice started now would compete with it for the interpreter (measured: +12 ms on some answers).
        self._idle_timer = None
        now = time.monotonic()
        # work that serves no request (the project's lines) waits for a pause in typing; an edit not handed to the
        # engine yet goes at once (the next request gets prepared with it)
        pause = self.host.idle_after_s if self._changed is None else 0.0
        wait = max(IDLE_AFTER_S - (now - self._last_request), IDLE_AFTER_EDIT_S - (now - self._last_change),
                   pause - (now - max(self._last_request, self._last_change)))
        if wait > 0:
            assert self._loop is not None
            self._idle_timer = self._loop.call_later(wait, self._start_idle)
            return
        loop = self._loop
        # the latest text of the document being edited goes to the engine with the slice: idle work can then
        # prepare the next request there (a keystroke that asks nothing, like `(`, reaches the engine only so)
        changed = self.docs.get(self._changed) if self._changed else None
        self._changed = None
        snap = self.snapshot(changed, quiet=True) if changed is not None else None

        def done(fut: concurrent.futures.Future) -> None:
            more = not fut.cancelled() and fut.exception() is None and fut.result()
            loop.call_soon_threadsafe(self._idle_done, bool(more))

        self.host.submit(self.host.idle, IDLE_BUDGET_S, snap, priority=IDLE).add_done_callback(done)

    def schedule_idle_from_worker(self, _done: concurrent.futures.Future | None = None) -> None:
        """`schedule_idle`, called from the worker thread (a future's done callback)."""
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self.schedule_idle)

    def _idle_done(self, more: bool) -> None:
        if (more and self.host.idle_pending) or self._changed:
            self._start_idle()
        else:
            self._idle_queued = False

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
        try:
            await read_loop(reader, self.protocol)  # type: ignore[arg-type]
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
        # Advertised only to clients that declared inline completion (LSP 3.18); the `inlineCompletions` setting
        # is checked per request, so it can be switched on and off without a restart.
        ls.feature(types.TEXT_DOCUMENT_INLINE_COMPLETION, types.InlineCompletionOptions())(inline_completion)
    ls.project.read_capabilities(params)
    ls.load_engine()
    ls.configure_learning()


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
async def shutdown(ls: CodecompServer, params: Any) -> None:
    if ls.settings.persist_learning:
        # what was learned since the last save is written before the worker stops (bounded: never keeps the
        # editor waiting long for its shutdown answer)
        if ls._save_handle is not None:
            ls._save_handle.cancel()
        try:
            # after the events already queued (NORMAL, first come first served), before any idle work
            await asyncio.wait_for(asyncio.wrap_future(ls.save_learning(NORMAL)), 2.0)
        except Exception as exc:
            log.warning("what was learned could not be saved at shutdown: %s", exc)
    ls.project.shutdown()
    ls.host.shutdown()


@feature(types.WORKSPACE_DID_CHANGE_WATCHED_FILES)
def did_change_watched_files(ls: CodecompServer, params: types.DidChangeWatchedFilesParams) -> None:
    ls.project.files_changed(params.changes)


@feature(types.WORKSPACE_DID_CHANGE_WORKSPACE_FOLDERS)
async def did_change_workspace_folders(ls: CodecompServer, params: types.DidChangeWorkspaceFoldersParams) -> None:
    ls.project.folders_changed(params.event)
    ls.configure_learning()
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
    follow = ls.learning and doc.uri in ls.signals.pending
    events: list[tuple[int, str]] = []
    prior, edits = doc.version, []
    for change in params.content_changes:
        before = doc.text
        rng = getattr(change, "range", None)
        if follow and rng is not None:
            s = doc.offset_at(rng.start.line, rng.start.character, ls.encoding)
            e = doc.offset_at(rng.end.line, rng.end.character, ls.encoding)
        try:
            edits.append(doc.apply(change, ls.encoding))
        except DocumentError as exc:
            log.warning("ignoring a change to %s: %s", doc.uri, exc)
            edits.append(None)
            continue
        if follow:
            events += (ls.signals.edit(doc.uri, before, s, max(e, s), sanitize(change.text)) if rng is not None
                       else ls.signals.replaced(doc.uri, before, doc.text))
    doc.version = params.text_document.version
    doc.last_edit = (prior, edits[0]) if len(edits) == 1 and edits[0] is not None else None
    for shown_id, name in events:
        ls.learn(shown_id, name, accepted=False)
    ls.project.schedule_sync()
    # idle work prepares the next request where this edit left the cursor, once the user pauses
    ls._changed = doc.uri
    ls._last_change = time.monotonic()
    ls.schedule_idle()


@feature(types.TEXT_DOCUMENT_DID_CLOSE)
def did_close(ls: CodecompServer, params: types.DidCloseTextDocumentParams) -> None:
    ls.signals.closed(params.text_document.uri)
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
                    kind: str) -> tuple[Completion, int] | None:
    """The completion (the engine's, else the words of the file) and the offset where the replaced prefix
    starts; None when stale or superseded."""
    line, col = doc.engine_position(offset)
    in_time, result = await ls.run_engine(ls.host.complete, snap, line, col, ls.settings.max_items, fragment,
                                          kind=kind)
    ls.schedule_idle()  # what the request left unfinished (a long parse) goes on between requests
    if result is SUPERSEDED or ls.stale(snap):
        return None
    if not in_time or result is None:
        result = complete_words(doc, offset, ls.settings.max_items)  # the text is the snapshot's: not stale
    start = offset - len(prefix_at(doc.text, offset))
    cand = doc.engine_offset(*result.replace_start)
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
    with_fragment = not (ls.inline_supported and ls.settings.inline_completions)
    done = await _complete(ls, doc, snap, offset, with_fragment, "completion")
    if done is None:
        return empty
    result, start = done
    command = ls.accept_command(doc.uri, result.shown_id)
    if result.shown_id is not None and ls.learning:
        ls.signals.shown(doc.uri, start, result.shown_id)
    items = completion_items(result, doc, start, offset, ls.encoding, ls.settings.max_items, command)
    return types.CompletionList(is_incomplete=True, items=items)


async def inline_completion(ls: CodecompServer, params: types.InlineCompletionParams) -> types.InlineCompletionList:
    empty = types.InlineCompletionList(items=[])
    if not ls.settings.inline_completions:
        return empty
    point = _request_point(ls, params.text_document.uri, params.position)
    if point is None:
        return empty
    doc, snap, offset = point
    done = await _complete(ls, doc, snap, offset, True, "inline")
    if done is None:
        return empty
    result, start = done
    command = ls.accept_command(doc.uri, result.shown_id)
    if result.shown_id is not None and ls.learning:
        ls.signals.shown(doc.uri, start, result.shown_id)
    return types.InlineCompletionList(items=inline_items(result, doc, start, offset, ls.encoding,
                                                         lambda text: command(leading_word(text))))


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
    symbol = names.symbol
    spans = occurrence_offsets(doc, names.occurrences)
    if not symbol or not spans:
        return []
    # A lightbulb the editor asks for by itself (the cursor moved) shows only names likely to be right; when the
    # user asks (a refactor menu, "Suggest a Name"), every suggestion is listed.
    automatic = params.context is not None and params.context.trigger_kind == types.CodeActionTriggerKind.Automatic
    actions = []
    for rank, (name, score) in enumerate(names.names[:5]):
        if not name or name == symbol or (automatic and score < AUTOMATIC_MIN_SCORE):
            continue
        edits = [types.TextEdit(range=edit_range(doc, a, b, ls.encoding), new_text=str(name)) for a, b in spans]
        actions.append(types.CodeAction(
            title=f"Rename `{symbol}` to `{name}`",
            kind=types.CodeActionKind.RefactorRewrite,
            edit=types.WorkspaceEdit(changes={doc.uri: edits}),
            is_preferred=rank == 0 and score >= AUTOMATIC_MIN_SCORE,
        ))
    return actions


# ---------------------------------------------------------------------------------------------- commands
def accepted(ls: CodecompServer, *args: Any) -> None:
    """`codecomp.accepted` [uri, list id, name]: the user accepted an item (the explicit learning signal)."""
    if len(args) != 3 or not isinstance(args[0], str) or isinstance(args[1], bool) or not isinstance(args[1], int) \
            or not isinstance(args[2], str) or not args[2]:
        log.info("ignoring %s with arguments %r", ACCEPTED, args[:3])
        return None
    uri, shown_id, name = args
    if ls.learning and ls.signals.accepted(uri, shown_id):
        ls.learn(shown_id, name, accepted=True)
    return None


async def reset_learning(ls: CodecompServer, *args: Any) -> dict[str, Any]:
    """`codecomp.resetLearning`: forget what was learned from the user, the saved files included."""
    ls.signals.clear()
    if ls._save_handle is not None:
        ls._save_handle.cancel()
        ls._save_handle = None
    removed, problems = await asyncio.wrap_future(ls.host.submit(ls.host.reset_learning, priority=LOAD))
    for problem in problems:
        ls.tell_once(f"learning:{problem}", problem)
    ls.window_show_message(types.ShowMessageParams(
        type=types.MessageType.Info, message="codecomp: forgot what it learned from you"
        + (f" (removed {len(removed)} saved file{'s' if len(removed) != 1 else ''})" if removed else ".")))
    return {"forgotten": True, "removed": removed}


COMMANDS = {ACCEPTED: accepted, RESET: reset_learning}


def create_server(model_path: str | None = None, log_level: str | None = None) -> CodecompServer:
    """A server with every feature registered (inline completion is added at initialize if supported)."""
    ls = CodecompServer(model_path=model_path, log_level=log_level)
    for name, options, fn in server_features:
        ls.feature(name, options)(fn)
    for name, fn in COMMANDS.items():
        ls.command(name)(fn)
    return ls
