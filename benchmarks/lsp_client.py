"""A small synchronous LSP client over a server subprocess's stdio, for checking the server.

The latency benchmark, the fuzz campaign and the protocol, hardening and security tests drive the real server
through it (a tool of the repository, not part of the installed package).  It speaks raw bytes (so it can also
send malformed frames on purpose), reads the server's output on a thread and checks every frame the server
sends: a frame that is not valid JSON-RPC is recorded in `bad_frames`.
"""
from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Sequence

SERVER = [sys.executable, "-m", "lsp_server"]


@dataclass
class Inbox:
    """Everything the server has sent, by kind."""

    responses: dict[Any, dict] = field(default_factory=dict)
    arrived: dict[Any, float] = field(default_factory=dict)  # time.perf_counter() when each response came
    notifications: list[dict] = field(default_factory=list)
    requests: list[dict] = field(default_factory=list)
    null_id_errors: list[dict] = field(default_factory=list)
    bad_frames: list[str] = field(default_factory=list)


class LspProcess:
    """One server process and the client end of its stdio channel."""

    def __init__(
        self, cmd: Sequence[str] = SERVER, env: dict[str, str] | None = None, cwd: str | None = None,
        stderr: Any = subprocess.DEVNULL,
    ) -> None:
        self.proc = subprocess.Popen(
            list(cmd), stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr, env=env, cwd=cwd, bufsize=0
        )
        self.inbox = Inbox()
        self._cond = threading.Condition()
        self._ids = itertools.count(1)
        self._write_lock = threading.Lock()
        self._reader = threading.Thread(target=self._read, name="lsp-client-reader", daemon=True)
        self._reader.start()

    # -- output side ------------------------------------------------------------------------------
    def _read(self) -> None:
        out = self.proc.stdout
        assert out is not None
        while True:
            length = None
            while True:
                line = out.readline()
                if not line:
                    with self._cond:
                        self._cond.notify_all()
                    return
                if not line.strip():
                    break
                name, _, value = line.decode("latin-1").partition(":")
                if name.strip().lower() == "content-length":
                    length = int(value.strip())
            if length is None:
                self.inbox.bad_frames.append("a frame without Content-Length")
                continue
            body = out.read(length)
            try:
                msg = json.loads(body)
                assert isinstance(msg, dict) and msg.get("jsonrpc") == "2.0"
            except Exception:
                self.inbox.bad_frames.append(body[:200].decode("utf-8", "replace"))
                continue
            with self._cond:
                if "method" in msg and "id" in msg:
                    self.inbox.requests.append(msg)
                    self._reply_to_server(msg)
                elif "method" in msg:
                    self.inbox.notifications.append(msg)
                elif msg.get("id") is None:
                    self.inbox.null_id_errors.append(msg)
                else:
                    self.inbox.responses[msg["id"]] = msg
                    self.inbox.arrived[msg["id"]] = time.perf_counter()
                self._cond.notify_all()

    def _reply_to_server(self, msg: dict) -> None:
        # Server-to-client requests (workspace/configuration, registrations) get a neutral answer.
        result: Any = None
        if msg["method"] == "workspace/configuration":
            result = [None for _ in msg.get("params", {}).get("items", [])]
        threading.Thread(target=self.send, args=({"jsonrpc": "2.0", "id": msg["id"], "result": result},), daemon=True).start()

    # -- input side -------------------------------------------------------------------------------
    def send_raw(self, data: bytes) -> bool:
        """Write bytes to the server; False when the pipe is closed."""
        try:
            with self._write_lock:
                assert self.proc.stdin is not None
                self.proc.stdin.write(data)
            return True
        except (BrokenPipeError, OSError):
            return False

    def send(self, msg: dict) -> bool:
        body = json.dumps(msg).encode("utf-8")
        return self.send_raw(b"Content-Length: %d\r\n\r\n" % len(body) + body)

    def notify(self, method: str, params: Any = None) -> bool:
        return self.send({"jsonrpc": "2.0", "method": method, "params": params})

    def request(self, method: str, params: Any = None, msg_id: Any = None) -> Any:
        """Send a request; returns its id (see `wait`)."""
        msg_id = next(self._ids) if msg_id is None else msg_id
        self.send({"jsonrpc": "2.0", "id": msg_id, "method": method, "params": params})
        return msg_id

    def wait(self, msg_id: Any, timeout: float = 10.0) -> dict | None:
        """The response to `msg_id`, or None when none came within `timeout` seconds (or the server died)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while msg_id not in self.inbox.responses:
                left = deadline - time.monotonic()
                if left <= 0 or self.proc.poll() is not None and msg_id not in self.inbox.responses:
                    return self.inbox.responses.pop(msg_id, None)
                self._cond.wait(min(left, 0.5))
            return self.inbox.responses.pop(msg_id)

    def call(self, method: str, params: Any = None, timeout: float = 10.0) -> dict | None:
        return self.wait(self.request(method, params), timeout)

    # -- conversation helpers--------------------------------------------------------------------------
    def initialize(self, capabilities: dict | None = None, options: dict | None = None, timeout: float = 30.0,
                   root_uri: str | None = None) -> dict:
        resp = self.call("initialize", {
            "processId": os.getpid(), "rootUri": root_uri, "capabilities": capabilities or {},
            "initializationOptions": options or {},
        }, timeout)
        if resp is None or "result" not in resp:
            raise RuntimeError(f"the server did not initialize: {resp}")
        self.notify("initialized", {})
        return resp["result"]

    def wait_for_progress_end(self, timeout: float) -> bool:
        """Wait until the server ends a work-done progress (`$/progress` of kind "end"); False on timeout."""
        deadline = time.perf_counter() + timeout
        with self._cond:
            while True:
                if any(m.get("method") == "$/progress" and (m.get("params") or {}).get("value", {}).get("kind") == "end"
                       for m in self.inbox.notifications):
                    return True
                left = deadline - time.perf_counter()
                if left <= 0:
                    return False
                self._cond.wait(min(left, 0.5))

    def open(self, uri: str, text: str, language_id: str, version: int = 1) -> None:
        self.notify("textDocument/didOpen", {"textDocument": {"uri": uri, "languageId": language_id, "version": version, "text": text}})

    def rss_bytes(self) -> int:
        """Resident memory of the server process (0 once it has exited)."""
        try:
            with open(f"/proc/{self.proc.pid}/status", encoding="ascii") as fh:
                for line in fh:
                    if line.startswith("VmRSS:"):
                        return int(line.split()[1]) * 1024
        except OSError:
            pass
        return 0

    def alive(self) -> bool:
        return self.proc.poll() is None

    def close(self, timeout: float = 10.0) -> int:
        """shutdown + exit; kills the server if it does not leave in time.  Returns its exit code."""
        if self.alive():
            self.call("shutdown", None, timeout)
            self.notify("exit")
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc.stdin:
            try:
                self.proc.stdin.close()
            except OSError:
                pass
        return self.proc.returncode

    def __enter__(self) -> "LspProcess":
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.alive():
            self.close()
