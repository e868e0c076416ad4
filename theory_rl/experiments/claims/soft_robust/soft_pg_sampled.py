r"""Claim ``soft_pg_sampled``: the sampled soft-robust policy gradient is unbiased when
the trajectories come from the adversarial kernel, and biased when they come from the nominal
one (Zhang, Hu & Li, ICLR 2024, Remark 4).

**Statement** (Remark 4 [P: reviews]).  Estimating :math:`\nabla V^\pi(\rho)` needs samples of the
adversarial kernel :math:`P^\pi` (:math:`\bar P e^{-V^\pi/\lambda}` normalised for KL), not of the
nominal :math:`\bar P`.

**Measurement.**  The estimator of :func:`~theory_rl.algorithms.rrmdp.soft_robust_policy_gradient`
(``gradient="sampled"``): ``s`` from :math:`d^\pi_{\rho,P^\pi}` by a geometric stopping time,
``a`` uniform, :math:`\hat Q(s, a)` the undiscounted sum of the adversary's rewards
:math:`r + \gamma\,\mathrm{pen}` up to an independent geometric time,
:math:`\hat g(s, a) = |A|\hat Q/(1-\gamma)`.  ``R = 30`` independent batches of ``n = 4000``
trajectories give a mean and a standard error per entry; the statistic is the largest
:math:`|\bar g - g|/\mathrm{se}` over the ``S A`` entries, compared with the two-sided normal
critical value at family-wise level ``1e-3`` (Bonferroni over the entries).  Verdict 1: the
adversarial-kernel estimator stays below it (a false alarm has probability ``<= 1e-3`` up to the
normal approximation of a mean of 30 batch means).  Verdict 2: the same estimator fed the nominal
kernel (and no penalty rewards) exceeds it: the bias Remark 4 warns about is detected.
Instance: a random MDP (S = 5, A = 3, gamma = 0.8), KL penalty ``lam = 0.3``, a randomising
policy.

References:
    R. Zhang, Y. Hu, N. Li. Soft robust MDPs and risk-sensitive MDPs: equivalence, policy
    gradient, and sample complexity. ICLR 2024, arXiv:2306.11626.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from theory_rl.algorithms import rrmdp
from theory_rl.bounds.rates import Verdict
from theory_rl.experiments import plotting
from theory_rl.experiments.base import Claim, seed_of, sub_seed
from theory_rl.experiments.claims.soft_robust._common import instance, random_policy
from theory_rl.mdps.robust import KLPenalty

CLAIM = Claim(
    id="soft_pg_sampled",
    paper="Zhang, Hu & Li (ICLR 2024)",
    theorem="Remark 4 (sampling the adversarial kernel)",
    statement="E[g_hat] = grad V(rho) with trajectories of P^pi; biased with those of P_bar",
    algorithm="stochastic_policy_gradient",
    caption=(
        "Sampled soft-robust policy gradient (30 batches of 4000 trajectories): per entry, the "
        "standardised error |mean - exact| / se for trajectories of the adversarial and of the "
        "nominal kernel, with the family-wise 1e-3 critical value (dashed)."
    ),
)

BATCHES, N = 30, 4000
LEVEL = 1e-3
INSTANCE = {"instance": "random", "n_states": 5, "n_actions": 3, "gamma": 0.8}
GRID = [{"replicate": r} for r in range(3)]
QUICK_GRID = [{"replicate": 0}]


def compute(config: dict[str, Any]) -> list[dict[str, Any]]:
    seed = seed_of(config)
    mdp = instance(INSTANCE, sub_seed(seed, 0))
    pen = KLPenalty(0.3)
    pi = random_policy(mdp, np.random.default_rng(sub_seed(seed, 1)))
    g = rrmdp.soft_robust_pg_gradient(mdp, pen, pi)
    batch = rrmdp._Batch([mdp], [pen], None)
    ev = batch.evaluate(pi[None], np.zeros((1, mdp.n_states)))
    nominal = dict(ev, worst=batch.P2.copy(), pen=np.zeros_like(ev["pen"]))
    rows = []
    for kernel, state in (("adversarial", ev), ("nominal", nominal)):
        rng = np.random.default_rng(sub_seed(seed, 2 if kernel == "adversarial" else 3))
        reps = np.stack(
            [rrmdp._sampled_gradient(batch, pi[None], state, N, rng)[0][0] for _ in range(BATCHES)]
        )
        se = reps.std(axis=0, ddof=1) / np.sqrt(BATCHES)
        z = np.abs(reps.mean(axis=0) - g) / se
        for i, zi in enumerate(z.ravel()):
            rows.append({"kernel": kernel, "entry": i, "z": float(zi), "n_entries": g.size})
    return rows


def critical(n_entries: int) -> float:
    """Two-sided normal critical value at family-wise level LEVEL (Bonferroni)."""
    return float(stats.norm.ppf(1.0 - LEVEL / (2 * n_entries)))


def check(frame: pd.DataFrame) -> list[Verdict]:
    crit = critical(int(frame["n_entries"].iloc[0]))
    per_run = frame.groupby(["spawn_key", "kernel"])["z"].max().unstack()
    adv, nom = per_run["adversarial"], per_run["nominal"]
    return [
        Verdict(
            claim_id=CLAIM.id,
            paper=CLAIM.paper,
            theorem="Remark 4: unbiased with the adversarial kernel",
            stated=f"max_entries |mean - exact| / se < {crit:.3f} (family-wise level {LEVEL:g})",
            measured=f"largest statistic {float(adv.max()):.3f} over {len(adv)} runs",
            holds=bool((adv < crit).all()),
            detail=f"{BATCHES} batches of {N} trajectories per run",
            metrics={"max_z": float(adv.max())},
        ),
        Verdict(
            claim_id=CLAIM.id,
            paper=CLAIM.paper,
            theorem="Remark 4: nominal samples are biased",
            stated=f"the nominal-kernel estimator exceeds {crit:.3f}",
            measured=f"smallest statistic {float(nom.min()):.3g} over {len(nom)} runs",
            holds=bool((nom > crit).all()),
            detail="same estimator, trajectories of the nominal kernel, no penalty rewards",
            metrics={"min_z": float(nom.min())},
        ),
    ]


def plot(frame: pd.DataFrame) -> Any:
    import matplotlib.pyplot as plt

    colors = {"adversarial": plotting.color(CLAIM.algorithm), "nominal": "#D55E00"}
    with plotting.paper_style():
        fig, ax = plt.subplots(figsize=(4.2, 2.6))
        for kernel, sub in frame.groupby("kernel", sort=False):
            ax.scatter(
                sub["entry"],
                sub["z"],
                s=10,
                color=colors[kernel],
                label=f"trajectories of the {kernel} kernel",
            )
        crit = critical(int(frame["n_entries"].iloc[0]))
        plotting.reference_line(
            ax, [0, frame["entry"].max()], [crit, crit], f"critical value (level {LEVEL:g})"
        )
        ax.set_yscale("log")
        ax.set_xlabel("entry (s, a)")
        ax.set_ylabel("|mean - exact| / se")
        plotting.legend(ax, ax, loc="center right", fontsize=6)
    return fig
