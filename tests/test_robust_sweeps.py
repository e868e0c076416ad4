"""The fused robust sweeps (values only, one pass over the CSR rows) against the reference
oracles.

The reference is ``kernels.robust._csr_sigma`` (the row routines that
``tests/test_robust_oracles.py`` checks against scipy ``linprog``/SLSQP) followed by the maximum
over actions.  Random CSR MDPs mix rows of one entry, short rows (the L1 pairwise form), rows
longer than ``L1_PAIRWISE_MAX`` (the selection form), ties in the targets, and per-row radii
from 0 to far beyond the large-radius limits.  Tolerance ``1e-12 * scale``: both sides are
exact rules that differ in round-off only (the KL sweep's warm-started dual is within
``O(KL_STEP_RTOL^3)`` of the root).
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from theory_rl.algorithms import robust as R
from theory_rl.kernels import robust as K
from theory_rl.mdps import TabularMDP
from theory_rl.mdps.robust import Chi2Ball, Chi2Penalty, KLBall, KLPenalty, L1Ball, TVPenalty

SETS = {
    "l1": L1Ball,
    "kl": KLBall,
    "chi2": Chi2Ball,
    "kl_penalty": KLPenalty,
    "tv_penalty": TVPenalty,
    "chi2_penalty": Chi2Penalty,
}


def _csr_mdp(seed, S=40, A=3):
    """Rows of 1 to 24 entries (a quarter of length 1 or 2); rewards of O(1)."""
    rng = np.random.default_rng(seed)
    rows, cols, vals = [], [], []
    for row in range(S * A):
        n = int(
            rng.choice([1, 2, rng.integers(3, 8), rng.integers(8, 25)], p=[0.1, 0.15, 0.5, 0.25])
        )
        support = rng.choice(S, size=n, replace=False)
        p = rng.dirichlet(np.full(n, rng.choice([0.3, 1.0, 5.0])))
        rows += [row] * n
        cols += list(support)
        vals += list(p / p.sum())
    P = sp.csr_array((vals, (rows, cols)), shape=(S * A, S))
    return TabularMDP(P, rng.normal(size=(S, A)), 0.9)


def _radii(rng, kind, S, A):
    """Per-(s, a) radii: 0 (balls), small, moderate and beyond the large-radius limit."""
    if kind.endswith("penalty"):
        choices = [1e-9, 0.05, 0.5, 3.0, 1e6]
    else:
        choices = [0.0, 0.01, 0.2, 1.0, 1e6]
    return rng.choice(choices, size=(S, A))


def _values(rng, S, ties):
    v = rng.normal(size=S) * rng.choice([0.1, 1.0, 10.0])
    if ties:  # many equal next-state values: ties at the minimum, the maximum and between
        v = np.round(v * 2.0) / 2.0
    return v


def _reference(op, v, actions=None):
    sigma = np.empty(op.S * op.A)
    K._csr_sigma(
        op.indptr, op.indices, op.data, op.radius, R._KIND[op.kind], R._w(v), sigma, op._no_data, 0
    )
    q = (op.r + op.gamma * sigma).reshape(op.S, op.A)
    if actions is None:
        return q.max(axis=1), q
    return q[np.arange(op.S), actions], q


@pytest.mark.parametrize("kind", list(SETS))
@pytest.mark.parametrize("seed", range(3))
def test_fused_sweep_equals_reference_oracle(kind, seed):
    mdp = _csr_mdp(seed)
    rng = np.random.default_rng(100 + seed)
    S, A = mdp.n_states, mdp.n_actions
    unc = SETS[kind](_radii(rng, kind, S, A))
    op = R._operator(mdp, unc)
    assert op.kernels and op.width > K.L1_PAIRWISE_MAX  # both L1 forms are exercised
    for ties in (False, True, False, True):
        v = _values(rng, S, ties)
        scale = max(1.0, np.abs(v).max())
        ref, q = _reference(op, v)
        out_v, out_a = op.sweep(v)
        np.testing.assert_allclose(out_v, ref, rtol=0, atol=1e-12 * scale)
        # the greedy action attains the maximum (ties may pick either)
        np.testing.assert_allclose(q[np.arange(S), out_a], ref, rtol=0, atol=1e-12 * scale)
        actions = rng.integers(A, size=S)
        got, _ = op.sweep(v, actions)
        np.testing.assert_allclose(got, _reference(op, v, actions)[0], rtol=0, atol=1e-12 * scale)
        # the public operator goes through the same sweep
        np.testing.assert_allclose(
            R.robust_bellman_operator(mdp, unc, v), ref, rtol=0, atol=1e-12 * scale
        )


@pytest.mark.parametrize("kind", list(SETS))
def test_fused_sweep_scalar_radius_zero_and_large(kind):
    """Radius 0: the nominal sweep (balls); a radius beyond every limit: min over the support
    (balls); the penalties' two limits likewise."""
    mdp = _csr_mdp(7, S=30, A=2)
    P = mdp.transitions
    v = _values(np.random.default_rng(3), mdp.n_states, ties=True)
    scale = max(1.0, np.abs(v).max())
    nominal = (mdp.rewards.ravel() + mdp.gamma * (P @ v)).reshape(30, 2).max(axis=1)
    row_min = np.minimum.reduceat(v[P.indices], P.indptr[:-1].astype(np.int64))
    floor = (mdp.rewards.ravel() + mdp.gamma * row_min).reshape(30, 2).max(axis=1)
    small, big = (0.0, 1e6) if not kind.endswith("penalty") else (1e8, 1e-12)
    tol_small = 1e-12 if not kind.endswith("penalty") else 1e-6
    got_small = R._operator(mdp, SETS[kind](small)).sweep(v)[0]
    got_big = R._operator(mdp, SETS[kind](big)).sweep(v)[0]
    np.testing.assert_allclose(got_small, nominal, rtol=0, atol=tol_small * scale)
    np.testing.assert_allclose(got_big, floor, rtol=0, atol=1e-6 * scale)


