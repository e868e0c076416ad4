"""Inner worst-case oracles of the robust sets against scipy ``linprog`` (HiGHS) and SLSQP.

Tolerances: 1e-9 against the LPs (HiGHS is exact to its feasibility tolerance ~1e-9 on these
O(1) problems), 1e-6 against SLSQP (its ``ftol`` is 1e-12 on the objective; the distance of its
minimiser is of order sqrt of that).  Worst distributions must be feasible.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import linprog, minimize

from theory_rl.algorithms import robust as R
from theory_rl.mdps import garnet
from theory_rl.mdps.robust import (
    Chi2Ball,
    Chi2Penalty,
    KernelSet,
    KLBall,
    KLPenalty,
    L1Ball,
    SRectL1Ball,
    TVPenalty,
)

N_INSTANCES = 60


def _instances(seed, n_max=7, sparse_support=True):
    rng = np.random.default_rng(seed)
    for _ in range(N_INSTANCES):
        n = int(rng.integers(2, n_max + 1))
        pb = rng.dirichlet(np.ones(n))
        if sparse_support and n > 2 and rng.random() < 0.5:
            pb[rng.integers(n)] = 0.0
            pb /= pb.sum()
        y = rng.normal(size=n) * rng.choice([0.1, 1.0, 10.0])
        if rng.random() < 0.2:
            y[rng.integers(n)] = y.min()  # ties at the minimum
        yield rng, pb, y


def _lp_l1(pb, y, kappa, support):
    n = pb.size
    allowed = np.ones(n, bool) if support == "full" else pb > 0
    # variables p (n), t (n): min y.p  s.t. |p - pb| <= t, sum t <= kappa, sum p = 1
    c = np.concatenate([y, np.zeros(n)])
    eye = np.eye(n)
    A_ub = np.vstack(
        [np.hstack([eye, -eye]), np.hstack([-eye, -eye]), np.r_[np.zeros(n), np.ones(n)]]
    )
    b_ub = np.concatenate([pb, -pb, [kappa]])
    A_eq = np.r_[np.ones(n), np.zeros(n)][None]
    bounds = [(0, None if a else 0) for a in allowed] + [(0, None)] * n
    res = linprog(c, A_ub=A_ub, b_ub=b_ub, A_eq=A_eq, b_eq=[1.0], bounds=bounds, method="highs")
    assert res.status == 0
    return res.fun


@pytest.mark.parametrize("support", ["nominal", "full"])
def test_l1_equals_linprog_and_is_feasible(support):
    for rng, pb, y in _instances(1):
        kappa = float(rng.choice([0.0, rng.uniform(0, 0.5), rng.uniform(0.5, 2.5)]))
        val, p = R.inner_rows(L1Ball(kappa, support=support), pb[None], y)
        p = p[0]
        assert abs(val[0] - _lp_l1(pb, y, kappa, support)) <= 1e-9 * max(1, np.abs(y).max())
        assert abs(p.sum() - 1) <= 1e-12 and p.min() >= 0
        assert np.abs(p - pb).sum() <= kappa + 1e-12
        if support == "nominal":
            assert np.all(p[pb == 0] == 0)
        assert abs(p @ y - val[0]) <= 1e-12 * max(1, np.abs(y).max())


def _slsqp(objective, pb, constraint=None):
    """min objective(p) over the simplex on pb's support (+ one inequality constraint >= 0)."""
    supp = pb > 0
    k = int(supp.sum())

    def full(x):
        p = np.zeros(pb.size)
        p[supp] = x
        return p

    cons = [{"type": "eq", "fun": lambda x: x.sum() - 1.0}]
    if constraint is not None:
        cons.append({"type": "ineq", "fun": lambda x: constraint(full(x))})
    best = np.inf
    for x0 in (pb[supp], np.full(k, 1.0 / k)):
        res = minimize(
            lambda x: objective(full(x)),
            x0,
            method="SLSQP",
            bounds=[(0, 1)] * k,
            constraints=cons,
            options={"ftol": 1e-14, "maxiter": 1000},
        )
        best = min(best, res.fun)
    return best


def _kl(p, pb):
    m = p > 0
    return float(np.sum(p[m] * np.log(p[m] / pb[m])))


def _chi2(p, pb):
    m = pb > 0
    return float(np.sum((p[m] - pb[m]) ** 2 / pb[m]))


