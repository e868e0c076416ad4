r"""Claim ``relative_vi``: relative value iteration finds the optimal gain of the average-reward
LP, and the span of its increments never grows (and contracts by the span coefficient).

**Statement** (Puterman 1994, §8.5; Odoni 1969).  With :math:`T v = \max_a r + Pv` (of the
model transformed by :math:`P_\tau = \tau I + (1-\tau)P` when ``aperiodicity = tau``) and
:math:`\Delta_k = Tv_k - v_k` for the relative iterates :math:`v_{k+1} = Tv_k -
(Tv_k)(s_{\mathrm{ref}})\mathbf 1`:

1. **Gain bracket.**  :math:`\min\Delta_k \le g^* \le \max\Delta_k` at every ``k``, so the
   midpoint :math:`g_{\mathrm{RVI}}` is within half the bracket of the optimal gain
   :math:`g^*` (the transformation keeps every gain).
2. **Span non-increase.**  :math:`\Delta_{k+1} = T(Tv_k) - Tv_k` up to a constant and
   :math:`Tu - Tw` lies between :math:`P_{a_w}(u-w)` and :math:`P_{a_u}(u-w)` statewise, so

   .. math::  \mathrm{sp}(\Delta_{k+1}) \le \gamma'\,\mathrm{sp}(\Delta_k), \qquad
              \gamma' = 1 - \min_{(s,a),(s',a')} \sum_j \min\big(P(j|s,a), P(j|s',a')\big)
              \le 1

   (Puterman Prop. 6.6.1 and Thm 8.5.2 style): the span is non-increasing for *every* model and
   contracts geometrically when the span (Dobrushin) coefficient :math:`\gamma' < 1` -- e.g.
   dense or restart-mixed, hence aperiodic unichain, transitions.
3. **Bias.**  If :math:`\gamma' < 1` the fixed point :math:`v^*` (``Tv^* = v^* + g^*``) is unique
   up to a constant and :math:`\mathrm{sp}(v - v^*) \le \mathrm{sp}(Tv - v) + \gamma'\,
   \mathrm{sp}(v - v^*)`; with both normalised to zero at the reference state the returned bias
   :math:`h = (1-\tau)v_k` obeys :math:`\|h - h^*\|_\infty \le (1-\tau)\,\mathrm{sp}(\Delta_k)
   /(1-\gamma')`, where :math:`h^*` (``h*(s_ref) = 0``) comes from
   :func:`~theory_rl.algorithms.average_reward.average_reward_policy_iteration`.

**Measurement.**  :func:`theory_rl.algorithms.average_reward.relative_value_iteration` from
:math:`v_0 = 0` with ``reference_state = S - 1`` on three families: dense random MDPs
(``random``, ``aperiodicity`` in {0, 0.5}); garnets with ``branching = 2`` mixed with a restart,
:math:`P \leftarrow (1-\epsilon)P + \epsilon\,\mathbf 1 e_0^\top` (``garnet``, ``restart =
0.1``: state 0 is reached by every policy, so the model is unichain and aperiodic, and
:math:`\gamma' \le 1-\epsilon`); and a **periodic** example (``cycle``): ``S`` even, action 0
moves ``s -> s+1``, action 1 ``s -> s+3`` (mod ``S``), so every chain has period 2.  On the
periodic example without the transformation RVI oscillates: the span of :math:`\Delta_k` need
not shrink and the run does not converge (reported, with the ratio of the last span to the first);
with ``aperiodicity = 0.5`` it converges.  The optimal gain is computed independently of the
package by the average-reward LP (occupation measures, ``scipy.optimize.linprog``, HiGHS):

.. math::  g_{\mathrm{LP}} = \max_x \sum_{s,a} r(s,a)x(s,a) \ \text{s.t.}\
           \sum_a x(j,a) = \sum_{s,a}P(j|s,a)x(s,a),\ \sum x = 1,\ x \ge 0 .

**Tolerances.**  LP tolerance ``lp_tol`` :math:`= (U - g_{\mathrm{LP}})^+ + (S+1)\delta\,
(\max|r| + \mathrm{sp}(h_{\mathrm{LP}}))`: :math:`U = \max_s (Th_{\mathrm{LP}} -
h_{\mathrm{LP}})(s) \ge g^*` is Odoni's upper bound from the LP's dual variables (certified), and
:math:`\delta` is the measured primal infeasibility of ``x`` (balance residual and negative
part), which can raise the objective above :math:`g^*` by at most this much.  Round-off
``atol`` :math:`= 4(S+2)\varepsilon_{\mathrm{mach}}(\max|r| + 4\,\mathrm{sp}(h^*)/(1-\tau))`:
one Bellman sweep rounds at most :math:`(S+2)\varepsilon` of the magnitudes involved, and
:math:`\|v_k\|_\infty \le 2\,\mathrm{sp}(v^*)` since :math:`\mathrm{sp}(v_k - v^*)` never
grows from :math:`v_0 = 0`.

Gates: (1) :math:`|g_{\mathrm{RVI}} - g_{\mathrm{LP}}| \le \mathrm{sp}(\Delta_K)/2 +`
``lp_tol`` + ``atol`` on every run, and every run that is not the untransformed periodic one
converges; (2) :math:`\mathrm{sp}(\Delta_{k+1}) \le \mathrm{sp}(\Delta_k) +` ``atol`` at every
iterate of every run; (3) :math:`\mathrm{sp}(\Delta_{k+1}) \le \gamma'\mathrm{sp}(\Delta_k) +`
``atol`` on the runs with :math:`\gamma' < 1` (the measured worst factor is reported against
:math:`\gamma'`); (4) the bias bound of 3 on converged runs with :math:`\gamma' < 1`.

References:
    M. L. Puterman. Markov Decision Processes. Wiley, 1994. §6.6, §8.5.
    A. Odoni. On finding the maximal gain for Markov decision processes. Oper. Res., 1969.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd
from scipy.optimize import linprog

from theory_rl.algorithms import average_reward
from theory_rl.bounds.rates import Verdict
from theory_rl.experiments import plotting
from theory_rl.experiments.base import Claim, seed_of, sub_seed
from theory_rl.experiments.checks import bound_verdict
from theory_rl.experiments.instances import make_instance
from theory_rl.mdps.tabular import TabularMDP

CLAIM = Claim(
    id="relative_vi",
    paper="Puterman (1994)",
    theorem="§8.5 relative value iteration (gain bracket, span contraction)",
    statement="min(Tv-v) <= g* <= max(Tv-v); sp(T v_{k+1} - v_{k+1}) <= gamma' sp(T v_k - v_k)",
    algorithm="value_iteration",
    caption=(
        "Relative value iteration: span of T v_k - v_k (left; dashed: the periodic example "
        "without the aperiodicity transformation) and its one-step factor against the span "
        "coefficient gamma' (right; the line is ratio = 1)."
    ),
)

#: Restart probability of the ``garnet`` family (to state 0 from every state-action pair).
RESTART = 0.1


def _grid(n_states: int, replicates: int, iterations: int) -> list[dict[str, Any]]:
    runs = [("random", 0.0), ("random", 0.5), ("garnet", 0.0), ("cycle", 0.0), ("cycle", 0.5)]
    return [
        {"family": family, "branching": 2 if family == "garnet" else -1,
         "n_states": n_states, "n_actions": 3 if family != "cycle" else 2,
         "aperiodicity": tau, "iterations": iterations, "replicate": rep}
        for family, tau in runs
        for rep in range(replicates)
    ]


GRID = _grid(100, 10, 3000)
QUICK_GRID = _grid(20, 2, 600)


def _instance(config: dict[str, Any]) -> TabularMDP:
    """The configuration's MDP (its gamma is a placeholder: RVI ignores it)."""
    S, A = int(config["n_states"]), int(config["n_actions"])
    seed = sub_seed(seed_of(config), 0)
    if config["family"] == "cycle":
        if S % 2 or A != 2:
            raise ValueError(f"the cycle family needs an even n_states and n_actions = 2, "
                             f"got n_states={S}, n_actions={A}")
        P = np.zeros((S, A, S))
        rows = np.arange(S)
        P[rows, 0, (rows + 1) % S] = 1.0
        P[rows, 1, (rows + 3) % S] = 1.0
        r = np.random.default_rng(seed).uniform(size=(S, A))
        return TabularMDP(P, r, gamma=0.9)
    base = make_instance({**config, "gamma": 0.9}, seed)
    if config["family"] != "garnet":
        return base
    P = (1.0 - RESTART) * base.to_dense().transitions
    P[:, :, 0] += RESTART
    return TabularMDP(P, base.rewards, gamma=0.9)


