"""What the robust claims share: the sets by name, independent references (brute force over the
static kernels of a finite set, robust VI with scipy ``linprog`` per row)."""

from __future__ import annotations

import itertools
import warnings
from typing import Any

import numpy as np
from scipy.optimize import linprog

from theory_rl.algorithms import dp
from theory_rl.bounds.mdp_constants import RoundoffWarning
from theory_rl.mdps import TabularMDP, garnet
from theory_rl.mdps import robust as sets

#: The sets every robust claim iterates over, by name, at a moderate radius.
SET_NAMES = ("l1", "kl", "chi2", "kl_penalty", "tv_penalty", "chi2_penalty", "srect_l1", "finite")


#: The parametric sets by name: class and default radius.
_SETS = {
    "l1": (sets.L1Ball, 0.3),
    "kl": (sets.KLBall, 0.1),
    "chi2": (sets.Chi2Ball, 0.2),
    "kl_penalty": (sets.KLPenalty, 1.0),
    "tv_penalty": (sets.TVPenalty, 0.5),
    "chi2_penalty": (sets.Chi2Penalty, 1.0),
    "srect_l1": (sets.SRectL1Ball, 0.6),
}


def make_set(name: str, mdp: TabularMDP, seed: Any, radius: float | None = None) -> Any:
    """The set ``name`` around ``mdp`` (``finite``: the nominal kernel and a second garnet)."""
    if name in _SETS:
        cls, default = _SETS[name]
        return cls(default if radius is None else radius)
    other = garnet(mdp.n_states, mdp.n_actions, 3, gamma=mdp.gamma, seed=seed, sparse=False)
    return sets.KernelSet([mdp.to_dense().transitions, other.transitions])


def optimal_values(mdp: TabularMDP, P: Any) -> np.ndarray:
    """``V*`` of the static MDP with kernel ``P`` (policy iteration, exact)."""
    return dp.policy_iteration(TabularMDP(P, mdp.rewards, mdp.gamma)).values


def brute_force_finite(mdp: TabularMDP, kernel_set: sets.KernelSet) -> np.ndarray:
    r""":math:`\min` over the :math:`m^{SA}` static kernels of the rectangular hull of their
    optimal values (the saddle-point side :math:`\min_P\max_\pi V^\pi_P`)."""
    T = kernel_set.transitions
    m, S, A = T.shape[0], mdp.n_states, mdp.n_actions
    s_idx, a_idx = np.repeat(np.arange(S), A), np.tile(np.arange(A), S)
    best = np.full(S, np.inf)
    for choice in itertools.product(range(m), repeat=S * A):
        P = T[np.array(choice), s_idx, a_idx].reshape(S, A, S)
        best = np.minimum(best, optimal_values(mdp, P))
    return best


def lp_robust_vi(mdp: TabularMDP, kappa: float, tol: float) -> np.ndarray:
    """Robust VI with an L1 ball (nominal support) whose inner problems are scipy ``linprog``
    (HiGHS) calls, one per (s, a) and sweep; stops at ``||Tv - v|| <= tol (1 - gamma)``."""
    S, A = mdp.n_states, mdp.n_actions
    P = mdp.to_dense().transitions
    v = np.zeros(S)
    eye = np.eye(S)
    A_ub = np.vstack(
        [np.hstack([eye, -eye]), np.hstack([-eye, -eye]), np.r_[np.zeros(S), np.ones(S)]]
    )
    A_eq = np.r_[np.ones(S), np.zeros(S)][None]
    while True:
        q = np.empty((S, A))
        for s in range(S):
            for a in range(A):
                pb = P[s, a]
                res = linprog(
                    np.concatenate([v, np.zeros(S)]),
                    A_ub=A_ub,
                    b_ub=np.concatenate([pb, -pb, [kappa]]),
                    A_eq=A_eq,
                    b_eq=[1.0],
                    bounds=[(0, None if x > 0 else 0) for x in pb] + [(0, None)] * S,
                    method="highs",
                )
                q[s, a] = mdp.rewards[s, a] + mdp.gamma * res.fun
        nv = q.max(axis=1)
        if np.abs(nv - v).max() <= tol * (1 - mdp.gamma):
            return nv
        v = nv


def quiet(fn: Any, *args: Any, **kwargs: Any) -> Any:
    """``fn(*args, **kwargs)`` with :class:`RoundoffWarning` silenced (tolerances below the
    round-off floor are deliberate sentinels in the claims)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RoundoffWarning)
        return fn(*args, **kwargs)
