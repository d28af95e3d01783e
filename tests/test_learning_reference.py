"""benchmarks/learning_reference.py: at each measured position the index holds exactly the files typed before."""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

from learning_reference import main  # noqa: E402


def test_the_index_holds_the_files_typed_before(fixture_corpus: Path, capsys) -> None:
    rows = main(["--corpus", str(fixture_corpus), "--split", "train", "--quick"])
    assert rows, "no measured position"
    for project, f, typed, indexed, off, on in rows:
        assert indexed == f and f >= 1 and typed in (0, 1)   # second-half files: the earlier ones, not this one
    out = capsys.readouterr().out
    assert "ALL" in out and "with index" in out
