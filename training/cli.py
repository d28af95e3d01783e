"""`codecomp train` and `codecomp sample`: command-line front ends of the training loop and the char sampler.

Heavy imports (torch, datasets) happen inside the command functions so that `codecomp --help` stays light.
"""
from __future__ import annotations

import sys
import tomllib
from pathlib import Path
from typing import Any, List, Optional

import typer

CONFIG_DIR = Path(__file__).resolve().parent / "configs"
TOP_LEVEL_KEYS = {"task", "model", "data", "train"}
TASKS = ("char", "token", "tree", "ranker")


def default_config(kind: str) -> Path | None:
    """The shipped CPU default config for a model kind, if there is one."""
    path = CONFIG_DIR / f"cpu-default-{kind}.toml"
    return path if path.exists() else None


def shipped_configs() -> list[str]:
    """Names of the configs shipped with the package (`tiny-token` for training/configs/tiny-token.toml)."""
    return sorted(p.stem for p in CONFIG_DIR.glob("*.toml"))


def resolve_config(value: str | Path | None, kind: str) -> Path | None:
    """The config file that `--config VALUE` means: a path to a TOML file (relative to the working folder), or
    the name of a shipped config (`tiny-token`, with or without `.toml`), which works from any folder.  Without
    a value, the shipped CPU default of the model kind.  A ConfigError lists the shipped names otherwise."""
    from training.loop import ConfigError

    if value is None:
        return default_config(kind)
    text = str(value)
    path = Path(text).expanduser()
    if path.is_file():
        return path
    name = text[:-len(".toml")] if text.endswith(".toml") else text
    if "/" not in text and "\\" not in text and name in shipped_configs():
        return CONFIG_DIR / f"{name}.toml"
    what = "a folder, not a config file" if path.is_dir() else "neither a config file nor a shipped config's name"
    raise ConfigError(f"--config {text!r} is {what}; shipped configs (use the name from any folder): "
                      f"{', '.join(shipped_configs())}")


def read_config(path: Path | None, kind: str) -> dict[str, Any]:
    """Parse a training config TOML and check its top-level layout (sections are checked by the loop/task)."""
    from training.loop import ConfigError

    if path is None:
        return {}
    if not path.exists():
        raise ConfigError(f"config file {path} does not exist; shipped configs: {', '.join(shipped_configs())}")
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None
    unknown = sorted(set(doc) - TOP_LEVEL_KEYS)
    if unknown:
        raise ConfigError(f"unknown key(s) {unknown} in {path}; a config has the tables [model], [data], [train] "
                          "and optionally task = \"char\" | \"token\" | \"tree\"")
    if "task" in doc and doc["task"] != kind:
        raise ConfigError(f"{path} is a config for the {doc['task']!r} model, not for {kind!r}")
    for key in ("model", "data", "train"):
        if key in doc and not isinstance(doc[key], dict):
            raise ConfigError(f"{key!r} in {path} must be a table ([{key}])")
    return doc


def make_task(kind: str, corpus: Path, sections: dict[str, Any], seed: int) -> Any:
    """Construct the training task of a model kind."""
    from training.loop import ConfigError

    if kind == "char":
        from training.models.char_lstm import CharTask
        return CharTask(corpus, sections, seed)
    if kind == "token":
        from training.models.token_lstm import TokenTask
        return TokenTask(corpus, sections, seed)
    if kind == "tree":
        try:
            from training.models.tree_lstm import TreeTask
        except ImportError as exc:
            raise ConfigError(f"the Tree-LSTM naming model is not available in this build ({exc})") from None
        return TreeTask(corpus, sections, seed)
    raise ConfigError(f"unknown model {kind!r}; choose one of {', '.join(TASKS)}")


