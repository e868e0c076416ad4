"""Categorical distributional evaluation sweep and stock-augmented DVI.

Benchmarks, in one run so that their ratios mean something on a shared machine:

* ``test_matmul_flops``: a ``(1000, 1000) @ (1000, 1000)`` float64 product through numpy's BLAS
  (``2 n^3`` flops counted), the achievable floating-point rate of this machine and BLAS build.
* ``test_categorical_sweep``: one projected categorical Bellman update :math:`\\Pi_C T^\\pi`
  on a CSR garnet (S = 2000, A = 10, b = 10), ``m = 51`` atoms, the uniform policy, rewards
  ``r(s, a)``: ``impl = "numba"`` is :func:`theory_rl.algorithms.distributional.categorical_step`
  through its bound operator (the numba CSR kernel, mixture-first since rewards do not depend on
  ``s'``); ``impl = "numpy-einsum"`` is the same update in vectorised NumPy, with the projection
  matrices ``H[s, a, i, j] = h_j(r(s, a) + gamma theta_i)`` ``(S, A, m, m)`` precomputed outside
  the timing (416 MB): ``mix = einsum('sab,sabm->sam', p, probs[next])`` then
  ``einsum('sa,sai,saij->sj', pi, mix, H)``.  Both results agree to 1e-12 (checked).
  ``extra_info``: ``speedup`` (numpy median / numba median; ``speedup_min`` of the fastest
  rounds, less sensitive to other processes on a shared machine), ``bytes`` (compulsory
  traffic of the numba kernel: the outcome arrays, the input and output laws), ``gb_per_s``,
  ``ratio_to_copy``, ``flops`` (``2 E m`` for the mixtures plus ``8 S A m`` for the scatter),
  ``gflops`` and ``ratio_to_matmul``.
* ``test_stock_dvi``: :func:`~theory_rl.algorithms.distributional.cvar_optimal_policy` on a garnet
  (S = 200, A = 4, b = 10, gamma = 0.9) with a 201-point stock grid, five levels alpha in one
  call (one stock solve serves them all), DVI to ``change <= 1e-10``.

Run: ``NUMBA_CACHE_DIR=/tmp/numba_cache python -m pytest benchmarks/test_distributional.py
--benchmark-only --benchmark-json=/tmp/dist.json``.
"""

from __future__ import annotations

import _bench
import numpy as np
import pytest

from theory_rl.algorithms import distributional as D
from theory_rl.mdps.generators import garnet

S, A, B, M = 2000, 10, 10, 51
GAMMA = 0.9
RESULTS: dict[str, float] = {}


@pytest.fixture(scope="module")
def problem():
    mdp = garnet(S, A, B, gamma=GAMMA, seed=2024)
    pi = np.full((S, A), 1.0 / A)
    lo, hi = D._value_range(mdp)
    theta = np.linspace(lo, hi, M)
    probs = np.random.default_rng(0).dirichlet(np.ones(M), S)
    op = D._Operator(mdp, pi, "numba", None)
    o = op.out
    nxt = o.nxt.reshape(S, A, B)
    p = o.prob.reshape(S, A, B)
    spacing = theta[1] - theta[0]
    u = np.clip((mdp.rewards[:, :, None] + GAMMA * theta - theta[0]) / spacing, 0, M - 1)
    H = np.maximum(0.0, 1.0 - np.abs(u[..., None] - np.arange(M)))  # (S, A, m, m)
    return {
        "op": op,
        "theta": theta,
        "probs": probs,
        "nxt": nxt,
        "p": p,
        "H": H,
        "pi": pi,
        "entries": o.nxt.size,
    }


def _numpy_sweep(pr: dict, probs: np.ndarray) -> np.ndarray:
    mix = np.einsum("sab,sabm->sam", pr["p"], probs[pr["nxt"]])
    return np.einsum("sa,sai,saij->sj", pr["pi"], mix, pr["H"], optimize=True)


def test_matmul_flops(benchmark):
    n = 1000
    a, b = np.ones((n, n)), np.ones((n, n))
    benchmark.group = "machine"
    benchmark.pedantic(np.matmul, args=(a, b), rounds=10, warmup_rounds=2)
    RESULTS["gflops"] = 2 * n**3 / benchmark.stats.stats.median / 1e9
    benchmark.extra_info.update(kind="matmul", gflops=RESULTS["gflops"])


@pytest.mark.parametrize("impl", ["numba", "numpy-einsum"])
def test_categorical_sweep(benchmark, problem, impl):
    pr = problem
    want = pr["op"].categorical(pr["probs"], pr["theta"])
    if impl == "numba":
        fn = lambda: pr["op"].categorical(pr["probs"], pr["theta"])  # noqa: E731
    else:
        fn = lambda: _numpy_sweep(pr, pr["probs"])  # noqa: E731
        np.testing.assert_allclose(fn(), want, atol=1e-12)
    benchmark.group = "categorical sweep S=2000 A=10 b=10 m=51"
    benchmark.pedantic(fn, rounds=5 if impl != "numba" else 30, warmup_rounds=1)
    t = benchmark.stats.stats.median
    RESULTS[impl] = t
    E = pr["entries"]
    nbytes = E * (8 + 8 + 8) + (S * A + 1) * 8 + 2 * S * M * 8 + S * A * 8
    flops = 2 * E * M + 8 * S * A * M
    info = {
        "bytes": nbytes,
        "gb_per_s": nbytes / t / 1e9,
        "flops": flops,
        "gflops": flops / t / 1e9,
    }
    info["ratio_to_copy"] = info["gb_per_s"] / _bench.copy_gb_per_s()
    if "gflops" in RESULTS:
        info["ratio_to_matmul"] = info["gflops"] / RESULTS["gflops"]
    RESULTS[impl + "-min"] = benchmark.stats.stats.min
    if impl == "numpy-einsum" and "numba" in RESULTS:
        info["speedup"] = t / RESULTS["numba"]
        info["speedup_min"] = benchmark.stats.stats.min / RESULTS["numba-min"]
    benchmark.extra_info.update(impl=impl, **info)


def test_stock_dvi(benchmark):
    mdp = garnet(200, 4, 10, gamma=GAMMA, seed=7)
    alphas = np.array([0.05, 0.1, 0.25, 0.5, 1.0])
    benchmark.group = "stock-augmented DVI"
    res = benchmark.pedantic(
        D.cvar_optimal_policy,
        args=(mdp, alphas),
        kwargs={"n_stocks": 201, "tol": 1e-10},
        rounds=3,
        warmup_rounds=1,
    )
    benchmark.extra_info.update(
        n_iterations=res.n_iterations,
        n_alpha=alphas.size,
        n_stocks=201,
        seconds=benchmark.stats.stats.median,
    )