def test_kl_sweep_warm_start_does_not_change_values():
    """The KL multipliers carried between sweeps: cold, warm at the same values, warm after a
    small and after a large change of the values, and after the large-radius regime all agree
    with the reference oracle (and with each other) to round-off."""
    mdp = _csr_mdp(11)
    rng = np.random.default_rng(5)
    S, A = mdp.n_states, mdp.n_actions
    unc = KLBall(_radii(rng, "kl", S, A))
    op = R._operator(mdp, unc)
    v = _values(rng, S, ties=False)
    scale = max(1.0, np.abs(v).max())
    cold = op.sweep(v)[0]
    assert np.isfinite(op.kl_beta).any()
    warm = op.sweep(v)[0]
    np.testing.assert_allclose(warm, cold, rtol=0, atol=1e-13 * scale)
    for w in (v + 1e-6 * rng.normal(size=S), v + rng.normal(size=S), -3.0 * v, v):
        ref, _ = _reference(op, w)
        got = op.sweep(w)[0]
        np.testing.assert_allclose(got, ref, rtol=0, atol=1e-12 * max(1.0, np.abs(w).max()))
    op.kl_beta[:] = np.nan
    np.testing.assert_allclose(op.sweep(v)[0], cold, rtol=0, atol=1e-13 * scale)
    # a robust VI run (warm starts all along) ends where the reference operator's fixed point is
    res = R.robust_value_iteration(mdp, unc, tol=1e-10)
    fixed = _reference(op, np.asarray(res.values))[0]
    assert np.abs(fixed - res.values).max() <= 1e-9