def span_coefficient(P2: np.ndarray) -> float:
    r"""Dobrushin span coefficient of the rows of ``P2`` ``(S*A, S)``:
    :math:`1 - \min_{i,j}\sum_k \min(P_{ik}, P_{jk})` over all pairs of rows."""
    overlap = min(float(np.minimum(P2[i], P2).sum(axis=1).min()) for i in range(P2.shape[0]))
    return max(0.0, 1.0 - overlap)


def lp_gain(mdp: TabularMDP) -> tuple[float, float]:
    """``(g_LP, lp_tol)``: the optimal gain from the occupation-measure LP (HiGHS) and its
    tolerance (module docstring)."""
    P3, R = mdp.to_dense().transitions, mdp.rewards
    S, A = mdp.n_states, mdp.n_actions
    cols = np.arange(S * A) // A
    balance = -P3.reshape(S * A, S).T.copy()  # (S, S*A)
    balance[cols, np.arange(S * A)] += 1.0
    A_eq = np.vstack([balance, np.ones((1, S * A))])
    b_eq = np.concatenate([np.zeros(S), [1.0]])
    res = linprog(-R.ravel(), A_eq=A_eq, b_eq=b_eq, bounds=(0, None), method="highs",
                  options={"primal_feasibility_tolerance": 1e-10,
                           "dual_feasibility_tolerance": 1e-10})
    if res.status != 0:
        raise RuntimeError(f"the average-reward LP was not solved: {res.message}")
    x = res.x
    g_lp = float(R.ravel() @ x)
    h = -np.asarray(res.eqlin.marginals[:S])
    upper = float(((R + P3 @ h).max(axis=1) - h).max())
    delta = max(float(np.abs(A_eq @ x - b_eq).max()), float(np.maximum(-x, 0.0).max()))
    slack = (S + 1) * delta * (float(np.abs(R).max()) + float(h.max() - h.min()))
    return g_lp, max(upper - g_lp, 0.0) + slack


