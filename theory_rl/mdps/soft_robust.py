r"""Problem types of soft (regularised) robust MDPs: convex risk measures, the reward-and-
transition balls of R2 MDPs, offline transition datasets, and the ring MDP of Zhang, Hu & Li.

**Risk measures** (the risk-sensitive side of Zhang, Hu & Li 2024).  Each penalty
``lam * D_phi(p || p̄)`` of :mod:`theory_rl.mdps.robust` (a phi-divergence on the nominal row's
support) has the convex risk measure

.. math::  \sigma_{\bar p}(v) = \inf_{p\in\Delta}\; p\cdot v + \lambda D_\phi(p\|\bar p)
           = \sup_\eta\; \eta - \lambda\,\mathbb E_{\bar p}\,\phi^*\!\big((\eta - v)/\lambda\big),

the optimised-certainty-equivalent form (Ben-Tal & Teboulle 2007; Lagrange duality on
``sum p = 1``).  The classes below evaluate the **right-hand side**, each by its own formula, so
that "soft-robust value = risk-sensitive value" compares two computations:

======================  ================================  ====================================
risk                    ``phi`` / ``phi*``                 ``sigma`` evaluated as
======================  ================================  ====================================
``EntropicRisk(beta)``  ``t log t - t + 1`` / ``e^s - 1``  entropic risk
                        (KL, ``lam = 1/beta``)              ``-log E exp(-beta v) / beta``
                                                            (``eta* = sigma``; log-sum-exp)
``TVRisk(lam)``         ``|t - 1|/2`` / ``max(s, -1/2)``   ``eta`` at the end of the domain
                        on ``s <= 1/2``                     ``eta* = min v + lam/2`` (``h`` is
                                                            nondecreasing there)
``Chi2Risk(lam)``       ``(t - 1)^2`` / ``s + s^2/4`` for   the stationary ``eta`` of each
                        ``s >= -2``, else ``-1``            active prefix of sorted ``v``, the
                                                            best of them (``O(n^2)`` per row)
======================  ================================  ====================================

(``phi`` is restricted to ``t >= 0``; for ``TVRisk(support="full")`` off-support states add the
constraint ``eta <= v_j + lam/2``, i.e. ``min`` over all states.)

**R2 balls** (Derman, Geist & Mannor 2021): rewards in :math:`[r_0 - \alpha_{sa},
r_0 + \alpha_{sa}]` and kernels :math:`P_0(\cdot|s,a) + b` with :math:`\|b\|_p \le
\beta_{sa}` (the ball ignores the simplex constraints, as in the paper's equivalence).

**Datasets** for RFZI: ``n`` transitions ``(s, a, s')`` per pair and the known reward table.

References:
    R. Zhang, Y. Hu, N. Li. Soft robust MDPs and risk-sensitive MDPs: equivalence, policy
    gradient, and sample complexity. ICLR 2024, arXiv:2306.11626.
    A. Ben-Tal, M. Teboulle. An old-new concept of convex risk measures: the optimized
    certainty equivalent. Math. Finance 17(3), 2007.
    E. Derman, M. Geist, S. Mannor. Twice regularized MDPs and the equivalence between
    robustness and regularization. NeurIPS 2021, arXiv:2110.06267.
"""

from __future__ import annotations

import abc
import dataclasses
import math
from typing import Any, ClassVar

import numpy as np
import scipy.sparse as sp

from theory_rl._checks import as_int, as_real
from theory_rl.backend import as_generator
from theory_rl.mdps.robust import (
    SUPPORTS,
    Chi2Penalty,
    KLPenalty,
    TVPenalty,
    UncertaintySet,
    _radius,
)
from theory_rl.mdps.tabular import TabularMDP, _check_gamma

__all__ = [
    "Chi2Risk",
    "EntropicRisk",
    "R2Ball",
    "RiskMeasure",
    "TVRisk",
    "TransitionDataset",
    "risk_of",
    "sample_dataset",
    "zhang_ring",
]

