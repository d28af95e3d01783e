"""Fuzz campaign against the language server over stdio.

A seeded generator plays LSP conversations against a real server process: documents opened, edited at
random (insertions, deletions, pastes of whole files, astral and combining characters, CRLF, full-text
syncs, didChange storms), completion / inline completion / code actions at random positions (valid ones
and invalid ones), cancellations, and malformed traffic (bad JSON, bad or missing Content-Length, wrong
parameter types, unknown methods, bad ids, batches, 5 MB and binary documents).

After every step it checks that the server still answers (each request gets a response within
--timeout seconds, else it counts a hang), that every response is valid JSON-RPC, that completion and
code-action results are well-formed LSP whose ranges lie inside the document as the client knows it, and
that the server's resident memory stays under --max-rss-mib.  A server that dies counts a crash and is
restarted (the last messages before it are kept in the report).

    python benchmarks/fuzz_lsp.py --messages 100000 --seed 7
prints: messages, requests, responses by kind, crashes, hangs, invalid responses, max RSS.  Exit status 1
when any crash, hang, invalid response or memory overrun was seen.
"""
from __future__ import annotations

import argparse
import json
import random
import re
import sys
import time
from collections import Counter, deque
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.lsp_client import SERVER, LspProcess  # noqa: E402

ENCODINGS = ("utf-16", "utf-8", "utf-32")
_BREAK = re.compile(r"\r\n|\r|\n")
SNIPPETS = [
    "x", "total", "std::vector<int> v;", "v.", "->", "::", "é", "e\u0301", "😀", "𝒳", "\r\n", "\n", "\t", " ",
    "for (int i = 0; i < n; ++i) {\n", "}\n", "const items = [];\n", "items.push(", "function f(a, b) {",
    "/* comment */", "// é😀\r\n", "\"str😀ing\"", "'a'", "`tmpl ${x}`", "#include <map>\n", "\u200b", "\ufeff",
]


def units(text: str, enc: str) -> int:
    if enc == "utf-8":
        return len(text.encode("utf-8", "surrogatepass"))
    if enc == "utf-32":
        return len(text)
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


class Mirror:
    """The client's copy of a document, kept independently of the server's code."""

    def __init__(self, uri: str, text: str, lang: str, enc: str) -> None:
        self.uri, self.text, self.lang, self.enc, self.version = uri, text, lang, enc, 1

    def lines(self) -> list[str]:
        """Lines without terminators, split on the LSP line breaks."""
        return _BREAK.split(self.text)

    def random_position(self, rng: random.Random) -> tuple[dict, int]:
        """A valid position (never inside a character or a line break) and its code-point offset."""
        starts = [0] + [m.end() for m in _BREAK.finditer(self.text)]
        line = rng.randrange(len(starts))
        end = len(self.text) if line + 1 == len(starts) else _BREAK.search(self.text, starts[line]).start()  # type: ignore[union-attr]
        chars = rng.randint(0, end - starts[line])
        content = self.text[starts[line] : starts[line] + chars]
        return {"line": line, "character": units(content, self.enc)}, starts[line] + chars

    def inside(self, pos: dict) -> bool:
        lines = self.lines()
        line, char = pos.get("line"), pos.get("character")
        if not isinstance(line, int) or not isinstance(char, int) or not 0 <= line < len(lines):
            return False
        return 0 <= char <= units(lines[line], self.enc)


@dataclass
class Report:
    messages: int = 0
    requests: int = 0
    responses: int = 0
    errors: Counter = field(default_factory=Counter)
    crashes: int = 0
    hangs: int = 0
    invalid: int = 0
    max_rss_mib: float = 0.0
    rss_overruns: int = 0
    framing_errors: int = 0  # error responses with a null id (unreadable frames), as JSON-RPC requires
    seconds: float = 0.0
    problems: list[str] = field(default_factory=list)

    def note(self, kind: str, detail: str) -> None:
        if len(self.problems) < 50:
            self.problems.append(f"{kind}: {detail}")


