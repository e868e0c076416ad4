"""What the soft-robust claims share; not a claim itself.

* :func:`instance` -- the problems: ``random`` (``random_mdp``, rewards in [0, 1]) and ``ring``
  (:func:`theory_rl.mdps.soft_robust.zhang_ring`, the paper's 14-state ring with slip ``p``);
* :func:`penalty` -- a soft-robust penalty by name (``kl``, ``tv``, ``tv_full``, ``chi2``);
* :func:`quiet` -- silences the round-off warning of solves asked for accuracies at round-off;
* :data:`PENALTY_COLORS` -- one plotting colour per penalty family.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator
from typing import Any

import numpy as np

from theory_rl.bounds.mdp_constants import RoundoffWarning
from theory_rl.mdps import random_mdp
from theory_rl.mdps.robust import Chi2Penalty, KLPenalty, TVPenalty, UncertaintySet
from theory_rl.mdps.soft_robust import zhang_ring
from theory_rl.mdps.tabular import TabularMDP

__all__ = ["PENALTY_COLORS", "PENALTY_NAMES", "instance", "penalty", "quiet"]

PENALTY_NAMES = ("kl", "tv", "tv_full", "chi2")
#: Plot colours of the penalty families.
PENALTY_COLORS = {"kl": "#0072B2", "tv": "#D55E00", "chi2": "#009E73"}


def instance(config: dict[str, Any], seed: Any) -> TabularMDP:
    """``config["instance"]``: ``"random"`` (``n_states``, ``n_actions``, ``gamma``) or
    ``"ring"`` (``p``, ``gamma``)."""
    if config["instance"] == "ring":
        return zhang_ring(float(config["p"]), gamma=float(config.get("gamma", 0.95)))
    return random_mdp(
        int(config.get("n_states", 6)),
        int(config.get("n_actions", 3)),
        gamma=float(config.get("gamma", 0.9)),
        seed=seed,
    )


def penalty(name: str, lam: Any) -> UncertaintySet:
    """The penalty ``name`` with weight ``lam``."""
    if name == "kl":
        return KLPenalty(lam)
    if name == "tv":
        return TVPenalty(lam)
    if name == "tv_full":
        return TVPenalty(lam, support="full")
    if name == "chi2":
        return Chi2Penalty(lam)
    raise ValueError(f"unknown penalty {name!r}")


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """Round-off warnings off (the claims ask for accuracies at round-off on purpose)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RoundoffWarning)
        yield


def random_policy(mdp: TabularMDP, rng: np.random.Generator) -> np.ndarray:
    """A randomising policy with rows drawn from Dirichlet(1)."""
    return rng.dirichlet(np.ones(mdp.n_actions), size=mdp.n_states)
