r"""Wang, Ho and Petrik (ICML 2023), "Policy gradient in robust MDPs with global convergence
guarantee": the DRPG iteration bound (Theorem 3.3).

Cost-minimisation form (DRPG's): costs in ``[0, 1]``, the agent minimises
:math:`\Phi(\pi) = \max_{p\in U} J_\rho(\pi, p)`, direct (simplex-per-state) policies.
Constants (Lemma 3.1): :math:`J(\cdot, p)` is :math:`L_\pi`-Lipschitz and
:math:`\ell_\pi`-smooth in ``pi`` with

.. math::  L_\pi = \frac{\sqrt{A}}{(1-\gamma)^2}, \qquad \ell_\pi = \frac{2\gamma A}{(1-\gamma)^3},

and the mismatch :math:`D = \sup_{\pi, p}\|d^{\pi,p}_\rho/\rho\|_\infty`, finite when
:math:`\min_s\rho(s) > 0` (since :math:`d \le 1`, :math:`D \le 1/\min_s\rho(s)`).

**Theorem 3.3**: with a constant step :math:`\alpha = \delta/\sqrt T` (:math:`\delta > 0`),
inner tolerances :math:`\epsilon_{t+1} \le \gamma\epsilon_t` and :math:`\epsilon_0 \le \sqrt T`,
the output :math:`\pi_{t^*}`, :math:`t^* = \arg\min_{t<T} J(\pi_t, p_t)`, satisfies
:math:`\Phi(\pi_{t^*}) - \min\Phi \le \epsilon` once

.. math::  T \ge \Big(\frac{D\sqrt{SA}}{1-\gamma} + \frac{L_\pi}{2\ell_\pi}\Big)^4
           \frac{\big(\frac{4\ell_\pi S}{\delta} + 2\delta\ell_\pi L_\pi^2
           + \frac{4\ell_\pi}{1-\gamma}\big)^2}{\epsilon^4}
           \qquad (O(\epsilon^{-4})).

Confidence [T]: the statement and constants are from a public third-party transcription of the
paper's §3.1-3.3 (theory notes §3), consistent with the authors' code's gradient formula; the
paper's body could not be read, so they are not checked against it.  The transcriber notes the
proof bounds :math:`\min_t\Phi(\pi_t) - \min\Phi`, slightly weaker than the statement about
:math:`\pi_{t^*}`.  For rewards in ``[0, R]`` (this package maximises rewards) scale
:math:`\epsilon` by ``1/R``.  The bound is vacuous at test sizes (about
:math:`1.9\cdot 10^{26}/\epsilon^4` for ``S = 5, A = 6, gamma = 0.95, D = 1`` at the best
``delta``), and Kitamura et al. (arXiv:2604.21177) show the gradient-dominance property behind it
fails for general compact sets; it is reported, not used as a gate.

References:
    Q. Wang, C. P. Ho, M. Petrik. Policy gradient in robust MDPs with global convergence
    guarantee. ICML 2023, arXiv:2212.10439.
    T. Kitamura et al. Revisiting subgradient dominance in robust MDPs. arXiv:2604.21177, 2026.
"""

from __future__ import annotations

import math

from theory_rl._checks import as_int, as_positive, as_real

__all__ = ["best_delta", "drpg_iteration_bound", "lipschitz_constant", "smoothness_constant"]


def _gamma(gamma: float) -> float:
    return as_real("gamma", gamma, minimum=0.0, maximum=1.0, open_maximum=True)


def lipschitz_constant(n_actions: int, gamma: float) -> float:
    r""":math:`L_\pi = \sqrt{A}/(1-\gamma)^2` (Lemma 3.1)."""
    A = as_int("n_actions", n_actions)
    return math.sqrt(A) / (1.0 - _gamma(gamma)) ** 2


def smoothness_constant(n_actions: int, gamma: float) -> float:
    r""":math:`\ell_\pi = 2\gamma A/(1-\gamma)^3` (Lemma 3.1)."""
    A = as_int("n_actions", n_actions)
    g = _gamma(gamma)
    return 2.0 * g * A / (1.0 - g) ** 3


def best_delta(n_states: int, n_actions: int, gamma: float) -> float:
    r"""The ``delta`` minimising Theorem 3.3's bound: :math:`\sqrt{2S}/L_\pi` (the minimiser of
    :math:`4\ell S/\delta + 2\delta\ell L^2`)."""
    S = as_int("n_states", n_states)
    return math.sqrt(2.0 * S) / lipschitz_constant(n_actions, gamma)


def drpg_iteration_bound(
    epsilon: float,
    *,
    n_states: int,
    n_actions: int,
    gamma: float,
    mismatch: float,
    delta: float | None = None,
) -> float:
    r"""Theorem 3.3: the number of DRPG iterations ``T`` after which
    :math:`\Phi(\pi_{t^*}) - \min\Phi \le \epsilon` (module docstring).

    Args:
        epsilon: target accuracy (costs in ``[0, 1]``).
        n_states, n_actions, gamma: the problem's ``S``, ``A``, discount.
        mismatch: ``D >= 1`` (e.g. ``1 / min rho``, an upper bound).
        delta: the step constant (:math:`\alpha = \delta/\sqrt T`); default :func:`best_delta`.

    Returns:
        The bound on ``T`` (a float; may be astronomically large).
    """
    eps = as_positive("epsilon", epsilon)
    S = as_int("n_states", n_states)
    A = as_int("n_actions", n_actions)
    g = _gamma(gamma)
    D = as_real("mismatch", mismatch, minimum=1.0)
    L = lipschitz_constant(A, g)
    ell = smoothness_constant(A, g)
    d = best_delta(S, A, g) if delta is None else as_positive("delta", delta)
    if ell == 0.0:  # gamma = 0: J is linear in pi, the smoothness terms vanish
        return 0.0
    first = D * math.sqrt(S * A) / (1.0 - g) + L / (2.0 * ell)
    second = 4.0 * ell * S / d + 2.0 * d * ell * L**2 + 4.0 * ell / (1.0 - g)
    return first**4 * second**2 / eps**4
