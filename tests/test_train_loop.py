"""The shared training loop: loss falls, exact resume after SIGKILL, wall-time limit, DDP, bad inputs."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from training.data import synthetic_corpus
from training.loop import ConfigError, LoopConfig, TrainingError, dataclass_from_dict, load_checkpoint, train
from training.models.char_lstm import CharTask
from training.models.token_lstm import TokenTask

REPO = Path(__file__).resolve().parents[1]
TINY = {"model": {"vocab_size": 200, "embed": 16, "hidden": 32, "key_dim": 16, "memory": 64, "dropout": 0.1},
        "data": {"batch_size": 4, "seq_len": 16, "eval_batch_size": 4, "eval_max_items": 2000}}
TINY_TOML = """
task = "token"
[model]
vocab_size = 200
embed = 16
hidden = 32
key_dim = 16
memory = 64
dropout = 0.1
[data]
batch_size = 4
seq_len = 16
eval_batch_size = 4
eval_max_items = 2000
[train]
epochs = 3
max_steps = 40
lr = 0.01
warmup_steps = 5
ckpt_every = 5
eval_every = 15
patience = 0
log_every = 1
threads = 1
"""


@pytest.fixture(scope="module")
def corpus(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The shared fixture corpus when the corpus builder is available, else a small synthetic one."""
    if (REPO / "corpora" / "fixtures.toml").exists():
        try:
            return request.getfixturevalue("fixture_corpus")
        except ImportError:
            pass
    return synthetic_corpus(tmp_path_factory.mktemp("seq") / "corpus", n_projects=4, files_per_project=8)


@pytest.fixture(scope="module")
def tiny_config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("cfg") / "tiny.toml"
    path.write_text(TINY_TOML, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def straight_run(corpus: Path, tiny_config: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    """One uninterrupted single-process CLI run of the tiny token config, and its printed summary."""
    out = tmp_path_factory.mktemp("straight") / "run"
    res = _cli("train", "token", "--corpus", str(corpus), "--out", str(out), "--config", str(tiny_config), "--quiet")
    assert res.returncode == 0, res.stderr
    return out, json.loads(res.stdout.splitlines()[-1])


def _rows(run: Path, split: str) -> list[dict]:
    return [r for r in map(json.loads, (run / "metrics.jsonl").read_text().splitlines()) if r["split"] == split]


def _cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "codecomp", *args], cwd=REPO, capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=240)


@pytest.mark.parametrize("kind", ["char", "token"])
def test_loss_falls_and_run_folder_is_complete(kind: str, corpus: Path, tmp_path: Path) -> None:
    sections = TINY if kind == "token" else {"model": {"embed": 16, "hidden": 32},
                                             "data": {"batch_size": 4, "seq_len": 32, "eval_max_items": 3000}}
    task = (TokenTask if kind == "token" else CharTask)(corpus, sections, 0)
    cfg = LoopConfig(epochs=50, max_steps=40, lr=0.01, warmup_steps=5, eval_every=10, threads=1, log_every=1,
                     patience=0)
    res = train(task, tmp_path / "run", cfg, progress=False)
    rows = _rows(tmp_path / "run", "train")
    first, last = rows[0]["loss"], sum(r["loss"] for r in rows[-10:]) / 10
    assert last < first - 0.5, (first, last)
    valid = _rows(tmp_path / "run", "valid")
    assert valid[-1]["loss"] < valid[0]["loss"]
    assert ("bpt" if kind == "token" else "bpc") in valid[0] and "acc" in valid[0]
    assert res.steps == 40 and res.stopped == "max_steps"
    for name in ("config.json", "metrics.jsonl", "ckpt-last.pt", "ckpt-best.pt"):
        assert (tmp_path / "run" / name).exists()
    assert (tmp_path / "run" / "vocab.json").exists() == (kind == "token")
    best = load_checkpoint(tmp_path / "run" / "ckpt-best.pt")
    assert best["best"] == pytest.approx(min(r["loss"] for r in valid))


def test_copy_mechanism_predicts_out_of_vocabulary_identifiers(tmp_path: Path) -> None:
    """On files whose identifiers are fresh random names, only copying can predict them: it must learn to."""
    corpus = synthetic_corpus(tmp_path / "corpus", n_projects=5, files_per_project=12)
    sections = {"model": {"vocab_size": 200, "embed": 32, "hidden": 64, "key_dim": 32, "memory": 128,
                          "dropout": 0.0},
                "data": {"batch_size": 8, "seq_len": 32, "eval_max_items": 3000}}
    task = TokenTask(corpus, sections, 0)
    train(task, tmp_path / "run", LoopConfig(epochs=50, max_steps=120, lr=0.01, warmup_steps=10, threads=1,
                                             patience=0), progress=False)
    final = _rows(tmp_path / "run", "valid")[-1]
    assert final["oov_rate"] > 0.15            # the valid project really has many unknown names
    assert final["oov_copy_acc5"] > 0.5, final  # and most of them are in the top 5 thanks to the copy part


