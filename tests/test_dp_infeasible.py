"""Infeasible actions (``action_mask`` / ``-inf`` rewards) and the state-action-pair form.

Ground truth: brute force over every deterministic feasible policy (small models), and
quantecon's ``DiscreteDP`` on the same model in its state-action-pair form.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import scipy.sparse as sp

from theory_rl import FiniteHorizonMDP, TabularMDP
from theory_rl.algorithms import average_reward as ar
from theory_rl.algorithms import dp

SOLVERS = {
    "vi": lambda m: dp.value_iteration(m, tol=1e-10),
    "gs": lambda m: dp.gauss_seidel_value_iteration(m, tol=1e-10),
    "pi": lambda m: dp.policy_iteration(m),
    "pi-gmres": lambda m: dp.policy_iteration(m, evaluation="iterative"),
    "mpi": lambda m: dp.modified_policy_iteration(m, tol=1e-10),
    "lp": lambda m: dp.linear_programming(m, tol=1e-8),
    "lp-cvxpy": lambda m: dp.linear_programming(m, solver="cvxpy", tol=1e-5),
    "anchored": lambda m: dp.anchored_value_iteration(m, tol=1e-10),
    "safeguarded": lambda m: dp.safeguarded_accelerated_value_iteration(m, tol=1e-10),
    "solve": lambda m: dp.solve(m, tol=1e-10),
}
ACCURACY = {"lp": 1e-8, "lp-cvxpy": 1e-5}


def masked_mdp(S, A, gamma, seed, *, sparse=False, empty_rows=True):
    """A random model whose infeasible actions have all-zero rows (or random ones)."""
    rng = np.random.default_rng(seed)
    P = rng.random((S, A, S)) * (rng.random((S, A, S)) < 0.6)
    P[:, :, 0] += 1e-3
    P /= P.sum(axis=2, keepdims=True)
    r = rng.normal(size=(S, A))
    mask = rng.random((S, A)) < 0.6
    mask[np.arange(S), rng.integers(0, A, S)] = True  # at least one feasible action each
    if empty_rows:
        P[~mask] = 0.0
    mdp = TabularMDP(P, r, gamma, action_mask=mask)
    return mdp.to_sparse() if sparse else mdp


def brute_force(mdp):
    """``(V*, optimal actions)`` over every deterministic feasible policy."""
    S = mdp.n_states
    choices = [np.flatnonzero(mdp.action_mask[s]) for s in range(S)]
    P = mdp.to_dense().transitions
    best = np.full(S, -np.inf)
    for acts in itertools.product(*choices):
        a = np.array(acts)
        rows = np.arange(S)
        v = np.linalg.solve(np.eye(S) - mdp.gamma * P[rows, a], mdp.rewards[rows, a])
        best = np.maximum(best, v)
    return best


# ------------------------------------------------------------------------------------------
# construction
# ------------------------------------------------------------------------------------------
def test_minus_inf_rewards_and_action_mask_give_the_same_model():
    P = np.zeros((2, 2, 2))
    P[0, 0] = (0.5, 0.5)
    P[0, 1] = (0.0, 1.0)
    P[1, 0] = (0.0, 1.0)  # P[1, 1] stays empty: the action is infeasible
    a = TabularMDP(P, np.array([[5.0, 10.0], [-1.0, -np.inf]]), 0.95)
    b = TabularMDP(P, np.array([[5.0, 10.0], [-1.0, 123.0]]), 0.95, action_mask=[[1, 1], [1, 0]])
    for m in (a, b, a.to_sparse(), b.to_sparse()):
        np.testing.assert_array_equal(m.action_mask, [[True, True], [True, False]])
        np.testing.assert_array_equal(m.rewards, [[5.0, 10.0], [-1.0, -np.inf]])
        assert m.has_infeasible_actions and m.reward_range == (-1.0, 10.0)
    full = TabularMDP(np.full((2, 2, 2), 0.5), np.zeros((2, 2)), 0.9)
    assert not full.has_infeasible_actions and full.action_mask.all()


def test_rewards_s_a_s_with_an_infeasible_row():
    P = np.full((2, 2, 2), 0.5)
    P[1, 1] = 0.0
    r3 = np.ones((2, 2, 2))
    r3[1, 1] = -np.inf
    m = TabularMDP(P, r3, 0.9)
    np.testing.assert_array_equal(m.rewards, [[1.0, 1.0], [1.0, -np.inf]])
    np.testing.assert_array_equal(m.rewards_sas[1, 1], -np.inf)  # kept for distributional use
    r3 = np.ones((2, 2, 2))
    r3[0, 0, 1] = -np.inf  # a partial -inf row is not an infeasibility marker
    with pytest.raises(ValueError, match=r"rewards(_sas)?\[0, 0, 1\].*finite"):
        TabularMDP(np.full((2, 2, 2), 0.5), r3, 0.9)


@pytest.mark.parametrize("sparse", [False, True])
def test_bad_infeasibility_input_names_the_field(sparse):
    P = np.full((3, 2, 3), 1 / 3)
    wrap = (lambda x: sp.csr_array(x.reshape(6, 3))) if sparse else (lambda x: x)
    r = np.zeros((3, 2))
    r[1] = -np.inf
    with pytest.raises(ValueError, match="state 1 has no feasible action"):
        TabularMDP(wrap(P), r, 0.9)
    with pytest.raises(ValueError, match="state 2 has no feasible action"):
        TabularMDP(wrap(P), np.zeros((3, 2)), 0.9, action_mask=[[1, 0], [0, 1], [0, 0]])
    Pe = P.copy()
    Pe[0, 1] = 0.0  # an empty row for a feasible action
    with pytest.raises(ValueError, match=r"transitions\[0, 1, :\] sums to 0"):
        TabularMDP(wrap(Pe), np.zeros((3, 2)), 0.9)
    for bad in (np.zeros((3, 2), dtype=float), np.ones((2, 2), dtype=bool), [[2, 1]] * 3):
        with pytest.raises(ValueError, match="action_mask"):
            TabularMDP(wrap(P), np.zeros((3, 2)), 0.9, action_mask=bad)
    with pytest.raises(ValueError, match=r"rewards\[0, 0\] is inf"):
        TabularMDP(wrap(P), np.array([[np.inf, 0.0]] * 3), 0.9)
    with pytest.raises(ValueError, match=r"rewards\[0, 0\] is nan"):
        TabularMDP(wrap(P), np.array([[np.nan, 0.0]] * 3), 0.9)


def test_policies_on_infeasible_actions_are_refused_everywhere():
    mdp = masked_mdp(5, 3, 0.9, seed=1)
    s = int(np.flatnonzero(~mdp.action_mask.all(axis=1))[0])
    a = int(np.flatnonzero(~mdp.action_mask[s])[0])
    det = mdp.action_mask.argmax(axis=1)
    det[s] = a
    stoch = mdp.action_mask / mdp.action_mask.sum(axis=1, keepdims=True)
    stoch[s] = 1.0 / 3
    for pol in (det, stoch):
        msg = f"infeasible in state {s}"
        with pytest.raises(ValueError, match=msg):
            dp.policy_evaluation(mdp, pol)
        with pytest.raises(ValueError, match=msg):
            dp.occupancy_measure(mdp, pol)
        with pytest.raises(ValueError, match="initial_policy.*" + msg):
            dp.policy_iteration(mdp, initial_policy=pol)
        with pytest.raises(ValueError, match=msg):
            dp.anchored_value_iteration(mdp, policy=pol)
        with pytest.raises(ValueError, match=msg):
            dp.accelerated_policy_evaluation(mdp, pol)
        with pytest.raises(ValueError, match=msg):
            mdp.policy_matrix(pol)


# ------------------------------------------------------------------------------------------
# every solver against brute force
# ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("method", sorted(SOLVERS))
@pytest.mark.parametrize("sparse", [False, True])
@pytest.mark.parametrize("empty_rows", [True, False])
def test_solvers_match_brute_force_on_masked_models(method, sparse, empty_rows):
    for seed in range(3):
        mdp = masked_mdp(5, 3, 0.9, seed, sparse=sparse, empty_rows=empty_rows)
        vs = brute_force(mdp)
        res = SOLVERS[method](mdp)
        assert res.converged, res.message
        tol = ACCURACY.get(method, 1e-9)
        assert np.abs(res.values - vs).max() <= tol
        acts = res.policy.argmax(axis=1)
        assert mdp.action_mask[np.arange(5), acts].all()
        assert (res.policy[~mdp.action_mask] == 0).all()
        # the returned policy is optimal: its exact value is V* (up to the solver's accuracy)
        assert np.abs(dp.policy_evaluation(mdp, acts) - vs).max() <= 2 * tol
        if res.q_values is not None:
            assert np.isneginf(res.q_values[~mdp.action_mask]).all()


def test_operators_and_stochastic_policies_on_masked_models():
    mdp = masked_mdp(6, 3, 0.8, seed=4)
    v = np.random.default_rng(0).normal(size=6)
    q = dp.q_values(mdp, v)
    assert np.isneginf(q[~mdp.action_mask]).all() and np.isfinite(q[mdp.action_mask]).all()
    np.testing.assert_allclose(dp.bellman_optimality_operator(mdp, v), q.max(axis=1))
    np.testing.assert_array_equal(dp.greedy_policy(mdp, v).argmax(axis=1), q.argmax(axis=1))
    sp_mdp = mdp.to_sparse()
    np.testing.assert_allclose(dp.bellman_optimality_operator(sp_mdp, v), q.max(axis=1))
    # a stochastic policy on the feasible actions: no 0 * -inf = NaN anywhere
    pi = mdp.action_mask / mdp.action_mask.sum(axis=1, keepdims=True)
    P_pi, r_pi = mdp.policy_matrix(pi)
    hand = np.linalg.solve(np.eye(6) - 0.8 * P_pi, r_pi)
    for m in (mdp, sp_mdp):
        np.testing.assert_allclose(dp.policy_evaluation(m, pi), hand, rtol=1e-12)
        np.testing.assert_allclose(dp.policy_evaluation(m, pi, method="iterative"), hand, atol=1e-9)
        assert abs(dp.occupancy_measure(m, pi).sum() - 1.0) < 1e-12
    ev = dp.accelerated_policy_evaluation(mdp, pi, tol=1e-10)
    np.testing.assert_allclose(ev.values, hand, atol=1e-9)
    res = dp.policy_iteration(mdp, initial_policy=pi)
    assert np.abs(res.values - brute_force(mdp)).max() <= 1e-10


def test_ties_go_to_the_lowest_feasible_action():
    # every action has the same q; action 0 is infeasible in state 0, actions 0-1 in state 1
    P = np.full((2, 3, 2), 0.5)
    r = np.zeros((2, 3))
    mask = np.array([[False, True, True], [False, False, True]])
    P[~mask] = 0.0
    mdp = TabularMDP(P, r, 0.9, action_mask=mask)
    for m in (mdp, mdp.to_sparse()):
        np.testing.assert_array_equal(dp.greedy_policy(m, np.zeros(2)).argmax(axis=1), [1, 2])
        for name in ("vi", "gs", "pi", "mpi", "lp", "anchored", "safeguarded", "solve"):
            np.testing.assert_array_equal(SOLVERS[name](m).policy.argmax(axis=1), [1, 2], name)


def test_average_reward_solvers_on_masked_models():
    mdp = masked_mdp(6, 3, 0.9, seed=5, empty_rows=True)
    assert ar.model_class(mdp) == "communicating"
    # gain by brute force: the best stationary deterministic policy's stationary reward
    choices = [np.flatnonzero(mdp.action_mask[s]) for s in range(6)]
    P = mdp.transitions
    best = -np.inf
    for acts in itertools.product(*choices):
        a = np.array(acts)
        Ppi = P[np.arange(6), a]
        w, V = np.linalg.eig(Ppi.T)
        mu = np.real(V[:, np.argmin(np.abs(w - 1))])
        mu /= mu.sum()
        best = max(best, float(mu @ mdp.rewards[np.arange(6), a]))
    rvi = ar.relative_value_iteration(mdp, tol=1e-10, aperiodicity=0.5)
    api = ar.average_reward_policy_iteration(mdp)
    assert abs(rvi.params["gain"] - best) <= 1e-9
    assert abs(api.params["gain"] - best) <= 1e-9
    for res in (rvi, api):
        assert mdp.action_mask[np.arange(6), res.policy.argmax(axis=1)].all()


def test_masking_can_make_a_model_multichain_and_average_reward_refuses_it():
    # with both actions, state 0 reaches 1 and 2; without action 1 in state 1 and 2 they are
    # absorbing with different rewards: multichain
    P = np.zeros((3, 2, 3))
    P[0, :, 1] = P[0, :, 2] = 0.5
    P[1, 0, 1] = P[2, 0, 2] = 1.0
    P[1, 1, 0] = P[2, 1, 0] = 1.0
    r = np.array([[0.0, 0.0], [1.0, 0.0], [2.0, 0.0]])
    full = TabularMDP(P.copy(), r, 0.9)
    assert ar.model_class(full) == "communicating"
    mask = np.array([[True, True], [True, False], [True, False]])
    P[~mask] = 0.0
    multi = TabularMDP(P, r, 0.9, action_mask=mask)
    for f in (ar.relative_value_iteration, ar.average_reward_policy_iteration):
        with pytest.raises(ValueError, match="mdp must be communicating or unichain"):
            f(multi)


def test_backward_induction_with_infeasible_actions_quantecon_inventory():
    """quantecon/markov/tests/test_ddp.py::TestFiniteHorizon::test_backward_induction
    (Puterman 2005, §3.2 and §4.6.1, single-product stochastic inventory control, T = 3):
    states have 4, 3, 2 and 1 actions, given in the state-action-pair form."""
    s_indices = [0, 0, 0, 0, 1, 1, 1, 2, 2, 3]
    a_indices = [0, 1, 2, 3, 0, 1, 2, 0, 1, 0]
    R = [0.0, -1.0, -2.0, -5.0, 5.0, 0.0, -3.0, 6.0, -1.0, 5.0]
    Q = [
        [1.0, 0.0, 0.0, 0.0],
        [0.75, 0.25, 0.0, 0.0],
        [0.25, 0.5, 0.25, 0.0],
        [0.0, 0.25, 0.5, 0.25],
        [0.75, 0.25, 0.0, 0.0],
        [0.25, 0.5, 0.25, 0.0],
        [0.0, 0.25, 0.5, 0.25],
        [0.25, 0.5, 0.25, 0.0],
        [0.0, 0.25, 0.5, 0.25],
        [0.0, 0.25, 0.5, 0.25],
    ]
    # quantecon's beta = 1 has no discounted counterpart here: the pair form is read with any
    # gamma and the finite-horizon model (undiscounted) built from its arrays
    pairs = TabularMDP.from_sa_pairs(R, np.array(Q), s_indices, a_indices, gamma=0.0)
    fh = FiniteHorizonMDP(pairs.transitions, pairs.rewards, horizon=3)
    res = dp.backward_induction(fh)
    vs_expected = [
        [67 / 16, 129 / 16, 194 / 16, 227 / 16],
        [2, 25 / 4, 10, 21 / 2],
        [0, 5, 6, 5],
        [0, 0, 0, 0],
    ]
    np.testing.assert_allclose(res.values, vs_expected, rtol=1e-12)
    np.testing.assert_array_equal(
        res.policy.argmax(axis=-1), [[3, 0, 0, 0], [2, 0, 0, 0], [0, 0, 0, 0]]
    )
    assert np.isneginf(res.q_values[:, ~fh.action_mask]).all()
    # per-step availability: forbid ordering 3 units at the first step only
    mask = np.broadcast_to(pairs.action_mask, (3, 4, 4)).copy()
    mask[0, 0, 3] = False
    res2 = dp.backward_induction(
        FiniteHorizonMDP(pairs.transitions, pairs.rewards, horizon=3, action_mask=mask)
    )
    assert res2.policy[0, 0].argmax() != 3
    np.testing.assert_allclose(res2.values[1:], res.values[1:])
    with pytest.raises(ValueError, match="state 1, 2 has no feasible action"):
        m = mask.copy()
        m[1, 2] = False
        FiniteHorizonMDP(pairs.transitions, pairs.rewards, horizon=3, action_mask=m)


# ------------------------------------------------------------------------------------------
# the state-action-pair form against quantecon
# ------------------------------------------------------------------------------------------
def random_sa_pairs(S, A, seed, sparse):
    """A model with a random number of actions per state, in quantecon's pair form (shuffled)."""
    rng = np.random.default_rng(seed)
    counts = rng.integers(1, A + 1, S)
    s_idx = np.repeat(np.arange(S), counts)
    a_idx = np.concatenate([np.sort(rng.choice(A, c, replace=False)) for c in counts])
    L = s_idx.size
    Q = rng.random((L, S)) * (rng.random((L, S)) < 0.3)
    Q[np.arange(L), rng.integers(0, S, L)] += 0.5
    Q /= Q.sum(axis=1, keepdims=True)
    R = rng.normal(size=L)
    perm = rng.permutation(L)
    Q = Q[perm]
    return R[perm], sp.csr_matrix(Q) if sparse else Q, s_idx[perm], a_idx[perm]


