r"""Average-reward (undiscounted, long-run average) MDPs: optimal gain and bias.

For a stationary policy :math:`\pi` the **gain** is :math:`g^\pi = P^*_\pi r_\pi` (Cesàro limit
:math:`P^*_\pi = \lim_n \frac1n\sum_{t<n} P_\pi^t`) and a **bias** ``h`` solves

.. math::  g + h = r_\pi + P_\pi h, \qquad (I - P_\pi) g = 0,

unique up to a vector of :math:`\ker(I - P_\pi)` (Puterman 1994, §8.2).  The optimality
equation of a *unichain* or *communicating* model has a constant optimal gain :math:`g^*`:

.. math::  g^* + h(s) = \max_a \Big[r(s,a) + \sum_{s'} P(s'|s,a) h(s')\Big]
           \quad (Th = h + g^*\mathbf 1,\ T v = \max_a r + P v).

**The MDP's gamma is ignored** by every function here: the criterion is the long-run average
reward.  Both solvers first check that the model has a constant optimal gain, through
:mod:`theory_rl.mdps.structure`: it must be *communicating* (one communicating class) or be
certified *unichain* by a state that every stationary policy reaches from every state (then
that state is in the single recurrent class of every policy).  Otherwise (e.g. a multichain
model whose optimal gain depends on the start) they raise ``ValueError``.

Guarantees:

* **Gain bracket** (Odoni 1969; Puterman Thm 8.5.5).  For any ``v``, with
  :math:`\Delta = Tv - v`: :math:`\min_s \Delta(s) \le g^* \le \max_s \Delta(s)`; and the policy
  :math:`\pi_v` greedy w.r.t. ``v`` has gain :math:`g^{\pi_v} \ge \min_s \Delta(s)`
  (:math:`g^{\pi_v} = P^*_{\pi_v}(T_{\pi_v}v - v)`).  Relative value iteration stops when
  :math:`\mathrm{sp}(\Delta) \le` ``tol``: the midpoint gain is within ``tol / 2`` of
  :math:`g^*` and the greedy policy's gain within ``tol``.
* **Span contraction** needs aperiodicity: the *aperiodicity transformation*
  :math:`P_\tau = \tau I + (1-\tau) P`, :math:`0 < \tau < 1` (Puterman §8.5.4) keeps every
  policy's gain and divides its bias by :math:`1-\tau` (:math:`g + h/(1-\tau) = r_\pi +
  P_{\tau,\pi} h/(1-\tau)`); it is applied with ``aperiodicity=tau`` and the returned bias is
  rescaled to the original model.
* **Policy iteration** (multichain form, Puterman §9.2): evaluate :math:`(g^\pi, h^\pi)`,
  improve first the gain (:math:`\max_a P(s,a)^\top g`), then the bias
  (:math:`\max_a r + P h` among gain-maximising actions), keeping the current action unless
  another is better by more than a rounding threshold; it stops with an optimal policy.

References:
    M. L. Puterman. Markov Decision Processes. Wiley, 1994. Chapters 8-9.
    A. Odoni. On finding the maximal gain for Markov decision processes. Oper. Res., 1969.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp

from theory_rl._checks import as_int, as_positive, as_real
from theory_rl.mdps.structure import communicating_classes
from theory_rl.mdps.tabular import TabularMDP, _as_float_array, validate_policy
from theory_rl.result import SolveResult

__all__ = ["average_reward_policy_iteration", "relative_value_iteration"]

#: Default span accuracy of relative value iteration, relative to ``max|r|``.
DEFAULT_RTOL = 1e-9
#: Largest S for which the unichain certificate (a state every policy reaches) is searched.
UNICHAIN_CHECK_MAX_STATES = 2000


def _support(mdp: TabularMDP) -> sp.csr_array:
    M = mdp.transition_matrix
    M = sp.csr_array(M) if not sp.issparse(M) else sp.csr_array(M)
    return sp.csr_array(((M.data > 0).astype(np.float64), M.indices, M.indptr), shape=M.shape)


def _reached_by_every_policy(
    support: sp.csr_array, target: int, S: int, A: int, feasible: np.ndarray
) -> bool:
    """True when every stationary policy reaches ``target`` from every state: the least set
    ``W`` containing ``target`` and every state all of whose actions can step into ``W``."""
    W = np.zeros(S, dtype=bool)
    W[target] = True
    while True:
        hit = (support @ W.astype(np.float64)) > 0  # (S*A,) rows stepping into W
        new = W | (hit.reshape(S, A) | ~feasible).all(axis=1)  # every feasible action does
        if new.sum() == W.sum():
            return bool(W.all())
        W = new


def model_class(mdp: TabularMDP) -> str:
    """``"communicating"`` or ``"unichain"`` (certified as in the module docstring); raises
    ``ValueError`` naming the property when neither holds."""
    if not isinstance(mdp, TabularMDP):
        raise ValueError(f"mdp must be a TabularMDP, got {type(mdp).__name__}")
    classes = communicating_classes(mdp)
    if len(classes) == 1:
        return "communicating"
    S, A = mdp.n_states, mdp.n_actions
    if S <= UNICHAIN_CHECK_MAX_STATES:
        support = _support(mdp)
        # the common recurrent state lies in an SCC that no edge leaves under some action set;
        # try the states of the last classes first (closed classes are listed among them)
        for cls in reversed(classes):
            if _reached_by_every_policy(support, int(cls[0]), S, A, mdp.action_mask):
                return "unichain"
    raise ValueError(
        f"mdp must be communicating or unichain for a constant optimal gain: it has "
        f"{len(classes)} communicating classes and no state that every policy reaches from "
        "every state (a multichain model: the optimal gain may depend on the start state)"
        + (
            ""
            if S <= UNICHAIN_CHECK_MAX_STATES
            else "; the unichain certificate is searched only up to "
            f"{UNICHAIN_CHECK_MAX_STATES} states"
        )
    )


def _bellman(P2: Any, r: np.ndarray, v: np.ndarray, A: int, tau: float) -> tuple:
    """``(T_tau v, greedy actions)`` with ``P_tau = tau I + (1 - tau) P``."""
    q = (r + (1.0 - tau) * np.asarray(P2 @ v)).reshape(-1, A) + tau * v[:, None]
    return q.max(axis=1), q.argmax(axis=1)


def _one_hot(actions: np.ndarray, A: int) -> np.ndarray:
    out = np.zeros((actions.size, A))
    out[np.arange(actions.size), actions] = 1.0
    return out


def relative_value_iteration(
    mdp: TabularMDP,
    *,
    tol: float | None = None,
    rtol: float | None = None,
    max_iterations: int = 100_000,
    reference_state: int = 0,
    aperiodicity: float = 0.0,
    initial_values: Any = None,
) -> SolveResult:
    r"""Relative value iteration for the optimal gain ``g*`` and bias ``h`` (Puterman 1994,
    §8.5.5).

    .. math::  w_{k+1} = T_\tau v_k, \qquad v_{k+1} = w_{k+1} - w_{k+1}(s_{\mathrm{ref}})
               \mathbf 1,

    with :math:`T_\tau` the average-reward Bellman operator of the transformed model
    :math:`P_\tau = \tau I + (1-\tau)P` (``aperiodicity = tau``; 0 leaves the model as is).
    Stops at the first ``k`` with :math:`\mathrm{sp}(T_\tau v_k - v_k) \le \epsilon`
    (:math:`\epsilon = \min(\mathtt{tol}, \mathtt{rtol}\max|r|)`, by default
    ``rtol = 1e-9``); then (module docstring) the returned ``gain`` is within
    :math:`\epsilon/2` of ``g*`` and the returned greedy policy's gain within
    :math:`\epsilon` of ``g*`` -- in exact arithmetic; float64 adds the rounding of the
    :math:`O(S)`-term sums, about :math:`S\varepsilon_{\mathrm{mach}}\,\mathrm{sp}(v)`.
    The bias :math:`h = (1-\tau) v_k` (normalised ``h(reference_state) = 0``) is an estimate
    whose error the span rule does not bound; :func:`average_reward_policy_iteration` returns
    the exact one.  Convergence needs the span contraction, guaranteed for aperiodic unichain
    models; use ``aperiodicity > 0`` (e.g. 0.5) when optimal chains may be periodic.
    ``mdp.gamma`` is ignored.

    Args:
        mdp: a communicating or unichain MDP (checked; ``ValueError`` otherwise).
        tol, rtol: span accuracy (absolute / relative to ``max|r|``).
        max_iterations: sweeps before giving up.
        reference_state: the state with ``h = 0``.
        aperiodicity: :math:`\tau` in ``[0, 1)``.
        initial_values: ``(S,)`` start; default zeros.

    Returns:
        :class:`SolveResult` with ``values`` = bias ``h`` ``(S,)``, ``params["gain"]`` the gain
        estimate, ``params["model"]`` (``"communicating"``/``"unichain"``), ``history`` keys
        ``gain_lower``, ``gain_upper`` (:math:`\min\Delta_k`, :math:`\max\Delta_k`) and
        ``span`` (:math:`\mathrm{sp}(v_{k+1} - v_k)` of the relative iterates, the quantity that
        contracts).
    """
    model = model_class(mdp)
    S, A = mdp.n_states, mdp.n_actions
    ref = as_int("reference_state", reference_state, minimum=0)
    if ref >= S:
        raise ValueError(f"reference_state must be < S = {S}, got {ref}")
    tau = as_real("aperiodicity", aperiodicity, minimum=0.0, maximum=1.0, open_maximum=True)
    max_iterations = as_int("max_iterations", max_iterations)
    tol = None if tol is None else as_positive("tol", tol)
    rtol = None if rtol is None else as_positive("rtol", rtol)
    if tol is None and rtol is None:
        rtol = DEFAULT_RTOL
    scale = max(*(abs(x) for x in mdp.reward_range), float(np.finfo(np.float64).tiny))
    eps = min(x for x in (tol, None if rtol is None else rtol * scale) if x is not None)
    P2, r = mdp.transition_matrix, mdp.rewards.ravel().astype(np.float64)
    if initial_values is None:
        v = np.zeros(S)
    else:
        v = np.array(_as_float_array("initial_values", initial_values), dtype=np.float64)
        if v.shape != (S,) or not np.isfinite(v).all():
            raise ValueError(f"initial_values must be finite of shape (S,) = ({S},)")
    v = v - v[ref]
    lower, upper, spans = [], [], []
    converged = False
    for _ in range(max_iterations):
        tv, actions = _bellman(P2, r, v, A, tau)
        d = tv - v
        lower.append(float(d.min()))
        upper.append(float(d.max()))
        new = tv - tv[ref]
        spans.append(float((new - v).max() - (new - v).min()))
        if upper[-1] - lower[-1] <= eps:
            converged = True
            break
        v = new
    k = len(lower)
    gain = (lower[-1] + upper[-1]) / 2.0
    h = (1.0 - tau) * v
    message = (
        f"span stopping rule met: gain {gain:.12g} within {(upper[-1] - lower[-1]) / 2:.3g} of "
        f"g*, greedy policy's gain within {upper[-1] - lower[-1]:.3g} (requested tol {eps:.3g})"
        if converged
        else f"max_iterations={max_iterations} reached: g* in [{lower[-1]:.12g}, {upper[-1]:.12g}]"
    )
    return SolveResult(
        policy=_one_hot(actions, A),
        values=h,
        q_values=None,
        n_iterations=k,
        converged=converged,
        message=message,
        history={
            "gain_lower": np.array(lower),
            "gain_upper": np.array(upper),
            "span": np.array(spans),
        },
        params=dict(
            method="relative_value_iteration",
            gain=gain,
            model=model,
            tol=eps,
            aperiodicity=tau,
            reference_state=ref,
            max_iterations=max_iterations,
        ),
    )


def _evaluate(P_pi: np.ndarray, r_pi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(g, h)`` solving ``(I - P) g = 0``, ``g + (I - P) h = r`` (``g`` is unique; ``h`` the
    least-squares solution, determined up to ``ker(I - P)``)."""
    S = r_pi.size
    I = np.eye(S)
    M = np.block([[I - P_pi, np.zeros((S, S))], [I, I - P_pi]])
    x, *_ = np.linalg.lstsq(M, np.concatenate([np.zeros(S), r_pi]), rcond=None)
    return x[:S], x[S:]


