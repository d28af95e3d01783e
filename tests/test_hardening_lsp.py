"""Hostile input at the language server's door: deep JSON, absurd lengths, a second TCP client, bad edits.

Each test speaks real LSP to a real server process (stdio or TCP on 127.0.0.1), except the framing tests,
which run the read loop itself over both of its readers so that every way a header can fall across reads
is covered.
"""
from __future__ import annotations

import asyncio
import io
import json
import socket
import subprocess
import time

import pytest

from benchmarks.lsp_client import SERVER, LspProcess
from lsp_server.protocol import MAX_HEADER_LINE, MAX_MESSAGE_BYTES, StreamReaderAdapter, ThreadedReader, read_loop

DOC = "file:///hardening/a.cpp"
TEXT = "int alpha = 1;\nint alphabet = 2;\nint z = al"
END = {"line": 2, "character": 10}


def frame(body: bytes) -> bytes:
    """One Content-Length frame around raw body bytes."""
    return b"Content-Length: %d\r\n\r\n" % len(body) + body


def request(msg_id: int, method: str, params: object) -> bytes:
    return frame(json.dumps({"jsonrpc": "2.0", "id": msg_id, "method": method, "params": params}).encode())


def labels(resp: dict | None) -> list[str]:
    assert resp is not None and "result" in resp, resp
    return [item["label"] for item in resp["result"]["items"]]


def complete(server: LspProcess, pos: dict = END, uri: str = DOC) -> dict | None:
    return server.call("textDocument/completion", {"textDocument": {"uri": uri}, "position": pos}, 15)


# ------------------------------------------------------------------------------------------- deep JSON
def test_deeply_nested_json_is_a_parse_error_and_the_server_keeps_serving() -> None:
    with LspProcess() as server:
        server.initialize()
        server.open(DOC, TEXT, "cpp")
        assert "alphabet" in labels(complete(server))

        server.send_raw(frame(b"[" * 5000 + b"]" * 5000))
        deep = (b'{"jsonrpc": "2.0", "id": 41, "method": "textDocument/completion", "params": '
                + b'{"a": ' * 100_000 + b"1" + b"}" * 100_000 + b"}")
        server.send_raw(frame(deep))
        # Shallow enough to decode, far deeper than any LSP message: answered with its own id.
        medium = (b'{"jsonrpc": "2.0", "id": 42, "method": "textDocument/completion", "params": '
                  + b"[" * 500 + b"]" * 500 + b"}")
        server.send_raw(frame(medium))
        answer = server.wait(42, 15)
        assert answer is not None and answer["error"]["code"] == -32700, answer

        assert "alphabet" in labels(complete(server)), "the server stopped answering after deep JSON"
        parse_errors = [e for e in server.inbox.null_id_errors if e["error"]["code"] == -32700]
        assert len(parse_errors) >= 2, server.inbox.null_id_errors
        assert server.inbox.bad_frames == []
        assert server.close() == 0


# ------------------------------------------------------------------------------------------- framing
def test_an_impossible_content_length_is_refused_at_once() -> None:
    with LspProcess() as server:
        server.initialize()
        server.open(DOC, TEXT, "cpp")
        server.send_raw(b"Content-Length: 18446744073709551616\r\n\r\n")
        t0 = time.monotonic()
        assert "alphabet" in labels(complete(server)), "the framing is still waiting for 2**64 bytes"
        assert time.monotonic() - t0 < 10
        # An oversized length followed by a real (unread) body: dropped up to the next header.
        server.send_raw(b"Content-Length: %d\r\n\r\n" % (MAX_MESSAGE_BYTES + 1) + b'{"x": "' + b"y" * 300_000 + b'"}')
        assert "alphabet" in labels(complete(server)), "the framing did not resynchronise"
        codes = [e["error"]["code"] for e in server.inbox.null_id_errors]
        assert codes.count(-32600) >= 2, codes
        assert server.close() == 0


class _Recorder:
    """Stands in for the protocol: records the bodies and errors the read loop hands it."""

    def __init__(self) -> None:
        self.bodies: list[bytes] = []
        self.errors: list[tuple[object, int]] = []

    def handle_body(self, body: bytes) -> None:
        self.bodies.append(body)

    def send_error(self, msg_id: object, code: int, message: str) -> None:
        self.errors.append((msg_id, code))


