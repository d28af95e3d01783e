"""The one training loop shared by every model (char-LSTM, token LSTM, Tree-LSTM).

A model plugs in through a *task* object (the `Task` protocol below): the task knows how to read its part of the
corpus, build batches, compute the loss and evaluate; this loop owns everything else: the device, bf16 autocast
on CUDA, DDP under torchrun, gradient clipping, the learning-rate schedule, validation, early stopping, atomic
checkpoints (`ckpt-last.pt`, `ckpt-best.pt`), exact `--resume`, a wall-time budget for the whole command
(recorded in config.json as `budget`), bf16 autocast on CPUs that multiply bf16 natively, tqdm progress and
`metrics.jsonl` (training rows count the items seen so far, to compare runs per token).

Task construction convention: a task class is built as ``TaskClass(corpus_dir, sections, seed)`` where
`sections` is the parsed TOML config without its ``[train]`` table (that one becomes `LoopConfig`), e.g.
``{"model": {...}, "data": {...}}``.  Tasks must reject unknown keys with `ConfigError` (use
`dataclass_from_dict`).

Run folder layout (docs/design.md section 3): ``config.json``, ``metrics.jsonl``, ``ckpt-last.pt``,
``ckpt-best.pt`` and whatever the task writes in `build_model` (e.g. ``vocab.json``).

Checkpoint contents (all loadable with ``torch.load(..., weights_only=True)``): ``model`` (state dict),
``optimizer``, ``scheduler``, ``step``, ``epoch``, ``batch`` (next batch index inside ``epoch``), ``best``,
``bad_evals``, ``task_info`` (the task's `describe()`, checked on resume), ``ranks`` (per-rank RNG states and
task state, so the data stream continues exactly where it stopped), ``elapsed_s``.
"""
from __future__ import annotations

import dataclasses
import json
import math
import os
import random
import time
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Mapping, Protocol, runtime_checkable

import numpy as np
import torch
import torch.distributed as dist
from torch import nn

# --------------------------------------------------------------------------------------------------------------
# Errors and config helpers
# --------------------------------------------------------------------------------------------------------------


class TrainingError(RuntimeError):
    """A problem the user can fix (bad corpus, bad config, incompatible checkpoint, diverged training)."""


class ConfigError(TrainingError):
    """The training config has an unknown key, a wrong type or an impossible value."""


def dataclass_from_dict(cls: type, values: Mapping[str, Any] | None, section: str) -> Any:
    """Build dataclass `cls` from a TOML table, rejecting unknown keys and wrongly typed values with a clear message."""
    values = dict(values or {})
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - set(fields))
    if unknown:
        raise ConfigError(
            f"unknown key(s) {', '.join(repr(u) for u in unknown)} in config section [{section}]; "
            f"allowed keys are: {', '.join(sorted(fields))}"
        )
    defaults = cls()
    for name, value in values.items():
        expected = type(getattr(defaults, name))
        # ints are acceptable where floats are expected (TOML `lr = 1` is a float to a human).
        if expected is float and isinstance(value, int) and not isinstance(value, bool):
            values[name] = float(value)
            continue
        if getattr(defaults, name) is None or expected is type(value):
            continue
        raise ConfigError(
            f"config key [{section}].{name} should be of type {expected.__name__}, got {value!r} ({type(value).__name__})"
        )
    return cls(**values)


@dataclass
class LoopConfig:
    """The `[train]` table of a training config: everything the loop itself needs."""

    epochs: int = 10
    max_steps: int = 0              # 0: no limit besides epochs
    lr: float = 2e-3
    min_lr_ratio: float = 0.05      # cosine decays to lr * min_lr_ratio
    warmup_steps: int = 100
    weight_decay: float = 0.01
    betas: list = field(default_factory=lambda: [0.9, 0.99])
    grad_clip: float = 1.0
    eval_every: int = 0             # steps between validations; 0: once per epoch only
    ckpt_every: int = 200           # steps between ckpt-last.pt writes (also written at every validation)
    patience: int = 4               # validations without improvement before early stopping; 0: never stop early
    log_every: int = 20             # steps between training rows in metrics.jsonl
    threads: int = 0                # torch CPU threads per process; 0: cores / processes
    max_minutes: float = 0.0        # wall-time budget of a run (the --max-minutes option overrides); 0: none
    amp: bool = True                # bf16 autocast on CUDA
    cpu_bf16: str = "auto"          # bf16 autocast of training steps on the CPU: "auto" (when the CPU multiplies
                                    # bf16 natively: AMX or AVX512-BF16), "on" or "off". Validation stays float32.
    seed: int = 1234


