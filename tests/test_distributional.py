"""Distributional DP: exact metrics, projections, categorical/quantile evaluation and the
stock-augmented optimisation, against closed forms, scipy, Monte Carlo and brute force."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.stats import energy_distance
from scipy.stats import wasserstein_distance as scipy_w1

from theory_rl.algorithms import distributional as D
from theory_rl.algorithms import sampling
from theory_rl.algorithms._stock_reference import brute_force, occupancy_lp
from theory_rl.algorithms.exact import reference
from theory_rl.bounds import pires2025, rowland2018
from theory_rl.mdps import FiniteHorizonMDP, InvalidMDPError, TabularMDP, garnet, random_mdp


def coin_mdp(gamma=0.5, values=(0.0, 1.0)):
    """One state, one action, reward 0 or 1 with probability 1/2: U[0, 2] at gamma = 1/2."""
    return TabularMDP(
        np.ones((1, 1, 1)),
        None,
        gamma,
        reward_distribution=(np.array([[list(values)]]), np.array([[[0.5, 0.5]]])),
    )


def sas_mdp(seed=0, S=6, A=3, gamma=0.8):
    rng = np.random.default_rng(seed)
    P = rng.dirichlet(np.ones(S), size=(S, A))
    P[P < 0.08] = 0.0
    P /= P.sum(-1, keepdims=True)
    return TabularMDP(P, rng.uniform(0, 1, size=(S, A, S)), gamma)


def law_mdp(seed=0, S=5, A=2, gamma=0.7):
    rng = np.random.default_rng(seed)
    P = rng.dirichlet(np.ones(S), size=(S, A))
    vals = rng.uniform(-1, 1, size=(S, A, 3))
    return TabularMDP(P, None, gamma, reward_distribution=(vals, rng.dirichlet(np.ones(3), (S, A))))


# ------------------------------------------------------------------------------------------
# TabularMDP reward detail
# ------------------------------------------------------------------------------------------
def test_tabular_keeps_sas_rewards_and_reward_laws():
    m = sas_mdp()
    assert m.rewards_sas.shape == (6, 3, 6) and not m.rewards_sas.flags.writeable
    np.testing.assert_allclose(m.rewards, (m.transitions * m.rewards_sas).sum(-1))
    assert m.to_sparse().rewards_sas is not None and m.with_gamma(0.5).rewards_sas is not None
    c = coin_mdp()
    assert c.rewards[0, 0] == 0.5
    with pytest.raises(ValueError, match="not the mean"):
        TabularMDP(
            np.ones((1, 1, 1)), np.array([[0.4]]), 0.5, reward_distribution=c.reward_distribution
        )
    with pytest.raises(ValueError, match="reward_distribution probs"):
        TabularMDP(
            np.ones((1, 1, 1)),
            None,
            0.5,
            reward_distribution=(np.zeros((1, 1, 2)), np.array([[[0.5, 0.6]]])),
        )
    with pytest.raises(InvalidMDPError, match="rewards_sas"):
        TabularMDP(m.transitions, m.rewards + 1.0, 0.8, rewards_sas=m.rewards_sas)


# ------------------------------------------------------------------------------------------
# metrics
# ------------------------------------------------------------------------------------------
def test_metrics_match_scipy_and_brute_force():
    rng = np.random.default_rng(0)
    for _ in range(20):
        a, b = rng.normal(size=7), rng.normal(size=4)
        a[2] = b[1]  # a shared atom
        pa, pb = rng.dirichlet(np.ones(7)), rng.dirichlet(np.ones(4))
        assert abs(D.wasserstein_distance(a, b, pa, pb) - scipy_w1(a, b, pa, pb)) < 1e-12
        # energy distance = sqrt(2) * Cramér l2 (scipy's definition)
        assert (
            abs(math.sqrt(2) * D.cramer_distance(a, b, pa, pb) - energy_distance(a, b, pa, pb))
            < 1e-12
        )
        # w_inf by brute force on a fine tau grid (inf-convention quantile functions)
        taus = (np.arange(200_000) + 0.5) / 200_000
        qa = np.sort(a)[np.minimum(np.searchsorted(np.cumsum(pa[np.argsort(a)]), taus), 6)]
        qb = np.sort(b)[np.minimum(np.searchsorted(np.cumsum(pb[np.argsort(b)]), taus), 3)]
        w_inf = D.wasserstein_distance(a, b, pa, pb, order=math.inf)
        assert w_inf >= np.abs(qa - qb).max() - 1e-12
        assert w_inf <= np.abs(qa - qb).max() + 1e-12 or np.isclose(w_inf, np.abs(qa - qb).max())


def test_metrics_batched_and_quantile_forms():
    rng = np.random.default_rng(1)
    x, y = np.sort(rng.normal(size=(4, 9)), 1), np.sort(rng.normal(size=(4, 9)), 1)
    np.testing.assert_allclose(D.wasserstein_distance(x, y), np.abs(x - y).mean(1), atol=1e-12)
    np.testing.assert_allclose(
        D.wasserstein_distance(x, y, order="inf"), np.abs(x - y).max(1), atol=1e-12
    )
    theta = np.linspace(0, 1, 6)
    p, q = rng.dirichlet(np.ones(6), 3), rng.dirichlet(np.ones(6), 3)
    sig = theta[1] - theta[0]
    F, G = np.cumsum(p, 1)[:, :-1], np.cumsum(q, 1)[:, :-1]
    np.testing.assert_allclose(
        D.cramer_distance(theta, theta, p, q) ** 2, sig * ((F - G) ** 2).sum(1), atol=1e-14
    )
    assert D.cramer_distance(x, x).max() == 0.0


def test_cvar_by_hand():
    assert D.cvar([3.0, 0.0, 2.0, 1.0], alpha=0.25) == 0.0
    assert abs(D.cvar([0.0, 10.0], [0.2, 0.8], alpha=0.5) - (0.2 * 0 + 0.3 * 10) / 0.5) < 1e-12
    assert abs(D.cvar([0.0, 10.0], [0.2, 0.8], alpha=1.0) - 8.0) < 1e-12
    with pytest.raises(ValueError, match="alpha"):
        D.cvar([0.0], alpha=0.0)


# ------------------------------------------------------------------------------------------
# projections
# ------------------------------------------------------------------------------------------
def floor_ceil_projection(y, p, theta):
    """The C51 floor/ceil projection with its bug: mass at integer positions is lost."""
    sig = theta[1] - theta[0]
    out = np.zeros(theta.size)
    for yy, pp in zip(y, p, strict=True):
        b = (np.clip(yy, theta[0], theta[-1]) - theta[0]) / sig
        lo, hi = int(np.floor(b)), int(np.ceil(b))
        out[lo] += pp * (hi - b)
        out[hi] += pp * (b - lo)
    return out


def test_categorical_projection_keeps_mass_on_support_points():
    theta = np.linspace(-1, 1, 5)
    y, p = np.array([0.0, 0.5, 0.2, 7.0, -3.0]), np.array([0.3, 0.2, 0.2, 0.2, 0.1])
    proj = D.categorical_projection(y, p, support=theta)
    assert abs(proj.sum() - 1.0) < 1e-15
    assert proj[2] > 0.3 and proj[4] == pytest.approx(0.2) and proj[0] == pytest.approx(0.1)
    buggy = floor_ceil_projection(y, p, theta)
    assert buggy.sum() < 0.5  # the floor/ceil formula drops the on-atom masses ...
    assert abs(proj.sum() - 1.0) < 1e-15  # ... which the kernel form keeps
    # mean preserved for laws inside the support; orthogonal projection: closest law on theta
    rng = np.random.default_rng(2)
    y, p = rng.uniform(-1, 1, 30), rng.dirichlet(np.ones(30))
    proj = D.categorical_projection(y, p, support=theta)
    assert abs(proj @ theta - p @ y) < 1e-14
    d0 = D.cramer_distance(theta, y, proj, p)
    for q in rng.dirichlet(np.ones(5), 200):
        assert D.cramer_distance(theta, y, q, p) >= d0 - 1e-14


def test_quantile_projection_tie_convention():
    # cumulative weights 1/4, 1/2, 3/4, 1: tau = 1/4 and 3/4 land exactly on them.
    q = D.quantile_projection([3.0, 0.0, 2.0, 1.0], n_quantiles=2)
    np.testing.assert_array_equal(q, [0.0, 2.0])  # inf{x : F(x) >= tau}: the lower atom
    # float sums just below tau still count as reaching it
    w = 0.7 - 0.6  # 0.09999999999999998: tau_1 = 1/10 is reached within TIE_TOL
    q = D.quantile_projection([0.0, 1.0], [w, 1.0 - w], n_quantiles=5)
    np.testing.assert_array_equal(q, [0.0, 1.0, 1.0, 1.0, 1.0])
    with pytest.raises(ValueError, match="n_quantiles"):
        D.quantile_projection([0.0], n_quantiles=1)


# ------------------------------------------------------------------------------------------
# one step: kernels agree, contractions hold
# ------------------------------------------------------------------------------------------
MDPS = {
    "garnet": lambda: garnet(12, 3, 4, gamma=0.9, seed=3),
    "dense": lambda: random_mdp(7, 3, gamma=0.8, seed=4),
    "sas": sas_mdp,
    "law": law_mdp,
}


@pytest.mark.parametrize("name", sorted(MDPS))
def test_kernels_agree_and_contract(name):
    mdp = MDPS[name]()
    rng = np.random.default_rng(5)
    S, A = mdp.n_states, mdp.n_actions
    pi = rng.dirichlet(np.ones(A), S)
    lo, hi = D._value_range(mdp)
    theta = np.linspace(lo, hi, 11)
    variants = [mdp, mdp.to_sparse() if not mdp.is_sparse else mdp.to_dense()]
    for _ in range(5):
        p, p2 = rng.dirichlet(np.ones(11), S), rng.dirichlet(np.ones(11), S)
        outs = [
            D.categorical_step(m, pi, p, support=theta, kernel=k)
            for m in variants
            for k in ("numba", "generic")
        ]
        for o in outs[1:]:
            np.testing.assert_allclose(o, outs[0], atol=1e-13)
        o2 = D.categorical_step(mdp, pi, p2, support=theta)
        lhs = D.cramer_distance(theta, theta, outs[0], o2).max()
        assert lhs <= math.sqrt(mdp.gamma) * D.cramer_distance(theta, theta, p, p2).max() + 1e-12
        x, x2 = rng.uniform(lo, hi, (S, 8)), rng.uniform(lo, hi, (S, 8))
        qs = [D.quantile_step(m, pi, x, kernel=k) for m in variants for k in ("numba", "generic")]
        for o in qs[1:]:
            np.testing.assert_allclose(o, qs[0], atol=1e-13)
        q2 = D.quantile_step(mdp, pi, x2)
        lhs = D.wasserstein_distance(qs[0], q2, order="inf").max()
        assert lhs <= mdp.gamma * D.wasserstein_distance(x, x2, order="inf").max() + 1e-12


def test_categorical_step_against_hand_formula():
    mdp = sas_mdp(S=3, A=2)
    theta = np.linspace(0, 5, 6)
    p = np.random.default_rng(0).dirichlet(np.ones(6), 3)
    pi = np.array([0, 1, 1])
    want = np.zeros((3, 6))
    for s in range(3):
        a = pi[s]
        for t in range(3):
            want[s] += mdp.transitions[s, a, t] * D.categorical_projection(
                mdp.rewards_sas[s, a, t] + mdp.gamma * theta, p[t], support=theta
            )
    np.testing.assert_allclose(D.categorical_step(mdp, pi, p, support=theta), want, atol=1e-14)


# ------------------------------------------------------------------------------------------
# fixed points
# ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", sorted(MDPS))
def test_categorical_fixed_point_preserves_the_mean(name):
    mdp = MDPS[name]()
    pi = np.random.default_rng(1).dirichlet(np.ones(mdp.n_actions), mdp.n_states)
    res = D.categorical_evaluation(
        mdp, pi, n_atoms=31, n_iterations=2000, tol=1e-13, record=("change", "mean_error")
    )
    assert res.converged
    assert res.history["mean_error"][-1] < 1e-9
    v = D._policy_values(mdp, pi)
    assert np.abs(res.values - v).max() < 1e-9
    change = res.history["change"][1:]
    assert np.all(change[1:] <= math.sqrt(mdp.gamma) * change[:-1] + 1e-12)


@pytest.mark.parametrize("m", [5, 11])
def test_uniform_0_2_closed_forms(m):
    mdp = coin_mdp()
    theta = np.linspace(0, 2, m)
    sig = theta[1] - theta[0]
    res = D.categorical_evaluation(mdp, [0], support=theta, n_iterations=200, tol=1e-15)
    p = res.params["probs"][0]
    # l2^2 to U[0, 2] (F(x) = x/2), integrated exactly
    l2sq = to_uniform_0_2(theta, p, 2)
    assert abs(l2sq - sig**2 / 24) < 1e-13
    assert l2sq <= rowland2018.categorical_spacing_bound(sig, 0.5) ** 2
    assert abs(res.values[0] - 1.0) < 1e-12
    q = D.quantile_evaluation(mdp, [0], n_quantiles=m, n_iterations=200, tol=1e-15)
    np.testing.assert_allclose(q.params["atoms"][0], 2 * np.arange(m) / m, atol=1e-12)
    assert abs(q.values[0] - (1 - 1 / m)) < 1e-12
    assert abs(to_uniform_0_2(q.params["atoms"][0], np.full(m, 1 / m), 1) - 1 / m) < 1e-13


def to_uniform_0_2(atoms, probs, power):
    """Exact integral of |F - x/2|^power over [0, 2] for a finite law inside [0, 2]."""
    order = np.argsort(atoms)
    x = np.concatenate([[0.0], np.asarray(atoms, float)[order], [2.0]])
    c = np.concatenate([[0.0], np.cumsum(np.asarray(probs, float)[order])])
    total = 0.0
    for x0, x1, ci in zip(x[:-1], x[1:], c, strict=True):
        pts = [x0, *([2 * ci] if x0 < 2 * ci < x1 else []), x1]
        for a, b in zip(pts[:-1], pts[1:], strict=False):
            # |x/2 - ci| is linear with one sign on [a, b]
            ga, gb = abs(a / 2 - ci), abs(b / 2 - ci)
            total += (
                2
                * (gb ** (power + 1) - ga ** (power + 1))
                / (power + 1)
                * np.sign((b - a) * ((a + b) / 4 - ci))
                if gb != ga
                else 0.0
            )
    return total


def cantor_law(level):
    """Level-``level`` approximation of the Cantor law on [0, 3] (G = sum 3^-t {0, 2})."""
    atoms = np.zeros(1)
    for t in range(level):
        atoms = np.concatenate([atoms, atoms + 2.0 / 3**t])
    return atoms, np.full(atoms.size, 1.0 / atoms.size)


def test_cantor_law_at_gamma_one_third():
    mdp = coin_mdp(gamma=1 / 3, values=(0.0, 2.0))
    atoms, probs = cantor_law(12)  # w_inf to the Cantor law <= 3^-11 (tail sum)
    tail = 3.0**-11
    theta = np.linspace(0, 3, 28)
    res = D.categorical_evaluation(
        mdp,
        [0],
        support=theta,
        n_iterations=100,
        tol=1e-15,
        reference=(atoms[None], probs[None]),
        record=("sup_cramer",),
    )
    assert abs(res.values[0] - 1.5) < 1e-12
    eps = D.cramer_distance(
        theta, atoms, D.categorical_projection(atoms, probs, support=theta), probs
    )
    bound = rowland2018.categorical_fixed_point_bound(eps, 1 / 3) + 2 * math.sqrt(3 * tail)
    assert res.history["sup_cramer"][-1] <= bound
    q = D.quantile_evaluation(
        mdp,
        [0],
        n_quantiles=16,
        n_iterations=100,
        tol=1e-15,
        reference=(atoms[None], probs[None]),
        record=("sup_winf",),
    )
    eps = D.wasserstein_distance(
        D.quantile_projection(atoms, probs, n_quantiles=16), atoms, None, probs, order="inf"
    )
    assert q.history["sup_winf"][-1] <= rowland2018.quantile_fixed_point_bound(
        eps, 1 / 3
    ) + 2 * tail / (1 - 1 / 3)


def test_monte_carlo_agreement_with_dkw_tolerance():
    mdp = random_mdp(5, 2, gamma=0.8, seed=7)
    pi = np.array([0, 1, 1, 0, 1])
    lo, hi = D._value_range(mdp)
    H = math.ceil(math.log(1e-4 / max(abs(lo), abs(hi))) / math.log(mdp.gamma))
    N, delta = 20_000, 1e-3
    samples = sampling.rollout_returns(mdp, pi, n_rollouts=N, horizon=H, seed=0)
    mc = samples[np.arange(5), pi]  # (S, N) returns from each state
    eps = rowland2018.dkw_epsilon(N, delta / 5)  # union over states
    L, trunc = hi - lo, 1e-4
    errs = []
    for m in (11, 51, 201):
        theta = np.linspace(lo, hi, m)
        res = D.categorical_evaluation(mdp, pi, support=theta, n_iterations=400, tol=1e-12)
        l2 = D.cramer_distance(np.broadcast_to(theta, (5, m)), mc, res.params["probs"]).max()
        bound = rowland2018.categorical_spacing_bound(theta[1] - theta[0], mdp.gamma)
        assert l2 <= bound + math.sqrt(L) * eps + math.sqrt(L * trunc)
        errs.append(l2)
    assert errs[0] > errs[1] > errs[2]
    for m in (10, 50):
        q = D.quantile_evaluation(mdp, pi, n_quantiles=m, n_iterations=400, tol=1e-12)
        w1 = D.wasserstein_distance(q.params["atoms"], mc).max()
        assert w1 <= rowland2018.quantile_w1_bound(lo, hi, m, mdp.gamma) + L * eps + trunc


# ------------------------------------------------------------------------------------------
# stock augmentation
# ------------------------------------------------------------------------------------------
def integer_instance(seed, H=3):
    rng = np.random.default_rng(seed)
    P = rng.dirichlet(np.ones(2), size=(2, 2))
    r = rng.integers(-3, 4, size=(2, 2)).astype(float)
    return FiniteHorizonMDP(P, r, H)


def test_mean_objective_gives_classic_values():
    mdp = garnet(20, 3, 4, gamma=0.85, seed=2)
    res = D.distributional_value_iteration(mdp, "mean", n_stocks=31, n_iterations=400, tol=1e-13)
    ref = reference(mdp)
    grid, U = res.params["stock_grid"], res.params["stock_values"]
    assert np.abs(U - (grid[None] + ref.values[:, None])).max() < 1e-9
    assert np.abs(res.values - ref.values).max() < 1e-9
    np.testing.assert_array_equal(res.policy.argmax(1), ref.policy.argmax(1))


@pytest.mark.parametrize("seed", [*range(12), "sep29", "sep49"])
def test_cvar_exact_mode_equals_brute_force(seed):
    mdp = integer_instance(int(seed[3:]), H=4) if isinstance(seed, str) else integer_instance(seed)
    alphas = np.array([0.1, 0.25, 0.5, 1.0])
    res = D.cvar_optimal_policy(mdp, alphas)
    for i, al in enumerate(alphas):
        for s0 in range(2):
            bf, _ = brute_force(mdp, s0, alpha=al)
            assert abs(res.values[i, s0] - bf) < 1e-9
    if isinstance(seed, str):  # instances where history dependence pays
        bf, _ = brute_force(mdp, 0, alpha=0.25)
        markov, _ = brute_force(mdp, 0, alpha=0.25, policy_class="markov")
        assert markov < bf - 1e-6 and abs(res.values[1, 0] - bf) < 1e-9


def test_occupancy_lp_matches_backward_induction():
    f = lambda x: np.minimum(x, 0.0)  # noqa: E731
    for seed in range(4):
        mdp = integer_instance(seed)
        U, _, lo, _ = D._integer_backward(mdp, f)
        for c0 in (-4, -1, 0, 2):
            assert abs(occupancy_lp(mdp, 0, c0, f) - U[0, 0, c0 - lo]) < 1e-7


def test_dvi_gamma_n_bound_and_dpi_monotone():
    mdp = garnet(10, 3, 3, gamma=0.8, seed=1)
    for obj in ("cvar", "homeostasis"):
        star = D.distributional_value_iteration(mdp, obj, n_stocks=41, n_iterations=2000, tol=1e-13)
        U_star = star.params["stock_values"]
        res = D.distributional_value_iteration(
            mdp, obj, n_stocks=41, n_iterations=60, record=("error",), reference=U_star
        )
        err = res.history["error"]
        n = np.arange(err.size)
        lo, hi = D._value_range(mdp)
        g0 = pires2025.dvi_initial_gap_bound(
            1.0,
            max(abs(lo), abs(hi)),
            spacing=np.diff(star.params["stock_grid"]).max(),
            gamma=mdp.gamma,
        )
        assert err[0] <= g0
        assert np.all(err <= pires2025.dvi_value_bound(err[0], mdp.gamma, n) + 1e-12)
        dpi = D.distributional_policy_iteration(mdp, obj, n_stocks=41)
        assert dpi.converged and np.all(dpi.history["improvement"][1:] >= -1e-9)
        assert np.abs(dpi.params["stock_values"] - U_star).max() < 1e-8


@pytest.mark.parametrize("objective", ["mean", "cvar", "homeostasis", "constraint"])
def test_stock_kernel_matches_the_generic_path(objective):
    mdp = garnet(30, 3, 4, gamma=0.85, seed=5)
    grid = D._StockGrid(mdp, D._objective(objective), None, 25)
    U = np.random.default_rng(0).normal(size=(30, 25))
    np.testing.assert_allclose(grid.q(U), grid.q_generic(U), rtol=0, atol=1e-13)


def test_discounted_cvar_alpha_one_is_the_mean_and_grid_errors():
    mdp = random_mdp(4, 2, gamma=0.7, seed=3)
    ref = reference(mdp)
    res = D.cvar_optimal_policy(mdp, [0.2, 1.0], n_stocks=81)
    assert np.abs(res.values[1] - ref.values).max() < 1e-9
    assert np.all(res.values[0] <= res.values[1] + 1e-12)
    lo, hi = D._value_range(mdp)
    with pytest.raises(ValueError, match="would be clipped"):
        D.cvar_optimal_policy(mdp, 0.5, stock_grid=np.linspace(-hi / 2, -lo, 11))


def test_exponential_negative_control():
    f = lambda x: -np.exp(-1.5 * np.asarray(x))  # noqa: E731
    counts = {}
    for gamma in (0.5, 1.0):
        counts[gamma] = 0
        for seed in range(30):
            rng = np.random.default_rng(seed)
            P = rng.dirichlet(np.ones(2), size=(2, 2))
            mdp = FiniteHorizonMDP(P, rng.normal(size=(2, 2)), 3, gamma=gamma)
            dvi = D.distributional_value_iteration(mdp, "exponential", risk_aversion=1.5)
            bf, _ = brute_force(mdp, 0, f=f)
            assert dvi.values[0] <= bf + 1e-9
            counts[gamma] += dvi.values[0] < bf - 1e-9
            if gamma == 0.5 and seed < 8:  # homogeneous f: DVI optimal at any gamma
                dvi = D.distributional_value_iteration(mdp, "homeostasis")
                bf, _ = brute_force(mdp, 0, f=lambda x: -np.abs(x))
                assert abs(dvi.values[0] - bf) < 1e-9
    assert counts[1.0] == 0 and counts[0.5] >= 1


# ------------------------------------------------------------------------------------------
# bad input
# ------------------------------------------------------------------------------------------
def test_bad_inputs_name_the_field():
    mdp = random_mdp(3, 2, gamma=0.5, seed=0)
    with pytest.raises(ValueError, match="support must be strictly increasing"):
        D.categorical_evaluation(mdp, [0, 0, 0], support=[0.0, 1.0, 1.0, 2.0])
    with pytest.raises(ValueError, match="m >= 2"):
        D.categorical_evaluation(mdp, [0, 0, 0], support=[0.0])
    with pytest.raises(ValueError, match="n_quantiles"):
        D.quantile_evaluation(mdp, [0, 0, 0], n_quantiles=1)
    with pytest.raises(ValueError, match="u_probs must sum to 1"):
        D.cramer_distance([0.0, 1.0], [0.0], [0.5, 0.6])
    with pytest.raises(ValueError, match="alpha"):
        D.cvar_optimal_policy(mdp, 1.5)
    with pytest.raises(ValueError, match="not an integer"):
        D.cvar_optimal_policy(FiniteHorizonMDP(mdp.transitions, mdp.rewards + 0.5, 2), 0.5)
    with pytest.raises(ValueError, match="not positively homogeneous"):
        D.distributional_value_iteration(mdp, "exponential")
    with pytest.raises(ValueError, match="objective"):
        D.distributional_value_iteration(mdp, "median")
    with pytest.raises(ValueError, match="initial_probs|initial"):
        D.categorical_evaluation(mdp, [0, 0, 0], n_atoms=5, initial_probs=np.ones((3, 5)))
    with pytest.raises(ValueError, match="kernel"):
        D.categorical_evaluation(mdp, [0, 0, 0], kernel="cuda")
    assert sp.issparse(garnet(5, 2, 2, seed=0).transitions)


def test_constraint_satisfaction_objective():
    f = lambda x: (np.asarray(x) >= 0).astype(float)  # noqa: E731
    for seed in range(6):
        mdp = integer_instance(seed)
        for c0 in (-2.0, 0.0, 1.0):
            dvi = D.distributional_value_iteration(mdp, "constraint", initial_stock=c0)
            bf, _ = brute_force(mdp, 0, f=f, initial_stock=c0)
            assert abs(dvi.values[0] - bf) < 1e-12
            U, _, lo, _ = D._integer_backward(mdp, f)  # exact mode agrees (gamma = 1)
            assert abs(U[0, 0, int(c0) - lo] - bf) < 1e-12
    grid = D.distributional_value_iteration(
        garnet(8, 2, 3, gamma=0.8, seed=0), "constraint", n_stocks=31, n_iterations=50
    )
    U = grid.params["stock_values"]
    assert U.min() >= -1e-12 and U.max() <= 1 + 1e-12 and np.all(np.diff(U, axis=1) >= -1e-12)
    with pytest.raises(ValueError, match="degree >= 1"):
        D.distributional_policy_iteration(garnet(8, 2, 3, gamma=0.8, seed=0), "constraint")


def test_bounds_by_hand():
    # rowland2018: sqrt(0.25) = 0.5; eps/sqrt(1-gamma) = 0.1/sqrt(0.25) = 0.2;
    # sqrt(spacing/(1-gamma)) = sqrt(0.5/0.5) = 1; eps/(1-gamma) = 0.1/0.5 = 0.2;
    # 3 (2 - 0) / (2 * 3 * 0.5) = 2; DKW: sqrt(ln(2/0.05)/(2*100)) = sqrt(3.6889/200)
    assert rowland2018.contraction_factor("categorical", 0.25) == 0.5
    assert rowland2018.contraction_factor("quantile", 0.25) == 0.25
    assert float(rowland2018.categorical_fixed_point_bound(0.1, 0.75)) == pytest.approx(0.2)
    assert rowland2018.categorical_spacing_bound(0.5, 0.5) == pytest.approx(1.0)
    assert float(rowland2018.quantile_fixed_point_bound(0.1, 0.5)) == pytest.approx(0.2)
    assert rowland2018.quantile_w1_bound(0.0, 2.0, 3, 0.5) == pytest.approx(2.0)
    assert rowland2018.dkw_epsilon(100, 0.05) == pytest.approx(math.sqrt(math.log(40) / 200))
    # pires2025: gamma^n g0 = 2 * 0.5^3 = 0.25; L (G + h/(2(1-gamma))) = 2 (10 + 0.5/(2*0.5));
    # 2 gamma gap/(1-gamma) = 2 * 0.9 * 0.1 / 0.1 = 1.8
    assert float(pires2025.dvi_value_bound(2.0, 0.5, 3)) == pytest.approx(0.25)
    assert pires2025.dvi_initial_gap_bound(2.0, 10.0, spacing=0.5, gamma=0.5) == pytest.approx(21)
    assert float(pires2025.dvi_policy_gap_bound(0.1, 0.9)) == pytest.approx(1.8)
    with pytest.raises(ValueError, match="gamma"):
        rowland2018.contraction_factor("categorical", 1.0)
    with pytest.raises(ValueError, match="kind"):
        rowland2018.contraction_factor("normal", 0.5)


def test_categorical_stock_representation():
    mdp = garnet(10, 3, 3, gamma=0.8, seed=1)
    errors = {}
    for obj in ("mean", "cvar"):
        star = D.distributional_value_iteration(mdp, obj, n_stocks=21, n_iterations=2000, tol=1e-13)
        U = star.params["stock_values"]
        for m in (11, 51):
            res = D.distributional_value_iteration(
                mdp, obj, n_stocks=21, n_iterations=150, representation="categorical", n_atoms=m
            )
            laws = res.params["stock_laws"]
            assert laws.shape == (10, 21, m) and np.allclose(laws.sum(-1), 1.0)
            errors[obj, m] = float(np.abs(res.params["stock_values"] - U).max())
    # the mean is preserved by the projection: K = c + E G is exact at every m
    assert errors["mean", 11] < 1e-9 and errors["mean", 51] < 1e-9
    # CVaR carries a representation error that shrinks with m
    assert errors["cvar", 51] < errors["cvar", 11]
    with pytest.raises(ValueError, match="representation"):
        D.distributional_value_iteration(mdp, "cvar", representation="moments")


def test_quantile_stock_representation_on_the_grid():
    mdp = garnet(10, 3, 3, gamma=0.8, seed=1)
    star = D.distributional_value_iteration(mdp, "mean", n_stocks=21, n_iterations=2000, tol=1e-13)
    errors = {}
    for m in (11, 51):
        res = D.distributional_value_iteration(
            mdp, "mean", n_stocks=21, n_iterations=80, representation="quantile", n_atoms=m
        )
        atoms = res.params["stock_laws"]
        assert atoms.shape == (10, 21, m) and np.all(np.diff(atoms, axis=-1) >= 0)
        assert "support" not in res.params and res.params["representation"] == "quantile"
        # K = mean of f(c + atoms) at every (s, c)
        grid = res.params["stock_grid"]
        np.testing.assert_allclose(
            res.params["stock_values"], (grid[None, :, None] + atoms).mean(-1), atol=1e-12
        )
        errors[m] = float(np.abs(res.params["stock_values"] - star.params["stock_values"]).max())
    # the quantile projection does not keep the mean: an error that shrinks with m
    assert 0 < errors[51] < errors[11]


def _fh_instance(seed, gamma, horizon=4):
    rng = np.random.default_rng(seed)
    P = rng.dirichlet(np.ones(2), size=(2, 2))
    return FiniteHorizonMDP(P, rng.normal(size=(2, 2)), horizon, gamma=gamma)


@pytest.mark.parametrize("gamma", [0.9, 1.0])
def test_quantile_stock_finite_horizon_against_brute_force(gamma):
    f = {"cvar": lambda x: np.minimum(x, 0.0), "homeostasis": lambda x: -np.abs(x)}
    ms = (2, 8, 32, 128)
    worst = dict.fromkeys(ms, 0.0)
    for seed in range(3):
        mdp = _fh_instance(seed, gamma)
        c0 = -float(D.distributional_value_iteration(mdp, "mean").values[0])
        span = float(np.ptp(mdp.rewards_at(0)))
        for obj in ("cvar", "homeostasis"):
            exact = D.distributional_value_iteration(mdp, obj, initial_stock=c0)
            bf = [brute_force(mdp, s, f=f[obj], initial_stock=c0)[0] for s in range(2)]
            np.testing.assert_allclose(exact.values, bf, atol=1e-12)
            for m in ms:
                res = D.distributional_value_iteration(
                    mdp, obj, initial_stock=c0, representation="quantile", n_atoms=m
                )
                assert res.params["representation"] == "quantile" and not res.params["exact"]
                assert all(law[0].size == m for law in res.params["laws"])
                err = float(np.abs(res.values - np.asarray(bf)).max())
                bound = pires2025.quantile_stock_error_bound(span, gamma, 4, m)
                assert err <= bound
                worst[m] = max(worst[m], err)
    # the error shrinks with m, at least like m^(-1/2) (measured exponent about -1)
    slope = np.polyfit(np.log(ms), np.log([worst[m] for m in ms]), 1)[0]
    assert slope <= -0.5, (worst, slope)


def test_quantile_stock_one_step_matches_numpy_quantiles():
    from theory_rl.experiments.claims.distributional.stock_dvi import _two_step_numpy

    mdp = _fh_instance(5, 0.8, horizon=2)
    for m in (2, 3, 7, 64):
        for obj in ("cvar", "homeostasis"):
            res = D.distributional_value_iteration(
                mdp, obj, initial_stock=-0.3, representation="quantile", n_atoms=m
            )
            want = _two_step_numpy(mdp, obj, -0.3, m)
            np.testing.assert_allclose(res.values, want, atol=1e-13)


def test_quantile_stock_bad_input():
    mdp = _fh_instance(0, 1.0)
    with pytest.raises(ValueError, match="representation"):
        D.distributional_value_iteration(mdp, "cvar", representation="categorical")
    with pytest.raises(ValueError, match="n_atoms"):
        D.distributional_value_iteration(mdp, "cvar", representation="quantile", n_atoms=1)
    assert pires2025.quantile_stock_error_bound(2.0, 1.0, 3, 4, tie_tol=0.0) == pytest.approx(
        2.0 * 6 / 8
    )  # dR H (H + 1) / (4 M)
    g = 0.5  # sum_t g^t sum_{u<H-t} g^u at H = 2: (1 + g) + g
    assert pires2025.quantile_stock_error_bound(1.0, g, 2, 2, tie_tol=0.0) == pytest.approx(
        0.25 * (1 + 2 * g)
    )
    with pytest.raises(ValueError, match="n_quantiles"):
        pires2025.quantile_stock_error_bound(1.0, 0.5, 2, 1)
    with pytest.raises(ValueError, match="gamma"):
        pires2025.quantile_stock_error_bound(1.0, 0.0, 2, 2)


def _exponential_law_dvi(mdp, beta, n):
    """Stock-free backward greedy on exact laws: ``eta_{k+1}(s) = T^a eta_k(s)``, ``a`` maximising
    ``E[-exp(-beta G)]`` (exponential utility is invariant to the stock: K_c = e^{-beta c} K_0)."""
    S, A, g = mdp.n_states, mdp.n_actions, mdp.gamma
    P = mdp.transition_matrix
    P = (P.toarray() if sp.issparse(P) else np.asarray(P)).reshape(S, A, S)
    laws = [(np.zeros(1), np.ones(1))] * S
    for _ in range(n):
        new = []
        for s in range(S):
            best = None
            for a in range(A):
                x = np.concatenate([mdp.rewards[s, a] + g * laws[t][0] for t in range(S)])
                p = np.concatenate([P[s, a, t] * laws[t][1] for t in range(S)])
                k = float(p @ -np.exp(-beta * x))
                if best is None or k > best[0]:
                    best = (k, x, p)
            new.append(D._merge(best[1], best[2]))
        laws = new
    return np.array([float(p @ -np.exp(-beta * x)) for x, p in laws])


@pytest.mark.parametrize("representation", ["categorical", "quantile"])
def test_exponential_utility_on_the_stock_grid(representation):
    mdp = garnet(5, 2, 2, gamma=0.7, seed=3)
    want = _exponential_law_dvi(mdp, 1.5, 6)
    errors = []
    for m in (25, 100, 400):
        res = D.distributional_value_iteration(
            mdp,
            "exponential",
            risk_aversion=1.5,
            n_stocks=7,
            n_iterations=6,
            representation=representation,
            n_atoms=m,
        )
        laws, pol = res.params["stock_laws"], res.params["stock_policy"]
        # the laws and the greedy actions do not depend on the stock
        assert np.abs(laws - laws[:, :1]).max() < 1e-12 and (pol == pol[:, :1]).all()
        # values off the grid: the exact rescaling e^{-beta c}
        grid = res.params["stock_grid"]
        U = res.params["stock_values"]
        np.testing.assert_allclose(U, U[:, :1] * np.exp(-1.5 * (grid - grid[0])), rtol=1e-9)
        errors.append(float(np.abs(res.values - want).max()))
    assert errors[-1] < errors[0] / 4, errors  # about 1/m
    with pytest.raises(ValueError, match="homogeneous"):
        D.distributional_value_iteration(mdp, "exponential")
    with pytest.raises(ValueError, match="homogeneous"):
        D.distributional_policy_iteration(mdp, "exponential")