async def _read_all(data: bytes, kind: str) -> _Recorder:
    rec = _Recorder()
    if kind == "thread":
        reader: object = ThreadedReader(io.BytesIO(data))
    else:
        stream = asyncio.StreamReader(limit=1 << 16)
        stream.feed_data(data)
        stream.feed_eof()
        reader = StreamReaderAdapter(stream)
    await asyncio.wait_for(read_loop(reader, rec), 30)  # type: ignore[arg-type]
    return rec


@pytest.mark.parametrize("kind", ["thread", "stream"])
@pytest.mark.parametrize("garbage", [0, 5, MAX_HEADER_LINE - 7, 3 * MAX_HEADER_LINE - 3, (1 << 16) + 11, 200_001])
def test_framing_resynchronises_on_the_next_header_after_an_oversized_length(kind: str, garbage: int) -> None:
    good = b'{"jsonrpc": "2.0", "method": "ok"}'
    data = (b"Content-Length: 18446744073709551616\r\n\r\n" + b"z" * garbage + frame(good)
            + b"Content-Length: 99999999999999999999999\r\n\r\n" + frame(good))
    rec = asyncio.run(_read_all(data, kind))
    assert rec.bodies == [good, good], (rec.bodies, rec.errors)
    assert (None, -32600) in rec.errors


@pytest.mark.parametrize("value", [b"1_0", b"+10", b"\xd9\xa3", b"10 10", b"0x10"])
def test_content_length_must_be_plain_digits(value: bytes) -> None:
    good = b'{"jsonrpc": "2.0", "method": "ok"}'
    rec = asyncio.run(_read_all(b"Content-Length: " + value + b"\r\n\r\n" + frame(good), "stream"))
    assert good in rec.bodies and (None, -32600) in rec.errors


# ------------------------------------------------------------------------------------------- TCP
def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _connect(port: int, proc: subprocess.Popen) -> socket.socket:
    deadline = time.monotonic() + 60  # start-up on a loaded machine
    while True:
        try:
            return socket.create_connection(("127.0.0.1", port), timeout=15)
        except OSError:
            if time.monotonic() > deadline or proc.poll() is not None:
                raise AssertionError("the server did not listen") from None
            time.sleep(0.05)


def _read_reply(reader: io.BufferedReader, msg_id: int) -> dict:
    while True:
        length = None
        while (line := reader.readline()).strip():
            if line.lower().startswith(b"content-length"):
                length = int(line.split(b":")[1])
        assert length is not None, "the connection closed without a reply"
        msg = json.loads(reader.read(length))
        if msg.get("id") == msg_id and "method" not in msg:
            return msg


