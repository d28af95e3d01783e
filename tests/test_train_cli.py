"""`codecomp train` / `codecomp sample` front ends and the shipped training configs."""
from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from typer.testing import CliRunner

from codecomp.cli import app
from training.cli import CONFIG_DIR, read_config, resolve_config, shipped_configs
from training.data import synthetic_corpus
from training.loop import ConfigError, LoopConfig, dataclass_from_dict, train
from training.models.char_lstm import CharLSTM, CharLSTMConfig, CharTask
from training.models.token_lstm import TokenLSTM, TokenLSTMConfig

REPO = Path(__file__).resolve().parents[1]
CONFIGS = sorted(p for p in (REPO / "training" / "configs").glob("*.toml") if "tree" not in p.name)
runner = CliRunner()


@pytest.fixture(scope="module")
def char_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A char-LSTM trained for a few steps on a synthetic corpus."""
    tmp = tmp_path_factory.mktemp("charrun")
    corpus = synthetic_corpus(tmp / "corpus", n_projects=3, files_per_project=4)
    task = CharTask(corpus, {"model": {"embed": 8, "hidden": 32}, "data": {"batch_size": 4, "seq_len": 32,
                                                                           "eval_max_items": 1000}}, 0)
    train(task, tmp / "run", LoopConfig(epochs=1, max_steps=15, lr=0.01, threads=1), progress=False)
    return tmp / "run"


def test_help_texts_describe_the_options() -> None:
    res = runner.invoke(app, ["train", "--help"])
    assert res.exit_code == 0
    for option in ("--corpus", "--out", "--config", "--resume", "--max-minutes", "--seed", "--device"):
        assert option in res.output
    res = runner.invoke(app, ["sample", "--help"])
    assert res.exit_code == 0
    for option in ("--model", "--prefix", "--temperature", "--top-k", "--max-chars", "--seed"):
        assert option in res.output


def test_sample_is_reproducible_with_a_seed(char_run: Path, tmp_path: Path) -> None:
    args = ["sample", "--model", str(char_run), "--prefix", "int main(", "--max-chars", "60"]
    a = runner.invoke(app, [*args, "--seed", "3"])
    b = runner.invoke(app, [*args, "--seed", "3"])
    c = runner.invoke(app, [*args, "--seed", "4", "--temperature", "1.5"])
    assert a.exit_code == 0, a.output
    assert a.output == b.output and a.output.startswith("int main(")
    assert len(a.output) > len("int main(")
    assert c.output != a.output
    prefix_file = tmp_path / "start.js"
    prefix_file.write_text("function f(x) {\n")
    d = runner.invoke(app, ["sample", "--model", str(char_run), "--prefix", str(prefix_file), "--top-k", "5"])
    assert d.exit_code == 0 and d.output.startswith("function f(x) {\n")


def test_sample_bad_inputs_are_explained(char_run: Path, tmp_path: Path) -> None:
    res = runner.invoke(app, ["sample", "--model", str(tmp_path / "missing")])
    assert res.exit_code == 2 and "does not exist" in res.output
    res = runner.invoke(app, ["sample", "--model", str(char_run), "--temperature", "0"])
    assert res.exit_code == 2 and "temperature" in res.output
    (tmp_path / "other").mkdir()
    res = runner.invoke(app, ["sample", "--model", str(tmp_path / "other")])
    assert res.exit_code == 2 and "neither a training run" in res.output


def test_train_command_rejects_unknown_model_and_config_problems(tmp_path: Path) -> None:
    res = runner.invoke(app, ["train", "rnn", "--corpus", str(tmp_path), "--out", str(tmp_path / "r")])
    assert res.exit_code == 2 and "unknown model" in res.output
    cfg = tmp_path / "c.toml"
    cfg.write_text('task = "char"\n[model]\nhidden = 8\n')
    res = runner.invoke(app, ["train", "token", "--corpus", str(tmp_path), "--out", str(tmp_path / "r"),
                              "--config", str(cfg)])
    assert res.exit_code == 2 and "for the 'char' model" in res.output
    cfg.write_text("[model\n")
    res = runner.invoke(app, ["train", "char", "--corpus", str(tmp_path), "--out", str(tmp_path / "r"),
                              "--config", str(cfg)])
    assert res.exit_code == 2 and "not valid TOML" in res.output


def test_config_names_work_from_any_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`--config tiny-token` means the shipped config wherever the command runs; a real file wins."""
    work = tmp_path / "elsewhere"
    work.mkdir()
    monkeypatch.chdir(work)
    assert "tiny-token" in shipped_configs() and "cpu-default-char" in shipped_configs()
    assert resolve_config("tiny-token", "token") == CONFIG_DIR / "tiny-token.toml"
    assert resolve_config("tiny-token.toml", "token") == CONFIG_DIR / "tiny-token.toml"
    assert resolve_config(None, "char") == CONFIG_DIR / "cpu-default-char.toml"
    (work / "tiny-token.toml").write_text('[train]\nlr = 0.1\n')
    assert resolve_config("tiny-token.toml", "token") == Path("tiny-token.toml")   # the file in the folder
    with pytest.raises(ConfigError) as err:
        resolve_config("tiny-tokn", "token")
    for name in shipped_configs():
        assert name in str(err.value)
    with pytest.raises(ConfigError, match="a folder, not a config file"):
        resolve_config(str(tmp_path), "token")

    # through the command: the name gets past the config (the missing corpus is the next problem) ...
    res = runner.invoke(app, ["train", "token", "--corpus", str(work / "no-corpus"), "--out", str(work / "r"),
                              "--config", "tiny-token", "--quiet"])
    assert res.exit_code == 2 and "--config" not in res.output and "no-corpus" in res.output, res.output
    # ... a shipped config of another model is refused as such, and an unknown name lists the shipped ones
    res = runner.invoke(app, ["train", "token", "--corpus", str(work), "--out", str(work / "r"),
                              "--config", "tiny-char"])
    assert res.exit_code == 2 and "for the 'char' model" in res.output
    res = runner.invoke(app, ["train", "token", "--corpus", str(work), "--out", str(work / "r"),
                              "--config", "tiny"])
    assert res.exit_code == 2 and "neither a config file nor a shipped config" in res.output
    assert "tiny-token" in res.output and "gpu-char" in res.output


