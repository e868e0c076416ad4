r"""Claim ``nash_mp_rate``: Nash Mirror Prox converges linearly in the last iterate.

**Statement** (Tiapkin et al. 2025, arXiv:2505.19731 v1; rate from the abstract, constants
derived in :mod:`theory_rl.bounds.tiapkin2025`).  For a preference game with ``beta > 0``, exact
Nash-MP with :math:`\eta = 2` from :math:`\pi_0 = \pi_{\mathrm{ref}}` satisfies, at every
iterate, with ``N = 2k`` preference queries,

.. math::  \mathrm{KL}(\pi^*_\beta\|\pi_k) \le (1+2\beta)^{-N/2}\,\mathrm{KL}(\pi^*_\beta\|\pi_0),

and the exploitability :math:`\mathrm{Gap}_\beta(\pi_k)` decays linearly (derived asymptotic
rate :math:`(1+2\beta)^{-1/2}` per query), with rates that do not depend on the number of
responses ``Y``.

**Measurement.**  Random skew-logit games :math:`P = \sigma(S)` (scale 3), cyclic
(rock-paper-scissors-like) games and Bradley-Terry games, ``Y`` in {5, 20, 100} (odd sizes for
cyclic games), ``beta`` in {0.01, 0.1, 1}, Dirichlet(1) reference policies.  Each run lasts
until the bound falls to ``1e-13`` of ``KL_0`` (into the round-off floor).  The equilibrium comes
from :func:`theory_rl.algorithms.nash.regularized_equilibrium` (SLSQP + Newton), certified by
an a-posteriori l1 radius.

**Tolerance.**  ``atol`` per iterate = the reference's certified error plus the round-off of the
KL sum (:func:`theory_rl.experiments.claims.nash._common.kl_atol`); ratios reported where the bound
exceeds ``100 atol``.  The gap rate is an OLS fit of ``log Gap`` against ``N`` on the iterates
with ``1e-12 < Gap < 1e-2 Gap_0`` (after the transient, above round-off); the verdict holds when
the fitted per-query rate is not significantly slower (95% CI) than :math:`(1+2\beta)^{-1/2}`.

References:
    D. Tiapkin et al. Accelerating Nash learning from human feedback via Mirror Prox.
    arXiv:2505.19731 v1, 2025.
    A. Nemirovski. Prox-method with rate of convergence O(1/t). SIAM J. Optim. 15(1), 2004.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from theory_rl.algorithms import nash
from theory_rl.bounds import tiapkin2025
from theory_rl.bounds.rates import Verdict, check_bound, fit_rate
from theory_rl.experiments import plotting
from theory_rl.experiments.base import Claim, product_grid, resolved, seed_of
from theory_rl.experiments.claims.nash._common import kl_atol, make_game, reference_equilibrium

CLAIM = Claim(
    id="nash_mp_rate",
    paper="Tiapkin et al. (2025, v1)",
    theorem="Nash-MP last-iterate linear rate (abstract; constants derived)",
    statement="KL(pi*_b||pi_k) <= (1+2b)^(-N/2) KL_0 at every k; Gap_b linear, rate |Y|-free",
    algorithm="nash_mirror_prox",
    caption=(
        "Exact Nash Mirror Prox (eta = 2) on random, cyclic and Bradley-Terry preference games: "
        "KL(pi*||pi_k)/KL_0 (top) and exploitability Gap_beta (bottom) against preference "
        "queries N, one colour per number of responses Y (median, IQR), bound "
        "(1+2beta)^(-N/2) dashed."
    ),
)

ETA = 2.0
DEPTH = 1e-13
GAP_FLOOR = 1e-12


def _grid(families: list[str], sizes: list[int], replicates: int) -> list[dict[str, Any]]:
    out = []
    for cfg in product_grid(
        family=families, n_responses=sizes, beta=[0.01, 0.1, 1.0], replicate=range(replicates)
    ):
        if cfg["family"] == "cyclic":
            cfg["n_responses"] += 1 - cfg["n_responses"] % 2  # odd
        out.append(cfg)
    return out


GRID = _grid(["random", "cyclic", "bradley_terry"], [5, 20, 100], 4)
QUICK_GRID = _grid(["random"], [5, 20, 100], 1) + _grid(["cyclic"], [5], 1)


def n_iterations(beta: float) -> int:
    """Iterations until the bound is ``DEPTH`` of ``KL_0``."""
    return math.ceil(math.log(1.0 / DEPTH) / math.log1p(ETA * beta))


def compute(config: dict[str, Any]) -> list[dict[str, Any]]:
    """Run exact Nash-MP; record KL, bound, atol and exploitability per iterate."""
    game = make_game(config, seed_of(config))
    eq, radius = reference_equilibrium(game)
    iterates: list[np.ndarray] = []  # the callback sees k = 0..K

    def keep(res: Any) -> None:
        iterates.append(np.log(np.asarray(res.policy)))

    res = nash.nash_mirror_prox(
        game,
        eta=ETA,
        n_iterations=n_iterations(game.beta),
        reference=nash.GameReference(policy=eq, beta=game.beta, radius=radius),
        callback=keep,
    )
    kl = res.history["kl_to_opt"]
    N = res.history["queries"]
    bound = tiapkin2025.kl_bound(kl[0], game.beta, N, eta=ETA)
    return [
        {
            "k": k,
            "queries": float(N[k]),
            "kl": float(kl[k]),
            "bound": float(bound[k]),
            "atol": kl_atol(eq, radius, iterates[k], game.contexts),
            "gap": float(res.history["exploitability"][k]),
        }
        for k in range(kl.size)
    ]


def _runs(frame: pd.DataFrame) -> Any:
    return frame.groupby("spawn_key", sort=False)


def gap_fit(run: pd.DataFrame) -> Any:
    """Geometric fit of the exploitability against queries on the asymptotic window."""
    gap = run["gap"].to_numpy()
    mask = (gap > GAP_FLOOR) & (gap < 1e-2 * gap[0])
    if mask.sum() < 4:
        return None
    return fit_rate(run["queries"].to_numpy()[mask], gap[mask])


def check(frame: pd.DataFrame) -> list[Verdict]:
    """Verdicts: the KL bound at every iterate; the exploitability rate for every size."""
    n_runs = frame["spawn_key"].nunique()
    ok, worst, failures = True, 0.0, []
    for key, run in _runs(frame):
        run = run.sort_values("k")
        kl, bnd, atol = (run[c].to_numpy() for c in ("kl", "bound", "atol"))
        res = check_bound(kl, bnd + atol)
        mask = resolved(bnd, atol) & (run["k"].to_numpy() >= 1)
        if mask.any():
            worst = max(worst, float((kl[mask] / bnd[mask]).max()))
        if not res.holds:
            ok = False
            failures.append(
                f"run {key} (Y={run['n_responses'].iloc[0]}, beta={run['beta'].iloc[0]}): "
                f"{res.describe()}"
            )
    kl_detail = (
        f"{n_runs} runs, {len(frame)} iterates; atol = certified reference error + KL round-off; "
        "ratio over iterates whose bound exceeds 100 atol"
        + ("; FAILURES: " + " | ".join(failures[:5]) if failures else "")
    )
    gap_ok, rates, gap_fail, worst_excess = True, [], [], -math.inf
    for (beta, Y), sub in frame.groupby(["beta", "n_responses"]):
        stated = tiapkin2025.gap_rate(float(beta), eta=ETA)
        for key, run in _runs(sub):
            fit = gap_fit(run.sort_values("k"))
            if fit is None:
                gap_ok = False
                gap_fail.append(f"run {key}: too few resolved gap points (no linear decay seen)")
                continue
            rates.append(f"b={beta:g},Y={Y}: {fit.rate:.4g} (stated {stated:.4g})")
            worst_excess = max(worst_excess, fit.rate / stated)
            if math.exp(fit.ci_low) > stated:
                gap_ok = False
                gap_fail.append(f"run {key} b={beta:g} Y={Y}: {fit.describe()} > {stated:.4g}")
    gap_detail = (
        "per-query fitted exploitability rate, per (beta, Y): "
        + "; ".join(rates[:12])
        + ("; FAILURES: " + " | ".join(gap_fail[:5]) if gap_fail else "")
    )
    return [
        Verdict(
            CLAIM.id,
            CLAIM.paper,
            "KL bound at every iterate (derived, eta=2)",
            "KL(pi*_b||pi_k) <= (1+2b)^(-N/2) KL_0",
            f"worst KL_k / bound = {worst:.4f}",
            ok,
            kl_detail,
            {"worst_ratio": worst, "n_runs": n_runs},
        ),
        Verdict(
            CLAIM.id,
            CLAIM.paper,
            "linear exploitability decay, |Y|-independent rate",
            "Gap_b(pi_k) ~ C r^N with r <= (1+2b)^(-1/2), every Y",
            f"worst fitted rate / stated = {worst_excess:.4f}",
            gap_ok,
            gap_detail,
            {"worst_rate_ratio": worst_excess},
        ),
    ]


SIZE_STYLES = {5: ":", 7: ":", 20: "-", 21: "-", 100: "--", 101: "--"}


def plot(frame: pd.DataFrame) -> Any:
    """Columns per beta; top KL/KL_0 with the bound, bottom exploitability; lines per Y."""
    import matplotlib.pyplot as plt

    betas = sorted(frame["beta"].unique())
    sizes = sorted(frame["n_responses"].unique())
    cmap = plt.get_cmap("viridis")
    with plotting.paper_style():
        fig, axes = plt.subplots(2, len(betas), figsize=(2.6 * len(betas), 4.4), squeeze=False)
        for j, beta in enumerate(betas):
            sub = frame[frame["beta"] == beta]
            first = sub[sub["k"] == 0].set_index("spawn_key")["kl"]
            rel = sub.assign(rel=sub["kl"] / sub["spawn_key"].map(first))
            for i, Y in enumerate(sizes):
                c = cmap(i / max(1, len(sizes) - 1) * 0.85)
                part = rel[rel["n_responses"] == Y]
                if part.empty:
                    continue
                plotting.median_iqr(
                    axes[0][j], part, x="queries", y="rel", color=c, label=f"Y={Y}", floor=1e-17
                )
                plotting.median_iqr(
                    axes[1][j], part, x="queries", y="gap", color=c, label=f"Y={Y}", floor=1e-17
                )
            N = np.sort(sub["queries"].unique())
            plotting.reference_line(
                axes[0][j], N, tiapkin2025.kl_bound(1.0, beta, N), r"$(1+2\beta)^{-N/2}$"
            )
            for ax in axes[:, j]:
                ax.set_yscale("log")
                ax.set_ylim(1e-17, 10.0)
            axes[0][j].set_title(rf"$\beta = {beta:g}$")
            axes[1][j].set_xlabel("preference queries $N$")
        axes[0][0].set_ylabel(r"KL$(\pi^*_\beta\|\pi_k)$ / KL$_0$")
        axes[1][0].set_ylabel(r"Gap$_\beta(\pi_k)$")
        axes[0][0].legend(loc="lower left", fontsize=6)
    return fig
