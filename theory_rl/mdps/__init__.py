"""Problem types, generators and converters (no solving here)."""

from theory_rl.mdps.tabular import FiniteHorizonMDP, InvalidMDPError, TabularMDP, validate_policy

__all__ = ["FiniteHorizonMDP", "InvalidMDPError", "TabularMDP", "validate_policy"]