#: Rewards of the authors' "Toy-10" ring (14 states), ``r(s)`` for every action.
TOY_RING_REWARDS = (0.0, 0.0, -1.0, 2.0, -1.0, 0.0, 0.0, -10.0, 5.0, -10.0, 0.0, 0.0, 0.9, 1.0)


def zhang_ring(p: float = 0.15, *, rewards: Any = None, gamma: float = 0.95) -> TabularMDP:
    r"""The ring MDP of Zhang, Hu & Li's policy-gradient experiment (authors' code,
    ``toy/env/utils.py``; the notes' [P code]).

    ``S = len(rewards)`` states on a cycle (default the 14 rewards of "Toy-10",
    :data:`TOY_RING_REWARDS`), actions ``a in {0, 1, 2}`` = left, stay, right: the agent moves
    to ``s + a - 1`` with probability ``1 - 2p`` and to ``s + a - 2`` or ``s + a`` with
    probability ``p`` each (mod ``S``); reward ``r(s)`` for every action; uniform initial
    distribution.

    Args:
        p: slip probability in ``[0, 1/2]``.
        rewards: ``(S,)`` state rewards (default Toy-10).
        gamma: discount factor (0.95 in the paper's runs).
    """
    p = as_real("p", p, minimum=0.0, maximum=0.5)
    r = np.asarray(TOY_RING_REWARDS if rewards is None else rewards, dtype=np.float64)
    if r.ndim != 1 or r.size < 3 or not np.isfinite(r).all():
        raise ValueError(f"rewards must be a finite 1-D array of >= 3 states, got {r.shape}")
    S = r.size
    s = np.arange(S)
    P = np.zeros((S, 3, S))
    for a in range(3):
        np.add.at(P, (s, a, (s + a - 1) % S), 1.0 - 2.0 * p)
        np.add.at(P, (s, a, (s + a - 2) % S), p)
        np.add.at(P, (s, a, (s + a) % S), p)
    return TabularMDP(P, np.repeat(r[:, None], 3, axis=1), _check_gamma(gamma), np.full(S, 1 / S))


# --------------------------------------------------------------------------------------------
# convex risk measures (the risk-sensitive route)
# --------------------------------------------------------------------------------------------
class RiskMeasure(abc.ABC):
    """Base class: a convex risk measure per row, evaluated by its OCE formula (module
    docstring).  ``weight_field`` names the parameter (scalar or ``(S, A)``)."""

    weight_field: ClassVar[str] = ""
    support: str = "nominal"

    def weights_per_row(self, n_rows: int, shape: tuple[int, int] | None = None) -> np.ndarray:
        """The parameter of every row, ``(n_rows,)``; ``ValueError`` naming it on a bad shape."""
        value = getattr(self, self.weight_field)
        if np.ndim(value) == 0:
            return np.full(n_rows, float(value))
        if shape is not None and value.shape != shape:
            raise ValueError(
                f"{self.weight_field} must be a scalar or have shape (S, A) = {shape}; got "
                f"{value.shape}"
            )
        flat = np.ascontiguousarray(value, dtype=np.float64).ravel()
        if flat.size != n_rows:
            raise ValueError(f"{self.weight_field} has {flat.size} entries for {n_rows} rows")
        return flat

    def evaluate(self, weights: Any, targets: Any, param: Any = None) -> np.ndarray:
        r""":math:`\sigma_{w_i}(y_i)` for every row: ``weights`` ``(R, n)`` distributions,
        ``targets`` ``(R, n)`` (or ``(n,)``), ``param`` ``(R,)`` (default this measure's
        scalar).  Returns ``(R,)``."""
        w = np.asarray(weights, dtype=np.float64)
        if w.ndim != 2:
            raise ValueError(f"weights must be (R, n), got shape {w.shape}")
        y = np.broadcast_to(np.asarray(targets, dtype=np.float64), w.shape)
        lam = self.weights_per_row(w.shape[0]) if param is None else np.asarray(param, float)
        return self._evaluate(w, y, np.broadcast_to(lam, (w.shape[0],)))

    @abc.abstractmethod
    def _evaluate(self, w: np.ndarray, y: np.ndarray, lam: np.ndarray) -> np.ndarray:
        """The measure's own formula, row by row (``(R,)``)."""