@pytest.mark.parametrize(
    "make, value_fn, feasible",
    [
        (lambda r: KLBall(r), lambda p, y, pb, r: p @ y, lambda p, pb, r: _kl(p, pb) <= r + 1e-9),
        (
            lambda r: Chi2Ball(r),
            lambda p, y, pb, r: p @ y,
            lambda p, pb, r: _chi2(p, pb) <= r + 1e-9,
        ),
        (lambda r: KLPenalty(r), lambda p, y, pb, r: p @ y + r * _kl(p, pb), None),
        (lambda r: Chi2Penalty(r), lambda p, y, pb, r: p @ y + r * _chi2(p, pb), None),
        (lambda r: TVPenalty(r), lambda p, y, pb, r: p @ y + r * 0.5 * np.abs(p - pb).sum(), None),
    ],
    ids=["kl_ball", "chi2_ball", "kl_penalty", "chi2_penalty", "tv_penalty"],
)
def test_smooth_oracles_equal_slsqp(make, value_fn, feasible):
    for i, (rng, pb, y) in enumerate(_instances(2, n_max=6)):
        if i >= 40:
            break
        radius = float(rng.choice([rng.uniform(0.01, 0.3), rng.uniform(0.3, 3.0)]))
        unc = make(radius)
        val, p = R.inner_rows(unc, pb[None], y)
        p = p[0]
        scale = max(1.0, np.abs(y).max())
        assert abs(p.sum() - 1) <= 1e-12 and p.min() >= 0 and np.all(p[pb == 0] == 0)
        # the returned p attains the returned value
        assert abs(value_fn(p, y, pb, radius) - val[0]) <= 1e-9 * scale
        if feasible is not None:
            assert feasible(p, pb, radius)
            div = _kl if unc.kind == "kl" else _chi2
            ref = _slsqp(lambda q, t=y: q @ t, pb, lambda q, r=radius, d=div, b=pb: r - d(q, b))
        else:
            ref = _slsqp(lambda q, r=radius, t=y, b=pb: value_fn(q, t, b, r), pb)
        assert val[0] <= ref + 1e-6 * scale  # an SLSQP point is feasible: never better than ours
        assert abs(val[0] - ref) <= 1e-6 * scale, (unc, val[0], ref)


def _kl_ball_value_mpmath(pb, y, delta, digits=50):
    """The KL-ball value in ``digits``-digit arithmetic: the root of ``KL(q_beta || pb) = delta``
    by bisection (``q_beta ∝ pb exp(-beta (y - min y))``, KL increasing in beta towards
    ``-log pb(argmin y)``), then ``E_q y``; ``y`` without ties at its minimum."""
    mpmath = pytest.importorskip("mpmath")
    if delta >= -np.log(pb[np.argmin(y)]):  # the large-radius limit: all mass on the argmin
        return float(min(y))
    with mpmath.workdps(digits):
        p = [mpmath.mpf(float(x)) for x in pb]
        w = [mpmath.mpf(float(x)) - mpmath.mpf(float(min(y))) for x in y]

        def kl_and_mean(beta):
            e = [pi * mpmath.exp(-beta * wi) for pi, wi in zip(p, w, strict=True)]
            m = mpmath.fsum(e)
            mean = mpmath.fsum(ei * wi for ei, wi in zip(e, w, strict=True)) / m
            return -beta * mean - mpmath.log(m), mean

        lo, hi = mpmath.mpf(0), mpmath.mpf(1)
        while kl_and_mean(hi)[0] < delta:
            hi *= 2
        for _ in range(4 * digits):
            mid = (lo + hi) / 2
            lo, hi = (mid, hi) if kl_and_mean(mid)[0] < delta else (lo, mid)
        return float(min(y)) + float(kl_and_mean((lo + hi) / 2)[1])


@pytest.mark.parametrize("delta", [1e-12, 1e-8, 1e-4, 1e-1])
def test_kl_ball_accuracy_against_50_digits(delta):
    """The KL oracle against 50-digit arithmetic, small radii included.  The value
    ``~ mean - sqrt(2 delta) sd`` moves by ``eps sd / sqrt(2 delta)`` when the KL level moves by
    ``eps`` (a relative change ``eps`` of ``pb``'s normalisation moves it by that much), so in
    float64 it is determined to about ``eps_mach sd / sqrt(2 delta)`` only: the oracle must be
    within a small multiple of that (measured: 7.6e-11 at delta = 1e-12, 9e-13 at 1e-8)."""
    rng = np.random.default_rng(11)
    eps = np.finfo(float).eps
    for _ in range(8):
        n = int(rng.integers(2, 9))
        pb, y = rng.dirichlet(np.ones(n)), rng.normal(size=n)
        got = R.inner_rows(KLBall(delta), pb[None], y[None])[0][0]
        sd = np.sqrt(pb @ (y - pb @ y) ** 2)
        floor = 8 * eps * (np.abs(y).max() + sd / np.sqrt(2 * delta))
        assert abs(got - _kl_ball_value_mpmath(pb, y, delta)) <= floor


