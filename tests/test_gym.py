"""Converters: gymnasium toy-text models (with the sink state) and pymdptoolbox's layout."""

from __future__ import annotations

import sys

import numpy as np
import pytest
import scipy.sparse as sp

from theory_rl.mdps import (
    InvalidMDPError,
    TabularMDP,
    from_gymnasium,
    from_mdptoolbox,
    garnet,
    to_mdptoolbox,
)

gym = pytest.importorskip("gymnasium")
mdp_example = pytest.importorskip("mdptoolbox.example")
mdp_solvers = pytest.importorskip("mdptoolbox.mdp")


def optimal_value(mdp: TabularMDP, n_iter: int = 3000) -> np.ndarray:
    P, v = mdp.to_dense().transitions, np.zeros(mdp.n_states)
    for _ in range(n_iter):
        v = (mdp.rewards + mdp.gamma * P @ v).max(axis=1)
    return v


def policy_value(mdp: TabularMDP, actions) -> np.ndarray:
    P, S, a = mdp.to_dense().transitions, mdp.n_states, np.asarray(actions)
    return np.linalg.solve(np.eye(S) - mdp.gamma * P[np.arange(S), a], mdp.rewards[np.arange(S), a])


# ------------------------------------------------------------------------------- FrozenLake
@pytest.fixture(scope="module")
def frozen_lake():
    return from_gymnasium("FrozenLake-v1", gamma=0.95)


def test_frozen_lake_sums_duplicate_next_states(frozen_lake):
    env = gym.make("FrozenLake-v1")
    listed = [s2 for _, s2, _, _ in env.unwrapped.P[0][0]]
    assert listed.count(0) == 2  # the pitfall the converter must handle
    P = frozen_lake.transitions
    np.testing.assert_allclose(P[0, 0, 0], 2 / 3, rtol=1e-15)
    np.testing.assert_allclose(P[0, 0, 4], 1 / 3, rtol=1e-15)
    assert np.count_nonzero(P[0, 0]) == 2


def test_frozen_lake_has_an_absorbing_sink_for_terminations(frozen_lake):
    sink = 16
    assert (frozen_lake.n_states, frozen_lake.n_actions) == (17, 4)
    P = frozen_lake.transitions
    np.testing.assert_array_equal(P[sink, :, sink], 1.0)
    np.testing.assert_array_equal(frozen_lake.rewards[sink], 0.0)
    # From state 1, "down" slips left (0), falls into hole 5 (terminated) or goes right (2).
    np.testing.assert_allclose(P[1, 1, [0, 2, sink]], 1 / 3)
    assert P[1, 1, 5] == 0
    # From 14, "right" reaches the goal 15 (reward 1, terminated) w.p. 1/3: into the sink.
    np.testing.assert_allclose(P[14, 2, sink], 1 / 3)
    assert P[14, 2, 15] == 0
    np.testing.assert_allclose(frozen_lake.rewards[14, 2], 1 / 3)
    np.testing.assert_array_equal(frozen_lake.initial_distribution, np.eye(17)[0])


def test_frozen_lake_deterministic_optimal_value():
    # Without slipping the goal is 6 moves away; its reward comes with the 6th: gamma^5.
    mdp = from_gymnasium("FrozenLake-v1", gamma=0.9, is_slippery=False)
    np.testing.assert_allclose(optimal_value(mdp, 100)[0], 0.9**5, rtol=1e-12)


def test_env_object_wrapped_or_not_and_sparse_agree(frozen_lake):
    env = gym.make("FrozenLake-v1")
    for source in (env, env.unwrapped):
        m = from_gymnasium(source, gamma=0.95)
        np.testing.assert_array_equal(m.transitions, frozen_lake.transitions)
        np.testing.assert_array_equal(m.rewards, frozen_lake.rewards)
    s = from_gymnasium(env, gamma=0.95, sparse=True)
    assert s.is_sparse
    np.testing.assert_array_equal(s.to_dense().transitions, frozen_lake.transitions)


# ------------------------------------------------------------------------------ CliffWalking
def test_cliff_walking_goal_transitions_go_to_the_sink():
    mdp = from_gymnasium("CliffWalking-v1", gamma=0.9)
    sink, P = 48, mdp.transitions
    assert (mdp.n_states, mdp.n_actions) == (49, 4)
    assert P[35, 2, sink] == 1 and P[46, 1, sink] == 1  # down from 35, right from 46
    assert P[35, 2, 47] == 0
    assert P[47, 0, 35] == 1  # the env's own row for 47 is kept (never entered now)
    assert P[36, 1, 36] == 1 and mdp.rewards[36, 1] == -100  # the cliff sends back to start
    np.testing.assert_array_equal(P[sink, :, sink], 1.0)
    # Optimal path along the cliff edge: 13 steps of -1 (the last enters the sink).
    v = optimal_value(mdp, 300)
    np.testing.assert_allclose(v[36], -(1 - 0.9**13) / (1 - 0.9), rtol=1e-12)


# -------------------------------------------------------------------------------------- Taxi
def test_taxi_shapes_and_successful_dropoffs():
    env = gym.make("Taxi-v4")
    mdp = from_gymnasium(env, gamma=0.99, sparse=True)
    assert (mdp.n_states, mdp.n_actions) == (501, 6)
    assert mdp.transitions.shape == (501 * 6, 501)
    rho = mdp.initial_distribution
    assert rho[500] == 0 and abs(rho.sum() - 1) < 1e-12
    np.testing.assert_array_equal(rho[:500], env.unwrapped.initial_state_distrib)
    P = mdp.to_dense().transitions
    model = env.unwrapped.P
    done = [(s, a) for s in model for a in model[s] if model[s][a][0][3]]
    assert len(done) == 4
    for s, a in done:
        assert P[s, a, 500] == 1 and mdp.rewards[s, a] == 20