def compute(config: dict[str, Any]) -> list[dict[str, Any]]:
    """RVI for ``config["iterations"]`` sweeps at most; one row per iterate ``k``."""
    mdp = _instance(config)
    S = mdp.n_states
    tau = float(config["aperiodicity"])
    ref = S - 1
    P2 = mdp.to_dense().transitions.reshape(S * mdp.n_actions, S)
    P_tau = (1.0 - tau) * P2 + tau * np.repeat(np.eye(S), mdp.n_actions, axis=0)
    gamma_span = span_coefficient(P_tau)
    exact = average_reward.average_reward_policy_iteration(mdp, reference_state=ref)
    h_star = exact.values
    g_lp, lp_tol = lp_gain(mdp)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = average_reward.relative_value_iteration(
            mdp, tol=1e-13 * float(np.abs(mdp.rewards).max()),
            max_iterations=int(config["iterations"]), reference_state=ref, aperiodicity=tau,
        )
    lower = np.asarray(res.history["gain_lower"])
    upper = np.asarray(res.history["gain_upper"])
    span = upper - lower
    eps = np.finfo(np.float64).eps
    scale = float(np.abs(mdp.rewards).max()) + 4.0 * float(h_star.max() - h_star.min()) / (1 - tau)
    atol = 4.0 * (S + 2) * eps * scale
    run = {
        "gamma_span": gamma_span,
        "g_lp": g_lp,
        "lp_tol": lp_tol,
        "g_rvi": float(res.params["gain"]),
        "half_width": float(span[-1]) / 2.0,
        "converged": bool(res.converged),
        "expect_converge": not (config["family"] == "cycle" and tau == 0.0),
        "bias_error": float(np.abs(res.values - h_star).max()),
        "bias_bound": (1.0 - tau) * float(span[-1]) / (1.0 - gamma_span)
        if gamma_span < 1.0 else float("inf"),
        "n_sweeps": int(span.size),
        "atol": atol,
    }
    nxt = np.append(span[1:], np.nan)
    return [
        {**run, "k": int(k), "span": float(s), "next_span": float(n),
         "span_bound": float(gamma_span * s), "lower": float(lo), "upper": float(up)}
        for k, (s, n, lo, up) in enumerate(zip(span, nxt, lower, upper, strict=True))
    ]


