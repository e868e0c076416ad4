r"""Agarwal, Kakade, Lee & Mahajan (JMLR 2021): softmax NPG and the vanishing-gradient chain.

* **NPG bound** (Thm 5.3; AJKS book Thm 12.7 [V]): from the uniform policy, any
  :math:`\eta > 0`, every :math:`T \ge 1` and every start distribution :math:`\rho`,
  :math:`V^*(\rho) - V^{(T)}(\rho) \le \log|A|/(\eta T) + 1/((1-\gamma)^2 T)` --
  :func:`npg_bound`; the iteration count that guarantees a gap :math:`\varepsilon`,
  :func:`npg_iterations_bound`.
* **Monotone improvement** (AJKS Lemma 12.8 [V], re-derived in
  :mod:`theory_rl.algorithms.npg`): :math:`V^{(t+1)}(s) - V^{(t)}(s) \ge
  \frac{1-\gamma}{\eta}\log Z_t(s) \ge 0` -- :func:`monotone_improvement_bound`.

References:
    A. Agarwal, S. Kakade, J. Lee, G. Mahajan. On the theory of policy gradient methods:
    optimality, approximation, and distribution shift. JMLR 22 (2021), arXiv:1908.00261.
    A. Agarwal, N. Jiang, S. Kakade, W. Sun. Reinforcement Learning: Theory and Algorithms, ch. 12.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

__all__ = ["monotone_improvement_bound", "npg_bound", "npg_iterations_bound"]


def npg_bound(T: Any, *, eta: Any, gamma: float, n_actions: int) -> np.ndarray:
    """``log|A|/(eta T) + 1/((1-gamma)^2 T)`` for ``T >= 1`` (broadcasts over T and eta)."""
    T = np.asarray(T, dtype=np.float64)
    if np.any(T < 1):
        raise ValueError("T must be >= 1")
    eta = np.asarray(eta, dtype=np.float64)
    return math.log(n_actions) / (eta * T) + 1.0 / ((1.0 - gamma) ** 2 * T)


def npg_iterations_bound(epsilon: float, *, eta: float, gamma: float, n_actions: int) -> int:
    """Smallest ``T`` with ``npg_bound(T) <= epsilon``: the guaranteed iteration count.

    ``npg_bound(T) = c/T`` with ``c = log|A|/eta + 1/(1-gamma)^2``, so ``T = ceil(c/epsilon)``;
    at a tie (``c/epsilon`` an integer) the rounding of ``c/epsilon`` and of ``npg_bound`` can
    disagree by one ulp, so the candidate is moved by one step until it is the smallest ``T``
    for which the computed :func:`npg_bound` is ``<= epsilon``.
    """
    if not epsilon > 0:
        raise ValueError(f"epsilon must be > 0, got {epsilon}")
    c = math.log(n_actions) / eta + 1.0 / (1.0 - gamma) ** 2
    T = max(1, math.ceil(c / epsilon))

    def bound(n: int) -> float:
        return float(npg_bound(n, eta=eta, gamma=gamma, n_actions=n_actions))

    while bound(T) > epsilon:
        T += 1
    while T > 1 and bound(T - 1) <= epsilon:
        T -= 1
    return T


def monotone_improvement_bound(log_partition: Any, *, eta: Any, gamma: float) -> np.ndarray:
    """``(1 - gamma)/eta * log Z_t(s)``: lower bound on ``V^{t+1}(s) - V^t(s)``."""
    return (1.0 - gamma) / np.asarray(eta, dtype=np.float64) * np.asarray(log_partition)
