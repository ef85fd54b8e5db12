#!/usr/bin/env bash
# GPU check (issue 20 item 7), for a CUDA machine lent by the device tool: install what the engine
# needs (the wheels carried in wheels/ when present, else the package index), then sample 100,000
# unconditional and 100,000 ILVR cuprate candidates, check CUDA against the CPU, and print
# candidates/s, peak GPU memory and the batch size. Results: $OUT/gpu_check.json (or ./gpu_check.json).
#   bash benchmarks/gpu_check.sh                 # on the CUDA machine
#   bash benchmarks/gpu_check.sh --device cpu --samples 200 --agreement-samples 100   # CPU smoke test
set -euo pipefail
cd "$(dirname "$0")/.."
if ! python3 -c "import torch, pymatgen, smact, pandas, sklearn" 2>/dev/null; then
  if [[ -d wheels ]]; then
    python3 -m pip install --quiet --no-index --find-links wheels -r requirements.txt
  else
    python3 -m pip install --quiet -r requirements.txt
  fi
fi
exec timeout 230 python3 benchmarks/gpu_check.py --json "${OUT:-.}/gpu_check.json" "$@"
