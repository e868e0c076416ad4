"""One Bellman sweep ``v -> (T v, greedy action)``: numba kernels against the memory bandwidth.

Benchmarks, all in one run so that their ratios are meaningful on a shared, noisy machine:

* ``test_copy_bandwidth``: ``np.copyto`` of a 512 MiB float64 array (read + write bytes
  counted), the machine's single-thread streaming bandwidth; run first (see ``conftest.py``).
* ``test_sweep``: one sweep through ``theory_rl.algorithms.dp._operator(mdp, "cpu",
  parallel).sweep(v)``, i.e. the serial or the parallel numba kernel of
  :mod:`theory_rl.kernels.bellman`, including the per-call allocation of the two outputs, on a
  dense and two CSR garnets; and the same sweep written with scipy/numpy
  (``r + gamma * (P @ v)``, reshaped to ``(S, A)``, then ``max`` and ``argmax``) as a peer:
  scipy's CSR matvec for the CSR garnets (``impl = "scipy-csr"``), numpy's BLAS ``dgemv``
  (possibly multi-threaded) for the dense one (``impl = "numpy-blas"``).

``extra_info`` of each sweep: ``bytes`` (the compulsory traffic of :func:`_bench.csr_sweep_bytes`
/ :func:`_bench.dense_sweep_bytes` for the arrays that implementation reads), ``gb_per_s``
(bytes / median time), ``copy_gb_per_s`` and ``ratio_to_copy``.  The project target is
``ratio_to_copy >= 0.6`` for the CSR kernels; it is reported, not asserted.
"""

from __future__ import annotations

import _bench
import numpy as np
import pytest

from theory_rl.algorithms import dp

COPY_BYTES = 512 * 2**20  # one array; the copy moves twice this
SWEEP_INSTANCES = [
    _bench.Instance(2000, 10, 2000, dense=True),
    _bench.Instance(20000, 20, 5),
    _bench.Instance(200000, 10, 10),
]
IMPLS = ["numba-serial", "numba-parallel", "peer"]  # peer: scipy CSR matvec / numpy BLAS
ROUNDS, WARMUP = 20, 3


def _median(benchmark) -> float | None:
    stats = getattr(benchmark, "stats", None)
    return None if stats is None else float(stats.stats.median)


def _copy_once(dst: np.ndarray, src: np.ndarray) -> None:
    np.copyto(dst, src)


def test_copy_bandwidth(benchmark):
    src = np.ones(COPY_BYTES // 8)
    dst = np.empty_like(src)
    benchmark.group = "memory bandwidth"
    benchmark.pedantic(_copy_once, args=(dst, src), rounds=15, warmup_rounds=2)
    moved = 2 * src.nbytes
    benchmark.extra_info.update(kind="copy", bytes=moved, array_mib=src.nbytes / 2**20)
    median = _median(benchmark)
    if median is not None:
        _bench.RUN["copy_gb_per_s"] = moved / median / 1e9
        benchmark.extra_info["gb_per_s"] = _bench.RUN["copy_gb_per_s"]


def _copy_gb_per_s() -> float:
    """The copy bandwidth of this run (measured here if the copy benchmark was deselected)."""
    if "copy_gb_per_s" not in _bench.RUN:
        src = np.ones(COPY_BYTES // 8)
        dst = np.empty_like(src)
        times = [_bench.timed(np.copyto, dst, src)[1] for _ in range(8)]
        _bench.RUN["copy_gb_per_s"] = 2 * src.nbytes / float(np.median(times)) / 1e9
    return _bench.RUN["copy_gb_per_s"]


def _scipy_sweep(P, r, gamma, v, S, A):
    q = (r + gamma * (P @ v)).reshape(S, A)
    return q.max(axis=1), q.argmax(axis=1)


@pytest.fixture(scope="module", params=SWEEP_INSTANCES, ids=lambda inst: inst.name)
def sweep_case(request):
    inst = request.param
    mdp, gen_seconds = _bench.timed(inst.build, 0.9)
    rng = np.random.default_rng(0)
    v = rng.random(mdp.n_states) / (1.0 - mdp.gamma)
    S, A = mdp.n_states, mdp.n_actions
    reference = _scipy_sweep(mdp.transition_matrix, mdp.rewards.ravel(), mdp.gamma, v, S, A)
    yield inst, mdp, v, reference, gen_seconds
    dp._OPERATORS.pop(mdp, None)


@pytest.mark.parametrize("impl", IMPLS)
def test_sweep(benchmark, sweep_case, impl):
    inst, mdp, v, (ref_v, ref_a), gen_seconds = sweep_case
    S, A, gamma = mdp.n_states, mdp.n_actions, mdp.gamma
    r = np.ascontiguousarray(mdp.rewards.ravel())
    if impl.startswith("numba"):
        parallel = impl == "numba-parallel"
        op, prep_seconds = _bench.timed(dp._operator, mdp, "cpu", parallel)
        fn, args = op.sweep, (v,)
        if mdp.is_sparse:
            indptr, indices, data = op._args
            moved = _bench.csr_sweep_bytes(indptr, indices, data, S * A, S)
            dtypes = f"indptr {indptr.dtype}, indices {indices.dtype}"
        else:
            moved = _bench.dense_sweep_bytes(S, A)
            dtypes = "dense float64"
    else:
        impl = "scipy-csr" if mdp.is_sparse else "numpy-blas"
        parallel, prep_seconds = False, 0.0
        P = mdp.transition_matrix  # CSR as built (scipy's own index dtypes), or a dense view
        fn, args = _scipy_sweep, (P, r, gamma, v, S, A)
        if mdp.is_sparse:
            moved = _bench.csr_sweep_bytes(P.indptr, P.indices, P.data, S * A, S)
            dtypes = f"indptr {P.indptr.dtype}, indices {P.indices.dtype}"
        else:
            moved = _bench.dense_sweep_bytes(S, A)
            dtypes = "dense float64 (numpy matmul, BLAS dgemv)"

    # Correctness first: every implementation computes the T v and greedy actions of scipy.
    out_v, out_a = fn(*args)
    np.testing.assert_allclose(out_v, ref_v, rtol=1e-12, atol=1e-12)
    assert np.mean(np.asarray(out_a) == ref_a) > 0.9999

    benchmark.group = f"sweep {inst.name}"
    benchmark.pedantic(fn, args=args, rounds=ROUNDS, warmup_rounds=WARMUP)
    copy = _copy_gb_per_s()
    info = dict(kind="sweep", instance=inst.name, impl=impl, n_states=S, n_actions=A,
                nnz=mdp.nnz, parallel=parallel, bytes=moved, dtypes=dtypes,
                copy_gb_per_s=copy, generation_seconds=gen_seconds,
                operator_prep_seconds=prep_seconds)
    median = _median(benchmark)
    if median is not None:
        info["gb_per_s"] = moved / median / 1e9
        info["ratio_to_copy"] = info["gb_per_s"] / copy
    benchmark.extra_info.update(info)
