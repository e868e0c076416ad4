r"""Natural policy gradient: softmax NPG, entropy-regularised NPG, Q-NPG with log-linear policies.

**Softmax NPG** (Kakade 2001; Agarwal, Kakade, Lee & Mahajan, JMLR 2021, §5).  With the
softmax parameterisation :math:`\pi_\theta(a|s) \propto \exp\theta_{s,a}` the update
:math:`\theta \leftarrow \theta + \eta F_\rho(\theta)^\dagger \nabla_\theta V^{\theta}(\rho)`
equals, state by state (AJKS book Lemma 12.6),

.. math::  \pi^{t+1}(a|s) \propto \pi^t(a|s)\,\exp\!\big(\eta\,A^{t}(s,a)/(1-\gamma)\big),

i.e. KL policy mirror descent with step :math:`\eta/(1-\gamma)`; it does not depend on
:math:`\rho`.  :func:`npg_step` computes it with the shared prox
:func:`theory_rl.algorithms.mirror.kl_prox_log` (log space, max-subtracted).

*Guarantee* (Agarwal et al. 2021, Thm 5.3; AJKS book Thm 12.7): from :math:`\theta^0 = 0`
(uniform policy), any :math:`\eta > 0`, for every :math:`T \ge 1` and every :math:`\rho`,

.. math::  V^*(\rho) - V^{(T)}(\rho) \le \frac{\log|A|}{\eta T} + \frac{1}{(1-\gamma)^2 T}.

No mismatch coefficient, no :math:`|S|`.  *Monotone improvement* (AJKS Lemma 12.8), with
:math:`Z_t(s) = \sum_a \pi^t(a|s)\exp(\eta A^t(s,a)/(1-\gamma))`: for every :math:`\mu`,

.. math::  V^{(t+1)}(\mu) - V^{(t)}(\mu) \ge \tfrac{1-\gamma}{\eta}\,
           \mathbb E_{s\sim\mu}\log Z_t(s) \ge 0 .

[D] Proof, reproduced so the test constant is not a recollection: :math:`A^t = \frac{1-\gamma}
{\eta}(\log\frac{\pi^{t+1}}{\pi^t} + \log Z_t)`, so :math:`\sum_a\pi^{t+1}A^t =
\frac{1-\gamma}{\eta}(\mathrm{KL}(\pi^{t+1}_s\|\pi^t_s) + \log Z_t(s)) \ge \frac{1-\gamma}{\eta}
\log Z_t(s)`; the performance-difference lemma and :math:`d_\mu^{t+1} \ge (1-\gamma)\mu` give
the first inequality, Jensen (:math:`\mathbb E_{\pi^t}A^t = 0`) the second.

**Entropy-regularised NPG** (Cen, Cheng, Chen, Wei & Chi, Oper. Res. 2022, eq. (14)).  With
:math:`V_\tau^\pi(s) = \mathbb E[\sum_t\gamma^t(r - \tau\log\pi)]` and
:math:`Q_\tau^\pi = r + \gamma P V_\tau^\pi`, for :math:`0 < \eta \le (1-\gamma)/\tau`,

.. math::  \pi^{t+1}(a|s) \propto \pi^{t}(a|s)^{1-\eta\tau/(1-\gamma)}
           \exp\!\big(\eta Q_\tau^{t}(s,a)/(1-\gamma)\big).

With :math:`\alpha = \eta/(1-\gamma)` this is the shared regularised KL prox
:func:`theory_rl.algorithms.mirror.regularized_prox_log` with uniform reference, weight
:math:`\tau` and step :math:`\eta' = \alpha/(1-\alpha\tau)` (both sides have
:math:`1/(1+\eta'\tau) = 1-\alpha\tau` on :math:`\log\pi` and :math:`\eta'/(1+\eta'\tau) =
\alpha` on :math:`Q_\tau`); :math:`\eta = (1-\gamma)/\tau` (:math:`\alpha\tau = 1`,
:math:`\eta' = \infty`) is soft policy iteration :math:`\pi' \propto \exp(Q_\tau/\tau)`.
*Guarantee* (Cen et al. Thm 1): linear convergence,
:math:`\|Q^*_\tau - Q^{(t+1)}_\tau\|_\infty \le C_1\gamma(1-\eta\tau)^t`.  The rate
:math:`1-\eta\tau` is stated in the abstract/notes; the constant :math:`C_1 =
\|Q^*_\tau-Q^{(0)}_\tau\|_\infty
+ 2\tau(1-\eta\tau/(1-\gamma))\|\log\pi^*_\tau-\log\pi^{(0)}\|_\infty`
is **recalled, not checked against the paper** ([R] in ``theory/pmd_npg.md``), so
:mod:`theory_rl.bounds.cen2022` reports it without gating on it.

**Q-NPG with log-linear policies** (Agarwal et al. 2021, §6.1).  :math:`\pi_\theta(a|s) \propto
\exp(\theta^\top\phi(s,a))`; critic :math:`w_t \approx \arg\min_w \mathbb E_{\nu}[(Q^{t}(s,a) -
w^\top\phi(s,a))^2]`; actor :math:`\theta \leftarrow \theta + \eta w_t`.  On a linear MDP
:math:`Q^\pi = \phi w^\pi` exactly (:math:`w^\pi = \theta_r + \gamma\mu V^\pi`), so with the
exact critic the logits move by :math:`\eta Q^{t}` and Q-NPG *is* tabular KL-PMD with step
:math:`\eta` (softmax NPG with Agarwal's step :math:`\eta(1-\gamma)`) [D]; the Thm 5.3 bound then
applies with that step.  The sampled critic (:func:`q_npg` with ``critic="sampled"``) regresses
Monte-Carlo estimates of :math:`Q^{t}` at every (s, a) (a generative model, uniform
:math:`\nu`) by least squares.  Deviation from the paper: Agarwal et al. use projected SGD
onto :math:`\|w\| \le W` with :math:`N` steps; here the least-squares solve is exact.

Evaluation here is exact and dense
(:class:`~theory_rl.algorithms.exact.ExactEvaluator`: a batched linear solve of
:math:`(I-\gamma P_\pi)v = r_\pi` in the array namespace of the device, NumPy or CuPy), so a
batch of step sizes or initial policies runs as one computation.  Sparse MDPs are densified
(these drivers target the small problems of the papers' claims).  Every driver runs on the one
iteration loop :func:`theory_rl.algorithms._loop.iterate` and measures against one
:class:`~theory_rl.algorithms.exact.Reference` (``reference=``, computed once by the caller
or by the driver), with the metrics of :mod:`theory_rl.algorithms.metrics`.

References:
    S. Kakade. A natural policy gradient. NeurIPS 2001.
    A. Agarwal, S. Kakade, J. Lee, G. Mahajan. On the theory of policy gradient methods:
    optimality, approximation, and distribution shift. JMLR 22 (2021), arXiv:1908.00261.
    A. Agarwal, N. Jiang, S. Kakade, W. Sun. Reinforcement Learning: Theory and Algorithms,
    ch. 12 (Lemmas 12.6, 12.8; Thm 12.7).
    S. Cen, C. Cheng, Y. Chen, Y. Wei, Y. Chi. Fast global convergence of natural policy
    gradient methods with entropy regularization. Oper. Res. 70 (2022), arXiv:2007.06558.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from theory_rl._checks import as_int, as_positive, as_positive_array
from theory_rl.algorithms._loop import Method, iterate
from theory_rl.algorithms.exact import ExactEvaluator, Reference
from theory_rl.algorithms.exact import reference as exact_reference
from theory_rl.algorithms.metrics import POLICY_METRICS, policy_metrics
from theory_rl.algorithms.mirror import (
    LOG_FLOOR,
    kl_prox_log,
    log_normalize,
    logsumexp,
    regularized_prox_log,
)
from theory_rl.backend import namespace_of, to_numpy
from theory_rl.mdps.linear import LinearMDP
from theory_rl.mdps.tabular import TabularMDP, validate_policy
from theory_rl.result import SolveResult

__all__ = [
    "RECORD_KEYS",
    "entropy_npg_step",
    "entropy_npg_step_log",
    "epsilon_greedy_offline_data",
    "hybrid_npg",
    "hybrid_policy_evaluation",
    "fit_q_weights",
    "log_linear_policy",
    "natural_policy_gradient",
    "npg_step",
    "npg_step_log",
    "q_npg",
    "soft_evaluation",
]

Callback = Callable[[SolveResult], None]
#: What :func:`natural_policy_gradient` may record: the shared policy metrics
#: (:data:`theory_rl.algorithms.metrics.POLICY_METRICS`) plus ``values`` and ``log_partition``.
RECORD_KEYS = (*POLICY_METRICS, "values", "log_partition")
#: What :func:`q_npg` may record.
Q_NPG_RECORD_KEYS = (*POLICY_METRICS, "critic_error", "samples")
#: What :func:`hybrid_npg` may record.
HYBRID_RECORD_KEYS = ("value", "samples")


# --------------------------------------------------------------------------------------------
# argument checks, evaluation and the reference
# --------------------------------------------------------------------------------------------
def _soft_values(ev: ExactEvaluator, log_pi: Any, tau: float) -> tuple[Any, Any]:
    r"""``(V_tau (B, S), Q_tau (B, S, A))`` of ``exp(log_pi)`` ``(B, S, A)``: the penalty is
    :math:`\tau\sum_a\pi\log\pi` (``0 log 0 = 0``)."""
    xp = ev.xp
    pi = xp.exp(log_pi)
    penalty = None
    if tau > 0:
        penalty = tau * xp.sum(xp.where(pi > 0, pi * log_pi, 0.0), axis=-1)
    return ev.evaluate(pi, penalty)


def _reference(ev: ExactEvaluator, given: Any, tau: float) -> Reference:
    """The batched reference of the run: ``given`` after :meth:`Reference.check`, or computed."""
    regularizer = "entropy" if tau > 0 else None
    if given is None:
        return exact_reference(
            ev.mdps[0], tau=tau, regularizer=regularizer, rho=ev.rho_np[0]
        ).batch()
    if not isinstance(given, Reference):
        raise ValueError(
            f"reference must be a theory_rl.algorithms.exact.Reference, got "
            f"{type(given).__name__}"
        )
    return given.check(ev, tau=tau, regularizer=regularizer)


def soft_evaluation(
    mdp: TabularMDP, policy: Any, *, tau: float = 0.0, device: str | None = None
) -> tuple[np.ndarray, np.ndarray]:
    r"""Exact entropy-regularised values of a policy or a batch of policies.

    .. math::  V_\tau^\pi = (I - \gamma P_\pi)^{-1}\big(\textstyle\sum_a \pi(r - \tau\log\pi)
               \big), \qquad Q_\tau^\pi = r + \gamma P V_\tau^\pi

    (``0 log 0 = 0``).  ``tau = 0`` gives :math:`V^\pi, Q^\pi`.

    Args:
        mdp: the MDP.
        policy: ``(S, A)`` or ``(B, S, A)``.
        tau: regularisation strength ``>= 0``.
        device: ``"cpu"``, ``"gpu"`` or None.

    Returns:
        ``(V, Q)`` of shapes ``(..., S)`` and ``(..., S, A)`` (NumPy).
    """
    tau = as_positive("tau", tau, allow_zero=True)
    pi = validate_policy(to_numpy(policy), mdp.n_states, mdp.n_actions)
    ev = ExactEvaluator(mdp, device)
    xp = ev.xp
    with np.errstate(divide="ignore"):
        log_pi = np.maximum(np.log(pi), LOG_FLOOR)
    batch = pi.shape[:-2]
    v, q = _soft_values(ev, xp.asarray(log_pi.reshape((-1, ev.S, ev.A))), tau)
    return to_numpy(v).reshape(batch + (ev.S,)), to_numpy(q).reshape(batch + (ev.S, ev.A))


# --------------------------------------------------------------------------------------------
# pure steps
# --------------------------------------------------------------------------------------------
def npg_step(policy: Any, advantages: Any, *, eta: Any, gamma: float) -> Any:
    r"""One softmax NPG step :math:`\pi' \propto \pi\exp(\eta A/(1-\gamma))` (Agarwal et al.).

    Args:
        policy: ``(..., S, A)`` row-stochastic policy (NumPy or CuPy).
        advantages: ``(..., S, A)`` advantages (or Q-values: a per-state shift cancels).
        eta: step size in Agarwal's parameterisation, scalar or broadcastable to
            ``policy[..., :1]`` (e.g. ``(B, 1, 1)``).
        gamma: discount factor.

    Returns:
        ``(..., S, A)`` next policy.

    Example:
        >>> import numpy as np
        >>> npg_step(np.array([[0.5, 0.5]]), np.array([[1.0, 0.0]]), eta=0.5, gamma=0.5)
        array([[0.73105858, 0.26894142]])
    """
    xp = namespace_of(policy, advantages)
    with np.errstate(divide="ignore"):
        log_pi = xp.log(xp.asarray(policy, dtype=xp.float64))
    return xp.exp(npg_step_log(log_pi, advantages, eta=eta, gamma=gamma))


def npg_step_log(log_policy: Any, advantages: Any, *, eta: Any, gamma: float) -> Any:
    """:func:`npg_step` on log-probabilities ``(..., S, A)`` (what the drivers iterate)."""
    return kl_prox_log(log_policy, advantages, _xp_eta(log_policy, eta) / (1.0 - gamma))


def entropy_npg_step(policy: Any, q_tau: Any, *, eta: Any, tau: float, gamma: float) -> Any:
    r"""One entropy-regularised NPG step (Cen et al. 2022, eq. (14)).

    .. math::  \pi'(a|s) \propto \pi(a|s)^{1-\eta\tau/(1-\gamma)}
               \exp\!\big(\eta\,Q_\tau(s,a)/(1-\gamma)\big),\qquad 0<\eta\le(1-\gamma)/\tau .

    Computed as the shared regularised prox
    :func:`~theory_rl.algorithms.mirror.regularized_prox_log` (uniform reference, weight
    ``tau``) with step :math:`\eta' = \alpha/(1-\alpha\tau)`, :math:`\alpha = \eta/(1-\gamma)`,
    and :math:`\eta' = \infty` at :math:`\alpha\tau = 1` (soft policy iteration).

    Args:
        policy: ``(..., S, A)``; q_tau: ``(..., S, A)`` soft action values.
        eta: scalar or broadcastable to ``policy[..., :1]``; tau: ``> 0``; gamma: discount.

    Returns:
        ``(..., S, A)`` next policy.
    """
    xp = namespace_of(policy, q_tau)
    with np.errstate(divide="ignore"):
        log_pi = xp.log(xp.asarray(policy, dtype=xp.float64))
    return xp.exp(entropy_npg_step_log(log_pi, q_tau, eta=eta, tau=tau, gamma=gamma))


def entropy_npg_step_log(log_policy: Any, q_tau: Any, *, eta: Any, tau: float, gamma: float) -> Any:
    """:func:`entropy_npg_step` on log-probabilities ``(..., S, A)``."""
    xp = namespace_of(log_policy)
    alpha = _xp_eta(log_policy, eta) / (1.0 - gamma)
    keep = 1.0 - alpha * tau  # the weight of log pi
    if bool(xp.any(keep < -1e-12)):
        raise ValueError(f"eta must satisfy eta * tau <= 1 - gamma = {1 - gamma}")
    positive = keep > 0
    step = xp.where(positive, alpha / xp.where(positive, keep, 1.0), xp.inf)
    return regularized_prox_log(log_policy, q_tau, eta=step, tau=tau)


def _xp_eta(like: Any, eta: Any) -> Any:
    xp = namespace_of(like)
    return xp.asarray(to_numpy(eta) if xp is np else eta, dtype=xp.float64)


# --------------------------------------------------------------------------------------------
# driver
# --------------------------------------------------------------------------------------------
def _batch_inputs(
    ev: ExactEvaluator, eta: Any, initial_policy: Any
) -> tuple[Any, Any, tuple[int, ...], np.ndarray]:
    """``(log_pi (B, S, A), eta (B, 1, 1), batch shape, eta (*batch,))``; ``B = 1`` for one
    run (batch shape ``()``)."""
    xp, S, A = ev.xp, ev.S, ev.A
    eta_arr = as_positive_array("eta", eta)
    if initial_policy is None:
        pi0 = np.full((S, A), 1.0 / A)
    else:
        pi0 = validate_policy(to_numpy(initial_policy), S, A, name="initial_policy")
        if pi0.ndim > 3:
            raise ValueError(f"initial_policy must be (S, A) or (B, S, A), got {pi0.shape}")
    pol_batch = pi0.shape[:-2]
    eta_batch = eta_arr.shape
    try:
        batch = np.broadcast_shapes(pol_batch, eta_batch)
    except ValueError:
        raise ValueError(
            f"eta batch {eta_batch} and initial_policy batch {pol_batch} do not broadcast"
        ) from None
    with np.errstate(divide="ignore"):
        log_pi = np.maximum(np.log(pi0), LOG_FLOOR)
    B = int(np.prod(batch))
    log_pi = np.broadcast_to(log_pi, batch + (S, A)).reshape((B, S, A)).copy()
    eta_b = np.broadcast_to(eta_arr, batch).reshape((B, 1, 1))
    return xp.asarray(log_pi), xp.asarray(eta_b), batch, np.broadcast_to(eta_arr, batch)


def natural_policy_gradient(
    mdp: TabularMDP,
    *,
    eta: float | Sequence[float] | np.ndarray,
    n_iterations: int = 100,
    tau: float = 0.0,
    initial_policy: Any = None,
    rho: Any = None,
    tol: float = 0.0,
    record: Sequence[str] = ("gap", "kl_to_opt"),
    callback: Callback | None = None,
    seed: Any = None,
    device: str | None = None,
    reference: Reference | None = None,
) -> SolveResult:
    r"""Softmax NPG (``tau = 0``) or entropy-regularised NPG (``tau > 0``) with exact evaluation.

    Iterates :func:`npg_step` (or :func:`entropy_npg_step` on :math:`Q_\tau`) from
    ``initial_policy`` (uniform by default, Agarwal's :math:`\theta^0 = 0`) on the one
    iteration loop (:func:`theory_rl.algorithms._loop.iterate`).

    Args:
        mdp: the MDP (dense evaluation).
        eta: step size in Agarwal's / Cen's parameterisation; a scalar or a ``(B,)`` array of
            step sizes run as one batch.  With ``tau > 0`` each must satisfy
            :math:`\eta\tau \le 1-\gamma`.
        n_iterations: the budget ``K`` of updates (a fixed budget unless ``tol > 0``).
        tau: entropy regularisation (``0``: unregularised).
        initial_policy: ``(S, A)`` or ``(B, S, A)`` (broadcast against ``eta``).
        rho: ``(S,)`` distribution for ``gap`` and the occupancy of ``kl_to_opt`` (default the
            MDP's).
        tol: stop once ``sup_gap`` :math:`= \max_s(V^*_\tau - V^k_\tau)(s)` is ``<= tol`` for
            every run of the batch (``0``: run the whole budget).
        record: history keys, any of :data:`RECORD_KEYS`:

            * the metrics of :mod:`theory_rl.algorithms.metrics` against the reference
              (``gap`` :math:`\rho^\top(V^*_\tau - V^k_\tau)`, ``sup_gap``, ``kl_to_opt``
              :math:`\mathbb E_{s\sim d_\rho^{\pi^*}}\mathrm{KL}(\pi^*_s\|\pi^k_s)` (Xiao's
              :math:`D^*_k`), ``max_kl_to_opt``, ``divergence_to_opt`` (= ``kl_to_opt``),
              ``q_error`` :math:`\|Q^*_\tau - Q^k_\tau\|_\infty`, ``log_policy_error``
              :math:`\|\log\pi^*_\tau - \log\pi^k\|_\infty`);
            * ``values`` -- :math:`V^k_\tau` ``(S,)`` per iterate;
            * ``log_partition`` -- :math:`\log Z_k(s)` ``(S,)`` of the step from ``k``
              (:math:`\log\sum_a\pi^k e^{\eta A^k/(1-\gamma)}`; the last entry is that of the
              step not taken).

        callback: called with the intermediate :class:`SolveResult` after each measured
            iterate (``k = 0`` first); may raise ``StopIteration``.
        seed: unused (exact algorithm); echoed back.
        device: ``"cpu"``, ``"gpu"`` or None.
        reference: the :class:`~theory_rl.algorithms.exact.Reference` of ``mdp`` with this
            ``tau`` (entropy) and ``rho``, e.g. computed once per instance by a sweep; computed
            here when omitted (same numbers).

    Returns:
        :class:`SolveResult`: ``policy`` ``([B,] S, A)``, ``values``/``q_values`` of the last
        policy, and ``history[key]`` of shape ``([B,] K + 1, ...)`` (iterates ``0..K``).

    Example:
        >>> from theory_rl.mdps import bandit
        >>> res = natural_policy_gradient(bandit([1.0, 0.0]), eta=1.0, n_iterations=5)
        >>> bool(res.history["gap"][-1] < res.history["gap"][0])
        True
    """
    if not isinstance(mdp, TabularMDP):
        raise ValueError(f"mdp must be a TabularMDP, got {type(mdp).__name__}")
    tau = as_positive("tau", tau, allow_zero=True)
    ev = ExactEvaluator(mdp, device, rho)
    xp, gamma = ev.xp, mdp.gamma
    log_pi0, eta_b, batch, eta_np = _batch_inputs(ev, eta, initial_policy)
    if tau > 0 and np.any(eta_np * tau > (1.0 - gamma) * (1 + 1e-12)):
        raise ValueError(f"eta must satisfy eta * tau <= 1 - gamma = {1 - gamma:g} when tau > 0")
    ref = _reference(ev, reference, tau).on(xp)

    def squeeze(x: Any) -> Any:
        return x if batch else x[0]

    def evaluated(log_pi: Any) -> tuple[Any, Any, Any]:
        return (log_pi, *_soft_values(ev, log_pi, tau))

    def update(state: tuple, k: int) -> tuple:
        log_pi, v, q = state
        if tau > 0:
            return evaluated(entropy_npg_step_log(log_pi, q, eta=eta_b, tau=tau, gamma=gamma))
        return evaluated(npg_step_log(log_pi, q - v[..., None], eta=eta_b, gamma=gamma))

    def measure(state: tuple, keys: frozenset[str]) -> dict[str, Any]:
        log_pi, v, q = state
        out = policy_metrics(keys, reference=ref, log_pi=log_pi, v=v, q=q, rho=ev.rho)
        if "values" in keys:
            out["values"] = v
        if "log_partition" in keys:
            out["log_partition"] = logsumexp(log_pi + eta_b * (q - v[..., None]) / (1.0 - gamma))
        return {key: squeeze(val) for key, val in out.items()}

    def output(state: tuple) -> tuple[Any, Any, Any]:
        log_pi, v, q = state
        return to_numpy(squeeze(xp.exp(log_pi))), to_numpy(squeeze(v)), to_numpy(squeeze(q))

    name = "entropy_npg" if tau > 0 else "natural_policy_gradient"
    method = Method(
        name=name,
        init=lambda rng: evaluated(log_pi0),
        update=update,
        measure=measure,
        output=output,
        metrics=RECORD_KEYS,
        stop_metric="sup_gap",
        batch_shape=batch,
    )
    params = dict(
        eta=eta_np.copy() if batch else float(eta_np),
        tau=tau,
        device=ev.device,
    )
    return iterate(
        method,
        n_iterations=n_iterations,
        tol=tol,
        record=record,
        callback=callback,
        seed=seed,
        params=params,
    )


# --------------------------------------------------------------------------------------------
# Q-NPG with log-linear policies
# --------------------------------------------------------------------------------------------
def log_linear_policy(features: Any, theta: Any) -> Any:
    r"""``pi(a|s) ∝ exp(theta . phi(s, a))``: features ``(S, A, d)``, theta ``(..., d)`` ->
    ``(..., S, A)``."""
    xp = namespace_of(features, theta)
    phi, th = xp.asarray(features), xp.asarray(theta)
    logits = xp.matmul(phi, th[..., None, :, None])[..., 0]  # (..., S, A)
    return xp.exp(log_normalize(logits))


def fit_q_weights(features: Any, targets: Any, weights: Any = None, *, ridge: float = 0.0) -> Any:
    r"""Weighted least squares :math:`\arg\min_w \sum_{s,a}\nu(s,a)(w^\top\phi(s,a) - y(s,a))^2
    + \lambda\|w\|^2`.

    Args:
        features: ``(S, A, d)``; targets: ``(S, A)`` (or ``(B, S, A)``).
        weights: ``(S, A)`` non-negative (default uniform); ridge: ``lambda >= 0``.

    Returns:
        ``(d,)`` (or ``(B, d)``) weights (minimum-norm solution when rank deficient).
    """
    xp = namespace_of(features, targets)
    phi = xp.reshape(xp.asarray(features), (-1, features.shape[-1]))  # (SA, d)
    y = xp.reshape(xp.asarray(targets), targets.shape[:-2] + (-1,))  # (..., SA)
    nu = xp.ones(phi.shape[0]) if weights is None else xp.reshape(xp.asarray(weights), (-1,))
    if bool(xp.any(nu < 0)):
        raise ValueError("weights must be non-negative")
    G = xp.matmul(phi.T, nu[:, None] * phi) + ridge * xp.eye(phi.shape[1])
    b = xp.matmul(y * nu, phi)  # (..., d)
    return xp.matmul(xp.linalg.pinv(G), b[..., None])[..., 0]


def q_npg(
    mdp: LinearMDP,
    *,
    eta: float,
    n_iterations: int = 100,
    critic: str = "exact",
    n_rollouts: int = 10,
    horizon: int | None = None,
    initial_theta: Any = None,
    tol: float = 0.0,
    record: Sequence[str] = ("gap", "critic_error", "samples"),
    callback: Callback | None = None,
    seed: Any = None,
    device: str | None = None,
    reference: Reference | None = None,
) -> SolveResult:
    r"""Q-NPG with a log-linear policy on a :class:`~theory_rl.mdps.LinearMDP`.

    :math:`\theta_{k+1} = \theta_k + \eta w_k`, with :math:`w_k` the least-squares fit
    (:func:`fit_q_weights`, uniform weights over all (s, a)) of ``Q^{pi_k}``: exact
    (``critic="exact"``) or Monte-Carlo estimates from
    :func:`theory_rl.algorithms.sampling.estimate_q` with ``n_rollouts`` rollouts of length
    ``horizon`` per pair (``critic="sampled"``, on the host; the Generator of ``seed`` draws
    every estimate in turn).

    Args:
        mdp: the linear MDP (evaluated exactly through ``mdp.to_tabular()``).
        eta: step size ``> 0``.
        n_iterations: the budget ``K`` of updates.
        critic, n_rollouts, horizon: the critic (above).
        initial_theta: ``(d,)`` (zeros: the uniform policy).
        tol: stop once ``sup_gap`` is ``<= tol`` (``0``: run the whole budget).
        record: any of :data:`Q_NPG_RECORD_KEYS`: the metrics of
            :mod:`theory_rl.algorithms.metrics` (``gap`` :math:`\rho^\top(V^*-V^k)`, ...),
            ``critic_error`` (:math:`\|\phi w_{k-1} - Q^{k-1}\|_\infty`, the error of the fit
            that produced iterate ``k``; NaN at ``k = 0``) and ``samples`` (cumulative
            transitions drawn up to iterate ``k``; 0 for the exact critic).
        callback: called with the intermediate :class:`SolveResult` after each measured
            iterate; may raise ``StopIteration``.
        seed: int, SeedSequence, Generator or None: the sampled critic's randomness.
        device: ``"cpu"``, ``"gpu"`` or None: where the policy is evaluated.
        reference: the unregularised :class:`~theory_rl.algorithms.exact.Reference` of
            ``mdp.to_tabular()``; computed when omitted.

    Returns:
        :class:`SolveResult`; ``history[key]`` of shape ``(K + 1,)``; ``params["theta"]`` the
        final parameter.
    """
    if not isinstance(mdp, LinearMDP):
        raise ValueError(f"mdp must be a LinearMDP, got {type(mdp).__name__}")
    if critic not in ("exact", "sampled"):
        raise ValueError(f"critic must be 'exact' or 'sampled', got {critic!r}")
    eta = as_positive("eta", eta)
    tab = mdp.to_tabular()
    ev = ExactEvaluator(tab, device)
    xp = ev.xp
    phi_np = np.asarray(mdp.features, dtype=np.float64)
    d = phi_np.shape[-1]
    theta0 = np.zeros(d) if initial_theta is None else np.array(initial_theta, dtype=np.float64)
    if theta0.shape != (d,):
        raise ValueError(f"initial_theta must have shape ({d},), got {theta0.shape}")
    if critic == "sampled":
        from theory_rl.algorithms import sampling

        n_rollouts = as_int("n_rollouts", n_rollouts)
        horizon = as_int("horizon", horizon if horizon is not None else 1)
    ref = _reference(ev, reference, 0.0).on(xp)
    phi = xp.asarray(phi_np)
    final_theta: list[Any] = [theta0]

    def evaluated(theta: Any, rng: Any, error: float, total: int) -> dict[str, Any]:
        log_pi = log_normalize(xp.matmul(phi, theta))[None]  # (1, S, A)
        v, q = ev.evaluate(xp.exp(log_pi))
        return dict(theta=theta, log_pi=log_pi, v=v, q=q, rng=rng, error=error, total=total)

    def update(state: dict[str, Any], k: int) -> dict[str, Any]:
        q, total = state["q"][0], state["total"]
        if critic == "exact":
            target = q
        else:
            pi = to_numpy(xp.exp(state["log_pi"][0]))
            est, used = sampling.estimate_q(
                tab, pi, n_rollouts=n_rollouts, horizon=horizon, seed=state["rng"]
            )
            target, total = xp.asarray(est), total + int(used)
        w = fit_q_weights(phi, target)
        error = float(xp.max(xp.abs(xp.matmul(phi, w) - q)))
        return evaluated(state["theta"] + eta * w, state["rng"], error, total)

    def measure(state: dict[str, Any], keys: frozenset[str]) -> dict[str, Any]:
        out = policy_metrics(
            keys, reference=ref, log_pi=state["log_pi"], v=state["v"], q=state["q"], rho=ev.rho
        )
        out = {key: val[0] for key, val in out.items()}
        if "critic_error" in keys:
            out["critic_error"] = state["error"]
        if "samples" in keys:
            out["samples"] = state["total"]
        return out

    def output(state: dict[str, Any]) -> tuple[Any, Any, Any]:
        final_theta[0] = to_numpy(state["theta"])
        return (
            to_numpy(xp.exp(state["log_pi"][0])),
            to_numpy(state["v"][0]),
            to_numpy(state["q"][0]),
        )

    method = Method(
        name="q_npg",
        init=lambda rng: evaluated(xp.asarray(theta0), rng, math.nan, 0),
        update=update,
        measure=measure,
        output=output,
        metrics=Q_NPG_RECORD_KEYS,
        stop_metric="sup_gap",
    )
    params = dict(
        eta=eta,
        critic=critic,
        n_rollouts=n_rollouts,
        horizon=horizon,
        device=ev.device,
    )
    res = iterate(
        method,
        n_iterations=n_iterations,
        tol=tol,
        record=record,
        callback=callback,
        seed=seed,
        params=params,
    )
    return dataclasses.replace(res, params={**res.params, "theta": np.array(final_theta[0])})


# --------------------------------------------------------------------------------------------
# Hybrid NPG (HAC / HNPG of Zhou et al. 2024), tabular
# --------------------------------------------------------------------------------------------
def hybrid_policy_evaluation(
    policy: np.ndarray,
    gamma: float,
    *,
    online: tuple[np.ndarray, np.ndarray, np.ndarray] | None,
    offline: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None,
    lam: float = 1.0,
    n_rounds: int,
) -> np.ndarray:
    r"""Tabular HPE (Zhou et al. 2024, Alg. 2): FQE on offline data plus Monte-Carlo
    regression on on-policy data, each round a per-(s, a) least-squares solve.

    .. math::  f_k(s,a) = \frac{\sum_{\text{off at }(s,a)}\big(r + \gamma\sum_{a'}\pi(a'|s')
               f_{k-1}(s',a')\big) + \lambda\sum_{\text{on at }(s,a)} y}
               {n_{\text{off}}(s,a) + \lambda\,n_{\text{on}}(s,a)},

    ``0`` where no data falls.  With exact targets (one sample per pair and
    :math:`y = Q^\pi`), the tabular class is Bellman complete and the fixed point is
    :math:`Q^\pi` (theory notes §7 (b)).

    Args:
        policy: ``(S, A)``.
        gamma: discount.
        online: ``(states (n,), actions (n,), returns (n,))`` -- MC returns-to-go, or None.
        offline: ``(states, actions, rewards, next_states)`` each ``(m,)``, or None.
        lam: weight of the on-policy term.
        n_rounds: FQE rounds ``K`` (``K >= H`` reaches the fixed point on a layered MDP).

    Returns:
        ``(S, A)`` estimate ``f_K``.

    .. warning:: Deviations from Alg. 2: the same data are reused every round (the paper draws
       fresh data), and ``f_K`` is returned instead of the average over rounds ``(K_1, K_2]``.
    """
    S, A = policy.shape
    n_on = np.zeros((S, A))
    sum_on = np.zeros((S, A))
    if online is not None:
        s, a, y = online
        np.add.at(n_on, (s, a), 1.0)
        np.add.at(sum_on, (s, a), y)
    n_off = np.zeros((S, A))
    if offline is not None:
        so, ao, ro, s2 = offline
        np.add.at(n_off, (so, ao), 1.0)
    denom = n_off + lam * n_on
    seen = denom > 0
    f = np.zeros((S, A))
    rounds = n_rounds if offline is not None else 1
    for _ in range(rounds):
        num = lam * sum_on
        if offline is not None:
            target = ro + gamma * (policy[s2] * f[s2]).sum(axis=1)
            num = num.copy()
            np.add.at(num, (so, ao), target)
        f = np.where(seen, num / np.where(seen, denom, 1.0), 0.0)
    return f


def hybrid_npg(
    mdp: TabularMDP,
    *,
    eta: float,
    episode_length: int,
    episodes_per_iteration: int,
    max_samples: int,
    offline: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None = None,
    lam: float = 1.0,
    success_fraction: float = 0.5,
    n_iterations: int | None = None,
    record: Sequence[str] = HYBRID_RECORD_KEYS,
    callback: Callback | None = None,
    seed: Any = None,
    device: str | None = None,
    reference: Reference | None = None,
) -> SolveResult:
    r"""Tabular hybrid actor-critic (HAC, Zhou et al. 2024, Alg. 1) with on-policy Monte Carlo.

    Each iteration draws ``episodes_per_iteration`` on-policy episodes of ``episode_length``
    steps (:func:`theory_rl.algorithms.sampling.sample_trajectories`), forms discounted
    returns-to-go :math:`y_t = \sum_{u \ge t}\gamma^{u-t} r_u` (unbiased for
    :math:`Q^\pi(s_t,a_t)` when episodes end in a zero-reward sink, as on
    :func:`theory_rl.mdps.combination_lock`), estimates :math:`f^k` with
    :func:`hybrid_policy_evaluation` (``offline`` data if given) and updates
    :math:`\pi^{k+1} \propto \pi^k\exp(\eta f^k)`
    (:func:`~theory_rl.algorithms.mirror.kl_prox_log`).

    Stopping (the method's own rule on the one loop): success at the first iterate with
    :math:`\rho^\top V^{\pi} \ge` ``success_fraction`` :math:`\cdot\rho^\top V^*` (exact
    evaluation: the paper's "succeed" criterion with the moving average replaced by the exact
    value; ``converged`` True), else the sample cap: at most
    :math:`\lceil` ``max_samples`` :math:`/(mH)\rceil` updates of :math:`mH` online transitions
    each (the run stops at the first iterate whose cumulative count reaches ``max_samples``;
    ``converged`` False).

    .. warning:: Deviations: constant ``eta`` (the paper's :math:`(1-\gamma)\sqrt{\log A/T}`
       needs ``T`` in advance), HPE as in :func:`hybrid_policy_evaluation`, the last iterate
       returned instead of the uniform mixture of iterates.

    Args:
        mdp: the MDP (sampled on the host; evaluated exactly for the success test).
        eta: step size ``> 0``.
        episode_length, episodes_per_iteration: ``H`` and ``m`` above.
        max_samples: the cap on online transitions.
        offline: ``(states, actions, rewards, next_states)`` each ``(n,)``, or None.
        lam: weight ``> 0`` of the on-policy term of HPE.
        success_fraction: in ``(0, 1]``.
        n_iterations: an optional smaller budget of updates than the sample cap allows.
        record: any of ``value`` (:math:`\rho^\top V^{\pi_k}`) and ``samples`` (cumulative
            online transitions), each ``(k + 1,)``.
        callback: called with the intermediate :class:`SolveResult` after each measured
            iterate; may raise ``StopIteration``.
        seed: int, SeedSequence, Generator or None: one Generator draws every episode in turn.
        device: ``None`` or ``"cpu"`` (the sampler runs on the host; ``"gpu"`` is refused).
        reference: the unregularised :class:`~theory_rl.algorithms.exact.Reference` of
            ``mdp``; computed when omitted.

    Returns:
        :class:`SolveResult`; ``converged`` means success; ``values`` :math:`V^{\pi}`,
        ``q_values`` None; ``params["online_samples"]`` the total at stopping.
    """
    from theory_rl.algorithms import sampling

    if device not in (None, "cpu"):
        raise ValueError(
            f"device must be None or 'cpu' for hybrid_npg (its sampler runs on the host), "
            f"got {device!r}"
        )
    if not isinstance(mdp, TabularMDP):
        raise ValueError(f"mdp must be a TabularMDP, got {type(mdp).__name__}")
    eta = as_positive("eta", eta)
    H = as_int("episode_length", episode_length)
    m = as_int("episodes_per_iteration", episodes_per_iteration)
    cap = as_int("max_samples", max_samples)
    success_fraction = as_positive("success_fraction", success_fraction)
    if not success_fraction <= 1:
        raise ValueError(f"success_fraction must be in (0, 1], got {success_fraction}")
    lam = as_positive("lam", lam)
    K = -(-cap // (m * H))
    if n_iterations is not None:
        K = min(K, as_int("n_iterations", n_iterations, minimum=0))
    ev = ExactEvaluator(mdp, "cpu")
    gamma, rho = mdp.gamma, ev.rho_np[0]
    ref = _reference(ev, reference, 0.0)
    target = success_fraction * float(rho @ ref.values[0])
    discount = gamma ** np.arange(H)

    def evaluated(log_pi: np.ndarray, rng: Any, total: int) -> dict[str, Any]:
        v, _ = ev.evaluate(np.exp(log_pi)[None])
        return dict(log_pi=log_pi, v=v[0], value=float(rho @ v[0]), rng=rng, total=total)

    def update(state: dict[str, Any], k: int) -> dict[str, Any]:
        pi = np.exp(state["log_pi"])
        states, actions, rewards = sampling.sample_trajectories(
            mdp, pi, n_episodes=m, horizon=H, seed=state["rng"]
        )
        # discounted returns-to-go y_t = sum_{u>=t} gamma^{u-t} r_u
        acc = np.cumsum((rewards * discount)[:, ::-1], axis=1)[:, ::-1] / discount
        f = hybrid_policy_evaluation(
            pi,
            gamma,
            online=(states[:, :H].ravel(), actions.ravel(), acc.ravel()),
            offline=offline,
            lam=lam,
            n_rounds=H + 1,
        )
        return evaluated(kl_prox_log(state["log_pi"], f, eta), state["rng"], state["total"] + m * H)

    def stop(state: dict[str, Any]) -> str | None:
        if state["value"] >= target:
            return f"success: rho^T V >= {success_fraction} rho^T V* after {state['total']} samples"
        return None

    method = Method(
        name="hybrid_npg",
        init=lambda rng: evaluated(np.full((ev.S, ev.A), -np.log(ev.A)), rng, 0),
        update=update,
        measure=lambda state, keys: {"value": state["value"], "samples": state["total"]},
        output=lambda state: (np.exp(state["log_pi"]), state["v"], None),
        metrics=HYBRID_RECORD_KEYS,
        stop=stop,
    )
    params = dict(
        eta=eta,
        episode_length=H,
        episodes_per_iteration=m,
        max_samples=cap,
        lam=lam,
        success_fraction=success_fraction,
        offline_size=0 if offline is None else int(offline[0].size),
        device="cpu",
    )
    res = iterate(
        method, n_iterations=K, record=record, callback=callback, seed=seed, params=params
    )
    return dataclasses.replace(
        res, params={**res.params, "online_samples": res.n_iterations * m * H}
    )


def epsilon_greedy_offline_data(
    mdp: TabularMDP,
    policy: np.ndarray,
    *,
    n_samples: int,
    epsilon: float,
    episode_length: int,
    seed: Any = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    r"""Offline transitions ``(s, a, r, s')`` from the epsilon-greedy version of ``policy``
    (Zhou et al. App. E: :math:`\pi^*` with :math:`\varepsilon = 1/H`), ``n_samples`` of them,
    from episodes of ``episode_length`` steps."""
    from theory_rl.algorithms import sampling

    n = as_int("n_samples", n_samples)
    H = as_int("episode_length", episode_length)
    behaviour = (1.0 - epsilon) * validate_policy(policy, mdp.n_states, mdp.n_actions)
    behaviour = behaviour + epsilon / mdp.n_actions
    n_ep = -(-n // H)
    s, a, r = sampling.sample_trajectories(mdp, behaviour, n_episodes=n_ep, horizon=H, seed=seed)
    return (s[:, :H].ravel()[:n], a.ravel()[:n], r.ravel()[:n], s[:, 1:].ravel()[:n])
