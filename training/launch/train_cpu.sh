#!/usr/bin/env bash
# Train a model on the CPU, optionally with several DDP processes (gloo) sharing the cores.
#
#   training/launch/train_cpu.sh token CORPUS_DIR RUN_DIR [extra `codecomp train` options, e.g. --max-minutes 60]
#
# MODEL is char, token (cpu-default-MODEL.toml) or tree; set CONFIG=... for another config and NPROC=N to run
# N processes (each gets cores/N threads).  NPROC=1 (the default) runs a plain single process.
set -euo pipefail
if [[ $# -lt 3 ]]; then
  sed -n '2,7p' "$0" | sed 's/^# \{0,1\}//'
  exit 2
fi
model="$1"; corpus="$2"; out="$3"; shift 3
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
config="${CONFIG:-$here/../configs/cpu-default-$model.toml}"
nproc="${NPROC:-1}"
if [[ "$nproc" -le 1 ]]; then
  exec python -m codecomp train "$model" --corpus "$corpus" --out "$out" --config "$config" --device cpu "$@"
fi
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-$(( $(nproc) / nproc > 0 ? $(nproc) / nproc : 1 ))}"
exec python -m torch.distributed.run --standalone --nproc_per_node "$nproc" -m codecomp train "$model" \
  --corpus "$corpus" --out "$out" --config "$config" --device cpu "$@"
