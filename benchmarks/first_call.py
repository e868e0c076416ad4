"""What a user waits for: value iteration at S = 10**6 through the public call, first and warm.

Usage::

    python benchmarks/first_call.py            # S = 10**6, A = 10, b = 10, gamma 0.9

Runs one fresh Python process with an empty numba cache (so the first call compiles the
kernels) and prints: garnet generation, the first ``value_iteration(mdp)`` call (compilation
included), the same call warm (median of three), their difference (compilation and first-touch
cost), and the machine.  ``docs/performance.md`` and the README quote its output.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import tempfile

CHILD = r"""
import json, sys, time
t0 = time.perf_counter()
import numpy as np
from theory_rl import garnet, value_iteration
t_import = time.perf_counter() - t0
S, A, b = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
t0 = time.perf_counter()
mdp = garnet(S, A, b, gamma=0.9, seed=2024)
t_gen = time.perf_counter() - t0
t0 = time.perf_counter()
first = value_iteration(mdp)
t_first = time.perf_counter() - t0
warm = []
for _ in range(3):
    t0 = time.perf_counter()
    res = value_iteration(mdp)
    warm.append(time.perf_counter() - t0)
print(json.dumps(dict(import_s=t_import, generation_s=t_gen, first_s=t_first,
                      warm_s=float(np.median(warm)), iterations=res.n_iterations,
                      message=res.message)))
"""


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "?"


def main(argv: list[str] | None = None) -> None:
    args = argv if argv is not None else sys.argv[1:]
    S, A, b = (int(x) for x in (args + ["1000000", "10", "10"][len(args):]))
    with tempfile.TemporaryDirectory() as cache:
        env = {**os.environ, "NUMBA_CACHE_DIR": cache}
        out = subprocess.run([sys.executable, "-c", CHILD, str(S), str(A), str(b)], env=env,
                             check=True, capture_output=True, text=True).stdout
    r = json.loads(out.strip().splitlines()[-1])
    print(f"machine: {_cpu_model()}, nproc = {os.cpu_count()}, Python {platform.python_version()}")
    print(f"value_iteration on garnet(S={S}, A={A}, b={b}, gamma=0.9), empty numba cache:")
    print(f"  import theory_rl      {r['import_s']:7.2f} s")
    print(f"  garnet generation     {r['generation_s']:7.2f} s")
    print(f"  first call            {r['first_s']:7.2f} s  (compilation included)")
    print(f"  warm call (median 3)  {r['warm_s']:7.2f} s  ({r['iterations']} sweeps)")
    compile_s = r["first_s"] - r["warm_s"]
    print(f"  first - warm          {compile_s:7.2f} s  (compilation, first touch)")


if __name__ == "__main__":
    main()
