r"""Seeded random problems and the classic hand-built test MDPs, each as a :class:`TabularMDP`.

Random generators (:func:`garnet`, :func:`random_mdp`) accept ``seed`` as an int, a
:class:`numpy.random.SeedSequence`, a :class:`numpy.random.Generator` (whose stream continues) or
``None``; the same seed gives the same MDP on every run and platform.  Everything else is
deterministic given its arguments.

=================  ===========================================================================
generator          construction (state and action numbering in each docstring)
=================  ===========================================================================
``garnet``         ``b`` distinct uniform successors per (s, a), cut-point or Dirichlet weights;
                   Archibald, McKinnon & Thomas (1995); Bhatnagar, Sutton, Ghavamzadeh & Lee
                   (2009).  Sparse CSR by default: ``S = 10**6, A = 10, b = 10`` takes seconds.
``random_mdp``     dense, every row Dirichlet(1, ..., 1) over all states.
``chain``          the vanishing-gradient chain of Agarwal, Kakade, Lee & Mahajan (JMLR 2021);
                   AJKS book, Proposition 12.1.
``river_swim``     RiverSwim (Strehl & Littman 2008) with the probabilities of Osband, Russo &
                   Van Roy (2013).
``gridworld``      4-action slippery grid with walls and absorbing goals.
``deep_sea``       Deep Sea of bsuite (Osband et al. 2019/2020), plus an absorbing sink.
``ring``           a noisy ring (cycle) of states with one rewarding state (reconstructed).
``bandit``         a K-armed bandit as a one-state MDP.
=================  ===========================================================================

References:
    D. Archibald, K. McKinnon, L. Thomas. On the generation of Markov decision processes.
    J. Operational Research Society 46 (1995).
    S. Bhatnagar, R. Sutton, M. Ghavamzadeh, M. Lee. Natural actor-critic algorithms.
    Automatica 45 (2009).
    A. Agarwal, S. Kakade, J. Lee, G. Mahajan. On the theory of policy gradient methods:
    optimality, approximation, and distribution shift. JMLR 22 (2021), arXiv:1908.00261.
    A. Agarwal, N. Jiang, S. Kakade, W. Sun. Reinforcement Learning: Theory and Algorithms
    (the "AJKS book"), Chapter 12.
    A. Strehl, M. Littman. An analysis of model-based interval estimation for Markov decision
    processes. JCSS 74 (2008).
    I. Osband, D. Russo, B. Van Roy. (More) efficient reinforcement learning via posterior
    sampling. NeurIPS 2013, arXiv:1306.0940.
    I. Osband et al. Behaviour suite for reinforcement learning. ICLR 2020, arXiv:1908.03568.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import scipy.sparse as sp

from theory_rl._checks import as_int
from theory_rl.backend import as_generator
from theory_rl.kernels.sampling import _garnet_rows
from theory_rl.mdps.tabular import (
    TabularMDP,
    _as_float_array,
    _check_finite,
    _check_gamma,
)

__all__ = [
    "bandit",
    "chain",
    "deep_sea",
    "garnet",
    "gridworld",
    "random_mdp",
    "ring",
    "river_swim",
]

Seed = int | np.random.SeedSequence | np.random.Generator | None

_CHUNK = 1 << 20  # garnet entries generated per kernel call (bounds the int64 scratch buffer)


# --------------------------------------------------------------------------------------------
# argument checks of the generators (integers: theory_rl._checks.as_int)
# --------------------------------------------------------------------------------------------
def _as_probability(name: str, value: Any) -> float:
    """``value`` as a float in [0, 1]; ValueError naming ``name`` otherwise."""
    try:
        p = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a probability in [0, 1], got {value!r}") from None
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"{name} must be in [0, 1], got {p}")
    return p


def _as_real(name: str, value: Any) -> float:
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a real number, got {value!r}") from None
    if not np.isfinite(x):
        raise ValueError(f"{name} must be finite, got {x}")
    return x


def _point_mass(n: int, states: Iterable[int]) -> np.ndarray:
    """Uniform distribution over ``states`` as an ``(n,)`` array."""
    rho = np.zeros(n)
    idx = np.unique(np.fromiter(states, dtype=np.int64))
    rho[idx] = 1.0 / idx.size
    return rho


# --------------------------------------------------------------------------------------------
# random problems
# --------------------------------------------------------------------------------------------
def garnet(
    n_states: int,
    n_actions: int,
    branching: int,
    *,
    gamma: float = 0.9,
    variant: str = "cutpoint",
    sparse: bool = True,
    seed: Seed = None,
) -> TabularMDP:
    r"""A garnet ("generic average reward non-stationary environment test-bench") MDP.

    Construction, for each state-action pair in the order ``(0, 0), (0, 1), ..., (S-1, A-1)``:

    1. draw ``b = branching`` **distinct** next states uniformly without replacement from the
       ``S`` states (a partial Fisher-Yates shuffle; they are stored sorted);
    2. weight them with the gaps between ``b - 1`` sorted uniform cut points on ``[0, 1]``
       (``variant="cutpoint"``, the classic construction of Archibald, McKinnon & Thomas 1995
       as used by Bhatnagar et al. 2009), or with a Dirichlet(1, ..., 1) vector
       (``variant="dirichlet"``).  The two laws coincide (uniform spacings are Dirichlet(1));
       the variants differ in the random numbers consumed, so they give different MDPs for
       one seed.  Every listed successor has positive probability.

    Then the rewards ``r[s, a] ~ Uniform[0, 1]`` are drawn, i.i.d., after all transitions.
    The initial distribution is uniform.

    The sparse result is built as CSR arrays directly (``indptr = arange(0, S*A*b + 1, b)``,
    ``int32`` indices while they fit), by a numba kernel that costs O(b) per row:
    ``garnet(10**6, 10, 10)`` took 9 s on 2 cores (about 4 s of it sampling, the rest
    :class:`TabularMDP`'s O(nnz) validation and imports); the result holds about 1.2 GB
    (``10**8`` float64 probabilities and int32 indices) and the validation's temporaries
    raised the peak resident memory to 2.7 GB.  ``sparse=False`` returns the same MDP (same
    seed, same numbers) with dense ``(S, A, S)`` transitions.

    Args:
        n_states: S >= 1.
        n_actions: A >= 1.
        branching: b, the number of successors of every pair, ``1 <= b <= S``.
        gamma: discount factor in [0, 1).
        variant: ``"cutpoint"`` or ``"dirichlet"``.
        sparse: CSR ``(S*A, S)`` transitions if True, dense ``(S, A, S)`` otherwise.
        seed: int, SeedSequence, Generator or None.

    Returns:
        TabularMDP with exactly ``b`` positive entries in every transition row.

    Example:
        >>> mdp = garnet(50, 4, 3, seed=0)
        >>> mdp.nnz, mdp.is_sparse
        (600, True)
    """
    S = as_int("n_states", n_states)
    A = as_int("n_actions", n_actions)
    b = as_int("branching", branching)
    if b > S:
        raise ValueError(
            f"branching must be <= n_states = {S} (successors are distinct states), got {b}"
        )
    if variant not in ("cutpoint", "dirichlet"):
        raise ValueError(f'variant must be "cutpoint" or "dirichlet", got {variant!r}')
    gamma = _check_gamma(gamma)
    rng = as_generator(seed)

    n_rows = S * A
    nnz = n_rows * b
    idx_dtype = np.int32 if max(nnz, S) < np.iinfo(np.int32).max else np.int64
    indices = np.empty(nnz, dtype=idx_dtype)
    data = np.empty(nnz, dtype=np.float64)
    perm = np.arange(S, dtype=np.int64)
    rows_per_chunk = max(1, _CHUNK // b)
    scratch = None if idx_dtype == np.int64 else np.empty(min(n_rows, rows_per_chunk) * b, np.int64)
    for start in range(0, n_rows, rows_per_chunk):
        lo, hi = start * b, min(n_rows, start + rows_per_chunk) * b
        out = indices[lo:hi] if scratch is None else scratch[: hi - lo]
        _garnet_rows(rng, perm, b, variant == "dirichlet", out, data[lo:hi])
        if scratch is not None:
            indices[lo:hi] = out
    rewards = rng.random((S, A))

    if sparse:
        indptr = np.arange(0, nnz + 1, b, dtype=idx_dtype)
        P: np.ndarray | sp.csr_array = sp.csr_array((data, indices, indptr), shape=(n_rows, S))
    else:
        P = np.zeros((n_rows, S))
        P[np.repeat(np.arange(n_rows), b), indices] = data
        P = P.reshape(S, A, S)
    return TabularMDP(P, rewards, gamma)


def random_mdp(
    n_states: int,
    n_actions: int,
    *,
    gamma: float = 0.9,
    seed: Seed = None,
    reward: str = "uniform",
) -> TabularMDP:
    r"""A dense random MDP: every row ``P[s, a, :] ~ Dirichlet(1, ..., 1)`` over all S states.

    Draw order: transitions ``rng.dirichlet(ones(S), size=(S, A))``, then rewards
    ``r[s, a]``: i.i.d. ``Uniform[0, 1]`` (``reward="uniform"``) or standard normal
    (``reward="normal"``).  Initial distribution uniform.  Every transition entry is positive
    (almost surely), so every policy's chain is irreducible and aperiodic.

    Example:
        >>> random_mdp(3, 2, seed=1).transitions.shape
        (3, 2, 3)
    """
    S = as_int("n_states", n_states)
    A = as_int("n_actions", n_actions)
    if reward not in ("uniform", "normal"):
        raise ValueError(f'reward must be "uniform" or "normal", got {reward!r}')
    gamma = _check_gamma(gamma)
    rng = as_generator(seed)
    P = rng.dirichlet(np.ones(S), size=(S, A))
    r = rng.random((S, A)) if reward == "uniform" else rng.standard_normal((S, A))
    return TabularMDP(P, r, gamma)


# --------------------------------------------------------------------------------------------
# hand-built problems
# --------------------------------------------------------------------------------------------
def chain(
    horizon: int,
    *,
    gamma: float | None = None,
    initial_distribution: Any = None,
) -> TabularMDP:
    r"""The chain MDP on which softmax policy gradient has exponentially small gradients.

    Agarwal, Kakade, Lee & Mahajan (JMLR 2021), Figure/Proposition on vanishing gradients; the
    AJKS book, Proposition 12.1.  With ``H = horizon``:

    * states ``0, ..., H+1`` are :math:`s_0, \dots, s_{H+1}`; actions ``0, 1, 2, 3`` are the
      paper's :math:`a_1, \dots, a_4` (so action ``0`` is the paper's :math:`a_1`);
    * in :math:`s_i`, ``i <= H``: action ``0`` moves to :math:`s_{i+1}`, actions ``1, 2, 3``
      move back to :math:`s_0` (all deterministic);
    * :math:`s_{H+1}` is absorbing under every action;
    * the only nonzero reward is :math:`r(s_{H+1}, a_1) = 1` (``rewards[H+1, 0] = 1``);
    * ``gamma`` defaults to ``H / (H + 1)``; the initial distribution defaults to the point
      mass on :math:`s_0` (the state whose gradient the proposition bounds).

    The optimal policy takes action ``0`` everywhere, reaches :math:`s_{H+1}` after ``H + 1``
    steps and collects 1 per step from then on, so

    .. math:: V^*(s_i) = \frac{\gamma^{H+1-i}}{1-\gamma}, \qquad
              V^*(s_0) = \frac{\gamma^{H+1}}{1-\gamma} = (H+1)\Big(\frac{H}{H+1}\Big)^{H+1}
              \approx \frac{H+1}{e} \text{ at the default } \gamma.

    .. warning:: The text states only that :math:`a_1` advances along the chain; that the
       other three actions return to :math:`s_0`, that :math:`s_{H+1}` absorbs under every
       action and that the reward sits on :math:`(s_{H+1}, a_1)` are reconstructed from the
       paper's figure.

    Example:
        >>> mdp = chain(3)
        >>> mdp.n_states, mdp.n_actions, mdp.gamma
        (5, 4, 0.75)
    """
    H = as_int("horizon", horizon)
    gamma = H / (H + 1.0) if gamma is None else _check_gamma(gamma)
    S, A = H + 2, 4
    P = np.zeros((S, A, S))
    i = np.arange(H + 1)
    P[i, 0, i + 1] = 1.0
    P[i, 1:, 0] = 1.0
    P[H + 1, :, H + 1] = 1.0
    r = np.zeros((S, A))
    r[H + 1, 0] = 1.0
    rho = _point_mass(S, [0]) if initial_distribution is None else initial_distribution
    return TabularMDP(P, r, gamma, rho)


def river_swim(
    n_states: int = 6,
    *,
    gamma: float = 0.95,
    small_reward: float = 5e-3,
    large_reward: float = 1.0,
    initial_distribution: Any = None,
) -> TabularMDP:
    r"""RiverSwim (Strehl & Littman 2008) with the numbers of Osband, Russo & Van Roy (2013).

    States ``0, ..., N-1`` lie along a river flowing left; action ``0`` swims left (with the
    current), action ``1`` swims right (against it):

    * action ``0``: moves to ``max(s - 1, 0)`` with probability 1;
    * action ``1`` in an interior state ``0 < s < N-1``: right ``0.35``, stay ``0.6``,
      left ``0.05``;
    * action ``1`` in ``s = 0``: stay ``0.4``, right ``0.6``;
    * action ``1`` in ``s = N-1``: stay ``0.6``, left ``0.4``;
    * expected rewards ``r[0, 0] = small_reward`` (``5/1000``) and
      ``r[N-1, 1] = large_reward`` (1), all others 0 -- rewards belong to the (state, action)
      pair, as in Osband et al.'s code (``TabulaRL``'s ``make_riverSwim``);
    * initial distribution: point mass on state 0 (``TabulaRL``; Strehl & Littman start
      uniformly in their states 1 or 2 -- pass ``initial_distribution`` for that).

    The original of Strehl & Littman (2008) uses other numbers (rewards 5 and 10000 and
    probabilities 0.3 / 0.6 / 0.1); the variant here is the one most RL-theory experiments use.
    Requires ``n_states >= 2``.
    """
    N = as_int("n_states", n_states, minimum=2)
    gamma = _check_gamma(gamma)
    P = np.zeros((N, 2, N))
    s = np.arange(N)
    P[s, 0, np.maximum(s - 1, 0)] = 1.0
    mid = np.arange(1, N - 1)
    P[mid, 1, mid + 1] = 0.35
    P[mid, 1, mid] = 0.6
    P[mid, 1, mid - 1] = 0.05
    P[0, 1, 0], P[0, 1, 1] = 0.4, 0.6
    P[N - 1, 1, N - 1], P[N - 1, 1, N - 2] = 0.6, 0.4
    r = np.zeros((N, 2))
    r[0, 0] = _as_real("small_reward", small_reward)
    r[N - 1, 1] = _as_real("large_reward", large_reward)
    rho = _point_mass(N, [0]) if initial_distribution is None else initial_distribution
    return TabularMDP(P, r, gamma, rho)


_MOVES = np.array([(-1, 0), (0, 1), (1, 0), (0, -1)])  # up, right, down, left
_LAYOUT_CHARS = {".": "free", "#": "wall", "G": "goal", "S": "start"}


def _parse_layout(layout: str | Sequence[str]) -> tuple[tuple[int, int], np.ndarray, list, list]:
    rows = layout.strip("\n").splitlines() if isinstance(layout, str) else list(layout)
    rows = [row.strip() for row in rows]
    if not rows or any(len(row) != len(rows[0]) for row in rows) or not rows[0]:
        raise ValueError(
            "layout rows must be non-empty and of equal length, got lengths "
            f"{[len(r) for r in rows]}"
        )
    walls = np.zeros((len(rows), len(rows[0])), dtype=bool)
    goals, starts = [], []
    for i, row in enumerate(rows):
        for j, ch in enumerate(row):
            if ch not in _LAYOUT_CHARS:
                raise ValueError(
                    f"layout[{i}][{j}] is {ch!r}; use '.' (free), '#' (wall), 'G' (goal), "
                    "'S' (start)"
                )
            walls[i, j] = ch == "#"
            if ch == "G":
                goals.append((i, j))
            elif ch == "S":
                starts.append((i, j))
    return walls.shape, walls, goals, starts


def _cells(name: str, cells: Any, shape: tuple[int, int]) -> list[tuple[int, int]]:
    """A cell ``(r, c)`` or an iterable of cells, checked against ``shape``."""
    arr = np.asarray(cells)
    if arr.size == 0:
        return []
    if arr.dtype.kind not in "iu" or arr.shape[-1:] != (2,) or arr.ndim > 2:
        raise ValueError(f"{name} must be a cell (row, col) or a sequence of cells, got {cells!r}")
    arr = arr.reshape(-1, 2)
    for k, (i, j) in enumerate(arr):
        if not (0 <= i < shape[0] and 0 <= j < shape[1]):
            raise ValueError(f"{name}[{k}] = ({i}, {j}) is outside the {shape[0]}x{shape[1]} grid")
    return [(int(i), int(j)) for i, j in arr]


def gridworld(
    layout: str | Sequence[str] | tuple[int, int] = (5, 5),
    *,
    walls: Any = None,
    goal: Any = None,
    start: Any = None,
    slip: float = 0.1,
    gamma: float = 0.95,
    goal_reward: float = 1.0,
    step_reward: float = 0.0,
    sparse: bool = False,
) -> TabularMDP:
    r"""A slippery grid world with walls and absorbing goals.

    The grid is given either as ``layout=(rows, cols)`` with ``walls`` (cells ``(r, c)``),
    ``goal`` (a cell or cells; default the bottom-right corner) and ``start`` (default
    ``(0, 0)``), or as a picture -- a string or a list of strings of equal length using
    ``.`` free, ``#`` wall, ``G`` goal, ``S`` start (default: the first free cell), e.g.::

        gridworld(["S..#",
                   ".#..",
                   "...G"])

    Model:

    * states are the non-wall cells in row-major order: without walls cell ``(r, c)`` is
      state ``r * cols + c``; with a boolean wall mask ``is_wall``, state ``k`` is the cell
      with flat index ``np.flatnonzero(~is_wall.ravel())[k]``;
    * actions ``0, 1, 2, 3`` = up, right, down, left;  the intended move happens with
      probability ``1 - slip`` and each of the three other directions with ``slip / 3``;
      a move off the grid or into a wall leaves the agent in place;
    * goal cells are absorbing with reward 0; the reward is paid on **entry**:
      ``r(s, a) = step_reward + goal_reward * P(s' is a goal | s, a)`` for every free
      non-goal cell ``s``;
    * initial distribution: uniform over the start cells;
    * ``sparse=True`` returns CSR ``(S*4, S)`` transitions (built without the dense array,
      for large grids).
    """
    if isinstance(layout, str) or (
        isinstance(layout, Sequence) and layout and all(isinstance(x, str) for x in layout)
    ):
        if walls is not None or goal is not None or start is not None:
            raise ValueError(
                "give walls, goal and start either in the layout picture or as "
                "keywords with layout=(rows, cols), not both"
            )
        shape, wall, goals, starts = _parse_layout(layout)
        if not goals:
            raise ValueError("layout has no goal cell 'G'")
        if not starts:
            free = np.argwhere(~wall)
            starts = [tuple(free[0])] if free.size else []
    else:
        try:
            n_rows, n_cols = layout  # type: ignore[misc]
        except (TypeError, ValueError):
            raise ValueError(
                f"layout must be (rows, cols) or a picture (str / list of str), got {layout!r}"
            ) from None
        shape = (as_int("layout rows", n_rows), as_int("layout cols", n_cols))
        wall = np.zeros(shape, dtype=bool)
        for i, j in _cells("walls", [] if walls is None else walls, shape):
            wall[i, j] = True
        goals = _cells("goal", (shape[0] - 1, shape[1] - 1) if goal is None else goal, shape)
        starts = _cells("start", (0, 0) if start is None else start, shape)
        if not goals:
            raise ValueError("goal must name at least one cell")
    for name, cells in (("goal", goals), ("start", starts)):
        for i, j in cells:
            if wall[i, j]:
                raise ValueError(f"{name} cell ({i}, {j}) is a wall")
    if not starts:
        raise ValueError("the grid has no free cell to start from")
    slip = _as_probability("slip", slip)
    gamma = _check_gamma(gamma)
    goal_reward = _as_real("goal_reward", goal_reward)
    step_reward = _as_real("step_reward", step_reward)

    n_rows, n_cols = shape
    n_cells = n_rows * n_cols
    is_goal = np.zeros(shape, dtype=bool)
    for i, j in goals:
        is_goal[i, j] = True
    cell = np.arange(n_cells)
    rr, cc = np.divmod(cell, n_cols)
    # Destination cell of every cell under each of the 4 moves (stay when blocked).
    succ = np.empty((n_cells, 4), dtype=np.int64)
    for d, (di, dj) in enumerate(_MOVES):
        ni, nj = rr + di, cc + dj
        inside = (ni >= 0) & (ni < n_rows) & (nj >= 0) & (nj < n_cols)
        ni, nj = np.where(inside, ni, rr), np.where(inside, nj, cc)
        succ[:, d] = np.where(wall[ni, nj], cell, ni * n_cols + nj)
    move_prob = np.full((4, 4), slip / 3.0)  # move_prob[a, d]
    np.fill_diagonal(move_prob, 1.0 - slip)

    # States: the free cells, row-major.  Goals absorb; other free cells move.
    keep = np.flatnonzero(~wall.ravel())
    state_of = np.full(n_cells, -1)
    state_of[keep] = np.arange(keep.size)
    S = keep.size
    goal_state = is_goal.ravel()[keep]
    movers = np.flatnonzero(~goal_state)
    rows, cols, vals = [], [], []
    for a in range(4):
        for d in range(4):
            rows.append(movers * 4 + a)
            cols.append(state_of[succ[keep[movers], d]])
            vals.append(np.full(movers.size, move_prob[a, d]))
    absorbing = np.flatnonzero(goal_state)
    rows.append((absorbing[:, None] * 4 + np.arange(4)).ravel())
    cols.append(np.repeat(absorbing, 4))
    vals.append(np.ones(absorbing.size * 4))
    row, col, val = np.concatenate(rows), np.concatenate(cols), np.concatenate(vals)
    P = sp.csr_array(sp.coo_array((val, (row, col)), shape=(S * 4, S)))  # sums duplicates
    P.eliminate_zeros()  # slip = 0 or 1 lists zero-probability moves
    goal_prob = np.bincount(row, weights=val * goal_state[col], minlength=S * 4).reshape(S, 4)
    r = np.where(goal_state[:, None], 0.0, step_reward + goal_reward * goal_prob)
    rho = _point_mass(S, (state_of[i * n_cols + j] for i, j in starts))
    return TabularMDP(P if sparse else P.toarray().reshape(S, 4, S), r, gamma, rho)


def deep_sea(
    size: int,
    *,
    gamma: float | None = None,
    move_cost: float = 0.01,
    deterministic: bool = True,
    randomize_actions: bool = False,
    seed: Seed = None,
) -> TabularMDP:
    r"""Deep Sea of bsuite (Osband et al. 2020, "Behaviour Suite for RL"), with a sink.

    An ``N x N`` grid (``N = size``); the agent starts top-left and descends one row per step:

    * state of cell ``(row, col)`` is ``row * N + col``; state ``N * N`` is an absorbing
      zero-reward sink entered after the last row (bsuite ends the episode there);
    * action ``1`` is "right" (``col + 1``, capped at ``N - 1``) and costs
      ``move_cost / N``; action ``0`` is "left" (``col - 1``, floored at 0) and is free;
      ``deterministic=False`` makes "right" fail with probability ``1/N`` (column unchanged,
      cost still paid), as bsuite's stochastic version;
    * reward ``+1`` for "right" in the bottom-right cell ``(N-1, N-1)`` (bsuite pays it for
      "right" whenever ``col = N-1``, which from the start happens only in that cell);
      bsuite's zero-mean reward noise of the stochastic version is omitted (expected
      rewards only);
    * ``randomize_actions=True`` swaps the meaning of the two actions in each cell
      independently with probability 1/2 (bsuite's ``action_mapping``, drawn from ``seed``);
    * initial distribution: point mass on ``(0, 0)``;
    * ``gamma`` defaults to ``N / (N + 1)`` (effective horizon ``N + 1`` covers the episode
      of ``N`` steps, and ``gamma**(N-1) > 1/e > move_cost``, so "always right" stays optimal).

    Only the cells with ``col <= row`` are reachable from the start; the others are kept so
    that the numbering is the plain row-major one.
    """
    N = as_int("size", size)
    gamma = N / (N + 1.0) if gamma is None else _check_gamma(gamma)
    cost = _as_real("move_cost", move_cost) / N
    S = N * N + 1
    sink = N * N
    row, col = np.divmod(np.arange(N * N), N)
    below = np.where(row < N - 1, (row + 1) * N, sink)  # first cell of the next row (or sink)
    go_right = np.where(row < N - 1, below + np.minimum(col + 1, N - 1), sink)
    go_left = np.where(row < N - 1, below + np.maximum(col - 1, 0), sink)
    stay_col = np.where(row < N - 1, below + col, sink)
    p_fail = 0.0 if deterministic else 1.0 / N
    cells = np.arange(N * N)
    P = np.zeros((S, 2, S))
    P[cells, 0, go_left] = 1.0
    P[cells, 1, go_right] += 1.0 - p_fail
    P[cells, 1, stay_col] += p_fail
    P[sink, :, sink] = 1.0
    r = np.zeros((S, 2))
    r[cells, 1] = -cost
    r[sink - 1, 1] += 1.0
    if randomize_actions:
        flip = as_generator(seed).integers(0, 2, size=N * N).astype(bool)
        P[cells[flip]] = P[cells[flip]][:, ::-1]
        r[cells[flip]] = r[cells[flip]][:, ::-1]
    rho = _point_mass(S, [0])
    return TabularMDP(P, r, gamma, rho)


def ring(
    n_states: int = 10,
    *,
    noise: float = 0.1,
    goal: int | None = None,
    gamma: float = 0.9,
    initial_distribution: Any = None,
) -> TabularMDP:
    r"""A noisy ring MDP: ``n`` states on a cycle, one rewarding state.

    * actions ``0, 1, 2`` = counter-clockwise (``s - 1 mod n``), stay, clockwise
      (``s + 1 mod n``);
    * the intended move happens with probability ``1 - noise``; otherwise one of the two
      other moves, each with probability ``noise / 2``;
    * reward ``r(s, a) = 1`` in the goal state (any action), 0 elsewhere; ``goal`` defaults
      to ``n // 2``, the state farthest from the start;
    * initial distribution: point mass on state 0.

    .. warning:: Reconstructed.  A "ring MDP" is attributed in this project's design notes to
       Zhang, Hu & Li; the paper and its exact construction could not be confirmed, so this is
       the standard ring above (``n >= 3`` so that the three moves differ).  Do not cite
       numbers obtained on it as reproducing that paper.
    """
    n = as_int("n_states", n_states, minimum=3)
    noise = _as_probability("noise", noise)
    gamma = _check_gamma(gamma)
    g = n // 2 if goal is None else as_int("goal", goal, minimum=0)
    if g >= n:
        raise ValueError(f"goal must be a state in [0, {n}), got {g}")
    s = np.arange(n)
    targets = np.stack([(s - 1) % n, s, (s + 1) % n], axis=1)  # targets[s, move]
    move_prob = np.full((3, 3), noise / 2.0)
    np.fill_diagonal(move_prob, 1.0 - noise)
    P = np.zeros((n, 3, n))
    for a in range(3):
        for m in range(3):
            P[s, a, targets[:, m]] += move_prob[a, m]
    r = np.zeros((n, 3))
    r[g, :] = 1.0
    rho = _point_mass(n, [0]) if initial_distribution is None else initial_distribution
    return TabularMDP(P, r, gamma, rho)


def bandit(means: Any, *, gamma: float = 0.0) -> TabularMDP:
    r"""A K-armed bandit as a one-state MDP: action ``k`` loops back and pays ``means[k]``.

    With the default ``gamma = 0`` values equal the arm means; any ``gamma`` in ``[0, 1)``
    gives the same problem with every value scaled by ``1 / (1 - gamma)``.

    Example:
        >>> bandit([0.1, 0.5]).rewards
        array([[0.1, 0.5]])
    """
    mu = _as_float_array("means", means)
    if mu.ndim != 1 or mu.size == 0:
        raise ValueError(f"means must be a non-empty 1-D array (K,), got shape {mu.shape}")
    _check_finite("means", mu)
    K = mu.size
    return TabularMDP(np.ones((1, K, 1)), mu[None, :], gamma)
