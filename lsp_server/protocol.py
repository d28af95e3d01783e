"""JSON-RPC framing and dispatch hardened against bad input.

pygls' own read loop trusts its peer: a request whose parameters do not match the LSP types is logged but
never answered (the client waits forever), a huge Content-Length is believed, and messages that are not
JSON objects (or nest too deeply for a recursive decoder) end in an exception.  This module reads frames
itself, bounds their length and nesting, and answers every request it cannot dispatch with a JSON-RPC error,
so that no input can make the server hang or exit.

It also replaces pygls' built-in text synchronisation handlers: documents are kept by `documents.py`
(LSP line-break rules, incremental line table) instead of pygls' workspace, which would also read files
from disk for documents the client never opened.
"""
from __future__ import annotations

import asyncio
import json
import logging
import queue
import re
import threading
from typing import Any, Awaitable, Callable, Protocol

import attrs
from lsprotocol import types
from pygls.exceptions import JsonRpcException
from pygls.protocol import LanguageServerProtocol
from pygls.protocol.language_server import lsp_method

log = logging.getLogger(__name__)

MAX_HEADER_LINE = 8 * 1024
MAX_MESSAGE_BYTES = 64 * 1024 * 1024
# No LSP message nests anywhere near this deep; the bound keeps deeply nested input away from the recursive
# code downstream (lsprotocol's converters, pygls' logging, our own JSON encoding of replies).
MAX_JSON_DEPTH = 128
# Bytes of a dropped over-long line kept to find a Content-Length header that straddles two reads.
_CARRY = 64

_HEADER_NAME = re.compile(rb"[A-Za-z0-9-]+")

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
SERVER_NOT_INITIALIZED = -32002


class AsyncReader(Protocol):
    """What the read loop needs from a byte stream (stdin in a thread, or an asyncio StreamReader)."""

    def readline(self) -> Awaitable[bytes]: ...

    def readexactly(self, n: int) -> Awaitable[bytes]: ...


class ThreadedReader:
    """A blocking binary stream (stdin) read on a daemon thread; EOF reads as b"".

    A daemon thread, not an executor: a read blocked on stdin must never keep the process from exiting.
    """

    def __init__(self, stream: Any) -> None:
        self._stream = stream
        self._jobs: queue.SimpleQueue = queue.SimpleQueue()
        threading.Thread(target=self._work, name="codecomp-stdin", daemon=True).start()

    def _work(self) -> None:
        while True:
            fn, arg, fut, loop = self._jobs.get()
            try:
                data = fn(arg)
            except Exception:  # a closed or broken stdin is EOF
                data = b""
            try:
                loop.call_soon_threadsafe(_resolve, fut, data)
            except RuntimeError:  # the loop is gone: nothing left to read for
                return

    async def _submit(self, fn: Callable[[int], bytes], arg: int) -> bytes:
        loop = asyncio.get_running_loop()
        fut = loop.create_future()
        self._jobs.put((fn, arg, fut, loop))
        return await fut

    async def readline(self) -> bytes:
        return await self._submit(self._stream.readline, MAX_HEADER_LINE)

    async def readexactly(self, n: int) -> bytes:
        return await self._submit(self._read, n)

    def _read(self, n: int) -> bytes:
        chunks: list[bytes] = []
        while n > 0:
            chunk = self._stream.read(n)
            if not chunk:
                break
            chunks.append(chunk)
            n -= len(chunk)
        return b"".join(chunks)


def _resolve(fut: asyncio.Future, data: bytes) -> None:
    if not fut.done():
        fut.set_result(data)


class StreamReaderAdapter:
    """asyncio.StreamReader with EOF read as b"" / a short read instead of exceptions."""

    def __init__(self, reader: asyncio.StreamReader) -> None:
        self._reader = reader

    async def readline(self) -> bytes:
        try:
            return await self._reader.readuntil(b"\n")
        except asyncio.IncompleteReadError as exc:
            return exc.partial
        except asyncio.LimitOverrunError as exc:
            # An over-long line cannot be a header: drop it, but hand back its last MAX_HEADER_LINE bytes
            # (no line break) so that the read loop skips it and can still find a header that began in it.
            dropped = await self._reader.readexactly(exc.consumed)
            return dropped[-MAX_HEADER_LINE:].rjust(MAX_HEADER_LINE, b" ")

    async def readexactly(self, n: int) -> bytes:
        try:
            return await self._reader.readexactly(n)
        except asyncio.IncompleteReadError as exc:
            return exc.partial


