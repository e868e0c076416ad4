r"""Claim ``pmd_inexact``: PMD with inexact action values converges to a floor proportional to b.

**Statement** (Johnson, Pike-Burke & Rebeschini 2023, inexact PMD, as restated by Protopapas &
Barakat 2024 [V2]; :mod:`theory_rl.bounds.johnson2023`).  If
:math:`\|\hat Q^k - Q^k\|_\infty \le b` at every iteration and the adaptive step is computed
from :math:`\hat Q^k`, then at every ``k``

.. math::  \|V^* - V^k\|_\infty \le \gamma^k\Big(\|V^* - V^0\|_\infty
           + \frac{1}{1-\gamma}\sum_{t=1}^k \frac{c_{t-1}}{\gamma^t}\Big)
           + \frac{4b}{(1-\gamma)^2}.

So the error floor scales (at most) linearly with ``b``.  Xiao's Thm 13 floor
:math:`4\vartheta_\rho b/(1-\gamma)` has an unconfirmed constant [R] and is not tested.

**Measurement.**  :math:`b \in \{10^{-3}, 10^{-2}, 10^{-1}\}`; error models ``uniform``
(i.i.d. :math:`U[-b, b]`, seeded), ``adversarial`` (:math:`-b` on the current greedy action,
:math:`+b` elsewhere) and ``fixed`` (:math:`-b` on the optimal action); KL and Euclidean;
:math:`c_0 = 1`.  Verdict 1: the bound at every iterate.  Verdict 2 (the scaling): the floor,
:math:`\max_{k \ge K/2}\|V^*-V^k\|_\infty`, divided by ``b`` stays below :math:`4/(1-\gamma)^2`
for every ``b``; the fitted log-log exponent of floor against ``b`` is reported (1 means linear).

References:
    E. Johnson, C. Pike-Burke, P. Rebeschini. Optimal convergence rate for exact policy mirror
    descent in discounted Markov decision processes. NeurIPS 2023, arXiv:2302.11381.
    K. Protopapas, A. Barakat. Policy mirror descent with lookahead. NeurIPS 2024,
    arXiv:2403.14156.
    L. Xiao. On the convergence rates of policy gradient methods. JMLR 23(282), 2022.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from theory_rl.algorithms import pmd
from theory_rl.bounds import johnson2023
from theory_rl.bounds.rates import Verdict, fit_rate
from theory_rl.experiments import plotting
from theory_rl.experiments.base import INSTANCE_FAMILIES, Claim, product_grid, seed_of, sub_seed
from theory_rl.experiments.claims.pmd import _common as pmd_common

CLAIM = Claim(
    id="pmd_inexact",
    paper="Johnson, Pike-Burke & Rebeschini (2023)",
    theorem="inexact PMD: gamma-rate plus floor 4b/(1-gamma)^2",
    statement="||V*-V^k||_inf <= gamma^k(...) + 4b/(1-gamma)^2 when ||Q_hat-Q||_inf <= b",
    algorithm="policy_mirror_descent",
    caption="Inexact PMD (adaptive steps): error floor max_{k>=K/2} ||V*-V^k||_inf against the "
    "error level b (log-log), per error model and mirror map, against 4b/(1-gamma)^2 (dashed).",
)


def _grid(n_states: int, gammas: list[float], bs: list[float], reps: int) -> list[dict]:
    return [
        {**f, "n_states": n_states, **c}
        for f in INSTANCE_FAMILIES
        for c in product_grid(
            n_actions=[4],
            gamma=gammas,
            mirror=["kl", "euclidean"],
            model=["uniform", "adversarial", "fixed"],
            b=bs,
            replicate=range(reps),
        )
    ]


GRID = _grid(30, [0.5, 0.9, 0.99], [1e-4, 1e-3, 1e-2, 1e-1, 0.3], 3)
QUICK_GRID = [c for c in _grid(10, [0.9], [1e-3, 1e-2, 1e-1], 1) if c["branching"] != 5]


def compute(config: dict[str, Any]) -> list[dict[str, Any]]:
    seed = seed_of(config)
    mdp = pmd_common.instance(config, sub_seed(seed, 0))
    gamma, b = mdp.gamma, float(config["b"])
    K = int(min(400, np.ceil(np.log(1e-10) / np.log(gamma))))
    res = pmd.policy_mirror_descent(
        mdp,
        eta=0.0,
        mirror=config["mirror"],
        schedule="adaptive",
        c0=1.0,
        n_iterations=K,
        q_error=b,
        q_error_model=config["model"],
        seed=sub_seed(seed, 1),
    )
    sup = np.asarray(res.history["sup_gap"])
    k = np.arange(sup.size)
    c = johnson2023.c_schedule(1.0, gamma, max(1, sup.size - 1))
    bound = johnson2023.adaptive_bound(k, gamma=gamma, sup_gap0=float(sup[0]), c=c, b=b)
    floor = float(sup[sup.size // 2 :].max())
    return pmd_common.bound_rows(
        k,
        sup,
        bound,
        pmd_common.atol_of(mdp),
        floor=floor,
        stated_floor=johnson2023.inexact_floor(b, gamma),
    )


def _floors(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.groupby("spawn_key", sort=False).first().reset_index()


def check(frame: pd.DataFrame) -> list[Verdict]:
    bound = pmd_common.bound_verdict(
        frame,
        CLAIM,
        theorem=CLAIM.theorem,
        stated=CLAIM.statement,
        what="||V*-V^k||_inf / bound",
    )
    fl = _floors(frame)
    ratio = (fl["floor"] / fl["stated_floor"]).to_numpy()
    exps = []
    for (model, mirror), sub in fl.groupby(["model", "mirror"]):
        agg = sub.groupby("b")["floor"].max()
        if (agg > 0).sum() >= 3:
            exps.append(
                f"{model}/{mirror}: {fit_rate(agg.index, agg.values, kind='power').slope:.2f}"
            )
    holds = bool(np.all(ratio <= 1.0 + pmd_common.RTOL))
    scaling = Verdict(
        CLAIM.id,
        CLAIM.paper,
        "inexact PMD: floor scales with b",
        "floor(b) = limsup ||V*-V^k||_inf <= 4b/(1-gamma)^2 (linear in b)",
        f"worst floor/(4b/(1-g)^2) = {ratio.max():.3g}; fitted exponents of floor vs b: "
        + ", ".join(exps),
        holds,
        f"{len(fl)} runs; floor = max over the second half of the run",
        {"worst_ratio": float(ratio.max())},
    )
    return [bound, scaling]


def plot(frame: pd.DataFrame) -> Any:
    import matplotlib.pyplot as plt

    fl = _floors(frame)
    with plotting.paper_style():
        fig, ax = plt.subplots(figsize=(3.4, 2.6))
        markers = {"uniform": "o", "adversarial": "s", "fixed": "^"}
        for (model, mirror), sub in fl.groupby(["model", "mirror"]):
            agg = sub.groupby("b")["floor"].median()
            ax.plot(
                agg.index,
                np.maximum(agg.values, 1e-16),
                marker=markers[model],
                linestyle="-" if mirror == "kl" else ":",
                color=plotting.color(CLAIM.algorithm),
                label=f"{model}, {mirror}",
            )
        bs = np.sort(fl["b"].unique())
        g = float(fl["gamma"].iloc[0])
        plotting.reference_line(ax, bs, 4 * bs / (1 - g) ** 2, r"$4b/(1-\gamma)^2$")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("error level $b$")
        ax.set_ylabel(r"floor $\max_{k\geq K/2}\|V^*-V^k\|_\infty$")
        ax.legend(fontsize=5)
    return fig
