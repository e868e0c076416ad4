"""Seeded generators and hand-built MDPs: reproducibility, exact structure, closed-form values."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from scipy import stats

from theory_rl.mdps import (
    TabularMDP,
    bandit,
    chain,
    deep_sea,
    garnet,
    gridworld,
    random_mdp,
    ring,
    river_swim,
)


# ---------------------------------------------------------------------------- helpers (numpy)
def dense_P(mdp: TabularMDP) -> np.ndarray:
    return mdp.to_dense().transitions


def policy_value(mdp: TabularMDP, actions) -> np.ndarray:
    """v_pi of a deterministic policy by a direct linear solve."""
    P, S = dense_P(mdp), mdp.n_states
    a = np.asarray(actions)
    P_pi, r_pi = P[np.arange(S), a], mdp.rewards[np.arange(S), a]
    return np.linalg.solve(np.eye(S) - mdp.gamma * P_pi, r_pi)


def q_of(mdp: TabularMDP, v: np.ndarray) -> np.ndarray:
    return mdp.rewards + mdp.gamma * dense_P(mdp) @ v


def optimal_value(mdp: TabularMDP, n_iter: int = 5000) -> np.ndarray:
    """Value iteration in numpy (small problems only)."""
    P, v = dense_P(mdp), np.zeros(mdp.n_states)
    for _ in range(n_iter):
        v = (mdp.rewards + mdp.gamma * P @ v).max(axis=1)
    return v


def assert_same_mdp(m1: TabularMDP, m2: TabularMDP) -> None:
    assert m1.is_sparse == m2.is_sparse
    if m1.is_sparse:
        for field in ("indptr", "indices", "data"):
            np.testing.assert_array_equal(
                getattr(m1.transitions, field), getattr(m2.transitions, field)
            )
    else:
        np.testing.assert_array_equal(m1.transitions, m2.transitions)
    np.testing.assert_array_equal(m1.rewards, m2.rewards)
    np.testing.assert_array_equal(m1.initial_distribution, m2.initial_distribution)
    assert m1.gamma == m2.gamma


# ------------------------------------------------------------------------------------- garnet
@pytest.mark.parametrize("variant", ["cutpoint", "dirichlet"])
@pytest.mark.parametrize("sparse", [True, False])
def test_garnet_same_seed_same_mdp_and_different_seed_differs(variant, sparse):
    make = lambda seed: garnet(40, 3, 4, variant=variant, sparse=sparse, seed=seed)  # noqa: E731
    assert_same_mdp(make(7), make(7))
    m1, m2 = make(7), make(8)
    assert not np.array_equal(dense_P(m1), dense_P(m2))
    assert not np.array_equal(m1.rewards, m2.rewards)


def test_garnet_seed_forms_agree_and_generator_stream_continues():
    by_int = garnet(30, 2, 3, seed=5)
    assert_same_mdp(by_int, garnet(30, 2, 3, seed=np.random.SeedSequence(5)))
    rng = np.random.default_rng(5)
    assert_same_mdp(by_int, garnet(30, 2, 3, seed=rng))
    # The Generator was advanced: a second call continues its stream and differs.
    assert not np.array_equal(dense_P(garnet(30, 2, 3, seed=rng)), dense_P(by_int))


def test_garnet_variants_differ_for_one_seed():
    a = garnet(30, 2, 3, variant="cutpoint", seed=1)
    b = garnet(30, 2, 3, variant="dirichlet", seed=1)
    assert not np.array_equal(a.transitions.data, b.transitions.data)


@pytest.mark.parametrize("variant", ["cutpoint", "dirichlet"])
@pytest.mark.parametrize(
    ("S", "A", "b"),
    [
        (1000, 3, 5),  # rejection sampling of successors
        (12, 4, 4),  # 4b > S: Fisher-Yates path
        (200, 2, 60),  # b > 32: Fisher-Yates path and np.sort
        (7, 3, 7),  # full support
        (9, 2, 1),  # deterministic transitions
    ],
)
def test_garnet_rows_have_exactly_b_distinct_successors(variant, S, A, b):
    mdp = garnet(S, A, b, variant=variant, seed=3)
    P = mdp.transitions
    assert P.shape == (S * A, S)
    np.testing.assert_array_equal(P.indptr, np.arange(0, S * A * b + 1, b))
    idx = P.indices.reshape(S * A, b)
    assert (np.diff(idx, axis=1) > 0).all()  # distinct, stored sorted
    assert idx.min() >= 0 and idx.max() < S
    assert (P.data > 0).all()
    np.testing.assert_allclose(P.data.reshape(S * A, b).sum(axis=1), 1.0, rtol=0, atol=1e-12)
    assert ((mdp.rewards >= 0) & (mdp.rewards < 1)).all()
    np.testing.assert_array_equal(mdp.initial_distribution, np.full(S, 1.0 / S))


@pytest.mark.parametrize("variant", ["cutpoint", "dirichlet"])
def test_garnet_dense_equals_sparse_for_one_seed(variant):
    sparse = garnet(25, 3, 6, variant=variant, sparse=True, seed=11)
    dense = garnet(25, 3, 6, variant=variant, sparse=False, seed=11)
    assert not dense.is_sparse
    np.testing.assert_array_equal(dense.transitions, sparse.to_dense().transitions)
    np.testing.assert_array_equal(dense.rewards, sparse.rewards)


def test_garnet_successors_are_uniform():
    # Each state is among a row's b successors with probability b/S.  Chi-square test of the
    # counts at significance 1e-6 (the seed is fixed, so this is deterministic).
    S, A, b = 20, 50, 3
    mdp = garnet(S, A, b, seed=2)
    counts = np.bincount(mdp.transitions.indices, minlength=S)
    assert stats.chisquare(counts).pvalue > 1e-6


@pytest.mark.parametrize("variant", ["cutpoint", "dirichlet"])
def test_garnet_weights_have_the_uniform_spacings_law(variant):
    # Gaps of b-1 uniform cut points (= Dirichlet(1,...,1) weights) have Beta(1, b-1)
    # marginals: mean 1/b, variance (b-1) / (b^2 (b+1)).  Six standard errors.
    b = 4
    w = garnet(500, 40, b, variant=variant, seed=4).transitions.data.reshape(-1, b)
    x = ((w - 1 / b) ** 2).mean(axis=1)  # i.i.d. over rows, mean = the Beta(1, b-1) variance
    var = (b - 1) / (b**2 * (b + 1))
    se = x.std() / np.sqrt(x.size)
    assert abs(x.mean() - var) < 6 * se
    assert 6 * se < 0.05 * var  # so a law off by 5% in variance would be detected


def test_garnet_scales_with_int32_indices():
    mdp = garnet(100_000, 10, 10, seed=0)
    assert mdp.nnz == 10**7
    assert mdp.transitions.indices.dtype == np.int32


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (dict(n_states=5, n_actions=2, branching=6), "branching must be <= n_states"),
        (dict(n_states=5, n_actions=2, branching=0), "branching must be an int >= 1"),
        (dict(n_states=5.0, n_actions=2, branching=2), "n_states must be an int"),
        (dict(n_states=5, n_actions=True, branching=2), "n_actions must be an int"),
        (dict(n_states=5, n_actions=2, branching=2, variant="x"), "variant"),
        (dict(n_states=5, n_actions=2, branching=2, gamma=1.0), "gamma"),
        (dict(n_states=5, n_actions=2, branching=2, seed=np.random.RandomState(0)), "seed"),
    ],
)
def test_garnet_rejects_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        garnet(**kwargs)


# --------------------------------------------------------------------------------- random_mdp
def test_random_mdp_is_seeded_dense_and_positive():
    m1, m2 = random_mdp(6, 3, seed=9), random_mdp(6, 3, seed=9)
    assert_same_mdp(m1, m2)
    assert not np.array_equal(m1.transitions, random_mdp(6, 3, seed=10).transitions)
    assert m1.transitions.shape == (6, 3, 6) and (m1.transitions > 0).all()
    assert ((m1.rewards >= 0) & (m1.rewards <= 1)).all()
    normal = random_mdp(6, 3, seed=9, reward="normal")
    np.testing.assert_array_equal(normal.transitions, m1.transitions)  # same draw order
    assert (normal.rewards < 0).any()
    with pytest.raises(ValueError, match="reward must be"):
        random_mdp(3, 2, reward="bernoulli")


# -------------------------------------------------------------------------------------- chain
@pytest.mark.parametrize("H", [1, 4, 20])
def test_chain_optimal_value_in_closed_form(H):
    mdp = chain(H)
    g = H / (H + 1)
    assert (mdp.n_states, mdp.n_actions, mdp.gamma) == (H + 2, 4, g)
    np.testing.assert_array_equal(mdp.initial_distribution, np.eye(H + 2)[0])
    v = policy_value(mdp, np.zeros(H + 2, dtype=int))  # always "advance"
    # V*(s_i) = gamma^(H+1-i) / (1 - gamma): H+1-i steps to s_{H+1}, then reward 1 forever.
    expected = g ** (H + 1 - np.arange(H + 2)) / (1 - g)
    np.testing.assert_allclose(v, expected, rtol=1e-12)
    np.testing.assert_allclose(v[0], (H + 1) * (H / (H + 1)) ** (H + 1), rtol=1e-12)
    # Optimality: v is a fixed point of the Bellman optimality operator.
    np.testing.assert_allclose(q_of(mdp, v).max(axis=1), v, rtol=1e-12)
    q = q_of(mdp, v)
    assert (q[: H + 1, 0] > q[: H + 1, 1:].max(axis=1)).all()  # advancing is strictly best


def test_chain_structure_and_gamma_override():
    mdp = chain(3, gamma=0.5)
    P = mdp.transitions
    assert mdp.gamma == 0.5
    for i in range(4):
        assert P[i, 0, i + 1] == 1 and (P[i, 1:, 0] == 1).all()
    assert (P[4, :, 4] == 1).all()
    assert mdp.rewards.sum() == 1 and mdp.rewards[4, 0] == 1
    with pytest.raises(ValueError, match="horizon"):
        chain(0)


# --------------------------------------------------------------------------------- river swim
def test_river_swim_probabilities_and_optimal_policy():
    mdp = river_swim()
    P = mdp.transitions
    assert P.shape == (6, 2, 6)
    np.testing.assert_array_equal(P[:, 0].argmax(axis=1), [0, 0, 1, 2, 3, 4])
    np.testing.assert_allclose(P[0, 1, :2], [0.4, 0.6])
    np.testing.assert_allclose(P[3, 1, 2:5], [0.05, 0.6, 0.35])
    np.testing.assert_allclose(P[5, 1, 4:], [0.4, 0.6])
    assert mdp.rewards[0, 0] == 5e-3 and mdp.rewards[5, 1] == 1.0
    assert np.count_nonzero(mdp.rewards) == 2
    # The exploration trap: swimming right is optimal everywhere (at gamma = 0.95) although
    # the left end pays immediately.
    v = optimal_value(mdp)
    assert (q_of(mdp, v).argmax(axis=1) == 1).all()
    with pytest.raises(ValueError, match="n_states"):
        river_swim(1)


# ---------------------------------------------------------------------------------- gridworld
def test_gridworld_deterministic_shortest_path_value():
    g = 0.9
    mdp = gridworld((3, 4), slip=0.0, gamma=g)  # start (0, 0), goal (2, 3)
    assert (mdp.n_states, mdp.n_actions) == (12, 4)
    v = optimal_value(mdp, 200)
    # 5 moves; the goal reward is paid on the 5th, discounted by gamma^4.
    np.testing.assert_allclose(v[0], g**4, rtol=1e-12)
    assert v[11] == 0  # absorbing goal
    np.testing.assert_array_equal(mdp.transitions[11, :, 11], 1.0)


def test_gridworld_walls_are_removed_and_block_moves():
    layout = ["S.#", "..#", "#.G"]
    mdp = gridworld(layout, slip=0.0, gamma=0.9)
    free = np.flatnonzero(np.array([list(r) for r in layout]).ravel() != "#")
    assert mdp.n_states == free.size == 6  # states = free cells in row-major order
    np.testing.assert_array_equal(mdp.initial_distribution, np.eye(6)[0])
    P = mdp.transitions
    # state 1 is cell (0, 1); moving right hits the wall at (0, 2) and stays.
    assert P[1, 1, 1] == 1
    v = optimal_value(mdp, 200)
    np.testing.assert_allclose(v[0], 0.9**3, rtol=1e-12)  # 4 moves, e.g. via (1, 0), (1, 1), (2, 1)


def test_gridworld_slip_and_reward_on_entry():
    mdp = gridworld((1, 3), slip=0.3, goal=(0, 2), goal_reward=2.0, step_reward=-0.1)
    P = mdp.transitions
    # From the middle cell, "right" reaches the goal w.p. 0.7; up/down/left slips stay or go left.
    np.testing.assert_allclose(P[1, 1], [0.1, 0.2, 0.7])
    np.testing.assert_allclose(P[1, 0], [0.1, 0.8, 0.1])  # "up": blocked (stay), slips
    np.testing.assert_allclose(mdp.rewards[1], -0.1 + 2.0 * P[1, :, 2])
    np.testing.assert_array_equal(mdp.rewards[2], 0.0)


@pytest.mark.parametrize(
    ("args", "kwargs", "match"),
    [
        ((["S.", "..."],), {}, "equal length"),
        ((["S.", ".x"],), {}, r"layout\[1\]\[1\]"),
        ((["S.", ".."],), {}, "no goal"),
        ((["SG", ".."],), {"slip": 0.1, "goal": (1, 1)}, "not both"),
        (((2, 2),), {"walls": [(1, 1)]}, "goal cell"),
        (((2, 2),), {"goal": (2, 0)}, "outside"),
        (((2, 2),), {"slip": 1.5}, "slip"),
    ],
)
def test_gridworld_rejects_bad_layouts(args, kwargs, match):
    with pytest.raises(ValueError, match=match):
        gridworld(*args, **kwargs)


# ----------------------------------------------------------------------------------- deep sea
@pytest.mark.parametrize("N", [1, 3, 8])
def test_deep_sea_optimal_policy_is_always_right(N):
    mdp = deep_sea(N)
    g = N / (N + 1)
    assert (mdp.n_states, mdp.n_actions, mdp.gamma) == (N * N + 1, 2, g)
    sink = N * N
    np.testing.assert_array_equal(mdp.transitions[sink, :, sink], 1.0)
    np.testing.assert_array_equal(mdp.rewards[sink], 0.0)
    v_right = policy_value(mdp, np.ones(N * N + 1, dtype=int))
    expected = g ** (N - 1) - 0.01 / N * sum(g**t for t in range(N))
    np.testing.assert_allclose(v_right[0], expected, rtol=1e-12)
    np.testing.assert_allclose(optimal_value(mdp, 500)[0], expected, rtol=1e-12)


def test_deep_sea_randomized_actions_are_seeded_and_keep_the_value():
    a, b = deep_sea(5, randomize_actions=True, seed=1), deep_sea(5, randomize_actions=True, seed=1)
    assert_same_mdp(a, b)
    plain = deep_sea(5)
    assert not np.array_equal(a.transitions, plain.transitions)
    np.testing.assert_allclose(optimal_value(a, 300), optimal_value(plain, 300), rtol=1e-12)


def test_deep_sea_stochastic_right_can_fail():
    mdp = deep_sea(4, deterministic=False)
    np.testing.assert_allclose(mdp.transitions[0, 1, [4, 5]], [0.25, 0.75])


# --------------------------------------------------------------------------------------- ring
def test_ring_moves_and_reward():
    mdp = ring(6, noise=0.3, goal=2)
    P = mdp.transitions
    for s in range(6):
        np.testing.assert_allclose(P[s, 2, (s + 1) % 6], 0.7)
        np.testing.assert_allclose(P[s, 0, (s - 1) % 6], 0.7)
        np.testing.assert_allclose(P[s, 1, s], 0.7)
    np.testing.assert_allclose(P[0, 2, [5, 0]], [0.15, 0.15])
    np.testing.assert_array_equal(mdp.rewards.sum(axis=1), [0, 0, 3, 0, 0, 0])
    with pytest.raises(ValueError, match="n_states"):
        ring(2)
    with pytest.raises(ValueError, match="goal"):
        ring(5, goal=5)


# ------------------------------------------------------------------------------------- bandit
def test_bandit_values_are_scaled_means():
    means = [0.2, 0.9, 0.5]
    mdp = bandit(means, gamma=0.5)
    assert (mdp.n_states, mdp.n_actions) == (1, 3)
    v = policy_value(mdp, [1])
    np.testing.assert_allclose(v, [0.9 / 0.5])
    assert bandit(means).gamma == 0.0
    with pytest.raises(ValueError, match="means"):
        bandit([[0.1, 0.2]])
    with pytest.raises(ValueError, match="means"):
        bandit([0.1, np.nan])


def test_hand_built_mdps_are_valid_tabular_mdps():
    for mdp in (chain(3), river_swim(), gridworld(), deep_sea(3), ring(), bandit([1.0])):
        assert isinstance(mdp, TabularMDP) and not mdp.is_sparse
        assert not sp.issparse(mdp.transitions)


def test_gridworld_sparse_equals_dense():
    layout = ["S...#", ".#..G", "...#."]
    dense = gridworld(layout, slip=0.2)
    sparse = gridworld(layout, slip=0.2, sparse=True)
    assert sparse.is_sparse and sparse.n_states == 12
    np.testing.assert_array_equal(sparse.to_dense().transitions, dense.transitions)
    np.testing.assert_array_equal(sparse.rewards, dense.rewards)
    big = gridworld((300, 300), sparse=True)  # 90,000 states: never densified
    assert big.nnz <= 90_000 * 4 * 4
