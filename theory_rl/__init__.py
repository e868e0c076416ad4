"""theory_rl: exact and sampled RL-theory algorithms whose stated bounds are checked by measurement.

Curated public names: the problem types and generators, :class:`SolveResult`, and every
family's drivers and pure steps (:data:`theory_rl.algorithms.__all__`); ``docs/api.md`` lists
them all.  The submodules (``theory_rl.mdps``, ``theory_rl.algorithms``,
``theory_rl.bounds``, ``theory_rl.experiments``, ``theory_rl.testing``) hold the rest.

Names are resolved on first use (PEP 562), so ``import theory_rl`` is cheap: the pytest plugin
that installing the package registers (``theory_rl.pytest_plugin``, loaded by every pytest run in
the environment) imports neither numba, SciPy nor the solvers unless it is activated.
"""

import importlib
from typing import Any

__version__ = "0.1.0"

#: Where each public name lives: ``{module: names}`` (``tests/test_api.py`` checks that the
#: algorithms' names are exactly ``theory_rl.algorithms.__all__``).
_EXPORTS: dict[str, tuple[str, ...]] = {
    "theory_rl.backend": (
        "BackendUnavailableError",
    ),
    "theory_rl.mdps": (
        "FiniteHorizonMDP",
        "InvalidMDPError",
        "LinearMDP",
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
        "Chi2Ball",
        "Chi2Penalty",
        "KLBall",
        "KLPenalty",
        "KernelSet",
        "L1Ball",
        "SRectL1Ball",
        "TVPenalty",
        "drpg_garnet",
        "windy_walk",
        "EntropicRisk",
        "TVRisk",
        "Chi2Risk",
        "R2Ball",
        "TransitionDataset",
        "risk_of",
        "sample_dataset",
        "zhang_ring",
    ),
    "theory_rl.algorithms": (
        "RoundoffWarning",
        "backward_induction",
        "bellman_optimality_operator",
        "greedy_policy",
        "linear_programming",
        "modified_policy_iteration",
        "occupancy_measure",
        "policy_evaluation",
        "policy_iteration",
        "q_values",
        "value_iteration",
        "accelerated_policy_evaluation",
        "anchored_value_iteration",
        "anchoring_schedule",
        "gauss_seidel_value_iteration",
        "safeguarded_accelerated_value_iteration",
        "average_reward_policy_iteration",
        "relative_value_iteration",
        "DeviceReference",
        "ExactEvaluator",
        "Reference",
        "reference",
        "regularized_optimum",
        "adaptive_step_size",
        "generalized_policy_mirror_descent",
        "gpmd_step",
        "pmd_step",
        "policy_mirror_descent",
        "staq_policy_mirror_descent",
        "entropy_npg_step",
        "entropy_npg_step_log",
        "epsilon_greedy_offline_data",
        "fit_q_weights",
        "hybrid_npg",
        "hybrid_policy_evaluation",
        "log_linear_policy",
        "natural_policy_gradient",
        "npg_step",
        "npg_step_log",
        "q_npg",
        "soft_evaluation",
        "projected_pg_gradient",
        "projected_pg_step",
        "projected_policy_gradient",
        "softmax_pg_gradient",
        "softmax_pg_objective",
        "softmax_pg_step",
        "softmax_policy_gradient",
        "equilibrium_certificate",
        "exploitability",
        "game_reference",
        "GameReference",
        "MirrorProxStep",
        "nash_md",
        "nash_md_step",
        "nash_mirror_prox",
        "nash_mp_step",
        "omd_step",
        "online_mirror_descent",
        "optimistic_mirror_descent",
        "optimistic_step",
        "preference_against",
        "regularized_equilibrium",
        "sampled_nash_mirror_prox",
        "sampled_nash_mp_step",
        "unregularized_equilibrium",
        "estimate_q",
        "rollout_returns",
        "sample_next_states",
        "sample_trajectories",
        "inner_rows",
        "robust_bellman_operator",
        "robust_modified_policy_iteration",
        "robust_policy_evaluation",
        "robust_q_values",
        "robust_value_iteration",
        "srect_policy",
        "worst_case_kernel",
        "iwocs",
        "iwocs_step",
        "static_worst_case",
        "drpg",
        "drpg_gradient",
        "drpg_step",
        "TabularClass",
        "r2_bellman_operator",
        "r2_contraction_modulus",
        "r2_robust_bellman_operator",
        "r2_value_iteration",
        "rfzi",
        "rfzi_penalty",
        "rfzi_step",
        "risk_bellman_operator",
        "risk_sensitive_value_iteration",
        "soft_robust_bellman_operator",
        "soft_robust_optimum",
        "soft_robust_pg_gradient",
        "soft_robust_pg_step",
        "soft_robust_policy_evaluation",
        "soft_robust_policy_gradient",
        "soft_robust_value_iteration",
    ),
    "theory_rl.result": (
        "SolveResult",
    ),
}
_SOURCE = {name: module for module, names in _EXPORTS.items() for name in names}
_SUBMODULES = frozenset(
    {"algorithms", "backend", "bounds", "experiments", "kernels", "mdps", "result", "testing"}
)

__all__ = [name for names in _EXPORTS.values() for name in names]


def __getattr__(name: str) -> Any:
    if name in _SOURCE:
        value = getattr(importlib.import_module(_SOURCE[name]), name)
    elif name in _SUBMODULES:
        value = importlib.import_module(f"theory_rl.{name}")
    else:
        raise AttributeError(f"module 'theory_rl' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__, *_SUBMODULES})