def test_tv_penalty_equals_linprog():
    for rng, pb, y in _instances(3):
        lam = float(rng.uniform(0.01, 3))
        val, p = R.inner_rows(TVPenalty(lam), pb[None], y)
        n = pb.size
        c = np.concatenate([y, 0.5 * lam * np.ones(n)])
        eye = np.eye(n)
        res = linprog(
            c,
            A_ub=np.vstack([np.hstack([eye, -eye]), np.hstack([-eye, -eye])]),
            b_ub=np.concatenate([pb, -pb]),
            A_eq=np.r_[np.ones(n), np.zeros(n)][None],
            b_eq=[1.0],
            bounds=[(0, None if q > 0 else 0) for q in pb] + [(0, None)] * n,
            method="highs",
        )
        assert abs(val[0] - res.fun) <= 1e-9 * max(1, np.abs(y).max())
        # closed form E[min(y, min y + lam)] over the support
        ymin = y[pb > 0].min()
        assert abs(val[0] - pb @ np.minimum(y, ymin + lam)) <= 1e-12 * max(1, np.abs(y).max())


@pytest.mark.parametrize("make", [L1Ball, KLBall, Chi2Ball])
def test_ball_limits_radius_zero_and_large(make):
    for _, pb, y in _instances(4):
        supp = pb > 0
        val0, p0 = R.inner_rows(make(0.0), pb[None], y)
        np.testing.assert_allclose(p0[0], pb, atol=0)
        assert val0[0] == pytest.approx(pb @ y, abs=1e-12 * max(1, np.abs(y).max()))
        val_big, _ = R.inner_rows(make(1e6), pb[None], y)
        assert val_big[0] == pytest.approx(y[supp].min(), abs=1e-12 * max(1, np.abs(y).max()))


def test_penalty_limits():
    for _, pb, y in list(_instances(5))[:20]:
        supp = pb > 0
        scale = max(1.0, np.abs(y).max())
        for unc in (KLPenalty(1e8), TVPenalty(1e8), Chi2Penalty(1e8)):
            val, _ = R.inner_rows(unc, pb[None], y)
            assert abs(val[0] - pb @ y) <= 1e-6 * scale  # huge penalty: the nominal row
        for unc in (KLPenalty(1e-9), TVPenalty(1e-12), Chi2Penalty(1e-12)):
            val, _ = R.inner_rows(unc, pb[None], y)
            assert abs(val[0] - y[supp].min()) <= 1e-6 * scale  # free adversary: min y


def test_kl_penalty_lagrangian_identity():
    """penalty(lam) = ball(delta_lam) + lam delta_lam with delta_lam = KL(p_lam || pb)."""
    for _, pb, y in list(_instances(6))[:30]:
        if np.ptp(y[pb > 0]) == 0:
            continue
        val, p = R.inner_rows(KLPenalty(0.7), pb[None], y)
        delta = _kl(p[0], pb)
        ball, _ = R.inner_rows(KLBall(delta), pb[None], y)
        assert abs(val[0] - (ball[0] + 0.7 * delta)) <= 1e-9 * max(1, np.abs(y).max())


def _lp_srect(pbs, zs, kappa):
    """min u s.t. p_a.z_a <= u, sum_a ||p_a - pb_a||_1 <= kappa (nominal support)."""
    sizes = [pb.size for pb in pbs]
    n = sum(sizes)
    offs = np.concatenate([[0], np.cumsum(sizes)])
    c = np.zeros(1 + 2 * n)
    c[0] = 1
    rows, b = [], []
    for a, z in enumerate(zs):
        row = np.zeros(1 + 2 * n)
        row[0] = -1
        row[1 + offs[a] : 1 + offs[a + 1]] = z
        rows.append(row)
        b.append(0)
    pb_all = np.concatenate(pbs)
    eye = np.eye(n)
    rows.extend(np.hstack([np.zeros((n, 1)), eye, -eye]))
    b.extend(pb_all)
    rows.extend(np.hstack([np.zeros((n, 1)), -eye, -eye]))
    b.extend(-pb_all)
    bud = np.zeros(1 + 2 * n)
    bud[1 + n :] = 1
    rows.append(bud)
    b.append(kappa)
    A_eq = np.zeros((len(pbs), 1 + 2 * n))
    for a in range(len(pbs)):
        A_eq[a, 1 + offs[a] : 1 + offs[a + 1]] = 1
    res = linprog(
        c,
        A_ub=np.array(rows),
        b_ub=b,
        A_eq=A_eq,
        b_eq=np.ones(len(pbs)),
        bounds=[(None, None)] + [(0, None)] * (2 * n),
        method="highs",
    )
    return res.fun