# --------------------------------------------------------------------------------------------------------------
# The task protocol
# --------------------------------------------------------------------------------------------------------------


@runtime_checkable
class Task(Protocol):
    """What a model must provide to be trained by `train()`.

    Batches are whatever the task likes (typically a dict of CPU tensors); the loop moves every tensor inside
    it to the training device with `move_to` before calling `loss`.
    """

    name: str   # "char", "token", "tree": written to config.json
    unit: str   # what `count` in `loss` counts ("byte", "token", "node"); used for items/s

    def build_model(self, run_dir: Path) -> nn.Module:
        """Build the model; create (first run) or load (resume) the vocabulary files inside `run_dir`."""

    def describe(self) -> dict[str, Any]:
        """JSON-able facts a checkpoint must agree with (model config, vocabulary digest...). Checked on resume."""

    def num_train_batches(self, epoch: int, rank: int, world_size: int) -> int:
        """Number of batches `train_batches` yields for this epoch on every rank (the same on all ranks)."""

    def train_batches(self, epoch: int, rank: int, world_size: int, start_batch: int) -> Iterator[Any]:
        """Batches of this rank's shard, deterministic for (seed, epoch); starts at batch index `start_batch`."""

    def loss(self, model: nn.Module, batch: Any) -> tuple[torch.Tensor, int, dict[str, float]]:
        """Mean loss over the batch (what is back-propagated), the number of items it covers, extra metrics."""

    def evaluate(self, model: nn.Module) -> dict[str, float]:
        """Metrics on the valid split; must contain "loss" (mean nats per item, lower is better)."""

    def state_dict(self) -> dict[str, Any]:
        """State carried between batches (e.g. BPTT hidden states), saved with the data position."""

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what `state_dict` returned."""


def move_to(obj: Any, device: torch.device) -> Any:
    """Move every tensor inside nested dicts/lists/tuples to `device`."""
    if isinstance(obj, torch.Tensor):
        return obj.to(device, non_blocking=True)
    if isinstance(obj, dict):
        return {k: move_to(v, device) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(move_to(v, device) for v in obj)
    return obj


def unwrap(model: nn.Module) -> nn.Module:
    """The plain module under a DistributedDataParallel wrapper."""
    return model.module if isinstance(model, nn.parallel.DistributedDataParallel) else model


# --------------------------------------------------------------------------------------------------------------
# Distributed helpers
# --------------------------------------------------------------------------------------------------------------


@dataclass
class DistInfo:
    """Where this process sits in a torchrun job (a single process is rank 0 of 1)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def active(self) -> bool:
        return self.world_size > 1


def init_distributed(device_kind: str) -> DistInfo:
    """Join the torchrun process group if the torchrun environment variables are set."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistInfo()
    info = DistInfo(int(os.environ["RANK"]), world, int(os.environ.get("LOCAL_RANK", "0")))
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device_kind == "cuda" else "gloo")
    return info


def resolve_device(choice: str, dist_info: DistInfo) -> torch.device:
    """`auto` picks CUDA when available; each torchrun rank takes its LOCAL_RANK GPU."""
    if choice not in ("auto", "cpu", "cuda"):
        raise ConfigError(f"--device must be auto, cpu or cuda, not {choice!r}")
    if choice == "cuda" and not torch.cuda.is_available():
        raise TrainingError("--device cuda was asked for but no CUDA GPU is visible to torch; use --device cpu")
    if choice == "cuda" or (choice == "auto" and torch.cuda.is_available()):
        torch.cuda.set_device(dist_info.local_rank)
        return torch.device("cuda", dist_info.local_rank)
    return torch.device("cpu")


def cpu_threads(configured: int, world_size: int) -> int:
    """Threads per process: the config's value, else OMP_NUM_THREADS, else the usable cores shared by the ranks."""
    if configured > 0:
        return configured
    if os.environ.get("OMP_NUM_THREADS", "").isdigit():
        return max(1, int(os.environ["OMP_NUM_THREADS"]))
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, cores // world_size)