def average_reward_policy_iteration(
    mdp: TabularMDP,
    *,
    initial_policy: Any = None,
    reference_state: int = 0,
    max_iterations: int = 10_000,
) -> SolveResult:
    r"""Policy iteration for the optimal gain and bias (Puterman 1994, §8.6 and §9.2).

    Each step evaluates the deterministic policy exactly -- :math:`(g, h)` with
    :math:`(I-P_\pi)g = 0`, :math:`g + (I-P_\pi)h = r_\pi` (dense least squares, so policies
    with several recurrent classes are handled; ``O(S^3)``) -- then improves the gain,
    :math:`\arg\max_a P(s,a)^\top g`, and among the gain-maximising actions the bias,
    :math:`\arg\max_a r(s,a) + P(s,a)^\top h`, keeping the current action unless another is
    better by more than ``1e-10 * max|r|``.  It stops when no action changes: the policy is
    then gain-optimal (Puterman Thm 9.2.3).  The returned bias is re-evaluated for the final
    policy on its recurrent structure and normalised to ``h(reference_state) = 0``; for a
    unichain optimal policy it is *the* bias of the optimality equation up to that constant.
    ``mdp.gamma`` is ignored.

    Args:
        mdp: a communicating or unichain MDP (checked; ``ValueError`` otherwise).
        initial_policy: ``(S,)`` actions or ``(S, A)`` deterministic policy; default greedy
            w.r.t. the rewards.
        reference_state: the state with ``h = 0``.
        max_iterations: improvement steps before giving up.

    Returns:
        :class:`SolveResult` with ``values`` the bias ``(S,)``, ``params["gain"]`` the optimal
        gain (``params["gain_vector"]`` per state: constant for these models) and
        ``history["gain"]`` (the mean gain of each evaluated policy).
    """
    model = model_class(mdp)
    S, A = mdp.n_states, mdp.n_actions
    ref = as_int("reference_state", reference_state, minimum=0)
    if ref >= S:
        raise ValueError(f"reference_state must be < S = {S}, got {ref}")
    max_iterations = as_int("max_iterations", max_iterations)
    P3 = mdp.to_dense().transitions  # (S, A, S)
    R = mdp.rewards.astype(np.float64)
    if initial_policy is None:
        policy = R.argmax(axis=1)
    else:
        pi = np.asarray(initial_policy)
        checked = validate_policy(pi, S, A, name="initial_policy", action_mask=mdp.action_mask)
        if pi.ndim == 2 and not np.isin(checked, (0.0, 1.0)).all():
            raise ValueError("initial_policy must be deterministic (one-hot rows or actions)")
        policy = pi if pi.ndim == 1 else checked.argmax(axis=1)
    policy = np.asarray(policy, dtype=np.int64)
    threshold = 1e-10 * max(*(abs(x) for x in mdp.reward_range), float(np.finfo(np.float64).tiny))
    feasible = mdp.action_mask
    gains, converged = [], False
    rows = np.arange(S)
    for _ in range(max_iterations):
        g, h = _evaluate(P3[rows, policy], R[rows, policy])
        gains.append(float(g.mean()))
        pg = np.where(feasible, P3 @ g, -np.inf)  # (S, A); infeasible actions never chosen
        best_g = pg.max(axis=1)
        gain_ok = pg >= best_g[:, None] - threshold
        q = np.where(gain_ok, R + P3 @ h, -np.inf)
        current = q[rows, policy]
        keep = gain_ok[rows, policy] & (q.max(axis=1) <= current + threshold)
        new = np.where(keep, policy, q.argmax(axis=1))
        if np.array_equal(new, policy):
            converged = True
            break
        policy = new
    k = len(gains)
    h = h - h[ref]
    gain = float(g[ref])
    message = (
        f"policy stable after {k} evaluations: gain {gain:.12g} (spread over states "
        f"{float(g.max() - g.min()):.3g})"
        if converged
        else f"max_iterations={max_iterations} reached"
    )
    return SolveResult(
        policy=_one_hot(policy, A),
        values=h,
        q_values=None,
        n_iterations=k,
        converged=converged,
        message=message,
        history={"gain": np.array(gains)},
        params=dict(
            method="average_reward_policy_iteration",
            gain=gain,
            gain_vector=g,
            model=model,
            reference_state=ref,
            max_iterations=max_iterations,
        ),
    )
