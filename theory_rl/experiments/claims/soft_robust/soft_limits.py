r"""Claim ``soft_limits``: the penalty-weight limits of soft-robust values and the
Lagrangian identity between penalties and balls.

**Statements.**

1. *Monotone limit* (the notes §8.9; Zhang, Hu & Li: the standard RMDP and the nominal MDP are
   the two ends of the family).  As the penalty weight ``lam`` grows the adversary weakens:
   :math:`V^*_\lambda` is nondecreasing in ``lam`` and tends to the nominal :math:`V^*_0`.
2. *Rate of the limit* [D].  :math:`0 \le V^*_0 - V^*_\lambda \le \gamma\,c\,
   \mathrm{sp}(V^*_\lambda)^2/(\lambda(1-\gamma))` with ``c = 1/8`` (KL: Hoeffding's lemma,
   :math:`-\lambda\log\mathbb E e^{-v/\lambda} \ge \mathbb E v - \mathrm{sp}(v)^2/(8\lambda)`),
   ``c = 1/16`` (chi-square: :math:`p\cdot v - \bar p\cdot v \ge -\mathrm{sp}(v)\|p-\bar p\|_1/2`
   and :math:`\|p - \bar p\|_1^2 \le \chi^2`), and ``0`` for TV once
   :math:`\lambda \ge \mathrm{sp}(V^*_\lambda)` (moving mass never pays); the value bound follows
   from :math:`\|V_\lambda - V_0\| \le \|T_\lambda V_\lambda - T_0V_\lambda\|/(1-\gamma)`.
3. *Lagrangian identity* (per row; convex duality): with :math:`p_\lambda` the worst row of the
   penalty and :math:`\delta_\lambda = D(p_\lambda, \bar p)`,
   :math:`\sigma^{pen}_\lambda(v) = \sigma^{ball}_{\delta_\lambda}(v) + \lambda\delta_\lambda`
   (KL penalty / KL ball; chi-square penalty / chi-square ball; TV penalty / L1 ball of radius
   :math:`\|p_\lambda - \bar p\|_1`).

**Tolerances.**  Monotonicity and the bound: a value round-off floor
(:func:`theory_rl.bounds.mdp_constants.value_error_floor`) plus the VI accuracy
(``rtol = 1e-12``).  The identity: ``1e-9`` absolute on targets in ``[0, 10]``: the ball oracles
solve a one-dimensional dual by root finding (KL, chi-square) to about ``1e-12`` of the target
scale; the measured worst case is reported.

References:
    R. Zhang, Y. Hu, N. Li. Soft robust MDPs and risk-sensitive MDPs: equivalence, policy
    gradient, and sample complexity. ICLR 2024, arXiv:2306.11626.
    W. Hoeffding. Probability inequalities for sums of bounded random variables. JASA 58, 1963.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from theory_rl.algorithms import dp, rrmdp
from theory_rl.algorithms.robust import inner_rows
from theory_rl.bounds.mdp_constants import value_error_floor
from theory_rl.bounds.rates import Verdict
from theory_rl.experiments import plotting
from theory_rl.experiments.base import Claim, product_grid, seed_of, sub_seed
from theory_rl.experiments.claims.soft_robust._common import (
    PENALTY_COLORS,
    instance,
    penalty,
    quiet,
)
from theory_rl.mdps.robust import Chi2Ball, KLBall, L1Ball

CLAIM = Claim(
    id="soft_limits",
    paper="Zhang, Hu & Li (ICLR 2024)",
    theorem="limits of the penalty weight; Lagrangian identity",
    statement="V*_lam nondecreasing -> V*_0; 0 <= V*_0 - V*_lam <= gamma c sp^2/(lam(1-gamma)); "
    "penalty(lam) = ball(delta_lam) + lam delta_lam",
    algorithm="robust_value_iteration",
    caption=(
        "Nominal minus soft-robust optimal value (max over states) against the penalty weight "
        "lam, for KL, TV and chi-square penalties, with the derived O(1/lam) bounds (dashed)."
    ),
)

LAMS = tuple(float(x) for x in np.geomspace(1e-2, 1e4, 13))
CONSTANT = {"kl": 1.0 / 8.0, "chi2": 1.0 / 16.0, "tv": 0.0}
IDENTITY_TOL = 1e-9

GRID = product_grid(instance=("random",), replicate=(0, 1, 2), penalty=("kl", "tv", "chi2")) + [
    {"instance": "ring", "p": 0.15, "penalty": pen} for pen in ("kl", "tv", "chi2")
]
QUICK_GRID = [
    {"instance": "random", "replicate": 0, "penalty": pen} for pen in ("kl", "tv", "chi2")
]


def _bound(name: str, gamma: float, lam: float, span: float) -> float:
    if name == "tv":
        return 0.0 if lam >= span else np.inf
    return gamma * CONSTANT[name] * span**2 / (lam * (1.0 - gamma))


def _identity(name: str, lam: float, rng: np.random.Generator) -> float:
    """Worst |penalty value - (ball value + lam delta)| over 50 random rows (8 states)."""
    pb = rng.dirichlet(np.ones(8), size=50)
    y = rng.uniform(0.0, 10.0, size=(50, 8))
    val, worst = inner_rows(penalty(name, lam), pb, y)
    if name == "kl":
        delta = (worst * np.log(np.where(worst > 0, worst / pb, 1.0))).sum(axis=1)
        ball, charge = KLBall(delta), lam * delta
    elif name == "chi2":
        delta = ((worst - pb) ** 2 / pb).sum(axis=1)
        ball, charge = Chi2Ball(delta), lam * delta
    else:
        kappa = np.abs(worst - pb).sum(axis=1)
        ball, charge = L1Ball(kappa), lam * kappa / 2.0
    ball_val, _ = inner_rows(ball, pb, y)
    return float(np.abs(val - (ball_val + charge)).max())


def compute(config: dict[str, Any]) -> list[dict[str, Any]]:
    seed = seed_of(config)
    mdp = instance(config, sub_seed(seed, 0))
    name = config["penalty"]
    with quiet():
        v0 = np.asarray(dp.value_iteration(mdp, rtol=1e-12).values)
        floor = value_error_floor(mdp) + 2e-12 * float(np.abs(mdp.rewards).max()) / (1 - mdp.gamma)
        rows = []
        for lam in LAMS:
            v = np.asarray(
                rrmdp.soft_robust_value_iteration(mdp, penalty(name, lam), rtol=1e-12).values
            )
            span = float(v.max() - v.min())
            rows.append(
                {
                    "instance": config["instance"],
                    "replicate": config.get("replicate"),
                    "penalty": name,
                    "lam": lam,
                    "gap": float((v0 - v).max()),
                    "min_gap": float((v0 - v).min()),
                    "value": float(v.mean()),
                    "bound": _bound(name, mdp.gamma, lam, span),
                    "atol": floor,
                    "identity_error": _identity(
                        name, lam, np.random.default_rng(sub_seed(seed, 1))
                    ),
                }
            )
    return rows


def check(frame: pd.DataFrame) -> list[Verdict]:
    mono_bad, bound_bad, worst_dec, worst_ratio = 0, 0, 0.0, 0.0
    n_runs = 0
    for _, run in frame.groupby(["spawn_key"], sort=False):
        n_runs += 1
        run = run.sort_values("lam")
        gap, atol = run["gap"].to_numpy(), run["atol"].to_numpy()
        inc = np.diff(gap)  # the gap must not grow with lam
        worst_dec = max(worst_dec, float(inc.max()))
        mono_bad += int(np.any(inc > 2 * atol[1:]))
        ok = (run["min_gap"].to_numpy() >= -atol) & (gap <= run["bound"].to_numpy() + atol)
        bound_bad += int(not ok.all())
        finite = np.isfinite(run["bound"].to_numpy()) & (run["bound"].to_numpy() > 0)
        if finite.any():
            worst_ratio = max(
                worst_ratio, float((gap[finite] / run["bound"].to_numpy()[finite]).max())
            )
    ident = float(frame["identity_error"].max())
    last = frame[frame["lam"] == frame["lam"].max()]
    return [
        Verdict(
            claim_id=CLAIM.id,
            paper=CLAIM.paper,
            theorem="penalty weight -> infinity: the nominal MDP, monotonically",
            stated="V*_0 - V*_lam nonincreasing in lam (up to round-off)",
            measured=f"largest increase of the gap between consecutive lam: {worst_dec:.3g}; "
            f"{mono_bad} of {n_runs} runs not monotone; gap at lam = {max(LAMS):g}: "
            f"{float(last['gap'].max()):.3g}",
            holds=mono_bad == 0,
            detail=f"lam on a geometric grid {min(LAMS):g}..{max(LAMS):g} (13 points)",
            metrics={"max_increase": worst_dec},
        ),
        Verdict(
            claim_id=CLAIM.id,
            paper=CLAIM.paper,
            theorem="rate of the limit (derived [D])",
            stated="0 <= V*_0 - V*_lam <= gamma c sp(V*_lam)^2 / (lam (1 - gamma)), c = 1/8 "
            "(KL), 1/16 (chi2); TV: 0 once lam >= sp",
            measured=f"{bound_bad} of {n_runs} runs violate; worst gap/bound = {worst_ratio:.3g}",
            holds=bound_bad == 0,
            detail="atol = value round-off floor + VI accuracy",
            metrics={"worst_ratio_of_bound": worst_ratio},
        ),
        Verdict(
            claim_id=CLAIM.id,
            paper=CLAIM.paper,
            theorem="Lagrangian identity per (s, a)",
            stated=f"|penalty(lam) - ball(delta_lam) - lam delta_lam| <= {IDENTITY_TOL:g}",
            measured=f"max error {ident:.3g} over {len(frame)} (run, lam) x 50 rows",
            holds=ident <= IDENTITY_TOL,
            detail="penalty rows from the KL/TV/chi2 penalty oracles, balls from the KL ball, "
            "L1 ball and chi2 ball oracles at the penalty's own divergence",
            metrics={"max_identity_error": ident},
        ),
    ]


def plot(frame: pd.DataFrame) -> Any:
    import matplotlib.pyplot as plt

    colors = PENALTY_COLORS
    with plotting.paper_style():
        fig, ax = plt.subplots(figsize=(4.2, 2.8))
        for name, sub in frame.groupby("penalty", sort=False):
            plotting.median_iqr(
                ax, sub, x="lam", y="gap", color=colors[name], label=name, floor=1e-16
            )
            b = sub[np.isfinite(sub["bound"]) & (sub["bound"] > 0)]
            if len(b):
                g = b.groupby("lam")["bound"].median()
                plotting.reference_line(
                    ax, g.index, g.to_numpy(), f"derived bound ({name})", color=colors[name]
                )
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("penalty weight lam")
        ax.set_ylabel("max_s V*_0 - V*_lam")
        plotting.note(ax, "gaps below 1e-16 drawn at 1e-16", loc="lower left")
        plotting.legend(ax, ax, loc="upper right", fontsize=6)
    return fig
