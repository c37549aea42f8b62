#!/usr/bin/env bash
# Every GPU figure of the project in one run (see benchmarks/gpu_suite.py).
#   benchmarks/gpu_suite.sh            # on a CUDA GPU, < 8 min on an H100/H200
#   benchmarks/gpu_suite.sh --dry-run  # toy sizes on the CPU (CI)
set -euo pipefail
cd "$(dirname "$0")/.."
exec python benchmarks/gpu_suite.py "$@"