class CodecompProtocol(LanguageServerProtocol):
    """LanguageServerProtocol with hardened dispatch and document sync delegated to the server."""

    initialized_seen = False

    # -- text sync: the server's own document store, never pygls' workspace --------------------
    def _user(self, method: str):
        return self.fm.features.get(method)

    @lsp_method(types.TEXT_DOCUMENT_DID_OPEN)
    def lsp_text_document__did_open(self, params: types.DidOpenTextDocumentParams):
        if (handler := self._user(types.TEXT_DOCUMENT_DID_OPEN)) is not None:
            yield handler, (params,), None

    @lsp_method(types.TEXT_DOCUMENT_DID_CHANGE)
    def lsp_text_document__did_change(self, params: types.DidChangeTextDocumentParams):
        # A range that ends before it starts is applied with its ends swapped, as the reference text
        # document of the LSP libraries does, so that the server's text stays the editor's text; ignoring the
        # change while taking the new version would let the two differ silently from then on.
        changes = [normalize_change(change) for change in params.content_changes]
        if any(new is not old for new, old in zip(changes, params.content_changes)):
            log.warning("didChange %s v%s: a change range ends before it starts; applying it with its ends "
                        "swapped", params.text_document.uri, params.text_document.version)
            params = attrs.evolve(params, content_changes=changes)
        if (handler := self._user(types.TEXT_DOCUMENT_DID_CHANGE)) is not None:
            yield handler, (params,), None

    @lsp_method(types.TEXT_DOCUMENT_DID_CLOSE)
    def lsp_text_document__did_close(self, params: types.DidCloseTextDocumentParams):
        if (handler := self._user(types.TEXT_DOCUMENT_DID_CLOSE)) is not None:
            yield handler, (params,), None

    # -- hardened dispatch ----------------------------------------------------------------------
    def send_error(self, msg_id: Any, code: int, message: str) -> None:
        """Send a JSON-RPC error response (msg_id None for messages whose id could not be read)."""
        self._send_data({"jsonrpc": "2.0", "id": msg_id, "error": {"code": code, "message": message}})

    def handle_body(self, body: bytes) -> None:
        """Decode, validate and dispatch one message body.  Never raises except SystemExit (exit)."""
        try:
            data = json.loads(body)
        except RecursionError:
            # The decoder recurses once per level: deep nesting must be an error answer, not a crash.
            self.send_error(None, PARSE_ERROR, f"the message nests JSON deeper than {MAX_JSON_DEPTH} levels")
            return
        except (ValueError, UnicodeDecodeError) as exc:
            self.send_error(None, PARSE_ERROR, f"the message is not valid JSON: {exc}")
            return
        if json_depth(data) > MAX_JSON_DEPTH:
            # Parsed, but too deep for the recursive code after this point; answer the request if it is one.
            msg_id = data.get("id") if isinstance(data, dict) else None
            if isinstance(msg_id, bool) or not isinstance(msg_id, (int, str)):
                msg_id = None
            self.send_error(msg_id, PARSE_ERROR, f"the message nests JSON deeper than {MAX_JSON_DEPTH} levels")
            return
        if not isinstance(data, dict):
            self.send_error(None, INVALID_REQUEST, "a message must be a JSON object (batches are not supported)")
            return
        msg_id = data.get("id")
        method = data.get("method")
        is_request = "id" in data and "method" in data
        if "id" in data and (isinstance(msg_id, bool) or not isinstance(msg_id, (int, str))) and msg_id is not None:
            self.send_error(None, INVALID_REQUEST, "the message id must be a number or a string")
            return
        if method is not None and not isinstance(method, str):
            if "id" in data:
                self.send_error(msg_id, INVALID_REQUEST, "the method must be a string")
            return
        if data.get("jsonrpc") != "2.0":
            if is_request:
                self.send_error(msg_id, INVALID_REQUEST, 'the message must have "jsonrpc": "2.0"')
            return
        if is_request and method != types.INITIALIZE and not self.initialized_seen:
            self.send_error(msg_id, SERVER_NOT_INITIALIZED, "the server has not been initialized yet")
            return
        if is_request and method == types.INITIALIZE:
            if self.initialized_seen:
                self.send_error(msg_id, INVALID_REQUEST, "the server is already initialized")
                return
            self.initialized_seen = True
        if is_request and self._shutdown and method != types.EXIT:
            self.send_error(msg_id, INVALID_REQUEST, "the server is shutting down")
            return
        try:
            message = self.structure_message(data)
        except JsonRpcException as exc:
            if is_request:
                self.send_error(msg_id, exc.code, f"invalid parameters for {method}: {exc.message or exc}")
            else:
                log.warning("dropping malformed %s notification", method)
            return
        except Exception as exc:  # a converter bug must not end the server
            if is_request:
                self.send_error(msg_id, -32603, f"could not read the parameters of {method}: {exc}")
            return
        try:
            self.handle_message(message)
        except SystemExit:
            raise
        except Exception:
            log.exception("failed to handle %s", method)
            if is_request:
                self.send_error(msg_id, -32603, f"internal error while handling {method}")


