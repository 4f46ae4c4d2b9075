#!/usr/bin/env bash
# The classifier benchmark (loadtest/bench_classifier.py) on an NVIDIA GPU, in under five
# minutes: naive per-request inference vs the batched core (1/16/64 callers) vs the raw model.
#
#   loadtest/gpu_bench.sh [extra bench_classifier.py flags, e.g. --model DIR --compile]
#
# Uses a Python that already has CUDA torch if there is one (PYTHON=...); otherwise builds
# .venv-gpu with pip only (the default Linux torch wheel on PyPI is the CUDA build).
set -euo pipefail
cd "$(dirname "$0")/.."

nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader

has_cuda_torch() {
  "$1" -c 'import torch, transformers, aiohttp, orjson, prometheus_client; assert torch.cuda.is_available()' 2>/dev/null
}

PY="${PYTHON:-}"
if [[ -z "$PY" ]]; then
  for candidate in .venv-gpu/bin/python python3; do
    if has_cuda_torch "$candidate"; then PY="$candidate"; break; fi
  done
fi
if [[ -z "$PY" ]]; then
  python3 -m venv .venv-gpu
  .venv-gpu/bin/pip install -q --upgrade pip
  .venv-gpu/bin/pip install -q "torch>=2.3,<3"  # CUDA wheel from PyPI
  .venv-gpu/bin/pip install -q -e ".[models]"
  PY=.venv-gpu/bin/python
fi
has_cuda_torch "$PY" || { echo "no CUDA-enabled torch in $PY" >&2; exit 1; }

mkdir -p loadtest/results
# GPU shapes: few, large batches (graph-friendly); the batch size scan picks the best one.
# The time limit keeps a slow first CUDA initialisation from running past five minutes.
exec timeout 270 env PYTHONPATH=".${PYTHONPATH:+:$PYTHONPATH}" "$PY" -m loadtest.bench_classifier \
  --device cuda \
  --batch-sizes 1,4,16,32,64,128,256 \
  --max-batch-tokens 65536 \
  --max-wait-us 1000 \
  --n 4096 --naive-n 512 --scan-n 1024 --rounds 3 \
  --out "loadtest/results/classifier_gpu_$(date -u +%Y%m%dT%H%MZ).json" \
  "$@"
