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
* **Regularised KL prox** (one formula behind Cen et al.'s entropy NPG, Zhan et al.'s GPMD with
  entropy, StaQ and the Nash-MP/Nash-MD steps):

  .. math::

      \pi'_s = \arg\max_p\; \eta\langle q_s, p\rangle - \eta\tau\,\mathrm{KL}(p\|\mu_s)
               - \mathrm{KL}(p\|\pi_s), \qquad
      \log\pi'_s = \frac{\log\pi_s + \eta q_s + \eta\tau\log\mu_s}{1 + \eta\tau} - \log Z_s,

  a KL prox with step :math:`\eta/(1+\eta\tau)` from the geometric mixture
  :math:`\pi^{1/(1+\eta\tau)}\mu^{\eta\tau/(1+\eta\tau)}` (:func:`regularized_prox_log`).
  With the uniform reference :math:`\mu` the KL term is the negative entropy up to a constant.
  :math:`\eta = \infty` is allowed: the soft-greedy step :math:`\pi' \propto \mu e^{q/\tau}`.

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

from theory_rl.backend import cumulative_sum
from theory_rl.backend import namespace_of as _xp

__all__ = [
    "LOG_FLOOR",
    "bregman_divergence",
    "euclidean_prox",
    "geometric_mixture_log",
    "kl_log",
    "kl_prox",
    "kl_prox_log",
    "log_normalize",
    "logsumexp",
    "policy_average",
    "REGULARIZERS",
    "project_simplex",
    "regularized_prox_log",
    "regularizer_argmin",
    "regularizer_gradient",
    "regularizer_value",
]

#: The convex regularisers ``h`` of :func:`regularizer_value`: ``"entropy"`` :math:`\sum p\log p`,
#: ``"tsallis"`` :math:`\frac12\|p\|^2` (index 2), ``"log_barrier"`` :math:`-\sum\log p`.
REGULARIZERS = ("entropy", "tsallis", "log_barrier")

#: Floor applied to log-probabilities: exp(-1e100) is 0 in float64, and sums stay finite.
LOG_FLOOR = -1e100


def _real(xp: Any, x: Any) -> Any:
    """``x`` as a float64 array of namespace ``xp`` (scalars and arrays alike)."""
    return xp.asarray(x, dtype=xp.float64)


def logsumexp(z: Any) -> Any:
    r""":math:`\log\sum_a e^{z_a}` over the last axis, max-shifted; ``(..., A) -> (...)``.

    ``-inf`` entries are allowed (a row of only ``-inf`` gives ``-inf``).
    """
    xp = _xp(z)
    m = xp.max(z, axis=-1, keepdims=True)
    m = xp.where(xp.isfinite(m), m, 0.0)
    with np.errstate(divide="ignore"):
        return m[..., 0] + xp.log(xp.sum(xp.exp(z - m), axis=-1))


def log_normalize(z: Any) -> Any:
    """``z - logsumexp(z)`` along the last axis (max-subtracted; ``-inf`` entries allowed)."""
    xp = _xp(z)
    z = z - xp.max(z, axis=-1, keepdims=True)
    return z - xp.log(xp.sum(xp.exp(z), axis=-1, keepdims=True))


def kl_log(log_p: Any, log_q: Any) -> Any:
    r""":math:`\mathrm{KL}(p\|q) = \sum_a p_a(\log p_a - \log q_a)` per row, from log-probabilities.

    ``(..., A), (..., A) -> (...)``; ``0 log 0 = 0`` (entries with ``p_a = 0`` contribute
    nothing, whatever ``q_a``); ``inf`` when ``p`` puts mass where ``q`` has none.
    """
    xp = _xp(log_p)
    p = xp.exp(log_p)
    with np.errstate(invalid="ignore"):  # 0 * (-inf) in the branch that where() discards
        return xp.sum(xp.where(p > 0, p * (log_p - log_q), 0.0), axis=-1)


def geometric_mixture_log(log_policies: Any, weights: Any) -> Any:
    r"""Normalised log of :math:`\prod_i \pi_i^{w_i}` (weights summing to one).

    Each ``log_policies[i]`` is ``(..., A)``; weights are scalars or broadcast against
    ``log_policies[i][..., :1]``.  Log-probabilities are floored at ``LOG_FLOOR`` first.
    """
    xp = _xp(log_policies[0])
    z = sum(w * xp.maximum(lp, LOG_FLOOR) for lp, w in zip(log_policies, weights, strict=True))
    return log_normalize(z)


