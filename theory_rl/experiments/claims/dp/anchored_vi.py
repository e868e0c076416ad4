r"""Claim ``anchored_vi``: anchored value iteration's Bellman error is O(1/k), even at gamma = 1.

**Statement** (Lee and Ryu 2023, Anc-VI; :mod:`theory_rl.bounds.lee2023`).  With
:math:`v_k = \beta_k v_0 + (1-\beta_k) T v_{k-1}` and :math:`\beta_k = 1/\sum_{i\le k}
\gamma^{-2i}`, for every ``k`` and a fixed point :math:`v^*`,

.. math::  \|Tv_k - v_k\|_\infty \le \frac{(\gamma^{-1}-\gamma)(1+2\gamma-\gamma^{k+1})}
           {\gamma^{-(k+1)}-\gamma^{k+1}}\|v_0 - v^*\|_\infty
           \quad(\to 2\|v_0 - v^*\|_\infty/(k+1) \text{ at } \gamma = 1).

Derived in :mod:`theory_rl.bounds.lee2023` for a policy operator :math:`T_\pi`; stated by the
paper for the optimality operator ``T`` too.  Both are measured (``operator`` in {policy,
optimality}).

**Measurement.**  :func:`theory_rl.algorithms.dp.anchored_value_iteration` from
:math:`v_0 = 0` on dense random MDPs, ``gamma`` in {0.9, 0.99, 0.999, 1}; at ``gamma = 1``
the rewards are centred by the gain (per state, :math:`r - g^\pi` for a policy; :math:`r -
g^*` for control, from :func:`~theory_rl.algorithms.average_reward.average_reward_policy_iteration`)
so that a fixed point exists -- the bias, determined up to a constant, so the distance is
:math:`\min_c\|v_0 - h - c\mathbf 1\|_\infty = \mathrm{sp}(v_0 - h)/2`.  Plain value iteration's
Bellman error is recorded for the figure.

**Tolerance.**  ``atol`` :math:`= 4(S+2)\varepsilon_{\mathrm{mach}}(k+1)(\max|r| +
\|v^*\|_\infty)`: each step rounds at most :math:`(S+2)\varepsilon` of the magnitudes involved
and the iteration is non-expansive, so rounding errors add up at most linearly in ``k``.

References:
    J. Lee and E. K. Ryu. Accelerating value iteration with anchoring. NeurIPS 2023
    (arXiv:2305.16569).
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd

from theory_rl.algorithms import average_reward, dp
from theory_rl.bounds import lee2023
from theory_rl.bounds.mdp_constants import RoundoffWarning
from theory_rl.bounds.rates import Verdict
from theory_rl.experiments.base import Claim, seed_of, sub_seed
from theory_rl.experiments.checks import bound_verdict, ratio_figure
from theory_rl.experiments.instances import make_instance
from theory_rl.mdps.tabular import TabularMDP

CLAIM = Claim(
    id="anchored_vi",
    paper="Lee and Ryu (2023)",
    theorem="Anc-VI Bellman-error bound (Thm 1 [T_pi], Thm 2 [T], Sec. 3 [gamma = 1])",
    statement="||T v_k - v_k|| <= (1/g - g)(1 + 2g - g^(k+1)) / (g^-(k+1) - g^(k+1)) ||v_0 - v*||",
    algorithm="value_iteration",
    caption=(
        "Anchored value iteration: Bellman error over its bound (Lee and Ryu 2023), median and "
        "IQR over instances, one panel per gamma, for the policy and optimality operators; "
        "the bound is the line ratio = 1."
    ),
)

GAMMAS = (0.9, 0.99, 0.999, 1.0)


def _grid(n_states: int, replicates: int, iterations: int) -> list[dict[str, Any]]:
    return [
        {
            "family": "random",
            "branching": -1,
            "n_states": n_states,
            "n_actions": 3,
            "gamma": gamma,
            "operator": operator,
            "iterations": iterations,
            "replicate": rep,
        }
        for gamma in GAMMAS
        for operator in ("policy", "optimality")
        for rep in range(replicates)
    ]


GRID = _grid(100, 10, 2000)
QUICK_GRID = _grid(20, 2, 300)


def _problem(config: dict[str, Any]) -> tuple[TabularMDP, Any, np.ndarray, float]:
    """``(mdp, policy or None, fixed point v*, distance from v_0 = 0)``; at ``gamma = 1`` the
    returned MDP's rewards are gain-centred (its own gamma is a placeholder)."""
    gamma = float(config["gamma"])
    base = make_instance({**config, "gamma": min(gamma, 0.9)}, sub_seed(seed_of(config), 0))
    S, A = base.n_states, base.n_actions
    policy = None
    if config["operator"] == "policy":
        policy = np.random.default_rng(sub_seed(seed_of(config), 1)).integers(0, A, S)
    if gamma < 1.0:
        mdp = base.with_gamma(gamma)
        if policy is None:
            v_star = dp.policy_iteration(mdp).values
        else:
            v_star = dp.policy_evaluation(mdp, policy)
        return mdp, policy, v_star, float(np.abs(v_star).max())
    P3 = base.to_dense().transitions
    if policy is None:
        sol = average_reward.average_reward_policy_iteration(base)
        rewards = base.rewards - sol.params["gain"]
        h = sol.values
    else:
        P_pi, r_pi = P3[np.arange(S), policy], base.rewards[np.arange(S), policy]
        g, h = average_reward._evaluate(P_pi, r_pi)
        rewards = base.rewards - g[:, None]
    mdp = TabularMDP(base.transitions, rewards, gamma=0.9)
    return mdp, policy, h, float((h.max() - h.min()) / 2.0)


