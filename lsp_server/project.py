"""The server's project index: which folders, when to (re)build, file events, progress, and syncing the editor's
text into it.  The engine decides what the index means for a completion; this module only keeps it current.

Threads: the index is built on a daemon thread of its own ("codecomp-index-build") and file events are applied
on another ("codecomp-index-events"), so neither the event loop nor the engine worker ever waits for disk or
for a build; the index takes its own write lock and its readers (the engine's completions) take none, so a
completion answers with whatever is indexed so far.  Everything the engine does with the index (open / close /
sync of documents) runs on the engine worker, in order with the completions.
"""
from __future__ import annotations

import asyncio
import concurrent.futures
import itertools
import logging
import os
import threading
from typing import TYPE_CHECKING, Any, Iterable

from lsprotocol import types

from lsp_server import gc_policy

if TYPE_CHECKING:
    from lsp_server.server import CodecompServer

log = logging.getLogger("codecomp.lsp")

SYNC_DELAY_S = 1.0   # after the last edit, the index reads the changed open documents (a pause in typing)
SOURCE_GLOB = "**/*.{cc,cpp,cxx,c++,h,hpp,hh,hxx,ipp,tcc,inl,c,js,mjs,cjs,jsx}"
_tokens = itertools.count(1)


def uri_path(uri: str) -> str | None:
    """The local path of a file:// URI (None for other schemes), as the engine maps document URIs."""
    from codecomp.engine.core import uri_to_path

    return uri_to_path(uri)


def roots_of(params: types.InitializeParams) -> list[str]:
    """The workspace roots an initialize request names: its folders, else rootUri, else rootPath."""
    if params.workspace_folders:
        uris = [f.uri for f in params.workspace_folders]
    elif params.root_uri:
        uris = [params.root_uri]
    elif params.root_path:
        from pathlib import Path

        uris = [Path(params.root_path).absolute().as_uri()]
    else:
        uris = []
    # a root that is not a folder on this machine (a remote workspace, a stale path) has nothing to index
    return [p for p in (uri_path(u) for u in uris) if p is not None and os.path.isdir(p)]


