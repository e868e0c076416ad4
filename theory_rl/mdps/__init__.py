"""Problem types, generators and converters (no solving here)."""

from theory_rl.mdps.combination_lock import combination_lock, episodic_combination_lock
from theory_rl.mdps.episodic import random_episodic_mdp
from theory_rl.mdps.games import (
    InvalidGameError,
    PreferenceGame,
    bradley_terry_fit,
    bradley_terry_game,
    condorcet_disagreement_game,
    cyclic_preference_game,
    random_preference_game,
)
from theory_rl.mdps.generators import (
    bandit,
    chain,
    deep_sea,
    garnet,
    gridworld,
    random_mdp,
    ring,
    river_swim,
)
from theory_rl.mdps.gym import from_gymnasium, from_mdptoolbox, to_mdptoolbox
from theory_rl.mdps.linear import LinearMDP, random_linear_mdp
from theory_rl.mdps.robust import (
    Chi2Ball,
    Chi2Penalty,
    KernelSet,
    KLBall,
    KLPenalty,
    L1Ball,
    SRectL1Ball,
    TVPenalty,
    UncertaintySet,
    drpg_garnet,
    windy_walk,
)
from theory_rl.mdps.structure import (
    communicating_classes,
    is_unichain,
    reachable_states,
    recurrent_classes,
    state_graph,
    support_covers,
)
from theory_rl.mdps.tabular import FiniteHorizonMDP, InvalidMDPError, TabularMDP, validate_policy

__all__ = [
    "InvalidGameError",
    "PreferenceGame",
    "bradley_terry_fit",
    "bradley_terry_game",
    "condorcet_disagreement_game",
    "cyclic_preference_game",
    "random_preference_game",
    "FiniteHorizonMDP",
    "InvalidMDPError",
    "LinearMDP",
    "TabularMDP",
    "bandit",
    "chain",
    "combination_lock",
    "communicating_classes",
    "deep_sea",
    "episodic_combination_lock",
    "from_gymnasium",
    "from_mdptoolbox",
    "garnet",
    "gridworld",
    "is_unichain",
    "random_episodic_mdp",
    "random_linear_mdp",
    "random_mdp",
    "reachable_states",
    "recurrent_classes",
    "ring",
    "river_swim",
    "state_graph",
    "support_covers",
    "to_mdptoolbox",
    "validate_policy",
    "Chi2Ball",
    "Chi2Penalty",
    "KLBall",
    "KLPenalty",
    "KernelSet",
    "L1Ball",
    "SRectL1Ball",
    "TVPenalty",
    "UncertaintySet",
    "drpg_garnet",
    "windy_walk",
]
