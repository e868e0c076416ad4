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
(the shared :func:`theory_rl.algorithms.mirror.regularized_prox_log` with weight
:math:`\tau = \beta` and reference :math:`\mu = \pi_{\mathrm{ref}}`; its centre is
:math:`\pi_k` and its step :math:`\eta` -- the same formula as Cen et al.'s entropy NPG step
with :math:`\mu` uniform, see :mod:`theory_rl.algorithms.npg`).

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

**Drivers and metrics.**  Every driver runs on the one iteration loop
(:func:`theory_rl.algorithms._loop.iterate`; history ``(K+1,)`` for one game, ``(B, K+1)`` for a
batch of ``B``) and measures against one :class:`GameReference` (``reference=``, the
regularised equilibrium computed once per game).  ``record`` keys (:data:`RECORD_KEYS`):
``kl_to_opt`` :math:`\mathbb E_{x\sim\rho}\mathrm{KL}(\pi^*_{\beta,x}\|\pi_{k,x})` -- the
metric :func:`theory_rl.algorithms.metrics.kl_to_opt` of the MDP drivers, whose weighting
(the occupancy :math:`d_\rho^{\pi^*}`) is here the context distribution :math:`\rho`, the
occupancy of a one-step problem; ``exploitability`` :math:`\mathrm{Gap}_\beta(\pi_k)`
(:func:`exploitability`; the ``tol`` stopping metric); ``queries`` and ``comparisons``
(cumulative counts).

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

import dataclasses
import math
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import numpy as np
from scipy import optimize

from theory_rl._checks import as_int, as_positive
from theory_rl.algorithms._loop import Method, iterate
from theory_rl.algorithms.metrics import kl_to_opt
from theory_rl.algorithms.mirror import (
    LOG_FLOOR,
    geometric_mixture_log,
    kl_log,
    kl_prox_log,
    log_normalize,
    logsumexp,
    regularized_prox_log,
)
from theory_rl.backend import array_namespace, namespace_of, resolve_device, to_numpy
from theory_rl.mdps.games import PreferenceGame
from theory_rl.result import SolveResult

__all__ = [
    "CERTIFICATE_GAP",
    "GameReference",
    "MirrorProxStep",
    "RECORD_KEYS",
    "equilibrium_certificate",
    "exploitability",
    "game_reference",
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
    "sampled_nash_mirror_prox",
    "sampled_nash_mp_step",
    "unregularized_equilibrium",
]

#: Ground truth is accepted when its exploitability is below this (certificate precision).
CERTIFICATE_GAP = 1e-12
#: What the drivers may record (module docstring, "Metrics").
RECORD_KEYS = ("kl_to_opt", "exploitability", "queries", "comparisons")
DEFAULT_RECORD = ("kl_to_opt", "exploitability", "queries")
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
    half = regularized_prox_log(log_policy, q, eta=eta, tau=beta, log_reference=log_reference)
    q_half = preference_against(preferences, xp.exp(half))
    nxt = regularized_prox_log(log_policy, q_half, eta=eta, tau=beta, log_reference=log_reference)
    return MirrorProxStep(half, nxt)


