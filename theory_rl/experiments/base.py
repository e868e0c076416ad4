"""What every claim module shares: the :class:`Claim` record, grids, seeds, references.

A claim module exposes

* ``CLAIM`` -- a :class:`Claim` (id, paper, theorem, statement, algorithm, caption);
* ``GRID`` and ``QUICK_GRID`` -- lists of configurations (dicts of scalars), built with
  :func:`product_grid`; ``QUICK_GRID`` is what ``theory-rl verify --quick`` runs;
* ``compute(config) -> list[dict]`` -- tidy rows for one configuration; ``config["seed"]`` is a
  :class:`numpy.random.SeedSequence` supplied by :func:`theory_rl.experiments.sweep.run_sweep`
  (an int works too when calling it by hand);
* ``plot(frame) -> matplotlib.figure.Figure`` and ``check(frame) -> list[Verdict]``.

It lives at ``theory_rl/experiments/claims/<family>/<id>.py`` (discovered by
:mod:`theory_rl.experiments.registry`).  Instances come from
:mod:`theory_rl.experiments.instances`; shared verdicts and figures from
:mod:`theory_rl.experiments.checks`.
"""

from __future__ import annotations

import dataclasses
import itertools
from typing import Any

import numpy as np

from theory_rl.mdps.tabular import TabularMDP

__all__ = [
    "Claim",
    "bellman_residual",
    "product_grid",
    "seed_of",
    "sub_seed",
]


@dataclasses.dataclass(frozen=True)
class Claim:
    """A registered claim: the statement checked and where it comes from.

    Attributes:
        id: registry id, also the stem of its figure and data files.
        paper: short citation, e.g. ``"Puterman (1994)"``.
        theorem: theorem number and name.
        statement: the stated result, as a formula in words.
        algorithm: key of :data:`theory_rl.experiments.plotting.COLORS`.
        caption: what the figure shows.
    """

    id: str
    paper: str
    theorem: str
    statement: str
    algorithm: str
    caption: str = ""


def product_grid(**axes: Any) -> list[dict[str, Any]]:
    """All combinations of the given axes, in order (the last axis varies fastest)."""
    names = list(axes)
    return [dict(zip(names, combo, strict=True)) for combo in itertools.product(*axes.values())]


def seed_of(config: dict[str, Any]) -> np.random.SeedSequence:
    """The configuration's seed as a SeedSequence (``run_sweep`` supplies one; ints accepted)."""
    seed = config.get("seed", 0)
    return seed if isinstance(seed, np.random.SeedSequence) else np.random.SeedSequence(seed)


def sub_seed(seed: np.random.SeedSequence, j: int) -> np.random.SeedSequence:
    """The ``j``-th child of ``seed``, computed without mutating ``seed`` (unlike ``spawn``)."""
    return np.random.SeedSequence(seed.entropy, spawn_key=(*seed.spawn_key, j))


def bellman_residual(mdp: TabularMDP, values: np.ndarray) -> float:
    r"""The Bellman residual :math:`\|Tv - v\|_\infty`.

    It certifies ``v``: :math:`\|v - V^*\|_\infty \le \|Tv - v\|_\infty/(1-\gamma)`.
    """
    from theory_rl.algorithms import dp

    return float(np.abs(dp.bellman_optimality_operator(mdp, values) - values).max())
