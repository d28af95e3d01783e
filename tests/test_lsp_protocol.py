"""The server's JSON-RPC layer under bad input, its lifecycle, and the TCP transport.

Every malformed message gets a JSON-RPC error (or is ignored when it is a notification), and the server
keeps answering afterwards; nothing here may crash or hang it.
"""
from __future__ import annotations

import json
import socket
import subprocess
import time

from benchmarks.lsp_client import SERVER, LspProcess

DOC = "file:///proto/a.cpp"
TEXT = "int alpha = 1;\nint alphabet = 2;\nint z = al"
END = {"line": 2, "character": 10}


def frame(obj: object) -> bytes:
    body = json.dumps(obj).encode()
    return b"Content-Length: %d\r\n\r\n" % len(body) + body


def completion(server: LspProcess, uri: str = DOC, pos: dict = END) -> dict:
    resp = server.call("textDocument/completion", {"textDocument": {"uri": uri}, "position": pos}, 15)
    assert resp is not None, "no answer"
    return resp


def labels(resp: dict) -> list[str]:
    return [i["label"] for i in resp["result"]["items"]]


def test_malformed_messages_get_errors_and_the_server_keeps_answering() -> None:
    with LspProcess() as server:
        # The first answer also waits for the server to start: generous bound for a loaded machine.
        early = server.call("textDocument/completion", {"textDocument": {"uri": DOC}, "position": END}, 60)
        assert early is not None and early["error"]["code"] == -32002  # not initialized yet
        server.initialize()
        server.open(DOC, TEXT, "cpp")
        assert "alphabet" in labels(completion(server))

        server.send_raw(b"Content-Length: 9\r\n\r\n{not json")
        server.send_raw(frame([1, 2, 3]))
        server.send_raw(frame({"jsonrpc": "2.0", "id": {"x": 1}, "method": "textDocument/completion"}))
        server.send_raw(b"Content-Type: application/json\r\n\r\n" + json.dumps({"jsonrpc": "2.0", "id": 99, "method": "x"}).encode())
        server.send_raw(b"Content-Length: -4\r\n\r\n")
        time.sleep(0.5)
        codes = sorted(e["error"]["code"] for e in server.inbox.null_id_errors)
        assert -32700 in codes and codes.count(-32600) >= 3, codes
        # the body sent without a length ran into the next header; the server resynchronises on it
        assert "alphabet" in labels(completion(server))

        bad_types = server.call("textDocument/completion", {"textDocument": 5, "position": "here"})
        assert bad_types is not None and bad_types["error"]["code"] == -32602
        assert "textDocument/completion" in bad_types["error"]["message"]
        negative = server.call("textDocument/completion", {"textDocument": {"uri": DOC}, "position": {"line": -1, "character": 0}})
        assert negative is not None and negative["error"]["code"] == -32602
        unknown = server.call("codecomp/doesNotExist", {})
        assert unknown is not None and unknown["error"]["code"] == -32601
        wrong_version = server.call("textDocument/completion", None)
        assert wrong_version is not None and "error" in wrong_version
        server.send_raw(frame({"jsonrpc": "1.0", "id": 7, "method": "textDocument/completion", "params": {}}))
        assert server.wait(7, 5)["error"]["code"] == -32600
        server.notify("textDocument/didChange", {"textDocument": None})
        server.notify("textDocument/didChange", {"textDocument": {"uri": "file:///never.js", "version": 2},
                                                 "contentChanges": [{"text": "x"}]})
        assert completion(server, "file:///never.js", {"line": 0, "character": 1})["result"]["items"] == []

        # a reversed range is applied with its ends swapped, as the editor's own text document does
        server.notify("textDocument/didChange", {"textDocument": {"uri": DOC, "version": 2}, "contentChanges": [
            {"range": {"start": {"line": 1, "character": 4}, "end": {"line": 1, "character": 0}}, "text": "int be"}]})
        found = labels(completion(server))  # `alphabet` is now declared as `bealphabet`
        assert "alpha" in found and "alphabet" not in found, found
        assert server.inbox.bad_frames == []
        assert server.close() == 0