@dataclasses.dataclass(frozen=True)
class EntropicRisk(RiskMeasure):
    r"""Entropic risk :math:`\sigma(v) = -\beta^{-1}\log\mathbb E_{\bar p}e^{-\beta v}`, the
    risk of the penalty :math:`\beta^{-1}\mathrm{KL}(p\|\bar p)` (``KLPenalty(lam=1/beta)``).

    Args:
        beta: risk aversion ``> 0``, a scalar or ``(S, A)``.
    """

    beta: Any = 1.0
    weight_field: ClassVar[str] = "beta"

    def __post_init__(self) -> None:
        object.__setattr__(self, "beta", _radius("beta", self.beta, allow_zero=False))

    def _evaluate(self, w: np.ndarray, y: np.ndarray, beta: np.ndarray) -> np.ndarray:
        from theory_rl.algorithms.mirror import logsumexp

        with np.errstate(divide="ignore"):
            log_w = np.log(w)
        return -logsumexp(log_w - beta[:, None] * y) / beta


@dataclasses.dataclass(frozen=True)
class TVRisk(RiskMeasure):
    r"""The risk of the penalty :math:`\lambda\cdot\frac12\|p-\bar p\|_1`:
    :math:`\sup_{\eta \le m + \lambda/2}\eta - \lambda\mathbb E_{\bar p}\max((\eta - v)/\lambda,
    -1/2)` with ``m`` the minimum of ``v`` over the support in use.

    Args:
        lam: weight ``> 0``, a scalar or ``(S, A)``.
        support: ``"nominal"`` or ``"full"`` (as :class:`~theory_rl.mdps.robust.TVPenalty`).
    """

    lam: Any = 1.0
    support: str = "nominal"
    weight_field: ClassVar[str] = "lam"

    def __post_init__(self) -> None:
        object.__setattr__(self, "lam", _radius("lam", self.lam, allow_zero=False))
        if self.support not in SUPPORTS:
            raise ValueError(f"support must be one of {SUPPORTS}, got {self.support!r}")

    def _evaluate(self, w: np.ndarray, y: np.ndarray, lam: np.ndarray) -> np.ndarray:
        mask = np.ones_like(w, dtype=bool) if self.support == "full" else w > 0
        m = np.where(mask, y, np.inf).min(axis=1)
        eta = m + lam / 2.0  # the end of the domain of phi*; h is nondecreasing before it
        s = (eta[:, None] - y) / lam[:, None]
        return eta - lam * (w * np.maximum(s, -0.5)).sum(axis=1)


