"""The server's engine host in-process: the time bound holds even when the worker is stuck on a long step,
versions only move forward, and a reopened document starts from its new text."""
from __future__ import annotations

import asyncio
import threading
import time

from lsp_server.host import Snapshot
from lsp_server.server import CodecompServer, create_server


def test_a_stuck_worker_does_not_delay_answers() -> None:
    ls: CodecompServer = create_server()
    ls.apply_settings({"requestTimeoutMs": 200})
    ls.host.load(None)
    snap = Snapshot("file:///h/a.cpp", "int alpha = 1;\nint b = al", 1, "cpp", 1)
    release = threading.Event()
    ls.host.submit(release.wait, 5)  # a model step that will not finish soon
    deadline = time.monotonic() + 5
    while ls.host.running_since is None and time.monotonic() < deadline:
        time.sleep(0.001)  # the worker has taken it (a request queued before that would go first)

    async def ask() -> list[tuple[bool, float]]:
        out = []
        for _ in range(3):
            t0 = time.perf_counter()
            in_time, _ = await ls.run_engine(ls.host.complete, snap, 1, 10, 10, False)
            out.append((in_time, time.perf_counter() - t0))
        return out

    try:
        answers = asyncio.run(ask())
    finally:
        release.set()
        ls.host.shutdown()
    assert [in_time for in_time, _ in answers] == [False, False, False]
    first, *rest = [t for _, t in answers]
    assert 0.15 < first < 1.0  # the first request waited its bound...
    assert all(t < 0.05 for t in rest)  # ...later ones see the worker is stuck and answer at once


def test_versions_only_move_forward_and_reopen_resets() -> None:
    ls: CodecompServer = create_server()
    ls.host.load(None)
    try:
        uri = "file:///h/b.js"
        v2 = Snapshot(uri, "let total = 1;\ntot", 2, "javascript", 1)
        v1 = Snapshot(uri, "let old = 1;\nol", 1, "javascript", 1)
        never = threading.Event()
        assert ls.host.complete(v2, 1, 3, 10, False, never) is not None
        assert ls.host.complete(v1, 1, 2, 10, False, never) is None  # older than what the engine holds
        reopened = Snapshot(uri, "let fresh = 1;\nfr", 1, "javascript", 2)
        res = ls.host.complete(reopened, 1, 2, 10, False, never)
        assert res is not None and "fresh" in [c.label for c in res.items]
        cancelled = threading.Event()
        cancelled.set()
        assert ls.host.complete(reopened, 1, 2, 10, False, cancelled) is None  # cancelled work does not run
    finally:
        ls.host.shutdown()