def omd_step(log_policy: Any, preferences: Any, log_reference: Any, *, beta: Any, eta: Any) -> Any:
    r"""One online mirror descent step on the regularised game (one query):
    :math:`\log\pi_{k+1} = (\eta P\pi_k + \eta\beta\log\pi_{\mathrm{ref}} + \log\pi_k)/(1+\eta\beta)
    - \log Z`.  Shapes as :func:`nash_mp_step`."""
    xp = namespace_of(log_policy)
    q = preference_against(preferences, xp.exp(log_policy))
    return regularized_prox_log(log_policy, q, eta=eta, tau=beta, log_reference=log_reference)


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
    half = regularized_prox_log(
        log_policy, q_previous, eta=eta, tau=beta, log_reference=log_reference
    )
    q_half = preference_against(preferences, xp.exp(half))
    nxt = regularized_prox_log(log_policy, q_half, eta=eta, tau=beta, log_reference=log_reference)
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
    soft = top + safe * logsumexp(xp.where(support, log_reference + shifted, -xp.inf))
    soft = soft + safe * kl_log(log_policy, log_reference)
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
# the reference of the drivers: the regularised equilibrium, computed once
# --------------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True, kw_only=True)
class GameReference:
    r"""The regularised equilibrium of one game or of a batch (leading ``(B,)`` axis).

    The game counterpart of :class:`theory_rl.algorithms.exact.Reference`: computed once
    (:func:`game_reference`, or from a :func:`regularized_equilibrium` result with
    :meth:`from_result`) and passed as ``reference=`` to every driver of this module.

    Attributes:
        policy: :math:`\pi^*_\beta` ``([B,] X, Y)``.
        beta: ``([B,])`` the regularisation it solves.
        radius: ``([B,] X)`` certified :math:`\ell_1` radius per context
            (:func:`equilibrium_certificate`); NaN when not given (a policy certified
            elsewhere).
        gap: ``([B,])`` the exploitability of ``policy`` (its certificate); NaN when not given.
    """

    policy: np.ndarray
    beta: np.ndarray
    radius: np.ndarray | None = None
    gap: np.ndarray | None = None

    def __post_init__(self) -> None:
        policy = np.asarray(to_numpy(self.policy))
        if policy.ndim not in (2, 3) or policy.dtype.kind not in "fiu":
            raise ValueError(f"policy must be a real (X, Y) or (B, X, Y) array, got {policy!r}")
        lead = policy.shape[:-2]
        shapes = {"policy": policy.shape, "beta": lead, "radius": policy.shape[:-1], "gap": lead}
        for f, shape in shapes.items():
            value = getattr(self, f)
            if isinstance(value, (str, bytes)):
                raise ValueError(f"{f} must be a real array, got {value!r}")
            arr = (
                np.full(shape, np.nan)
                if value is None
                else np.array(to_numpy(value), dtype=np.float64)
            )
            arr.flags.writeable = False
            object.__setattr__(self, f, arr)
        if np.any(self.policy < 0) or np.any(np.abs(self.policy.sum(-1) - 1) > 1e-8):
            raise ValueError("policy rows must be probability distributions")
        for f, shape in shapes.items():
            if getattr(self, f).shape != shape:
                raise ValueError(f"{f} must have shape {shape}, got {getattr(self, f).shape}")

    @classmethod
    def from_result(cls, result: SolveResult) -> GameReference:
        """The reference held by a :func:`regularized_equilibrium` result."""
        params = result.params
        if not isinstance(result, SolveResult) or not {"beta", "radius", "gap"} <= set(params):
            raise ValueError(
                "reference must be a GameReference or a regularized_equilibrium result"
            )
        return cls(
            policy=result.policy, beta=params["beta"], radius=params["radius"], gap=params["gap"]
        )

    def batch(self) -> GameReference:
        """The same reference with a leading batch axis (``(1, ...)`` for a single game)."""
        if self.policy.ndim == 3:
            return self
        return GameReference(
            policy=self.policy[None], beta=self.beta[None], radius=self.radius[None],
            gap=self.gap[None],
        )  # fmt: skip

    def check(self, games: Sequence[PreferenceGame]) -> GameReference:
        """This reference, batched, after checking it is the one of ``games``' shape and
        ``beta``; ``ValueError`` naming ``reference`` otherwise."""
        ref = self.batch()
        want = (len(games), *games[0].reference_policy.shape)
        if ref.policy.shape != want:
            raise ValueError(
                f"reference has policy of shape {ref.policy.shape}, expected {want} "
                "(one equilibrium per game of the run)"
            )
        betas = np.array([g.beta for g in games])
        if not np.array_equal(ref.beta, betas):
            raise ValueError(f"reference is for beta={ref.beta.tolist()}, the run uses {betas}")
        return ref