def cpu_has_native_bf16() -> bool:
    """Whether this CPU multiplies bf16 in hardware (x86 AMX or AVX512-BF16, as Linux reports them).

    Without it, bf16 autocast is emulated and slower than float32, so "auto" leaves it off.
    """
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as fh:
            for line in fh:
                if line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
                    return bool(flags & {"amx_bf16", "avx512_bf16"})
    except OSError:
        pass
    return False


def use_cpu_bf16(setting: str) -> bool:
    """Resolve the `cpu_bf16` config value."""
    if setting not in ("auto", "on", "off"):
        raise ConfigError(f"[train] cpu_bf16 must be \"auto\", \"on\" or \"off\", not {setting!r}")
    return setting == "on" or (setting == "auto" and cpu_has_native_bf16())


def _all_flag(value: bool, info: DistInfo, device: torch.device) -> bool:
    """True if `value` is true on any rank (used so that all ranks stop together)."""
    if not info.active:
        return value
    t = torch.tensor([1.0 if value else 0.0], device=device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item() > 0)


def _broadcast_flag(value: bool, info: DistInfo, device: torch.device) -> bool:
    """Rank 0's value of `value` on every rank."""
    if not info.active:
        return value
    t = torch.tensor([1.0 if value else 0.0], device=device)
    dist.broadcast(t, src=0)
    return bool(t.item() > 0)


# --------------------------------------------------------------------------------------------------------------
# RNG state and checkpoint I/O
# --------------------------------------------------------------------------------------------------------------


def seed_everything(seed: int) -> None:
    """Seed python, numpy and torch (CPU and CUDA)."""
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)


def rng_state() -> dict[str, Any]:
    """RNG states in a form `torch.load(weights_only=True)` accepts (no numpy arrays)."""
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    state: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": [kind, torch.from_numpy(np.asarray(keys, dtype=np.int64)), int(pos), int(has_gauss), float(cached)],
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Inverse of `rng_state`."""
    py = state["python"]
    random.setstate((py[0], tuple(py[1]), py[2]))
    kind, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def atomic_save(obj: Any, path: Path) -> None:
    """torch.save to a temporary file in the same folder, then rename: a crash never leaves a half file."""
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    with open(tmp, "wb") as fh:
        torch.save(obj, fh)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def load_checkpoint(path: Path) -> dict[str, Any]:
    """Load a checkpoint safely (weights_only) with a readable error for broken files."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise TrainingError(f"checkpoint {path} does not exist") from None
    except Exception as exc:  # torch raises many kinds of errors for truncated/foreign files
        raise TrainingError(f"checkpoint {path} cannot be read ({type(exc).__name__}: {exc}); "
                            "it may be truncated or not a codecomp checkpoint") from None


def _to_cpu(obj: Any) -> Any:
    if isinstance(obj, torch.Tensor):
        return obj.detach().cpu()
    if isinstance(obj, dict):
        return {k: _to_cpu(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_to_cpu(v) for v in obj)
    return obj


# --------------------------------------------------------------------------------------------------------------
# Schedule
# --------------------------------------------------------------------------------------------------------------


def lr_factor(step: int, warmup: int, total: int, min_ratio: float) -> float:
    """Linear warmup to 1 over `warmup` steps, then cosine decay to `min_ratio` at `total` steps."""
    if warmup > 0 and step < warmup:
        return (step + 1) / warmup
    if total <= warmup:
        return 1.0
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return min_ratio + (1.0 - min_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))


# --------------------------------------------------------------------------------------------------------------
# The loop
# --------------------------------------------------------------------------------------------------------------


# Seconds kept for what follows the last checkpoint: the interpreter's exit with torch and datasets loaded
# (about a second on an idle machine, more under load).
EXIT_RESERVE_S = 1.5