def _vi_errors(mdp: TabularMDP, policy: Any, gamma: float, n: int) -> np.ndarray:
    P3, R = mdp.to_dense().transitions, mdp.rewards
    rows = np.arange(mdp.n_states)
    v, out = np.zeros(mdp.n_states), []
    for _ in range(n + 1):
        q = R + gamma * P3 @ v
        tv = q.max(axis=1) if policy is None else q[rows, policy]
        out.append(float(np.abs(tv - v).max()))
        v = tv
    return np.array(out)


def compute(config: dict[str, Any]) -> list[dict[str, Any]]:
    """Anchored VI for ``config["iterations"]`` steps; one row per iterate ``k``."""
    gamma = float(config["gamma"])
    mdp, policy, v_star, dist = _problem(config)
    n = int(config["iterations"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RoundoffWarning)
        res = dp.anchored_value_iteration(
            mdp, policy=policy, gamma=gamma, tol=1e-300, max_iterations=n,
            initial_values=np.zeros(mdp.n_states),
        )
    err = np.asarray(res.history["bellman_error"])
    k = np.arange(err.size)
    vi = _vi_errors(mdp, policy, gamma, err.size - 1)
    scale = float(np.abs(mdp.rewards).max()) + float(np.abs(v_star).max())
    atol = 4.0 * (mdp.n_states + 2) * np.finfo(np.float64).eps * (k + 1) * scale
    bound = lee2023.anchored_vi_bound(gamma, k, dist)
    return [
        {"k": int(i), "measured": float(e), "bound": float(b), "atol": float(a),
         "vi_error": float(x)}
        for i, e, b, a, x in zip(k, err, bound, atol, vi, strict=True)
    ]


def check(frame: pd.DataFrame) -> list[Verdict]:
    """One verdict per operator: the bound holds at every iterate of every run."""
    out = []
    for operator, sub in frame.groupby("operator", sort=False):
        out.append(
            bound_verdict(
                sub,
                CLAIM,
                theorem=CLAIM.theorem + f": {operator} operator",
                stated="||T v_k - v_k||_inf <= Lee-Ryu bound (k) ||v_0 - v*||_inf, every k",
                what="||T v_k - v_k|| / bound",
                describe=("family", "gamma", "operator"),
                note="gamma = 1 runs use gain-centred rewards",
            )
        )
    return out


def plot(frame: pd.DataFrame) -> Any:
    """Bellman error over the bound, per gamma; anchored VI (solid) and plain VI (dashed)."""
    data = pd.concat(
        [
            frame.assign(series=frame["operator"] + ": anchored VI"),
            frame.assign(series=frame["operator"] + ": VI", measured=frame["vi_error"]),
        ]
    )
    colors = {"policy: anchored VI": "#1b7837", "optimality: anchored VI": "#762a83",
              "policy: VI": "#1b7837", "optimality: VI": "#762a83"}
    styles = {"policy: VI": "--", "optimality: VI": "--"}
    return ratio_figure(
        data, CLAIM, panels="gamma", series="series", ylabel="Bellman error / Lee-Ryu bound",
        title=lambda g: rf"$\gamma = {g:g}$", colors=colors, linestyles=styles,
    )
