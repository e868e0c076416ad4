r"""Claim ``spg_tabular``: ILLUSTRATIVE -- stochastic PG methods on a tabular softmax MDP.

**Not a test of the theorems.**  Tabular softmax policies violate Fisher non-degeneracy (A3):
the per-state direction :math:`\mathbf 1_s` is in the null space of :math:`F`, and
:math:`F \to 0` as the policy becomes deterministic [R]; so no rate is asserted here.  The
figure shows :math:`J^* - J(\theta)` against trajectories for vanilla PG, N-PG-IGT and N-HARPG
on river-swim (``S = 6``, :math:`\gamma = 0.9`, start at the left end) from the uniform policy,
the theorems' schedules with :math:`\gamma_0 = 1`, ``H`` = :func:`~theory_rl.algorithms.
stochastic_pg.default_horizon`, mean over runs with 2 standard errors.

**Check** (so that the figure cannot silently show a broken method): for every method the mean
gap at the last iterate is below the gap of the initial policy by more than 4 standard errors
(ascent happens).  A step taken in the wrong direction fails it.  Sizes: 2000 iterations
(quick) or 10^4 (full), 128 runs; a first quick run with 1000 iterations and 32 runs was too
small to resolve N-PG-IGT's improvement (z = 2.5; about half of its runs leave the
left-end local optimum by then), so the sizes were raised, the threshold kept.

References:
    I. Fatkhullin, A. Barakat, A. Kireeva, N. He. Stochastic policy gradient methods: improved
    sample complexity for Fisher-non-degenerate policies. ICML 2023, arXiv:2302.01734.
    A. Strehl, M. Littman. An analysis of model-based interval estimation for Markov decision
    processes. JCSS 74, 2008 (river-swim).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from theory_rl.bounds.rates import Verdict
from theory_rl.experiments import plotting
from theory_rl.experiments.base import Claim, product_grid, seed_of
from theory_rl.experiments.claims.stochastic_pg._common import (
    LABELS,
    METHOD_COLORS,
    log_points,
    run,
)
from theory_rl.mdps import river_swim

CLAIM = Claim(
    id="spg_tabular",
    paper="Fatkhullin, Barakat, Kireeva & He (ICML 2023)",
    theorem="ILLUSTRATIVE: tabular softmax (violates Fisher non-degeneracy; no rate asserted)",
    statement="each method improves on the initial policy (mean final gap < initial, 4 s.e.)",
    algorithm="stochastic_policy_gradient",
    caption="ILLUSTRATIVE (tabular softmax violates Fisher non-degeneracy, no rate asserted): "
    "river-swim S = 6, gamma = 0.9, J* - J(theta) against trajectories, mean over runs +- 2 "
    "s.e.",
)

METHODS = ("vanilla_policy_gradient", "n_pg_igt", "n_harpg")
Z = 4.0
GRID = product_grid(method=list(METHODS), n_iterations=[10_000], n_runs=[128])
QUICK_GRID = product_grid(method=list(METHODS), n_iterations=[2_000], n_runs=[128])


def compute(config: dict[str, Any]) -> list[dict[str, Any]]:
    mdp = river_swim(6, gamma=0.9)
    n = int(config["n_iterations"])
    res = run(
        config["method"], mdp, step_size=1.0, n_iterations=n, n_runs=int(config["n_runs"]),
        seed=seed_of(config), record=("gap", "samples"),
    )  # fmt: skip
    ks = log_points(n)
    gap, samples = res.history["gap"][:, ks], res.history["samples"][0, ks]
    return [
        {"run": b, "k": int(k), "samples": int(samples[i]), "gap": float(gap[b, i]),
         "horizon": res.params["horizon"]}
        for b in range(gap.shape[0])
        for i, k in enumerate(ks)
    ]  # fmt: skip


def check(frame: pd.DataFrame) -> list[Verdict]:
    texts, bad = [], []
    for method, sub in frame.groupby("method", sort=False):
        first = sub[sub["k"] == sub["k"].min()]["gap"]
        last = sub[sub["k"] == sub["k"].max()]["gap"]
        se = last.std(ddof=1) / np.sqrt(len(last))
        z = (first.mean() - last.mean()) / se if se > 0 else np.inf
        texts.append(f"{LABELS[method]}: {first.mean():.3g} -> {last.mean():.3g} (z = {z:.3g})")
        if not z > Z:
            bad.append(method)
    return [
        Verdict(
            claim_id=CLAIM.id,
            paper=CLAIM.paper,
            theorem=CLAIM.theorem,
            stated=CLAIM.statement,
            measured="; ".join(texts),
            holds=not bad and bool(texts),
            detail="illustrative figure; tabular softmax is not Fisher-non-degenerate, so the "
            "theorems' rates do not apply" + (f"; FAILURES: {bad}" if bad else ""),
            metrics={"n_methods": len(texts)},
        )
    ]


def plot(frame: pd.DataFrame) -> Any:
    import matplotlib.pyplot as plt

    with plotting.paper_style():
        fig, ax = plt.subplots(figsize=(4.0, 2.7))
        for method, part in frame.groupby("method", sort=False):
            g = part.groupby("samples")["gap"]
            mean, se = g.mean(), g.std(ddof=1) / np.sqrt(g.size())
            label = f"{LABELS[method]} (mean ± 2 s.e.; n={int(g.size().max())})"
            ax.plot(mean.index, mean, color=METHOD_COLORS[method], label=label)
            ax.fill_between(mean.index, mean - 2 * se, mean + 2 * se, color=METHOD_COLORS[method],
                            alpha=0.2, linewidth=0, label=label)  # fmt: skip
        ax.set_xscale("log")
        ax.set_xlabel("trajectories $N$")
        ax.set_ylabel(r"$J^* - J(\theta)$")
        ax.set_title("ILLUSTRATIVE: tabular softmax (not Fisher-non-degenerate)", fontsize=7)
        plotting.legend(ax, ax, loc="lower left", fontsize=6)
    return fig
