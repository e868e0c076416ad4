"""``solve(mdp, method="auto")`` and the evaluation choice of ``policy_evaluation``."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import scipy.sparse as sp
from conftest import dense_mdp, sparse_mdp

from theory_rl import TabularMDP, solve
from theory_rl.algorithms import dp


def v_star(mdp):
    return dp.policy_iteration(mdp, evaluation="direct").values


@pytest.mark.parametrize("gamma", [0.0, 0.5, 0.9, 0.99, 0.999])
@pytest.mark.parametrize("sparse", [False, True])
def test_auto_meets_its_guarantee(gamma, sparse):
    for seed in range(3):
        mdp = sparse_mdp(60, 4, 5, gamma, seed=seed) if sparse else dense_mdp(60, 4, gamma, seed)
        vs = v_star(mdp)
        eps = 1e-9 * max(1.0, float(np.abs(mdp.rewards).max()) / (1 - gamma))
        res = solve(mdp, tol=eps)
        assert res.converged, res.message
        assert res.params["method"] == "modified_policy_iteration"
        assert res.params["fused_q"]
        assert np.abs(res.values - vs).max() <= eps / 2 + dp.value_error_floor(mdp)
        # the returned policy is eps-optimal and q matches the returned values exactly
        acts = res.policy.argmax(axis=1)
        assert np.abs(dp.policy_evaluation(mdp, acts) - vs).max() <= eps + 1e-9
        q = dp.q_values(mdp, res.values)
        np.testing.assert_allclose(res.q_values, q, rtol=1e-12, atol=1e-9)
        assert res.history["span"].size == res.n_iterations


@pytest.mark.parametrize("sparse", [False, True])
def test_the_one_call_kernel_runs_the_python_loop_iterates(sparse):
    """A callback forces the Python loop of the same fast settings: same iterates, histories and
    result as the single numba call."""
    mdp = sparse_mdp(40, 5, 4, 0.95, seed=3) if sparse else dense_mdp(40, 5, 0.95, seed=3)
    fast = solve(mdp, tol=1e-10)
    seen = []
    slow = solve(mdp, tol=1e-10, callback=lambda r: seen.append(r.n_iterations))
    assert seen == list(range(1, slow.n_iterations + 1))
    assert fast.n_iterations == slow.n_iterations
    for key in ("span", "residual", "error_bound", "policy_sweeps"):
        np.testing.assert_allclose(fast.history[key], slow.history[key], rtol=1e-9, atol=1e-13)
    np.testing.assert_allclose(fast.values, slow.values, rtol=1e-12)
    np.testing.assert_allclose(fast.q_values, slow.q_values, rtol=1e-12)
    np.testing.assert_array_equal(fast.policy, slow.policy)


def test_auto_stops_at_max_iterations_and_says_so():
    mdp = dense_mdp(30, 3, 0.99, seed=1)
    for m in (mdp, mdp.to_sparse()):
        res = solve(m, tol=1e-9, max_iterations=1, m=0)
        assert not res.converged and "max_iterations=1" in res.message
        np.testing.assert_allclose(res.q_values, dp.q_values(m, res.values), rtol=1e-12)


def test_named_methods_and_bad_arguments():
    mdp = dense_mdp(10, 3, 0.9, seed=2)
    vs = v_star(mdp)
    for name in ("vi", "value_iteration", "mpi", "pi", "gs", "lp", "linear_programming"):
        res = solve(mdp, name) if name in ("pi",) else solve(mdp, name, tol=1e-8)
        assert np.abs(res.values - vs).max() <= 1e-8, name
    with pytest.raises(ValueError, match="method"):
        solve(mdp, "simplex")
    with pytest.raises(ValueError, match="method"):
        solve(mdp, None)
    with pytest.raises(ValueError, match="tol"):
        solve(mdp, "pi", tol=1e-6)
    with pytest.raises(ValueError, match="unexpected options"):
        solve(mdp, initial_values=np.zeros(10))
    with pytest.raises(ValueError, match="m must"):
        solve(mdp, m=-1)
    with pytest.raises(ValueError, match="mdp must be a TabularMDP"):
        solve("not an mdp")
    assert dp.auto_method(mdp) == "modified_policy_iteration"


def test_auto_parallel_follows_size_and_load(monkeypatch):
    big = SimpleNamespace(nnz=dp.PARALLEL_MIN_NNZ)  # the rule reads the size only
    small = dense_mdp(20, 3, 0.9, seed=0)
    monkeypatch.setattr(dp.numba, "get_num_threads", lambda: 2)
    monkeypatch.setattr(dp.os, "cpu_count", lambda: 2)
    monkeypatch.setattr(dp.os, "getloadavg", lambda: (1.0, 1.0, 1.0))  # only ourselves
    assert dp._auto_parallel(big, None) is True
    assert dp._auto_parallel(small, None) is False
    monkeypatch.setattr(dp.os, "getloadavg", lambda: (3.0, 3.0, 3.0))  # another busy process
    assert dp._auto_parallel(big, None) is False
    assert dp._auto_parallel(big, True) is True
    monkeypatch.setattr(dp.numba, "get_num_threads", lambda: 1)
    monkeypatch.setattr(dp.os, "getloadavg", lambda: (0.0, 0.0, 0.0))
    assert dp._auto_parallel(big, None) is False


def _forest(S, gamma=0.95):
    from mdptoolbox import example

    P, R = example.forest(S=S)
    return TabularMDP(sp.csr_array(np.transpose(P, (1, 0, 2)).reshape(2 * S, S)), R, gamma)


def test_evaluation_choice_by_sparsity_and_size(monkeypatch):
    """sparse LU for sparse P_pi with few entries per row at any size, dense LU for denser
    ones up to DIRECT_SOLVE_MAX_STATES, GMRES above; every choice gives the same values."""
    monkeypatch.setattr(dp, "DIRECT_SOLVE_MAX_STATES", 200)
    cases = [
        (_forest(300), "sparse_lu"),
        (sparse_mdp(150, 3, 10, 0.9, seed=0), "dense_lu"),
        (sparse_mdp(300, 3, 10, 0.9, seed=0), "gmres"),
        (dense_mdp(300, 3, 0.9, seed=0), "gmres"),
    ]
    for mdp, kind in cases:
        op = dp._operator(mdp, "cpu")
        pi = np.zeros(mdp.n_states, dtype=np.int64)
        P_pi, _ = op.policy_system(pi)
        assert dp._evaluation_kind(P_pi, mdp.n_states, "auto") == kind
        v = dp.policy_evaluation(mdp, pi)
        for method in ("direct", "iterative"):
            np.testing.assert_allclose(dp.policy_evaluation(mdp, pi, method=method), v, atol=1e-9)
    with pytest.raises(ValueError, match="method"):
        dp.policy_evaluation(cases[0][0], np.zeros(300, dtype=np.int64), method="cholesky")


def test_bad_input_of_the_extended_solvers_names_the_field():
    """Multichain models for the average-reward solvers, sweep orders that are not
    permutations, momentum/step/anchor parameters outside their admissible ranges."""
    from theory_rl.algorithms import average_reward as ar

    P = np.zeros((3, 1, 3))
    P[0, 0, 1] = P[0, 0, 2] = 0.5
    P[1, 0, 1] = P[2, 0, 2] = 1.0
    multi = TabularMDP(P, np.array([[0.0], [1.0], [2.0]]), gamma=0.9)
    for f in (ar.relative_value_iteration, ar.average_reward_policy_iteration, ar.model_class):
        with pytest.raises(ValueError, match="mdp must be communicating or unichain"):
            f(multi)
    mdp = dense_mdp(4, 2, 0.9, seed=0)
    for order in ([0, 1, 2, 2], [3, 2, 1], [0, 1, 2, 4], [-1, 0, 1, 2], [0.0, 1.0, 2.0, 3.0]):
        with pytest.raises(ValueError, match="order"):
            dp.gauss_seidel_value_iteration(mdp, order=order)
    pi = np.zeros(4, dtype=np.int64)
    for bad in (-0.5, 1.0, 2.0, np.inf, "0.5"):
        with pytest.raises(ValueError, match="momentum"):
            dp.safeguarded_accelerated_value_iteration(mdp, momentum=bad)
        with pytest.raises(ValueError, match="momentum"):
            dp.accelerated_policy_evaluation(mdp, pi, momentum=bad)
    for bad in (0.0, -1.0, 2 / 1.9, 5.0):
        with pytest.raises(ValueError, match="step"):
            dp.safeguarded_accelerated_value_iteration(mdp, step=bad)
    for bad in (0.0, 1.5, -0.1):
        with pytest.raises(ValueError, match="gamma"):
            dp.anchored_value_iteration(mdp, gamma=bad)
