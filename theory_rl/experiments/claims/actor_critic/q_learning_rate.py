r"""Claim ``q_learning_rate``: synchronous Q-learning's :math:`\|Q_k - Q^*\|_\infty` decays at
least like :math:`\sqrt{\log k/k}` (Wainwright 2019), checked one-sided.

**Statement.**  :mod:`theory_rl.bounds.wainwright2019`: with the rescaled linear step
:math:`1/(1+(1-\gamma)k)` the error is :math:`O(\sqrt{\log(2SAk)/k})` in the large-``k``
regime (constants not used).

**Measurement.**  Dense garnets (``S = 10, A = 3``, branching 3) with ``gamma`` in {0.5, 0.8},
one batched run of :func:`theory_rl.algorithms.exploration.q_learning` over ``n`` seeds (20;
quick 8), :math:`Q^*` from :func:`theory_rl.reference`, ``k`` up to :math:`2^{15}` updates
(:math:`2^{15}SA` samples).

**Gate (one-sided, statistical).**  Per seed, the least-squares slope of
:math:`\log\|Q_k - Q^*\|_\infty` on :math:`\log k` over :math:`k \in [2^{11}, 2^{15}]`; the mean
must not be significantly above the slope of :math:`\sqrt{\log(2SAk)/k}` on the same window
(about -0.44): one-sided t-test at 5% (faster decay passes).

References:
    M. J. Wainwright. Stochastic approximation with cone-contractive operators: sharp
    l-infinity bounds for Q-learning. arXiv:1905.06265 (2019).
    E. Even-Dar, Y. Mansour. Learning rates for Q-learning. JMLR 5 (2003).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

import theory_rl
from theory_rl.algorithms import exploration
from theory_rl.bounds import wainwright2019
from theory_rl.bounds.rates import Verdict
from theory_rl.experiments import plotting
from theory_rl.experiments.base import Claim, seed_of, sub_seed
from theory_rl.experiments.claims.actor_critic._common import (
    exponent_measured,
    exponent_test,
    seed_exponents,
)
from theory_rl.mdps import garnet

CLAIM = Claim(
    id="q_learning_rate",
    paper="Wainwright (2019); Even-Dar & Mansour (2003)",
    theorem="synchronous Q-learning, rescaled linear step: sqrt(log k / k) l_inf error",
    statement="fitted exponent of ||Q_k - Q*||_inf <= that of sqrt(log(2SAk)/k), one-sided 5%",
    algorithm="value_iteration",
    caption=(
        "Synchronous Q-learning on garnets: sup-norm error to Q* against updates k (median and "
        "IQR over seeds), with a sqrt(log k / k) reference (dashed) anchored at the last point."
    ),
)

U, K = 1024, 32
WINDOW = (2**11, 2**15)


def _grid(n_seeds: int) -> list[dict[str, Any]]:
    return [{"gamma": g, "n_seeds": n_seeds} for g in (0.5, 0.8)]


GRID = _grid(20)
QUICK_GRID = _grid(8)


def compute(config: dict[str, Any]) -> list[dict[str, Any]]:
    seed = seed_of(config)
    mdp = garnet(10, 3, 3, gamma=float(config["gamma"]), seed=sub_seed(seed, 0), sparse=False)
    res = exploration.q_learning(
        mdp,
        updates_per_iteration=U,
        n_iterations=K,
        n_seeds=int(config["n_seeds"]),
        seed=sub_seed(seed, 1),
        reference=theory_rl.reference(mdp),
    )
    rows = []
    for b in range(res.history["error"].shape[0]):
        for j in range(int(np.log2(K)) + 1):
            k = 2**j
            rows.append(
                {
                    "gamma": mdp.gamma,
                    "seed_index": b,
                    "k": k * U,
                    "error": float(res.history["error"][b, k]),
                    "S": 10,
                    "A": 3,
                }
            )
    return rows


def check(frame: pd.DataFrame) -> list[Verdict]:
    out = []
    for gamma, sub in frame.groupby("gamma"):
        w = sub[(sub["k"] >= WINDOW[0]) & (sub["k"] <= WINDOW[1])]
        ks = np.sort(w["k"].unique())
        wide = w.pivot_table(index="seed_index", columns="k", values="error")
        slopes = seed_exponents(wide, ks)
        stated = wainwright2019.stated_exponent(ks, 10, 3)
        test = exponent_test(slopes, stated)
        out.append(
            Verdict(
                claim_id=CLAIM.id,
                paper=CLAIM.paper,
                theorem=f"{CLAIM.theorem} (gamma = {gamma:g})",
                stated=f"exponent <= {stated:.3f} (sqrt(log(2SAk)/k) on k in {WINDOW})",
                measured="mean fitted exponent " + exponent_measured(test),
                holds=test["holds"],
                detail=f"final median error {wide[ks[-1]].median():.3g} after {ks[-1]} updates",
                metrics={"exponent": test["mean"], "stated": stated, "p_value": test["p_value"]},
            )
        )
    return out


def plot(frame: pd.DataFrame) -> Any:
    import matplotlib.pyplot as plt

    colors = ["#0072B2", "#D55E00"]
    with plotting.paper_style():
        fig, ax = plt.subplots(figsize=(3.6, 2.7))
        for (gamma, sub), color in zip(frame.groupby("gamma"), colors, strict=False):
            plotting.median_iqr(
                ax,
                sub,
                x="k",
                y="error",
                color=color,
                label=rf"$\gamma$ = {gamma:g}",
                marker="o",
                markersize=3,
            )
            ks = np.sort(sub["k"].unique()).astype(float)
            top = sub[sub["k"] == ks[-1]]["error"].median()
            shape = wainwright2019.rate_shape(ks, 10, 3)
            plotting.reference_line(
                ax,
                ks,
                top * shape / shape[-1],
                rf"$\propto\sqrt{{\log k/k}}$ ($\gamma$ = {gamma:g})",
            )
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("updates $k$")
        ax.set_ylabel(r"$\|Q_k - Q^*\|_\infty$")
        plotting.legend(ax, ax, loc="lower left", fontsize=6)
    return fig
