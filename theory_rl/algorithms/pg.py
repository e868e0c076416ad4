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

Evaluation is exact and dense (:class:`~theory_rl.algorithms.exact.ExactEvaluator`:
batched linear solves in the device's array namespace), so a batch of step sizes or
initialisations is one computation.  Both drivers run on
:func:`theory_rl.algorithms._loop.iterate` (fixed budget ``n_iterations``; ``tol > 0`` stops
once ``gap <= tol`` for every run, and only then is ``converged`` True); history arrays are
``(K+1,)`` for one run and ``(B, K+1)`` for a batch, measured against one
:class:`~theory_rl.algorithms.exact.Reference` (``reference=``).

References:
    A. Agarwal, S. Kakade, J. Lee, G. Mahajan. On the theory of policy gradient methods.
    JMLR 22 (2021), arXiv:1908.00261.
    J. Mei, C. Xiao, C. Szepesvári, D. Schuurmans. On the global convergence rates of softmax
    policy gradient methods. ICML 2020, arXiv:2005.06392.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from theory_rl._checks import as_int, as_positive, as_positive_array
from theory_rl.algorithms._loop import Method, check_record, iterate
from theory_rl.algorithms.exact import ExactEvaluator, Reference
from theory_rl.algorithms.metrics import POLICY_METRICS, policy_metrics
from theory_rl.algorithms.mirror import log_normalize, project_simplex
from theory_rl.algorithms.pmd import _exact_reference, _log
from theory_rl.backend import namespace_of, to_numpy
from theory_rl.mdps.tabular import TabularMDP, validate_policy
from theory_rl.result import SolveResult

__all__ = [
    "PG_METRICS",
    "projected_pg_gradient",
    "projected_pg_step",
    "projected_policy_gradient",
    "softmax_pg_gradient",
    "softmax_pg_objective",
    "softmax_pg_step",
    "softmax_policy_gradient",
]

Callback = Callable[[SolveResult], None]
#: What the drivers can record: the policy metrics of :mod:`theory_rl.algorithms.metrics`,
#: ``"values"`` (:math:`V^t_\tau` ``(S,)`` per iterate), ``"grad_norm"`` and ``"prob_opt"``.
PG_METRICS = (*POLICY_METRICS, "values", "grad_norm", "prob_opt")


def _evaluator(mdp: TabularMDP, device: str | None, rho: Any) -> ExactEvaluator:
    if not isinstance(mdp, TabularMDP):
        raise ValueError(f"mdp must be a TabularMDP, got {type(mdp).__name__}")
    return ExactEvaluator(mdp, device, rho)


def _softmax_parts(ev: ExactEvaluator, theta: Any, tau: float, barrier: float) -> tuple:
    """``(log_pi, v, q, grad)`` for logits ``theta`` ``(B, S, A)``."""
    xp = ev.xp
    log_pi = log_normalize(theta)
    pi = xp.exp(log_pi)
    penalty = tau * xp.sum(pi * log_pi, axis=-1) if tau > 0 else None
    v, q = ev.evaluate(pi, penalty)
    adv = q - v[..., None] - (tau * log_pi if tau > 0 else 0.0)
    d = ev.occupancy(pi)
    grad = d[..., None] * pi * adv / (1.0 - ev.gamma)[:, None, None]
    if barrier > 0:
        grad = grad + barrier / (ev.S * ev.A) * (1.0 - ev.A * pi)
    return log_pi, v, q, grad


def _projected_parts(ev: ExactEvaluator, pi: Any) -> tuple:
    """``(log_pi, v, q, grad)`` for direct policies ``pi`` ``(B, S, A)``."""
    v, q = ev.evaluate(pi)
    d = ev.occupancy(pi)
    return _log(ev.xp, pi), v, q, d[..., None] * q / (1.0 - ev.gamma)[:, None, None]


def _check_reg(tau: float, barrier: float) -> tuple[float, float]:
    tau = as_positive("tau", tau, allow_zero=True)
    barrier = as_positive("barrier", barrier, allow_zero=True)
    return tau, barrier


def _rows(ev: ExactEvaluator, x: Any, name: str) -> tuple[Any, tuple[int, ...]]:
    """``x`` ``(..., S, A)`` as ``(B, S, A)`` in the evaluator's namespace, and ``(...)``."""
    arr = np.asarray(to_numpy(x), dtype=np.float64)
    if arr.ndim < 2 or arr.shape[-2:] != (ev.S, ev.A):
        raise ValueError(f"{name} must have shape (..., {ev.S}, {ev.A}), got {arr.shape}")
    return ev.xp.asarray(arr.reshape((-1, ev.S, ev.A))), arr.shape[:-2]


def softmax_pg_objective(
    mdp: TabularMDP, theta: Any, *, rho: Any = None, tau: float = 0.0, barrier: float = 0.0
) -> np.ndarray:
    r""":math:`L(\theta) = V_\tau(\rho) + \frac{\lambda}{|S||A|}\sum\log\pi_\theta` for logits
    ``(..., S, A)``; returns ``(...)``."""
    tau, barrier = _check_reg(tau, barrier)
    ev = _evaluator(mdp, "cpu", rho)
    theta, batch = _rows(ev, theta, "theta")
    log_pi = log_normalize(theta)
    pi = np.exp(log_pi)
    v, _ = ev.evaluate(pi, tau * np.sum(pi * log_pi, axis=-1) if tau > 0 else None)
    out = np.sum(v * ev.rho, axis=-1)
    if barrier > 0:
        out = out + barrier / (ev.S * ev.A) * np.sum(log_pi, axis=(-2, -1))
    return out.reshape(batch)


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
    ev = _evaluator(mdp, device, rho)
    theta, batch = _rows(ev, theta, "theta")
    _, _, _, grad = _softmax_parts(ev, theta, tau, barrier)
    return to_numpy(grad).reshape(batch + (ev.S, ev.A))


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
    ev = _evaluator(mdp, device, rho)
    pi, batch = _rows(ev, validate_policy(to_numpy(policy), ev.S, ev.A), "policy")
    _, _, _, grad = _projected_parts(ev, pi)
    return to_numpy(grad).reshape(batch + (ev.S, ev.A))


def projected_pg_step(policy: Any, gradient: Any, *, eta: Any) -> Any:
    r"""One projected PG step :math:`\mathrm{Proj}_\Delta(\pi + \eta\,g)` per state (row)."""
    xp = namespace_of(policy, gradient)
    return project_simplex(xp.asarray(policy) + xp.asarray(eta) * xp.asarray(gradient))


# --------------------------------------------------------------------------------------------
# drivers
# --------------------------------------------------------------------------------------------
def _run(
    mdp: TabularMDP,
    *,
    kind: str,
    eta: Any,
    n_iterations: int,
    tau: float,
    barrier: float,
    start: np.ndarray,
    rho: Any,
    record: Sequence[str],
    tol: float,
    callback: Callback | None,
    seed: Any,
    device: str | None,
    reference: Reference | None,
) -> SolveResult:
    """Both drivers on :func:`theory_rl.algorithms._loop.iterate`: ``start`` ``([B,] S, A)``
    (logits or a policy) and ``eta`` (scalar or ``(B,)``) broadcast to the batch."""
    K = as_int("n_iterations", n_iterations, minimum=0)
    tau, barrier = _check_reg(tau, barrier)
    tol = as_positive("tol", tol, allow_zero=True)
    record = check_record(record, PG_METRICS)
    eta_arr = as_positive_array("eta", eta)
    ev = _evaluator(mdp, device, rho)
    xp, S, A = ev.xp, ev.S, ev.A
    try:
        batch = np.broadcast_shapes(start.shape[:-2], eta_arr.shape)
    except ValueError:
        raise ValueError(
            f"eta batch {eta_arr.shape} and initial batch {start.shape[:-2]} do not broadcast"
        ) from None
    B = int(np.prod(batch))
    x0 = xp.asarray(np.broadcast_to(start, batch + (S, A)).reshape((B, S, A)))
    eta_b = xp.asarray(np.broadcast_to(eta_arr, batch).reshape((B, 1, 1)))
    ref = _exact_reference(ev, reference, tau=tau, regularizer="entropy" if tau > 0 else None)
    dref = ref.on(xp)
    a_star = xp.argmax(dref.policy, axis=-1)[..., None]  # (1, S, 1)
    softmax = kind == "softmax_policy_gradient"
    latest: list[dict[str, Any]] = []

    def parts(x: Any) -> dict[str, Any]:
        log_pi, v, q, grad = (
            _softmax_parts(ev, x, tau, barrier) if softmax else _projected_parts(ev, x)
        )
        state = dict(x=x, log_pi=log_pi, v=v, q=q, grad=grad)
        latest[:] = [state]
        return state

    def update(state: dict[str, Any], k: int) -> dict[str, Any]:
        if softmax:
            return parts(state["x"] + eta_b * state["grad"])
        return parts(projected_pg_step(state["x"], state["grad"], eta=eta_b))

    def measure(state: dict[str, Any], keys: frozenset[str]) -> dict[str, Any]:
        log_pi, v = state["log_pi"], state["v"]
        out = policy_metrics(keys, reference=dref, log_pi=log_pi, v=v, q=state["q"], rho=ev.rho)
        if "values" in keys:
            out["values"] = v
        if "grad_norm" in keys:
            out["grad_norm"] = xp.sqrt(xp.sum(state["grad"] ** 2, axis=(-2, -1)))
        if "prob_opt" in keys:
            idx = xp.broadcast_to(a_star, log_pi.shape[:-1] + (1,))
            out["prob_opt"] = xp.min(
                xp.exp(xp.take_along_axis(log_pi, idx, axis=-1))[..., 0], axis=-1
            )
        return {key: xp.reshape(val, batch + val.shape[1:]) for key, val in out.items()}

    def output(state: dict[str, Any]) -> tuple[Any, Any, Any]:
        pi = xp.exp(state["log_pi"]) if softmax else state["x"]
        return (
            to_numpy(pi).reshape(batch + (S, A)),
            to_numpy(state["v"]).reshape(batch + (S,)),
            to_numpy(state["q"]).reshape(batch + (S, A)),
        )

    method = Method(
        name=kind,
        init=lambda rng: parts(x0),
        update=update,
        measure=measure,
        output=output,
        metrics=PG_METRICS,
        stop_metric="gap",
        batch_shape=batch,
    )
    params = dict(
        eta=eta_arr.copy() if eta_arr.ndim else float(eta_arr),
        tau=tau,
        barrier=barrier,
        device=ev.device,
    )
    res = iterate(
        method, n_iterations=K, tol=tol, record=record, callback=callback, seed=seed, params=params
    )
    final = to_numpy(latest[0]["x"]).reshape(batch + (S, A))
    return dataclasses.replace(res, params={**res.params, "final_iterate": final})


def softmax_policy_gradient(
    mdp: TabularMDP,
    *,
    eta: float | Sequence[float] | np.ndarray,
    n_iterations: int = 100,
    tau: float = 0.0,
    barrier: float = 0.0,
    initial_logits: Any = None,
    rho: Any = None,
    record: Sequence[str] = ("gap",),
    tol: float = 0.0,
    callback: Callback | None = None,
    seed: Any = None,
    device: str | None = None,
    reference: Reference | None = None,
) -> SolveResult:
    r"""Exact softmax policy gradient ascent on :math:`L(\theta)` (module docstring).

    Args:
        mdp: the MDP (dense evaluation).
        eta: step size, scalar or ``(B,)`` batch.
        n_iterations: updates ``K`` (fixed budget; the history has ``K + 1`` entries).
        tau: entropy regularisation; barrier: log-barrier weight :math:`\lambda`.
        initial_logits: ``(S, A)`` or ``(B, S, A)`` logits (default 0: uniform policy).
        rho: ``(S,)`` start distribution of the objective and of ``gap`` (default the MDP's).
        record: history keys among :data:`PG_METRICS`: ``gap``
            (:math:`\rho^\top(V^*_\tau-V^t_\tau)`; with ``tau > 0`` against the regularised
            optimum), ``sup_gap``, the other metrics of :mod:`theory_rl.algorithms.metrics`,
            ``values``, ``grad_norm`` and ``prob_opt`` (:math:`\min_s\pi_t(a^*(s)|s)`, Mei's
            :math:`c_t` before the running minimum).
        tol: stop once every batch member has ``gap <= tol`` (``0``: never); ``n_iterations``
            is then the first such iteration and ``converged`` is True (only then).
        callback: ``callback(intermediate)`` after each evaluation; ``StopIteration`` stops.
        seed: echoed in the result (exact gradients draw no random numbers).
        device: ``"cpu"``, ``"gpu"`` or None.
        reference: :func:`~theory_rl.algorithms.exact.reference` of ``mdp`` (with
            ``tau`` and ``regularizer="entropy"`` when ``tau > 0``) and ``rho`` if already
            computed (checked; same numbers as omitting it).

    Returns:
        :class:`SolveResult`, history ``(K+1,)`` or ``(B, K+1)`` (``values``: ``(..., S)``);
        ``params["final_iterate"]`` holds the final logits.

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
        start = np.asarray(to_numpy(initial_logits))
        if (
            start.dtype.kind not in "fiu"
            or start.ndim not in (2, 3)
            or start.shape[-2:] != (S, A)
            or not np.isfinite(start).all()
        ):
            raise ValueError(
                f"initial_logits must be finite real (S, A) or (B, S, A), got {start.shape}"
            )
        start = start.astype(np.float64)
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
        reference=reference,
    )


def projected_policy_gradient(
    mdp: TabularMDP,
    *,
    eta: float | Sequence[float] | np.ndarray,
    n_iterations: int = 100,
    initial_policy: Any = None,
    rho: Any = None,
    record: Sequence[str] = ("gap",),
    tol: float = 0.0,
    callback: Callback | None = None,
    seed: Any = None,
    device: str | None = None,
    reference: Reference | None = None,
) -> SolveResult:
    r"""Projected gradient ascent on :math:`V^\pi(\rho)` over direct policies (Agarwal §4.1).

    Arguments as in :func:`softmax_policy_gradient` (``initial_policy`` ``(S, A)`` or
    ``(B, S, A)``, default uniform; no regularisation, so ``reference`` is the unregularised
    one; ``params["final_iterate"]`` is the final policy).
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
        reference=reference,
    )
