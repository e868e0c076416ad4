r"""Claim ``inner_oracles``: every inner worst-case oracle equals an independent solver, and its
worst distribution is feasible.

**Statement** (the closed forms and one-dimensional duals of the theory notes' §1, derived in
:mod:`theory_rl.algorithms.robust`).  For random nominal rows ``p̄`` (Dirichlet, some with a
zero entry), targets ``y`` (Gaussian at scales 0.1, 1, 10, some with ties at the minimum) and
radii from small to beyond the large-radius limit:

* L1 ball and TV penalty (polyhedral) equal scipy ``linprog`` (HiGHS) within **1e-9**
  (relative to ``max(1, max|y|)``);
* KL and chi-square balls, KL and chi-square penalties equal SLSQP on the primal (two starts,
  ``ftol`` 1e-14) within **1e-6**, and are never worse than SLSQP's (feasible) point;
* every returned ``p`` is a distribution on the allowed support, inside the ball (within
  1e-9), and attains the returned value (within 1e-9 relative).

The 1e-9 and 1e-6 tolerances are those of the theory notes' §8.1, fixed before measuring.

References:
    G. Iyengar. Robust dynamic programming. Math. Oper. Res. 30(2), 2005 (KL and L1 duals).
    A. Nilim, L. El Ghaoui. Oper. Res. 53(5), 2005.
    J. Duchi, H. Namkoong. Learning models with uniform performance via distributionally
    robust optimization. Ann. Statist. 49(3), 2021 (chi-square dual).
    C. P. Ho, M. Petrik, W. Wiesemann. Fast Bellman updates for robust MDPs. ICML 2018.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy.optimize import linprog, minimize

from theory_rl.algorithms import robust
from theory_rl.bounds.rates import Verdict
from theory_rl.experiments.base import Claim, product_grid, seed_of
from theory_rl.mdps import robust as sets

CLAIM = Claim(
    id="inner_oracles",
    paper="Iyengar (2005); Nilim & El Ghaoui (2005)",
    theorem="inner problems: sort rule, 1-D duals, closed-form penalties",
    statement="oracle value = linprog (1e-9) / SLSQP (1e-6); worst p feasible",
    algorithm="robust_value_iteration",
    caption="Absolute error of each inner oracle against scipy linprog or SLSQP, per instance.",
)

KINDS = ("l1", "tv_penalty", "kl", "chi2", "kl_penalty", "chi2_penalty")
LP_KINDS = ("l1", "tv_penalty")
GRID = product_grid(kind=list(KINDS), replicate=range(5))
QUICK_GRID = product_grid(kind=list(KINDS), replicate=[0])
ROWS_PER_CONFIG = 25


def _kl(p: np.ndarray, pb: np.ndarray) -> float:
    m = p > 0
    return float(np.sum(p[m] * np.log(p[m] / pb[m])))


def _chi2(p: np.ndarray, pb: np.ndarray) -> float:
    m = pb > 0
    return float(np.sum((p[m] - pb[m]) ** 2 / pb[m]))


def _make(kind: str, r: float) -> Any:
    return {
        "l1": sets.L1Ball,
        "tv_penalty": sets.TVPenalty,
        "kl": sets.KLBall,
        "chi2": sets.Chi2Ball,
        "kl_penalty": sets.KLPenalty,
        "chi2_penalty": sets.Chi2Penalty,
    }[kind](r)


def objective(kind: str, p: np.ndarray, y: np.ndarray, pb: np.ndarray, r: float) -> float:
    """The inner objective of ``kind`` at ``p`` (balls: ``p.y``; penalties: ``p.y + lam D``)."""
    extra = {
        "kl_penalty": lambda: r * _kl(p, pb),
        "chi2_penalty": lambda: r * _chi2(p, pb),
        "tv_penalty": lambda: r * 0.5 * np.abs(p - pb).sum(),
    }
    return float(p @ y) + (extra[kind]() if kind in extra else 0.0)


def reference(kind: str, pb: np.ndarray, y: np.ndarray, r: float) -> float:
    """The inner value by scipy: ``linprog`` (L1, TV) or SLSQP (KL, chi-square)."""
    n = pb.size
    supp = pb > 0
    if kind in LP_KINDS:
        eye = np.eye(n)
        c = np.concatenate([y, np.zeros(n) if kind == "l1" else 0.5 * r * np.ones(n)])
        A_ub = [np.hstack([eye, -eye]), np.hstack([-eye, -eye])]
        b_ub = [pb, -pb]
        if kind == "l1":
            A_ub.append(np.r_[np.zeros(n), np.ones(n)][None])
            b_ub.append([r])
        res = linprog(
            c,
            A_ub=np.vstack(A_ub),
            b_ub=np.concatenate(b_ub),
            A_eq=np.r_[np.ones(n), np.zeros(n)][None],
            b_eq=[1.0],
            bounds=[(0, None if s else 0) for s in supp] + [(0, None)] * n,
            method="highs",
        )
        return float(res.fun)
    k = int(supp.sum())

    def full(x: np.ndarray) -> np.ndarray:
        p = np.zeros(n)
        p[supp] = x
        return p

    cons = [{"type": "eq", "fun": lambda x: x.sum() - 1.0}]
    if kind in ("kl", "chi2"):
        div = _kl if kind == "kl" else _chi2
        cons.append({"type": "ineq", "fun": lambda x: r - div(full(x), pb)})
    best = np.inf
    for x0 in (pb[supp], np.full(k, 1.0 / k)):
        res = minimize(
            lambda x: objective(kind, full(x), y, pb, r),
            x0,
            method="SLSQP",
            bounds=[(0, 1)] * k,
            constraints=cons,
            options={"ftol": 1e-14, "maxiter": 1000},
        )
        if res.success or np.isfinite(res.fun):
            best = min(best, float(res.fun))
    return best


def compute(config: dict[str, Any]) -> list[dict[str, Any]]:
    """Solve ``ROWS_PER_CONFIG`` random rows with the oracle and with scipy."""
    rng = np.random.default_rng(seed_of(config))
    kind = config["kind"]
    rows = []
    for i in range(ROWS_PER_CONFIG):
        n = int(rng.integers(2, 7))
        pb = rng.dirichlet(np.ones(n))
        if n > 2 and rng.random() < 0.5:
            pb[rng.integers(n)] = 0.0
            pb /= pb.sum()
        y = rng.normal(size=n) * rng.choice([0.1, 1.0, 10.0])
        if rng.random() < 0.2:
            y[rng.integers(n)] = y[pb > 0].min()
        r = float(rng.choice([rng.uniform(0.01, 0.3), rng.uniform(0.3, 3.0)]))
        val, p = robust.inner_rows(_make(kind, r), pb[None], y)
        val, p = float(val[0]), p[0]
        scale = max(1.0, float(np.abs(y).max()))
        ref = reference(kind, pb, y, r)
        violation = max(abs(p.sum() - 1.0), max(0.0, -p.min()), float(p[pb == 0].sum()))
        if kind == "l1":
            violation = max(violation, np.abs(p - pb).sum() - r)
        elif kind in ("kl", "chi2"):
            violation = max(violation, (_kl(p, pb) if kind == "kl" else _chi2(p, pb)) - r)
        rows.append(
            {
                "row": i,
                "radius": r,
                "value": val,
                "reference": ref,
                "scale": scale,
                "error": abs(val - ref) / scale,
                "better_than_reference": (ref - val) / scale,
                "attained": abs(objective(kind, p, y, pb, r) - val) / scale,
                "violation": float(violation),
            }
        )
    return rows


def check(frame: pd.DataFrame) -> list[Verdict]:
    """One verdict per set: error against scipy, feasibility, value attained."""
    out = []
    for kind, grp in frame.groupby("kind", sort=False):
        lp = kind in LP_KINDS
        tol = 1e-9 if lp else 1e-6
        err = float(grp["error"].max())
        viol = float(grp["violation"].max())
        att = float(grp["attained"].max())
        ok = err <= tol and viol <= 1e-9 and att <= 1e-9
        if kind not in LP_KINDS:  # the SLSQP point is feasible: never better than the oracle
            ok = ok and float(grp["better_than_reference"].max()) <= tol
        out.append(
            Verdict(
                claim_id=CLAIM.id,
                paper=CLAIM.paper,
                theorem=f"{kind} oracle ({'sort rule / closed form' if lp else '1-D dual'})",
                stated=f"|oracle - {'linprog' if lp else 'SLSQP'}| <= {tol:g}, p feasible",
                measured=(
                    f"max relative error {err:.2e}, max infeasibility {viol:.2e}, max |obj(p) - "
                    f"value| {att:.2e} over {len(grp)} rows"
                ),
                holds=ok,
                metrics={"max_error": err, "max_violation": viol, "max_attained": att},
            )
        )
    return out


def plot(frame: pd.DataFrame) -> Any:
    """Error per instance, one column of points per set, with the two tolerances."""
    import matplotlib.pyplot as plt

    from theory_rl.experiments import plotting

    with plotting.paper_style():
        fig, ax = plt.subplots(figsize=(4.0, 2.6))
        cmap = plt.get_cmap("tab10")
        for i, kind in enumerate(KINDS):
            grp = frame[frame["kind"] == kind]
            x = np.full(len(grp), i) + np.linspace(-0.25, 0.25, len(grp))
            ax.scatter(
                x,
                np.maximum(grp["error"], 1e-18),
                s=4,
                color=cmap(i),
                label=f"{kind} (n={len(grp)})",
            )
        ax.axhline(1e-9, color=plotting.REFERENCE_COLOR, ls="--", label="LP tolerance 1e-9")
        ax.axhline(1e-6, color=plotting.REFERENCE_COLOR, ls=":", label="SLSQP tolerance 1e-6")
        ax.set_yscale("log")
        ax.set_xticks(range(len(KINDS)), KINDS, rotation=30, fontsize=6)
        ax.set_ylabel("|oracle - scipy| / max(1, max|y|)")
        plotting.note(ax, "errors < 1e-18 drawn at 1e-18", loc="upper left")
        plotting.legend(fig, ax, fontsize=5, loc="lower right")
    return fig
