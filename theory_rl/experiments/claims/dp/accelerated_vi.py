r"""Claim ``accelerated_vi``: accelerated policy evaluation converges at the Nesterov rate
:math:`1 - \sqrt{(1-\gamma)/(1+\gamma)}` on reversible chains, and safeguarded accelerated
value iteration keeps value iteration's residual guarantee.

**Statement 1** (Goyal and Grand-Clément 2023, AVI; derivation in
:mod:`theory_rl.bounds.goyal2023`).  With :math:`\alpha = 1/(1+\gamma)`,
:math:`\beta = (1-\sqrt{1-\gamma^2})/\gamma`, :math:`\rho = 1-\sqrt{(1-\gamma)/(1+\gamma)}`
(:func:`~theory_rl.bounds.goyal2023.avi_rate`) and a chain :math:`P_\pi` reversible with respect
to :math:`\mu` (:math:`\mu_s P_{ss'} = \mu_{s'} P_{s's}`), each eigen-mode of
:math:`M = (1-\alpha)I + \alpha\gamma P_\pi` (self-adjoint in :math:`\langle x, y\rangle_\mu`,
eigenvalues :math:`m \in [0, 1 - 1/\kappa]`) follows :math:`c_{k+1} = m(1+\beta)c_k - m\beta
c_{k-1}`, whose roots :math:`z_1, z_2` have modulus at most :math:`\rho`.  Writing
:math:`c_k = U_k c_0 - z_1 z_2 U_{k-1} c_{-1}` with :math:`U_k = \sum_{j\le k} z_1^j z_2^{k-j}`
(:math:`|U_k| \le (k+1)\rho^k`) and :math:`c_{-1} = c_0` (:math:`v_{-1} = v_0`):
:math:`|c_k| \le (1 + (1+\rho)k)\rho^k |c_0|`, hence, with
:math:`\|x\|_\infty \le \|x\|_\mu / \sqrt{\mu_{\min}}`,

.. math::  \|v_k - V^\pi\|_\infty \le b_k := \frac{(1 + (1+\rho)k)\,\rho^k}{\sqrt{\mu_{\min}}}
           \,\|v_0 - V^\pi\|_\mu .

This is the gated statement.  **Reported, not checked**: the paper's own theorem constants
(unconfirmed: only its abstract -- the :math:`O(1/\sqrt{1-\lambda})` running time on
reversible instances -- was available, see :mod:`theory_rl.bounds.goyal2023`), and the
measured rate on non-reversible chains (dense random :math:`P_\pi`), for which the derivation
does not hold.

**Statement 2** (:func:`theory_rl.algorithms.dp.safeguarded_accelerated_value_iteration`).  A
momentum candidate is accepted only if its residual is at most :math:`\gamma` times the current
one, and a value-iteration step satisfies that test by the contraction, so at every iterate
:math:`\|Tv_k - v_k\|_\infty \le \gamma^k \|Tv_0 - v_0\|_\infty`
(:func:`~theory_rl.bounds.goyal2023.safeguard_bound`), value iteration's own guarantee.  Gated at
every iterate; plain value iteration's residual is recorded alongside.

**Measurement.**  Statement 1: ``S``-state MDPs whose evaluated action (action 0) follows a
reversible chain :math:`P = D^{-1}W` (``W`` symmetric, random weights on a ring plus about five
random chords per state, :math:`\mu \propto W\mathbf 1`) and, for the report, dense random MDPs
(family ``random``) with a random deterministic policy; ``gamma`` in {0.9, 0.99, 0.999},
:math:`v_0 = 0`, :math:`V^\pi` by a direct solve, ``iterations`` :math:`\approx 40/(1-\rho)`.
The measured asymptotic rate is the geometric mean of :math:`e_{k+1}/e_k` over the second half of
the resolved iterates.  Statement 2: dense random MDPs and garnets (``branching = 5``),
``gamma`` in {0.9, 0.99}, rewards shifted by :data:`REWARD_SHIFT` and :math:`v_0 = 0`, so that
the first residual is dominated by the constant mode, on which an unguarded momentum step
overshoots (its residual factor at ``k = 1`` is :math:`2\gamma/(1+\gamma) > \gamma`).

**Tolerances.**  A rounding error :math:`\delta` injected at step ``j`` propagates through the
same recursion with :math:`c_{-1} = 0`, bounded by :math:`(k-j+1)\rho^{k-j} \le b_{k-j}`; with
:math:`\delta \le 4(S+2)\varepsilon_{\mathrm{mach}}(\max|r| + 3\|V^\pi\|_\infty)` per step,
``atol`` :math:`= \delta\sum_{j\le k} b_j/\|e_0\|_\mu` + the reference error
:func:`~theory_rl.bounds.mdp_constants.value_error_floor`.  Statement 2:
``atol`` :math:`= 4(S+2)\varepsilon_{\mathrm{mach}}(k+1)(\max|r| + \|V^*\|_\infty)` (each test
compares computed residuals; a VI step rounds its contraction by at most this much).

References:
    V. Goyal and J. Grand-Clément. A first-order approach to accelerated value iteration.
    Operations Research 71(2):517-535, 2023 (arXiv:1905.09963).
    Y. Nesterov. Introductory Lectures on Convex Optimization. Kluwer, 2004. §2.2.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd

from theory_rl.algorithms import dp
from theory_rl.bounds import goyal2023, mdp_constants
from theory_rl.bounds.rates import Verdict
from theory_rl.experiments import plotting
from theory_rl.experiments.base import Claim, seed_of, sub_seed
from theory_rl.experiments.checks import bound_verdict
from theory_rl.experiments.instances import make_instance
from theory_rl.mdps.tabular import TabularMDP

CLAIM = Claim(
    id="accelerated_vi",
    paper="Goyal and Grand-Clément (2023)",
    theorem="AVI on reversible chains; S-AVI safeguard",
    statement=(
        "||v_k - V^pi|| <= (1 + (1+rho)k) rho^k ||e_0||_mu / sqrt(mu_min), "
        "rho = 1 - sqrt((1-g)/(1+g)); S-AVI: ||Tv_k - v_k|| <= g^k ||Tv_0 - v_0||"
    ),
    algorithm="value_iteration",
    caption=(
        "Accelerated value iteration: policy-evaluation error on reversible (left) and "
        "non-reversible (middle) chains, AVI (solid) against VI (dashed) with the rate rho^k "
        "(grey); safeguarded AVI's Bellman residual for control against VI and gamma^k (right)."
    ),
)

EVAL_GAMMAS = (0.9, 0.99, 0.999)
CONTROL_GAMMAS = (0.9, 0.99)
#: Added to the control instances' rewards (in [0, 1]): from ``v_0 = 0`` the first residual is
#: then dominated by the constant mode, on which a momentum step overshoots at first (its
#: residual factor is ``2 gamma / (1 + gamma) > gamma`` at ``k = 1``) -- where the safeguard acts.
REWARD_SHIFT = 2.0


def _iterations(gamma: float, cap: int) -> int:
    return int(min(cap, np.ceil(40.0 / (1.0 - goyal2023.avi_rate(gamma)))))


def _grid(n_states: int, replicates: int, cap: int, vi_iterations: int) -> list[dict[str, Any]]:
    evaluation = [
        {"part": "evaluation", "family": family, "branching": -1, "n_states": n_states,
         "n_actions": 2, "gamma": gamma, "iterations": _iterations(gamma, cap), "replicate": rep}
        for family in ("reversible", "random")
        for gamma in EVAL_GAMMAS
        for rep in range(replicates)
    ]
    control = [
        {"part": "control", "family": family, "branching": branching, "n_states": n_states,
         "n_actions": 3, "gamma": gamma, "reward_shift": REWARD_SHIFT,
         "iterations": vi_iterations, "replicate": rep}
        for family, branching in (("random", -1), ("garnet", 5))
        for gamma in CONTROL_GAMMAS
        for rep in range(replicates)
    ]
    return evaluation + control


GRID = _grid(100, 10, 5000, 1500)
QUICK_GRID = _grid(30, 2, 2000, 400)


def _reversible(config: dict[str, Any], seed: np.random.SeedSequence) -> tuple:
    """``(mdp, mu)``: action 0 follows ``D^{-1} W`` (``W`` symmetric), reversible for ``mu``."""
    S, A, gamma = int(config["n_states"]), int(config["n_actions"]), float(config["gamma"])
    rng = np.random.default_rng(seed)
    U = rng.uniform(size=(S, S)) * (rng.uniform(size=(S, S)) < 5.0 / S)
    ring = np.roll(np.eye(S), 1, axis=1) * rng.uniform(0.5, 1.0, size=(S, 1))
    W = U + U.T + ring + ring.T
    d = W.sum(axis=1)
    P = np.empty((S, A, S))
    P[:, 0] = W / d[:, None]
    P[:, 1:] = rng.dirichlet(np.ones(S), size=(S, A - 1))
    return TabularMDP(P, rng.uniform(size=(S, A)), gamma=gamma), d / d.sum()


def _evaluation(config: dict[str, Any]) -> list[dict[str, Any]]:
    gamma = float(config["gamma"])
    seed = sub_seed(seed_of(config), 0)
    if config["family"] == "reversible":
        mdp, mu = _reversible(config, seed)
        policy = np.zeros(mdp.n_states, dtype=np.int64)
    else:
        mdp, mu = make_instance(config, seed), None
        policy = np.random.default_rng(sub_seed(seed_of(config), 1)).integers(
            0, mdp.n_actions, mdp.n_states)
    S, n = mdp.n_states, int(config["iterations"])
    v_pi = dp.policy_evaluation(mdp, policy)
    iterates = [np.zeros(S)]
    alpha, beta = goyal2023.avi_step(gamma), goyal2023.avi_momentum(gamma)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        dp.accelerated_policy_evaluation(
            mdp, policy, step=alpha, momentum=beta, tol=1e-300, max_iterations=n,
            initial_values=np.zeros(S), callback=lambda r: iterates.append(np.array(r.values)),
        )
    err = np.array([float(np.abs(v - v_pi).max()) for v in iterates])
    k = np.arange(err.size)
    P_pi = mdp.to_dense().transitions[np.arange(S), policy]
    r_pi = mdp.rewards[np.arange(S), policy]
    vi, v = [], np.zeros(S)
    for _ in k:
        vi.append(float(np.abs(v - v_pi).max()))
        v = r_pi + gamma * P_pi @ v
    rho = goyal2023.avi_rate(gamma)
    eps = np.finfo(np.float64).eps
    delta = 4.0 * (S + 2) * eps * (float(np.abs(mdp.rewards).max()) + 3 * float(np.abs(v_pi).max()))
    floor = mdp_constants.value_error_floor(mdp)
    if mu is not None:
        e0_mu = float(np.sqrt(mu @ (iterates[0] - v_pi) ** 2))
        profile = (1.0 + (1.0 + rho) * k) * rho ** k.astype(np.float64) / np.sqrt(mu.min())
        bound = profile * e0_mu
        atol = delta * np.cumsum(profile) + floor
    else:
        bound = np.full(err.size, np.nan)
        atol = 4.0 * (S + 2) * eps * (k + 1) * float(np.abs(v_pi).max()) + floor
    resolved = np.flatnonzero(err > 1e3 * atol)
    tail = resolved[resolved.size // 2:]
    rate = (
        float((err[tail[-1]] / err[tail[0]]) ** (1.0 / (tail[-1] - tail[0])))
        if tail.size > 1 and tail[-1] > tail[0] else float("nan")
    )
    return [
        {"k": int(i), "measured": float(e), "bound": float(b), "atol": float(a),
         "vi_error": float(x), "rate": rate, "rho": rho, "momentum": beta}
        for i, e, b, a, x in zip(k, err, bound, atol, vi, strict=True)
    ]


def _control(config: dict[str, Any]) -> list[dict[str, Any]]:
    gamma = float(config["gamma"])
    base = make_instance(config, sub_seed(seed_of(config), 0))
    mdp = TabularMDP(base.transitions, base.rewards + float(config["reward_shift"]), gamma=gamma)
    S, n = mdp.n_states, int(config["iterations"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = dp.safeguarded_accelerated_value_iteration(
            mdp, step=goyal2023.avi_step(gamma), momentum=goyal2023.avi_momentum(gamma),
            tol=1e-300, max_iterations=n, initial_values=np.zeros(S),
        )
    residual = np.asarray(res.history["residual"])
    accepted = np.asarray(res.history["accepted"])
    k = np.arange(residual.size)
    v_star = dp.policy_iteration(mdp).values
    vi, v = [], np.zeros(S)
    for _ in k:
        tv = dp.bellman_optimality_operator(mdp, v)
        vi.append(float(np.abs(tv - v).max()))
        v = tv
    scale = float(np.abs(mdp.rewards).max()) + float(np.abs(v_star).max())
    atol = 4.0 * (S + 2) * np.finfo(np.float64).eps * (k + 1) * scale
    bound = goyal2023.safeguard_bound(gamma, k, residual[0])
    return [
        {"k": int(i), "measured": float(e), "bound": float(b), "atol": float(a),
         "vi_error": float(x), "accepted": int(c)}
        for i, e, b, a, x, c in zip(k, residual, bound, atol, vi, accepted, strict=True)
    ]


def compute(config: dict[str, Any]) -> list[dict[str, Any]]:
    """Policy evaluation (``part = "evaluation"``) or control (``"control"``); one row per
    iterate."""
    if config["part"] == "evaluation":
        return _evaluation(config)
    if config["part"] == "control":
        return _control(config)
    raise ValueError(f"config['part'] must be 'evaluation' or 'control', got {config['part']!r}")


def _iterations_to(sub: pd.DataFrame, column: str, fraction: float) -> pd.Series:
    """Per run: the first ``k`` with ``column <= fraction * column[k=0]`` (NaN if never)."""

    def first(run: pd.DataFrame) -> float:
        run = run.sort_values("k")
        y = run[column].to_numpy()
        hit = np.flatnonzero(y <= fraction * y[0])
        return float(run["k"].to_numpy()[hit[0]]) if hit.size else float("nan")

    return sub.groupby("spawn_key", sort=False)[["k", column]].apply(first)


def check(frame: pd.DataFrame) -> list[Verdict]:
    """AVI within b_k on reversible chains; S-AVI within gamma^k at every iterate (one verdict
    per part present in ``frame``)."""
    out = []
    ev = frame[frame["part"] == "evaluation"]
    if len(ev):
        out.append(_evaluation_verdict(ev))
    ctrl = frame[frame["part"] == "control"]
    if len(ctrl):
        out.append(_control_verdict(ctrl))
    return out


def _evaluation_verdict(ev: pd.DataFrame) -> Verdict:
    rev = ev[ev["family"] == "reversible"]
    runs = ev.groupby("spawn_key", sort=False).first()
    lines = []
    for (family, gamma), r in runs.groupby(["family", "gamma"], sort=True):
        lines.append(
            f"{family} gamma={gamma:g}: measured rate {float(r['rate'].median()):.4g} "
            f"(rho = {float(r['rho'].iloc[0]):.4g}, VI {gamma:g})"
        )
    verdict = bound_verdict(
        rev, CLAIM, theorem=CLAIM.theorem.split(";")[0] + ": error at every iterate",
        stated="||v_k - V^pi||_inf <= (1 + (1+rho)k) rho^k ||e_0||_mu / sqrt(mu_min)",
        what="||v_k - V^pi|| / b_k", describe=("family", "gamma", "n_states"),
        note="reported, not checked: " + "; ".join(lines)
        + "; the paper's own constants are unconfirmed",
    )
    rev_runs = runs[runs["family"] == "reversible"]
    slow = rev_runs["rate"] > rev_runs["rho"]
    measured = verdict.measured + (
        f"; measured asymptotic rate / rho on reversible chains: "
        f"{float((rev_runs['rate'] / rev_runs['rho']).min()):.4g}.."
        f"{float((rev_runs['rate'] / rev_runs['rho']).max()):.4g} "
        f"({int(slow.sum())} runs above rho: the (1 + (1+rho)k) factor)"
    )
    return Verdict(**{**verdict.to_dict(), "measured": measured})


def _control_verdict(ctrl: pd.DataFrame) -> Verdict:
    verdict = bound_verdict(
        ctrl, CLAIM, theorem=CLAIM.theorem.split("; ")[1] + ": residual at every iterate",
        stated="||T v_k - v_k||_inf <= gamma^k ||T v_0 - v_0||_inf, every k",
        what="||T v_k - v_k|| / (gamma^k ||T v_0 - v_0||)",
        describe=("family", "gamma", "n_states"),
    )
    saved = []
    for gamma, sub in ctrl.groupby("gamma", sort=True):
        avi = _iterations_to(sub, "measured", 1e-8)
        vi = _iterations_to(sub, "vi_error", 1e-8)
        acc = float(sub["accepted"].iloc[1:].mean()) if len(sub) > 1 else float("nan")
        n = int(sub["k"].max())

        def med(x: pd.Series, n: int = n) -> str:
            if x.notna().all():
                return f"{float(x.median()):.4g}"
            return f"not within the S-AVI run (<= {n} iterations) in some runs"

        saved.append(
            f"gamma={gamma:g}: iterations to 1e-8 of the first residual, S-AVI median "
            f"{med(avi)} vs VI {med(vi)}; "
            f"accepted {acc:.2f} of the steps"
        )
    return Verdict(**{**verdict.to_dict(),
                      "detail": verdict.detail + "; reported: " + "; ".join(saved)})


def plot(frame: pd.DataFrame) -> Any:
    """Errors over the first error (evaluation) or residuals over the first (control)."""
    import matplotlib.pyplot as plt

    palette = {0.9: "#0072B2", 0.99: "#009E73", 0.999: "#D55E00"}
    panels = [("evaluation", "reversible", "reversible chains"),
              ("evaluation", "random", "non-reversible chains"),
              ("control", None, "control (S-AVI)")]
    with plotting.paper_style():
        fig, axes = plt.subplots(1, 3, figsize=(8.4, 2.7))
        for ax, (part, family, title) in zip(axes, panels, strict=True):
            sub = frame[frame["part"] == part]
            if family is not None:
                sub = sub[sub["family"] == family]
            name = "S-AVI" if part == "control" else "AVI"
            for gamma, g in sub.groupby("gamma", sort=True):
                color = palette.get(float(gamma), "0.2")
                first = g.groupby("spawn_key")["measured"].transform("first")
                keep = g["measured"] > 10 * g["atol"]
                scaled = g.assign(y=g["measured"] / first, yv=g["vi_error"] / first)
                plotting.median_iqr(ax, scaled[keep], x="k", y="y", color=color,
                                    label=f"{name}, gamma={gamma:g}")
                plotting.median_iqr(ax, scaled[g["vi_error"] > 10 * g["atol"]], x="k", y="yv",
                                    color=color, label=f"VI, gamma={gamma:g}", linestyle="--")
                ks = np.sort(g["k"].unique()).astype(np.float64)
                rate = goyal2023.avi_rate(gamma) if part == "evaluation" else float(gamma)
                reference = r"$\rho^k$" if part == "evaluation" else r"$\gamma^k$"
                plotting.reference_line(ax, ks, rate ** ks, f"{reference}, gamma={gamma:g}",
                                        color=color, alpha=0.5, linestyle=":")
            ax.set_yscale("log")
            ax.set_ylim(bottom=1e-14, top=3.0)
            ax.set_title(title)
            ax.set_xlabel("iteration $k$")
        axes[0].set_ylabel(r"$\|v_k - V^\pi\|_\infty / \|v_0 - V^\pi\|_\infty$")
        axes[2].set_ylabel(r"$\|Tv_k - v_k\|_\infty / \|Tv_0 - v_0\|_\infty$")
        plotting.legend(fig, axes[2], loc="upper right", fontsize=5)
    return fig
