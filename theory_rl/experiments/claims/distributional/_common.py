"""Instances shared by the distributional claims."""

from __future__ import annotations

import numpy as np

from theory_rl.mdps import FiniteHorizonMDP, TabularMDP

#: Integer-reward instances (S = A = 2, H = 4, rewards in [-3, 3], Dirichlet(1) rows) on which
#: the best Markov (t, s) policy is strictly worse than the best history-dependent one for
#: CVaR_0.25 from state 0 (found by brute force over seeds 0..59).
SEPARATING_SEEDS = (29, 49)


def integer_instance(seed: int, horizon: int = 3) -> FiniteHorizonMDP:
    """S = A = 2, Dirichlet(1) transitions, integer rewards uniform on {-3, ..., 3}, gamma = 1."""
    rng = np.random.default_rng(seed)
    P = rng.dirichlet(np.ones(2), size=(2, 2))
    r = rng.integers(-3, 4, size=(2, 2)).astype(float)
    return FiniteHorizonMDP(P, r, horizon)


def coin(gamma: float, high: float) -> TabularMDP:
    """One state; reward 0 or ``high`` with probability 1/2 (U[0, 2] at gamma = 1/2, high = 1;
    the Cantor law on [0, 3] at gamma = 1/3, high = 2)."""
    return TabularMDP(
        np.ones((1, 1, 1)),
        None,
        gamma,
        reward_distribution=(np.array([[[0.0, high]]]), np.array([[[0.5, 0.5]]])),
    )