def json_depth(value: Any) -> int:
    """Nesting depth of decoded JSON (a scalar is 0, `[]` is 1), computed without recursion."""
    depth = 0
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict):
            children = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        depth = max(depth, level)
        if depth > MAX_JSON_DEPTH:
            return depth  # deep enough to refuse; no need to walk the rest
        stack.extend((child, level + 1) for child in children if isinstance(child, (dict, list)))
    return depth


def normalize_change(change: Any) -> Any:
    """`change` with its range ends swapped when the range ends before it starts, else `change` itself.

    Positions compare as (line, character): clamping a position into the document keeps that order, so the
    swapped range never ends before it starts once converted to offsets.
    """
    rng = getattr(change, "range", None)
    if rng is None:
        return change
    start, end = rng.start, rng.end
    if (end.line, end.character) >= (start.line, start.character):
        return change
    return types.TextDocumentContentChangePartial(
        range=types.Range(start=end, end=start), text=change.text, range_length=change.range_length
    )


def _parse_length(value: bytes) -> int | None:
    """A Content-Length value: plain ASCII digits only (int() would also take "1_000" or "+5")."""
    digits = value.strip()
    if not digits or len(digits) > 20 or not digits.isdigit():
        return None
    return int(digits)


def _find_length(line: bytes) -> int | None:
    """The length of a Content-Length header glued to the end of other bytes, if there is one."""
    idx = line.lower().rfind(b"content-length:")
    if idx < 0:
        return None
    return _parse_length(line[idx + len(b"content-length:") :])


async def read_loop(reader: AsyncReader, protocol: CodecompProtocol) -> None:
    """Read Content-Length framed messages until EOF (or exit) and dispatch them."""
    carry = b""  # the tail of a dropped over-long line: a header may have started in it
    while True:
        length: int | None = None
        bad_header = False
        while True:
            line = await reader.readline()
            if not line:
                return  # EOF: the client is gone
            if len(line) >= MAX_HEADER_LINE and not line.endswith(b"\n"):
                bad_header = True  # an over-long line cannot be a header; skip the rest of it
                carry = line[-_CARRY:]
                continue
            if carry:
                line, carry = carry + line, b""
            stripped = line.strip()
            if not stripped:
                if length is not None or bad_header:
                    break
                continue  # stray blank lines between messages
            name, sep, value = stripped.partition(b":")
            if not sep:
                bad_header = True
                continue
            if name.strip().lower() == b"content-length":
                length = _parse_length(value)
                bad_header = bad_header or length is None
            elif (found := _find_length(stripped)) is not None:
                # Garbage ran into the next header (a body sent without a length): resynchronise on it.
                length = found
            elif not _HEADER_NAME.fullmatch(name.strip()):
                bad_header = True
        if length is None:
            log.warning("dropping a message without a valid Content-Length header")
            protocol.send_error(None, INVALID_REQUEST, "a message needs a valid Content-Length header")
            continue
        if length > MAX_MESSAGE_BYTES:
            # Refuse at once: reading (or skipping) a body of a length this large could take forever
            # (a length of 2**64 is never reached).  Whatever body follows is read as header lines that are
            # dropped until the next Content-Length header, where the framing resynchronises.
            log.warning("dropping a message announced as %d bytes (limit %d)", length, MAX_MESSAGE_BYTES)
            protocol.send_error(None, INVALID_REQUEST, f"messages are limited to {MAX_MESSAGE_BYTES} bytes")
            continue
        body = await reader.readexactly(length)
        if len(body) < length:
            return  # EOF in the middle of a message
        protocol.handle_body(body)
        # Let handlers scheduled by this message start before the next read.
        await asyncio.sleep(0)
