r"""Robust dynamic programming: inner worst-case oracles, the robust Bellman operator, robust
policy evaluation, robust value iteration and robust modified policy iteration.

**Operators.**  For an uncertainty set ``U`` around the nominal kernel ``P̄``
(:mod:`theory_rl.mdps.robust`) and values ``v`` ``(S,)``:

.. math::

    \sigma_{sa}(v) = \min_{p \in U_{sa}} p\cdot v \;[+\,\lambda D(p, \bar p_{sa})], \qquad
    q(s, a) = r(s, a) + \gamma\,\sigma_{sa}(v), \qquad
    (T v)(s) = \max_a q(s, a), \qquad (T^\pi v)(s) = \sum_a \pi(a|s)\, q(s, a)

for sa-rectangular sets, and for the s-rectangular L1 set
:math:`(Tv)(s) = \max_{\pi_s}\min_{(p_a) \in U_s} \sum_a \pi_s(a)(r(s,a) + \gamma p_a\cdot v)`.
Penalties enter as :math:`r + \gamma\sigma` with :math:`\sigma(v) = \min_p p\cdot v + \lambda
D(p, \bar p)` (the convex-risk-measure form of soft-robust MDPs).

**Guarantees** (Iyengar 2005, Thm 3.2 and Lemma 3.3; Nilim & El Ghaoui 2005; Wiesemann, Kuhn &
Rustem 2013, Thm 4 and Prop. 9 for the s-rectangular case):

* ``T`` and ``T^pi`` are monotone, satisfy :math:`T(v + c\mathbf 1) = Tv + \gamma c\mathbf 1`
  and are gamma-contractions in the sup norm; ``V*`` is their fixed point and the robust value
  :math:`\max_\pi\min_{P \in U} V^\pi_P`; a deterministic stationary optimal policy exists for
  sa-rectangular sets (the s-rectangular one may randomise).
* For a stationary policy the dynamic adversary's best response is a static kernel (Iyengar,
  Lemma 3.3), so :func:`robust_policy_evaluation` returns that kernel.
* Saddle point for sa-rectangular sets: :math:`\max_\pi\min_P V^\pi_P = \min_P\max_\pi V^\pi_P`
  (Wiesemann et al. eq. (4) / Prop. 9): the robust value is the minimum over static kernels of
  their optimal values.
* **Span stopping rule** [D]: monotonicity and translation are all the proofs of
  :mod:`theory_rl.algorithms.dp` use, so with :math:`\Delta = Tv - v` and ``pi_v`` the greedy
  (s-rectangular: the maximin) policy at ``v``,
  :math:`Tv + \frac{\gamma\min\Delta}{1-\gamma} \le V^{\pi_v}_{U} \le V^* \le Tv +
  \frac{\gamma\max\Delta}{1-\gamma}` (the robust value of ``pi_v`` against the worst kernel).
  Robust VI and robust MPI stop once :math:`\gamma\,\mathrm{sp}(\Delta)/(1-\gamma) \le
  \epsilon`: then ``pi_v`` is :math:`\epsilon`-optimal for the robust objective and the
  returned values (the midpoint of the bracket) are within :math:`\epsilon/2` of ``V*``.
* Robust MPI (Kaufman & Schaefer 2013): greedy step, then ``m`` sweeps of
  :math:`T^{\pi_k}` (each solving the inner problems); ``m = 0`` is robust VI.  With
  ``evaluation="adversary"`` the partial evaluation is replaced by the inexact robust policy
  evaluation of partial policy iteration (Ho, Petrik & Wiesemann 2021): the adversary's own
  policy iteration (worst kernel at ``v``, exact linear solve, repeat) to the accuracy
  :math:`\epsilon_k = \gamma^{2(k+1)}\|Tv_0 - v_0\|_\infty/(1-\gamma)` [C: the authors'
  implementation (CRAAM, ``rppi``) shrinks the target residual by a constant factor that "needs
  to be smaller than the discount factor"; the factor ``gamma^2`` is this implementation's
  choice within that condition; the paper's body was not read here].

**Inner oracles** (:mod:`theory_rl.kernels.robust`; each returns the value and the worst
distribution, checked against scipy ``linprog`` / SLSQP in the tests):

* L1 ball: sort-based rule (RAAM, as in the DRPG code): O(b log b) per row on CSR.
* KL ball: one-dimensional dual
  :math:`\max_{\lambda>0} -\lambda\log\mathbb E_{\bar p}e^{-(y-\min y)/\lambda} - \lambda\delta
  + \min y`, solved as :math:`\mathrm{KL}(q_\beta\|\bar p) = \delta` on ``beta = 1/lambda``;
  exact limits: ``delta = 0`` gives ``p̄``, ``delta >= -log p̄(argmin y)`` gives ``min y``.
* Chi-square ball: :math:`\sup_\eta \eta - \sqrt{1+\rho}\sqrt{\mathbb E_{\bar p}(\eta-y)_+^2}`,
  ``eta`` found exactly segment by segment; limit ``min y`` once
  ``rho >= 1/p̄(argmin y) - 1``.
* Penalties in closed form: KL :math:`-\lambda\log\mathbb E_{\bar p}e^{-y/\lambda}`, TV
  :math:`\mathbb E_{\bar p}[\min(y, \min y + \lambda)]`, chi-square
  :math:`p = \bar p(\alpha - y)_+/(2\lambda)` with :math:`\mathbb E_{\bar p}(\alpha-y)_+ =
  2\lambda`.
* s-rectangular L1: :math:`(Tv)(s) = \min\{u : \sum_a \xi_a(u) \le \kappa_s\}` with
  :math:`\xi_a(u)` the smallest L1 budget bringing action ``a``'s worst value to ``u``
  (bisection on ``u``); the maximin policy from the duals of the LP
  :math:`\min u` s.t. :math:`p_a\cdot z_a \le u` (:func:`srect_policy`).
* Finite kernel sets (hull): :math:`\min_j P_j(\cdot|s,a)\cdot v`.

**Sweeps.**  On CSR transitions :meth:`_RobustOperator.sweep` runs one fused kernel per set
that computes the robust q-values and the maximum over actions in one pass over the rows,
values only (worst distributions are written by the oracles above when asked for:
:func:`worst_case_kernel`, :func:`inner_rows`, the results' ``worst_kernel``): the L1 ball
through the CVaR form :math:`\mathrm{top}(\epsilon) = \min_t \epsilon t + \sum_i\bar p_i
(y_i - t)_+` (branch-free, O(b^2) for rows of at most 16 entries), the chi-square ball and
penalty through their closed forms when every entry stays active (the sorted rule otherwise),
the KL ball by Newton on its dual started at the row's multiplier of the previous sweep
(kept by the operator): once the multipliers settle, one evaluation (``b`` exponentials and a
logarithm) per row, the dual value corrected to third order in the last step.  A KL sweep's
last bits may therefore depend on the operator's earlier sweeps (measured differences
below 1e-13 relative; ``tests/test_robust_sweeps.py``).

Backends: the numba kernels on the CPU (CSR, and a dense L1 kernel); the generic array path
(NumPy/CuPy, ``device="gpu"``) for the L1 ball, the KL and TV penalties and finite kernel sets on
dense transitions.  KL/chi-square balls, the chi-square penalty and the s-rectangular set have no
generic path (``ValueError`` on ``device="gpu"``).

References:
    G. Iyengar. Robust dynamic programming. Math. Oper. Res. 30(2):257-280, 2005.
    A. Nilim, L. El Ghaoui. Robust control of Markov decision processes with uncertain
    transition matrices. Oper. Res. 53(5):780-798, 2005.
    W. Wiesemann, D. Kuhn, B. Rustem. Robust Markov decision processes. Math. Oper. Res.
    38(1):153-183, 2013.
    D. Kaufman, A. Schaefer. Robust modified policy iteration. INFORMS J. Comput. 25(3), 2013.
    C. P. Ho, M. Petrik, W. Wiesemann. Fast Bellman updates for robust MDPs. ICML 2018;
    Partial policy iteration for L1-robust Markov decision processes. JMLR 22(275), 2021.
"""

