r"""IWOCS: incremental worst-case search (Zouitine, Geist and Rachelson, arXiv:2410.06212,
Algorithm 1), tabular, with an exact worst-case search and its stopping certificate.

**Algorithm** (inputs: a set ``U`` of kernels, the nominal kernel ``T_0``, ``M`` iterations,
``epsilon``).  For ``i = 0, 1, ..., M``:

1. solve the static (non-robust) MDP of ``T_i``: :math:`Q^*_{T_i}` (value iteration);
2. :math:`Q_i(s, a) = \min_{j \le i} Q^*_{T_j}(s, a)` and :math:`\pi_i = \arg\max_a Q_i`;
3. worst-case search :math:`T_{i+1} \in \arg\min_{T \in U} V^{\pi_i}_T(\rho)`;
4. stop when :math:`Q_i(\rho, \pi_i) - V^{\pi_i}_{T_{i+1}}(\rho) \le \epsilon`, where
   :math:`Q_i(\rho, \pi_i) = \sum_s \rho(s) Q_i(s, \pi_i(s))` (``rho`` a point mass on the
   paper's ``s_0`` for the windy walk).

**Worst-case search.**  For sa-rectangular sets (balls, or a :class:`KernelSet` read as its
hull) the search is exact: for a stationary policy the dynamic adversary's best response is a
static kernel (Iyengar 2005, Lemma 3.3) and :func:`theory_rl.algorithms.robust.
robust_policy_evaluation` finds it.  The argmin is not unique off the policy's actions, and the
paper calls the choice a heuristic; two tie-break rules are implemented:

* ``tie_break="all_actions"``: :math:`T_{i+1}(\cdot|s,a) = \arg\min_{p \in U_{sa}} p\cdot
  V^{\pi_i}_U` for *every* action (the worst kernel of the robust value of ``pi_i``);
* ``tie_break="played_actions"``: the same on the actions ``pi_i`` plays, the nominal kernel
  elsewhere (an equally valid argmin of :math:`V^{\pi_i}_T(\rho)`).

With ``static=True`` a :class:`KernelSet` is read as a *static* (non-rectangular) set: the
search enumerates its kernels, :math:`T_{i+1} = P_{j^*}`, :math:`j^* = \arg\min_j
V^{\pi_i}_{P_j}(\rho)`.

**Guarantees.**

* Property 1 and 2 of the paper [P]: :math:`Q_i \ge Q^*_{\tilde T_i} \ge Q^*_U` with
  :math:`\tilde T_i` the rectangular hull of ``T_0..T_i``, and :math:`Q_{i+1} \le Q_i`; the
  sequence converges, "although not necessarily to :math:`Q^*_U`".  No rate is given.
* **Certificate** [D]: for sa-rectangular ``U`` and an exact search,
  :math:`V^{\pi_i}_{T_{i+1}}(\rho) \le V^*_U(\rho) \le Q_i(\rho, \pi_i)`: the lower bound is the
  robust value of ``pi_i``, the upper bound is Property 1 with :math:`\max_a Q_i(s, a) =
  Q_i(s, \pi_i(s))`.  So the stopping gap bounds ``pi_i``'s robust suboptimality at ``rho``.
  For static non-rectangular sets the lower bound still holds, the upper one need not.
* Stalling: if :math:`T_{i+1}` is already in :math:`\{T_0..T_i\}`, :math:`Q_{i+1} = Q_i` and
  the loop can make no progress; IWOCS stops with ``status="stalled"``.

**Cost.**  The paper counts :math:`O(M(n_S^2 n_A\log(1/\epsilon)/\log(1/\gamma) + c\,n_S n_A))`;
the exact search is a robust policy evaluation, which this count leaves out [D].
``history["backups"]`` counts Bellman backups (value-iteration sweeps of step 1 plus the
sweeps of the search, one per adversary policy-iteration step) for the paper's Figure 1.

.. warning:: Tabular IWOCS only (the paper's Algorithm 1 with exact solves); deep IWOCS (SAC,
   CMA-ES search) is not implemented.  No public code of the authors was found.

References:
    A. Zouitine, M. Geist, E. Rachelson. Solving robust MDPs as a sequence of static RL problems
    (IWOCS). arXiv:2410.06212, 2024.
    G. Iyengar. Robust dynamic programming. Math. Oper. Res. 30(2), 2005.
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import scipy.sparse as sp

from theory_rl._checks import as_int, as_positive
from theory_rl.algorithms import dp as _dp
from theory_rl.algorithms import robust as _robust
from theory_rl.algorithms._loop import Method, iterate
from theory_rl.bounds.mdp_constants import RoundoffWarning
from theory_rl.mdps.robust import KernelSet, UncertaintySet
from theory_rl.mdps.tabular import TabularMDP, _validated_rho
from theory_rl.result import SolveResult

__all__ = ["iwocs", "iwocs_step", "static_worst_case"]

Callback = Callable[[SolveResult], None]
TIE_BREAKS = ("all_actions", "played_actions")
IWOCS_METRICS = ("upper", "lower", "gap", "backups", "n_kernels")


def iwocs_step(q_min: np.ndarray, q_new: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    r"""Step 2 of Algorithm 1: :math:`Q_i = \min(Q_{i-1}, Q^*_{T_i})` and the greedy actions
    ``(S,)`` (lowest index on ties).  ``q_min``, ``q_new``: ``(S, A)``."""
    q = np.minimum(q_min, q_new)
    return q, q.argmax(axis=1)


def static_worst_case(
    mdp: TabularMDP, kernel_set: KernelSet, policy: Any, rho: Any = None
) -> tuple[int, np.ndarray]:
    r"""The static adversary against ``policy``: :math:`j^* = \arg\min_j V^\pi_{P_j}(\rho)`
    over the kernels of ``kernel_set`` (non-rectangular reading).

    Returns:
        ``(j*, values (m, S))`` with ``values[j] = V^pi_{P_j}``.
    """
    rho = mdp.initial_distribution if rho is None else _validated_rho(rho, mdp.n_states, "rho")
    values = np.stack([_dp.policy_evaluation(m, policy) for m in kernel_set.mdps(mdp)])
    return int(np.argmin(values @ rho)), values


def _same_kernel(a: Any, b: Any) -> bool:
    if sp.issparse(a) or sp.issparse(b):
        a = a.toarray() if sp.issparse(a) else np.asarray(a).reshape(a.shape[0] * a.shape[1], -1)
        b = b.toarray() if sp.issparse(b) else np.asarray(b).reshape(b.shape[0] * b.shape[1], -1)
    return bool(np.abs(np.asarray(a) - np.asarray(b)).max() <= 1e-12)


def iwocs(
    mdp: TabularMDP,
    uncertainty: UncertaintySet,
    *,
    tol: float = 1e-8,
    max_iterations: int = 50,
    tie_break: str = "all_actions",
    static: bool = False,
    rho: Any = None,
    solver_tol: float | None = None,
    callback: Callback | None = None,
) -> SolveResult:
    r"""IWOCS, Algorithm 1 of Zouitine, Geist and Rachelson (module docstring).

    Args:
        mdp: the nominal MDP (its kernel is ``T_0``; rewards and ``gamma`` shared by all).
        uncertainty: the set ``U``: any sa-rectangular set of :mod:`theory_rl.mdps.robust`
            (not the s-rectangular one), or a :class:`KernelSet` (hull, or static with
            ``static=True``).
        tol: the stopping gap ``epsilon`` of step 4.
        max_iterations: ``M``.
        tie_break: ``"all_actions"`` or ``"played_actions"`` (module docstring).
        static: read a :class:`KernelSet` as a static non-rectangular set.
        rho: ``(S,)`` weights of the stopping gap (default ``mdp.initial_distribution``).
        solver_tol: accuracy of the static solves (value iteration, which may then run into
            its float64 round-off floor, about ``1e-13`` of the value scale here; its warning is
            silenced) and of the robust policy evaluations; default ``1e-12`` of the value scale
            ``max|r|/(1-gamma)``, negligible against ``tol >= 1e-9``.
        callback: as in :func:`theory_rl.algorithms._loop.iterate`.

    Returns:
        :class:`SolveResult`: ``policy`` ``pi_i`` (one-hot), ``values`` the robust value of
        ``pi_i`` (:math:`V^{\pi_i}_{T_{i+1}}`), ``q_values`` ``Q_i``; ``converged`` True only
        when the certificate gap is ``<= tol``; ``params["status"]`` one of ``"certified"``,
        ``"stalled"`` (``T_{i+1}`` already in the set), ``"max_iterations"`` or ``"callback"``;
        ``params["kernels"]`` the kernels ``T_0..T_{i+1}``; history ``upper``
        (:math:`Q_i(\rho, \pi_i)`), ``lower`` (:math:`V^{\pi_i}_{T_{i+1}}(\rho)`), ``gap``,
        ``backups`` (cumulative Bellman backups) and ``n_kernels``.
    """
    if not isinstance(mdp, TabularMDP):
        raise ValueError(f"mdp must be a TabularMDP, got {type(mdp).__name__}")
    unc = _robust._check_uncertainty(uncertainty)
    if unc.rectangularity != "sa" or unc.kind.endswith("penalty"):
        raise ValueError(
            "uncertainty must be an sa-rectangular ball or a KernelSet for IWOCS (a penalty is "
            "not a set of kernels; the s-rectangular set needs randomised policies)"
        )
    if tie_break not in TIE_BREAKS:
        raise ValueError(f"tie_break must be one of {TIE_BREAKS}, got {tie_break!r}")
    if static and not isinstance(unc, KernelSet):
        raise ValueError("static=True needs a KernelSet (a finite static set)")
    tol = as_positive("tol", tol)
    M = as_int("max_iterations", max_iterations)
    rho = mdp.initial_distribution if rho is None else _validated_rho(rho, mdp.n_states, "rho")
    scale = max(_dp._value_scale(mdp), np.finfo(np.float64).tiny)
    solver_tol = 1e-12 * scale if solver_tol is None else as_positive("solver_tol", solver_tol)
    if isinstance(unc, KernelSet):
        unc.check_against(mdp)
    S, A = mdp.n_states, mdp.n_actions

    def solve_static(P: Any) -> tuple[np.ndarray, int]:
        m = _robust._static_mdp(mdp, P)
        with warnings.catch_warnings():  # the round-off floor is stated by solver_tol's docs
            warnings.simplefilter("ignore", RoundoffWarning)
            res = _dp.value_iteration(m, tol=solver_tol)
        return np.array(res.q_values), res.n_iterations

    def search(actions: np.ndarray) -> tuple[Any, np.ndarray, int]:
        """``(T_{i+1}, V^{pi_i}_{T_{i+1}}, backups)``."""
        pi = np.eye(A)[actions]
        if static:
            j, values = static_worst_case(mdp, unc, pi, rho)
            return unc.transitions[j], values[j], unc.n_kernels
        pe = _robust.robust_policy_evaluation(mdp, unc, pi, tol=solver_tol)
        v = np.array(pe.values)
        backups = pe.n_iterations + 1
        if tie_break == "all_actions":
            P = _robust._renormalised(_robust.worst_case_kernel(mdp, unc, v))
        else:
            played = pe.params["worst_kernel"]
            P = _mix_played(mdp, played, actions)
        return P, _dp.policy_evaluation(_robust._static_mdp(mdp, P), pi), backups

    def advance(state: dict[str, Any] | None, P: Any) -> dict[str, Any]:
        q_star, sweeps = solve_static(P)
        if state is None:
            q, kernels, backups = q_star, [P], sweeps
        else:
            q, kernels, backups = state["q"], state["kernels"] + [P], state["backups"] + sweeps
        q, actions = iwocs_step(q, q_star)
        nxt, v_pi, more = search(actions)
        upper = float(rho @ q[np.arange(S), actions])
        lower = float(rho @ v_pi)
        stalled = any(_same_kernel(nxt, K) for K in kernels)
        return dict(
            q=q,
            actions=actions,
            kernels=kernels,
            next=nxt,
            v=v_pi,
            upper=upper,
            lower=lower,
            backups=backups + more,
            stalled=stalled,
        )

    def init(rng: np.random.Generator) -> dict[str, Any]:
        return advance(None, mdp.transitions)

    def update(state: dict[str, Any], k: int) -> dict[str, Any]:
        return advance(state, state["next"])

    def measure(state: dict[str, Any], keys: frozenset[str]) -> dict[str, Any]:
        out = dict(
            upper=state["upper"],
            lower=state["lower"],
            gap=state["upper"] - state["lower"],
            backups=state["backups"],
            n_kernels=len(state["kernels"]),
        )
        return {k: out[k] for k in keys}

    def stop(state: dict[str, Any]) -> str | None:
        gap = state["upper"] - state["lower"]
        if gap <= tol:
            return (
                f"certified: gap Q_i(rho, pi_i) - V^pi_i_T(i+1)(rho) = {gap:.3g} <= tol = {tol:g}"
            )
        if state["stalled"]:
            return (
                f"stalled: T_(i+1) is already in the set of {len(state['kernels'])} kernels "
                f"(gap {gap:.3g} > tol = {tol:g})"
            )
        return None

    def output(state: dict[str, Any]) -> tuple[Any, Any, Any]:
        return np.eye(A)[state["actions"]], state["v"], state["q"]

    final: dict[str, Any] = {}

    def remember(state: dict[str, Any]) -> dict[str, Any]:
        final["state"] = state
        return state

    method = Method(
        name="iwocs",
        init=lambda rng: remember(init(rng)),
        update=lambda state, k: remember(update(state, k)),
        measure=measure,
        output=output,
        metrics=IWOCS_METRICS,
        stop=stop,
    )
    res = iterate(
        method,
        n_iterations=M,
        record=IWOCS_METRICS,
        callback=callback,
        params=dict(
            uncertainty=type(unc).__name__,
            tol=tol,
            tie_break=tie_break,
            static=static,
            max_iterations=M,
            solver_tol=solver_tol,
        ),
    )
    state = final["state"]
    if res.message.startswith("certified"):
        status = "certified"
    elif res.message.startswith("stalled"):
        status = "stalled"
    elif "callback" in res.message:
        status = "callback"
    else:
        status = "max_iterations"
    params = {
        **res.params,
        "tol": tol,
        "status": status,
        "kernels": state["kernels"] + [state["next"]],
    }
    return dataclasses.replace(res, converged=status == "certified", params=params)


def _mix_played(mdp: TabularMDP, worst: Any, actions: np.ndarray) -> Any:
    """The worst rows on the played actions ``(S,)``, the nominal rows elsewhere."""
    S, A = mdp.n_states, mdp.n_actions
    played = np.zeros(S * A, dtype=bool)
    played[np.arange(S) * A + actions] = True
    if mdp.is_sparse:
        W = sp.csr_array(worst)
        N = mdp.transitions
        keep = sp.diags(played.astype(float))
        return sp.csr_array(keep @ W + sp.diags((~played).astype(float)) @ N)
    P = np.array(mdp.transitions).reshape(S * A, S)
    P[played] = np.asarray(worst).reshape(S * A, S)[played]
    return P.reshape(S, A, S)
