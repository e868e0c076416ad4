r"""Claim ``soft_pg_theorem``: the soft-robust policy-gradient theorem against central
finite differences.

**Statement** (Zhang, Hu & Li, ICLR 2024, Theorem 3 [P code: the gradient formula]).  In the
direct parameterisation,
:math:`\partial V^\pi(\rho)/\partial\pi(a|s) = d^\pi_{\rho,P^\pi}(s)Q^\pi(s,a)/(1-\gamma)`, with
the occupancy under the **adversarial** kernel :math:`P^\pi` and the soft-robust
:math:`Q^\pi = r + \gamma\sigma(V^\pi)`.

**Measurement.**  :func:`~theory_rl.algorithms.rrmdp.soft_robust_pg_gradient` against central
differences :math:`(J(\pi + he_{sa}) - J(\pi - he_{sa}))/(2h)`, ``h = 1e-6``, of the exact
soft-robust value :math:`J(\pi) = \rho^\top V^\pi` (the adversary's policy iteration, to
round-off), at a randomising policy with rows in the interior (``Dirichlet(1)`` mixed with the
uniform policy 1:1, so ``pi +- h`` stays feasible as a function; the perturbed rows need not
sum to one, which the formula's partial derivatives allow).  Stated: relative error
``max|g - fd| / max|g| < 1e-5`` (the notes §8.7); the central difference's truncation error is
:math:`O(h^2)` and its round-off :math:`O(\epsilon\,\|V\|/h) \approx 1e-8` relative.
Instances: random MDPs and the ring; penalties KL, TV, chi-square.

References:
    R. Zhang, Y. Hu, N. Li. Soft robust MDPs and risk-sensitive MDPs: equivalence, policy
    gradient, and sample complexity. ICLR 2024, arXiv:2306.11626.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from theory_rl.algorithms import rrmdp
from theory_rl.bounds.rates import Verdict
from theory_rl.experiments import plotting
from theory_rl.experiments.base import Claim, product_grid, seed_of, sub_seed
from theory_rl.experiments.claims.soft_robust._common import (
    PENALTY_COLORS,
    instance,
    penalty,
    random_policy,
)

CLAIM = Claim(
    id="soft_pg_theorem",
    paper="Zhang, Hu & Li (ICLR 2024)",
    theorem="Thm 3 (policy gradient theorem)",
    statement="dV(rho)/dpi(a|s) = d_{rho,P^pi}(s) Q^pi(s, a) / (1 - gamma)",
    algorithm="policy_gradient",
    caption=(
        "Exact soft-robust policy gradient against central finite differences (h = 1e-6): "
        "every entry, per penalty, with the identity line."
    ),
)

H = 1e-6
RTOL = 1e-5

GRID = product_grid(instance=("random",), replicate=(0, 1), penalty=("kl", "tv", "chi2")) + [
    {"instance": "ring", "p": p, "penalty": pen} for p in (0.01, 0.15) for pen in ("kl", "chi2")
]
QUICK_GRID = [
    {"instance": "random", "replicate": 0, "penalty": "kl"},
    {"instance": "random", "replicate": 0, "penalty": "tv"},
    {"instance": "random", "replicate": 0, "penalty": "chi2"},
    {"instance": "ring", "p": 0.15, "penalty": "kl"},
]


def objective(mdp: Any, pen: Any, pi: np.ndarray) -> float:
    """:math:`\\rho^\\top V^\\pi` of the soft-robust problem, to round-off."""
    batch = rrmdp._Batch([mdp], [pen], None)
    v0 = np.zeros((1, mdp.n_states))
    return float(batch.rho[0] @ batch.evaluate(pi[None], v0)["v"][0])


def finite_differences(mdp: Any, pen: Any, pi: np.ndarray, h: float = H) -> np.ndarray:
    """Central differences of :func:`objective`, ``(S, A)``."""
    fd = np.zeros_like(pi)
    for s in range(pi.shape[0]):
        for a in range(pi.shape[1]):
            e = np.zeros_like(pi)
            e[s, a] = h
            fd[s, a] = (objective(mdp, pen, pi + e) - objective(mdp, pen, pi - e)) / (2 * h)
    return fd


def compute(config: dict[str, Any]) -> list[dict[str, Any]]:
    seed = seed_of(config)
    mdp = instance(config, sub_seed(seed, 0))
    lam = 1.0 if config["instance"] == "ring" else 0.5
    pen = penalty(config["penalty"], lam)
    rng = np.random.default_rng(sub_seed(seed, 1))
    pi = 0.5 * random_policy(mdp, rng) + 0.5 / mdp.n_actions
    g = rrmdp.soft_robust_pg_gradient(mdp, pen, pi)
    fd = finite_differences(mdp, pen, pi)
    rel = float(np.abs(g - fd).max() / np.abs(g).max())
    return [
        {
            "instance": config["instance"],
            "penalty": config["penalty"],
            "gradient": float(g.ravel()[i]),
            "finite_difference": float(fd.ravel()[i]),
            "relative_error": rel,
        }
        for i in range(g.size)
    ]


def check(frame: pd.DataFrame) -> list[Verdict]:
    per_run = frame.groupby("spawn_key", sort=False)["relative_error"].first()
    worst = float(per_run.max())
    return [
        Verdict(
            claim_id=CLAIM.id,
            paper=CLAIM.paper,
            theorem=CLAIM.theorem,
            stated=f"max|g - fd| / max|g| < {RTOL:g} (central differences, h = {H:g})",
            measured=f"worst relative error {worst:.3g} over {len(per_run)} (instance, penalty)",
            holds=worst < RTOL,
            detail="occupancy under the adversarial kernel P^pi; KL, TV and chi-square penalties",
            metrics={"worst_relative_error": worst},
        )
    ]


def plot(frame: pd.DataFrame) -> Any:
    import matplotlib.pyplot as plt

    colors = PENALTY_COLORS
    with plotting.paper_style():
        fig, ax = plt.subplots(figsize=(3.4, 3.0))
        for name, sub in frame.groupby("penalty", sort=False):
            ax.scatter(
                sub["finite_difference"], sub["gradient"], s=8, color=colors[name], label=name
            )
        lim = float(np.abs(frame[["gradient", "finite_difference"]]).to_numpy().max())
        plotting.reference_line(ax, [-lim, lim], [-lim, lim], "identity")
        ax.set_xlabel("central finite difference")
        ax.set_ylabel("policy-gradient theorem")
        plotting.legend(ax, ax, loc="upper left", fontsize=6)
    return fig