@pytest.mark.parametrize("seed", range(4))
def test_srect_l1_sweep_equals_lp_and_policy_attains_it(seed):
    mdp = garnet(6, 3, 3, gamma=0.9, seed=seed)
    rng = np.random.default_rng(seed)
    v = rng.normal(size=6) * 3
    kappa = rng.uniform(0, 1.5, size=6)
    unc = SRectL1Ball(kappa)
    tv = R.robust_bellman_operator(mdp, unc, v)
    op = R._operator(mdp, unc)
    for s in range(6):
        rows = R._srect_state_rows(op, v, s)
        lp = _lp_srect([pb for _, pb, _ in rows], [z for _, _, z in rows], kappa[s])
        assert abs(tv[s] - lp) <= 1e-9 * max(1, np.abs(v).max())
    # the LP-dual policy attains the maximin value against its own best response
    pi = R.srect_policy(mdp, unc, v)
    np.testing.assert_allclose(pi.sum(axis=1), 1.0)
    np.testing.assert_allclose(R.robust_bellman_operator(mdp, unc, v, policy=pi), tv, atol=1e-8)
    # ... and no deterministic policy does better
    for a in range(3):
        ta = R.robust_bellman_operator(mdp, unc, v, policy=np.full(6, a))
        assert np.all(ta <= tv + 1e-9)


def test_srect_zero_budget_is_nominal_and_sa_bound():
    mdp = garnet(8, 3, 4, gamma=0.9, seed=5)
    v = np.random.default_rng(0).normal(size=8)
    from theory_rl.algorithms import dp

    tv0 = R.robust_bellman_operator(mdp, SRectL1Ball(0.0), v)
    np.testing.assert_allclose(tv0, dp.bellman_optimality_operator(mdp, v), atol=1e-12)
    # the s-rectangular set with budget kappa contains the sa-rectangular ball of radius
    # kappa / A per action and is contained in the one of radius kappa
    lo = R.robust_bellman_operator(mdp, L1Ball(0.6), v)
    hi = R.robust_bellman_operator(mdp, L1Ball(0.2), v)
    mid = R.robust_bellman_operator(mdp, SRectL1Ball(0.6), v)
    assert np.all(lo <= mid + 1e-12) and np.all(mid <= hi + 1e-12)


def test_kernel_set_hull_and_generic_path_agree_with_kernels():
    mdp = garnet(7, 3, 7, gamma=0.9, seed=1, sparse=False)
    rng = np.random.default_rng(2)
    v = rng.normal(size=7)
    ks = KernelSet([garnet(7, 3, 3, gamma=0.9, seed=s, sparse=False).transitions for s in (3, 4)])
    q = R.robust_q_values(mdp, ks, v)
    manual = mdp.rewards + 0.9 * np.minimum(ks.transitions[0] @ v, ks.transitions[1] @ v)
    np.testing.assert_allclose(q, manual, atol=1e-14)
    for unc in (
        L1Ball(0.3),
        L1Ball(0.3, support="full"),
        KLPenalty(0.5),
        TVPenalty(0.4),
        TVPenalty(0.4, support="full"),
    ):
        a = R.robust_q_values(mdp, unc, v)
        R.USE_KERNELS = False
        try:
            b = R.robust_q_values(mdp, unc, v)
        finally:
            R.USE_KERNELS = True
        np.testing.assert_allclose(a, b, atol=1e-13)


@pytest.mark.parametrize(
    "make, field",
    [
        (lambda: L1Ball(-0.1), "kappa"),
        (lambda: L1Ball(float("nan")), "kappa"),
        (lambda: KLBall(np.array([[0.1, -1.0]])), "delta"),
        (lambda: Chi2Ball(float("inf")), "rho"),
        (lambda: KLPenalty(0.0), "lam"),
        (lambda: TVPenalty(-1.0), "lam"),
        (lambda: Chi2Penalty(np.zeros((2, 2))), "lam"),
        (lambda: SRectL1Ball("0.1"), "kappa"),
        (lambda: L1Ball(0.1, support="everywhere"), "support"),
        (lambda: KernelSet([np.full((2, 1, 2), 0.6)]), "kernels"),
        (lambda: KernelSet([np.full((2, 1, 2), 0.5), np.full((3, 1, 3), 1 / 3)]), "kernels"),
        (lambda: KernelSet([]), "kernels"),
    ],
)
def test_bad_sets_name_the_field(make, field):
    with pytest.raises(ValueError, match=field):
        make()


def test_radius_shape_checked_against_the_mdp():
    mdp = garnet(4, 2, 2, seed=0)
    with pytest.raises(ValueError, match="kappa"):
        R.robust_value_iteration(mdp, L1Ball(np.full((4, 3), 0.1)))
    with pytest.raises(ValueError, match="kappa"):
        R.robust_value_iteration(mdp, SRectL1Ball(np.full(5, 0.1)))
    with pytest.raises(ValueError, match="kernels"):
        R.robust_value_iteration(mdp, KernelSet([np.full((3, 2, 3), 1 / 3)]))
    with pytest.raises(ValueError, match="uncertainty"):
        R.robust_value_iteration(mdp, 0.1)
