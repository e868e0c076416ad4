r"""Zhan, Cen, Huang, Chen, Lee & Chi (SIAM J. Optim. 2023): GPMD for regularised RL.

Regularised objective :math:`V_\tau^\pi(s) = \mathbb E\sum_t\gamma^t(r(s_t,a_t) -
\tau h(\pi_{s_t}))` with convex ``h``; GPMD step size :math:`\eta > 0`,
:math:`\alpha = 1/(1+\eta\tau)`.

**Thm 1** [V2]: for every :math:`\eta > 0`, :math:`\|Q^*_\tau - Q^{(k)}_\tau\|_\infty` converges
linearly with contraction factor :math:`1 - (1-\alpha)(1-\gamma)` up to a constant
:math:`C_1` -- :func:`gpmd_rate`.  The exact :math:`C_1` is unconfirmed [R], so the claims test
the rate only (a fitted slope), never a bound with :math:`C_1`.

With entropy and KL geometry, GPMD is Cen et al.'s entropy-regularised NPG with step
:math:`\eta_{\mathrm{Cen}}` where :math:`1 - \eta_{\mathrm{Cen}}\tau/(1-\gamma) = \alpha`, and
:math:`1 - (1-\alpha)(1-\gamma) = 1 - \eta_{\mathrm{Cen}}\tau`: Cen et al.'s rate [D].

References:
    W. Zhan, S. Cen, B. Huang, Y. Chen, J. D. Lee, Y. Chi. Policy mirror descent for regularized
    reinforcement learning: a generalized framework with linear convergence. SIAM J. Optim.
    33(2), 2023, arXiv:2105.11066.
    S. Cen, C. Cheng, Y. Chen, Y. Wei, Y. Chi. Fast global convergence of natural policy
    gradient methods with entropy regularization. Oper. Res. 70(4), 2022.
"""

from __future__ import annotations

__all__ = ["gpmd_rate"]


def gpmd_rate(gamma: float, eta: float, tau: float) -> float:
    r""":math:`1 - (1-\alpha)(1-\gamma)` with :math:`\alpha = 1/(1+\eta\tau)`."""
    if not 0.0 <= gamma < 1.0 or not eta > 0 or not tau > 0:
        raise ValueError(f"need gamma in [0, 1), eta > 0, tau > 0; got {gamma}, {eta}, {tau}")
    alpha = 1.0 / (1.0 + eta * tau)
    return 1.0 - (1.0 - alpha) * (1.0 - gamma)
