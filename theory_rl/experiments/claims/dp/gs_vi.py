r"""Claim ``gs_vi``: Gauss--Seidel value iteration's stopping rule delivers what it promises, and
it needs no more sweeps than Jacobi value iteration with the same rule.

**Statement** (Puterman 1994, §6.3.3; derivation in
:func:`theory_rl.algorithms.dp.gauss_seidel_value_iteration`).  The Gauss--Seidel sweep ``G``
is a :math:`\gamma`-contraction with fixed point ``V*``, so
:math:`\|v_{k+1} - V^*\|_\infty \le \gamma\|v_{k+1} - v_k\|_\infty/(1-\gamma)`; stopping when
this is at most :math:`\varepsilon/2` and the MacQueen policy bound at most
:math:`\varepsilon` gives values within :math:`\varepsilon/2` and a policy within
:math:`\varepsilon` of optimal.

**Measurement.**  ``tol`` in {1e-2, 1e-6}, ``gamma`` in {0.9, 0.99}, the three instance
families of :data:`~theory_rl.experiments.instances.INSTANCE_FAMILIES`; the returned policy is
evaluated exactly and compared with ``V*`` from policy iteration.  Jacobi value iteration is run
from the same start with the same sup-norm rule (:math:`\gamma\|v_{k+1}-v_k\|/(1-\gamma) \le
\varepsilon/2`) and its sweeps counted: that Gauss--Seidel never needs more is a measured
statement (from the lower-bound start both iterations increase monotonically and Gauss--Seidel
dominates Jacobi statewise, but the stopping rule looks at increments, which are not ordered),
gated here as measured.

**Tolerance.**  ``atol`` = :func:`theory_rl.bounds.mdp_constants.value_error_floor`.

References:
    M. L. Puterman. Markov Decision Processes. Wiley, 1994. §6.3.3.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd

from theory_rl.algorithms import dp
from theory_rl.bounds import mdp_constants
from theory_rl.bounds.mdp_constants import RoundoffWarning
from theory_rl.bounds.rates import Verdict, check_bound
from theory_rl.experiments import plotting
from theory_rl.experiments.base import Claim, seed_of, sub_seed
from theory_rl.experiments.instances import INSTANCE_FAMILIES, make_instance

CLAIM = Claim(
    id="gs_vi",
    paper="Puterman (1994)",
    theorem="§6.3.3 Gauss-Seidel value iteration",
    statement="gamma ||v'-v||/(1-gamma) <= tol/2: ||v'-V*|| <= tol/2; policy tol-optimal",
    algorithm="value_iteration",
    caption=(
        "Gauss-Seidel value iteration: sweeps against Jacobi value iteration with the same "
        "sup-norm stopping rule (left; the diagonal is equality) and the error of the "
        "returned values over tol/2 (right)."
    ),
)


def _grid(n_states: int, replicates: int) -> list[dict[str, Any]]:
    return [
        {**inst, "n_states": n_states, "n_actions": 4, "gamma": gamma, "tol": tol,
         "replicate": rep}
        for inst in INSTANCE_FAMILIES
        for gamma in (0.9, 0.99)
        for tol in (1e-2, 1e-6)
        for rep in range(replicates)
    ]


GRID = _grid(200, 10)
QUICK_GRID = _grid(30, 2)


def _jacobi_sweeps(mdp: Any, tol: float, max_iterations: int = 100_000) -> int:
    v = np.full(mdp.n_states, float(mdp.rewards.min()) / (1.0 - mdp.gamma))
    factor = mdp.gamma / (1.0 - mdp.gamma)
    for k in range(1, max_iterations + 1):
        tv = dp.bellman_optimality_operator(mdp, v)
        if factor * float(np.abs(tv - v).max()) <= tol / 2:
            return k
        v = tv
    return max_iterations


def compute(config: dict[str, Any]) -> list[dict[str, Any]]:
    """One row: errors of Gauss-Seidel VI at ``config["tol"]`` and both sweep counts."""
    mdp = make_instance(config, sub_seed(seed_of(config), 0))
    tol = float(config["tol"])
    ref = dp.policy_iteration(mdp)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RoundoffWarning)
        res = dp.gauss_seidel_value_iteration(mdp, tol=tol)
    v_pi = dp.policy_evaluation(mdp, np.asarray(res.policy))
    return [
        {
            "value_error": float(np.abs(ref.values - res.values).max()),
            "policy_error": float(np.abs(ref.values - v_pi).max()),
            "converged": bool(res.converged),
            "gs_sweeps": int(res.n_iterations),
            "jacobi_sweeps": _jacobi_sweeps(mdp, tol),
            "atol": mdp_constants.value_error_floor(mdp),
        }
    ]


def check(frame: pd.DataFrame) -> list[Verdict]:
    """Values within tol/2, policy within tol (every run converged); GS sweeps <= Jacobi's."""
    tol, atol = frame["tol"].to_numpy(), frame["atol"].to_numpy()
    converged = bool(frame["converged"].all())
    n = len(frame)
    out = []
    for column, factor, text in (("value_error", 0.5, "values"), ("policy_error", 1.0, "policy")):
        res = check_bound(frame[column].to_numpy(), factor * tol + atol)
        ratio = float((frame[column] / (factor * frame["tol"])).max())
        out.append(
            Verdict(
                claim_id=CLAIM.id, paper=CLAIM.paper, theorem=CLAIM.theorem + f": {text}",
                stated=f"error of the returned {text} <= {factor:g} tol",
                measured=f"worst error/({factor:g} tol) = {ratio:.3g} over {n} runs",
                holds=res.holds and converged,
                detail=f"{n} runs, all converged: {converged}",
                metrics={"worst_ratio": ratio, "n_runs": n},
            )
        )
    more = frame["gs_sweeps"] > frame["jacobi_sweeps"]
    ratios = frame["gs_sweeps"] / frame["jacobi_sweeps"]
    saved = float(ratios.median())
    out.append(
        Verdict(
            claim_id=CLAIM.id, paper=CLAIM.paper, theorem=CLAIM.theorem + ": sweeps (measured)",
            stated="Gauss-Seidel sweeps <= Jacobi sweeps, same sup-norm rule and start",
            measured=(
                f"{int(more.sum())} of {n} runs need more sweeps; median GS/Jacobi = "
                f"{saved:.3g}, worst {float(ratios.max()):.3g}"
            ),
            holds=not bool(more.any()),
            detail="Gauss-Seidel stops on its value rule plus the MacQueen policy check",
            metrics={"median_sweep_ratio": saved, "n_more": int(more.sum()), "n_runs": n},
        )
    )
    return out


