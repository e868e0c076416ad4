#!/usr/bin/env bash
# The GPU check of the CuPy path, in one run on a machine with CuPy and an NVIDIA GPU:
#   1. `pytest -m gpu`: CPU (numba) and GPU (CuPy) results agree to 1e-10 in float64;
#   2. benchmarks/test_gpu_sweep.py: the card's copy bandwidth, CuPy sweeps against it, and VI
#      at S = 10^6 on the GPU against the CPU solve;
#   3. benchmarks/report.py on that JSON (the "GPU" section of docs/performance.md).
# Runs from a source checkout without installing the package (PYTHONPATH), so it needs only
# numpy, scipy, numba, networkx, cupy, pytest, pytest-benchmark and hypothesis.
# Usage: bash benchmarks/gpu_check.sh [OUTPUT_DIR]     (default: ./gpu-check)
set -uo pipefail
cd "$(dirname "$0")/.."
out="${1:-gpu-check}"
mkdir -p "$out"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1 MPLBACKEND=Agg
export NUMBA_CACHE_DIR="${NUMBA_CACHE_DIR:-${TMPDIR:-/tmp}/theory_rl-numba-cache}"
py="${PYTHON:-python3}"
{
    nvidia-smi --query-gpu=name,memory.total,clocks.max.memory,driver_version --format=csv
    "$py" -c "import cupy, numpy, numba, scipy; print('cupy', cupy.__version__, 'numpy',
numpy.__version__, 'numba', numba.__version__, 'scipy', scipy.__version__)"
} 2>&1 | tee "$out/env.txt"
if ! "$py" -c "from theory_rl.backend import cupy_available as ok; raise SystemExit(not ok())"; then
    echo "CuPy sees no GPU here: nothing to check" >&2
    exit 2
fi
"$py" -m pytest -m gpu tests/ -p no:cacheprovider -q 2>&1 | tee "$out/pytest_gpu.txt"
tests_rc=${PIPESTATUS[0]}
"$py" -m pytest benchmarks/test_gpu_sweep.py --benchmark-only -p no:cacheprovider -q \
    --benchmark-json="$out/gpu_bench.json" 2>&1 | tee "$out/bench.txt"
bench_rc=${PIPESTATUS[0]}
"$py" benchmarks/report.py "$out/gpu_bench.json" 2>&1 | tee "$out/report.md"
echo "pytest -m gpu: exit $tests_rc; GPU benchmark: exit $bench_rc"
exit $(( tests_rc || bench_rc ))
