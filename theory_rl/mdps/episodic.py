r"""Small random episodic MDPs (per-step kernels and rewards), for regret experiments.

:func:`random_episodic_mdp` draws, for every step ``h``, state ``s`` and action ``a``, a
next-state law ``P_h(. | s, a) ~ Dirichlet(alpha 1_S)`` and a reward
``r_h(s, a) ~ Uniform[0, 1]``; the start state is uniform.  Exact optimal values come from
:func:`theory_rl.algorithms.dp.backward_induction`.
"""

from __future__ import annotations

import numpy as np

from theory_rl._checks import as_int, as_positive
from theory_rl.backend import as_generator
from theory_rl.mdps.generators import Seed
from theory_rl.mdps.tabular import FiniteHorizonMDP

__all__ = ["random_episodic_mdp"]


def random_episodic_mdp(
    n_states: int,
    n_actions: int,
    horizon: int,
    *,
    concentration: float = 1.0,
    seed: Seed = None,
) -> FiniteHorizonMDP:
    """A random undiscounted episodic MDP with per-step kernels ``(H, S, A, S)``.

    Draw order: ``P ~ Dirichlet(concentration 1_S)`` of shape ``(H, S, A, S)``, then
    ``r ~ Uniform[0, 1]`` of shape ``(H, S, A)``.

    Example:
        >>> m = random_episodic_mdp(5, 3, 4, seed=0)
        >>> m.transitions.shape, m.rewards.shape
        ((4, 5, 3, 5), (4, 5, 3))
    """
    S = as_int("n_states", n_states)
    A = as_int("n_actions", n_actions)
    H = as_int("horizon", horizon)
    alpha = as_positive("concentration", concentration)
    rng = as_generator(seed)
    P = rng.dirichlet(np.full(S, alpha), size=(H, S, A))
    P /= P.sum(axis=-1, keepdims=True)
    r = rng.random((H, S, A))
    return FiniteHorizonMDP(P, r, H)
