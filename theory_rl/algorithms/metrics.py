r"""Per-iterate metrics against a :class:`~theory_rl.algorithms.exact.Reference`: one
definition each, used by every driver's ``record=``.

All functions are generic array code (NumPy or CuPy) and broadcast over leading batch axes;
``rho``/``occupancy`` weights are ``(..., S)``.

=====================  ===================================================================
name                   definition (``*`` = the reference; regularised values when tau > 0)
=====================  ===================================================================
``gap``                :math:`\rho^\top(V^* - V^k)` (the performance measure ``rho``)
``sup_gap``            :math:`\max_s (V^* - V^k)(s)` (:math:`= \|V^*-V^k\|_\infty` when
                       :math:`V^* \ge V^k`, i.e. always for ``tau = 0``)
``kl_to_opt``          :math:`\mathbb E_{s\sim d_\rho^{\pi^*}}\mathrm{KL}(\pi^*_s\|\pi^k_s)`
                       (occupancy-weighted: Xiao's :math:`D^*_k` for the KL mirror map)
``max_kl_to_opt``      :math:`\max_s\mathrm{KL}(\pi^*_s\|\pi^k_s)`
``divergence_to_opt``  :math:`\mathbb E_{s\sim d_\rho^{\pi^*}} D(\pi^*_s, \pi^k_s)` in the
                       run's mirror map (KL or :math:`\tfrac12\|\cdot\|^2`)
``q_error``            :math:`\|Q^* - Q^k\|_\infty`
``log_policy_error``   :math:`\|\log\pi^* - \log\pi^k\|_\infty`
``exploitability``     games: :math:`\mathrm{Gap}_\beta(\pi^k)`
                       (:func:`theory_rl.algorithms.nash.exploitability`)
``samples``            cumulative transitions (or queries) drawn up to iterate ``k``
=====================  ===================================================================
"""

from __future__ import annotations

from typing import Any

from theory_rl.algorithms.mirror import bregman_divergence, kl_log
from theory_rl.backend import namespace_of

__all__ = [
    "POLICY_METRICS",
    "divergence_to_opt",
    "gap",
    "kl_to_opt",
    "log_policy_error",
    "max_kl_to_opt",
    "policy_metrics",
    "q_error",
    "sup_gap",
]

#: The metrics :func:`policy_metrics` computes (module docstring).
POLICY_METRICS = (
    "gap",
    "sup_gap",
    "kl_to_opt",
    "max_kl_to_opt",
    "divergence_to_opt",
    "q_error",
    "log_policy_error",
)


def gap(v_star: Any, v: Any, rho: Any) -> Any:
    r""":math:`\rho^\top(V^* - V)`: ``(..., S) -> (...)``."""
    xp = namespace_of(v)
    return xp.sum((v_star - v) * rho, axis=-1)


def sup_gap(v_star: Any, v: Any) -> Any:
    r""":math:`\max_s (V^* - V)(s)`: ``(..., S) -> (...)``."""
    xp = namespace_of(v)
    return xp.max(v_star - v, axis=-1)


def kl_to_opt(log_pi_star: Any, log_pi: Any, occupancy: Any) -> Any:
    r""":math:`\mathbb E_{s\sim d^*}\mathrm{KL}(\pi^*_s\|\pi_s)`: ``(..., S, A) -> (...)``."""
    xp = namespace_of(log_pi)
    return xp.sum(kl_log(log_pi_star, log_pi) * occupancy, axis=-1)


def max_kl_to_opt(log_pi_star: Any, log_pi: Any) -> Any:
    r""":math:`\max_s\mathrm{KL}(\pi^*_s\|\pi_s)`: ``(..., S, A) -> (...)``."""
    xp = namespace_of(log_pi)
    return xp.max(kl_log(log_pi_star, log_pi), axis=-1)


def divergence_to_opt(pi_star: Any, pi: Any, occupancy: Any, mirror: str = "kl") -> Any:
    r""":math:`\mathbb E_{s\sim d^*} D(\pi^*_s, \pi_s)` in ``mirror``: ``(..., S, A) -> (...)``."""
    xp = namespace_of(pi)
    return xp.sum(bregman_divergence(pi_star, pi, mirror) * occupancy, axis=-1)


def q_error(q_star: Any, q: Any) -> Any:
    r""":math:`\|Q^* - Q\|_\infty`: ``(..., S, A) -> (...)``."""
    xp = namespace_of(q)
    return xp.max(xp.abs(q_star - q), axis=(-2, -1))


def log_policy_error(log_pi_star: Any, log_pi: Any) -> Any:
    r""":math:`\|\log\pi^* - \log\pi\|_\infty`: ``(..., S, A) -> (...)``."""
    xp = namespace_of(log_pi)
    return xp.max(xp.abs(log_pi_star - log_pi), axis=(-2, -1))


def policy_metrics(
    keys: Any,
    *,
    reference: Any,
    log_pi: Any,
    v: Any,
    q: Any,
    rho: Any,
    mirror: str = "kl",
) -> dict[str, Any]:
    """The requested :data:`POLICY_METRICS` of one iterate, as arrays over the batch axes.

    Args:
        keys: the metric names wanted (others in ``keys`` are ignored).
        reference: an object with device arrays ``values`` ``(B, S)``, ``q_values``,
            ``policy``, ``log_policy`` ``(B, S, A)`` and ``occupancy`` ``(B, S)``.
        log_pi: ``(B, S, A)`` log-probabilities of the iterate; ``v`` ``(B, S)`` and ``q``
            ``(B, S, A)`` its (regularised) values; ``rho`` ``(B, S)``.
        mirror: the mirror map of ``divergence_to_opt``.
    """
    xp = namespace_of(log_pi)
    out: dict[str, Any] = {}
    if "gap" in keys:
        out["gap"] = gap(reference.values, v, rho)
    if "sup_gap" in keys:
        out["sup_gap"] = sup_gap(reference.values, v)
    if "kl_to_opt" in keys:
        out["kl_to_opt"] = kl_to_opt(reference.log_policy, log_pi, reference.occupancy)
    if "max_kl_to_opt" in keys:
        out["max_kl_to_opt"] = max_kl_to_opt(reference.log_policy, log_pi)
    if "divergence_to_opt" in keys:
        if mirror == "kl":
            out["divergence_to_opt"] = kl_to_opt(reference.log_policy, log_pi, reference.occupancy)
        else:
            out["divergence_to_opt"] = divergence_to_opt(
                reference.policy, xp.exp(log_pi), reference.occupancy, mirror
            )
    if "q_error" in keys:
        out["q_error"] = q_error(reference.q_values, q)
    if "log_policy_error" in keys:
        out["log_policy_error"] = log_policy_error(reference.log_policy, log_pi)
    return out