def test_l1_pairwise_form_on_rows_with_ties_and_short_rows():
    """Rows of 1 and 2 entries, all-equal rows, and ties at the minimum and maximum, radius up
    to beyond 2 (eps = 1 - p(argmin)), through the L1 row value of the sweep."""
    rng = np.random.default_rng(9)
    for _ in range(300):
        n = int(rng.integers(1, 20))
        pb = rng.dirichlet(np.ones(n))
        y = rng.integers(-2, 3, size=n).astype(float)
        kappa = float(rng.choice([0.0, 0.05, 0.3, 1.0, 2.5]))
        indptr = np.array([0, n], dtype=np.uint64)
        indices = np.arange(n, dtype=np.uint32)
        buf = np.empty(n)
        got = K._l1_row_value(indptr, indices, pb, y.copy(), 0, kappa, buf, buf.copy())
        order = np.empty(n, np.int64)
        ref = K._l1_row(pb, y, n, kappa, order, np.empty(n))
        assert abs(got - ref) <= 1e-14 * max(1.0, np.abs(y).max())


@pytest.mark.parametrize("kind", ["l1", "kl"])
@pytest.mark.parametrize(("seed", "S", "A"), [(0, 40, 3), (1, 40, 3), (2, 7, K.BLOCK_ROWS + 3)])
def test_block_sweeps_equal_reference_oracle(kind, seed, S, A):
    """The sweeps vectorised across rows (``_csr_l1_block_sweep`` and, on the all-actions
    layout, ``_blocked_l1_sweep`` for rows of at most ``L1_PAIRWISE_MAX`` entries;
    ``_csr_kl_block_sweep``): rows of 1 to 16 entries, ties,
    per-row radii, states with more actions than a block holds, and a mix of free states
    (action -1) and fixed actions."""
    rng = np.random.default_rng(200 + seed)
    rows, cols, vals = [], [], []
    for row in range(S * A):
        n = int(rng.integers(1, min(S, K.L1_PAIRWISE_MAX) + 1))
        p = rng.dirichlet(np.full(n, rng.choice([0.3, 1.0, 5.0])))
        rows += [row] * n
        cols += list(rng.choice(S, size=n, replace=False))
        vals += list(p / p.sum())
    P = sp.csr_array((vals, (rows, cols)), shape=(S * A, S))
    mdp = TabularMDP(P, rng.normal(size=(S, A)), 0.9)
    unc = SETS[kind](_radii(rng, kind, S, A))
    op = R._operator(mdp, unc)
    assert op.kernels and op.width <= K.L1_PAIRWISE_MAX
    for ties in (False, True, False):
        v = _values(rng, S, ties)
        scale = max(1.0, np.abs(v).max())
        ref, q = _reference(op, v)
        out_v, out_a = op.sweep(v)
        np.testing.assert_allclose(out_v, ref, rtol=0, atol=1e-12 * scale)
        np.testing.assert_allclose(q[np.arange(S), out_a], ref, rtol=0, atol=1e-12 * scale)
        actions = rng.integers(A, size=S)
        got, _ = op.sweep(v, actions)
        np.testing.assert_allclose(got, _reference(op, v, actions)[0], rtol=0, atol=1e-12 * scale)
        mixed = np.where(rng.random(S) < 0.5, -1, actions).astype(np.int64)
        out_v, out_a = np.empty(S), np.empty(S, dtype=np.int64)
        args = (op.indptr, op.indices, op.data, op.r, op.gamma, op.radius, v, mixed)
        if kind == "l1":
            K._csr_l1_block_sweep(*args, np.int64(op.width), out_v, out_a)
        else:
            K._csr_kl_block_sweep(*args, op.kl_beta, np.int64(op.width), out_v, out_a)
        want = np.where(mixed < 0, ref, q[np.arange(S), np.maximum(mixed, 0)])
        np.testing.assert_allclose(out_v, want, rtol=0, atol=1e-12 * scale)
        assert np.all(out_a[mixed >= 0] == mixed[mixed >= 0])
        if kind == "l1":  # the all-actions layout, whether or not the operator built it
            layout = K._blocked_layout(op.indptr, op.indices, op.data, S, A, op.width)
            K._blocked_l1_sweep(*layout, *args[3:7], np.int64(op.width), out_v, out_a)
            np.testing.assert_allclose(out_v, ref, rtol=0, atol=1e-12 * scale)
            np.testing.assert_allclose(q[np.arange(S), out_a], ref, rtol=0, atol=1e-12 * scale)


