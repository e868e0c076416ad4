r"""Claim ``vi_contraction``: value iteration contracts at rate gamma in the sup norm.

**Statement** (Puterman 1994, Prop. 6.2.4 with the fixed-point Thm 6.2.3).  For a discounted
MDP with finite ``S``, ``A``, bounded rewards and ``gamma`` in ``[0, 1)``, the Bellman
optimality operator ``T`` is a ``gamma``-contraction in the sup norm, so value iteration
:math:`v_{k+1} = T v_k` from *any* :math:`v_0` satisfies, at every iterate,

.. math::  \|v_k - V^*\|_\infty \le \gamma^k \|v_0 - V^*\|_\infty
           \qquad\text{and}\qquad
           \|v_{k+1} - V^*\|_\infty \le \gamma \|v_k - V^*\|_\infty .

No further assumption (no ergodicity, no reward scale).

**Measurement.**  Garnets with ``b = 1`` (deterministic) and ``b = 5`` successors and dense
Dirichlet MDPs, ``gamma`` in
{0.5, 0.9, 0.99}, :math:`v_0 = 0`, :math:`v_0` uniform on the value range, and the start on
which the bound is attained, :math:`v_0 = V^* + c\mathbf 1` (``init="offset"``, ``c`` the width
of the value range): :math:`T(V^* + c\mathbf 1) = V^* + \gamma c\mathbf 1` exactly, so
:math:`\|v_k - V^*\|_\infty = \gamma^k c` and both verdicts' ratios are 1 up to round-off; a
stated rate faster than :math:`\gamma` (e.g. :math:`\gamma^{k+1}`) fails there at the first
resolved iterate.  ``V*`` comes from
policy iteration with LU evaluation, certified by its Bellman residual.  The iterates are the raw
:math:`v_k` that :func:`theory_rl.algorithms.dp.value_iteration` passes to its callback; the run
lasts until :math:`\gamma^k` falls below ``1e-11``, well into the round-off floor, so the check
covers the whole trajectory.

**Tolerance.**  ``atol`` = :func:`theory_rl.bounds.mdp_constants.value_error_floor` (worst-case
round-off of two computed value vectors) plus the certified error of the reference ``V*``.  Ratios
are reported only where the bound exceeds ``100 * atol`` (elsewhere both sides are round-off).

References:
    Puterman, M. L. (1994). *Markov Decision Processes*. Wiley. §6.2-6.3.
    Bertsekas, D. P. & Tsitsiklis, J. N. (1996). *Neuro-Dynamic Programming*, Prop. 2.1-2.2.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np
import pandas as pd

from theory_rl.algorithms import dp
from theory_rl.algorithms.exact import reference
from theory_rl.bounds import mdp_constants
from theory_rl.bounds.mdp_constants import RoundoffWarning
from theory_rl.bounds.puterman1994 import vi_contraction_bound
from theory_rl.bounds.rates import Verdict
from theory_rl.experiments import plotting
from theory_rl.experiments.base import Claim, product_grid, seed_of, sub_seed
from theory_rl.experiments.checks import bound_verdict, fit_runs, resolved
from theory_rl.experiments.instances import INSTANCE_FAMILIES, make_instance

CLAIM = Claim(
    id="vi_contraction",
    paper="Puterman (1994)",
    theorem="Prop. 6.2.4 / Thm 6.2.3 (VI contraction)",
    statement="||V_k - V*||_inf <= gamma^k ||V_0 - V*||_inf at every k",
    algorithm="value_iteration",
    caption=(
        "Value iteration on garnet and dense random MDPs: sup-norm error relative to the "
        "initial error (median and IQR over instances and initialisations) against the "
        "contraction bound gamma^k (dashed)."
    ),
)

#: Iterate until gamma^k drops below this (relative), i.e. into the round-off floor.
RELATIVE_DEPTH = 1e-11


def _grid(n_states: int, replicates: int, inits: tuple[str, ...]) -> list[dict[str, Any]]:
    return [
        {**inst, "n_states": n_states, **cfg}
        for inst in INSTANCE_FAMILIES
        for cfg in product_grid(
            n_actions=[4], gamma=[0.5, 0.9, 0.99], init=list(inits), replicate=range(replicates)
        )
    ]


GRID = _grid(200, 10, ("zeros", "random")) + _grid(200, 1, ("offset",))
QUICK_GRID = _grid(20, 2, ("random",)) + _grid(20, 1, ("offset",))


def n_iterations(gamma: float) -> int:
    """Iterations until ``gamma^k <= RELATIVE_DEPTH``."""
    return max(1, math.ceil(math.log(RELATIVE_DEPTH) / math.log(gamma)))


def compute(config: dict[str, Any]) -> list[dict[str, Any]]:
    """Run value iteration on one instance and record ``||v_k - V*||`` and the bound."""
    seed = seed_of(config)
    mdp = make_instance(config, sub_seed(seed, 0))
    ref = reference(mdp)
    v_star, ref_error = ref.values, float(ref.error)
    lo, hi = mdp_constants.value_range(mdp)
    if config["init"] == "zeros":
        v0 = np.zeros(mdp.n_states)
    elif config["init"] == "offset":
        v0 = v_star + (hi - lo)
    else:
        v0 = np.random.default_rng(sub_seed(seed, 1)).uniform(lo, hi, mdp.n_states)
    K = n_iterations(mdp.gamma)
    iterates = [v0]

    def record(intermediate: Any) -> None:
        iterates.append(np.array(intermediate.values))

    # tol below any reachable span keeps VI running for exactly K sweeps (a sentinel, not an
    # accuracy request: its RoundoffWarning says nothing here).
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RoundoffWarning)
        dp.value_iteration(mdp, tol=1e-300, max_iterations=K, initial_values=v0, callback=record)
    errors = np.abs(np.asarray(iterates) - v_star).max(axis=1)
    k = np.arange(errors.size)
    bound = vi_contraction_bound(errors[0], mdp.gamma, k)
    atol = mdp_constants.value_error_floor(mdp) + ref_error
    return [
        {"k": int(i), "error": float(e), "bound": float(b), "atol": atol}
        for i, e, b in zip(k, errors, bound, strict=True)
    ]


def _steps(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per step ``k -> k+1`` of every run: ``measured = ||V_{k+1} - V*||`` and
    ``bound = gamma ||V_k - V*||``, indexed by ``k + 1``."""
    parts = []
    for _, run in frame.groupby("spawn_key", sort=False):
        run = run.sort_values("k")
        err = run["error"].to_numpy()
        parts.append(
            run.iloc[1:].assign(measured=err[1:], bound=run["gamma"].to_numpy()[1:] * err[:-1])
        )
    return pd.concat(parts, ignore_index=True)