@pytest.mark.parametrize("path", CONFIGS, ids=[p.name for p in CONFIGS])
def test_shipped_configs_are_valid(path: Path) -> None:
    doc = tomllib.loads(path.read_text())
    kind = doc["task"]
    read_config(path, kind)
    dataclass_from_dict(LoopConfig, doc.get("train"), "train")
    if kind == "char":
        model = CharLSTM(dataclass_from_dict(CharLSTMConfig, doc["model"], "model"))
    else:
        cfg = dataclass_from_dict(TokenLSTMConfig, doc["model"], "model")
        model = TokenLSTM(cfg, cfg.vocab_size)
    params = sum(p.numel() for p in model.parameters())
    if path.name.startswith("cpu-default"):
        # The shipped artifact must stay small: token + char together well under 20 MB as float32.
        assert params * 4 < (11 if kind == "token" else 3) * 2**20, params


def test_config_type_errors_are_clear() -> None:
    with pytest.raises(ConfigError, match="should be of type float"):
        dataclass_from_dict(LoopConfig, {"lr": "fast"}, "train")


@pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::UserWarning")
def test_artifact_sampling_matches_run_sampling(char_run: Path, tmp_path: Path) -> None:
    """The torch-free sampler over char.onnx gives the same text as the run folder for the same seed."""
    import json

    import torch

    from training.loop import load_checkpoint
    from training.sample import sample_from_path

    cfg = json.loads((char_run / "config.json").read_text())["task_info"]["config"]
    model = CharLSTM(CharLSTMConfig(**cfg))
    model.load_state_dict(load_checkpoint(char_run / "ckpt-best.pt")["model"])

    class Step(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.m = model

        def forward(self, b, h, c):  # noqa: D102
            return self.m.step(b, h, c)

    art = tmp_path / "artifact"
    art.mkdir()
    h = torch.zeros(cfg["layers"], 1, cfg["hidden"])
    torch.onnx.export(Step().eval(), (torch.tensor([65]), h, h), str(art / "char.onnx"), dynamo=False,
                      input_names=["byte", "h", "c"], output_names=["logits", "h_out", "c_out"])
    (art / "manifest.json").write_text(json.dumps({"models": {"char": {"layers": cfg["layers"],
                                                                         "hidden": cfg["hidden"]}}}))
    for seed in (0, 5):
        assert sample_from_path(art, "x = ", seed=seed, max_chars=50) == \
            sample_from_path(char_run, "x = ", seed=seed, max_chars=50)


def test_train_without_torch_says_what_to_install(tmp_path: Path) -> None:
    """On the base install (no torch) `codecomp train token` explains itself instead of a traceback."""
    import os
    import subprocess
    import sys

    script = ("import sys; sys.modules['torch'] = None\n"          # as if torch were not installed
              "from codecomp.cli import app\n"
              "app(['train', 'token', '--corpus', 'c', '--out', 'r', '--config', 'tiny-token'])\n")
    proc = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(REPO)}, timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert "needs torch" in proc.stderr and "`train` extra" in proc.stderr and "Traceback" not in proc.stderr
