r"""Synchronous Q-learning's :math:`\ell_\infty` error (Wainwright 2019), as a rate shape.

Wainwright (2019, arXiv:1905.06265) bounds synchronous Q-learning with the rescaled linear step
:math:`\alpha_k = 1/(1+(1-\gamma)k)` by, in expectation and up to a universal constant ``c``,

.. math::  \mathbb E\|Q_k - Q^*\|_\infty \le c\Big(\frac{\|Q_0 - Q^*\|_\infty}{1+(1-\gamma)k}
           + \frac{\sigma(Q^*)\sqrt{\log(2|S||A|k)}}{(1-\gamma)^{3/2}\sqrt k}
           + \frac{\mathrm{span}(Q^*)\log(2|S||A|k)}{(1-\gamma)^2 k}\Big)

(abstract [V]: "non-asymptotic bounds on the :math:`\ell_\infty`-norm for a range of stepsizes";
the display and its terms are **recalled [U]**; ``c`` is not stated).  Only the rate shape is
used: :func:`rate_shape` returns the dominant term's dependence on ``k``,
:math:`\sqrt{\log(2SAk)/k}`, whose fitted exponent on a window is the stated exponent of the
claim ``q_learning_rate`` (one-sided).  Even-Dar & Mansour (2003) give, for polynomial steps
:math:`1/k^\omega`, the same :math:`k^{-1/2}`-type behaviour up to polynomial factors in
:math:`1/(1-\gamma)`.

References:
    M. J. Wainwright. Stochastic approximation with cone-contractive operators: sharp
    l-infinity bounds for Q-learning. arXiv:1905.06265 (2019).
    E. Even-Dar, Y. Mansour. Learning rates for Q-learning. JMLR 5 (2003).
"""

from __future__ import annotations

import numpy as np

__all__ = ["rate_shape", "stated_exponent"]


def rate_shape(k: np.ndarray, n_states: int, n_actions: int) -> np.ndarray:
    r""":math:`\sqrt{\log(2SAk)/k}` at each ``k >= 1``.

    Example:
        >>> round(float(rate_shape(np.array([1.0]), 1, 1)[0]) ** 2, 12)
        0.69314718056
    """
    k = np.asarray(k, dtype=np.float64)
    if np.any(k < 1):
        raise ValueError("k must be >= 1")
    return np.sqrt(np.log(2.0 * n_states * n_actions * k) / k)


def stated_exponent(k: np.ndarray, n_states: int, n_actions: int) -> float:
    """Least-squares slope of ``log rate_shape`` on ``log k`` over ``k`` (about -1/2 plus the
    log factor's share on the window)."""
    k = np.asarray(k, dtype=np.float64)
    return float(np.polyfit(np.log(k), np.log(rate_shape(k, n_states, n_actions)), 1)[0])