def check(frame: pd.DataFrame) -> list[Verdict]:
    """Verdicts: the gamma^k bound at every iterate, and the one-step contraction."""
    fitted = fit_runs(
        frame,
        x="k",
        y="error",
        window=lambda run: resolved(run["bound"].to_numpy(), run["atol"].to_numpy()),
        keep=("gamma",),
    )
    rates = [
        f"gamma={gamma:g}: fitted rate max {sub['rate'].max():.3g}"
        for gamma, sub in fitted.dropna(subset=["rate"]).groupby("gamma")
    ]
    note = "fitted rates over resolved iterates (reported, not gated): " + "; ".join(rates)
    offset = frame[(frame["init"] == "offset") & (frame["k"] >= 1)]
    offset = offset[resolved(offset["bound"].to_numpy(), offset["atol"].to_numpy())]
    if len(offset):
        r = (offset["error"] / offset["bound"]).to_numpy()
        note += (
            f"; start V* + c (bound attained): ratio to gamma^k c between {r.min():.6g} and "
            f"{r.max():.6g} over {offset['spawn_key'].nunique()} runs"
        )
    return [
        bound_verdict(
            frame.rename(columns={"error": "measured"}),
            CLAIM,
            theorem=CLAIM.theorem,
            stated=CLAIM.statement,
            what="||V_k-V*|| / (gamma^k ||V_0-V*||)",
            describe=("family", "branching", "gamma"),
            note=note,
        ),
        bound_verdict(
            _steps(frame),
            CLAIM,
            theorem="Prop. 6.2.4 (one-step contraction)",
            stated="||V_{k+1} - V*||_inf <= gamma ||V_k - V*||_inf",
            what="||V_k+1-V*|| / (gamma ||V_k-V*||)",
            describe=("family", "branching", "gamma"),
            note=note,
        ),
    ]


def plot(frame: pd.DataFrame) -> Any:
    """One panel per gamma: relative error (median, IQR) against gamma^k (dashed)."""
    import matplotlib.pyplot as plt

    gammas = sorted(frame["gamma"].unique())
    with plotting.paper_style():
        fig, axes = plt.subplots(1, len(gammas), figsize=(2.3 * len(gammas), 2.4), squeeze=False)
        for ax, gamma in zip(axes[0], gammas, strict=True):
            sub = frame[frame["gamma"] == gamma]
            first = sub[sub["k"] == 0].set_index("spawn_key")["error"]
            rel = sub.assign(rel=sub["error"] / sub["spawn_key"].map(first))
            plotting.median_iqr(
                ax,
                rel,
                x="k",
                y="rel",
                color=plotting.color(CLAIM.algorithm),
                label="VI",
                floor=1e-17,
            )
            plotting.note(ax, "values < 1e-17 drawn at 1e-17")
            k = np.sort(sub["k"].unique())
            plotting.reference_line(ax, k, float(gamma) ** k, r"$\gamma^k$ (Puterman 6.2.4)")
            ax.set_yscale("log")
            ax.set_ylim(1e-17, 2.0)
            ax.set_title(rf"$\gamma = {gamma:g}$")
            ax.set_xlabel("iteration $k$")
        axes[0][0].set_ylabel(r"$\|V_k - V^*\|_\infty / \|V_0 - V^*\|_\infty$")
        plotting.legend(fig, axes[0][0], loc="lower left", fontsize=6)
    return fig