KILLER = textwrap.dedent("""
    import os, signal, sys, tomllib
    from training.loop import LoopConfig, dataclass_from_dict, train
    from training.models.token_lstm import TokenTask

    class KilledTask(TokenTask):
        calls = 0
        def loss(self, model, batch):
            KilledTask.calls += 1
            if KilledTask.calls == 13:      # after the checkpoint of step 10, in the middle of step 13
                os.kill(os.getpid(), signal.SIGKILL)
            return super().loss(model, batch)

    doc = tomllib.load(open(sys.argv[2], "rb"))
    cfg = dataclass_from_dict(LoopConfig, doc["train"], "train")
    task = KilledTask(sys.argv[1], {"model": doc["model"], "data": doc["data"]}, cfg.seed)
    train(task, sys.argv[3], cfg, progress=False)
""")


def test_resume_after_sigkill_ends_at_the_same_loss(corpus: Path, tiny_config: Path, straight_run: tuple,
                                                     tmp_path: Path) -> None:
    run_a, a = straight_run
    killed = subprocess.run([sys.executable, "-c", KILLER, str(corpus), str(tiny_config), str(tmp_path / "b")],
                            cwd=REPO, capture_output=True, text=True, timeout=240)
    assert killed.returncode == -9, killed.stderr
    ck = load_checkpoint(tmp_path / "b" / "ckpt-last.pt")
    assert ck["step"] == 10
    resumed = _cli("train", "token", "--corpus", str(corpus), "--out", str(tmp_path / "b"), "--config",
                   str(tiny_config), "--quiet", "--resume")
    assert resumed.returncode == 0, resumed.stderr
    b = json.loads(resumed.stdout.splitlines()[-1])
    assert a["steps"] == b["steps"] == 40
    assert b["last_train_loss"] == a["last_train_loss"]
    assert b["best_valid_loss"] == a["best_valid_loss"]
    wa = load_checkpoint(run_a / "ckpt-last.pt")["model"]
    wb = load_checkpoint(tmp_path / "b" / "ckpt-last.pt")["model"]
    for name in wa:
        assert torch.equal(wa[name], wb[name]), name
    # The log of the resumed run has each step once.
    steps = [r["step"] for r in _rows(tmp_path / "b", "train")]
    assert steps == sorted(set(steps)) and steps[-1] == 40


def test_max_minutes_stops_with_a_checkpoint(corpus: Path, tmp_path: Path) -> None:
    task = TokenTask(corpus, TINY, 0)
    res = train(task, tmp_path / "run", LoopConfig(epochs=1000, lr=0.01, threads=1, ckpt_every=10**6),
                max_minutes=0.02, progress=False)
    assert res.stopped == "max_minutes"
    assert load_checkpoint(tmp_path / "run" / "ckpt-last.pt")["step"] == res.steps


def test_two_process_ddp_matches_single_process_shapes(corpus: Path, tiny_config: Path, straight_run: tuple,
                                                        tmp_path: Path) -> None:
    ddp = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", "-m", "codecomp",
         "train", "token", "--corpus", str(corpus), "--out", str(tmp_path / "two"), "--config", str(tiny_config),
         "--quiet"], cwd=REPO, capture_output=True, text=True, timeout=300,
        env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert ddp.returncode == 0, ddp.stderr[-3000:]
    one, two = straight_run[0], tmp_path / "two"
    for split in ("train", "valid"):
        assert set(_rows(one, split)[-1]) == set(_rows(two, split)[-1])
    c1, c2 = load_checkpoint(one / "ckpt-last.pt"), load_checkpoint(two / "ckpt-last.pt")
    assert {k: v.shape for k, v in c1["model"].items()} == {k: v.shape for k, v in c2["model"].items()}
    assert len(c2["ranks"]) == 2 and json.loads((two / "config.json").read_text())["world_size"] == 2
    assert c2["step"] > 0 and torch.isfinite(torch.tensor(c2["best"]))


# ---- bad input ---------------------------------------------------------------------------------------------


def test_missing_or_empty_corpus_is_a_clear_error(tmp_path: Path, tiny_config: Path) -> None:
    with pytest.raises(TrainingError, match="does not exist"):
        TokenTask(tmp_path / "nope", TINY, 0)
    (tmp_path / "empty").mkdir()
    with pytest.raises(TrainingError, match="empty"):
        CharTask(tmp_path / "empty", {}, 0)
    res = _cli("train", "token", "--corpus", str(tmp_path / "empty"), "--out", str(tmp_path / "r"),
               "--config", str(tiny_config))
    assert res.returncode == 2 and "corpus folder" in res.stderr and "Traceback" not in res.stderr


