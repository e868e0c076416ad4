r"""Claim ``dist_evaluation``: projected distributional Bellman operators contract, the
categorical fixed point keeps the mean, and the fixed points are within the stated errors.

**Statements.**

1. :math:`\Pi_C T^\pi` is a :math:`\sqrt\gamma`-contraction in :math:`\bar\ell_2` and
   :math:`\Pi_Q T^\pi` a :math:`\gamma`-contraction in :math:`\bar w_\infty` (Rowland et al.
   2018; Dabney et al. 2018, Prop. 2): for two runs from different initial laws,
   :math:`d(\eta_k, \eta'_k) \le c^k d(\eta_0, \eta'_0)` at every ``k``.
2. With a support covering the returns, :math:`\mathbb E\eta_C(s) = V^\pi(s)` (to 1e-9).
3. Against Monte Carlo returns (random 5-state MDPs, ``N = 20000`` per state, the DKW band at
   confidence :math:`1 - 10^{-3}`): :math:`\bar\ell_2 \le \sqrt{\varsigma/(1-\gamma)} +
   \sqrt L\varepsilon` and the book's quantile bound (constant unverified, [R]) :math:`\bar
   w_1 \le 3(V_{\max} - V_{\min})/(2m(1-\gamma)) + L\varepsilon`, and errors that fall with
   ``m``.
4. The same bounds and the mean on the Cantor law (one state, reward 0/2, :math:`\gamma = 1/3`),
   against a level-14 discrete approximation whose error enters the tolerance.
5. Fixed-point errors against the true law (``U[0, 2]``: one state, reward 0/1, :math:`\gamma =
   1/2`, measured with exact piecewise integrals): :math:`\bar\ell_2(\eta_C, \eta^\pi) \le
   \epsilon_C/\sqrt{1-\gamma}` (Rowland et al. 2018 Prop. 3 form, derived in
   :mod:`theory_rl.bounds.rowland2018`), here with :math:`\ell_2^2 = \varsigma^2/24` exactly;
   :math:`\bar w_\infty(\eta_Q, \eta^\pi) \le \epsilon_Q/(1-\gamma)`, and the quantile fixed
   point has atoms :math:`2(i-1)/m` (the tie convention), :math:`w_1 = 1/m` and
   :math:`w_\infty = 2/m`, which attains the bound (:math:`\epsilon_Q = 1/m`).  The errors fall
   like :math:`m^{-1}` (figure, log-log; fitted slopes reported, and gated to be :math:`\le
   -1/2`, the rate of the spacing bound :math:`\sqrt{\varsigma/(1-\gamma)}`).

Instances: garnets, dense random MDPs, and one state with reward 0 and a support symmetric about
0, where :math:`\Pi_Q T^\pi` scales atoms by :math:`\gamma` (the factor is attained) and
:math:`\Pi_C T^\pi` comes within a few per cent of :math:`\sqrt\gamma`, so a stated factor
smaller than the theorem's fails there.

**Tolerances.** Contraction: ``1e-12`` absolute (round-off of sums of ``M`` probabilities).
Closed forms: ``1e-12``.

References:
    Rowland, M. et al. (2018). An analysis of categorical distributional RL. AISTATS.
    Dabney, W. et al. (2018). Distributional RL with quantile regression. AAAI.
    Bellemare, M. G., Dabney, W. & Rowland, M. (2023). *Distributional RL*, Ch. 5.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from theory_rl.algorithms import distributional as D
from theory_rl.algorithms import sampling
from theory_rl.bounds import rowland2018
from theory_rl.bounds.rates import Verdict, fit_rate
from theory_rl.experiments import plotting
from theory_rl.experiments.base import Claim, product_grid, seed_of, sub_seed
from theory_rl.experiments.checks import bound_verdict
from theory_rl.experiments.claims.distributional._common import coin
from theory_rl.mdps import TabularMDP, garnet, random_mdp

CLAIM = Claim(
    id="dist_evaluation",
    paper="Rowland et al. (2018); Dabney et al. (2018)",
    theorem="Pi_C T^pi sqrt(gamma)-contraction in sup-l2; Pi_Q T^pi gamma-contraction in sup-w_inf",
    statement="d(eta_k, eta'_k) <= c^k d(eta_0, eta'_0); E eta_C = V^pi; fixed-point errors",
    algorithm="distributional",
    caption=(
        "Left: sup-distance between two runs of categorical (sup-l2) and quantile (sup-w_inf) "
        "DP relative to the start, against sqrt(gamma)^k and gamma^k (dashed). Right: "
        "fixed-point error against the true U[0,2] law versus the number of atoms m, with an "
        "m^-1 reference line."
    ),
)

ATOL = 1e-12
N_STEPS = 25

GRID = (
    product_grid(
        part=["contraction"],
        kind=["categorical", "quantile"],
        family=["garnet", "dense", "self_loop"],
        gamma=[0.5, 0.9],
        replicate=range(4),
    )
    + product_grid(part=["atoms"], kind=["categorical", "quantile"], m=[5, 9, 17, 33, 65, 129, 257])
    + product_grid(part=["cantor"], kind=["categorical", "quantile"], m=[10, 28, 82])
    + product_grid(part=["mc"], gamma=[0.8, 0.9], replicate=range(3))
)
QUICK_GRID = (
    product_grid(
        part=["contraction"],
        kind=["categorical", "quantile"],
        family=["garnet", "dense", "self_loop"],
        gamma=[0.9],
        replicate=range(1),
    )
    + product_grid(part=["atoms"], kind=["categorical", "quantile"], m=[5, 9, 17, 33, 65])
    + product_grid(part=["cantor"], kind=["categorical", "quantile"], m=[28])
    + product_grid(part=["mc"], gamma=[0.8], replicate=range(1))
)

#: Monte Carlo: samples per state and the failure probability of the DKW band (union over
#: states and sizes m).
MC_SAMPLES, MC_DELTA = 20_000, 1e-3
MC_CATEGORICAL, MC_QUANTILE = (11, 51, 201), (10, 50)


def _monte_carlo(config: dict[str, Any]) -> list[dict[str, Any]]:
    """Fixed points against returns sampled by
    :func:`theory_rl.algorithms.sampling.rollout_returns`.

    With probability at least ``1 - MC_DELTA`` every empirical CDF is within
    ``eps = dkw_epsilon(N, MC_DELTA / (S * 5))`` of the truth, which moves the Cramér distance
    by at most ``sqrt(L) eps`` and ``w_1`` by ``L eps`` (``L`` the support length); truncating
    the returns at ``H`` with ``gamma^H G_max <= 1e-4`` adds ``sqrt(L 1e-4)`` and ``1e-4``.
    """
    seed = seed_of(config)
    mdp = random_mdp(5, 2, gamma=config["gamma"], seed=sub_seed(seed, 0))
    pi = np.random.default_rng(sub_seed(seed, 1)).integers(0, 2, 5)
    lo, hi = D._value_range(mdp)
    g_max = max(abs(lo), abs(hi))
    H = math.ceil(math.log(1e-4 / g_max) / math.log(mdp.gamma))
    returns = sampling.rollout_returns(
        mdp, pi, n_rollouts=MC_SAMPLES, horizon=H, seed=sub_seed(seed, 2)
    )
    mc = returns[np.arange(5), pi]  # (S, N) returns from each state under pi
    L = hi - lo
    eps = rowland2018.dkw_epsilon(MC_SAMPLES, MC_DELTA / (5 * 5))
    rows = []
    for m in MC_CATEGORICAL:
        theta = np.linspace(lo, hi, m)
        res = D.categorical_evaluation(mdp, pi, support=theta, n_iterations=2000, tol=1e-12)
        probs = res.params["probs"]
        l2 = float(D.cramer_distance(np.broadcast_to(theta, (5, m)), mc, probs).max())
        bound = rowland2018.categorical_spacing_bound(theta[1] - theta[0], mdp.gamma)
        rows.append(
            {
                "kind": "categorical",
                "m": m,
                "measured": l2,
                "bound": bound,
                "atol": math.sqrt(L) * eps + math.sqrt(L * 1e-4),
                "metric": "l2",
            }
        )
    for m in MC_QUANTILE:
        res = D.quantile_evaluation(mdp, pi, n_quantiles=m, n_iterations=2000, tol=1e-12)
        w1 = float(D.wasserstein_distance(res.params["atoms"], mc).max())
        rows.append(
            {
                "kind": "quantile",
                "m": m,
                "measured": w1,
                "bound": rowland2018.quantile_w1_bound(lo, hi, m, mdp.gamma),
                "atol": L * eps + 1e-4,
                "metric": "w1",
            }
        )
    return rows


#: Level of the discrete approximation of the Cantor law: 2^14 atoms, within
#: sum_{t >= 14} 2 / 3^t = 3^-13 of the Cantor variable pathwise (a w_inf bound).
CANTOR_LEVEL = 14


def _cantor(config: dict[str, Any]) -> list[dict[str, Any]]:
    """Fixed point on the Cantor law (one state, reward 0 or 2, gamma = 1/3) against a level-14
    approximation; the approximation moves w_inf by at most ``tail = 3^-13``, w_1 (hence
    l_2^2, the CDF gap being at most 1) by at most ``tail``."""
    m, mdp = config["m"], coin(1.0 / 3.0, 2.0)
    atoms = np.zeros(1)
    for t in range(CANTOR_LEVEL):
        atoms = np.concatenate([atoms, atoms + 2.0 / 3.0**t])
    probs = np.full(atoms.size, 1.0 / atoms.size)
    tail = 3.0 ** -(CANTOR_LEVEL - 1)
    if config["kind"] == "categorical":
        theta = np.linspace(0.0, 3.0, m)
        res = D.categorical_evaluation(mdp, [0], support=theta, n_iterations=200, tol=1e-15)
        p = res.params["probs"][0]
        measured = float(D.cramer_distance(theta, atoms, p, probs))
        eps = float(
            D.cramer_distance(
                theta, atoms, D.categorical_projection(atoms, probs, support=theta), probs
            )
        )
        # the approximation error enters on both sides (measured and eps): 2 sqrt(tail)
        bound = float(rowland2018.categorical_fixed_point_bound(eps, 1 / 3))
        atol = 2 * math.sqrt(tail) * (1 + 1 / math.sqrt(1 - 1 / 3))
        mean_exp = 1.5
    else:
        res = D.quantile_evaluation(mdp, [0], n_quantiles=m, n_iterations=200, tol=1e-15)
        a = res.params["atoms"][0]
        measured = float(D.wasserstein_distance(a, atoms, None, probs, order="inf"))
        eps = float(
            D.wasserstein_distance(
                D.quantile_projection(atoms, probs, n_quantiles=m), atoms, None, probs, order="inf"
            )
        )
        bound = float(rowland2018.quantile_fixed_point_bound(eps, 1 / 3))
        atol = tail * (1 + 1 / (1 - 1 / 3))
        mean_exp = math.nan  # quantile DP does not keep the mean
    return [
        {
            "m": m,
            "measured": measured,
            "bound": bound,
            "atol": atol,
            "mean": float(res.values[0]),
            "mean_expected": mean_exp,
            "metric": "l2" if config["kind"] == "categorical" else "w_inf",
        }
    ]


def _instance(config: dict[str, Any], seed: Any) -> Any:
    if config["family"] == "self_loop":  # one state, reward 0: the contraction factor is attained
        return TabularMDP(np.ones((1, 1, 1)), np.zeros((1, 1)), config["gamma"])
    if config["family"] == "garnet":
        return garnet(15, 3, 4, gamma=config["gamma"], seed=seed)
    return random_mdp(8, 3, gamma=config["gamma"], seed=seed)


def _contraction(config: dict[str, Any]) -> list[dict[str, Any]]:
    seed = seed_of(config)
    mdp = _instance(config, sub_seed(seed, 0))
    rng = np.random.default_rng(sub_seed(seed, 1))
    S, A = mdp.n_states, mdp.n_actions
    pi = rng.dirichlet(np.ones(A), S)
    lo, hi = D._value_range(mdp)
    if hi - lo <= 0:
        lo, hi = lo - 1.0, hi + 1.0
    m = 21
    theta = np.linspace(lo, hi, m)
    if config["kind"] == "categorical":
        x, y = rng.dirichlet(np.ones(m), S), rng.dirichlet(np.ones(m), S)

        def step(z: Any) -> Any:
            return D.categorical_step(mdp, pi, z, support=theta)

        def dist(a: Any, b: Any) -> float:
            return float(D.cramer_distance(theta, theta, a, b).max())

        factor = rowland2018.contraction_factor("categorical", mdp.gamma)
        fp = D.categorical_evaluation(
            mdp, pi, support=theta, n_iterations=3000, tol=1e-14, record=("mean_error",)
        )
        mean_error = float(fp.history["mean_error"][-1])
    else:
        x, y = rng.uniform(lo, hi, (S, m)), rng.uniform(lo, hi, (S, m))

        def step(z: Any) -> Any:
            return D.quantile_step(mdp, pi, z)

        def dist(a: Any, b: Any) -> float:
            return float(D.wasserstein_distance(a, b, order="inf").max())

        factor = rowland2018.contraction_factor("quantile", mdp.gamma)
        mean_error = math.nan
    rows = []
    d0 = dist(x, y)
    for k in range(N_STEPS + 1):
        rows.append(
            {
                "k": k,
                "measured": dist(x, y),
                "bound": d0 * factor**k,
                "atol": ATOL,
                "factor": factor,
                "mean_error": mean_error,
            }
        )
        x, y = step(x), step(y)
    return rows


def _uniform_error(atoms: np.ndarray, probs: np.ndarray, power: int) -> float:
    """Exact :math:`\\int_0^2 |F(x) - x/2|^p dx` for a finite law inside [0, 2]."""
    order = np.argsort(atoms)
    x = np.concatenate([[0.0], atoms[order], [2.0]])
    c = np.concatenate([[0.0], np.cumsum(probs[order])])
    total = 0.0
    for x0, x1, ci in zip(x[:-1], x[1:], c, strict=True):
        cuts = [x0, *([2 * ci] if x0 < 2 * ci < x1 else []), x1]
        for a, b in zip(cuts[:-1], cuts[1:], strict=False):
            ga, gb = abs(a / 2 - ci), abs(b / 2 - ci)
            total += 2 * abs(gb ** (power + 1) - ga ** (power + 1)) / (power + 1)
    return total


def _atoms(config: dict[str, Any]) -> list[dict[str, Any]]:
    m, mdp = config["m"], coin(0.5, 1.0)
    if config["kind"] == "categorical":
        theta = np.linspace(0.0, 2.0, m)
        res = D.categorical_evaluation(mdp, [0], support=theta, n_iterations=200, tol=1e-15)
        p = res.params["probs"][0]
        l2 = math.sqrt(_uniform_error(theta, p, 2))
        spacing = theta[1] - theta[0]
        # eps_C = l2(Pi_C U, U): the projection of U[0,2] is 1/(2(m-1)) at the ends and
        # 1/(m-1) inside, whose Cramér distance to U is computed exactly as well
        proj = np.full(m, 1.0 / (m - 1))
        proj[[0, -1]] /= 2
        eps = math.sqrt(_uniform_error(theta, proj, 2))
        return [
            {
                "m": m,
                "measured": l2,
                "bound": float(rowland2018.categorical_fixed_point_bound(eps, 0.5)),
                "atol": ATOL,
                "closed_form": spacing / math.sqrt(24.0),
                "mean": float(res.values[0]),
                "mean_expected": 1.0,
                "metric": "l2",
            }
        ]
    res = D.quantile_evaluation(mdp, [0], n_quantiles=m, n_iterations=200, tol=1e-15)
    a = res.params["atoms"][0]
    i = np.arange(1, m + 1)
    # w_inf to U[0, 2]: on tau in ((i-1)/m, i/m] the quantile of U runs over (2(i-1)/m, 2i/m]
    w_inf = float(np.maximum(np.abs(a - 2 * (i - 1) / m), np.abs(a - 2 * i / m)).max())
    eps = 1.0 / m  # Pi_Q U has atoms (2i-1)/m: w_inf = 1/m
    return [
        {
            "m": m,
            "measured": w_inf,
            "bound": float(rowland2018.quantile_fixed_point_bound(eps, 0.5)),
            "atol": ATOL,
            "closed_form": 2.0 / m,
            "w1": _uniform_error(a, np.full(m, 1.0 / m), 1),
            "mean": float(res.values[0]),
            "mean_expected": 1.0 - 1.0 / m,
            "metric": "w_inf",
        }
    ]


def compute(config: dict[str, Any]) -> list[dict[str, Any]]:
    """Contraction runs (``part="contraction"``) or one fixed point on U[0, 2] (``"atoms"``)."""
    if config["part"] == "contraction":
        return _contraction(config)
    if config["part"] == "mc":
        return _monte_carlo(config)
    return _atoms(config) if config["part"] == "atoms" else _cantor(config)


def check(frame: pd.DataFrame) -> list[Verdict]:
    """Contraction at every iterate; mean preservation; closed forms; fixed-point bounds."""
    con = frame[frame["part"] == "contraction"]
    atoms = frame[frame["part"] == "atoms"]
    out: list[Verdict] = [
        bound_verdict(
            con[con["kind"] == kind],
            CLAIM,
            theorem=theorem,
            stated=stated,
            what="d(eta_k, eta'_k) / (c^k d_0)",
            describe=("family", "gamma", "kind"),
        )
        for kind, theorem, stated in (
            (
                "categorical",
                "Rowland et al. (2018): Pi_C T^pi sqrt(gamma)-contraction",
                "sup-l2(eta_k, eta'_k) <= gamma^(k/2) sup-l2(eta_0, eta'_0)",
            ),
            (
                "quantile",
                "Dabney et al. (2018) Prop. 2: Pi_Q T^pi gamma-contraction",
                "sup-w_inf(eta_k, eta'_k) <= gamma^k sup-w_inf(eta_0, eta'_0)",
            ),
        )
        if (con["kind"] == kind).any()
    ]
    mc = frame[frame["part"] == "mc"]
    if len(mc):
        ok = bool((mc["measured"] <= mc["bound"] + mc["atol"]).all())
        decreasing = all(
            bool(np.all(np.diff(run.sort_values("m")["measured"].to_numpy()) < 0))
            for _, run in mc.groupby(["spawn_key", "kind"])
        )
        worst = float(((mc["measured"] - mc["atol"]).clip(lower=0) / mc["bound"]).max())
        out.append(
            Verdict(
                claim_id=CLAIM.id,
                paper=CLAIM.paper,
                theorem="fixed points against Monte Carlo (DKW band)",
                stated="sup-l2(eta_C, MC) <= sqrt(varsigma/(1-gamma)) + sqrt(L) eps; "
                "sup-w1(eta_Q, MC) <= 3(Vmax-Vmin)/(2m(1-gamma)) + L eps (book 5.10, [R]); "
                "errors fall with m",
                measured=f"worst (error - DKW band) / bound = {worst:.3g} over {len(mc)} fixed "
                f"points; errors decrease in m in every run: {decreasing}",
                holds=ok and decreasing,
                detail=f"N = {MC_SAMPLES} returns per state, DKW confidence 1 - {MC_DELTA:g}",
                metrics={"worst_ratio_beyond_band": worst},
            )
        )
    cantor = frame[frame["part"] == "cantor"]
    if len(cantor):
        ok = bool((cantor["measured"] <= cantor["bound"] + cantor["atol"]).all())
        means = cantor.dropna(subset=["mean_expected"])
        mean_off = (
            float((means["mean"] - means["mean_expected"]).abs().max()) if len(means) else 0.0
        )
        ratio = float((cantor["measured"] / cantor["bound"]).max())
        out.append(
            Verdict(
                claim_id=CLAIM.id,
                paper=CLAIM.paper,
                theorem="fixed points on the Cantor law (gamma = 1/3)",
                stated="sup-l2(eta_C, eta) <= eps_C/sqrt(1-gamma), sup-w_inf(eta_Q, eta) <= "
                "eps_Q/(1-gamma); E eta_C = 3/2",
                measured=f"worst ratio to bound {ratio:.3g} over {len(cantor)} fixed points "
                f"(level-{CANTOR_LEVEL} Cantor approximation, its error in atol); "
                f"|mean - 3/2| <= {mean_off:.2g}",
                holds=ok and mean_off < 1e-12,
                metrics={"worst_ratio": ratio},
            )
        )
    cat = con[con["kind"] == "categorical"] if "kind" in con else con
    if len(cat):
        mean_err = float(cat["mean_error"].max())
        out.append(_mean_verdict(mean_err, cat["spawn_key"].nunique()))
    for kind, name in (("categorical", "sup-l2"), ("quantile", "sup-w_inf")):
        sub = atoms[atoms["kind"] == kind].sort_values("m") if len(atoms) else atoms
        if sub.empty:
            continue
        closed = float(np.abs(sub["measured"] - sub["closed_form"]).max())
        mean_off = float(np.abs(sub["mean"] - sub["mean_expected"]).max())
        within = bool((sub["measured"] <= sub["bound"] + sub["atol"]).all())
        fit = fit_rate(sub["m"].to_numpy(float), sub["measured"].to_numpy(), kind="power")
        slope = float(fit.slope)
        extra = ""
        if kind == "quantile":
            w1_off = float(np.abs(sub["w1"] - 1.0 / sub["m"]).max())
            extra = f"; |w1 - 1/m| <= {w1_off:.2g}"
            closed = max(closed, w1_off)
        holds = within and closed < 1e-12 and mean_off < 1e-12 and slope <= -0.5
        out.append(
            Verdict(
                claim_id=CLAIM.id,
                paper=CLAIM.paper,
                theorem=f"{kind} fixed point on U[0,2] (gamma = 1/2)",
                stated=(
                    f"{name}(eta, U[0,2]) <= eps/(1-gamma)^(1/2 or 1); closed form "
                    + (
                        "varsigma/sqrt(24), mean 1"
                        if kind == "categorical"
                        else "w_inf = 2/m (the bound, attained), atoms 2(i-1)/m, mean 1 - 1/m, "
                        "w1 = 1/m"
                    )
                    + "; error slope in m <= -1/2"
                ),
                measured=(
                    f"worst ratio to bound {float((sub['measured'] / sub['bound']).max()):.3g};"
                    f" |error - closed form| <= {closed:.2g}; |mean - expected| <= "
                    f"{mean_off:.2g}{extra}; fitted slope {slope:.3f} (expected -1)"
                ),
                holds=holds,
                metrics={"slope": slope, "closed_form_error": closed},
            )
        )
    return out


def _mean_verdict(mean_err: float, n_runs: int) -> Verdict:
    return Verdict(
        claim_id=CLAIM.id,
        paper="Rowland et al. (2018)",
        theorem="mean preservation",
        stated="max_s |E eta_C(s) - V^pi(s)| < 1e-9 (support covering the returns)",
        measured=f"max mean error {mean_err:.3g} over {n_runs} runs",
        holds=bool(mean_err < 1e-9),
        metrics={"max_mean_error": mean_err},
    )


def plot(frame: pd.DataFrame) -> Any:
    """Contraction ratios (left) and fixed-point error against m (right)."""
    import matplotlib.pyplot as plt

    with plotting.paper_style():
        fig, (ax, bx) = plt.subplots(1, 2, figsize=(6.4, 2.6))
        con = frame[frame["part"] == "contraction"]
        for kind, ls in (("categorical", "-"), ("quantile", ":")):
            sub = con[con["kind"] == kind]
            if sub.empty:
                continue
            first = sub[sub["k"] == 0].set_index("spawn_key")["measured"]
            rel = sub.assign(rel=sub["measured"] / sub["spawn_key"].map(first))
            med = rel.groupby("k")["rel"].median()
            ax.plot(
                med.index,
                np.maximum(med.to_numpy(), 1e-17),
                ls,
                color=plotting.color("distributional"),
                label=f"{kind} (median, n={sub['spawn_key'].nunique()})",
            )
            factor = float(sub["factor"].max())
            k = med.index.to_numpy()
            plotting.reference_line(
                ax,
                k,
                factor**k,
                f"{kind} bound c^k (c = {factor:.3g})",
                linestyle="--" if kind == "categorical" else "-.",
            )
        ax.set_yscale("log")
        ax.set_xlabel("iteration k")
        ax.set_ylabel("d(eta_k, eta'_k) / d_0")
        ax.legend(fontsize=6)
        atoms = frame[frame["part"] == "atoms"]
        for kind, marker in (("categorical", "o"), ("quantile", "s")):
            sub = atoms[atoms["kind"] == kind].sort_values("m")
            if sub.empty:
                continue
            label = "sup-l2, categorical" if kind == "categorical" else "sup-w_inf, quantile"
            bx.plot(
                sub["m"],
                sub["measured"],
                marker=marker,
                color=plotting.color("distributional"),
                label=label,
            )
            bx.plot(
                sub["m"],
                sub["bound"],
                marker=marker,
                linestyle="--",
                color="0.6",
                label=f"{kind} fixed-point bound",
            )
        if not atoms.empty:
            m = np.sort(atoms["m"].unique()).astype(float)
            plotting.reference_line(bx, m, 1.0 / m, "m^-1")
        bx.set_xscale("log")
        bx.set_yscale("log")
        bx.set_xlabel("atoms m")
        bx.set_ylabel("error to U[0,2]")
        bx.legend(fontsize=6)
    return fig
