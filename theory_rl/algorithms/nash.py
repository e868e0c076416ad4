r"""Nash learning from preferences: Nash Mirror Prox, Nash-MD, OMD, optimistic MD, ground truth.

Notation (per context :math:`x`, dropped below; everything separates over contexts): a
preference matrix ``P`` ``(Y, Y)``, :math:`q(\pi) = P(\cdot \succ \pi) = P\pi`, the reference
policy :math:`\pi_{\mathrm{ref}}`, regulariser :math:`\beta`, step size :math:`\eta`.  All
updates are written in log space and share one prox step,

.. math::  \mathrm{prox}(c, q; \eta) = \arg\max_{\pi}\ \eta\langle q, \pi\rangle
           - \mathrm{KL}(\pi\|c), \qquad \log\mathrm{prox} = \log c + \eta q - \log Z,

which is :func:`theory_rl.algorithms.mirror.kl_prox_log` (the PMD family's step); the reference
term enters through a geometric mixture of the prox centre,
:math:`\arg\max \eta\langle q,\pi\rangle - \eta\beta\,\mathrm{KL}(\pi\|\pi_{\mathrm{ref}})
- \mathrm{KL}(\pi\|\pi_k) = \mathrm{prox}(\pi_k^{1/(1+\eta\beta)}
\pi_{\mathrm{ref}}^{\eta\beta/(1+\eta\beta)}, q; \eta/(1+\eta\beta))`
(:func:`regularized_prox_log`).

**Nash Mirror Prox** (Tiapkin et al. 2025, arXiv:2505.19731 **v1**; :func:`nash_mp_step`,
:func:`nash_mirror_prox`), two preference queries per iteration:

.. math::  \log\pi_{k+1/2} &= \tfrac{\eta q(\pi_k) + \eta\beta\log\pi_{\mathrm{ref}}
           + \log\pi_k}{1 + \eta\beta} - \log Z, \\
           \log\pi_{k+1} &= \tfrac{\eta q(\pi_{k+1/2}) + \eta\beta\log\pi_{\mathrm{ref}}
           + \log\pi_k}{1 + \eta\beta} - \log Z .

*Guarantee* (derived in :mod:`theory_rl.bounds.tiapkin2025`; the rate matches the v1
abstract's :math:`(1+2\beta)^{-N/2}`): for :math:`\eta \le 2` (``1/L`` with ``L = 1/2`` the
:math:`\ell_1 \to \ell_\infty` Lipschitz constant of :math:`q`),
:math:`\mathrm{KL}(\pi^*_\beta\|\pi_{k+1}) \le \mathrm{KL}(\pi^*_\beta\|\pi_k)/(1+\eta\beta)`,
so with :math:`\eta = 2` and ``N = 2k`` queries,
:math:`\mathrm{KL}(\pi^*_\beta\|\pi_k) \le (1+2\beta)^{-N/2}\,\mathrm{KL}(\pi^*_\beta\|\pi_0)`.
No assumption beyond :math:`\beta > 0` and :math:`\pi_0` with full support; the rate does not
depend on ``Y``.

**Nash-MD** (Munos et al. 2024, arXiv:2312.00886, §5; :func:`nash_md_step`,
:func:`nash_md`), one query per iteration, against the geometric mixture
:math:`\pi^\mu_k \propto \pi_k^{1-\eta\beta}\pi_{\mathrm{ref}}^{\eta\beta}`:
:math:`\pi_{k+1} = \mathrm{prox}(\pi^\mu_k, q(\pi^\mu_k); \eta)` (needs :math:`\eta\beta \le 1`).
Its stated bound is in :mod:`theory_rl.bounds.munos2024` (constants unverified, [U]).

**Online mirror descent** (:func:`omd_step`, :func:`online_mirror_descent`): the extrapolation
step alone, :math:`\pi_{k+1} = \pi_{k+1/2}` (one query).  **Optimistic mirror descent**
(Popov's past-extragradient; :func:`optimistic_step`, :func:`optimistic_mirror_descent`): the
extrapolation reuses the previous query, :math:`\pi_{k+1/2} = \mathrm{prox}_\beta(\pi_k,
q(\pi_{k-1/2}))`, then :math:`\pi_{k+1} = \mathrm{prox}_\beta(\pi_k, q(\pi_{k+1/2}))` (one query
per iteration).  Nash-MP is the extragradient method.

**Approximate Nash-MP** (:func:`sampled_nash_mp_step`, :func:`sampled_nash_mirror_prox`):
each prox step is solved by ``n_inner`` natural-policy-gradient steps on the inner objective
:math:`\ell(\pi) = -\eta\langle q(\pi_a), \pi\rangle + \eta\beta\mathrm{KL}(\pi\|\pi_{\mathrm{ref}})
+ \mathrm{KL}(\pi\|\pi_k)` (anchor :math:`\pi_a = \pi_k` or :math:`\pi_{k+1/2}`), each with an
unbiased Monte-Carlo estimate :math:`\hat q = \frac1M\sum_m P[:, y'_m]`, :math:`y'_m \sim \pi_a`
(``outcomes="probability"``), or with Bernoulli outcomes of those comparisons
(``outcomes="bernoulli"``).  One NPG step of size :math:`\alpha` is
:math:`\theta \leftarrow \mathrm{prox}(\theta^{1-\alpha(1+\eta\beta)}\pi_k^{\alpha}
\pi_{\mathrm{ref}}^{\alpha\eta\beta}, \hat q; \alpha\eta)`; with exact ``q`` and
:math:`\alpha = 1/(1+\eta\beta)` (the default) one step is the exact prox.

.. warning:: Deviations from the papers.  (i) Tabular softmax policies: the paper's approximate
   Nash-MP estimates each prox step with stochastic policy gradients on a parametrised policy;
   here the inner solver is natural policy gradient (mirror descent) on the tabular policy
   with Monte-Carlo preference estimates, so no parametrisation error enters.  (ii) A
   *query* is one evaluation of :math:`q(\pi) = P(\cdot\succ\pi)` for the exact algorithms,
   and one sampled opponent response :math:`y'_m` (compared with every response; ``Y``
   comparisons, counted in history ``"comparisons"``) for the sampled one.  (iii) The
   exploitability :math:`\mathrm{Gap}_\beta` below is one-sided (half the duality gap of the
   symmetric game).  (iv) The practical LLM variant's EMA of parameters is not implemented.

**Ground truth.**  :func:`regularized_equilibrium` solves, by Newton with continuation in
``beta`` (the notes' SLSQP start was too slow: seconds per instance at ``Y = 30``), the fixed point
:math:`\pi = \mathrm{softmax}(\log\pi_{\mathrm{ref}} + P\pi/\beta)`; :func:`equilibrium_certificate`
turns the fixed-point residual :math:`r = \tfrac12\mathrm{span}(\beta\log\hat\pi -
\beta\log\pi_{\mathrm{ref}} - P\hat\pi)` into the a-posteriori radius
:math:`\|\hat\pi - \pi^*_\beta\|_1 \le r/\beta` (strong monotonicity: the operator
:math:`-P\pi + \beta\nabla\mathrm{KL}(\pi\|\pi_{\mathrm{ref}})` satisfies
:math:`\langle F(\hat\pi) - F(\pi^*), \hat\pi - \pi^*\rangle = \beta(\mathrm{KL}(\hat\pi\|\pi^*)
+ \mathrm{KL}(\pi^*\|\hat\pi)) \ge \beta\|\hat\pi - \pi^*\|_1^2`, since
:math:`P - \tfrac12 11^\top` is skew; and the left side is at most
:math:`r\|\hat\pi - \pi^*\|_1`).  :func:`unregularized_equilibrium` solves ``beta = 0`` by
linear programming (scipy ``linprog``).

References:
    D. Tiapkin, D. Calandriello, D. Belomestny, E. Moulines, A. Naumov, K. Rasul, M. Valko,
    P. Ménard. Accelerating Nash learning from human feedback via Mirror Prox.
    arXiv:2505.19731 v1 (May 2025).  (The id's current version is a different paper.)
    R. Munos et al. Nash learning from human feedback. ICML 2024, arXiv:2312.00886.
    A. Nemirovski. Prox-method with rate of convergence O(1/t) for variational inequalities
    with Lipschitz continuous monotone operators. SIAM J. Optim. 15(1), 2004.
    L. D. Popov. A modification of the Arrow-Hurwicz method for search of saddle points.
    Math. Notes 28, 1980.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import numpy as np
from scipy import optimize

from theory_rl._checks import as_positive
from theory_rl.algorithms.mirror import LOG_FLOOR, kl_prox_log, log_normalize
from theory_rl.backend import (
    array_namespace,
    as_generator,
    namespace_of,
    resolve_device,
    to_numpy,
)
from theory_rl.mdps.games import PreferenceGame
from theory_rl.result import SolveResult

__all__ = [
    "CERTIFICATE_GAP",
    "MirrorProxStep",
    "equilibrium_certificate",
    "exploitability",
    "geometric_mixture_log",
    "kl_to",
    "nash_md",
    "nash_md_step",
    "nash_mirror_prox",
    "nash_mp_step",
    "omd_step",
    "online_mirror_descent",
    "optimistic_mirror_descent",
    "optimistic_step",
    "preference_against",
    "regularized_equilibrium",
    "regularized_prox_log",
    "sampled_nash_mirror_prox",
    "sampled_nash_mp_step",
    "unregularized_equilibrium",
]

#: Ground truth is accepted when its exploitability is below this (certificate precision).
CERTIFICATE_GAP = 1e-12
DEFAULT_RECORD = ("kl_to_equilibrium", "exploitability", "queries")
EPS = float(np.finfo(np.float64).eps)


# --------------------------------------------------------------------------------------------
# pure steps (broadcast over leading axes: (..., X, Y) policies, (..., X, Y, Y) preferences)
# --------------------------------------------------------------------------------------------
def preference_against(preferences: Any, policy: Any) -> Any:
    r"""``q[..., x, y] = P(y > policy_x | x)``
    ``= sum_y' preferences[..., x, y, y'] policy[..., x, y']``.

    Args:
        preferences: ``(..., X, Y, Y)``.
        policy: ``(..., X, Y)`` probabilities.

    Returns:
        ``(..., X, Y)``.
    """
    return (preferences @ policy[..., None])[..., 0]


def geometric_mixture_log(log_policies: Sequence[Any], weights: Sequence[Any]) -> Any:
    r"""Normalised log of :math:`\prod_i \pi_i^{w_i}` (weights summing to one).

    Each ``log_policies[i]`` is ``(..., Y)``; weights are scalars or broadcast against
    ``log_policies[i][..., :1]``.  Log-probabilities are floored at ``LOG_FLOOR`` first.
    """
    xp = namespace_of(log_policies[0])
    z = sum(
        xp.asarray(w) * xp.maximum(lp, LOG_FLOOR)
        for lp, w in zip(log_policies, weights, strict=True)
    )
    return log_normalize(z)


def regularized_prox_log(
    log_centre: Any, log_reference: Any, q: Any, *, beta: Any, eta: Any
) -> Any:
    r"""The KL-regularised prox step, in log space:

    .. math::  \arg\max_\pi\ \eta\langle q, \pi\rangle
               - \eta\beta\,\mathrm{KL}(\pi\|\pi_{\mathrm{ref}})
               - \mathrm{KL}(\pi\|c), \quad
               \log\pi = \frac{\eta q + \eta\beta\log\pi_{\mathrm{ref}} + \log c}{1+\eta\beta}
               - \log Z,

    computed as :func:`~theory_rl.algorithms.mirror.kl_prox_log` from the geometric mixture
    :math:`c^{1/(1+\eta\beta)}\pi_{\mathrm{ref}}^{\eta\beta/(1+\eta\beta)}` with step
    :math:`\eta/(1+\eta\beta)`.  Shapes ``(..., Y)``; ``beta``/``eta`` scalars or broadcastable.
    """
    xp = namespace_of(log_centre)
    s = xp.asarray(eta) * xp.asarray(beta)
    centre = geometric_mixture_log([log_centre, log_reference], [1.0 / (1.0 + s), s / (1.0 + s)])
    return kl_prox_log(centre, q, xp.asarray(eta) / (1.0 + s))


class MirrorProxStep(NamedTuple):
    """Output of :func:`nash_mp_step`: ``(log_half, log_next)``, each ``(..., X, Y)``."""

    log_half: Any
    log_next: Any


def nash_mp_step(
    log_policy: Any, preferences: Any, log_reference: Any, *, beta: Any, eta: Any
) -> MirrorProxStep:
    r"""One Nash Mirror Prox iteration (extrapolation, then update from the same centre).

    .. math::  \log\pi_{k+1/2} = \tfrac{\eta P\pi_k + \eta\beta\log\pi_{\mathrm{ref}}
               + \log\pi_k}{1+\eta\beta} - \log Z, \quad
               \log\pi_{k+1} = \tfrac{\eta P\pi_{k+1/2} + \eta\beta\log\pi_{\mathrm{ref}}
               + \log\pi_k}{1+\eta\beta} - \log Z.

    Args:
        log_policy: ``(..., X, Y)`` log of :math:`\pi_k`.
        preferences: ``(..., X, Y, Y)``.
        log_reference: ``(..., X, Y)``.
        beta, eta: regulariser and step size (scalars or broadcastable to ``(..., X, 1)``).

    Returns:
        :class:`MirrorProxStep` ``(log_half, log_next)``.  Two preference queries.

    Example:
        >>> P = np.array([[[0.5, 0.8], [0.2, 0.5]]]); lr = np.log(np.full((1, 2), 0.5))
        >>> step = nash_mp_step(lr, P, lr, beta=1.0, eta=1.0)
        >>> np.round(np.exp(step.log_next), 4)
        array([[0.5374, 0.4626]])
    """
    xp = namespace_of(log_policy)
    q = preference_against(preferences, xp.exp(log_policy))
    half = regularized_prox_log(log_policy, log_reference, q, beta=beta, eta=eta)
    q_half = preference_against(preferences, xp.exp(half))
    nxt = regularized_prox_log(log_policy, log_reference, q_half, beta=beta, eta=eta)
    return MirrorProxStep(half, nxt)


def omd_step(log_policy: Any, preferences: Any, log_reference: Any, *, beta: Any, eta: Any) -> Any:
    r"""One online mirror descent step on the regularised game (one query):
    :math:`\log\pi_{k+1} = (\eta P\pi_k + \eta\beta\log\pi_{\mathrm{ref}} + \log\pi_k)/(1+\eta\beta)
    - \log Z`.  Shapes as :func:`nash_mp_step`."""
    xp = namespace_of(log_policy)
    q = preference_against(preferences, xp.exp(log_policy))
    return regularized_prox_log(log_policy, log_reference, q, beta=beta, eta=eta)


def optimistic_step(
    log_policy: Any,
    q_previous: Any,
    preferences: Any,
    log_reference: Any,
    *,
    beta: Any,
    eta: Any,
) -> tuple[Any, Any]:
    r"""One optimistic (past-extragradient) mirror descent step (one query).

    .. math::  \pi_{k+1/2} = \mathrm{prox}_\beta(\pi_k, q_{k-1/2}), \quad
               q_{k+1/2} = P\pi_{k+1/2}, \quad \pi_{k+1} = \mathrm{prox}_\beta(\pi_k, q_{k+1/2}).

    Args:
        log_policy: ``(..., X, Y)``.
        q_previous: ``(..., X, Y)`` the previous query :math:`q_{k-1/2}` (``P pi_0`` at ``k=0``).

    Returns:
        ``(log_next, q_half)``; pass ``q_half`` as ``q_previous`` to the next step.
    """
    xp = namespace_of(log_policy)
    half = regularized_prox_log(log_policy, log_reference, q_previous, beta=beta, eta=eta)
    q_half = preference_against(preferences, xp.exp(half))
    nxt = regularized_prox_log(log_policy, log_reference, q_half, beta=beta, eta=eta)
    return nxt, q_half


def nash_md_step(
    log_policy: Any, preferences: Any, log_reference: Any, *, beta: Any, eta: Any
) -> Any:
    r"""One Nash-MD step (Munos et al. 2024, eq. (9)–(10)), one query:

    .. math::  \log\pi^\mu_k = (1-\eta\beta)\log\pi_k + \eta\beta\log\pi_{\mathrm{ref}} - \log Z',
               \quad \log\pi_{k+1} = \log\pi^\mu_k + \eta P\pi^\mu_k - \log Z.

    Needs :math:`0 \le \eta\beta \le 1`.  Shapes as :func:`nash_mp_step`.
    """
    xp = namespace_of(log_policy)
    s = xp.asarray(eta) * xp.asarray(beta)
    mix = geometric_mixture_log([log_policy, log_reference], [1.0 - s, s])
    q = preference_against(preferences, xp.exp(mix))
    return kl_prox_log(mix, q, eta)


def _sample_opponents(rng: np.random.Generator, policy: np.ndarray, n_samples: int) -> np.ndarray:
    """``(..., M)`` indices drawn from each row of ``policy`` ``(..., Y)`` (inverse CDF)."""
    cdf = np.cumsum(policy, axis=-1)
    u = rng.random((*policy.shape[:-1], n_samples)) * cdf[..., -1:]
    idx = (u[..., :, None] >= cdf[..., None, :]).sum(axis=-1)
    return np.minimum(idx, policy.shape[-1] - 1)


def _estimate_q(
    rng: np.random.Generator,
    preferences: Any,
    anchor_log: Any,
    n_samples: int,
    outcomes: str,
) -> Any:
    """Monte-Carlo estimate of ``P(. > anchor)``: mean over M opponents ``y' ~ anchor`` of the
    column ``P[:, y']`` (or of Bernoulli outcomes of those comparisons)."""
    xp = namespace_of(preferences)
    anchor = np.exp(to_numpy(anchor_log))
    idx = _sample_opponents(rng, anchor, n_samples)  # (..., X, M)
    cols = xp.take_along_axis(preferences, xp.asarray(idx)[..., None, :], axis=-1)  # (..., X, Y, M)
    if outcomes == "bernoulli":
        u = xp.asarray(rng.random(cols.shape))
        cols = (u < cols).astype(np.float64)
    return cols.mean(axis=-1)


def sampled_nash_mp_step(
    log_policy: Any,
    preferences: Any,
    log_reference: Any,
    *,
    beta: Any,
    eta: Any,
    n_samples: int,
    rng: np.random.Generator,
    n_inner: int = 1,
    inner_lr: Any = None,
    outcomes: str = "probability",
) -> MirrorProxStep:
    r"""One approximate Nash-MP iteration: each prox step by ``n_inner`` NPG steps on sampled
    preferences (``n_samples`` opponent samples per inner step).

    Inner step (size :math:`\alpha`, default :math:`1/(1+\eta\beta)`), with
    :math:`\hat q = \frac1M\sum_m P[:, y'_m]`, :math:`y'_m \sim \pi_{\mathrm{anchor}}`:

    .. math::  \log\theta \leftarrow (1-\alpha(1+\eta\beta))\log\theta + \alpha\log\pi_k
               + \alpha\eta\beta\log\pi_{\mathrm{ref}} + \alpha\eta\hat q - \log Z .

    Returns:
        :class:`MirrorProxStep`; the step used ``2 * n_inner * n_samples`` queries per context.
    """
    xp = namespace_of(log_policy)
    s = xp.asarray(eta) * xp.asarray(beta)
    alpha = 1.0 / (1.0 + s) if inner_lr is None else xp.asarray(inner_lr)
    keep = 1.0 - alpha * (1.0 + s)
    if float(to_numpy(xp.min(xp.asarray(keep)))) < -1e-12:
        raise ValueError("inner_lr must be <= 1/(1 + eta*beta) (the mixture weights must be >= 0)")
    keep = xp.maximum(keep, 0.0)

    def prox(anchor_log: Any) -> Any:
        theta = log_policy
        for _ in range(n_inner):
            q_hat = _estimate_q(rng, preferences, anchor_log, n_samples, outcomes)
            centre = geometric_mixture_log(
                [theta, log_policy, log_reference], [keep, alpha, alpha * s]
            )
            theta = kl_prox_log(centre, q_hat, alpha * xp.asarray(eta))
        return theta

    half = prox(log_policy)
    return MirrorProxStep(half, prox(half))


# --------------------------------------------------------------------------------------------
# metrics
# --------------------------------------------------------------------------------------------
def _logsumexp(z: Any) -> Any:
    xp = namespace_of(z)
    m = z.max(axis=-1, keepdims=True)
    return (m + xp.log(xp.exp(z - m).sum(axis=-1, keepdims=True)))[..., 0]


def _kl_log(p: Any, log_p: Any, log_q: Any) -> Any:
    xp = namespace_of(p)
    with np.errstate(invalid="ignore"):  # 0 * (-inf) in the branch that where() discards
        return xp.where(p > 0, p * (log_p - log_q), 0.0).sum(axis=-1)


def _gap_log(preferences: Any, log_policy: Any, log_reference: Any, beta: Any) -> Any:
    """Per-context exploitability ``(..., X)`` of ``exp(log_policy)``; ``beta`` ``(..., X)``."""
    xp = namespace_of(log_policy)
    pi = xp.exp(log_policy)
    q = preference_against(preferences, pi)
    beta = xp.asarray(beta)
    safe = xp.where(beta > 0, beta, 1.0)
    # beta * logsumexp(log_ref + q/beta), shifted by the top q on the support of pi_ref so
    # that q/beta cannot overflow when beta is tiny
    support = xp.isfinite(log_reference)
    top = xp.where(support, q, -xp.inf).max(axis=-1)
    with np.errstate(over="ignore"):
        shifted = (q - top[..., None]) / safe[..., None]
    soft = top + safe * _logsumexp(xp.where(support, log_reference + shifted, -xp.inf))
    soft = soft + safe * _kl_log(pi, log_policy, log_reference)
    return xp.where(beta > 0, soft, q.max(axis=-1)) - 0.5


def exploitability(game: PreferenceGame, policy: Any, *, beta: float | None = None) -> Any:
    r"""The exploitability gap :math:`\mathrm{Gap}_\beta(\pi)` (one-sided, context-averaged).

    .. math::  \mathrm{Gap}_\beta(\pi) = \mathbb E_{x\sim\rho}\Big[\max_{\pi'}
               \big(P(\pi'\succ\pi) - \beta\mathrm{KL}(\pi'\|\pi_{\mathrm{ref}})\big)
               + \beta\mathrm{KL}(\pi\|\pi_{\mathrm{ref}})\Big] - \tfrac12
               = \mathbb E_x\Big[\beta\log\sum_y\pi_{\mathrm{ref}}(y)e^{P(y\succ\pi)/\beta}
               + \beta\mathrm{KL}(\pi\|\pi_{\mathrm{ref}})\Big] - \tfrac12,

    and :math:`\max_{y'} P(y'\succ\pi) - \tfrac12` at ``beta = 0``.  It is convex, ``>= 0``, and
    0 exactly at the equilibrium; it equals :math:`\beta\mathrm{KL}(\pi\|\mathrm{BR}(\pi))`, and
    :math:`\mathrm{Gap}_\beta(\pi) \ge \beta\mathrm{KL}(\pi\|\pi^*_\beta)`.

    Args:
        game: the game (its ``beta`` unless ``beta`` is given).
        policy: ``(..., X, Y)`` (or ``(Y,)`` for a one-context game); NumPy or CuPy.

    Returns:
        ``(...)`` the gap; a float for a single policy.
    """
    xp = namespace_of(policy)
    pi = xp.asarray(policy, dtype=np.float64)
    if pi.ndim == 1:
        pi = pi[None]
    if pi.shape[-2:] != game.reference_policy.shape:
        raise ValueError(
            f"policy must have shape (..., {game.n_contexts}, {game.n_responses}), got {pi.shape}"
        )
    b = game.beta if beta is None else float(beta)
    with np.errstate(divide="ignore"):
        log_pi = xp.log(pi)
    P, lr = xp.asarray(game.preferences), xp.log(xp.asarray(game.reference_policy))
    gaps = _gap_log(P, log_pi, lr, xp.full(pi.shape[:-1], b))
    out = (gaps * xp.asarray(game.contexts)).sum(axis=-1)
    return float(out) if out.ndim == 0 else to_numpy(out)


def kl_to(equilibrium: Any, log_policy: Any, contexts: Any) -> Any:
    r""":math:`\mathbb E_{x\sim\rho}\mathrm{KL}(\pi^*_x\|\pi_x)` from ``log_policy``
    ``(..., X, Y)``;
    ``equilibrium`` ``(..., X, Y)`` probabilities, ``contexts`` ``(X,)``."""
    xp = namespace_of(log_policy)
    with np.errstate(divide="ignore"):
        log_eq = xp.log(equilibrium)
    return (_kl_log(equilibrium, log_eq, log_policy) * contexts).sum(axis=-1)


# --------------------------------------------------------------------------------------------
# ground truth
# --------------------------------------------------------------------------------------------
def equilibrium_certificate(game: PreferenceGame, policy: Any) -> np.ndarray:
    r"""A-posteriori radius :math:`\delta_x \ge \|\hat\pi_x - \pi^*_{\beta,x}\|_1` per context.

    :math:`\delta = r/\beta` with :math:`r = \tfrac12\mathrm{span}(\beta\log\hat\pi -
    \beta\log\pi_{\mathrm{ref}} - P\hat\pi)` (see the module docstring), plus the round-off
    of evaluating ``r``: ``4 eps (beta (|log pi| + |log ref|) + 1)`` at the largest entry.

    Args:
        game: a game with ``beta > 0``.
        policy: ``(X, Y)`` (or ``(Y,)``) with full support.

    Returns:
        ``(X,)`` radii (``inf`` where ``policy`` has a zero entry).
    """
    if game.beta <= 0:
        raise ValueError("beta must be > 0 for the regularised certificate")
    pi = np.asarray(policy, dtype=np.float64).reshape(game.reference_policy.shape)
    with np.errstate(divide="ignore"):
        log_pi = np.log(pi)
    log_ref = np.log(game.reference_policy)
    F = game.beta * (log_pi - log_ref) - preference_against(game.preferences, pi)
    r = 0.5 * (F.max(axis=-1) - F.min(axis=-1))
    scale = game.beta * (np.abs(log_pi) + np.abs(log_ref)).max(axis=-1) + 1.0
    r = r + 4.0 * EPS * scale
    return np.where(np.isfinite(r), r / game.beta, np.inf)


def _newton(
    P: np.ndarray, log_ref: np.ndarray, beta: float, pi: np.ndarray, max_newton: int
) -> tuple[np.ndarray, float]:
    """Newton on ``G(pi) = pi - BR(pi)`` with backtracking; returns ``(pi, ||G||_1)``.

    ``J = I - (diag w - w w^T) P / beta`` and ``1^T J = 1^T``, so steps keep the sum; a step is
    halved until ``pi`` stays positive and ``||G||_1`` decreases.
    """

    def best_response(p: np.ndarray) -> np.ndarray:
        return np.exp(log_normalize(log_ref + P @ p / beta))

    eye = np.eye(pi.size)
    g_norm = float(np.abs(pi - best_response(pi)).sum())
    for _ in range(max_newton):
        if g_norm == 0.0:
            break
        w = best_response(pi)
        J = eye - (np.diag(w) - np.outer(w, w)) @ P / beta
        try:
            step = np.linalg.solve(J, w - pi)
        except np.linalg.LinAlgError:
            break
        t, improved = 1.0, False
        while t > 1e-6:
            cand = pi + t * step
            if cand.min() > 0:
                cand = cand / cand.sum()
                c_norm = float(np.abs(cand - best_response(cand)).sum())
                if c_norm < g_norm:
                    pi, g_norm, improved = cand, c_norm, True
                    break
            t *= 0.5
        if not improved:
            break
    return pi, g_norm


def _solve_context(P: np.ndarray, ref: np.ndarray, beta: float, max_newton: int) -> np.ndarray:
    """Equilibrium of one context by continuation in beta with Newton at each stage.

    At ``b >= 1`` the regularised best response is a contraction (Lipschitz ``1/(2b)`` from l1 to
    log space), so fixed-point iteration from ``pi_ref`` converges; then ``b`` is halved down to
    ``beta``, each stage solved by Newton from the previous stage's solution (the equilibrium
    path is smooth in ``b``); a stage whose Newton solve stalls is retried with a smaller step.
    """
    log_ref = np.log(ref)
    b = max(beta, 1.0)
    pi = ref.copy()
    for _ in range(200):
        pi = np.exp(log_normalize(log_ref + P @ pi / b))
    pi, _ = _newton(P, log_ref, b, pi, max_newton)
    factor = 0.5
    while b > beta:
        b_next = max(beta, b * factor)
        cand, g_norm = _newton(P, log_ref, b_next, pi, max_newton)
        if g_norm <= 1e-9 or b_next == beta and factor > 0.99:
            pi, b, factor = cand, b_next, min(0.5, factor * factor)
        else:
            factor = factor**0.5  # smaller continuation step
            if factor > 0.999:
                pi, b = cand, b_next
    pi, _ = _newton(P, log_ref, beta, pi, max_newton)
    return np.exp(log_normalize(log_ref + P @ pi / beta))


def regularized_equilibrium(
    game: PreferenceGame, *, beta: float | None = None, max_newton: int = 50
) -> SolveResult:
    r"""The regularised equilibrium :math:`\pi^*_\beta` to certificate precision.

    Per context: Newton on the fixed point :math:`\pi = \mathrm{softmax}(\log\pi_{\mathrm{ref}}
    + P\pi/\beta)`, with continuation in ``beta`` (from ``max(beta, 1)``, where fixed-point
    iteration contracts, halving down to ``beta``).  Independent of the iterative algorithms.

    Returns:
        SolveResult with ``policy`` ``(X, Y)``, ``values`` ``(X,)`` the per-context gap,
        ``q_values`` ``(X, Y)`` = :math:`P(\cdot\succ\pi^*)`, ``converged`` when the
        (context-averaged) gap is below :data:`CERTIFICATE_GAP`, and ``params["radius"]`` the
        :func:`equilibrium_certificate` ``(X,)``.
    """
    b = game.beta if beta is None else float(beta)
    if b <= 0:
        raise ValueError("beta must be > 0; use unregularized_equilibrium for beta = 0")
    g = game if b == game.beta else game.with_beta(b)
    pi = np.stack(
        [
            _solve_context(g.preferences[x], g.reference_policy[x], b, max_newton)
            for x in range(g.n_contexts)
        ]
    )
    lr = np.log(g.reference_policy)
    gaps = _gap_log(g.preferences, np.log(pi), lr, np.full(g.n_contexts, b))
    total = float((gaps * g.contexts).sum())
    ok = total < CERTIFICATE_GAP
    radius = equilibrium_certificate(g, pi)
    return SolveResult(
        pi,
        gaps,
        preference_against(g.preferences, pi),
        max_newton,
        ok,
        f"gap {total:.3g}" + ("" if ok else f" is above the certificate {CERTIFICATE_GAP:g}"),
        {},
        {"beta": b, "gap": total, "radius": radius},
        None,
    )


def unregularized_equilibrium(game: PreferenceGame) -> SolveResult:
    r"""A Nash equilibrium of the unregularised game (``beta = 0``) by linear programming.

    Per context: maximise ``v`` subject to :math:`\sum_y \pi(y)(P[y, y'] - \tfrac12) \ge v`
    for all :math:`y'`, :math:`\mathbf 1^\top\pi = 1`, :math:`\pi \ge 0` (scipy ``linprog``,
    HiGHS).  The value is 0; equilibria need not be unique, so compare exploitability
    (``values``: :math:`\max_{y'}P(y'\succ\pi) - \tfrac12` per context), not policies.
    """
    X, Y = game.n_contexts, game.n_responses
    pis, gaps = [], []
    for x in range(X):
        A = game.preferences[x] - 0.5
        c = np.zeros(Y + 1)
        c[-1] = -1.0
        A_ub = np.hstack([-A.T, np.ones((Y, 1))])  # v - sum_y pi_y A[y, y'] <= 0
        A_eq = np.hstack([np.ones((1, Y)), np.zeros((1, 1))])
        res = optimize.linprog(
            c,
            A_ub=A_ub,
            b_ub=np.zeros(Y),
            A_eq=A_eq,
            b_eq=[1.0],
            bounds=[(0, None)] * Y + [(None, None)],
            method="highs",
        )
        if res.status != 0:
            raise RuntimeError(f"linprog failed on context {x}: {res.message}")
        pi = np.maximum(res.x[:Y], 0.0)
        pi /= pi.sum()
        pis.append(pi)
        gaps.append(float((game.preferences[x] @ pi).max() - 0.5))
    pi = np.stack(pis)
    gaps_arr = np.array(gaps)
    return SolveResult(
        pi,
        gaps_arr,
        preference_against(game.preferences, pi),
        1,
        True,
        "linprog (HiGHS)",
        {},
        {"beta": 0.0, "gap": float((gaps_arr * game.contexts).sum())},
        None,
    )


# --------------------------------------------------------------------------------------------
# drivers
# --------------------------------------------------------------------------------------------
def _stack_games(
    game: PreferenceGame | Sequence[PreferenceGame], beta: float | None
) -> tuple[list[PreferenceGame], bool]:
    if isinstance(game, PreferenceGame):
        games, batched = [game], False
    else:
        games, batched = list(game), True
        if not games or not all(isinstance(g, PreferenceGame) for g in games):
            raise ValueError("game must be a PreferenceGame or a non-empty sequence of them")
        shape = games[0].preferences.shape
        if any(g.preferences.shape != shape for g in games):
            raise ValueError("game: every game of a batch must have the same (X, Y, Y) shape")
    if beta is not None:
        games = [g.with_beta(beta) for g in games]
    return games, batched


def _run(
    method: str,
    game: PreferenceGame | Sequence[PreferenceGame],
    *,
    beta: float | None,
    eta: float,
    n_iterations: int,
    tol: float,
    initial_policy: Any,
    equilibrium: Any,
    record: Sequence[str],
    callback: Callable[[SolveResult], None] | None,
    seed: Any,
    device: str | None,
    queries_per_iteration: int,
    step: Callable[..., Any],
    extra_params: dict[str, Any] | None = None,
) -> SolveResult:
    games, batched = _stack_games(game, beta)
    eta = as_positive("eta", eta)
    tol = as_positive("tol", tol, allow_zero=True)
    if isinstance(n_iterations, bool) or not isinstance(n_iterations, (int, np.integer)):
        raise ValueError(f"n_iterations must be an integer >= 0, got {n_iterations!r}")
    if n_iterations < 0:
        raise ValueError(f"n_iterations must be >= 0, got {n_iterations}")
    unknown = set(record) - {"kl_to_equilibrium", "exploitability", "queries", "comparisons"}
    if unknown:
        raise ValueError(f"record has unknown metrics {sorted(unknown)}")
    betas = np.array([g.beta for g in games])
    if method == "nash_md" and np.any(eta * betas > 1):
        raise ValueError(f"eta * beta must be <= 1 for Nash-MD, got eta={eta}, beta={betas.max()}")
    device = resolve_device(device, initial_policy)
    xp = array_namespace(device)
    B = len(games)
    X, Y = games[0].reference_policy.shape
    P = xp.asarray(np.stack([g.preferences for g in games]))
    log_ref = xp.asarray(np.log(np.stack([g.reference_policy for g in games])))
    contexts = np.stack([g.contexts for g in games])
    beta_arr = xp.asarray(betas[:, None, None])
    if initial_policy is None:
        log_pi = log_ref.copy()
    else:
        pi0 = np.asarray(to_numpy(initial_policy), dtype=np.float64)
        pi0 = np.broadcast_to(pi0.reshape((-1, X, Y)) if pi0.ndim > 1 else pi0, (B, X, Y))
        if np.any(pi0 < 0) or np.any(np.abs(pi0.sum(-1) - 1) > 1e-8):
            raise ValueError("initial_policy rows must be probability distributions")
        with np.errstate(divide="ignore"):
            log_pi = xp.asarray(np.maximum(np.log(pi0), LOG_FLOOR))
    eq = None
    if "kl_to_equilibrium" in record:
        if equilibrium is None:
            if np.any(betas <= 0):
                raise ValueError('record "kl_to_equilibrium" needs beta > 0 (or equilibrium=)')
            eq = np.stack([np.asarray(regularized_equilibrium(g).policy) for g in games])
        else:
            eq = np.broadcast_to(
                np.asarray(equilibrium, dtype=np.float64).reshape(-1, X, Y), (B, X, Y)
            )
        eq_dev = xp.asarray(eq)
    contexts_dev = xp.asarray(contexts)
    rng = as_generator(seed)
    hist: dict[str, list[np.ndarray]] = {k: [] for k in record}
    counts = {"queries": 0, "comparisons": 0}

    def measure(lp: Any) -> None:
        if "kl_to_equilibrium" in hist:
            hist["kl_to_equilibrium"].append(to_numpy(kl_to(eq_dev, lp, contexts_dev)))
        if "exploitability" in hist or tol > 0:
            g = _gap_log(P, lp, log_ref, xp.broadcast_to(beta_arr[..., 0], (B, X)))
            gap = to_numpy((g * contexts_dev).sum(axis=-1))
            if "exploitability" in hist:
                hist["exploitability"].append(gap)
            measure.gap = gap  # type: ignore[attr-defined]
        for key in ("queries", "comparisons"):
            if key in hist:
                hist[key].append(np.full(B, counts[key], dtype=np.float64))

    def result(lp: Any, k: int, converged: bool, message: str, final: bool = True) -> SolveResult:
        pi = to_numpy(xp.exp(lp))
        q = to_numpy(preference_against(P, xp.exp(lp)))
        gaps = to_numpy(
            (
                _gap_log(P, lp, log_ref, xp.broadcast_to(beta_arr[..., 0], (B, X))) * contexts_dev
            ).sum(axis=-1)
        )
        history = {  # intermediate results (callbacks) carry no history: O(1) per call
            key: (np.stack(v) if batched else np.stack(v)[:, 0])
            for key, v in hist.items()
            if v and final
        }
        params = {
            "method": method,
            "eta": eta,
            "beta": betas if batched else float(betas[0]),
            "n_iterations": n_iterations,
            "tol": tol,
            "device": device,
            "queries_per_iteration": queries_per_iteration,
            **(extra_params or {}),
        }
        return SolveResult(
            pi if batched else pi[0],
            gaps if batched else gaps[:1],
            q if batched else q[0],
            k,
            converged,
            message,
            history,
            params,
            seed,
        )

    state: dict[str, Any] = {}
    measure(log_pi)
    converged = tol > 0 and bool(np.all(measure.gap <= tol))  # type: ignore[attr-defined]
    k = 0
    message = "converged: exploitability <= tol" if converged else ""
    while not converged and k < n_iterations:
        log_pi, used = step(log_pi, P, log_ref, beta_arr, eta, state, rng)
        counts["queries"] += used
        counts["comparisons"] += used * Y
        k += 1
        measure(log_pi)
        if tol > 0 and bool(np.all(measure.gap <= tol)):  # type: ignore[attr-defined]
            converged, message = True, "converged: exploitability <= tol"
        if callback is not None:
            try:
                callback(result(log_pi, k, converged, "in progress", final=False))
            except StopIteration:
                message = "stopped by callback"
                break
    if not message:
        message = "n_iterations reached"
    return result(log_pi, k, converged, message)


def _exact_driver_doc(name: str, update: str, queries: int) -> str:
    return f"""{name} on a preference game (or a batch of games of one shape).

    Update: {update}  ({queries} preference quer{"y" if queries == 1 else "ies"} per iteration.)

    Args:
        game: a :class:`~theory_rl.mdps.games.PreferenceGame`, or a sequence of games with equal
            ``(X, Y, Y)`` shapes (a batch ``B``, computed in one array program).
        beta: overrides ``game.beta`` when given.
        eta: step size ``> 0``.
        n_iterations: iterations (each counted as the queries above).
        tol: stop once the exploitability of every game is ``<= tol`` (``0``: run all).
        initial_policy: ``(X, Y)`` or ``(B, X, Y)``; ``pi_ref`` when omitted.
        equilibrium: ``(X, Y)``/``(B, X, Y)`` reference equilibrium for the KL record (computed
            by :func:`regularized_equilibrium` when omitted).
        record: history keys among ``"kl_to_equilibrium"`` (context-averaged
            KL(pi*_beta || pi_k)), ``"exploitability"`` (Gap_beta), ``"queries"`` (cumulative
            preference queries); each of length ``n_iterations + 1`` (the initial point
            first), with a trailing batch axis ``(n_iterations + 1, B)`` for a batch.
        callback: called with a :class:`SolveResult` after each iteration (its ``history`` is
            empty, to keep a call O(1)); may raise ``StopIteration``.
        seed: unused (deterministic), echoed back.
        device: ``"cpu"``, ``"gpu"`` (CuPy) or None (infer from ``initial_policy``).

    Returns:
        SolveResult: ``policy`` ``(X, Y)`` (``(B, X, Y)``), ``values`` ``(1,)`` (``(B,)``) the
        final exploitability, ``q_values`` ``P(. > pi)``, ``history``, ``params``.
    """


def nash_mirror_prox(
    game: PreferenceGame | Sequence[PreferenceGame],
    *,
    beta: float | None = None,
    eta: float = 2.0,
    n_iterations: int = 200,
    tol: float = 0.0,
    initial_policy: Any = None,
    equilibrium: Any = None,
    record: Sequence[str] = DEFAULT_RECORD,
    callback: Callable[[SolveResult], None] | None = None,
    seed: Any = None,
    device: str | None = None,
) -> SolveResult:
    def step(lp, P, lr, b, eta, state, rng):
        return nash_mp_step(lp, P, lr, beta=b, eta=eta).log_next, 2

    return _run(
        "nash_mirror_prox",
        game,
        beta=beta,
        eta=eta,
        n_iterations=n_iterations,
        tol=tol,
        initial_policy=initial_policy,
        equilibrium=equilibrium,
        record=record,
        callback=callback,
        seed=seed,
        device=device,
        queries_per_iteration=2,
        step=step,
    )


def online_mirror_descent(
    game: PreferenceGame | Sequence[PreferenceGame],
    *,
    beta: float | None = None,
    eta: float = 2.0,
    n_iterations: int = 200,
    tol: float = 0.0,
    initial_policy: Any = None,
    equilibrium: Any = None,
    record: Sequence[str] = DEFAULT_RECORD,
    callback: Callable[[SolveResult], None] | None = None,
    seed: Any = None,
    device: str | None = None,
) -> SolveResult:
    def step(lp, P, lr, b, eta, state, rng):
        return omd_step(lp, P, lr, beta=b, eta=eta), 1

    return _run(
        "online_mirror_descent",
        game,
        beta=beta,
        eta=eta,
        n_iterations=n_iterations,
        tol=tol,
        initial_policy=initial_policy,
        equilibrium=equilibrium,
        record=record,
        callback=callback,
        seed=seed,
        device=device,
        queries_per_iteration=1,
        step=step,
    )


def optimistic_mirror_descent(
    game: PreferenceGame | Sequence[PreferenceGame],
    *,
    beta: float | None = None,
    eta: float = 1.0,
    n_iterations: int = 200,
    tol: float = 0.0,
    initial_policy: Any = None,
    equilibrium: Any = None,
    record: Sequence[str] = DEFAULT_RECORD,
    callback: Callable[[SolveResult], None] | None = None,
    seed: Any = None,
    device: str | None = None,
) -> SolveResult:
    def step(lp, P, lr, b, eta, state, rng):
        used = 1
        if "q" not in state:  # q_{-1/2} = P pi_0: one extra query at the start
            state["q"] = preference_against(P, namespace_of(lp).exp(lp))
            used = 2
        nxt, state["q"] = optimistic_step(lp, state["q"], P, lr, beta=b, eta=eta)
        return nxt, used

    return _run(
        "optimistic_mirror_descent",
        game,
        beta=beta,
        eta=eta,
        n_iterations=n_iterations,
        tol=tol,
        initial_policy=initial_policy,
        equilibrium=equilibrium,
        record=record,
        callback=callback,
        seed=seed,
        device=device,
        queries_per_iteration=1,
        step=step,
    )


def nash_md(
    game: PreferenceGame | Sequence[PreferenceGame],
    *,
    beta: float | None = None,
    eta: float | None = None,
    n_iterations: int = 200,
    tol: float = 0.0,
    initial_policy: Any = None,
    equilibrium: Any = None,
    record: Sequence[str] = DEFAULT_RECORD,
    callback: Callable[[SolveResult], None] | None = None,
    seed: Any = None,
    device: str | None = None,
) -> SolveResult:
    games, _ = _stack_games(game, beta)
    if eta is None:  # Munos et al.'s horizon-dependent choice eta = log T / (beta T)
        T = max(int(n_iterations), 2)
        eta = math.log(T) / (min(g.beta for g in games) * T)
        eta = min(eta, 1.0 / max(g.beta for g in games))

    def step(lp, P, lr, b, eta, state, rng):
        return nash_md_step(lp, P, lr, beta=b, eta=eta), 1

    return _run(
        "nash_md",
        game,
        beta=beta,
        eta=eta,
        n_iterations=n_iterations,
        tol=tol,
        initial_policy=initial_policy,
        equilibrium=equilibrium,
        record=record,
        callback=callback,
        seed=seed,
        device=device,
        queries_per_iteration=1,
        step=step,
    )


def sampled_nash_mirror_prox(
    game: PreferenceGame | Sequence[PreferenceGame],
    *,
    beta: float | None = None,
    eta: float = 2.0,
    n_samples: int = 64,
    n_inner: int = 1,
    inner_lr: float | None = None,
    outcomes: str = "probability",
    n_iterations: int = 200,
    tol: float = 0.0,
    initial_policy: Any = None,
    equilibrium: Any = None,
    record: Sequence[str] = (*DEFAULT_RECORD, "comparisons"),
    callback: Callable[[SolveResult], None] | None = None,
    seed: Any = None,
    device: str | None = None,
) -> SolveResult:
    r"""Approximate Nash-MP: every prox step from sampled preference queries.

    Each of the two prox steps per iteration runs ``n_inner`` natural-policy-gradient steps of
    size ``inner_lr`` (default :math:`1/(1+\eta\beta)`), each with ``n_samples`` opponent
    samples :math:`y' \sim` anchor (see :func:`sampled_nash_mp_step`).  History
    ``"queries"`` counts sampled opponents (``2 * n_inner * n_samples`` per iteration and
    context) and ``"comparisons"`` the pairwise comparisons (``Y`` per query).

    Other arguments, returns: as :func:`nash_mirror_prox`; ``seed`` (int, SeedSequence or
    Generator) drives all sampling (NumPy Generator, also on the GPU path).
    """
    for name, v in (("n_samples", n_samples), ("n_inner", n_inner)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
            raise ValueError(f"{name} must be an integer >= 1, got {v!r}")
    if outcomes not in ("probability", "bernoulli"):
        raise ValueError(f'outcomes must be "probability" or "bernoulli", got {outcomes!r}')
    used = 2 * n_inner * n_samples

    def step(lp, P, lr, b, eta, state, rng):
        out = sampled_nash_mp_step(
            lp,
            P,
            lr,
            beta=b,
            eta=eta,
            n_samples=n_samples,
            rng=rng,
            n_inner=n_inner,
            inner_lr=inner_lr,
            outcomes=outcomes,
        )
        return out.log_next, used

    return _run(
        "sampled_nash_mirror_prox",
        game,
        beta=beta,
        eta=eta,
        n_iterations=n_iterations,
        tol=tol,
        initial_policy=initial_policy,
        equilibrium=equilibrium,
        record=record,
        callback=callback,
        seed=seed,
        device=device,
        queries_per_iteration=used,
        step=step,
        extra_params={
            "n_samples": n_samples,
            "n_inner": n_inner,
            "inner_lr": inner_lr,
            "outcomes": outcomes,
        },
    )


nash_mirror_prox.__doc__ = _exact_driver_doc(
    "Exact Nash Mirror Prox (Tiapkin et al. 2025, v1)",
    ":func:`nash_mp_step` (extrapolation, then update from pi_k); default eta = 2 = 1/L.",
    2,
)
online_mirror_descent.__doc__ = _exact_driver_doc(
    "Online mirror descent on the regularised game", ":func:`omd_step`.", 1
)
optimistic_mirror_descent.__doc__ = _exact_driver_doc(
    "Optimistic (past-extragradient) mirror descent",
    ":func:`optimistic_step` (one extra query at k = 0 for q_{-1/2} = P pi_0).",
    1,
)
nash_md.__doc__ = _exact_driver_doc(
    "Nash-MD (Munos et al. 2024)",
    ":func:`nash_md_step`; eta defaults to log T / (beta T) with T = n_iterations "
    "(Munos et al.'s choice), capped at 1/beta.",
    1,
)
