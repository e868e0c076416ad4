"""The registered claims, in the order ``theory-rl verify`` runs them.

A claim is a module (see :mod:`theory_rl.experiments.base` for its interface).  Add a new one by
appending its module path to :data:`CLAIM_MODULES`; modules are imported on first use.
"""

from __future__ import annotations

import importlib
from types import ModuleType

__all__ = ["CLAIM_MODULES", "all_claims", "claim_ids", "get_claim"]

CLAIM_MODULES: tuple[str, ...] = (
    "theory_rl.experiments.vi_contraction",
    "theory_rl.experiments.vi_stopping",
    "theory_rl.experiments.pi_monotone",
    "theory_rl.experiments.nash_mp_rate",
    "theory_rl.experiments.nash_comparison",
    "theory_rl.experiments.nash_mp_sampled",
    "theory_rl.experiments.npg_agarwal",
    "theory_rl.experiments.npg_cen",
    "theory_rl.experiments.pg_mei_bandit",
    "theory_rl.experiments.npg_chain",
    "theory_rl.experiments.npg_hnpg",
    "theory_rl.experiments.pmd_xiao",
    "theory_rl.experiments.pmd_johnson",
    "theory_rl.experiments.pmd_inexact",
    "theory_rl.experiments.pmd_sampled",
    "theory_rl.experiments.pmd_gpmd",
    "theory_rl.experiments.pmd_rates",
)

_REQUIRED = ("CLAIM", "GRID", "QUICK_GRID", "compute", "plot", "check")


def _load(path: str) -> ModuleType:
    module = importlib.import_module(path)
    missing = [name for name in _REQUIRED if not hasattr(module, name)]
    if missing:
        raise TypeError(f"claim module {path} lacks {', '.join(missing)}")
    return module


def all_claims() -> dict[str, ModuleType]:
    """``{claim id: module}`` for every registered claim, in registry order."""
    modules = [_load(path) for path in CLAIM_MODULES]
    claims = {m.CLAIM.id: m for m in modules}
    if len(claims) != len(modules):
        raise ValueError("two registered claim modules share a CLAIM.id")
    return claims


def claim_ids() -> list[str]:
    """The registered claim ids, in registry order."""
    return list(all_claims())


def get_claim(claim_id: str) -> ModuleType:
    """The module of claim ``claim_id``; ``KeyError`` naming the known ids otherwise."""
    claims = all_claims()
    try:
        return claims[claim_id]
    except KeyError:
        raise KeyError(f"unknown claim {claim_id!r}; known: {', '.join(claims)}") from None
