r"""Fatkhullin, Barakat, Kireeva & He (ICML 2023): constants and rates of stochastic PG.

* **Truncation bias** (stated in the transcription [T]; re-derived here [R], the derivation is
  exact, so the functions are proved bounds, not transcriptions).  With
  :math:`c_t = \sum_{k\le t}\nabla\log\pi(a_k|s_k)`, :math:`\nabla J - \nabla J_H =
  \mathbb E\sum_{t\ge H}\gamma^tr_tc_t`.  The scores are martingale differences
  (:math:`\mathbb E[\nabla\log\pi(a_k|s_k)\mid\text{past}] = 0`), so
  :math:`\mathbb E\|c_t\|^2 \le (t+1)M_g^2`, and with Jensen on the weights
  :math:`(1-\gamma)\gamma^j`:

  .. math::
      \|\nabla J_H - \nabla J\| \le r_{max}M_g\sum_{t\ge H}\gamma^t\sqrt{t+1}
      \le \frac{r_{max}M_g}{1-\gamma}\sqrt{H + \frac{1}{1-\gamma}}\;\gamma^H = D_g\gamma^H

  (:func:`gradient_truncation_bound`).  Likewise :math:`\nabla^2J - \nabla^2J_H =
  \mathbb E\sum_{t\ge H}\gamma^tr_t(c_tc_t^\top + \sum_{k\le t}\nabla^2\log\pi_k)` gives
  :math:`\le r_{max}(M_g^2+M_h)\sum_{t\ge H}\gamma^t(t+1) = D_h\gamma^H` with
  :math:`D_h = \frac{r_{max}(M_g^2+M_h)}{1-\gamma}(H + \frac{1}{1-\gamma})`
  (:func:`hessian_truncation_bound`, spectral norm).  Both agree with the transcription's
  :math:`D_g, D_h`.
* **Proposition 1 constants** [T]: :math:`L_g = r_{max}(M_g^2+M_h)/(1-\gamma)^2`,
  :math:`\sigma_g^2 = r_{max}^2M_g^2/(1-\gamma)^3`, :math:`\sigma_h^2 =
  r_{max}^2(H^2M_g^4+M_h^2)/(1-\gamma)^4` (:func:`proposition1_constants`); not used as test
  thresholds (upper bounds with unverified constants).
* **Rates** [V: abstract]: :math:`\tilde O(\varepsilon^{-2.5})` trajectories for N-PG-IGT and
  :math:`\tilde O(\varepsilon^{-2})` for (N)-HARPG, i.e. :math:`J^*-\mathbb EJ(\theta_T)`
  decays at least like :math:`N^{-2/5}` and :math:`N^{-1/2}` in the number ``N`` of
  trajectories (:data:`SAMPLE_EXPONENTS`; up to the bias floor and logarithms).  The
  baselines' exponents are :math:`-1/3` ([U]: the previously known
  :math:`\tilde O(\varepsilon^{-3})` of the abstract, attributed to vanilla PG and normalised
  PG with momentum).

References:
    I. Fatkhullin, A. Barakat, A. Kireeva, N. He. Stochastic policy gradient methods: improved
    sample complexity for Fisher-non-degenerate policies. ICML 2023, arXiv:2302.01734.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from theory_rl._checks import as_positive, as_real

__all__ = [
    "SAMPLE_EXPONENTS",
    "gradient_truncation_bound",
    "hessian_truncation_bound",
    "proposition1_constants",
]

#: Exponent ``p`` of the stated rate ``J* - E J(theta_N) = O~(N^p)`` in trajectories ``N``.
SAMPLE_EXPONENTS = {
    "n_pg_igt": -2.0 / 5.0,
    "harpg": -1.0 / 2.0,
    "n_harpg": -1.0 / 2.0,
    "vanilla_policy_gradient": -1.0 / 3.0,
    "normalized_momentum_pg": -1.0 / 3.0,
}


def _constants(gamma: float, r_max: float, score_bound: float) -> tuple[float, float, float]:
    g = as_real("gamma", gamma, minimum=0.0, maximum=1.0, open_maximum=True)
    return g, as_positive("r_max", r_max, allow_zero=True), as_positive("score_bound", score_bound)


def gradient_truncation_bound(
    horizon: Any, *, gamma: float, r_max: float, score_bound: float
) -> np.ndarray:
    r""":math:`D_g\gamma^H = \frac{r_{max}M_g}{1-\gamma}\sqrt{H + \frac1{1-\gamma}}\,\gamma^H`
    (module docstring) for ``horizon`` ``H`` (array-like of ints ``>= 0``).

    Example:
        >>> round(float(gradient_truncation_bound(0, gamma=0.5, r_max=1.0, score_bound=1.0)), 6)
        2.828427
    """
    g, r, m = _constants(gamma, r_max, score_bound)
    H = np.asarray(horizon, dtype=np.float64)
    return r * m / (1.0 - g) * np.sqrt(H + 1.0 / (1.0 - g)) * g**H


def hessian_truncation_bound(
    horizon: Any, *, gamma: float, r_max: float, score_bound: float, hessian_bound: float
) -> np.ndarray:
    r""":math:`D_h\gamma^H = \frac{r_{max}(M_g^2+M_h)}{1-\gamma}(H + \frac1{1-\gamma})\gamma^H`
    (spectral norm; module docstring)."""
    g, r, m = _constants(gamma, r_max, score_bound)
    mh = as_positive("hessian_bound", hessian_bound, allow_zero=True)
    H = np.asarray(horizon, dtype=np.float64)
    return r * (m**2 + mh) / (1.0 - g) * (H + 1.0 / (1.0 - g)) * g**H


def proposition1_constants(
    *, gamma: float, r_max: float, score_bound: float, hessian_bound: float, horizon: int
) -> dict[str, float]:
    r"""``{"L_g", "sigma_g", "sigma_h"}`` of Proposition 1 [T] (module docstring)."""
    g, r, m = _constants(gamma, r_max, score_bound)
    mh = as_positive("hessian_bound", hessian_bound, allow_zero=True)
    H = float(horizon)
    return {
        "L_g": r * (m**2 + mh) / (1.0 - g) ** 2,
        "sigma_g": float(np.sqrt(r**2 * m**2 / (1.0 - g) ** 3)),
        "sigma_h": float(np.sqrt(r**2 * (H**2 * m**4 + mh**2) / (1.0 - g) ** 4)),
    }