@pytest.mark.parametrize("sparse", [False, True])
def test_from_sa_pairs_matches_quantecon_discrete_dp(sparse):
    qe = pytest.importorskip("quantecon")
    for seed in range(3):
        R, Q, s_idx, a_idx = random_sa_pairs(30, 4, seed, sparse)
        mdp = TabularMDP.from_sa_pairs(R, Q, s_idx, a_idx, 0.95)
        assert mdp.is_sparse == sparse and mdp.n_actions == int(a_idx.max()) + 1
        ddp = qe.markov.DiscreteDP(R, Q, 0.95, s_idx, a_idx)
        peer = ddp.solve(method="policy_iteration")
        for method in ("pi", "vi", "mpi", "gs", "lp", "solve"):
            res = SOLVERS[method](mdp)
            assert np.abs(res.values - peer.v).max() <= ACCURACY.get(method, 1e-9), method
            np.testing.assert_array_equal(res.policy.argmax(axis=1), peer.sigma)
        v = np.random.default_rng(seed).normal(size=30)
        np.testing.assert_allclose(
            dp.bellman_optimality_operator(mdp, v), ddp.bellman_operator(v), rtol=1e-12
        )
        np.testing.assert_array_equal(
            dp.greedy_policy(mdp, v).argmax(axis=1), ddp.compute_greedy(v)
        )
        # and back: the pairs in (s, a) order, as quantecon sorts them
        R2, Q2, s2, a2 = mdp.to_sa_pairs()
        np.testing.assert_array_equal(s2, ddp.s_indices)
        np.testing.assert_array_equal(a2, ddp.a_indices)
        np.testing.assert_array_equal(R2, ddp.R)
        assert sp.issparse(Q2) == sparse
        np.testing.assert_array_equal(
            Q2.toarray() if sparse else Q2, ddp.Q.toarray() if sp.issparse(ddp.Q) else ddp.Q
        )
        back = TabularMDP.from_sa_pairs(R2, Q2, s2, a2, 0.95)
        np.testing.assert_array_equal(back.rewards, mdp.rewards)
        np.testing.assert_array_equal(back.to_dense().transitions, mdp.to_dense().transitions)


