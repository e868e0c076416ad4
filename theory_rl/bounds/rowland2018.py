r"""Error bounds of categorical and quantile distributional dynamic programming.

Notation: :math:`\eta^\pi` the true return laws, :math:`\eta_C` (:math:`\eta_Q`) the fixed point
of :math:`\Pi_C T^\pi` (:math:`\Pi_Q T^\pi`), support spacing :math:`\varsigma`, ``m`` atoms or
quantiles, a bar for the max over states.

* **Contractions.** :math:`\Pi_C T^\pi` is a :math:`\sqrt\gamma`-contraction in
  :math:`\bar\ell_2` (Rowland et al. 2018; book Ch. 4-5, [C]) and :math:`\Pi_Q T^\pi` a
  :math:`\gamma`-contraction in :math:`\bar w_\infty` (Dabney et al. 2018, Prop. 2, [C]) --
  :func:`contraction_factor`.
* **Categorical fixed point** (Rowland et al. 2018, Prop. 3, in the form recalled by the theory
  notes [R]; derived here [D]): :math:`\Pi_C` is the :math:`\ell_2`-orthogonal projection onto
  the laws on the support, so for laws inside :math:`[\theta_1, \theta_M]` Pythagoras gives
  :math:`\ell_2^2(\Pi_C T\eta_C, T\eta^\pi) = \ell_2^2(\Pi_C T\eta_C, \Pi_C T\eta^\pi) +
  \ell_2^2(\Pi_C\eta^\pi, \eta^\pi) \le \gamma\bar\ell_2^2(\eta_C, \eta^\pi) + \epsilon^2`, hence
  :math:`\bar\ell_2(\eta_C, \eta^\pi) \le \epsilon/\sqrt{1-\gamma}` with
  :math:`\epsilon = \max_s\ell_2(\Pi_C\eta^\pi(s), \eta^\pi(s))` --
  :func:`categorical_fixed_point_bound`.  In cell ``i`` of the support
  :math:`|F_\nu - F_{\Pi_C\nu}| \le p_i` (the mass of the open cell), so
  :math:`\epsilon^2 \le \varsigma\sum_i p_i^2 \le \varsigma` and
  :math:`\bar\ell_2(\eta_C, \eta^\pi) \le \sqrt{\varsigma/(1-\gamma)}` --
  :func:`categorical_spacing_bound`.  (Peng et al. 2025 cite Prop. 3 as
  :math:`w_1(\eta^\pi, \eta_C) \le (1-\gamma)^{-1}\ell_2(\eta^\pi, \Pi\eta^\pi)` under a
  state weighting; the form above is the one derivable here.)
* **Quantile fixed point** [D] (Banach): :math:`\bar w_\infty(\eta_Q, \eta^\pi) \le \bar
  w_\infty(\Pi_Q\eta^\pi, \eta^\pi)/(1-\gamma)` -- :func:`quantile_fixed_point_bound`; and the
  book's §5.10 bound [R, constant unverified] :math:`\bar w_1(\eta_Q, \eta^\pi) \le
  3(V_{\max} - V_{\min})/(2m(1-\gamma))` -- :func:`quantile_w1_bound`.
* **Monte Carlo** (Dvoretzky-Kiefer-Wolfowitz with Massart's constant): with ``N`` i.i.d.
  samples, :math:`\sup_x|\hat F_N - F| \le \varepsilon = \sqrt{\ln(2/\delta)/(2N)}` with
  probability :math:`\ge 1-\delta` -- :func:`dkw_epsilon`; on a support of length ``L`` this
  moves :math:`\ell_2` by at most :math:`\sqrt L\varepsilon` and :math:`w_1` by
  :math:`L\varepsilon`.

References:
    Rowland, M., Bellemare, M. G., Dabney, W., Munos, R. & Teh, Y. W. (2018). An analysis of
    categorical distributional reinforcement learning. AISTATS. arXiv:1802.08163.
    Dabney, W., Rowland, M., Bellemare, M. G. & Munos, R. (2018). Distributional RL with
    quantile regression. AAAI.
    Bellemare, M. G., Dabney, W. & Rowland, M. (2023). *Distributional Reinforcement
    Learning*. MIT Press, §5.9-5.10.
    Massart, P. (1990). The tight constant in the DKW inequality. Ann. Probab. 18(3).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from theory_rl._checks import as_int, as_positive, as_real

__all__ = [
    "categorical_fixed_point_bound",
    "categorical_spacing_bound",
    "contraction_factor",
    "dkw_epsilon",
    "quantile_fixed_point_bound",
    "quantile_w1_bound",
]


def _gamma(gamma: Any) -> float:
    return as_real("gamma", gamma, minimum=0.0, maximum=1.0, open_maximum=True)


def contraction_factor(kind: str, gamma: float) -> float:
    """``sqrt(gamma)`` for ``"categorical"`` (sup-Cramér), ``gamma`` for ``"quantile"`` (sup-w_inf).

    >>> contraction_factor("categorical", 0.25)
    0.5
    """
    g = _gamma(gamma)
    if kind == "categorical":
        return math.sqrt(g)
    if kind == "quantile":
        return g
    raise ValueError(f'kind must be "categorical" or "quantile", got {kind!r}')


def categorical_fixed_point_bound(projection_error: Any, gamma: float) -> Any:
    r""":math:`\bar\ell_2(\eta_C, \eta^\pi) \le \epsilon/\sqrt{1-\gamma}`, ``projection_error``
    :math:`= \epsilon = \max_s \ell_2(\Pi_C\eta^\pi(s), \eta^\pi(s))`.

    >>> round(float(categorical_fixed_point_bound(0.1, 0.75)), 12)
    0.2
    """
    return np.asarray(projection_error) / math.sqrt(1.0 - _gamma(gamma))


def categorical_spacing_bound(spacing: float, gamma: float) -> float:
    r""":math:`\sqrt{\varsigma/(1-\gamma)}` (returns inside the support).

    >>> categorical_spacing_bound(0.5, 0.5)
    1.0
    """
    return math.sqrt(as_positive("spacing", spacing) / (1.0 - _gamma(gamma)))


def quantile_fixed_point_bound(projection_error: Any, gamma: float) -> Any:
    r""":math:`\bar w_\infty(\eta_Q, \eta^\pi) \le
    \bar w_\infty(\Pi_Q\eta^\pi, \eta^\pi)/(1-\gamma)`.

    >>> float(quantile_fixed_point_bound(0.1, 0.5))
    0.2
    """
    return np.asarray(projection_error) / (1.0 - _gamma(gamma))


def quantile_w1_bound(v_min: float, v_max: float, n_quantiles: int, gamma: float) -> float:
    r"""Book §5.10 [R]: :math:`3(V_{\max} - V_{\min})/(2m(1-\gamma))`.

    >>> quantile_w1_bound(0.0, 2.0, 3, 0.5)
    2.0
    """
    m = as_int("n_quantiles", n_quantiles)
    width = as_real("v_max", v_max) - as_real("v_min", v_min)
    if width < 0:
        raise ValueError("v_max must be >= v_min")
    return 3.0 * width / (2.0 * m * (1.0 - _gamma(gamma)))


def dkw_epsilon(n_samples: int, delta: float) -> float:
    r""":math:`\sqrt{\ln(2/\delta)/(2N)}` (DKW-Massart).

    >>> round(dkw_epsilon(100_000, 0.01), 4)
    0.0051
    """
    n = as_int("n_samples", n_samples)
    d = as_real("delta", delta, minimum=0.0, maximum=1.0, open_minimum=True, open_maximum=True)
    return math.sqrt(math.log(2.0 / d) / (2.0 * n))
