"""Training throughput of the char-LSTM and the token LSTM: items (bytes / tokens) per second.

Runs real training steps (forward, copy-mixture loss, backward, clipping, AdamW) of the models described by the
given configs, on a corpus folder or, without --corpus, on a small synthetic corpus, on the CPU and on CUDA
when available, with the config's own [train] threads and CPU bf16 setting unless overridden.  With
--baseline-token-config / --baseline-char-config it also measures those configs and prints the speed-up of each
model's config over its baseline (the "before / after" pair).  Each row records the 1-minute load average before
and after it: on a shared machine, figures taken under load are not comparable.  Prints a table and the
command that produced it.

    python benchmarks/train_throughput.py --help
"""
from __future__ import annotations

import argparse
import os
import shlex
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def measure(kind: str, config: Path, corpus: Path, device: str, steps: int, warmup: int, threads: int,
            pad_vocab: bool, max_items: int = 0, cpu_bf16: str | None = None, compile_model: bool = False) -> dict:
    """Items/s and ms/step of `steps` training steps after `warmup` untimed ones.

    `threads` 0 and `cpu_bf16` None take the config's [train] values (threads 0 there: all usable cores), as
    `codecomp train` would.  `max_items` > 0 caps the training files read ([data] max_train_items).
    `compile_model` wraps the model in `torch.compile` (the warmup steps then include its compilation).
    """
    import torch

    from training.cli import make_task, read_config
    from training.loop import LoopConfig, cpu_threads, dataclass_from_dict, make_adamw, move_to, use_cpu_bf16

    doc = read_config(config, kind)
    loop_cfg: LoopConfig = dataclass_from_dict(LoopConfig, doc.get("train"), "train")
    n_threads = threads or cpu_threads(loop_cfg.threads, 1)
    torch.set_num_threads(n_threads)
    bf16 = device == "cpu" and use_cpu_bf16(cpu_bf16 or loop_cfg.cpu_bf16)
    sections = {k: dict(v) for k, v in doc.items() if k in ("model", "data")}
    if max_items:
        sections.setdefault("data", {})["max_train_items"] = max_items
    task = make_task(kind, corpus, sections, 0)
    with tempfile.TemporaryDirectory() as run_dir:
        if kind == "token" and pad_vocab:
            # A small corpus has few distinct tokens; pad the vocabulary to the configured size so the output
            # layer costs what it will cost on a real corpus.
            from training.vocab import Vocab, build_vocab

            rows = (r["tokens"] for r in task.corpus.rows("train", ["tokens"]))
            vocab = build_vocab(rows, task.model_config.vocab_size, 1)
            filler = [f"\x00filler{i}" for i in range(task.model_config.vocab_size - len(vocab))]
            Vocab(vocab.itos + filler).save(Path(run_dir) / "vocab.json")
        model = task.build_model(Path(run_dir)).to(device)
    opt = make_adamw(model.parameters(), lr=1e-3, device=device)
    if compile_model:
        model = torch.compile(model)
    if device == "cuda":
        autocast = torch.autocast("cuda", dtype=torch.bfloat16)
    else:
        autocast = torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16)

    def batches():
        epoch = 0
        while True:
            for b in task.train_batches(epoch, 0, 1, 0):
                yield move_to(b, torch.device(device))
            epoch += 1

    it = batches()
    items, t0 = 0, 0.0
    load_before = os.getloadavg()[0]
    for i in range(warmup + steps):
        if i == warmup:
            if device == "cuda":
                torch.cuda.synchronize()
            t0, items = time.perf_counter(), 0
        with autocast:
            loss, count, _ = task.loss(model, next(it))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        items += count
    if device == "cuda":
        torch.cuda.synchronize()
    dt = time.perf_counter() - t0
    params = sum(p.numel() for p in model.parameters())
    return {"items_s": items / dt, "ms_step": 1000 * dt / steps, "params": params, "unit": task.unit,
            "threads": n_threads, "bf16": bf16, "load": (load_before, os.getloadavg()[0])}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--corpus", type=Path, help="corpus folder (default: a synthetic corpus built in a temp dir)")
    parser.add_argument("--char-config", type=Path, default=REPO / "training/configs/cpu-default-char.toml")
    parser.add_argument("--token-config", type=Path, default=REPO / "training/configs/cpu-default-token.toml")
    parser.add_argument("--baseline-char-config", type=Path, default=None,
                        help="also measure this char config and print the speed-up over it")
    parser.add_argument("--baseline-token-config", type=Path, default=None,
                        help="also measure this token config and print the speed-up over it")
    parser.add_argument("--models", default="char,token", help="comma-separated: char, token")
    parser.add_argument("--devices", default="auto", help="comma-separated cpu,cuda; auto: cpu plus cuda if present")
    parser.add_argument("--steps", type=int, default=20, help="timed steps per model")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps first")
    parser.add_argument("--threads", type=int, default=0,
                        help="torch CPU threads; 0: each config's [train] threads (0 there: all usable cores)")
    parser.add_argument("--cpu-bf16", choices=["auto", "on", "off"], default=None,
                        help="bf16 autocast on the CPU (default: each config's [train] cpu_bf16)")
    parser.add_argument("--max-items", type=int, default=0,
                        help="read only about this many training items of --corpus (0: all)")
    parser.add_argument("--compile", action="store_true",
                        help="torch.compile the models (more warmup steps are needed to cover the compilation)")
    args = parser.parse_args(argv)

    import torch

    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else []) if args.devices == "auto" \
        else args.devices.split(",")
    with tempfile.TemporaryDirectory() as tmp:
        corpus = args.corpus
        if corpus is None:
            from training.data import synthetic_corpus
            import datasets
            datasets.disable_progress_bars()
            corpus = synthetic_corpus(Path(tmp) / "corpus", n_projects=8, files_per_project=30)
        rows = []
        for kind in args.models.split(","):
            config = args.char_config if kind == "char" else args.token_config
            baseline = args.baseline_char_config if kind == "char" else args.baseline_token_config
            for device in devices:
                measured = {}
                for role, cfg in (("baseline", baseline), ("config", config)):
                    if cfg is None:
                        continue
                    r = measure(kind, cfg, corpus, device, args.steps, args.warmup, args.threads,
                                pad_vocab=args.corpus is None, max_items=args.max_items, cpu_bf16=args.cpu_bf16,
                                compile_model=args.compile)
                    measured[role] = r
                    speedup = (r["items_s"] / measured["baseline"]["items_s"]
                               if role == "config" and "baseline" in measured else None)
                    rows.append((kind, cfg.name, device, r, speedup))
    print(f"{'model':6} {'config':26} {'device':6} {'params':>10} {'thr':>3} {'bf16':>4} {'items/s':>12} "
          f"{'ms/step':>9} {'speed-up':>8} {'load 1m before/after':>20}")
    for kind, cfg, device, r, speedup in rows:
        up = f"{speedup:7.2f}x" if speedup else f"{'':8}"
        print(f"{kind:6} {cfg:26} {device:6} {r['params']:>10,} {r['threads']:>3} {'yes' if r['bf16'] else 'no':>4} "
              f"{r['items_s']:>10,.0f} {r['unit'][:1]} {r['ms_step']:>9.1f} {up} "
              f"{r['load'][0]:>10.2f} / {r['load'][1]:<7.2f}")
    print("command: " + " ".join(shlex.quote(a) for a in [sys.executable, *sys.argv]))


if __name__ == "__main__":
    main()
