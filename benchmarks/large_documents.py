"""The language server on hostile large documents: is every request answered in time, and do other documents wait?

Three documents, each opened beside a small C++ document in a fresh server (over stdio, a real LSP client):

* `big`: about 1.9 MB of real C++ (source files of a project concatenated; `--cpp-dir`, default: a generated
  file of the same size when no folder is given);
* `line`: a JavaScript file with one line of 0.96M non-ASCII characters (accents, CJK, astral emoji);
* `deep`: C++ with `a<` nested 100,000 deep (a parse that grows without bound).

For each: the first completion on the large document (sent right after didOpen), a completion on the small
document sent 20 ms later (it waits for whatever the large one is doing), a small-document completion sent
while the large document's parse goes on in the background, five more completions on the large document after
typing, and the server's RSS.  Targets: every request answered within 1 s (a fallback answer counts); the small
document within 100 ms; RSS under 400 MB for `deep`.

    python benchmarks/large_documents.py [--cpp-dir data/.cache/debian/src/rocksdb] [--cases big,line,deep]
"""
from __future__ import annotations

import argparse
import shlex
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.lsp_client import SERVER, LspProcess  # noqa: E402

SMALL = "int alpha = 1;\nint alphabet = 2;\nint z = al"
SMALL_URI = "file:///bench/small.cpp"
BIG_URI = "file:///bench/big"


def end_of(text: str) -> dict:
    lines = text.split("\n")
    return {"line": len(lines) - 1, "character": len(lines[-1].encode("utf-16-le")) // 2}


def complete(server: LspProcess, uri: str, text: str) -> int:
    return server.request("textDocument/completion", {"textDocument": {"uri": uri}, "position": end_of(text)})


def case(name: str, big: str, lang: str) -> dict:
    uri = BIG_URI + (".js" if lang == "javascript" else ".cpp")
    with LspProcess(SERVER, cwd=str(REPO)) as s:
        s.initialize({"textDocument": {"completion": {}}}, {})
        s.open(SMALL_URI, SMALL, "cpp")
        assert s.wait(complete(s, SMALL_URI, SMALL), 60) is not None, "the server did not answer the warm-up"
        time.sleep(0.3)
        t0 = time.perf_counter()
        s.open(uri, big, lang)
        big_id = complete(s, uri, big)
        time.sleep(0.02)
        t_small = time.perf_counter()
        small_id = complete(s, SMALL_URI, SMALL)
        first_small = s.wait(small_id, 60)
        first_big = s.wait(big_id, 60)
        if first_small is None or first_big is None:
            raise RuntimeError(f"{name}: a request was not answered")
        small_ms = (s.inbox.arrived.pop(small_id) - t_small) * 1e3
        big_ms = (s.inbox.arrived.pop(big_id) - t0) * 1e3
        # the large document's parse may still run in idle slices: a small request now
        t_idle = time.perf_counter()
        idle_id = complete(s, SMALL_URI, SMALL)
        assert s.wait(idle_id, 60) is not None
        idle_ms = (s.inbox.arrived.pop(idle_id) - t_idle) * 1e3
        later = []
        for k in range(5):
            at = end_of(big)
            big += "a"
            s.notify("textDocument/didChange", {"textDocument": {"uri": uri, "version": 2 + k},
                                                "contentChanges": [{"range": {"start": at, "end": at}, "text": "a"}]})
            t1 = time.perf_counter()
            r = s.wait(complete(s, uri, big), 60)
            if r is None or "result" not in r:
                raise RuntimeError(f"{name}: no answer after typing: {r}")
            later.append((time.perf_counter() - t1) * 1e3)
        rss = s.rss_bytes() / 2 ** 20
        code = s.close()
    return {"case": name, "bytes": len(big.encode("utf-8")), "first_ms": big_ms,
            "items": len((first_big.get("result") or {}).get("items", [])), "small_meanwhile_ms": small_ms,
            "small_during_parse_ms": idle_ms, "later_ms": later, "rss_mib": rss, "exit": code}


def real_cpp(folder: Path | None, size: int) -> str:
    if folder is not None:
        parts, n = [], 0
        for f in sorted(folder.rglob("*.cc")) + sorted(folder.rglob("*.cpp")):
            t = f.read_text(encoding="utf-8", errors="replace")
            parts.append(t)
            n += len(t.encode())
            if n > size:
                break
        text = "".join(parts)
        return text[:text.rfind("\n", 0, size) + 1]
    return "".join(f"int value{i} = compute(value{i - 1}, {i}) + other_{i % 97};\n" for i in range(1, 35000))


def main(argv: list[str] | None = None) -> list[dict]:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cases", default="big,line,deep", help="comma-separated: big, line, deep")
    ap.add_argument("--cpp-dir", type=Path, default=None, help="C++ sources to concatenate for `big`")
    args = ap.parse_args(argv)
    rows = []
    for name in [c.strip() for c in args.cases.split(",") if c.strip()]:
        if name == "big":
            rows.append(case("big: 1.9 MB C++", real_cpp(args.cpp_dir, 1_900_000) + "int z = opt", "cpp"))
        elif name == "line":
            line = "const s = '" + ("é漢字🙂" * 240000) + "'; let zz = "
            rows.append(case("line: 0.96M-character line", "let alpha = 1;\n" + line + "al", "javascript"))
        elif name == "deep":
            rows.append(case("deep: a< x 100,000", "int f() { return " + "a<" * 100000 + "\nint z = al", "cpp"))
        else:
            ap.error(f"unknown case {name!r}")
    print("| case | first request on it (ms) | items | small doc, sent 20 ms later (ms) | small doc, during its "
          "parse (ms) | 5 requests after typing (ms) | RSS (MiB) |\n|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['case']} | {r['first_ms']:.0f} | {r['items']} | {r['small_meanwhile_ms']:.0f} | "
              f"{r['small_during_parse_ms']:.0f} | {' '.join(f'{x:.0f}' for x in r['later_ms'])} | {r['rss_mib']:.0f} |")
    print("targets: every request <= 1000 ms, the small document <= 100 ms, RSS < 400 MiB (deep)")
    print("command: python " + " ".join(shlex.quote(a) for a in [sys.argv[0], *(argv or sys.argv[1:])]))
    return rows


if __name__ == "__main__":
    main()