def train_command(
    model: str = typer.Argument(..., metavar="MODEL", help="Which model to train: char, token, tree, or ranker (the learned "
                                          "ranking of candidates, over an existing artifact's engine)."),
    corpus: Path = typer.Option(..., "--corpus", help="Corpus folder written by `codecomp corpus build`."),
    out: Path = typer.Option(..., "--out", help="Run folder for config.json, metrics.jsonl, checkpoints, vocabulary."),
    config: Optional[str] = typer.Option(
        None, "--config", metavar="FILE|NAME",
        help="Training config: a TOML file, or the name of a shipped config (cpu-default-MODEL, tiny-MODEL, "
             "gpu-MODEL, e.g. tiny-token) from any folder.  Default: cpu-default-MODEL."),
    resume: bool = typer.Option(False, "--resume", help="Continue the run in --out from its ckpt-last.pt."),
    max_minutes: Optional[float] = typer.Option(
        None, "--max-minutes", help="Wall-time budget of this whole command in minutes (setup, vocabulary, "
                                    "training, final validation and checkpoint); it ends cleanly within it."),
    seed: Optional[int] = typer.Option(None, "--seed", help="Random seed (overrides the seed of the config's train table)."),
    device: str = typer.Option("auto", "--device", help="auto (CUDA if available), cpu or cuda."),
    quiet: bool = typer.Option(False, "--quiet", help="No progress bar."),
    artifact: Optional[Path] = typer.Option(
        None, "--model", help="ranker only: the model artifact whose engine computes the candidates' features "
                              "(default: the shipped model)."),
    positions: int = typer.Option(2000, "--positions", help="ranker only: train positions (valid: a quarter)."),
    ablate: Optional[str] = typer.Option(None, "--ablate", help="ranker only: train without a group of features "
                                                                "(model or project), for the evaluation's ablations."),
    file_only: bool = typer.Option(False, "--file-only", help="ranker only: no project context (workspace index)."),
    after_only: bool = typer.Option(False, "--after-only", help="ranker only: fit on the positions with code after "
                                                                "the cursor on its line alone (installed as "
                                                                "models.ranker_after, used there)."),
    install: Optional[Path] = typer.Option(None, "--install", help="ranker only: copy the trained ranker into this "
                                                                   "artifact folder (as models.ranker; models.ranker_file with --file-only; models.ranker_after with --after-only)."),
    workspaces: Optional[Path] = typer.Option(
        None, "--workspaces", metavar="CORPUS",
        help="ranker only: each project's workspace from this corpus of whole projects (the recipe built with "
             "`codecomp corpus build --max-tokens-per-project 0`) instead of the split's files."),
    features_from: Optional[List[Path]] = typer.Option(
        None, "--features-from", help="ranker only: re-fit on the features saved by earlier ranker runs instead of "
                                      "computing them (e.g. for --ablate); repeat it to pool runs, such as one with "
                                      "project context and one --file-only."),
) -> None:
    """Train a model on a corpus; under torchrun each process trains on its own shard (DDP)."""
    import json

    if model == "ranker":
        from training.ranker import RankerTrainingError, train_ranker

        try:
            info = train_ranker(corpus, out, artifact, positions=positions, seed=seed or 0, ablation=ablate,
                                project_context=not file_only, install=install, progress=not quiet,
                                features_from=list(features_from or []) or None, workspaces_from=workspaces,
                                after_only=after_only)
        except RankerTrainingError as exc:
            typer.echo(f"codecomp train ranker: error: {exc}", err=True)
            raise typer.Exit(2)
        typer.echo(json.dumps({k: info[k] for k in ("trees", "train_groups", "valid_groups", "valid", "bytes")}))
        return

    try:
        from training.loop import BudgetClock, LoopConfig, TrainingError, dataclass_from_dict, train
    except ModuleNotFoundError as exc:
        if exc.name != "torch":
            raise
        typer.echo("codecomp train: error: training the char, token and tree models needs torch, which the base "
                   "install leaves out; install the `train` extra (README, \"Training on your own code\")", err=True)
        raise typer.Exit(2)

    # The budget clock runs from the start of this process: start-up, reading the config and corpus and
    # building the vocabulary count too.
    clock = BudgetClock.since_process_start()
    try:
        if model not in TASKS:
            raise TrainingError(f"unknown model {model!r}; choose one of {', '.join(TASKS)}")
        cfg_path = resolve_config(config, model)
        doc = read_config(cfg_path, model)
        loop_cfg: LoopConfig = dataclass_from_dict(LoopConfig, doc.get("train"), "train")
        if seed is not None:
            loop_cfg.seed = seed
        sections = {k: v for k, v in doc.items() if k in ("model", "data")}
        task = make_task(model, corpus, sections, loop_cfg.seed)
        if max_minutes is not None and max_minutes < 0:
            raise TrainingError("--max-minutes must be positive (0: no budget)")
        result = train(task, out, loop_cfg, resume=resume, max_minutes=max_minutes, device=device,
                       progress=not quiet, clock=clock,
                       extra_config={"config_file": str(cfg_path) if cfg_path else None, "corpus": str(corpus),
                                     "config_doc": doc})
    except TrainingError as exc:
        typer.echo(f"codecomp train: error: {exc}", err=True)
        raise typer.Exit(2)
    import os
    if int(os.environ.get("RANK", "0")) == 0:
        summary = {"stopped": result.stopped, "steps": result.steps, "epochs": result.epochs_done,
                   "best_valid_loss": result.best, "last_train_loss": result.last_train_loss,
                   "valid": result.last_valid}
        typer.echo(json.dumps(summary))


