r"""Claim ``spg_truncation``: the truncation bias of the gradient and of the Hessian.

**Statement** (Fatkhullin et al. 2023 [T]; derived in :mod:`theory_rl.bounds.fatkhullin2023`
[R]).  :math:`\|\nabla J_H(\theta) - \nabla J(\theta)\| \le D_g\gamma^H` and
:math:`\|\nabla^2J_H(\theta) - \nabla^2J(\theta)\|_2 \le D_h\gamma^H` for every ``H`` and
:math:`\theta`, with :math:`D_g = \frac{r_{max}M_g}{1-\gamma}\sqrt{H+\frac1{1-\gamma}}` and
:math:`D_h = \frac{r_{max}(M_g^2+M_h)}{1-\gamma}(H+\frac1{1-\gamma})`; :math:`M_g, M_h` are the
log-linear score and Hessian bounds of
:class:`~theory_rl.algorithms.stochastic_pg.LogLinearPolicy` (:math:`M_g = \max\|\phi(s,a) -
\phi(s,b)\|`, :math:`M_h = M_g^2/4`).

**Measurement.**  Exact :math:`\nabla J_H, \nabla^2J_H` for every ``H`` = 1..120 in one pass of
the forward moment recursion; :math:`\nabla J` by the policy gradient theorem (a linear solve)
and :math:`\nabla^2J` as :math:`\nabla^2J_{H_\infty}` with :math:`D_h\gamma^{H_\infty} <
10^{-15}`.  Instances: tabular softmax on garnets (:math:`\gamma` in {0.8, 0.9}) and log-linear
on random linear MDPs, at random :math:`\theta`.  Check at every ``H`` (``bound_verdict``):
measured :math:`\le` bound + atol, atol the round-off floor
:math:`\epsilon\,(H_\infty + H)\,S A\, D(0)` of sums of that many terms of size at most
:math:`D(0)`.  The bound is loose on these instances (worst ratio reported, about 0.02 for the
gradient): the check catches a truncation that does not decay like :math:`\gamma^H` (an
undiscounted or mis-indexed truncated gradient), and a claimed rate :math:`\gamma^{2H}`.

References:
    I. Fatkhullin, A. Barakat, A. Kireeva, N. He. Stochastic policy gradient methods: improved
    sample complexity for Fisher-non-degenerate policies. ICML 2023, arXiv:2302.01734.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from theory_rl.algorithms import stochastic_pg
from theory_rl.bounds import fatkhullin2023
from theory_rl.bounds.rates import Verdict
from theory_rl.experiments import checks
from theory_rl.experiments.base import Claim, product_grid, seed_of
from theory_rl.mdps import garnet, random_linear_mdp

CLAIM = Claim(
    id="spg_truncation",
    paper="Fatkhullin, Barakat, Kireeva & He (ICML 2023)",
    theorem="truncation bias ||grad J_H - grad J|| <= D_g gamma^H, Hessian <= D_h gamma^H",
    statement="both bounds at every H = 1..120",
    algorithm="stochastic_policy_gradient",
    caption="Truncation error of the exact gradient and Hessian divided by the bounds D_g "
    "gamma^H and D_h gamma^H, against the horizon H (median and IQR over instances and "
    "parameters); the bound is the line ratio = 1.",
)

H_MAX = 120
EPS = float(np.finfo(np.float64).eps)
GRID = product_grid(family=["tabular", "linear"], gamma=[0.8, 0.9], replicate=range(4))
QUICK_GRID = product_grid(family=["tabular", "linear"], gamma=[0.8, 0.9], replicate=[0])


def instance(family: str, gamma: float, replicate: int) -> Any:
    if family == "tabular":
        return garnet(5, 3, 2, gamma=gamma, seed=10 + replicate, sparse=False)
    return random_linear_mdp(6, 3, 4, gamma=gamma, seed=20 + replicate)


def compute(config: dict[str, Any]) -> list[dict[str, Any]]:
    mdp = instance(config["family"], float(config["gamma"]), int(config["replicate"]))
    model = stochastic_pg._model(mdp)
    theta = np.random.default_rng(seed_of(config)).normal(size=model.d)
    _, grads, hesses = model.truncated(theta, H_MAX, 2, partial=True)
    g_inf = stochastic_pg.truncated_gradient(mdp, theta, horizon=None)
    h_inf = stochastic_pg.truncated_hessian(mdp, theta, horizon=None)
    H_inf = model._horizon(None)
    consts = dict(gamma=model.gamma, r_max=model.r_max, score_bound=model.policy.score_bound)
    mh = model.policy.hessian_bound
    H = np.arange(1, H_MAX + 1)
    g_bound = fatkhullin2023.gradient_truncation_bound(H, **consts)
    h_bound = fatkhullin2023.hessian_truncation_bound(H, **consts, hessian_bound=mh)
    terms = (H_inf + H) * model.S * model.A
    g_atol = EPS * terms * fatkhullin2023.gradient_truncation_bound(0, **consts)
    h_atol = EPS * terms * fatkhullin2023.hessian_truncation_bound(0, **consts, hessian_bound=mh)
    rows = []
    for i, h in enumerate(H):
        g_err = float(np.linalg.norm(grads[i] - g_inf))
        h_err = float(np.linalg.norm(hesses[i] - h_inf, 2))
        for what, err, bound, atol in (
            ("gradient", g_err, g_bound[i], g_atol[i]),
            ("hessian", h_err, h_bound[i], h_atol[i]),
        ):
            rows.append({"H": int(h), "what": what, "measured": err, "bound": float(bound),
                         "atol": float(atol)})  # fmt: skip
    return rows


def check(frame: pd.DataFrame) -> list[Verdict]:
    out = []
    for what, name in (("gradient", "D_g gamma^H"), ("hessian", "D_h gamma^H")):
        sub = frame[frame["what"] == what]
        out.append(
            checks.bound_verdict(
                sub,
                CLAIM,
                theorem=f"truncation bias of the {what} <= {name} [T, derived]",
                stated=f"||{what} J_H - {what} J|| <= {name} at every H in 1..{H_MAX}",
                what=f"{what} error / {name}",
                x="H",
                by=["family", "gamma", "replicate"],
                describe=("family", "gamma", "replicate"),
                note="bound loose on these instances; vacuous nowhere (finite, decaying)",
            )
        )
    return out


def plot(frame: pd.DataFrame) -> Any:
    return checks.ratio_figure(
        frame,
        CLAIM,
        panels="what",
        ylabel="truncation error / bound",
        x="H",
        xlabel="horizon $H$",
        title=lambda w: f"{w}",
    )
