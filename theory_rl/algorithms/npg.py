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

:math:`\eta = (1-\gamma)/\tau` is soft policy iteration.  *Guarantee* (Cen et al. Thm 1): linear
convergence, :math:`\|Q^*_\tau - Q^{(t+1)}_\tau\|_\infty \le C_1\gamma(1-\eta\tau)^t`.  The rate
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

Evaluation here is exact and dense: :math:`V^\pi` by a batched linear solve of
:math:`(I-\gamma P_\pi)v = r_\pi` in the array namespace of the device (NumPy or CuPy), so a
batch of step sizes or initial policies runs as one computation.  Sparse MDPs are densified
(these drivers target the small problems of the papers' claims).

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

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from theory_rl._checks import as_int
from theory_rl.algorithms import dp
from theory_rl.algorithms.mirror import LOG_FLOOR, kl_prox_log, log_normalize
from theory_rl.backend import array_namespace, namespace_of, resolve_device, to_numpy
from theory_rl.mdps.linear import LinearMDP
from theory_rl.mdps.tabular import TabularMDP, validate_policy
from theory_rl.result import SolveResult

__all__ = [
    "entropy_npg_step",
    "epsilon_greedy_offline_data",
    "hybrid_npg",
    "hybrid_policy_evaluation",
    "fit_q_weights",
    "log_linear_policy",
    "natural_policy_gradient",
    "npg_step",
    "q_npg",
    "regularized_optimum",
    "soft_evaluation",
]

Callback = Callable[[SolveResult], None]
RECORD_KEYS = (
    "gap",
    "gap_inf",
    "kl_to_opt",
    "values",
    "log_partition",
    "q_error",
    "log_policy_error",
)


# --------------------------------------------------------------------------------------------
# argument checks
# --------------------------------------------------------------------------------------------
def _positive(name: str, value: Any) -> np.ndarray:
    arr = np.asarray(to_numpy(value), dtype=np.float64)
    if arr.ndim > 1 or not np.all(np.isfinite(arr)) or not np.all(arr > 0):
        raise ValueError(f"{name} must be a positive finite scalar or 1-D array, got {value!r}")
    return arr


def _record(record: Sequence[str], allowed: Sequence[str]) -> tuple[str, ...]:
    record = (record,) if isinstance(record, str) else tuple(record)
    bad = [k for k in record if k not in allowed]
    if bad:
        raise ValueError(f"record has unknown keys {bad}; allowed: {list(allowed)}")
    return record


# --------------------------------------------------------------------------------------------
# exact batched evaluation
# --------------------------------------------------------------------------------------------
class _Exact:
    """Dense exact (soft) evaluation of batches of policies ``(..., S, A)`` on one device."""

    def __init__(self, mdp: TabularMDP, device: str | None):
        if not isinstance(mdp, TabularMDP):
            raise ValueError(f"mdp must be a TabularMDP, got {type(mdp).__name__}")
        self.device = resolve_device(device)
        xp = self.xp = array_namespace(self.device)
        self.S, self.A, self.gamma = mdp.n_states, mdp.n_actions, mdp.gamma
        self.P = xp.asarray(np.ascontiguousarray(mdp.to_dense().transitions))  # (S, A, S)
        self.r = xp.asarray(mdp.rewards)  # (S, A)
        self.eye = xp.eye(self.S)

    def evaluate(self, log_pi: Any, tau: float = 0.0) -> tuple[Any, Any]:
        """``(V_tau, Q_tau)`` of shapes ``(..., S)`` and ``(..., S, A)`` from log-policies."""
        xp = self.xp
        pi = xp.exp(log_pi)
        reward = self.r - tau * log_pi if tau > 0 else self.r  # (..., S, A)
        r_pi = (pi * reward).sum(axis=-1)
        P_pi = xp.einsum("...sa,sat->...st", pi, self.P)
        v = xp.linalg.solve(self.eye - self.gamma * P_pi, r_pi[..., None])[..., 0]
        q = self.r + self.gamma * xp.einsum("sat,...t->...sa", self.P, v)
        return v, q

    def occupancy(self, pi: Any, rho: Any) -> Any:
        """``d_rho^pi`` ``(S,)`` for one policy ``(S, A)``."""
        xp = self.xp
        P_pi = xp.einsum("sa,sat->st", pi, self.P)
        return (1.0 - self.gamma) * xp.linalg.solve((self.eye - self.gamma * P_pi).T, rho)


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
    tau = float(tau)
    if not tau >= 0:
        raise ValueError(f"tau must be >= 0, got {tau}")
    pi = validate_policy(policy, mdp.n_states, mdp.n_actions)
    ex = _Exact(mdp, device)
    with np.errstate(divide="ignore"):
        log_pi = ex.xp.maximum(ex.xp.log(ex.xp.asarray(pi)), LOG_FLOOR)
    v, q = ex.evaluate(log_pi, tau)
    return to_numpy(v), to_numpy(q)


def regularized_optimum(
    mdp: TabularMDP, *, tau: float, tol: float = 1e-13, max_iterations: int = 10_000
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    r"""``(V*_tau, Q*_tau, pi*_tau)`` of the entropy-regularised MDP.

    Soft policy iteration :math:`\pi \leftarrow \mathrm{softmax}(Q^\pi_\tau/\tau)` (entropy NPG
    with :math:`\eta = (1-\gamma)/\tau`, which contracts at rate :math:`\gamma`, Cen et al. 2022)
    until :math:`\|Q_{k+1} - Q_k\|_\infty \le` ``tol`` times the value scale, then one soft
    Bellman step.  The result satisfies the soft Bellman equation
    :math:`V = \tau\log\sum_a\exp(Q/\tau)` to the same accuracy.
    """
    tau = float(tau)
    if not tau > 0:
        raise ValueError(f"tau must be > 0, got {tau}")
    ex = _Exact(mdp, "cpu")
    scale = max(1.0, float(np.abs(mdp.rewards).max()) + tau * np.log(mdp.n_actions))
    scale /= 1.0 - mdp.gamma
    log_pi = np.full((mdp.n_states, mdp.n_actions), -np.log(mdp.n_actions))
    q_old = None
    for _ in range(max_iterations):
        v, q = ex.evaluate(log_pi, tau)
        log_pi = np.maximum(log_normalize(q / tau), LOG_FLOOR)
        if q_old is not None and np.abs(q - q_old).max() <= tol * scale:
            break
        q_old = q
    v, q = ex.evaluate(log_pi, tau)
    return v, q, np.exp(log_pi)


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
        log_pi = xp.log(xp.asarray(policy, dtype=np.float64))
    return xp.exp(npg_step_log(log_pi, advantages, eta=eta, gamma=gamma))


def npg_step_log(log_policy: Any, advantages: Any, *, eta: Any, gamma: float) -> Any:
    """:func:`npg_step` on log-probabilities (what the drivers iterate)."""
    return kl_prox_log(log_policy, advantages, _xp_eta(log_policy, eta) / (1.0 - gamma))


def entropy_npg_step(policy: Any, q_tau: Any, *, eta: Any, tau: float, gamma: float) -> Any:
    r"""One entropy-regularised NPG step (Cen et al. 2022, eq. (14)).

    .. math::  \pi'(a|s) \propto \pi(a|s)^{1-\eta\tau/(1-\gamma)}
               \exp\!\big(\eta\,Q_\tau(s,a)/(1-\gamma)\big),\qquad 0<\eta\le(1-\gamma)/\tau .

    Computed as the KL prox :func:`~theory_rl.algorithms.mirror.kl_prox_log` applied to the
    log-policy scaled by :math:`1-\eta\tau/(1-\gamma)`.

    Args:
        policy: ``(..., S, A)``; q_tau: ``(..., S, A)`` soft action values.
        eta: scalar or broadcastable to ``policy[..., :1]``; tau: ``> 0``; gamma: discount.

    Returns:
        ``(..., S, A)`` next policy.
    """
    xp = namespace_of(policy, q_tau)
    with np.errstate(divide="ignore"):
        log_pi = xp.log(xp.asarray(policy, dtype=np.float64))
    return xp.exp(entropy_npg_step_log(log_pi, q_tau, eta=eta, tau=tau, gamma=gamma))


def entropy_npg_step_log(log_policy: Any, q_tau: Any, *, eta: Any, tau: float, gamma: float) -> Any:
    """:func:`entropy_npg_step` on log-probabilities."""
    eta = _xp_eta(log_policy, eta)
    xp = namespace_of(log_policy)
    keep = 1.0 - eta * tau / (1.0 - gamma)
    if bool(xp.any(keep < -1e-12)):
        raise ValueError(f"eta must satisfy eta * tau <= 1 - gamma = {1 - gamma}")
    keep = xp.maximum(keep, 0.0)
    return kl_prox_log(keep * xp.maximum(log_policy, LOG_FLOOR), q_tau, eta / (1.0 - gamma))


def _xp_eta(like: Any, eta: Any) -> Any:
    xp = namespace_of(like)
    return xp.asarray(to_numpy(eta) if xp is np else eta, dtype=np.float64)


# --------------------------------------------------------------------------------------------
# driver
# --------------------------------------------------------------------------------------------
def _batch_inputs(
    ex: _Exact, eta: Any, initial_policy: Any
) -> tuple[Any, Any, tuple[int, ...], np.ndarray]:
    """``(log_pi (B?, S, A), eta (B?, 1, 1), batch shape, eta array)`` on the device."""
    xp, S, A = ex.xp, ex.S, ex.A
    eta_arr = _positive("eta", eta)
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
    log_pi = np.broadcast_to(log_pi, batch + (S, A)).copy()
    eta_b = np.broadcast_to(eta_arr, batch).reshape(batch + (1, 1))
    return xp.asarray(log_pi), xp.asarray(eta_b), batch, np.broadcast_to(eta_arr, batch)


def _kl_rows(log_p: Any, log_q: Any, xp: Any) -> Any:
    """``sum_a p (log p - log q)`` over the last axis (``0 log 0 = 0``)."""
    p = xp.exp(log_p)
    return xp.where(p > 0, p * (log_p - log_q), 0.0).sum(axis=-1)


def natural_policy_gradient(
    mdp: TabularMDP,
    *,
    eta: float | Sequence[float] | np.ndarray,
    n_iterations: int,
    tau: float = 0.0,
    initial_policy: Any = None,
    rho: Any = None,
    record: Sequence[str] = ("gap", "kl_to_opt"),
    callback: Callback | None = None,
    seed: Any = None,
    device: str | None = None,
) -> SolveResult:
    r"""Softmax NPG (``tau = 0``) or entropy-regularised NPG (``tau > 0``) with exact evaluation.

    Iterates :func:`npg_step` (or :func:`entropy_npg_step` on :math:`Q_\tau`) from
    ``initial_policy`` (uniform by default, Agarwal's :math:`\theta^0 = 0`).

    Args:
        mdp: the MDP (dense evaluation).
        eta: step size in Agarwal's / Cen's parameterisation; a scalar or a ``(B,)`` array of
            step sizes run as one batch.  With ``tau > 0`` each must satisfy
            :math:`\eta\tau \le 1-\gamma`.
        n_iterations: number of updates ``T``.
        tau: entropy regularisation (``0``: unregularised).
        initial_policy: ``(S, A)`` or ``(B, S, A)`` (broadcast against ``eta``).
        rho: ``(S,)`` distribution for ``gap`` and ``kl_to_opt`` (default the MDP's).
        record: history keys, any of

            * ``gap`` -- :math:`\rho^\top(V^*_\tau - V^{t}_\tau)` (``tau = 0``: :math:`V^*`);
            * ``gap_inf`` -- :math:`\max_s (V^*_\tau - V^t_\tau)(s)`;
            * ``kl_to_opt`` -- :math:`\mathbb E_{s\sim d_\rho^{\pi^*}}
              \mathrm{KL}(\pi^*_s\|\pi^t_s)` (Xiao's :math:`D^*_t`);
            * ``values`` -- :math:`V^t_\tau` ``(S,)`` per iterate;
            * ``log_partition`` -- :math:`\log Z_t(s)` ``(S,)`` of the step from ``t``
              (``tau = 0``; the last entry is that of the step not taken);
            * ``q_error`` -- :math:`\|Q^*_\tau - Q^t_\tau\|_\infty`;
            * ``log_policy_error`` -- :math:`\|\log\pi^*_\tau - \log\pi^t\|_\infty`.

        callback: called after each update with the intermediate :class:`SolveResult`; may
            raise ``StopIteration``.
        seed: unused (exact algorithm); echoed back.
        device: ``"cpu"``, ``"gpu"`` or None.

    Returns:
        :class:`SolveResult`: ``policy`` ``([B,] S, A)``, ``values``/``q_values`` of the last
        policy, and ``history[key]`` of shape ``(T + 1, [B,] ...)`` (iterates ``0..T``).

    Example:
        >>> from theory_rl.mdps import bandit
        >>> res = natural_policy_gradient(bandit([1.0, 0.0]), eta=1.0, n_iterations=5)
        >>> bool(res.history["gap"][-1] < res.history["gap"][0])
        True
    """
    T = as_int("n_iterations", n_iterations)
    tau = float(tau)
    if not tau >= 0:
        raise ValueError(f"tau must be >= 0, got {tau}")
    record = _record(record, RECORD_KEYS)
    ex = _Exact(mdp, device)
    xp, gamma = ex.xp, mdp.gamma
    log_pi, eta_b, batch, eta_np = _batch_inputs(ex, eta, initial_policy)
    if tau > 0 and np.any(eta_np * tau > (1.0 - gamma) * (1 + 1e-12)):
        raise ValueError(f"eta must satisfy eta * tau <= 1 - gamma = {1 - gamma:g} when tau > 0")
    rho_np = mdp.initial_distribution if rho is None else np.asarray(rho, dtype=np.float64)
    if rho_np.shape != (ex.S,) or np.any(rho_np < 0) or abs(rho_np.sum() - 1) > 1e-8:
        raise ValueError(f"rho must be a distribution of shape ({ex.S},)")
    rho_x = xp.asarray(rho_np)
    # reference solution
    if tau > 0:
        v_star, q_star, pi_star = regularized_optimum(mdp, tau=tau)
    else:
        ref = dp.policy_iteration(mdp, evaluation="direct")
        v_star, q_star, pi_star = map(np.asarray, (ref.values, ref.q_values, ref.policy))
    v_star_x, q_star_x = xp.asarray(v_star), xp.asarray(q_star)
    with np.errstate(divide="ignore"):
        log_pi_star = xp.asarray(np.maximum(np.log(pi_star), LOG_FLOOR))
    d_star = ex.occupancy(xp.asarray(pi_star), rho_x) if "kl_to_opt" in record else None
    hist: dict[str, list] = {k: [] for k in record}
    params = dict(
        method="entropy_npg" if tau > 0 else "natural_policy_gradient",
        eta=eta_np.copy() if batch else float(eta_np),
        n_iterations=T,
        tau=tau,
        device=ex.device,
    )

    def measure(log_pi: Any, v: Any, q: Any) -> None:
        if "gap" in record:
            hist["gap"].append(to_numpy((v_star_x - v) @ rho_x))
        if "gap_inf" in record:
            hist["gap_inf"].append(to_numpy((v_star_x - v).max(axis=-1)))
        if "kl_to_opt" in record:
            hist["kl_to_opt"].append(to_numpy(_kl_rows(log_pi_star, log_pi, xp) @ d_star))
        if "values" in record:
            hist["values"].append(to_numpy(v))
        if "q_error" in record:
            hist["q_error"].append(to_numpy(xp.abs(q_star_x - q).max(axis=(-2, -1))))
        if "log_policy_error" in record:
            hist["log_policy_error"].append(
                to_numpy(xp.abs(log_pi_star - log_pi).max(axis=(-2, -1)))
            )
        if "log_partition" in record:
            adv = q - v[..., None]
            z = log_pi + eta_b * adv / (1.0 - gamma)
            m = z.max(axis=-1, keepdims=True)
            log_z = m[..., 0] + xp.log(xp.exp(z - m).sum(axis=-1))
            hist["log_partition"].append(to_numpy(log_z))

    def result(log_pi: Any, v: Any, q: Any, k: int, converged: bool, message: str) -> SolveResult:
        return SolveResult(
            policy=to_numpy(xp.exp(log_pi)),
            values=to_numpy(v),
            q_values=to_numpy(q),
            n_iterations=k,
            converged=converged,
            message=message,
            history={key: np.asarray(val) for key, val in hist.items()},
            params=params,
            seed=seed,
        )

    v, q = ex.evaluate(log_pi, tau)
    measure(log_pi, v, q)
    message, k = f"n_iterations={T} done", 0
    for k in range(1, T + 1):
        if tau > 0:
            log_pi = entropy_npg_step_log(log_pi, q, eta=eta_b, tau=tau, gamma=gamma)
        else:
            log_pi = npg_step_log(log_pi, q - v[..., None], eta=eta_b, gamma=gamma)
        v, q = ex.evaluate(log_pi, tau)
        measure(log_pi, v, q)
        if callback is not None:
            try:
                callback(result(log_pi, v, q, k, False, "in progress"))
            except StopIteration:
                message = "stopped by callback"
                break
    return result(log_pi, v, q, k, False, message)


# --------------------------------------------------------------------------------------------
# Q-NPG with log-linear policies
# --------------------------------------------------------------------------------------------
def log_linear_policy(features: Any, theta: Any) -> Any:
    r"""``pi(a|s) ∝ exp(theta . phi(s, a))``: features ``(S, A, d)``, theta ``(..., d)`` ->
    ``(..., S, A)``."""
    xp = namespace_of(features, theta)
    logits = xp.einsum("sad,...d->...sa", xp.asarray(features), xp.asarray(theta))
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
    phi = xp.asarray(features).reshape(-1, features.shape[-1])  # (SA, d)
    y = xp.asarray(targets).reshape(targets.shape[:-2] + (-1,))  # (..., SA)
    nu = xp.ones(phi.shape[0]) if weights is None else xp.asarray(weights).reshape(-1)
    if bool(xp.any(nu < 0)):
        raise ValueError("weights must be non-negative")
    G = phi.T @ (nu[:, None] * phi) + ridge * xp.eye(phi.shape[1])
    b = (y * nu) @ phi  # (..., d)
    return (xp.linalg.pinv(G) @ b.T).T


def q_npg(
    mdp: LinearMDP,
    *,
    eta: float,
    n_iterations: int,
    critic: str = "exact",
    n_rollouts: int = 10,
    horizon: int | None = None,
    initial_theta: Any = None,
    record: Sequence[str] = ("gap",),
    callback: Callback | None = None,
    seed: Any = None,
) -> SolveResult:
    r"""Q-NPG with a log-linear policy on a :class:`~theory_rl.mdps.LinearMDP`.

    :math:`\theta_{t+1} = \theta_t + \eta w_t`, with :math:`w_t` the least-squares fit
    (:func:`fit_q_weights`, uniform weights over all (s, a)) of ``Q^{pi_t}``: exact
    (``critic="exact"``) or Monte-Carlo estimates from
    :func:`theory_rl.algorithms.sampling.estimate_q` with ``n_rollouts`` rollouts of length
    ``horizon`` per pair (``critic="sampled"``).

    Returns:
        :class:`SolveResult`; ``history`` keys ``gap`` (:math:`\rho^\top(V^*-V^t)`, exact),
        ``critic_error`` (:math:`\|\phi w_t - Q^t\|_\infty`) and ``samples`` (cumulative
        transitions drawn; 0 for the exact critic), each ``(T + 1,)`` (the last critic entry is
        NaN: no fit after the final update).  ``params["theta"]`` is the final parameter.
    """
    if not isinstance(mdp, LinearMDP):
        raise ValueError(f"mdp must be a LinearMDP, got {type(mdp).__name__}")
    if critic not in ("exact", "sampled"):
        raise ValueError(f"critic must be 'exact' or 'sampled', got {critic!r}")
    eta = float(_positive("eta", eta))
    T = as_int("n_iterations", n_iterations)
    _record(record, ("gap", "critic_error", "samples"))
    tab = mdp.to_tabular()
    phi = np.asarray(mdp.features, dtype=np.float64)
    d = phi.shape[-1]
    theta = np.zeros(d) if initial_theta is None else np.array(initial_theta, dtype=np.float64)
    if theta.shape != (d,):
        raise ValueError(f"initial_theta must have shape ({d},), got {theta.shape}")
    if critic == "sampled":
        from theory_rl.algorithms import sampling

        n_rollouts = as_int("n_rollouts", n_rollouts)
        horizon = as_int("horizon", horizon if horizon is not None else 1)
    ref = dp.policy_iteration(tab, evaluation="direct")
    v_star = np.asarray(ref.values)
    rho = tab.initial_distribution
    seeds = np.random.SeedSequence(seed).spawn(T) if critic == "sampled" else []
    gap, err, samples = [], [], []
    total = 0
    message, k = f"n_iterations={T} done", 0
    pi = log_linear_policy(phi, theta)
    v, q = soft_evaluation(tab, pi)
    gap.append(float(rho @ (v_star - v)))
    samples.append(0)

    def result(k: int, message: str) -> SolveResult:
        e = err + [np.nan] * (len(gap) - len(err))
        return SolveResult(
            policy=pi,
            values=v,
            q_values=q,
            n_iterations=k,
            converged=False,
            message=message,
            history={
                "gap": np.array(gap),
                "critic_error": np.array(e),
                "samples": np.array(samples),
            },
            params=dict(
                method="q_npg",
                eta=eta,
                n_iterations=T,
                critic=critic,
                n_rollouts=n_rollouts,
                horizon=horizon,
                theta=theta.copy(),
            ),
            seed=seed,
        )

    for k in range(1, T + 1):
        if critic == "exact":
            target = q
        else:
            target, used = sampling.estimate_q(
                tab, pi, n_rollouts=n_rollouts, horizon=horizon, seed=seeds[k - 1]
            )
            total += int(used)
        w = fit_q_weights(phi, target)
        err.append(float(np.abs(phi @ w - q).max()))
        theta = theta + eta * w
        pi = log_linear_policy(phi, theta)
        v, q = soft_evaluation(tab, pi)
        gap.append(float(rho @ (v_star - v)))
        samples.append(total)
        if callback is not None:
            try:
                callback(result(k, "in progress"))
            except StopIteration:
                message = "stopped by callback"
                break
    return result(k, message)


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
    seed: Any = None,
    callback: Callback | None = None,
) -> SolveResult:
    r"""Tabular hybrid actor-critic (HAC, Zhou et al. 2024, Alg. 1) with on-policy Monte Carlo.

    Each iteration draws ``episodes_per_iteration`` on-policy episodes of ``episode_length``
    steps (:func:`theory_rl.algorithms.sampling.sample_trajectories`), forms discounted
    returns-to-go :math:`y_t = \sum_{u \ge t}\gamma^{u-t} r_u` (unbiased for
    :math:`Q^\pi(s_t,a_t)` when episodes end in a zero-reward sink, as on
    :func:`theory_rl.mdps.combination_lock`), estimates :math:`f^t` with
    :func:`hybrid_policy_evaluation` (``offline`` data if given) and updates
    :math:`\pi^{t+1} \propto \pi^t\exp(\eta f^t)`
    (:func:`~theory_rl.algorithms.mirror.kl_prox_log`).
    Stops at the first iterate with :math:`\rho^\top V^{\pi} \ge` ``success_fraction``
    :math:`\cdot\rho^\top V^*` (exact evaluation: the paper's "succeed" criterion with the
    moving average replaced by the exact value) or when ``max_samples`` online transitions
    were drawn.

    .. warning:: Deviations: constant ``eta`` (the paper's :math:`(1-\gamma)\sqrt{\log A/T}`
       needs ``T`` in advance), HPE as in :func:`hybrid_policy_evaluation`, the last iterate
       returned instead of the uniform mixture of iterates.

    Returns:
        :class:`SolveResult`; ``converged`` means success; ``history`` keys ``value``
        (:math:`\rho^\top V^{\pi_t}`), ``samples`` (cumulative online transitions);
        ``params["online_samples"]`` the total at stopping.
    """
    from theory_rl.algorithms import sampling

    eta = float(_positive("eta", eta))
    H = as_int("episode_length", episode_length)
    m = as_int("episodes_per_iteration", episodes_per_iteration)
    cap = as_int("max_samples", max_samples)
    if not 0 < success_fraction <= 1:
        raise ValueError(f"success_fraction must be in (0, 1], got {success_fraction}")
    if not lam > 0:
        raise ValueError(f"lam must be > 0, got {lam}")
    ex = _Exact(mdp, "cpu")
    gamma, rho = mdp.gamma, mdp.initial_distribution
    ref = dp.policy_iteration(mdp, evaluation="direct")
    target = success_fraction * float(rho @ np.asarray(ref.values))
    log_pi = np.full((ex.S, ex.A), -np.log(ex.A))
    rng = np.random.default_rng(seed if not isinstance(seed, np.random.Generator) else None)
    if isinstance(seed, np.random.Generator):
        rng = seed
    discount = gamma ** np.arange(H)
    values, samples, total, k = [], [], 0, 0
    converged, message = False, f"max_samples={cap} reached"
    while True:
        v, _ = ex.evaluate(log_pi)
        values.append(float(rho @ v))
        samples.append(total)
        if values[-1] >= target:
            converged, message = True, f"success: rho^T V >= {success_fraction} rho^T V*"
            break
        if total >= cap:
            break
        pi = np.exp(log_pi)
        states, actions, rewards = sampling.sample_trajectories(
            mdp, pi, n_episodes=m, horizon=H, seed=rng
        )
        total += m * H
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
        log_pi = kl_prox_log(log_pi, f, eta)
        k += 1
        if callback is not None:
            try:
                callback(SolveResult(np.exp(log_pi), v, None, k, False, "in progress"))
            except StopIteration:
                message = "stopped by callback"
                break
    return SolveResult(
        policy=np.exp(log_pi),
        values=v,
        q_values=None,
        n_iterations=k,
        converged=converged,
        message=message,
        history={"value": np.array(values), "samples": np.array(samples)},
        params=dict(
            method="hybrid_npg",
            eta=eta,
            episode_length=H,
            episodes_per_iteration=m,
            max_samples=cap,
            lam=lam,
            success_fraction=success_fraction,
            offline_size=0 if offline is None else int(offline[0].size),
            online_samples=total,
        ),
        seed=seed,
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
