r"""The tabular combination lock (Misra, Henaff, Krishnamurthy & Langford 2020; Zhou, Sekhari,
Song & Sun 2024, App. E.1), with time in the state so that it is a stationary discounted MDP.

Latent structure (``H = horizon`` steps, ``A = n_actions`` actions, default 10):

* at each step ``h < H`` there are three latent states: good ``A``, good ``B`` and the
  absorbing bad ``C``; state index ``3 h + {0, 1, 2}`` for (A, B, C), plus a terminal
  zero-reward sink ``3 H`` reached after the last step;
* one *correct* action per (h, good state), drawn uniformly at random from ``seed``;
  the correct action moves to ``A`` or ``B`` of step ``h + 1`` with probability 1/2 each, any
  other action (and any action in ``C``) moves to ``C`` of step ``h + 1``;
* reward 1 for the correct action at the last step ``h = H - 1``; the anti-shaped reward of the
  paper (0.1 with probability 1/2 when falling into ``C``) is given in expectation, 0.05, and,
  as in the authors' code (non-final steps return 0), only at the last step -- for every action
  there that ends in ``C`` (a wrong action in a good state or any action in ``C``);
* start in ``A`` or ``B`` of step 0 with probability 1/2 each.

The optimal policy takes the correct actions, succeeds with probability 1 and has
:math:`V^*(\rho) = \gamma^{H-1}`; a uniformly random policy succeeds with probability
:math:`A^{-H}`.

.. warning:: Reconstructed from the paper's App. E.1 and the code notes (theory notes §6):
   the continuous observations (Hadamard-rotated one-hot plus noise) are dropped -- this is the
   latent, tabular version the notes prescribe for CI; whether an action in ``C`` at the last
   step pays the anti-shaped reward is our choice.

References:
    D. Misra, M. Henaff, A. Krishnamurthy, J. Langford. Kinematic state abstraction and
    provably efficient rich-observation reinforcement learning. ICML 2020, arXiv:1911.05815.
    Y. Zhou, A. Sekhari, Y. Song, W. Sun. Offline data enhanced on-policy policy gradient with
    provable guarantees. ICLR 2024, arXiv:2311.08384.
"""

from __future__ import annotations

import numpy as np

from theory_rl._checks import as_int
from theory_rl.backend import as_generator
from theory_rl.mdps.generators import Seed
from theory_rl.mdps.tabular import FiniteHorizonMDP, TabularMDP, _check_gamma

__all__ = ["combination_lock", "combination_lock_optimal_actions", "episodic_combination_lock"]

#: Expected anti-shaped reward: 0.1 with probability 1/2.
ANTI_SHAPED = 0.05


def combination_lock_optimal_actions(horizon: int, n_actions: int = 10, *, seed: Seed = None):
    """The ``(H, 2)`` correct actions of the lock with this seed (the draw of
    :func:`combination_lock`)."""
    H = as_int("horizon", horizon)
    A = as_int("n_actions", n_actions, minimum=2)
    return as_generator(seed).integers(0, A, size=(H, 2))


def combination_lock(
    horizon: int, n_actions: int = 10, *, gamma: float = 0.99, seed: Seed = None
) -> TabularMDP:
    """The tabular combination lock (module docstring) as a :class:`TabularMDP`.

    Args:
        horizon: ``H >= 1`` steps.
        n_actions: ``A >= 2`` actions (paper: 10).
        gamma: discount factor.
        seed: draws the correct actions (:func:`combination_lock_optimal_actions`).

    Returns:
        TabularMDP with ``3 H + 1`` states.

    Example:
        >>> mdp = combination_lock(2, 3, seed=0)
        >>> mdp.n_states, mdp.n_actions
        (7, 3)
    """
    gamma = _check_gamma(gamma)
    correct = combination_lock_optimal_actions(horizon, n_actions, seed=seed)
    H, A = correct.shape[0], int(n_actions)
    S = 3 * H + 1
    sink = 3 * H
    P = np.zeros((S, A, S))
    r = np.zeros((S, A))
    for h in range(H):
        nxt = (3 * (h + 1), 3 * (h + 1) + 1, 3 * (h + 1) + 2) if h < H - 1 else None
        for g in (0, 1):
            s = 3 * h + g
            for a in range(A):
                if nxt is None:
                    P[s, a, sink] = 1.0
                    r[s, a] = 1.0 if a == correct[h, g] else ANTI_SHAPED
                elif a == correct[h, g]:
                    P[s, a, nxt[0]] = P[s, a, nxt[1]] = 0.5
                else:
                    P[s, a, nxt[2]] = 1.0
        c = 3 * h + 2
        if nxt is None:
            P[c, :, sink] = 1.0
            r[c, :] = ANTI_SHAPED
        else:
            P[c, :, nxt[2]] = 1.0
    P[sink, :, sink] = 1.0
    rho = np.zeros(S)
    rho[:2] = 0.5
    return TabularMDP(P, r, gamma, rho)


def episodic_combination_lock(
    horizon: int, n_actions: int = 4, *, seed: Seed = None
) -> FiniteHorizonMDP:
    r"""The combination lock as an undiscounted episodic problem of ``H = horizon`` steps.

    The states, kernel, rewards and start distribution of :func:`combination_lock` (same
    ``seed``, same correct actions), played for exactly ``H`` steps with ``gamma = 1``: the
    optimal policy earns :math:`V^*_0(\rho) = 1`, a uniformly random one opens the lock with
    probability :math:`A^{-H}` (``4^-8`` at the default ``A = 4``, ``H = 8``) and otherwise
    earns the anti-shaped 0.05 -- a trap for a learner without optimism.

    Example:
        >>> lock = episodic_combination_lock(8, seed=0)
        >>> lock.horizon, lock.n_states, lock.n_actions
        (8, 25, 4)
    """
    mdp = combination_lock(horizon, n_actions, gamma=0.5, seed=seed)
    return FiniteHorizonMDP(
        mdp.transitions, mdp.rewards, int(horizon), mdp.initial_distribution, gamma=1.0
    )
