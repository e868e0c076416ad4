"""pytest-benchmark configuration for ``benchmarks/`` (not part of the normal test run).

Run with::

    NUMBA_CACHE_DIR=/tmp/numba_cache python -m pytest benchmarks/ --benchmark-only \
        --benchmark-json=/tmp/bench.json
    python benchmarks/report.py /tmp/bench.json

Plain ``pytest`` from the repository root never collects this folder (``testpaths = ["tests"]``
in ``pyproject.toml``).  This file:

* sets ``NUMBA_CACHE_DIR`` (default ``/tmp/numba_cache``) before numba is imported, so kernels
  compile once per machine, not once per run;
* compiles every kernel on tiny problems before the first benchmark (session fixture), so no
  timing or "cold" measurement includes JIT compilation;
* puts the memory-bandwidth benchmark first, so the sweeps of the same run can compare with it;
* adds the machine (CPU model, cores, memory, load, thread settings, library versions) to the
  JSON's ``machine_info``, and the peers that were not timed (with the reason) to the JSON's
  ``theory_rl`` section, since pytest-benchmark stores nothing for a skipped benchmark.
"""

from __future__ import annotations

import os

os.environ.setdefault("NUMBA_CACHE_DIR", "/tmp/numba_cache")

import platform  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent))

import _bench  # noqa: E402


def pytest_sessionstart(session):
    _bench.RUN["loadavg_at_start"] = os.getloadavg()


def pytest_collection_modifyitems(config, items):
    """Run the copy-bandwidth benchmark before everything else."""
    first = [it for it in items if it.name.startswith("test_copy_bandwidth")]
    rest = [it for it in items if not it.name.startswith("test_copy_bandwidth")]
    items[:] = first + rest


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _mem_total_gib() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 2**20, 1)
    except OSError:
        pass
    return None


def _versions() -> dict[str, str]:
    out = {}
    for name in ("numpy", "scipy", "numba", "quantecon", "mdptoolbox", "mdpsolver", "theory_rl"):
        try:
            from importlib.metadata import version

            dist = {"mdptoolbox": "pymdptoolbox"}.get(name, name)
            out[name] = version(dist)
        except Exception:  # a missing peer is reported, not fatal
            out[name] = "not installed"
    return out


def pytest_benchmark_update_machine_info(config, machine_info):
    import numba

    import theory_rl

    machine_info["theory_rl_machine"] = {
        "theory_rl_path": str(Path(theory_rl.__file__).parent),
        "cpu_model": _cpu_model(),
        "nproc": os.cpu_count(),
        "mem_total_gib": _mem_total_gib(),
        "loadavg_at_start": _bench.RUN.get("loadavg_at_start"),
        "loadavg_now": os.getloadavg(),
        "numba_threads": numba.get_num_threads(),
        "env": {k: os.environ.get(k) for k in (
            "NUMBA_CACHE_DIR", "NUMBA_NUM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS",
        )},
        "versions": _versions(),
    }


def pytest_benchmark_update_json(config, benchmarks, output_json):
    output_json["theory_rl"] = {
        "not_timed": _bench.NOT_TIMED,
        "copy_gb_per_s": _bench.RUN.get("copy_gb_per_s"),
        "loadavg_at_start": _bench.RUN.get("loadavg_at_start"),
        "loadavg_at_end": os.getloadavg(),
    }


@pytest.fixture(scope="session", autouse=True)
def _compiled_kernels():
    """Compile (or load from the numba cache) every kernel the benchmarks use."""
    _bench.warm_up_kernels()
