r"""DRPG: double-loop robust policy gradient (Wang, Ho and Petrik, ICML 2023,
arXiv:2212.10439, Algorithm 1), reward form, with an exact inner solve.

**Update** (direct parameterisation, ``pi`` ``(S, A)`` with rows in the simplex; rewards are
maximised and nature minimises, the sign flip of the paper's cost minimisation):

.. math::

    p_t &\in \{p \in U : J(\pi_t, p) \le \min_{p'\in U} J(\pi_t, p') + \epsilon_t\},
    \qquad J(\pi, p) = \rho^\top V^{\pi}_{p}, \\
    \pi_{t+1} &= \mathrm{Proj}_{\Delta^S}\big(\pi_t + \alpha\,\nabla_\pi J(\pi_t, p_t)\big),
    \qquad \frac{\partial J}{\partial\pi(a|s)}
    = \frac{d^{\pi,p}_\rho(s)\, q^{\pi,p}(s,a)}{1-\gamma},

with :math:`d^{\pi,p}_\rho = (1-\gamma)\rho^\top(I-\gamma P_\pi)^{-1}` (the authors' code's
gradient), tolerances :math:`\epsilon_{t+1} = \gamma\epsilon_t` (the theorem asks
:math:`\epsilon_{t+1} \le \gamma\epsilon_t` and :math:`\epsilon_0 \le \sqrt T`), and the
**output rule** of the paper: :math:`\pi_{t^*}` with :math:`t^* = \arg\max_t J(\pi_t, p_t)`,
the iterate with the best inner value (the paper's smallest inner cost), not the last one.

**Inner solve.**  :func:`theory_rl.algorithms.robust.robust_policy_evaluation` with accuracy
:math:`\epsilon_t` (the adversary's policy iteration over the exact sort-based L1 rows, or any
other oracle of :mod:`theory_rl.algorithms.robust`), warm-started at the previous robust value.
The paper's code uses RVI-style LPs, RAAM sorting, or projected gradient ascent on ``p``.

**Guarantee** [T] (:mod:`theory_rl.bounds.wang2023`, Theorem 3.3): with
:math:`\alpha = \delta/\sqrt T`, :math:`\Phi(\pi_{t^*}) - \min\Phi \le \epsilon` after
:math:`T = O(\epsilon^{-4})` iterations, with constants that make the bound vacuous at test
sizes.  Kitamura et al. (2026) show the underlying gradient dominance fails for general compact
(e.g. finite) sets; it holds when the worst kernel or the worst Q-function is unique, so use
DRPG on convex sa- or s-rectangular sets.  The default step is the code's constant 0.05, not the
theorem's :math:`\delta/\sqrt T`.

Metrics: ``value`` :math:`J(\pi_t, p_t)`, ``robust_value`` :math:`\min_p J(\pi_t, p)` (exact,
accuracy ``1e-12`` of the value scale), ``gap`` :math:`V^*_U(\rho) -` ``robust_value`` (never
negative up to the reference's accuracy), ``best_gap`` (the gap of the output-rule iterate so
far), ``inner_tolerance`` :math:`\epsilon_t`, ``inner_steps`` (adversary policy-iteration steps).

References:
    Q. Wang, C. P. Ho, M. Petrik. Policy gradient in robust MDPs with global convergence
    guarantee. ICML 2023, arXiv:2212.10439; code: github.com/JerrisonWang/ICML-DRPG.
    T. Kitamura, A. Ghosh, A. Ayoub, T. D. Chu, C. Szepesvári. Revisiting subgradient dominance
    in robust MDPs. arXiv:2604.21177, 2026.
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from theory_rl._checks import as_int, as_positive
from theory_rl.algorithms import dp as _dp
from theory_rl.algorithms import robust as _robust
from theory_rl.algorithms._loop import Method, check_record, iterate
from theory_rl.algorithms.mirror import project_simplex
from theory_rl.bounds.mdp_constants import RoundoffWarning
from theory_rl.mdps.robust import UncertaintySet
from theory_rl.mdps.tabular import TabularMDP, _validated_rho, validate_policy
from theory_rl.result import SolveResult

__all__ = ["drpg", "drpg_gradient", "drpg_step"]

Callback = Callable[[SolveResult], None]
DRPG_METRICS = ("value", "robust_value", "gap", "best_gap", "inner_tolerance", "inner_steps")


def drpg_gradient(worst_mdp: TabularMDP, policy: np.ndarray, rho: Any = None) -> np.ndarray:
    r"""``(S, A)`` gradient :math:`d^{\pi,p}_\rho(s)q^{\pi,p}(s,a)/(1-\gamma)` of
    :math:`J(\pi, p) = \rho^\top V^\pi_p` in the direct parameterisation, for the kernel ``p``
    of ``worst_mdp`` (the policy-gradient theorem; Danskin at a unique worst case)."""
    v = _dp.policy_evaluation(worst_mdp, policy)
    q = _dp.q_values(worst_mdp, v)
    d = _dp.occupancy_measure(worst_mdp, policy, rho)
    q = np.where(worst_mdp.action_mask, q, 0.0)  # infeasible actions (q = -inf): 0
    return d[:, None] * q / (1.0 - worst_mdp.gamma)


def drpg_step(
    policy: np.ndarray, gradient: np.ndarray, step_size: float, action_mask: Any = None
) -> np.ndarray:
    r"""One outer step :math:`\mathrm{Proj}_{\Delta}(\pi + \alpha\nabla)` per state (onto the
    distributions over the feasible actions with an ``(S, A)`` ``action_mask``)."""
    return project_simplex(np.asarray(policy) + step_size * np.asarray(gradient), action_mask)


def drpg(
    mdp: TabularMDP,
    uncertainty: UncertaintySet,
    *,
    step_size: float = 0.05,
    eps0: float | None = None,
    n_iterations: int = 200,
    tol: float = 0.0,
    initial_policy: Any = None,
    rho: Any = None,
    record: Sequence[str] = DRPG_METRICS,
    callback: Callback | None = None,
    seed: Any = None,
    device: str | None = None,
    reference: Any = None,
) -> SolveResult:
    r"""DRPG (module docstring) for ``max_pi min_{p in U} rho^T V^pi_p``.

    Args:
        mdp: the nominal MDP.
        uncertainty: an sa- or s-rectangular set of :mod:`theory_rl.mdps.robust` (penalties
            are accepted too: ``J`` then includes the adversary's penalty).
        step_size: the constant outer step ``alpha > 0`` (the code's 0.05; the theorem's is
            :math:`\delta/\sqrt T`).
        eps0: first inner tolerance (default ``min(sqrt(n_iterations), max|r|/(1-gamma))``);
            then :math:`\epsilon_{t+1} = \gamma\epsilon_t`, floored at ``1e-12`` of the value
            scale.
        n_iterations: outer iterations ``T`` (fixed budget).
        tol: stop once ``gap <= tol`` (0: run the budget).
        initial_policy: ``(S, A)`` (default uniform over the feasible actions).
        rho: ``(S,)`` weights (default ``mdp.initial_distribution``).
        record: metrics to record (module docstring).
        callback, seed: as in :func:`theory_rl.algorithms._loop.iterate` (DRPG is
            deterministic; ``seed`` is echoed).
        device: ``"cpu"`` only (the inner solves use the numba oracles).
        reference: the robust optimum: a :class:`SolveResult` of
            :func:`~theory_rl.algorithms.robust.robust_value_iteration` or its ``(S,)`` values
            (``robust_value_iteration(mdp, uncertainty, rtol=1e-12)`` when omitted).

    Returns:
        :class:`SolveResult` whose ``policy`` is the output-rule iterate :math:`\pi_{t^*}`
        (``params["t_star"]``; ``params["last_policy"]`` the last iterate), ``values`` its
        exact robust value and ``q_values`` its robust action values.
    """
    if not isinstance(mdp, TabularMDP):
        raise ValueError(f"mdp must be a TabularMDP, got {type(mdp).__name__}")
    unc = _robust._check_uncertainty(uncertainty)
    if device not in (None, "cpu"):
        raise ValueError(
            f"device must be 'cpu' or None: drpg's inner solves use the numba oracles, got "
            f"{device!r}"
        )
    alpha = as_positive("step_size", step_size)
    K = as_int("n_iterations", n_iterations, minimum=0)
    tol = as_positive("tol", tol, allow_zero=True)
    record = check_record(record, DRPG_METRICS)
    rho = mdp.initial_distribution if rho is None else _validated_rho(rho, mdp.n_states, "rho")
    S, A, gamma = mdp.n_states, mdp.n_actions, mdp.gamma
    scale = max(_dp._value_scale(mdp), np.finfo(np.float64).tiny)
    eps0 = min(np.sqrt(max(K, 1)), scale) if eps0 is None else as_positive("eps0", eps0)
    floor = 1e-12 * scale
    mask = mdp.action_mask
    pi0 = (
        mask / mask.sum(axis=1, keepdims=True)
        if initial_policy is None
        else validate_policy(initial_policy, S, A, "initial_policy")
    )
    if reference is None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RoundoffWarning)
            v_star = np.array(_robust.robust_value_iteration(mdp, unc, rtol=1e-12).values)
    else:
        v_star = np.array(getattr(reference, "values", reference), dtype=np.float64)
        if v_star.shape != (S,):
            raise ValueError(f"reference must hold (S,) = ({S},) robust values")
    target = float(rho @ v_star)

    def inner(pi: np.ndarray, eps: float, v_init: np.ndarray | None) -> Any:
        return _robust.robust_policy_evaluation(
            mdp, unc, pi, tol=max(eps, floor), initial_values=v_init
        )

    def evaluate(pi: np.ndarray, t: int, v_init: np.ndarray | None, best: float) -> dict:
        eps = max(eps0 * gamma**t, floor)
        pe = inner(pi, eps, v_init)
        worst = pe.params["worst_mdp"]
        value = float(rho @ _dp.policy_evaluation(worst, pi))
        exact = inner(pi, floor, np.array(pe.values))
        robust_value = float(rho @ exact.values)
        return dict(
            pi=pi,
            t=t,
            eps=eps,
            pe=pe,
            worst=worst,
            value=value,
            robust_value=robust_value,
            exact=exact,
            steps=pe.n_iterations,
            v=np.array(pe.values),
        )

    def with_best(state: dict, prev: dict | None) -> dict:
        if prev is None or state["value"] > prev["best_value"]:
            state.update(
                best_value=state["value"],
                best_t=state["t"],
                best_pi=state["pi"],
                best_exact=state["exact"],
                best_robust=state["robust_value"],
            )
        else:
            state.update(
                {
                    k: prev[k]
                    for k in ("best_value", "best_t", "best_pi", "best_exact", "best_robust")
                }
            )
        return state

    def init(rng: np.random.Generator) -> dict:
        return with_best(evaluate(pi0, 0, None, -np.inf), None)

    def update(state: dict, k: int) -> dict:
        grad = drpg_gradient(state["worst"], state["pi"], rho)
        pi = drpg_step(state["pi"], grad, alpha, mask)
        return with_best(evaluate(pi, k + 1, state["v"], state["best_value"]), state)

    def measure(state: dict, keys: frozenset[str]) -> dict[str, Any]:
        out = dict(
            value=state["value"],
            robust_value=state["robust_value"],
            gap=target - state["robust_value"],
            best_gap=target - state["best_robust"],
            inner_tolerance=state["eps"],
            inner_steps=state["steps"],
        )
        return {key: out[key] for key in keys}

    final: dict[str, Any] = {}

    def output(state: dict) -> tuple[Any, Any, Any]:
        final["state"] = state
        ex = state["best_exact"]
        return state["best_pi"], np.array(ex.values), np.array(ex.q_values)

    method = Method(
        name="drpg",
        init=init,
        update=update,
        measure=measure,
        output=output,
        metrics=DRPG_METRICS,
        stop_metric="gap",
    )
    res = iterate(
        method,
        n_iterations=K,
        tol=tol,
        record=record,
        callback=callback,
        seed=seed,
        params=dict(
            uncertainty=type(unc).__name__,
            step_size=alpha,
            eps0=eps0,
            reference_value=target,
            device="cpu",
        ),
    )
    state = final["state"]
    return dataclasses.replace(
        res, params={**res.params, "t_star": int(state["best_t"]), "last_policy": state["pi"]}
    )
