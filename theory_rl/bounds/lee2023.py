r"""Anchored value iteration (Anc-VI): the Bellman-error bound of Lee and Ryu (2023).

Anc-VI iterates :math:`v_k = \beta_k v_0 + (1-\beta_k) T v_{k-1}` with
:math:`\beta_k = 1/\sum_{i=0}^k \gamma^{-2i}` (``gamma = 1``: :math:`\beta_k = 1/(k+1)`), see
:func:`theory_rl.algorithms.dp.anchoring_schedule`.  The stated bound, for a fixed point
:math:`v^*` of ``T`` and every ``k >= 0``,

.. math::

    \|T v_k - v_k\|_\infty \;\le\;
    \frac{(\gamma^{-1} - \gamma)\,(1 + 2\gamma - \gamma^{k+1})}{\gamma^{-(k+1)} - \gamma^{k+1}}
    \,\|v_0 - v^*\|_\infty \qquad (0 < \gamma < 1),
    \qquad
    \|T v_k - v_k\|_\infty \le \frac{2}{k+1}\,\|v_0 - v^*\|_\infty \qquad (\gamma = 1),

is :math:`O(1/k)` uniformly as :math:`\gamma \to 1` (its limit is the ``gamma = 1`` bound),
whereas value iteration's :math:`(1+\gamma)\gamma^k\|v_0 - v^*\|` is :math:`O(1)` for
:math:`k \lesssim 1/(1-\gamma)` -- :func:`anchored_vi_bound`, :func:`vi_bellman_error_bound`.

**Derivation for a policy operator** :math:`T_\pi v = r_\pi + \gamma P_\pi v` (done here; it is
what the claims gate on).  With :math:`e_k = v_k - v^*` and :math:`A = \gamma P_\pi`,
:math:`e_k = \beta_k e_0 + (1-\beta_k) A e_{k-1}`, so :math:`e_k = \sum_{j=0}^{k} c_{k,j} A^j
e_0` with :math:`c_{k,j} = \beta_{k-j}\prod_{i=k-j+1}^{k}(1-\beta_i)`.  Then
:math:`Tv_k - v_k = (A - I)e_k = -c_{k,0} e_0 + \sum_{j=1}^{k}(c_{k,j-1} - c_{k,j})A^j e_0
+ c_{k,k} A^{k+1} e_0`, and :math:`\|A^j\|_\infty = \gamma^j` gives

.. math::  \|Tv_k - v_k\|_\infty \le \Big(c_{k,0} + \sum_{j=1}^{k}|c_{k,j-1}-c_{k,j}|\gamma^j
           + c_{k,k}\gamma^{k+1}\Big)\|e_0\|_\infty
           \quad\text{(:func:`anchored_coefficient_bound`)},

which for the schedule above equals the closed form to rounding (checked in
``tests/test_dp_extra_claims.py``; at ``gamma = 1`` all :math:`c_{k,j} = 1/(k+1)` and it is
:math:`2/(k+1)`).  The closed form is thus confirmed by derivation for :math:`T_\pi`; for the
optimality operator ``T`` the paper proves the same rate (Section 2.2, via the "Bellman
anti-optimality operator"; the excerpt we could consult states that Anc-VI with ``T``
"exhibits the same accelerated convergence rate" as with :math:`T_\pi`).

**Sources and confirmation.**  Schedule, the :math:`O(1/k)` rate at :math:`\gamma \approx 1`
and at :math:`\gamma = 1`, the optimality-operator result and the lower bound "matching the
upper bound up to a constant factor of 4" are confirmed from the paper's abstract and section
text (NeurIPS 2023 / arXiv:2305.16569).  [U] The theorem numbers (Theorem 1: :math:`T_\pi`;
Theorem 2: ``T``; Section 3: ``gamma = 1``) and the exact constant of the optimality-operator
and ``gamma = 1`` statements are recalled, not read: they coincide with the derivation above
for :math:`T_\pi`, which is all that is derived here.

References:
    J. Lee and E. K. Ryu. Accelerating value iteration with anchoring. NeurIPS 2023
    (arXiv:2305.16569).
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = [
    "anchored_coefficient_bound",
    "anchored_vi_bound",
    "vi_bellman_error_bound",
]


def _gamma(gamma: Any) -> float:
    g = float(gamma)
    if not 0.0 < g <= 1.0:
        raise ValueError(f"gamma must be in (0, 1], got {gamma}")
    return g


def _k(k: Any) -> np.ndarray:
    ks = np.asarray(k)
    if ks.dtype.kind not in "iu" or (ks < 0).any():
        raise ValueError(f"k must be integers >= 0, got {k!r}")
    return ks.astype(np.float64)


def anchored_vi_bound(gamma: float, k: Any, initial_distance: float) -> np.ndarray:
    r"""Lee and Ryu's bound on :math:`\|Tv_k - v_k\|_\infty` (module docstring) times
    ``initial_distance`` :math:`= \|v_0 - v^*\|_\infty`; ``k`` int or array, same shape out.

    Computed as :math:`(1-\gamma^2)\gamma^{k}(1+2\gamma-\gamma^{k+1})/(1-\gamma^{2k+2})` (the
    closed form multiplied through by :math:`\gamma^{k+1}`: no overflow for large ``k``).
    """
    g, ks = _gamma(gamma), _k(k)
    d = float(initial_distance)
    if not d >= 0:
        raise ValueError(f"initial_distance must be >= 0, got {initial_distance}")
    if g == 1.0:
        return 2.0 * d / (ks + 1.0)
    gk = g**ks
    return (1.0 - g * g) * gk * (1.0 + 2.0 * g - g * gk) / (1.0 - (g * gk) ** 2) * d


def anchored_coefficient_bound(betas: Any, gamma: float) -> float:
    r"""The derived bound factor for a policy operator after ``k = len(betas) - 1`` steps:
    :math:`c_{k,0} + \sum_j |c_{k,j-1}-c_{k,j}|\gamma^j + c_{k,k}\gamma^{k+1}` (module
    docstring) for *any* anchor weights ``betas`` ``(k+1,)`` with ``betas[0] = 1``."""
    b = np.asarray(betas, dtype=np.float64)
    g = _gamma(gamma)
    if b.ndim != 1 or b.size == 0 or b[0] != 1.0 or ((b < 0) | (b > 1)).any():
        raise ValueError("betas must be a 1-D array in [0, 1] with betas[0] = 1")
    c = np.array([1.0])
    for beta in b[1:]:
        c = np.concatenate([[beta], (1.0 - beta) * c])
    k = c.size - 1
    j = np.arange(1, k + 1)
    return float(c[0] + np.sum(np.abs(c[:-1] - c[1:]) * g**j) + c[k] * g ** (k + 1))


def vi_bellman_error_bound(gamma: float, k: Any, initial_distance: float) -> np.ndarray:
    r"""Value iteration's :math:`\|Tv_k - v_k\|_\infty \le (1+\gamma)\gamma^k\|v_0 - v^*\|_\infty`
    (:math:`Tv_k - v_k = (Tv_k - v^*) - (v_k - v^*)` and the contraction), for comparison."""
    g, ks = _gamma(gamma), _k(k)
    return (1.0 + g) * g**ks * float(initial_distance)
