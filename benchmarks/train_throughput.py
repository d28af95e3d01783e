"""Training throughput of the char-LSTM and the token LSTM: items (bytes / tokens) per second.

Runs real training steps (forward, copy-mixture loss, backward, clipping, AdamW) of the models described by the
given configs, on a corpus folder or, without --corpus, on a small synthetic corpus, on the CPU and on CUDA
when available.  Prints a table and the command that produced it.

    python benchmarks/train_throughput.py --help
"""
from __future__ import annotations

import argparse
import shlex
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def measure(kind: str, config: Path, corpus: Path, device: str, steps: int, warmup: int, threads: int,
            pad_vocab: bool) -> dict:
    """Items/s and ms/step of `steps` training steps after `warmup` untimed ones."""
    import torch

    from training.cli import make_task, read_config
    from training.loop import move_to

    torch.set_num_threads(threads)
    doc = read_config(config, kind)
    task = make_task(kind, corpus, {k: v for k, v in doc.items() if k in ("model", "data")}, 0)
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
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    autocast = torch.autocast("cuda", dtype=torch.bfloat16) if device == "cuda" else torch.autocast("cpu", enabled=False)

    def batches():
        epoch = 0
        while True:
            for b in task.train_batches(epoch, 0, 1, 0):
                yield move_to(b, torch.device(device))
            epoch += 1

    it = batches()
    items, t0 = 0, 0.0
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
    return {"items_s": items / dt, "ms_step": 1000 * dt / steps, "params": params, "unit": task.unit}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--corpus", type=Path, help="corpus folder (default: a synthetic corpus built in a temp dir)")
    parser.add_argument("--char-config", type=Path, default=REPO / "training/configs/cpu-default-char.toml")
    parser.add_argument("--token-config", type=Path, default=REPO / "training/configs/cpu-default-token.toml")
    parser.add_argument("--models", default="char,token", help="comma-separated: char, token")
    parser.add_argument("--devices", default="auto", help="comma-separated cpu,cuda; auto: cpu plus cuda if present")
    parser.add_argument("--steps", type=int, default=20, help="timed steps per model")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps first")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
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
            for device in devices:
                r = measure(kind, config, corpus, device, args.steps, args.warmup, args.threads,
                            pad_vocab=args.corpus is None)
                rows.append((kind, config.name, device, r))
    print(f"{'model':6} {'config':24} {'device':6} {'params':>10} {'items/s':>12} {'ms/step':>9}")
    for kind, cfg, device, r in rows:
        print(f"{kind:6} {cfg:24} {device:6} {r['params']:>10,} {r['items_s']:>10,.0f} {r['unit'][:1]} "
              f"{r['ms_step']:>9.1f}")
    print("command: " + " ".join(shlex.quote(a) for a in [sys.executable, *sys.argv]))


if __name__ == "__main__":
    main()
