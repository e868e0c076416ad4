r"""Cen, Cheng, Chen, Wei & Chi (Oper. Res. 2022): entropy-regularised NPG converges linearly.

* **Rate** (Thm 1; abstract [V], update [V]): for :math:`0 < \eta \le (1-\gamma)/\tau`,
  :math:`\|Q^*_\tau - Q^{(t)}_\tau\|_\infty` decays like :math:`(1-\eta\tau)^t` --
  :func:`contraction_rate`.  At :math:`\eta = (1-\gamma)/\tau` (soft policy iteration) the
  factor is :math:`\gamma`.
* **Constant** (Thm 1 as recalled, [R] in ``theory/pmd_npg.md``, *not* checked against the
  paper): :math:`\|Q^*_\tau - Q^{(t+1)}_\tau\|_\infty \le C_1\gamma(1-\eta\tau)^t` with
  :math:`C_1 = \|Q^*_\tau - Q^{(0)}_\tau\|_\infty + 2\tau(1-\frac{\eta\tau}{1-\gamma})
  \|\log\pi^*_\tau - \log\pi^{(0)}\|_\infty` -- :func:`q_error_bound_recalled`.  Claims report it
  but gate only on the rate.

References:
    S. Cen, C. Cheng, Y. Chen, Y. Wei, Y. Chi. Fast global convergence of natural policy
    gradient methods with entropy regularization. Oper. Res. 70 (2022), arXiv:2007.06558.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["contraction_rate", "q_error_bound_recalled"]


def contraction_rate(*, eta: Any, tau: float, gamma: float) -> Any:
    """``1 - eta * tau``, valid for ``0 < eta <= (1 - gamma)/tau``."""
    eta = np.asarray(eta, dtype=np.float64)
    if np.any(eta <= 0) or np.any(eta * tau > (1.0 - gamma) * (1 + 1e-12)):
        raise ValueError(f"eta must lie in (0, (1 - gamma)/tau] = (0, {(1 - gamma) / tau:g}]")
    return 1.0 - eta * tau


def q_error_bound_recalled(
    t: Any, *, q_error_0: float, log_policy_error_0: float, eta: float, tau: float, gamma: float
) -> np.ndarray:
    """[R] ``C_1 gamma (1 - eta tau)^(t-1)`` for ``t >= 1`` (the bound on iterate ``t``)."""
    t = np.asarray(t, dtype=np.float64)
    c1 = q_error_0 + 2.0 * tau * (1.0 - eta * tau / (1.0 - gamma)) * log_policy_error_0
    return c1 * gamma * contraction_rate(eta=eta, tau=tau, gamma=gamma) ** (t - 1.0)