def plot(frame: pd.DataFrame) -> Any:
    """GS sweeps against Jacobi sweeps; value error over tol/2."""
    import matplotlib.pyplot as plt

    col = plotting.color(CLAIM.algorithm)
    with plotting.paper_style():
        fig, axes = plt.subplots(1, 2, figsize=(6.4, 2.7))
        ax = axes[0]
        ax.scatter(frame["jacobi_sweeps"], frame["gs_sweeps"], color=col, s=10,
                   label="Gauss-Seidel (one run)")
        lim = [1, float(frame[["gs_sweeps", "jacobi_sweeps"]].to_numpy().max()) * 1.2]
        plotting.reference_line(ax, np.array(lim), np.array(lim), "equal sweeps")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("Jacobi VI sweeps")
        ax.set_ylabel("Gauss-Seidel sweeps")
        ax = axes[1]
        ratio = (frame["value_error"] / (frame["tol"] / 2)).clip(lower=1e-12)
        ax.scatter(frame["tol"], ratio, color=col, s=10, label="error / (tol/2), one run")
        tols = np.sort(frame["tol"].unique())
        plotting.reference_line(ax, tols, np.ones_like(tols), "stated bound")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("tol")
        ax.set_ylabel(r"$\|v - V^*\|_\infty / (tol/2)$")
        plotting.legend(fig, axes[1], loc="lower right", fontsize=6)
    return fig
