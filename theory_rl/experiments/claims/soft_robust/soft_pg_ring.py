r"""Claim ``soft_pg_ring``: global convergence of exact projected policy gradient on the
paper's 14-state ring (Zhang, Hu & Li, ICLR 2024, Theorem 4 and the PG figure).

**Statement.**  Theorem 4 [P: name only]: exact projected PG in the direct parameterisation
converges globally (gradient domination, Lemma 2).  The experiment [P code]: the ring
(:func:`~theory_rl.mdps.soft_robust.zhang_ring`, "Toy-10" rewards, slip ``p``), KL penalty
with the paper's ``beta`` (``KLPenalty(lam=1/beta)``), ``p in {0.01, 0.15}``,
``beta in {0.01, 0.1, 1, 2, 3}``, ``eta = 0.1``, ``gamma = 0.95``, uniform ``rho``, uniform
initial policy; the figure plots :math:`V^*(\rho) - V^{\pi_t}(\rho)` against ``t``.

**Checks.**

1. The gap is nonincreasing at every iterate, up to ``2 x`` the round-off floor
   :func:`~theory_rl.bounds.mdp_constants.value_error_floor` (exact values from the
   adversary's policy iteration at round-off; the reference :math:`V^*` is soft-robust VI polished
   by an exact evaluation of its greedy policy).
2. It reaches round-off: ``|gap| <=`` the floor by ``T`` (the optimum is a deterministic vertex,
   reached in finitely many projected steps); ``T = 1000`` (the slowest configuration,
   ``p = 0.15, beta = 2``, needs about 740 iterations).
3. Rate: the least-squares log-log slope of the gap over ``t in [10, 100]`` (points with gap
   above ``1e-8``) is compared with the **derived** exponent ``-1/2``
   (:func:`theory_rl.bounds.zhang2024.pg_rate_exponent`, [D] conditional on smoothness; the
   paper's Theorem 4 constants are [U]): it holds when every fitted slope is ``<= -1/2`` (at
   least as fast).  Configurations with fewer than 3 such points are reported as unfitted.

All ten configurations run as **one batched call** of
:func:`~theory_rl.algorithms.rrmdp.soft_robust_policy_gradient`.

References:
    R. Zhang, Y. Hu, N. Li. Soft robust MDPs and risk-sensitive MDPs: equivalence, policy
    gradient, and sample complexity. ICLR 2024, arXiv:2306.11626; code
    github.com/huyangsh/risk-sensitive-RL_NeurIPS-2024 (``toy/PG_train.py``).
    A. Agarwal, S. Kakade, J. Lee, G. Mahajan. On the theory of policy gradient methods. JMLR
    22, 2021.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from theory_rl.algorithms import rrmdp
from theory_rl.bounds.mdp_constants import value_error_floor
from theory_rl.bounds.rates import Verdict, fit_rate
from theory_rl.bounds.zhang2024 import pg_rate_exponent
from theory_rl.experiments import plotting
from theory_rl.experiments.base import Claim
from theory_rl.experiments.claims.soft_robust._common import quiet
from theory_rl.mdps.robust import KLPenalty
from theory_rl.mdps.soft_robust import zhang_ring

CLAIM = Claim(
    id="soft_pg_ring",
    paper="Zhang, Hu & Li (ICLR 2024)",
    theorem="Thm 4 (global convergence of exact PG) and the ring figure",
    statement="V*(rho) - V^pi_t(rho) nonincreasing -> 0; fitted rate vs the derived t^(-1/2)",
    algorithm="policy_gradient",
    caption=(
        "Exact projected PG on the 14-state ring (eta = 0.1, gamma = 0.95, KL penalty with "
        "weight 1/beta): the gap V*(rho) - V^pi_t(rho) against t for p = 0.01 and p = 0.15, one "
        "line per beta, with a t^(-1/2) reference (the derived rate)."
    ),
)

PS = (0.01, 0.15)
BETAS = (0.01, 0.1, 1.0, 2.0, 3.0)
ETA = 0.1
WINDOW = (10, 100)
FIT_FLOOR = 1e-8

GRID = [{"n_iterations": 1000}]
QUICK_GRID = [{"n_iterations": 1000}]


def compute(config: dict[str, Any]) -> list[dict[str, Any]]:
    pairs = [(p, b) for p in PS for b in BETAS]
    mdps = [zhang_ring(p) for p, _ in pairs]
    pens = [KLPenalty(1.0 / b) for _, b in pairs]
    with quiet():
        res = rrmdp.soft_robust_policy_gradient(
            mdps, pens, eta=ETA, n_iterations=int(config["n_iterations"]), record=("gap",)
        )
    gap = res.history["gap"]  # (B, T+1)
    floor = value_error_floor(mdps[0])
    rows = []
    for j, (p, b) in enumerate(pairs):
        for t in range(gap.shape[1]):
            rows.append({"p": p, "beta": b, "t": t, "gap": float(gap[j, t]), "floor": floor})
    return rows


def _slopes(frame: pd.DataFrame) -> dict[tuple[float, float], float]:
    out = {}
    for (p, b), run in frame.groupby(["p", "beta"], sort=False):
        w = run[(run["t"] >= WINDOW[0]) & (run["t"] <= WINDOW[1]) & (run["gap"] > FIT_FLOOR)]
        out[(p, b)] = (
            fit_rate(w["t"], w["gap"], kind="power").slope if len(w) >= 3 else float("nan")
        )
    return out


def check(frame: pd.DataFrame) -> list[Verdict]:
    mono_bad, reach_bad, worst_rise, worst_final, first = [], [], 0.0, 0.0, {}
    for (p, b), run in frame.groupby(["p", "beta"], sort=False):
        run = run.sort_values("t")
        g, floor = run["gap"].to_numpy(), float(run["floor"].iloc[0])
        rise = float(np.diff(g).max())
        worst_rise = max(worst_rise, rise)
        if rise > 2 * floor:
            mono_bad.append((p, b))
        final = float(abs(g[-1]))
        worst_final = max(worst_final, final)
        if final > floor:
            reach_bad.append((p, b))
        hit = np.flatnonzero(np.abs(g) <= floor)
        first[(p, b)] = int(run["t"].to_numpy()[hit[0]]) if hit.size else -1
    slopes = _slopes(frame)
    fitted = {k: v for k, v in slopes.items() if np.isfinite(v)}
    derived = pg_rate_exponent()
    rate_ok = bool(fitted) and all(v <= derived for v in fitted.values())
    text = ", ".join(f"(p={p:g}, beta={b:g}) {v:.2f}" for (p, b), v in slopes.items())
    floor = float(frame["floor"].max())
    return [
        Verdict(
            claim_id=CLAIM.id,
            paper=CLAIM.paper,
            theorem="Thm 4: monotone gap",
            stated="V*(rho) - V^pi_t(rho) nonincreasing at every iterate (2 x round-off floor)",
            measured=f"largest one-step increase {worst_rise:.3g} (floor {floor:.3g}); "
            f"{len(mono_bad)} of 10 configurations not monotone",
            holds=not mono_bad,
            detail=f"non-monotone: {mono_bad}" if mono_bad else "all (p, beta) of the paper",
            metrics={"max_increase": worst_rise},
        ),
        Verdict(
            claim_id=CLAIM.id,
            paper=CLAIM.paper,
            theorem="Thm 4: global convergence",
            stated=f"|gap| <= round-off floor {floor:.3g} by t = {int(frame['t'].max())}",
            measured=f"largest final |gap| {worst_final:.3g}; first t at round-off: "
            + ", ".join(f"{k}: {v}" for k, v in first.items()),
            holds=not reach_bad,
            detail=f"not reached: {reach_bad}" if reach_bad else "every configuration",
            metrics={"max_final_gap": worst_final},
        ),
        Verdict(
            claim_id=CLAIM.id,
            paper=CLAIM.paper,
            theorem="Thm 4 rate: fitted vs derived exponent [D]",
            stated=f"log-log slope of the gap on t in {list(WINDOW)} <= {derived:g} (derived "
            "O(t^-1/2), conditional on smoothness)",
            measured=f"fitted slopes: {text}",
            holds=rate_ok,
            detail=f"least squares of log gap on log t over points with gap > {FIT_FLOOR:g}; "
            "nan = fewer than 3 such points (converged before t = 10 or unfit)",
            metrics={"slopes": [float(v) for v in slopes.values()]},
        ),
    ]


def plot(frame: pd.DataFrame) -> Any:
    import matplotlib.pyplot as plt

    styles = dict(zip(BETAS, ("-", "--", "-.", ":", (0, (3, 1, 1, 1))), strict=True))
    colors = dict(zip(BETAS, ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00"), strict=True))
    with plotting.paper_style():
        fig, axes = plt.subplots(1, 2, figsize=(6.4, 2.6), sharey=True)
        for ax, p in zip(axes, PS, strict=True):
            sub = frame[frame["p"] == p]
            for b, run in sub.groupby("beta", sort=False):
                t = run["t"].to_numpy()
                g = np.maximum(run["gap"].to_numpy(), 1e-14)
                ax.plot(t + 1, g, color=colors[b], linestyle=styles[b], label=f"beta = {b:g}")
            t = np.geomspace(1, sub["t"].max() + 1, 50)
            g10 = float(sub[sub["t"] == 10]["gap"].max())
            plotting.reference_line(ax, t, g10 * np.sqrt(11.0 / t), r"$\propto t^{-1/2}$")
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.set_title(f"p = {p:g}", fontsize=8)
            ax.set_xlabel("iteration t + 1")
        axes[0].set_ylabel(r"$V^*(\rho) - V^{\pi_t}(\rho)$")
        plotting.note(axes[1], "gaps below 1e-14 drawn at 1e-14", loc="lower left")
        plotting.legend(fig, axes[1], loc="upper right", fontsize=6)
    return fig
