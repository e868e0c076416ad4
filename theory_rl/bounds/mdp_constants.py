r"""Problem constants that appear in the papers' bounds, computed exactly from a tabular MDP.

Definitions (normalised discounted occupancy
:math:`d_\rho^\pi = (1-\gamma)\rho^\top (I - \gamma P_\pi)^{-1}`, a probability vector):

* **Effective horizon** :math:`1/(1-\gamma)` -- :func:`effective_horizon`.
* **Value range** :math:`[\min r/(1-\gamma), \max r/(1-\gamma)]`, which contains every
  :math:`V^\pi(s)` -- :func:`value_range`.
* **Distribution-mismatch coefficient** :math:`\|d_\rho^{\pi^*}/\mu\|_\infty` (Agarwal, Kakade,
  Lee & Mahajan 2021, e.g. Thm 4.1 and §6), ``inf`` when :math:`\mu` does not cover the
  support of :math:`d_\rho^{\pi^*}` -- :func:`mismatch_coefficient`.
* **Xiao's** :math:`\vartheta_\rho = \frac{1}{1-\gamma}\|d_\rho^{\pi^*}/\rho\|_\infty \ge
  \frac{1}{1-\gamma}` (Xiao 2022, §4, the linear rate :math:`(1 - 1/\vartheta_\rho)^k` of
  policy mirror descent, Thm 10) -- :func:`vartheta_rho`.  It equals :math:`1/(1-\gamma)`
  exactly when :math:`\rho` is stationary for :math:`P_{\pi^*}` (then
  :math:`d_\rho^{\pi^*} = \rho`).
* **Concentrability** :math:`C(\rho, \mu) = \sup_\pi \|d_\rho^\pi/\mu\|_\infty`, the mismatch
  taken uniformly over all policies (the form used for approximate DP and sampled policy
  gradients; Scherrer 2014, Agarwal et al. 2021 §6) -- :func:`concentrability`.  Computed
  exactly: :math:`\sup_\pi d_\rho^\pi(s) = (1-\gamma)\,\rho^\top V^*_{e_s}` where
  :math:`V^*_{e_s}` is the optimal value for the reward :math:`r = 1\{\cdot = s\}`, solved by
  policy iteration for each ``s`` (the maximiser is the same deterministic policy at every
  start state, so the supremum over policies is attained).
* **Round-off floor** of computed values -- :func:`value_error_floor`, the absolute tolerance
  the claims use when comparing computed values, and the round-off term the solvers of
  :mod:`theory_rl.algorithms.dp` add to their stopping guarantees.  A requested accuracy below
  it cannot be certified in float64: the solvers then emit :class:`RoundoffWarning`.

When the optimal policy is not unique, :math:`d_\rho^{\pi^*}` depends on the choice; the
functions use the policy passed in, or the one policy iteration returns.

References:
    Agarwal, A., Kakade, S. M., Lee, J. D. & Mahajan, G. (2021). On the theory of policy
    gradient methods: optimality, approximation, and distribution shift. *JMLR* 22(98).
    Xiao, L. (2022). On the convergence rates of policy gradient methods. *JMLR* 23(282).
    Scherrer, B. (2014). Approximate policy iteration schemes: a comparison. *ICML*.
    Higham, N. J. (2002). *Accuracy and Stability of Numerical Algorithms*, 2nd ed., SIAM
    (Thm 9.4: backward error of LU with partial pivoting; §7.2: forward error via the
    condition number).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from theory_rl._checks import as_real
from theory_rl.mdps.tabular import TabularMDP, validate_policy

__all__ = [
    "RoundoffWarning",
    "concentrability",
    "effective_horizon",
    "mismatch_coefficient",
    "value_error_floor",
    "value_range",
    "vartheta_rho",
]

EPS = float(np.finfo(np.float64).eps)


class RoundoffWarning(UserWarning):
    """A requested accuracy lies below the float64 round-off floor (:func:`value_error_floor`)
    of the problem, so the solver cannot certify it; its guarantee then carries that floor."""


def effective_horizon(gamma: float) -> float:
    """The effective horizon ``1 / (1 - gamma)``."""
    g = as_real("gamma", gamma, minimum=0.0, maximum=1.0, open_maximum=True)
    return 1.0 / (1.0 - g)


def value_range(mdp: TabularMDP) -> tuple[float, float]:
    """``(min r, max r) / (1 - gamma)``: every ``V^pi(s)`` and ``Q^pi(s, a)`` lies in it.

    ``max(|min|, |max|) = max|r| / (1 - gamma)`` is the *value scale* that relative tolerances
    of :mod:`theory_rl.algorithms.dp` refer to."""
    h = effective_horizon(mdp.gamma)
    lo, hi = _reward_range(mdp)
    return lo * h, hi * h


def _reward_range(mdp: TabularMDP) -> tuple[float, float]:
    """``(min, max)`` of the rewards of feasible state-action pairs."""
    if hasattr(mdp, "reward_range"):
        return mdp.reward_range
    return float(mdp.rewards.min()), float(mdp.rewards.max())


def value_error_floor(mdp: TabularMDP) -> float:
    r"""Absolute round-off floor for comparing two computed value vectors of ``mdp``.

    .. math::  \delta = 4 (S + 2)\, \varepsilon_{\mathrm{mach}}\, \frac{R}{(1-\gamma)^2},
               \qquad R = \max_{s,a} |r(s,a)|.

    Justification (worst-case bounds, Higham 2002):

    * an exact evaluation solves :math:`(I - \gamma P_\pi) v = r_\pi` by LU with partial
      pivoting: backward error :math:`O(S \varepsilon)`, condition number
      :math:`\kappa_\infty \le (1+\gamma)/(1-\gamma)`, and :math:`\|v\|_\infty \le R/(1-\gamma)`,
      so the error is at most :math:`2 S \varepsilon R/(1-\gamma)^2`;
    * one Bellman update sums ``S`` products and adds the reward: error
      :math:`\le (S+2)\varepsilon (R + \gamma\|v\|_\infty) \le (S+2)\varepsilon R/(1-\gamma)`;
      the contraction damps earlier errors, so the accumulated error of value iteration is at
      most :math:`(S+2)\varepsilon R/(1-\gamma)^2`.

    Each computed vector is thus within :math:`2(S+2)\varepsilon R/(1-\gamma)^2` of its exact
    value, and a difference of two such vectors within :math:`\delta`.  A floor of zero
    rewards is replaced by ``eps`` so that comparisons keep a non-zero slack.
    """
    h = effective_horizon(mdp.gamma)
    R = max(*(abs(x) for x in _reward_range(mdp)), EPS)
    return 4.0 * (mdp.n_states + 2) * EPS * R * h * h


def _sup_ratio(d: np.ndarray, mu: np.ndarray, gamma: float) -> float:
    """``max_s d(s) / mu(s)`` with ``0/0 = 0`` and ``d/0 = inf``.

    ``d`` comes from a linear solve with relative error at most ``S eps (1+gamma)/(1-gamma)``
    (see :func:`value_error_floor`); entries below that are zero up to round-off.
    """
    zero = 2.0 * d.size * EPS * (1.0 + gamma) / (1.0 - gamma)
    support = d > zero
    if np.any(support & (mu <= 0)):
        return float("inf")
    return float(np.max(np.where(support, d / np.where(mu > 0, mu, 1.0), 0.0)))


def _distribution(name: str, x: Any, n: int) -> np.ndarray:
    arr = np.asarray(x, dtype=np.float64)
    if arr.shape != (n,) or np.any(arr < 0) or not np.isfinite(arr).all():
        raise ValueError(f"{name} must be a non-negative finite (S,) = ({n},) vector")
    if abs(arr.sum() - 1.0) > 1e-8:  # the row-sum tolerance of theory_rl.mdps.tabular
        raise ValueError(f"{name} must sum to 1, sums to {arr.sum():.12g}")
    return arr


def mismatch_coefficient(mdp: TabularMDP, mu: Any, *, rho: Any = None, policy: Any = None) -> float:
    r""":math:`\|d_\rho^{\pi^*}/\mu\|_\infty` (``inf`` when ``mu`` misses part of the support).

    Args:
        mdp: the problem.
        mu: ``(S,)`` the reference (e.g. exploratory start) distribution.
        rho: ``(S,)`` the performance measure; ``mdp.initial_distribution`` when omitted.
        policy: an optimal policy; computed by policy iteration when omitted.
    """
    from theory_rl.algorithms import dp  # imported here: dp imports this module

    mu = _distribution("mu", mu, mdp.n_states)
    pi = (
        dp.policy_iteration(mdp).policy
        if policy is None
        else validate_policy(policy, *mdp.rewards.shape)
    )
    return _sup_ratio(dp.occupancy_measure(mdp, pi, rho), mu, mdp.gamma)


def vartheta_rho(mdp: TabularMDP, rho: Any = None, *, policy: Any = None) -> float:
    r"""Xiao (2022)'s :math:`\vartheta_\rho = \frac{1}{1-\gamma}\|d_\rho^{\pi^*}/\rho\|_\infty`.

    ``inf`` when ``rho`` has zeros at states that :math:`\pi^*` reaches from ``rho`` (then the
    linear rate :math:`1 - 1/\vartheta_\rho` of Xiao's Thm 10 degenerates to 1).  Always
    :math:`\ge 1/(1-\gamma)`, since :math:`d_\rho` and :math:`\rho` both sum to one.
    """
    rho = mdp.initial_distribution if rho is None else _distribution("rho", rho, mdp.n_states)
    return effective_horizon(mdp.gamma) * mismatch_coefficient(mdp, rho, rho=rho, policy=policy)


def concentrability(mdp: TabularMDP, mu: Any, *, rho: Any = None) -> float:
    r""":math:`\sup_\pi \|d_\rho^\pi/\mu\|_\infty`, computed exactly (``S`` policy iterations).

    See the module docstring: :math:`\sup_\pi d_\rho^\pi(s) = (1-\gamma)\rho^\top V^*_{e_s}`.
    """
    from theory_rl.algorithms import dp  # imported here: dp imports this module

    mu = _distribution("mu", mu, mdp.n_states)
    rho = mdp.initial_distribution if rho is None else _distribution("rho", rho, mdp.n_states)
    S, A = mdp.n_states, mdp.n_actions
    d_sup = np.empty(S)
    for s in range(S):
        r = np.zeros((S, A))
        r[s] = 1.0
        aux = TabularMDP(mdp.transitions, r, mdp.gamma, rho)
        d_sup[s] = (1.0 - mdp.gamma) * float(rho @ np.asarray(dp.policy_iteration(aux).values))
    return _sup_ratio(d_sup, mu, mdp.gamma)
