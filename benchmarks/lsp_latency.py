"""Completion latency of the language server, measured by a real LSP client over stdio.

The client replays typing a held-out file: it opens the file's first part, then types the rest one
character at a time (one didChange per keystroke, incremental, UTF-16 ranges) and asks for completions as
an editor does: at every identifier character and after ".", "->" and "::".  Some requests are
cancelled, as an editor cancels the previous request when the user types on before it is answered; those
are not timed.  Latency is measured on the client from sending the request to receiving its response.

    python benchmarks/lsp_latency.py [--file FILE] [--model PATH] [--keystrokes N] [--json OUT]

prints p50 / p95 / p99 (ms) for identifier positions and for all requests, and the server's resident
memory.  Targets: identifiers p50 <= 5 ms, p99 <= 20 ms.
"""
from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from lsp_server.client import SERVER, LspProcess  # noqa: E402

DEFAULT_FILE = REPO / "corpora" / "fixtures" / "wordfreq" / "wordfreq.cpp"
LANG = {".cpp": "cpp", ".cc": "cpp", ".h": "cpp", ".hpp": "cpp", ".js": "javascript", ".mjs": "javascript"}


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[k]


def utf16(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def run(args: argparse.Namespace) -> dict:
    source = args.file.read_text(encoding="utf-8").replace("\r\n", "\n")
    lang = LANG.get(args.file.suffix, "cpp")
    split = int(len(source) * args.start_fraction)
    typed, rest = source[:split], source[split:]
    rest = rest[: args.keystrokes] if args.keystrokes else rest
    rng = random.Random(args.seed)
    cmd = SERVER + (["--model", str(args.model)] if args.model else [])
    uri = args.file.resolve().as_uri().replace(args.file.name, "typed-" + args.file.name)
    ident_ms: list[float] = []
    other_ms: list[float] = []
    cancelled = 0
    max_rss = 0
    with LspProcess(cmd, cwd=str(REPO)) as server:
        caps: dict = {"textDocument": {"completion": {}}}
        if args.inline_client:
            caps["textDocument"]["inlineCompletion"] = {}  # fragments then go to ghost text, not the list
        server.initialize(caps, {"maxItems": args.max_items})
        server.open(uri, typed, lang)
        # Warm up (the engine loads its model on the first request) and let the model load finish.
        warm = server.call("textDocument/completion", {"textDocument": {"uri": uri}, "position": {"line": 0, "character": 0}}, 60)
        assert warm is not None, "the server did not answer the warm-up request"
        time.sleep(0.5)
        line = typed.count("\n")
        col = utf16(typed[typed.rfind("\n") + 1 :])
        version = 1
        progress = _progress(len(rest), args.quiet)
        prev = typed[-1:] if typed else ""
        for ch in rest:
            version += 1
            server.notify("textDocument/didChange", {
                "textDocument": {"uri": uri, "version": version},
                "contentChanges": [{"range": {"start": {"line": line, "character": col},
                                              "end": {"line": line, "character": col}}, "text": ch}]})
            if ch == "\n":
                line, col = line + 1, 0
            else:
                col += utf16(ch)
            is_ident = ch.isalnum() or ch == "_"
            trigger = ch == "." or (ch == ">" and prev == "-") or (ch == ":" and prev == ":")
            prev = ch
            if progress is not None:
                progress.update(1)
            if not (is_ident or trigger):
                continue
            params = {"textDocument": {"uri": uri}, "position": {"line": line, "character": col},
                      "context": {"triggerKind": 2 if trigger else 1, **({"triggerCharacter": ch} if trigger else {})}}
            t0 = time.perf_counter()
            msg_id = server.request("textDocument/completion", params)
            if rng.random() < args.cancel_fraction:
                server.notify("$/cancelRequest", {"id": msg_id})
                server.wait(msg_id, args.timeout)
                cancelled += 1
                continue
            resp = server.wait(msg_id, args.timeout)
            elapsed = (time.perf_counter() - t0) * 1e3
            if resp is None or "result" not in resp:
                raise RuntimeError(f"no completion answer at {line}:{col}: {resp}")
            (ident_ms if is_ident else other_ms).append(elapsed)
            if len(ident_ms) % 25 == 0:
                max_rss = max(max_rss, server.rss_bytes())
            if args.think_ms:
                time.sleep(args.think_ms / 1000)
        max_rss = max(max_rss, server.rss_bytes())
        if progress is not None:
            progress.close()
        code = server.close()
    all_ms = ident_ms + other_ms
    result = {
        "file": str(args.file.relative_to(REPO) if args.file.is_relative_to(REPO) else args.file),
        "keystrokes": len(rest), "requests_timed": len(all_ms), "cancelled": cancelled,
        "identifier": {"n": len(ident_ms), "p50_ms": percentile(ident_ms, 50), "p95_ms": percentile(ident_ms, 95),
                       "p99_ms": percentile(ident_ms, 99), "mean_ms": statistics.fmean(ident_ms) if ident_ms else float("nan")},
        "all": {"n": len(all_ms), "p50_ms": percentile(all_ms, 50), "p95_ms": percentile(all_ms, 95),
                "p99_ms": percentile(all_ms, 99)},
        "server_rss_mib": max_rss / (1 << 20), "exit_code": code, "inline_client": args.inline_client, "model": str(args.model) if args.model else "default",
    }
    return result


def _progress(total: int, quiet: bool):
    if quiet:
        return None
    from tqdm import tqdm

    return tqdm(total=total, unit="key", desc="typing", file=sys.stderr)


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--file", type=Path, default=DEFAULT_FILE, help="held-out source file to type (C++ or JavaScript)")
    p.add_argument("--model", type=Path, default=None, help="model artifact folder (default: the shipped one)")
    p.add_argument("--keystrokes", type=int, default=0, help="type at most this many characters (0: the whole rest)")
    p.add_argument("--start-fraction", type=float, default=0.3, help="part of the file opened before typing starts")
    p.add_argument("--cancel-fraction", type=float, default=0.1, help="share of requests cancelled at once")
    p.add_argument("--max-items", type=int, default=50)
    p.add_argument("--inline-client", action="store_true",
                   help="declare inline completion: the list then skips fragment decoding, as for such editors")
    p.add_argument("--think-ms", type=float, default=0.0, help="pause after each answer (a typist's pace)")
    p.add_argument("--timeout", type=float, default=10.0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", type=Path, default=None, help="also write the figures as JSON here")
    p.add_argument("--quiet", action="store_true")
    args = p.parse_args(argv)
    if not args.file.is_file():
        p.error(f"--file {args.file} does not exist")
    if not 0 <= args.start_fraction < 1:
        p.error("--start-fraction must be in [0, 1)")
    res = run(args)
    ident, every = res["identifier"], res["all"]
    print(f"{res['file']}: {res['keystrokes']} keystrokes, {every['n']} timed requests, {res['cancelled']} cancelled")
    print(f"identifiers  p50 {ident['p50_ms']:.2f} ms  p95 {ident['p95_ms']:.2f} ms  p99 {ident['p99_ms']:.2f} ms  (n={ident['n']})")
    print(f"all          p50 {every['p50_ms']:.2f} ms  p95 {every['p95_ms']:.2f} ms  p99 {every['p99_ms']:.2f} ms")
    print(f"server RSS   {res['server_rss_mib']:.1f} MiB   targets: identifier p50 <= 5 ms, p99 <= 20 ms")
    if args.json:
        args.json.write_text(json.dumps(res, indent=2))
    return res


if __name__ == "__main__":
    main()
