"""Solvers: one module per family, each with a pure step and a driver returning SolveResult."""

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

__all__ = [
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
]