class ProjectIndexer:
    """Owns the server's `WorkspaceIndex` (see the module docstring)."""

    def __init__(self, ls: "CodecompServer") -> None:
        self.ls = ls
        self.roots: list[str] = []
        self.index: Any = None
        self.progress_supported = False
        self.watch_registration = False     # the client registers file watchers dynamically
        self._events = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="codecomp-index-events")
        self._sync_handle: asyncio.TimerHandle | None = None
        self._watching = False
        self.started = False                # `initialized` has been received: indexing may start

    # -- capabilities ---------------------------------------------------------------------------------------------
    def read_capabilities(self, params: types.InitializeParams) -> None:
        """Roots, work-done progress and dynamic watcher registration, from the initialize request."""
        self.roots = roots_of(params)
        caps = params.capabilities
        self.progress_supported = bool(caps.window is not None and caps.window.work_done_progress)
        watched = caps.workspace.did_change_watched_files if caps.workspace is not None else None
        self.watch_registration = bool(watched is not None and watched.dynamic_registration)

    # -- building -------------------------------------------------------------------------------------------------
    async def start(self) -> None:
        """(Re)build the index of the current roots in the background, or drop it when the setting is off."""
        self.started = True
        self.stop()
        settings = self.ls.settings
        if not settings.workspace_index or not self.roots:
            return
        from codecomp.engine.workspace import DiscoveryConfig, WorkspaceIndex

        index = WorkspaceIndex(self.roots, DiscoveryConfig(max_files=settings.max_indexed_files))
        self.index = index
        self.ls.host.submit(self.ls.host.set_workspace, index)
        token = await self._begin_progress()
        await self._watch()
        loop = asyncio.get_running_loop()
        thread = threading.Thread(target=self._build, args=(index, token, loop), daemon=True,
                                  name="codecomp-index-build")
        thread.start()

    def stop(self) -> None:
        """Cancel a running build and take the index away from the engine."""
        if self.index is not None:
            self.index.cancel()
            self.index = None
            self.ls.host.submit(self.ls.host.set_workspace, None)

    def _build(self, index: Any, token: str | None, loop: asyncio.AbstractEventLoop) -> None:
        """The build thread: index everything, reporting progress on the event loop."""
        def progress(done: int, total: int) -> None:
            if token is not None:
                message = f"indexing {done:,} / {total:,} files"
                pct = int(100 * done / total) if total else 100
                loop.call_soon_threadsafe(self._report, token, message, pct)

        try:
            report = index.build(progress=progress)
            message = f"indexed {report.files:,} files" + (" (cancelled)" if report.cancelled else "") + \
                (" (file limit reached: see maxIndexedFiles)" if report.truncated else "")
            log.info("workspace index: %s in %.1f s", message, report.seconds)
            gc_policy.settle()  # the index lives as long as the project: keep it out of later collections
        except Exception as exc:  # an index failure costs project context, never the server
            log.exception("workspace index build failed")
            message = f"indexing failed: {exc}"
        if token is not None:
            loop.call_soon_threadsafe(self._end, token, message)

    async def _begin_progress(self) -> str | None:
        """A server-initiated work-done progress token (None when the client does not support them)."""
        if not self.progress_supported:
            return None
        token = f"codecomp-index-{next(_tokens)}"
        try:
            await asyncio.wait_for(self.ls.work_done_progress.create_async(token), 2.0)
        except Exception as exc:  # no progress then; indexing goes on
            log.info("window/workDoneProgress/create failed: %s", exc)
            return None
        self.ls.work_done_progress.begin(token, types.WorkDoneProgressBegin(
            title="codecomp", message="indexing the workspace", percentage=0, cancellable=False))
        return token

    def _report(self, token: str, message: str, percentage: int) -> None:
        self.ls.work_done_progress.report(token, types.WorkDoneProgressReport(message=message,
                                                                             percentage=percentage))

    def _end(self, token: str, message: str) -> None:
        self.ls.work_done_progress.end(token, types.WorkDoneProgressEnd(message=message))

    async def _watch(self) -> None:
        """Ask the client to send didChangeWatchedFiles for source files (once, when it can be asked)."""
        if self._watching or not self.watch_registration:
            return
        self._watching = True
        options = types.DidChangeWatchedFilesRegistrationOptions(
            watchers=[types.FileSystemWatcher(glob_pattern=SOURCE_GLOB)])
        params = types.RegistrationParams(registrations=[types.Registration(
            id="codecomp-watched-files", method=types.WORKSPACE_DID_CHANGE_WATCHED_FILES, register_options=options)])
        try:
            await asyncio.wait_for(self.ls.client_register_capability_async(params), 2.0)
        except Exception as exc:
            log.info("client/registerCapability for file watching failed: %s", exc)

    # -- events ---------------------------------------------------------------------------------------------------
    def files_changed(self, changes: Iterable[types.FileEvent]) -> None:
        """workspace/didChangeWatchedFiles: re-read created / changed files, drop deleted ones (an open file is
        left as the editor has it: the index itself ignores disk events for it)."""
        index = self.index
        if index is None:
            return
        work = [(p, c.type) for c in changes if (p := uri_path(c.uri)) is not None]

        def apply() -> None:
            for path, kind in work:
                try:
                    if kind == types.FileChangeType.Deleted:
                        index.remove_file(path)
                    else:
                        index.update_file(path)
                except Exception:
                    log.exception("index update of %s failed", path)

        self._events.submit(apply)

    def folders_changed(self, event: types.WorkspaceFoldersChangeEvent) -> list[str]:
        """The roots after a workspace/didChangeWorkspaceFolders event."""
        removed = {uri_path(f.uri) for f in event.removed}
        roots = [r for r in self.roots if r not in removed]
        for f in event.added:
            path = uri_path(f.uri)
            if path is not None and os.path.isdir(path) and path not in roots:
                roots.append(path)
        self.roots = roots
        return roots

    def schedule_sync(self) -> None:
        """After an edit: hand the open documents' texts to the index when typing pauses (`SYNC_DELAY_S`)."""
        if self.index is None:
            return
        if self._sync_handle is not None:
            self._sync_handle.cancel()
        loop = asyncio.get_running_loop()
        self._sync_handle = loop.call_later(SYNC_DELAY_S, self.sync_now)

    def sync_now(self, uri: str | None = None) -> None:
        """Bring the engine (and through it the index) to the editor's current text of the open documents
        (one, or all with None); runs on the engine worker, in order with the completions."""
        self._sync_handle = None
        if self.index is None:
            return
        docs = [self.ls.docs.get(uri)] if uri is not None else list(self.ls.docs)
        snaps = [s for s in (self.ls.snapshot(d, quiet=True) for d in docs if d is not None) if s is not None]
        self.ls.host.submit(self.ls.host.sync_workspace, snaps)

    def shutdown(self) -> None:
        """Stop building and applying events (the server is exiting)."""
        if self.index is not None:
            self.index.cancel()
        self._events.shutdown(wait=False, cancel_futures=True)
