r"""Soft (regularised) robust MDPs and risk-sensitive MDPs (Zhang, Hu & Li, ICLR 2024,
arXiv:2306.11626): the two Bellman routes, the policy gradient, RFZI; and R2 MDPs (Derman,
Geist & Mannor, NeurIPS 2021).

**Soft-robust side** (penalties :class:`~theory_rl.mdps.robust.KLPenalty`, ``TVPenalty``,
``Chi2Penalty``).  The adversary picks any kernel and pays :math:`\lambda D(p, \bar p)`; the
Bellman operators are those of :mod:`theory_rl.algorithms.robust` with these penalties,

.. math::  q(s,a) = r(s,a) + \gamma\,\sigma_{sa}(v),\quad
           \sigma_{sa}(v) = \min_{p\in\Delta} p\cdot v + \lambda_{sa} D(p,\bar p_{sa}),\quad
           (T^\pi v)(s) = \textstyle\sum_a\pi(a|s)q(s,a),\; (Tv)(s) = \max_a q(s,a),

solved by the numba inner oracles (KL: worst row :math:`p \propto \bar p\,e^{-v/\lambda}`, the
exponential tilt; ``lam = 1/beta`` in the paper's entropic parameterisation).

**Risk-sensitive side** (:class:`~theory_rl.mdps.soft_robust.EntropicRisk`, ``TVRisk``,
``Chi2Risk``): the same recursion with :math:`\sigma` computed by each risk measure's own
(optimised-certainty-equivalent) formula, :math:`\sigma(v) = \sup_\eta \eta -
\lambda\mathbb E_{\bar p}\phi^*((\eta - v)/\lambda)`, never through the oracles.  The
equivalence of the two routes is the per-row conjugate duality
:math:`\inf_p p\cdot v + \lambda D_\phi(p\|\bar p) = \sup_\eta(\cdot)` (Theorem 1 of the paper,
from convex analysis).

**Theorem 2 (when the equivalence holds)** [P, reviews: statement names only; U: exact form].
The paper's risk-sensitive MDP applies the risk to the next state *given* ``(s, a)`` and treats
the policy's randomisation risk-neutrally; then, for a penalty that is the (convex, lsc)
penalty function of the risk measure and is sa-rectangular, the soft-robust value equals the
risk-sensitive value for every policy and at the optimum.  A reviewer notes the condition
needs mixture quasi-concavity.  **Failing case** (measured, ``nesting="joint"``): Ruszczyński's
nesting applies the risk to the joint law :math:`\pi(a|s)\bar P(s'|s,a)` of the action and the
next state, :math:`V(s) = \gamma\sigma_{\pi\otimes\bar P}(r(s,a)/\gamma + V(s'))` (scaled so
that it is the paper's recursion for deterministic policies, by translation equivariance); for a
randomising policy and a nonlinear risk its value differs from the soft-robust one.  The claim
``soft_equivalence`` shows the gap.

**Policy gradient** (Theorem 3, [P code; N]): with :math:`P^\pi` the adversary's kernel at
:math:`V^\pi` and :math:`Q^\pi = r + \gamma\sigma(V^\pi)`,

.. math::  \frac{\partial V^\pi(\rho)}{\partial\pi(a|s)} = \frac{d^\pi_{\rho,P^\pi}(s)\,
           Q^\pi(s,a)}{1-\gamma},\qquad d^\pi_{\rho,P} = (1-\gamma)\rho^\top(I-\gamma P_\pi)^{-1},

(Danskin: :math:`V^\pi(\rho) = \min_P \rho^\top(I-\gamma P_\pi)^{-1}(r_\pi + \gamma
\mathrm{pen}_\pi(P))` with a unique minimiser for the strictly convex KL and chi-square
penalties), and projected gradient ascent :math:`\pi_{t+1} = \mathrm{Proj}_{\Delta}(\pi_t +
\eta\nabla V^{\pi_t}(\rho))`.  The sampled gradient draws trajectories from :math:`P^{\pi_t}`
(Remark 4: samples of the nominal kernel give a biased gradient): :math:`s \sim d^\pi_{\rho,
P^\pi}` by a geometric stopping time, ``a`` uniform, and an unbiased :math:`\hat Q(s, a)` as
the undiscounted sum of the adversary's rewards :math:`r + \gamma\,\mathrm{pen}` up to an
independent geometric time; :math:`\hat g(s,a) = |A|\hat Q/(1-\gamma)`.  The adversarial kernel
itself is computed exactly (a simulator of :math:`P^\pi` is assumed, as in the paper's remark).

**Rate** [D, conditional; the paper's Theorem 4 constants are U].  Gradient domination
(Lemma 2): :math:`V^*(\rho) - V^\pi(\rho) \le \frac{D}{1-\gamma}\max_{\bar\pi}(\bar\pi -
\pi)^\top\nabla V^\pi(\rho)` with :math:`D` a mismatch coefficient over adversarial kernels.
If :math:`V^\pi(\rho)` is :math:`\ell`-smooth on the product of simplices and
:math:`\eta\le 1/\ell`, the argument of Agarwal et al. (2021, Thm 5.3: ascent lemma + gradient
mapping + domination) gives :math:`\min_{t<T} V^* - V^{\pi_t} = O(T^{-1/2})`; projected ascent
with :math:`\eta \le 1/\ell` is monotone, so the last iterate obeys it.  This implementation
uses the experiment's :math:`\eta = 0.1`, not a theorem's step; the exponent ``-1/2`` is what the
claim compares the fitted slope with (:mod:`theory_rl.bounds.zhang2024`).

**RFZI** (tabular; [P code], with the greedy step corrected): with the KL penalty of weight
:math:`1/(\gamma\beta)` (:math:`\beta_{PG} = \gamma\beta`),

.. math::  Z_{k+1} = \arg\min_{f\in F}\sum_{(s,a,s')\in D}\big(f(s,a) - e^{-\gamma\max_{a'}
           [\beta r(s',a') - \log Z_k(s',a')]}\big)^2,\qquad Q_k = r - \tfrac1\beta\log Z_k,

with greedy policies on :math:`Q_K` (the authors' tabular ``get_policy`` uses
:math:`r - Z/\beta`, not this).  In the tabular class least squares is the per-pair mean, so
RFZI is soft-robust value iteration on the empirical model; ``function_class`` keeps the
interface for a linear class.  Its error bound (Theorem 5) is **U**; the derived bound of
:func:`theory_rl.bounds.zhang2024.rfzi_error_bound` [D] is
:math:`\|Q_K - Q^*\|_\infty \le \gamma^K\|Q_0 - Q^*\|_\infty + \frac{e^{\beta\gamma\,
\mathrm{sp}(V^*)} - 1}{\beta(1-\gamma)}\sqrt{\log(2SA/\delta)/(2n)}` w.p. ``1 - delta``
(Hoeffding at the fixed :math:`e^{-\beta\gamma V^*}` and the Lipschitz constant of ``log``
above :math:`e^{-\beta\gamma\,\mathrm{sp}(V^*)}`): the exponential sensitivity in ``beta``.

**R2 MDPs** [S/D]: for reward intervals :math:`|r - r_0| \le \alpha_{sa}` and kernels
:math:`P_0 + b`, :math:`\|b\|_p \le \beta_{sa}` (no simplex constraint), Hölder gives

.. math::  (T^\pi_U v)(s) = (T^\pi_0 v)(s) - \textstyle\sum_a\pi(a|s)(\alpha_{sa} +
           \gamma\beta_{sa}\|v\|_q),

implemented as a regulariser; :func:`r2_robust_bellman_operator` computes the left-hand side by
an inner LP (``p`` in {1, inf}, HiGHS) or convex solve (cvxpy).  The operator is a contraction
of modulus :math:`\gamma(1 + \max\beta\,S^{1/q})` [D], which must be ``< 1``.

References:
    R. Zhang, Y. Hu, N. Li. Soft robust MDPs and risk-sensitive MDPs: equivalence, policy
    gradient, and sample complexity. ICLR 2024, arXiv:2306.11626; code
    github.com/huyangsh/risk-sensitive-RL_NeurIPS-2024 (commit 482c829, ``toy/``).
    E. Derman, M. Geist, S. Mannor. Twice regularized MDPs and the equivalence between
    robustness and regularization. NeurIPS 2021, arXiv:2110.06267.
    A. Ruszczyński. Risk-averse dynamic programming for Markov decision processes. Math.
    Program. 125, 2010.
    A. Agarwal, S. Kakade, J. Lee, G. Mahajan. On the theory of policy gradient methods. JMLR
    22, 2021.
"""

