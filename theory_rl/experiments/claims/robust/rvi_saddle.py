r"""Claim ``rvi_saddle``: robust VI's value is the minimum over static kernels (saddle point),
equals an LP-per-row solution, reduces to VI at radius 0 and is nonincreasing in the radius.

**Statements.**

* Saddle point for sa-rectangular sets (Wiesemann, Kuhn & Rustem 2013, eq. (4) / Prop. 9;
  quoted by IWOCS, App. B): :math:`\max_\pi\min_{P\in U} V^\pi_P = \min_{P\in U}\max_\pi
  V^\pi_P`.  For a finite set read as its rectangular hull the right side is a minimum over
  :math:`m^{SA}` static kernels, computed by brute force (policy iteration on each); and the
  worst kernel returned by robust VI attains it (its optimal value is the robust value).
* Inner problems solved exactly: robust VI with the sort-based L1 oracle equals robust VI whose
  inner problems are scipy ``linprog`` (HiGHS) calls, one per (s, a) and sweep.
* Radius 0: :math:`U_{sa} = \{\bar p_{sa}\}`, so robust VI is VI (L1, KL, chi-square balls, the
  s-rectangular L1 set).
* Monotone in the radius: :math:`U(\kappa) \subseteq U(\kappa')` for :math:`\kappa\le\kappa'`,
  so :math:`V^*_{U(\kappa')} \le V^*_{U(\kappa)}` statewise.

**Tolerances.**  1e-9 (absolute; values of order 1-10) for the brute force and radius-0
comparisons: both sides are solved to 1e-11 and carry the round-off floor
(:func:`~theory_rl.bounds.mdp_constants.value_error_floor`, about 1e-12 here).  1e-8 for the LP
comparison: HiGHS's primal feasibility tolerance is 1e-7 relative on each row; the measured
difference is reported.

References:
    W. Wiesemann, D. Kuhn, B. Rustem. Robust Markov decision processes. Math. Oper. Res.
    38(1):153-183, 2013.
    G. Iyengar. Robust dynamic programming. Math. Oper. Res. 30(2), 2005.
    A. Zouitine, M. Geist, E. Rachelson. arXiv:2410.06212, 2024 (App. B).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from theory_rl.algorithms import dp, robust
from theory_rl.bounds.rates import Verdict
from theory_rl.experiments.base import Claim, product_grid, seed_of, sub_seed
from theory_rl.experiments.claims.robust._common import (
    brute_force_finite,
    lp_robust_vi,
    make_set,
    optimal_values,
    quiet,
)
from theory_rl.mdps import TabularMDP, garnet
from theory_rl.mdps.robust import KernelSet

CLAIM = Claim(
    id="rvi_saddle",
    paper="Wiesemann, Kuhn & Rustem (2013)",
    theorem="eq. (4) / Prop. 9 (saddle point, sa-rectangular)",
    statement="max_pi min_P V = min_P max_pi V; RVI = LP per row; RVI(0) = VI; monotone in radius",
    algorithm="robust_value_iteration",
    caption=(
        "Robust value at s = 0 against the radius for the L1, KL, chi-square and s-rectangular "
        "sets (nonincreasing, equal to VI at 0)."
    ),
)

RADII = (0.0, 0.05, 0.2, 0.5, 1.0, 2.0)
BALLS = ("l1", "kl", "chi2", "srect_l1")
GRID = (
    product_grid(check=["saddle"], n_states=[3], replicate=range(6))
    + product_grid(check=["lp"], n_states=[5], replicate=range(3))
    + product_grid(check=["radius"], n_states=[20], replicate=range(3))
)
QUICK_GRID = (
    product_grid(check=["saddle"], n_states=[3], replicate=range(2))
    + product_grid(check=["lp"], n_states=[4], replicate=[0])
    + product_grid(check=["radius"], n_states=[10], replicate=[0])
)
ATOL = 1e-9
LP_ATOL = 1e-8


def compute(config: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per compared quantity (``what``, ``measured``, ``reference``)."""
    seed = seed_of(config)
    S = int(config["n_states"])
    rng = np.random.default_rng(sub_seed(seed, 0))
    if config["check"] == "saddle":
        K = rng.dirichlet(np.ones(S), size=(2, S, 2))
        mdp = TabularMDP(K[0], rng.uniform(size=(S, 2)), 0.8)
        ks = KernelSet(list(K))
        res = quiet(robust.robust_value_iteration, mdp, ks, tol=1e-11)
        brute = brute_force_finite(mdp, ks)
        attained = optimal_values(mdp, res.params["worst_kernel"])
        return [
            {
                "what": "saddle",
                "s": s,
                "measured": float(res.values[s]),
                "reference": float(brute[s]),
                "attained": float(attained[s]),
            }
            for s in range(S)
        ]
    if config["check"] == "lp":
        mdp = garnet(S, 2, 3, gamma=0.7, seed=sub_seed(seed, 1), sparse=False)
        res = quiet(robust.robust_value_iteration, mdp, make_set("l1", mdp, None, 0.4), tol=1e-11)
        ref = lp_robust_vi(mdp, 0.4, 1e-11)
        return [
            {"what": "lp", "s": s, "measured": float(res.values[s]), "reference": float(ref[s])}
            for s in range(S)
        ]
    mdp = garnet(S, 3, 4, gamma=0.9, seed=sub_seed(seed, 2))
    vi = quiet(dp.value_iteration, mdp, tol=1e-11).values
    rows = []
    for name in BALLS:
        for radius in RADII:
            v = quiet(
                robust.robust_value_iteration, mdp, make_set(name, mdp, None, radius), tol=1e-11
            ).values
            rows += [
                {
                    "what": "radius",
                    "uncertainty": name,
                    "radius": radius,
                    "s": s,
                    "measured": float(v[s]),
                    "reference": float(vi[s]),
                }
                for s in range(S)
            ]
    return rows


