"""Every public function of theory_rl.bounds against numbers computed by hand from its theorem.

Each test writes out the arithmetic of the stated bound at two or three parameter points (paper
and theorem in the comment) and checks the limiting cases the theorem implies.  Constants that
the module docstrings tag as recalled or reconstructed are tested against the formula *as
documented*; the comment says so (see each module's "Confidence" paragraph).

The MDP constants are computed on a two-state "switch" MDP small enough to do by hand:
action 0 stays, action 1 switches state, reward 1 in state 1 and 0 in state 0.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from scipy import stats

from theory_rl.bounds import agarwal2021 as aklm
from theory_rl.bounds import cen2022 as cen
from theory_rl.bounds import johnson2023 as jpr
from theory_rl.bounds import mdp_constants as mc
from theory_rl.bounds import mei2020 as mei
from theory_rl.bounds import munos2024 as munos
from theory_rl.bounds import puterman1994 as put
from theory_rl.bounds import tiapkin2025 as tia
from theory_rl.bounds import xiao2022 as xiao
from theory_rl.bounds import zhan2023 as zhan
from theory_rl.bounds import zhou2024 as zhou
from theory_rl.bounds.rates import check_bound, fit_rate
from theory_rl.mdps.tabular import TabularMDP

EPS = float(np.finfo(np.float64).eps)
REL = 1e-12  # the hand values are exact decimals or closed forms: only float round-off is allowed


def approx(x: float) -> object:
    return pytest.approx(x, rel=REL, abs=1e-15)


# ------------------------------------------------------------------------------------------
# Agarwal, Kakade, Lee & Mahajan (2021)
# ------------------------------------------------------------------------------------------
def test_agarwal_npg_bound_by_hand():
    # AKLM (2021) Thm 5.3 (AJKS Thm 12.7): log|A|/(eta T) + 1/((1-gamma)^2 T).
    # T=2, eta=1, gamma=0.5, |A|=4: log 4/2 + 1/(0.25*2) = 0.693147... + 2 = 2.693147...
    assert float(aklm.npg_bound(2, eta=1.0, gamma=0.5, n_actions=4)) == approx(math.log(4) / 2 + 2)
    # T=5, eta=0.5, gamma=0.9, |A|=2: log 2/2.5 + 1/(0.01*5) = 0.277259 + 20 = 20.277259
    assert float(aklm.npg_bound(5, eta=0.5, gamma=0.9, n_actions=2)) == approx(
        math.log(2) / 2.5 + 20.0
    )
    # Limits: eta -> inf leaves 1/((1-gamma)^2 T); |A| = 1 removes the log term; exactly 1/T.
    assert float(aklm.npg_bound(4, eta=1e300, gamma=0.5, n_actions=4)) == approx(1.0)
    assert float(aklm.npg_bound(4, eta=0.1, gamma=0.5, n_actions=1)) == approx(1.0)
    T = np.array([1.0, 2.0, 10.0, 1000.0])
    b = aklm.npg_bound(T, eta=0.3, gamma=0.7, n_actions=3)
    np.testing.assert_allclose(b * T, b[0], rtol=REL)
    with pytest.raises(ValueError, match="T must be >= 1"):
        aklm.npg_bound(0, eta=1.0, gamma=0.5, n_actions=2)


def test_agarwal_npg_iterations_bound_is_the_smallest_sufficient_T():
    # c = log|A|/eta + 1/(1-gamma)^2 = log 4 + 4 = 5.386294; eps = 1 -> ceil(5.386) = 6
    assert aklm.npg_iterations_bound(1.0, eta=1.0, gamma=0.5, n_actions=4) == 6
    # c = log 2/0.5 + 100 = 101.386294; eps = 0.5 -> ceil(202.77) = 203
    assert aklm.npg_iterations_bound(0.5, eta=0.5, gamma=0.9, n_actions=2) == 203
    for eps, eta, gamma, A in [(1.0, 1.0, 0.5, 4), (0.5, 0.5, 0.9, 2), (0.03, 2.0, 0.8, 5)]:
        T = aklm.npg_iterations_bound(eps, eta=eta, gamma=gamma, n_actions=A)
        assert float(aklm.npg_bound(T, eta=eta, gamma=gamma, n_actions=A)) <= eps
        if T > 1:
            assert float(aklm.npg_bound(T - 1, eta=eta, gamma=gamma, n_actions=A)) > eps
    # A huge target is met at once.
    assert aklm.npg_iterations_bound(1e9, eta=1.0, gamma=0.5, n_actions=4) == 1
    # Ties: epsilon = npg_bound(T) exactly must return T itself (c/epsilon rounds to
    # 3.0000000000000004 at T = 3, eta = 1, gamma = 0.5, |A| = 4: ceil alone gives 4).
    for eta, gamma, A in [(1.0, 0.5, 4), (0.1, 0.9, 2), (3.0, 0.3, 3)]:
        for T in range(1, 60):
            eps = float(aklm.npg_bound(T, eta=eta, gamma=gamma, n_actions=A))
            assert aklm.npg_iterations_bound(eps, eta=eta, gamma=gamma, n_actions=A) == T
    with pytest.raises(ValueError, match="epsilon"):
        aklm.npg_iterations_bound(0.0, eta=1.0, gamma=0.5, n_actions=2)


def test_agarwal_monotone_improvement_bound_by_hand():
    # AJKS Lemma 12.8: V^{t+1}(s) - V^t(s) >= (1-gamma)/eta log Z_t(s).
    # log Z = 0.3, eta = 2, gamma = 0.5: 0.5/2 * 0.3 = 0.075
    assert float(aklm.monotone_improvement_bound(0.3, eta=2.0, gamma=0.5)) == approx(0.075)
    # log Z = (0, 1.2), eta = 0.1, gamma = 0.9: 0.1/0.1 * (0, 1.2) = (0, 1.2)
    np.testing.assert_allclose(
        aklm.monotone_improvement_bound([0.0, 1.2], eta=0.1, gamma=0.9), [0.0, 1.2], rtol=REL
    )
    # log Z = 0 (the policy did not move) guarantees no improvement.
    assert float(aklm.monotone_improvement_bound(0.0, eta=1.0, gamma=0.3)) == 0.0


# ------------------------------------------------------------------------------------------
# Cen, Cheng, Chen, Wei & Chi (2022)
# ------------------------------------------------------------------------------------------
def test_cen_contraction_rate_by_hand():
    # Cen et al. (2022) Thm 1: rate 1 - eta tau for 0 < eta <= (1-gamma)/tau.
    # eta = 0.25, tau = 1, gamma = 0.5: 1 - 0.25 = 0.75
    assert float(cen.contraction_rate(eta=0.25, tau=1.0, gamma=0.5)) == approx(0.75)
    # eta = 0.01, tau = 2, gamma = 0.9: 1 - 0.02 = 0.98
    assert float(cen.contraction_rate(eta=0.01, tau=2.0, gamma=0.9)) == approx(0.98)
    # Largest step eta = (1-gamma)/tau (soft policy iteration): the rate is gamma.
    for gamma, tau in [(0.5, 1.0), (0.9, 0.1), (0.99, 0.01)]:
        assert float(cen.contraction_rate(eta=(1 - gamma) / tau, tau=tau, gamma=gamma)) == (
            pytest.approx(gamma, rel=1e-12)
        )
    # eta -> 0: no contraction (rate -> 1); decreasing in eta.
    rates = cen.contraction_rate(eta=np.array([1e-9, 0.1, 0.2, 0.3]), tau=1.0, gamma=0.7)
    assert rates[0] == pytest.approx(1.0, abs=1e-8)
    assert np.all(np.diff(rates) < 0)
    with pytest.raises(ValueError, match="eta must lie"):
        cen.contraction_rate(eta=0.6, tau=1.0, gamma=0.5)


def test_cen_q_error_bound_by_hand():
    # [R] constant (theory/pmd_npg.md §1.3, unconfirmed against the paper; tested as documented):
    # ||Q* - Q^(t)|| <= C1 gamma (1 - eta tau)^(t-1),
    # C1 = q0 + 2 tau (1 - eta tau/(1-gamma)) L0.
    # q0=1, L0=0.5, eta=0.2, tau=1, gamma=0.5: C1 = 1 + 2*(1 - 0.4)*0.5 = 1.6;
    # t=1: 1.6*0.5 = 0.8; t=3: 0.8 * 0.8**2 = 0.512
    b = cen.q_error_bound_recalled(
        [1, 3], q_error_0=1.0, log_policy_error_0=0.5, eta=0.2, tau=1.0, gamma=0.5
    )
    np.testing.assert_allclose(b, [0.8, 0.512], rtol=REL)
    # q0=2, L0=1, eta=0.05, tau=0.5, gamma=0.9: eta tau = 0.025, /(1-gamma) = 0.25,
    # C1 = 2 + 2*0.5*0.75*1 = 2.75; t=2: 2.75*0.9*0.975 = 2.4131250
    b = cen.q_error_bound_recalled(
        2, q_error_0=2.0, log_policy_error_0=1.0, eta=0.05, tau=0.5, gamma=0.9
    )
    assert float(b) == approx(2.413125)
    # Soft policy iteration eta = (1-gamma)/tau: the log term vanishes, bound = q0 gamma^t
    # (the gamma-contraction of the soft Bellman operator).
    b = cen.q_error_bound_recalled(
        [1, 2, 5], q_error_0=3.0, log_policy_error_0=7.0, eta=0.5, tau=1.0, gamma=0.5
    )
    np.testing.assert_allclose(b, 3.0 * 0.5 ** np.array([1, 2, 5]), rtol=REL)


# ------------------------------------------------------------------------------------------
# Johnson, Pike-Burke & Rebeschini (2023)
# ------------------------------------------------------------------------------------------
def test_johnson_c_schedule_by_hand():
    # c_t = c0 gamma^(2(t+1)): c0=2, gamma=0.5: 2*(0.25, 0.0625, 0.015625)
    np.testing.assert_allclose(jpr.c_schedule(2.0, 0.5, 3), [0.5, 0.125, 0.03125], rtol=REL)
    # c0=1, gamma=0.9: 0.81, 0.6561
    np.testing.assert_allclose(jpr.c_schedule(1.0, 0.9, 2), [0.81, 0.6561], rtol=REL)
    with pytest.raises(ValueError, match="c0"):
        jpr.c_schedule(0.0, 0.5, 3)


def test_johnson_inexact_floor_by_hand():
    # Johnson et al. (2023) inexact PMD as restated by Protopapas & Barakat (2024) Thm 4.1
    # [V2; the paper's own statement was not retrieved]: floor 4b/(1-gamma)^2.
    # b=0.1, gamma=0.5: 0.4/0.25 = 1.6;  b=0.01, gamma=0.9: 0.04/0.01 = 4
    assert jpr.inexact_floor(0.1, 0.5) == approx(1.6)
    assert jpr.inexact_floor(0.01, 0.9) == approx(4.0)
    # b = 0: no floor; linear in b.
    assert jpr.inexact_floor(0.0, 0.7) == 0.0
    assert jpr.inexact_floor(0.3, 0.7) == approx(3 * jpr.inexact_floor(0.1, 0.7))


def test_johnson_adaptive_bound_by_hand():
    # gamma^k (gap0 + 1/(1-gamma) sum_{t=1}^k c_{t-1} gamma^-t) (+ 4b/(1-gamma)^2),
    # gamma=0.5, gap0=1, c=(0.5, 0.125, 0.03125):
    #   terms c_{t-1} gamma^-t = 0.5*2 = 1, 0.125*4 = 0.5, 0.03125*8 = 0.25;
    #   partial sums 0, 1, 1.5, 1.75;
    #   k=0: 1;  k=1: 0.5*(1 + 2*1) = 1.5;  k=2: 0.25*(1 + 2*1.5) = 1;
    #   k=3: 0.125*(1 + 2*1.75) = 0.5625
    c = [0.5, 0.125, 0.03125]
    b = jpr.adaptive_bound([0, 1, 2, 3], gamma=0.5, sup_gap0=1.0, c=c)
    np.testing.assert_allclose(b, [1.0, 1.5, 1.0, 0.5625], rtol=REL)
    # with b=0.1 every iterate gains 4*0.1/0.25 = 1.6
    b = jpr.adaptive_bound([0, 1, 2, 3], gamma=0.5, sup_gap0=1.0, c=c, b=0.1)
    np.testing.assert_allclose(b, [2.6, 3.1, 2.6, 2.1625], rtol=REL)
    # gamma=0.9, gap0=2, c=(0.81, 0.6561): k=2: 0.81*(2 + 10*(0.81/0.9 + 0.6561/0.81))
    #   = 0.81*(2 + 10*(0.9 + 0.81)) = 0.81*19.1 = 15.471
    b = jpr.adaptive_bound(2, gamma=0.9, sup_gap0=2.0, c=[0.81, 0.6561])
    assert float(b) == approx(15.471)


def test_johnson_adaptive_bound_limits():
    # Closed form of the docstring: with c_t = c0 gamma^(2(t+1)) the sum is
    # c0 gamma (1 - gamma^k)/(1 - gamma).
    g, c0, gap0 = 0.8, 3.0, 1.5
    k = np.arange(12)
    c = jpr.c_schedule(c0, g, 12)
    closed = g**k * (gap0 + c0 * g * (1 - g**k) / (1 - g) ** 2)
    np.testing.assert_allclose(
        jpr.adaptive_bound(k, gamma=g, sup_gap0=gap0, c=c), closed, rtol=1e-12
    )
    # c = 0 (policy iteration): the pure gamma-rate gamma^k gap0.
    np.testing.assert_allclose(
        jpr.adaptive_bound(k, gamma=g, sup_gap0=gap0, c=np.zeros(12)), gap0 * g**k, rtol=REL
    )
    # k = 0 gives the initial gap whatever c; the bound decays to the floor.
    assert float(jpr.adaptive_bound(0, gamma=g, sup_gap0=gap0, c=c)) == approx(gap0)
    late = jpr.adaptive_bound(200, gamma=g, sup_gap0=gap0, c=jpr.c_schedule(c0, g, 200), b=0.01)
    assert float(late) == pytest.approx(jpr.inexact_floor(0.01, g), rel=1e-9)
    with pytest.raises(ValueError, match="non-negative"):
        jpr.adaptive_bound(-1, gamma=g, sup_gap0=1.0, c=c)
    with pytest.raises(ValueError, match="c has 2 entries"):
        jpr.adaptive_bound(3, gamma=g, sup_gap0=1.0, c=[1.0, 1.0])


# ------------------------------------------------------------------------------------------
# Mei, Xiao, Szepesvari & Schuurmans (2020)
# ------------------------------------------------------------------------------------------
def test_mei_bandit_bound_by_hand():
    # Mei et al. (2020) Thm 2 [V2, restated; the 5 = 2L with L = 5/2 of their Lemma 2 is
    # re-derived in the module docstring]: 5/(t c_t^2), c_t the running min of pi_s(a*).
    # t=(1,2,4), pi(a*)=(0.5, 0.25, 0.5): c=(0.5, 0.25, 0.25):
    #   5/(1*0.25) = 20;  5/(2*0.0625) = 40;  5/(4*0.0625) = 20
    np.testing.assert_allclose(
        mei.bandit_bound([1, 2, 4], [0.5, 0.25, 0.5]), [20, 40, 20], rtol=REL
    )
    # Uniform start on K=3 arms, pi(a*) = 1/3 throughout: 5*9/t = 45, 4.5 at t = 1, 10
    np.testing.assert_allclose(mei.bandit_bound([1, 10], [1 / 3, 1 / 3]), [45.0, 4.5], rtol=REL)
    # pi(a*) = 1: 5/t; the step size is 1/L = 2/5.
    np.testing.assert_allclose(mei.bandit_bound([1, 5], [1.0, 1.0]), [5.0, 1.0], rtol=REL)
    assert mei.BANDIT_STEP == approx(0.4)


# ------------------------------------------------------------------------------------------
# Munos et al. (2024), Nash-MD  -- [U] constants, tested as documented
# ------------------------------------------------------------------------------------------
def test_munos_step_and_bounds_by_hand():
    # [U] unconfirmed: the theory notes' recollection of the Nash-MD analysis.
    # eta = log T/(beta T): beta=0.5, T=100: 4.605170/50 = 0.0921034
    assert munos.default_step_size(0.5, 100) == approx(math.log(100) / 50)
    # T < 2 is read as 2: log 2/(1*2) = 0.346574
    assert munos.default_step_size(1.0, 1) == approx(math.log(2) / 2)
    # one step: (1 - eta beta) KL + 2 eta^2: KL=1, beta=0.5, eta=0.2: 0.9 + 0.08 = 0.98
    assert float(munos.one_step_bound(1.0, 0.5, 0.2)) == approx(0.98)
    # KL = 0 still pays 2 eta^2 = 0.02 at eta = 0.1
    assert float(munos.one_step_bound(0.0, 1.0, 0.1)) == approx(0.02)
    # final: (KL0 + 2 log T/beta^2)/T: KL0=1, beta=0.5, T=100: (1 + 8*4.605170)/100 = 0.3784136
    assert munos.final_bound(1.0, 0.5, 100) == approx((1 + 8 * math.log(100)) / 100)
    # KL0=0, beta=1, T=10: 2 log 10/10 = 0.4605170
    assert munos.final_bound(0.0, 1.0, 10) == approx(2 * math.log(10) / 10)


def test_munos_final_bound_follows_from_the_one_step_inequality():
    # Iterating KL_{t+1} <= (1 - eta beta) KL_t + 2 eta^2 T times with eta = log T/(beta T)
    # gives (1 - eta beta)^T KL0 + 2 eta/beta (1 - (1-eta beta)^T) <= KL0/T + 2 log T/(beta^2 T).
    for kl0, beta, T in [(1.0, 0.5, 100), (3.0, 0.1, 1000), (0.2, 1.0, 10)]:
        eta = munos.default_step_size(beta, T)
        kl = kl0
        for _ in range(T):
            kl = float(munos.one_step_bound(kl, beta, eta))
        final = munos.final_bound(kl0, beta, T)
        q = 1 - eta * beta
        assert kl == pytest.approx(q**T * kl0 + 2 * eta / beta * (1 - q**T), rel=1e-10)
        assert kl <= final


# ------------------------------------------------------------------------------------------
# Puterman (1994)
# ------------------------------------------------------------------------------------------
def test_puterman_by_hand():
    assert put.span([1.0, 3.0, -2.0]) == 5.0
    # Prop. 6.2.4: gamma^k e0: e0=2, gamma=0.9, k=(0,1,3): 2, 1.8, 1.458
    np.testing.assert_allclose(put.vi_contraction_bound(2.0, 0.9, [0, 1, 3]), [2, 1.8, 1.458])
    # Thm 6.3.1: eps(1-gamma)/(2 gamma): 0.1*0.1/1.8 = 0.0055556;  gamma = 0: any residual
    assert put.sup_norm_stopping_threshold(0.1, 0.9) == approx(0.01 / 1.8)
    assert put.sup_norm_stopping_threshold(0.1, 0.0) == math.inf
    # §6.6.3: v=(0,0), Tv=(1,2), gamma=0.5 (c=1): d=(1,2): lower (2,3), upper (3,4)
    lo, hi = put.macqueen_bounds([0.0, 0.0], [1.0, 2.0], 0.5)
    np.testing.assert_allclose(lo, [2.0, 3.0])
    np.testing.assert_allclose(hi, [3.0, 4.0])
    # span s=0.2, gamma=0.5: width gamma s/(1-gamma) = 0.2, midpoint error 0.1
    assert put.span_stopping_guarantee(0.2, 0.5) == (approx(0.2), approx(0.1))
    # threshold eps(1-gamma)/gamma: 0.1*0.1/0.9 = 0.011111; guarantee(threshold) = eps
    assert put.span_stopping_threshold(0.1, 0.9) == approx(0.01 / 0.9)
    assert put.span_stopping_guarantee(put.span_stopping_threshold(0.1, 0.9), 0.9)[0] == approx(0.1)
    # Thm 6.4.2: |A|^|S| = number of deterministic policies, counted by enumeration.
    for S, A in [(3, 2), (2, 3), (1, 5)]:
        assert put.policy_iteration_bound(S, A) == len(list(itertools.product(range(A), repeat=S)))
    assert put.policy_iteration_bound(3, 2) == 8


def test_macqueen_bounds_are_exact_on_a_one_state_mdp():
    # One state, reward 1, gamma=0.5: V* = 2.  From v=0, Tv=1, d=1: both bounds 1 + 1*1 = 2.
    lo, hi = put.macqueen_bounds([0.0], [1.0], 0.5)
    assert float(lo[0]) == float(hi[0]) == 2.0
    # From v=5: Tv = 1 + 2.5 = 3.5, d = -1.5: 3.5 + (-1.5) = 2.
    lo, hi = put.macqueen_bounds([5.0], [3.5], 0.5)
    assert float(lo[0]) == float(hi[0]) == 2.0


# ------------------------------------------------------------------------------------------
# Tiapkin et al. (2025), Nash Mirror Prox  -- rate from the v1 abstract, constants derived
# ------------------------------------------------------------------------------------------
def test_tiapkin_kl_bound_by_hand():
    # arXiv:2505.19731 v1 abstract (read, arxiv.org/abs/2505.19731): KL decays at order
    # (1+2 beta)^(-N/2); the derived bound (module docstring) is (1 + eta beta)^(-N/2) KL0.
    # KL0=1, beta=0.5, N=4: 2^-2 = 0.25
    assert float(tia.kl_bound(1.0, 0.5, 4)) == approx(0.25)
    # KL0=2, beta=1, eta=1, N=(0, 2, 6): 2 * 2^-(0, 1, 3) = (2, 1, 0.25)
    np.testing.assert_allclose(
        tia.kl_bound(2.0, 1.0, [0, 2, 6], eta=1.0), [2.0, 1.0, 0.25], rtol=REL
    )
    # KL0=1, beta=0.1, N=2 (one iteration): 1/1.2 = 0.833333
    assert float(tia.kl_bound(1.0, 0.1, 2)) == approx(1 / 1.2)
    with pytest.raises(ValueError, match="eta"):
        tia.kl_bound(1.0, 0.5, 2, eta=2.5)
    with pytest.raises(ValueError, match="beta"):
        tia.kl_bound(1.0, 0.0, 2)


def test_tiapkin_rates_steps_and_query_counts_by_hand():
    # per-query rate (1 + eta beta)^(-1/2): beta=0.5: 2^-0.5 = 0.7071068; beta=1.5, eta=1: 2.5^-0.5
    assert tia.gap_rate(0.5) == approx(2**-0.5)
    assert tia.gap_rate(1.5, eta=1.0) == approx(2.5**-0.5)
    # L = 1/2 so the largest step is 2; for P with max|P - 1/2| = 0.3 it is 1/0.3.
    assert tia.LIPSCHITZ == 0.5
    assert tia.max_step_size() == 2.0
    assert tia.max_step_size(np.array([[0.5, 0.8], [0.2, 0.5]])) == approx(1 / 0.3)
    # eps=0.1, KL0=1, beta=0.5: k = ceil(log 10/log 2) = ceil(3.32) = 4 iterations, N = 8;
    # check: 2^-4 = 0.0625 <= 0.1 < 2^-3 = 0.125.
    assert tia.queries_to_reach(0.1, 1.0, 0.5) == 8
    # eps=0.01, KL0=0.5, beta=0.1: ceil(log 50/log 1.2) = ceil(21.46) = 22 -> N = 44
    assert tia.queries_to_reach(0.01, 0.5, 0.1) == 44
    for eps, kl0, beta in [(0.1, 1.0, 0.5), (0.01, 0.5, 0.1), (1e-6, 3.0, 0.02)]:
        N = tia.queries_to_reach(eps, kl0, beta)
        assert float(tia.kl_bound(kl0, beta, N)) <= eps < float(tia.kl_bound(kl0, beta, N - 2))
    assert tia.queries_to_reach(1.0, 0.5, 0.1) == 0  # already there
    # Ties: epsilon = kl_bound(2j) exactly must return 2j (the closed-form ceil can be off by
    # one iteration either way: eps = 3^-1 at beta = 1 gave N = 4, eps = 8^-6 at beta = 3.5
    # gave an N whose computed bound exceeded eps).
    for beta in [0.5, 1.0, 3.5, 0.01]:
        for j in range(1, 40):
            eps = float(tia.kl_bound(1.0, beta, 2 * j))
            assert tia.queries_to_reach(eps, 1.0, beta) == 2 * j
    # Defining property at targets written as powers, eps = KL0 (1 + 2 beta)^-j: the computed
    # bound at N is <= eps and at N - 2 it is not.
    for beta in [0.5, 1.0, 1.5, 3.5, 0.1]:
        for kl0 in [1.0, 2.0, 0.7]:
            for j in range(1, 40):
                eps = kl0 * (1 + 2 * beta) ** -j
                N = tia.queries_to_reach(eps, kl0, beta)
                assert float(tia.kl_bound(kl0, beta, N)) <= eps
                assert float(tia.kl_bound(kl0, beta, N - 2)) > eps
    with pytest.raises(ValueError, match="epsilon"):
        tia.queries_to_reach(0.0, 1.0, 0.5)


def test_tiapkin_lipschitz_and_skew_symmetry_of_the_preference_operator():
    # Steps 1-2 of the derivation: for P + P^T = 1, (P - 11^T/2) is skew-symmetric and
    # ||(P - 1/2)(pi - pi')||_inf <= max|P - 1/2| ||pi - pi'||_1 <= ||pi - pi'||_1 / 2.
    rng = np.random.default_rng(0)
    for _ in range(200):
        Y = int(rng.integers(2, 6))
        U = rng.random((Y, Y))
        P = np.triu(U, 1) + np.tril(1 - U.T, -1) + 0.5 * np.eye(Y)
        M = P - 0.5
        np.testing.assert_allclose(M, -M.T, atol=1e-15)
        pi, pi2 = rng.dirichlet(np.ones(Y)), rng.dirichlet(np.ones(Y))
        lhs = np.abs(M @ (pi - pi2)).max()
        assert lhs <= np.abs(M).max() * np.abs(pi - pi2).sum() + 1e-15
        assert lhs <= tia.LIPSCHITZ * np.abs(pi - pi2).sum() + 1e-15


# ------------------------------------------------------------------------------------------
# Xiao (2022)
# ------------------------------------------------------------------------------------------
def test_xiao_thm8_by_hand():
    # Xiao (2022) Thm 8 [V2, reconstructed from the proof text]:
    # [D0/((1-gamma) eta) + 1/(1-gamma)^2]/(k+1).
    # gamma=0.5, eta=1, D0=2: (2/0.5 + 4)/(k+1) = 8/(k+1): k=0: 8, k=3: 2
    np.testing.assert_allclose(xiao.thm8_bound([0, 3], gamma=0.5, eta=1.0, d0=2.0), [8.0, 2.0])
    # gamma=0.9, eta=10, D0=log 3: (log 3/1 + 100)/(k+1): k=9: (1.0986123 + 100)/10
    assert float(xiao.thm8_bound(9, gamma=0.9, eta=10.0, d0=math.log(3))) == approx(
        (math.log(3) + 100) / 10
    )
    # eta -> inf (or D0 = 0) leaves 1/((1-gamma)^2 (k+1)); eta = (1-gamma) D0 gives
    # 2/((1-gamma)^2 (k+1)): D0=0.5, eta=0.25, k=0: 0.5/0.125 + 4 = 8 = 2/0.25
    assert float(xiao.thm8_bound(1, gamma=0.5, eta=1e300, d0=2.0)) == approx(2.0)
    assert float(xiao.thm8_bound(1, gamma=0.5, eta=1.0, d0=0.0)) == approx(2.0)
    assert float(xiao.thm8_bound(0, gamma=0.5, eta=0.25, d0=0.5)) == approx(8.0)
    with pytest.raises(ValueError):
        xiao.thm8_bound(1, gamma=0.5, eta=0.0, d0=1.0)


def test_xiao_thm10_by_hand():
    # Xiao (2022) Thm 10, bound (53) [V2]: (1 - 1/vartheta)^k [gap0 + D0/(gamma eta0)].
    # k=3, vartheta=10, gap0=1, D0=2, gamma=0.5, eta0=1: 0.9**3 * (1 + 4) = 3.645
    assert float(
        xiao.thm10_bound(3, gamma=0.5, vartheta=10.0, gap0=1.0, d0=2.0, eta0=1.0)
    ) == approx(3.645)
    # k=2, vartheta=4, gap0=0.5, D0=1, gamma=0.8, eta0=0.25: 0.75**2 * (0.5 + 5) = 3.09375
    assert float(
        xiao.thm10_bound(2, gamma=0.8, vartheta=4.0, gap0=0.5, d0=1.0, eta0=0.25)
    ) == approx(3.09375)
    assert xiao.thm10_rate(10.0) == approx(0.9)
    # k = 0 gives the initial term; vartheta = 1/(1-gamma) (rho stationary) gives the gamma-rate;
    # eta0 -> inf leaves gap0 (1 - 1/vartheta)^k; vartheta = 1 converges in one step.
    assert float(xiao.thm10_bound(0, gamma=0.5, vartheta=7.0, gap0=1.0, d0=2.0, eta0=1.0)) == (
        approx(5.0)
    )
    assert xiao.thm10_rate(1 / (1 - 0.9)) == pytest.approx(0.9, rel=1e-12)
    assert float(
        xiao.thm10_bound(2, gamma=0.5, vartheta=2.0, gap0=1.0, d0=2.0, eta0=1e300)
    ) == approx(0.25)
    assert xiao.thm10_rate(1.0) == 0.0
    with pytest.raises(ValueError, match="gamma"):
        xiao.thm10_bound(1, gamma=0.0, vartheta=2.0, gap0=1.0, d0=1.0, eta0=1.0)
    with pytest.raises(ValueError, match="vartheta"):
        xiao.thm10_rate(0.5)


# ------------------------------------------------------------------------------------------
# Zhan et al. (2023)
# ------------------------------------------------------------------------------------------
def test_zhan_gpmd_rate_by_hand():
    # Zhan et al. (2023) Thm 1 [V2]: 1 - (1-alpha)(1-gamma), alpha = 1/(1 + eta tau).
    # gamma=0.5, eta=1, tau=1: alpha=0.5: 1 - 0.25 = 0.75
    assert zhan.gpmd_rate(0.5, 1.0, 1.0) == approx(0.75)
    # gamma=0.9, eta=0.1, tau=0.1: alpha = 1/1.01: 1 - (0.01/1.01)*0.1 = 0.99900990
    assert zhan.gpmd_rate(0.9, 0.1, 0.1) == approx(1 - 0.001 / 1.01)
    # eta -> inf: regularised policy iteration, rate gamma; eta -> 0: rate -> 1.
    assert zhan.gpmd_rate(0.7, 1e12, 1.0) == pytest.approx(0.7, rel=1e-11)
    assert zhan.gpmd_rate(0.7, 1e-12, 1.0) == pytest.approx(1.0, abs=1e-11)
    # gamma = 0 (a bandit): the rate is alpha.
    assert zhan.gpmd_rate(0.0, 3.0, 1.0) == approx(0.25)
    with pytest.raises(ValueError):
        zhan.gpmd_rate(0.5, 0.0, 1.0)


def test_zhan_rate_equals_cen_rate_at_the_matching_step():
    # Module docstring: with KL/entropy, eta_Cen = (1-alpha)(1-gamma)/tau, and
    # 1 - (1-alpha)(1-gamma) = 1 - eta_Cen tau.  gamma=0.5, eta=1, tau=1: eta_Cen = 0.25 -> 0.75.
    for gamma, eta, tau in [(0.5, 1.0, 1.0), (0.9, 10.0, 0.1), (0.99, 0.3, 0.01)]:
        alpha = 1 / (1 + eta * tau)
        eta_cen = (1 - alpha) * (1 - gamma) / tau
        assert zhan.gpmd_rate(gamma, eta, tau) == pytest.approx(
            float(cen.contraction_rate(eta=eta_cen, tau=tau, gamma=gamma)), rel=1e-12
        )


# ------------------------------------------------------------------------------------------
# Zhou, Sekhari, Song & Sun (2024)
# ------------------------------------------------------------------------------------------
def test_zhou_by_hand():
    # Zhou et al. (2024) Alg. 1: eta = (1-gamma) sqrt(log A/T).
    # gamma=0.9, A=4, T=100: 0.1*sqrt(1.3862944/100) = 0.0117741
    assert zhou.hac_step(gamma=0.9, n_actions=4, n_iterations=100) == approx(
        0.1 * math.sqrt(math.log(4) / 100)
    )
    # gamma=0.5, A=e^2 is not an integer; A=2, T=2: 0.5*sqrt(log 2/2) = 0.2943525
    assert zhou.hac_step(gamma=0.5, n_actions=2, n_iterations=2) == approx(
        0.5 * math.sqrt(math.log(2) / 2)
    )
    # A^-H, by enumerating the A^H action sequences of which one opens the lock.
    for H, A in [(3, 2), (2, 3), (4, 2)]:
        seqs = list(itertools.product(range(A), repeat=H))
        opened = sum(seq == (0,) * H for seq in seqs)
        assert zhou.random_success_probability(H, A) == approx(opened / len(seqs))
    assert zhou.random_success_probability(3, 2) == 0.125


# ------------------------------------------------------------------------------------------
# MDP constants on a two-state MDP
# ------------------------------------------------------------------------------------------
def switch_mdp(gamma: float = 0.5, rho=(0.5, 0.5)) -> TabularMDP:
    """Action 0 stays, action 1 switches; reward 1 in state 1.  pi*: switch in 0, stay in 1."""
    P = np.array([[[1.0, 0.0], [0.0, 1.0]], [[0.0, 1.0], [1.0, 0.0]]])
    return TabularMDP(P, np.array([[0.0, 0.0], [1.0, 1.0]]), gamma, np.asarray(rho))


def occupancy(mdp: TabularMDP, pi: np.ndarray, rho: np.ndarray) -> np.ndarray:
    """(1-gamma) rho^T (I - gamma P_pi)^-1 by a direct solve (independent of dp)."""
    P_pi = np.einsum("sa,sat->st", pi, mdp.transitions)
    S = P_pi.shape[0]
    return (1 - mdp.gamma) * np.linalg.solve((np.eye(S) - mdp.gamma * P_pi).T, rho)


def test_effective_horizon_and_value_range_by_hand():
    assert mc.effective_horizon(0.75) == approx(4.0)
    assert mc.effective_horizon(0.0) == 1.0
    # rewards in [-1, 0.5], gamma = 0.75: (-4, 2)
    mdp = TabularMDP(np.full((2, 2, 2), 0.5), np.array([[-1.0, 0.5], [0.0, 0.25]]), 0.75)
    assert mc.value_range(mdp) == (approx(-4.0), approx(2.0))
    # switch MDP, gamma 0.5: (0, 2), and V*(1) = 1/(1-0.5) = 2 attains the top.
    assert mc.value_range(switch_mdp()) == (0.0, approx(2.0))


def test_value_error_floor_by_hand():
    # 4 (S+2) eps R/(1-gamma)^2: S=2, R=1, gamma=0.5: 4*4*eps*1*4 = 64 eps
    assert mc.value_error_floor(switch_mdp()) == approx(64 * EPS)
    # S=2, R=1 (|-1|), gamma=0.75: 4*4*eps*16 = 256 eps
    mdp = TabularMDP(np.full((2, 2, 2), 0.5), np.array([[-1.0, 0.5], [0.0, 0.25]]), 0.75)
    assert mc.value_error_floor(mdp) == approx(256 * EPS)
    # zero rewards: R is replaced by eps: 64 eps^2
    zero = TabularMDP(np.full((2, 2, 2), 0.5), np.zeros((2, 2)), 0.5)
    assert mc.value_error_floor(zero) == approx(64 * EPS * EPS)


def test_mismatch_and_vartheta_on_the_switch_mdp():
    # pi* from rho=(1,0): state 0 at t=0, then state 1 forever: d = (1-gamma, gamma) = (0.5, 0.5).
    mdp = switch_mdp(0.5, rho=(1.0, 0.0))
    # mu = (0.8, 0.2): max(0.5/0.8, 0.5/0.2) = 2.5
    assert mc.mismatch_coefficient(mdp, [0.8, 0.2]) == approx(2.5)
    assert mc.mismatch_coefficient(mdp, [0.5, 0.5]) == approx(1.0)
    assert mc.mismatch_coefficient(mdp, [1.0, 0.0]) == math.inf
    # rho=(0.5,0.5): d = (0.5*0.5, 1 - 0.25) = (0.25, 0.75); d/rho = (0.5, 1.5);
    # vartheta = 1.5/(1-0.5) = 3.
    assert mc.vartheta_rho(mdp, [0.5, 0.5]) == approx(3.0)
    # rho=(0,1) is stationary for pi*: d = rho, vartheta = 1/(1-gamma) = 2.
    assert mc.vartheta_rho(mdp, [0.0, 1.0]) == approx(2.0)
    # rho=(1,0) has a zero where pi* goes: infinite (no linear rate).
    assert mc.vartheta_rho(mdp) == math.inf
    # gamma = 0.8, rho = (0.5, 0.5): d = (0.1, 0.9), d/rho max 1.8, vartheta = 1.8*5 = 9.
    assert mc.vartheta_rho(switch_mdp(0.8), [0.5, 0.5]) == approx(9.0)
    # A policy passed in is used: "stay everywhere" has d = rho, so the mismatch is max rho/mu.
    stay = np.array([[1.0, 0.0], [1.0, 0.0]])
    assert mc.mismatch_coefficient(switch_mdp(0.5), [0.25, 0.75], policy=stay) == approx(2.0)


def test_concentrability_on_the_switch_mdp_by_hand_and_by_enumeration():
    # rho = (0.5, 0.5), gamma = 0.5.  The four deterministic policies:
    #   stay/stay: d = rho = (0.5, 0.5);   switch/switch: d = (0.5, 0.5) (rho is invariant);
    #   to-1 (pi*): d = (0.25, 0.75);      to-0 (stay in 0, switch in 1): d = (0.75, 0.25).
    # sup_pi d = (0.75, 0.75), reached by *different* policies in the two states.
    mdp = switch_mdp(0.5)
    rho = np.array([0.5, 0.5])
    # mu = (0.25, 0.75): max(0.75/0.25, 0.75/0.75) = 3, while the pi* mismatch is
    # max(0.25/0.25, 0.75/0.75) = 1.
    assert mc.concentrability(mdp, [0.25, 0.75]) == approx(3.0)
    assert mc.mismatch_coefficient(mdp, [0.25, 0.75]) == approx(1.0)
    # mu = (0.5, 0.5): 0.75/0.5 = 1.5
    assert mc.concentrability(mdp, [0.5, 0.5]) == approx(1.5)
    # rho = (1, 0): stay-in-0 gives d(0) = 1, to-1 gives d(1) = gamma = 0.5, switch/switch gives
    # (1/(1+gamma), gamma/(1+gamma)) = (2/3, 1/3); mu = (0.5, 0.5): max(2, 1) = 2.
    assert mc.concentrability(mdp, [0.5, 0.5], rho=[1.0, 0.0]) == approx(2.0)
    # Brute force over all deterministic policies on a 3-state MDP.
    rng = np.random.default_rng(11)
    P = rng.dirichlet(np.ones(3), size=(3, 2))
    m3 = TabularMDP(P, rng.random((3, 2)), 0.6)
    mu = np.array([0.2, 0.3, 0.5])
    best = max(
        float(np.max(occupancy(m3, np.eye(2)[list(a)], m3.initial_distribution) / mu))
        for a in itertools.product(range(2), repeat=3)
    )
    assert mc.concentrability(m3, mu) == pytest.approx(best, rel=1e-10)
    for a in itertools.product(range(2), repeat=2):
        d = occupancy(mdp, np.eye(2)[list(a)], rho)
        assert np.max(d / np.array([0.25, 0.75])) <= 3.0 + 1e-12


# ------------------------------------------------------------------------------------------
# rates.check_bound / fit_rate (semantics beyond tests/test_rates.py: a hand OLS interval)
# ------------------------------------------------------------------------------------------
def test_check_bound_ratio_by_hand():
    # values (1, 0.5, 0.3), bound (1, 0.4, 0.6): ratios (1, 1.25, 0.5): worst 1.25 at 1;
    # with rtol=0.25 the limit 0.4*1.25 = 0.5 is met exactly.
    res = check_bound([1.0, 0.5, 0.3], [1.0, 0.4, 0.6])
    assert (res.holds, res.worst_ratio, res.worst_index, res.n_violations) == (False, 1.25, 1, 1)
    assert res.worst_excess == pytest.approx(0.1, rel=1e-12)
    assert check_bound([1.0, 0.5, 0.3], [1.0, 0.4, 0.6], rtol=0.25).holds
    assert check_bound([1.0, 0.5, 0.3], [1.0, 0.4, 0.6], atol=0.1).holds
    assert not check_bound([1.0, 0.5, 0.3], [1.0, 0.4, 0.6], atol=0.09).holds


def test_fit_rate_interval_by_hand():
    # x = (0, 1, 2), log y = (0, -1, -1.5): xbar = 1, ybar = -5/6,
    # slope = [(-1)(5/6) + (1)(-1.5 + 5/6)]/2 = -0.75, intercept = -5/6 + 0.75 = -1/12,
    # residuals (1/12, -1/6, 1/12): SSE = 1/24; stderr = sqrt(SSE/(n-2)/Sxx) = sqrt(1/48);
    # 95% interval: slope +- t_{0.975, 1} * stderr with t_{0.975,1} = 12.7062047.
    fit = fit_rate([0, 1, 2], np.exp([0.0, -1.0, -1.5]))
    se = math.sqrt(1 / 48)
    half = float(stats.t.ppf(0.975, 1)) * se
    assert fit.slope == pytest.approx(-0.75, rel=1e-12)
    assert fit.intercept == pytest.approx(-1 / 12, rel=1e-12)
    assert fit.stderr == pytest.approx(se, rel=1e-12)
    assert (fit.ci_low, fit.ci_high) == (
        pytest.approx(-0.75 - half, rel=1e-12),
        pytest.approx(-0.75 + half, rel=1e-12),
    )
    assert fit.rate == pytest.approx(math.exp(-0.75), rel=1e-12)
    # R^2 = 1 - SSE/SST, SST = (25 + 1 + 16)/36 = 42/36: 1 - (1/24)/(42/36) = 27/28
    assert fit.r_squared == pytest.approx(27 / 28, rel=1e-12)
    # Power fit of y = 3 x^-0.5 on x = (1, 4, 16): slope exactly -0.5.
    assert fit_rate([1, 4, 16], [3.0, 1.5, 0.75], kind="power").slope == pytest.approx(-0.5)