from __future__ import annotations

import dataclasses
import math
import warnings
import weakref
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import scipy.sparse as sp

from theory_rl._checks import as_int, as_positive
from theory_rl.algorithms import dp as _dp
from theory_rl.algorithms import robust as _robust
from theory_rl.algorithms._loop import Method, check_record, iterate
from theory_rl.algorithms.mirror import policy_average, project_simplex
from theory_rl.bounds.mdp_constants import RoundoffWarning
from theory_rl.mdps.robust import Chi2Penalty, KLPenalty, TVPenalty, UncertaintySet
from theory_rl.mdps.soft_robust import R2Ball, RiskMeasure, TransitionDataset
from theory_rl.mdps.tabular import TabularMDP, _validated_rho, validate_policy
from theory_rl.result import SolveResult

__all__ = [
    "PG_METRICS",
    "RFZI_METRICS",
    "TabularClass",
    "r2_bellman_operator",
    "r2_contraction_modulus",
    "r2_robust_bellman_operator",
    "r2_value_iteration",
    "rfzi",
    "rfzi_penalty",
    "rfzi_step",
    "risk_bellman_operator",
    "risk_sensitive_value_iteration",
    "soft_robust_bellman_operator",
    "soft_robust_pg_gradient",
    "soft_robust_pg_step",
    "soft_robust_policy_evaluation",
    "soft_robust_policy_gradient",
    "soft_robust_optimum",
    "soft_robust_value_iteration",
]

Callback = Callable[[SolveResult], None]
PENALTIES = (KLPenalty, TVPenalty, Chi2Penalty)
PG_METRICS = ("value", "gap", "gradient_norm", "evaluation_residual", "samples")
RFZI_METRICS = ("z_change", "z_error", "q_error")


def _check_penalty(penalty: Any) -> UncertaintySet:
    if not isinstance(penalty, PENALTIES):
        raise ValueError(
            "penalty must be a KLPenalty, TVPenalty or Chi2Penalty of theory_rl.mdps.robust, "
            f"got {type(penalty).__name__}"
        )
    return penalty


def _check_mdp(mdp: Any) -> TabularMDP:
    if not isinstance(mdp, TabularMDP):
        raise ValueError(f"mdp must be a TabularMDP, got {type(mdp).__name__}")
    return mdp


def _dense2(mdp: TabularMDP) -> np.ndarray:
    """``(S*A, S)`` dense rows (infeasible actions' rows as self-loops: ``_nominal_rows``)."""
    P2 = _robust._nominal_rows(mdp)
    return np.asarray(P2.toarray() if sp.issparse(P2) else P2, dtype=np.float64)


# --------------------------------------------------------------------------------------------
# soft-robust operators (the robust family's oracles)
# --------------------------------------------------------------------------------------------
#: When False, the KL sweep uses the robust family's generic oracle path (tests of that path).
USE_KL_KERNEL = True
_KL_SWEEPS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