from __future__ import annotations

import dataclasses
import weakref
from collections.abc import Callable
from typing import Any

import numpy as np
import scipy.sparse as sp

from theory_rl._checks import as_int, as_positive
from theory_rl.algorithms import dp as _dp
from theory_rl.algorithms._loop import Method, iterate
from theory_rl.algorithms.mirror import policy_average
from theory_rl.backend import array_namespace, cumulative_sum, resolve_device, to_numpy
from theory_rl.kernels import robust as _kr
from theory_rl.mdps.robust import (
    SRectL1Ball,
    UncertaintySet,
)
from theory_rl.mdps.tabular import TabularMDP, _as_float_array, validate_policy
from theory_rl.result import SolveResult

__all__ = [
    "inner_rows",
    "robust_bellman_operator",
    "robust_modified_policy_iteration",
    "robust_policy_evaluation",
    "robust_q_values",
    "robust_value_iteration",
    "srect_policy",
    "worst_case_kernel",
]

Callback = Callable[[SolveResult], None]

_KIND = {
    "l1": _kr.KIND_L1,
    "kl": _kr.KIND_KL,
    "chi2": _kr.KIND_CHI2,
    "kl_penalty": _kr.KIND_KL_PENALTY,
    "tv_penalty": _kr.KIND_TV_PENALTY,
    "chi2_penalty": _kr.KIND_CHI2_PENALTY,
}
#: Fused CSR sweeps (robust q-values and the max over actions in one pass, values only) of the
#: sets whose kernel takes no state; the KL ball's (``_csr_kl_block_sweep``) also takes its
#: multipliers.
_FUSED_SWEEP = {
    "l1": _kr._csr_l1_sweep,
    "chi2": _kr._csr_chi2_sweep,
    "kl_penalty": _kr._csr_kl_penalty_sweep,
    "tv_penalty": _kr._csr_tv_penalty_sweep,
    "chi2_penalty": _kr._csr_chi2_penalty_sweep,
}
#: Kinds with a generic (NumPy/CuPy) path on dense transitions.
GENERIC_KINDS = ("l1", "kl_penalty", "tv_penalty", "finite")
#: Bisection steps of the s-rectangular oracle after its exact end points.
SRECT_BISECTIONS = 100
#: Largest ``S*A*S`` for which ``support="full"`` builds explicit full rows.
FULL_SUPPORT_MAX_ENTRIES = 50_000_000
#: When False, CPU operators use the generic NumPy code instead of numba (tests of that path).
USE_KERNELS = True


def _w(x: Any, dtype: Any = np.float64) -> np.ndarray:
    """``x`` as a C-contiguous, writable array of ``dtype`` (copied only when needed), so that
    every kernel compiles one signature whatever the caller's flags."""
    return np.require(x, dtype=dtype, requirements=["C", "W"])


def _check_uncertainty(uncertainty: Any) -> UncertaintySet:
    if not isinstance(uncertainty, UncertaintySet):
        raise ValueError(
            "uncertainty must be an uncertainty set of theory_rl.mdps.robust (L1Ball, KLBall, "
            f"Chi2Ball, KLPenalty, TVPenalty, Chi2Penalty, SRectL1Ball, KernelSet), got "
            f"{type(uncertainty).__name__}"
        )
    return uncertainty


# --------------------------------------------------------------------------------------------
# row oracles (public, MDP-free)
# --------------------------------------------------------------------------------------------
def inner_rows(
    uncertainty: UncertaintySet, nominal: Any, targets: Any
) -> tuple[np.ndarray, np.ndarray]:
    r"""The inner problem of every row: value and worst distribution.

    .. math::  \sigma_i = \min_{p \in U_i} p\cdot y_i \;[+\,\lambda D(p, \bar p_i)]

    Args:
        uncertainty: an sa-rectangular ball or penalty (not ``SRectL1Ball`` nor ``KernelSet``);
            its radius a scalar or one per row ``(R,)``.
        nominal: ``(R, n)`` nominal rows ``p̄_i`` (distributions).
        targets: ``(R, n)`` targets ``y_i`` (e.g. next-state values), or ``(n,)`` shared.

    Returns:
        ``(values (R,), worst (R, n))``; ``worst`` is zero off the support in use (the nominal
        support unless the set has ``support="full"``).

    Example:
        >>> import numpy as np
        >>> from theory_rl.mdps.robust import L1Ball
        >>> val, p = inner_rows(L1Ball(0.2), np.array([[0.5, 0.5]]), np.array([0.0, 1.0]))
        >>> float(val[0]), p[0].tolist()
        (0.4, [0.6, 0.4])
    """
    unc = _check_uncertainty(uncertainty)
    if unc.kind not in _KIND:
        raise ValueError(f"inner_rows solves row-wise balls and penalties, not {unc.kind!r}")
    pb = _as_float_array("nominal", nominal)
    if pb.ndim != 2:
        raise ValueError(f"nominal must be (R, n), got shape {pb.shape}")
    R, n = pb.shape
    if np.any(pb < 0) or not np.allclose(pb.sum(axis=1), 1.0, atol=1e-8, rtol=0):
        raise ValueError("nominal rows must be distributions (non-negative, summing to 1)")
    y = np.broadcast_to(_as_float_array("targets", targets), (R, n))
    if not np.isfinite(y).all():
        raise ValueError("targets must be finite")
    value = getattr(unc, unc.radius_field)
    radius = np.broadcast_to(np.asarray(value, dtype=np.float64), (R,)) if np.ndim(value) else None
    if radius is None:
        radius = np.full(R, float(value))
    if radius.shape != (R,):
        raise ValueError(f"{unc.radius_field} must be a scalar or (R,) = ({R},) for inner_rows")
    mask = np.ones_like(pb, dtype=bool) if unc.support == "full" else pb > 0
    counts = mask.sum(axis=1)
    indptr = np.concatenate([[0], np.cumsum(counts)]).astype(np.uint64)
    rows, cols = np.nonzero(mask)
    indices = (rows * n + cols).astype(np.uint32)
    data = np.ascontiguousarray(pb[rows, cols])
    sigma = np.empty(R)
    out = np.empty_like(data)
    _kr._csr_sigma(
        indptr,
        indices,
        data,
        _w(radius),
        _KIND[unc.kind],
        _w(y).ravel(),
        sigma,
        out,
        1,
    )
    worst = np.zeros((R, n))
    worst[rows, cols] = out
    return sigma, worst


