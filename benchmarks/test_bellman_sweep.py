"""One Bellman sweep ``v -> T v`` through the public operator, against the memory bandwidth.

Benchmarks, all in one run so that their ratios are meaningful on a shared, noisy machine:

* ``test_copy_bandwidth``: ``np.copyto`` of a 512 MiB float64 array (read + write bytes
  counted), the machine's single-thread streaming bandwidth; run first (see ``conftest.py``).
* ``test_sweep``: what users call, ``theory_rl.algorithms.dp.bellman_optimality_operator(mdp, v,
  parallel=...)``, on a dense and two CSR garnets.  CSR: ``parallel=False`` / ``True``
  (``impl`` ``numba-serial`` / ``numba-parallel``): argument checks, the cached operator, and the
  fused serial or parallel numba sweep of :mod:`theory_rl.kernels.bellman` (which writes ``T v``
  and the greedy action; no ``(S, A)`` array).  Dense: the public operator's BLAS product and
  reduction (``impl = "public-blas"``, timed once; the ``numba-parallel`` case is recorded as
  not timed).  And the same operator written with
  scipy/numpy (``r + gamma * (P @ v)``, reshaped to ``(S, A)``, then ``max``) as a peer: scipy's
  CSR matvec for the CSR garnets (``impl = "scipy-csr"``), numpy's BLAS ``dgemv`` (possibly
  multi-threaded) for the dense one (``impl = "numpy-blas"``).  :func:`dp.greedy_policy` is
  checked against the peer's ``argmax`` (not timed: it adds the ``(S, A)`` one-hot output).

``extra_info`` of each sweep: ``bytes`` (the compulsory traffic of :func:`_bench.csr_sweep_bytes`
/ :func:`_bench.dense_sweep_bytes` for the arrays that implementation reads), ``gb_per_s``
(bytes / median time), ``copy_gb_per_s`` and ``ratio_to_copy``.  The project target is
``ratio_to_copy >= 0.6`` for the CSR kernels; it is reported, not asserted.
"""

from __future__ import annotations

import functools

import _bench
import numpy as np
import pytest

from theory_rl.algorithms import dp

COPY_BYTES = _bench.COPY_BYTES  # one array; the copy moves twice this
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


def _scipy_q(P, r, gamma, v, S, A):
    return (r + gamma * (P @ v)).reshape(S, A)


def _scipy_sweep(P, r, gamma, v, S, A):
    return _scipy_q(P, r, gamma, v, S, A).max(axis=1)


@pytest.fixture(scope="module", params=SWEEP_INSTANCES, ids=lambda inst: inst.name)
def sweep_case(request):
    inst = request.param
    mdp, gen_seconds = _bench.timed(inst.build, 0.9)
    rng = np.random.default_rng(0)
    v = rng.random(mdp.n_states) / (1.0 - mdp.gamma)
    S, A = mdp.n_states, mdp.n_actions
    q = _scipy_q(mdp.transition_matrix, mdp.rewards.ravel(), mdp.gamma, v, S, A)
    reference = q.max(axis=1), q.argmax(axis=1)
    yield inst, mdp, v, reference, gen_seconds
    dp._OPERATORS.pop(mdp, None)


@pytest.mark.parametrize("impl", IMPLS)
def test_sweep(benchmark, sweep_case, impl):
    inst, mdp, v, (ref_v, ref_a), gen_seconds = sweep_case
    S, A, gamma = mdp.n_states, mdp.n_actions, mdp.gamma
    r = np.ascontiguousarray(mdp.rewards.ravel())
    if impl == "numba-parallel" and not mdp.is_sparse:
        reason = "dense public operator: BLAS product, same call as numba-serial's"
        _bench.not_timed(dict(kind="sweep", instance=inst.name, impl=impl), reason)
        pytest.skip(reason)
    if impl.startswith("numba"):
        parallel = impl == "numba-parallel"
        # operator preparation (kernel arrays, cached per MDP) is timed apart from the sweeps
        op, prep_seconds = _bench.timed(dp._operator, mdp, "cpu", parallel)
        fn = functools.partial(dp.bellman_optimality_operator, parallel=parallel)
        args = (mdp, v)
        greedy = dp.greedy_policy(mdp, v, parallel=parallel).argmax(axis=1)
        assert np.mean(greedy == ref_a) > 0.9999
        if mdp.is_sparse:
            indptr, indices, data = op._args
            moved = _bench.csr_sweep_bytes(indptr, indices, data, S * A, S)
            dtypes = f"indptr {indptr.dtype}, indices {indices.dtype}"
        else:
            impl, parallel = "public-blas", None
            moved = _bench.dense_sweep_bytes(S, A)
            dtypes = "dense float64 (public operator: numpy matmul, BLAS dgemv, then max)"
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

    # Correctness first: every implementation computes the T v of scipy.
    out_v = fn(*args)
    np.testing.assert_allclose(out_v, ref_v, rtol=1e-12, atol=1e-12)

    benchmark.group = f"sweep {inst.name}"
    benchmark.pedantic(fn, args=args, rounds=ROUNDS, warmup_rounds=WARMUP)
    copy = _bench.copy_gb_per_s()
    info = dict(kind="sweep", instance=inst.name, impl=impl, n_states=S, n_actions=A,
                nnz=mdp.nnz, parallel=parallel, bytes=moved, dtypes=dtypes,
                copy_gb_per_s=copy, generation_seconds=gen_seconds,
                operator_prep_seconds=prep_seconds)
    median = _median(benchmark)
    if median is not None:
        info["gb_per_s"] = moved / median / 1e9
        info["ratio_to_copy"] = info["gb_per_s"] / copy
    benchmark.extra_info.update(info)
