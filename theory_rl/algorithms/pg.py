r"""Exact policy gradient baselines: softmax PG (plain, entropy, log-barrier) and projected PG.

**Softmax PG** (Agarwal, Kakade, Lee & Mahajan, JMLR 2021, §4-5; Mei, Xiao, Szepesvári &
Schuurmans, ICML 2020).  :math:`\pi_\theta(a|s) \propto \exp\theta_{s,a}` and
:math:`\theta \leftarrow \theta + \eta\nabla_\theta L(\theta)` with

.. math::  L(\theta) = V^{\pi_\theta}_\tau(\rho) + \frac{\lambda}{|S||A|}\sum_{s,a}
           \log\pi_\theta(a|s),

.. math::  \frac{\partial L}{\partial\theta_{s,a}} = \frac{1}{1-\gamma}\,d_\rho^{\pi}(s)\,
           \pi(a|s)\,\tilde A_\tau(s,a) + \frac{\lambda}{|S||A|}\big(1 - |A|\pi(a|s)\big),

:math:`\tilde A_\tau = Q_\tau - \tau\log\pi - V_\tau` (Agarwal et al. Lemma C.1 for
:math:`\tau = 0`; Mei et al. Lemma 10 for the soft case; the barrier term is the derivative of
the log-softmax).  Tests compare it with central finite differences of :math:`L`.

*Guarantees.*  Asymptotic convergence for :math:`\eta \le (1-\gamma)^3/8` and
:math:`\rho > 0` (Agarwal et al. Thm 5.1; AJKS book Thm 12.3).  Mei et al. (2020) Thm 4: an
:math:`O(1/t)` rate with problem- and initialisation-dependent constants; for a ``K``-armed
bandit with :math:`\eta = 2/5` (their Lemma 2 smoothness 5/2), :math:`(\pi^* - \pi_t)^\top r
\le 5/(t\,c_t^2)` with :math:`c_t = \min_{s\le t}\pi_s(a^*)` (secondary source [V2]; see
:mod:`theory_rl.bounds.mei2020`).  The vanishing-gradient chain (AJKS Prop. 12.1) makes plain
softmax PG exponentially slow in the chain length.

**Projected PG with direct parameterisation** (Agarwal et al. §4.1):
:math:`\pi \leftarrow \mathrm{Proj}_{\Delta(A)^S}\big(\pi + \eta\nabla_\pi V^\pi(\rho)\big)`,
:math:`\partial V^\pi(\rho)/\partial\pi(a|s) = d_\rho^\pi(s) Q^\pi(s,a)/(1-\gamma)` (the policy
gradient theorem), with the exact sort-based simplex projection of
:mod:`theory_rl.algorithms.mirror`.  Agarwal et al. Thm 4.2 gives
:math:`\min_{t<T}` gap :math:`\le \varepsilon` for :math:`\eta = (1-\gamma)^3/(2\gamma|A|)`
after :math:`O(|S||A|\|d/\mu\|^2_\infty/((1-\gamma)^6\varepsilon^2))` steps; its constant is
[R] and not used as a test constant.

Evaluation is exact and dense (batched linear solves in the device's array namespace), so a
batch of step sizes or initialisations is one computation.

References:
    A. Agarwal, S. Kakade, J. Lee, G. Mahajan. On the theory of policy gradient methods.
    JMLR 22 (2021), arXiv:1908.00261.
    J. Mei, C. Xiao, C. Szepesvári, D. Schuurmans. On the global convergence rates of softmax
    policy gradient methods. ICML 2020, arXiv:2005.06392.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from theory_rl._checks import as_int
from theory_rl.algorithms import dp
from theory_rl.algorithms._loop import check_record as _record
from theory_rl.algorithms.mirror import log_normalize, project_simplex
from theory_rl.algorithms.npg import _positive
from theory_rl.algorithms.reference import regularized_optimum
from theory_rl.backend import array_namespace, namespace_of, resolve_device, to_numpy
from theory_rl.mdps.tabular import TabularMDP, validate_policy
from theory_rl.result import SolveResult

__all__ = [
    "projected_pg_gradient",
    "projected_pg_step",
    "projected_policy_gradient",
    "softmax_pg_gradient",
    "softmax_pg_objective",
    "softmax_pg_step",
    "softmax_policy_gradient",
]

Callback = Callable[[SolveResult], None]
RECORD_KEYS = ("gap", "gap_inf", "values", "grad_norm", "prob_opt")


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


def _rho(mdp: TabularMDP, rho: Any) -> np.ndarray:
    r = mdp.initial_distribution if rho is None else np.asarray(to_numpy(rho), dtype=np.float64)
    if r.shape != (mdp.n_states,) or np.any(r < 0) or abs(r.sum() - 1.0) > 1e-8:
        raise ValueError(f"rho must be a distribution of shape ({mdp.n_states},)")
    return r


def _occupancy(ex: _Exact, pi: Any, rho: Any) -> Any:
    """Batched ``d_rho^pi`` ``(..., S)``."""
    xp = ex.xp
    P_pi = xp.einsum("...sa,sat->...st", pi, ex.P)
    M = xp.swapaxes(ex.eye - ex.gamma * P_pi, -1, -2)
    b = xp.broadcast_to(rho, M.shape[:-1])[..., None]
    return (1.0 - ex.gamma) * xp.linalg.solve(M, b)[..., 0]


def _softmax_parts(ex: _Exact, theta: Any, rho: Any, tau: float, barrier: float) -> tuple:
    """``(log_pi, v, q, grad)`` for logits ``theta`` ``(..., S, A)``."""
    xp = ex.xp
    log_pi = log_normalize(theta)
    v, q = ex.evaluate(log_pi, tau)
    pi = xp.exp(log_pi)
    adv = q - v[..., None] - (tau * log_pi if tau > 0 else 0.0)
    d = _occupancy(ex, pi, rho)
    grad = d[..., None] * pi * adv / (1.0 - ex.gamma)
    if barrier > 0:
        grad = grad + barrier / (ex.S * ex.A) * (1.0 - ex.A * pi)
    return log_pi, v, q, grad


def _check_reg(tau: float, barrier: float) -> tuple[float, float]:
    tau, barrier = float(tau), float(barrier)
    if not tau >= 0:
        raise ValueError(f"tau must be >= 0, got {tau}")
    if not barrier >= 0:
        raise ValueError(f"barrier must be >= 0, got {barrier}")
    return tau, barrier


def softmax_pg_objective(
    mdp: TabularMDP, theta: Any, *, rho: Any = None, tau: float = 0.0, barrier: float = 0.0
) -> np.ndarray:
    r""":math:`L(\theta) = V_\tau(\rho) + \frac{\lambda}{|S||A|}\sum\log\pi_\theta` for logits
    ``(..., S, A)``; returns ``(...)``."""
    tau, barrier = _check_reg(tau, barrier)
    ex = _Exact(mdp, "cpu")
    log_pi = log_normalize(np.asarray(theta, dtype=np.float64))
    v, _ = ex.evaluate(log_pi, tau)
    out = v @ _rho(mdp, rho)
    if barrier > 0:
        out = out + barrier / (ex.S * ex.A) * log_pi.sum(axis=(-2, -1))
    return out


def softmax_pg_gradient(
    mdp: TabularMDP,
    theta: Any,
    *,
    rho: Any = None,
    tau: float = 0.0,
    barrier: float = 0.0,
    device: str | None = None,
) -> np.ndarray:
    r"""Exact gradient of :math:`L(\theta)` (module docstring) for logits ``(..., S, A)``.

    Returns:
        ``(..., S, A)`` NumPy array.
    """
    tau, barrier = _check_reg(tau, barrier)
    ex = _Exact(mdp, device)
    theta = ex.xp.asarray(np.asarray(to_numpy(theta), dtype=np.float64))
    _, _, _, grad = _softmax_parts(ex, theta, ex.xp.asarray(_rho(mdp, rho)), tau, barrier)
    return to_numpy(grad)


def softmax_pg_step(
    mdp: TabularMDP,
    theta: Any,
    *,
    eta: Any,
    rho: Any = None,
    tau: float = 0.0,
    barrier: float = 0.0,
) -> np.ndarray:
    r"""One softmax PG step :math:`\theta + \eta\nabla L(\theta)`; ``theta`` ``(..., S, A)``."""
    grad = softmax_pg_gradient(mdp, theta, rho=rho, tau=tau, barrier=barrier)
    return np.asarray(theta, dtype=np.float64) + np.asarray(eta, dtype=np.float64) * grad


def projected_pg_gradient(
    mdp: TabularMDP, policy: Any, *, rho: Any = None, device: str | None = None
) -> np.ndarray:
    r""":math:`\partial V^\pi(\rho)/\partial\pi(a|s) = d_\rho^\pi(s)Q^\pi(s,a)/(1-\gamma)`,
    ``(..., S, A)``."""
    ex = _Exact(mdp, device)
    pi = ex.xp.asarray(validate_policy(to_numpy(policy), ex.S, ex.A))
    with np.errstate(divide="ignore"):
        log_pi = ex.xp.log(pi)
    _, q = ex.evaluate(log_pi)
    d = _occupancy(ex, pi, ex.xp.asarray(_rho(mdp, rho)))
    return to_numpy(d[..., None] * q / (1.0 - ex.gamma))


def projected_pg_step(policy: Any, gradient: Any, *, eta: Any) -> Any:
    r"""One projected PG step :math:`\mathrm{Proj}_\Delta(\pi + \eta\,g)` per state (row)."""
    xp = namespace_of(policy, gradient)
    return project_simplex(xp.asarray(policy) + xp.asarray(eta) * xp.asarray(gradient))


# --------------------------------------------------------------------------------------------
# drivers
# --------------------------------------------------------------------------------------------
def _reference(mdp: TabularMDP, tau: float) -> tuple[np.ndarray, np.ndarray]:
    if tau > 0:
        ref = regularized_optimum(mdp, tau=tau)
        return ref.values, ref.policy
    ref = dp.policy_iteration(mdp, evaluation="direct")
    return np.asarray(ref.values), np.asarray(ref.policy)


def _run(
    mdp: TabularMDP,
    *,
    kind: str,
    eta: Any,
    n_iterations: int,
    tau: float,
    barrier: float,
    start: Any,
    rho: Any,
    record: Sequence[str],
    tol: float | None,
    callback: Callback | None,
    seed: Any,
    device: str | None,
) -> SolveResult:
    T = as_int("n_iterations", n_iterations)
    tau, barrier = _check_reg(tau, barrier)
    record = _record(record, RECORD_KEYS)
    ex = _Exact(mdp, device)
    xp, S, A = ex.xp, ex.S, ex.A
    eta_arr = _positive("eta", eta)
    try:
        batch = np.broadcast_shapes(start.shape[:-2], eta_arr.shape)
    except ValueError:
        raise ValueError(
            f"eta batch {eta_arr.shape} and initial batch {start.shape[:-2]} do not broadcast"
        ) from None
    x = xp.asarray(np.broadcast_to(start, batch + (S, A)).copy())
    eta_b = xp.asarray(np.broadcast_to(eta_arr, batch).reshape(batch + (1, 1)))
    rho_x = xp.asarray(_rho(mdp, rho))
    v_star, pi_star = _reference(mdp, tau)
    v_star_x = xp.asarray(v_star)
    a_star = xp.asarray(pi_star.argmax(axis=1))
    hist: dict[str, list] = {k: [] for k in record}
    params = dict(
        method=kind,
        eta=eta_arr.copy() if eta_arr.ndim else float(eta_arr),
        n_iterations=T,
        tau=tau,
        barrier=barrier,
        tol=tol,
        device=ex.device,
    )

    def parts(x: Any) -> tuple:
        if kind == "softmax_policy_gradient":
            return _softmax_parts(ex, x, rho_x, tau, barrier)
        with np.errstate(divide="ignore"):
            log_pi = xp.log(x)
        v, q = ex.evaluate(log_pi)
        d = _occupancy(ex, x, rho_x)
        return log_pi, v, q, d[..., None] * q / (1.0 - ex.gamma)

    def measure(log_pi: Any, v: Any, grad: Any) -> Any:
        gap = (v_star_x - v) @ rho_x
        if "gap" in record:
            hist["gap"].append(to_numpy(gap))
        if "gap_inf" in record:
            hist["gap_inf"].append(to_numpy((v_star_x - v).max(axis=-1)))
        if "values" in record:
            hist["values"].append(to_numpy(v))
        if "grad_norm" in record:
            hist["grad_norm"].append(to_numpy(xp.sqrt((grad**2).sum(axis=(-2, -1)))))
        if "prob_opt" in record:
            p = xp.exp(
                xp.take_along_axis(
                    log_pi, xp.broadcast_to(a_star[:, None], log_pi.shape[:-1] + (1,)), axis=-1
                )
            )
            hist["prob_opt"].append(to_numpy(p[..., 0].min(axis=-1)))
        return gap

    def result(x: Any, v: Any, q: Any, k: int, converged: bool, message: str) -> SolveResult:
        pi = xp.exp(log_normalize(x)) if kind == "softmax_policy_gradient" else x
        return SolveResult(
            policy=to_numpy(pi),
            values=to_numpy(v),
            q_values=to_numpy(q),
            n_iterations=k,
            converged=converged,
            message=message,
            history={key: np.asarray(val) for key, val in hist.items()},
            params={**params, "final_iterate": to_numpy(x)},
            seed=seed,
        )

    log_pi, v, q, grad = parts(x)
    gap = measure(log_pi, v, grad)
    converged, message, k = False, f"n_iterations={T} done", 0
    for k in range(1, T + 1):
        if tol is not None and bool(xp.all(gap <= tol)):
            converged, message, k = True, f"gap <= tol={tol}", k - 1
            break
        if kind == "softmax_policy_gradient":
            x = x + eta_b * grad
        else:
            x = projected_pg_step(x, grad, eta=eta_b)
        log_pi, v, q, grad = parts(x)
        gap = measure(log_pi, v, grad)
        if callback is not None:
            try:
                callback(result(x, v, q, k, False, "in progress"))
            except StopIteration:
                message = "stopped by callback"
                break
    else:
        if tol is not None and bool(xp.all(gap <= tol)):
            converged, message = True, f"gap <= tol={tol}"
    return result(x, v, q, k, converged, message)


def softmax_policy_gradient(
    mdp: TabularMDP,
    *,
    eta: float | Sequence[float] | np.ndarray,
    n_iterations: int,
    tau: float = 0.0,
    barrier: float = 0.0,
    initial_logits: Any = None,
    rho: Any = None,
    record: Sequence[str] = ("gap",),
    tol: float | None = None,
    callback: Callback | None = None,
    seed: Any = None,
    device: str | None = None,
) -> SolveResult:
    r"""Exact softmax policy gradient ascent on :math:`L(\theta)` (module docstring).

    Args:
        mdp: the MDP (dense evaluation).
        eta: step size, scalar or ``(B,)`` batch.
        n_iterations: maximum number of updates.
        tau: entropy regularisation; barrier: log-barrier weight :math:`\lambda`.
        initial_logits: ``(S, A)`` or ``(B, S, A)`` logits (default 0: uniform policy).
        rho: ``(S,)`` start distribution of the objective and of ``gap`` (default the MDP's).
        record: history keys among ``gap`` (:math:`\rho^\top(V^*_\tau-V^t_\tau)`; with
            ``tau > 0`` against the regularised optimum), ``gap_inf``, ``values``,
            ``grad_norm`` and ``prob_opt`` (:math:`\min_s\pi_t(a^*(s)|s)`, Mei's :math:`c_t`
            before the running minimum).
        tol: stop once every batch member has ``gap <= tol``; ``n_iterations`` is then the
            first such iteration.
        callback, seed, device: as in :func:`theory_rl.algorithms.npg.natural_policy_gradient`.

    Returns:
        :class:`SolveResult`, history ``(n_iterations + 1, [B])``; ``params["final_iterate"]``
        holds the final logits.

    Example:
        >>> from theory_rl.mdps import bandit
        >>> res = softmax_policy_gradient(bandit([1.0, 0.9, 0.1]), eta=0.4, n_iterations=100)
        >>> bool(res.history["gap"][-1] < res.history["gap"][0])
        True
    """
    S, A = mdp.n_states, mdp.n_actions
    if initial_logits is None:
        start = np.zeros((S, A))
    else:
        start = np.asarray(to_numpy(initial_logits), dtype=np.float64)
        if start.ndim not in (2, 3) or start.shape[-2:] != (S, A) or not np.isfinite(start).all():
            raise ValueError(
                f"initial_logits must be finite (S, A) or (B, S, A), got {start.shape}"
            )
    return _run(
        mdp,
        kind="softmax_policy_gradient",
        eta=eta,
        n_iterations=n_iterations,
        tau=tau,
        barrier=barrier,
        start=start,
        rho=rho,
        record=record,
        tol=tol,
        callback=callback,
        seed=seed,
        device=device,
    )


def projected_policy_gradient(
    mdp: TabularMDP,
    *,
    eta: float | Sequence[float] | np.ndarray,
    n_iterations: int,
    initial_policy: Any = None,
    rho: Any = None,
    record: Sequence[str] = ("gap",),
    tol: float | None = None,
    callback: Callback | None = None,
    seed: Any = None,
    device: str | None = None,
) -> SolveResult:
    r"""Projected gradient ascent on :math:`V^\pi(\rho)` over direct policies (Agarwal §4.1).

    Arguments as in :func:`softmax_policy_gradient` (``initial_policy`` ``(S, A)`` or
    ``(B, S, A)``, default uniform; no regularisation).
    """
    S, A = mdp.n_states, mdp.n_actions
    if initial_policy is None:
        start = np.full((S, A), 1.0 / A)
    else:
        start = validate_policy(to_numpy(initial_policy), S, A, name="initial_policy")
    return _run(
        mdp,
        kind="projected_policy_gradient",
        eta=eta,
        n_iterations=n_iterations,
        tau=0.0,
        barrier=0.0,
        start=start,
        rho=rho,
        record=record,
        tol=tol,
        callback=callback,
        seed=seed,
        device=device,
    )