def test_requests_on_small_documents_go_before_the_work_of_large_ones() -> None:
    from lsp_server.host import IDLE, NORMAL, SMALL_DOCUMENT_BYTES, URGENT

    ls: CodecompServer = create_server()
    host = ls.host
    gate = threading.Event()
    ran: list[str] = []
    blocker = host.submit(gate.wait, 5)                          # the job now running (a large file's parse)
    queued = [host.submit(ran.append, "large document sync", priority=NORMAL),
              host.submit(ran.append, "idle slice", priority=IDLE),
              host.submit(ran.append, "large document request", priority=NORMAL),
              host.submit(ran.append, "small document request", priority=URGENT),
              host.submit(ran.append, "second small request", priority=URGENT)]
    gate.set()
    blocker.result(5)
    for fut in queued:
        fut.result(5)
    assert ran == ["small document request", "second small request", "large document sync",
                   "large document request", "idle slice"]

    # run_engine gives a request its priority from the size of its document
    big = Snapshot("file:///h/big.cpp", "int x;\n" * (SMALL_DOCUMENT_BYTES // 7 + 1), 1, "cpp", 1)
    small = Snapshot("file:///h/small.cpp", "int x;\n", 1, "cpp", 1)
    seen: list[str] = []
    gate2 = threading.Event()
    host.submit(gate2.wait, 5)

    async def ask() -> None:
        def job(snap, cancel):
            seen.append(snap.uri)
            return True
        a = asyncio.ensure_future(ls.run_engine(job, big))
        await asyncio.sleep(0.01)
        b = asyncio.ensure_future(ls.run_engine(job, small))
        await asyncio.sleep(0.01)
        gate2.set()
        await asyncio.gather(a, b)

    asyncio.run(ask())
    assert seen == ["file:///h/small.cpp", "file:///h/big.cpp"]
    host.shutdown()


def test_idle_work_hands_the_engine_an_edit_that_asked_nothing_and_prepares_the_next_request() -> None:
    """A keystroke such as `(` sends a didChange and no request: the idle slice gives the engine that text, and
    idle time then gathers what a request after it will need (the engine's `expected_cursor`)."""
    ls: CodecompServer = create_server()
    ls.host.load(None)
    uri = "file:///h/c.js"
    try:
        ls.host.sync(Snapshot(uri, "let total = 1;\nconsole.log", 1, "javascript", 1))
        text = "let total = 1;\nconsole.log("
        done = ls.host.submit(ls.host.idle, 0.02, Snapshot(uri, text, 2, "javascript", 1))
        more = done.result(timeout=30)
        while more:
            more = ls.host.submit(ls.host.idle, 0.02).result(timeout=30)
        doc = ls.host.engine.document(uri)
        assert doc.version == 2 and doc.text == text
        assert doc.gathered == (2, len(text.encode()))
    finally:
        ls.host.shutdown()


def test_a_keystroke_reaches_the_engine_as_its_edit_when_the_engine_holds_the_version_before() -> None:
    """The server's didChange records its one range replacement; the host hands the engine that edit (not the
    whole text to compare) when the engine holds the version it applies to, and the whole text otherwise; the
    engine ends with the editor's text either way."""
    from lsprotocol import types

    from lsp_server.documents import Document

    ls: CodecompServer = create_server()
    ls.host.load(None)
    engine = ls.host.engine
    seen: list = []
    real = engine.change
    engine.change = lambda uri, text, version=None, edit=None: (seen.append(edit), real(uri, text, version, edit))[1]
    try:
        uri = "file:///h/e.js"
        doc = Document(uri, "let 😀 = 1;\nlet total = 2;\n", 1, "javascript")
        ls.host.sync(Snapshot(uri, doc.text, 1, "javascript", 1))

        def type_(line: int, col: int, text: str, version: int) -> None:
            prior = doc.version
            rng = types.Range(types.Position(line, col), types.Position(line, col))
            edit = doc.apply(types.TextDocumentContentChangePartial(range=rng, text=text))
            doc.version = version
            doc.last_edit = (prior, edit)

        type_(1, 9, "s", 2)  # "totals"
        assert ls.host.sync(Snapshot(uri, doc.text, 2, "javascript", 1, doc.last_edit))
        assert seen[-1] == (1, 9, 1, 9, "s")
        type_(0, 6, "x", 3)  # after the emoji: UTF-16 column 6 is after its two units
        type_(0, 7, "y", 4)  # two edits since the engine's version 2: the whole text goes
        assert ls.host.sync(Snapshot(uri, doc.text, 4, "javascript", 1, doc.last_edit))
        assert seen[-1] is None
        held = engine.document(uri)
        assert held.text == doc.text == "let 😀xy = 1;\nlet totals = 2;\n"
        assert held.source == doc.text.encode("utf-8")
    finally:
        ls.host.shutdown()


def test_an_edit_ends_the_wait_for_a_pause_in_typing() -> None:
    """Work that serves no request (the project's lines) waits for a pause in typing, on a timer.  A keystroke
    that asks nothing (`(`, a space) must not wait behind that timer: the next request is prepared with its text
    after the usual short delays, not after the pause."""
    from lsp_server.server import IDLE_AFTER_S

    ls: CodecompServer = create_server()

    async def run() -> tuple[float, float, bool]:
        loop = asyncio.get_running_loop()
        ls._loop = loop
        now = time.monotonic()
        ls._last_request = ls._last_change = now
        ls.host.idle_pending, ls.host.idle_after_s = True, 0.3  # after a request: only the project's lines left
        ls.schedule_idle()
        first = ls._idle_timer
        assert first is not None, "the slice should wait for the pause on a timer"
        pause_due = first.when() - loop.time()
        ls._changed = "file:///h/not-open.js"  # a didChange, with no request after it
        ls._last_change = time.monotonic()
        ls.schedule_idle()
        second = ls._idle_timer
        assert second is not None and second is not first
        edit_due = second.when() - loop.time()
        second.cancel()
        return pause_due, edit_due, first.cancelled()

    try:
        pause_due, edit_due, cancelled = asyncio.run(run())
    finally:
        ls.host.shutdown()
    assert pause_due > 0.2
    assert cancelled and edit_due <= IDLE_AFTER_S + 0.01
