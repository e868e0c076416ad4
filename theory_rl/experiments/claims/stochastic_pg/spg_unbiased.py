r"""Claim ``spg_unbiased``: the GPOMDP gradient and the one-trajectory HVP are unbiased.

**Statement** (Fatkhullin et al. 2023, §2 [T]; GPOMDP: Baxter & Bartlett 2001).  For the
truncated objective :math:`J_H`, :math:`\mathbb E\,g(\tau,\theta) = \nabla J_H(\theta)` and
:math:`\mathbb E\,B(\tau,\theta)v = \nabla^2J_H(\theta)v`, with
:math:`B v = \nabla\Phi\langle\nabla\log p(\tau), v\rangle + \nabla^2\Phi v` computed
matrix-free (:func:`~theory_rl.algorithms.stochastic_pg.gpomdp_gradient`,
:func:`~theory_rl.algorithms.stochastic_pg.hessian_vector_product`).

**Ground truth from outside the estimators.**  :math:`\nabla J_H` by the policy gradient
theorem with truncated action values, and :math:`\nabla^2J_H` by the forward moment recursion
(:func:`~theory_rl.algorithms.stochastic_pg.truncated_hessian`); the unit tests check both
against central finite differences of the exact :math:`J_H` (agreement to 1e-8).

**Test.**  Three problems -- tabular softmax on a garnet (``S = 4, A = 3``,
:math:`\gamma = 0.9`, ``H = 20``), log-linear on a random linear MDP (``S = 5, A = 3,
d = 4``, :math:`\gamma = 0.8`, ``H = 20``) and the Gaussian bandit -- at a random
:math:`\theta` and direction ``v``; ``n`` = 10^5 trajectories (quick) or 10^6 (full) per
estimator, fixed seeds.  Every coordinate of the sample mean must lie within 4 standard errors
of the exact value.  Under unbiasedness each coordinate fails with probability
:math:`P(|Z|>4) = 6.3\cdot10^{-5}` (normal approximation; the estimates are bounded for the
MDPs), so the familywise false-alarm rate over the ``m`` coordinates is at most ``m`` times
that (reported).  A dropped discount in the reward-to-go moves the mean by many standard
errors (test ``tests/test_claims_stochastic_pg.py``).

References:
    I. Fatkhullin, A. Barakat, A. Kireeva, N. He. Stochastic policy gradient methods: improved
    sample complexity for Fisher-non-degenerate policies. ICML 2023, arXiv:2302.01734.
    J. Baxter, P. Bartlett. Infinite-horizon policy-gradient estimation. JAIR 15, 2001.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from theory_rl.algorithms import stochastic_pg
from theory_rl.bounds.rates import Verdict
from theory_rl.experiments import plotting
from theory_rl.experiments.base import Claim, product_grid, seed_of, sub_seed
from theory_rl.experiments.claims.stochastic_pg._common import bandit
from theory_rl.mdps import garnet, random_linear_mdp

CLAIM = Claim(
    id="spg_unbiased",
    paper="Fatkhullin, Barakat, Kireeva & He (ICML 2023)",
    theorem="GPOMDP and Hessian estimators: E g = grad J_H, E B v = Hess J_H v",
    statement="every coordinate of the sample mean within 4 standard errors of the exact value",
    algorithm="stochastic_policy_gradient",
    caption="Standardised errors (mean - exact)/s.e. of every coordinate of the GPOMDP gradient "
    "and of the one-trajectory Hessian-vector product, on a tabular softmax, a log-linear and a "
    "Gaussian-bandit problem; the band |z| <= 4 is the test.",
)

Z_MAX = 4.0
HORIZON = 20
PROBLEMS = ("tabular", "linear", "bandit")
GRID = product_grid(problem=list(PROBLEMS), estimator=["gradient", "hvp"], n=[1_000_000])
QUICK_GRID = product_grid(problem=list(PROBLEMS), estimator=["gradient", "hvp"], n=[100_000])


def problem(name: str) -> Any:
    """The three test problems of the module docstring."""
    if name == "tabular":
        return garnet(4, 3, 2, gamma=0.9, seed=1, sparse=False)
    if name == "linear":
        return random_linear_mdp(5, 3, 4, gamma=0.8, seed=2)
    return bandit(0)


def compute(config: dict[str, Any]) -> list[dict[str, Any]]:
    prob = problem(config["problem"])
    seed = seed_of(config)
    d = stochastic_pg._model(prob).d
    rng = np.random.default_rng(7)  # theta and v are fixed; the seed drives the trajectories
    theta, v = rng.normal(size=d), rng.normal(size=d)
    n = int(config["n"])
    if config["estimator"] == "gradient":
        samples = stochastic_pg.gpomdp_gradient(
            prob, theta, horizon=HORIZON, n_trajectories=n, seed=sub_seed(seed, 0)
        )
        exact = stochastic_pg.truncated_gradient(prob, theta, horizon=HORIZON)
    else:
        samples = stochastic_pg.hessian_vector_product(
            prob, theta, v, horizon=HORIZON, n_trajectories=n, seed=sub_seed(seed, 1)
        )
        exact = stochastic_pg.truncated_hessian(prob, theta, horizon=HORIZON) @ v
    mean, se = samples.mean(0), samples.std(0, ddof=1) / np.sqrt(n)
    return [
        {"coordinate": i, "mean": float(mean[i]), "se": float(se[i]), "exact": float(exact[i]),
         "z": float((mean[i] - exact[i]) / se[i]) if se[i] > 0 else 0.0}
        for i in range(d)
    ]  # fmt: skip


def check(frame: pd.DataFrame) -> list[Verdict]:
    z = frame["z"].abs()
    worst = frame.loc[z.idxmax()]
    bad = frame[z > Z_MAX]
    m = len(frame)
    alpha = float(2 * stats.norm.sf(Z_MAX))
    return [
        Verdict(
            claim_id=CLAIM.id,
            paper=CLAIM.paper,
            theorem=CLAIM.theorem,
            stated=CLAIM.statement,
            measured=f"largest |z| = {z.max():.3g} ({worst['problem']}, {worst['estimator']}, "
            f"coordinate {int(worst['coordinate'])}) over {m} coordinates; {len(bad)} beyond "
            f"{Z_MAX:g}",
            holds=len(bad) == 0 and m > 0,
            detail=f"n = {sorted(frame['n'].unique())} trajectories per estimator, H = "
            f"{HORIZON}; per-coordinate false alarm {alpha:.2g}, familywise <= {m * alpha:.2g} "
            "(Bonferroni, normal approximation); exact values from the policy gradient theorem "
            "(gradient) and the forward moment recursion (Hessian)"
            + (
                "; FAILURES: "
                + " | ".join(
                    f"{r.problem} {r.estimator} [{r.coordinate}] z={r.z:.3g}"
                    for r in bad.head(5).itertuples()
                )
                if len(bad)
                else ""
            ),
            metrics={"max_abs_z": float(z.max()), "n_coordinates": m, "familywise": m * alpha},
        )
    ]


def plot(frame: pd.DataFrame) -> Any:
    import matplotlib.pyplot as plt

    with plotting.paper_style():
        fig, ax = plt.subplots(figsize=(4.2, 2.6))
        colors = {"gradient": "#0072B2", "hvp": "#D55E00"}
        offsets = {name: i for i, name in enumerate(PROBLEMS)}
        for est, sub in frame.groupby("estimator", sort=False):
            x = sub["problem"].map(offsets) + (0.15 if est == "hvp" else -0.15)
            x = x + 0.02 * sub["coordinate"] / max(1, sub["coordinate"].max())
            ax.scatter(x, sub["z"], s=8, color=colors[est], label=f"{est} (one dot per coordinate)")
        ax.axhline(Z_MAX, color=plotting.REFERENCE_COLOR, linestyle="--", label="|z| = 4 (test)")
        ax.axhline(-Z_MAX, color=plotting.REFERENCE_COLOR, linestyle="--", label="|z| = 4 (test)")
        ax.set_xticks(range(len(PROBLEMS)), PROBLEMS)
        ax.set_ylabel("(mean - exact) / s.e.")
        ax.set_ylim(-6, 6)
        plotting.legend(ax, ax, loc="lower right", fontsize=6)
    return fig
