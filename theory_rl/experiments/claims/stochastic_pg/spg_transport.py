r"""Claim ``spg_transport``: the transport identities of IGT and HARPG, exactly.

**Statement** (derived [R]; the mechanism behind Algorithms 1 and 2 of Fatkhullin et al. 2023).
With exact gradients on a quadratic :math:`J = \frac12\theta^\top A\theta + b^\top\theta`:

* IGT: :math:`d_k = (1-\eta_k)d_{k-1} + \eta_k\nabla J(\tilde\theta_k)` with
  :math:`\tilde\theta_k = \theta_k + \frac{1-\eta_k}{\eta_k}(\theta_k - \theta_{k-1})` gives
  :math:`d_k = \nabla J(\theta_k)` for every ``k`` (:math:`(1-\eta_k)\theta_{k-1} +
  \eta_k\tilde\theta_k = \theta_k` and :math:`\nabla J` is affine);
* HARPG and N-HARPG with the exact Hessian at any interpolation point:
  :math:`d_k + A(\theta_{k+1}-\theta_k) = \nabla J(\theta_{k+1})`, so again
  :math:`d_k = \nabla J(\theta_k)`.

**Test** (the strict gate that catches sign and index bugs).  ``oracle="exact"`` drivers on
random negative-definite quadratics (``d`` in {2, 5, 20}), 200 iterations, 3 starting points;
:math:`\max_k\|d_k - \nabla J(\theta_k)\| \le 10^{-12}\max_k\|\nabla J(\theta_k)\|` (float64
round-off of a few hundred updates).  Normalised PG with momentum (no transport) is run as a
control and must violate the identity by more than :math:`10^{-6}` relative, otherwise the gate
would be vacuous.

References:
    I. Fatkhullin, A. Barakat, A. Kireeva, N. He. Stochastic policy gradient methods: improved
    sample complexity for Fisher-non-degenerate policies. ICML 2023, arXiv:2302.01734.
    S. Arnold, P.-A. Manzagol, R. Babanezhad, I. Mitliagkas, N. Le Roux. Reducing the variance in
    online optimization by transporting past gradients. NeurIPS 2019 (IGT).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from theory_rl.algorithms import stochastic_pg
from theory_rl.bounds.rates import Verdict
from theory_rl.experiments import plotting
from theory_rl.experiments.base import Claim, product_grid, seed_of
from theory_rl.experiments.claims.stochastic_pg._common import LABELS, METHOD_COLORS, run

CLAIM = Claim(
    id="spg_transport",
    paper="Fatkhullin, Barakat, Kireeva & He (ICML 2023)",
    theorem="transport identities of IGT and HARPG (exact oracles, quadratic) [derived]",
    statement="d_k = grad J(theta_k) at every k, to 1e-12 relative",
    algorithm="stochastic_policy_gradient",
    caption="||d_k - grad J(theta_k)|| / max ||grad J|| against k on random quadratics with exact "
    "oracles: N-PG-IGT, HARPG and N-HARPG stay at round-off; normalised PG with momentum (no "
    "transport, control) does not.",
)

RTOL = 1e-12
CONTROL_MIN = 1e-6
GATED = ("n_pg_igt", "harpg", "n_harpg")
CONTROL = "normalized_momentum_pg"
K = 200
GRID = product_grid(dim=[2, 5, 20], replicate=range(3), method=[*GATED, CONTROL])
QUICK_GRID = product_grid(dim=[2, 5, 20], replicate=[0], method=[*GATED, CONTROL])


def quadratic(dim: int, seed: Any) -> stochastic_pg.QuadraticObjective:
    rng = np.random.default_rng(seed)
    M = rng.normal(size=(dim, dim)) / np.sqrt(dim)
    return stochastic_pg.QuadraticObjective(-(M @ M.T + 0.1 * np.eye(dim)), rng.normal(size=dim))


def compute(config: dict[str, Any]) -> list[dict[str, Any]]:
    dim = int(config["dim"])
    quad = quadratic(dim, 100 * dim + int(config["replicate"]))
    starts = np.random.default_rng(seed_of(config)).normal(size=(3, dim))
    res = run(
        config["method"], quad, oracle="exact", n_iterations=K, n_runs=3, step_size=0.3,
        initial_theta=starts, record=("direction_error", "grad_norm"),
    )  # fmt: skip
    err, norm = res.history["direction_error"], res.history["grad_norm"]
    scale = norm.max()
    return [
        {"start": b, "k": k, "relative_error": float(err[b, k] / scale)}
        for b in range(3)
        for k in range(K + 1)
    ]


def check(frame: pd.DataFrame) -> list[Verdict]:
    worst = frame.groupby("method")["relative_error"].max()
    gated = {m: float(worst[m]) for m in GATED if m in worst}
    control = float(worst.get(CONTROL, np.nan))
    bad = [m for m, w in gated.items() if not w <= RTOL]
    ok_control = control > CONTROL_MIN
    return [
        Verdict(
            claim_id=CLAIM.id,
            paper=CLAIM.paper,
            theorem=CLAIM.theorem,
            stated=CLAIM.statement,
            measured="worst relative ||d_k - grad J(theta_k)||: "
            + ", ".join(f"{LABELS[m]} {w:.2g}" for m, w in gated.items())
            + f" (<= {RTOL:g} holds); control {LABELS[CONTROL]} {control:.2g} (must exceed "
            f"{CONTROL_MIN:g}: the gate discriminates)",
            holds=bool(gated) and not bad and ok_control,
            detail=f"{frame.groupby(['dim', 'replicate']).ngroups} quadratics, 3 starts, K = {K}"
            + (f"; FAILURES: {bad}" if bad else "")
            + ("" if ok_control else "; the control satisfies the identity: gate vacuous"),
            metrics={"worst_relative_error": max(gated.values(), default=np.nan),
                     "control": control},
        )
    ]  # fmt: skip


def plot(frame: pd.DataFrame) -> Any:
    import matplotlib.pyplot as plt

    with plotting.paper_style():
        fig, ax = plt.subplots(figsize=(4.0, 2.6))
        for method, sub in frame.groupby("method", sort=False):
            g = sub.groupby("k")["relative_error"].max()
            ax.plot(
                g.index,
                np.maximum(g, 1e-18),
                color=METHOD_COLORS[method],
                label=f"{LABELS[method]} (max over runs)",
            )
        plotting.reference_line(ax, [0, K], [RTOL, RTOL], "1e-12 (gate)")
        ax.set_yscale("log")
        ax.set_xlabel("iteration $k$")
        ax.set_ylabel(r"$\|d_k - \nabla J(\theta_k)\| / \max\|\nabla J\|$")
        plotting.note(ax, "floored at 1e-18 for the log axis", loc="lower right")
        plotting.legend(ax, ax, loc="center right", fontsize=6)
    return fig
