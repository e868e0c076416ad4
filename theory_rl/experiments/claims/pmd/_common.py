"""Helpers shared by the policy-mirror-descent claims (``pmd_*``); not a claim itself.

* :func:`instance` -- the MDP of a configuration (random families of
  :mod:`theory_rl.experiments.base`, or the Agarwal et al. chain ``family="chain"``);
* :func:`bound_rows` -- tidy rows ``k, measured, bound, atol``;
* :func:`bound_verdict` -- "the bound holds at every iterate" over all runs of a frame, with
  the worst ratio where the bound is resolved (``> 100 atol``);
* :func:`ratio_figure` -- measured / bound against ``k`` (median, IQR), one panel per group.

Tolerance of every bound check: ``rtol = 1e-9`` (the bound is a float expression of a few
terms) and ``atol`` = :func:`theory_rl.bounds.mdp_constants.value_error_floor` plus the
a-posteriori error of the reference ``V*`` (:func:`theory_rl.experiments.base.exact_solution`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from theory_rl.bounds import mdp_constants
from theory_rl.bounds.rates import Verdict, check_bound
from theory_rl.experiments import plotting
from theory_rl.experiments.base import Claim, exact_solution, make_instance, resolved
from theory_rl.mdps import generators
from theory_rl.mdps.tabular import TabularMDP

RTOL = 1e-9


def instance(config: dict[str, Any], seed: np.random.SeedSequence) -> TabularMDP:
    """The MDP of ``config`` (``family`` garnet/random, or chain with ``n_states = H``)."""
    if config["family"] == "chain":
        return generators.chain(int(config["n_states"]))
    return make_instance(config, seed)


def atol_of(mdp: TabularMDP, reference: Any = None) -> float:
    """Round-off floor of a value difference plus the certified error of the reference V*
    (``reference.error`` of a :class:`~theory_rl.algorithms.reference.Reference` of ``mdp``
    if given, else solved here)."""
    error = exact_solution(mdp)[2] if reference is None else float(reference.error)
    return mdp_constants.value_error_floor(mdp) + error


def bound_rows(k: Any, measured: Any, bound: Any, atol: float, **extra: Any) -> list[dict]:
    return [
        {"k": int(i), "measured": float(m), "bound": float(b), "atol": float(atol), **extra}
        for i, m, b in zip(np.asarray(k), np.asarray(measured), np.asarray(bound), strict=True)
    ]


def bound_verdict(
    frame: pd.DataFrame, claim: Claim, *, theorem: str, stated: str, what: str
) -> Verdict:
    """Does ``measured <= bound (1 + RTOL) + atol`` hold at every iterate of every run?"""
    worst, failures, n_runs = 0.0, [], 0
    for key, run in frame.groupby("spawn_key", sort=False):
        n_runs += 1
        m, b, atol = (run[c].to_numpy() for c in ("measured", "bound", "atol"))
        res = check_bound(m, b, rtol=RTOL, atol=float(atol[0]))
        mask = resolved(b, atol) & (run["k"].to_numpy() >= 1)  # k = 0 is often an identity
        if mask.any():
            worst = max(worst, float((m[mask] / b[mask]).max()))
        if not res.holds:
            cfg = {c: run[c].iloc[0] for c in ("family", "gamma", "mirror") if c in run}
            failures.append(f"run {key} {cfg}: {res.describe()}")
    detail = (
        f"{n_runs} runs, {len(frame)} iterates; rtol {RTOL:g}, atol = round-off floor + "
        "reference error; ratio over iterates k >= 1 where the bound exceeds 100 atol"
        + ("; FAILURES: " + " | ".join(failures[:4]) if failures else "")
    )
    return Verdict(
        claim.id,
        claim.paper,
        theorem,
        stated,
        f"worst {what} = {worst:.4g} ({len(failures)} of {n_runs} runs violate)",
        not failures,
        detail,
        {"worst_ratio": worst, "n_runs": n_runs, "n_failures": len(failures)},
    )


def ratio_figure(frame: pd.DataFrame, claim: Claim, panels: str, label: str) -> Any:
    """measured / bound against ``k``, one panel per value of column ``panels``."""
    import matplotlib.pyplot as plt

    groups = list(dict.fromkeys(frame[panels]))
    with plotting.paper_style():
        fig, axes = plt.subplots(1, len(groups), figsize=(2.6 * len(groups), 2.4), squeeze=False)
        for ax, g in zip(axes[0], groups, strict=True):
            sub = frame[frame[panels] == g]
            sub = sub.assign(ratio=sub["measured"] / sub["bound"])
            for mirror, ls in (("kl", "-"), ("euclidean", ":")):
                part = sub[sub["mirror"] == mirror] if "mirror" in sub else sub
                if len(part):
                    plotting.median_iqr(
                        ax,
                        part,
                        x="k",
                        y="ratio",
                        color=plotting.color(claim.algorithm),
                        label=mirror,
                        floor=1e-12,
                        linestyle=ls,
                    )
            k = np.sort(sub["k"].unique())
            plotting.reference_line(ax, k, np.ones_like(k, dtype=float), "bound")
            ax.set_yscale("log")
            ax.set_ylim(1e-12, 3.0)
            ax.set_title(str(g))
            ax.set_xlabel("iteration $k$")
        axes[0][0].set_ylabel(label)
        axes[0][0].legend(loc="lower left", fontsize=6)
    return fig
