"""Power of the NPG, PG and Nash claims: each planted bug makes at least one verdict fail.

Every bug is monkeypatched into the algorithm module (``theory_rl.algorithms.npg``, ``pg``,
``nash``), the bound module or the claim module's namespace, one at a time; the claim's compute
runs on its quick grid (or the smaller grid named below) and its check must fail, while the
same grid holds without the bug.  Clean runs are computed once per module.
"""

from __future__ import annotations

import numpy as np
import pytest

from theory_rl.algorithms import mirror, nash, npg, pg
from theory_rl.bounds import cen2022, mei2020, munos2024, tiapkin2025
from theory_rl.experiments.checks import two_sided_t_power
from theory_rl.experiments.claims.nash import nash_comparison, nash_mp_rate, nash_mp_sampled
from theory_rl.experiments.claims.npg import npg_agarwal, npg_cen, npg_chain, npg_hnpg
from theory_rl.experiments.claims.pg import pg_mei_bandit
from theory_rl.experiments.sweep import SerialExecutor, run_sweep

REAL_SOFT_VALUES = npg._soft_values
REAL_ENTROPY_STEP_LOG = npg.entropy_npg_step_log
REAL_HPE = npg.hybrid_policy_evaluation
REAL_PG = pg.softmax_policy_gradient
REAL_MP_STEP = nash.nash_mp_step
REAL_ESTIMATE_Q = nash._estimate_q


def verdicts(module, grid):
    return module.check(run_sweep(grid, module.compute, executor=SerialExecutor()))


def failing(vs):
    """Indices of the failing verdicts (the planted bug must produce at least one)."""
    return [i for i, v in enumerate(vs) if not v.holds]


# --------------------------------------------------------------------------------------------
# planted bugs
# --------------------------------------------------------------------------------------------
def npg_step_without_discount_factor(log_policy, advantages, *, eta, gamma):
    """pi' ∝ pi exp(eta A) instead of pi exp(eta A/(1-gamma))."""
    return mirror.kl_prox_log(log_policy, advantages, npg._xp_eta(log_policy, eta))


def soft_values_without_discount(ev, log_pi, tau):
    """Q = r + P V instead of r + gamma P V (V itself correct)."""
    v, q = REAL_SOFT_VALUES(ev, log_pi, tau)
    r = ev.r
    return v, r + (q - r) / ev.gamma[:, None, None]


def entropy_step_without_discount_factor(log_policy, q_tau, *, eta, tau, gamma):
    """Cen's step with alpha = eta instead of eta/(1-gamma)."""
    return REAL_ENTROPY_STEP_LOG(log_policy, q_tau, eta=eta * (1 - gamma), tau=tau, gamma=gamma)


def mp_step_without_extrapolation(log_policy, preferences, log_reference, *, beta, eta):
    """Nash-MP updating from P pi_k (OMD, still counted as two queries)."""
    q = nash.preference_against(preferences, np.exp(log_policy))
    nxt = mirror.regularized_prox_log(log_policy, q, eta=eta, tau=beta, log_reference=log_reference)
    return nash.MirrorProxStep(nxt, nxt)


def mp_step_with_half_eta(log_policy, preferences, log_reference, *, beta, eta):
    return REAL_MP_STEP(log_policy, preferences, log_reference, beta=beta, eta=eta / 2)


def estimate_q_over_m_plus_one(rng, preferences, anchor_log, n_samples, outcomes):
    """The Monte-Carlo query mean computed as sum / (M + 1)."""
    q = REAL_ESTIMATE_Q(rng, preferences, anchor_log, n_samples, outcomes)
    return q * n_samples / (n_samples + 1)


