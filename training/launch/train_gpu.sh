#!/usr/bin/env bash
# Train a model on every GPU of this machine with DDP (one process per GPU, NCCL, bf16 autocast).
#
#   training/launch/train_gpu.sh token CORPUS_DIR RUN_DIR [extra `codecomp train` options, e.g. --resume]
#
# MODEL is char or token (gpu-MODEL.toml) or tree; set CONFIG=... to use another config and
# NPROC=... to use fewer GPUs than are visible.
set -euo pipefail
if [[ $# -lt 3 ]]; then
  sed -n '2,7p' "$0" | sed 's/^# \{0,1\}//'
  exit 2
fi
model="$1"; corpus="$2"; out="$3"; shift 3
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
config="${CONFIG:-$here/../configs/gpu-$model.toml}"
nproc="${NPROC:-$(nvidia-smi --list-gpus 2>/dev/null | wc -l)}"
if [[ "$nproc" -lt 1 ]]; then
  echo "no GPU found (nvidia-smi lists none); use training/launch/train_cpu.sh" >&2
  exit 2
fi
# A few CPU threads per process for the data side: the GPU does the work.
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-4}"
exec torchrun --standalone --nproc_per_node "$nproc" -m codecomp train "$model" \
  --corpus "$corpus" --out "$out" --config "$config" --device cuda "$@"
