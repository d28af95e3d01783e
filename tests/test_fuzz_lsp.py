"""CI slice of the fuzz campaign (benchmarks/fuzz_lsp.py): a few thousand seeded messages against the real
server; no crash, no hang, no invalid response, bounded memory."""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def load_fuzzer():
    spec = importlib.util.spec_from_file_location("fuzz_lsp", REPO / "benchmarks" / "fuzz_lsp.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["fuzz_lsp"] = module  # dataclasses resolve annotations through sys.modules
    assert spec.loader is not None
    spec.loader.exec_module(module)
    return module


def test_fuzz_campaign_finds_no_crash_hang_or_invalid_response(tmp_path: Path) -> None:
    fuzz = load_fuzzer()
    report = fuzz.main(["--messages", "2500", "--seed", "20261128", "--quiet", "--timeout", "15",
                        "--json", str(tmp_path / "fuzz.json")])
    assert report.messages >= 2500
    assert report.requests > 300 and report.responses == report.requests
    assert report.crashes == 0, report.problems
    assert report.hangs == 0, report.problems
    assert report.invalid == 0, report.problems
    assert report.rss_overruns == 0 and 0 < report.max_rss_mib < 1024
    # malformed traffic really reached the server and was answered in words, not silently dropped
    assert report.errors.get("-32602", 0) > 0 and report.errors.get("-32601", 0) > 0
    assert report.framing_errors > 0
    assert (tmp_path / "fuzz.json").exists()