def test_from_sa_pairs_bad_input_names_the_field():
    Q = np.full((4, 3), 1 / 3)
    R = [1.0, 0.0, 0.0, 1.0]
    # quantecon test_ddp_no_feasible_action_error(_trailing_state): no pair for state 1 / 2
    with pytest.raises(ValueError, match="state 1 has no feasible action"):
        TabularMDP.from_sa_pairs(R, Q, [0, 0, 2, 2], [0, 1, 0, 1], 0.95)
    with pytest.raises(ValueError, match="state 2 has no feasible action"):
        TabularMDP.from_sa_pairs(R, Q, [1, 0, 1, 0], [0, 0, 1, 1], 0.95)
    # quantecon test_ddp_duplicate_sa_pair_error
    Q2 = [(0.5, 0.5), (1.0, 0.0), (0.25, 0.75), (0.6, 0.4)]
    for q in (Q2, sp.csr_matrix(Q2)):
        with pytest.raises(ValueError, match=r"pair \(state 1, action 0\) is listed 2 times"):
            TabularMDP.from_sa_pairs([1.0, 2.0, 3.0, 4.0], q, [1, 1, 0, 0], [0, 0, 0, 1], 0.95)
    # quantecon test_ddp_out_of_range_indices_error
    Q3 = [(1.0, 0.0), (0.0, 1.0)]
    for q in (Q3, sp.csr_matrix(Q3)):
        for s_i, a_i, field in (
            ([0, 2], [0, 0], "s_indices"),
            ([2, 0], [0, 0], "s_indices"),
            ([-1, 0], [0, 0], "s_indices"),
            ([0, 1], [0, -1], "a_indices"),
        ):
            with pytest.raises(ValueError, match=field):
                TabularMDP.from_sa_pairs([1.0, 2.0], q, s_i, a_i, 0.95)
    with pytest.raises(ValueError, match="rewards must have shape"):
        TabularMDP.from_sa_pairs([1.0], Q3, [0, 1], [0, 0], 0.95)
    with pytest.raises(ValueError, match="n_actions"):
        TabularMDP.from_sa_pairs([1.0, 2.0], Q3, [0, 1], [0, 1], 0.95, n_actions=1)
    with pytest.raises(ValueError, match=r"transitions\[1, 0, :\] sums to"):
        TabularMDP.from_sa_pairs([1.0, 2.0], [(1.0, 0.0), (0.5, 0.4)], [0, 1], [0, 0], 0.95)
