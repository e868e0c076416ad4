r"""Claim ``soft_r2``: R2 MDPs, regularised values equal robust values (Derman, Geist &
Mannor, NeurIPS 2021).

**Statement** [S: the notes; D: derived per row by Hölder].  For sa-rectangular balls
:math:`|r - r_0| \le \alpha_{sa}`, :math:`\|P - P_0\|_p \le \beta_{sa}` (no simplex constraint)
the robust operator is the regularised one,
:math:`T^\pi_U v = T^\pi_0 v - \sum_a\pi(a|s)(\alpha_{sa} + \gamma\beta_{sa}\|v\|_q)`, so the
robust value of every policy and the optimal robust value are the fixed points of the
regularised operators.

**Measurement.**  :func:`~theory_rl.algorithms.rrmdp.r2_value_iteration` (the regulariser,
closed form) gives :math:`V_{reg}`; the robust operator is computed **independently** by an
inner solve per ``(s, a)`` (:func:`~theory_rl.algorithms.rrmdp.r2_robust_bellman_operator`:
HiGHS LPs for ``p`` in {1, inf}, cvxpy for ``p = 2``).  Since the robust operator is an
``L``-contraction (:func:`theory_rl.bounds.derman2021.r2_modulus`),
:math:`\|V_{reg} - V_U\|_\infty \le \|T_UV_{reg} - V_{reg}\|_\infty/(1 - L)` certifies the
equality.  Stated: the certificate is ``<= 1e-10`` for the LPs (vertex solutions, exact up to
round-off) and ``<= 1e-6`` for the conic solve (cvxpy's default solver tolerances are about
``1e-8`` on the objective; ``1/(1 - L) <= 20`` here).  Random MDPs (S = 6, A = 3,
gamma = 0.9), random ``alpha_sa`` in [0, 0.2], ``beta_sa`` in [0, beta_max] with ``L < 0.95``;
optimal values and a randomising policy's values.

References:
    E. Derman, M. Geist, S. Mannor. Twice regularized MDPs and the equivalence between
    robustness and regularization. NeurIPS 2021, arXiv:2110.06267.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from theory_rl.algorithms import rrmdp
from theory_rl.bounds.derman2021 import r2_fixed_point_error
from theory_rl.bounds.rates import Verdict
from theory_rl.experiments import plotting
from theory_rl.experiments.base import Claim, product_grid, seed_of, sub_seed
from theory_rl.experiments.claims.soft_robust._common import instance, random_policy
from theory_rl.mdps.soft_robust import R2Ball

CLAIM = Claim(
    id="soft_r2",
    paper="Derman, Geist & Mannor (NeurIPS 2021)",
    theorem="R2 MDPs: robust = regularised (sa-rectangular balls)",
    statement="T^pi_U v = T^pi_0 v - sum_a pi(a|s)(alpha_sa + gamma beta_sa ||v||_q)",
    algorithm="robust_value_iteration",
    caption=(
        "Certified distance ||T_U V_reg - V_reg|| / (1 - L) between the regularised fixed point "
        "and the robust value (robust operator by inner LP / convex solves), per norm p, for "
        "optimal values and a randomising policy, with the stated tolerances (dashed)."
    ),
)

TOL = {"lp": 1e-10, "conic": 1e-6}
# largest beta per p keeping L = gamma (1 + beta S^(1/q)) <= 0.95 for S = 6, gamma = 0.9
BETA_MAX = {1.0: 0.05, 2.0: 0.05 / math.sqrt(6), math.inf: 0.05 / 6}

GRID = product_grid(replicate=(0, 1, 2), p=(1.0, 2.0, math.inf))
QUICK_GRID = product_grid(replicate=(0,), p=(1.0, 2.0, math.inf))


def compute(config: dict[str, Any]) -> list[dict[str, Any]]:
    seed = seed_of(config)
    mdp = instance(
        {"instance": "random", "n_states": 6, "n_actions": 3, "gamma": 0.9}, sub_seed(seed, 0)
    )
    rng = np.random.default_rng(sub_seed(seed, 1))
    p = float(config["p"])
    S, A = mdp.n_states, mdp.n_actions
    ball = R2Ball(alpha=rng.uniform(0, 0.2, (S, A)), beta=rng.uniform(0, BETA_MAX[p], (S, A)), p=p)
    L = rrmdp.r2_contraction_modulus(mdp, ball)
    pi = random_policy(mdp, rng)
    rows = []
    for what, policy in (("optimal", None), ("policy", pi)):
        reg = rrmdp.r2_value_iteration(mdp, ball, policy=policy)
        v = np.asarray(reg.values)
        robust = rrmdp.r2_robust_bellman_operator(mdp, ball, v, policy=policy)
        residual = float(np.abs(robust - v).max())
        rows.append(
            {
                "p": p,
                "what": what,
                "solver": "lp" if p in (1.0, math.inf) else "conic",
                "modulus": L,
                "residual": residual,
                "certificate": r2_fixed_point_error(residual, L),
                "regulariser": float(
                    np.abs(
                        v
                        - np.asarray(rrmdp.r2_value_iteration(mdp, R2Ball(), policy=policy).values)
                    ).max()
                ),
            }
        )
    return rows


def check(frame: pd.DataFrame) -> list[Verdict]:
    out = []
    for solver, sub in frame.groupby("solver", sort=False):
        worst = float(sub["certificate"].max())
        out.append(
            Verdict(
                claim_id=CLAIM.id,
                paper=CLAIM.paper,
                theorem=CLAIM.theorem + f" ({solver} inner solve)",
                stated=f"||V_reg - V_U|| <= ||T_U V_reg - V_reg|| / (1 - L) <= {TOL[solver]:g}",
                measured=f"worst certificate {worst:.3g} over {len(sub)} (instance, p, optimal/"
                f"policy); regulariser moves the values by >= "
                f"{float(sub['regulariser'].min()):.3g}",
                holds=worst <= TOL[solver] and float(sub["regulariser"].min()) > 1e3 * worst,
                detail=f"p in {sorted(sub['p'].unique().tolist())}; L <= "
                f"{float(sub['modulus'].max()):.3g}; the robust operator by "
                + ("HiGHS LPs" if solver == "lp" else "cvxpy"),
                metrics={"worst_certificate": worst},
            )
        )
    return out


def plot(frame: pd.DataFrame) -> Any:
    import matplotlib.pyplot as plt

    markers = {"optimal": "o", "policy": "s"}
    with plotting.paper_style():
        fig, ax = plt.subplots(figsize=(4.0, 2.6))
        labels = {1.0: "1", 2.0: "2", math.inf: "inf"}
        for what, sub in frame.groupby("what", sort=False):
            x = [list(labels).index(p) for p in sub["p"]]
            ax.scatter(
                x,
                np.maximum(sub["certificate"], 1e-17),
                marker=markers[what],
                s=16,
                color=plotting.color(CLAIM.algorithm),
                label=what,
            )
        for solver, tol in TOL.items():
            plotting.reference_line(ax, [-0.3, 2.3], [tol, tol], f"tolerance ({solver})")
        ax.set_xticks(range(3), [f"p = {v}" for v in labels.values()])
        ax.set_yscale("log")
        ax.set_ylabel("||T_U V_reg - V_reg|| / (1 - L)")
        plotting.note(ax, "values below 1e-17 drawn at 1e-17", loc="lower right")
        plotting.legend(ax, ax, loc="center left", fontsize=6)
    return fig
