r"""Claim ``npg_hnpg``: offline data cut the online samples hybrid NPG needs on the combination
lock (Zhou, Sekhari, Song & Sun, ICLR 2024, Thm 1 and Fig. 2).

**Statement.**  HAC/HNPG replaces the on-policy coverage coefficient by the offline one
(:mod:`theory_rl.bounds.zhou2024`): on a lock where the uniform policy opens the lock with
probability :math:`A^{-H}`, purely on-policy NPG needs online samples growing like
:math:`A^H`, while with :math:`\varepsilon`-greedy offline data from :math:`\pi^*`
(:math:`\varepsilon = 1/H`, App. E) the online samples stay small.  Fig. 2 plots online samples
needed to succeed against ``H``.

**Verdict.**  One-sided exact sign test over paired runs (same lock, same seed; ties dropped;
censored runs count as needing more than the cap): "with offline data fewer online samples are
needed", at level 0.01.  The fitted growth factors per unit ``H`` are reported.

**Measurement.**  :func:`theory_rl.mdps.combination_lock` (10 actions, ``gamma = 0.99``),
tabular HAC (:func:`theory_rl.algorithms.npg.hybrid_npg`, ``eta = 1``, 1000 online transitions
per iteration as in the authors' code, :math:`\lambda = 1`), success when
:math:`\rho^\top V^\pi \ge 0.5\,\rho^\top V^*` (exact evaluation); offline data: 5000
transitions (the paper uses 50k on the continuous lock).  Deviations in
:func:`~theory_rl.algorithms.npg.hybrid_npg`.

References:
    Y. Zhou, A. Sekhari, Y. Song, W. Sun. Offline data enhanced on-policy policy gradient with
    provable guarantees. ICLR 2024, arXiv:2311.08384.
    D. Misra, M. Henaff, A. Krishnamurthy, J. Langford. Kinematic state abstraction and
    provably efficient rich-observation reinforcement learning. ICML 2020.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from theory_rl.algorithms import dp, npg
from theory_rl.bounds.rates import Verdict, fit_rate
from theory_rl.experiments import plotting
from theory_rl.experiments.base import Claim, seed_of, sub_seed
from theory_rl.mdps.combination_lock import combination_lock

CLAIM = Claim(
    id="npg_hnpg",
    paper="Zhou, Sekhari, Song & Sun (ICLR 2024)",
    theorem="Thm 1 (HAC) / Fig. 2 (online samples vs horizon)",
    statement="offline data lower the online samples needed to open the lock (one-sided, 1%)",
    algorithm="natural_policy_gradient",
    caption=(
        "Tabular combination lock (10 actions): online samples until the policy succeeds "
        "(rho^T V >= 0.5 rho^T V*) for hybrid NPG with and without epsilon-greedy offline data "
        "(median and range over seeds; markers at the cap are censored)."
    ),
)

ALPHA = 0.01
STEPS_PER_ITERATION = 1000
N_OFFLINE = 5000


def _grid(horizons: range, reps: int, cap: int) -> list[dict[str, Any]]:
    return [
        {"horizon": h, "replicate": r, "max_samples": cap} for h in horizons for r in range(reps)
    ]


GRID = _grid(range(2, 8), 10, 10_000_000)
QUICK_GRID = _grid(range(2, 6), 4, 1_000_000)


def compute(config: dict[str, Any]) -> list[dict[str, Any]]:
    """One lock, hybrid NPG with and without offline data (same online seed)."""
    seed = seed_of(config)
    H = int(config["horizon"])
    mdp = combination_lock(H, 10, gamma=0.99, seed=sub_seed(seed, 0))
    pi_star = np.asarray(dp.policy_iteration(mdp).policy)
    data = npg.epsilon_greedy_offline_data(
        mdp, pi_star, n_samples=N_OFFLINE, epsilon=1.0 / H, episode_length=H, seed=sub_seed(seed, 1)
    )
    rows = []
    for name, offline in (("online only", None), ("hybrid (offline data)", data)):
        res = npg.hybrid_npg(
            mdp,
            eta=1.0,
            episode_length=H,
            episodes_per_iteration=max(1, STEPS_PER_ITERATION // H),
            max_samples=int(config["max_samples"]),
            offline=offline,
            seed=sub_seed(seed, 2),
        )
        rows.append(
            {
                "variant": name,
                "horizon": H,
                "online_samples": int(res.params["online_samples"]),
                "success": res.converged,
                "cap": int(config["max_samples"]),
            }
        )
    return rows


def check(frame: pd.DataFrame) -> list[Verdict]:
    """Paired one-sided sign test: hybrid needs fewer online samples."""
    wide = frame.pivot_table(index=["spawn_key"], columns="variant", values="online_samples")
    on, hy = wide["online only"].to_numpy(), wide["hybrid (offline data)"].to_numpy()
    wins, losses = int((hy < on).sum()), int((hy > on).sum())
    n = wins + losses
    p = float(stats.binomtest(wins, n, 0.5, alternative="greater").pvalue) if n else 1.0
    growth = {}
    for name, sub in frame.groupby("variant"):
        med = sub.groupby("horizon")["online_samples"].median()
        growth[name] = fit_rate(med.index.to_numpy(dtype=float), med.to_numpy(dtype=float)).rate
    fails = frame[~frame["success"]].groupby("variant").size().to_dict()
    return [
        Verdict(
            claim_id=CLAIM.id,
            paper=CLAIM.paper,
            theorem=CLAIM.theorem,
            stated=CLAIM.statement,
            measured=f"hybrid needs fewer online samples in {wins}/{n} untied pairs, one-sided "
            f"sign-test p = {p:.2g} (<= {ALPHA:g} holds)",
            holds=p <= ALPHA,
            detail=f"{len(wide)} paired runs ({len(wide) - n} ties); growth factor per unit H of "
            f"the median online samples: "
            + ", ".join(f"{k} {v:.3g}" for k, v in growth.items())
            + f"; censored (cap) runs: {fails or 'none'}",
            metrics={
                "p_value": p,
                "wins": wins,
                "n_pairs": n,
                **{f"growth_{k}": v for k, v in growth.items()},
            },
        )
    ]


def plot(frame: pd.DataFrame) -> Any:
    """Online samples to success against H, with and without offline data."""
    import matplotlib.pyplot as plt

    colors = {
        "online only": plotting.color("policy_gradient"),
        "hybrid (offline data)": plotting.color("natural_policy_gradient"),
    }
    with plotting.paper_style():
        fig, ax = plt.subplots(figsize=(3.6, 2.7))
        for name, sub in frame.groupby("variant", sort=False):
            g = sub.groupby("horizon")["online_samples"]
            h = g.median().index.to_numpy()
            label = f"{name} (median, range; n={g.size().max()})"
            ax.plot(h, g.median(), marker="o", color=colors[name], label=label)
            ax.fill_between(
                h, g.min(), g.max(), color=colors[name], alpha=0.2, linewidth=0, label=label
            )
        cap = frame["cap"].max()
        plotting.reference_line(
            ax, sorted(frame["horizon"].unique()), [cap] * frame["horizon"].nunique(), "sample cap"
        )
        ax.set_yscale("log")
        ax.set_xlabel("horizon $H$")
        ax.set_ylabel("online samples to succeed")
        plotting.legend(ax, ax, loc="upper left", fontsize=6)
    return fig