# --------------------------------------------------------------------------------------------
# grids and clean runs
# --------------------------------------------------------------------------------------------
AGARWAL_GRID = npg_agarwal.QUICK_GRID
CHAIN_GRID = npg_chain.QUICK_GRID[:4]
CEN_GRID = npg_cen.QUICK_GRID
MEI_GRID = pg_mei_bandit.QUICK_GRID
HNPG_GRID = [c for c in npg_hnpg.QUICK_GRID if c["horizon"] >= 4]
RATE_GRID = [
    c for c in nash_mp_rate.QUICK_GRID if c["family"] == "random" and c["n_responses"] == 5
] + nash_mp_rate.TIES
CMP_GRID = [c for c in nash_comparison.QUICK_GRID if c["beta"] == 0.01]
SAMPLED_GRID = nash_mp_sampled.QUICK_GRID

CASES = {
    "npg_agarwal": (npg_agarwal, AGARWAL_GRID),
    "npg_chain": (npg_chain, CHAIN_GRID),
    "npg_cen": (npg_cen, CEN_GRID),
    "pg_mei_bandit": (pg_mei_bandit, MEI_GRID),
    "npg_hnpg": (npg_hnpg, HNPG_GRID),
    "nash_mp_rate": (nash_mp_rate, RATE_GRID),
    "nash_comparison": (nash_comparison, CMP_GRID),
    "nash_mp_sampled": (nash_mp_sampled, SAMPLED_GRID),
}


@pytest.fixture(scope="module")
def clean():
    cache = {}

    def get(name):
        if name not in cache:
            cache[name] = verdicts(*CASES[name])
        return cache[name]

    return get


@pytest.mark.parametrize("name", list(CASES))
def test_every_verdict_holds_without_a_bug(clean, name):
    vs = clean(name)
    assert vs and all(v.holds for v in vs), [v.measured for v in vs if not v.holds]


def _patch(monkeypatch, target, attr, value):
    monkeypatch.setattr(target, attr, value)


BUGS = {
    # name: (claim, [(object, attribute, replacement)], verdicts expected to fail)
    "agarwal: step eta instead of eta/(1-gamma)": (
        "npg_agarwal",
        [(npg, "npg_step_log", npg_step_without_discount_factor)],
        {0, 1},
    ),
    "agarwal: gamma dropped from Q": (
        "npg_agarwal",
        [(npg, "_soft_values", soft_values_without_discount)],
        {0, 1},
    ),
    "chain: step eta instead of eta/(1-gamma)": (
        "npg_chain",
        [(npg, "npg_step_log", npg_step_without_discount_factor)],
        {2},
    ),
    "chain: gamma dropped from Q": (
        "npg_chain",
        [(npg, "_soft_values", soft_values_without_discount)],
        {2},
    ),
    "cen: step eta instead of eta/(1-gamma)": (
        "npg_cen",
        [(npg, "entropy_npg_step_log", entropy_step_without_discount_factor)],
        {1},
    ),
    "cen: gamma dropped from Q_tau": (
        "npg_cen",
        [(npg, "_soft_values", soft_values_without_discount)],
        {0, 1},
    ),
    "mei: bound constant 5 -> 0.5": (
        "pg_mei_bandit",
        [(pg_mei_bandit, "bandit_bound", lambda t, p: mei2020.bandit_bound(t, p) / 10)],
        {0},
    ),
    "mei: PG step doubled": (
        "pg_mei_bandit",
        [(pg, "softmax_policy_gradient", lambda m, *, eta, **k: REAL_PG(m, eta=2 * eta, **k))],
        {2},
    ),
    "hnpg: gamma dropped from the critic's target": (
        "npg_hnpg",
        [(npg, "hybrid_policy_evaluation", lambda pi, gamma, **k: REAL_HPE(pi, 1.0, **k))],
        {1},
    ),
    "nash_mp_rate: extrapolation skipped": (
        "nash_mp_rate",
        [(nash, "nash_mp_step", mp_step_without_extrapolation)],
        {0, 1},  # on the game of ties the query is constant, so verdict 2 cannot see it
    ),
    "nash_mp_rate: eta / 2": (
        "nash_mp_rate",
        [(nash, "nash_mp_step", mp_step_with_half_eta)],
        {2},
    ),
    "nash_comparison: extrapolation skipped": (
        "nash_comparison",
        [(nash, "nash_mp_step", mp_step_without_extrapolation)],
        {0, 1},
    ),
    "nash_comparison: Nash-MD bound 1000x more optimistic": (
        "nash_comparison",
        [(munos2024, "final_bound", lambda kl0, b, T: (kl0 + 2 * np.log(T) / b**2) / T / 1e3)],
        {3},
    ),
    "nash_mp_sampled: query mean divided by M + 1": (
        "nash_mp_sampled",
        [(nash, "_estimate_q", estimate_q_over_m_plus_one)],
        {1},
    ),
}


