r"""Exploration baselines: UCBVI, LSVI-UCB (episodic, regret) and synchronous Q-learning.

Setting (episodic): a :class:`~theory_rl.mdps.tabular.FiniteHorizonMDP` with horizon ``H``,
rewards ``r_h(s, a)`` in ``[0, 1]`` (deterministic: a step returns the stored expected reward)
and start distribution ``rho``; ``T`` episodes; the regret of the played policies
:math:`\pi_1, \dots, \pi_T` is measured exactly,

.. math::  \mathrm{Regret}(T) = \sum_{t=1}^{T} \rho^\top\big(V^*_0 - V^{\pi_t}_0\big),

with :math:`V^*` from :func:`theory_rl.algorithms.dp.backward_induction` and :math:`V^{\pi_t}`
by exact policy evaluation on the true model (pseudo-regret: no sampling noise from the
evaluation).  Data are summarised by counts ``N_h(s, a)``, next-state counts
``N_h(s, a, s')`` and reward sums; the episodes run in numba kernels
(:mod:`theory_rl.kernels.episodic`), a block of episodes per loop iteration, batched over seeds.

**UCBVI** (Azar, Osband & Munos, ICML 2017, Alg. 1).  Before every episode, optimistic value
iteration on the empirical model :math:`\hat P_h, \hat r_h`:

.. math::  Q_h(s,a) = \min\big(H - h,\; \hat r_h(s,a) + \hat P_h(s,a)^\top V_{h+1} + b_h(s,a)\big),
           \qquad V_h(s) = \max_a Q_h(s,a),\qquad V_H = 0,

(:math:`Q_h = H - h` for unvisited pairs), then act greedily.  Bonuses
(``bonus=``, times ``bonus_scale``):

* ``"hoeffding"`` (UCBVI-CH): :math:`b = 7 H L \sqrt{1/N}` with
  :math:`L = \ln(5 S A H T/\delta)` (Azar's ``T`` counts steps, here ``H T``).  *Guarantee*
  (Thm 1): with probability :math:`1-\delta`, :math:`\mathrm{Regret} \le 20 H L\sqrt{S A H T}
  + 250 H^2 S^2 A L^2`.  The constants 7, 20, 250 are recalled **[U]** (the paper body was not
  re-read); the claims use only the :math:`\sqrt{T}` form.
* ``"bernstein"``: :math:`b = \sqrt{8 L \widehat{\mathrm{Var}}_{\hat P}(V_{h+1})/N}
  + 14 H L/(3N)`, the first two terms of UCBVI-BF's bonus.  The third term (which corrects for
  using :math:`V_{h+1}` in place of :math:`V^*_{h+1}`) is **omitted**, so the
  :math:`\tilde O(\sqrt{H^2SAT})`-type guarantee of UCBVI-BF (Thm 2) is not claimed for it.

The clip at ``H - h`` (instead of ``H``) is valid because :math:`V^*_h \le H - h`.

**LSVI-UCB** (Jin, Yang, Wang & Jordan, COLT 2020, Alg. 1).  Features
:math:`\phi(s,a) \in \mathbb R^d` (``(S, A, d)``); before every episode, for
:math:`h = H-1, \dots, 0`,

.. math::  \Lambda_h = \lambda I + \sum_\tau \phi_\tau\phi_\tau^\top,\quad
           w_h = \Lambda_h^{-1}\sum_\tau \phi_\tau\big(r_\tau + V_{h+1}(s'_\tau)\big),\quad
           Q_h = \min\big(H-h,\; w_h^\top\phi + \beta\|\phi\|_{\Lambda_h^{-1}}\big),

sums over the step-``h`` data; act greedily.  :math:`\beta = c\, d H\sqrt{\iota}`,
:math:`\iota = \log(2 d H T/\delta)` (``bonus_scale`` = ``c``; Jin et al. prove Thm 3.1,
:math:`\tilde O(\sqrt{d^3H^3 T'})` regret in ``T' = HT`` steps, for some absolute ``c`` **[V
form, constant unstated]**).  The sums over data are computed from the counts (exactly the same
numbers: the data of a finite MDP are determined by them) and :math:`\Lambda_h^{-1}` by
Sherman-Morrison updates; :func:`lsvi_q_values` is the plain solve.

**Synchronous Q-learning** (Watkins; synchronous form of Even-Dar & Mansour 2003 and
Wainwright 2019).  Discounted :class:`~theory_rl.mdps.tabular.TabularMDP`; update ``k`` draws
one :math:`s'_k(s,a) \sim P(\cdot|s,a)` for every pair (generative model) and sets
:math:`Q_{k+1} = (1-\alpha_k)Q_k + \alpha_k(r + \gamma\max_{a'}Q_k(s'_k, a'))`.  Step sizes:
``"rescaled_linear"`` :math:`\alpha_k = 1/(1 + (1-\gamma)(k+1))` (Wainwright 2019) or
``"polynomial"`` :math:`\alpha_k = 1/(k+1)^\omega` (Even-Dar & Mansour 2003).  The measured
quantity is :math:`\|Q_k - Q^*\|_\infty`; the bound is in :mod:`theory_rl.bounds.wainwright2019`.

References:
    M. G. Azar, I. Osband, R. Munos. Minimax regret bounds for reinforcement learning. ICML
    2017, arXiv:1703.05449.
    C. Jin, Z. Yang, Z. Wang, M. I. Jordan. Provably efficient reinforcement learning with
    linear function approximation. COLT 2020, arXiv:1907.05388.
    E. Even-Dar, Y. Mansour. Learning rates for Q-learning. JMLR 5 (2003).
    M. J. Wainwright. Stochastic approximation with cone-contractive operators: sharp
    l-infinity bounds for Q-learning. arXiv:1905.06265 (2019).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import scipy.sparse as sp

from theory_rl._checks import as_int, as_positive, as_real
from theory_rl.algorithms._loop import Method, iterate
from theory_rl.kernels import episodic as _ke
from theory_rl.mdps.linear import LinearMDP
from theory_rl.mdps.tabular import FiniteHorizonMDP, TabularMDP, validate_policy
from theory_rl.result import SolveResult

__all__ = [
    "EPISODIC_RECORD_KEYS",
    "Q_LEARNING_RECORD_KEYS",
    "data_statistics",
    "exploration_bonus",
    "finite_horizon",
    "lsvi_q_values",
    "lsvi_ucb",
    "optimistic_q_values",
    "q_learning",
    "q_learning_step",
    "q_learning_steps",
    "sample_episodes",
    "ucbvi",
]

Seed = int | np.random.SeedSequence | np.random.Generator | None
Callback = Callable[[SolveResult], None]

#: What the episodic drivers can record, each ``([B,] K+1[, E])``: ``regret`` cumulative
#: regret, ``episode_regret`` the ``E`` per-episode regrets of the block (NaN at ``k = 0``),
#: ``gap`` the last played policy's :math:`\rho^\top(V^*_0 - V^\pi_0)` (NaN at ``k = 0``),
#: ``episodes`` and ``samples`` (online episodes and transitions so far), ``switches`` critic
#: recomputations after the first.
EPISODIC_RECORD_KEYS = ("regret", "episode_regret", "gap", "episodes", "samples", "switches")
Q_LEARNING_RECORD_KEYS = ("error", "samples")

BONUSES = {
    "none": _ke.BONUS_NONE,
    "count": _ke.BONUS_COUNT,
    "hoeffding": _ke.BONUS_HOEFFDING,
    "bernstein": _ke.BONUS_BERNSTEIN,
}


# ------------------------------------------------------------------------------------------
# problems, data
# ------------------------------------------------------------------------------------------
def finite_horizon(mdp: TabularMDP | LinearMDP, horizon: int) -> FiniteHorizonMDP:
    """The undiscounted ``horizon``-step episodic version of a discounted tabular or linear
    MDP (same kernel, rewards and start distribution at every step)."""
    H = as_int("horizon", horizon)
    if isinstance(mdp, LinearMDP):
        mdp = mdp.to_tabular()
    if not isinstance(mdp, TabularMDP):
        raise ValueError(f"mdp must be a TabularMDP or LinearMDP, got {type(mdp).__name__}")
    return FiniteHorizonMDP(mdp.to_dense().transitions, mdp.rewards, H, mdp.initial_distribution)


def _c(x: Any, dtype: Any) -> np.ndarray:
    return np.array(x, dtype=dtype, order="C", copy=True)


@dataclasses.dataclass(frozen=True)
class _Model:
    """The true episodic model in kernel form (module :mod:`theory_rl.kernels.episodic`)."""

    indptr: np.ndarray
    indices: np.ndarray
    cum: np.ndarray
    prob: np.ndarray
    rewards: np.ndarray  # (H, S, A)
    rho: np.ndarray
    rho_cum: np.ndarray

    @property
    def shape(self) -> tuple[int, int, int]:
        return self.rewards.shape  # type: ignore[return-value]


def _check_episodic(mdp: Any, name: str = "mdp") -> FiniteHorizonMDP:
    if not isinstance(mdp, FiniteHorizonMDP):
        raise ValueError(f"{name} must be a FiniteHorizonMDP, got {type(mdp).__name__}")
    if mdp.gamma != 1.0:
        raise ValueError(f"{name}.gamma must be 1 (undiscounted episodes), got {mdp.gamma}")
    r = np.asarray(mdp.rewards)
    if r.min() < 0.0 or r.max() > 1.0:
        raise ValueError(
            f"{name}.rewards must lie in [0, 1] (the bonuses assume it); got range "
            f"[{r.min():.4g}, {r.max():.4g}]"
        )
    return mdp


def _model(mdp: FiniteHorizonMDP) -> _Model:
    H, S, A = mdp.horizon, mdp.n_states, mdp.n_actions
    blocks = []
    for h in range(H):
        P = mdp.transitions_at(h)
        blocks.append(sp.csr_array(P if sp.issparse(P) else np.asarray(P).reshape(S * A, S)))
    csr = sp.csr_array(sp.vstack(blocks))
    csr.sum_duplicates()
    csr.eliminate_zeros()
    indptr = _c(csr.indptr, np.int64)
    prob = _c(csr.data, np.float64)
    cum = np.empty_like(prob)
    for row in range(indptr.size - 1):  # per-row running sums (exactly np.cumsum of the row)
        cum[indptr[row] : indptr[row + 1]] = np.cumsum(prob[indptr[row] : indptr[row + 1]])
    rewards = np.broadcast_to(np.asarray(mdp.rewards, dtype=np.float64), (H, S, A))
    rho = _c(mdp.initial_distribution, np.float64)
    return _Model(
        indptr=indptr,
        indices=_c(csr.indices, np.int64),
        cum=_c(cum, np.float64),
        prob=prob,
        rewards=_c(rewards, np.float64),
        rho=rho,
        rho_cum=_c(np.cumsum(rho), np.float64),
    )


def _episodic_policy(policy: Any, H: int, S: int, A: int, name: str = "policy") -> np.ndarray:
    pi = np.asarray(policy)
    if pi.ndim == 2 or (pi.ndim == 1 and pi.dtype.kind in "iu"):
        pi = np.broadcast_to(validate_policy(pi, S, A, name), (H, S, A))
    elif pi.ndim == 3 or (pi.ndim == 2 and pi.dtype.kind in "iu"):
        pi = validate_policy(pi, S, A, name)
        if pi.shape != (H, S, A):
            raise ValueError(f"{name} must have shape (H, S, A) = {(H, S, A)}; got {pi.shape}")
    else:
        raise ValueError(f"{name} must be (S, A), (H, S, A) or integer actions; got {pi.shape}")
    return np.ascontiguousarray(pi, dtype=np.float64)


def sample_episodes(
    mdp: FiniteHorizonMDP, policy: Any, *, n_episodes: int, seed: Seed = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``n_episodes`` episodes of ``policy`` (``(S, A)`` stationary or ``(H, S, A)``).

    Returns:
        ``(states (n, H+1), actions (n, H), rewards (n, H))`` (int64, int64, float64): the
        offline data set format of :func:`data_statistics` and of ``offline=`` arguments.

    Example:
        >>> from theory_rl.mdps.combination_lock import episodic_combination_lock
        >>> lock = episodic_combination_lock(2, 3, seed=0)
        >>> s, a, r = sample_episodes(lock, np.full((7, 3), 1 / 3), n_episodes=4, seed=0)
        >>> s.shape, a.shape, r.shape
        ((4, 3), (4, 2), (4, 2))
    """
    if not isinstance(mdp, FiniteHorizonMDP):
        raise ValueError(f"mdp must be a FiniteHorizonMDP, got {type(mdp).__name__}")
    n = as_int("n_episodes", n_episodes)
    H, S, A = mdp.horizon, mdp.n_states, mdp.n_actions
    pi = _episodic_policy(policy, H, S, A)
    rng = np.random.default_rng(seed) if not isinstance(seed, np.random.Generator) else seed
    states = np.empty((n, H + 1), np.int64)
    actions = np.empty((n, H), np.int64)
    rewards = np.empty((n, H))
    states[:, 0] = rng.choice(S, size=n, p=mdp.initial_distribution)
    for h in range(H):
        P = mdp.transitions_at(h)
        P = P.toarray().reshape(S, A, S) if sp.issparse(P) else np.asarray(P)
        s = states[:, h]
        cum_a = np.cumsum(pi[h, s], axis=1)
        a = np.minimum((rng.random(n)[:, None] * cum_a[:, -1:] >= cum_a).sum(axis=1), A - 1)
        cum_s = np.cumsum(P[s, a], axis=1)
        s2 = np.minimum((rng.random(n)[:, None] * cum_s[:, -1:] >= cum_s).sum(axis=1), S - 1)
        actions[:, h] = a
        rewards[:, h] = np.asarray(mdp.rewards_at(h))[s, a]
        states[:, h + 1] = s2
    return states, actions, rewards


