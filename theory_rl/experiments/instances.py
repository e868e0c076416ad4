"""The named instance families of the claims: one registry of MDPs, one of preference games.

A configuration (a grid row, see :mod:`theory_rl.experiments.base`) names its instance by
``config["family"]``; :func:`make_instance` / :func:`make_game` look it up in :data:`INSTANCES` /
:data:`GAMES` and pass the keys that family reads:

* ``garnet`` -- :func:`~theory_rl.mdps.generators.garnet`, ``branching`` successors per
  state-action pair; reads ``n_states``, ``n_actions``, ``gamma``, ``branching``;
* ``random`` -- :func:`~theory_rl.mdps.generators.random_mdp`, dense transitions (every state
  a successor); reads ``n_states``, ``n_actions``, ``gamma``;
* ``chain`` -- :func:`~theory_rl.mdps.generators.chain`, Agarwal et al.'s chain with
  ``horizon + 2`` states (AJKS Prop. 12.1); reads ``horizon`` and, when present and not NaN,
  ``gamma`` (default ``H/(H+1)``); deterministic, the seed is unused;
* ``switch_chain`` -- :func:`switch_chain`, the chain on which policy iteration started from
  "stay" everywhere fixes one state per iteration, so its error decays at exactly the
  contraction rate; reads ``n_states``, ``gamma`` and, when present, ``epsilon``;
  deterministic, the seed is unused;
* ``cash_or_wait`` -- :func:`cash_or_wait`, three states on which the optimal first action
  (an immediate reward) wins by a margin that only the discount decides; reads ``gamma``;
  deterministic, the seed is unused.

Preference games (:mod:`theory_rl.mdps.games`) read ``n_responses`` (``Y``) and ``beta``:
``random`` (:func:`~theory_rl.mdps.games.random_preference_game`), ``cyclic``
(:func:`~theory_rl.mdps.games.cyclic_preference_game`, odd ``Y``) and ``bradley_terry``
(rewards drawn ``N(0, 2^2)``); every reference policy is drawn Dirichlet(1).

The instance is a deterministic function of ``(config, seed)``; a new family is one entry here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from theory_rl.mdps.tabular import TabularMDP

__all__ = [
    "GAMES",
    "INSTANCES",
    "INSTANCE_FAMILIES",
    "make_game",
    "make_instance",
    "cash_or_wait",
    "switch_chain",
    "switch_chain_start",
]

Builder = Callable[[dict[str, Any], np.random.SeedSequence], Any]


def _garnet(config: dict[str, Any], seed: np.random.SeedSequence) -> TabularMDP:
    from theory_rl.mdps import generators

    S, A, gamma = int(config["n_states"]), int(config["n_actions"]), float(config["gamma"])
    return generators.garnet(S, A, int(config["branching"]), gamma=gamma, seed=seed)


def _random(config: dict[str, Any], seed: np.random.SeedSequence) -> TabularMDP:
    from theory_rl.mdps import generators

    S, A, gamma = int(config["n_states"]), int(config["n_actions"]), float(config["gamma"])
    return generators.random_mdp(S, A, gamma=gamma, seed=seed)


def _chain(config: dict[str, Any], seed: np.random.SeedSequence) -> TabularMDP:
    from theory_rl.mdps import generators

    gamma = config.get("gamma")
    gamma = None if gamma is None or gamma != gamma else float(gamma)  # NaN: not set
    return generators.chain(int(config["horizon"]), gamma=gamma)


STAY, ADVANCE = 0, 1


def switch_chain(n_states: int, gamma: float, epsilon: float = 0.5) -> TabularMDP:
    r"""A chain on which the contraction rate ``gamma`` of policy iteration is attained.

    States ``0, ..., n`` (``n = n_states - 1 >= 1``), two actions, rewards in ``[0, 1]``:

    * state ``0`` is absorbing and pays 1 under both actions, so :math:`V^*(0) = 1/(1-\gamma)`;
    * in state ``i >= 1``, action ``STAY = 0`` loops on ``i`` and pays
      :math:`u_i = \gamma^i(1-\epsilon_i)`, :math:`\epsilon_i = \epsilon(1 - i/(2n))`;
      action ``ADVANCE = 1`` moves to ``i - 1`` and pays 0.

    Advancing everywhere is optimal, :math:`V^*(i) = \gamma^i/(1-\gamma)`; staying forever in
    ``i`` is worth :math:`u_i/(1-\gamma)`, short of it by
    :math:`\gamma^i\epsilon_i/(1-\gamma)`.  Since :math:`\epsilon_i` decreases in ``i``,
    :math:`\gamma u_{i-1} < u_i`: a state whose predecessor still stays prefers to stay, and
    it prefers to advance once its predecessor's value is optimal.  Howard's policy iteration
    from :math:`\pi_0` = STAY everywhere therefore switches exactly state ``k + 1`` at
    iteration ``k``, and

    .. math:: \|V^* - V^{\pi_k}\|_\infty = \frac{\gamma^{k+1}\epsilon_{k+1}}{1-\gamma}
              = \gamma^k \|V^* - V^{\pi_0}\|_\infty\,\frac{\epsilon_{k+1}}{\epsilon_1}
              \qquad (k < n),

    within a factor :math:`\epsilon_{k+1}/\epsilon_1 \in [1/2, 1]` of the bound
    :math:`\gamma^k\|V^*-V^{\pi_0}\|_\infty` (PI is at least as fast as value iteration);
    PMD with large steps behaves alike.  ``rho`` is uniform.
    """
    n = int(n_states) - 1
    if n < 1:
        raise ValueError(f"n_states must be >= 2, got {n_states}")
    g = float(gamma)
    if not 0.0 < g < 1.0:
        raise ValueError(f"gamma must be in (0, 1), got {gamma}")
    if not 0.0 < float(epsilon) <= 1.0:
        raise ValueError(f"epsilon must be in (0, 1], got {epsilon}")
    S = n + 1
    P = np.zeros((S, 2, S))
    r = np.zeros((S, 2))
    P[0, :, 0] = 1.0
    r[0, :] = 1.0
    i = np.arange(1, S)
    P[i, STAY, i] = 1.0
    P[i, ADVANCE, i - 1] = 1.0
    r[i, STAY] = g**i * (1.0 - float(epsilon) * (1.0 - i / (2.0 * n)))
    return TabularMDP(P, r, g, initial_distribution=np.full(S, 1.0 / S))


def switch_chain_start(n_states: int, delta: float = 0.0) -> np.ndarray:
    """The hard start of :func:`switch_chain`: ``(S, 2)`` policy with probability ``1 - delta``
    on STAY (``delta > 0`` keeps it in the simplex's interior for mirror-descent methods)."""
    if not 0.0 <= float(delta) < 0.5:
        raise ValueError(f"delta must be in [0, 0.5), got {delta}")
    pi = np.empty((int(n_states), 2))
    pi[:, STAY], pi[:, ADVANCE] = 1.0 - float(delta), float(delta)
    return pi


CASH, WAIT = 0, 1


def cash_or_wait(gamma: float) -> TabularMDP:
    r"""Three states on which the optimal policy is decided by the discount.

    State 0: ``CASH = 0`` pays 1 and moves to state 2 (absorbing, reward 0); ``WAIT = 1`` pays
    0 and moves to state 1 (absorbing, reward :math:`r_1 = (1-\gamma)(1-m)/\gamma` per step,
    :math:`m = (1-\gamma)/2`).  So :math:`Q^*(0, \text{CASH}) = 1 > Q^*(0, \text{WAIT}) =
    \gamma r_1/(1-\gamma) = 1 - m`: cashing in is optimal, and a policy that waits loses
    :math:`m` in state 0.  Dropping the discount from the action values,
    :math:`r + P V` instead of :math:`r + \gamma P V`, rates waiting at
    :math:`r_1/(1-\gamma) = (1-m)/\gamma > 1` and so converges to the wrong action.  Rewards
    in ``[0, 1]``; ``rho`` uniform.
    """
    g = float(gamma)
    if not 0.0 < g < 1.0:
        raise ValueError(f"gamma must be in (0, 1), got {gamma}")
    m = (1.0 - g) / 2.0
    P = np.zeros((3, 2, 3))
    r = np.zeros((3, 2))
    P[0, CASH, 2] = P[0, WAIT, 1] = 1.0
    P[1, :, 1] = P[2, :, 2] = 1.0
    r[0, CASH] = 1.0
    r[1, :] = (1.0 - g) * (1.0 - m) / g
    return TabularMDP(P, r, g, initial_distribution=np.full(3, 1.0 / 3.0))


def _cash_or_wait(config: dict[str, Any], seed: np.random.SeedSequence) -> TabularMDP:
    return cash_or_wait(float(config["gamma"]))


def _switch_chain(config: dict[str, Any], seed: np.random.SeedSequence) -> TabularMDP:
    eps = config.get("epsilon")
    eps = 0.5 if eps is None or eps != eps else float(eps)  # NaN: not set
    return switch_chain(int(config["n_states"]), float(config["gamma"]), eps)


#: MDP families by name: ``builder(config, seed) -> TabularMDP``.
INSTANCES: dict[str, Builder] = {
    "garnet": _garnet,
    "random": _random,
    "chain": _chain,
    "switch_chain": _switch_chain,
    "cash_or_wait": _cash_or_wait,
}


def _random_game(config: dict[str, Any], seed: np.random.SeedSequence) -> Any:
    from theory_rl.mdps import games

    Y, beta = int(config["n_responses"]), float(config["beta"])
    return games.random_preference_game(Y, beta=beta, seed=seed)


def _cyclic_game(config: dict[str, Any], seed: np.random.SeedSequence) -> Any:
    from theory_rl.mdps import games

    Y, beta = int(config["n_responses"]), float(config["beta"])
    return games.cyclic_preference_game(Y, beta=beta, reference="dirichlet", seed=seed)


def _bradley_terry_game(config: dict[str, Any], seed: np.random.SeedSequence) -> Any:
    from theory_rl.mdps import games

    Y, beta = int(config["n_responses"]), float(config["beta"])
    rng = np.random.default_rng(seed)
    rewards = rng.normal(scale=2.0, size=Y)
    ref = rng.dirichlet(np.ones(Y))
    return games.bradley_terry_game(rewards, beta=beta, reference_policy=ref)


#: Preference-game families by name: ``builder(config, seed) -> PreferenceGame``.
GAMES: dict[str, Builder] = {
    "random": _random_game,
    "cyclic": _cyclic_game,
    "bradley_terry": _bradley_terry_game,
}

#: The random MDP families of the DP and PMD grids: deterministic garnets (one successor per
#: state-action pair: the slowest mixing, where contraction bounds are nearly tight), sparse
#: garnets, and dense Dirichlet MDPs (every state a successor; ``branching = -1``).
INSTANCE_FAMILIES: tuple[dict[str, Any], ...] = (
    {"family": "garnet", "branching": 1},
    {"family": "garnet", "branching": 5},
    {"family": "random", "branching": -1},
)


def _lookup(registry: dict[str, Builder], kind: str, config: dict[str, Any]) -> Builder:
    if "family" not in config:
        raise ValueError(f"config must name its {kind} family in config['family']; got {config}")
    try:
        return registry[config["family"]]
    except KeyError:
        raise ValueError(
            f"config['family'] = {config['family']!r} is not a known {kind} family; "
            f"known: {', '.join(registry)}"
        ) from None


def make_instance(config: dict[str, Any], seed: np.random.SeedSequence) -> TabularMDP:
    """The MDP named by ``config["family"]`` (a key of :data:`INSTANCES`), built from ``seed``."""
    return _lookup(INSTANCES, "instance", config)(config, seed)


def make_game(config: dict[str, Any], seed: np.random.SeedSequence) -> Any:
    """The preference game named by ``config["family"]`` (a key of :data:`GAMES`)."""
    return _lookup(GAMES, "game", config)(config, seed)
