r"""Claim ``pg_mei_bandit``: softmax PG on a bandit, Mei et al. Figure 1 and the O(1/t) rate.

**Statement** (Mei, Xiao, Szepesvári & Schuurmans, ICML 2020).  Exact softmax PG on a
``K``-armed bandit with rewards in ``[0, 1]`` and :math:`\eta = 2/5`:

* :math:`(\pi^*-\pi_t)^\top r \le 5/(t\,c_t^2)`, :math:`c_t = \min_{1\le s\le t}\pi_s(a^*)`,
  with Mei's indexing (:math:`\pi_1` is the initial policy) -- their Thm 2 as restated by a
  secondary source [V2]; the recursion behind it is re-derived in
  :mod:`theory_rl.bounds.mei2020` from their smoothness constant and non-uniform Łojasiewicz
  inequality (both [V2]);
* the rate is :math:`\Theta(1/t)` (upper bound and matching :math:`\Omega(1/t)` lower bound,
  abstract [V]): the log-log slope of the gap on :math:`t \in [10^3, 10^4]` lies in
  :math:`[-1.2, -0.8]` for the uniform and the good initialisation.  The band is the one fixed
  in the project's theory notes (§7) before this run, not tuned here; it is not applied to the
  bad initialisation, whose plateau ends inside the window (slope about -2, reported).

**Tight instance and the constant of the rate** [D].  On ``r = e_1`` (``K = 10`` arms) from
:math:`\pi_1 = (0.99, 0.01/9, \dots)` the suboptimal arms stay equal, :math:`\pi_t(a^*)`
increases (so :math:`c_t = 0.99`) and the logit gap :math:`x = \theta_1 - \theta_j` grows by
:math:`\eta\pi_t(a^*)(\delta_t + \delta_t/(K-1))` per step, with
:math:`\delta_t = (K-1)e^{-x}/(1+(K-1)e^{-x})`.  To first order in :math:`\delta_t`,
:math:`1/\delta_{t+1} - 1/\delta_t = \eta K/(K-1)\,(1 + O(\delta_t))`: the gap is
:math:`\delta_t \approx (K-1)/(\eta K t)`, i.e. :math:`\eta\|\nabla\|^2` per step where the
bound's recursion uses :math:`\|\nabla\|^2/(2L) = \eta\|\nabla\|^2/2` and the
Łojasiewicz inequality is tight up to the factor :math:`1 + 1/(K-1)`.  So gap / bound tends to
:math:`(K-1)c^2/(2K) = 0.44`: the bound is within a factor 2.3 of the measurement there (a bound
with the constant 5 replaced by 0.5 fails by a factor 4), and no instance can bring the ratio
above about 1/2 (the descent lemma's factor 2).  Verdict 3 gates the constant two-sided: the
least-squares slope of :math:`1/\delta_t` against ``t`` on :math:`t \in [10^3, 10^4]` (where
:math:`\delta_t \le 2.5\cdot10^{-3}`) must lie within 2% of :math:`\eta K/(K-1)` (the
:math:`O(\delta_t)` correction is below 0.3%; the band allows about seven times that).  A PG
step doubled (or halved) moves the slope by a factor 2 and fails.

**Figure 1** (§2.3 of the notes, [V2]): ``r = (1, 0.9, 0.1)``, good init
:math:`\pi = (0.05, 0.01, 0.94)`, bad init :math:`(0.01, 0.05, 0.94)`; :math:`\pi_t(a^*)` and the
gap against iterations up to :math:`10^4`.  The bad init shows a long plateau near the
suboptimal arm 0.9.

**Measurement.**  :func:`theory_rl.algorithms.pg.softmax_policy_gradient` on
:func:`theory_rl.mdps.bandit` (``gamma = 0``), the three initialisations as one batch, and
the tight instance above (quick and full grid); the full grid adds random bandits (``K`` in
{2, 5, 10}, means uniform on [0, 1], uniform init) for the bound.  Tolerance of the bound
check: none needed beyond ``rtol = 1e-12`` (the gap is a difference of two numbers <= 1
computed in float64).

References:
    J. Mei, C. Xiao, C. Szepesvári, D. Schuurmans. On the global convergence rates of softmax
    policy gradient methods. ICML 2020, arXiv:2005.06392.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from theory_rl.algorithms import pg
from theory_rl.bounds.mei2020 import BANDIT_STEP, bandit_bound
from theory_rl.bounds.rates import Verdict, check_bound, fit_rate
from theory_rl.experiments import plotting
from theory_rl.experiments.base import Claim, seed_of, sub_seed
from theory_rl.mdps import generators

CLAIM = Claim(
    id="pg_mei_bandit",
    paper="Mei, Xiao, Szepesvári & Schuurmans (ICML 2020)",
    theorem="Thm 2 (bandit, eta = 2/5) and Fig. 1",
    statement="(pi* - pi_t)^T r <= 5/(t c_t^2); gap = Theta(1/t)",
    algorithm="policy_gradient",
    caption=(
        "Softmax PG on the 3-armed bandit r = (1, 0.9, 0.1), eta = 2/5 (Mei et al. Fig. 1): "
        "(a) pi_t(a*) and (b) the gap (pi* - pi_t)^T r for the uniform, good (0.05, 0.01, 0.94) "
        "and bad (0.01, 0.05, 0.94) initialisations, with a 1/t reference (dashed)."
    ),
)

MEANS = (1.0, 0.9, 0.1)
INITS = {"uniform": (1 / 3, 1 / 3, 1 / 3), "good": (0.05, 0.01, 0.94), "bad": (0.01, 0.05, 0.94)}
WINDOW = (1_000, 10_000)
SLOPE_BAND = (-1.2, -0.8)
TIGHT_ARMS, TIGHT_START = 10, 0.99
#: Relative band of the slope of 1/gap against t on the tight instance (module docstring).
CONSTANT_RTOL = 0.02

GRID = [
    {"bandit": "mei", "n_iterations": 10_000},
    {"bandit": "tight", "n_iterations": 10_000},
] + [
    {"bandit": "random", "n_arms": k, "replicate": r, "n_iterations": 10_000}
    for k in (2, 5, 10)
    for r in range(3)
]
QUICK_GRID = [
    {"bandit": "mei", "n_iterations": 10_000},
    {"bandit": "tight", "n_iterations": 10_000},
]


def compute(config: dict[str, Any]) -> list[dict[str, Any]]:
    """One bandit, its initialisations as one batch; a row per (init, t), thinned on a log grid."""
    if config["bandit"] == "mei":
        means, inits = np.array(MEANS), dict(INITS)
    elif config["bandit"] == "tight":
        means = np.eye(TIGHT_ARMS)[0]
        rest = (1.0 - TIGHT_START) / (TIGHT_ARMS - 1)
        inits = {"near-optimal": np.r_[TIGHT_START, np.full(TIGHT_ARMS - 1, rest)]}
    else:
        rng = np.random.default_rng(sub_seed(seed_of(config), 0))
        k = int(config["n_arms"])
        means, inits = rng.random(k), {"uniform": np.full(k, 1.0 / k)}
    mdp = generators.bandit(means)
    logits = np.log(np.array(list(inits.values())))[:, None, :]  # (B, 1, K)
    res = pg.softmax_policy_gradient(
        mdp,
        eta=BANDIT_STEP,
        n_iterations=int(config["n_iterations"]),
        initial_logits=logits,
        record=("gap", "prob_opt"),
    )
    gap, prob = res.history["gap"].T, res.history["prob_opt"].T  # (T+1, B)
    t = np.arange(1, gap.shape[0] + 1)  # Mei's indexing: iterate k is pi_{k+1}
    keep = np.unique(
        np.r_[np.arange(min(200, t.size)), np.geomspace(1, t.size, 400).astype(int) - 1]
    )
    rows = []
    for j, name in enumerate(inits):
        bound = bandit_bound(t, prob[:, j])
        for i in keep:
            rows.append(
                {
                    "init": name,
                    "t": int(t[i]),
                    "gap": float(gap[i, j]),
                    "prob_opt": float(prob[i, j]),
                    "bound": float(bound[i]),
                    "n_arms": int(means.size),
                    "bandit": config["bandit"],
                }
            )
    # bound over all iterates (not only the kept ones)
    worst = float(max((gap[:, j] / bandit_bound(t, prob[:, j])).max() for j in range(len(inits))))
    for row in rows:
        row["run_worst_ratio"] = worst
    return rows


def check(frame: pd.DataFrame) -> list[Verdict]:
    """The 5/(t c_t^2) bound at every iterate; the window slope for uniform and good inits."""
    bound = check_bound(frame["gap"], frame["bound"], rtol=1e-12)
    worst_all = float(frame["run_worst_ratio"].max())
    holds = bound.holds and worst_all <= 1.0 + 1e-12
    slopes, ok = {}, True
    mei = frame[frame["bandit"] == "mei"]
    for name, run in mei.groupby("init", sort=False):
        w = run[(run["t"] >= WINDOW[0]) & (run["t"] <= WINDOW[1])]
        slopes[name] = fit_rate(w["t"], w["gap"], kind="power").slope
        if name in ("uniform", "good"):
            ok &= SLOPE_BAND[0] <= slopes[name] <= SLOPE_BAND[1]
    text = ", ".join(f"{k} {v:.3f}" for k, v in slopes.items())
    tight = frame[frame["bandit"] == "tight"]
    tight_ratio = float((tight["gap"] / tight["bound"]).max()) if len(tight) else float("nan")
    return [
        Verdict(
            claim_id=CLAIM.id,
            paper=CLAIM.paper,
            theorem="Thm 2 (bandit bound 5/(t c_t^2), eta = 2/5) [V2]",
            stated="(pi* - pi_t)^T r <= 5/(t c_t^2), c_t = min_{s<=t} pi_s(a*)",
            measured=f"worst gap/bound = {worst_all:.4f} over every iterate (<= 1 holds); "
            f"on the tight instance {tight_ratio:.3f} (limit (K-1)c^2/(2K) = "
            f"{(TIGHT_ARMS - 1) * TIGHT_START**2 / (2 * TIGHT_ARMS):.3f})",
            holds=holds,
            detail=f"{frame.groupby(['bandit', 'n_arms', 'init']).ngroups} runs, every iterate; "
            + bound.describe(),
            metrics={"worst_ratio": worst_all},
        ),
        Verdict(
            claim_id=CLAIM.id,
            paper=CLAIM.paper,
            theorem="Thm 2 + lower bound (rate Theta(1/t))",
            stated=f"log-log slope of the gap on t in {list(WINDOW)} within {list(SLOPE_BAND)} "
            "(uniform, good init)",
            measured=f"fitted log-log slopes: {text} (-1 = exactly 1/t)",
            holds=bool(ok) and bool(slopes),
            detail="band from the theory notes §7 (fixed before the run); bad init reported only "
            "(its plateau ends inside the window)",
            metrics={"slopes": [float(v) for v in slopes.values()]},
        ),
        constant_verdict(tight),
    ]


def constant_verdict(tight: pd.DataFrame) -> Verdict:
    """Two-sided: slope of 1/gap against t on the tight instance vs eta K/(K-1)."""
    w = tight[(tight["t"] >= WINDOW[0]) & (tight["t"] <= WINDOW[1])]
    if len(w) < 3:
        slope, predicted, ok = float("nan"), float("nan"), False
    else:
        k = int(w["n_arms"].iloc[0])
        predicted = BANDIT_STEP * k / (k - 1)
        slope = float(np.polyfit(w["t"].to_numpy(float), 1.0 / w["gap"].to_numpy(), 1)[0])
        ok = abs(slope / predicted - 1.0) <= CONSTANT_RTOL
    return Verdict(
        claim_id=CLAIM.id,
        paper=CLAIM.paper,
        theorem="Theta(1/t) rate: its constant on the tight instance (derived)",
        stated=f"d(1/gap)/dt = eta K/(K-1) within {CONSTANT_RTOL:.0%} on r = e_1, K = "
        f"{TIGHT_ARMS}, pi_1(a*) = {TIGHT_START} (eta = 2/5)",
        measured=f"slope of 1/gap on t in {list(WINDOW)}: {slope:.5g} vs eta K/(K-1) = "
        f"{predicted:.5g} (ratio {slope / predicted:.4f})",
        holds=bool(ok),
        detail="least squares of 1/gap on t over the kept iterates in the window; the "
        "O(gap) correction is below 0.3% there (module docstring)",
        metrics={"inverse_gap_slope": slope, "predicted_slope": predicted},
    )


def plot(frame: pd.DataFrame) -> Any:
    """Mei et al. Fig. 1: pi_t(a*) and the gap against t for the three initialisations."""
    import matplotlib.pyplot as plt

    mei = frame[frame["bandit"] == "mei"]
    styles = {"uniform": ":", "good": "-", "bad": "--"}
    color = plotting.color(CLAIM.algorithm)
    with plotting.paper_style():
        fig, (a, b) = plt.subplots(1, 2, figsize=(6.4, 2.5))
        for name, run in mei.groupby("init", sort=False):
            a.plot(run["t"], run["prob_opt"], color=color, linestyle=styles[name], label=name)
            b.plot(run["t"], run["gap"], color=color, linestyle=styles[name], label=name)
        t = np.geomspace(10, mei["t"].max(), 50)
        uni = mei[mei["init"] == "uniform"]
        if len(uni):
            row = uni.iloc[int(np.abs(uni["t"].to_numpy() - 1000).argmin())]
            plotting.reference_line(b, t, row["gap"] * row["t"] / t, r"$\propto 1/t$")
        a.set_xscale("log")
        a.set_xlabel("iteration $t$")
        a.set_ylabel(r"$\pi_t(a^*)$")
        plotting.legend(a, a, loc="upper left", fontsize=7)
        b.set_xscale("log")
        b.set_yscale("log")
        b.set_xlabel("iteration $t$")
        b.set_ylabel(r"$(\pi^* - \pi_t)^\top r$")
        plotting.legend(b, b, loc="lower left", fontsize=7)
    return fig