@dataclass
class BudgetClock:
    """When a command's wall-time budget started: a monotonic instant (for the deadline) and the wall-clock
    time (for config.json).  `codecomp train` starts it at its process's start, so the budget covers setup too."""

    monotonic: float = field(default_factory=time.monotonic)
    wall: float = field(default_factory=time.time)

    @classmethod
    def since_process_start(cls) -> "BudgetClock":
        """A clock started when this process started (Linux /proc), so the interpreter's start-up and imports
        count too; elsewhere, now."""
        try:
            with open("/proc/self/stat", encoding="ascii") as fh:
                # the command name (field 2) may contain spaces; the fields after its closing parenthesis don't
                fields = fh.read().rsplit(")", 1)[1].split()
            with open("/proc/uptime", encoding="ascii") as fh:
                uptime = float(fh.read().split()[0])
            age = uptime - int(fields[19]) / os.sysconf("SC_CLK_TCK")   # field 22: start time, in clock ticks
        except (OSError, ValueError, IndexError):
            return cls()
        age = min(max(age, 0.0), 600.0)   # a nonsensical age (clock quirks) must not eat the budget
        return cls(time.monotonic() - age, time.time() - age)

    def describe(self, max_minutes: float | None, source: str | None) -> dict[str, Any]:
        """The `budget` entry of config.json."""
        def iso(t: float) -> str:
            return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int(t * 1000) % 1000:03d}Z"

        doc: dict[str, Any] = {"max_minutes": max_minutes, "source": source, "clock_started_at": iso(self.wall),
                               "clock_started_unix": round(self.wall, 3),
                               "covers": "the whole command: setup, vocabulary, training, final validation "
                                         "and final checkpoint"}
        if max_minutes:
            doc["deadline_at"] = iso(self.wall + max_minutes * 60.0)
        return doc