def game_reference(
    game: PreferenceGame | Sequence[PreferenceGame], *, beta: float | None = None
) -> GameReference:
    """The :class:`GameReference` of a game or a batch (one :func:`regularized_equilibrium`
    per game; ``beta`` overrides the games' own)."""
    games, batched = _stack_games(game, beta)
    if any(g.beta <= 0 for g in games):
        raise ValueError("beta must be > 0 for the regularised equilibrium")
    refs = [GameReference.from_result(regularized_equilibrium(g)) for g in games]
    if not batched:
        return refs[0]
    return GameReference(
        **{f: np.stack([getattr(r, f) for r in refs]) for f in ("policy", "beta", "radius", "gap")}
    )


def _as_reference(given: Any, games: list[PreferenceGame]) -> GameReference:
    """``given`` (a :class:`GameReference`, a :func:`regularized_equilibrium` result, or a
    sequence of single-game ones for a batch) as the checked, batched reference of ``games``."""
    single = (GameReference, SolveResult)
    if isinstance(given, SolveResult):
        given = GameReference.from_result(given)
    elif isinstance(given, Sequence) and given and all(isinstance(r, single) for r in given):
        parts = [r if isinstance(r, GameReference) else GameReference.from_result(r) for r in given]
        if any(r.policy.ndim != 2 for r in parts):
            raise ValueError("reference: a sequence must hold one single-game reference per game")
        given = GameReference(
            **{
                f: np.stack([getattr(r, f) for r in parts])
                for f in ("policy", "beta", "radius", "gap")
            }
        )
    if not isinstance(given, GameReference):
        raise ValueError(
            "reference must be a GameReference or a regularized_equilibrium result, got "
            f"{type(given).__name__}"
        )
    return given.check(games)


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
        if isinstance(beta, (str, bytes)):
            raise ValueError(f"beta must be a real number >= 0, got {beta!r}")
        games = [g.with_beta(as_positive("beta", beta, allow_zero=True)) for g in games]
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
    reference: Any,
    record: Sequence[str],
    callback: Callable[[SolveResult], None] | None,
    seed: Any,
    device: str | None,
    queries_per_iteration: int,
    step: Callable[..., Any],
    extra_params: dict[str, Any] | None = None,
) -> SolveResult:
    """The shared driver: a :class:`~theory_rl.algorithms._loop.Method` whose update is
    ``step(log_pi, P, log_ref, beta, eta, aux, rng) -> (log_pi, queries used)`` (``aux`` a
    dict the step may fill, carried to the next iteration), run by
    :func:`~theory_rl.algorithms._loop.iterate`."""
    games, batched = _stack_games(game, beta)
    if isinstance(eta, (str, bytes)):
        raise ValueError(f"eta must be a real number > 0, got {eta!r}")
    eta = as_positive("eta", eta)
    betas = np.array([g.beta for g in games])
    if method == "nash_md" and np.any(eta * betas > 1):
        raise ValueError(f"eta * beta must be <= 1 for Nash-MD, got eta={eta}, beta={betas.max()}")
    device = resolve_device(device, initial_policy)
    xp = array_namespace(device)
    B = len(games)
    X, Y = games[0].reference_policy.shape
    P = xp.asarray(np.stack([g.preferences for g in games]))  # (B, X, Y, Y)
    log_ref = xp.asarray(np.log(np.stack([g.reference_policy for g in games])))  # (B, X, Y)
    contexts = xp.asarray(np.stack([g.contexts for g in games]))  # (B, X)
    beta_arr = xp.asarray(betas[:, None, None])  # (B, 1, 1)
    beta_bx = xp.broadcast_to(beta_arr[..., 0], (B, X))
    if initial_policy is None:
        log_pi0 = log_ref
    else:
        pi0 = np.asarray(to_numpy(initial_policy), dtype=np.float64)
        pi0 = np.broadcast_to(pi0.reshape((-1, X, Y)) if pi0.ndim > 1 else pi0, (B, X, Y))
        if np.any(pi0 < 0) or np.any(np.abs(pi0.sum(-1) - 1) > 1e-8):
            raise ValueError("initial_policy rows must be probability distributions")
        with np.errstate(divide="ignore"):
            log_pi0 = xp.asarray(np.maximum(np.log(pi0), LOG_FLOOR))
    record = (record,) if isinstance(record, str) else tuple(record)
    log_eq = None
    if "kl_to_opt" in record:
        if reference is None:
            if np.any(betas <= 0):
                raise ValueError('record "kl_to_opt" needs beta > 0 (or reference=)')
            ref = game_reference([*games]).batch()
        else:
            ref = _as_reference(reference, games)
        with np.errstate(divide="ignore"):
            log_eq = xp.asarray(np.maximum(np.log(ref.policy), LOG_FLOOR))
    elif reference is not None:
        _as_reference(reference, games)

    def squeeze(x: Any) -> Any:
        return x if batched else x[0]

    def exploitabilities(log_pi: Any) -> Any:
        return xp.sum(_gap_log(P, log_pi, log_ref, beta_bx) * contexts, axis=-1)  # (B,)

    def update(state: dict[str, Any], k: int) -> dict[str, Any]:
        aux = dict(state["aux"])
        log_pi, used = step(state["log_pi"], P, log_ref, beta_arr, eta, aux, state["rng"])
        return dict(
            log_pi=log_pi,
            aux=aux,
            rng=state["rng"],
            queries=state["queries"] + used,
            comparisons=state["comparisons"] + used * Y,
        )

    def measure(state: dict[str, Any], keys: frozenset[str]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if "kl_to_opt" in keys:
            out["kl_to_opt"] = kl_to_opt(log_eq, state["log_pi"], contexts)
        if "exploitability" in keys:
            out["exploitability"] = exploitabilities(state["log_pi"])
        for key in ("queries", "comparisons"):
            if key in keys:
                out[key] = np.full(B, float(state[key]))
        return {key: squeeze(val) for key, val in out.items()}

    def output(state: dict[str, Any]) -> tuple[Any, Any, Any]:
        pi = xp.exp(state["log_pi"])
        gaps = to_numpy(exploitabilities(state["log_pi"]))
        q = to_numpy(preference_against(P, pi))
        return to_numpy(squeeze(pi)), gaps if batched else gaps[:1], squeeze(q)

    runner = Method(
        name=method,
        init=lambda rng: dict(log_pi=log_pi0, aux={}, rng=rng, queries=0, comparisons=0),
        update=update,
        measure=measure,
        output=output,
        metrics=RECORD_KEYS,
        stop_metric="exploitability",
        batch_shape=(B,) if batched else (),
    )
    params = {
        "eta": eta,
        "beta": betas if batched else float(betas[0]),
        "device": device,
        "queries_per_iteration": queries_per_iteration,
        **(extra_params or {}),
    }
    return iterate(
        runner,
        n_iterations=n_iterations,
        tol=tol,
        record=record,
        callback=callback,
        seed=seed,
        params=params,
    )


def nash_mirror_prox(
    game: PreferenceGame | Sequence[PreferenceGame],
    *,
    beta: float | None = None,
    eta: float = 2.0,
    n_iterations: int = 100,
    tol: float = 0.0,
    initial_policy: Any = None,
    reference: GameReference | SolveResult | None = None,
    record: Sequence[str] = DEFAULT_RECORD,
    callback: Callable[[SolveResult], None] | None = None,
    seed: Any = None,
    device: str | None = None,
) -> SolveResult:
    r"""Exact Nash Mirror Prox (Tiapkin et al. 2025, v1) on a preference game or a batch.

    Update: :func:`nash_mp_step` (extrapolation, then update from :math:`\pi_k`), two preference
    queries per iteration; the default :math:`\eta = 2 = 1/L` is the step of the guarantee
    :math:`\mathrm{KL}(\pi^*_\beta\|\pi_{k+1}) \le \mathrm{KL}(\pi^*_\beta\|\pi_k)/(1+\eta\beta)`.

    Args:
        game: a :class:`~theory_rl.mdps.games.PreferenceGame`, or a sequence of ``B`` games
            with equal ``(X, Y, Y)`` shapes (one array program).
        beta: overrides ``game.beta`` when given.
        eta: step size ``> 0``.
        n_iterations: the budget ``K`` of iterations (each counted as the queries above).
        tol: stop once the exploitability (the ``stop_metric``) of every game is ``<= tol``
            (``0``: run the whole budget).
        initial_policy: ``(X, Y)`` or ``(B, X, Y)``; ``pi_ref`` when omitted.
        reference: the regularised equilibrium, a :class:`GameReference` (e.g.
            :func:`game_reference`, computed once per game by a sweep) or a
            :func:`regularized_equilibrium` result (a sequence of them for a batch); computed
            here when ``kl_to_opt`` is recorded and it is omitted (same numbers).
        record: history keys among :data:`RECORD_KEYS`: ``kl_to_opt``
            :math:`\mathbb E_{x\sim\rho}\mathrm{KL}(\pi^*_{\beta,x}\|\pi_{k,x})` (the metric
            :func:`theory_rl.algorithms.metrics.kl_to_opt` with the context distribution
            :math:`\rho` as the weighting: the occupancy of a one-step problem),
            ``exploitability`` (:math:`\mathrm{Gap}_\beta`, :func:`exploitability`),
            ``queries`` (cumulative preference queries) and ``comparisons`` (cumulative
            pairwise comparisons, ``Y`` per query); each ``(K + 1,)`` (the initial point
            first), ``(B, K + 1)`` for a batch.
        callback: called with the intermediate :class:`SolveResult` after each measured
            iterate (``k = 0`` first); may raise ``StopIteration``.
        seed: unused (deterministic), echoed back.
        device: ``"cpu"``, ``"gpu"`` (CuPy) or None (infer from ``initial_policy``).

    Returns:
        SolveResult: ``policy`` ``(X, Y)`` (``(B, X, Y)``), ``values`` ``(1,)`` (``(B,)``) the
        final exploitability, ``q_values`` ``P(. > pi)``, ``history``, ``params``.
    """

    def step(lp, P, lr, b, eta, aux, rng):
        return nash_mp_step(lp, P, lr, beta=b, eta=eta).log_next, 2

    return _run(
        "nash_mirror_prox",
        game,
        beta=beta,
        eta=eta,
        n_iterations=n_iterations,
        tol=tol,
        initial_policy=initial_policy,
        reference=reference,
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
    n_iterations: int = 100,
    tol: float = 0.0,
    initial_policy: Any = None,
    reference: GameReference | SolveResult | None = None,
    record: Sequence[str] = DEFAULT_RECORD,
    callback: Callable[[SolveResult], None] | None = None,
    seed: Any = None,
    device: str | None = None,
) -> SolveResult:
    r"""Online mirror descent on the regularised game (a game or a batch).

    Update: :func:`omd_step`, :math:`\log\pi_{k+1} = (\eta P\pi_k + \eta\beta\log\pi_{\mathrm{ref}}
    + \log\pi_k)/(1+\eta\beta) - \log Z` (the extrapolation step of Nash-MP alone), one
    preference query per iteration.

    Args, returns: as :func:`nash_mirror_prox` (``seed`` unused, echoed back).
    """

    def step(lp, P, lr, b, eta, aux, rng):
        return omd_step(lp, P, lr, beta=b, eta=eta), 1

    return _run(
        "online_mirror_descent",
        game,
        beta=beta,
        eta=eta,
        n_iterations=n_iterations,
        tol=tol,
        initial_policy=initial_policy,
        reference=reference,
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
    n_iterations: int = 100,
    tol: float = 0.0,
    initial_policy: Any = None,
    reference: GameReference | SolveResult | None = None,
    record: Sequence[str] = DEFAULT_RECORD,
    callback: Callable[[SolveResult], None] | None = None,
    seed: Any = None,
    device: str | None = None,
) -> SolveResult:
    r"""Optimistic (Popov's past-extragradient) mirror descent on the regularised game.

    Update: :func:`optimistic_step`, the extrapolation reusing the previous query
    :math:`q_{k-1/2}`; one preference query per iteration, plus one at ``k = 0`` for
    :math:`q_{-1/2} = P\pi_0`.

    Args, returns: as :func:`nash_mirror_prox` (``seed`` unused, echoed back).
    """

    def step(lp, P, lr, b, eta, aux, rng):
        used = 1
        if "q" not in aux:  # q_{-1/2} = P pi_0: one extra query at the start
            aux["q"] = preference_against(P, namespace_of(lp).exp(lp))
            used = 2
        nxt, aux["q"] = optimistic_step(lp, aux["q"], P, lr, beta=b, eta=eta)
        return nxt, used

    return _run(
        "optimistic_mirror_descent",
        game,
        beta=beta,
        eta=eta,
        n_iterations=n_iterations,
        tol=tol,
        initial_policy=initial_policy,
        reference=reference,
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
    n_iterations: int = 100,
    tol: float = 0.0,
    initial_policy: Any = None,
    reference: GameReference | SolveResult | None = None,
    record: Sequence[str] = DEFAULT_RECORD,
    callback: Callable[[SolveResult], None] | None = None,
    seed: Any = None,
    device: str | None = None,
) -> SolveResult:
    r"""Nash-MD (Munos et al. 2024) on a preference game or a batch.

    Update: :func:`nash_md_step`, a KL prox against the geometric mixture
    :math:`\pi_k^{1-\eta\beta}\pi_{\mathrm{ref}}^{\eta\beta}` (needs :math:`\eta\beta \le 1`);
    one preference query per iteration.

    Args:
        eta: step size; by default Munos et al.'s horizon-dependent choice
            :math:`\log T/(\beta T)` with ``T = max(n_iterations, 2)`` (the smallest ``beta``
            of a batch), capped at ``1/beta`` (the largest).
        others, returns: as :func:`nash_mirror_prox` (``seed`` unused, echoed back).
    """
    games, _ = _stack_games(game, beta)
    if eta is None:  # Munos et al.'s horizon-dependent choice eta = log T / (beta T)
        T = max(as_int("n_iterations", n_iterations, minimum=0), 2)
        eta = math.log(T) / (min(g.beta for g in games) * T)
        eta = min(eta, 1.0 / max(g.beta for g in games))

    def step(lp, P, lr, b, eta, aux, rng):
        return nash_md_step(lp, P, lr, beta=b, eta=eta), 1

    return _run(
        "nash_md",
        game,
        beta=beta,
        eta=eta,
        n_iterations=n_iterations,
        tol=tol,
        initial_policy=initial_policy,
        reference=reference,
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
    n_iterations: int = 100,
    tol: float = 0.0,
    initial_policy: Any = None,
    reference: GameReference | SolveResult | None = None,
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
    Generator) becomes the one NumPy Generator that draws all samples, in iteration order
    (also on the GPU path).
    """
    n_samples = as_int("n_samples", n_samples)
    n_inner = as_int("n_inner", n_inner)
    if outcomes not in ("probability", "bernoulli"):
        raise ValueError(f'outcomes must be "probability" or "bernoulli", got {outcomes!r}')
    used = 2 * n_inner * n_samples

    def step(lp, P, lr, b, eta, aux, rng):
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
        reference=reference,
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
