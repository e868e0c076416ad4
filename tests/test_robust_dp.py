"""Robust Bellman operator, robust VI / MPI and robust policy evaluation.

Ground truth from outside the family: brute force over the static kernels of a finite
sa-rectangular set (saddle point), nominal value iteration (radius 0), and robust VI whose inner
problems are solved by scipy ``linprog`` row by row (the references of the robust claims,
:mod:`theory_rl.experiments.claims.robust._common`).
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from conftest import masked_mdp_pair

from theory_rl.algorithms import dp
from theory_rl.algorithms import robust as R
from theory_rl.experiments.claims.robust._common import (
    brute_force_finite,
    lp_robust_vi,
    optimal_values,
)
from theory_rl.mdps import TabularMDP, garnet
from theory_rl.mdps.robust import (
    Chi2Ball,
    Chi2Penalty,
    KernelSet,
    KLBall,
    KLPenalty,
    L1Ball,
    SRectL1Ball,
    TVPenalty,
    drpg_garnet,
    windy_walk,
)

SETS = [
    L1Ball(0.3),
    L1Ball(0.3, support="full"),
    KLBall(0.2),
    Chi2Ball(0.3),
    KLPenalty(1.0),
    TVPenalty(0.5),
    Chi2Penalty(1.0),
    SRectL1Ball(0.5),
]
IDS = [f"{type(u).__name__}-{getattr(u, 'support', '')}" for u in SETS]


@pytest.mark.parametrize("unc", SETS, ids=IDS)
def test_operator_is_a_gamma_contraction_and_monotone(unc):
    mdp = garnet(12, 3, 4, gamma=0.9, seed=3)
    rng = np.random.default_rng(0)
    for _ in range(20):
        v, w = rng.normal(size=(2, 12)) * rng.choice([0.1, 1, 10])
        tv = R.robust_bellman_operator(mdp, unc, v)
        tw = R.robust_bellman_operator(mdp, unc, w)
        assert np.abs(tv - tw).max() <= 0.9 * np.abs(v - w).max() * (1 + 1e-12) + 1e-12
        hi = np.maximum(v, w)
        assert np.all(R.robust_bellman_operator(mdp, unc, hi) >= tv - 1e-12)
        # translation: T(v + c) = Tv + gamma c
        np.testing.assert_allclose(
            R.robust_bellman_operator(mdp, unc, v + 2.0), tv + 1.8, atol=1e-9
        )


@pytest.mark.parametrize("unc", SETS, ids=IDS)
def test_robust_vi_stopping_rule_and_fixed_point(unc):
    mdp = garnet(15, 3, 4, gamma=0.9, seed=1)
    res = R.robust_value_iteration(mdp, unc, tol=1e-8)
    assert res.converged, res.message
    # values within tol/2 of the fixed point: certified by the residual of the returned values
    tv = R.robust_bellman_operator(mdp, unc, res.values)
    assert np.abs(tv - res.values).max() / (1 - 0.9) <= 1e-7
    # the returned policy is tol-optimal against its worst case (robust policy evaluation)
    pe = R.robust_policy_evaluation(mdp, unc, res.policy, tol=1e-10)
    assert np.all(pe.values >= res.values - 0.5e-8 - 1e-8 - 1e-9)
    assert "worst_kernel" in res.params


def test_radius_zero_equals_value_iteration_and_values_monotone_in_radius():
    mdp = garnet(20, 4, 5, gamma=0.9, seed=2)
    vi = dp.value_iteration(mdp, tol=1e-10)
    for zero in (L1Ball(0.0), KLBall(0.0), Chi2Ball(0.0), SRectL1Ball(0.0)):
        res = R.robust_value_iteration(mdp, zero, tol=1e-10)
        np.testing.assert_allclose(res.values, vi.values, atol=1e-9)
    for make in (L1Ball, KLBall, Chi2Ball, SRectL1Ball):
        prev = vi.values
        for radius in (0.01, 0.1, 0.5, 1.0):
            v = R.robust_value_iteration(mdp, make(radius), tol=1e-10).values
            assert np.all(v <= prev + 1e-9), (make, radius)
            prev = v
    # penalties: larger lam (costlier adversary) gives larger values
    for make in (KLPenalty, TVPenalty, Chi2Penalty):
        prev = -np.inf
        for lam in (0.01, 0.1, 1.0, 10.0):
            v = R.robust_value_iteration(mdp, make(lam), tol=1e-10).values
            assert np.all(v >= prev - 1e-9) and np.all(v <= vi.values + 1e-9)
            prev = v


@pytest.mark.parametrize("seed", range(3))
def test_saddle_point_robust_value_is_min_over_static_kernels(seed):
    """sa-rectangular finite set: V*_robust = min over the m^(SA) static kernels of V*_P
    (brute force), and the worst kernel of the optimal policy attains it."""
    rng = np.random.default_rng(seed)
    S, A, m = 3, 2, 2
    kernels = rng.dirichlet(np.ones(S), size=(m, S, A))
    r = rng.uniform(size=(S, A))
    mdp = TabularMDP(kernels[0], r, 0.8)
    ks = KernelSet(list(kernels))
    rvi = R.robust_value_iteration(mdp, ks, tol=1e-12)
    np.testing.assert_allclose(rvi.values, brute_force_finite(mdp, ks), atol=1e-10)
    P_worst = rvi.params["worst_kernel"]
    np.testing.assert_allclose(optimal_values(mdp, P_worst), rvi.values, atol=1e-10)


def test_robust_vi_equals_lp_per_row():
    mdp = garnet(6, 2, 3, gamma=0.7, seed=4, sparse=False)
    ref = lp_robust_vi(mdp, 0.4, 1e-10)
    res = R.robust_value_iteration(mdp, L1Ball(0.4), tol=1e-11)
    np.testing.assert_allclose(res.values, ref, atol=1e-9)


@pytest.mark.parametrize("unc", SETS, ids=IDS)
def test_robust_policy_evaluation_worst_kernel(unc):
    mdp = garnet(10, 3, 4, gamma=0.9, seed=7)
    rng = np.random.default_rng(1)
    pi = rng.dirichlet(np.ones(3), size=10)
    pe = R.robust_policy_evaluation(mdp, unc, pi, tol=1e-10)
    assert pe.converged, pe.message
    # the robust value is the fixed point of T^pi, below the nominal value
    np.testing.assert_allclose(
        R.robust_bellman_operator(mdp, unc, pe.values, policy=pi), pe.values, atol=1e-9
    )
    assert np.all(pe.values <= dp.policy_evaluation(mdp, pi) + 1e-9)
    # the worst kernel is a static kernel whose value is the robust value (penalties: with the
    # adversary's penalty in the rewards)
    np.testing.assert_allclose(
        dp.policy_evaluation(pe.params["worst_mdp"], pi), pe.values, atol=1e-8
    )


def test_robust_mpi_equals_robust_vi_with_fewer_greedy_steps():
    mdp = garnet(40, 4, 5, gamma=0.95, seed=8)
    for unc in (
        L1Ball(0.3),
        KLBall(0.1),
        KernelSet(
            [
                mdp.to_dense().transitions,
                garnet(40, 4, 5, gamma=0.95, seed=9, sparse=False).transitions,
            ]
        ),
    ):
        vi = R.robust_value_iteration(mdp, unc, tol=1e-9)
        for evaluation in ("sweeps", "adversary"):
            mpi = R.robust_modified_policy_iteration(
                mdp, unc, m=20, evaluation=evaluation, tol=1e-9
            )
            assert mpi.converged
            np.testing.assert_allclose(mpi.values, vi.values, atol=1e-8)
            assert mpi.n_iterations < vi.n_iterations


def test_sparse_and_dense_agree_and_worst_kernel_format():
    mdp = garnet(25, 3, 4, gamma=0.9, seed=6)
    for unc in (L1Ball(0.2), KLBall(0.1), SRectL1Ball(0.4)):
        a = R.robust_value_iteration(mdp, unc, tol=1e-10)
        b = R.robust_value_iteration(mdp.to_dense(), unc, tol=1e-10)
        np.testing.assert_allclose(a.values, b.values, atol=1e-12)
        assert a.params["worst_kernel"].shape == (75, 25)
        assert b.params["worst_kernel"].shape == (25, 3, 25)


def test_srect_policy_randomises_and_is_robust_optimal():
    mdp = garnet(8, 3, 4, gamma=0.9, seed=11)
    unc = SRectL1Ball(0.8)
    res = R.robust_value_iteration(mdp, unc, tol=1e-10)
    pe = R.robust_policy_evaluation(mdp, unc, res.policy, tol=1e-11)
    np.testing.assert_allclose(pe.values, res.values, atol=1e-8)
    # every deterministic policy is at most as good against its own worst case
    for actions in itertools.islice(itertools.product(range(3), repeat=8), 0, 6561, 97):
        det = R.robust_policy_evaluation(mdp, unc, np.array(actions), tol=1e-9)
        assert np.all(det.values <= res.values + 1e-8)


def test_windy_walk_and_drpg_garnet_instances():
    mdp, ks = windy_walk()
    assert mdp.n_states == 36 and mdp.n_actions == 4 and ks.n_kernels == 25
    assert mdp.initial_distribution[0] == 1.0
    res = R.robust_value_iteration(mdp, ks, tol=1e-8)
    # the worst wind is the strongest one in every corridor: hull value = static alpha = 0.5
    strongest = TabularMDP(ks.transitions[-1], mdp.rewards, mdp.gamma)
    np.testing.assert_allclose(
        res.values, dp.value_iteration(strongest, tol=1e-10).values, atol=1e-8
    )
    nominal = dp.value_iteration(mdp, tol=1e-10)
    assert res.values[0] < nominal.values[0]
    g, ball = drpg_garnet(5, 6, 3, seed=0)
    assert g.n_states == 5 and ball.kappa.shape == (5, 6)
    assert np.all((ball.kappa >= 0.1) & (ball.kappa <= 0.5))
    assert np.all(np.count_nonzero(g.transitions, axis=2) == 3)


@pytest.mark.parametrize(
    "bad, match",
    [
        (dict(tol=-1.0), "tol"),
        (dict(max_iterations=0), "max_iterations"),
        (dict(initial_values=np.zeros(3)), "initial_values"),
    ],
)
def test_bad_arguments_name_the_field(bad, match):
    mdp = garnet(5, 2, 2, seed=0)
    with pytest.raises(ValueError, match=match):
        R.robust_value_iteration(mdp, L1Ball(0.1), **bad)


def test_generic_array_path_solves_like_the_kernels():
    """The NumPy path (CuPy's with device="gpu") gives the kernels' robust VI solution."""
    mdp = garnet(12, 3, 4, gamma=0.9, seed=12, sparse=False)
    for unc in (L1Ball(0.3), KLPenalty(0.5), TVPenalty(0.4)):
        a = R.robust_value_iteration(mdp, unc, tol=1e-10)
        R.USE_KERNELS = False
        try:
            b = R.robust_value_iteration(mdp, unc, tol=1e-10)
            with pytest.raises(ValueError, match="generic"):
                R.robust_value_iteration(mdp, KLBall(0.1), tol=1e-6)
        finally:
            R.USE_KERNELS = True
        np.testing.assert_allclose(a.values, b.values, atol=1e-9)
        np.testing.assert_array_equal(a.policy, b.policy)


@pytest.mark.parametrize("sparse", [False, True])
def test_action_masks(sparse):
    """Infeasible actions (``action_mask``, rewards ``-inf``, their transition rows all zero as
    the MDP type allows): every set's robust VI (and robust MPI, robust policy evaluation of
    its policy, soft-robust VI) never puts mass on them and equals the same problem with
    those actions feasible but rewarded -50 (never worth taking); at radius 0 it equals exact
    DP on the masked MDP."""
    from theory_rl.algorithms import rrmdp

    mdp, free, mask = masked_mdp_pair(sparse)
    sets = [*SETS, SRectL1Ball(0.3)]
    for unc in sets:
        if isinstance(unc, KernelSet):
            continue
        res = R.robust_value_iteration(mdp, unc, tol=1e-10)
        assert np.asarray(res.policy)[~mask].max() == 0.0
        np.testing.assert_allclose(
            res.values, R.robust_value_iteration(free, unc, tol=1e-10).values, atol=1e-9
        )
        mpi = R.robust_modified_policy_iteration(mdp, unc, m=5, tol=1e-10)
        np.testing.assert_allclose(mpi.values, res.values, atol=1e-9)
        pe = R.robust_policy_evaluation(mdp, unc, res.policy, tol=1e-11)
        np.testing.assert_allclose(pe.values, res.values, atol=1e-9)
    exact = dp.solve(mdp, tol=1e-10).values
    np.testing.assert_allclose(
        R.robust_value_iteration(mdp, L1Ball(0.0), tol=1e-10).values, exact, atol=1e-10
    )
    for pen in (KLPenalty(0.5), TVPenalty(0.3)):
        soft = rrmdp.soft_robust_value_iteration(mdp, pen, tol=1e-10)
        assert np.asarray(soft.policy)[~mask].max() == 0.0
        np.testing.assert_allclose(
            soft.values, rrmdp.soft_robust_value_iteration(free, pen, tol=1e-10).values, atol=1e-9
        )