@dataclasses.dataclass(frozen=True)
class Chi2Risk(RiskMeasure):
    r"""The risk of the penalty :math:`\lambda\sum(p-\bar p)^2/\bar p`:
    :math:`\sup_\eta \eta - \lambda\mathbb E_{\bar p}\phi^*((\eta - v)/\lambda)` with
    :math:`\phi^*(s) = s + s^2/4` for :math:`s \ge -2`, else ``-1``.

    ``h(eta)`` is concave; on the set where the states with :math:`v_j \le \eta + 2\lambda`
    are active it is quadratic with stationary point
    :math:`\eta_k = (2\lambda(1 - P_k) + \sum_{j\le k}\bar p_j v_j)/P_k` (``k`` smallest
    values, mass ``P_k``); the maximum of ``h`` over these ``n`` candidates is the supremum.

    Args:
        lam: weight ``> 0``, a scalar or ``(S, A)``.
    """

    lam: Any = 1.0
    weight_field: ClassVar[str] = "lam"

    def __post_init__(self) -> None:
        object.__setattr__(self, "lam", _radius("lam", self.lam, allow_zero=False))

    def _evaluate(self, w: np.ndarray, y: np.ndarray, lam: np.ndarray) -> np.ndarray:
        mask = w > 0
        order = np.argsort(np.where(mask, y, np.inf), axis=1, kind="stable")
        ws = np.take_along_axis(w, order, axis=1)
        ys = np.take_along_axis(np.where(mask, y, 0.0), order, axis=1)
        mass = np.cumsum(ws, axis=1)
        first = np.cumsum(ws * ys, axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            etas = (2.0 * lam[:, None] * (1.0 - mass) + first) / mass  # (R, n) candidates
        etas = np.where(mass > 0, etas, -np.inf)
        s = (etas[:, :, None] - y[:, None, :]) / lam[:, None, None]  # (R, k, n)
        conj = np.where(s >= -2.0, s + s * s / 4.0, -1.0)
        conj = np.where(mask[:, None, :], conj, 0.0)
        h = etas - lam[:, None] * (w[:, None, :] * conj).sum(axis=2)
        h = np.where(np.isfinite(etas), h, -np.inf)
        return h.max(axis=1)


def risk_of(penalty: UncertaintySet) -> RiskMeasure:
    """The convex risk measure whose penalty function is ``penalty`` (module docstring)."""
    if isinstance(penalty, KLPenalty):
        lam = penalty.lam
        return EntropicRisk(1.0 / lam)
    if isinstance(penalty, TVPenalty):
        return TVRisk(penalty.lam, support=penalty.support)
    if isinstance(penalty, Chi2Penalty):
        return Chi2Risk(penalty.lam)
    raise ValueError(
        "penalty must be a KLPenalty, TVPenalty or Chi2Penalty (a soft-robust penalty), got "
        f"{type(penalty).__name__}"
    )


# --------------------------------------------------------------------------------------------
# R2 balls
# --------------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class R2Ball:
    r"""sa-rectangular reward-and-transition ball of an R2 MDP (Derman, Geist & Mannor 2021):
    :math:`r \in [r_0 - \alpha_{sa}, r_0 + \alpha_{sa}]`, :math:`P(\cdot|s,a) = P_0(\cdot|s,a)
    + b` with :math:`\|b\|_p \le \beta_{sa}` (no simplex constraint).

    Args:
        alpha: reward radius ``>= 0``, scalar or ``(S, A)``.
        beta: transition radius ``>= 0``, scalar or ``(S, A)``.
        p: the norm of the transition ball, ``>= 1`` (``np.inf`` allowed); the regulariser
            uses the dual norm ``q`` (``1/p + 1/q = 1``).
    """

    alpha: Any = 0.0
    beta: Any = 0.0
    p: float = 2.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "alpha", _radius("alpha", self.alpha))
        object.__setattr__(self, "beta", _radius("beta", self.beta))
        p = self.p
        if not (isinstance(p, (int, float, np.floating, np.integer)) and p >= 1):
            raise ValueError(f"p must be a number >= 1 (np.inf allowed), got {p!r}")
        object.__setattr__(self, "p", float(p))

    @property
    def q(self) -> float:
        """The dual exponent ``q`` (``inf`` for ``p = 1``, ``1`` for ``p = inf``)."""
        if self.p == 1.0:
            return math.inf
        if math.isinf(self.p):
            return 1.0
        return self.p / (self.p - 1.0)

    def per_pair(self, name: str, mdp: TabularMDP) -> np.ndarray:
        """``alpha`` or ``beta`` as ``(S, A)``; ``ValueError`` naming it on a bad shape."""
        S, A = mdp.n_states, mdp.n_actions
        value = getattr(self, name)
        if np.ndim(value) == 0:
            return np.full((S, A), float(value))
        if value.shape != (S, A):
            raise ValueError(
                f"{name} must be a scalar or have shape (S, A) = {(S, A)}; got {value.shape}"
            )
        return np.array(value, dtype=np.float64)


