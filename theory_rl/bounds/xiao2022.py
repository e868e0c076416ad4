r"""Xiao (JMLR 2022), "On the convergence rates of policy gradient methods": PMD bounds.

Reward-maximisation form (Xiao states costs; ``r -> 1 - r``), rewards in ``[0, 1]``,
:math:`\pi^0` in the relative interior of the policy set, exact action values.
:math:`D^*_k = \mathbb E_{s\sim d_\rho^{\pi^*}} D(\pi^*_s, \pi^k_s)` (the Bregman divergence of
the mirror map: KL, or :math:`\frac12\|\cdot\|^2`);
:math:`\vartheta_\rho = \frac{1}{1-\gamma}\|d_\rho^{\pi^*}/\rho\|_\infty`
(:func:`theory_rl.bounds.mdp_constants.vartheta_rho`).

* **Thm 8** (constant step :math:`\eta > 0`, any Bregman divergence):
  :math:`V^*(\rho) - V^k(\rho) \le \frac{1}{k+1}\big[\frac{D^*_0}{(1-\gamma)\eta}
  + \frac{1}{(1-\gamma)^2}\big]` -- :func:`thm8_bound`.
* **Thm 10** (increasing steps with :math:`\eta_{k+1}(\vartheta_\rho - 1) \ge \eta_k
  \vartheta_\rho`, implied by :math:`\eta_{k+1} \ge \eta_k/\gamma`):
  :math:`V^*(\rho) - V^k(\rho) \le (1 - 1/\vartheta_\rho)^k\,[V^*(\rho) - V^0(\rho)
  + D^*_0/(\gamma\eta_0)]` (bound (53)) -- :func:`thm10_bound`.

Confidence: the prose, assumptions and step rules were read in the paper [V]; the displayed
bounds are reconstructed from the proof text [V2] (theory notes, §1.1), and held at every
iterate on 3136 (Thm 8) and 3444 (Thm 10) runs there.

References:
    L. Xiao. On the convergence rates of policy gradient methods. JMLR 23(282):1-36, 2022,
    arXiv:2201.07443.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["thm10_bound", "thm10_rate", "thm8_bound"]


def _gamma(gamma: float) -> float:
    g = float(gamma)
    if not 0.0 <= g < 1.0:
        raise ValueError(f"gamma must be in [0, 1), got {gamma}")
    return g


def thm8_bound(k: Any, *, gamma: float, eta: float, d0: float) -> np.ndarray:
    r""":math:`\frac{1}{k+1}[D^*_0/((1-\gamma)\eta) + 1/(1-\gamma)^2]` for iterations ``k``."""
    g = _gamma(gamma)
    if not eta > 0 or not d0 >= 0:
        raise ValueError(f"eta must be > 0 and d0 >= 0, got eta={eta}, d0={d0}")
    k = np.asarray(k, dtype=np.float64)
    return (d0 / ((1.0 - g) * eta) + 1.0 / (1.0 - g) ** 2) / (k + 1.0)


def thm10_rate(vartheta: float) -> float:
    r"""The linear rate :math:`1 - 1/\vartheta_\rho`."""
    if not vartheta >= 1.0:
        raise ValueError(f"vartheta must be >= 1, got {vartheta}")
    return 1.0 - 1.0 / float(vartheta)


def thm10_bound(
    k: Any, *, gamma: float, vartheta: float, gap0: float, d0: float, eta0: float
) -> np.ndarray:
    r""":math:`(1-1/\vartheta_\rho)^k\,[V^*(\rho) - V^0(\rho) + D^*_0/(\gamma\eta_0)]`."""
    g = _gamma(gamma)
    if g == 0.0:
        raise ValueError("gamma must be in (0, 1) for Thm 10 (its bound divides by gamma eta0)")
    if not eta0 > 0:
        raise ValueError(f"eta0 must be > 0, got {eta0}")
    k = np.asarray(k, dtype=np.float64)
    return thm10_rate(vartheta) ** k * (gap0 + d0 / (g * eta0))
