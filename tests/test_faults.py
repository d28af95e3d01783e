"""Faults: a training run killed with SIGKILL at random moments resumes to the same result, and a damaged
checkpoint is refused in words without touching the good files next to it."""
from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from training.loop import load_checkpoint  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
TINY_CHAR = REPO / "training" / "configs" / "tiny-char.toml"


@pytest.fixture(scope="module")
def config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny char config, long enough (120 steps, a checkpoint every 5) to be killed while it trains."""
    text = TINY_CHAR.read_text(encoding="utf-8")
    text = text.replace("max_steps = 30", "max_steps = 120").replace("epochs = 2", "epochs = 1000")
    text = text.replace("eval_every = 15", "eval_every = 60")
    assert "max_steps = 120" in text and "epochs = 1000" in text and "eval_every = 60" in text
    path = tmp_path_factory.mktemp("faults-config") / "char.toml"
    path.write_text(text, encoding="utf-8")
    return path


def _train_cmd(corpus: Path, out: Path, resume: bool, config: Path) -> list[str]:
    cmd = [sys.executable, "-m", "codecomp", "train", "char", "--corpus", str(corpus), "--out", str(out),
           "--config", str(config), "--quiet"]
    return cmd + (["--resume"] if resume else [])


def _summary(stdout: str) -> dict:
    return json.loads(stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def straight(fixture_corpus: Path, config: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("faults") / "straight"
    res = subprocess.run(_train_cmd(fixture_corpus, out, False, config), cwd=REPO, capture_output=True, text=True,
                         timeout=300)
    assert res.returncode == 0, res.stderr
    return out, _summary(res.stdout)


def test_sigkill_at_random_moments_then_resume_gives_the_same_model(fixture_corpus: Path, config: Path, straight,
                                                                      tmp_path):
    """Kill the real CLI at seeded random moments (possibly before the first checkpoint or while one is being
    written), resume each time, and end with the same weights and losses as the uninterrupted run."""
    run_a, a = straight
    out = tmp_path / "killed"
    rng = random.Random(20261128)
    kills = 0
    ckpt = out / "ckpt-last.pt"
    for _ in range(3):
        before = ckpt.stat().st_mtime_ns if ckpt.exists() else None
        proc = subprocess.Popen(_train_cmd(fixture_corpus, out, ckpt.exists(), config), cwd=REPO,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        # Wait until this process has written a checkpoint of its own, then kill it a random moment later
        # (possibly while the next checkpoint is being written): the moment depends on progress, not on how
        # fast the machine is.
        deadline = time.monotonic() + 240
        while proc.poll() is None and time.monotonic() < deadline:
            if ckpt.exists() and ckpt.stat().st_mtime_ns != before:
                break
            time.sleep(0.005)
        time.sleep(rng.uniform(0.0, 0.3))
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            kills += 1
        proc.communicate(timeout=120)
        # Whatever the moment, no temporary checkpoint file is mistaken for a real one.
        if ckpt.exists():
            load_checkpoint(ckpt)
    final = subprocess.run(_train_cmd(fixture_corpus, out, ckpt.exists(), config), cwd=REPO,
                           capture_output=True, text=True, timeout=300)
    assert final.returncode == 0, final.stderr
    b = _summary(final.stdout)
    assert kills >= 1, "the run finished before any kill; lengthen the run or shorten the waits"
    assert b["steps"] == a["steps"]
    assert b["last_train_loss"] == a["last_train_loss"]
    assert b["best_valid_loss"] == a["best_valid_loss"]
    wa = load_checkpoint(run_a / "ckpt-last.pt")["model"]
    wb = load_checkpoint(out / "ckpt-last.pt")["model"]
    assert wa.keys() == wb.keys()
    for name in wa:
        assert torch.equal(wa[name], wb[name]), name


def test_truncated_checkpoint_is_refused_and_nothing_is_overwritten(fixture_corpus: Path, config: Path, straight,
                                                                      tmp_path):
    run_a, _ = straight
    out = tmp_path / "damaged"
    out.mkdir()
    for f in run_a.iterdir():
        (out / f.name).write_bytes(f.read_bytes())
    data = (out / "ckpt-last.pt").read_bytes()
    (out / "ckpt-last.pt").write_bytes(data[: len(data) // 3])
    best_before = (out / "ckpt-best.pt").read_bytes()
    res = subprocess.run(_train_cmd(fixture_corpus, out, True, config), cwd=REPO, capture_output=True, text=True,
                         timeout=300)
    assert res.returncode != 0
    message = res.stderr + res.stdout
    assert "ckpt-last.pt" in message and "truncated" in message
    assert "Traceback" not in message
    assert (out / "ckpt-best.pt").read_bytes() == best_before
    assert len((out / "ckpt-last.pt").read_bytes()) == len(data) // 3