def regularized_prox_log(
    log_policy: Any, q: Any, *, eta: Any, tau: Any, log_reference: Any = None
) -> Any:
    r"""The regularised KL prox (module docstring), in log space.

    .. math::  \log\pi' = \frac{\log\pi + \eta q + \eta\tau\log\mu}{1+\eta\tau} - \log Z.

    Args:
        log_policy: ``(..., A)`` log-probabilities of the centre :math:`\pi`.
        q: ``(..., A)`` scores.
        eta: step ``> 0`` (``inf`` allowed: the soft-greedy step), scalar or broadcastable
            against ``log_policy[..., :1]``.
        tau: regularisation weight ``>= 0``, scalar or broadcastable likewise.
        log_reference: ``(..., A)`` log-probabilities of :math:`\mu`; ``None`` is uniform.

    Returns:
        ``(..., A)`` normalised log-probabilities, floored at ``LOG_FLOOR``.
    """
    xp = _xp(log_policy)
    eta, tau = _real(xp, eta), _real(xp, tau)
    infinite = xp.isinf(eta)
    finite_eta = xp.where(infinite, 1.0, eta)
    weight = xp.where(infinite, 0.0, 1.0 / (1.0 + finite_eta * tau))  # on log pi
    step = xp.where(infinite, 1.0 / tau, finite_eta / (1.0 + finite_eta * tau))
    centre = weight * xp.maximum(log_policy, LOG_FLOOR)
    if log_reference is not None:
        centre = centre + (1.0 - weight) * xp.maximum(log_reference, LOG_FLOOR)
    return kl_prox_log(log_normalize(centre), q, step)


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
    q = _real(xp, q)
    shifted = q - xp.max(q, axis=-1, keepdims=True)  # <= 0, so eta * shifted never overflows up
    with np.errstate(invalid="ignore", over="ignore"):  # eta = inf: inf * 0 at the maximisers
        step = xp.where(shifted < 0, _real(xp, eta) * shifted, 0.0)
    z = xp.maximum(log_policy, LOG_FLOOR) + step
    return xp.maximum(log_normalize(z), LOG_FLOOR)


def kl_prox(policy: Any, q: Any, eta: Any) -> Any:
    r"""KL prox step :math:`\pi' \propto \pi \exp(\eta q)` (rows of ``policy`` on the simplex)."""
    xp = _xp(policy)
    with np.errstate(divide="ignore"):
        log_policy = xp.log(policy)
    return xp.exp(kl_prox_log(log_policy, q, eta))


def project_simplex(x: Any, mask: Any = None) -> Any:
    r"""Euclidean projection of each row (last axis) of ``x`` onto the probability simplex
    (with a boolean ``mask`` of the same shape: onto the distributions on the ``True``
    entries, e.g. the feasible actions; every row needs one).

    Sort-based and exact: with ``u`` sorted decreasingly and
    :math:`k = \max\{j : u_j - (\sum_{i \le j} u_i - 1)/j > 0\}`, the projection is
    :math:`\max(x - \theta, 0)` with :math:`\theta = (\sum_{i \le k} u_i - 1)/k`.  Since
    :math:`\theta \ge \max x - 1`, a masked entry set 2 below its row's largest unmasked one
    projects to 0 and leaves the rest as the projection of the unmasked entries alone.
    """
    xp = _xp(x)
    x = _real(xp, x)
    if mask is not None:
        top = xp.max(xp.where(mask, x, -xp.inf), axis=-1, keepdims=True)
        x = xp.where(mask, x, top - 2.0)
    u = -xp.sort(-x, axis=-1)
    css = cumulative_sum(xp, u) - 1.0
    j = xp.arange(1, x.shape[-1] + 1, dtype=xp.float64)
    positive = u - css / j > 0
    astype = getattr(xp, "astype", None)  # array-API namespaces; NumPy < 2.1, CuPy: a method
    k = xp.sum(
        astype(positive, xp.int64) if astype else positive.astype(xp.int64), axis=-1, keepdims=True
    )  # >= 1 always
    k_real = astype(k, xp.float64) if astype else k.astype(xp.float64)
    theta = xp.take_along_axis(css, k - 1, axis=-1) / k_real
    return xp.maximum(x - theta, 0.0)


