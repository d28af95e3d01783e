"""Requests first: background work of the engine steps aside while a request runs.

Python threads share one interpreter lock, so a background thread that analyses a long file (scope analysis)
or indexes a project makes a request on the engine's thread wait for the lock: each time the request lets go
of it (an onnxruntime call releases it), it waits for the background thread's turn to end to get it back.
Background loops therefore call `background_turn()` every few hundred steps; while a request runs
(`foreground()`, entered by `Engine.complete`, `Engine.suggest_names`, the edits, and `Engine.work_in_idle`,
whose steps a request that comes waits for), the call blocks until the request ends, so the background thread holds the lock for at most one step.  A wait lasts at most
`MAX_BACKGROUND_WAIT_S` at a time, so that a flood of requests slows background work down but never stops it.
"""
from __future__ import annotations

import threading
from contextlib import contextmanager
from typing import Iterator

MAX_BACKGROUND_WAIT_S = 0.25

_no_request = threading.Event()  # set while no request runs
_no_request.set()
_running = 0
_lock = threading.Lock()


@contextmanager
def foreground() -> Iterator[None]:
    """Marks a request running: background work pauses at its next `background_turn` until every request
    that runs has ended."""
    global _running
    with _lock:
        _running += 1
        _no_request.clear()
    try:
        yield
    finally:
        with _lock:
            _running -= 1
            if not _running:
                _no_request.set()


def background_turn() -> None:
    """Called by background loops between steps: returns at once unless a request runs (see the module)."""
    _no_request.wait(MAX_BACKGROUND_WAIT_S)


def request_running() -> bool:
    """Whether a request runs now."""
    return not _no_request.is_set()
