r"""Uncertainty sets around a nominal :class:`~theory_rl.mdps.tabular.TabularMDP`, and the robust
test problems (the IWOCS windy walk, the DRPG garnet).

A robust MDP is a nominal MDP ``(P̄, r, gamma, rho)`` and an uncertainty set ``U`` of transition
kernels; the agent maximises, the adversary (nature) picks a kernel in ``U`` and minimises.  With
``v`` ``(S,)`` the next-state values and ``p̄ = P̄(. | s, a)`` a nominal row, every set below
defines the inner value of row ``(s, a)``

.. math::  \sigma_{sa}(v) = \min_{p \in U_{sa}} p \cdot v
           \quad\text{(balls)}, \qquad
           \sigma_{sa}(v) = \min_{p \in \Delta} \; p \cdot v + \lambda D(p, \bar p)
           \quad\text{(penalties)},

and the robust action values ``q(s, a) = r(s, a) + gamma * sigma_sa(v)``
(:mod:`theory_rl.algorithms.robust` solves them).

=====================  ===========================================================================
set                    rows ``(s, a)``
=====================  ===========================================================================
``L1Ball(kappa)``      :math:`\{p \in \Delta : \|p - \bar p\|_1 \le \kappa_{sa}\}`
``KLBall(delta)``      :math:`\{p \in \Delta : \mathrm{KL}(p \| \bar p) \le \delta_{sa}\}`
``Chi2Ball(rho)``      :math:`\{p \in \Delta : \sum_{s'} (p - \bar p)^2 / \bar p \le \rho_{sa}\}`
``KLPenalty(lam)``     penalty :math:`\lambda\,\mathrm{KL}(p \| \bar p)`
``TVPenalty(lam)``     penalty :math:`\lambda \cdot \tfrac12 \|p - \bar p\|_1`
``Chi2Penalty(lam)``   penalty :math:`\lambda \sum_{s'} (p - \bar p)^2 / \bar p`
``SRectL1Ball(kappa)`` s-rectangular: :math:`\{(p_a)_a : \sum_a \|p_a - \bar p_a\|_1 \le
                       \kappa_s\}`, one budget per state shared by its actions
``KernelSet(kernels)`` ``m`` kernels; as a set of rows, the sa-rectangular hull
                       :math:`\times_{s,a}\{P_j(\cdot|s,a)\}_j`; as a *static* (non-rectangular)
                       set, the ``m`` kernels themselves (IWOCS, brute force)
=====================  ===========================================================================

**Support.**  KL and chi-square balls and penalties are finite only for ``p << p̄``, so their
worst distributions keep the nominal support.  The L1 sets (``L1Ball``, ``SRectL1Ball``) and
``TVPenalty`` also keep the nominal support by default (``support="nominal"``, the convention
of the DRPG code: "support ⊆ nominal support"); ``support="full"`` lets them move mass to any
next state (Iyengar's and Nilim & El Ghaoui's L1 ball).  Radii are scalars or arrays of shape
``(S, A)`` (``(S,)`` for ``SRectL1Ball``); their shape is checked against the MDP when a solver
first uses the set.

Bad input (negative, NaN or infinite radii, wrong shapes, ``lam <= 0``, kernels whose rows do not
sum to one or whose shapes disagree) raises ``ValueError`` naming the field.

References:
    G. Iyengar. Robust dynamic programming. Math. Oper. Res. 30(2), 2005.
    A. Nilim, L. El Ghaoui. Robust control of Markov decision processes with uncertain transition
    matrices. Oper. Res. 53(5), 2005.
    W. Wiesemann, D. Kuhn, B. Rustem. Robust Markov decision processes. Math. Oper. Res. 38(1),
    2013.
    A. Zouitine, M. Geist, E. Rachelson. Solving robust MDPs as a sequence of static RL problems
    (IWOCS), arXiv:2410.06212, 2024.
    Q. Wang, C. P. Ho, M. Petrik. Policy gradient in robust MDPs with global convergence
    guarantee (DRPG). ICML 2023, arXiv:2212.10439.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
import scipy.sparse as sp

from theory_rl._checks import as_int, as_real
from theory_rl.backend import as_generator
from theory_rl.mdps.tabular import (
    InvalidMDPError,
    TabularMDP,
    _as_float_array,
    _check_gamma,
    _validated_transitions,
)

__all__ = [
    "Chi2Ball",
    "Chi2Penalty",
    "KLBall",
    "KLPenalty",
    "KernelSet",
    "L1Ball",
    "SRectL1Ball",
    "TVPenalty",
    "UncertaintySet",
    "drpg_garnet",
    "windy_walk",
]

SUPPORTS = ("nominal", "full")


def _radius(name: str, value: Any, allow_zero: bool = True) -> np.ndarray | float:
    """A scalar radius as a float, an array radius as a read-only float64 array; finite and
    ``>= 0`` (``> 0`` unless ``allow_zero``)."""
    if np.ndim(value) == 0 and not isinstance(value, np.ndarray):
        return as_real(name, value, minimum=0.0, open_minimum=not allow_zero)
    try:
        arr = _as_float_array(name, value)
    except InvalidMDPError as exc:
        raise ValueError(str(exc)) from None
    bad = ~np.isfinite(arr) | (arr < 0 if allow_zero else arr <= 0)
    if bad.any():
        idx = np.unravel_index(int(np.flatnonzero(bad)[0]), arr.shape)
        raise ValueError(
            f"{name}[{', '.join(map(str, idx))}] = {arr[idx]!r}; radii must be finite and "
            f"{'>= 0' if allow_zero else '> 0'}"
        )
    arr = np.array(arr, dtype=np.float64)
    arr.flags.writeable = False
    return arr


class UncertaintySet:
    """Base class of the uncertainty sets (module docstring).

    Subclasses are frozen dataclasses.  ``kind`` is the inner problem solved for each row;
    ``radius_field`` names the field holding the radius or penalty weight.
    """

    kind: ClassVar[str] = ""
    radius_field: ClassVar[str] = ""
    rectangularity: ClassVar[str] = "sa"
    support: str = "nominal"

    def radius_per_row(self, mdp: TabularMDP) -> np.ndarray:
        """The radius (or penalty weight) of every row ``s*A + a``, ``(S*A,)`` float64; a
        ``ValueError`` naming the field when its shape does not fit ``mdp``."""
        S, A = mdp.n_states, mdp.n_actions
        value = getattr(self, self.radius_field)
        if np.ndim(value) == 0:
            return np.full(S * A, float(value))
        if value.shape != (S, A):
            raise ValueError(
                f"{self.radius_field} must be a scalar or have shape (S, A) = {(S, A)}; got "
                f"{value.shape}"
            )
        return np.ascontiguousarray(value, dtype=np.float64).ravel()


def _check_support(support: Any) -> None:
    if support not in SUPPORTS:
        raise ValueError(f"support must be one of {SUPPORTS}, got {support!r}")


@dataclasses.dataclass(frozen=True)
class L1Ball(UncertaintySet):
    r"""sa-rectangular L1 ball :math:`\|p - \bar p\|_1 \le \kappa_{sa}` within the simplex.

    Args:
        kappa: radius ``>= 0``, a scalar or ``(S, A)`` (``kappa >= 2`` allows every
            distribution on the support).
        support: ``"nominal"`` (default: ``p`` lives on the nominal row's support) or
            ``"full"`` (any next state).
    """

    kappa: Any = 0.1
    support: str = "nominal"
    kind: ClassVar[str] = "l1"
    radius_field: ClassVar[str] = "kappa"

    def __post_init__(self) -> None:
        object.__setattr__(self, "kappa", _radius("kappa", self.kappa))
        _check_support(self.support)


@dataclasses.dataclass(frozen=True)
class KLBall(UncertaintySet):
    r"""sa-rectangular KL ball :math:`\mathrm{KL}(p \| \bar p) \le \delta_{sa}` (nominal support).

    Args:
        delta: radius ``>= 0``, a scalar or ``(S, A)``.
    """

    delta: Any = 0.1
    kind: ClassVar[str] = "kl"
    radius_field: ClassVar[str] = "delta"

    def __post_init__(self) -> None:
        object.__setattr__(self, "delta", _radius("delta", self.delta))


@dataclasses.dataclass(frozen=True)
class Chi2Ball(UncertaintySet):
    r"""sa-rectangular chi-square ball :math:`\sum_{s'} (p - \bar p)^2/\bar p \le \rho_{sa}`
    (nominal support).

    Args:
        rho: radius ``>= 0``, a scalar or ``(S, A)``.
    """

    rho: Any = 0.1
    kind: ClassVar[str] = "chi2"
    radius_field: ClassVar[str] = "rho"

    def __post_init__(self) -> None:
        object.__setattr__(self, "rho", _radius("rho", self.rho))


@dataclasses.dataclass(frozen=True)
class KLPenalty(UncertaintySet):
    r"""Penalty :math:`\lambda\,\mathrm{KL}(p \| \bar p)`:
    :math:`\sigma(v) = -\lambda \log \mathbb E_{\bar p} e^{-v/\lambda}` (nominal support).

    Args:
        lam: weight ``> 0``, a scalar or ``(S, A)``.
    """

    lam: Any = 1.0
    kind: ClassVar[str] = "kl_penalty"
    radius_field: ClassVar[str] = "lam"

    def __post_init__(self) -> None:
        object.__setattr__(self, "lam", _radius("lam", self.lam, allow_zero=False))


@dataclasses.dataclass(frozen=True)
class TVPenalty(UncertaintySet):
    r"""Penalty :math:`\lambda\cdot\tfrac12\|p - \bar p\|_1`:
    :math:`\sigma(v) = \mathbb E_{\bar p}[\min(v, \min v + \lambda)]`.

    Args:
        lam: weight ``> 0``, a scalar or ``(S, A)``.
        support: ``"nominal"`` (default) or ``"full"`` (the minimum runs over all states).
    """

    lam: Any = 1.0
    support: str = "nominal"
    kind: ClassVar[str] = "tv_penalty"
    radius_field: ClassVar[str] = "lam"

    def __post_init__(self) -> None:
        object.__setattr__(self, "lam", _radius("lam", self.lam, allow_zero=False))
        _check_support(self.support)


@dataclasses.dataclass(frozen=True)
class Chi2Penalty(UncertaintySet):
    r"""Penalty :math:`\lambda \sum_{s'} (p - \bar p)^2/\bar p` (nominal support).

    Args:
        lam: weight ``> 0``, a scalar or ``(S, A)``.
    """

    lam: Any = 1.0
    kind: ClassVar[str] = "chi2_penalty"
    radius_field: ClassVar[str] = "lam"

    def __post_init__(self) -> None:
        object.__setattr__(self, "lam", _radius("lam", self.lam, allow_zero=False))


@dataclasses.dataclass(frozen=True)
class SRectL1Ball(UncertaintySet):
    r"""s-rectangular L1 set :math:`\sum_a \|p_a - \bar p_a\|_1 \le \kappa_s` (Wiesemann, Kuhn
    and Rustem 2013): the adversary splits one budget per state among the actions, and an
    optimal agent policy may need to randomise.

    Args:
        kappa: budget ``>= 0``, a scalar or ``(S,)``.
        support: ``"nominal"`` (default) or ``"full"``.
    """

    kappa: Any = 0.1
    support: str = "nominal"
    kind: ClassVar[str] = "srect_l1"
    radius_field: ClassVar[str] = "kappa"
    rectangularity: ClassVar[str] = "s"

    def __post_init__(self) -> None:
        object.__setattr__(self, "kappa", _radius("kappa", self.kappa))
        _check_support(self.support)

    def radius_per_state(self, mdp: TabularMDP) -> np.ndarray:
        """The budget of every state, ``(S,)`` float64 (``ValueError`` naming ``kappa`` when
        its shape does not fit ``mdp``)."""
        S = mdp.n_states
        if np.ndim(self.kappa) == 0:
            return np.full(S, float(self.kappa))
        if self.kappa.shape != (S,):
            raise ValueError(
                f"kappa must be a scalar or have shape (S,) = ({S},) for an s-rectangular set; "
                f"got {self.kappa.shape}"
            )
        return np.ascontiguousarray(self.kappa, dtype=np.float64)

    def radius_per_row(self, mdp: TabularMDP) -> np.ndarray:  # pragma: no cover - not rows
        raise TypeError("an s-rectangular set has one budget per state, not per row")


@dataclasses.dataclass(frozen=True, eq=False)
class KernelSet(UncertaintySet):
    r"""A finite set of ``m`` transition kernels ``[P_1, ..., P_m]``, each ``(S, A, S)`` (or CSR
    ``(S*A, S)``, densified: finite sets serve small problems).

    Two readings:

    * as an sa-rectangular set (robust DP, IWOCS's Property 1): the hull
      :math:`\times_{s,a}\{P_j(\cdot|s,a)\}_{j \le m}`, i.e.
      :math:`\sigma_{sa}(v) = \min_j P_j(\cdot|s,a)\cdot v`;
    * as a static set (``static=True`` where a function accepts it): nature picks one kernel
      ``j`` for the whole run; non-rectangular, so the robust value can exceed the hull's.

    Args:
        kernels: a sequence of ``m >= 1`` kernels of equal shape whose rows are distributions.

    Attributes:
        transitions: ``(m, S, A, S)`` read-only float64.
    """

    kernels: Any = ()
    kind: ClassVar[str] = "finite"
    radius_field: ClassVar[str] = ""

    def __post_init__(self) -> None:
        kernels = self.kernels
        if isinstance(kernels, np.ndarray) and kernels.ndim == 4:
            kernels = list(kernels)
        if sp.issparse(kernels) or not isinstance(kernels, Sequence) or len(kernels) == 0:
            raise ValueError("kernels must be a non-empty sequence of transition kernels")
        dense = []
        for i, P in enumerate(kernels):
            try:
                Pv, S, A = _validated_transitions(P)
            except InvalidMDPError as exc:
                raise ValueError(f"kernels[{i}]: {exc}") from None
            Pd = Pv.toarray().reshape(S, A, S) if sp.issparse(Pv) else np.asarray(Pv)
            if dense and Pd.shape != dense[0].shape:
                raise ValueError(
                    f"kernels[{i}] has shape (S, A, S) = {Pd.shape}, but kernels[0] has "
                    f"{dense[0].shape}; all kernels must have the same shape"
                )
            dense.append(Pd)
        stacked = np.ascontiguousarray(np.stack(dense), dtype=np.float64)
        stacked.flags.writeable = False
        object.__setattr__(self, "kernels", tuple(dense))
        object.__setattr__(self, "transitions", stacked)

    @property
    def n_kernels(self) -> int:
        """The number ``m`` of kernels."""
        return int(self.transitions.shape[0])

    def check_against(self, mdp: TabularMDP) -> None:
        """``ValueError`` naming ``kernels`` when the kernels' shape is not ``mdp``'s."""
        shape = (mdp.n_states, mdp.n_actions, mdp.n_states)
        if self.transitions.shape[1:] != shape:
            raise ValueError(
                f"kernels have shape (S, A, S) = {self.transitions.shape[1:]}, but the nominal "
                f"MDP has {shape}"
            )

    def mdps(self, mdp: TabularMDP) -> list[TabularMDP]:
        """The ``m`` static MDPs: ``mdp`` with each kernel in turn."""
        self.check_against(mdp)
        return [
            TabularMDP(P, mdp.rewards, mdp.gamma, mdp.initial_distribution)
            for P in self.transitions
        ]


# --------------------------------------------------------------------------------------------
# instances
# --------------------------------------------------------------------------------------------
#: Windy-walk layout (rows north to south): ``S`` start, ``G`` goal, ``#`` wall, ``n``/``m``/``s``
#: cells of the northern / middle / southern corridor, ``.`` free cells.
WINDY_WALK_LAYOUT = (
    "SnnnnG",
    ".###..",
    ".mmmm.",
    ".###..",
    ".ssss.",
    ".ssss.",
)
#: Actions of the windy walk: north, south, east, west.
WINDY_WALK_MOVES = ((-1, 0), (1, 0), (0, 1), (0, -1))


def windy_walk(
    alphas: Any = None, *, gamma: float = 0.95, nominal_alpha: float | None = None
) -> tuple[TabularMDP, KernelSet]:
    r"""The IWOCS "windy walk" (Zouitine, Geist and Rachelson 2024, App. E), **reconstructed**.

    A 6 x 6 grid (36 states, walls included as unreachable states), actions N/S/E/W
    (``0..3``), reward ``-1`` per step, an absorbing goal with reward 0, ``gamma = 0.95``,
    start in the north-west corner.  Three west-to-east corridors lead to the goal, separated by
    walls; outside them moves are deterministic (into a wall or off the grid: stay).  Inside, a
    west wind of strength ``w`` blows (the paper's rules):

    * ``W`` moves west with probability 1;
    * ``N``/``S`` stay with probability ``1 - w``, else the agent is pushed one cell west (in the
      two-cell-wide southern corridor ``N``/``S`` move with probability ``1 - w``);
    * ``E`` moves east with probability ``1 - w``, else west;

    with ``w = alpha`` in the northern corridor, ``alpha**3`` in the middle one and ``alpha**6``
    in the southern one.  The uncertainty is ``alpha``: 25 values uniform on ``[0, 0.5]`` by
    default (``alphas``), one kernel each.

    .. warning:: The paper gives the geometry only as a figure; this layout
       (:data:`WINDY_WALK_LAYOUT`: northern corridor 4 cells on the shortest path, middle and
       southern corridors on longer detours) is a reconstruction.  Numbers obtained on it do
       not reproduce the paper's Figure 1.

    Args:
        alphas: the wind parameters ``(m,)`` in ``[0, 1]``.
        gamma: discount factor.
        nominal_alpha: ``alpha`` of the nominal kernel (default the first of ``alphas``).

    Returns:
        ``(mdp, kernel_set)``: the nominal MDP (initial distribution a point mass on the start)
        and the :class:`KernelSet` of the ``m`` kernels.
    """
    alphas = np.linspace(0.0, 0.5, 25) if alphas is None else _as_float_array("alphas", alphas)
    if alphas.ndim != 1 or alphas.size == 0 or np.any((alphas < 0) | (alphas > 1)):
        raise ValueError("alphas must be a non-empty 1-D array of values in [0, 1]")
    if nominal_alpha is None:
        nominal_alpha = float(alphas[0])
    nominal_alpha = as_real("nominal_alpha", nominal_alpha, minimum=0.0, maximum=1.0)
    gamma = _check_gamma(gamma)
    kernels = [_windy_kernel(float(a)) for a in alphas]
    layout = WINDY_WALK_LAYOUT
    n_rows, n_cols = len(layout), len(layout[0])
    S = n_rows * n_cols
    r = np.full((S, 4), -1.0)
    goal = [
        r_ * n_cols + c for r_, row in enumerate(layout) for c, ch in enumerate(row) if ch == "G"
    ]
    start = [
        r_ * n_cols + c for r_, row in enumerate(layout) for c, ch in enumerate(row) if ch == "S"
    ]
    walls = [
        r_ * n_cols + c for r_, row in enumerate(layout) for c, ch in enumerate(row) if ch == "#"
    ]
    r[goal] = 0.0
    r[walls] = 0.0  # unreachable self-loops
    rho = np.zeros(S)
    rho[start] = 1.0
    mdp = TabularMDP(_windy_kernel(nominal_alpha), r, gamma, rho)
    return mdp, KernelSet(kernels)


def _windy_kernel(alpha: float) -> np.ndarray:
    layout = WINDY_WALK_LAYOUT
    n_rows, n_cols = len(layout), len(layout[0])
    S = n_rows * n_cols
    P = np.zeros((S, 4, S))

    def free(rr: int, cc: int) -> bool:
        return 0 <= rr < n_rows and 0 <= cc < n_cols and layout[rr][cc] != "#"

    def move(rr: int, cc: int, d: tuple[int, int]) -> int:
        nr, nc = rr + d[0], cc + d[1]
        return nr * n_cols + nc if free(nr, nc) else rr * n_cols + cc

    wind = {"n": alpha, "m": alpha**3, "s": alpha**6}
    for rr in range(n_rows):
        for cc in range(n_cols):
            s = rr * n_cols + cc
            ch = layout[rr][cc]
            if ch in "#G":
                P[s, :, s] = 1.0
                continue
            for a, d in enumerate(WINDY_WALK_MOVES):
                target = move(rr, cc, d)
                if ch not in wind:
                    P[s, a, target] = 1.0
                    continue
                w = wind[ch]
                west = move(rr, cc, WINDY_WALK_MOVES[3])
                if a == 3:  # west
                    P[s, a, west] = 1.0
                elif a == 2:  # east
                    P[s, a, target] += 1.0 - w
                    P[s, a, west] += w
                else:  # north / south: blocked (stay) except in the wide southern corridor
                    stay_or_move = target if ch == "s" else s
                    P[s, a, stay_or_move] += 1.0 - w
                    P[s, a, west] += w
    return P


def drpg_garnet(
    n_states: int = 5,
    n_actions: int = 6,
    branching: int = 3,
    *,
    gamma: float = 0.95,
    kappa_range: tuple[float, float] = (0.1, 0.5),
    seed: Any = None,
) -> tuple[TabularMDP, L1Ball]:
    r"""The garnet of the DRPG experiments (Wang, Ho and Petrik 2023, authors' code
    ``Sampling Garnet.cpp``), with costs turned into rewards.

    For every ``(s, a)``: ``b`` distinct successors with weights ``U(0, 5)`` normalised; costs
    ``c(s, a, s') ~ U(0, 5)``, here rewards ``r(s, a, s') = 5 - c(s, a, s')`` so that rewards lie
    in ``[0, 5]`` and the agent maximises (DRPG's minimiser of costs); a random initial
    distribution ``rho`` (uniform weights, normalised); L1 radii ``kappa_sa ~ U(0.1, 0.5)``.
    This weighting differs from the classic cut-point garnet (:func:`theory_rl.mdps.garnet`).

    .. note:: ``r(s, a, s')`` is reduced to ``r(s, a) = sum_s' P̄(s'|s,a) r(s, a, s')`` under the
       *nominal* kernel, as :class:`TabularMDP` stores expected rewards; DRPG's code keeps
       ``c(s, a, s')`` inside the adversary's objective.  The robust problems solved here are
       therefore those of the reduced rewards (a documented deviation).

    Returns:
        ``(mdp, L1Ball(kappa))`` with ``kappa`` ``(S, A)``.
    """
    S = as_int("n_states", n_states)
    A = as_int("n_actions", n_actions)
    b = as_int("branching", branching)
    if b > S:
        raise ValueError(f"branching must be <= n_states = {S}, got {b}")
    lo, hi = (as_real(f"kappa_range[{i}]", x, minimum=0.0) for i, x in enumerate(kappa_range))
    if hi < lo:
        raise ValueError(f"kappa_range must be (low, high) with low <= high, got {kappa_range}")
    rng = as_generator(seed)
    P = np.zeros((S, A, S))
    for s in range(S):
        for a in range(A):
            succ = rng.choice(S, size=b, replace=False)
            w = rng.uniform(0.0, 5.0, size=b)
            P[s, a, succ] = w / w.sum()
    cost = rng.uniform(0.0, 5.0, size=(S, A, S))
    rho = rng.random(S)
    rho /= rho.sum()
    kappa = rng.uniform(lo, hi, size=(S, A))
    mdp = TabularMDP(P, 5.0 - cost, _check_gamma(gamma), rho)
    return mdp, L1Ball(kappa)
