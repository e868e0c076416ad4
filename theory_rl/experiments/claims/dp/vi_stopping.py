r"""Claim ``vi_stopping``: value iteration's span stopping rule delivers what it promises.

**Statement** (MacQueen 1966; Porteus 1971; Puterman 1994 §6.6.3).  With
:math:`\Delta_k = T v_k - v_k` and :math:`c = \gamma/(1-\gamma)`, every iterate brackets the
optimal values and those of the greedy policy :math:`\pi_k`:

.. math::  T v_k + c \min_s \Delta_k \le V^{\pi_k} \le V^* \le T v_k + c \max_s \Delta_k .

Stopping at the first ``k`` with :math:`c\,\operatorname{sp}(\Delta_k) \le \varepsilon` (``tol``)
therefore guarantees :math:`\|V^{\pi_k} - V^*\|_\infty \le \varepsilon` for the returned policy and
:math:`\|\hat v - V^*\|_\infty \le \varepsilon/2` for the returned values, the midpoint
:math:`\hat v = T v_k + c(\max\Delta_k + \min\Delta_k)/2`.  (The classical sup-norm rule of
Puterman's Thm 6.3.1, :math:`\|\Delta_k\|_\infty < \varepsilon(1-\gamma)/(2\gamma)`, implies this
one.)  Assumptions: finite ``S``, ``A``, ``gamma`` in ``[0, 1)``; nothing else.

**Measurement.**  :func:`theory_rl.algorithms.dp.value_iteration` with ``tol`` in {1, 1e-2,
1e-4, 1e-8} (absolute; values are of order ``1/(1-gamma)``), ``gamma`` in {0.5, 0.9, 0.99},
garnets with 1 (deterministic) and 5 successors, and dense random MDPs.  Deterministic garnets
mix slowly, so the span shrinks no faster than ``gamma^k`` and the value guarantee is nearly
tight there; on dense MDPs the span contracts much faster and the returned policy is usually
exactly optimal.  The returned policy is evaluated exactly (LU) and compared with ``V*`` from
policy iteration, itself certified by its Bellman residual.

**Tolerance.**  ``atol`` = :func:`theory_rl.bounds.mdp_constants.value_error_floor` (two computed
value vectors) plus the certified error of the reference ``V*``.

References:
    MacQueen, J. (1966). *J. Math. Anal. Appl.* 14, 38-43.
    Porteus, E. L. (1971). *Management Science* 18(1), 7-11.
    Puterman, M. L. (1994). *Markov Decision Processes*. Wiley. Thm 6.3.1, §6.6.3.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd

from theory_rl.algorithms import dp
from theory_rl.algorithms.exact import reference
from theory_rl.bounds import mdp_constants
from theory_rl.bounds.mdp_constants import RoundoffWarning
from theory_rl.bounds.rates import Verdict, check_bound
from theory_rl.experiments import plotting
from theory_rl.experiments.base import Claim, seed_of, sub_seed
from theory_rl.experiments.instances import INSTANCE_FAMILIES, make_instance

CLAIM = Claim(
    id="vi_stopping",
    paper="Puterman (1994); MacQueen (1966)",
    theorem="§6.6.3 span stopping rule (cf. Thm 6.3.1)",
    statement="stop at gamma sp(Tv-v)/(1-gamma) <= tol: ||V^pi-V*|| <= tol, ||v-V*|| <= tol/2",
    algorithm="value_iteration",
    caption=(
        "Value iteration stopped by the span rule at tolerance tol: sup-norm suboptimality of "
        "the returned policy (left) and error of the returned values (right), median and IQR "
        "over instances (open markers: worst instance), against tol and tol/2 (dashed); exact "
        "zeros (an optimal policy) are drawn at 1e-16 (dotted)."
    ),
)

TOLERANCES = (1.0, 1e-2, 1e-4, 1e-8)


def _grid(n_states: int, replicates: int) -> list[dict[str, Any]]:
    return [
        {
            **inst,
            "n_states": n_states,
            "n_actions": 4,
            "gamma": gamma,
            "tol": tol,
            "replicate": rep,
        }
        for inst in INSTANCE_FAMILIES
        for gamma in (0.5, 0.9, 0.99)
        for tol in TOLERANCES
        for rep in range(replicates)
    ]


GRID = _grid(200, 10)
QUICK_GRID = _grid(20, 2)


def compute(config: dict[str, Any]) -> list[dict[str, Any]]:
    """Run value iteration at ``config["tol"]``; one row with the measured errors."""
    mdp = make_instance(config, sub_seed(seed_of(config), 0))
    ref = reference(mdp)
    v_star, ref_error = ref.values, float(ref.error)
    tol = float(config["tol"])
    with warnings.catch_warnings():  # tol below round-off: the check adds the floor as atol
        warnings.simplefilter("ignore", RoundoffWarning)
        res = dp.value_iteration(mdp, tol=tol)
    v_pi = dp.policy_evaluation(mdp, np.asarray(res.policy))
    bound = np.asarray(res.history.get("error_bound", [np.nan]))
    return [
        {
            "policy_error": float(np.abs(v_star - v_pi).max()),
            "value_error": float(np.abs(v_star - np.asarray(res.values)).max()),
            "n_iterations": int(res.n_iterations),
            "converged": bool(res.converged),
            "final_error_bound": float(bound[-1]) if bound.size else np.nan,
            "atol": mdp_constants.value_error_floor(mdp) + ref_error,
        }
    ]


def check(frame: pd.DataFrame) -> list[Verdict]:
    """Verdicts: policy ``tol``-optimal, values ``tol/2``-accurate (and VI converged)."""
    tol = frame["tol"].to_numpy()
    atol = frame["atol"].to_numpy()
    converged = bool(frame["converged"].all())
    pol = check_bound(frame["policy_error"].to_numpy(), tol + atol)
    val = check_bound(frame["value_error"].to_numpy(), tol / 2 + atol)
    pol_ratio = float((frame["policy_error"] / frame["tol"]).max())
    val_ratio = float((frame["value_error"] / (frame["tol"] / 2)).max())
    n = len(frame)
    per_tol = "; ".join(
        f"tol={t:g}: worst policy/tol {float((g['policy_error'] / t).max()):.2g}, "
        f"values/(tol/2) {float((g['value_error'] / (t / 2)).max()):.2g}, "
        f"iterations <= {int(g['n_iterations'].max())}"
        for t, g in frame.groupby("tol")
    )
    detail = f"{n} runs, all converged: {converged}; {per_tol}"
    return [
        Verdict(
            claim_id=CLAIM.id,
            paper=CLAIM.paper,
            theorem=CLAIM.theorem + ": policy",
            stated="||V^pi - V*||_inf <= tol for the returned policy",
            measured=f"worst ||V^pi-V*||/tol = {pol_ratio:.3g} over {n} runs (<= 1 holds)",
            holds=pol.holds and converged,
            detail=detail,
            metrics={"worst_ratio": pol_ratio, "n_runs": n},
        ),
        Verdict(
            claim_id=CLAIM.id,
            paper=CLAIM.paper,
            theorem=CLAIM.theorem + ": values",
            stated="||v - V*||_inf <= tol/2 for the returned values",
            measured=f"worst ||v-V*||/(tol/2) = {val_ratio:.3g} over {n} runs (<= 1 holds)",
            holds=val.holds and converged,
            detail=detail,
            metrics={"worst_ratio": val_ratio, "n_runs": n},
        ),
    ]


def plot(frame: pd.DataFrame) -> Any:
    """Errors against ``tol`` on log-log axes, with ``tol`` and ``tol/2`` dashed."""
    import matplotlib.pyplot as plt

    col = plotting.color(CLAIM.algorithm)
    floor = 1e-16
    styles = {0.5: ":", 0.9: "--", 0.99: "-"}
    markers = {0.5: "s", 0.9: "^", 0.99: "o"}
    tols = np.sort(frame["tol"].unique())
    with plotting.paper_style():
        fig, axes = plt.subplots(1, 2, figsize=(6.4, 2.7), sharey=True)
        panels = [
            ("policy_error", r"$\|V^{\pi} - V^*\|_\infty$", 1.0, r"tol"),
            ("value_error", r"$\|v - V^*\|_\infty$", 0.5, r"tol$/2$"),
        ]
        for ax, (column, ylabel, factor, ref) in zip(axes, panels, strict=True):
            for gamma, sub in frame.groupby("gamma"):
                plotting.median_iqr(
                    ax,
                    sub,
                    x="tol",
                    y=column,
                    color=col,
                    label=rf"$\gamma={gamma:g}$",
                    floor=floor,
                    linestyle=styles.get(float(gamma), "-"),
                    marker=markers.get(float(gamma), "o"),
                )
                worst = sub.groupby("tol")[column].max().clip(lower=floor)
                ax.scatter(
                    worst.index,
                    worst.to_numpy(),
                    edgecolors=col,
                    marker=markers.get(float(gamma), "o"),
                    facecolors="none",
                    s=22,
                    label=rf"$\gamma={gamma:g}$: worst instance",
                )
            plotting.reference_line(ax, tols, factor * tols, f"{ref} (stated bound)")
            plotting.reference_line(
                ax,
                tols,
                np.full(tols.shape, floor),
                f"exact 0 (optimal) drawn at {floor:g}",
                linestyle=":",
                linewidth=0.8,
            )
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.set_ylim(floor / 2, 10.0)
            ax.set_xlabel("tol")
            ax.set_ylabel(ylabel)
        axes[0].set_title("(a) returned policy")
        axes[1].set_title("(b) returned values")
        plotting.legend(fig, axes[1], loc="lower right", fontsize=5)
    return fig
