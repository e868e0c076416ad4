r"""Accelerated value iteration (AVI): parameters and rates of Goyal and Grand-Clément (2023).

Value iteration for :math:`V^\pi` is gradient descent with step 1 on a quadratic whose
gradient is :math:`v - T_\pi v`; for a *reversible* chain :math:`P_\pi` the problem's
"condition number" is :math:`\kappa = (1+\gamma)/(1-\gamma)` (the eigenvalues of
:math:`I - \gamma P_\pi` lie in :math:`[1-\gamma, 1+\gamma]`).  AVI is Nesterov's method on it:

.. math::  h_k = v_k + \beta (v_k - v_{k-1}), \qquad v_{k+1} = h_k - \alpha (h_k - T_\pi h_k),
           \qquad \alpha = \frac{1}{1+\gamma}, \quad
           \beta = \frac{1 - \sqrt{1-\gamma^2}}{\gamma} = \frac{\sqrt\kappa - 1}{\sqrt\kappa + 1}

(:func:`avi_step`, :func:`avi_momentum`), with the asymptotic rate

.. math::  \rho = 1 - \frac{1}{\sqrt\kappa} = 1 - \sqrt{\frac{1-\gamma}{1+\gamma}}
           \quad\text{(:func:`avi_rate`)},

against :math:`\gamma` for value iteration: :math:`O(1/\sqrt{1-\gamma})` instead of
:math:`O(1/(1-\gamma))` iterations.

**What is derived here.**  For reversible :math:`P_\pi` the error obeys
:math:`e_{k+1} = M((1+\beta)e_k - \beta e_{k-1})` with :math:`M = (1-\alpha)I + \alpha\gamma
P_\pi`, self-adjoint in the stationary inner product with eigenvalues
:math:`m \in [1-\alpha(1+\gamma), 1-\alpha(1-\gamma)] = [0, 1 - 1/\kappa]`.  Each eigen-mode
follows :math:`z^2 - m(1+\beta)z + m\beta = 0`; with the parameters above its roots have
modulus at most :math:`\sqrt{m\beta} \le \rho` when complex, and the largest eigenvalue
:math:`m = 1 - 1/\kappa` (the constant vector: :math:`P_\pi \mathbf 1 = \mathbf 1`) gives
the double root :math:`z = \rho`.  So :math:`\|e_k\| \le C (k+1)\rho^k` for a constant ``C``
depending on the instance and :math:`e_0` (the factor ``k + 1`` from the double root):
:func:`mode_rate` computes the exact modulus for any ``m``.  This is the standard analysis of
Nesterov's method on a quadratic (Nesterov 2004, §2.2), reproduced here; it is what the claim
gates on.

**Sources and confirmation.**  Confirmed from the paper's abstract (Operations Research
71(2):517-535, 2023; arXiv:1905.09963): the connection of VI to gradient descent, the
:math:`O(1/\sqrt{1-\lambda})` running time for the value of a policy on reversible instances,
and S-AVI, which alternates accelerated and VI updates and keeps VI's worst-case guarantee.
[U] The exact parameter formulas of their Algorithm (AVI) and the theorem numbers/constants
were not readable in the material available; the parameters above are Nesterov's for
:math:`\kappa`, which is what the abstract's rate corresponds to.  The control version of
this package (:func:`theory_rl.algorithms.dp.safeguarded_accelerated_value_iteration`) uses
its own acceptance test, whose guarantee :func:`safeguard_bound` is derived in its docstring.

References:
    V. Goyal and J. Grand-Clément. A first-order approach to accelerated value iteration.
    Operations Research 71(2):517-535, 2023 (arXiv:1905.09963).
    Y. Nesterov. Introductory Lectures on Convex Optimization. Kluwer, 2004. §2.2.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["avi_momentum", "avi_rate", "avi_step", "mode_rate", "safeguard_bound"]


def _gamma(gamma: Any) -> float:
    g = float(gamma)
    if not 0.0 < g < 1.0:
        raise ValueError(f"gamma must be in (0, 1), got {gamma}")
    return g


def avi_step(gamma: float) -> float:
    r""":math:`\alpha = 1/(1+\gamma)`."""
    return 1.0 / (1.0 + _gamma(gamma))


def avi_momentum(gamma: float) -> float:
    r""":math:`\beta = (1-\sqrt{1-\gamma^2})/\gamma`."""
    g = _gamma(gamma)
    return float((1.0 - np.sqrt(1.0 - g * g)) / g)


def avi_rate(gamma: float) -> float:
    r""":math:`\rho = 1 - \sqrt{(1-\gamma)/(1+\gamma)}`, the asymptotic rate of AVI on reversible
    chains (module docstring)."""
    g = _gamma(gamma)
    return float(1.0 - np.sqrt((1.0 - g) / (1.0 + g)))


def mode_rate(m: Any, step_beta: float) -> np.ndarray:
    r"""Largest root modulus of :math:`z^2 - m(1+\beta)z + m\beta` for each ``m`` (eigenvalues of
    ``M``): the per-mode rate of the momentum recursion with momentum ``step_beta``."""
    m = np.atleast_1d(np.asarray(m, dtype=np.float64))
    b = float(step_beta)
    out = np.empty(m.shape)
    for i, mi in enumerate(m):
        out[i] = np.abs(np.roots([1.0, -mi * (1.0 + b), mi * b])).max()
    return out


def safeguard_bound(gamma: float, k: Any, initial_residual: float) -> np.ndarray:
    r""":math:`\gamma^k \|Tv_0 - v_0\|_\infty`: the residual bound every iterate of the safeguarded
    scheme obeys (its acceptance test enforces one factor :math:`\gamma` per iteration)."""
    g = _gamma(gamma)
    ks = np.asarray(k)
    if ks.dtype.kind not in "iu" or (ks < 0).any():
        raise ValueError(f"k must be integers >= 0, got {k!r}")
    return g ** ks.astype(np.float64) * float(initial_residual)
