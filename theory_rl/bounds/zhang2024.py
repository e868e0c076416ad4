r"""Zhang, Hu & Li (ICLR 2024, arXiv:2306.11626): the bounds the soft-robust claims compare with.

The paper body could not be read (theory notes §4: the PG step size, iteration count and the
RFZI bound of Theorem 5 are **[U]**), so the two functions below are **derived here** [D] in
weaker, justified forms; neither reproduces a constant of the paper.

* :func:`pg_rate_exponent` -- the exponent of the sublinear rate of exact projected PG.  With
  gradient domination (the paper's Lemma 2, [P: name only]) and an :math:`\ell`-smooth
  objective, Agarwal et al.'s argument (JMLR 2021, Thm 5.3) bounds
  :math:`\min_{t<T}V^*(\rho) - V^{\pi_t}(\rho)` by :math:`C/\sqrt T`; for :math:`\eta \le
  1/\ell` ascent is monotone so the last iterate obeys it.  Exponent ``-1/2`` [D, conditional
  on the smoothness of the soft-robust value, U].
* :func:`rfzi_error_bound` -- a high-probability bound on the tabular RFZI error (derivation in
  its docstring), with the :math:`e^{\beta\gamma\,\mathrm{sp}(V^*)}` factor the reviewers
  point to and the :math:`n^{-1/2}` rate.

References:
    R. Zhang, Y. Hu, N. Li. Soft robust MDPs and risk-sensitive MDPs: equivalence, policy
    gradient, and sample complexity. ICLR 2024, arXiv:2306.11626.
    A. Agarwal, S. Kakade, J. Lee, G. Mahajan. On the theory of policy gradient methods. JMLR
    22, 2021.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

__all__ = ["pg_rate_exponent", "rfzi_error_bound", "rfzi_statistical_term"]


def pg_rate_exponent() -> float:
    """The derived exponent ``-1/2`` of the exact projected PG rate (module docstring, [D])."""
    return -0.5


def rfzi_statistical_term(
    n: Any, *, beta: float, gamma: float, value_span: float, n_pairs: int, delta: float
) -> np.ndarray:
    r""":math:`\frac{e^{\beta\gamma\,\mathrm{sp}} - 1}{\beta(1-\gamma)}
    \sqrt{\log(2|S||A|/\delta)/(2n)}` (see :func:`rfzi_error_bound`); broadcasts over ``n``."""
    if not (beta > 0 and 0 <= gamma < 1 and value_span >= 0 and 0 < delta < 1 and n_pairs >= 1):
        raise ValueError("need beta > 0, 0 <= gamma < 1, value_span >= 0, 0 < delta < 1")
    n = np.asarray(n, dtype=np.float64)
    if np.any(n < 1):
        raise ValueError("n must be >= 1")
    lip = math.expm1(beta * gamma * value_span) / (beta * (1.0 - gamma))
    return lip * np.sqrt(math.log(2.0 * n_pairs / delta) / (2.0 * n))


def rfzi_error_bound(
    n: Any,
    k: Any,
    *,
    beta: float,
    gamma: float,
    value_span: float,
    n_pairs: int,
    delta: float,
    initial_error: float,
) -> np.ndarray:
    r"""Derived bound [D] on :math:`\|Q_k - Q^*\|_\infty` of tabular RFZI with ``n`` samples per
    pair, holding for every ``k`` with probability ``>= 1 - delta``:

    .. math::  \gamma^k\|Q_0 - Q^*\|_\infty + \frac{e^{\beta\gamma\,\mathrm{sp}(V^*)} - 1}
               {\beta(1-\gamma)}\sqrt{\frac{\log(2|S||A|/\delta)}{2n}}.

    *Derivation.*  Tabular RFZI is :math:`Q_{k+1} = \hat TQ_k` with :math:`\hat T Q = r -
    \beta^{-1}\log\hat P e^{-\beta\gamma\max Q}`, a gamma-contraction for every empirical
    :math:`\hat P`, so :math:`\|Q_{k+1} - Q^*\| \le \gamma\|Q_k - Q^*\| + \|\hat TQ^* - TQ^*\|`
    and summing, :math:`\|Q_k - Q^*\| \le \gamma^k\|Q_0 - Q^*\| + \|\hat TQ^* - TQ^*\|/(1-\gamma)`.
    At the *fixed* function :math:`f = e^{-\beta\gamma(V^* - \min V^*)}` (the shift cancels in
    :math:`\log \hat Pf - \log Pf`), with values in :math:`[e^{-\beta\gamma\,\mathrm{sp}}, 1]`,
    Hoeffding and a union bound over the ``|S||A|`` pairs give :math:`|\hat Pf - Pf| \le
    (1 - e^{-\beta\gamma\,\mathrm{sp}})\sqrt{\log(2|S||A|/\delta)/(2n)}`; ``log`` is
    :math:`e^{\beta\gamma\,\mathrm{sp}}`-Lipschitz above :math:`e^{-\beta\gamma\,\mathrm{sp}}`;
    divide by ``beta``.  No uniformity over iterates is needed because the data enter only
    through :math:`\hat TQ^*`.
    """
    k = np.asarray(k, dtype=np.float64)
    stat = rfzi_statistical_term(
        n, beta=beta, gamma=gamma, value_span=value_span, n_pairs=n_pairs, delta=delta
    )
    return gamma**k * float(initial_error) + stat
