r"""Nash-MD guarantees (Munos et al. 2024, "Nash learning from human feedback", ICML 2024,
arXiv:2312.00886), as recalled in the project's theory notes -- **[U] unverified**.

Nash-MD with :math:`\mu = \pi_{\mathrm{ref}}`, :math:`\tau = \beta` (see
:func:`theory_rl.algorithms.nash.nash_md_step`).  The notes recall (not checked against the
paper's body; the theorem number is not known):

* one-step inequality :math:`\mathrm{KL}(\pi^*_\tau\|\pi_{t+1}) \le (1-\eta\tau)
  \mathrm{KL}(\pi^*_\tau\|\pi_t) + 2\eta^2` (:func:`one_step_bound`);
* hence :math:`\mathrm{KL}_T \le (1-\eta\tau)^T\mathrm{KL}_0 + 2\eta/\tau`, and with
  :math:`\eta = \log T/(\tau T)`: :math:`\mathrm{KL}_T \le (\mathrm{KL}_0 + 2\log T/\tau^2)/T`
  (:func:`final_bound`).

Because these constants are unverified, no claim here *gates* on them: the comparison claim
reports the measured ratio to :func:`final_bound` for information only.

References:
    R. Munos, M. Valko, D. Calandriello, M. G. Azar, M. Rowland, Z. D. Guo, Y. Tang, M. Geist,
    T. Mesnard, A. Michi, et al. Nash learning from human feedback. ICML 2024,
    arXiv:2312.00886.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

__all__ = ["default_step_size", "final_bound", "one_step_bound"]


def default_step_size(beta: float, horizon: int) -> float:
    r""":math:`\eta = \log T/(\beta T)` (capped at ``1/beta`` so that :math:`\eta\beta \le 1`)."""
    T = max(int(horizon), 2)
    return min(math.log(T) / (beta * T), 1.0 / beta)


def one_step_bound(kl_t: Any, beta: float, eta: float) -> np.ndarray:
    r"""[U] :math:`(1-\eta\beta)\mathrm{KL}_t + 2\eta^2`."""
    return (1.0 - eta * beta) * np.asarray(kl_t, dtype=np.float64) + 2.0 * eta**2


def final_bound(kl0: float, beta: float, horizon: int) -> float:
    r"""[U] :math:`(\mathrm{KL}_0 + 2\log T/\beta^2)/T` at ``eta = log T/(beta T)``."""
    T = max(int(horizon), 2)
    return (kl0 + 2.0 * math.log(T) / beta**2) / T
