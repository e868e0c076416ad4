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
  ``gamma`` (default ``H/(H+1)``); deterministic, the seed is unused.

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

__all__ = ["GAMES", "INSTANCES", "INSTANCE_FAMILIES", "make_game", "make_instance"]

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


#: MDP families by name: ``builder(config, seed) -> TabularMDP``.
INSTANCES: dict[str, Builder] = {"garnet": _garnet, "random": _random, "chain": _chain}


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
