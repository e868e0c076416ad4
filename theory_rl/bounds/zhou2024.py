r"""Zhou, Sekhari, Song & Sun (ICLR 2024): hybrid (offline + on-policy) actor-critic and NPG.

* **HAC step size** (Alg. 1 [V]): :math:`\eta = (1-\gamma)\sqrt{\log A / T}` -- :func:`hac_step`.
* **Thm 1 (HAC), shape only** [V, constants not stated in the main text]: cumulative regret
  :math:`\sum_t V^{\pi^e} - V^{\pi^t} = O\big((1-\gamma)^{-2}\sqrt{\log A\,T} +
  (1-\gamma)^{-2}\sqrt{\min\{C_{npg}, C_{off}^2\}\,T}\big)` when the inherent Bellman error is
  at most :math:`1/T`; offline data replace the on-policy coverage :math:`C_{npg}` by the
  offline transfer coefficient.  The claim of this project tests the qualitative consequence on
  the combination lock (offline data lower the online samples needed), not the constant.
* **Fig. 2** [V]: online samples needed to succeed against horizon; HNPG solves ``H = 50`` of the
  continuous lock with about ``3e7`` online samples, on-policy TRPO fails at ``H = 5``.

References:
    Y. Zhou, A. Sekhari, Y. Song, W. Sun. Offline data enhanced on-policy policy gradient with
    provable guarantees. ICLR 2024, arXiv:2311.08384.
"""

from __future__ import annotations

import math

__all__ = ["hac_step", "random_success_probability"]


def hac_step(*, gamma: float, n_actions: int, n_iterations: int) -> float:
    """``(1 - gamma) sqrt(log A / T)``."""
    return (1.0 - gamma) * math.sqrt(math.log(n_actions) / n_iterations)


def random_success_probability(horizon: int, n_actions: int) -> float:
    """``A^-H``: chance that the uniform policy opens the lock (the on-policy exploration cost)."""
    return float(n_actions) ** (-horizon)