# ---------------------------------------------------------------------------------- errors
class _NoModelEnv:
    class _Space:
        n = 3

    observation_space = action_space = _Space()


def test_from_gymnasium_errors(monkeypatch):
    with pytest.raises(ValueError, match="no tabular model"):
        from_gymnasium(_NoModelEnv(), gamma=0.9)
    with pytest.raises(ValueError, match="gymnasium.make"):
        from_gymnasium(gym.make("FrozenLake-v1"), gamma=0.9, is_slippery=False)
    bad = _NoModelEnv()
    bad.P = {s: {a: [(1.0, 7, 0.0, False)] for a in range(3)} for s in range(3)}
    with pytest.raises(ValueError, match=r"env.P\[0\]\[0\]\[0\] has next_state 7"):
        from_gymnasium(bad, gamma=0.9)
    bad.P = {s: {a: [(0.5, 0, 0.0, False)] for a in range(3)} for s in range(3)}
    with pytest.raises(ValueError, match=r"transitions\[0, 0, :\] sums to 0.5"):
        from_gymnasium(bad, gamma=0.9)
    with pytest.raises(ValueError, match="gamma"):
        from_gymnasium("FrozenLake-v1", gamma=1.0)
    monkeypatch.setitem(sys.modules, "gymnasium", None)
    with pytest.raises(ImportError, match=r"theory_rl\[gym\]"):
        from_gymnasium("FrozenLake-v1", gamma=0.9)


# ------------------------------------------------------------------------------ pymdptoolbox
def test_from_mdptoolbox_forest_round_trip():
    P, R = mdp_example.forest()  # P (A, S, S) = (2, 3, 3), R (S, A)
    mdp = from_mdptoolbox(P, R, 0.9)
    assert (mdp.n_states, mdp.n_actions) == (3, 2)
    np.testing.assert_array_equal(mdp.transitions, P.transpose(1, 0, 2))
    np.testing.assert_array_equal(mdp.rewards, R)
    P2, R2 = to_mdptoolbox(mdp)
    np.testing.assert_array_equal(P2, P)
    np.testing.assert_array_equal(R2, R)
    # pymdptoolbox's own policy iteration agrees with an independent solve on our MDP.
    pi = mdp_solvers.PolicyIteration(P, R, 0.9)
    pi.run()
    v = policy_value(mdp, pi.policy)
    np.testing.assert_allclose(v, pi.V, rtol=1e-10)
    np.testing.assert_allclose(optimal_value(mdp), v, rtol=1e-10)


@pytest.mark.filterwarnings("ignore::scipy.sparse.SparseEfficiencyWarning")  # inside mdptoolbox
def test_from_mdptoolbox_sparse_lists_and_transition_rewards():
    P, R = mdp_example.rand(8, 3, is_sparse=True, mask=None)  # lists of CSR (S, S)
    mdp = from_mdptoolbox(P, R, 0.9)
    assert mdp.is_sparse and mdp.transitions.shape == (24, 8)
    dense_P = np.stack([p.toarray() for p in P])
    dense_R = np.stack([r.toarray() for r in R])
    ref = from_mdptoolbox(dense_P, dense_R, 0.9)  # (A, S, S) arrays
    np.testing.assert_allclose(mdp.to_dense().transitions, ref.transitions, rtol=0, atol=0)
    expected_r = np.einsum("ast,ast->sa", dense_P, dense_R)
    np.testing.assert_allclose(mdp.rewards, expected_r, rtol=1e-12)
    np.testing.assert_allclose(ref.rewards, expected_r, rtol=1e-12)
    # Back to pymdptoolbox: its solvers run on the converted problem and agree with ours.
    P2, R2 = to_mdptoolbox(mdp)
    assert isinstance(P2, list) and len(P2) == 3 and sp.issparse(P2[0])
    v_star = optimal_value(mdp)
    pi = mdp_solvers.PolicyIteration(P2, R2, 0.9)
    pi.run()
    np.testing.assert_allclose(pi.V, v_star, rtol=1e-10)
    # (ValueIteration's V stops on a span criterion and is off by a constant; its policy is
    # what it certifies.)
    vi = mdp_solvers.ValueIteration(P2, R2, 0.9, epsilon=1e-8)
    vi.run()
    np.testing.assert_allclose(policy_value(mdp, vi.policy), v_star, rtol=1e-10)


def test_from_mdptoolbox_state_rewards_and_garnet_round_trip():
    P, _ = mdp_example.forest()
    mdp = from_mdptoolbox(P, np.array([1.0, 2.0, 3.0]), 0.5)
    np.testing.assert_array_equal(mdp.rewards, [[1, 1], [2, 2], [3, 3]])
    g = garnet(10, 3, 2, seed=0)
    back = from_mdptoolbox(*to_mdptoolbox(g), g.gamma)
    np.testing.assert_array_equal(back.to_dense().transitions, g.to_dense().transitions)
    np.testing.assert_array_equal(back.rewards, g.rewards)


def test_from_mdptoolbox_layout_errors():
    P, R = mdp_example.forest(S=4)  # P (2, 4, 4)
    ours = P.transpose(1, 0, 2)  # (S, A, S) = (4, 2, 4): the wrong layout for pymdptoolbox
    with pytest.raises(InvalidMDPError, match=r"\(A, S, S\).*issue #37"):
        from_mdptoolbox(ours, R, 0.9)
    with pytest.raises(ValueError, match=r"R must have shape"):
        from_mdptoolbox(P, R.T, 0.9)
    with pytest.raises(ValueError, match="single sparse matrix"):
        from_mdptoolbox(sp.csr_array(P[0]), R, 0.9)
