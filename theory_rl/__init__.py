"""theory_rl: exact and sampled RL-theory algorithms whose stated bounds are checked by measurement.

Curated public names; the submodules (``theory_rl.mdps``, ``theory_rl.algorithms``,
``theory_rl.bounds``, ``theory_rl.experiments``) hold the rest.
"""

from theory_rl.algorithms.dp import (
    backward_induction,
    bellman_optimality_operator,
    greedy_policy,
    linear_programming,
    modified_policy_iteration,
    occupancy_measure,
    policy_evaluation,
    policy_iteration,
    q_values,
    value_iteration,
)
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
    "backward_induction",
    "bandit",
    "bellman_optimality_operator",
    "chain",
    "deep_sea",
    "from_gymnasium",
    "from_mdptoolbox",
    "garnet",
    "greedy_policy",
    "gridworld",
    "linear_programming",
    "modified_policy_iteration",
    "occupancy_measure",
    "policy_evaluation",
    "policy_iteration",
    "q_values",
    "random_linear_mdp",
    "random_mdp",
    "ring",
    "river_swim",
    "value_iteration",
]