# --------------------------------------------------------------------------------------------
# the robust operator of one (MDP, set) pair
# --------------------------------------------------------------------------------------------
def _nominal_rows(mdp: TabularMDP) -> np.ndarray | sp.csr_array:
    """``(S*A, S)`` nominal rows as the robust operators use them: CSR rows without stored
    zeros (the nominal support is ``p > 0``), and each infeasible action's row (which may be all
    zero) replaced by a self-loop, so that every row has a support: its value never counts
    (reward ``-inf``) but the oracles divide by row masses."""
    P = mdp.transition_matrix
    sparse = sp.issparse(P)
    if mdp.has_infeasible_actions:
        off = np.flatnonzero(~mdp.action_mask.ravel())
        if sparse:
            keep = sp.diags_array(mdp.action_mask.ravel().astype(np.float64))
            loops = sp.csr_array((np.ones(off.size), (off, off // mdp.n_actions)), shape=P.shape)
            P = sp.csr_array(keep @ P + loops)
        else:
            P = np.array(P)
            P[off] = 0.0
            P[off, off // mdp.n_actions] = 1.0
    if sparse and P.nnz and not P.data.all():
        P = P.copy()
        P.eliminate_zeros()
    if sparse:
        P.sort_indices()
    return P


class _RobustOperator:
    """Inner problems and robust sweeps of one MDP and one uncertainty set on one device."""

    def __init__(self, mdp: TabularMDP, unc: UncertaintySet, device: str, kernels: bool):
        self.mdp, self.unc, self.device = mdp, unc, device
        self.xp = array_namespace(device)
        self.S, self.A, self.gamma = mdp.n_states, mdp.n_actions, mdp.gamma
        self.kind = unc.kind
        self.kernels = kernels and device == "cpu"
        self.r = _w(mdp.rewards).ravel()  # (S*A,)
        self.srect = unc.rectangularity == "s"
        if self.kind == "finite":
            unc.check_against(mdp)
            self.stack = self.xp.asarray(unc.transitions.reshape(-1, self.S * self.A, self.S))
            return
        if not self.kernels and self.kind not in GENERIC_KINDS:
            raise ValueError(
                f"the {type(unc).__name__} oracle has no generic array path (device={device!r}); "
                "use device='cpu'"
            )
        if self.srect:
            self.kappa_s = _w(unc.radius_per_state(mdp))
        else:
            self.radius = _w(unc.radius_per_row(mdp))
        self.dense_l1 = self.kernels and self.kind == "l1" and not mdp.is_sparse
        if self.kernels:
            self._csr_structure()
        else:
            if mdp.is_sparse:
                raise ValueError("the generic path needs dense transitions (mdp.to_dense())")
            self.P2 = self.xp.asarray(_nominal_rows(mdp))
            self.mask = self.xp.full(self.P2.shape, True) if unc.support == "full" else self.P2 > 0

    def _csr_structure(self) -> None:
        rows = _nominal_rows(self.mdp)
        if self.unc.support == "full":
            n = self.S * self.A * self.S
            if n > FULL_SUPPORT_MAX_ENTRIES:
                raise ValueError(
                    f"support='full' needs S*A*S = {n} explicit entries (more than "
                    f"{FULL_SUPPORT_MAX_ENTRIES}); use support='nominal'"
                )
            dense = rows.toarray() if sp.issparse(rows) else np.asarray(rows)
            self.indptr = np.arange(0, n + 1, self.S, dtype=np.uint64)
            self.indices = np.tile(np.arange(self.S, dtype=np.uint32), self.S * self.A)
            self.data = _w(dense.ravel())
        else:
            P = sp.csr_array(rows)
            self.indptr = _w(P.indptr, np.uint64)
            self.indices = _w(P.indices, np.uint32)
            self.data = _w(P.data)
        self.width = int(np.diff(self.indptr.astype(np.int64)).max()) if self.indptr.size > 1 else 0
        if self.dense_l1:
            self.P2 = _w(rows)
        self._all = np.full(self.S, -1, dtype=np.int64)
        self._no_data = np.empty(0)  # ``out_data`` when the worst rows are not written
        # the KL ball's dual multiplier of every row, carried from one sweep to the next as the
        # start of its Newton solve (NaN: cold start)
        self.kl_beta = np.full(self.S * self.A, np.nan) if self.kind == "kl" else self._no_data
        # the all-actions layout of the L1 block sweep (``_blocked_l1_sweep``), when its padding
        # at most doubles the stored entries
        self.blk_columns, self.blk_probs = np.empty(0, dtype=np.uint32), self._no_data
        n_block = max(_kr.BLOCK_ROWS, self.A)
        padded = -(-self.S // (n_block // self.A)) * n_block * self.width
        if (
            self.kind == "l1"
            and not self.dense_l1
            and 0 < self.width <= _kr.L1_PAIRWISE_MAX
            and padded <= 2 * self.data.size
        ):
            self.blk_columns, self.blk_probs = _kr._blocked_layout(
                self.indptr, self.indices, self.data, self.S, self.A, self.width
            )

    # -- inner values and worst rows ---------------------------------------------------------
    def sigma(self, v: Any) -> Any:
        """``(S*A,)`` inner values :math:`\\sigma_{sa}(v)` (s-rectangular: under the worst
        split of the budget at ``v``)."""
        if self.kernels and not self.srect and self.kind != "finite":
            sigma = np.empty(self.S * self.A)
            _kr._csr_sigma(
                self.indptr,
                self.indices,
                self.data,
                self.radius,
                _KIND[self.kind],
                _w(v),
                sigma,
                self._no_data,
                0,
            )
            return sigma
        return self.worst(v)[0]

    def worst(self, v: Any) -> tuple[Any, Any]:
        """``(sigma (S*A,), worst rows)``: worst rows as CSR data (CPU kernels; the pattern
        of :meth:`kernel_from_data`), ``(S*A, S)`` device array (generic), or the ``(S*A,)``
        kernel index (finite sets)."""
        xp = self.xp
        if self.kind == "finite":
            vals = self.stack @ xp.asarray(v)  # (m, S*A)
            j = xp.argmin(vals, axis=0)
            return xp.min(vals, axis=0), j
        if self.srect:
            _, xi = self._srect(v)
            sigma = np.empty(self.S * self.A)
            out = np.empty_like(self.data)
            _kr._csr_sigma(
                self.indptr, self.indices, self.data, xi, _kr.KIND_L1, _w(v), sigma, out, 1
            )
            return sigma, out
        if self.kernels:
            sigma = np.empty(self.S * self.A)
            out = np.empty_like(self.data)
            _kr._csr_sigma(
                self.indptr,
                self.indices,
                self.data,
                self.radius,
                _KIND[self.kind],
                _w(v),
                sigma,
                out,
                1,
            )
            return sigma, out
        return _generic_rows(xp, self.kind, self.P2, self.mask, xp.asarray(self.radius), v)

    def _srect(self, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        out_v = np.empty(self.S)
        xi = np.empty(self.S * self.A)
        _kr._csr_srect_sweep(
            self.indptr,
            self.indices,
            self.data,
            self.r,
            self.gamma,
            self.kappa_s,
            _w(v),
            out_v,
            xi,
            SRECT_BISECTIONS,
        )
        return out_v, xi

    def kernel_from_data(self, worst: Any) -> np.ndarray | sp.csr_array:
        """The worst kernel in the nominal MDP's format (CSR ``(S*A, S)`` or ``(S, A, S)``)."""
        S, A = self.S, self.A
        if self.kind == "finite":
            j = to_numpy(worst)
            stack = self.mdp_stack_np()
            rows = stack[j, np.arange(S * A)]
            return _as_format(self.mdp, rows.reshape(S, A, S))
        if self.kernels:
            P = sp.csr_array(
                (worst, self.indices.astype(np.int64), self.indptr.astype(np.int64)),
                shape=(S * A, S),
            )
            if self.mdp.is_sparse:
                P.eliminate_zeros()
                return P
            return P.toarray().reshape(S, A, S)
        return _as_format(self.mdp, np.asarray(to_numpy(worst)).reshape(S, A, S))

    def mdp_stack_np(self) -> np.ndarray:
        return self.unc.transitions.reshape(-1, self.S * self.A, self.S)

    # -- Bellman operators --------------------------------------------------------------------
    def q(self, v: Any) -> Any:
        """``(S, A)`` robust action values ``r + gamma sigma(v)``."""
        xp = self.xp
        return xp.reshape(xp.asarray(self.r) + self.gamma * self.sigma(v), (self.S, self.A))

    def sweep(self, v: Any, actions: Any = None) -> tuple[Any, Any]:
        """``(T v, greedy actions)`` (sa-rectangular), ``(T_a v, a)`` for given actions, or
        ``(T v, None)`` for the s-rectangular set (its maximin policy randomises)."""
        xp = self.xp
        if self.srect:
            if actions is not None:
                return self.policy_step(v, _one_hot(actions, self.A)), actions
            return self._srect(v)[0], None
        if self.kernels and self.kind != "finite":
            out_v = np.empty(self.S)
            out_a = np.empty(self.S, dtype=np.int64)
            acts = self._all if actions is None else _w(actions, np.int64)
            csr = (self.indptr, self.indices, self.data)
            common = (self.r, self.gamma, self.radius, _w(v))
            width = np.int64(max(self.width, 1))
            if self.dense_l1:
                full = 1 if self.unc.support == "full" else 0
                _kr._dense_l1_sweep(self.P2, *common[:3], full, common[3], acts, out_v, out_a)
            elif self.kind == "kl":
                _kr._csr_kl_block_sweep(*csr, *common, acts, self.kl_beta, width, out_v, out_a)
            elif self.kind == "l1" and actions is None and self.blk_probs.size:
                _kr._blocked_l1_sweep(
                    self.blk_columns, self.blk_probs, *common, width, out_v, out_a
                )
            elif self.kind == "l1" and self.width <= _kr.L1_PAIRWISE_MAX:
                _kr._csr_l1_block_sweep(*csr, *common, acts, width, out_v, out_a)
            elif self.kind != "l1" or self.width <= _kr.L1_SELECT_MAX:
                _FUSED_SWEEP[self.kind](*csr, *common, acts, out_v, out_a)
            else:  # one inner pass over every row of the played actions, then the reduction
                q = self.q(v)
                if actions is None:
                    out_a = q.argmax(axis=1)
                else:
                    out_a = acts
                out_v = q[np.arange(self.S), out_a]
            return out_v, out_a
        q = self.q(v)
        if actions is None:
            actions = xp.argmax(q, axis=1)
        return xp.take_along_axis(q, xp.asarray(actions)[:, None], axis=1)[:, 0], actions

    def policy_step(self, v: Any, policy: Any) -> Any:
        """:math:`T^\\pi v` for a stochastic ``(S, A)`` policy (the adversary's best response
        to ``pi`` at ``v``)."""
        xp = self.xp
        if self.srect:
            return xp.asarray(_srect_policy_step(self, to_numpy(v), to_numpy(policy))[0])
        return policy_average(xp.asarray(policy), self.q(v))

    def policy_worst(self, v: Any, policy: np.ndarray) -> np.ndarray | sp.csr_array:
        """The adversary's best-response kernel to ``policy`` at ``v`` (nominal format)."""
        if self.srect:
            return self.kernel_from_data(_srect_policy_step(self, to_numpy(v), policy)[1])
        return self.kernel_from_data(self.worst(v)[1])


def _as_format(mdp: TabularMDP, P3: np.ndarray) -> np.ndarray | sp.csr_array:
    if mdp.is_sparse:
        return sp.csr_array(P3.reshape(-1, P3.shape[-1]))
    return P3


def _one_hot(actions: Any, n_actions: int) -> np.ndarray:
    actions = to_numpy(actions)
    out = np.zeros((actions.shape[0], n_actions))
    out[np.arange(actions.shape[0]), actions] = 1.0
    return out


def _generic_rows(xp: Any, kind: str, P2: Any, mask: Any, radius: Any, v: Any) -> tuple[Any, Any]:
    """Vectorised inner problems on dense rows ``(R, S)`` in the array-API namespace ``xp``
    (NumPy, CuPy; ``tests/test_array_api.py`` runs it on the strict namespace): values ``(R,)``
    and worst rows ``(R, S)``."""
    y = xp.broadcast_to(xp.asarray(v)[None, :], P2.shape)
    ymask = xp.where(mask, y, xp.inf)
    ymin = xp.min(ymask, axis=1, keepdims=True)
    at_min = xp.arange(P2.shape[1])[None, :] == xp.argmin(ymask, axis=1)[:, None]  # (R, S)
    if kind == "kl_penalty":
        lam = radius[:, None]
        w = xp.where(mask, xp.exp(-(y - ymin) / lam), 0.0) * P2
        m = xp.sum(w, axis=1, keepdims=True)
        return (ymin - lam * xp.log(m))[:, 0], w / m
    if kind == "tv_penalty":
        lam = radius[:, None]
        moved = xp.where(mask & (y > ymin + lam), P2, 0.0)
        value = xp.sum(P2 * xp.minimum(y, ymin + lam), axis=1)
        p = P2 - moved + xp.where(at_min, xp.sum(moved, axis=1, keepdims=True), 0.0)
        return value, p
    # L1: eps at the argmin, removed from the largest y downwards
    eps = xp.minimum(0.5 * radius, 1.0 - xp.sum(xp.where(at_min, P2, 0.0), axis=1))
    eps = xp.maximum(eps, 0.0)
    order = xp.argsort(-xp.where(mask, y, -xp.inf), axis=1)
    pb_sorted = xp.where(
        xp.take_along_axis(at_min, order, axis=1), 0.0, xp.take_along_axis(P2, order, axis=1)
    )
    before = cumulative_sum(xp, pb_sorted, axis=1) - pb_sorted
    take = xp.clip(eps[:, None] - before, 0.0, pb_sorted)
    removal = xp.take_along_axis(take, xp.argsort(order, axis=1), axis=1)  # unsorted
    p = P2 - removal + xp.where(at_min, eps[:, None], 0.0)
    return xp.sum(p * xp.where(mask, y, 0.0), axis=1), p


_OPERATORS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _operator(mdp: TabularMDP, uncertainty: Any, device: str | None = None) -> _RobustOperator:
    """The (cached per MDP) robust operator of ``(mdp, uncertainty)`` on ``device``."""
    if not isinstance(mdp, TabularMDP):
        raise ValueError(f"mdp must be a TabularMDP, got {type(mdp).__name__}")
    unc = _check_uncertainty(uncertainty)
    device = resolve_device(device)
    cache = _OPERATORS.setdefault(mdp, {})
    key = (id(unc), device, USE_KERNELS)
    entry = cache.get(key)
    if entry is None or entry[0] is not unc:
        entry = (unc, _RobustOperator(mdp, unc, device, USE_KERNELS))
        cache[key] = entry
    return entry[1]


def _values(v: Any, S: int, name: str = "values") -> np.ndarray:
    arr = _as_float_array(name, to_numpy(v))
    if arr.shape != (S,):
        raise ValueError(f"{name} must have shape (S,) = ({S},); got {arr.shape}")
    if not np.isfinite(arr).all():
        raise ValueError(f"{name} must be finite")
    return np.array(arr, dtype=np.float64, order="C")


# --------------------------------------------------------------------------------------------
# s-rectangular helpers
# --------------------------------------------------------------------------------------------
def _srect_state_rows(
    op: _RobustOperator, v: np.ndarray, s: int
) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """``[(columns, p̄, z)]`` of the ``A`` rows of state ``s`` with ``z = r + gamma v``."""
    out = []
    for a in range(op.A):
        row = s * op.A + a
        k0, k1 = int(op.indptr[row]), int(op.indptr[row + 1])
        cols = op.indices[k0:k1].astype(np.int64)
        out.append((cols, op.data[k0:k1], op.r[row] + op.gamma * v[cols]))
    return out


def _srect_policy_step(
    op: _RobustOperator, v: np.ndarray, policy: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    r"""``(T^pi v (S,), worst CSR data)`` for the s-rectangular L1 set: the adversary spends the
    budget ``kappa_s`` on the segments of the convex piecewise-linear
    :math:`\sum_a \pi_a q_a(\xi_a)` with the steepest decrease first (exact greedy)."""
    out_v = np.empty(op.S)
    data = op.data.copy()
    for s in range(op.S):
        rows = _srect_state_rows(op, v, s)
        segments = []  # (rate per unit budget, length, action, position)
        for a, (_, pb, z) in enumerate(rows):
            if policy[s, a] <= 0 or z.size < 2:
                continue
            i_min = int(np.argmin(z))
            for j in np.argsort(-z, kind="stable"):
                if j == i_min or pb[j] <= 0 or z[j] <= z[i_min]:
                    continue
                segments.append((policy[s, a] * (z[j] - z[i_min]) / 2.0, 2.0 * pb[j], a, j))
        segments.sort(key=lambda t: -t[0])
        budget = op.kappa_s[s]
        moved = np.zeros(op.A)
        p_rows = [pb.copy() for (_, pb, _) in rows]
        for _, length, a, j in segments:
            if budget <= 0:
                break
            take = min(budget, length) / 2.0
            p_rows[a][j] -= take
            moved[a] += take
            budget -= 2.0 * take
        total = 0.0
        for a, (_, _, z) in enumerate(rows):
            p_rows[a][int(np.argmin(z))] += moved[a]
            row = s * op.A + a
            data[int(op.indptr[row]) : int(op.indptr[row + 1])] = p_rows[a]
            if policy[s, a] > 0:  # (an infeasible action: z = -inf, probability 0)
                total += policy[s, a] * float(p_rows[a] @ z)
        out_v[s] = total
    return out_v, data


def srect_policy(mdp: TabularMDP, uncertainty: SRectL1Ball, values: Any) -> np.ndarray:
    r"""The maximin policy of the s-rectangular L1 set at ``values``, from LP duals.

    For each state, the LP :math:`\min u` s.t. :math:`p_a\cdot z_a \le u` (``z_a = r(s, a) +
    gamma v``), :math:`p_a \in \Delta`, :math:`\sum_a\|p_a - \bar p_a\|_1 \le \kappa_s` is
    solved with scipy HiGHS; the multipliers of the ``A`` constraints :math:`p_a\cdot z_a \le u`
    form :math:`\pi_s` (they sum to one by stationarity in ``u``).  One LP per state.

    Returns:
        ``(S, A)`` row-stochastic policy.
    """
    from scipy.optimize import linprog

    if not isinstance(uncertainty, SRectL1Ball):
        raise ValueError(f"uncertainty must be an SRectL1Ball, got {type(uncertainty).__name__}")
    op = _operator(mdp, uncertainty, "cpu")
    v = _values(values, mdp.n_states)
    S = mdp.n_states
    policy = np.zeros((S, mdp.n_actions))
    for s in range(S):
        feasible = np.flatnonzero(mdp.action_mask[s])  # the policy puts no mass elsewhere
        rows = [_srect_state_rows(op, v, s)[a] for a in feasible]
        A = feasible.size
        sizes = [pb.size for (_, pb, _) in rows]
        n = sum(sizes)
        # variables: u, p (n), t (n)
        c = np.zeros(1 + 2 * n)
        c[0] = 1.0
        A_ub, b_ub = [], []
        offs = np.concatenate([[0], np.cumsum(sizes)])
        for a, (_, _, z) in enumerate(rows):
            row = np.zeros(1 + 2 * n)
            row[0] = -1.0
            row[1 + offs[a] : 1 + offs[a + 1]] = z
            A_ub.append(row)
            b_ub.append(0.0)
        pb_all = np.concatenate([pb for (_, pb, _) in rows])
        eye = np.eye(n)
        A_ub.extend(np.hstack([np.zeros((n, 1)), eye, -eye]))
        b_ub.extend(pb_all)
        A_ub.extend(np.hstack([np.zeros((n, 1)), -eye, -eye]))
        b_ub.extend(-pb_all)
        budget = np.zeros(1 + 2 * n)
        budget[1 + n :] = 1.0
        A_ub.append(budget)
        b_ub.append(op.kappa_s[s])
        A_eq = np.zeros((A, 1 + 2 * n))
        for a in range(A):
            A_eq[a, 1 + offs[a] : 1 + offs[a + 1]] = 1.0
        bounds = [(None, None)] + [(0, None)] * (2 * n)
        res = linprog(
            c,
            A_ub=np.array(A_ub),
            b_ub=np.array(b_ub),
            A_eq=A_eq,
            b_eq=np.ones(A),
            bounds=bounds,
            method="highs",
        )
        if res.status != 0:  # pragma: no cover - the LP is always feasible and bounded
            raise RuntimeError(f"srect_policy: LP of state {s} failed: {res.message}")
        pi = np.maximum(-res.ineqlin.marginals[:A], 0.0)
        policy[s, feasible] = pi / pi.sum() if pi.sum() > 0 else np.eye(A)[int(np.argmax(pi))]
    return policy


# --------------------------------------------------------------------------------------------
# public operators
# --------------------------------------------------------------------------------------------
def robust_q_values(
    mdp: TabularMDP, uncertainty: UncertaintySet, values: Any, *, device: str | None = None
) -> np.ndarray:
    r"""Robust action values :math:`q(s, a) = r(s, a) + \gamma\sigma_{sa}(v)`, ``(S, A)``.

    For the s-rectangular set, :math:`\sigma_{sa}` is taken at the worst split of the budget at
    ``values`` (the split of the maximin problem)."""
    op = _operator(mdp, uncertainty, device)
    return to_numpy(op.q(op.xp.asarray(_values(values, mdp.n_states))))


def robust_bellman_operator(
    mdp: TabularMDP,
    uncertainty: UncertaintySet,
    values: Any,
    *,
    policy: Any = None,
    device: str | None = None,
) -> np.ndarray:
    r"""The robust Bellman operator :math:`(Tv)(s)`, or :math:`(T^\pi v)(s)` when ``policy``
    (``(S, A)`` or ``(S,)`` actions) is given; ``(S,)``."""
    op = _operator(mdp, uncertainty, device)
    v = op.xp.asarray(_values(values, mdp.n_states))
    if policy is None:
        return to_numpy(op.sweep(v)[0])
    pi = validate_policy(policy, mdp.n_states, mdp.n_actions)
    return to_numpy(op.policy_step(v, pi))


def worst_case_kernel(
    mdp: TabularMDP, uncertainty: UncertaintySet, values: Any, *, policy: Any = None
) -> np.ndarray | sp.csr_array:
    r"""The adversary's kernel at ``values``: every row's worst distribution
    :math:`\arg\min_{p\in U_{sa}} p\cdot v` (sa-rectangular), in the nominal MDP's format.

    For the s-rectangular set the budget split depends on the agent's policy: ``policy`` (the
    maximin policy of :func:`srect_policy` when omitted)."""
    op = _operator(mdp, uncertainty, "cpu")
    v = _values(values, mdp.n_states)
    if op.srect:
        pi = (
            srect_policy(mdp, uncertainty, v)
            if policy is None
            else validate_policy(policy, mdp.n_states, mdp.n_actions)
        )
        return op.policy_worst(v, pi)
    return op.kernel_from_data(op.worst(v)[1])


# --------------------------------------------------------------------------------------------
# robust policy evaluation
# --------------------------------------------------------------------------------------------
def _static_mdp(mdp: TabularMDP, P: Any, rewards: Any = None) -> TabularMDP:
    r = mdp.rewards if rewards is None else rewards
    return TabularMDP(P, r, mdp.gamma, mdp.initial_distribution)


def _adversary_mdp(
    op: _RobustOperator, mdp: TabularMDP, v: np.ndarray, pi: np.ndarray
) -> TabularMDP:
    """The nominal MDP with the adversary's best-response kernel to ``pi`` at ``v``; for
    penalties the rewards carry the adversary's penalty, ``r + gamma (sigma(v) - p.v)``, so that
    the MDP's ``V^pi`` is the soft-robust value when ``v`` is."""
    P = _renormalised(op.policy_worst(v, pi))
    if op.kind not in ("kl_penalty", "tv_penalty", "chi2_penalty"):
        return _static_mdp(mdp, P)
    S, A = mdp.n_states, mdp.n_actions
    sigma = to_numpy(op.sigma(v))
    pv = (P @ v) if sp.issparse(P) else P.reshape(S * A, S) @ v
    penalty = np.maximum(sigma - pv, 0.0).reshape(S, A)
    return _static_mdp(mdp, P, mdp.rewards + mdp.gamma * penalty)


def _renormalised(P: Any) -> Any:
    """Rows of a computed worst kernel summed to one exactly (they are off by round-off)."""
    if sp.issparse(P):
        sums = np.asarray(P.sum(axis=1)).ravel()
        return sp.csr_array(sp.diags(1.0 / sums) @ P)
    return P / P.sum(axis=-1, keepdims=True)


def robust_policy_evaluation(
    mdp: TabularMDP,
    uncertainty: UncertaintySet,
    policy: Any,
    *,
    tol: float | None = None,
    max_iterations: int = 1000,
    initial_values: Any = None,
    callback: Callback | None = None,
) -> SolveResult:
    r"""The robust value :math:`V^\pi_U = \min_{P\in U} V^\pi_P` of a fixed policy, and the
    adversary's best-response kernel.

    The adversary's problem is an MDP with convex action sets; it is solved by its own policy
    iteration: ``P_k`` = the worst kernel at ``v_k`` (:func:`worst_case_kernel`, given ``pi``),
    ``v_{k+1} = V^pi_{P_k}`` (exact linear solve).  Stops once
    :math:`\|T^\pi v - v\|_\infty \le \epsilon(1-\gamma)`, which certifies
    :math:`\|v - V^\pi_U\|_\infty \le \epsilon` (``T^pi`` is a gamma-contraction).  For L1 balls
    and finite sets (polyhedral rows) it terminates after finitely many steps; for KL and
    chi-square sets it converges superlinearly.

    Args:
        mdp, uncertainty: the robust MDP.
        policy: ``(S, A)`` stochastic or ``(S,)`` deterministic.
        tol: sup-norm accuracy ``epsilon`` (default ``1e-10`` of the value scale).
        max_iterations: adversary policy-iteration steps.
        initial_values: ``(S,)`` start (default the nominal ``V^pi``).
        callback: as in :func:`theory_rl.algorithms._loop.iterate`.

    Returns:
        :class:`SolveResult`: ``values`` :math:`V^\pi_U` ``(S,)``, ``q_values`` the robust
        :math:`r + \gamma\sigma(V^\pi_U)`, ``policy`` the given one, history ``residual``
        (:math:`\|T^\pi v_k - v_k\|_\infty`) and ``error_bound`` (residual / (1 - gamma));
        ``params["worst_kernel"]`` the best-response kernel (nominal format) and
        ``params["worst_mdp"]`` the nominal MDP with it (so ``V^pi`` of ``worst_mdp`` is
        ``values``; for penalties its rewards also carry the adversary's penalty
        :math:`\gamma(\sigma_{sa}(V) - p_{sa}\cdot V)`).
    """
    op = _operator(mdp, uncertainty, "cpu")
    pi = validate_policy(policy, mdp.n_states, mdp.n_actions)
    if pi.ndim != 2:
        raise ValueError(f"policy must be one (S, A) policy, got shape {pi.shape}")
    scale = max(_dp._value_scale(mdp), np.finfo(np.float64).tiny)
    eps = 1e-10 * scale if tol is None else as_positive("tol", tol)
    K = as_int("max_iterations", max_iterations)
    gamma = mdp.gamma
    v0 = (
        _dp.policy_evaluation(mdp, pi)
        if initial_values is None
        else _values(initial_values, mdp.n_states, "initial_values")
    )

    def evaluate(v: np.ndarray) -> dict[str, Any]:
        tv = to_numpy(op.policy_step(v, pi))
        return dict(v=v, residual=float(np.abs(tv - v).max()))

    def init(rng: np.random.Generator) -> dict[str, Any]:
        return evaluate(v0)

    def update(state: dict[str, Any], k: int) -> dict[str, Any]:
        return evaluate(_dp.policy_evaluation(_adversary_mdp(op, mdp, state["v"], pi), pi))

    def measure(state: dict[str, Any], keys: frozenset[str]) -> dict[str, Any]:
        out = {"residual": state["residual"], "error_bound": state["residual"] / (1 - gamma)}
        return {k: out[k] for k in keys}

    def output(state: dict[str, Any]) -> tuple[Any, Any, Any]:
        return pi, state["v"], to_numpy(op.q(state["v"]))

    method = Method(
        name="robust_policy_evaluation",
        init=init,
        update=update,
        measure=measure,
        output=output,
        metrics=("residual", "error_bound"),
        stop_metric="error_bound",
    )
    res = iterate(
        method,
        n_iterations=K,
        tol=eps,
        record=("residual", "error_bound"),
        callback=callback,
        params=dict(uncertainty=type(uncertainty).__name__, max_iterations=K),
    )
    worst = _adversary_mdp(op, mdp, np.asarray(res.values), pi)
    return dataclasses.replace(
        res, params={**res.params, "worst_kernel": worst.transitions, "worst_mdp": worst}
    )


# --------------------------------------------------------------------------------------------
# robust value iteration and robust modified policy iteration (one method)
# --------------------------------------------------------------------------------------------
def _robust_iterate(
    mdp: TabularMDP,
    uncertainty: UncertaintySet,
    *,
    name: str,
    m: int,
    evaluation: str,
    tol: Any,
    rtol: Any,
    max_iterations: int,
    initial_values: Any,
    device: str | None,
    callback: Callback | None,
) -> SolveResult:
    if not isinstance(mdp, TabularMDP):
        raise ValueError(f"mdp must be a TabularMDP, got {type(mdp).__name__}")
    op = _operator(mdp, uncertainty, device)
    xp = op.xp
    eps, roundoff = _dp._target_accuracy(mdp, tol, rtol, _dp.DEFAULT_RTOL, 0.5, stacklevel=4)
    K = as_int("max_iterations", max_iterations)
    m = as_int("m", m, minimum=0)
    if evaluation not in ("sweeps", "adversary"):
        raise ValueError(f"evaluation must be 'sweeps' or 'adversary', got {evaluation!r}")
    gamma = mdp.gamma
    factor = gamma / (1.0 - gamma)
    inner_tol = 0.5 * eps / factor if factor > 0 else np.inf
    if initial_values is None:
        v0 = xp.full(mdp.n_states, mdp.reward_range[0] / (1.0 - gamma))
    else:
        v0 = xp.asarray(_values(initial_values, mdp.n_states, "initial_values"))

    def greedy(v: Any, k: int, sweeps: int) -> dict[str, Any]:
        tv, actions = op.sweep(v)
        delta = tv - v
        lo, hi = float(xp.min(delta)), float(xp.max(delta))
        return dict(v=v, tv=tv, actions=actions, lo=lo, hi=hi, k=k, sweeps=sweeps)

    first = greedy(v0, 0, 0)
    residual0 = max(-first["lo"], first["hi"])

    def init(rng: np.random.Generator) -> dict[str, Any]:
        return first

    def update(state: dict[str, Any], k: int) -> dict[str, Any]:
        v, done = state["tv"], 0
        if m > 0 and not op.srect:
            if evaluation == "sweeps":
                for j in range(1, m + 1):
                    nv, _ = op.sweep(v, state["actions"])
                    d = nv - v
                    v, done = nv, j
                    if float(xp.max(d) - xp.min(d)) <= inner_tol:
                        break
            else:
                accuracy = gamma ** (2 * (k + 1)) * residual0 / (1 - gamma)
                pe = robust_policy_evaluation(
                    mdp,
                    uncertainty,
                    _one_hot(state["actions"], mdp.n_actions),
                    tol=max(accuracy, inner_tol, 1e-300),
                    max_iterations=m,
                    initial_values=to_numpy(v),
                )
                v, done = xp.asarray(np.array(pe.values)), pe.n_iterations
        return greedy(v, k + 1, done)

    def measure(state: dict[str, Any], keys: frozenset[str]) -> dict[str, Any]:
        lo, hi = state["lo"], state["hi"]
        out = {
            "residual": max(-lo, hi),
            "span": hi - lo,
            "error_bound": factor * (hi - lo),
            "policy_sweeps": state["sweeps"],
        }
        return {key: out[key] for key in keys}

    def estimate(state: dict[str, Any]) -> Any:
        return state["tv"] + factor * (state["lo"] + state["hi"]) / 2.0

    def output(state: dict[str, Any]) -> tuple[Any, Any, Any]:
        v = estimate(state)
        if op.srect:
            policy = srect_policy(mdp, uncertainty, to_numpy(state["v"]))
        else:
            policy = _one_hot(state["actions"], mdp.n_actions)
        return policy, to_numpy(v), to_numpy(op.q(v))

    metrics = ("residual", "span", "error_bound", "policy_sweeps")
    method = Method(
        name=name,
        init=init,
        update=update,
        measure=measure,
        output=output,
        metrics=metrics,
        stop_metric="error_bound",
    )
    res = iterate(
        method,
        n_iterations=K,
        tol=eps,
        record=metrics,
        callback=callback,
        params=dict(
            uncertainty=type(uncertainty).__name__,
            m=m,
            evaluation=evaluation,
            rtol=rtol if rtol is not None or tol is not None else _dp.DEFAULT_RTOL,
            roundoff_bound=roundoff,
            max_iterations=K,
            device=op.device,
        ),
    )
    extra: dict[str, Any] = {}
    if mdp.n_states * mdp.n_actions <= WORST_KERNEL_MAX_ROWS or mdp.is_sparse:
        P = worst_case_kernel(mdp, uncertainty, res.values, policy=res.policy if op.srect else None)
        extra = {"worst_kernel": P}
    msg = res.message
    if res.converged:
        msg = (
            f"span stopping rule met: policy within {res.history['error_bound'][-1]:.3g} + "
            f"round-off bound {roundoff:.3g} of the robust optimum, values within "
            f"{res.history['error_bound'][-1] / 2:.3g} (+ round-off) of V* (requested tol "
            f"{eps:.3g})"
        )
    return dataclasses.replace(res, message=msg, params={**res.params, **extra})


#: Worst kernels of dense problems are attached to results up to this many rows.
WORST_KERNEL_MAX_ROWS = 1_000_000


def robust_value_iteration(
    mdp: TabularMDP,
    uncertainty: UncertaintySet,
    *,
    tol: float | None = None,
    rtol: float | None = None,
    max_iterations: int = 100_000,
    initial_values: Any = None,
    device: str | None = None,
    callback: Callback | None = None,
) -> SolveResult:
    r"""Robust value iteration :math:`v_{k+1} = T v_k` with the span stopping rule.

    Stops at the first ``k`` with :math:`\gamma\,\mathrm{sp}(Tv_k - v_k)/(1-\gamma) \le
    \epsilon` (module docstring): the returned policy (greedy; s-rectangular: the maximin
    policy of :func:`srect_policy`) is :math:`\epsilon`-optimal for the robust objective, and
    the returned values are within :math:`\epsilon/2` of the robust ``V*``, up to the float64
    round-off bound stated in ``params["roundoff_bound"]``.  :math:`\epsilon =
    \min(\mathtt{tol}, \mathtt{rtol}\max|r|/(1-\gamma))`, by default ``rtol = 1e-9``.

    Args:
        mdp: the nominal MDP (dense or CSR).
        uncertainty: a set of :mod:`theory_rl.mdps.robust`.
        tol, rtol: absolute / relative accuracy (as
            :func:`theory_rl.algorithms.dp.value_iteration`).
        max_iterations: budget of updates.
        initial_values: ``(S,)`` start (default ``min r / (1 - gamma)``).
        device: ``"cpu"`` (numba) or ``"gpu"`` (generic path; module docstring).
        callback: called with each iterate (``values`` the midpoint estimate); may raise
            ``StopIteration``.

    Returns:
        :class:`SolveResult`; ``history`` keys ``residual``, ``span``, ``error_bound``,
        ``policy_sweeps`` (entry ``k`` describes the sweep applied to iterate ``k``);
        ``params["worst_kernel"]``: the worst kernel at the returned values, in the nominal
        format (for the s-rectangular set, the best response to the returned policy).

    Example:
        >>> import numpy as np
        >>> from theory_rl.mdps import TabularMDP
        >>> from theory_rl.mdps.robust import L1Ball
        >>> P = np.array([[[0.5, 0.5]], [[0.0, 1.0]]])
        >>> mdp = TabularMDP(P, np.array([[1.0], [0.0]]), gamma=0.5)
        >>> res = robust_value_iteration(mdp, L1Ball(0.2), tol=1e-12)
        >>> round(float(res.values[0]), 6)  # 1 / (1 - 0.5 * 0.4)
        1.25
    """
    return _robust_iterate(
        mdp,
        uncertainty,
        name="robust_value_iteration",
        m=0,
        evaluation="sweeps",
        tol=tol,
        rtol=rtol,
        max_iterations=max_iterations,
        initial_values=initial_values,
        device=device,
        callback=callback,
    )


def robust_modified_policy_iteration(
    mdp: TabularMDP,
    uncertainty: UncertaintySet,
    *,
    m: int = 20,
    evaluation: str = "sweeps",
    tol: float | None = None,
    rtol: float | None = None,
    max_iterations: int = 100_000,
    initial_values: Any = None,
    device: str | None = None,
    callback: Callback | None = None,
) -> SolveResult:
    r"""Robust modified policy iteration (Kaufman & Schaefer 2013) and partial policy iteration
    (Ho, Petrik & Wiesemann 2021).

    Each iteration takes the greedy step ``pi_k`` at ``v_k`` (same stopping rule and guarantee as
    :func:`robust_value_iteration`), then evaluates ``pi_k`` partially:

    * ``evaluation="sweeps"``: up to ``m`` sweeps of :math:`T^{\pi_k}` (inner problems solved
      on the played actions only), stopping early when an increment has span
      :math:`\le \epsilon(1-\gamma)/(2\gamma)`;
    * ``evaluation="adversary"``: up to ``m`` steps of :func:`robust_policy_evaluation` (the
      adversary's policy iteration with linear solves) to accuracy
      :math:`\gamma^{2(k+1)}\|Tv_0 - v_0\|_\infty/(1-\gamma)`.

    ``m = 0`` is robust value iteration.  The s-rectangular set runs robust VI steps (its
    maximin policies randomise).  Arguments and result as :func:`robust_value_iteration`;
    ``history["policy_sweeps"]`` counts the evaluation steps.
    """
    return _robust_iterate(
        mdp,
        uncertainty,
        name="robust_modified_policy_iteration",
        m=m,
        evaluation=evaluation,
        tol=tol,
        rtol=rtol,
        max_iterations=max_iterations,
        initial_values=initial_values,
        device=device,
        callback=callback,
    )