@pytest.mark.parametrize("bug", list(BUGS))
def test_planted_bug_fails_its_claim(monkeypatch, clean, bug):
    name, patches, expected = BUGS[bug]
    assert all(v.holds for v in clean(name))  # the same grid holds without the bug
    for target, attr, value in patches:
        _patch(monkeypatch, target, attr, value)
    vs = verdicts(*CASES[name])
    assert failing(vs), [v.measured for v in vs]
    assert expected <= set(failing(vs)), (failing(vs), [v.measured for v in vs])


def test_cen_states_that_a_squared_stated_rate_is_invisible(monkeypatch):
    """(1 - eta tau)^2 still bounds every measured rate (the asymptotic one is (1-f)^2): the
    claim holds and its verdict says what it cannot see."""
    real = cen2022.contraction_rate
    squared = lambda **kw: real(**kw) ** 2  # noqa: E731
    monkeypatch.setattr(cen2022, "contraction_rate", squared)
    monkeypatch.setattr(npg_cen, "contraction_rate", squared)
    vs = verdicts(npg_cen, CEN_GRID[:2])
    assert all(v.holds for v in vs)
    assert "cannot see" in vs[0].detail and "squared" in vs[0].detail


def test_nash_mp_rate_states_that_a_squared_bound_is_invisible(monkeypatch):
    """KL is quadratic in log pi - log pi*: (1+2b)^(-N) KL_0 holds too (worst ratio 0.999)."""
    monkeypatch.setattr(
        tiapkin2025,
        "kl_bound",
        lambda kl0, beta, N, *, eta=2.0: kl0 * (1 + eta * beta) ** (-np.asarray(N, float)),
    )
    vs = verdicts(nash_mp_rate, RATE_GRID)
    assert all(v.holds for v in vs)
    assert "cannot see" in vs[0].detail and "squared bound" in vs[0].detail


def test_two_sided_t_power():
    assert two_sided_t_power(shift=0.0, stderr=0.02, df=10, confidence=0.99) == pytest.approx(
        0.01, abs=1e-9
    )
    weak, strong = (
        two_sided_t_power(shift=s, stderr=0.02, df=10, confidence=0.99) for s in (0.05, 0.5)
    )
    assert 0.01 < weak < strong and strong == pytest.approx(1.0)
    # symmetric in the sign of the shift
    assert two_sided_t_power(shift=-0.05, stderr=0.02, df=10, confidence=0.99) == pytest.approx(
        weak
    )
    for bad in ({"stderr": 0.0}, {"df": 0}, {"confidence": 1.0}):
        kw = {"shift": 0.1, "stderr": 0.02, "df": 10, "confidence": 0.99, **bad}
        with pytest.raises(ValueError, match=next(iter(bad))):
            two_sided_t_power(**kw)


def test_sign_test_power_is_the_binomial_tail():
    # n = 14 at level 0.01: P(Bin(14, 1/2) >= 12) = 106/2^14 <= 0.01 < P(>= 11) = 470/2^14,
    # so significant from 12 wins; the power is P(Bin(14, 0.9) >= 12)
    assert npg_hnpg.sign_test_power(14, 0.9, 0.01) == pytest.approx(
        0.9**14 + 14 * 0.9**13 * 0.1 + 91 * 0.9**12 * 0.1**2
    )
    assert npg_hnpg.sign_test_power(14, 0.5, 0.01) <= 0.01
    assert npg_hnpg.sign_test_power(0, 0.9, 0.01) == 0.0
