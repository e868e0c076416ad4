"""Cases from peer libraries' own test suites, translated into this package's types.

Each test names its origin.  Cases that need infeasible actions (``-inf`` rewards, per-state
action sets) or quantecon's state-action-pair form are not expressible yet and are not here.
"""

from __future__ import annotations

import numpy as np
import pytest

from theory_rl import TabularMDP
from theory_rl.algorithms import dp

SOLVERS = {
    "vi": lambda m, **k: dp.value_iteration(m, **k),
    "pi": lambda m, **k: dp.policy_iteration(m, **k),
    "mpi": lambda m, **k: dp.modified_policy_iteration(m, **k),
    "lp": lambda m, **k: dp.linear_programming(m, **k),
}


@pytest.mark.parametrize("method", sorted(SOLVERS))
@pytest.mark.parametrize("sparse", [False, True])
def test_quantecon_ddp_beta_0(method, sparse):
    """quantecon/markov/tests/test_ddp.py::test_ddp_beta_0: with beta = 0 the greedy policy
    of the rewards is optimal and V* = max_a r."""
    n, m = 3, 2
    R = np.array([[0.0, 1.0], [1.0, 0.0], [0.0, 1.0]])
    Q = np.full((n, m, n), 1 / n)
    mdp = TabularMDP(Q, R, 0.0)
    res = SOLVERS[method](mdp.to_sparse() if sparse else mdp)
    np.testing.assert_array_equal(res.policy.argmax(-1), [1, 0, 1])
    np.testing.assert_allclose(res.values, [1.0, 1.0, 1.0], atol=1e-12)


@pytest.mark.parametrize("method", ["vi", "pi", "mpi"])
def test_quantecon_ddp_non_c_contiguous_q(method):
    """quantecon/markov/tests/test_ddp.py::test_ddp_non_c_contiguous_Q: a Fortran-ordered
    kernel gives the same Bellman operator, greedy policy and solution."""
    n, m = 20, 5
    rs = np.random.RandomState(12345)
    R = rs.random_sample((n, m))
    Q = rs.random_sample((n, m, n))
    Q /= Q.sum(axis=2, keepdims=True)
    c, f = TabularMDP(Q, R, 0.95), TabularMDP(np.asfortranarray(Q), R, 0.95)
    v = rs.random_sample(n)
    np.testing.assert_allclose(
        dp.bellman_optimality_operator(f, v), dp.bellman_optimality_operator(c, v), rtol=1e-14
    )
    np.testing.assert_array_equal(dp.greedy_policy(f, v), dp.greedy_policy(c, v))
    res_c, res_f = SOLVERS[method](c), SOLVERS[method](f)
    np.testing.assert_array_equal(res_f.policy, res_c.policy)
    np.testing.assert_allclose(res_f.values, res_c.values, rtol=1e-12)


@pytest.mark.parametrize("method", ["vi", "pi", "mpi"])
@pytest.mark.parametrize("max_iterations", [0, -1])
def test_quantecon_ddp_nonpositive_max_iter_error(method, max_iterations):
    """quantecon/markov/tests/test_ddp.py::test_ddp_nonpositive_max_iter_error."""
    mdp = TabularMDP(np.full((2, 2, 2), 0.5), np.array([[0.0, 1.0], [1.0, 0.0]]), 0.95)
    with pytest.raises(ValueError, match="max_iterations"):
        SOLVERS[method](mdp, max_iterations=max_iterations)


def test_quantecon_ddp_beta_1_is_refused():
    """quantecon/markov/tests/test_ddp.py::test_ddp_beta_1_not_implemented_error: discounted
    solvers need gamma < 1 (here the model itself refuses gamma = 1)."""
    with pytest.raises(ValueError, match="gamma"):
        TabularMDP(np.full((3, 2, 3), 1 / 3), np.zeros((3, 2)), 1.0)


@pytest.mark.parametrize("sparse", [False, True])
def test_pymdptoolbox_value_iteration_doctest(sparse):
    """pymdptoolbox ``mdp.ValueIteration`` doctest (dense and sparse): P = [[[0.5, 0.5],
    [0.8, 0.2]], [[0, 1], [0.1, 0.9]]] (A, S, S), R = [[5, 10], [-1, 2]], discount 0.9 gives
    the policy (1, 0) and values at least (40.048625392716815, 33.65371175967546): its VI starts
    from 0 and stops once its policy is epsilon-optimal, below V*, so the doctest pins the
    policy and a lower bound; V* is checked against the hand solve of that policy."""
    P = np.array([[[0.5, 0.5], [0.8, 0.2]], [[0.0, 1.0], [0.1, 0.9]]])
    mdp = TabularMDP(np.transpose(P, (1, 0, 2)), np.array([[5.0, 10.0], [-1.0, 2.0]]), 0.9)
    res = dp.policy_iteration(mdp.to_sparse() if sparse else mdp)
    np.testing.assert_array_equal(res.policy.argmax(-1), [1, 0])
    peer = np.array([40.048625392716815, 33.65371175967546])
    assert np.all(res.values >= peer - 1e-12)
    # V* = (I - 0.9 P_pi)^{-1} r_pi with pi = (1, 0): rows P[1, 0] = (0, 1), P[0, 1] = (0.8, 0.2)
    v_hand = np.linalg.solve(np.eye(2) - 0.9 * np.array([[0.0, 1.0], [0.8, 0.2]]), [10.0, -1.0])
    np.testing.assert_allclose(res.values, v_hand, rtol=1e-12)