def test_vectorised_exp_within_one_ulp():
    """``_exp_nonpositive`` (the KL block sweep's exponential) against ``np.exp`` on [-708, 0]
    (every binade down to 1e-300 and a dense grid near 0) and its clamp below -708."""
    x = -np.concatenate(
        [[0.0, 5e-324, 1e-300], np.geomspace(1e-300, 708.0, 20001), np.linspace(0.0, 3.0, 20001)]
    )
    out, scale = np.empty_like(x), np.empty_like(x)
    K._exp_nonpositive(x, out, scale, scale.view(np.int64), x.size)
    ref = np.exp(x)
    assert np.max(np.abs(out - ref) / np.spacing(ref)) <= 1.0
    assert out[0] == 1.0
    below = np.array([-708.5, -800.0, -1e6])
    out3, scale3 = np.empty(3), np.empty(3)
    K._exp_nonpositive(below, out3, scale3, scale3.view(np.int64), 3)
    assert np.all(np.abs(out3 - np.exp(-708.0)) <= np.spacing(np.exp(-708.0)))


def test_block_l1_sweep_masked_actions():
    """Masked actions (reward ``-inf``) are never chosen by the block sweep (one action per
    state stays allowed)."""
    rng = np.random.default_rng(31)
    S, A = 30, 4
    P = np.zeros((S * A, S))
    for row in range(S * A):
        P[row, rng.choice(S, size=6, replace=False)] = rng.dirichlet(np.ones(6))
    mask = rng.random((S, A)) < 0.5
    mask[np.arange(S), rng.integers(A, size=S)] = True
    mdp = TabularMDP(sp.csr_array(P), rng.normal(size=(S, A)), 0.9, action_mask=mask)
    op = R._operator(mdp, L1Ball(0.4))
    assert op.width == 6
    v = rng.normal(size=S)
    ref, _ = _reference(op, v)
    out_v, out_a = op.sweep(v)
    np.testing.assert_allclose(out_v, ref, rtol=0, atol=1e-12)
    assert mask[np.arange(S), out_a].all()


@pytest.mark.parametrize("kind", list(SETS))
def test_stored_zeros_are_off_the_support(kind):
    """A CSR kernel that stores zero probabilities (scipy keeps them; Dirichlet draws underflow
    to them) has the same robust operator as without them: the nominal support is p > 0 (as in
    ``inner_rows`` and the dense generic path)."""
    rng = np.random.default_rng(17)
    S, A = 12, 3
    P = rng.dirichlet(np.ones(S), size=S * A)
    P[P < 0.08] = 0.0
    P /= P.sum(axis=1, keepdims=True)
    rows, cols = np.nonzero(P)
    zero_rows, zero_cols = np.nonzero(P == 0)
    pick = rng.random(zero_rows.size) < 0.3  # store some zeros explicitly
    r_all = np.concatenate([rows, zero_rows[pick]])
    c_all = np.concatenate([cols, zero_cols[pick]])
    stored = sp.csr_array((P[r_all, c_all], (r_all, c_all)), shape=(S * A, S))
    assert stored.nnz > np.count_nonzero(P)
    rewards = rng.normal(size=(S, A))
    with_zeros = TabularMDP(stored, rewards, 0.9)
    without = TabularMDP(sp.csr_array(P), rewards, 0.9)
    unc = SETS[kind](_radii(rng, kind, S, A))
    for v in (rng.normal(size=S), np.round(rng.normal(size=S))):
        want = R.robust_bellman_operator(without, unc, v)
        np.testing.assert_allclose(R.robust_bellman_operator(with_zeros, unc, v), want, atol=1e-13)
        np.testing.assert_allclose(
            R.robust_q_values(with_zeros, unc, v), R.robust_q_values(without, unc, v), atol=1e-13
        )
