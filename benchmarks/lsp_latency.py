"""Completion latency of the language server, measured by a real LSP client over stdio.

Scenarios (`--scenario`, several may be given, comma-separated):

* `typing` (default): the client opens a file's first part, then types the rest one character at a time (one
  incremental didChange per keystroke, UTF-16 ranges) and asks for completions as an editor does: at every
  identifier character and after ".", "->" and "::", waiting for each answer before the next keystroke.  Some
  requests are cancelled at once (not timed), as an editor cancels a request when the user types on.
* `paced`: the same keystrokes on a clock (`--interval-ms`, default 20 ms), each a didChange plus, at identifier
  and trigger characters, a completion request, WITHOUT waiting for answers: a fast typist whose editor does
  not throttle.  Every request is timed; "answered with items" are those that were not superseded by a newer
  request for the document (the server answers those at once with an empty, incomplete list).
* `flood`: `--flood` completion requests at one position sent without waiting; all must be answered.
* `jump`: the cursor jumps to a random identifier far from the last request, the editor sends the whole text
  (one full-document didChange with one character typed there) and asks for completions: what happens when a
  user moves elsewhere in a file and types or presses Ctrl+Space.  `--move-ms` (default 300) is the time the
  user takes to get there, during which the server is idle; `--move-ms 0` is the worst case (no idle time).

Files: `--file PATH` (repeatable), or `--corpus DIR --split test --files N` (N held-out files drawn stratified by
project, each at least `--min-lines` lines).  With `--workspace DIR` the server is started with DIR as its root
folder, so it indexes the project; typing starts once the index reports its build ended, and the files (`--file`
inside DIR, else `--files` files of DIR drawn at random) are typed under their own URIs, as in an editor: the
"typing with the project index live" figure.  Latency is measured on the client, from sending a request to
receiving its answer.  Prints p50 / p95 / p99 (ms) per scenario and the server's resident memory.
Targets: typing identifiers p50 <= 5 ms, p99 <= 20 ms; paced p99 <= 50 ms; jump p99 <= 25 ms.  The server does not
import from its working directory: to measure a checkout of older code, run this script from that checkout with
the checkout on `PYTHONPATH` (else its server runs the installed engine).

    python benchmarks/lsp_latency.py --corpus data/default --split test --files 6 --scenario typing,paced,jump
"""
from __future__ import annotations

import argparse
import contextlib
import json
import random
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.lsp_client import SERVER, LspProcess  # noqa: E402

DEFAULT_FILE = REPO / "corpora" / "fixtures" / "wordfreq" / "wordfreq.cpp"
LANG = {".cpp": "cpp", ".cc": "cpp", ".h": "cpp", ".hpp": "cpp", ".js": "javascript", ".mjs": "javascript"}
SCENARIOS = ("typing", "paced", "flood", "jump")


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[k]


def summary(values: list[float]) -> dict:
    return {"n": len(values), "p50_ms": percentile(values, 50), "p95_ms": percentile(values, 95),
            "p99_ms": percentile(values, 99), "max_ms": max(values) if values else float("nan"),
            "mean_ms": statistics.fmean(values) if values else float("nan")}


