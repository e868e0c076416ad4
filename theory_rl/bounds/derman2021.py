r"""Derman, Geist & Mannor (NeurIPS 2021, arXiv:2110.06267): R2 MDPs.

The equivalence "reward-and-transition-robust ball = policy regulariser" for sa-rectangular
balls :math:`|r - r_0| \le \alpha_{sa}`, :math:`\|P - P_0\|_p \le \beta_{sa}` (no simplex
constraint) is, per row, Hölder's equality
:math:`\min_{\|b\|_p\le\beta} b\cdot v = -\beta\|v\|_q` [S: the theory notes; D: this
statement]:

.. math::  (T^\pi_U v)(s) = (T^\pi_0 v)(s) - \textstyle\sum_a\pi(a|s)(\alpha_{sa} +
           \gamma\beta_{sa}\|v\|_q).

The paper's own conditions on ``beta`` for its operators to contract were not read [U]; the
modulus below is derived [D].

References:
    E. Derman, M. Geist, S. Mannor. Twice regularized MDPs and the equivalence between
    robustness and regularization. NeurIPS 2021, arXiv:2110.06267.
"""

from __future__ import annotations

import math

__all__ = ["r2_fixed_point_error", "r2_modulus"]


def r2_modulus(gamma: float, beta_max: float, n_states: int, q: float) -> float:
    r""":math:`\gamma(1 + \beta_{\max}S^{1/q})` [D]: a sup-norm Lipschitz constant of the R2
    operators (:math:`|\,\|v\|_q - \|w\|_q| \le S^{1/q}\|v - w\|_\infty`)."""
    if not (0 <= gamma < 1 and beta_max >= 0 and n_states >= 1 and q >= 1):
        raise ValueError("need 0 <= gamma < 1, beta_max >= 0, n_states >= 1, q >= 1")
    inv_q = 0.0 if math.isinf(q) else 1.0 / q
    return gamma * (1.0 + beta_max * n_states**inv_q)


def r2_fixed_point_error(residual: float, modulus: float) -> float:
    r"""``residual / (1 - L)``: for an ``L``-contraction ``T`` (``L < 1``),
    :math:`\|v - v^*\|_\infty \le \|Tv - v\|_\infty/(1 - L)`."""
    if not 0 <= modulus < 1:
        raise ValueError(f"modulus must be in [0, 1), got {modulus}")
    return float(residual) / (1.0 - modulus)
