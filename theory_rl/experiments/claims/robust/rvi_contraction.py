r"""Claim ``rvi_contraction``: the robust Bellman operator is a gamma-contraction, so robust VI
converges at rate gamma for every uncertainty set.

**Statement** (Iyengar 2005, Thm 3.2; Nilim & El Ghaoui 2005; Wiesemann, Kuhn & Rustem 2013
for s-rectangular sets).  For (s,a)- or s-rectangular compact uncertainty sets (and for the
penalised, soft-robust operators, which are monotone and translation-equivariant) the robust
operator ``T`` satisfies :math:`\|Tv - Tw\|_\infty \le \gamma\|v - w\|_\infty`; hence robust VI
:math:`v_{k+1} = Tv_k` satisfies, at every iterate,

.. math::  \|v_{k+1} - v_k\|_\infty \le \gamma\|v_k - v_{k-1}\|_\infty, \qquad
           \|v_k - V^*\|_\infty \le \gamma^k\|v_0 - V^*\|_\infty .

**Measurement.**  Garnets (``b = 4``), ``gamma`` in {0.9, 0.99}, every set of
:mod:`theory_rl.mdps.robust` (L1, KL and chi-square balls, the three penalties, the
s-rectangular L1 set, a two-kernel finite set), :math:`v_0` uniform on the value range; the
iterates are :func:`theory_rl.algorithms.robust.robust_bellman_operator` applied repeatedly
until :math:`\gamma^k < 10^{-11}`.  ``V*`` is the robust VI solution at the round-off floor
(certified by its span stopping rule).

**Tolerance.**  ``atol`` = :func:`theory_rl.bounds.mdp_constants.value_error_floor` (round-off
of two computed value vectors; the inner oracles are exact up to a few ulps: closed forms and
sorts, the KL dual to relative 1e-15) plus, for the second verdict, the certified error of
``V*``.

References:
    G. Iyengar. Robust dynamic programming. Math. Oper. Res. 30(2), 2005, Thm 3.2.
    A. Nilim, L. El Ghaoui. Robust control of Markov decision processes with uncertain
    transition matrices. Oper. Res. 53(5), 2005.
    W. Wiesemann, D. Kuhn, B. Rustem. Robust Markov decision processes. Math. Oper. Res.
    38(1), 2013.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from theory_rl.algorithms import robust
from theory_rl.bounds import mdp_constants
from theory_rl.bounds.rates import Verdict
from theory_rl.experiments import plotting
from theory_rl.experiments.base import Claim, product_grid, seed_of, sub_seed
from theory_rl.experiments.checks import bound_verdict
from theory_rl.experiments.claims.robust._common import SET_NAMES, make_set, quiet
from theory_rl.mdps import garnet

CLAIM = Claim(
    id="rvi_contraction",
    paper="Iyengar (2005)",
    theorem="Thm 3.2 (robust operator is a gamma-contraction)",
    statement="||v_k+1 - v_k|| <= gamma ||v_k - v_k-1|| and ||v_k - V*|| <= gamma^k ||v_0 - V*||",
    algorithm="robust_value_iteration",
    caption=(
        "Robust VI on garnets for every uncertainty set: sup-norm error relative to the initial "
        "error against the contraction bound gamma^k (dashed)."
    ),
)

RELATIVE_DEPTH = 1e-11
GRID = product_grid(n_states=[30], uncertainty=list(SET_NAMES), gamma=[0.9, 0.99], replicate=[0, 1])
QUICK_GRID = product_grid(n_states=[10], uncertainty=list(SET_NAMES), gamma=[0.9], replicate=[0])


def compute(config: dict[str, Any]) -> list[dict[str, Any]]:
    """Iterate the robust operator from a random start; record the errors and step sizes."""
    seed = seed_of(config)
    gamma = float(config["gamma"])
    mdp = garnet(int(config["n_states"]), 3, 4, gamma=gamma, seed=sub_seed(seed, 0))
    unc = make_set(config["uncertainty"], mdp, sub_seed(seed, 1))
    lo, hi = mdp_constants.value_range(mdp)
    v = np.random.default_rng(sub_seed(seed, 2)).uniform(lo, hi, mdp.n_states)
    scale = max(abs(lo), abs(hi))
    ref = quiet(robust.robust_value_iteration, mdp, unc, tol=1e-13 * scale)
    v_star = np.asarray(ref.values)
    # certified by robust VI's span rule: values within error_bound / 2 (+ round-off) of V*
    ref_error = float(ref.history["error_bound"][-1]) / 2 + float(ref.params["roundoff_bound"])
    K = max(1, math.ceil(math.log(RELATIVE_DEPTH) / math.log(gamma)))
    iterates = [v]
    for _ in range(K):
        v = robust.robust_bellman_operator(mdp, unc, v)
        iterates.append(v)
    it = np.asarray(iterates)
    errors = np.abs(it - v_star).max(axis=1)
    steps = np.r_[np.nan, np.abs(np.diff(it, axis=0)).max(axis=1)]
    atol = mdp_constants.value_error_floor(mdp)
    return [
        {
            "k": k,
            "error": float(errors[k]),
            "step": float(steps[k]),
            "bound": float(errors[0] * gamma**k),
            "atol": atol,
            "ref_error": ref_error,
        }
        for k in range(K + 1)
    ]


def _one_step(frame: pd.DataFrame) -> pd.DataFrame:
    parts = []
    for _, run in frame.groupby("spawn_key", sort=False):
        run = run.sort_values("k")
        step = run["step"].to_numpy()
        parts.append(
            run.iloc[2:].assign(measured=step[2:], bound=run["gamma"].to_numpy()[2:] * step[1:-1])
        )
    return pd.concat(parts, ignore_index=True)


def check(frame: pd.DataFrame) -> list[Verdict]:
    """Verdicts: one-step contraction of the increments; the gamma^k bound on the error."""
    errors = frame.assign(measured=frame["error"], atol=frame["atol"] + frame["ref_error"])
    return [
        bound_verdict(
            _one_step(frame),
            CLAIM,
            theorem="Thm 3.2 (one-step contraction of increments)",
            stated="||v_k+1 - v_k||_inf <= gamma ||v_k - v_k-1||_inf",
            what="||v_k+1-v_k|| / (gamma ||v_k-v_k-1||)",
            describe=("uncertainty", "gamma"),
        ),
        bound_verdict(
            errors,
            CLAIM,
            theorem=CLAIM.theorem,
            stated="||v_k - V*|| <= gamma^k ||v_0 - V*||",
            what="||v_k-V*|| / (gamma^k ||v_0-V*||)",
            describe=("uncertainty", "gamma"),
        ),
    ]


def plot(frame: pd.DataFrame) -> Any:
    """One panel per gamma: relative error per set (median over replicates) and gamma^k."""
    import matplotlib.pyplot as plt

    gammas = sorted(frame["gamma"].unique())
    cmap = plt.get_cmap("tab10")
    with plotting.paper_style():
        fig, axes = plt.subplots(1, len(gammas), figsize=(3.2 * len(gammas), 2.6), squeeze=False)
        for ax, gamma in zip(axes[0], gammas, strict=True):
            sub = frame[frame["gamma"] == gamma]
            for i, (name, grp) in enumerate(sub.groupby("uncertainty", sort=True)):
                first = grp[grp["k"] == 0].set_index("spawn_key")["error"]
                rel = grp.assign(rel=grp["error"] / grp["spawn_key"].map(first))
                med = rel.groupby("k")["rel"].median()
                ax.plot(
                    med.index,
                    np.maximum(med.to_numpy(), 1e-17),
                    color=cmap(i % 10),
                    label=f"{name} (median, n={grp['spawn_key'].nunique()})",
                    lw=1,
                )
            k = np.sort(sub["k"].unique())
            plotting.reference_line(ax, k, float(gamma) ** k, r"$\gamma^k$ (Iyengar Thm 3.2)")
            plotting.note(ax, "values < 1e-17 drawn at 1e-17")
            ax.set_yscale("log")
            ax.set_ylim(1e-17, 2.0)
            ax.set_title(rf"$\gamma = {gamma:g}$")
            ax.set_xlabel("robust VI iteration $k$")
        axes[0][0].set_ylabel(r"$\|v_k - V^*\|_\infty / \|v_0 - V^*\|_\infty$")
        plotting.legend(fig, axes[0][0], loc="lower left", fontsize=5)
    return fig