def _record_budget(path: Path, budget: dict[str, Any], resume: bool) -> None:
    """Write the budget in force into config.json (a resumed run keeps the earlier ones in `budget_history`)."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return  # a resumed run whose config.json is gone: nothing to annotate
    if resume and "budget" in doc:
        doc.setdefault("budget_history", []).append(doc["budget"])
    doc["budget"] = budget
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(doc, indent=2), encoding="utf-8")
    os.replace(tmp, path)


@dataclass
class TrainResult:
    """What `train` returns (rank 0 has the authoritative values)."""

    steps: int
    epochs_done: int
    best: float
    last_train_loss: float
    last_valid: dict[str, float]
    stopped: str   # "finished", "early_stopping", "max_steps", "max_minutes"


def _metrics_append(path: Path, row: dict[str, Any]) -> None:
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(json.dumps(row) + "\n")


def _truncate_metrics(path: Path, step: int) -> None:
    """On resume, drop rows written after the checkpoint we resume from, so the log has no duplicated steps."""
    if not path.exists():
        return
    kept = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue  # a row cut by a kill
        if row.get("step", 0) <= step:
            kept.append(line)
    path.write_text("".join(k + "\n" for k in kept), encoding="utf-8")


def train(
    task: Task,
    run_dir: Path | str,
    cfg: LoopConfig,
    *,
    resume: bool = False,
    max_minutes: float | None = None,
    device: str = "auto",
    extra_config: dict[str, Any] | None = None,
    progress: bool = True,
    clock: "BudgetClock | None" = None,
) -> TrainResult:
    """Train `task`'s model into `run_dir`; see the module docstring for what is written there.

    The wall-time budget (`max_minutes`, else the config's) runs on `clock`, which the command line starts at
    its process's start, so the budget covers the whole command: start-up, setup, vocabulary, training, the
    final validation and the final checkpoint (training stops early enough for the last two to fit; a budget
    spent by setup alone leaves only ckpt-last.pt).  Without a clock it starts here.
    """
    source = "--max-minutes"
    if max_minutes is None and cfg.max_minutes > 0:
        max_minutes, source = cfg.max_minutes, "config [train] max_minutes"
    run = _Run(task, Path(run_dir), cfg, clock or BudgetClock(), device, progress)
    run.prepare_folder(resume)
    run.build(max_minutes)
    if resume:
        run.resume()
    else:
        run.start(extra_config)
    if run.info.is_main:
        budget = run.clock.describe(max_minutes if run.budget_s else None, source if run.budget_s else None)
        _record_budget(run.run_dir / "config.json", budget, resume)
    return run.loop()


@dataclass
class _Position:
    """Where a run stands; saved in every checkpoint and restored by --resume."""

    step: int = 0
    epoch: int = 0
    batch_idx: int = 0           # next batch inside `epoch`
    best: float = math.inf       # best validation loss so far
    bad_evals: int = 0           # validations since the best one (early stopping)
    elapsed_before: float = 0.0  # seconds spent by the runs this one resumes
    last_loss: float = math.nan  # kept in checkpoints: a run killed after its last step still reports it on resume
    items_seen: int = 0          # items this rank trained on (kept in checkpoints, so resumed runs count on)


def make_adamw(params: Any, lr: float, betas: tuple[float, ...] = (0.9, 0.999), device: Any = "cpu",
               **kwargs: Any) -> torch.optim.AdamW:
    """AdamW with the fused kernel on the CPU and CUDA: one pass over all parameters instead of a handful of
    element-wise ops per parameter (on 2 CPU cores the token model's step measured 196 -> 174 ms); the same
    update as the loop-over-parameters form."""
    fused = torch.device(device).type in ("cpu", "cuda")
    return torch.optim.AdamW(params, lr=lr, betas=tuple(betas), fused=fused, **kwargs)


class _Run:
    """One call of `train`: the devices, the model and its optimiser, the time budget, the position, and the
    steps of the loop (setup, resume, training step, validation, checkpoint) as methods."""

    def __init__(self, task: Task, run_dir: Path, cfg: LoopConfig, clock: BudgetClock, device: str,
                 progress: bool) -> None:
        self.task, self.run_dir, self.cfg, self.clock, self.progress = task, run_dir, cfg, clock, progress
        self.start_time = clock.monotonic
        dev_kind = "cuda" if (device == "cuda" or (device == "auto" and torch.cuda.is_available())) else "cpu"
        self.info = init_distributed(dev_kind)
        self.dev = resolve_device(device, self.info)
        torch.set_num_threads(cpu_threads(cfg.threads, self.info.world_size))
        self.last_path, self.best_path = run_dir / "ckpt-last.pt", run_dir / "ckpt-best.pt"
        self.metrics_path = run_dir / "metrics.jsonl"
        self.pos = _Position()
        # What the end of a run costs, measured as the run goes (first estimates before anything is measured):
        # one more step, the final validation and the final checkpoint must fit before the deadline.
        self.costs: dict[str, float | None] = {"step_s": 0.0, "valid_s": None, "save_s": 0.0, "train_rate": 0.0}

    # -- setup -------------------------------------------------------------------------------------------------

    def prepare_folder(self, resume: bool) -> None:
        """Create the run folder (main rank) and refuse to overwrite a run, or to resume one that is not there."""
        if self.info.is_main:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            if not resume and self.last_path.exists():
                raise TrainingError(
                    f"{self.run_dir} already holds a training run (ckpt-last.pt); pass --resume to continue it "
                    "or choose another --out folder"
                )
            if resume and not self.last_path.exists():
                raise TrainingError(f"--resume was given but {self.last_path} does not exist; start without --resume")
        if self.info.active:
            dist.barrier()

    def build(self, max_minutes: float | None) -> None:
        """The model (the main rank builds the vocabulary first; the others then load it from the run folder),
        its optimiser, the number of steps, the deadline and the learning-rate schedule."""
        info, cfg, task = self.info, self.cfg, self.task
        seed_everything(cfg.seed + info.rank)
        if info.is_main:
            model = task.build_model(self.run_dir)
        if info.active:
            dist.barrier()
        if not info.is_main:
            model = task.build_model(self.run_dir)
        seed_everything(cfg.seed + info.rank)
        model.to(self.dev)
        self.model = model
        decay, no_decay = [], []
        for name, p in model.named_parameters():
            (decay if p.ndim >= 2 and "emb" not in name else no_decay).append(p)
        self.optimizer = make_adamw(
            [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
            lr=cfg.lr, betas=tuple(cfg.betas), device=self.dev,
        )
        per_epoch = task.num_train_batches(0, info.rank, info.world_size)
        if per_epoch <= 0:
            raise TrainingError("the training split is too small for one batch with this config; "
                                "lower [data] batch_size / seq_len or use a bigger corpus")
        self.total_steps = per_epoch * cfg.epochs
        if cfg.max_steps:
            self.total_steps = min(self.total_steps, cfg.max_steps)
        self.budget_s = max_minutes * 60.0 if max_minutes else None
        self.deadline = None if not self.budget_s else self.start_time + self.budget_s
        self.train_t0 = time.monotonic()
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, self.schedule)
        self.task_info = task.describe()

    def resume(self) -> None:
        """Continue from ckpt-last.pt: weights, optimiser, schedule, position, and each rank's RNG and task state
        (so the data stream goes on exactly where it stopped)."""
        ck = load_checkpoint(self.last_path)
        saved_info, now_info = ck.get("task_info") or {}, json.loads(json.dumps(self.task_info))
        if saved_info != now_info:
            differs = sorted(k for k in set(saved_info) | set(now_info) if saved_info.get(k) != now_info.get(k))
            raise TrainingError(
                f"the checkpoint in {self.run_dir} was trained with a different model/vocabulary/config (these "
                f"differ: {', '.join(differs)}); resume with the same --config and corpus, or train into a new "
                "--out folder"
            )
        try:
            self.model.load_state_dict(ck["model"])
        except RuntimeError as exc:
            raise TrainingError(f"the checkpoint's weights do not fit this model: {exc}") from None
        self.optimizer.load_state_dict(ck["optimizer"])
        self.scheduler.load_state_dict(ck["scheduler"])
        self.pos = _Position(step=ck["step"], epoch=ck["epoch"], batch_idx=ck["batch"], best=ck["best"],
                             bad_evals=ck["bad_evals"], elapsed_before=ck.get("elapsed_s", 0.0),
                             last_loss=float(ck.get("last_loss", math.nan)), items_seen=int(ck.get("items_seen", 0)))
        ranks = ck["ranks"]
        if len(ranks) != self.info.world_size:
            # A different process count shards the data differently, so the data position would be meaningless.
            raise TrainingError(f"the checkpoint was written by {len(ranks)} process(es) but {self.info.world_size} "
                                "are running now; resume with the same number of processes")
        set_rng_state(ranks[self.info.rank]["rng"])
        self.task.load_state_dict(move_to(ranks[self.info.rank]["task"], self.dev))
        if self.info.is_main:
            _truncate_metrics(self.metrics_path, self.pos.step)

    def start(self, extra_config: dict[str, Any] | None) -> None:
        """A new run: write config.json and start metrics.jsonl afresh (main rank)."""
        if not self.info.is_main:
            return
        config_doc = {"task": self.task.name, "unit": self.task.unit, "train": dataclasses.asdict(self.cfg),
                      "task_info": self.task_info, "world_size": self.info.world_size, "device": str(self.dev)}
        config_doc.update(extra_config or {})
        (self.run_dir / "config.json").write_text(json.dumps(config_doc, indent=2), encoding="utf-8")
        if self.metrics_path.exists():
            self.metrics_path.unlink()

    # -- time budget and schedule -------------------------------------------------------------------------------

    def reserve_s(self) -> float:
        """Seconds to keep for one more step, the final validation and checkpoint (with a 25 % margin)."""
        costs = self.costs
        valid = costs["valid_s"]
        if valid is None:
            # Not measured yet: validation reads `valid_items` items, forward only, at about the training rate.
            items = float(getattr(self.task, "valid_items", 0) or 0)
            valid = items / costs["train_rate"] if costs["train_rate"] > 0 else 0.0
        return 1.25 * (costs["step_s"] + valid + costs["save_s"]) + EXIT_RESERVE_S

    def out_of_time(self) -> bool:
        """True when another step would not leave room for the final validation and checkpoint."""
        return self.deadline is not None and time.monotonic() + self.reserve_s() > self.deadline

    def schedule(self, s: int) -> float:
        """Step-based warmup + cosine; with --max-minutes the cosine also follows the clock (to the moment the
        training must stop to fit the budget), so a run cut by its time budget still ends at the low learning
        rate (the price: such runs are not bit-reproducible)."""
        cfg = self.cfg
        f = lr_factor(s, cfg.warmup_steps, self.total_steps, cfg.min_lr_ratio)
        if self.deadline is not None and s >= cfg.warmup_steps:
            span = max(1e-3, self.deadline - self.reserve_s() - self.train_t0)
            frac = min(1.0, (time.monotonic() - self.train_t0) / span)
            f = min(f, cfg.min_lr_ratio + (1.0 - cfg.min_lr_ratio) * 0.5 * (1.0 + math.cos(math.pi * frac)))
        return f

    # -- step, validation, checkpoint ---------------------------------------------------------------------------

    def step(self, train_model: nn.Module, batch: Any, train_autocast: Any) -> tuple[int, dict[str, float], Any]:
        """One optimisation step on `batch`; returns the items it counted, the task's extra metrics and the
        gradient norm (None without clipping)."""
        cfg, pos = self.cfg, self.pos
        step_t0 = time.monotonic()
        batch = move_to(batch, self.dev)
        with train_autocast():
            loss, count, extra = self.task.loss(train_model, batch)
        if not torch.isfinite(loss.detach()).all():
            raise TrainingError(
                f"the training loss became {loss.item()} at step {pos.step + 1}; training stopped without "
                f"writing a checkpoint (the last good one is {self.last_path.name}). Lower [train] lr or "
                "grad_clip and resume, or start again"
            )
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        gnorm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), cfg.grad_clip) if cfg.grad_clip > 0 else None
        self.optimizer.step()
        self.scheduler.step()
        pos.step += 1
        pos.batch_idx += 1
        pos.last_loss = float(loss.detach())
        pos.items_seen += count
        step_s = time.monotonic() - step_t0
        # the slowest recent step (decaying), so one fast step does not shrink the reserve
        self.costs["step_s"] = max(step_s, 0.9 * self.costs["step_s"])
        self.costs["train_rate"] = count / max(1e-9, step_s)
        return count, extra, gnorm

    def validate(self, autocast: Any) -> tuple[dict[str, float], bool]:
        """Evaluate on rank 0 (keeping ckpt-best.pt); returns the metrics and whether early stopping says stop
        (the same on all ranks)."""
        t0 = time.monotonic()
        pos, info = self.pos, self.info
        stop = False
        metrics: dict[str, float] = {}
        if info.is_main:
            model = self.model
            model.eval()
            with torch.no_grad(), autocast():
                metrics = self.task.evaluate(model)
            model.train()
            vloss = float(metrics["loss"])
            improved = math.isfinite(vloss) and vloss < pos.best
            if improved:
                pos.best, pos.bad_evals = vloss, 0
            else:
                pos.bad_evals += 1
            stop = self.cfg.patience > 0 and pos.bad_evals >= self.cfg.patience
            _metrics_append(self.metrics_path, {"step": pos.step, "epoch": pos.epoch, "split": "valid",
                                                **{k: float(v) for k, v in metrics.items()}, "best": pos.best,
                                                "lr": self.scheduler.get_last_lr()[0]})
            if improved:
                atomic_save({"model": model.state_dict(), "step": pos.step, "epoch": pos.epoch, "best": pos.best,
                             "task_info": self.task_info, "metrics": {k: float(v) for k, v in metrics.items()}},
                            self.best_path)
        result = metrics, _broadcast_flag(stop, info, self.dev)
        self.costs["valid_s"] = time.monotonic() - t0
        return result

    def save(self, path: Path) -> None:
        """Collective: every rank contributes its RNG/task state; rank 0 writes the checkpoint."""
        t0 = time.monotonic()
        states = [{"rng": rng_state(), "task": _to_cpu(self.task.state_dict())}]
        if self.info.active:
            gathered: list[Any] = [None] * self.info.world_size
            dist.all_gather_object(gathered, states[0])
            states = gathered
        if self.info.is_main:
            pos = self.pos
            atomic_save({
                "model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
                "scheduler": self.scheduler.state_dict(), "step": pos.step, "epoch": pos.epoch,
                "batch": pos.batch_idx, "best": pos.best, "bad_evals": pos.bad_evals, "task_info": self.task_info,
                "ranks": states, "elapsed_s": pos.elapsed_before + time.monotonic() - self.start_time,
                "last_loss": pos.last_loss, "items_seen": pos.items_seen,
            }, path)
        self.costs["save_s"] = time.monotonic() - t0

    # -- the loop ------------------------------------------------------------------------------------------------

    def loop(self) -> TrainResult:
        """Epochs of steps, with validations and checkpoints, until the steps, the epochs, the patience or the
        time budget run out."""
        from tqdm.auto import tqdm

        cfg, info, dev, task, pos = self.cfg, self.info, self.dev, self.task, self.pos
        train_model: nn.Module = self.model
        if info.active:
            train_model = nn.parallel.DistributedDataParallel(
                self.model, device_ids=[dev.index] if dev.type == "cuda" else None)
        autocast = (lambda: torch.autocast("cuda", dtype=torch.bfloat16)) if dev.type == "cuda" and cfg.amp \
            else nullcontext
        # On the CPU, bf16 matrix products run on AMX several times faster than float32 (the vocabulary layer
        # and the LSTM are most of a step); weights, optimiser and the loss's softmax stay float32. Validation
        # keeps float32, as the exported graphs are.
        cpu_bf16 = dev.type == "cpu" and use_cpu_bf16(cfg.cpu_bf16)
        train_autocast = (lambda: torch.autocast("cpu", dtype=torch.bfloat16)) if cpu_bf16 else autocast

        self.model.train()
        stopped = "finished"
        last_valid: dict[str, float] = {}
        done = pos.step >= self.total_steps
        if not done and _all_flag(self.out_of_time(), info, dev):
            # Setup already used the budget: no step fits. The run still leaves ckpt-last.pt (so --resume goes
            # on from here with a new budget) but skips the validation, which would overrun the budget further.
            self.save(self.last_path)
            stopped, done = "max_minutes", True
        while not done and pos.epoch < cfg.epochs:
            n_batches = task.num_train_batches(pos.epoch, info.rank, info.world_size)
            bar = tqdm(total=n_batches, initial=pos.batch_idx, desc=f"{task.name} epoch {pos.epoch + 1}/{cfg.epochs}",
                       unit="batch", disable=not (self.progress and info.is_main), dynamic_ncols=True)
            window_items, window_t0 = 0, time.monotonic()
            for batch in task.train_batches(pos.epoch, info.rank, info.world_size, pos.batch_idx):
                try:
                    count, extra, gnorm = self.step(train_model, batch, train_autocast)
                except TrainingError:
                    bar.close()
                    raise
                window_items += count
                bar.update(1)
                rate = window_items * info.world_size / max(1e-9, time.monotonic() - window_t0)
                # refresh=False: tqdm redraws on its own interval, not on every step
                bar.set_postfix(loss=f"{pos.last_loss:.3f}", refresh=False, **{f"{task.unit}/s": f"{rate:,.0f}"})
                if info.is_main and (pos.step % cfg.log_every == 0 or pos.step == 1):
                    self.log_step(rate, extra, gnorm)
                end_of_epoch = pos.batch_idx >= n_batches
                if end_of_epoch:
                    pos.epoch, pos.batch_idx = pos.epoch + 1, 0
                stop_early = False
                validated = False
                if end_of_epoch or (cfg.eval_every and pos.step % cfg.eval_every == 0):
                    last_valid, stop_early = self.validate(autocast)
                    validated = True
                over_time = _all_flag(self.out_of_time(), info, dev)
                reached_max = pos.step >= self.total_steps
                if (over_time or reached_max) and not validated:
                    # A run never ends without a validation, so ckpt-best.pt reflects its last weights too.
                    last_valid, stop_early = self.validate(autocast)
                    validated = True
                if validated or over_time or reached_max or stop_early or pos.step % cfg.ckpt_every == 0:
                    self.save(self.last_path)
                if stop_early or over_time or reached_max:
                    stopped = "early_stopping" if stop_early else ("max_minutes" if over_time else "max_steps")
                    if reached_max and not stop_early and not over_time and pos.epoch >= cfg.epochs:
                        stopped = "finished"
                    done = True
                    break
                if end_of_epoch:
                    break
            bar.close()
        if info.active:
            dist.barrier()
            dist.destroy_process_group()
        if info.is_main:
            _metrics_append(self.metrics_path, {"step": pos.step, "epoch": pos.epoch, "split": "end",
                                                "stopped": stopped, "best": pos.best, "last_train_loss": pos.last_loss})
        return TrainResult(pos.step, pos.epoch, pos.best, pos.last_loss, last_valid, stopped)

    def log_step(self, rate: float, extra: dict[str, float], gnorm: Any) -> None:
        """A training row of metrics.jsonl (main rank)."""
        pos = self.pos
        row = {"step": pos.step, "epoch": pos.epoch, "split": "train", "loss": pos.last_loss,
               "lr": self.scheduler.get_last_lr()[0], f"{self.task.unit}_per_s": rate,
               # items trained on so far (this rank x ranks): compares runs per token, not per step
               f"{self.task.unit}s_seen": pos.items_seen * self.info.world_size,
               **{k: float(v) for k, v in extra.items()}}
        if gnorm is not None:
            row["grad_norm"] = float(gnorm)
        _metrics_append(self.metrics_path, row)
