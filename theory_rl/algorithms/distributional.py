r"""Distributional dynamic programming: categorical and quantile policy evaluation, exact metrics
between return laws, and return-distribution optimisation by stock augmentation.

**Return laws.**  :math:`\eta^\pi(s) = \mathrm{Law}(G \mid S_0 = s)`,
:math:`G = \sum_t \gamma^t R_{t+1}`, with rewards :math:`R \sim p(\cdot, \cdot \mid s, a)` drawn
with the next state: ``mdp.rewards_sas`` (``r(s, a, s')``) or ``mdp.reward_distribution`` (a
law per ``(s, a)``) when the MDP has them, else the mean ``r(s, a)``.  Laws are batched arrays:
``atoms_S_M`` (sorted or not) and ``probs_S_M``; a categorical law keeps ``probs_S_M`` on one
equally spaced ``support`` :math:`\theta_1 < \dots < \theta_M`, spacing :math:`\varsigma`; an
``M``-quantile law keeps ``atoms_S_M`` with weights ``1/M``.

**Metrics** (:func:`cramer_distance`, :func:`wasserstein_distance`), exact for finite laws: with
the merged, sorted atoms :math:`z_1 \le \dots \le z_K` of both laws and :math:`D_k = F(z_k) -
F'(z_k)` constant on :math:`[z_k, z_{k+1})`,
:math:`\ell_2^2 = \sum_k D_k^2 (z_{k+1} - z_k)` and :math:`w_1 = \sum_k |D_k| (z_{k+1} - z_k)`;
:math:`w_\infty = \sup_\tau |F^{-1}(\tau) - F'^{-1}(\tau)|` over the merged cumulative weights
(both quantile functions are constant between them).  A bar means the max over states.

**Categorical DP** (Rowland et al. 2018; Bellemare, Dabney & Rowland 2023, §5.6-5.10):
:math:`\eta_{k+1} = \Pi_C T^\pi \eta_k`, with the Cramér projection in kernel form
:math:`\Pi_C\nu = \sum_j \mathbb E_{Y\sim\nu}[h_j(Y)]\delta_{\theta_j}`,
:math:`h_j(y) = (1 - |u(y) - j|)_+`, :math:`u(y) = \mathrm{clip}((y - \theta_1)/\varsigma, 0,
M-1)` (so :math:`h_1 = 1` below :math:`\theta_1` and :math:`h_M = 1` above :math:`\theta_M`).
Guarantees: :math:`\Pi_C` is the :math:`\ell_2`-orthogonal projection onto laws on the support
(for laws inside :math:`[\theta_1, \theta_M]`), so :math:`\Pi_C T^\pi` is a
:math:`\sqrt\gamma`-contraction in :math:`\bar\ell_2` ([C], book Ch. 4-5); the fixed point
preserves the mean, :math:`\mathbb E\eta_C(s) = V^\pi(s)`, when the support covers the returns;
and (Pythagoras, [D]; Rowland et al. 2018 Prop. 3 in this form is recalled, [R])
:math:`\bar\ell_2(\eta_C, \eta^\pi) \le (1-\gamma)^{-1/2}\max_s \ell_2(\Pi_C\eta^\pi(s),
\eta^\pi(s)) \le \sqrt{\varsigma/(1-\gamma)}` (:mod:`theory_rl.bounds.rowland2018`).

**Quantile DP** (Dabney et al. 2018; Rowland et al. 2024): :math:`\eta_{k+1} = \Pi_Q T^\pi
\eta_k`, :math:`\Pi_Q\nu = \frac1M\sum_i \delta_{F_\nu^{-1}(\tau_i)}`,
:math:`\tau_i = (2i-1)/(2M)`, :math:`F^{-1}(\tau) = \inf\{x : F(x) \ge \tau\}`; **tie
convention**: a cumulative weight within :data:`TIE_TOL` below :math:`\tau_i` counts as
reaching it (float sums of ``1/M`` weights land exactly on :math:`\tau_i` in the ``U[0, 2]``
example, where the convention decides the fixed point: atoms :math:`2(i-1)/M`, mean
:math:`1 - 1/M`).  :math:`\Pi_Q T^\pi` is a :math:`\gamma`-contraction in :math:`\bar w_\infty`
(Dabney et al. 2018, Prop. 2, [C]); :math:`\bar w_\infty(\eta_Q, \eta^\pi) \le \bar
w_\infty(\Pi_Q\eta^\pi, \eta^\pi)/(1-\gamma)` ([D], Banach).  Means are not preserved.

**Stock augmentation** (Pires et al. 2025, whose body could not be read: this is a
reconstruction from the abstract, Bäuerle & Ott 2011 and derivations [D]): the state is
:math:`(s, c)` with :math:`C_{t+1} = (C_t + R_{t+1})/\gamma`, and the objective
:math:`K(\eta(s, c)) = \mathbb E f(c + G)`.  DVI: :math:`\eta_{n+1} = T^{\pi_n}\eta_n` with
:math:`\pi_n(s, c) \in \arg\max_a K((T^a\eta_n)(s, c))`, from :math:`\eta_0(s, c) = \delta_c`.
When :math:`f` is positively homogeneous of degree ``k`` (:math:`f(\gamma x) = \gamma^k f(x)`:
``"mean"`` :math:`x`, ``"cvar"`` :math:`\min(x, 0)`, ``"homeostasis"`` :math:`-|x|` have
``k = 1``; ``"constraint"`` :math:`1\{x \ge 0\}` has ``k = 0``), :math:`U_n(s, c) =
K(\eta_n(s, c))` obeys :math:`U_{n+1}(s, c) = \max_a \gamma^k\,\mathbb E[U_n(S', (c + R)/
\gamma)]` exactly [D], which is what the grid solver iterates.  On a discounted
:class:`TabularMDP` the stock lives on a grid covering :math:`[-R_{\max}/(1-\gamma),
-R_{\min}/(1-\gamma)]`; off-grid stocks are linearly interpolated between neighbours (an
:math:`L`-Lipschitz ``f`` of degree 1 adds at most :math:`L h/(2(1-\gamma))`, ``h`` the largest
grid step: ``params["interpolation_error_bound"]``), and outside the grid the closed forms are
exact (there :math:`c + G` has one sign, :math:`f(x) = f(\pm 1)|x|^k`, so
:math:`U = f(-1)(-c - V)` below, with the best :math:`V` for the sign, and :math:`U = f(1)(c + V)`
above).  On a :class:`FiniteHorizonMDP` DVI runs ``H`` backward steps on exact laws over the
reachable stocks (any ``f``).  Representations of the return-to-go law per ``(s, c)``
(``representation=``): ``"categorical"`` (grid) and ``"quantile"`` (grid, and on the exact
reachable stocks of a :class:`FiniteHorizonMDP`, with the error bound
:math:`L(\frac1{2M}+\epsilon)\Delta R\sum_{t<H}\gamma^t\sum_{u<H-t}\gamma^u` [D] of
:func:`theory_rl.bounds.pires2025.quantile_stock_error_bound`).  With integer rewards and
:math:`\gamma = 1` the exact mode of
:func:`cvar_optimal_policy` runs backward induction on all integer stocks at once.
Bound [D] (from the notes, not the paper's constants): for ``f`` ``L``-Lipschitz of degree 1,
:math:`\sup|U_n - U^*| \le \gamma^n \sup|U_0 - U^*|` and the greedy :math:`\pi_n` loses at most
:math:`2\gamma\sup|U_n - U^*|/(1-\gamma)` (:mod:`theory_rl.bounds.pires2025`).

**CVaR** (lower tail, level :math:`\alpha \in (0, 1]`): Rockafellar-Uryasev,
:math:`\mathrm{CVaR}_\alpha(G) = \max_b\{b - \alpha^{-1}\mathbb E(b - G)^+\}`, so
:math:`\max_\pi \mathrm{CVaR}_\alpha = \max_b\{b + \alpha^{-1} U^*(s, -b)\}` with ``f = min(x,
0)`` (history-dependent policies in ``s``, Markov in ``(s, c)``; Bäuerle & Ott 2011).

**Exponential utility** (``"exponential"``, :math:`f(x) = -e^{-\beta x}`) is not homogeneous:
DVI with :math:`\gamma < 1` can be suboptimal (a negative control); at :math:`\gamma = 1` it is
exact.  On the stock grid of a discounted MDP it runs with the law representations only
(``"categorical"``, ``"quantile"``).  Why not ``"value"``: with :math:`c + R = \gamma C'`,
:math:`K((T^a\eta)(s, c)) = \mathbb E[-e^{-\beta\gamma(C' + G')}]`, an exponential utility
with risk aversion :math:`\beta\gamma`, which is not a function of :math:`U(S', C') =
\mathbb E[-e^{-\beta(C' + G')}]` (Jensen: :math:`\mathbb E[Y^\gamma] \ne (\mathbb E
Y)^\gamma` for :math:`Y = e^{-\beta(C' + G')}` unless ``Y`` is a.s. constant), so ``U`` has no
closed recursion and no closed form outside the grid; the same holds for policy iteration.
Why the law representations work, with an exact off-grid rule: :math:`K_c(\nu) = \mathbb
E[-e^{-\beta(c + G)}] = e^{-\beta c}K_0(\nu)` with :math:`e^{-\beta c} > 0`, so the greedy
action at ``(s, c)`` does not depend on ``c``; from :math:`\eta_0(s, c) = \delta_0` every
iterate's laws are then the same at every stock, and the law of an off-grid stock is that of
the nearest grid stock (exact, not an approximation); values off the grid are
:math:`U(s, c) = e^{-\beta(c - c_1)}U(s, c_1)` (exact).  The stock is therefore irrelevant for
this objective: DVI is a stationary greedy recursion on laws per state, which is what makes it
suboptimal when :math:`\gamma < 1` (the optimal policy is time-dependent, with risk aversion
:math:`\beta\gamma^t` at step ``t``).

References:
    Bellemare, M. G., Dabney, W. & Munos, R. (2017). A distributional perspective on RL. ICML.
    Rowland, M. et al. (2018). An analysis of categorical distributional RL. AISTATS.
    arXiv:1802.08163.
    Dabney, W. et al. (2018). Distributional RL with quantile regression. AAAI.
    Bellemare, M. G., Dabney, W. & Rowland, M. (2023). *Distributional Reinforcement Learning*.
    MIT Press.
    Bäuerle, N. & Ott, J. (2011). Markov decision processes with average-value-at-risk criteria.
    Math. Methods Oper. Res. 74:361-379.
    Ávila Pires, B. et al. (2025). Optimizing return distributions with distributional dynamic
    programming. JMLR 26(185); arXiv:2501.13028 (body not read: a reconstruction).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from theory_rl._checks import as_int, as_positive, as_real
from theory_rl.algorithms._loop import Callback, Method, check_record, iterate
from theory_rl.backend import array_namespace, cumulative_sum, namespace_of, resolve_device
from theory_rl.backend import to_numpy as _np
from theory_rl.kernels import distributional as _kd
from theory_rl.mdps.tabular import FiniteHorizonMDP, TabularMDP, validate_policy
from theory_rl.result import SolveResult

__all__ = [
    "OBJECTIVES",
    "TIE_TOL",
    "categorical_evaluation",
    "categorical_projection",
    "categorical_step",
    "cramer_distance",
    "cvar",
    "cvar_optimal_policy",
    "distributional_policy_iteration",
    "distributional_value_iteration",
    "quantile_evaluation",
    "quantile_projection",
    "quantile_step",
    "wasserstein_distance",
]

#: Quantile tie convention: a cumulative weight within this of ``tau`` below it reaches ``tau``;
#: in :func:`wasserstein_distance` (order inf), ``tau`` intervals shorter than this are empty.
TIE_TOL = 1e-10
#: Probabilities must sum to one within this.
PROB_TOL = 1e-8
#: Relative tolerance of "equally spaced" for a support.
SPACING_RTOL = 1e-9


# ------------------------------------------------------------------------------------------
# laws and exact metrics
# ------------------------------------------------------------------------------------------
def _law(atoms: Any, probs: Any, name: str, xp: Any = np) -> tuple[Any, Any]:
    """``(atoms, probs)`` as float arrays of one shape ``(..., M)``; ``probs=None`` is uniform."""
    atoms = xp.asarray(atoms, dtype=xp.float64)
    if atoms.ndim == 0 or atoms.shape[-1] == 0:
        raise ValueError(f"{name}_atoms must have at least one atom along its last axis")
    if not bool(xp.all(xp.isfinite(atoms))):
        raise ValueError(f"{name}_atoms must be finite")
    if probs is None:
        return atoms, xp.full(atoms.shape, 1.0 / atoms.shape[-1])
    probs = xp.asarray(probs, dtype=xp.float64)
    if probs.shape != atoms.shape and probs.ndim and probs.shape[-1] == atoms.shape[-1]:
        try:  # a shared support (M,) for a batch of probabilities (..., M), or the reverse
            shape = np.broadcast_shapes(atoms.shape, probs.shape)
            atoms, probs = xp.broadcast_to(atoms, shape), xp.broadcast_to(probs, shape)
        except ValueError:
            pass
    if probs.shape != atoms.shape:
        raise ValueError(
            f"{name}_probs must have the shape of {name}_atoms {atoms.shape}; got {probs.shape}"
        )
    if not bool(xp.all(xp.isfinite(probs))) or bool(xp.any(probs < 0)):
        raise ValueError(f"{name}_probs must be finite and >= 0")
    err = float(xp.max(xp.abs(xp.sum(probs, axis=-1) - 1.0)))
    if err > PROB_TOL:
        raise ValueError(f"{name}_probs must sum to 1 along the last axis (off by {err:.3g})")
    return atoms, probs


def _pair(u_atoms: Any, v_atoms: Any, u_probs: Any, v_probs: Any) -> tuple[Any, ...]:
    xp = namespace_of(u_atoms, v_atoms)
    ua, up = _law(u_atoms, u_probs, "u", xp)
    va, vp = _law(v_atoms, v_probs, "v", xp)
    try:
        batch = np.broadcast_shapes(ua.shape[:-1], va.shape[:-1])
    except ValueError:
        raise ValueError(
            f"u and v batch shapes {ua.shape[:-1]} and {va.shape[:-1]} do not broadcast"
        ) from None
    ua, up = (xp.broadcast_to(x, (*batch, ua.shape[-1])) for x in (ua, up))
    va, vp = (xp.broadcast_to(x, (*batch, va.shape[-1])) for x in (va, vp))
    return xp, ua, up, va, vp


def _cdf_gaps(xp: Any, ua: Any, up: Any, va: Any, vp: Any) -> tuple[Any, Any]:
    """``(D, dz)``: ``F_u - F_v`` on each interval between merged sorted atoms, and its width."""
    z = _concat(xp, [ua, va], axis=-1)
    d = _concat(xp, [up, -vp], axis=-1)
    order = xp.argsort(z, axis=-1)
    z = xp.take_along_axis(z, order, axis=-1)
    d = xp.take_along_axis(d, order, axis=-1)
    return cumulative_sum(xp, d)[..., :-1], xp.diff(z, axis=-1)


def cramer_distance(u_atoms: Any, v_atoms: Any, u_probs: Any = None, v_probs: Any = None) -> Any:
    r"""Exact Cramér distance :math:`\ell_2(\nu_u, \nu_v) = (\int (F_u - F_v)^2 dx)^{1/2}`.

    Args:
        u_atoms, v_atoms: ``(..., M_u)`` and ``(..., M_v)`` atoms (any order), batch axes
            broadcast.
        u_probs, v_probs: their probabilities (same shapes); uniform when omitted (quantile
            laws).

    Returns:
        ``(...)`` distances (the max over a state axis is :math:`\bar\ell_2`).

    Example:
        >>> float(cramer_distance([0.0], [1.0]))
        1.0
    """
    xp, ua, up, va, vp = _pair(u_atoms, v_atoms, u_probs, v_probs)
    D, dz = _cdf_gaps(xp, ua, up, va, vp)
    return xp.sqrt(xp.sum(D * D * dz, axis=-1))


def wasserstein_distance(
    u_atoms: Any, v_atoms: Any, u_probs: Any = None, v_probs: Any = None, *, order: Any = 1
) -> Any:
    r"""Exact Wasserstein distance of order 1 or infinity between finite laws.

    :math:`w_1 = \int |F_u - F_v| dx`; :math:`w_\infty = \sup_{\tau\in(0,1)}|F_u^{-1}(\tau) -
    F_v^{-1}(\tau)|`, evaluated between the merged cumulative weights (intervals shorter than
    :data:`TIE_TOL` are float artefacts and skipped).  Arguments as :func:`cramer_distance`
    (the argument order follows :func:`scipy.stats.wasserstein_distance`).

    Args:
        order: ``1`` or ``math.inf`` (``"inf"`` accepted).

    Example:
        >>> float(wasserstein_distance([0.0, 1.0], [0.0, 3.0], order="inf"))
        2.0
    """
    if order not in (1, math.inf, "inf"):
        raise ValueError(f"order must be 1 or inf, got {order!r}")
    xp, ua, up, va, vp = _pair(u_atoms, v_atoms, u_probs, v_probs)
    if order == 1:
        D, dz = _cdf_gaps(xp, ua, up, va, vp)
        return xp.sum(xp.abs(D) * dz, axis=-1)
    qu = _sorted_law(xp, ua, up)
    qv = _sorted_law(xp, va, vp)
    zero = xp.zeros((*ua.shape[:-1], 1))
    taus = xp.sort(_concat(xp, [zero, qu[1], qv[1]], axis=-1), axis=-1)
    lo, hi = taus[..., :-1], taus[..., 1:]
    keep = (hi - lo) > TIE_TOL
    mid = 0.5 * (lo + hi)
    gap = xp.abs(_quantile_at(xp, qu, mid) - _quantile_at(xp, qv, mid))
    return xp.max(xp.where(keep, gap, 0.0), axis=-1)


def _concat(xp: Any, arrays: Sequence[Any], axis: int = 0) -> Any:
    """``concat`` of the array API standard (``concatenate`` where a namespace predates it)."""
    f = getattr(xp, "concat", None)
    return f(list(arrays), axis=axis) if f is not None else xp.concatenate(arrays, axis=axis)


def _sums_booleans(xp: Any) -> bool:
    """Whether ``xp.sum`` accepts booleans (NumPy, CuPy: yes; ``array_api_strict``: no)."""
    try:
        xp.sum(xp.asarray([True]))
    except TypeError:
        return False
    return True


def _sorted_law(xp: Any, atoms: Any, probs: Any) -> tuple[Any, Any]:
    """``(sorted atoms, cumulative weights)``."""
    order = xp.argsort(atoms, axis=-1)
    return (
        xp.take_along_axis(atoms, order, axis=-1),
        cumulative_sum(xp, xp.take_along_axis(probs, order, axis=-1)),
    )


def _quantile_at(xp: Any, law: tuple[Any, Any], taus: Any, tol: float = 0.0) -> Any:
    """``F^{-1}(tau) = inf{x : F(x) >= tau - tol}`` for sorted ``law``; ``taus`` ``(..., T)``."""
    atoms, cum = law
    below = cum[..., None, :] < taus[..., :, None] - tol
    # NumPy/CuPy sum booleans in place; the standard's count_nonzero copies them first (in
    # NumPy), which costs ~20% of a generic quantile sweep in page faults
    idx = xp.sum(below, axis=-1) if _sums_booleans(xp) else xp.count_nonzero(below, axis=-1)
    idx = xp.minimum(idx, atoms.shape[-1] - 1)
    return xp.take_along_axis(atoms, idx, axis=-1)


def cvar(atoms: Any, probs: Any = None, *, alpha: Any) -> Any:
    r"""Lower-tail :math:`\mathrm{CVaR}_\alpha = \frac1\alpha\int_0^\alpha F^{-1}(u)\,du` of finite
    laws ``(..., M)``; ``alpha`` a scalar in ``(0, 1]`` or an array broadcasting with the batch.

    Example:
        >>> float(cvar([0.0, 1.0, 2.0, 3.0], alpha=0.5))
        0.5
    """
    xp = namespace_of(atoms)
    a, p = _law(atoms, probs, "atoms", xp)
    al = _check_alpha(alpha)
    x, cum = _sorted_law(xp, a, p)
    prev = _concat(xp, [xp.zeros((*cum.shape[:-1], 1)), cum[..., :-1]], axis=-1)
    al_x = xp.asarray(al)[..., None]
    w = xp.clip(xp.minimum(cum, al_x) - prev, 0.0, None)
    return xp.sum(w * x, axis=-1) / xp.asarray(al)


def _check_alpha(alpha: Any) -> Any:
    arr = np.asarray(alpha, dtype=float)
    if arr.size == 0 or not np.all(np.isfinite(arr)) or np.any(arr <= 0) or np.any(arr > 1):
        raise ValueError(f"alpha must be in (0, 1], got {alpha!r}")
    return arr if arr.ndim else float(arr)


# ------------------------------------------------------------------------------------------
# projections
# ------------------------------------------------------------------------------------------
def _support(support: Any, name: str = "support") -> np.ndarray:
    """A 1-D, strictly increasing, equally spaced support of ``M >= 2`` atoms."""
    theta = np.asarray(_np(support), dtype=np.float64)
    if theta.ndim != 1 or theta.size < 2:
        raise ValueError(f"{name} must be a 1-D array of m >= 2 atoms, got shape {theta.shape}")
    if not np.all(np.isfinite(theta)):
        raise ValueError(f"{name} must be finite")
    gaps = np.diff(theta)
    if np.any(gaps <= 0):
        k = int(np.flatnonzero(gaps <= 0)[0])
        raise ValueError(
            f"{name} must be strictly increasing: {name}[{k + 1}] = {theta[k + 1]!r} <= "
            f"{name}[{k}] = {theta[k]!r}"
        )
    spacing = (theta[-1] - theta[0]) / (theta.size - 1)
    if np.max(np.abs(gaps - spacing)) > SPACING_RTOL * max(spacing, abs(theta).max()):
        raise ValueError(f"{name} must be equally spaced (a categorical support)")
    return theta


def categorical_projection(atoms: Any, probs: Any = None, *, support: Any) -> Any:
    r"""Cramér projection :math:`\Pi_C` onto ``support`` in kernel form (module docstring).

    Args:
        atoms, probs: ``(..., K)`` finite laws (``probs`` uniform when omitted).
        support: ``(M,)`` equally spaced, strictly increasing atoms, ``M >= 2``.

    Returns:
        ``(..., M)`` probabilities on ``support``.  An atom exactly on a support point keeps its
        whole mass there.

    Example:
        >>> categorical_projection([0.25, 1.0], [0.5, 0.5], support=[0.0, 1.0]).tolist()
        [0.375, 0.625]
    """
    theta = _support(support)
    xp = namespace_of(atoms)
    a, p = _law(atoms, probs, "atoms", xp)
    M = theta.size
    spacing = float((theta[-1] - theta[0]) / (M - 1))
    u = xp.clip((a - float(theta[0])) / spacing, 0.0, M - 1.0)
    h = xp.maximum(0.0, 1.0 - xp.abs(u[..., :, None] - xp.arange(M, dtype=xp.float64)))
    return xp.matmul(p[..., None, :], h)[..., 0, :]  # standard (no einsum), as fast


def quantile_projection(atoms: Any, probs: Any = None, *, n_quantiles: int) -> Any:
    r"""Quantile projection :math:`\Pi_Q`: the ``m`` atoms :math:`F^{-1}(\tau_i)`,
    :math:`\tau_i = (2i-1)/(2m)`, with the tie convention of :data:`TIE_TOL`.

    Args:
        atoms, probs: ``(..., K)`` finite laws.
        n_quantiles: ``m >= 2``.

    Returns:
        ``(..., m)`` sorted atoms (weights ``1/m``).

    Example:
        >>> quantile_projection([0.0, 1.0], [0.5, 0.5], n_quantiles=2).tolist()
        [0.0, 1.0]
    """
    m = as_int("n_quantiles", n_quantiles, minimum=2)
    xp = namespace_of(atoms)
    a, p = _law(atoms, probs, "atoms", xp)
    taus = xp.asarray(_taus(m))
    taus = xp.broadcast_to(taus, (*a.shape[:-1], m))
    return _quantile_at(xp, _sorted_law(xp, a, p), taus, TIE_TOL)


def _taus(m: int) -> np.ndarray:
    return (2.0 * np.arange(1, m + 1) - 1.0) / (2.0 * m)


# ------------------------------------------------------------------------------------------
# transition outcomes (s, a) -> (s', r, p)
# ------------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class _Outcomes:
    """CSR outcomes: row ``s*A + a`` holds entries ``indptr[row]:indptr[row+1]``."""

    indptr: np.ndarray  # (S*A + 1,) int64
    nxt: np.ndarray  # (E,) int64
    rew: np.ndarray  # (E,) float64
    prob: np.ndarray  # (E,) float64
    n_states: int
    n_actions: int

    @property
    def row(self) -> np.ndarray:
        """``(E,)`` row ``s*A + a`` of each entry."""
        return np.repeat(np.arange(self.indptr.size - 1), np.diff(self.indptr))

    @property
    def reward_range(self) -> tuple[float, float]:
        return float(self.rew.min()), float(self.rew.max())


def _outcomes(mdp: TabularMDP, rewards: np.ndarray | None = None) -> _Outcomes:
    """The outcome table of ``mdp`` (``rewards`` ``(S, A)`` overrides the reward model)."""
    S, A = mdp.n_states, mdp.n_actions
    P2 = mdp.transition_matrix
    if sp.issparse(P2):
        indptr = np.asarray(P2.indptr, dtype=np.int64)
        nxt = np.asarray(P2.indices, dtype=np.int64)
        prob = np.asarray(P2.data, dtype=np.float64)
        keep = prob > 0
        row = np.repeat(np.arange(S * A), np.diff(indptr))[keep]
        nxt, prob = nxt[keep], prob[keep]
    else:
        row, nxt = np.nonzero(P2 > 0)
        prob = P2[row, nxt]
    row, nxt = row.astype(np.int64), nxt.astype(np.int64)
    if rewards is not None:
        rew = np.asarray(rewards, dtype=np.float64).reshape(-1)[row]
    elif mdp.rewards_sas is not None:
        rew = mdp.rewards_sas.reshape(S * A, S)[row, nxt]
    elif mdp.reward_distribution is not None:
        values, probs = (x.reshape(S * A, -1) for x in mdp.reward_distribution)
        K = values.shape[1]
        rew = values[row].reshape(-1)
        prob = (prob[:, None] * probs[row]).reshape(-1)
        row, nxt = np.repeat(row, K), np.repeat(nxt, K)
        keep = prob > 0
        row, nxt, rew, prob = row[keep], nxt[keep], rew[keep], prob[keep]
    else:
        rew = mdp.rewards.reshape(-1)[row]
    counts = np.bincount(row, minlength=S * A)
    indptr = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    return _Outcomes(
        indptr,
        np.ascontiguousarray(nxt),
        np.ascontiguousarray(rew, dtype=np.float64),
        np.ascontiguousarray(prob, dtype=np.float64),
        S,
        A,
    )


def _check_tabular(mdp: Any) -> TabularMDP:
    if not isinstance(mdp, TabularMDP):
        raise ValueError(f"mdp must be a TabularMDP, got {type(mdp).__name__}")
    return mdp


class _Operator:
    """``Pi T^pi`` of one MDP and policy, bound once: numba (dense or CSR) or generic path.

    The generic path (``kernel="generic"``, used on GPU) uses two operations NumPy and CuPy
    have but the array API standard does not.  (1) The quantile sweep gathers with a 2-D
    integer index table (``a[nxt[tab]]``, ``(S, width, M)``); the standard offers only
    ``take`` with 1-D indices, and ``take`` + ``reshape`` made the NumPy sweep slower (S = 500,
    A = 5, b = 5, M = 51: 54 ms against 44 ms, equal when glibc's mmap threshold is raised:
    an allocation artefact, but measurable), so the gathers stay.  (2) The categorical sweep
    scatters its ``2 E M`` kernel-form masses into ``S M`` bins with ``bincount`` (the
    standard has no scatter-add).  The standard
    replacements cost more than that on NumPy: a one-hot contraction is ``O(E M^2)`` work
    (about ``M/2`` times the scatter's work, 25 at ``M = 51``), a sort-based segment sum
    ``O(E M log(E M))``, and per-state sums through the padded entry table need a
    consistent bin count per atom that only a histogram gives (bins recomputed from the
    arithmetic positions disagree with the scattered ones at atoms on support points, where the
    kernel form puts all mass on one atom).  So it stays.  The metrics, CVaR, the projections
    and the helpers the quantile sweep shares with them (``_sorted_law``, ``_quantile_at``) are
    standard and run under ``array_api_strict`` (``tests/test_array_api.py``).
    """

    def __init__(self, mdp: TabularMDP, policy: Any, kernel: str, device: str | None):
        self.mdp = _check_tabular(mdp)
        if kernel not in ("numba", "generic"):
            raise ValueError(f'kernel must be "numba" or "generic", got {kernel!r}')
        self.device = resolve_device(device, policy)
        if self.device == "gpu":
            kernel = "generic"
        self.kernel = kernel
        self.xp = array_namespace(self.device)
        self.pi = np.ascontiguousarray(validate_policy(_np(policy), mdp.n_states, mdp.n_actions))
        self.gamma = float(mdp.gamma)
        self.out = _outcomes(mdp)
        S, A = mdp.n_states, mdp.n_actions
        self.dense = kernel == "numba" and not mdp.is_sparse and mdp.reward_distribution is None
        if self.dense:
            # writable C-contiguous copies: numba types read-only arrays apart (one signature)
            self.P = np.require(mdp.transitions, np.float64, ["C", "W"])
            r3 = mdp.rewards_sas
            if r3 is None:
                r3 = np.broadcast_to(mdp.rewards[:, :, None], (S, A, S))
            self.r3 = np.require(r3, np.float64, ["C", "W"])
        o = self.out
        w = self.pi.reshape(-1)[o.row] * o.prob  # (E,) pi(a|s) p(s', r | s, a)
        self.state = o.row // A
        if kernel == "generic":
            xp = self.xp
            self.g_state = xp.asarray(self.state)
            self.g_nxt = xp.asarray(o.nxt)
            self.g_rew = xp.asarray(o.rew)
            self.g_w = xp.asarray(w)
            # per-state padded entry table for the quantile sort
            counts = np.bincount(self.state, minlength=S)
            width = int(counts.max())
            slot = np.arange(o.nxt.size) - np.repeat(np.cumsum(counts) - counts, counts)
            tab = np.zeros((S, width), dtype=np.int64)
            valid = np.zeros((S, width), dtype=bool)
            tab[self.state, slot] = np.arange(o.nxt.size)
            valid[self.state, slot] = True
            self.g_tab, self.g_valid = xp.asarray(tab), xp.asarray(valid)
        counts = np.bincount(self.state, weights=None, minlength=S)
        self.max_state_entries = int(counts.max())

    # -- categorical ------------------------------------------------------------------------
    def categorical(self, probs: Any, theta: np.ndarray) -> Any:
        M = theta.size
        theta0 = float(theta[0])
        spacing = float((theta[-1] - theta[0]) / (M - 1))
        if self.kernel == "numba":
            p = np.ascontiguousarray(_np(probs), dtype=np.float64)
            out = np.empty_like(p)
            if self.dense:
                _kd._categorical_sweep_dense(
                    self.P, self.r3, self.pi, p, theta0, spacing, self.gamma, out
                )
            else:
                o = self.out
                _kd._categorical_sweep_csr(
                    o.indptr,
                    o.nxt,
                    o.rew,
                    o.prob,
                    self.pi,
                    p,
                    theta0,
                    spacing,
                    self.gamma,
                    np.empty(M),
                    out,
                )
            return out
        xp = self.xp
        S = self.mdp.n_states
        y = self.g_rew[:, None] + self.gamma * xp.asarray(theta)[None, :]  # (E, M)
        u = xp.clip((y - theta0) / spacing, 0.0, M - 1.0)
        lo = xp.minimum(xp.floor(u), M - 2.0)
        frac = u - lo
        lo = lo.astype(xp.int64)
        q = self.g_w[:, None] * xp.asarray(probs)[self.g_nxt]  # (E, M)
        base = (self.g_state * M)[:, None]
        flat = xp.bincount((base + lo).ravel(), weights=(q * (1.0 - frac)).ravel(), minlength=S * M)
        flat = flat + xp.bincount(
            (base + lo + 1).ravel(), weights=(q * frac).ravel(), minlength=S * M
        )
        return flat.reshape(S, M)

    # -- quantile ---------------------------------------------------------------------------
    def quantile(self, atoms: Any) -> Any:
        M = atoms.shape[1]
        taus = _taus(M)
        if self.kernel == "numba":
            a = np.ascontiguousarray(_np(atoms), dtype=np.float64)
            out = np.empty_like(a)
            n = self.max_state_entries * M
            o = self.out
            _kd._quantile_sweep_csr(
                o.indptr,
                o.nxt,
                o.rew,
                o.prob,
                self.pi,
                a,
                taus,
                TIE_TOL,
                self.gamma,
                np.empty(n),
                np.empty(n),
                out,
            )
            return out
        xp = self.xp
        S = self.mdp.n_states
        a = xp.asarray(atoms)
        y = self.g_rew[self.g_tab][..., None] + self.gamma * a[self.g_nxt[self.g_tab]]
        w = xp.where(self.g_valid, self.g_w[self.g_tab], 0.0)[..., None] / M
        y = xp.where(self.g_valid[..., None], y, xp.inf).reshape(S, -1)
        w = xp.broadcast_to(w, (*w.shape[:2], M)).reshape(S, -1)
        law = _sorted_law(xp, y, w)
        return _quantile_at(xp, law, xp.broadcast_to(xp.asarray(taus), (S, M)), TIE_TOL)


def categorical_step(
    mdp: TabularMDP, policy: Any, probs_S_M: Any, *, support: Any, kernel: str = "numba"
) -> Any:
    r"""One projected categorical Bellman update :math:`\Pi_C T^\pi` (module docstring).

    Args:
        mdp: the MDP (its reward model: ``rewards_sas``, ``reward_distribution`` or the mean).
        policy: ``(S, A)`` or ``(S,)`` integer actions.
        probs_S_M: ``(S, M)`` probabilities on ``support``.
        support: ``(M,)`` equally spaced atoms.
        kernel: ``"numba"`` (CPU) or ``"generic"`` (array code, the CuPy path).

    Returns:
        ``(S, M)`` probabilities.
    """
    theta = _support(support)
    op = _Operator(mdp, policy, kernel, None)
    _, p = _law(np.broadcast_to(theta, np.shape(_np(probs_S_M))), _np(probs_S_M), "probs_S_M")
    if p.shape != (mdp.n_states, theta.size):
        raise ValueError(f"probs_S_M must have shape (S, M) = {(mdp.n_states, theta.size)}")
    return op.categorical(p, theta)


def quantile_step(mdp: TabularMDP, policy: Any, atoms_S_M: Any, *, kernel: str = "numba") -> Any:
    r"""One projected quantile Bellman update :math:`\Pi_Q T^\pi` (module docstring).

    Args:
        atoms_S_M: ``(S, M)`` atoms, weights ``1/M`` (``M >= 2``).

    Returns:
        ``(S, M)`` sorted atoms.
    """
    op = _Operator(mdp, policy, kernel, None)
    atoms = np.asarray(_np(atoms_S_M), dtype=np.float64)
    if atoms.ndim != 2 or atoms.shape[0] != mdp.n_states or atoms.shape[1] < 2:
        raise ValueError(f"atoms_S_M must have shape (S, M) with S = {mdp.n_states}, M >= 2")
    _law(atoms, None, "atoms_S_M")
    return op.quantile(atoms)


def _value_range(mdp: TabularMDP) -> tuple[float, float]:
    lo, hi = _outcomes(mdp).reward_range
    return lo / (1.0 - mdp.gamma), hi / (1.0 - mdp.gamma)


EVALUATION_METRICS = ("change", "mean_error", "sup_cramer", "sup_w1", "sup_winf")


def _policy_values(mdp: TabularMDP, pi: np.ndarray) -> np.ndarray:
    P_pi, r_pi = mdp.policy_matrix(pi)
    S = mdp.n_states
    if sp.issparse(P_pi):
        return spla.spsolve(sp.csc_array(sp.eye(S) - mdp.gamma * P_pi), r_pi)
    return np.linalg.solve(np.eye(S) - mdp.gamma * P_pi, r_pi)


def _evaluation(
    kind: str,
    mdp: TabularMDP,
    policy: Any,
    *,
    theta: np.ndarray | None,
    m: int,
    initial: Any,
    n_iterations: int,
    tol: float,
    record: Sequence[str],
    target: tuple[Any, Any] | None,
    callback: Callback | None,
    kernel: str,
    device: str | None,
    seed: Any,
) -> SolveResult:
    op = _Operator(mdp, policy, kernel, device)
    xp = op.xp
    S = mdp.n_states
    record = check_record(record, EVALUATION_METRICS)
    if target is None and any(k.startswith("sup_") for k in record):
        raise ValueError("record: sup_cramer, sup_w1 and sup_winf need reference=(atoms, probs)")
    if target is not None:
        t_atoms, t_probs = _law(
            _np(target[0]), None if target[1] is None else _np(target[1]), "target"
        )
        if t_atoms.shape[0] != S:
            raise ValueError(f"target atoms must have S = {S} rows, got {t_atoms.shape[0]}")
    v_pi = _policy_values(mdp, op.pi) if "mean_error" in record else None
    if kind == "categorical":
        if initial is None:
            x0 = np.full((S, m), 1.0 / m)
        else:
            _, x0 = _law(np.broadcast_to(theta, np.shape(initial)), initial, "initial")
        if x0.shape != (S, m):
            raise ValueError(f"initial must have shape (S, M) = {(S, m)}")
        x0 = xp.asarray(x0)
        theta_x = xp.asarray(theta)

        def law(x: Any) -> tuple[Any, Any]:
            return xp.broadcast_to(theta_x, x.shape), x

        def step(x: Any) -> Any:
            return op.categorical(x, theta)

        change_metric = "l2"
    else:
        x0 = np.zeros((S, m)) if initial is None else np.asarray(_np(initial), dtype=float)
        if x0.shape != (S, m):
            raise ValueError(f"initial must have shape (S, M) = {(S, m)}")
        x0 = xp.asarray(np.sort(x0, axis=1))

        def law(x: Any) -> tuple[Any, Any]:
            return x, xp.full(x.shape, 1.0 / m)

        def step(x: Any) -> Any:
            return op.quantile(x)

        change_metric = "winf"

    def distance(a: tuple[Any, Any], b: tuple[Any, Any], which: str) -> Any:
        if which == "l2":
            return xp.max(cramer_distance(a[0], b[0], a[1], b[1]))
        order = 1 if which == "w1" else math.inf
        return xp.max(wasserstein_distance(a[0], b[0], a[1], b[1], order=order))

    def init(rng: np.random.Generator) -> dict[str, Any]:
        return {"x": x0, "prev": None}

    def update(state: dict[str, Any], k: int) -> dict[str, Any]:
        return {"x": step(state["x"]), "prev": state["x"]}

    def measure(state: dict[str, Any], keys: frozenset[str]) -> dict[str, Any]:
        x, out = state["x"], {}
        if "change" in keys:
            out["change"] = (
                math.inf
                if state["prev"] is None
                else float(distance(law(x), law(state["prev"]), change_metric))
            )
        if "mean_error" in keys:
            a, p = law(x)
            out["mean_error"] = float(np.abs(_np((a * p).sum(axis=1)) - v_pi).max())
        if target is not None:
            tgt = (xp.asarray(t_atoms), xp.asarray(t_probs))
            for key, which in (("sup_cramer", "l2"), ("sup_w1", "w1"), ("sup_winf", "winf")):
                if key in keys:
                    out[key] = float(distance(law(x), tgt, which))
        return out

    final: dict[str, Any] = {}

    def output(state: dict[str, Any]) -> tuple[Any, Any, Any]:
        final["x"] = state["x"]
        a, p = law(state["x"])
        return op.pi, _np((a * p).sum(axis=1)), None

    method = Method(
        name=f"{kind}_evaluation",
        init=init,
        update=update,
        measure=measure,
        output=output,
        metrics=EVALUATION_METRICS,
        stop_metric="change",
    )
    params: dict[str, Any] = {"kernel": op.kernel, "device": op.device}
    if kind == "categorical":
        params["support"] = theta
    else:
        params["n_quantiles"] = m
    result = iterate(
        method,
        n_iterations=n_iterations,
        tol=tol,
        record=record,
        callback=callback,
        params=params,
        seed=seed,
    )
    key = "probs" if kind == "categorical" else "atoms"
    return _with_params(result, **{key: _np(final["x"])})


def categorical_evaluation(
    mdp: TabularMDP,
    policy: Any,
    *,
    support: Any = None,
    n_atoms: int = 51,
    initial_probs: Any = None,
    n_iterations: int = 1000,
    tol: float = 0.0,
    record: Sequence[str] = ("change",),
    reference: tuple[Any, Any] | None = None,
    callback: Callback | None = None,
    seed: Any = None,
    kernel: str = "numba",
    device: str | None = None,
) -> SolveResult:
    r"""Categorical distributional DP :math:`\eta_{k+1} = \Pi_C T^\pi \eta_k` for a policy.

    Args:
        mdp: a :class:`TabularMDP` (dense or CSR; ``rewards_sas`` and ``reward_distribution``
            are used when present).
        policy: ``(S, A)`` row-stochastic or ``(S,)`` integer actions.
        support: ``(M,)`` equally spaced atoms; default ``n_atoms`` atoms on
            :math:`[R_{\min}, R_{\max}]/(1-\gamma)` (which covers every return, so the fixed
            point's mean is :math:`V^\pi`).
        n_atoms: ``M >= 2`` when ``support`` is omitted.
        initial_probs: ``(S, M)``; uniform if omitted.
        n_iterations: at most this many updates.
        tol: stop once ``change`` :math:`= \bar\ell_2(\eta_k, \eta_{k-1}) \le` ``tol``
            (``0``: run ``n_iterations``).
        record: history keys among ``"change"``, ``"mean_error"``
            (:math:`\max_s|\mathbb E\eta_k(s) - V^\pi(s)|`), ``"sup_cramer"``, ``"sup_w1"``,
            ``"sup_winf"`` (distances to ``reference``).
        reference: ``(atoms, probs)`` ``(S, K)`` laws (``probs`` None: uniform) to measure
            against, e.g. the true return laws.
        callback: ``callback(intermediate)`` per iterate; ``StopIteration`` stops.
        seed: echoed (the iteration is deterministic).
        kernel: ``"numba"`` or ``"generic"`` (always generic on GPU).
        device: ``"cpu"``, ``"gpu"`` or None.

    Returns:
        :class:`SolveResult`: ``values`` the means :math:`\mathbb E\eta_k(s)` ``(S,)``,
        ``q_values`` None, ``params["probs"]`` ``(S, M)`` and ``params["support"]``.

    Example:
        >>> import numpy as np
        >>> mdp = TabularMDP(np.ones((1, 1, 1)), None, 0.5,
        ...                  reward_distribution=(np.array([[[0.0, 1.0]]]),
        ...                                       np.array([[[0.5, 0.5]]])))
        >>> res = categorical_evaluation(mdp, [0], n_atoms=5, n_iterations=200)
        >>> round(float(res.values[0]), 12)
        1.0
    """
    mdp = _check_tabular(mdp)
    if support is None:
        M = as_int("n_atoms", n_atoms, minimum=2)
        lo, hi = _value_range(mdp)
        if hi - lo <= 0:
            hi = lo + 1.0
        theta = np.linspace(lo, hi, M)
    else:
        theta = _support(support)
    res = _evaluation(
        "categorical",
        mdp,
        policy,
        theta=theta,
        m=theta.size,
        initial=initial_probs,
        n_iterations=n_iterations,
        tol=tol,
        record=record,
        target=reference,
        callback=callback,
        kernel=kernel,
        device=device,
        seed=seed,
    )
    return res


def quantile_evaluation(
    mdp: TabularMDP,
    policy: Any,
    *,
    n_quantiles: int = 50,
    initial_atoms: Any = None,
    n_iterations: int = 1000,
    tol: float = 0.0,
    record: Sequence[str] = ("change",),
    reference: tuple[Any, Any] | None = None,
    callback: Callback | None = None,
    seed: Any = None,
    kernel: str = "numba",
    device: str | None = None,
) -> SolveResult:
    r"""Quantile distributional DP :math:`\eta_{k+1} = \Pi_Q T^\pi \eta_k` for a policy.

    Arguments as :func:`categorical_evaluation`; ``change`` is
    :math:`\bar w_\infty(\eta_k, \eta_{k-1})`; ``initial_atoms`` ``(S, m)`` (zeros if
    omitted).

    Returns:
        :class:`SolveResult` with ``values`` the means ``(S,)`` and ``params["atoms"]``
        ``(S, m)`` sorted atoms of weight ``1/m``.
    """
    mdp = _check_tabular(mdp)
    m = as_int("n_quantiles", n_quantiles, minimum=2)
    res = _evaluation(
        "quantile",
        mdp,
        policy,
        theta=None,
        m=m,
        initial=initial_atoms,
        n_iterations=n_iterations,
        tol=tol,
        record=record,
        target=reference,
        callback=callback,
        kernel=kernel,
        device=device,
        seed=seed,
    )
    return res


def _with_params(res: SolveResult, **extra: Any) -> SolveResult:
    return dataclasses.replace(res, params={**res.params, **extra})


# ------------------------------------------------------------------------------------------
# stock augmentation
# ------------------------------------------------------------------------------------------
#: Objectives ``K(nu) = E f(X)``: name -> (f description, homogeneity degree or None).
OBJECTIVES: dict[str, tuple[str, float | None]] = {
    "mean": ("x", 1.0),
    "cvar": ("min(x, 0)", 1.0),
    "homeostasis": ("-|x|", 1.0),
    "constraint": ("1{x >= 0}", 0.0),
    "exponential": ("-exp(-beta x)", None),
}


@dataclasses.dataclass(frozen=True)
class _Objective:
    name: str
    f: Callable[[np.ndarray], np.ndarray]
    degree: float | None
    lipschitz: float | None
    beta: float = 1.0


def _objective(objective: Any, risk_aversion: float = 1.0) -> _Objective:
    if objective not in OBJECTIVES:
        raise ValueError(f"objective must be one of {sorted(OBJECTIVES)}, got {objective!r}")
    beta = as_positive("risk_aversion", risk_aversion)
    fs: dict[str, tuple[Callable[[np.ndarray], np.ndarray], float | None]] = {
        "mean": (lambda x: np.asarray(x, dtype=float), 1.0),
        "cvar": (lambda x: np.minimum(x, 0.0), 1.0),
        "homeostasis": (lambda x: -np.abs(x), 1.0),
        "constraint": (lambda x: (np.asarray(x) >= 0).astype(float), None),
        "exponential": (lambda x: -np.exp(-beta * np.asarray(x, dtype=float)), None),
    }
    f, lip = fs[objective]
    return _Objective(objective, f, OBJECTIVES[objective][1], lip, beta)


def _optimal_values(mdp: TabularMDP) -> tuple[np.ndarray, np.ndarray]:
    """``(max_pi V^pi, min_pi V^pi)`` ``(S,)`` each, by policy iteration on the mean rewards
    (one batched :func:`~theory_rl.algorithms.exact.reference` call)."""
    from theory_rl.algorithms.exact import reference

    r = np.asarray(mdp.rewards)
    pair = [TabularMDP(mdp.transitions, sign * r, mdp.gamma) for sign in (1.0, -1.0)]
    values = np.asarray(reference(pair).values)
    return values[0], -values[1]


class _StockGrid:
    """The stock-augmented Bellman operator of a homogeneous objective on a stock grid."""

    def __init__(
        self,
        mdp: TabularMDP,
        obj: _Objective,
        stock_grid: Any,
        n_stocks: int,
        laws_only: bool = False,
    ):
        #: exponential utility: laws do not depend on the stock (module docstring); off the
        #: grid a law is that of the nearest grid stock and U(s, c) = e^{-beta c} U(s, 0)
        self.scale_invariant = obj.name == "exponential"
        if obj.degree is None and not (laws_only and self.scale_invariant):
            raise ValueError(
                f"objective {obj.name!r}: f is not positively homogeneous, so K(eta) has no "
                "closed recursion on a stock grid (representation='value') and no policy "
                "iteration there; use representation='categorical' or 'quantile' (laws per "
                "stock) or a FiniteHorizonMDP (exact laws)"
            )
        self.mdp, self.obj = mdp, obj
        o = self.out = _outcomes(mdp)
        g = mdp.gamma
        r_lo, r_hi = o.reward_range
        need = (-r_hi / (1.0 - g), -r_lo / (1.0 - g))
        if stock_grid is None:
            lo, hi = need if need[1] > need[0] else (need[0] - 1.0, need[1] + 1.0)
            grid = np.linspace(lo, hi, as_int("n_stocks", n_stocks, minimum=2))
        else:
            grid = np.array(_np(stock_grid), dtype=np.float64)  # a writable copy
            if grid.ndim != 1 or grid.size < 2 or np.any(np.diff(grid) <= 0):
                raise ValueError(
                    "stock_grid must be a strictly increasing 1-D array of >= 2 stocks"
                )
            slack = 1e-9 * max(1.0, abs(need[0]), abs(need[1]))
            below = max(0.0, grid[0] - need[0] - slack)
            above = max(0.0, need[1] - grid[-1] - slack)
            if below > 0 or above > 0:
                width = max(need[1] - need[0], 1e-300)
                raise ValueError(
                    f"stock_grid covers [{grid[0]:.6g}, {grid[-1]:.6g}] but the stocks where "
                    f"c + G can take both signs span [{need[0]:.6g}, {need[1]:.6g}]: "
                    f"{below:.6g} below and {above:.6g} above would be clipped "
                    f"({100 * (below + above) / width:.3g}% of that range)"
                )
        self.grid = grid
        self.h = float(np.max(np.diff(grid)))
        self.gk = math.nan if obj.degree is None else g**obj.degree
        S, C = mdp.n_states, grid.size
        # closed forms outside the grid: U = slope * c + intercept[s]
        f_neg, f_pos = float(obj.f(np.array(-1.0))), float(obj.f(np.array(1.0)))
        if self.scale_invariant:  # unused: the law sweeps take the nearest grid stock's law
            self.lo_slope, self.hi_slope = 0.0, 0.0
            self.lo_icpt, self.hi_icpt = np.zeros(S), np.zeros(S)
        elif obj.degree == 0:
            self.lo_slope, self.hi_slope = 0.0, 0.0
            self.lo_icpt, self.hi_icpt = np.full(S, f_neg), np.full(S, f_pos)
        else:
            v_max, v_min = _optimal_values(mdp)
            a, b = -f_neg, f_pos  # f(x) = a x for x < 0, b x for x > 0
            self.lo_slope, self.hi_slope = a, b
            self.lo_icpt = a * (v_max if a >= 0 else v_min)
            self.hi_icpt = b * (v_max if b >= 0 else v_min)
        cn = (grid[None, :] + o.rew[:, None]) / g  # (E, C) next stocks
        below, above = cn < grid[0], cn > grid[-1]
        j = np.clip(np.searchsorted(grid, cn, side="right") - 1, 0, C - 2)
        w = np.clip((cn - grid[j]) / (grid[j + 1] - grid[j]), 0.0, 1.0)
        nx = o.nxt[:, None]
        self.tail = np.where(
            below,
            self.lo_slope * cn + self.lo_icpt[nx],
            np.where(above, self.hi_slope * cn + self.hi_icpt[nx], 0.0),
        )
        self.inside = ~(below | above)
        self.j, self.w = j, w
        self.idx_lo = nx * C + j
        self.n_clipped_fraction = float(1.0 - self.inside.mean())

    def initial(self) -> np.ndarray:
        """``U_0(s, c) = f(c)`` (``eta_0(s, c) = delta_c``)."""
        return np.broadcast_to(self.obj.f(self.grid), (self.mdp.n_states, self.grid.size)).copy()

    def q(self, U: np.ndarray) -> np.ndarray:
        """``(S, A, C)``: ``gamma^k E[U(S', (c + R)/gamma)]`` per action (numba kernel)."""
        o = self.out
        S, A, C = self.mdp.n_states, self.mdp.n_actions, self.grid.size
        out = np.empty((S * A, C))
        _kd._stock_q_csr(
            o.indptr,
            o.nxt,
            o.rew,
            o.prob,
            self.grid,
            np.ascontiguousarray(U, dtype=np.float64),
            float(self.lo_slope),
            np.ascontiguousarray(self.lo_icpt, dtype=np.float64),
            float(self.hi_slope),
            np.ascontiguousarray(self.hi_icpt, dtype=np.float64),
            float(self.mdp.gamma),
            float(self.gk),
            out,
        )
        return out.reshape(S, A, C)

    def q_generic(self, U: np.ndarray) -> np.ndarray:
        """:meth:`q` in vectorised NumPy (precomputed cells and closed forms)."""
        flat = U.reshape(-1)
        vals = np.where(
            self.inside,
            (1.0 - self.w) * flat[self.idx_lo] + self.w * flat[self.idx_lo + 1],
            self.tail,
        )
        o = self.out
        Q = np.add.reduceat(o.prob[:, None] * vals, o.indptr[:-1], axis=0)
        return self.gk * Q.reshape(self.mdp.n_states, self.mdp.n_actions, self.grid.size)

    def interpolate(self, U: np.ndarray, c: Any) -> np.ndarray:
        """``U(s, c)`` ``(S, ...)`` at stocks ``c`` (closed forms outside the grid; exponential
        utility: the exact rescaling ``U(s, c) = e^{-beta (c - c_1)} U(s, c_1)``)."""
        c = np.asarray(c, dtype=float)
        if self.scale_invariant:
            scale = np.exp(-self.obj.beta * (c - self.grid[0]))
            return U[:, 0].reshape((-1,) + (1,) * c.ndim) * scale
        inside = np.stack([np.interp(c, self.grid, U[s]) for s in range(U.shape[0])])
        lo = self.lo_slope * c + self.lo_icpt.reshape((-1,) + (1,) * c.ndim)
        hi = self.hi_slope * c + self.hi_icpt.reshape((-1,) + (1,) * c.ndim)
        return np.where(c < self.grid[0], lo, np.where(c > self.grid[-1], hi, inside))

    def evaluate(self, actions: np.ndarray) -> np.ndarray:
        """``U^pi`` ``(S, C)`` of a grid policy ``actions`` ``(S, C)`` (sparse solve)."""
        o = self.out
        S, A, C = self.mdp.n_states, self.mdp.n_actions, self.grid.size
        state, act = o.row // A, o.row % A
        sel = actions[state] == act[:, None]  # (E, C)
        e_idx, c_idx = np.nonzero(sel)
        rows = state[e_idx] * C + c_idx
        p = o.prob[e_idx]
        ins = self.inside[e_idx, c_idx]
        w = self.w[e_idx, c_idx]
        col = self.idx_lo[e_idx, c_idx]
        M = sp.coo_array(
            (
                np.concatenate([(p * (1 - w))[ins], (p * w)[ins]]),
                (np.concatenate([rows[ins], rows[ins]]), np.concatenate([col[ins], col[ins] + 1])),
            ),
            shape=(S * C, S * C),
        ).tocsc()
        rhs = np.bincount(
            rows, weights=p * np.where(ins, 0.0, self.tail[e_idx, c_idx]), minlength=S * C
        )
        U = spla.spsolve(sp.eye(S * C, format="csc") - self.gk * M, self.gk * rhs)
        return np.asarray(U).reshape(S, C)

    def interpolation_error_bound(self) -> float:
        """``L h / (2 (1 - gamma))`` for Lipschitz degree-1 objectives (inf otherwise)."""
        if self.obj.lipschitz is None or self.obj.degree != 1:
            return math.inf
        return self.obj.lipschitz * self.h / (2.0 * (1.0 - self.mdp.gamma))


DVI_METRICS = ("change", "error", "objective")
#: Return-law representations of stock-augmented DVI.
REPRESENTATIONS = ("value", "categorical", "quantile")


def _one_hot(actions: np.ndarray, n_actions: int) -> np.ndarray:
    return np.eye(n_actions)[actions]


def distributional_value_iteration(
    mdp: TabularMDP | FiniteHorizonMDP,
    objective: str,
    *,
    stock_grid: Any = None,
    n_stocks: int = 201,
    initial_stock: float = 0.0,
    risk_aversion: float = 1.0,
    n_iterations: int = 1000,
    tol: float = 0.0,
    record: Sequence[str] | None = None,
    reference: Any = None,
    callback: Callback | None = None,
    seed: Any = None,
    device: str | None = None,
    representation: str = "value",
    n_atoms: int = 51,
) -> SolveResult:
    r"""Distributional value iteration on the stock-augmented MDP for :math:`K = \mathbb E f(c+G)`.

    Discounted :class:`TabularMDP`: iterates :math:`U_{n+1}(s, c) = \max_a \gamma^k\,\mathbb
    E[U_n(S', (c + R)/\gamma)]` on a stock grid from :math:`U_0(s, c) = f(c)` (exact for the
    homogeneous objectives; module docstring).  :class:`FiniteHorizonMDP`: ``H`` backward
    steps on exact laws of :math:`c + G_t` over the stocks reachable from ``initial_stock``
    (any objective, ``exponential`` included; small instances only).

    Args:
        objective: one of :data:`OBJECTIVES`.
        stock_grid: increasing ``(C,)`` stocks covering
            :math:`[-R_{\max}, -R_{\min}]/(1-\gamma)` (``ValueError`` saying how much would be
            clipped otherwise); default ``n_stocks`` equally spaced ones.
        initial_stock: the stock :math:`c_0` of ``values``.
        risk_aversion: ``beta > 0`` of ``"exponential"``.
        n_iterations: sweeps (discounted; the horizon ``H`` is used for finite horizon).
        tol: stop when ``change`` :math:`= \sup|U_n - U_{n-1}| \le` ``tol``.
        record: among ``"change"``, ``"error"`` (:math:`\sup|U_n - ` ``reference``
            :math:`|`) and ``"objective"`` (:math:`\sum_s\rho(s)U_n(s, c_0)`); default
            ``("change",)`` (finite horizon: ``"n_laws"``, default none).
        reference: ``(S, C)`` grid values :math:`U^*` to measure ``error`` against.
        seed: echoed (deterministic).
        device: ``"cpu"`` or None (the stock grid runs on the CPU).
        representation: ``"value"`` (the exact reduction to :math:`U = K(\eta)`) or
            ``"categorical"``: the law of the return-to-go :math:`G` at every ``(s, c)`` kept on
            ``n_atoms`` atoms over the hull of 0 and :math:`[R_{\min}, R_{\max}]/(1-\gamma)`
            (where every iterate lies); a sweep forms
            :math:`(T^a\eta)(s, c) = \mathbb E[(R + \gamma\,\cdot)_\#\eta(S', (c+R)/\gamma)]`
            (the next stock's law mixed from its two grid neighbours; off the grid, the
            categorical law of the policy the closed form uses), projects it with
            :math:`\Pi_C`, and keeps the action with the largest :math:`K` (numba kernel).
            :math:`\eta_0(s, c) = \Pi_C\delta_0`.  Values then carry the representation
            error; ``params["stock_laws"]`` ``(S, C, M)`` and ``params["support"]``.
            ``"quantile"``: the same sweep on ``n_atoms``-quantile laws of :math:`G` (atoms
            ``(S, C, M)`` in ``params["stock_laws"]``, weights ``1/M``): the mixture's atoms are
            sorted and read at :math:`\tau_i = (2i-1)/(2M)` with the tie convention of
            :data:`TIE_TOL`, :math:`K = \frac1M\sum_i f(c + z_i)`, off the grid the quantile law
            of the closed form's policy, :math:`\eta_0(s, c) = \Pi_Q\delta_0`.  No bound is
            claimed on the grid (measured against the exact grid values).  On a
            :class:`FiniteHorizonMDP`, ``"quantile"`` projects every law of :math:`c + G_t`
            with :math:`\Pi_Q` on the exact reachable stocks; for ``f`` ``L``-Lipschitz and
            homogeneous of degree 1 (or any ``L``-Lipschitz ``f`` at :math:`\gamma = 1`),
            :math:`|K(\hat\eta_0(s, c_0)) - U^*_0(s, c_0)| \le L(\frac1{2M} + \epsilon)
            \Delta R\sum_{t<H}\gamma^t\sum_{u<H-t}\gamma^u` ([D],
            :func:`theory_rl.bounds.pires2025.quantile_stock_error_bound`).
        n_atoms: ``M >= 2`` of the categorical or quantile representation.

    Returns:
        :class:`SolveResult`: ``values`` :math:`K(\eta_n(s, c_0))` ``(S,)``, ``policy`` the
        greedy action at :math:`(s, c_0)` one-hot ``(S, A)``; ``params["stock_grid"]``,
        ``params["stock_values"]`` ``(S, C)``, ``params["stock_policy"]`` ``(S, C)`` greedy
        actions of the last iterate and ``params["interpolation_error_bound"]`` (finite
        horizon: ``params["laws"]``, the exact law of :math:`c_0 + G` per state, and
        ``params["policy_table"]``, ``{(t, s, c): action}``).
    """
    obj = _objective(objective, risk_aversion)
    c0 = as_real("initial_stock", initial_stock)
    if device not in (None, "cpu"):
        raise ValueError(
            f'device: stock-augmented DVI runs on the CPU ("cpu" or None), got {device!r}'
        )
    if isinstance(mdp, FiniteHorizonMDP):
        if representation not in ("value", "quantile"):
            raise ValueError(
                'representation: a FiniteHorizonMDP takes "value" (exact laws) or "quantile", '
                f"got {representation!r}"
            )
        m = as_int("n_atoms", n_atoms, minimum=2) if representation == "quantile" else None
        return _finite_horizon_dvi(mdp, obj, c0, () if record is None else record, callback, m)
    mdp = _check_tabular(mdp)
    if representation not in REPRESENTATIONS:
        raise ValueError(f"representation must be one of {REPRESENTATIONS}, got {representation!r}")
    record = ("change",) if record is None else record
    grid = _StockGrid(mdp, obj, stock_grid, n_stocks, laws_only=representation != "value")
    record = check_record(record, DVI_METRICS)
    S, C = mdp.n_states, grid.grid.size
    ref = None
    if reference is not None:
        ref = np.asarray(reference, dtype=float)
        if ref.shape != (S, C):
            raise ValueError(f"reference must have shape (S, C) = {(S, C)}")
    elif "error" in record:
        raise ValueError("record: 'error' needs reference (the grid values U*)")
    rho = np.asarray(mdp.initial_distribution)

    cat: _CategoricalStock | _QuantileStock | None = None
    if representation != "value":
        kind = _CategoricalStock if representation == "categorical" else _QuantileStock
        cat = kind(grid, as_int("n_atoms", n_atoms, minimum=2))

    def init(rng: np.random.Generator) -> dict[str, Any]:
        if cat is not None:
            return {"U": cat.values(cat.laws0), "laws": cat.laws0, "prev": None}
        return {"U": grid.initial(), "prev": None}

    def update(state: dict[str, Any], k: int) -> dict[str, Any]:
        if cat is not None:
            laws, U, _ = cat.sweep(state["laws"])
            return {"U": U, "laws": laws, "prev": state["U"]}
        return {"U": grid.q(state["U"]).max(axis=1), "prev": state["U"]}

    def measure(state: dict[str, Any], keys: frozenset[str]) -> dict[str, Any]:
        U, out = state["U"], {}
        if "change" in keys:
            out["change"] = (
                math.inf if state["prev"] is None else float(np.abs(U - state["prev"]).max())
            )
        if "error" in keys:
            out["error"] = float(np.abs(U - ref).max())
        if "objective" in keys:
            out["objective"] = float(rho @ grid.interpolate(U, c0))
        return out

    final: dict[str, Any] = {}

    def output(state: dict[str, Any]) -> tuple[Any, Any, Any]:
        U = state["U"]
        final.update(state)
        if grid.scale_invariant:  # greedy actions do not depend on the stock
            _, _, act = cat.sweep(state["laws"])
            return _one_hot(act[:, 0], mdp.n_actions), grid.interpolate(U, c0), None
        q0 = _q_at(grid, U, c0)
        return _one_hot(q0.argmax(axis=1), mdp.n_actions), grid.interpolate(U, c0), None

    method = Method(
        name="distributional_value_iteration",
        init=init,
        update=update,
        measure=measure,
        output=output,
        metrics=DVI_METRICS,
        stop_metric="change",
    )
    res = iterate(
        method,
        n_iterations=n_iterations,
        tol=tol,
        record=record,
        callback=callback,
        params={"objective": obj.name, "initial_stock": c0},
        seed=seed,
    )
    U = final["U"]
    extra: dict[str, Any] = {"representation": representation}
    if cat is not None:
        laws, _, act = cat.sweep(final["laws"])
        extra.update(stock_laws=final["laws"], stock_policy=act)
        if isinstance(cat, _CategoricalStock):
            extra["support"] = cat.theta
    else:
        extra["stock_policy"] = grid.q(U).argmax(axis=1)
    return _with_params(
        res,
        stock_grid=grid.grid,
        stock_values=U,
        interpolation_error_bound=grid.interpolation_error_bound(),
        **extra,
    )


class _CategoricalStock:
    """Categorical laws of the return-to-go on the stock grid (``representation="categorical"``)."""

    def __init__(self, grid: _StockGrid, m: int):
        mdp, obj = grid.mdp, grid.obj
        self.grid = grid
        lo, hi = _value_range(mdp)
        # the hull of 0 too: the n-step laws from eta_0 = delta_0 lie in [min(lo, 0), max(hi, 0)]
        lo, hi = min(lo, 0.0), max(hi, 0.0)
        if hi - lo <= 0:
            lo, hi = lo - 1.0, hi + 1.0
        self.theta = np.linspace(lo, hi, m)
        S, C = mdp.n_states, grid.grid.size
        self.fvals = np.ascontiguousarray(obj.f(grid.grid[:, None] + self.theta[None, :]))
        delta = categorical_projection([0.0], support=self.theta)
        self.laws0 = np.ascontiguousarray(np.broadcast_to(delta, (S, C, m)))
        if grid.scale_invariant:  # off the grid: the nearest grid stock's law (per sweep)
            return
        # off the grid: the law of the policy whose value the closed form uses
        v_max, v_min = _optimal_values(mdp)
        f_neg, f_pos = float(obj.f(np.array(-1.0))), float(obj.f(np.array(1.0)))
        lo_max = obj.degree == 0 or -f_neg >= 0
        hi_max = obj.degree == 0 or f_pos >= 0
        laws = {}
        for name, v in (("max", v_max), ("min", v_min)):
            q = mdp.rewards + mdp.gamma * np.asarray(mdp.transition_matrix @ v).reshape(
                S, mdp.n_actions
            )
            pol = (q.argmax(axis=1) if name == "max" else q.argmin(axis=1)).astype(np.int64)
            res = categorical_evaluation(
                mdp, pol, support=self.theta, n_iterations=100_000, tol=1e-13
            )
            laws[name] = np.require(res.params["probs"], np.float64, ["C", "W"])
        self.tail_lo = laws["max" if lo_max else "min"]
        self.tail_hi = laws["max" if hi_max else "min"]

    def values(self, laws: np.ndarray) -> np.ndarray:
        r"""``(S, C)``: :math:`\sum_k p_k f(c + \theta_k)`."""
        return np.einsum("sck,ck->sc", laws, self.fvals)

    def sweep(self, laws: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(laws, K values, greedy actions)`` after one sweep."""
        g, o = self.grid, self.grid.out
        S, C, M = laws.shape
        out_laws, out_k = np.empty_like(laws), np.empty((S, C))
        out_act = np.empty((S, C), dtype=np.int64)
        spacing = float(self.theta[1] - self.theta[0])
        _kd._stock_categorical_sweep(
            o.indptr,
            o.nxt,
            o.rew,
            o.prob,
            g.grid,
            np.ascontiguousarray(laws),
            *_tails(g, laws, self),
            float(self.theta[0]),
            spacing,
            float(g.mdp.gamma),
            self.fvals,
            np.empty((1, M)),
            out_laws,
            out_k,
            out_act,
        )
        return out_laws, out_k, out_act


class _QuantileStock:
    """``M``-quantile laws of the return-to-go on the stock grid (``representation="quantile"``)."""

    def __init__(self, grid: _StockGrid, m: int):
        mdp, obj = grid.mdp, grid.obj
        self.grid, self.obj, self.m = grid, obj, m
        S, C = mdp.n_states, grid.grid.size
        self.taus = _taus(m)
        self.laws0 = np.zeros((S, C, m))  # Pi_Q delta_0
        o = grid.out
        self.width = 2 * int(np.diff(o.indptr).max()) * m
        if grid.scale_invariant:  # off the grid: the nearest grid stock's law (per sweep)
            return
        # off the grid: the quantile law of the policy whose value the closed form uses
        v_max, v_min = _optimal_values(mdp)
        f_neg, f_pos = float(obj.f(np.array(-1.0))), float(obj.f(np.array(1.0)))
        lo_max = obj.degree == 0 or -f_neg >= 0
        hi_max = obj.degree == 0 or f_pos >= 0
        laws = {}
        for name, v in (("max", v_max), ("min", v_min)):
            q = mdp.rewards + mdp.gamma * np.asarray(mdp.transition_matrix @ v).reshape(
                S, mdp.n_actions
            )
            pol = (q.argmax(axis=1) if name == "max" else q.argmin(axis=1)).astype(np.int64)
            res = quantile_evaluation(mdp, pol, n_quantiles=m, n_iterations=100_000, tol=1e-13)
            laws[name] = np.require(res.params["atoms"], np.float64, ["C", "W"])
        self.tail_lo = laws["max" if lo_max else "min"]
        self.tail_hi = laws["max" if hi_max else "min"]

    def values(self, laws: np.ndarray) -> np.ndarray:
        r"""``(S, C)``: :math:`\frac1M\sum_k f(c + z_k)`."""
        return self.obj.f(self.grid.grid[None, :, None] + laws).mean(axis=-1)

    def sweep(self, laws: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(laws, K values, greedy actions)`` after one sweep (first maximiser kept)."""
        g, o = self.grid, self.grid.out
        S, C, M = laws.shape
        A = g.mdp.n_actions
        out = np.empty((S * A, C, M))
        _kd._stock_quantile_q(
            o.indptr,
            o.nxt,
            o.rew,
            o.prob,
            g.grid,
            np.ascontiguousarray(laws),
            *_tails(g, laws, self),
            self.taus,
            TIE_TOL,
            float(g.mdp.gamma),
            np.empty(self.width),
            np.empty(self.width),
            out,
        )
        q_laws = out.reshape(S, A, C, M)
        k = self.obj.f(g.grid[None, None, :, None] + q_laws).mean(axis=-1)  # (S, A, C)
        act = k.argmax(axis=1)
        new = np.take_along_axis(q_laws, act[:, None, :, None], axis=1)[:, 0]
        return np.ascontiguousarray(new), np.take_along_axis(k, act[:, None], 1)[:, 0], act


def _tails(grid: _StockGrid, laws: np.ndarray, rep: Any) -> tuple[np.ndarray, np.ndarray]:
    """Laws used below / above the grid: fixed ones, or the edge stocks' (exponential)."""
    if grid.scale_invariant:
        # writable C-contiguous copies: one numba signature with the fixed tails
        return np.require(laws[:, 0], np.float64, ["C", "W"]), np.require(
            laws[:, -1], np.float64, ["C", "W"]
        )
    return rep.tail_lo, rep.tail_hi


def _q_at(grid: _StockGrid, U: np.ndarray, c: float) -> np.ndarray:
    """``(S, A)`` action values of the augmented state ``(s, c)`` for one stock ``c``."""
    o, g = grid.out, grid.mdp.gamma
    cn = (c + o.rew) / g
    vals = grid.interpolate(U, cn)[o.nxt, np.arange(o.nxt.size)]
    Q = np.add.reduceat(o.prob * vals, o.indptr[:-1])
    return grid.gk * Q.reshape(grid.mdp.n_states, grid.mdp.n_actions)


# -- finite horizon, exact laws ---------------------------------------------------------------
def _fh_outcomes(mdp: FiniteHorizonMDP, t: int) -> list[list[list[tuple[int, float, float]]]]:
    """``out[s][a]`` = list of ``(s', r, p)`` at step ``t`` (rewards ``r_t(s, a)``)."""
    P = mdp.transitions_at(t)
    r = mdp.rewards_at(t)
    S, A = mdp.n_states, mdp.n_actions
    P = P.toarray().reshape(S, A, S) if sp.issparse(P) else P
    return [
        [
            [(int(t2), float(r[s, a]), float(P[s, a, t2])) for t2 in np.flatnonzero(P[s, a] > 0)]
            for a in range(A)
        ]
        for s in range(S)
    ]


def _merge(atoms: np.ndarray, probs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    u, inv = np.unique(atoms, return_inverse=True)
    return u, np.bincount(inv, weights=probs, minlength=u.size)


def _finite_horizon_dvi(
    mdp: FiniteHorizonMDP,
    obj: _Objective,
    c0: float,
    record: Sequence[str],
    callback: Callback | None,
    n_quantiles: int | None = None,
) -> SolveResult:
    r"""``H`` backward steps on exact laws of ``c + G_t`` (``n_quantiles``: projected with
    :math:`\Pi_Q` after every step, so each stored law has ``n_quantiles`` atoms)."""
    record = check_record(record, ("n_laws",))
    H, S, A, g = mdp.horizon, mdp.n_states, mdp.n_actions, mdp.gamma
    if g == 0:
        raise ValueError("gamma: stock augmentation needs gamma > 0")
    outs = [_fh_outcomes(mdp, t) for t in range(H)]
    reach: list[set[tuple[int, float]]] = [{(s, c0) for s in range(S)}]
    for t in range(H):
        nxt: set[tuple[int, float]] = set()
        for s, c in reach[t]:
            for a in range(A):
                for s2, r, _ in outs[t][s][a]:
                    nxt.add((s2, (c + r) / g))
        reach.append(nxt)
    table: dict[tuple[int, int, float], int] = {}

    def init(rng: np.random.Generator) -> dict[str, Any]:
        laws = {(s, c): (np.array([c]), np.array([1.0])) for s, c in reach[H]}
        return {"t": H, "laws": laws}

    def update(state: dict[str, Any], k: int) -> dict[str, Any]:
        t = state["t"] - 1
        nxt_laws, laws = state["laws"], {}
        for s, c in reach[t]:
            best, best_law = -math.inf, None
            for a in range(A):
                parts = [
                    (g * nxt_laws[(s2, (c + r) / g)][0], p * nxt_laws[(s2, (c + r) / g)][1])
                    for s2, r, p in outs[t][s][a]
                ]
                law = _merge(
                    np.concatenate([x for x, _ in parts]), np.concatenate([w for _, w in parts])
                )
                if n_quantiles is not None:
                    law = (
                        quantile_projection(law[0], law[1], n_quantiles=n_quantiles),
                        np.full(n_quantiles, 1.0 / n_quantiles),
                    )
                k_val = float(law[1] @ obj.f(law[0]))
                if k_val > best + 1e-12:
                    best, best_law, table[(t, s, c)] = k_val, law, a
            laws[(s, c)] = best_law
        return {"t": t, "laws": laws}

    def measure(state: dict[str, Any], keys: frozenset[str]) -> dict[str, Any]:
        return {"n_laws": len(state["laws"])} if "n_laws" in keys else {}

    final: dict[str, Any] = {}

    def output(state: dict[str, Any]) -> tuple[Any, Any, Any]:
        final.update(state)
        if state["t"] > 0:
            return np.full((S, A), 1.0 / A), np.full(S, np.nan), None
        laws = state["laws"]
        values = np.array([float(laws[(s, c0)][1] @ obj.f(laws[(s, c0)][0])) for s in range(S)])
        acts = np.array([table[(0, s, c0)] for s in range(S)])
        return _one_hot(acts, A), values, None

    method = Method(
        name="distributional_value_iteration",
        init=init,
        update=update,
        measure=measure,
        output=output,
        metrics=("n_laws",),
    )
    res = iterate(
        method,
        n_iterations=H,
        record=record,
        callback=callback,
        params={
            "objective": obj.name,
            "initial_stock": c0,
            "exact": n_quantiles is None,
            "representation": "value" if n_quantiles is None else "quantile",
        },
    )
    laws = tuple(final["laws"][(s, c0)] for s in range(S))
    return _with_params(res, laws=laws, policy_table=dict(table))


# -- policy iteration -----------------------------------------------------------------------------
DPI_METRICS = ("improvement", "n_changed", "objective")


def distributional_policy_iteration(
    mdp: TabularMDP,
    objective: str,
    *,
    stock_grid: Any = None,
    n_stocks: int = 201,
    initial_stock: float = 0.0,
    max_iterations: int = 100,
    record: Sequence[str] = ("improvement", "n_changed"),
    callback: Callback | None = None,
) -> SolveResult:
    r"""Distributional policy iteration on the stock grid: :math:`\pi_{n+1}` greedy for the exact
    stock-augmented evaluation :math:`U^{\pi_n}` (a sparse linear solve on the grid, closed forms
    outside it), from the greedy policy of :math:`U_0 = f(c)`; stops when the policy is stable.

    On the grid this is policy iteration on a finite MDP (interpolation weights are
    probabilities, the closed forms terminal payoffs), so it improves monotonically and stops
    after finitely many steps.  Needs an objective of degree ``k >= 1`` (a
    :math:`\gamma^k`-discounted grid problem).

    Args:
        record: among ``"improvement"`` (:math:`\min_{s,c}(U^{\pi_n} - U^{\pi_{n-1}})`, NaN at
            ``n = 0``), ``"n_changed"`` (grid points whose action changed) and ``"objective"``
            (:math:`\sum_s\rho(s)U^{\pi_n}(s, c_0)`).

    Returns:
        :class:`SolveResult` as :func:`distributional_value_iteration`, ``stock_values`` the
        exact grid values of the last policy.
    """
    mdp = _check_tabular(mdp)
    obj = _objective(objective)
    if obj.degree is None or obj.degree < 1:
        raise ValueError(
            f"objective {obj.name!r}: policy iteration on the stock grid needs f homogeneous of "
            "degree >= 1 (a discounted grid problem)"
        )
    c0 = as_real("initial_stock", initial_stock)
    grid = _StockGrid(mdp, obj, stock_grid, n_stocks)
    record = check_record(record, DPI_METRICS)
    rho = np.asarray(mdp.initial_distribution)

    def init(rng: np.random.Generator) -> dict[str, Any]:
        pol = grid.q(grid.initial()).argmax(axis=1)
        return {"pol": pol, "U": grid.evaluate(pol), "prev": None, "changed": 0, "stable": False}

    def update(state: dict[str, Any], k: int) -> dict[str, Any]:
        Q = grid.q(state["U"])
        best = Q.max(axis=1)
        keep = np.take_along_axis(Q, state["pol"][:, None, :], axis=1)[:, 0]
        pol = np.where(best > keep + 1e-12 * (1.0 + np.abs(best)), Q.argmax(axis=1), state["pol"])
        changed = int((pol != state["pol"]).sum())
        return {
            "pol": pol,
            "U": grid.evaluate(pol),
            "prev": state["U"],
            "changed": changed,
            "stable": changed == 0,
        }

    def measure(state: dict[str, Any], keys: frozenset[str]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if "improvement" in keys:
            out["improvement"] = (
                math.nan if state["prev"] is None else float((state["U"] - state["prev"]).min())
            )
        if "n_changed" in keys:
            out["n_changed"] = np.int64(state["changed"])
        if "objective" in keys:
            out["objective"] = float(rho @ grid.interpolate(state["U"], c0))
        return out

    final: dict[str, Any] = {}

    def output(state: dict[str, Any]) -> tuple[Any, Any, Any]:
        final.update(state)
        return (
            _one_hot(_q_at(grid, state["U"], c0).argmax(axis=1), mdp.n_actions),
            grid.interpolate(state["U"], c0),
            None,
        )

    method = Method(
        name="distributional_policy_iteration",
        init=init,
        update=update,
        measure=measure,
        output=output,
        metrics=DPI_METRICS,
        stop=lambda st: "policy stable: no grid action changed" if st["stable"] else None,
    )
    res = iterate(
        method,
        n_iterations=max_iterations,
        record=record,
        callback=callback,
        params={"objective": obj.name, "initial_stock": c0},
    )
    return _with_params(
        res,
        stock_grid=grid.grid,
        stock_values=final["U"],
        stock_policy=final["pol"],
        interpolation_error_bound=grid.interpolation_error_bound(),
    )


# -- CVaR ------------------------------------------------------------------------------------------
def _integer_rewards(mdp: FiniteHorizonMDP) -> np.ndarray:
    r = np.asarray(mdp.rewards)
    if not np.all(r == np.round(r)):
        flat = int(np.flatnonzero(r != np.round(r))[0])
        idx = ", ".join(str(int(i)) for i in np.unravel_index(flat, r.shape))
        raise ValueError(
            f"rewards[{idx}] = {r.flat[flat]!r} is not an integer; the exact mode needs integer "
            "rewards"
        )
    return np.round(r).astype(np.int64)


def _integer_backward(
    mdp: FiniteHorizonMDP, f: Callable[[np.ndarray], np.ndarray]
) -> tuple[np.ndarray, np.ndarray, int, tuple[int, int]]:
    """Exact backward induction on ``(t, s, c)`` over all integer stocks that matter.

    Returns ``(U (H+1, S, C), greedy (H, S, C), lo, (G_min, G_max))``: stock ``c`` has index
    ``c - lo``; ``U[t, s, c]`` is :math:`\\max_\\pi \\mathbb E f(c + G_t)`.
    """
    r = _integer_rewards(mdp)
    H, S, A = mdp.horizon, mdp.n_states, mdp.n_actions
    r_t = [r if r.ndim == 2 else r[t] for t in range(H)]
    g_min = int(sum(int(x.min()) for x in r_t))
    g_max = int(sum(int(x.max()) for x in r_t))
    r_min = min(int(x.min()) for x in r_t)
    r_max = max(int(x.max()) for x in r_t)
    lo = -g_max + H * min(r_min, 0)
    hi = -g_min + H * max(r_max, 0)
    C = hi - lo + 1
    cs = np.arange(lo, hi + 1)
    U = np.empty((H + 1, S, C))
    U[H] = f(cs)[None, :]
    greedy = np.empty((H, S, C), dtype=np.int64)
    for t in range(H - 1, -1, -1):
        P = mdp.transitions_at(t)
        P = P.toarray().reshape(S, A, S) if sp.issparse(P) else P
        Q = np.empty((S, A, C))
        for s in range(S):
            for a in range(A):
                idx = np.clip(np.arange(C) + r_t[t][s, a], 0, C - 1)
                Q[s, a] = P[s, a] @ U[t + 1][:, idx]
        greedy[t] = Q.argmax(axis=1)
        U[t] = Q.max(axis=1)
    return U, greedy, lo, (g_min, g_max)


def cvar_optimal_policy(
    mdp: TabularMDP | FiniteHorizonMDP,
    alpha: Any,
    *,
    stock_grid: Any = None,
    n_stocks: int = 201,
    n_iterations: int = 10_000,
    tol: float | None = None,
) -> SolveResult:
    r"""The optimal lower-tail :math:`\mathrm{CVaR}_\alpha` of the return over history-dependent
    policies, by stock augmentation and the Rockafellar-Uryasev outer search over the initial
    stock (module docstring).

    * :class:`FiniteHorizonMDP` with integer rewards and :math:`\gamma = 1` (**exact mode**):
      backward induction of :math:`U(t, s, c) = \max_a \mathbb E\,U(t+1, S', c + R)`,
      :math:`U(H, s, c) = \min(c, 0)`, on every integer stock, then
      :math:`\max_b\{b + U(0, s, -b)/\alpha\}` over the integers ``b`` in the return range.
    * :class:`TabularMDP`: :func:`distributional_value_iteration` with ``"cvar"`` on the stock
      grid until ``change <= tol``, then the outer maximum over grid stocks (exact for the
      interpolated values, which are piecewise linear in the stock).

    Args:
        alpha: level in ``(0, 1]``, or a 1-D array of levels (one stock solve serves them all).
        stock_grid, n_stocks: as :func:`distributional_value_iteration` (discounted only).
        n_iterations, tol: DVI budget and stopping tolerance (default ``1e-12`` times the
            reward scale) for the discounted case.

    Returns:
        :class:`SolveResult` with ``values`` the optimal :math:`\mathrm{CVaR}_\alpha` per initial
        state ``(S,)`` (``(n_alpha, S)`` for an array of levels), ``policy`` the first action at
        the optimal initial stock, one-hot ``(S, A)`` (``(n_alpha, S, A)``), and
        ``params["initial_stock"]`` (the optimal :math:`c_0 = -\mathrm{VaR}_\alpha`),
        ``params["stock_values"]``, ``params["stock_policy"]`` and the stocks
        (``params["stock_grid"]``; exact mode: ``(H, S, C)`` greedy actions on the integer stocks
        ``params["stocks"]``).
    """
    al = _check_alpha(alpha)
    alphas = np.atleast_1d(al)
    if isinstance(mdp, FiniteHorizonMDP):
        if mdp.gamma != 1.0:
            raise ValueError(f"gamma: the exact mode needs gamma = 1, got {mdp.gamma}")
        U, greedy, lo, (g_min, g_max) = _integer_backward(mdp, lambda x: np.minimum(x, 0.0))
        bs = np.arange(g_min, g_max + 1)
        obj = bs[None, :, None] + U[0][:, -bs - lo].T[None] / alphas[:, None, None]  # (n, B, S)
        best = obj.argmax(axis=1)  # (n, S)
        values = np.take_along_axis(obj, best[:, None, :], axis=1)[:, 0]
        c_star = -bs[best]
        acts = greedy[0][np.arange(mdp.n_states)[None, :], c_star - lo]
        stocks = np.arange(lo, lo + U.shape[2])
        extra = {"stocks": stocks, "stock_values": U, "stock_policy": greedy, "exact": True}
        n_it, msg = mdp.horizon, f"exact backward induction over {mdp.horizon} steps"
        converged = True
    else:
        mdp = _check_tabular(mdp)
        r_lo, r_hi = _outcomes(mdp).reward_range
        tol = 1e-12 * max(1.0, abs(r_lo), abs(r_hi)) / (1 - mdp.gamma) if tol is None else tol
        res = distributional_value_iteration(
            mdp,
            "cvar",
            stock_grid=stock_grid,
            n_stocks=n_stocks,
            n_iterations=n_iterations,
            tol=tol,
        )
        grid = res.params["stock_grid"]
        U = res.params["stock_values"]
        bs = -grid
        obj = bs[None, :, None] + U.T[None] / alphas[:, None, None]  # (n, C, S)
        best = obj.argmax(axis=1)
        values = np.take_along_axis(obj, best[:, None, :], axis=1)[:, 0]
        c_star = grid[best]
        acts = res.params["stock_policy"][np.arange(mdp.n_states)[None, :], best]
        extra = {
            "stock_grid": grid,
            "stock_values": U,
            "stock_policy": res.params["stock_policy"],
            "interpolation_error_bound": res.params["interpolation_error_bound"],
            "exact": False,
        }
        n_it, msg, converged = res.n_iterations, res.message, res.converged
    single = np.ndim(al) == 0
    pol = _one_hot(acts, mdp.n_actions)
    return SolveResult(
        policy=pol[0] if single else pol,
        values=values[0] if single else values,
        q_values=None,
        n_iterations=n_it,
        converged=converged,
        message=msg,
        params={
            "method": "cvar_optimal_policy",
            "alpha": al,
            "initial_stock": c_star[0] if single else c_star,
            **extra,
        },
    )