# --------------------------------------------------------------------------------------------
# offline datasets
# --------------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True, eq=False)
class TransitionDataset:
    r"""Transitions ``(s_i, a_i, s'_i)``, ``i < N``, and the known reward table.

    Every pair ``(s, a)`` must appear at least once (RFZI's tabular least squares needs a
    sample per pair); next states must lie in ``[0, S)``.

    Args:
        states, actions, next_states: ``(N,)`` integer arrays.
        rewards: ``(S, A)`` reward table ``r(s, a)`` (known, as in the paper's setting).
        source: the MDP the data came from (optional; gives RFZI its reference).
    """

    states: Any
    actions: Any
    next_states: Any
    rewards: Any
    source: TabularMDP | None = None

    def __post_init__(self) -> None:
        r = np.asarray(self.rewards, dtype=np.float64)
        if r.ndim != 2 or not np.isfinite(r).all():
            raise ValueError(f"rewards must be a finite (S, A) table, got shape {r.shape}")
        S, A = r.shape
        arrays = {}
        for name, bound in (("states", S), ("actions", A), ("next_states", S)):
            x = np.asarray(getattr(self, name))
            if x.ndim != 1 or (x.size and not np.issubdtype(x.dtype, np.integer)):
                raise ValueError(f"{name} must be a 1-D integer array, got {x.dtype} {x.shape}")
            bad = (x < 0) | (x >= bound)
            if bad.any():
                i = int(np.flatnonzero(bad)[0])
                raise ValueError(f"{name}[{i}] = {int(x[i])} is out of range [0, {bound})")
            arrays[name] = np.ascontiguousarray(x, dtype=np.int64)
        n = {arrays[k].size for k in arrays}
        if len(n) != 1:
            raise ValueError("states, actions and next_states must have the same length")
        counts = np.bincount(arrays["states"] * A + arrays["actions"], minlength=S * A)
        if (counts == 0).any():
            missing = np.flatnonzero(counts == 0)
            s, a = divmod(int(missing[0]), A)
            raise ValueError(
                f"dataset misses {missing.size} (s, a) pairs, e.g. (s, a) = ({s}, {a}); every "
                "pair needs a sample"
            )
        if self.source is not None and (self.source.n_states, self.source.n_actions) != (S, A):
            raise ValueError("source must have the shape of rewards (S, A)")
        for name, x in arrays.items():
            x.flags.writeable = False
            object.__setattr__(self, name, x)
        r = r.copy()
        r.flags.writeable = False
        object.__setattr__(self, "rewards", r)
        counts.flags.writeable = False
        object.__setattr__(self, "counts", counts.reshape(S, A))

    @property
    def n_states(self) -> int:
        return int(self.rewards.shape[0])

    @property
    def n_actions(self) -> int:
        return int(self.rewards.shape[1])

    def __len__(self) -> int:
        return int(self.states.size)


def sample_dataset(mdp: TabularMDP, n_per_pair: int, *, seed: Any = None) -> TransitionDataset:
    """``n_per_pair`` next states drawn from ``P(.|s, a)`` for every pair (a generative model),
    with ``mdp``'s reward table and ``source=mdp``."""
    n = as_int("n_per_pair", n_per_pair)
    rng = as_generator(seed)
    S, A = mdp.n_states, mdp.n_actions
    P2 = mdp.transition_matrix
    P2 = P2.toarray() if sp.issparse(P2) else np.asarray(P2)
    cdf = np.cumsum(P2, axis=1)
    cdf[:, -1] = 1.0
    u = rng.random((S * A, n))
    nxt = np.empty((S * A, n), dtype=np.int64)
    for i in range(S * A):
        nxt[i] = np.searchsorted(cdf[i], u[i], side="right")
    nxt = np.minimum(nxt, S - 1)
    pairs = np.repeat(np.arange(S * A), n)
    return TransitionDataset(
        states=pairs // A,
        actions=pairs % A,
        next_states=nxt.ravel(),
        rewards=mdp.rewards,
        source=mdp,
    )
