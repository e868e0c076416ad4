r"""Claim ``soft_rfzi``: tabular RFZI (Zhang, Hu & Li, ICLR 2024, Algorithm RFZI and
Theorem 5), its contraction, its sample-size slope and its sensitivity to ``beta``.

**Statements.**

1. *Exact model* [D]: RFZI with the population least squares is soft-robust VI in ``Q``
   (:math:`Q_k = r - \beta^{-1}\log Z_k`, KL weight :math:`1/(\gamma\beta)`), a
   gamma-contraction: :math:`\|Q_{k+1} - Q^*\|_\infty \le \gamma\|Q_k - Q^*\|_\infty` at every
   ``k`` (plus a round-off floor ``1e-12 (1 + ||Q*||)``; note the ``Z`` iterates need not
   contract in sup norm).
2. *Sample size* (the notes §8.10, a project hypothesis: Theorem 5's ``n`` exponent is [U]):
   with ``n`` samples per pair the converged error :math:`\|Q_K - Q^*\|_\infty` decays at
   least like :math:`n^{-1/2}`.  One-sided test: per seed the least-squares slope of
   ``log error`` on ``log n`` (``n`` in {1e2, 1e3, 1e4}); the claim fails when the
   one-sided 95% lower confidence bound of the mean slope (Student t over the seeds) lies above
   ``-1/2`` (a significantly slower decay).  A bug that freezes the error (e.g. the targets
   without ``gamma``) gives a slope near 0 and fails.
3. *Derived bound* [D] (:func:`theory_rl.bounds.zhang2024.rfzi_error_bound`, not the paper's
   Theorem 5): :math:`\|Q_K - Q^*\| \le \gamma^K\|Q_0 - Q^*\| + \frac{e^{\beta\gamma\,
   \mathrm{sp}(V^*)} - 1}{\beta(1-\gamma)}\sqrt{\log(2SA/\delta)/(2n)}` with probability
   ``1 - delta`` per run; ``delta = 1e-4`` per run, so over the runs here the family-wise
   confidence is at least ``1 - 1e-4 x runs``.  The bound is loose (reported ratio) and, for
   ``beta`` of a few units, vacuous: the figure shows the exponential factor.
4. *Figure*: error against ``beta`` at ``n = 1000`` with the bound's statistical term, once
   with the measured :math:`\mathrm{sp}(V^*)` and once with the a-priori span
   :math:`(r_{\max} - r_{\min})/(1-\gamma)`, which carries the
   :math:`e^{\beta\gamma/(1-\gamma)}` factor the reviewers point to.  The measured error does
   not grow like it on this instance (it is bounded by the span of the values: a missed rare
   successor moves ``Q`` by at most ``gamma sp(V*)``), so the exponential factor is a property
   of the bound here, not of the measured error.

Instance: a random MDP (S = 6, A = 3, rewards in [0, 1], gamma = 0.9).  ``K = 200``
iterations (``0.9^200 ||Q_0 - Q*|| < 1e-9``, far below the sampling error).

References:
    R. Zhang, Y. Hu, N. Li. Soft robust MDPs and risk-sensitive MDPs: equivalence, policy
    gradient, and sample complexity. ICLR 2024, arXiv:2306.11626.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from theory_rl.algorithms import rrmdp
from theory_rl.bounds.rates import Verdict
from theory_rl.bounds.zhang2024 import rfzi_error_bound
from theory_rl.experiments import plotting
from theory_rl.experiments.base import Claim, seed_of, sub_seed
from theory_rl.experiments.claims.soft_robust._common import instance, quiet
from theory_rl.mdps.soft_robust import sample_dataset

CLAIM = Claim(
    id="soft_rfzi",
    paper="Zhang, Hu & Li (ICLR 2024)",
    theorem="RFZI (Alg. 1, Thm 5 [U])",
    statement="exact model: gamma-contraction of Q_k; error ~ n^(-1/2) (one-sided); derived "
    "bound with exp(beta gamma sp(V*)) factor",
    algorithm="robust_value_iteration",
    caption=(
        "Tabular RFZI on a random MDP (S = 6, A = 3, gamma = 0.9): (a) ||Q_K - Q*|| against "
        "the samples per pair n (median and range over seeds, beta = 1) with an n^(-1/2) "
        "reference; (b) the error against beta at n = 1000 with the derived bound's "
        "statistical term (dashed)."
    ),
)

NS = (100, 1000, 10000)
BETAS_EXACT = (0.1, 1.0, 3.0)
BETAS_SWEEP = (0.1, 0.3, 1.0, 2.0, 3.0, 5.0)
K = 200
DELTA = 1e-4
CONFIDENCE = 0.95
INSTANCE = {"instance": "random", "n_states": 6, "n_actions": 3, "gamma": 0.9}

GRID = (
    [{"kind": "exact", "beta": b} for b in BETAS_EXACT]
    + [{"kind": "sampled", "beta": 1.0, "n_seeds": 20}]
    + [{"kind": "sweep", "beta": b, "n_seeds": 10} for b in BETAS_SWEEP]
)
QUICK_GRID = (
    [{"kind": "exact", "beta": b} for b in BETAS_EXACT]
    + [{"kind": "sampled", "beta": 1.0, "n_seeds": 8}]
    + [{"kind": "sweep", "beta": b, "n_seeds": 2} for b in BETAS_SWEEP]
)


def compute(config: dict[str, Any]) -> list[dict[str, Any]]:
    seed = seed_of(config)
    mdp = instance(INSTANCE, np.random.SeedSequence(2024))  # one fixed instance
    beta = float(config["beta"])
    with quiet():
        pen = rrmdp.rfzi_penalty(beta, mdp.gamma)
        v_star = rrmdp.soft_robust_optimum(mdp, pen)
        q_star = rrmdp._robust.robust_q_values(mdp, pen, v_star)
    span = float(v_star.max() - v_star.min())
    base = {"kind": config["kind"], "beta": beta, "gamma": mdp.gamma}
    if config["kind"] == "exact":
        res = rrmdp.rfzi(mdp, beta=beta, n_iterations=60, reference=q_star, record=("q_error",))
        floor = 1e-12 * (1.0 + float(np.abs(q_star).max()))
        return [
            {**base, "k": k, "q_error": float(e), "atol": floor}
            for k, e in enumerate(res.history["q_error"])
        ]
    ns = NS if config["kind"] == "sampled" else (1000,)
    initial = float(np.abs(mdp.rewards - q_star).max())
    # the a-priori span (r_max - r_min)/(1 - gamma): the exp(beta gamma/(1 - gamma)) factor
    span_apriori = float(np.ptp(mdp.rewards)) / (1.0 - mdp.gamma)
    rows = []
    for i in range(int(config["n_seeds"])):
        for n in ns:
            data = sample_dataset(mdp, n, seed=sub_seed(seed, 1000 * i + n))
            res = rrmdp.rfzi(data, beta=beta, n_iterations=K, reference=q_star, record=("q_error",))
            bound, apriori = (
                rfzi_error_bound(
                    n,
                    K,
                    beta=beta,
                    gamma=mdp.gamma,
                    value_span=value_span,
                    n_pairs=mdp.n_states * mdp.n_actions,
                    delta=DELTA,
                    initial_error=initial,
                )
                for value_span in (span, span_apriori)
            )
            rows.append(
                {
                    **base,
                    "seed_index": i,
                    "n": n,
                    "error": float(res.history["q_error"][-1]),
                    "bound": float(bound),
                    "bound_apriori": float(apriori),
                }
            )
    return rows


def slope_test(sampled: pd.DataFrame) -> tuple[float, float, np.ndarray]:
    """``(mean slope, one-sided lower confidence bound, per-seed slopes)``."""
    slopes = []
    for _, run in sampled.groupby("seed_index"):
        slopes.append(np.polyfit(np.log(run["n"].to_numpy(float)), np.log(run["error"]), 1)[0])
    s = np.asarray(slopes)
    m = s.size
    lcb = float(s.mean() - stats.t.ppf(CONFIDENCE, m - 1) * s.std(ddof=1) / np.sqrt(m))
    return float(s.mean()), lcb, s


def check(frame: pd.DataFrame) -> list[Verdict]:
    exact = frame[frame["kind"] == "exact"]
    bad, worst = 0, 0.0
    for _, run in exact.groupby("beta"):
        run = run.sort_values("k")
        e, g, a = run["q_error"].to_numpy(), float(run["gamma"].iloc[0]), run["atol"].to_numpy()
        bad += int(np.any(e[1:] > g * e[:-1] + a[1:]))
        ok = e[:-1] > 1e3 * a[:-1]
        if ok.any():
            worst = max(worst, float((e[1:][ok] / e[:-1][ok]).max()))
    sampled = frame[frame["kind"] == "sampled"]
    mean, lcb, s = slope_test(sampled)
    runs = frame[frame["kind"] != "exact"]
    viol = int((runs["error"] > runs["bound"]).sum())
    ratio = float((runs["error"] / runs["bound"]).max())
    return [
        Verdict(
            claim_id=CLAIM.id,
            paper=CLAIM.paper,
            theorem="RFZI, exact model: gamma-contraction of Q_k [D]",
            stated="||Q_{k+1} - Q*|| <= gamma ||Q_k - Q*|| + 1e-12 (1 + ||Q*||) at every k",
            measured=f"{bad} of {exact['beta'].nunique()} runs violate; worst ratio "
            f"{worst:.6g} (gamma = {float(frame['gamma'].iloc[0]):g})",
            holds=bad == 0 and len(exact) > 0,
            detail=f"beta in {sorted(exact['beta'].unique().tolist())}; ratio over iterates "
            "with an error above 1e3 x the floor",
            metrics={"worst_ratio": worst},
        ),
        Verdict(
            claim_id=CLAIM.id,
            paper=CLAIM.paper,
            theorem="RFZI sample size: slope vs -1/2 (one-sided; project hypothesis)",
            stated=f"error decays at least like n^(-1/2): the {CONFIDENCE:.0%} one-sided lower "
            "confidence bound of the slope is <= -1/2",
            measured=f"mean slope {mean:.3f} over {s.size} seeds (per seed {s.min():.2f} to "
            f"{s.max():.2f}); lower bound {lcb:.3f}",
            holds=lcb <= -0.5,
            detail=f"n in {list(NS)}, beta = 1, converged RFZI (K = {K}); Student t over seeds",
            metrics={"mean_slope": mean, "lower_bound": lcb},
        ),
        Verdict(
            claim_id=CLAIM.id,
            paper=CLAIM.paper,
            theorem="derived RFZI bound [D] (not Thm 5)",
            stated=f"||Q_K - Q*|| <= gamma^K e0 + (e^(beta gamma sp) - 1)/(beta (1 - gamma)) "
            f"sqrt(log(2SA/delta)/(2n)), delta = {DELTA:g} per run",
            measured=f"{viol} of {len(runs)} runs violate; worst error/bound {ratio:.3g} "
            "(vacuous for large beta: see the figure)",
            holds=viol == 0,
            detail=f"family-wise confidence >= {1 - DELTA * len(runs):.4f}",
            metrics={"worst_ratio": ratio},
        ),
    ]


def plot(frame: pd.DataFrame) -> Any:
    import matplotlib.pyplot as plt

    color = plotting.color(CLAIM.algorithm)
    with plotting.paper_style():
        fig, (a, b) = plt.subplots(1, 2, figsize=(6.4, 2.6))
        sampled = frame[frame["kind"] == "sampled"]
        plotting.median_iqr(a, sampled, x="n", y="error", color=color, label="RFZI, beta = 1")
        n = np.array(NS, dtype=float)
        e0 = float(sampled[sampled["n"] == NS[0]]["error"].median())
        plotting.reference_line(a, n, e0 * np.sqrt(n[0] / n), r"$\propto n^{-1/2}$")
        a.set_xscale("log")
        a.set_yscale("log")
        a.set_xlabel("samples per (s, a) n")
        a.set_ylabel(r"$\|Q_K - Q^*\|_\infty$")
        plotting.legend(a, a, loc="upper right", fontsize=6)
        sweep = frame[frame["kind"] == "sweep"]
        plotting.median_iqr(b, sweep, x="beta", y="error", color=color, label="RFZI, n = 1000")
        g = sweep.groupby("beta")["bound"].median()
        plotting.reference_line(b, g.index, g.to_numpy(), "derived bound, sp(V*) (delta = 1e-4)")
        g2 = sweep.groupby("beta")["bound_apriori"].median()
        plotting.reference_line(
            b,
            g2.index,
            g2.to_numpy(),
            "same, a-priori span (r_max - r_min)/(1 - gamma)",
            linestyle=":",
        )
        b.set_yscale("log")
        b.set_xlabel("beta")
        b.set_ylabel(r"$\|Q_K - Q^*\|_\infty$")
        plotting.legend(b, b, loc="upper left", fontsize=6)
    return fig
