"""Privacy and isolation of the language server.

The server runs under a Python audit hook that records every file open, socket operation, subprocess and
import.  After a real conversation (documents whose URIs point at real files on disk, completion, inline
completion, code actions), the test checks that the server
* never opened the files behind the URIs it was sent (it works only on the text the client sent),
* opened no file outside the Python installation, the project's own code and its model,
* used no network socket and started no process,
* never imported torch or datasets (the serving path is torch-free),
and that its open file descriptors at the end are only its pipes, the event loop's own handles and files
under those same roots.
"""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from benchmarks.lsp_client import LspProcess

REPO = Path(__file__).resolve().parents[1]

# Installed before anything else in the server process; events are written with os.write, which itself
# raises no audit event, so recording cannot recurse.
WRAPPER = r"""
import json, os, sys
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
WATCH = ("open", "socket.", "subprocess.Popen", "os.system", "os.exec", "os.posix_spawn", "os.fork", "import")
def hook(event, args):
    if not event.startswith(WATCH):
        return
    if event == "import":
        args = (args[0],)
    elif event == "open":
        args = (str(args[0]), str(args[1]))
    else:
        args = tuple(repr(a)[:200] for a in args)
    os.write(fd, (json.dumps([event, args]) + "\n").encode())
sys.addaudithook(hook)
sys.argv = ["codecomp-serve"] + sys.argv[2:]
from lsp_server.cli import serve_command
import typer
typer.run(serve_command)
"""

INLINE_CAPS = {"textDocument": {"inlineCompletion": {"dynamicRegistration": False}, "completion": {}}}


def allowed_roots() -> list[str]:
    roots = {sys.prefix, sys.base_prefix, sys.exec_prefix, str(REPO / "codecomp"), str(REPO / "lsp_server")}
    return [os.path.realpath(r) for r in roots]


def test_server_reads_only_what_the_client_sent_and_opens_no_sockets(tmp_path: Path) -> None:
    secret = tmp_path / "secret.cpp"
    secret.write_text("int SECRET_ON_DISK_ONLY = 42;\n")
    events_path = tmp_path / "events.jsonl"
    uri = secret.as_uri()
    text = "int counter = 0;\nint main() { return cou"
    with LspProcess([sys.executable, "-c", WRAPPER, str(events_path)], cwd=str(tmp_path)) as server:
        server.initialize(INLINE_CAPS)
        server.open(uri, text, "cpp")
        server.open(uri.replace("secret", "other"), "", "cpp")
        pos = {"line": 1, "character": len("int main() { return cou")}
        res = server.call("textDocument/completion", {"textDocument": {"uri": uri}, "position": pos})
        assert res is not None and "result" in res
        labels = [i["label"] for i in res["result"]["items"]]
        assert "counter" in labels and "SECRET_ON_DISK_ONLY" not in labels
        inline = server.call("textDocument/inlineCompletion", {
            "textDocument": {"uri": uri}, "position": pos, "context": {"triggerKind": 2}})
        assert inline is not None and "result" in inline
        actions = server.call("textDocument/codeAction", {
            "textDocument": {"uri": uri}, "range": {"start": {"line": 0, "character": 5}, "end": {"line": 0, "character": 5}},
            "context": {"diagnostics": []}})
        assert actions is not None and "result" in actions
        # a request about a document never opened must not make the server read it from disk
        never = server.call("textDocument/completion", {"textDocument": {"uri": (tmp_path / "never.cpp").as_uri()},
                                                        "position": {"line": 0, "character": 0}})
        assert never is not None and never["result"]["items"] == []
        fds = fd_targets(server.proc.pid)
        assert server.close() == 0

    events = [json.loads(line) for line in events_path.read_text().splitlines()]
    assert events, "the audit hook recorded nothing"
    opened = [args[0] for ev, args in events if ev == "open"]
    touched = [p for p in opened if _inside(p, [str(tmp_path)]) and p != str(events_path)]
    assert touched == [], f"the server opened files named by document URIs: {touched}"
    roots = allowed_roots()
    # onnxruntime reads the distribution's name from /etc/os-release when it is imported (read-only).
    system_info = {"/etc/os-release", "/usr/lib/os-release"}
    outside = sorted({p for p in opened if not _inside(p, roots) and not p.startswith(("/proc/", "/dev/", "/sys/"))
                      and not p.isdigit() and p != str(events_path) and p not in system_info})
    assert outside == [], f"the server opened files outside its installation: {outside}"
    for mode_path in (args for ev, args in events if ev == "open"):
        if _inside(mode_path[0], roots):
            assert "w" not in mode_path[1] and "a" not in mode_path[1], f"the server wrote {mode_path}"

    network = [(ev, args) for ev, args in events if ev.startswith("socket.") and ev != "socket.__new__"]
    sockets = [args for ev, args in events if ev == "socket.__new__"]
    # the event loop's wake-up channel is a local socketpair (AF_UNIX); nothing else is allowed
    assert all("AF_UNIX" in args[1] or args[1] in ("1", "<AddressFamily.AF_UNIX: 1>") for args in sockets), sockets
    assert not [e for e in network if e[0] in ("socket.connect", "socket.bind", "socket.sendto", "socket.getaddrinfo")], network
    assert not [ev for ev, _ in events if ev.startswith(("subprocess.", "os.system", "os.exec", "os.posix_spawn", "os.fork"))]
    imported = {args[0] for ev, args in events if ev == "import"}
    heavy = sorted(m for m in imported if m.split(".")[0] in ("torch", "datasets", "pyarrow", "pandas"))
    assert heavy == [], f"the serving path imported {heavy}"
    assert "onnxruntime" in imported or "codecomp.engine" in imported

    for target in fds:
        assert target.startswith(("pipe:", "anon_inode:", "socket:", "/dev/")) or _inside(target, roots) \
            or target == str(events_path), f"unexpected open descriptor {target}"


def fd_targets(pid: int) -> list[str]:
    base = Path(f"/proc/{pid}/fd")
    out = []
    for fd in base.iterdir():
        try:
            out.append(os.readlink(fd))
        except OSError:
            continue
    return out


def _inside(path: str, roots: list[str]) -> bool:
    real = os.path.realpath(path)
    return any(real == r or real.startswith(r + os.sep) for r in roots)
