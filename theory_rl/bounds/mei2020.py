r"""Mei, Xiao, Szepesvári & Schuurmans (ICML 2020): softmax PG converges at rate O(1/t).

* **Bandit bound** (their Thm 2 / Lemma 2-3 as restated by a secondary source [V2]): exact
  softmax PG on a ``K``-armed bandit with rewards in ``[0, 1]`` and :math:`\eta = 2/5`
  satisfies :math:`(\pi^*-\pi_t)^\top r \le 5/(t\,c_t^2)` with
  :math:`c_t = \min_{1\le s\le t}\pi_s(a^*)` -- :func:`bandit_bound`.  [D] Smoothness
  :math:`5/2` of :math:`\theta\mapsto\pi_\theta^\top r` for ``r`` in ``[0, 1]`` (their Lemma 2) is
  what makes :math:`\eta = 2/5 = 1/L` admissible; the step-wise argument is
  :math:`\delta_{t+1} \le \delta_t - \frac{1}{2L}\|\nabla\|^2` with the non-uniform
  Łojasiewicz inequality :math:`\|\nabla\| \ge \pi_t(a^*)\delta_t`, whose recursion
  :math:`\delta_{t+1} \le \delta_t - \frac{c^2}{5}\delta_t^2` gives
  :math:`\delta_t \le 5/(c^2 t)`.
* With uniform initialisation :math:`\pi_t(a^*) \ge 1/K` [V2], so the bound is ``5 K^2 / t``.
* Lower bound: :math:`\Omega(1/t)` (abstract [V]); the rate is asymptotically exactly
  :math:`1/t`, so the log-log slope tends to ``-1``.

References:
    J. Mei, C. Xiao, C. Szepesvári, D. Schuurmans. On the global convergence rates of softmax
    policy gradient methods. ICML 2020, arXiv:2005.06392.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["BANDIT_STEP", "bandit_bound"]

#: The step size 1/L with L = 5/2 (Mei et al. Lemma 2).
BANDIT_STEP = 2.0 / 5.0


def bandit_bound(t: Any, prob_opt: Any) -> np.ndarray:
    """``5 / (t c_t^2)`` with ``c_t`` the running minimum of ``prob_opt[1..t]``; ``t >= 1``.

    Args:
        t: ``(K,)`` iteration numbers ``>= 1``.
        prob_opt: ``(K,)`` values ``pi_t(a*)`` at those iterations (in order, starting at 1).
    """
    t = np.asarray(t, dtype=np.float64)
    c = np.minimum.accumulate(np.asarray(prob_opt, dtype=np.float64))
    return 5.0 / (t * c**2)
