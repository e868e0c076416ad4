r"""Mirror maps and prox steps shared by policy mirror descent, NPG and Nash mirror prox.

Per state ``s`` (last axis = actions), a prox step maximises a linear score against a Bregman
divergence:

.. math::

    \pi'_s = \arg\max_{p \in \Delta(A)} \; \eta \langle q_s, p \rangle - D(p, \pi_s).

* **KL** (negative entropy mirror map): :math:`\pi'_s \propto \pi_s \exp(\eta q_s)`.  Computed
  in log space as :math:`\log\pi_s + \eta (q_s - \max q_s)` followed by a log-normalisation, so
  step sizes that grow like :math:`\gamma^{-2k}` (Xiao 2022, Johnson et al. 2023) neither
  overflow nor produce NaN; ``log pi`` is floored at ``-1e100`` (no float64 probability changes:
  ``exp(-1e100) == 0``), which keeps an all-``-inf`` row impossible.
* **Euclidean** (squared norm): :math:`\pi'_s = \mathrm{Proj}_\Delta(\pi_s + \eta q_s)`, with the
  exact sort-based simplex projection (Held, Wolfe & Crowder 1974; Duchi et al. 2008).

All functions broadcast over leading axes (batches of states, policies, step sizes) and run on
NumPy or CuPy arrays alike (the namespace of the input).  ``eta`` may be a scalar or an array
that broadcasts against the leading axes of ``policy`` (e.g. ``(B, 1, 1)`` for ``(B, S, A)``).

References:
    L. Xiao. On the convergence rates of policy gradient methods. JMLR 23, 2022.
    J. Duchi, S. Shalev-Shwartz, Y. Singer, T. Chandra. Efficient projections onto the
    l1-ball for learning in high dimensions. ICML 2008.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from theory_rl.backend import namespace_of as _xp

__all__ = [
    "LOG_FLOOR",
    "bregman_divergence",
    "euclidean_prox",
    "kl_prox",
    "kl_prox_log",
    "log_normalize",
    "project_simplex",
]

#: Floor applied to log-probabilities: exp(-1e100) is 0 in float64, and sums stay finite.
LOG_FLOOR = -1e100


def log_normalize(z: Any) -> Any:
    """``z - logsumexp(z)`` along the last axis (max-subtracted; ``-inf`` entries allowed)."""
    xp = _xp(z)
    z = z - z.max(axis=-1, keepdims=True)
    return z - xp.log(xp.exp(z).sum(axis=-1, keepdims=True))


def kl_prox_log(log_policy: Any, q: Any, eta: Any) -> Any:
    r"""KL prox step in log space: :math:`\log\pi' = \log\pi + \eta q - \log Z`.

    Args:
        log_policy: ``(..., A)`` log-probabilities (``-inf`` allowed for zero probability).
        q: ``(..., A)`` scores (action values or advantages); any per-row shift is irrelevant.
        eta: step size, ``>= 0``; scalar or broadcastable to ``log_policy[..., :1]``.

    Returns:
        ``(..., A)`` normalised log-probabilities, floored at ``LOG_FLOOR``.
    """
    xp = _xp(log_policy)
    q = xp.asarray(q, dtype=np.float64)
    shifted = q - q.max(axis=-1, keepdims=True)  # <= 0, so eta * shifted never overflows up
    with np.errstate(invalid="ignore", over="ignore"):  # eta = inf: inf * 0 at the maximisers
        step = xp.where(shifted < 0, xp.asarray(eta) * shifted, 0.0)
    z = xp.maximum(log_policy, LOG_FLOOR) + step
    return xp.maximum(log_normalize(z), LOG_FLOOR)


def kl_prox(policy: Any, q: Any, eta: Any) -> Any:
    r"""KL prox step :math:`\pi' \propto \pi \exp(\eta q)` (rows of ``policy`` on the simplex)."""
    xp = _xp(policy)
    with np.errstate(divide="ignore"):
        log_policy = xp.log(policy)
    return xp.exp(kl_prox_log(log_policy, q, eta))


def project_simplex(x: Any) -> Any:
    r"""Euclidean projection of each row (last axis) of ``x`` onto the probability simplex.

    Sort-based and exact: with ``u`` sorted decreasingly and
    :math:`k = \max\{j : u_j - (\sum_{i \le j} u_i - 1)/j > 0\}`, the projection is
    :math:`\max(x - \theta, 0)` with :math:`\theta = (\sum_{i \le k} u_i - 1)/k`.
    """
    xp = _xp(x)
    x = xp.asarray(x, dtype=np.float64)
    u = -xp.sort(-x, axis=-1)
    css = xp.cumsum(u, axis=-1) - 1.0
    j = xp.arange(1, x.shape[-1] + 1, dtype=np.float64)
    k = (u - css / j > 0).sum(axis=-1, keepdims=True)  # >= 1 always
    theta = xp.take_along_axis(css, k - 1, axis=-1) / k
    return xp.maximum(x - theta, 0.0)


def euclidean_prox(policy: Any, q: Any, eta: Any) -> Any:
    r"""Euclidean prox step :math:`\pi' = \mathrm{Proj}_\Delta(\pi + \eta q)` per row."""
    xp = _xp(policy, q)
    return project_simplex(policy + xp.asarray(eta) * q)


def bregman_divergence(p: Any, q: Any, mirror: str = "kl") -> Any:
    r"""Per-row divergence :math:`D(p, q)`: ``"kl"`` :math:`\sum p \log(p/q)` or ``"euclidean"``
    :math:`\tfrac12\|p - q\|^2`.  Returns the array over the leading axes.

    The Euclidean form is summed term by term (not expanded), which stays accurate when both
    rows are near the same vertex.  KL uses ``0 log 0 = 0`` and is ``inf`` when ``p`` puts mass
    where ``q`` has none.
    """
    xp = _xp(p)
    if mirror == "euclidean":
        return 0.5 * ((p - q) ** 2).sum(axis=-1)
    if mirror != "kl":
        raise ValueError(f"mirror must be 'kl' or 'euclidean', got {mirror!r}")
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = xp.where(p > 0, p * (xp.log(p) - xp.log(q)), 0.0)
    return terms.sum(axis=-1)
