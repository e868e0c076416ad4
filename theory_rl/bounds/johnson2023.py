r"""Johnson, Pike-Burke & Rebeschini (NeurIPS 2023): the gamma-rate of PMD with adaptive steps.

Step rule: choose :math:`c_k > 0` and :math:`\eta_k \ge \frac{1}{c_k}\|\min_{p\in G_k}
D(p, \pi^k)\|_\infty` (:math:`G_k` the greedy policies of :math:`Q^{\pi_k}`).  Then, for every
``k`` and any mirror map (exact action values),

.. math::  \|V^* - V^{\pi_k}\|_\infty \le \gamma^k\Big(\|V^* - V^{\pi_0}\|_\infty
           + \frac{1}{1-\gamma}\sum_{t=1}^{k} \frac{c_{t-1}}{\gamma^t}\Big)
           \qquad \text{(:func:`adaptive_bound`)}.

With :math:`c_t = c_0\gamma^{2(t+1)}` the sum is :math:`c_0\gamma(1-\gamma^k)/(1-\gamma)`.
Inexact values :math:`\|\hat Q^k - Q^k\|_\infty \le b` add the floor :math:`4b/(1-\gamma)^2`
(``b`` argument).

Confidence: the gamma-rate and the necessity of the adaptive step are read in the abstract
[V]; the displayed bound and the inexact floor are as restated (with lookahead ``h = 1``) in
Protopapas & Barakat (NeurIPS 2024), Thm 4.1 [V2]; both held at every iterate on 1344 exact and
6048 inexact runs in the theory notes (§1.2).

References:
    E. Johnson, C. Pike-Burke, P. Rebeschini. Optimal convergence rate for exact policy mirror
    descent in discounted Markov decision processes. NeurIPS 2023, arXiv:2302.11381.
    K. Protopapas, A. Barakat. Policy mirror descent with lookahead. NeurIPS 2024,
    arXiv:2403.14156.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["adaptive_bound", "c_schedule", "inexact_floor"]


def c_schedule(c0: float, gamma: float, n: int) -> np.ndarray:
    r""":math:`c_t = c_0\gamma^{2(t+1)}` for ``t = 0..n-1``."""
    if not c0 > 0:
        raise ValueError(f"c0 must be > 0, got {c0}")
    return float(c0) * float(gamma) ** (2.0 * (np.arange(n) + 1.0))


def inexact_floor(b: float, gamma: float) -> float:
    r"""The additive floor :math:`4b/(1-\gamma)^2` for :math:`\|\hat Q - Q\|_\infty \le b`."""
    return 4.0 * float(b) / (1.0 - float(gamma)) ** 2


def adaptive_bound(k: Any, *, gamma: float, sup_gap0: float, c: Any, b: float = 0.0) -> np.ndarray:
    r""":math:`\gamma^k(\|V^*-V^0\|_\infty + \frac{1}{1-\gamma}\sum_{t=1}^k c_{t-1}\gamma^{-t})`
    (+ :math:`4b/(1-\gamma)^2`) at iterations ``k`` (``c`` holds :math:`c_0, c_1, \dots`)."""
    g = float(gamma)
    if not 0.0 < g < 1.0:
        raise ValueError(f"gamma must be in (0, 1), got {gamma}")
    k = np.asarray(k, dtype=np.int64)
    if np.any(k < 0):
        raise ValueError("iterations k must be non-negative")
    c = np.asarray(c, dtype=np.float64)
    if k.size and k.max() > c.size:
        raise ValueError(f"c has {c.size} entries; iterations up to {k.max()} need as many")
    t = np.arange(1, c.size + 1)
    partial = np.concatenate(([0.0], np.cumsum(c * g ** (-t.astype(float)))))
    return g**k * (sup_gap0 + partial[k] / (1.0 - g)) + inexact_floor(b, g)
