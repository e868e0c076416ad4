"""Shared instances, colours and method names of the stochastic-PG claims."""

from __future__ import annotations

from typing import Any

import numpy as np

from theory_rl.algorithms import stochastic_pg

#: The five algorithms, in the order of the figures.
METHODS = ("vanilla_policy_gradient", "normalized_momentum_pg", "n_pg_igt", "harpg", "n_harpg")
LABELS = {
    "vanilla_policy_gradient": "vanilla PG",
    "normalized_momentum_pg": "normalised PG + momentum",
    "n_pg_igt": "N-PG-IGT",
    "harpg": "HARPG",
    "n_harpg": "N-HARPG",
}
#: One colour per method (Okabe-Ito), fixed across the family's figures.
METHOD_COLORS = {
    "vanilla_policy_gradient": "#999999",
    "normalized_momentum_pg": "#E69F00",
    "n_pg_igt": "#0072B2",
    "harpg": "#CC79A7",
    "n_harpg": "#D55E00",
}

#: Fisher-non-degenerate bandits: (contexts (K, d), theta_star (d,), sigma).
BANDITS = {
    0: (np.array([[1.0, 0.0], [0.0, 1.0], [0.6, 0.8]]), np.array([1.0, -0.5]), 0.5),
    1: (
        np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]),
        np.array([0.5, 0.5, -0.5]),
        0.7,
    ),
    2: (np.array([[1.0, 0.2], [0.3, 1.0]]), np.array([-0.8, 0.6]), 0.4),
}


def bandit(instance: int) -> stochastic_pg.GaussianBandit:
    """The Gaussian contextual bandit ``instance`` of :data:`BANDITS`."""
    contexts, theta_star, sigma = BANDITS[int(instance)]
    return stochastic_pg.GaussianBandit(contexts, theta_star, sigma=sigma)


def run(method: str, problem: Any, **kwargs: Any) -> Any:
    """``stochastic_pg.<method>(problem, **kwargs)``, looked up at call time (so a test can
    substitute a broken algorithm)."""
    return getattr(stochastic_pg, method)(problem, **kwargs)


def log_points(n: int, count: int = 40) -> np.ndarray:
    """About ``count`` log-spaced iterate indices in ``[0, n]`` (0 and ``n`` included)."""
    return np.unique(np.r_[0, np.geomspace(1, n, count).astype(int)])