def check(frame: pd.DataFrame) -> list[Verdict]:
    """Up to four verdicts (those whose rows are in ``frame``): saddle point (brute force), LP
    per row, radius 0, monotonicity."""
    out = []
    sad = frame[frame["what"] == "saddle"]
    if len(sad):
        err = float((sad["measured"] - sad["reference"]).abs().max())
        att = float((sad["attained"] - sad["measured"]).abs().max())
        out.append(
            Verdict(
                claim_id=CLAIM.id,
                paper=CLAIM.paper,
                theorem=CLAIM.theorem,
                stated="V*_robust = min over the m^(SA) static kernels of V*_P, attained",
                measured=(
                    f"max |RVI - brute force| = {err:.2e}, max |V*_(worst kernel) - RVI| = "
                    f"{att:.2e} over {sad['spawn_key'].nunique()} instances (tolerance {ATOL:g})"
                ),
                holds=err <= ATOL and att <= ATOL,
                detail="finite sets of 2 kernels, S = 3, A = 2 (64 static kernels each)",
                metrics={"max_error": err, "max_attained_error": att},
            )
        )
    lp = frame[frame["what"] == "lp"]
    if len(lp):
        err = float((lp["measured"] - lp["reference"]).abs().max())
        out.append(
            Verdict(
                claim_id=CLAIM.id,
                paper="Iyengar (2005); Nilim & El Ghaoui (2005)",
                theorem="robust DP with exact inner problems",
                stated="robust VI (sort-based L1 oracle) = robust VI with scipy linprog per (s, a)",
                measured=f"max |difference| = {err:.2e} over {lp['spawn_key'].nunique()} garnets "
                f"(tolerance {LP_ATOL:g})",
                holds=err <= LP_ATOL,
                detail="L1 ball kappa = 0.4, nominal support, gamma = 0.7",
                metrics={"max_error": err},
            )
        )
    rad = frame[frame["what"] == "radius"]
    if len(rad):
        zero = rad[rad["radius"] == 0.0]
        err = float((zero["measured"] - zero["reference"]).abs().max())
        out.append(
            Verdict(
                claim_id=CLAIM.id,
                paper="Iyengar (2005)",
                theorem="radius 0 limit",
                stated="robust VI at radius 0 equals value iteration (L1, KL, chi2, s-rect L1)",
                measured=f"max |RVI(0) - VI| = {err:.2e} (tolerance {ATOL:g})",
                holds=err <= ATOL,
                metrics={"max_error": err},
            )
        )
        worst = 0.0
        for _, grp in rad.groupby(["spawn_key", "uncertainty", "s"], sort=False):
            v = grp.sort_values("radius")["measured"].to_numpy()
            worst = max(worst, float(np.max(np.diff(v))) if v.size > 1 else 0.0)
        out.append(
            Verdict(
                claim_id=CLAIM.id,
                paper="Iyengar (2005)",
                theorem="monotone in the radius",
                stated="V*_U(kappa) nonincreasing in kappa, statewise",
                measured=f"largest increase between radii {worst:.2e} (tolerance {ATOL:g})",
                holds=worst <= ATOL,
                detail=f"radii {RADII}",
                metrics={"max_increase": worst},
            )
        )
    return out


def plot(frame: pd.DataFrame) -> Any:
    """Robust value at state 0 against the radius, one line per set, VI dashed."""
    import matplotlib.pyplot as plt

    from theory_rl.experiments import plotting

    rad = frame[(frame["what"] == "radius") & (frame["s"] == 0)]
    first = rad["spawn_key"].iloc[0]
    rad = rad[rad["spawn_key"] == first]
    cmap = plt.get_cmap("tab10")
    with plotting.paper_style():
        fig, ax = plt.subplots(figsize=(3.4, 2.6))
        for i, (name, grp) in enumerate(rad.groupby("uncertainty", sort=True)):
            grp = grp.sort_values("radius")
            ax.plot(grp["radius"], grp["measured"], marker="o", ms=3, color=cmap(i), label=name)
        ax.axhline(
            float(rad["reference"].iloc[0]),
            color=plotting.REFERENCE_COLOR,
            ls="--",
            label="value iteration (radius 0)",
        )
        ax.set_xlabel("radius (kappa, delta, rho)")
        ax.set_ylabel(r"robust $V^*(s_0)$")
        plotting.legend(fig, ax, fontsize=6)
    return fig