def euclidean_prox(policy: Any, q: Any, eta: Any) -> Any:
    r"""Euclidean prox step :math:`\pi' = \mathrm{Proj}_\Delta(\pi + \eta q)` per row."""
    xp = _xp(policy, q)
    return project_simplex(policy + _real(xp, eta) * q)


def bregman_divergence(p: Any, q: Any, mirror: str = "kl") -> Any:
    r"""Per-row divergence :math:`D(p, q)`: ``"kl"`` :math:`\sum p \log(p/q)` or ``"euclidean"``
    :math:`\tfrac12\|p - q\|^2`.  Returns the array over the leading axes.

    The Euclidean form is summed term by term (not expanded), which stays accurate when both
    rows are near the same vertex.  KL uses ``0 log 0 = 0`` and is ``inf`` when ``p`` puts mass
    where ``q`` has none.
    """
    xp = _xp(p)
    if mirror == "euclidean":
        return 0.5 * xp.sum((p - q) ** 2, axis=-1)
    if mirror != "kl":
        raise ValueError(f"mirror must be 'kl' or 'euclidean', got {mirror!r}")
    with np.errstate(divide="ignore"):
        return kl_log(xp.log(p), xp.log(q))


def regularizer_argmin(xi: Any, regularizer: str = "entropy") -> Any:
    r""":math:`\arg\min_{p\in\Delta} h(p) - \langle \xi_s, p\rangle` per row of ``xi`` ``(..., A)``.

    ``entropy``: ``softmax(xi)``; ``tsallis``: ``Proj_Delta(xi)``; ``log_barrier``:
    :math:`p_a = 1/(\lambda - \xi_a)` with :math:`\lambda > \max\xi` solving
    :math:`\sum_a p_a = 1` (Newton from the left on a convex decreasing function, so the
    iterates increase monotonically to the root; 100 steps at most).
    """
    xp = _xp(xi)
    if regularizer == "entropy":
        return xp.exp(log_normalize(xi))
    if regularizer == "tsallis":
        return project_simplex(xi)
    if regularizer != "log_barrier":
        raise ValueError(f"regularizer must be one of {REGULARIZERS}, got {regularizer!r}")
    z = xi - xp.max(xi, axis=-1, keepdims=True)  # shift: lambda is then in [1, A]
    lam = xp.ones(z.shape[:-1] + (1,))
    for _ in range(100):
        d = lam - z
        f = xp.sum(1.0 / d, axis=-1, keepdims=True) - 1.0
        df = -xp.sum(1.0 / d**2, axis=-1, keepdims=True)
        new = lam - f / df
        done = bool(xp.all(xp.abs(new - lam) <= 1e-15 * new))
        lam = new
        if done:
            break
    p = 1.0 / (lam - z)
    return p / xp.sum(p, axis=-1, keepdims=True)


def regularizer_gradient(policy: Any, regularizer: str = "entropy") -> Any:
    """A subgradient of ``h`` at ``policy`` (the surrogate of an interior policy)."""
    xp = _xp(policy)
    if regularizer == "entropy":
        with np.errstate(divide="ignore"):
            return xp.maximum(xp.log(policy), LOG_FLOOR)
    if regularizer == "tsallis":
        return policy
    return -1.0 / policy


def policy_average(policy: Any, q: Any) -> Any:
    r""":math:`\sum_a \pi(a|s) q(s, a)` per row, ``(..., S, A) -> (..., S)``, the terms of
    zero probability dropped (an infeasible action's ``q`` is ``-inf``, and ``0 * -inf`` would
    be NaN)."""
    xp = _xp(policy, q)
    return xp.sum(policy * xp.where(policy > 0, q, 0.0), axis=-1)


def regularizer_value(policy: Any, regularizer: str = "entropy") -> Any:
    """``h(pi_s)`` per row, ``(..., S, A) -> (..., S)`` (module docstring: the three ``h``)."""
    xp = _xp(policy)
    if regularizer == "entropy":
        with np.errstate(divide="ignore", invalid="ignore"):
            return xp.sum(xp.where(policy > 0, policy * xp.log(policy), 0.0), axis=-1)
    if regularizer == "tsallis":
        return 0.5 * xp.sum(policy**2, axis=-1)
    with np.errstate(divide="ignore"):
        return -xp.sum(xp.log(policy), axis=-1)