def utf16(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def position(text: str, offset: int) -> dict:
    before = text[:offset]
    line = before.count("\n")
    return {"line": line, "character": utf16(before[before.rfind("\n") + 1:])}


def completion_params(uri: str, pos: dict, ch: str, trigger: bool) -> dict:
    return {"textDocument": {"uri": uri}, "position": pos,
            "context": {"triggerKind": 2 if trigger else 1, **({"triggerCharacter": ch} if trigger else {})}}


def is_trigger(ch: str, prev: str) -> bool:
    return ch == "." or (ch == ">" and prev == "-") or (ch == ":" and prev == ":")


class Typist:
    """Types characters into an open document with incremental didChange notifications."""

    def __init__(self, server: LspProcess, uri: str, typed: str) -> None:
        self.server, self.uri = server, uri
        self.line = typed.count("\n")
        self.col = utf16(typed[typed.rfind("\n") + 1:])
        self.version = 1
        self.prev = typed[-1:]

    def key(self, ch: str) -> tuple[dict, bool, bool]:
        """Type `ch`; (position after it, identifier character?, trigger character?)."""
        self.version += 1
        self.server.notify("textDocument/didChange", {
            "textDocument": {"uri": self.uri, "version": self.version},
            "contentChanges": [{"range": {"start": {"line": self.line, "character": self.col},
                                          "end": {"line": self.line, "character": self.col}}, "text": ch}]})
        if ch == "\n":
            self.line, self.col = self.line + 1, 0
        else:
            self.col += utf16(ch)
        trigger = is_trigger(ch, self.prev)
        self.prev = ch
        return {"line": self.line, "character": self.col}, ch.isalnum() or ch == "_", trigger


def answer_of(resp: dict | None, where: str) -> dict:
    if resp is None or "result" not in resp:
        raise RuntimeError(f"no completion answer {where}: {resp}")
    return resp["result"] or {}


def scenario_typing(server: LspProcess, uri: str, typed: str, rest: str, args, rng) -> dict:
    ident_ms: list[float] = []
    other_ms: list[float] = []
    cancelled = 0
    typist = Typist(server, uri, typed)
    for ch in rest:
        if args.think_ms:
            time.sleep(args.think_ms / 1000)
        pos, ident, trigger = typist.key(ch)
        if not (ident or trigger):
            continue
        t0 = time.perf_counter()
        msg_id = server.request("textDocument/completion", completion_params(uri, pos, ch, trigger))
        if rng.random() < args.cancel_fraction:
            server.notify("$/cancelRequest", {"id": msg_id})
            server.wait(msg_id, args.timeout)
            cancelled += 1
            continue
        answer_of(server.wait(msg_id, args.timeout), f"at {pos}")
        (ident_ms if ident else other_ms).append((time.perf_counter() - t0) * 1e3)
    return {"identifier": ident_ms, "all": ident_ms + other_ms, "cancelled": cancelled}


def scenario_paced(server: LspProcess, uri: str, typed: str, rest: str, args, rng) -> dict:
    typist = Typist(server, uri, typed)
    sent: dict = {}
    start = time.perf_counter()
    for k, ch in enumerate(rest):
        due = start + k * args.interval_ms / 1000
        while (now := time.perf_counter()) < due:
            time.sleep(min(0.002, due - now))
        pos, ident, trigger = typist.key(ch)
        if ident or trigger:
            t0 = time.perf_counter()
            sent[server.request("textDocument/completion", completion_params(uri, pos, ch, trigger))] = t0
    every, useful = [], []
    for msg_id, t0 in sent.items():
        result = answer_of(server.wait(msg_id, args.timeout), f"to request {msg_id}")
        ms = (server.inbox.arrived.pop(msg_id) - t0) * 1e3
        every.append(ms)
        if result.get("items"):
            useful.append(ms)
    return {"all": every, "with items": useful}


def scenario_flood(server: LspProcess, uri: str, typed: str, rest: str, args, rng) -> dict:
    pos = position(typed, len(typed))
    sent = {}
    for _ in range(args.flood):
        t0 = time.perf_counter()
        sent[server.request("textDocument/completion", completion_params(uri, pos, "", False))] = t0
    every = []
    for msg_id, t0 in sent.items():
        answer_of(server.wait(msg_id, args.timeout), f"to flood request {msg_id}")
        every.append((server.inbox.arrived.pop(msg_id) - t0) * 1e3)
    return {"all": every}


def scenario_jump(server: LspProcess, uri: str, typed: str, rest: str, args, rng) -> dict:
    text = typed + rest
    version = 1000
    # the first character of identifiers, at least 2 KB apart from one jump to the next
    starts = [i for i in range(1, len(text)) if (text[i].isalpha() or text[i] == "_")
              and not (text[i - 1].isalnum() or text[i - 1] == "_")]
    if not starts:
        return {"all": []}
    ms: list[float] = []
    last = len(typed)
    server.call("textDocument/completion", completion_params(uri, position(text, last), "", False), args.timeout)
    for _ in range(args.jumps):
        time.sleep(args.move_ms / 1000)  # the user moves the cursor there: the server is idle meanwhile
        far = [i for i in starts if abs(i - last) > 2048] or starts
        at = rng.choice(far)
        text = text[:at] + text[at] + text[at:]        # one character typed there (the name's first letter)
        version += 1
        server.notify("textDocument/didChange", {"textDocument": {"uri": uri, "version": version},
                                                 "contentChanges": [{"text": text}]})
        t0 = time.perf_counter()
        answer_of(server.call("textDocument/completion", completion_params(uri, position(text, at + 1), "", False),
                              args.timeout), f"after a jump to {at}")
        ms.append((time.perf_counter() - t0) * 1e3)
        starts = [i + (i > at) for i in starts]
        last = at
    return {"all": ms}


RUNNERS = {"typing": scenario_typing, "paced": scenario_paced, "flood": scenario_flood, "jump": scenario_jump}


def run_file(path: Path, source: str, lang: str, scenario: str, args) -> tuple[dict, float]:
    """One server, one file, one scenario: (lists of milliseconds by row, server RSS in bytes)."""
    split = int(len(source) * args.start_fraction)
    typed, rest = source[:split], source[split:]
    rest = rest[: args.keystrokes] if args.keystrokes else rest
    rng = random.Random(args.seed)
    cmd = SERVER + (["--model", str(args.model)] if args.model else [])
    if args.workspace is None:
        uri = path.resolve().as_uri().replace(path.name, "typed-" + path.name)
    else:  # the file's own URI: the editor's text replaces its disk copy in the index
        uri = path.resolve().as_uri()
    if args.server_log is not None:  # per request: queue wait, sync and engine time, the engine's stages
        cmd += ["--log-level", "debug"]
    with contextlib.ExitStack() as stack:
        stderr = stack.enter_context(open(args.server_log, "ab")) if args.server_log is not None \
            else subprocess.DEVNULL
        with LspProcess(cmd, cwd=str(REPO), stderr=stderr) as server:
            caps: dict = {"textDocument": {"completion": {}}}
            if args.inline_client:
                caps["textDocument"]["inlineCompletion"] = {}  # fragments then go to ghost text, not the list
            root = None
            if args.workspace is not None:
                root = args.workspace.resolve().as_uri()
                caps["window"] = {"workDoneProgress": True}  # the index reports its build, whose end is waited for
            server.initialize(caps, {"maxItems": args.max_items}, root_uri=root)
            if root is not None and not server.wait_for_progress_end(args.index_timeout):
                raise RuntimeError(f"the server did not finish indexing {args.workspace} in {args.index_timeout:g} s")
            server.open(uri, source if scenario == "jump" else typed, lang)
            # Warm up (the engine loads its model on the first request) and let the model load finish.
            warm = server.call("textDocument/completion", {"textDocument": {"uri": uri},
                                                           "position": {"line": 0, "character": 0}}, 60)
            assert warm is not None, "the server did not answer the warm-up request"
            time.sleep(0.5)
            if scenario == "jump":
                typed, rest = source, ""
            rows = RUNNERS[scenario](server, uri, typed, rest, args, rng)
            rss = server.rss_bytes()
            code = server.close()
    if code not in (0, None):
        raise RuntimeError(f"the server exited with {code}")
    return rows, rss


def workspace_sources(args) -> list[tuple[Path, str, str]]:
    """`--files` of the workspace's files with at least `--min-lines` lines, drawn at random among those the
    server's index reads (the same discovery: .gitignore, skipped folders, minified files left out)."""
    from codecomp.engine.workspace import discover

    found = sorted((Path(d.path), d.lang) for d in discover([args.workspace]).files
                   if args.lang is None or d.lang == args.lang)
    random.Random(args.seed).shuffle(found)
    out = []
    for f, lang in found:
        text = f.read_text(encoding="utf-8", errors="replace").replace("\r\n", "\n")
        if text.count("\n") >= args.min_lines:
            out.append((f, text, lang))
        if len(out) >= args.files:
            break
    return out


def sources(args) -> list[tuple[Path, str, str]]:
    if args.workspace is not None and args.corpus is None and not args.file:
        return workspace_sources(args)
    if args.corpus is None:
        return [(f, f.read_text(encoding="utf-8").replace("\r\n", "\n"), LANG.get(f.suffix, "cpp"))
                for f in (args.file or [DEFAULT_FILE])]
    from codecomp.eval.harness import load_split

    rows = [r for r in load_split(args.corpus, args.split, None, args.seed)
            if r["text"].count("\n") >= args.min_lines and (args.lang is None or r["language"] == args.lang)]
    rng = random.Random(args.seed)
    by_project: dict[str, list] = {}
    for r in rows:
        by_project.setdefault(r["project"], []).append(r)
    chosen = []
    projects = sorted(by_project)
    rng.shuffle(projects)
    while len(chosen) < args.files and any(by_project.values()):
        for p in projects:
            if by_project[p] and len(chosen) < args.files:
                chosen.append(by_project[p].pop(rng.randrange(len(by_project[p]))))
    tmp = Path(tempfile.mkdtemp(prefix="lsp-latency-"))
    out = []
    for r in chosen:
        suffix = ".js" if r["language"] == "javascript" else ".cpp"
        f = tmp / f"{r['project']}-{Path(r['path']).stem}{suffix}"
        f.write_text(r["text"], encoding="utf-8")
        out.append((f, r["text"].replace("\r\n", "\n"), r["language"]))
    return out


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--file", type=Path, action="append", help="source file to type (C++ or JavaScript); repeatable")
    p.add_argument("--corpus", type=Path, default=None, help="corpus folder: draw --files files of --split")
    p.add_argument("--split", default="test")
    p.add_argument("--workspace", type=Path, default=None,
                   help="project folder the server indexes (its root); without --file or --corpus, files are drawn "
                        "from it")
    p.add_argument("--index-timeout", type=float, default=600.0, help="seconds to wait for the index (--workspace)")
    p.add_argument("--files", type=int, default=6, help="files drawn from --corpus, stratified by project")
    p.add_argument("--min-lines", type=int, default=150, help="only files of at least this many lines (--corpus)")
    p.add_argument("--lang", choices=["cpp", "javascript"], default=None, help="only files of this language")
    p.add_argument("--scenario", default="typing", help=f"comma-separated: {', '.join(SCENARIOS)}")
    p.add_argument("--model", type=Path, default=None, help="model artifact folder (default: the shipped one)")
    p.add_argument("--keystrokes", type=int, default=600, help="type at most this many characters per file (0: all)")
    p.add_argument("--start-fraction", type=float, default=0.3, help="part of the file opened before typing starts")
    p.add_argument("--cancel-fraction", type=float, default=0.1, help="typing: share of requests cancelled at once")
    p.add_argument("--interval-ms", type=float, default=20.0, help="paced: milliseconds between keystrokes")
    p.add_argument("--flood", type=int, default=2000, help="flood: requests sent without waiting")
    p.add_argument("--jumps", type=int, default=60, help="jump: jumps per file")
    p.add_argument("--move-ms", type=float, default=300.0,
                   help="jump: time between an answer and the next jump (the user moving the cursor; 0: none)")
    p.add_argument("--max-items", type=int, default=50)
    p.add_argument("--inline-client", action="store_true",
                   help="declare inline completion: the list then skips fragment decoding, as for such editors")
    p.add_argument("--think-ms", type=float, default=0.0,
                   help="typing: pause before each keystroke, after the answer to the one before when it asked for "
                        "one (a typist's pace; 0: the next key goes out as soon as the answer is in)")
    p.add_argument("--server-log", type=Path, default=None,
                   help="append the server's debug log to this file (each completion's queue wait, sync and engine "
                        "time, with the engine's stages)")
    p.add_argument("--timeout", type=float, default=30.0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", type=Path, default=None, help="also write the figures as JSON here")
    args = p.parse_args(argv)
    scenarios = [s.strip() for s in args.scenario.split(",") if s.strip()]
    for s in scenarios:
        if s not in SCENARIOS:
            p.error(f"unknown scenario {s!r}; choose from {', '.join(SCENARIOS)}")
    for f in args.file or []:
        if not f.is_file():
            p.error(f"--file {f} does not exist")
    if args.workspace is not None and not args.workspace.is_dir():
        p.error(f"--workspace {args.workspace} is not a folder")
    if not 0 <= args.start_fraction < 1:
        p.error("--start-fraction must be in [0, 1)")
    files = sources(args)
    if not files:
        p.error("no file to type (check --corpus, --split, --min-lines, --lang)")
    results: dict = {"files": [str(f.name) for f, _, _ in files], "model": str(args.model or "default"),
                     "inline_client": args.inline_client, "scenarios": {}}
    max_rss = 0
    for scenario in scenarios:
        pooled: dict[str, list[float]] = {}
        extra: dict[str, int] = {}
        for f, source, lang in files:
            rows, rss = run_file(f, source, lang, scenario, args)
            max_rss = max(max_rss, rss)
            for name, value in rows.items():
                if isinstance(value, list):
                    pooled.setdefault(name, []).extend(value)
                else:
                    extra[name] = extra.get(name, 0) + value
        results["scenarios"][scenario] = {**{k: summary(v) for k, v in pooled.items()}, **extra}
    results["server_rss_mib"] = max_rss / (1 << 20)
    print(f"{len(files)} file(s): {', '.join(results['files'])}")
    print("| scenario | requests | n | p50 ms | p95 ms | p99 ms | max ms |\n|---|---|---|---|---|---|---|")
    for scenario, rows in results["scenarios"].items():
        for name, s in rows.items():
            if isinstance(s, dict):
                print(f"| {scenario} | {name} | {s['n']} | {s['p50_ms']:.2f} | {s['p95_ms']:.2f} | {s['p99_ms']:.2f} "
                      f"| {s['max_ms']:.2f} |")
    print(f"server RSS {max_rss / (1 << 20):.1f} MiB; targets: typing identifier p50 <= 5 ms, p99 <= 20 ms; "
          "paced p99 <= 50 ms; jump p99 <= 25 ms")
    print("command: python " + " ".join(shlex.quote(a) for a in [sys.argv[0], *(argv or sys.argv[1:])]))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return results


if __name__ == "__main__":
    main()