def test_tcp_serves_one_editor_and_closes_other_connections() -> None:
    port = _free_port()
    proc = subprocess.Popen(SERVER + ["--tcp", f"127.0.0.1:{port}"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        with _connect(port, proc) as editor:
            reader = editor.makefile("rb")
            editor.sendall(request(1, "initialize", {"capabilities": {}}))
            assert "capabilities" in _read_reply(reader, 1)["result"]
            editor.sendall(frame(b'{"jsonrpc": "2.0", "method": "initialized", "params": {}}'))
            with socket.create_connection(("127.0.0.1", port), timeout=15) as intruder:
                intruder.sendall(request(1, "initialize", {"capabilities": {}}))
                # The intruder is closed without a byte, and never receives the editor's traffic.
                received = b""
                intruder.settimeout(15)
                try:
                    while chunk := intruder.recv(65536):
                        received += chunk
                except ConnectionResetError:
                    pass  # closed with the intruder's request unread: a reset, also a refusal
                assert received == b""
                editor.sendall(frame(json.dumps({"jsonrpc": "2.0", "method": "textDocument/didOpen", "params": {
                    "textDocument": {"uri": DOC, "languageId": "cpp", "version": 1, "text": TEXT}}}).encode()))
                editor.sendall(request(2, "textDocument/completion", {"textDocument": {"uri": DOC}, "position": END}))
                reply = _read_reply(reader, 2)
                assert "alphabet" in [i["label"] for i in reply["result"]["items"]]
            editor.sendall(request(3, "shutdown", None))
            _read_reply(reader, 3)
            editor.sendall(frame(b'{"jsonrpc": "2.0", "method": "exit"}'))
        assert proc.wait(60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


# ------------------------------------------------------------------------------------------- bad edits
def _change(start: tuple[int, int], end: tuple[int, int], text: str) -> dict:
    return {"range": {"start": {"line": start[0], "character": start[1]},
                      "end": {"line": end[0], "character": end[1]}}, "text": text}


def test_reversed_and_out_of_range_edits_keep_the_editors_text() -> None:
    # The editor's true text after each edit, as the LSP libraries' reference text document computes it:
    # a reversed range has its ends swapped, a column past the end of a line means the end of that line.
    text = "int alpha = 1;\nint beta = 2;\nint z = "
    with LspProcess() as server:
        server.initialize()
        server.open(DOC, text, "cpp")
        server.notify("textDocument/didChange", {"textDocument": {"uri": DOC, "version": 2}, "contentChanges": [
            _change((1, 4), (1, 0), "int omega_")]})
        text = "int alpha = 1;\nint omega_beta = 2;\nint z = "
        server.notify("textDocument/didChange", {"textDocument": {"uri": DOC, "version": 3}, "contentChanges": [
            _change((2, 999), (2, 8), "ome")]})  # reversed, and its start is past the line end
        text += "ome"
        assert "omega_beta" in labels(complete(server, {"line": 2, "character": 11}))
        server.notify("textDocument/didChange", {"textDocument": {"uri": DOC, "version": 4}, "contentChanges": [
            _change((0, 50), (0, 4), "gamma_"), _change((0, 20), (0, 14), ";")]})
        text = "int gamma_;\nint omega_beta = 2;\nint z = ome"
        server.notify("textDocument/didChange", {"textDocument": {"uri": DOC, "version": 5}, "contentChanges": [
            _change((2, 11), (2, 8), "gam")]})
        text = "int gamma_;\nint omega_beta = 2;\nint z = gam"
        assert "gamma_" in labels(complete(server, {"line": 2, "character": len(text.split("\n")[2])}))
        assert server.close() == 0


# ------------------------------------------------------------------------------------- large documents
def test_huge_and_pathological_documents_are_answered_and_stay_in_bounds() -> None:
    """A long generated file, a 0.5M-character non-ASCII line and `a<` nested 100,000 deep: every request is
    answered (without syntax while a parse is under way or after one was given up), the small document keeps
    its real answers, and the deep case does not take the memory its parse would (several GB unbounded)."""
    small = "int alpha = 1;\nint alphabet = 2;\nint z = al"
    big = "".join(f"int value{i} = compute(value{i - 1}, {i});\n" for i in range(1, 30000)) + "int z = val"
    line = "let alpha = 1;\nconst s = '" + "é漢字🙂" * 120000 + "'; let zz = al"
    deep = "int f() { return " + "a<" * 100000 + "\nint z = al"
    with LspProcess() as server:
        server.initialize()
        server.open("file:///h/small.cpp", small, "cpp")
        for uri, text, lang in (("file:///h/big.cpp", big, "cpp"), ("file:///h/line.js", line, "javascript"),
                                ("file:///h/deep.cpp", deep, "cpp")):
            server.open(uri, text, lang)
            lines = text.split("\n")
            pos = {"line": len(lines) - 1, "character": len(lines[-1].encode("utf-16-le")) // 2}
            for _ in range(3):
                answer = complete(server, pos, uri)
                assert answer is not None and "result" in answer, (uri, answer)
            assert "alphabet" in labels(complete(server, END, "file:///h/small.cpp"))
        time.sleep(1.0)   # the idle parse slices go on; the deep parse is given up by its memory bound
        assert "value29999" in labels(complete(server, {"line": 29999, "character": 11}, "file:///h/big.cpp"))
        assert server.rss_bytes() < 400 * 2 ** 20
        assert server.close() == 0
