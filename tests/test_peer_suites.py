"""Cases from peer libraries' own test suites, translated into this package's types.

Each test names its origin.  Infeasible actions are expressed by ``-inf`` rewards or
``action_mask`` (:class:`TabularMDP`), quantecon's state-action-pair form by
:meth:`TabularMDP.from_sa_pairs`.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

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


# ------------------------------------------------------------------------------------------
# Infeasible actions and the state-action-pair form
# ------------------------------------------------------------------------------------------
def _puterman_3_1_forms(beta=0.95):
    """quantecon/markov/tests/test_ddp.py::TestDiscreteDP.setup_method: Puterman (2005) §3.1
    with R = [[5, 10], [-1, -inf]] in the product form and the pair form (sparse and dense)."""
    R = np.array([[5.0, 10.0], [-1.0, -np.inf]])
    Q = np.empty((2, 2, 2))
    Q[0, 0, :] = 0.5, 0.5
    Q[0, 1, :] = 0, 1
    Q[1, :, :] = 0, 1
    s_indices, a_indices = [0, 0, 1], [0, 1, 0]
    R_sa = [R[0, 0], R[0, 1], R[1, 0]]
    Q_sa = np.array([Q[0, 0], Q[0, 1], Q[1, 0]])
    return {
        "product": TabularMDP(Q, R, beta),
        "sa_sparse": TabularMDP.from_sa_pairs(
            R_sa, sp.lil_matrix(Q_sa), s_indices, a_indices, beta
        ),
        "sa_dense": TabularMDP.from_sa_pairs(R_sa, Q_sa, s_indices, a_indices, beta),
    }


PUTERMAN_BETA = 0.95
# Analytical solution for beta > 10/11, Puterman Example 6.2.1
PUTERMAN_V_STAR = [
    (5 - 5.5 * PUTERMAN_BETA) / ((1 - 0.5 * PUTERMAN_BETA) * (1 - PUTERMAN_BETA)),
    -1 / (1 - PUTERMAN_BETA),
]


@pytest.mark.parametrize("form", ["product", "sa_sparse", "sa_dense"])
@pytest.mark.parametrize(
    "method, exact",
    [("vi", False), ("pi", True), ("mpi", False), ("mpi_k0", False), ("lp", True)],
)
def test_quantecon_discrete_dp_puterman_with_infeasible_action(form, method, exact):
    """quantecon/markov/tests/test_ddp.py::TestDiscreteDP::test_value_iteration,
    test_policy_iteration, test_modified_policy_iteration, test_modified_policy_iteration_k0
    and test_linear_programming (which quantecon runs on the dense forms only; HiGHS here runs
    on all three): epsilon = 1e-2 gives values within epsilon/2 of v_star and sigma = (0, 0),
    from the default start and from v_init = (0, 0) / (0, 1)."""
    mdp = _puterman_3_1_forms()[form]
    eps = 1e-2
    runs = {
        "vi": lambda **k: dp.value_iteration(mdp, tol=eps, **k),
        "pi": lambda **k: dp.policy_iteration(mdp, **k),
        "mpi": lambda **k: dp.modified_policy_iteration(mdp, tol=eps, **k),
        "mpi_k0": lambda **k: dp.modified_policy_iteration(mdp, m=0, tol=eps, **k),
        "lp": lambda **k: dp.linear_programming(mdp, **k),
    }[method]
    starts = [{}]
    if method in ("vi", "mpi", "mpi_k0"):
        starts.append({"initial_values": [0.0, 0.0] if method == "vi" else [0.0, 1.0]})
    if method == "pi":  # quantecon's v_init = (0, 1) starts PI from its greedy policy
        starts.append({"initial_policy": dp.greedy_policy(mdp, np.array([0.0, 1.0]))})
    for start in starts:
        res = runs(**start)
        if exact:
            np.testing.assert_allclose(res.values, PUTERMAN_V_STAR, rtol=1e-7)
        else:
            assert np.abs(res.values - PUTERMAN_V_STAR).max() < eps / 2
        np.testing.assert_array_equal(res.policy.argmax(axis=1), [0, 0])


def test_quantecon_ddp_negative_inf_error():
    """quantecon/markov/tests/test_ddp.py::test_ddp_negative_inf_error: a state whose rewards
    are all -inf has no feasible action; refused in the product and both pair forms."""
    n, m = 3, 2
    R = np.array([[0, 1], [0, -np.inf], [-np.inf, -np.inf]])
    Q = np.full((n, m, n), 1 / n)
    s_indices, a_indices = [0, 0, 1, 1, 2, 2], [0, 1, 0, 1, 0, 1]
    with pytest.raises(ValueError, match="state 2 has no feasible action"):
        TabularMDP(Q, R, 0.95)
    for Q_sa in (Q.reshape(n * m, n), sp.csr_matrix(Q.reshape(n * m, n))):
        with pytest.raises(ValueError, match="state 2 has no feasible action"):
            TabularMDP.from_sa_pairs(R.reshape(n * m), Q_sa, s_indices, a_indices, 0.95)


def test_quantecon_ddp_sorting():
    """quantecon/markov/tests/test_ddp.py::test_ddp_sorting: shuffled pairs give the same
    model as sorted ones, dense and sparse; to_sa_pairs returns them sorted."""
    s_indices, a_indices = [0, 0, 1], [0, 1, 0]
    R, Q = [0, 1, 2], [(1, 0), (1 / 2, 1 / 2), (0, 1)]
    s_sh, a_sh = [0, 1, 0], [0, 0, 1]
    R_sh, Q_sh = [0, 2, 1], [(1, 0), (0, 1), (1 / 2, 1 / 2)]
    for mdp in (
        TabularMDP.from_sa_pairs(R, np.array(Q), s_indices, a_indices, 0.95),
        TabularMDP.from_sa_pairs(R, sp.csr_matrix(Q), s_indices, a_indices, 0.95),
        TabularMDP.from_sa_pairs(R_sh, np.array(Q_sh), s_sh, a_sh, 0.95),
        TabularMDP.from_sa_pairs(R_sh, sp.csr_matrix(Q_sh), s_sh, a_sh, 0.95),
    ):
        R2, Q2, s2, a2 = mdp.to_sa_pairs()
        np.testing.assert_array_equal(s2, s_indices)
        np.testing.assert_array_equal(a2, a_indices)
        np.testing.assert_array_equal(R2, R)
        np.testing.assert_array_equal(Q2.toarray() if sp.issparse(Q2) else Q2, Q)


def test_quantecon_ddp_to_sa_and_to_product():
    """quantecon/markov/tests/test_ddp.py::test_ddp_to_sa_and_to_product: the pair form drops
    the infeasible pair (2, 0); back in the product form its row is all zero; every form
    gives the same solution (values, policy) with PI, VI and MPI."""
    n, m = 3, 2
    R = np.array([[0, 1], [1, 0], [-np.inf, 1]])
    Q = np.full((n, m, n), 1 / n)
    Q[0, 0, 0] = 0
    Q[0, 0, 1] = 2 / n
    mdp = TabularMDP(Q, R, 0.95)
    pairs = mdp.to_sa_pairs()
    sparse_R = np.array([0, 1, 1, 0, 1])
    _Q = np.full((5, 3), 1 / 3)
    _Q[0, 0] = 0
    _Q[0, 1] = 2 / n
    np.testing.assert_allclose(pairs[0], sparse_R)
    np.testing.assert_allclose(pairs[1], _Q)
    sa_sparse = TabularMDP.from_sa_pairs(pairs[0], sp.coo_matrix(pairs[1]), *pairs[2:], 0.95)
    sa_dense = TabularMDP.from_sa_pairs(*pairs[:2], *pairs[2:], 0.95)
    np.testing.assert_allclose(sa_sparse.to_sa_pairs()[1].toarray(), _Q)
    funky_Q = Q.copy()
    funky_Q[2, 0, :] = 0  # probability 0 in state 2, action 0: infeasible
    for back in (sa_dense, sa_sparse.to_dense()):
        np.testing.assert_allclose(back.rewards, mdp.rewards)
        np.testing.assert_allclose(back.transitions, funky_Q)
        assert back.gamma == mdp.gamma
    for solver in (dp.policy_iteration, dp.value_iteration, dp.modified_policy_iteration):
        ref = solver(mdp)
        for other in (sa_sparse, sa_dense):
            res = solver(other)
            np.testing.assert_allclose(res.values, ref.values, rtol=1e-12)
            np.testing.assert_array_equal(res.policy, ref.policy)
            assert res.n_iterations == ref.n_iterations


def _mdpsolver_queue(capacity, reward1, reward2, arr1=50.0, arr2=10.0, ser=0.75, tol=1e-9):
    """The queue of mdpsolver's Python/tests/example_model.py (used by its examples 2 and 3):
    two customer types arrive; with each arrival the controller rejects (action 0) or accepts
    (action 1, reward ``reward1``/``reward2``) the customer; accepting is impossible at
    capacity, where mdpsolver's files list no reward and no transition for it.  States
    ``0..capacity`` (a type-1 arrival seeing that many busy servers) and ``capacity+1..``
    (type 2).  Returned as the elementwise lists mdpsolver reads: rewards ``[s, a, r]`` and
    transitions ``[s, a, s', p]``."""
    ns = capacity + 1
    pc1 = arr1 / (arr1 + arr2)
    pc2 = 1 - pc1
    lam = arr1 + arr2

    def exit_dist(k):  # distribution of busy servers seen by the next arrival, starting at k
        g = [i * ser / (i * ser + lam) for i in range(k, -1, -1)]
        d = [lam / (i * ser + lam) for i in range(k, -1, -1)]
        G = np.zeros((k + 1, k + 1))
        for i in range(k):
            G[i, i + 1] = g[i]
        mat = np.block([[G, np.diag(d)], [np.zeros((k + 1, k + 1)), np.eye(k + 1)]])
        p = np.zeros(2 * (k + 1))
        p[0] = 1
        while p[: k + 1].sum() >= tol:
            p = p @ mat
        return p[k + 1 :]

    rewards, trans = [], []
    for typ, rew in ((0, reward1), (1, reward2)):
        for s in range(ns):
            state = s + typ * ns
            for a, k in ((0, s), (1, s + 1)):
                if a == 1 and s == capacity:
                    continue  # impossible: no row
                rewards.append([state, a, 0.0 if a == 0 else rew])
                dist = exit_dist(k) if k > 0 else np.array([1.0])
                for j in range(k + 1):
                    trans.append([state, a, j, pc1 * dist[k - j]])
                    trans.append([state, a, ns + j, pc2 * dist[k - j]])
    return rewards, trans


def test_mdpsolver_queue_with_an_impossible_action_at_capacity():
    """mdpsolver Python/tests/example2.py (queue of example_model.py, rewards 1 and 1000,
    discount 0.99; capacity 30 here instead of 100 to keep the test short): value iteration,
    policy iteration and modified policy iteration are run on the same model.  Here: every
    exact solver agrees, never accepts at capacity, and matches mdpsolver's own solution of
    the same elementwise lists (when installed).  The truncated exit distributions sum to
    1 - 1e-9 at most, so rows are renormalised (mdpsolver does not check row sums)."""
    capacity = 30
    rewards, trans = _mdpsolver_queue(capacity, 1.0, 1000.0)
    S, A = 2 * (capacity + 1), 2
    R = np.full((S, A), -np.inf)
    P = np.zeros((S, A, S))
    for s, a, r in rewards:
        R[int(s), int(a)] = r
    for s, a, t, p in trans:
        P[int(s), int(a), int(t)] += p
    feasible = np.isfinite(R)
    P[feasible] /= P[feasible].sum(axis=1, keepdims=True)
    mdp = TabularMDP(P, R, 0.99)
    assert not mdp.action_mask[capacity, 1] and not mdp.action_mask[S - 1, 1]
    ref = dp.policy_iteration(mdp)
    for res in (
        dp.value_iteration(mdp, rtol=1e-10),
        dp.modified_policy_iteration(mdp, rtol=1e-10),
        dp.gauss_seidel_value_iteration(mdp, rtol=1e-10),
        dp.policy_iteration(mdp.to_sparse()),
        dp.solve(mdp.to_sparse(), rtol=1e-10),
    ):
        assert np.abs(res.values - ref.values).max() <= 1e-5
        acts = res.policy.argmax(axis=1)
        assert acts[capacity] == 0 and acts[S - 1] == 0
        np.testing.assert_array_equal(acts, ref.policy.argmax(axis=1))
    # type-2 customers (reward 1000) are always accepted below capacity
    assert (ref.policy.argmax(axis=1)[capacity + 1 : S - 1] == 1).all()
    mdpsolver = pytest.importorskip("mdpsolver")
    model = mdpsolver.model()
    # the renormalised rows, so that both solve the same model
    elementwise = [
        [int(s), int(a), int(t), float(P[s, a, t])] for s, a, t in zip(*np.nonzero(P), strict=True)
    ]
    model.mdp(discount=0.99, rewardsElementwise=rewards, tranMatElementwise=elementwise)
    model.solve(algorithm="pi", tolerance=1e-10)
    np.testing.assert_array_equal(model.getPolicy(), ref.policy.argmax(axis=1))
    assert np.abs(np.asarray(model.getValueVector()) - ref.values).max() <= 1e-6
