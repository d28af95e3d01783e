"""`--max-minutes` is a wall-clock budget for the whole `codecomp train` command, recorded in config.json."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from training.data import synthetic_corpus
from training.loop import BudgetClock, LoopConfig, load_checkpoint, train
from training.models.token_lstm import TokenTask

REPO = Path(__file__).resolve().parents[1]
# A config that would train for a long time: only the budget can end it.
ENDLESS_TOML = """
task = "token"
[model]
vocab_size = 200
embed = 16
hidden = 32
key_dim = 16
memory = 64
[data]
batch_size = 4
seq_len = 16
eval_batch_size = 4
eval_max_items = 2000
[train]
epochs = 100000
lr = 0.01
warmup_steps = 5
ckpt_every = 1000000
eval_every = 0
patience = 0
threads = 1
"""


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return synthetic_corpus(tmp_path_factory.mktemp("budget") / "corpus", n_projects=4, files_per_project=8)


def test_budget_covers_the_whole_command_and_is_recorded(corpus: Path, tmp_path: Path) -> None:
    config = tmp_path / "endless.toml"
    config.write_text(ENDLESS_TOML, encoding="utf-8")
    out = tmp_path / "run"
    budget_min = 0.25   # 15 s, of which setup (imports, corpus, vocabulary) takes a good part
    t0, t_wall0 = time.monotonic(), time.time()
    res = subprocess.run([sys.executable, "-m", "codecomp", "train", "token", "--corpus", str(corpus), "--out",
                          str(out), "--config", str(config), "--quiet", "--max-minutes", str(budget_min)],
                         cwd=REPO, capture_output=True, text=True, timeout=120,
                         env={**os.environ, "OMP_NUM_THREADS": "1"})
    elapsed = time.monotonic() - t0
    assert res.returncode == 0, res.stderr[-2000:]
    summary = json.loads(res.stdout.splitlines()[-1])
    assert summary["stopped"] == "max_minutes"
    doc = json.loads((out / "config.json").read_text(encoding="utf-8"))
    budget = doc["budget"]
    assert budget["max_minutes"] == budget_min and budget["source"] == "--max-minutes"
    assert "deadline_at" in budget and "clock_started_at" in budget and "setup" in budget["covers"]
    # The clock started with the process (interpreter start-up and imports count) ...
    started = budget["clock_started_unix"]
    assert t_wall0 - 0.5 <= started <= t_wall0 + 2.0, started - t_wall0
    # ... everything the command wrote was written within the budget ...
    last_write = max(p.stat().st_mtime for p in out.iterdir())
    assert last_write - started <= budget_min * 60, last_write - started
    # ... and the process, its exit included, ended within the budget and a small slack (the interpreter's
    # exit with torch loaded takes seconds on a loaded machine).
    assert elapsed <= budget_min * 60 + 4.0, elapsed
    # it trained, and still ended validated and checkpointed
    ck = load_checkpoint(out / "ckpt-last.pt")
    assert summary["steps"] > 0 and ck["step"] == summary["steps"] and (out / "ckpt-best.pt").exists()


def test_budget_spent_by_setup_still_ends_with_a_checkpoint(corpus: Path, tmp_path: Path) -> None:
    """A clock that ran out before training: no step, no validation, but a checkpoint to resume from."""
    task = TokenTask(corpus, {"model": {"vocab_size": 200, "embed": 16, "hidden": 32, "key_dim": 16, "memory": 64},
                              "data": {"batch_size": 4, "seq_len": 16, "eval_max_items": 500}}, 0)
    clock = BudgetClock(monotonic=time.monotonic() - 120.0, wall=time.time() - 120.0)
    res = train(task, tmp_path / "run", LoopConfig(epochs=3, threads=1), max_minutes=1.0, progress=False,
                clock=clock)
    assert res.stopped == "max_minutes" and res.steps == 0
    assert load_checkpoint(tmp_path / "run" / "ckpt-last.pt")["step"] == 0
    assert not (tmp_path / "run" / "ckpt-best.pt").exists()
    doc = json.loads((tmp_path / "run" / "config.json").read_text(encoding="utf-8"))
    assert doc["budget"]["max_minutes"] == 1.0