class Campaign:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.rng = random.Random(args.seed)
        self.report = Report()
        self.samples = [p.read_text(encoding="utf-8") for p in sorted((REPO / "corpora" / "fixtures").rglob("*"))
                        if p.is_file() and p.suffix in (".cpp", ".cc", ".h", ".hpp", ".js", ".mjs")] or ["int x;\n"]
        self.history: deque[str] = deque(maxlen=20)
        self.server: LspProcess | None = None
        self.docs: dict[str, Mirror] = {}
        self.enc = "utf-16"
        self.inline = False

    # -- server lifecycle ------------------------------------------------------------------------
    def start(self) -> None:
        self.server = LspProcess(SERVER + ["--log-level", "error"], cwd=str(REPO))
        self.enc = self.rng.choice(ENCODINGS)
        self.inline = self.rng.random() < 0.7
        caps: dict[str, Any] = {"general": {"positionEncodings": [self.enc]}, "textDocument": {"completion": {}}}
        if self.inline:
            caps["textDocument"]["inlineCompletion"] = {}
        result = self.server.initialize(caps, {"maxItems": self.rng.choice([5, 20, 50])}, timeout=60)
        self.enc = result["capabilities"].get("positionEncoding", "utf-16")
        self.report.messages += 2
        self.docs = {}

    def restart_after_crash(self, why: str) -> None:
        self.report.crashes += 1
        self.report.note("crash", f"{why}; last messages: {list(self.history)[-5:]}")
        if self.server is not None:
            self.report.framing_errors += len(self.server.inbox.null_id_errors)
            if self.server.alive():
                self.server.proc.kill()
        self.start()

    # -- sending -----------------------------------------------------------------------------------
    def _log(self, what: str) -> None:
        self.history.append(what[:300])

    def notify(self, method: str, params: Any) -> None:
        assert self.server is not None
        self._log(f"{method} {json.dumps(params)[:200]}")
        self.server.notify(method, params)
        self.report.messages += 1

    def request(self, method: str, params: Any, wait: bool = True) -> dict | None:
        assert self.server is not None
        self._log(f"{method} {json.dumps(params)[:200]}")
        msg_id = self.server.request(method, params)
        self.report.messages += 1
        self.report.requests += 1
        return self.collect(msg_id, method) if wait else {"id": msg_id, "method": method}

    def collect(self, msg_id: Any, method: str) -> dict | None:
        assert self.server is not None
        resp = self.server.wait(msg_id, self.args.timeout)
        if resp is None:
            if not self.server.alive():
                self.restart_after_crash(f"server exited (code {self.server.proc.returncode}) during {method}")
            else:
                self.report.hangs += 1
                self.report.note("hang", f"no answer to {method} within {self.args.timeout} s")
            return None
        self.report.responses += 1
        if "error" in resp:
            self.report.errors[str(resp["error"].get("code"))] += 1
        return resp

    def raw(self, data: bytes, label: str) -> None:
        assert self.server is not None
        self._log(f"RAW {label}: {data[:120]!r}")
        self.server.send_raw(data)
        self.report.messages += 1

    # -- steps ---------------------------------------------------------------------------------------
    def step(self) -> None:
        r = self.rng.random()
        if not self.docs or r < 0.04:
            self.open_doc()
        elif r < 0.45:
            self.edit()
        elif r < 0.50:
            self.storm()
        elif r < 0.72:
            self.feature_request("textDocument/completion")
        elif r < 0.78:
            self.feature_request("textDocument/inlineCompletion" if self.inline else "textDocument/completion")
        elif r < 0.83:
            self.feature_request("textDocument/codeAction")
        elif r < 0.87:
            self.cancelled_request()
        elif r < 0.95:
            self.malformed()
        elif r < 0.97:
            self.close_doc()
        else:
            self.invalid_position()

    def open_doc(self) -> None:
        lang = self.rng.choice(["cpp", "javascript", "c++", "javascriptreact", "plaintext"])
        ext = {"cpp": "cpp", "c++": "hpp", "javascript": "js", "javascriptreact": "jsx", "plaintext": "txt"}[lang]
        name = self.rng.choice(["a", "b", "é😀", "with space", "x%20y", "deep/dir/file"])
        uri = f"file:///fuzz/{name}{self.rng.randrange(1000)}.{ext}"
        text = self.rng.choice(self.samples) if self.rng.random() < 0.7 else "".join(
            self.rng.choice(SNIPPETS) for _ in range(self.rng.randrange(40)))
        if len(self.docs) > 12:
            self.close_doc()
        self.docs[uri] = Mirror(uri, text, lang, self.enc)
        self.notify("textDocument/didOpen", {"textDocument": {"uri": uri, "languageId": lang, "version": 1, "text": text}})

    def close_doc(self) -> None:
        if not self.docs:
            return
        uri = self.rng.choice(list(self.docs))
        del self.docs[uri]
        self.notify("textDocument/didClose", {"textDocument": {"uri": uri}})

    def _edit_text(self) -> str:
        r = self.rng.random()
        if r < 0.05:
            return self.rng.choice(self.samples)  # a paste of a whole file
        if r < 0.25:
            return ""  # a deletion
        return "".join(self.rng.choice(SNIPPETS) for _ in range(self.rng.randint(1, 4)))

    def edit(self, doc: Mirror | None = None) -> None:
        doc = doc or self.docs[self.rng.choice(list(self.docs))]
        doc.version += 1
        if self.rng.random() < 0.05 or len(doc.text) > 60_000:
            new = self._edit_text() if len(doc.text) > 60_000 else doc.text + self._edit_text()
            doc.text = new
            change: dict[str, Any] = {"text": new}
        else:
            (p1, o1), (p2, o2) = doc.random_position(self.rng), doc.random_position(self.rng)
            if o2 < o1:
                (p1, o1), (p2, o2) = (p2, o2), (p1, o1)
            new = self._edit_text()
            doc.text = doc.text[:o1] + new + doc.text[o2:]
            change = {"range": {"start": p1, "end": p2}, "text": new}
        self.notify("textDocument/didChange", {"textDocument": {"uri": doc.uri, "version": doc.version}, "contentChanges": [change]})

    def storm(self) -> None:
        doc = self.docs[self.rng.choice(list(self.docs))]
        for _ in range(self.rng.randint(5, 40)):
            self.edit(doc)
        self.feature_request("textDocument/completion", doc)

    def _params(self, method: str, doc: Mirror, pos: dict) -> dict:
        params: dict[str, Any] = {"textDocument": {"uri": doc.uri}, "position": pos}
        if method == "textDocument/inlineCompletion":
            params["context"] = {"triggerKind": self.rng.choice([1, 2])}
        if method == "textDocument/codeAction":
            params = {"textDocument": {"uri": doc.uri}, "range": {"start": pos, "end": pos}, "context": {"diagnostics": []}}
        return params

    def feature_request(self, method: str, doc: Mirror | None = None) -> None:
        doc = doc or self.docs[self.rng.choice(list(self.docs))]
        pos, _ = doc.random_position(self.rng)
        resp = self.request(method, self._params(method, doc, pos))
        if resp is not None:
            self.validate(method, resp, doc)

    def cancelled_request(self) -> None:
        doc = self.docs[self.rng.choice(list(self.docs))]
        pos, _ = doc.random_position(self.rng)
        sent = self.request("textDocument/completion", self._params("textDocument/completion", doc, pos), wait=False)
        assert sent is not None
        typed_on = self.rng.random() < 0.5
        if typed_on:
            self.edit(doc)  # typing on, as an editor does before cancelling
        self.notify("$/cancelRequest", {"id": sent["id"]})
        resp = self.collect(sent["id"], "cancelled completion")
        # An answer may legitimately describe the version before the edit, so only check it without one.
        if resp is not None and not typed_on and "result" in resp and resp["result"] is not None:
            self.validate("textDocument/completion", resp, doc)

    def invalid_position(self) -> None:
        doc = self.docs[self.rng.choice(list(self.docs))]
        pos = self.rng.choice([
            {"line": 10**6, "character": 0}, {"line": 0, "character": 10**6}, {"line": -1, "character": 0},
            {"line": 0, "character": -5}, {"line": 2**31, "character": 2**31}, {"line": "1", "character": 0},
            {"line": 0.5, "character": 1}, None, {},
        ])
        method = self.rng.choice(["textDocument/completion", "textDocument/codeAction", "textDocument/inlineCompletion"])
        resp = self.request(method, self._params(method, doc, pos))  # type: ignore[arg-type]
        if resp is not None and "result" in resp:
            self.validate(method, resp, doc)

    def malformed(self) -> None:
        kind = self.rng.randrange(12)
        good = {"jsonrpc": "2.0", "id": 10**9 + self.rng.randrange(10**6), "method": "textDocument/completion",
                "params": {"textDocument": {"uri": "file:///fuzz/none.cpp"}, "position": {"line": 0, "character": 0}}}
        if kind == 0:
            body = b'{"jsonrpc": "2.0", "id": 1, "method": '  # truncated JSON
            self.raw(b"Content-Length: %d\r\n\r\n" % len(body) + body, "bad json")
        elif kind == 1:
            body = bytes(self.rng.randrange(256) for _ in range(self.rng.randrange(1, 64)))
            self.raw(b"Content-Length: %d\r\n\r\n" % len(body) + body, "binary body")
        elif kind == 2:
            body = json.dumps(good).encode()
            self.raw(b"Content-Length: %d\r\n\r\n" % (len(body) - 7) + body, "short length")
        elif kind == 3:
            body = json.dumps(good).encode()
            pad = self.rng.randrange(1, 50)  # then exactly the missing bytes, so the frame ends where it says
            self.raw(b"Content-Length: %d\r\n\r\n" % (len(body) + pad) + body + b" " * pad, "long length")
        elif kind == 4:
            body = json.dumps(good).encode()
            self.raw(b"Content-Type: application/json\r\n\r\n" + body + b"\r\n", "no length")
        elif kind == 5:
            self.raw(b"Content-Length: banana\r\n\r\n{}\r\n", "non-numeric length")
        elif kind == 6:
            self.request("textDocument/completion", {"textDocument": 5, "position": "here"})
        elif kind == 7:
            self.request(self.rng.choice(["codecomp/unknown", "textDocument/hover", "workspace/symbol", ""]), {})
        elif kind == 8:
            self.raw(_frame([good, good]), "batch")
        elif kind == 9:
            self.raw(_frame({"jsonrpc": "2.0", "id": {"nested": 1}, "method": "textDocument/completion"}), "object id")
        elif kind == 10:
            self.notify("textDocument/didChange", {"textDocument": {"uri": "file:///fuzz/never-opened.js", "version": 3},
                                                   "contentChanges": [{"range": {"start": {"line": 9, "character": 9},
                                                                                 "end": {"line": 0, "character": 0}}, "text": "x"}]})
        else:
            self.notify(self.rng.choice(["textDocument/didOpen", "textDocument/didChange", "$/cancelRequest"]),
                        self.rng.choice([None, [], "text", {"textDocument": None}]))
        # After malformed traffic the server must still answer a real request.
        self.sentinel()

    def sentinel(self) -> None:
        self.request("codecomp/ping-unknown", None)

    def huge_and_binary(self) -> None:
        """A 5 MB document and a binary one: empty results, and the server keeps answering."""
        big = Mirror("file:///fuzz/huge.cpp", "int value = 1;\n" + "x" * (5 << 20), "cpp", self.enc)
        self.notify("textDocument/didOpen", {"textDocument": {"uri": big.uri, "languageId": "cpp", "version": 1, "text": big.text}})
        self.feature_request("textDocument/completion", big)
        blob = Mirror("file:///fuzz/blob.js", "".join(chr(self.rng.randrange(0, 256)) for _ in range(20000)), "javascript", self.enc)
        self.notify("textDocument/didOpen", {"textDocument": {"uri": blob.uri, "languageId": "javascript", "version": 1, "text": blob.text}})
        self.feature_request("textDocument/completion", blob)
        self.notify("textDocument/didClose", {"textDocument": {"uri": big.uri}})
        self.notify("textDocument/didClose", {"textDocument": {"uri": blob.uri}})

    # -- checks --------------------------------------------------------------------------------------
    def invalid(self, what: str) -> None:
        self.report.invalid += 1
        self.report.note("invalid", what)

    def validate(self, method: str, resp: dict, doc: Mirror) -> None:
        if "error" in resp:
            err = resp["error"]
            if not isinstance(err, dict) or not isinstance(err.get("code"), int) or not isinstance(err.get("message"), str):
                self.invalid(f"{method}: malformed error {err!r}")
            return
        result = resp.get("result")
        if method == "textDocument/completion":
            if result is None:
                return
            if not isinstance(result, dict) or not isinstance(result.get("items"), list):
                return self.invalid(f"completion result is not a CompletionList: {str(result)[:200]}")
            if len(result["items"]) > 500:
                self.invalid("more than 500 completion items")
            for item in result["items"]:
                if not isinstance(item.get("label"), str) or not item["label"]:
                    return self.invalid(f"completion item without label: {item}")
                edit = item.get("textEdit")
                if edit is not None:
                    self.check_range(edit.get("range"), doc, method)
        elif method == "textDocument/inlineCompletion":
            items = result.get("items") if isinstance(result, dict) else result
            if items is None:
                return
            for item in items:
                if not isinstance(item.get("insertText"), (str, dict)):
                    return self.invalid(f"inline item without insertText: {item}")
                if item.get("range") is not None:
                    self.check_range(item["range"], doc, method)
        elif method == "textDocument/codeAction":
            if result is None:
                return
            if not isinstance(result, list):
                return self.invalid(f"code actions are not a list: {str(result)[:200]}")
            for action in result:
                for uri, edits in ((action.get("edit") or {}).get("changes") or {}).items():
                    if uri != doc.uri:
                        self.invalid(f"a code action edits another document: {uri}")
                    for e in edits:
                        self.check_range(e.get("range"), doc, method)

    def check_range(self, rng: Any, doc: Mirror, method: str) -> None:
        if not isinstance(rng, dict) or not doc.inside(rng.get("start", {})) or not doc.inside(rng.get("end", {})):
            lines = doc.lines()
            line = rng.get("start", {}).get("line", 0) if isinstance(rng, dict) else 0
            near = lines[line] if isinstance(line, int) and 0 <= line < len(lines) else None
            return self.invalid(f"{method}: range {rng} outside {doc.uri} (version {doc.version}, {doc.enc}); "
                                f"{len(lines)} lines, line {line}: {near!r}")
        s, e = rng["start"], rng["end"]
        if (s["line"], s["character"]) > (e["line"], e["character"]):
            self.invalid(f"{method}: range {rng} ends before it starts")

    def check_memory(self) -> None:
        assert self.server is not None
        rss = self.server.rss_bytes() / (1 << 20)
        self.report.max_rss_mib = max(self.report.max_rss_mib, rss)
        if rss > self.args.max_rss_mib:
            self.report.rss_overruns += 1
            self.report.note("memory", f"RSS {rss:.0f} MiB over {self.args.max_rss_mib} MiB")

    # -- run -------------------------------------------------------------------------------------------
    def run(self) -> Report:
        t0 = time.perf_counter()
        self.start()
        self.huge_and_binary()
        next_big = self.args.messages // 2
        progress = _progress(self.args.messages, self.args.quiet)
        last = 0
        steps = 0
        while self.report.messages < self.args.messages:
            assert self.server is not None
            if not self.server.alive():
                self.restart_after_crash(f"server exited with code {self.server.proc.returncode}")
            self.step()
            steps += 1
            if steps % 50 == 0:
                self.check_memory()
                self.sentinel()
            if next_big and self.report.messages >= next_big:
                self.huge_and_binary()
                next_big = 0
            if progress is not None:
                progress.update(self.report.messages - last)
                last = self.report.messages
        self.check_memory()
        assert self.server is not None
        self.report.framing_errors += len(self.server.inbox.null_id_errors)
        if self.server.inbox.bad_frames:
            self.report.invalid += len(self.server.inbox.bad_frames)
            self.report.note("invalid", f"frames that are not JSON-RPC: {self.server.inbox.bad_frames[:3]}")
        code = self.server.close(timeout=self.args.timeout)
        if code != 0:
            self.report.note("exit", f"exit code {code} after shutdown/exit")
        if progress is not None:
            progress.close()
        self.report.seconds = time.perf_counter() - t0
        return self.report


