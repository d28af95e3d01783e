"""A corpus build either completes or leaves --out exactly as it was: failures and kills leave no half output."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from codecomp.corpus.build import CorpusBuildError, build_corpus

REPO = Path(__file__).resolve().parents[1]
JS = "export function twice(x) {\n  const y = x * 2;\n  return y + {n};\n}\n"


def make_projects(root: Path, n: int) -> None:
    for i in range(n):
        d = root / "code" / f"p{i:03d}"
        d.mkdir(parents=True)
        (d / "m.js").write_text(JS.replace("{n}", str(i)) + f"export const id{i} = '{i}';\n")


def recipe(root: Path, extra: str = "") -> Path:
    path = root / "recipe.toml"
    path.write_text(f'name = "atomic"\n[limits]\nmin_tokens = 5\n[[source]]\nkind = "folder"\npath = "code"\n'
                    f'per_subfolder = true\n{extra}')
    return path


def leftovers(parent: Path, name: str) -> list[str]:
    return sorted(p.name for p in parent.iterdir() if p.name.startswith(f".{name}."))


def test_a_failing_build_keeps_the_previous_output(tmp_path: Path) -> None:
    make_projects(tmp_path, 3)
    out = tmp_path / "corpus"
    first = build_corpus(recipe(tmp_path), out, workers=1, progress=False)
    before = sorted(str(p.relative_to(out)) for p in out.rglob("*"))
    stats_before = (out / "stats.json").read_text()
    # The folder source is fetched first, then the second source fails: the build stops mid-way.
    failing = recipe(tmp_path, '[[source]]\nkind = "debian"\npackages = ["Not_Valid"]\n')
    with pytest.raises(CorpusBuildError, match="Not_Valid"):
        build_corpus(failing, out, workers=1, progress=False, cache_dir=tmp_path / "cache")
    assert sorted(str(p.relative_to(out)) for p in out.rglob("*")) == before
    assert (out / "stats.json").read_text() == stats_before
    assert leftovers(tmp_path, "corpus") == []
    # A later successful build replaces the output.
    second = build_corpus(recipe(tmp_path), out, workers=1, progress=False)
    assert second["kept"] == first["kept"] and leftovers(tmp_path, "corpus") == []


def test_a_failure_on_a_fresh_output_leaves_nothing(tmp_path: Path) -> None:
    make_projects(tmp_path, 2)
    failing = recipe(tmp_path, '[[source]]\nkind = "folder"\npath = "does-not-exist"\n')
    with pytest.raises(CorpusBuildError, match="does not exist"):
        build_corpus(failing, tmp_path / "fresh", workers=1, progress=False)
    assert not (tmp_path / "fresh").exists() and leftovers(tmp_path, "fresh") == []


def test_a_killed_build_leaves_no_output_and_is_cleaned_up_later(tmp_path: Path) -> None:
    make_projects(tmp_path, 150)
    out = tmp_path / "killed"
    proc = subprocess.Popen([sys.executable, "-m", "codecomp", "corpus", "build", str(recipe(tmp_path)), "--out",
                             str(out), "--workers", "1", "--quiet"], cwd=REPO, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 60
        while time.time() < deadline and not leftovers(tmp_path, "killed") and proc.poll() is None:
            time.sleep(0.01)
        if proc.poll() is not None:
            pytest.fail("the build finished before it could be interrupted; make the test corpus larger")
        assert leftovers(tmp_path, "killed"), "the build works in a temporary folder next to --out"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert not out.exists()
    # The next build of the same output removes the dead build's temporary folder.
    stats = build_corpus(recipe(tmp_path), out, workers=1, progress=False)
    assert stats["kept"] == 150 and leftovers(tmp_path, "killed") == []
