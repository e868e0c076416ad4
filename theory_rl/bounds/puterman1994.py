r"""Dynamic-programming guarantees of Puterman (1994), as functions of the problem constants.

Notation: ``T`` is the Bellman optimality operator
:math:`(Tv)(s) = \max_a r(s,a) + \gamma \sum_{s'} P(s'|s,a) v(s')`, :math:`V^*` its fixed point,
``gamma`` in ``[0, 1)``, :math:`\|\cdot\|_\infty` the sup norm and
:math:`\operatorname{sp}(v) = \max_s v(s) - \min_s v(s)` the span seminorm.

Stated results (section numbers of the 1994 Wiley edition):

* **Contraction (Prop. 6.2.4, with the Banach fixed-point Thm 6.2.3).**  ``T`` is a
  ``gamma``-contraction in the sup norm, so value iteration :math:`v_{k+1} = T v_k` satisfies,
  for every initial :math:`v_0` and every ``k >= 0``,
  :math:`\|v_k - V^*\|_\infty \le \gamma^k \|v_0 - V^*\|_\infty`  -- :func:`vi_contraction_bound`.
  No assumption beyond finite ``S``, ``A`` and bounded rewards.
* **Sup-norm stopping rule (Thm 6.3.1).**  If :math:`\|v_{k+1} - v_k\|_\infty <
  \varepsilon(1-\gamma)/(2\gamma)`, the policy greedy w.r.t. :math:`v_{k+1}` is
  ``epsilon``-optimal and :math:`\|v_{k+1} - V^*\|_\infty < \varepsilon/2`
  -- :func:`sup_norm_stopping_threshold`.
* **Span stopping rule and MacQueen bounds (§6.6.3).**  With :math:`d = T v_k - v_k`,
  :math:`T v_k + c \min_s d \le V^* \le T v_k + c \max_s d` with :math:`c = \gamma/(1-\gamma)`
  (MacQueen 1966; Porteus 1971) -- :func:`macqueen_bounds`.  The same bounds hold for
  :math:`V^\pi` of the policy ``pi`` greedy w.r.t. :math:`v_k` from below, so stopping when
  :math:`\gamma\,\operatorname{sp}(d)/(1-\gamma) \le \varepsilon` guarantees
  :math:`\|V^\pi - V^*\|_\infty \le \varepsilon` and the midpoint of the bounds is within
  ``epsilon / 2`` of :math:`V^*` -- :func:`span_stopping_guarantee`,
  :func:`span_stopping_threshold`.
* **Policy iteration (Prop. 6.4.1 and Thm 6.4.2).**  The values of successive policies are
  monotone, :math:`V^{\pi_{k+1}} \ge V^{\pi_k}` state by state, with strict improvement in some
  state until the policy is optimal; hence no deterministic policy repeats and policy iteration
  terminates, with an optimal policy, after at most :math:`|A|^{|S|}` improvement steps (the
  number of deterministic stationary policies) -- :func:`policy_iteration_bound`.

The theorem numbers are recalled from the 1994 edition; the statements themselves are the
textbook facts above, re-derived in each docstring.

References:
    Puterman, M. L. (1994). *Markov Decision Processes: Discrete Stochastic Dynamic
    Programming*. Wiley.  §6.2-6.4, §6.6.
    MacQueen, J. (1966). A modified dynamic programming method for Markovian decision
    problems. *J. Math. Anal. Appl.* 14, 38-43.
    Porteus, E. L. (1971). Some bounds for discounted sequential decision processes.
    *Management Science* 18(1), 7-11.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = [
    "macqueen_bounds",
    "policy_iteration_bound",
    "span",
    "span_stopping_guarantee",
    "span_stopping_threshold",
    "sup_norm_stopping_threshold",
    "vi_contraction_bound",
]


def _check_gamma(gamma: float) -> float:
    g = float(gamma)
    if not 0.0 <= g < 1.0:
        raise ValueError(f"gamma must be in [0, 1), got {gamma}")
    return g


def span(v: Any) -> float:
    """The span seminorm ``max(v) - min(v)``."""
    v = np.asarray(v, dtype=np.float64)
    return float(v.max() - v.min())


def vi_contraction_bound(initial_error: float, gamma: float, k: Any) -> np.ndarray:
    r"""Value iteration's contraction bound :math:`\gamma^k \|v_0 - V^*\|_\infty`.

    Puterman (1994) Prop. 6.2.4: :math:`\|Tu - Tv\|_\infty \le \gamma \|u - v\|_\infty`; with
    :math:`TV^* = V^*` induction gives the bound at every ``k``.

    Args:
        initial_error: :math:`\|v_0 - V^*\|_\infty`.
        gamma: discount factor.
        k: iteration indices (array-like of non-negative ints).

    Returns:
        The bound at each ``k`` (float64 array of the shape of ``k``).
    """
    g = _check_gamma(gamma)
    k = np.asarray(k, dtype=np.float64)
    if np.any(k < 0):
        raise ValueError("iteration indices k must be non-negative")
    return float(initial_error) * g**k


def sup_norm_stopping_threshold(epsilon: float, gamma: float) -> float:
    r"""Residual below which value iteration's greedy policy is ``epsilon``-optimal.

    Puterman (1994) Thm 6.3.1: :math:`\|v_{k+1} - v_k\|_\infty < \varepsilon (1-\gamma)/(2\gamma)`
    implies the greedy policy w.r.t. :math:`v_{k+1}` is ``epsilon``-optimal and
    :math:`\|v_{k+1} - V^*\|_\infty < \varepsilon / 2`.
    """
    g = _check_gamma(gamma)
    return float(epsilon) * (1.0 - g) / (2.0 * g) if g > 0 else float("inf")


def macqueen_bounds(values: Any, next_values: Any, gamma: float) -> tuple[np.ndarray, np.ndarray]:
    r"""MacQueen's lower and upper bounds on :math:`V^*` from one value-iteration step.

    With :math:`v' = Tv` and :math:`d = v' - v`,

    .. math::  v' + \frac{\gamma}{1-\gamma}\min_s d(s) \;\le\; V^* \;\le\;
               v' + \frac{\gamma}{1-\gamma}\max_s d(s).

    (Puterman 1994 §6.6.3.)  Proof sketch of the upper bound: :math:`T v' \le v' + \gamma \max d`
    by monotonicity and :math:`T(v + c) = Tv + \gamma c`; iterating,
    :math:`T^n v' \le v' + (\gamma + \dots + \gamma^n) \max d`.  The lower bound is symmetric and
    also holds for :math:`V^\pi`, ``pi`` greedy w.r.t. ``v``, with :math:`T_\pi` in place of
    ``T``.
    """
    g = _check_gamma(gamma)
    v = np.asarray(values, dtype=np.float64)
    v1 = np.asarray(next_values, dtype=np.float64)
    d = v1 - v
    c = g / (1.0 - g)
    return v1 + c * d.min(), v1 + c * d.max()


def span_stopping_guarantee(span_of_difference: float, gamma: float) -> tuple[float, float]:
    r"""Errors guaranteed when value iteration stops with :math:`\operatorname{sp}(Tv - v) = s`.

    Returns ``(policy_error, value_error)``: the policy greedy w.r.t. ``v`` satisfies
    :math:`\|V^\pi - V^*\|_\infty \le \gamma s / (1-\gamma)` (both lie between the MacQueen
    bounds of :func:`macqueen_bounds`, whose width is :math:`\gamma s/(1-\gamma)`), and the
    midpoint of the bounds is within half that width of :math:`V^*`.
    """
    g = _check_gamma(gamma)
    width = g * float(span_of_difference) / (1.0 - g)
    return width, width / 2.0


def span_stopping_threshold(epsilon: float, gamma: float) -> float:
    r"""The span :math:`\operatorname{sp}(Tv - v)` at which :func:`span_stopping_guarantee`
    gives an ``epsilon``-optimal policy: :math:`\varepsilon (1-\gamma)/\gamma`."""
    g = _check_gamma(gamma)
    return float(epsilon) * (1.0 - g) / g if g > 0 else float("inf")


def policy_iteration_bound(n_states: int, n_actions: int) -> int:
    r"""Puterman (1994) Thm 6.4.2: policy iteration needs at most :math:`|A|^{|S|}` iterations.

    Each improvement step that changes the policy strictly increases its value in some state
    and decreases it in none (Prop. 6.4.1), so no deterministic stationary policy is visited
    twice; there are :math:`|A|^{|S|}` of them.  Returned as an exact Python int.
    """
    if n_states < 1 or n_actions < 1:
        raise ValueError(f"need n_states, n_actions >= 1, got {n_states}, {n_actions}")
    return int(n_actions) ** int(n_states)