def sample_command(
    model: Path = typer.Option(..., "--model", help="A char-LSTM run folder (from `codecomp train char`) or an "
                                                     "artifact folder with char.onnx."),
    prefix: str = typer.Option("", "--prefix", help="Text to continue, or the path of a file whose text to continue."),
    temperature: float = typer.Option(0.8, "--temperature", help="Softmax temperature (> 0; lower is more conservative)."),
    top_k: int = typer.Option(0, "--top-k", help="Sample only among the k most likely bytes (0: all)."),
    max_chars: int = typer.Option(400, "--max-chars", help="Stop after this many generated bytes."),
    seed: int = typer.Option(0, "--seed", help="Random seed: the same seed gives the same text."),
    syntax_check: bool = typer.Option(True, "--syntax-check/--no-syntax-check",
                                      help="Generate line by line and sample again (up to --attempts times) a line "
                                           "that adds a tree-sitter ERROR node to the text."),
    lang: Optional[str] = typer.Option(None, "--lang", help="Language of the syntax check: cpp or javascript "
                                                            "(default: from the prefix file's name, else cpp)."),
    attempts: int = typer.Option(8, "--attempts", help="Samples of one line at most with --syntax-check."),
) -> None:
    """Generate code with a trained char-LSTM, continuing PREFIX."""
    from codecomp.syntax import LANGUAGES, detect_language
    from training.sample import SampleError, sample_from_path

    text = prefix
    detected = None
    if prefix and len(prefix) < 4096 and "\n" not in prefix:
        candidate = Path(prefix)
        try:
            if candidate.is_file():
                text = candidate.read_text(encoding="utf-8", errors="replace")
                detected = detect_language(str(candidate))
        except OSError:
            pass
    if lang is not None and lang not in LANGUAGES:
        typer.echo(f"codecomp sample: error: --lang must be one of {', '.join(LANGUAGES)}, not {lang!r}", err=True)
        raise typer.Exit(2)
    check_lang = (lang or detected or "cpp") if syntax_check else None
    try:
        generated = sample_from_path(model, text, temperature=temperature, top_k=top_k, max_chars=max_chars,
                                     seed=seed, lang=check_lang, attempts=attempts)
    except SampleError as exc:
        typer.echo(f"codecomp sample: error: {exc}", err=True)
        raise typer.Exit(2)
    sys.stdout.write(text + generated + ("\n" if not generated.endswith("\n") else ""))
