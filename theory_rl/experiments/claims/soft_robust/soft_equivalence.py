r"""Claim ``soft_equivalence``: soft-robust values equal risk-sensitive values, by two
routes, and the case where the equivalence fails.

**Statement** (Zhang, Hu & Li, ICLR 2024, Theorems 1-2 [P: names; U: exact form]).  For an
sa-rectangular penalty :math:`\lambda D_\phi(p\|\bar p)` and the convex risk measure with that
penalty function, risk applied to the next state given ``(s, a)`` with the policy's
randomisation risk-neutral, the soft-robust MDP and the risk-sensitive MDP have the same value
for every policy and the same optimal value.

**Measurement.**  Route 1: :func:`~theory_rl.algorithms.rrmdp.soft_robust_value_iteration` and
:func:`~theory_rl.algorithms.rrmdp.soft_robust_policy_evaluation` (the robust family's numba
oracles, worst kernels, the adversary's policy iteration).  Route 2:
:func:`~theory_rl.algorithms.rrmdp.risk_sensitive_value_iteration` with the risk measures of
:mod:`theory_rl.mdps.soft_robust` (entropic risk, the TV and chi-square OCE formulas), never
the oracles.  Both to ``rtol = 1e-13`` (values within ``1e-13 max|r|/(1-gamma)`` plus
round-off); the stated tolerance ``1e-10`` (absolute) is the issue's; every instance has
``max|r|/(1-gamma) <= 200``, so both errors together stay below ``1e-10`` unless a route is
wrong.  Instances: random MDPs (S = 6, A = 3, gamma = 0.9) and the 14-state ring
(p in {0.01, 0.15}, gamma = 0.95); penalties KL, TV (nominal and full support), chi-square;
weights lam in {0.3, 3}.

**Failing case** (Theorem 2's condition).  With Ruszczyński's Markov risk measure (risk over
the joint law of ``(a, s')``, ``nesting="joint"``) the risk-sensitive value of a randomising
policy differs from the soft-robust one (verdict 3: the gap exceeds ``1e-6`` on every
instance), while for a deterministic policy the two coincide (to ``1e-10``).

References:
    R. Zhang, Y. Hu, N. Li. Soft robust MDPs and risk-sensitive MDPs: equivalence, policy
    gradient, and sample complexity. ICLR 2024, arXiv:2306.11626.
    A. Ruszczyński. Risk-averse dynamic programming for Markov decision processes. Math.
    Program. 125, 2010.
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
    instance,
    penalty,
    quiet,
    random_policy,
)
from theory_rl.mdps.soft_robust import risk_of

CLAIM = Claim(
    id="soft_equivalence",
    paper="Zhang, Hu & Li (ICLR 2024)",
    theorem="Thms 1-2 (soft-robust = risk-sensitive)",
    statement="V_soft-robust = V_risk-sensitive, optimal and per policy",
    algorithm="robust_value_iteration",
    caption=(
        "Soft-robust minus risk-sensitive values (two independent routes) per instance and "
        "penalty: optimal values, a randomising policy's values, and the Markov-risk "
        "(joint nesting) values of the same policy, which differ (Theorem 2's condition)."
    ),
)

TOL = 1e-10
FAIL_MIN = 1e-6

_INSTANCES = [{"instance": "random", "replicate": r} for r in range(3)] + [
    {"instance": "ring", "p": p} for p in (0.01, 0.15)
]
GRID = [
    {**inst, **rest}
    for inst in _INSTANCES
    for rest in product_grid(penalty=("kl", "tv", "tv_full", "chi2"), lam=(0.3, 3.0))
]
QUICK_GRID = [
    {**inst, **rest}
    for inst in (_INSTANCES[0], _INSTANCES[4])
    for rest in product_grid(penalty=("kl", "tv", "chi2"), lam=(0.3,))
]
#: Penalties whose risk measure is nonlinear on every instance (TV with a weight above the
#: span of the values is the expectation, so no nesting can differ there).
STRICT = ("kl", "chi2")


def compute(config: dict[str, Any]) -> list[dict[str, Any]]:
    seed = seed_of(config)
    mdp = instance(config, sub_seed(seed, 0))
    pen = penalty(config["penalty"], float(config["lam"]))
    risk = risk_of(pen)
    rng = np.random.default_rng(sub_seed(seed, 1))
    pi = random_policy(mdp, rng)
    det = np.eye(mdp.n_actions)[rng.integers(0, mdp.n_actions, mdp.n_states)]
    with quiet():
        a = rrmdp.soft_robust_value_iteration(mdp, pen, rtol=1e-13)
        b = rrmdp.risk_sensitive_value_iteration(mdp, risk, rtol=1e-13)
        pe = rrmdp.soft_robust_policy_evaluation(mdp, pen, pi, tol=1e-13)
        rs = rrmdp.risk_sensitive_value_iteration(mdp, risk, policy=pi, rtol=1e-13)
        base = {k: config.get(k) for k in ("instance", "p", "replicate", "penalty", "lam")}
        diffs = {
            "optimal": np.abs(np.asarray(a.values) - b.values).max(),
            "policy": np.abs(np.asarray(pe.values) - rs.values).max(),
        }
        if risk.support == "nominal":  # the joint law has no "full" support of its own
            joint = rrmdp.risk_sensitive_value_iteration(
                mdp, risk, policy=pi, nesting="joint", rtol=1e-13
            )
            pe_det = rrmdp.soft_robust_policy_evaluation(mdp, pen, det, tol=1e-13)
            joint_det = rrmdp.risk_sensitive_value_iteration(
                mdp, risk, policy=det, nesting="joint", rtol=1e-13
            )
            diffs["joint_randomised"] = np.abs(np.asarray(pe.values) - joint.values).max()
            diffs["joint_deterministic"] = np.abs(
                np.asarray(pe_det.values) - joint_det.values
            ).max()
    return [{**base, "quantity": k, "difference": float(v)} for k, v in diffs.items()]


def check(frame: pd.DataFrame) -> list[Verdict]:
    def worst(q: str) -> float:
        return float(frame.loc[frame["quantity"] == q, "difference"].max())

    opt, pol = worst("optimal"), worst("policy")
    det = worst("joint_deterministic")
    rand = frame.loc[
        (frame["quantity"] == "joint_randomised") & frame["penalty"].isin(STRICT), "difference"
    ]
    n = int((frame["quantity"] == "optimal").sum())
    return [
        Verdict(
            claim_id=CLAIM.id,
            paper=CLAIM.paper,
            theorem="Thm 2 (optimal values)",
            stated=f"max |V*_soft - V*_risk| <= {TOL:g}",
            measured=f"max difference {opt:.3g} over {n} (instance, penalty, lam)",
            holds=opt <= TOL,
            detail="route 1: robust oracles (soft_robust_value_iteration); route 2: OCE "
            "formulas of the risk measures (risk_sensitive_value_iteration); rtol 1e-13 each",
            metrics={"max_difference": opt},
        ),
        Verdict(
            claim_id=CLAIM.id,
            paper=CLAIM.paper,
            theorem="Thm 2 (a randomising policy's values)",
            stated=f"max |V^pi_soft - V^pi_risk| <= {TOL:g}",
            measured=f"max difference {pol:.3g} over {n} policies (Dirichlet(1) rows)",
            holds=pol <= TOL,
            detail="route 1: adversary policy iteration; route 2: risk-sensitive T^pi "
            "iteration with the risk applied given (s, a)",
            metrics={"max_difference": pol},
        ),
        Verdict(
            claim_id=CLAIM.id,
            paper=CLAIM.paper,
            theorem="Thm 2's condition: risk given (s, a), policy risk-neutral",
            stated=f"Markov (joint) risk differs for randomising policies (> {FAIL_MIN:g}, KL and "
            f"chi-square) and coincides for deterministic ones (<= {TOL:g})",
            measured=f"randomising: min difference {float(rand.min()):.3g}; deterministic: max "
            f"{det:.3g}",
            holds=bool(rand.min() > FAIL_MIN and det <= TOL),
            detail="Ruszczyński's nesting applies sigma to (a, s') jointly; the equivalence "
            "then fails: it is not a soft-robust MDP with an sa-rectangular penalty",
            metrics={"min_joint_gap": float(rand.min()), "max_deterministic": det},
        ),
    ]


def plot(frame: pd.DataFrame) -> Any:
    import matplotlib.pyplot as plt

    labels = {
        "optimal": "optimal values",
        "policy": "randomising policy",
        "joint_randomised": "Markov (joint) risk, randomising",
        "joint_deterministic": "Markov (joint) risk, deterministic",
    }
    markers = {"optimal": "o", "policy": "s", "joint_randomised": "^", "joint_deterministic": "v"}
    with plotting.paper_style():
        fig, ax = plt.subplots(figsize=(6.4, 2.6))
        for q, run in frame.groupby("quantity", sort=False):
            xs = np.arange(len(run))
            ax.scatter(
                xs,
                np.maximum(run["difference"].to_numpy(), 1e-17),
                marker=markers[q],
                s=14,
                label=labels[q],
                color=plotting.color(CLAIM.algorithm) if not q.startswith("joint") else "#D55E00",
            )
        ax.axhline(TOL, color=plotting.REFERENCE_COLOR, linestyle="--", label="tolerance 1e-10")
        ax.set_yscale("log")
        ax.set_xlabel("(instance, penalty, lam)")
        ax.set_ylabel("max_s |V_soft - V_risk|")
        plotting.note(ax, "differences below 1e-17 drawn at 1e-17", loc="lower right")
        plotting.legend(ax, ax, loc="center right", fontsize=6)
    return fig
