r"""Claim ``nash_comparison``: Nash-MP against Nash-MD, OMD and optimistic MD per query.

**Statement.**  Tiapkin et al. (2025, v1 abstract) present Nash-MP as converging faster than
Nash-MD (Munos et al. 2024), whose last iterate converges at rate :math:`O(1/T)` in KL with
:math:`\eta = \log T/(\beta T)`; plain online mirror descent is not guaranteed to converge in
the last iterate when :math:`\eta` is large relative to :math:`\beta` (the regime of small
``beta`` at the Nash-MP step size).  Checked here (deterministic, exact queries):

1. Nash-MP stays within its derived bound :math:`(1+2\beta)^{-N/2}\mathrm{KL}_0` at every
   query count ``N`` (``atol`` = certified reference error + KL round-off,
   :func:`~theory_rl.experiments.claims.nash._common.kl_atol`), for every ``beta``; the first
   ``N`` with :math:`\mathrm{KL} \le 10^{-6}` against the count the bound guarantees
   (:func:`theory_rl.bounds.tiapkin2025.queries_to_reach`) is reported.  Gating every ``N``
   (not only the query count, which is beyond the budget at ``beta = 0.01``) is what sees a
   Nash-MP without its extrapolation step: that is OMD with two queries counted per
   iteration, which stalls at ``beta = 0.01`` (KL / bound about ``1e5``);
2. at the full budget ``N`` (Nash-MD tuned to it, :math:`\eta = \log N/(\beta N)`), Nash-MP's
   KL is below Nash-MD's for ``beta <= 0.1`` (the notes' assertion (b)).  At very small budgets
   (``N`` of a few dozen, ``beta = 0.1``) the horizon-tuned Nash-MD is measured *ahead*; the
   verdict reports the budget from which Nash-MP stays ahead.
3. at ``beta = 0.01``, plain OMD with Nash-MP's step ``eta = 2`` does not converge in the last
   iterate (final KL above ``1e-2 KL_0``), while optimistic MD (``eta = 1``) does.

4. Nash-MD's final KL is within its bound :math:`(\mathrm{KL}_0 + 2\log T/\beta^2)/T`
   (:mod:`theory_rl.bounds.munos2024`, constants [U]) at every budget.  The bound is loose
   (worst ratio 0.0045 on the quick grid): a bound more optimistic by less than about 200x
   would pass, and the verdict says so.

**Measurement.**  Random skew-logit games with ``Y = 100`` (quick: 30), ``beta`` in
{0.01, 0.1, 1}, ``pi_0 = pi_ref``, a budget of 2000 queries (quick: 1200).

References:
    D. Tiapkin et al. Accelerating Nash learning from human feedback via Mirror Prox.
    arXiv:2505.19731 v1, 2025.
    R. Munos et al. Nash learning from human feedback. ICML 2024, arXiv:2312.00886.
    L. D. Popov. A modification of the Arrow-Hurwicz method. Math. Notes 28, 1980.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import pandas as pd

from theory_rl.algorithms import nash
from theory_rl.bounds import munos2024, tiapkin2025
from theory_rl.bounds.rates import Verdict
from theory_rl.experiments import plotting
from theory_rl.experiments.base import Claim, product_grid, seed_of
from theory_rl.experiments.checks import bound_verdict
from theory_rl.experiments.claims.nash._common import kl_atol, reference_equilibrium
from theory_rl.experiments.instances import make_game

CLAIM = Claim(
    id="nash_comparison",
    paper="Tiapkin et al. (2025, v1); Munos et al. (2024)",
    theorem="Nash-MP vs Nash-MD vs OMD per preference query",
    statement="Nash-MP within its bound; beats Nash-MD at matched N (b<=0.1); OMD stalls at b=0.01",
    algorithm="nash_mirror_prox",
    caption=(
        "KL(pi*_beta || pi) against preference queries N on random preference games: Nash-MP "
        "(eta = 2), Nash-MD (eta = log N / (beta N), one run per budget N), plain OMD (eta = 2) "
        "and optimistic MD (eta = 1); Nash-MP's bound (1+2beta)^(-N/2) KL_0 dashed."
    ),
)

TARGET = 1e-6
ALGORITHMS = {
    "nash_mirror_prox": ("Nash-MP", "#0072B2"),
    "nash_md": ("Nash-MD", "#D55E00"),
    "online_mirror_descent": ("OMD", "#009E73"),
    "optimistic_mirror_descent": ("optimistic MD", "#CC79A7"),
}

GRID = product_grid(n_responses=[100], beta=[0.01, 0.1, 1.0], budget=[2000], replicate=range(3))
QUICK_GRID = product_grid(n_responses=[30], beta=[0.01, 0.1, 1.0], budget=[1200], replicate=[0])


def compute(config: dict[str, Any]) -> list[dict[str, Any]]:
    """Run the four methods; Nash-MD once per budget on a log grid of budgets."""
    game = make_game({**config, "family": "random"}, seed_of(config))
    eq, radius = reference_equilibrium(game)
    budget = int(config["budget"])
    rows: list[dict[str, Any]] = []

    def add(alg: str, N: np.ndarray, kl: np.ndarray, atol: Any = np.nan) -> None:
        rows.extend(
            {"algorithm": alg, "queries": float(n), "kl": float(v), "atol": float(a)}
            for n, v, a in zip(N, kl, np.broadcast_to(atol, np.shape(N)), strict=True)
        )

    mp_atol: list[float] = []  # per Nash-MP iterate, through the callback (k = 0 first)

    def keep(res: Any) -> None:
        mp_atol.append(kl_atol(eq, radius, np.log(np.asarray(res.policy)), game.contexts))

    runs = {
        "nash_mirror_prox": (nash.nash_mirror_prox, 2.0, budget // 2),
        "online_mirror_descent": (nash.online_mirror_descent, 2.0, budget),
        "optimistic_mirror_descent": (nash.optimistic_mirror_descent, 1.0, budget - 1),
    }
    for alg, (driver, eta, n_it) in runs.items():
        mp = alg == "nash_mirror_prox"
        res = driver(
            game,
            eta=eta,
            n_iterations=n_it,
            reference=nash.GameReference(policy=eq, beta=game.beta),
            record=("kl_to_opt", "queries"),
            **({"callback": keep} if mp else {}),
        )
        add(alg, res.history["queries"], res.history["kl_to_opt"], mp_atol if mp else np.nan)
    # Nash-MD's step depends on the horizon: one run per budget, its final KL recorded.
    budgets = np.unique(np.geomspace(10, budget, 12).astype(int))
    md = [
        nash.nash_md(
            game,
            n_iterations=int(T),
            reference=nash.GameReference(policy=eq, beta=game.beta),
            record=("kl_to_opt",),
        ).history["kl_to_opt"][-1]
        for T in budgets
    ]
    add("nash_md", budgets.astype(float), np.array(md))
    kl0 = rows[0]["kl"]
    for r in rows:
        r["kl0"] = kl0
        r["md_bound"] = (
            munos2024.final_bound(kl0, game.beta, int(r["queries"]))
            if r["algorithm"] == "nash_md"
            else np.nan
        )
        r["bound"] = (
            float(tiapkin2025.kl_bound(kl0, game.beta, r["queries"]))
            if r["algorithm"] == "nash_mirror_prox"
            else np.nan
        )
    return rows


def _at(run: pd.DataFrame, alg: str) -> pd.Series:
    sub = run[run["algorithm"] == alg]
    return pd.Series(sub["kl"].to_numpy(), index=sub["queries"].to_numpy())


def check(frame: pd.DataFrame) -> list[Verdict]:
    """Three verdicts: Nash-MP within its bound-implied count; ahead of Nash-MD; OMD stalls."""
    reach_ok, ahead_ok, omd_ok = True, True, True
    reach, ahead, omd, md_ratio = [], [], [], []
    for _key, run in frame.groupby("spawn_key", sort=False):
        beta = float(run["beta"].iloc[0])
        kl0 = float(run["kl0"].iloc[0])
        mp = _at(run, "nash_mirror_prox")
        need = tiapkin2025.queries_to_reach(TARGET, kl0, beta)
        hit = mp.index[mp.to_numpy() <= TARGET]
        first = float(hit[0]) if len(hit) else np.inf
        if need <= mp.index.max():
            reach.append(f"b={beta:g}: {first:g} <= {need}")
            reach_ok &= first <= need
        md = _at(run, "nash_md")
        sub = run[run["algorithm"] == "nash_md"]
        md_ratio.append(float((sub["kl"] / sub["md_bound"]).max()))
        if beta <= 0.1:
            mp_at = mp.reindex(md.index, method="ffill")  # Nash-MP at <= the same budget
            worse = md.index[(mp_at > md).to_numpy()]
            since = md.index[md.index > worse.max()].min() if len(worse) else md.index.min()
            ahead.append(
                f"b={beta:g}: MP {mp_at.iloc[-1]:.2e} vs MD {md.iloc[-1]:.2e} at N={md.index[-1]:g}"
                f" (MP ahead from N={since:g})"
            )
            ahead_ok &= bool(mp_at.iloc[-1] < md.iloc[-1])
        if beta <= 0.01:
            o, opt = _at(run, "online_mirror_descent"), _at(run, "optimistic_mirror_descent")
            omd.append(
                f"OMD final/KL_0 {o.iloc[-1] / kl0:.3g}, optimistic {opt.iloc[-1] / kl0:.2e}"
            )
            omd_ok &= bool(o.iloc[-1] > 1e-2 * kl0 and opt.iloc[-1] < 1e-2 * kl0)
    mp_rows = frame[frame["algorithm"] == "nash_mirror_prox"]
    within = bound_verdict(
        mp_rows.rename(columns={"kl": "measured"}),
        CLAIM,
        theorem="Nash-MP KL bound at every N and its query count (derived bound)",
        stated=f"KL(pi*||pi_N) <= (1+2b)^(-N/2) KL_0 at every N; KL <= {TARGET:g} within "
        "queries_to_reach(1e-6)",
        what="KL_N / bound",
        x="queries",
        describe=("beta", "n_responses"),
        note="first N with KL <= 1e-6 vs the bound-implied N: " + "; ".join(reach),
    )
    within = dataclasses.replace(
        within,
        measured=within.measured
        + "; first N with KL <= 1e-6 vs the bound-implied N: "
        + "; ".join(reach),
        holds=within.holds and reach_ok,
    )
    md_rows = frame[frame["algorithm"] == "nash_md"]
    md_ok = bool((md_rows["kl"] <= md_rows["md_bound"]).all())
    return [
        within,
        Verdict(
            claim_id=CLAIM.id,
            paper=CLAIM.paper,
            theorem="Nash-MP vs Nash-MD at matched queries (b <= 0.1)",
            stated="KL(Nash-MP, N) < KL(Nash-MD tuned to N, N) at the budget N",
            measured="KL at the budget: " + "; ".join(ahead),
            holds=ahead_ok,
            detail="Nash-MD tuned to each budget N (eta = log N/(beta N)); its [U] bound is "
            "the last verdict",
        ),
        Verdict(
            claim_id=CLAIM.id,
            paper=CLAIM.paper,
            theorem="OMD last iterate at small beta",
            stated="OMD (eta=2) stalls at b=0.01; optimistic MD converges",
            measured="; ".join(omd) + " (stall: final KL > 1e-2 KL_0)",
            holds=omd_ok,
            detail="stall = final KL above 1e-2 KL_0",
        ),
        Verdict(
            claim_id=CLAIM.id,
            paper="Munos et al. (2024)",
            theorem="Nash-MD last-iterate bound [U] (eta = log T/(beta T))",
            stated="KL(pi*||pi_T) <= (KL_0 + 2 log T/beta^2)/T at every budget T",
            measured=f"worst KL_T / bound = {max(md_ratio):.3g} over "
            f"{frame['spawn_key'].nunique()} games x {md_rows['queries'].nunique()} budgets "
            "(<= 1 holds)",
            holds=md_ok,
            detail=f"constants [U]; the bound is loose here (a bound more optimistic by less than "
            f"{1 / max(md_ratio):.3g}x would also pass)",
            metrics={"md_bound_ratio": max(md_ratio)},
        ),
    ]


def plot(frame: pd.DataFrame) -> Any:
    """One panel per beta: KL against queries for the four methods, Nash-MP's bound dashed."""
    import matplotlib.pyplot as plt

    betas = sorted(frame["beta"].unique())
    with plotting.paper_style():
        fig, axes = plt.subplots(1, len(betas), figsize=(2.7 * len(betas), 2.6), squeeze=False)
        for ax, beta in zip(axes[0], betas, strict=True):
            sub = frame[frame["beta"] == beta]
            for alg, (label, color) in ALGORITHMS.items():
                part = sub[sub["algorithm"] == alg]
                plotting.median_iqr(
                    ax,
                    part,
                    x="queries",
                    y="kl",
                    color=color,
                    label=label,
                    floor=1e-17,
                    marker="o" if alg == "nash_md" else None,
                    markersize=2.5,
                )
            N = np.sort(sub["queries"].unique())
            kl0 = float(sub["kl0"].median())
            plotting.reference_line(ax, N, tiapkin2025.kl_bound(kl0, beta, N), "Nash-MP bound")
            ax.set_yscale("log")
            ax.set_ylim(1e-17, 10.0)
            ax.set_title(rf"$\beta = {beta:g}$")
            ax.set_xlabel("preference queries $N$")
        axes[0][0].set_ylabel(r"KL$(\pi^*_\beta\|\pi)$")
        for ax in axes[0]:
            plotting.note(ax, "values < 1e-17 drawn at 1e-17")
        plotting.legend(fig, axes[0][0], loc="lower left", fontsize=5.5)
    return fig
