"""TabularMDP / FiniteHorizonMDP construction, conversion and validation messages."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from conftest import dense_mdp

from theory_rl.mdps import FiniteHorizonMDP, InvalidMDPError, TabularMDP, validate_policy


def two_state():
    P = np.array([[[0.5, 0.5], [1.0, 0.0]], [[0.0, 1.0], [0.2, 0.8]]])
    return P, np.array([[1.0, 0.0], [0.5, 2.0]])


def test_shapes_and_properties():
    P, r = two_state()
    m = TabularMDP(P, r, 0.9)
    assert (m.n_states, m.n_actions, m.is_sparse, m.nnz) == (2, 2, False, 8)
    np.testing.assert_allclose(m.initial_distribution, [0.5, 0.5])
    assert m.transition_matrix.shape == (4, 2)
    assert "S=2, A=2" in repr(m)


def test_arrays_are_read_only():
    P, r = two_state()
    m = TabularMDP(P, r, 0.9)
    for arr in (m.transitions, m.rewards, m.initial_distribution):
        with pytest.raises(ValueError, match="read-only"):
            arr[0] = 0.0
    with pytest.raises(AttributeError):
        m.gamma = 0.5


def test_sas_rewards_are_reduced_to_expectation():
    P, _ = two_state()
    r3 = np.arange(8.0).reshape(2, 2, 2)
    m = TabularMDP(P, r3, 0.9)
    np.testing.assert_allclose(m.rewards, (P * r3).sum(-1))
    ms = TabularMDP(sp.csr_array(P.reshape(4, 2)), r3, 0.9)
    np.testing.assert_allclose(ms.rewards, m.rewards)


def test_dense_sparse_round_trip():
    m = dense_mdp(12, 3, 0.8, seed=4)
    s = m.to_sparse()
    assert s.is_sparse and s.to_sparse() is s
    np.testing.assert_array_equal(s.to_dense().transitions, m.transitions)
    assert m.to_dense() is m
    pi = np.random.default_rng(0).dirichlet(np.ones(3), size=12)
    Pd, rd = m.policy_matrix(pi)
    Ps, rs = s.policy_matrix(pi)
    np.testing.assert_allclose(Ps.toarray(), Pd, atol=1e-15)
    np.testing.assert_allclose(rs, rd)
    np.testing.assert_allclose(Pd.sum(1), 1.0)


def test_sparse_validation_never_densifies():
    # Dense, this would be (2e5)^2 * 2 * 8 bytes = 640 GB: building it must stay O(nnz).
    S, A = 200_000, 2
    rows = S * A
    P = sp.csr_array((np.ones(rows), np.arange(rows) % S, np.arange(rows + 1)), shape=(rows, S))
    m = TabularMDP(P, np.zeros((S, A)), 0.9)
    assert m.nnz == rows and m.n_states == S


def test_sparse_duplicates_are_summed():
    P = sp.coo_array(([0.25, 0.25, 0.5, 1.0], ([0, 0, 0, 1], [0, 0, 1, 1])), shape=(2, 2))
    m = TabularMDP(P, np.zeros((2, 1)), 0.5)
    np.testing.assert_allclose(m.to_dense().transitions[0, 0], [0.5, 0.5])


def test_with_gamma():
    P, r = two_state()
    assert TabularMDP(P, r, 0.9).with_gamma(0.5).gamma == 0.5


@pytest.mark.parametrize(
    ("mutate", "pattern"),
    [
        (lambda P, r: (P.at(1, 0, 1, 0.7), r), r"transitions\[1, 0, :\] sums to 0.7"),
        (lambda P, r: (P.at(0, 1, 0, -0.5), r), r"transitions\[0, 1, 0\] = -0.5 is negative"),
        (lambda P, r: (P.at(1, 1, 0, np.nan), r), r"transitions\[1, 1, 0\] is nan"),
        (lambda P, r: (P.at(1, 1, 0, np.inf), r), r"transitions\[1, 1, 0\] is inf"),
        (
            lambda P, r: (P.a[:, :, :1], r),
            r"transitions must be a dense array of shape \(S, A, S\)",
        ),
        (lambda P, r: (P.a[0], r), r"transitions must be a dense array"),
        (lambda P, r: (P.a[:, :0], r), r"no actions \(A = 0\)"),
        (lambda P, r: (np.zeros((0, 1, 0)), r), r"no states \(S = 0\)"),
        (lambda P, r: (P.a, r[:1]), r"rewards must have shape \(S, A\) = \(2, 2\)"),
        (lambda P, r: (P.a, np.where(np.eye(2, dtype=bool), np.nan, r)), r"rewards\[0, 0\] is nan"),
        (lambda P, r: (P.a, "abc"), r"rewards must be a numeric array"),
    ],
)
def test_dense_validation_messages(mutate, pattern):
    P, r = two_state()

    class Editable:
        def __init__(self, a):
            self.a = a

        def at(self, s, a, t, value):
            out = self.a.copy()
            out[s, a, t] = value
            return out

    P_new, r_new = mutate(Editable(P), r)
    with pytest.raises(InvalidMDPError, match=pattern):
        TabularMDP(P_new, r_new, 0.9)


@pytest.mark.parametrize(
    ("gamma", "pattern"),
    [
        (1.0, r"gamma must be in \[0, 1\), got 1.0"),
        (-0.1, "gamma must be in"),
        ("x", "gamma must be a real number"),
        ("0.9", r"gamma must be a real number in \[0, 1\), got '0.9'"),
        (True, "gamma must be a real number"),
        (None, "gamma must be a real number"),
        (0.9 + 0j, "gamma must be a real number"),
        (float("nan"), "gamma must be in"),
    ],
)
def test_gamma_validation(gamma, pattern):
    P, r = two_state()
    with pytest.raises(ValueError, match=pattern):
        TabularMDP(P, r, gamma)


def test_sparse_validation_messages():
    P, r = two_state()
    P2 = P.reshape(4, 2).copy()
    bad = P2.copy()
    bad[3] = [0.3, 0.3]
    with pytest.raises(InvalidMDPError, match=r"transitions\[1, 1, :\] sums to 0.6"):
        TabularMDP(sp.csr_array(bad), r, 0.9)
    bad = P2.copy()
    bad[2] = [-0.5, 1.5]
    with pytest.raises(InvalidMDPError, match=r"transitions\[1, 0, 0\] = -0.5 is negative"):
        TabularMDP(sp.csr_array(bad), r, 0.9)
    bad = P2.copy()
    bad[1, 0] = np.nan
    with pytest.raises(InvalidMDPError, match=r"transitions\[0, 1, 0\] is nan"):
        TabularMDP(sp.csr_array(bad), r, 0.9)
    with pytest.raises(InvalidMDPError, match="not a multiple of S = 2"):
        TabularMDP(sp.csr_array(P2[:3]), r, 0.9)
    empty_row = sp.csr_array(np.vstack([P2[:3], [0.0, 0.0]]))
    with pytest.raises(InvalidMDPError, match=r"transitions\[1, 1, :\] sums to 0"):
        TabularMDP(empty_row, r, 0.9)
    with pytest.raises(InvalidMDPError, match="no actions"):
        TabularMDP(sp.csr_array((0, 2)), np.zeros((2, 0)), 0.9)


@pytest.mark.parametrize(
    ("rho", "pattern"),
    [
        ([1.0], r"initial_distribution must have shape \(S,\) = \(2,\)"),
        ([0.7, 0.7], r"initial_distribution\[:\] sums to 1.4"),
        ([1.5, -0.5], r"initial_distribution\[1\] = -0.5 is negative"),
        ([np.nan, 1.0], r"initial_distribution\[0\] is nan"),
    ],
)
def test_initial_distribution_validation(rho, pattern):
    P, r = two_state()
    with pytest.raises(InvalidMDPError, match=pattern):
        TabularMDP(P, r, 0.9, rho)


def test_validate_policy():
    onehot = validate_policy(np.array([1, 0, 2]), 3, 3)
    np.testing.assert_array_equal(onehot, np.eye(3)[[1, 0, 2]])
    batch = validate_policy(np.array([[1, 0, 2], [0, 0, 0]]), 3, 3)
    assert batch.shape == (2, 3, 3)
    with pytest.raises(ValueError, match=r"policy\[1\] = 3 is not an action in \[0, 3\)"):
        validate_policy(np.array([0, 3, 1]), 3, 3)
    with pytest.raises(ValueError, match=r"policy\[1, :\] sums to 0.5"):
        validate_policy(np.array([[1.0, 0.0], [0.5, 0.0]]), 2, 2)
    with pytest.raises(ValueError, match=r"policy must have shape \(S, A\) = \(2, 2\)"):
        validate_policy(np.ones((2, 3)) / 3, 2, 2)


def test_finite_horizon():
    P, r = two_state()
    m = FiniteHorizonMDP(P, r, horizon=3)
    assert m.is_stationary and m.horizon == 3 and m.n_states == 2 and m.n_actions == 2
    assert m.transitions_at(2) is m.transitions and m.rewards_at(1) is m.rewards
    per_step = FiniteHorizonMDP(np.stack([P] * 3), np.stack([r, 2 * r, 3 * r]), horizon=3)
    assert not per_step.is_stationary
    np.testing.assert_array_equal(per_step.rewards_at(2), 3 * r)
    sparse = FiniteHorizonMDP(sp.csr_array(P.reshape(4, 2)), r, horizon=2)
    assert sparse.is_stationary and "H=2" in repr(sparse)


@pytest.mark.parametrize(
    ("kwargs", "pattern"),
    [
        ({"horizon": 0}, "horizon must be an int >= 1"),
        ({"horizon": True}, "horizon must be an int >= 1"),
        ({"horizon": 2.5}, "horizon must be an int >= 1"),
        ({"horizon": 4, "per_step": True}, r"per-step transitions must have shape \(H, S, A, S\)"),
        ({"horizon": 3, "rewards": np.zeros((2, 2, 2))}, r"rewards must have shape \(S, A\)"),
    ],
)
def test_finite_horizon_validation(kwargs, pattern):
    P, r = two_state()
    transitions = np.stack([P] * 3) if kwargs.pop("per_step", False) else P
    rewards = kwargs.pop("rewards", r)
    with pytest.raises(InvalidMDPError, match=pattern):
        FiniteHorizonMDP(transitions, rewards, **kwargs)


def test_finite_horizon_per_step_rows_checked():
    P, r = two_state()
    Ps = np.stack([P] * 3)
    Ps[2, 1, 0] = [0.9, 0.0]
    with pytest.raises(InvalidMDPError, match=r"transitions\[2, 1, 0, :\] sums to 0.9"):
        FiniteHorizonMDP(Ps, r, horizon=3)


def test_numeric_fields_refuse_strings_and_bools():
    from theory_rl.mdps import FiniteHorizonMDP, LinearMDP

    P, r = two_state()
    with pytest.raises(InvalidMDPError, match="rewards must be a numeric array of real numbers"):
        TabularMDP(P, r.astype(str), 0.9)
    with pytest.raises(InvalidMDPError, match="transitions must be a numeric array"):
        TabularMDP(P.astype(bool), r, 0.9)
    with pytest.raises(InvalidMDPError, match="initial_distribution must be a numeric array"):
        TabularMDP(P, r, 0.9, np.array(["0.5", "0.5"]))
    with pytest.raises(InvalidMDPError, match="horizon must be an int >= 1, got '3'"):
        FiniteHorizonMDP(P, r, "3")
    with pytest.raises(ValueError, match="gamma must be a real number"):
        LinearMDP(np.ones((2, 2, 1)), np.full((1, 2), 0.5), np.ones(1), gamma="0.9")
    assert TabularMDP(P, r, np.float32(0.5)).gamma == 0.5


def test_finite_horizon_gamma_is_checked():
    from theory_rl.mdps import FiniteHorizonMDP

    P = np.full((2, 1, 2), 0.5)
    r = np.ones((2, 1))
    assert FiniteHorizonMDP(P, r, horizon=2).gamma == 1.0
    assert "gamma=0.5" in repr(FiniteHorizonMDP(P, r, horizon=2, gamma=0.5))
    for bad in ("0.5", 1.5, -0.1, None):
        with pytest.raises(InvalidMDPError, match="^gamma must be"):
            FiniteHorizonMDP(P, r, horizon=2, gamma=bad)