def _frame(obj: Any) -> bytes:
    body = json.dumps(obj).encode()
    return b"Content-Length: %d\r\n\r\n" % len(body) + body


def _progress(total: int, quiet: bool) -> Any:
    if quiet:
        return None
    try:
        from tqdm import tqdm
    except ImportError:
        return None
    return tqdm(total=total, unit="msg", desc="fuzz", file=sys.stderr)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--messages", type=int, default=5000, help="messages to send in all (default 5000)")
    p.add_argument("--seed", type=int, default=0, help="random seed: the same seed plays the same campaign")
    p.add_argument("--timeout", type=float, default=10.0, help="seconds a request may take before it counts as a hang")
    p.add_argument("--max-rss-mib", type=float, default=1024.0, help="server memory limit (MiB) checked every 50 steps")
    p.add_argument("--json", type=Path, default=None, help="also write the report as JSON to this file")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    args = p.parse_args(argv)
    if args.messages < 1:
        p.error("--messages must be at least 1")
    return args


def main(argv: list[str] | None = None) -> Report:
    args = parse_args(argv)
    report = Campaign(args).run()
    summary = asdict(report)
    summary["errors"] = dict(report.errors)
    print(f"messages {report.messages}  requests {report.requests}  responses {report.responses}  "
          f"error responses {sum(report.errors.values())} {dict(report.errors)}  framing errors {report.framing_errors}")
    print(f"crashes {report.crashes}  hangs {report.hangs}  invalid {report.invalid}  "
          f"max RSS {report.max_rss_mib:.1f} MiB  memory overruns {report.rss_overruns}  time {report.seconds:.1f} s")
    for problem in report.problems[:10]:
        print("  ", problem)
    if args.json:
        args.json.write_text(json.dumps(summary, indent=2))
    return report


if __name__ == "__main__":
    r = main()
    sys.exit(1 if (r.crashes or r.hangs or r.invalid or r.rss_overruns) else 0)
