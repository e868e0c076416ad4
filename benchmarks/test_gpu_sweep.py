"""Bellman sweeps and value iteration through the CuPy path, against the GPU's copy bandwidth.

Skipped without CuPy and a GPU.  In one run:

* ``test_gpu_copy_bandwidth``: ``cupy.copyto`` of a 1 GiB float64 array (read + write counted),
  timed by wall clock with a device synchronisation after each call (negligible at 1 GiB): the
  card's achievable streaming bandwidth.
* ``test_gpu_sweep``: what users call, ``dp.bellman_optimality_operator(mdp, v,
  device="gpu")`` on a device array ``v`` (cuSPARSE CSR or cuBLAS dense ``P @ v``, then reshape
  and ``max``; the ``(S,)`` result comes back to the host, which synchronises), on a dense garnet
  and two CSR garnets.  The result is checked against the CPU operator first (1e-10).  *Bytes*
  is the compulsory traffic of the CPU benchmark (:func:`_bench.csr_sweep_bytes` for the GPU
  matrix's own index dtypes) plus the ``(S*A,)`` q-vector the CuPy path writes and reads back.
* ``test_gpu_value_iteration``: VI to ``tol = 1e-8`` on the CSR garnet S = 10^6, A = 10, b = 10
  on the GPU, with its values checked against the CPU solve (1e-10).
"""

from __future__ import annotations

import functools

import _bench
import numpy as np
import pytest

from theory_rl.algorithms import dp
from theory_rl.backend import cupy_available

pytestmark = pytest.mark.skipif(not cupy_available(), reason="needs CuPy and an NVIDIA GPU")

COPY_BYTES = 2**30
GPU_INSTANCES = [
    _bench.Instance(2000, 10, 2000, dense=True),
    _bench.Instance(200000, 10, 10),
    _bench.Instance(1000000, 10, 10),
]
ROUNDS, WARMUP = 30, 3
VI_INSTANCE = GPU_INSTANCES[-1]


@functools.cache
def _build(inst: _bench.Instance):
    """Each garnet once per module (the S = 10^6 one takes about 10 s to generate)."""
    return inst.build(0.9)


def _synchronized(fn, *args):
    import cupy

    out = fn(*args)
    cupy.cuda.Device().synchronize()
    return out


def test_gpu_copy_bandwidth(benchmark):
    import cupy

    src = cupy.ones(COPY_BYTES // 8)
    dst = cupy.empty_like(src)
    benchmark.group = "gpu memory bandwidth"
    benchmark.pedantic(_synchronized, args=(cupy.copyto, dst, src), rounds=20, warmup_rounds=3)
    moved = 2 * src.nbytes
    median = float(benchmark.stats.stats.median)
    _bench.RUN["gpu_copy_gb_per_s"] = moved / median / 1e9
    props = cupy.cuda.runtime.getDeviceProperties(0)
    name = props["name"]
    benchmark.extra_info.update(
        kind="gpu-copy", bytes=moved, gb_per_s=_bench.RUN["gpu_copy_gb_per_s"],
        device=name.decode() if isinstance(name, bytes) else str(name),
        total_memory_gib=props["totalGlobalMem"] / 2**30,
    )


@pytest.fixture(scope="module", params=GPU_INSTANCES, ids=lambda inst: inst.name)
def gpu_case(request):
    inst = request.param
    mdp = _build(inst)
    yield inst, mdp
    dp._OPERATORS.pop(mdp, None)


def test_gpu_sweep(benchmark, gpu_case):
    import cupy

    inst, mdp = gpu_case
    S, A = mdp.n_states, mdp.n_actions
    v = np.random.default_rng(0).random(S) / (1.0 - mdp.gamma)
    ref_v = dp.bellman_optimality_operator(mdp, v, device="cpu")
    op = dp._operator(mdp, "gpu", None)  # prepared (matrix on the device) before timing
    v_gpu = cupy.asarray(v)
    sweep = functools.partial(dp.bellman_optimality_operator, mdp, device="gpu")
    out_v = sweep(v_gpu)
    np.testing.assert_allclose(out_v, ref_v, rtol=0, atol=1e-10)
    if mdp.is_sparse:
        P = op.P2
        moved = _bench.csr_sweep_bytes(P.indptr, P.indices, P.data, S * A, S) + 16 * S * A
    else:
        moved = _bench.dense_sweep_bytes(S, A) + 16 * S * A
    benchmark.group = f"gpu sweep {inst.name}"
    benchmark.pedantic(_synchronized, args=(sweep, v_gpu), rounds=ROUNDS,
                       warmup_rounds=WARMUP)
    median = float(benchmark.stats.stats.median)
    copy = _bench.RUN.get("gpu_copy_gb_per_s")
    info = dict(kind="gpu-sweep", instance=inst.name, n_states=S, n_actions=A, nnz=mdp.nnz,
                bytes=moved, gb_per_s=moved / median / 1e9, gpu_copy_gb_per_s=copy)
    if copy:
        info["ratio_to_copy"] = info["gb_per_s"] / copy
    benchmark.extra_info.update(info)


def test_gpu_value_iteration(benchmark):
    inst = VI_INSTANCE
    mdp = _build(inst)
    cpu = dp.value_iteration(mdp, tol=1e-8)
    res = benchmark.pedantic(dp.value_iteration, args=(mdp,), kwargs=dict(tol=1e-8, device="gpu"),
                             rounds=3, warmup_rounds=1)
    np.testing.assert_allclose(res.values, cpu.values, rtol=0, atol=1e-10)
    benchmark.group = "gpu value iteration"
    benchmark.extra_info.update(kind="gpu-vi", instance=inst.name, n_iterations=res.n_iterations,
                                cpu_seconds=float(cpu.history["wall_time"][0]))
    dp._OPERATORS.pop(mdp, None)
