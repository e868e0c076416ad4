"""theory_rl: exact and sampled RL-theory algorithms whose stated bounds are checked by measurement.

Curated public names: the problem types and generators, :class:`SolveResult`, and every
family's drivers and pure steps (:data:`theory_rl.algorithms.__all__`); ``docs/api.md`` lists
them all.  The submodules (``theory_rl.mdps``, ``theory_rl.algorithms``,
``theory_rl.bounds``, ``theory_rl.experiments``) hold the rest.
"""

from theory_rl import algorithms as _algorithms
from theory_rl.algorithms import *  # noqa: F403 -- the curated list algorithms.__all__
from theory_rl.backend import BackendUnavailableError
from theory_rl.bounds.mdp_constants import RoundoffWarning
from theory_rl.mdps import (
    FiniteHorizonMDP,
    InvalidMDPError,
    LinearMDP,
    TabularMDP,
    bandit,
    chain,
    deep_sea,
    from_gymnasium,
    from_mdptoolbox,
    garnet,
    gridworld,
    random_linear_mdp,
    random_mdp,
    ring,
    river_swim,
)
from theory_rl.result import SolveResult

__version__ = "0.1.0"

__all__ = [
    "BackendUnavailableError",
    "FiniteHorizonMDP",
    "InvalidMDPError",
    "LinearMDP",
    "RoundoffWarning",
    "SolveResult",
    "TabularMDP",
    "bandit",
    "chain",
    "deep_sea",
    "from_gymnasium",
    "from_mdptoolbox",
    "garnet",
    "gridworld",
    "random_linear_mdp",
    "random_mdp",
    "ring",
    "river_swim",
    *_algorithms.__all__,
]