def test_unknown_config_keys_are_rejected(corpus: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="hiden"):
        TokenTask(corpus, {"model": {"hiden": 3}}, 0)
    with pytest.raises(ConfigError, match="learning_rate"):
        dataclass_from_dict(LoopConfig, {"learning_rate": 1.0}, "train")
    with pytest.raises(ConfigError, match="should be of type int"):
        dataclass_from_dict(LoopConfig, {"epochs": "ten"}, "train")
    bad = tmp_path / "bad.toml"
    bad.write_text("[model]\nembed = 8\n[optimiser]\nlr = 1\n")
    res = _cli("train", "char", "--corpus", str(corpus), "--out", str(tmp_path / "r"), "--config", str(bad))
    assert res.returncode == 2 and "optimiser" in res.stderr and "Traceback" not in res.stderr


def test_resume_with_another_vocabulary_or_model_is_refused(corpus: Path, tmp_path: Path) -> None:
    cfg = LoopConfig(epochs=1, max_steps=5, threads=1)
    train(TokenTask(corpus, TINY, 0), tmp_path / "run", cfg, progress=False)
    before = (tmp_path / "run" / "ckpt-last.pt").read_bytes()
    with pytest.raises(TrainingError, match="already holds"):
        train(TokenTask(corpus, TINY, 0), tmp_path / "run", cfg, progress=False)
    bigger = {"model": {**TINY["model"], "hidden": 48}, "data": TINY["data"]}
    with pytest.raises(TrainingError, match="different model"):
        train(TokenTask(corpus, bigger, 0), tmp_path / "run", cfg, resume=True, progress=False)
    vocab = json.loads((tmp_path / "run" / "vocab.json").read_text())
    words = vocab["model"]["vocab"]
    last = max(words, key=words.get)
    words[last + "_changed"] = words.pop(last)
    (tmp_path / "run" / "vocab.json").write_text(json.dumps(vocab))
    with pytest.raises(TrainingError, match="different model/vocabulary"):
        train(TokenTask(corpus, TINY, 0), tmp_path / "run", cfg, resume=True, progress=False)
    assert (tmp_path / "run" / "ckpt-last.pt").read_bytes() == before
    with pytest.raises(TrainingError, match="does not exist"):
        train(TokenTask(corpus, TINY, 0), tmp_path / "fresh", cfg, resume=True, progress=False)


def test_nan_loss_stops_without_overwriting_checkpoints(corpus: Path, tmp_path: Path) -> None:
    cfg = LoopConfig(epochs=1, max_steps=6, threads=1, eval_every=3, ckpt_every=3)
    train(TokenTask(corpus, TINY, 0), tmp_path / "run", cfg, progress=False)
    best_before = (tmp_path / "run" / "ckpt-best.pt").read_bytes()
    last_before = (tmp_path / "run" / "ckpt-last.pt").read_bytes()

    class Diverging(TokenTask):
        def loss(self, model, batch):
            loss, count, extra = super().loss(model, batch)
            return loss * float("nan"), count, extra

    cfg2 = LoopConfig(epochs=1, max_steps=12, threads=1, eval_every=3, ckpt_every=3)
    with pytest.raises(TrainingError, match="became nan"):
        train(Diverging(corpus, TINY, 0), tmp_path / "run", cfg2, resume=True, progress=False)
    assert (tmp_path / "run" / "ckpt-best.pt").read_bytes() == best_before
    assert (tmp_path / "run" / "ckpt-last.pt").read_bytes() == last_before


def test_the_fused_optimizer_makes_the_same_updates_as_the_per_parameter_one() -> None:
    from training.loop import make_adamw

    torch.manual_seed(0)
    ref = torch.nn.Sequential(torch.nn.Embedding(50, 8), torch.nn.Linear(8, 6))
    fast = torch.nn.Sequential(torch.nn.Embedding(50, 8), torch.nn.Linear(8, 6))
    fast.load_state_dict(ref.state_dict())
    start = [p.detach().clone() for p in ref.parameters()]
    groups = lambda m: [{"params": [m[1].weight], "weight_decay": 0.01},  # noqa: E731
                        {"params": [m[0].weight, m[1].bias], "weight_decay": 0.0}]
    opt_ref = torch.optim.AdamW(groups(ref), lr=1e-2, betas=(0.9, 0.99), foreach=False)
    opt_fast = make_adamw(groups(fast), lr=1e-2, betas=(0.9, 0.99), device="cpu")
    assert opt_fast.defaults["fused"] is True
    x = torch.randint(0, 50, (4, 7))
    for _ in range(5):
        for model, opt in ((ref, opt_ref), (fast, opt_fast)):
            opt.zero_grad(set_to_none=True)
            model(x).square().mean().backward()
            opt.step()
    for a, b, a0 in zip(ref.parameters(), fast.parameters(), start):
        assert not torch.allclose(a, a0)
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