def data_statistics(
    data: tuple[Any, Any, Any] | None,
    *,
    horizon: int,
    n_states: int,
    n_actions: int,
    name: str = "offline",
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    r"""Counts of an episode data set ``(states (n, H+1), actions (n, H), rewards (n, H))``.

    Returns:
        ``counts (H, S, A)``, ``next_counts (H, S, A, S)`` (int64) and ``reward_sums
        (H, S, A)``: :math:`N_h(s,a)`, :math:`N_h(s,a,s')` and :math:`\sum r`.  ``None`` gives
        zeros.  States, actions or rewards out of range raise ``ValueError`` naming ``name``.
    """
    H, S, A = horizon, n_states, n_actions
    counts = np.zeros((H, S, A), np.int64)
    next_counts = np.zeros((H, S, A, S), np.int64)
    reward_sums = np.zeros((H, S, A))
    if data is None:
        return counts, next_counts, reward_sums
    if not isinstance(data, (tuple, list)) or len(data) != 3:
        raise ValueError(f"{name} must be (states (n, H+1), actions (n, H), rewards (n, H))")
    states, actions, rewards = (np.asarray(x) for x in data)
    if states.ndim != 2 or states.shape[1] != H + 1 or states.dtype.kind not in "iu":
        raise ValueError(
            f"{name} states must be integers of shape (n, H+1) = (n, {H + 1}); got "
            f"{states.shape} {states.dtype}"
        )
    n = states.shape[0]
    if actions.shape != (n, H) or actions.dtype.kind not in "iu":
        raise ValueError(
            f"{name} actions must be integers of shape (n, H) = ({n}, {H}); got "
            f"{actions.shape} {actions.dtype}"
        )
    if rewards.shape != (n, H) or rewards.dtype.kind not in "iuf":
        raise ValueError(f"{name} rewards must have shape ({n}, {H}); got {rewards.shape}")
    for what, x, hi in (("states", states, S), ("actions", actions, A)):
        bad = (x < 0) | (x >= hi)
        if bad.any():
            i, j = np.argwhere(bad)[0]
            raise ValueError(f"{name} {what}[{i}, {j}] = {x[i, j]} is out of range [0, {hi})")
    if not np.all(np.isfinite(rewards)):
        raise ValueError(f"{name} rewards must be finite")
    hh = np.broadcast_to(np.arange(H), (n, H))
    s, a, s2 = states[:, :H], actions, states[:, 1:]
    np.add.at(counts, (hh, s, a), 1)
    np.add.at(next_counts, (hh, s, a, s2), 1)
    np.add.at(reward_sums, (hh, s, a), rewards)
    return counts, next_counts, reward_sums


# ------------------------------------------------------------------------------------------
# pure steps
# ------------------------------------------------------------------------------------------
def exploration_bonus(
    counts: Any,
    *,
    kind: str,
    scale: float,
    horizon: int,
    log_term: float,
    variance: Any = 0.0,
) -> np.ndarray:
    r"""The tabular bonus of pairs visited ``counts >= 1`` times (elementwise).

    ``"count"`` (the actor-critic notes): :math:`c H\sqrt{L/N}`; ``"hoeffding"`` (UCBVI-CH):
    :math:`7cHL\sqrt{1/N}`; ``"bernstein"``: :math:`c(\sqrt{8L\,\mathrm{Var}/N} + 14HL/(3N))`;
    ``"none"``: 0.

    Example:
        >>> float(exploration_bonus(4, kind="count", scale=1.0, horizon=2, log_term=4.0))
        2.0
    """
    if kind not in BONUSES:
        raise ValueError(f"bonus must be one of {sorted(BONUSES)}, got {kind!r}")
    n = np.asarray(counts, dtype=np.float64)
    if kind == "count":
        return scale * horizon * np.sqrt(log_term / n)
    if kind == "hoeffding":
        return scale * 7.0 * horizon * log_term * np.sqrt(1.0 / n)
    if kind == "bernstein":
        var = np.asarray(variance, dtype=np.float64)
        return scale * (np.sqrt(8.0 * log_term * var / n) + 14.0 * horizon * log_term / (3.0 * n))
    return np.zeros_like(n)


def optimistic_q_values(
    counts: Any,
    next_counts: Any,
    reward_sums: Any,
    *,
    bonus: str = "count",
    bonus_scale: float = 1.0,
    log_term: float = 1.0,
) -> tuple[np.ndarray, np.ndarray]:
    r"""Optimistic value iteration on the empirical model (UCBVI's planning step; the tabular
    critic of the optimistic actor-critic).

    .. math::  Q_h = \min(H - h,\ \hat r_h + \hat P_h V_{h+1} + b_h)\ \text{(visited)},\quad
               Q_h = (H - h)\,[\text{bonus on}]\ \text{(unvisited)},\quad V_h = \max_a Q_h.

    Args:
        counts: ``(H, S, A)``; next_counts: ``(H, S, A, S)``; reward_sums: ``(H, S, A)``.
        bonus, bonus_scale, log_term: :func:`exploration_bonus`; ``bonus_scale = 0`` or
            ``bonus="none"`` is the non-optimistic critic (unvisited pairs get 0).

    Returns:
        ``(q (H, S, A), v (H + 1, S))``.
    """
    N = np.asarray(counts, dtype=np.float64)
    NS = np.asarray(next_counts, dtype=np.float64)
    R = np.asarray(reward_sums, dtype=np.float64)
    H, S, A = N.shape
    on = bonus_scale > 0 and bonus != "none"
    q = np.zeros((H, S, A))
    v = np.zeros((H + 1, S))
    seen = N > 0
    safe = np.where(seen, N, 1.0)
    for h in range(H - 1, -1, -1):
        mean = NS[h] @ v[h + 1] / safe[h]
        second = NS[h] @ v[h + 1] ** 2 / safe[h]
        val = R[h] / safe[h] + mean
        if on:
            var = np.maximum(second - mean**2, 0.0)
            val = val + exploration_bonus(
                safe[h], kind=bonus, scale=bonus_scale, horizon=H, log_term=log_term, variance=var
            )
        val = np.minimum(val, H - h)
        q[h] = np.where(seen[h], val, float(H - h) if on else 0.0)
        v[h] = q[h].max(axis=1)
    return q, v


def lsvi_q_values(
    features: Any,
    data: tuple[Any, Any, Any],
    *,
    lam: float = 1.0,
    beta: float = 0.0,
) -> tuple[np.ndarray, np.ndarray]:
    r"""LSVI-UCB's planning step from raw episodes (plain ridge solves; the reference the
    kernel's count-and-Sherman-Morrison form is tested against).

    Args:
        features: ``(S, A, d)``.
        data: ``(states (n, H+1), actions (n, H), rewards (n, H))``.
        lam: ridge ``lambda > 0``; beta: bonus multiplier ``>= 0``.

    Returns:
        ``(q (H, S, A), v (H + 1, S))`` with
        :math:`Q_h = \min(H-h, \phi^\top w_h + \beta\|\phi\|_{\Lambda_h^{-1}})`.
    """
    phi = np.asarray(features, dtype=np.float64)
    S, A, d = phi.shape
    states, actions, rewards = (np.asarray(x) for x in data)
    H = actions.shape[1]
    q = np.zeros((H, S, A))
    v = np.zeros((H + 1, S))
    flat = phi.reshape(S * A, d)
    for h in range(H - 1, -1, -1):
        X = phi[states[:, h], actions[:, h]]  # (n, d)
        y = rewards[:, h] + v[h + 1][states[:, h + 1]]
        Lam = lam * np.eye(d) + X.T @ X
        w = np.linalg.solve(Lam, X.T @ y)
        width = np.sqrt(np.einsum("id,id->i", flat, np.linalg.solve(Lam, flat.T).T))
        q[h] = np.minimum((flat @ w + beta * width).reshape(S, A), H - h)
        v[h] = q[h].max(axis=1)
    return q, v


def q_learning_step(q: Any, next_states: Any, rewards: Any, *, gamma: float, alpha: float) -> Any:
    r"""One synchronous Q-learning update from one next state per pair:

    .. math:: Q' = (1-\alpha)Q + \alpha\,(r + \gamma\max_{a'}Q(s'(s,a), a')).

    Args:
        q: ``(S, A)``; next_states: ``(S, A)`` ints; rewards: ``(S, A)``.
    """
    q = np.asarray(q, dtype=np.float64)
    target = np.asarray(rewards) + gamma * q.max(axis=1)[np.asarray(next_states)]
    return (1.0 - alpha) * q + alpha * target


def q_learning_steps(
    n: int, *, gamma: float, schedule: str = "rescaled_linear", omega: float = 0.8, start: int = 0
) -> np.ndarray:
    r"""Step sizes :math:`\alpha_k`, ``k = start .. start + n - 1``: ``"rescaled_linear"``
    :math:`1/(1+(1-\gamma)(k+1))` or ``"polynomial"`` :math:`1/(k+1)^\omega`."""
    k = np.arange(start, start + n, dtype=np.float64)
    if schedule == "rescaled_linear":
        return 1.0 / (1.0 + (1.0 - gamma) * (k + 1.0))
    if schedule == "polynomial":
        return 1.0 / (k + 1.0) ** omega
    raise ValueError(f"step_size must be 'rescaled_linear' or 'polynomial', got {schedule!r}")


# ------------------------------------------------------------------------------------------
# the shared episodic runner
# ------------------------------------------------------------------------------------------
def _reference_value(mdp: FiniteHorizonMDP, reference: Any) -> float:
    from theory_rl.algorithms import dp

    ref = dp.backward_induction(mdp) if reference is None else reference
    values = np.asarray(getattr(ref, "values", ref), dtype=np.float64)
    if values.shape != (mdp.horizon + 1, mdp.n_states):
        raise ValueError(
            "reference must be the backward_induction result (values (H+1, S) = "
            f"{(mdp.horizon + 1, mdp.n_states)}) of the problem; got values {values.shape}"
        )
    return float(mdp.initial_distribution @ values[0])


def _policy_values(model: _Model, pi: np.ndarray) -> np.ndarray:
    """Exact ``(H + 1, S)`` values of ``pi`` ``(H, S, A)`` (NumPy; outputs only)."""
    H, S, A = model.shape
    P = sp.csr_array((model.prob, model.indices, model.indptr), shape=(H * S * A, S))
    v = np.zeros((H + 1, S))
    for h in range(H - 1, -1, -1):
        rows = P[h * S * A : (h + 1) * S * A]
        qh = model.rewards[h] + (rows @ v[h + 1]).reshape(S, A)
        v[h] = (pi[h] * qh).sum(axis=1)
    return v


def _softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def _greedy(q: np.ndarray) -> np.ndarray:
    out = np.zeros_like(q)
    np.put_along_axis(out, q.argmax(axis=-1)[..., None], 1.0, axis=-1)
    return out


@dataclasses.dataclass(frozen=True)
class _Episodic:
    """Settings of one episodic run (built by the public drivers)."""

    name: str
    mdp: FiniteHorizonMDP
    mode: int
    critic: str  # "tabular" | "linear"
    bonus_kind: int = _ke.BONUS_NONE
    bonus_scale: float = 0.0
    log_term: float = 1.0
    beta: float = 0.0
    eta: float = 0.0
    features: np.ndarray | None = None
    lam: float = 1.0
    offline: tuple | None = None


def _run_episodic(
    spec: _Episodic,
    *,
    episodes_per_iteration: int,
    n_iterations: int,
    n_seeds: int | None,
    tol: float,
    record: Sequence[str],
    callback: Callback | None,
    seed: Any,
    device: str | None,
    reference: Any,
    params: dict[str, Any],
) -> SolveResult:
    if device not in (None, "cpu"):
        raise ValueError(
            f"device must be None or 'cpu' for {spec.name} (its episodes run in numba kernels on "
            f"the host), got {device!r}"
        )
    E = as_int("episodes_per_iteration", episodes_per_iteration)
    B = 1 if n_seeds is None else as_int("n_seeds", n_seeds)
    mdp = spec.mdp
    model = _model(mdp)
    H, S, A = model.shape
    v_star = _reference_value(mdp, reference)
    counts0, next0, rsum0 = data_statistics(spec.offline, horizon=H, n_states=S, n_actions=A)
    linear = spec.critic == "linear"
    if linear:
        phi = _c(spec.features, np.float64)
        d = phi.shape[2]

    def init(rng: np.random.Generator) -> dict[str, Any]:
        st: dict[str, Any] = dict(
            gens=rng.spawn(B),
            counts=_c(np.broadcast_to(counts0, (B, H, S, A)), np.int64),
            next_counts=_c(np.broadcast_to(next0, (B, H, S, A, S)), np.int64),
            reward_sums=_c(np.broadcast_to(rsum0, (B, H, S, A)), np.float64),
            q=np.zeros((B, H, S, A)),
            logits=np.zeros((B, H, S, A)),
            status=_c(np.broadcast_to([-1, 1], (B, 2)), np.int64),
            regret=np.zeros(B),
            episode_regret=np.full((B, E), np.nan),
            switches=np.zeros(B, np.int64),
            episodes=0,
        )
        if linear:
            lam_inv = np.broadcast_to(np.eye(d) / spec.lam, (B, H, d, d))
            logdet = np.full((B, H), d * math.log(spec.lam))
            if spec.offline is not None:  # the offline data enter the Gram matrices
                s_off, a_off, _ = (np.asarray(x) for x in spec.offline)
                Lam = np.broadcast_to(spec.lam * np.eye(d), (H, d, d)).copy()
                for h in range(H):
                    X = phi[s_off[:, h], a_off[:, h]]
                    Lam[h] += X.T @ X
                lam_inv = np.broadcast_to(np.linalg.inv(Lam), (B, H, d, d))
                logdet = np.broadcast_to(np.linalg.slogdet(Lam)[1], (B, H))
            st.update(
                lam_inv=_c(lam_inv, np.float64),
                logdet=_c(logdet, np.float64),
                logdet_ref=_c(logdet, np.float64),
            )
        return st

    def update(st: dict[str, Any], k: int) -> dict[str, Any]:
        uniforms = np.stack([g.random((E, 2 * H + 1)) for g in st["gens"]])
        regret = np.empty((B, E))
        switches = np.empty((B, E), np.int64)
        common = (
            model.indptr,
            model.indices,
            model.cum,
            model.prob,
            model.rewards,
            model.rho,
            model.rho_cum,
        )
        if linear:
            _ke._linear_episodes(
                *common,
                phi,
                uniforms,
                np.int64(spec.mode),
                float(spec.beta),
                float(spec.eta),
                v_star,
                st["counts"],
                st["next_counts"],
                st["reward_sums"],
                st["lam_inv"],
                st["logdet"],
                st["logdet_ref"],
                st["q"],
                st["logits"],
                st["status"],
                regret,
                switches,
            )
        else:
            _ke._tabular_episodes(
                *common,
                uniforms,
                np.int64(spec.mode),
                np.int64(spec.bonus_kind),
                float(spec.bonus_scale),
                float(spec.log_term),
                float(spec.eta),
                v_star,
                st["counts"],
                st["next_counts"],
                st["reward_sums"],
                st["q"],
                st["logits"],
                st["status"],
                regret,
                switches,
            )
        return {
            **st,
            "regret": st["regret"] + regret.sum(axis=1),
            "episode_regret": regret,
            "switches": switches[:, -1].copy(),
            "episodes": st["episodes"] + E,
        }

    squeeze = n_seeds is None

    def out(x: Any) -> Any:
        return x[0] if squeeze else x

    def measure(st: dict[str, Any], keys: frozenset[str]) -> dict[str, Any]:
        n = st["episodes"]
        return {
            "regret": out(st["regret"]),
            "episode_regret": out(st["episode_regret"]),
            "gap": out(st["episode_regret"][:, -1]),
            "episodes": out(np.full(B, n, np.int64)),
            "samples": out(np.full(B, n * H, np.int64)),
            "switches": out(st["switches"]),
        }

    def policies(st: dict[str, Any]) -> np.ndarray:
        if spec.mode == _ke.MODE_GREEDY:
            return _greedy(st["q"])
        return _softmax(st["logits"])

    def output(st: dict[str, Any]) -> tuple[Any, Any, Any]:
        pi = policies(st)
        v = np.stack([_policy_values(model, p) for p in pi])
        return out(pi), out(v), out(st["q"].copy())

    method = Method(
        name=spec.name,
        init=init,
        update=update,
        measure=measure,
        output=output,
        metrics=EPISODIC_RECORD_KEYS,
        stop_metric="gap",
        batch_shape=() if squeeze else (B,),
    )
    params = {
        **params,
        "horizon": H,
        "episodes_per_iteration": E,
        "n_seeds": n_seeds,
        "n_episodes": E * int(n_iterations)
        if isinstance(n_iterations, (int, np.integer))
        else None,
        "offline_episodes": 0
        if spec.offline is None
        else int(np.asarray(spec.offline[1]).shape[0]),
        "v_star": v_star,
        "device": "cpu",
    }
    return iterate(
        method,
        n_iterations=n_iterations,
        tol=tol,
        record=record,
        callback=callback,
        seed=seed,
        params=params,
    )


#: The run settings every episodic driver hands :func:`_run_episodic` unchanged.
_RUN_SETTINGS = (
    "episodes_per_iteration",
    "n_iterations",
    "n_seeds",
    "tol",
    "record",
    "callback",
    "seed",
    "device",
    "reference",
)


def _run_settings(local: dict[str, Any]) -> dict[str, Any]:
    """The :data:`_RUN_SETTINGS` among a driver's ``locals()``."""
    return {key: local[key] for key in _RUN_SETTINGS}


def _n_episodes(n_iterations: Any, episodes_per_iteration: Any) -> int:
    K = as_int("n_iterations", n_iterations, minimum=0)
    E = as_int("episodes_per_iteration", episodes_per_iteration)
    return max(1, K * E)


def _confidence(
    bonus_scale: Any, delta: Any, n_iterations: Any, episodes_per_iteration: Any
) -> tuple[float, float, int]:
    """``(c, delta, T)`` validated: bonus scale ``c >= 0``, confidence ``delta`` in ``(0, 1)``
    and the run's episode count ``T >= 1`` (:func:`_n_episodes`)."""
    c = as_positive("bonus_scale", bonus_scale, allow_zero=True)
    delta = as_real("delta", delta, minimum=0.0, maximum=1.0, open_minimum=True, open_maximum=True)
    return c, delta, _n_episodes(n_iterations, episodes_per_iteration)


def _lsvi_beta(c: float, d: int, H: int, T: int, delta: float) -> float:
    r"""LSVI-UCB's bonus width :math:`\beta = c\,dH\sqrt{\log(2dHT/\delta)}` (module
    docstring)."""
    return c * d * H * math.sqrt(math.log(2.0 * d * H * T / delta))


def _linear_problem(mdp: Any, features: Any, horizon: Any) -> tuple[FiniteHorizonMDP, np.ndarray]:
    """``(episodic model, features (S, A, d))`` of a LinearMDP (+ horizon) or of a
    FiniteHorizonMDP with explicit ``features``."""
    if isinstance(mdp, LinearMDP):
        if horizon is None:
            raise ValueError("horizon is required with a LinearMDP (an int >= 1)")
        phi = mdp.features if features is None else features
        mdp = finite_horizon(mdp, horizon)
    elif isinstance(mdp, FiniteHorizonMDP):
        if horizon is not None and as_int("horizon", horizon) != mdp.horizon:
            raise ValueError(f"horizon = {horizon} differs from mdp.horizon = {mdp.horizon}")
        if features is None:
            raise ValueError("features (S, A, d) are required with a FiniteHorizonMDP")
        phi = features
    else:
        raise ValueError(f"mdp must be a LinearMDP or a FiniteHorizonMDP, got {type(mdp).__name__}")
    phi = np.asarray(phi)
    S, A = mdp.n_states, mdp.n_actions
    if phi.ndim != 3 or phi.shape[:2] != (S, A) or phi.shape[2] < 1 or phi.dtype.kind not in "iuf":
        raise ValueError(
            f"features must be a real array of shape (S, A, d) = ({S}, {A}, d); got "
            f"{phi.shape} {phi.dtype}"
        )
    if not np.all(np.isfinite(phi)):
        raise ValueError("features must be finite")
    return _check_episodic(mdp), np.ascontiguousarray(phi, dtype=np.float64)


# ------------------------------------------------------------------------------------------
# drivers
# ------------------------------------------------------------------------------------------
def ucbvi(
    mdp: FiniteHorizonMDP,
    *,
    bonus: str = "hoeffding",
    bonus_scale: float = 1.0,
    delta: float = 0.1,
    episodes_per_iteration: int = 64,
    n_seeds: int | None = None,
    n_iterations: int = 16,
    tol: float = 0.0,
    record: Sequence[str] = ("regret", "samples"),
    callback: Callback | None = None,
    seed: Any = None,
    device: str | None = None,
    reference: Any = None,
) -> SolveResult:
    r"""UCBVI (Azar et al. 2017; module docstring): optimistic value iteration before every
    episode, greedy play; regret measured exactly.

    Args:
        mdp: episodic :class:`FiniteHorizonMDP` (``gamma = 1``, rewards in ``[0, 1]``).
        bonus: ``"hoeffding"`` (UCBVI-CH), ``"bernstein"`` (see the module docstring) or
            ``"count"``.
        bonus_scale: ``c >= 0`` multiplying the bonus (1: the paper's constants).
        delta: confidence in ``(0, 1)`` of :math:`L = \ln(5 S A H T/\delta)`, ``T`` the episodes.
        episodes_per_iteration: ``E``, episodes per loop iteration (one kernel call).
        n_seeds: ``B`` independent runs in one batch (history ``(B, K+1, ...)``), or None.
        n_iterations: ``K``; ``T = K E`` episodes.
        tol: stop once the last episode's gap is ``<= tol`` for every seed.
        record: keys of :data:`EPISODIC_RECORD_KEYS`.
        callback, seed: as every driver (seed's Generator spawns one child per run).
        device: ``None`` or ``"cpu"``.
        reference: :func:`~theory_rl.algorithms.dp.backward_induction` of ``mdp``.

    Returns:
        :class:`SolveResult`: ``policy`` the last greedy policy ``([B,] H, S, A)``, ``values``
        its exact values ``([B,] H+1, S)``, ``q_values`` the optimistic ``Q``.

    Example:
        >>> from theory_rl.mdps.combination_lock import episodic_combination_lock
        >>> res = ucbvi(episodic_combination_lock(2, 2, seed=0), bonus_scale=0.1,
        ...             episodes_per_iteration=8, n_iterations=4, seed=0)
        >>> res.history["regret"].shape
        (5,)
    """
    mdp = _check_episodic(mdp)
    if bonus not in BONUSES or bonus == "none":
        raise ValueError(f"bonus must be 'hoeffding', 'bernstein' or 'count', got {bonus!r}")
    c, delta, T = _confidence(bonus_scale, delta, n_iterations, episodes_per_iteration)
    H, S, A = mdp.horizon, mdp.n_states, mdp.n_actions
    L = math.log(5.0 * S * A * H * T / delta)
    spec = _Episodic("ucbvi", mdp, _ke.MODE_GREEDY, "tabular", BONUSES[bonus], c, L)
    return _run_episodic(
        spec,
        **_run_settings(locals()),
        params=dict(bonus=bonus, bonus_scale=c, delta=delta, log_term=L),
    )


def lsvi_ucb(
    mdp: LinearMDP | FiniteHorizonMDP,
    *,
    horizon: int | None = None,
    features: Any = None,
    bonus_scale: float = 1.0,
    lam: float = 1.0,
    delta: float = 0.1,
    episodes_per_iteration: int = 64,
    n_seeds: int | None = None,
    n_iterations: int = 16,
    tol: float = 0.0,
    record: Sequence[str] = ("regret", "samples"),
    callback: Callback | None = None,
    seed: Any = None,
    device: str | None = None,
    reference: Any = None,
) -> SolveResult:
    r"""LSVI-UCB (Jin et al. 2020; module docstring): ridge-regression value iteration with the
    elliptical bonus :math:`\beta\|\phi\|_{\Lambda^{-1}}` before every episode, greedy play.

    Args:
        mdp: a :class:`LinearMDP` (with ``horizon``; episodes of its kernel, undiscounted) or a
            :class:`FiniteHorizonMDP` with ``features``.
        features: ``(S, A, d)`` (default: the LinearMDP's own).
        bonus_scale: ``c >= 0`` in :math:`\beta = c\,dH\sqrt{\log(2dHT/\delta)}` (0: no bonus).
        lam: ridge ``lambda > 0``.
        Other arguments as :func:`ucbvi`.

    Example:
        >>> from theory_rl.mdps import random_linear_mdp
        >>> res = lsvi_ucb(random_linear_mdp(4, 2, 2, seed=0), horizon=3, bonus_scale=0.05,
        ...                episodes_per_iteration=8, n_iterations=2, seed=0)
        >>> res.policy.shape
        (3, 4, 2)
    """
    ep, phi = _linear_problem(mdp, features, horizon)
    c, delta, T = _confidence(bonus_scale, delta, n_iterations, episodes_per_iteration)
    lam = as_positive("lam", lam)
    d = phi.shape[2]
    beta = _lsvi_beta(c, d, ep.horizon, T, delta)
    spec = _Episodic("lsvi_ucb", ep, _ke.MODE_GREEDY, "linear", beta=beta, features=phi, lam=lam)
    return _run_episodic(
        spec,
        **_run_settings(locals()),
        params=dict(bonus_scale=c, lam=lam, delta=delta, beta=beta, dim=d),
    )


def q_learning(
    mdp: TabularMDP,
    *,
    step_size: str = "rescaled_linear",
    omega: float = 0.8,
    updates_per_iteration: int = 64,
    n_seeds: int | None = None,
    n_iterations: int = 16,
    tol: float = 0.0,
    record: Sequence[str] = ("error", "samples"),
    callback: Callback | None = None,
    seed: Any = None,
    device: str | None = None,
    reference: Any = None,
    initial_q: Any = None,
) -> SolveResult:
    r"""Synchronous Q-learning on a discounted MDP with a generative model (module docstring).

    Args:
        mdp: discounted :class:`TabularMDP`.
        step_size: ``"rescaled_linear"`` or ``"polynomial"`` (:func:`q_learning_steps`).
        omega: exponent in ``(1/2, 1]`` of the polynomial schedule.
        updates_per_iteration: synchronous updates per loop iteration (one kernel call).
        n_seeds, n_iterations, tol, record, callback, seed, device: as :func:`ucbvi`; ``tol``
            stops on ``error`` (max over seeds).
        reference: :func:`theory_rl.reference` of ``mdp`` (its ``q_values`` are ``Q*``).
        initial_q: ``(S, A)`` start (default 0).

    Returns:
        :class:`SolveResult` with ``q_values`` the last iterate, ``policy`` greedy on it,
        ``values`` its max; history ``error`` :math:`\|Q_k - Q^*\|_\infty` and ``samples``
        (``k S A`` transitions).

    Example:
        >>> from theory_rl.mdps import garnet
        >>> res = q_learning(garnet(5, 2, 2, gamma=0.5, seed=0), n_iterations=3, seed=0)
        >>> res.history["error"].shape
        (4,)
    """
    if device not in (None, "cpu"):
        raise ValueError(f"device must be None or 'cpu' for q_learning, got {device!r}")
    if not isinstance(mdp, TabularMDP):
        raise ValueError(f"mdp must be a TabularMDP, got {type(mdp).__name__}")
    if step_size not in ("rescaled_linear", "polynomial"):
        raise ValueError(f"step_size must be 'rescaled_linear' or 'polynomial', got {step_size!r}")
    omega = as_real("omega", omega, minimum=0.5, maximum=1.0, open_minimum=True)
    U = as_int("updates_per_iteration", updates_per_iteration)
    B = 1 if n_seeds is None else as_int("n_seeds", n_seeds)
    S, A = mdp.n_states, mdp.n_actions
    if reference is None:
        from theory_rl.algorithms.exact import reference as exact_reference

        reference = exact_reference(mdp)
    q_star = np.asarray(reference.q_values, dtype=np.float64)
    if q_star.shape != (S, A):
        raise ValueError(f"reference q_values must have shape {(S, A)}; got {q_star.shape}")
    q0 = np.zeros((S, A)) if initial_q is None else np.asarray(initial_q, dtype=np.float64)
    if q0.shape != (S, A) or not np.all(np.isfinite(q0)):
        raise ValueError(f"initial_q must be a finite (S, A) = {(S, A)} array; got {q0.shape}")
    from theory_rl.algorithms.sampling import _model as _discounted_model

    indptr, indices, cum, _ = _discounted_model(mdp)
    rewards = _c(mdp.rewards, np.float64)
    q_star_c = _c(q_star, np.float64)
    squeeze = n_seeds is None

    def init(rng: np.random.Generator) -> dict[str, Any]:
        q = _c(np.broadcast_to(q0, (B, S, A)), np.float64)
        err = np.abs(q - q_star_c).reshape(B, -1).max(axis=1)
        return dict(gens=rng.spawn(B), q=q, error=err, k=0)

    def update(st: dict[str, Any], k: int) -> dict[str, Any]:
        uniforms = np.stack([g.random((U, S * A)) for g in st["gens"]])
        steps = q_learning_steps(U, gamma=mdp.gamma, schedule=step_size, omega=omega, start=st["k"])
        errors = np.empty((B, U))
        q = st["q"].copy()
        _ke._q_learning_sync(
            indptr,
            indices,
            cum,
            rewards,
            float(mdp.gamma),
            _c(steps, np.float64),
            uniforms,
            q,
            q_star_c,
            errors,
        )
        return {**st, "q": q, "error": errors[:, -1].copy(), "k": st["k"] + U}

    def out(x: Any) -> Any:
        return x[0] if squeeze else x

    def measure(st: dict[str, Any], keys: frozenset[str]) -> dict[str, Any]:
        return {"error": out(st["error"]), "samples": out(np.full(B, st["k"] * S * A, np.int64))}

    def output(st: dict[str, Any]) -> tuple[Any, Any, Any]:
        q = st["q"]
        return out(_greedy(q)), out(q.max(axis=-1)), out(q.copy())

    method = Method(
        name="q_learning",
        init=init,
        update=update,
        measure=measure,
        output=output,
        metrics=Q_LEARNING_RECORD_KEYS,
        stop_metric="error",
        batch_shape=() if squeeze else (B,),
    )
    params = dict(
        step_size=step_size,
        omega=omega,
        updates_per_iteration=U,
        n_seeds=n_seeds,
        gamma=mdp.gamma,
        device="cpu",
    )
    return iterate(
        method,
        n_iterations=n_iterations,
        tol=tol,
        record=record,
        callback=callback,
        seed=seed,
        params=params,
    )