def test_large_binary_documents_and_change_storms() -> None:
    with LspProcess() as server:
        server.initialize()
        big = "int value = 1;\n" + "x" * (5 << 20)
        server.open("file:///proto/big.cpp", big, "cpp")
        t0 = time.perf_counter()
        assert completion(server, "file:///proto/big.cpp", {"line": 1, "character": 100})["result"]["items"] == []
        server.open("file:///proto/blob.js", "\x00\x01binary\x02" * 1000, "javascript")
        assert completion(server, "file:///proto/blob.js", {"line": 0, "character": 3})["result"]["items"] == []
        assert time.perf_counter() - t0 < 15
        # 2000 keystrokes without waiting, then one request: it sees the final text
        server.open(DOC, "", "cpp")
        word = "int counter_value = 0;\nint y = coun"
        for i, ch in enumerate(word * 40):
            line = (word * 40)[:i].count("\n")
            col = i - ((word * 40)[:i].rfind("\n") + 1)
            server.notify("textDocument/didChange", {"textDocument": {"uri": DOC, "version": i + 2}, "contentChanges": [
                {"range": {"start": {"line": line, "character": col}, "end": {"line": line, "character": col}}, "text": ch}]})
        text = word * 40
        last = text.split("\n")[-1]
        resp = completion(server, DOC, {"line": text.count("\n"), "character": len(last)})
        assert "counter_value" in labels(resp)
        # reopened with a lower version (no didClose in between): the new text is what counts
        server.open(DOC, "int reopened_name = 1;\nint w = reo", "cpp", version=1)
        assert "reopened_name" in labels(completion(server, DOC, {"line": 1, "character": 11}))
        assert server.rss_bytes() < 1 << 30
        assert server.close() == 0


def test_lifecycle_exit_codes() -> None:
    with LspProcess() as server:
        server.initialize()
        down = server.call("shutdown")
        assert down is not None and "result" in down and down["result"] is None
        after = server.call("textDocument/completion", {"textDocument": {"uri": DOC}, "position": END})
        assert after is not None and after["error"]["code"] == -32600  # shutting down
        server.notify("exit")
        assert server.proc.wait(60) == 0
    with LspProcess() as server:
        server.initialize()
        server.notify("exit")  # exit without shutdown: code 1, as the specification asks
        assert server.proc.wait(60) == 1
    with LspProcess() as server:
        server.proc.stdin.close()  # the editor went away: the server leaves on its own
        assert server.proc.wait(60) == 0


def test_tcp_transport_and_cli_errors() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    proc = subprocess.Popen(SERVER + ["--tcp", f"127.0.0.1:{port}"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60   # start-up time on a loaded machine
        while True:
            try:
                conn = socket.create_connection(("127.0.0.1", port), timeout=10)
                break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise AssertionError("the server did not listen") from None
                time.sleep(0.05)
        with conn:
            reader = conn.makefile("rb")

            def call(obj: dict) -> dict:
                conn.sendall(frame(obj))
                while True:
                    length = None
                    while (line := reader.readline()).strip():
                        if line.lower().startswith(b"content-length"):
                            length = int(line.split(b":")[1])
                    msg = json.loads(reader.read(length))
                    if msg.get("id") == obj.get("id"):
                        return msg

            init = call({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"capabilities": {}}})
            assert init["result"]["capabilities"]["completionProvider"] is not None
            conn.sendall(frame({"jsonrpc": "2.0", "method": "initialized", "params": {}}))
            conn.sendall(frame({"jsonrpc": "2.0", "method": "textDocument/didOpen", "params": {"textDocument": {
                "uri": DOC, "languageId": "cpp", "version": 1, "text": TEXT}}}))
            res = call({"jsonrpc": "2.0", "id": 2, "method": "textDocument/completion",
                        "params": {"textDocument": {"uri": DOC}, "position": END}})
            assert "alphabet" in [i["label"] for i in res["result"]["items"]]
            call({"jsonrpc": "2.0", "id": 3, "method": "shutdown"})
            conn.sendall(frame({"jsonrpc": "2.0", "method": "exit"}))
        assert proc.wait(60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    bad = subprocess.run(SERVER + ["--tcp", "nowhere"], capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "HOST:PORT" in bad.stderr
    level = subprocess.run(SERVER + ["--log-level", "loud"], capture_output=True, text=True, timeout=60)
    assert level.returncode == 2 and "--log-level" in level.stderr