def _runs(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.sort_values("k").groupby("spawn_key", sort=False).tail(1)


def check(frame: pd.DataFrame) -> list[Verdict]:
    """Gain against the LP; span non-increase; span contraction by gamma'; bias bound."""
    out = []
    runs = _runs(frame)
    gap = (runs["g_rvi"] - runs["g_lp"]).abs()
    allowed = runs["half_width"] + runs["lp_tol"] + runs["atol"]
    bad = gap > allowed
    missing = runs["expect_converge"] & ~runs["converged"]
    periodic = runs[~runs["expect_converge"]]
    first = frame[frame["k"] == 0].set_index("spawn_key")["span"]
    osc = (periodic.set_index("spawn_key")["span"] / first.reindex(periodic["spawn_key"]))
    osc_text = (
        f"; periodic example without the transformation: {int((~periodic['converged']).sum())}"
        f" of {len(periodic)} runs did not converge in {int(periodic['n_sweeps'].max())} sweeps, "
        f"last span / first span {float(osc.min()):.3g}..{float(osc.max()):.3g}"
        if len(periodic) else ""
    )
    out.append(
        Verdict(
            claim_id=CLAIM.id, paper=CLAIM.paper,
            theorem=CLAIM.theorem + ": gain against the average-reward LP",
            stated="|g_RVI - g_LP| <= sp(T v_K - v_K)/2 + lp_tol (+ round-off); RVI converges",
            measured=(
                f"worst |g_RVI - g_LP| = {float(gap.max()):.3g} (allowed "
                f"{float(allowed[gap.idxmax()]):.3g}); {int(bad.sum())} of {len(runs)} runs "
                f"outside; {int(missing.sum())} runs failed to converge" + osc_text
            ),
            holds=not bool(bad.any() or missing.any()),
            detail=f"largest lp_tol {float(runs['lp_tol'].max()):.3g}",
            metrics={"worst_gap": float(gap.max()), "n_runs": len(runs),
                     "n_outside": int(bad.sum()), "n_not_converged": int(missing.sum())},
        )
    )
    steps = frame[frame["next_span"].notna()]
    out.append(
        bound_verdict(
            steps.assign(one=steps["span"]), CLAIM,
            theorem=CLAIM.theorem + ": span non-increase",
            stated="sp(T v_{k+1} - v_{k+1}) <= sp(T v_k - v_k) at every k",
            what="sp(Delta_{k+1}) / sp(Delta_k)", measured="next_span", bound="one", min_x=0,
            describe=("family", "aperiodicity", "n_states"),
        )
    )
    contracting = steps[steps["gamma_span"] < 1.0]
    ratio = contracting["gamma_span"]
    verdict = bound_verdict(
        contracting, CLAIM,
        theorem=CLAIM.theorem + ": span contraction by gamma'",
        stated="sp(T v_{k+1} - v_{k+1}) <= gamma' sp(T v_k - v_k), gamma' < 1",
        what="sp(Delta_{k+1}) / (gamma' sp(Delta_k))", measured="next_span",
        bound="span_bound", min_x=0, describe=("family", "aperiodicity", "n_states"),
        note=f"gamma' from {float(ratio.min()):.3g} to {float(ratio.max()):.3g}"
        if len(ratio) else "no run with gamma' < 1",
    )
    keep = contracting["span"] > 100 * contracting["atol"]
    factor = (contracting["next_span"] / contracting["span"])[keep]
    if len(factor):
        verdict = Verdict(**{
            **verdict.to_dict(),
            "measured": verdict.measured + (
                f"; measured one-step factor up to {float(factor.max()):.3g}, median "
                f"{float(factor.median()):.3g}, against gamma' "
                f"{float(contracting['gamma_span'].min()):.3g}.."
                f"{float(contracting['gamma_span'].max()):.3g}"
            ),
        })
    out.append(verdict)
    bias = runs[(runs["gamma_span"] < 1.0) & runs["converged"]]
    excess = bias["bias_error"] - bias["bias_bound"] - bias["atol"]
    out.append(
        Verdict(
            claim_id=CLAIM.id, paper=CLAIM.paper,
            theorem=CLAIM.theorem + ": bias at the reference state",
            stated="||h - h*||_inf <= (1 - tau) sp(T v_K - v_K) / (1 - gamma'), h(s_ref) = 0",
            measured=(
                f"worst ||h - h*|| = {float(bias['bias_error'].max()):.3g}, bound up to "
                f"{float(bias['bias_bound'].max()):.3g}; {int((excess > 0).sum())} of "
                f"{len(bias)} runs exceed it"
            ),
            holds=bool(len(bias)) and not bool((excess > 0).any()),
            detail="h* from average-reward policy iteration, normalised at the same state",
            metrics={"worst_bias_error": float(bias["bias_error"].max()),
                     "n_runs": len(bias), "n_exceed": int((excess > 0).sum())},
        )
    )
    return out


def plot(frame: pd.DataFrame) -> Any:
    """Span of the increments per family (left) and one-step factor / gamma' (right)."""
    import matplotlib.pyplot as plt

    colors = {"random, tau=0": "#0072B2", "random, tau=0.5": "#56B4E9",
              "garnet, tau=0": "#009E73", "cycle, tau=0": "#D55E00", "cycle, tau=0.5": "#E69F00"}
    data = frame.assign(
        series=frame["family"] + ", tau=" + frame["aperiodicity"].map(lambda t: f"{t:g}")
    )
    with plotting.paper_style():
        fig, axes = plt.subplots(1, 2, figsize=(6.4, 2.7))
        ax = axes[0]
        for name, part in data.groupby("series", sort=False):
            fam, tau = part["family"].iloc[0], float(part["aperiodicity"].iloc[0])
            plotting.median_iqr(
                ax, part[part["span"] > 0], x="k", y="span", color=colors.get(name, "0.2"),
                label=name, linestyle="--" if fam == "cycle" and tau == 0 else "-",
            )
        ax.set_yscale("log")
        ax.set_xlabel("iteration $k$")
        ax.set_ylabel(r"$\mathrm{sp}(Tv_k - v_k)$")
        ax = axes[1]
        steps = data[(data["gamma_span"] < 1) & data["next_span"].notna()
                     & (data["span"] > 100 * data["atol"])]
        for name, part in steps.groupby("series", sort=False):
            part = part.assign(ratio=part["next_span"] / part["span_bound"])
            plotting.median_iqr(ax, part, x="k", y="ratio", color=colors.get(name, "0.2"),
                                label=name)
        if len(steps):
            xs = np.sort(steps["k"].unique())
            plotting.reference_line(ax, xs, np.ones_like(xs, dtype=float), "bound (ratio = 1)")
        ax.set_yscale("log")
        ax.set_xlabel("iteration $k$")
        ax.set_ylabel(r"$\mathrm{sp}(\Delta_{k+1}) / (\gamma'\mathrm{sp}(\Delta_k))$")
        plotting.legend(fig, axes[0], loc="lower left", fontsize=6)
    return fig