class _KLSweep:
    """The fused KL sweep of :mod:`theory_rl.kernels.soft_robust` for one ``(mdp, penalty)``;
    parallel as :mod:`theory_rl.algorithms.dp` chooses (``mdp.nnz >= PARALLEL_MIN_NNZ`` and more
    than one numba thread)."""

    def __init__(self, mdp: TabularMDP, penalty: KLPenalty):
        import numba

        from theory_rl.kernels import soft_robust as _ks

        P = sp.csr_array(_robust._nominal_rows(mdp))  # infeasible rows: self-loops
        # writable C copies of fixed dtypes: one compiled signature per kernel (read-only
        # arrays from the frozen MDP would compile another)
        self.args = (
            np.array(P.indptr, dtype=np.uint64),
            np.array(P.indices, dtype=np.uint32),
            np.array(P.data, dtype=np.float64),
            np.array(mdp.rewards, dtype=np.float64).ravel(),
            float(mdp.gamma),
            np.array(1.0 / penalty.radius_per_row(mdp), dtype=np.float64),
        )
        parallel = numba.get_num_threads() > 1 and P.nnz >= _dp.PARALLEL_MIN_NNZ
        self.kernel = _ks._csr_kl_sweep_parallel if parallel else _ks._csr_kl_sweep_serial
        self.shared = _ks._csr_kl_shared_parallel if parallel else _ks._csr_kl_shared_serial
        self.rows_kernel = _ks._csr_kl_rows_parallel if parallel else _ks._csr_kl_rows_serial
        self.mdp_shape = (mdp.n_states, mdp.n_actions, mdp.is_sparse)
        lam = penalty.radius_per_row(mdp)
        self.lam = float(lam[0]) if np.all(lam == lam[0]) else None
        self.all = np.full(mdp.n_states, -1, dtype=np.int64)

    def __call__(self, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        out_v = np.empty(v.shape[0])
        out_a = np.empty(v.shape[0], dtype=np.int64)
        if self.lam is None:
            self.kernel(*self.args, v, self.all, out_v, out_a)
        else:
            vmin = float(v.min())
            w = np.exp(-(v - vmin) / self.lam)
            indptr, indices, data, r, gamma, inv_lam = self.args
            self.shared(
                indptr,
                indices,
                data,
                r,
                gamma,
                self.lam,
                w,
                vmin,
                inv_lam,
                v,
                self.all,
                out_v,
                out_a,
            )
        return out_v, out_a

    def rows(self, v: np.ndarray) -> tuple[np.ndarray, Any]:
        r"""``(q (S, A), worst kernel in the MDP's format)`` at ``v``: every row's
        :math:`r + \gamma\sigma` and its exponential tilt."""
        indptr, indices, data, r, gamma, inv_lam = self.args
        sigma = np.empty(r.shape[0])
        out = np.empty_like(data)
        self.rows_kernel(indptr, indices, data, inv_lam, np.array(v, dtype=np.float64), sigma, out)
        S, A, sparse = self.mdp_shape
        P = sp.csr_array((out, indices.astype(np.int64), indptr.astype(np.int64)), shape=(S * A, S))
        worst = P if sparse else P.toarray().reshape(S, A, S)
        return (r + gamma * sigma).reshape(S, A), worst


def _kl_sweep(mdp: TabularMDP, penalty: KLPenalty) -> _KLSweep:
    cache = _KL_SWEEPS.setdefault(mdp, {})
    entry = cache.get(id(penalty))
    if entry is None or entry[0] is not penalty:
        entry = (penalty, _KLSweep(mdp, penalty))
        cache[id(penalty)] = entry
    return entry[1]


def soft_robust_bellman_operator(
    mdp: TabularMDP, penalty: UncertaintySet, values: Any, *, policy: Any = None
) -> np.ndarray:
    r""":math:`(Tv)(s)` or :math:`(T^\pi v)(s)` of the soft-robust MDP, ``(S,)`` (module
    docstring).  :math:`Tv` for the KL penalty on the CPU runs the numba sweeps of
    :mod:`theory_rl.kernels.soft_robust` (one shared weight: ``S`` exponentials per sweep and a
    sparse dot product per row; per-row weights: one pass, one ``exp`` per stored entry);
    everything else the robust family's oracles."""
    pen = _check_penalty(penalty)
    if policy is None and isinstance(pen, KLPenalty) and USE_KL_KERNEL:
        _check_mdp(mdp)
        v = _robust._values(values, mdp.n_states)
        return _kl_sweep(mdp, pen)(v)[0]
    return _robust.robust_bellman_operator(mdp, pen, values, policy=policy)


def soft_robust_value_iteration(
    mdp: TabularMDP,
    penalty: UncertaintySet,
    *,
    tol: float | None = None,
    rtol: float | None = None,
    max_iterations: int = 100_000,
    initial_values: Any = None,
    device: str | None = None,
    callback: Callback | None = None,
) -> SolveResult:
    r"""Optimal soft-robust values :math:`V^* = TV^*` by value iteration with the span rule.

    Arguments, stopping rule and guarantee as
    :func:`theory_rl.algorithms.robust.robust_value_iteration` (a penalty instead of a ball;
    for the KL penalty on the CPU the sweeps run the fused kernel of
    :func:`soft_robust_bellman_operator`);
    ``params["worst_kernel"]`` is the adversary's kernel at the returned values (KL: the
    exponential tilt :math:`\bar p\,e^{-V^*/\lambda}` normalised).

    Example:
        >>> import numpy as np
        >>> from theory_rl.mdps import TabularMDP
        >>> from theory_rl.mdps.robust import KLPenalty
        >>> mdp = TabularMDP(np.full((2, 1, 2), 0.5), np.array([[1.0], [0.0]]), gamma=0.5)
        >>> res = soft_robust_value_iteration(mdp, KLPenalty(1.0), tol=1e-12)
        >>> bool(res.values[0] - res.values[1] == 1.0)
        True
    """
    mdp, pen = _check_mdp(mdp), _check_penalty(penalty)
    if isinstance(pen, KLPenalty) and USE_KL_KERNEL and device in (None, "cpu"):
        return _kl_value_iteration(mdp, pen, tol, rtol, max_iterations, initial_values, callback)
    return _robust._robust_iterate(
        mdp,
        pen,
        name="soft_robust_value_iteration",
        m=0,
        evaluation="sweeps",
        tol=tol,
        rtol=rtol,
        max_iterations=max_iterations,
        initial_values=initial_values,
        device=device,
        callback=callback,
    )


def _span_value_iteration(
    name: str,
    apply: Callable[[np.ndarray], dict[str, Any]],
    finish: Callable[[dict[str, Any], np.ndarray], tuple[Any, Any, Any]],
    *,
    n_states: int,
    min_reward: float,
    gamma: float,
    initial_values: Any,
    eps: float,
    max_iterations: int,
    callback: Callback | None,
    params: dict[str, Any],
    metrics: tuple[str, ...] = ("residual", "span", "error_bound"),
) -> SolveResult:
    r"""Value iteration :math:`v_{k+1} = Tv_k` with the span rule of
    :func:`theory_rl.algorithms.robust.robust_value_iteration` for a monotone,
    translation-equivariant gamma-contraction ``T``.

    ``apply(v)`` returns ``dict(tv=Tv, ...)`` (extra entries stay in the state); the run starts
    at ``initial_values`` (default :math:`\min r/(1-\gamma)`), stops once
    :math:`\gamma\,\mathrm{sp}(Tv - v)/(1-\gamma) \le` ``eps`` and hands ``finish`` the last
    state and the midpoint :math:`Tv + \gamma(\min + \max)(Tv - v)/(2(1-\gamma))`.  History:
    ``metrics`` among ``residual``, ``span``, ``error_bound`` and ``policy_sweeps`` (always 0).
    """
    factor = gamma / (1.0 - gamma)
    if initial_values is None:
        v0 = np.full(n_states, min_reward / (1.0 - gamma))
    else:
        v0 = _robust._values(initial_values, n_states, "initial_values")

    def step(v: np.ndarray) -> dict[str, Any]:
        state = apply(v)
        d = state["tv"] - v
        return dict(state, v=v, lo=float(d.min()), hi=float(d.max()))

    def measure(state: dict[str, Any], keys: frozenset[str]) -> dict[str, Any]:
        lo, hi = state["lo"], state["hi"]
        out = {
            "residual": max(-lo, hi),
            "span": hi - lo,
            "error_bound": factor * (hi - lo),
            "policy_sweeps": 0,
        }
        return {k: out[k] for k in keys}

    def output(state: dict[str, Any]) -> tuple[Any, Any, Any]:
        return finish(state, state["tv"] + factor * (state["lo"] + state["hi"]) / 2.0)

    method = Method(
        name=name,
        init=lambda rng: step(v0),
        update=lambda state, k: step(state["tv"]),
        measure=measure,
        output=output,
        metrics=metrics,
        stop_metric="error_bound",
    )
    return iterate(
        method,
        n_iterations=max_iterations,
        tol=eps,
        record=metrics,
        callback=callback,
        params=params,
    )


def _kl_value_iteration(
    mdp: TabularMDP,
    pen: KLPenalty,
    tol: Any,
    rtol: Any,
    max_iterations: int,
    initial_values: Any,
    callback: Callback | None,
) -> SolveResult:
    """Soft-robust VI for the KL penalty on the fused sweep, with the span rule and output of
    :func:`theory_rl.algorithms.robust.robust_value_iteration` (same guarantee)."""
    sweep = _kl_sweep(mdp, pen)
    eps, roundoff = _dp._target_accuracy(mdp, tol, rtol, _dp.DEFAULT_RTOL, 0.5, stacklevel=4)
    K = as_int("max_iterations", max_iterations)

    def apply(v: np.ndarray) -> dict[str, Any]:
        tv, actions = sweep(v)
        return dict(tv=tv, actions=actions)

    final: dict[str, Any] = {}

    def finish(state: dict[str, Any], v: np.ndarray) -> tuple[Any, Any, Any]:
        q, final["worst"] = sweep.rows(v)
        return np.eye(mdp.n_actions)[state["actions"]], v, q

    res = _span_value_iteration(
        "soft_robust_value_iteration",
        apply,
        finish,
        n_states=mdp.n_states,
        min_reward=mdp.reward_range[0],
        gamma=mdp.gamma,
        initial_values=initial_values,
        eps=eps,
        max_iterations=K,
        callback=callback,
        params=dict(
            uncertainty="KLPenalty",
            m=0,
            evaluation="sweeps",
            rtol=rtol if rtol is not None or tol is not None else _dp.DEFAULT_RTOL,
            roundoff_bound=roundoff,
            max_iterations=K,
            device="cpu",
        ),
        metrics=("residual", "span", "error_bound", "policy_sweeps"),
    )
    extra = {"worst_kernel": final["worst"]}
    msg = res.message
    if res.converged:
        msg = (
            f"span stopping rule met: policy within {res.history['error_bound'][-1]:.3g} + "
            f"round-off bound {roundoff:.3g} of the soft-robust optimum, values within "
            f"{res.history['error_bound'][-1] / 2:.3g} (+ round-off) of V* (requested tol "
            f"{eps:.3g})"
        )
    return dataclasses.replace(res, message=msg, params={**res.params, **extra})


def soft_robust_policy_evaluation(
    mdp: TabularMDP,
    penalty: UncertaintySet,
    policy: Any,
    *,
    tol: float | None = None,
    max_iterations: int = 1000,
    initial_values: Any = None,
    callback: Callback | None = None,
) -> SolveResult:
    r"""The soft-robust value :math:`V^\pi = T^\pi V^\pi` of a fixed policy and the adversary's
    kernel :math:`P^\pi`, by the adversary's policy iteration
    (:func:`theory_rl.algorithms.robust.robust_policy_evaluation`): ``params["worst_kernel"]``
    is :math:`P^\pi` and ``params["worst_mdp"]`` the nominal MDP with :math:`P^\pi` and the
    rewards :math:`r + \gamma\,\mathrm{pen}`, whose ordinary :math:`V^\pi` is the returned
    value."""
    return _robust.robust_policy_evaluation(
        _check_mdp(mdp),
        _check_penalty(penalty),
        policy,
        tol=tol,
        max_iterations=max_iterations,
        initial_values=initial_values,
        callback=callback,
    )


# --------------------------------------------------------------------------------------------
# risk-sensitive side (independent route)
# --------------------------------------------------------------------------------------------
def _check_risk(risk: Any) -> RiskMeasure:
    if not isinstance(risk, RiskMeasure):
        raise ValueError(
            "risk must be a risk measure of theory_rl.mdps.soft_robust (EntropicRisk, TVRisk, "
            f"Chi2Risk), got {type(risk).__name__}"
        )
    return risk


class _RiskOperator:
    """Dense rows and parameters of ``(mdp, risk)``; ``sigma(v)`` by the risk's formula."""

    def __init__(self, mdp: TabularMDP, risk: RiskMeasure):
        self.mdp, self.risk = _check_mdp(mdp), _check_risk(risk)
        self.S, self.A, self.gamma = mdp.n_states, mdp.n_actions, mdp.gamma
        self.P2 = _dense2(mdp)
        self.r = np.asarray(mdp.rewards, dtype=np.float64)
        self.lam = risk.weights_per_row(self.S * self.A, (self.S, self.A))

    def q(self, v: np.ndarray) -> np.ndarray:
        sigma = self.risk.evaluate(self.P2, v, self.lam)
        return self.r + self.gamma * sigma.reshape(self.S, self.A)

    def apply(self, v: np.ndarray, policy: np.ndarray | None, nesting: str) -> np.ndarray:
        if policy is None:
            return self.q(v).max(axis=1)
        if nesting == "action":  # (infeasible actions: q = -inf, probability 0)
            return policy_average(policy, self.q(v))
        # joint (Markov risk): gamma sigma over (a, s') ~ pi(a|s) P(s'|s, a) of r/gamma + v
        S, A, g = self.S, self.A, self.gamma
        w = (policy[:, :, None] * self.P2.reshape(S, A, S)).reshape(S, A * S)
        y = (self.r[:, :, None] / g + v[None, None, :]).reshape(S, A * S)
        y = np.where(w > 0, y, 0.0)  # (infeasible actions: reward -inf, weight 0)
        lam = self.lam.reshape(S, A)
        if not np.all(lam == lam[0, 0]):
            raise ValueError("nesting='joint' needs a scalar risk parameter")
        if self.risk.support == "full":
            raise ValueError("nesting='joint' needs support='nominal' (the joint law's support)")
        return g * self.risk.evaluate(w, y, np.full(S, lam[0, 0]))


def risk_bellman_operator(
    mdp: TabularMDP, risk: RiskMeasure, values: Any, *, policy: Any = None, nesting: str = "action"
) -> np.ndarray:
    r"""The risk-sensitive Bellman operator, ``(S,)``: :math:`\max_a r + \gamma\sigma_{sa}(v)`,
    or with ``policy`` :math:`\sum_a\pi(a|s)(r + \gamma\sigma_{sa}(v))` (``nesting="action"``,
    the paper's) or :math:`\gamma\sigma_{\pi\otimes\bar P}(r/\gamma + v)` (``nesting="joint"``,
    a Markov risk measure in Ruszczyński's nesting, scaled so that it agrees with the paper's
    for deterministic policies; module docstring)."""
    op = _RiskOperator(mdp, risk)
    v = _robust._values(values, op.S)
    pi = None if policy is None else validate_policy(policy, op.S, op.A)
    _check_nesting(nesting, pi, op.gamma)
    return op.apply(v, pi, nesting)


def _check_nesting(nesting: str, policy: Any, gamma: float) -> None:
    if nesting not in ("action", "joint"):
        raise ValueError(f"nesting must be 'action' or 'joint', got {nesting!r}")
    if nesting == "joint" and policy is None:
        raise ValueError("nesting='joint' is defined for a given policy only")
    if nesting == "joint" and gamma == 0:
        raise ValueError("nesting='joint' needs gamma > 0")


def risk_sensitive_value_iteration(
    mdp: TabularMDP,
    risk: RiskMeasure,
    *,
    policy: Any = None,
    nesting: str = "action",
    tol: float | None = None,
    rtol: float | None = None,
    max_iterations: int = 100_000,
    initial_values: Any = None,
    callback: Callback | None = None,
) -> SolveResult:
    r"""Risk-sensitive value iteration :math:`v_{k+1} = Tv_k` (or :math:`T^\pi v_k` with
    ``policy``), ``sigma`` by the risk measure's own formula.

    Both operators are monotone, translation-equivariant (:math:`T(v + c) = Tv + \gamma c`)
    gamma-contractions, so the span rule of :func:`~theory_rl.algorithms.dp.value_iteration`
    applies: the run stops at :math:`\gamma\,\mathrm{sp}(Tv - v)/(1-\gamma) \le \epsilon` and
    returns the midpoint :math:`Tv + \gamma(\min + \max)(Tv - v)/(2(1-\gamma))`, within
    :math:`\epsilon/2` of the fixed point (plus round-off).

    Args:
        mdp: nominal MDP (dense or CSR; rows are densified).
        risk: :class:`~theory_rl.mdps.soft_robust.EntropicRisk`, ``TVRisk`` or ``Chi2Risk``.
        policy: evaluate this policy instead of optimising.
        nesting: ``"action"`` (risk given ``(s, a)``) or ``"joint"`` (module docstring).
        tol, rtol, max_iterations, initial_values, callback: as
            :func:`theory_rl.algorithms.robust.robust_value_iteration`.

    Returns:
        :class:`SolveResult` with history ``residual``, ``span``, ``error_bound``.
    """
    op = _RiskOperator(mdp, risk)
    pi = None if policy is None else validate_policy(policy, op.S, op.A)
    _check_nesting(nesting, pi, op.gamma)
    eps, roundoff = _dp._target_accuracy(mdp, tol, rtol, _dp.DEFAULT_RTOL, 0.5, stacklevel=3)
    K = as_int("max_iterations", max_iterations)

    def finish(state: dict[str, Any], v: np.ndarray) -> tuple[Any, Any, Any]:
        q = op.q(v)
        policy_out = np.eye(op.A)[q.argmax(axis=1)] if pi is None else pi
        return policy_out, v, q

    return _span_value_iteration(
        "risk_sensitive_value_iteration",
        lambda v: dict(tv=op.apply(v, pi, nesting)),
        finish,
        n_states=op.S,
        min_reward=mdp.reward_range[0],
        gamma=op.gamma,
        initial_values=initial_values,
        eps=eps,
        max_iterations=K,
        callback=callback,
        params=dict(
            risk=type(risk).__name__,
            nesting=nesting,
            evaluation=pi is not None,
            roundoff_bound=roundoff,
            max_iterations=K,
        ),
    )


# --------------------------------------------------------------------------------------------
# policy gradient
# --------------------------------------------------------------------------------------------
class _Batch:
    """``B`` soft-robust problems of one shape: stacked rows for one oracle call per sweep."""

    def __init__(self, mdps: list[TabularMDP], penalties: list[UncertaintySet], rho: Any):
        first = mdps[0]
        self.B, self.S, self.A = len(mdps), first.n_states, first.n_actions
        kinds = {type(p) for p in penalties}
        supports = {p.support for p in penalties}
        if len(kinds) != 1 or len(supports) != 1:
            raise ValueError("penalty: a batch needs penalties of one class (and one support)")
        for i, m in enumerate(mdps):
            if (m.n_states, m.n_actions) != (self.S, self.A):
                raise ValueError(f"mdp[{i}] has another (S, A) than mdp[0]")
        self.P2 = np.stack([_dense2(m) for m in mdps])  # (B, SA, S)
        self.mask = np.stack([m.action_mask for m in mdps])  # (B, S, A) feasible actions
        self.r = np.stack([np.asarray(m.rewards, dtype=np.float64).ravel() for m in mdps])
        self.gamma = np.array([m.gamma for m in mdps])
        lam = np.concatenate([p.radius_per_row(m) for p, m in zip(penalties, mdps, strict=True)])
        self.rows = dataclasses.replace(penalties[0], lam=lam)
        self.flat = self.P2.reshape(-1, self.S)
        if rho is None:
            self.rho = np.stack([m.initial_distribution for m in mdps])
        else:
            self.rho = np.broadcast_to(_validated_rho(rho, self.S, "rho"), (self.B, self.S))
        self.scale = max(max(_dp._value_scale(m) for m in mdps), np.finfo(float).tiny)

    def sigma(self, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(sigma (B, SA), worst (B, SA, S))`` at values ``v`` ``(B, S)``."""
        SA = self.S * self.A
        targets = np.repeat(v, SA, axis=0)
        sigma, worst = _robust.inner_rows(self.rows, self.flat, targets)
        worst = worst / worst.sum(axis=1, keepdims=True)
        return sigma.reshape(self.B, SA), worst.reshape(self.B, SA, self.S)

    def evaluate(self, pi: np.ndarray, v: np.ndarray, max_steps: int = 200) -> dict[str, Any]:
        """Soft-robust :math:`V^\\pi` of ``pi`` ``(B, S, A)`` by the adversary's policy
        iteration from ``v`` (Newton's method on the concave :math:`T^\\pi`), until the
        residual stops decreasing (round-off); returns v, q, worst kernel, adversary rewards
        and the residual."""
        B, S, A, g = self.B, self.S, self.A, self.gamma
        eye = np.eye(S)
        previous = np.inf
        for _ in range(max_steps):
            sigma, worst = self.sigma(v)
            q = (self.r + g[:, None] * sigma).reshape(B, S, A)
            tv = policy_average(pi, q)
            residual = float(np.abs(tv - v).max())
            # Newton converges quadratically: stop at round-off or when it stops improving
            if residual <= 1e-15 * self.scale or (
                residual <= 1e-9 * self.scale and residual >= previous
            ):
                break
            previous = residual
            pen = np.maximum(sigma - np.einsum("bks,bs->bk", worst, v), 0.0)
            Ppi = np.einsum("bsa,bsat->bst", pi, worst.reshape(B, S, A, S))
            rpi = policy_average(pi, (self.r + g[:, None] * pen).reshape(B, S, A))
            v_new = np.linalg.solve(eye - g[:, None, None] * Ppi, rpi[..., None])[..., 0]
            if float(np.abs(v_new - v).max()) == 0.0:
                break
            v = v_new
        pen = np.maximum(sigma - np.einsum("bks,bs->bk", worst, v), 0.0)
        return dict(v=v, q=q, worst=worst, pen=pen, residual=residual)

    def gradient(self, pi: np.ndarray, ev: dict[str, Any]) -> np.ndarray:
        """Exact :math:`d^\\pi(s)Q^\\pi(s,a)/(1-\\gamma)` ``(B, S, A)`` from :meth:`evaluate`'s
        result (0 on infeasible actions, whose ``q`` is ``-inf``)."""
        d = self.occupancy(pi, ev["worst"])
        q = np.where(self.mask, ev["q"], 0.0)
        return d[..., None] * q / (1.0 - self.gamma)[:, None, None]

    def occupancy(self, pi: np.ndarray, worst: np.ndarray) -> np.ndarray:
        """:math:`d^\\pi_{\\rho,P}` ``(B, S)`` under the kernels ``worst`` ``(B, SA, S)``."""
        B, S, A, g = self.B, self.S, self.A, self.gamma
        Ppi = np.einsum("bsa,bsat->bst", pi, worst.reshape(B, S, A, S))
        M = np.eye(S) - g[:, None, None] * Ppi
        x = np.linalg.solve(np.swapaxes(M, 1, 2), self.rho[..., None])[..., 0]
        return (1.0 - g)[:, None] * x


def _pg_problems(
    mdp: Any, penalty: Any, eta: Any
) -> tuple[list[TabularMDP], list[UncertaintySet], np.ndarray, bool]:
    mdps = list(mdp) if isinstance(mdp, (list, tuple)) else [mdp]
    pens = list(penalty) if isinstance(penalty, (list, tuple)) else [penalty]
    for m in mdps:
        _check_mdp(m)
    for p in pens:
        _check_penalty(p)
    eta_arr = np.asarray(eta, dtype=np.float64) if not isinstance(eta, str) else None
    if (
        eta_arr is None
        or eta_arr.ndim > 1
        or not np.all(np.isfinite(eta_arr))
        or np.any(eta_arr <= 0)
    ):
        raise ValueError(f"eta must be a positive finite scalar or (B,) array, got {eta!r}")
    sizes = {len(mdps), len(pens), eta_arr.size if eta_arr.ndim else 1} - {1}
    if len(sizes) > 1:
        raise ValueError(f"mdp, penalty and eta give different batch sizes {sorted(sizes)}")
    B = sizes.pop() if sizes else 1
    batched = (
        isinstance(mdp, (list, tuple)) or isinstance(penalty, (list, tuple)) or eta_arr.ndim == 1
    )
    mdps = mdps * B if len(mdps) == 1 else mdps
    pens = pens * B if len(pens) == 1 else pens
    return mdps, pens, np.broadcast_to(eta_arr, (B,)).copy(), batched


def soft_robust_pg_gradient(
    mdp: TabularMDP, penalty: UncertaintySet, policy: Any, *, rho: Any = None
) -> np.ndarray:
    r"""Exact :math:`\partial V^\pi(\rho)/\partial\pi(a|s) = d^\pi_{\rho,P^\pi}(s)Q^\pi(s,a)/
    (1-\gamma)`, ``(S, A)`` (module docstring)."""
    batch = _Batch([_check_mdp(mdp)], [_check_penalty(penalty)], rho)
    pi = validate_policy(policy, batch.S, batch.A)[None]
    v0 = np.array([_dp.policy_evaluation(mdp, pi[0])])
    return batch.gradient(pi, batch.evaluate(pi, v0))[0]


def soft_robust_pg_step(
    policy: Any, gradient: Any, *, eta: Any, action_mask: Any = None
) -> np.ndarray:
    r"""One projected step :math:`\mathrm{Proj}_\Delta(\pi + \eta\nabla)` per state (onto the
    distributions over the feasible actions with an ``(S, A)`` ``action_mask``)."""
    return project_simplex(np.asarray(policy) + np.asarray(eta) * np.asarray(gradient), action_mask)


def _sampled_gradient(
    batch: _Batch, pi: np.ndarray, ev: dict[str, Any], n: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Monte Carlo gradient ``(B, S, A)`` from ``n`` trajectories per problem drawn from the
    adversarial kernels; returns it and the transitions drawn per problem ``(B,)``."""
    B, S, A = batch.B, batch.S, batch.A
    grads = np.zeros((B, S, A))
    samples = np.zeros(B, dtype=np.int64)
    for b in range(B):
        g = batch.gamma[b]
        cdf_P = np.cumsum(ev["worst"][b], axis=1)  # (SA, S)
        cdf_P[:, -1] = 1.0
        cdf_pi = np.cumsum(pi[b], axis=1)
        cdf_pi[:, -1] = 1.0
        radv = batch.r[b] + g * ev["pen"][b]  # adversary's rewards (SA,)
        cdf_rho = np.cumsum(batch.rho[b])
        cdf_rho[-1] = 1.0
        s = np.searchsorted(cdf_rho, rng.random(n), side="right")
        count = 0
        alive = np.ones(n, dtype=bool)
        # s_T ~ d: stop with probability 1 - gamma before each transition
        while True:
            alive &= rng.random(n) < g
            idx = np.flatnonzero(alive)
            if idx.size == 0:
                break
            a = _draw(cdf_pi[s[idx]], rng)
            s[idx] = _draw(cdf_P[s[idx] * A + a], rng)
            count += idx.size
        a0 = rng.integers(0, A, size=n)
        q_hat = np.zeros(n)
        cur_s, cur_a = s.copy(), a0.copy()
        alive = np.ones(n, dtype=bool)
        while True:
            idx = np.flatnonzero(alive)
            if idx.size == 0:
                break
            q_hat[idx] += radv[cur_s[idx] * A + cur_a[idx]]
            alive[idx] = rng.random(idx.size) < g
            idx = np.flatnonzero(alive)
            if idx.size == 0:
                break
            cur_s[idx] = _draw(cdf_P[cur_s[idx] * A + cur_a[idx]], rng)
            cur_a[idx] = _draw(cdf_pi[cur_s[idx]], rng)
            count += idx.size
        np.add.at(grads[b], (s, a0), A * q_hat / ((1.0 - g) * n))
        samples[b] = count
    return grads, samples


def _draw(cdf_rows: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One index per row of ``cdf_rows`` ``(m, k)`` (inverse CDF)."""
    u = rng.random(cdf_rows.shape[0])
    return np.minimum((cdf_rows <= u[:, None]).sum(axis=1), cdf_rows.shape[1] - 1)


def soft_robust_policy_gradient(
    mdp: Any,
    penalty: Any,
    *,
    eta: Any = 0.1,
    n_iterations: int = 200,
    tol: float = 0.0,
    gradient: str = "exact",
    n_trajectories: int = 1000,
    initial_policy: Any = None,
    rho: Any = None,
    record: Sequence[str] = ("value", "gap"),
    callback: Callback | None = None,
    seed: Any = None,
    device: str | None = None,
    reference: Any = None,
) -> SolveResult:
    r"""Projected policy gradient ascent on the soft-robust objective :math:`V^\pi(\rho)`
    (direct parameterisation; module docstring), exact or sampled, batched.

    Args:
        mdp: a :class:`TabularMDP`, or a list of ``B`` MDPs of one shape (e.g. the ring for
            several ``p``).
        penalty: a soft-robust penalty (``KLPenalty(lam=1/beta)`` for the paper's ``beta``), or
            a list of ``B`` penalties of one class.
        eta: step size ``> 0``, scalar or ``(B,)``.
        n_iterations: budget ``T``; ``tol``: stop once every ``gap <= tol``.
        gradient: ``"exact"`` or ``"sampled"`` (``n_trajectories`` per problem and step, drawn
            from the adversarial kernel; ``history["samples"]`` counts transitions).
        initial_policy: ``(S, A)`` or ``(B, S, A)`` (default uniform over the feasible
            actions).
        rho: ``(S,)`` (default each MDP's initial distribution).
        record: metrics among :data:`PG_METRICS`: ``value`` :math:`V^{\pi_t}(\rho)`, ``gap``
            :math:`V^*(\rho) - V^{\pi_t}(\rho)`, ``gradient_norm`` (Frobenius, of the exact or
            sampled gradient used), ``evaluation_residual`` (:math:`\|T^{\pi}v - v\|_\infty` of
            the exact evaluation), ``samples``.
        callback, seed: as :func:`theory_rl.algorithms._loop.iterate`.
        device: ``"cpu"`` only (numba oracles).
        reference: the optimum: a :class:`SolveResult` or ``(S,)`` values (one problem), or a
            list of them / ``(B, S)`` (default: soft-robust VI polished by an exact evaluation
            of its greedy policy).

    Returns:
        :class:`SolveResult` of the last iterate (``(B, S, A)`` policies when batched) with
        history ``(K+1,)`` or ``(B, K+1)``.
    """
    mdps, pens, eta_b, batched = _pg_problems(mdp, penalty, eta)
    if device not in (None, "cpu"):
        raise ValueError(f"device must be 'cpu' or None (numba oracles), got {device!r}")
    if gradient not in ("exact", "sampled"):
        raise ValueError(f"gradient must be 'exact' or 'sampled', got {gradient!r}")
    n_traj = as_int("n_trajectories", n_trajectories)
    K = as_int("n_iterations", n_iterations, minimum=0)
    tol = as_positive("tol", tol, allow_zero=True)
    record = check_record(record, PG_METRICS)
    batch = _Batch(mdps, pens, rho)
    B, S, A = batch.B, batch.S, batch.A
    mask = batch.mask
    if initial_policy is None:
        pi0 = mask / mask.sum(axis=-1, keepdims=True)
    else:
        pi0 = np.broadcast_to(
            validate_policy(initial_policy, S, A, "initial_policy"), (B, S, A)
        ).copy()
    v_star = _pg_reference(mdps, pens, reference, S)
    target = (batch.rho * v_star).sum(axis=1)
    v_init = np.stack([_dp.policy_evaluation(m, pi0[b]) for b, m in enumerate(mdps)])

    def evaluate(pi: np.ndarray, v: np.ndarray) -> dict[str, Any]:
        ev = batch.evaluate(pi, v)
        ev.update(pi=pi, grad=batch.gradient(pi, ev))
        return ev

    def direction(state: dict[str, Any], rng: np.random.Generator) -> dict[str, Any]:
        if gradient == "sampled":
            g, n = _sampled_gradient(batch, state["pi"], state, n_traj, rng)
            state.update(step_grad=g, samples=state.get("samples", 0) + n)
        else:
            state.update(step_grad=state["grad"], samples=np.zeros(B, dtype=np.int64))
        return state

    rng_box: dict[str, np.random.Generator] = {}

    def init(rng: np.random.Generator) -> dict[str, Any]:
        rng_box["rng"] = rng
        state = evaluate(pi0, v_init)
        state["samples"] = np.zeros(B, dtype=np.int64)
        return direction(state, rng)

    def update(state: dict[str, Any], k: int) -> dict[str, Any]:
        pi = soft_robust_pg_step(
            state["pi"], state["step_grad"], eta=eta_b[:, None, None], action_mask=mask
        )
        new = evaluate(pi, state["v"])
        new["samples"] = state["samples"]
        return direction(new, rng_box["rng"])

    def measure(state: dict[str, Any], keys: frozenset[str]) -> dict[str, Any]:
        value = (batch.rho * state["v"]).sum(axis=1)
        out = dict(
            value=value,
            gap=target - value,
            gradient_norm=np.sqrt((state["step_grad"] ** 2).sum(axis=(1, 2))),
            evaluation_residual=np.full(B, state["residual"]),
            samples=np.asarray(state["samples"], dtype=np.int64),
        )
        return {k: (out[k] if batched else out[k][0]) for k in keys}

    def output(state: dict[str, Any]) -> tuple[Any, Any, Any]:
        sel = slice(None) if batched else 0
        return state["pi"][sel], state["v"][sel], state["q"][sel]

    method = Method(
        name="soft_robust_policy_gradient",
        init=init,
        update=update,
        measure=measure,
        output=output,
        metrics=PG_METRICS,
        stop_metric="gap",
        batch_shape=(B,) if batched else (),
    )
    return iterate(
        method,
        n_iterations=K,
        tol=tol,
        record=record,
        callback=callback,
        seed=seed,
        params=dict(
            penalty=type(pens[0]).__name__,
            eta=eta_b if batched else float(eta_b[0]),
            gradient=gradient,
            n_trajectories=n_traj if gradient == "sampled" else None,
            reference_value=target if batched else float(target[0]),
            device="cpu",
        ),
    )


def _pg_reference(
    mdps: list[TabularMDP], pens: list[UncertaintySet], reference: Any, S: int
) -> np.ndarray:
    B = len(mdps)
    if reference is None:
        return np.stack([soft_robust_optimum(m, p) for m, p in zip(mdps, pens, strict=True)])
    refs = reference if isinstance(reference, (list, tuple)) else [reference]
    arr = np.array([np.asarray(getattr(x, "values", x), dtype=np.float64) for x in refs])
    arr = arr.reshape(-1, S) if arr.size % S == 0 else arr
    if arr.ndim != 2 or arr.shape[1] != S or arr.shape[0] not in (1, B):
        raise ValueError(f"reference must hold (S,) = ({S},) values per problem (B = {B})")
    return np.broadcast_to(arr, (B, S)).copy()


def soft_robust_optimum(mdp: TabularMDP, penalty: UncertaintySet) -> np.ndarray:
    r"""``(S,)`` optimal soft-robust values to round-off: value iteration (``rtol = 1e-12``)
    for the greedy policy, then that policy's exact evaluation (``V^* = V^{\pi^*}``)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RoundoffWarning)
        vi = soft_robust_value_iteration(mdp, penalty, rtol=1e-12)
    batch = _Batch([mdp], [penalty], None)
    return batch.evaluate(np.asarray(vi.policy)[None], np.asarray(vi.values)[None])["v"][0]


# --------------------------------------------------------------------------------------------
# RFZI
# --------------------------------------------------------------------------------------------
class TabularClass:
    """The tabular function class: least squares over ``(S, A)`` tables is the per-pair mean.

    A function class implements ``fit(states, actions, targets, n_states, n_actions) ->
    (S, A)`` table of the fitted function (a linear class would fit weights on features and
    return their values on every pair)."""

    def fit(
        self,
        states: np.ndarray,
        actions: np.ndarray,
        targets: np.ndarray,
        n_states: int,
        n_actions: int,
    ) -> np.ndarray:
        idx = states * n_actions + actions
        sums = np.bincount(idx, weights=targets, minlength=n_states * n_actions)
        counts = np.bincount(idx, minlength=n_states * n_actions)
        return (sums / counts).reshape(n_states, n_actions)


def _rfzi_targets(z: np.ndarray, rewards: np.ndarray, beta: float, gamma: float) -> np.ndarray:
    r"""``(S,)`` :math:`\exp(-\gamma\max_{a'}[\beta r(s', a') - \log Z(s', a')])`."""
    with np.errstate(divide="ignore"):
        return np.exp(-gamma * (beta * rewards - np.log(z)).max(axis=1))


def rfzi_step(
    z: Any,
    dataset: TransitionDataset | TabularMDP,
    *,
    beta: float,
    gamma: float | None = None,
    function_class: Any = None,
) -> np.ndarray:
    r"""One RFZI update :math:`Z_k \mapsto Z_{k+1}` (module docstring), ``(S, A)``.

    For a :class:`TabularMDP` (the exact model) the least-squares fit is the conditional
    expectation :math:`Z_{k+1}(s, a) = \mathbb E_{\bar P}[\text{target}(s')]`."""
    beta = _check_beta(beta)
    if isinstance(dataset, TabularMDP):
        g = dataset.gamma if gamma is None else gamma
        t = _rfzi_targets(np.asarray(z, float), np.asarray(dataset.rewards, float), beta, g)
        P2 = dataset.transition_matrix
        return np.asarray(P2 @ t).reshape(dataset.n_states, dataset.n_actions)
    if gamma is None:
        raise ValueError("gamma is required with a TransitionDataset")
    fc = TabularClass() if function_class is None else function_class
    t = _rfzi_targets(np.asarray(z, float), dataset.rewards, beta, gamma)
    return np.asarray(
        fc.fit(
            dataset.states,
            dataset.actions,
            t[dataset.next_states],
            dataset.n_states,
            dataset.n_actions,
        ),
        dtype=np.float64,
    )


def _check_beta(beta: Any) -> float:
    try:
        b = float(beta)
    except (TypeError, ValueError):
        raise ValueError(f"beta must be a finite number > 0, got {beta!r}") from None
    if isinstance(beta, bool) or not math.isfinite(b) or b <= 0:
        raise ValueError(f"beta must be a finite number > 0, got {beta!r}")
    return b


def rfzi_penalty(beta: float, gamma: float) -> KLPenalty:
    r"""The KL penalty of RFZI's problem: weight :math:`1/(\gamma\beta)`."""
    return KLPenalty(1.0 / (gamma * _check_beta(beta)))


def rfzi(
    dataset: TransitionDataset | TabularMDP,
    *,
    beta: float,
    gamma: float | None = None,
    n_iterations: int = 100,
    tol: float = 0.0,
    function_class: Any = None,
    initial_z: Any = None,
    record: Sequence[str] | None = None,
    callback: Callback | None = None,
    seed: Any = None,
    device: str | None = None,
    reference: Any = None,
) -> SolveResult:
    r"""Robust fitted-Z iteration (module docstring), tabular.

    Args:
        dataset: a :class:`~theory_rl.mdps.soft_robust.TransitionDataset` (offline data, ``n``
            transitions per pair, e.g. :func:`~theory_rl.mdps.soft_robust.sample_dataset`), or
            a :class:`TabularMDP` (the exact model: population least squares).
        beta: RFZI's risk parameter ``> 0`` (the KL weight is :math:`1/(\gamma\beta)`).
        gamma: discount (default the dataset's source MDP's).
        n_iterations: budget ``K``; ``tol``: stop once ``z_change <= tol``.
        function_class: an object with ``fit`` (default :class:`TabularClass`).
        initial_z: ``(S, A)`` in ``(0, inf)`` (default ones: :math:`Q_0 = r`).
        record: among :data:`RFZI_METRICS`: ``z_change`` :math:`\|Z_k - Z_{k-1}\|_\infty`
            (``nan`` at ``k = 0``), ``z_error`` :math:`\|Z_k - Z^*\|_\infty`, ``q_error``
            :math:`\|Q_k - Q^*\|_\infty` (the last two need a reference; default: all that
            are available).
        callback, seed: as :func:`~theory_rl.algorithms._loop.iterate` (deterministic).
        device: ``"cpu"`` only.
        reference: :math:`Q^*` ``(S, A)`` or a :class:`SolveResult` with ``q_values`` of the
            true soft-robust problem (default: computed from the dataset's source MDP, with
            :func:`rfzi_penalty`).

    Returns:
        :class:`SolveResult`: ``q_values`` :math:`Q_K = r - \log Z_K/\beta`, ``values``
        :math:`\max_a Q_K`, ``policy`` greedy on :math:`Q_K`; ``params["z"]`` :math:`Z_K`.
    """
    beta = _check_beta(beta)
    if device not in (None, "cpu"):
        raise ValueError(f"device must be 'cpu' or None, got {device!r}")
    exact = isinstance(dataset, TabularMDP)
    if not exact and not isinstance(dataset, TransitionDataset):
        raise ValueError(
            f"dataset must be a TransitionDataset or a TabularMDP, got {type(dataset).__name__}"
        )
    source = dataset if exact else dataset.source
    if gamma is None:
        if source is None:
            raise ValueError("gamma is required when the dataset has no source MDP")
        gamma = source.gamma
    gamma = float(gamma)
    if not 0.0 <= gamma < 1.0:
        raise ValueError(f"gamma must be in [0, 1), got {gamma}")
    S, A = dataset.n_states, dataset.n_actions
    rewards = np.asarray(dataset.rewards, dtype=np.float64)
    K = as_int("n_iterations", n_iterations, minimum=0)
    tol = as_positive("tol", tol, allow_zero=True)
    if initial_z is None:
        z0 = np.ones((S, A))
    else:
        z0 = np.array(initial_z, dtype=np.float64)
        if z0.shape != (S, A) or not np.all(np.isfinite(z0)) or np.any(z0 <= 0):
            raise ValueError(f"initial_z must be a positive finite (S, A) = {(S, A)} table")
    q_star = None
    if reference is not None:
        q_star = np.array(getattr(reference, "q_values", reference), dtype=np.float64)
        if q_star.shape != (S, A):
            raise ValueError(f"reference must hold (S, A) = {(S, A)} values Q*")
    elif source is not None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RoundoffWarning)
            pen = rfzi_penalty(beta, gamma)
            v_star = soft_robust_optimum(source, pen)
        q_star = _robust.robust_q_values(source, pen, v_star)
    available = RFZI_METRICS if q_star is not None else ("z_change",)
    record = available if record is None else check_record(record, RFZI_METRICS)
    missing = [k for k in record if k not in available]
    if missing:
        raise ValueError(f"record names {missing}, which need a reference (none available)")
    z_star = None if q_star is None else np.exp(beta * (rewards - q_star))

    def q_of(z: np.ndarray) -> np.ndarray:
        with np.errstate(divide="ignore"):
            return rewards - np.log(z) / beta

    def measure(state: dict[str, Any], keys: frozenset[str]) -> dict[str, Any]:
        out: dict[str, Any] = {"z_change": state["change"]}
        if z_star is not None:
            out["z_error"] = float(np.abs(state["z"] - z_star).max())
            out["q_error"] = float(np.abs(q_of(state["z"]) - q_star).max())
        return {k: out[k] for k in keys}

    def update(state: dict[str, Any], k: int) -> dict[str, Any]:
        z = rfzi_step(state["z"], dataset, beta=beta, gamma=gamma, function_class=function_class)
        return dict(z=z, change=float(np.abs(z - state["z"]).max()))

    def output(state: dict[str, Any]) -> tuple[Any, Any, Any]:
        q = q_of(state["z"])
        return np.eye(A)[q.argmax(axis=1)], q.max(axis=1), q

    method = Method(
        name="rfzi",
        init=lambda rng: dict(z=z0, change=float("nan")),
        update=update,
        measure=measure,
        output=output,
        metrics=RFZI_METRICS,
        stop_metric="z_change",
    )
    final: dict[str, Any] = {}

    def keep(out: Any) -> None:
        final["z"] = out

    res = iterate(
        method,
        n_iterations=K,
        tol=tol,
        record=record,
        callback=callback,
        seed=seed,
        params=dict(
            beta=beta,
            gamma=gamma,
            exact_model=exact,
            n_samples=None if exact else len(dataset),
            function_class=type(function_class or TabularClass()).__name__,
            device="cpu",
        ),
    )
    z_final = np.exp(beta * (rewards - np.asarray(res.q_values)))
    z_final.flags.writeable = False
    return dataclasses.replace(res, params={**res.params, "z": z_final})


# --------------------------------------------------------------------------------------------
# R2 MDPs
# --------------------------------------------------------------------------------------------
def _check_ball(ball: Any) -> R2Ball:
    if not isinstance(ball, R2Ball):
        raise ValueError(f"ball must be an R2Ball, got {type(ball).__name__}")
    return ball


def r2_contraction_modulus(mdp: TabularMDP, ball: R2Ball) -> float:
    r""":math:`\gamma(1 + \max\beta\,S^{1/q})`: a Lipschitz constant of the R2 operators in the
    sup norm (:math:`\|b\|_1 \le S^{1/q}\|b\|_p`) [D]."""
    from theory_rl.bounds.derman2021 import r2_modulus

    beta = ball.per_pair("beta", mdp)
    return r2_modulus(mdp.gamma, float(beta.max()), mdp.n_states, ball.q)


def _norm_q(v: np.ndarray, q: float) -> float:
    return float(np.linalg.norm(v, ord=np.inf if math.isinf(q) else q))


def r2_bellman_operator(
    mdp: TabularMDP, ball: R2Ball, values: Any, *, policy: Any = None
) -> np.ndarray:
    r"""The regularised R2 operator, ``(S,)``: :math:`\sum_a\pi(a|s)(q_0(s,a) - \alpha_{sa} -
    \gamma\beta_{sa}\|v\|_q)` with :math:`q_0 = r + \gamma P_0 v`, or its max over actions
    (sa-rectangular: a deterministic greedy policy is optimal)."""
    mdp, ball = _check_mdp(mdp), _check_ball(ball)
    v = _robust._values(values, mdp.n_states)
    q = _r2_q(mdp, ball, v)
    if policy is None:
        return q.max(axis=1)
    return policy_average(validate_policy(policy, mdp.n_states, mdp.n_actions), q)


def _r2_q(mdp: TabularMDP, ball: R2Ball, v: np.ndarray) -> np.ndarray:
    q0 = _dp.q_values(mdp, v)
    reg = ball.per_pair("alpha", mdp) + mdp.gamma * ball.per_pair("beta", mdp) * _norm_q(v, ball.q)
    return q0 - reg


def r2_robust_bellman_operator(
    mdp: TabularMDP, ball: R2Ball, values: Any, *, policy: Any = None
) -> np.ndarray:
    r"""The robust operator of the R2 ball by an inner solve per ``(s, a)``:
    :math:`\min_{|\delta|\le\alpha,\ \|b\|_p\le\beta}\ r_0 + \delta + \gamma(P_0 + b)\cdot v`,
    an LP with scipy HiGHS for ``p`` in {1, inf} and a convex program with cvxpy otherwise;
    then :math:`\sum_a \pi(a|s)\,\cdot` or :math:`\max_a`.  Independent of the closed form of
    :func:`r2_bellman_operator` (used to check it)."""
    from scipy.optimize import linprog

    mdp, ball = _check_mdp(mdp), _check_ball(ball)
    v = _robust._values(values, mdp.n_states)
    S, A, g = mdp.n_states, mdp.n_actions, mdp.gamma
    alpha, beta = ball.per_pair("alpha", mdp), ball.per_pair("beta", mdp)
    q0 = _dp.q_values(mdp, v)
    q = np.empty((S, A))
    for s in range(S):
        for a in range(A):
            if ball.p == 1.0 or math.isinf(ball.p):
                # variables (delta, b+ (S), b- (S)); b = b+ - b-
                c = np.concatenate([[1.0], g * v, -g * v])
                bounds = [(-alpha[s, a], alpha[s, a])]
                if ball.p == 1.0:
                    bounds += [(0, None)] * (2 * S)
                    A_ub = np.concatenate([[0.0], np.ones(2 * S)])[None, :]
                    res = linprog(c, A_ub=A_ub, b_ub=[beta[s, a]], bounds=bounds, method="highs")
                else:
                    bounds += [(0, beta[s, a])] * (2 * S)
                    res = linprog(c, bounds=bounds, method="highs")
                if res.status != 0:  # pragma: no cover - bounded feasible LP
                    raise RuntimeError(f"R2 inner LP ({s}, {a}) failed: {res.message}")
                x = res.x
                delta, b = x[0], x[1 : S + 1] - x[S + 1 :]
            else:
                import cvxpy as cp

                bvar = cp.Variable(S)
                prob = cp.Problem(
                    cp.Minimize(g * (v @ bvar)), [cp.norm(bvar, ball.p) <= beta[s, a]]
                )
                prob.solve()
                delta, b = -alpha[s, a], np.asarray(bvar.value, dtype=np.float64)
            q[s, a] = q0[s, a] + delta + g * float(b @ v)
    if policy is None:
        return q.max(axis=1)
    return policy_average(validate_policy(policy, S, A), q)


def r2_value_iteration(
    mdp: TabularMDP,
    ball: R2Ball,
    *,
    policy: Any = None,
    tol: float | None = None,
    max_iterations: int = 100_000,
    initial_values: Any = None,
    callback: Callback | None = None,
) -> SolveResult:
    r"""Fixed point of the regularised R2 operator (optimal, or of ``policy``) by iteration.

    The operator is an :math:`L`-contraction with :math:`L = \gamma(1 + \max\beta\,S^{1/q})`
    (:func:`r2_contraction_modulus`, must be ``< 1``; ``ValueError`` naming ``beta``
    otherwise); the run stops once :math:`L\|Tv - v\|_\infty/(1 - L) \le` ``tol`` (default
    ``1e-12`` of the value scale) and returns ``Tv``, within ``tol`` of the fixed point.

    Returns:
        :class:`SolveResult`; history ``residual``, ``error_bound``; ``params["modulus"]``.
    """
    mdp, ball = _check_mdp(mdp), _check_ball(ball)
    L = r2_contraction_modulus(mdp, ball)
    if L >= 1.0:
        raise ValueError(
            f"beta too large: gamma (1 + max beta S^(1/q)) = {L:.4g} >= 1, the R2 operator is "
            "not a contraction"
        )
    scale = max(_dp._value_scale(mdp), np.finfo(float).tiny)
    eps = 1e-12 * scale if tol is None else as_positive("tol", tol)
    K = as_int("max_iterations", max_iterations)
    pi = None if policy is None else validate_policy(policy, mdp.n_states, mdp.n_actions)
    v0 = (
        np.zeros(mdp.n_states)
        if initial_values is None
        else _robust._values(initial_values, mdp.n_states, "initial_values")
    )

    def step(v: np.ndarray) -> dict[str, Any]:
        q = _r2_q(mdp, ball, v)
        tv = q.max(axis=1) if pi is None else policy_average(pi, q)
        return dict(v=v, tv=tv, q=q, res=float(np.abs(tv - v).max()))

    def measure(state: dict[str, Any], keys: frozenset[str]) -> dict[str, Any]:
        out = {"residual": state["res"], "error_bound": L * state["res"] / (1.0 - L)}
        return {k: out[k] for k in keys}

    def output(state: dict[str, Any]) -> tuple[Any, Any, Any]:
        tv = state["tv"]
        q = _r2_q(mdp, ball, tv)
        return (np.eye(mdp.n_actions)[q.argmax(axis=1)] if pi is None else pi), tv, q

    method = Method(
        name="r2_value_iteration",
        init=lambda rng: step(v0),
        update=lambda state, k: step(state["tv"]),
        measure=measure,
        output=output,
        metrics=("residual", "error_bound"),
        stop_metric="error_bound",
    )
    return iterate(
        method,
        n_iterations=K,
        tol=eps,
        record=("residual", "error_bound"),
        callback=callback,
        params=dict(p=ball.p, modulus=L, evaluation=pi is not None, max_iterations=K),
    )
