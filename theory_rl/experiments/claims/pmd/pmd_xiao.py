r"""Claim ``pmd_xiao``: PMD's O(1/k) rate with constant steps and linear rate with geometric steps.

**Statement** (Xiao, JMLR 2022; reward-maximisation form, rewards in [0, 1], uniform
:math:`\pi^0`, exact action values; :mod:`theory_rl.bounds.xiao2022`):

* Thm 8, constant :math:`\eta > 0`, KL and Euclidean mirror maps:
  :math:`V^*(\rho) - V^k(\rho) \le \frac{1}{k+1}[\frac{D^*_0}{(1-\gamma)\eta}
  + \frac{1}{(1-\gamma)^2}]` at every ``k``.
* Thm 10, :math:`\eta_k = \eta_0/\gamma^k`:
  :math:`V^*(\rho) - V^k(\rho) \le (1-1/\vartheta_\rho)^k[V^*(\rho) - V^0(\rho)
  + D^*_0/(\gamma\eta_0)]` at every ``k``, :math:`\vartheta_\rho =
  \|d_\rho^{\pi^*}/\rho\|_\infty/(1-\gamma)`.

**Measurement.**  Garnets (1 and 5 successors), dense Dirichlet MDPs and (Thm 8 only, where
:math:`\rho = \delta_{s_0}` makes :math:`\vartheta_\rho` infinite) the chain of Agarwal et al.
with ``H = 4``; :math:`\rho` the MDP's initial distribution; :math:`D^*_0` computed exactly from
:math:`\pi^*` (``divergence_to_opt`` at ``k = 0``); :math:`\eta \in \{10^{-2}, 1, 10^2\}`
(Thm 8) and :math:`\eta_0 = f\,\frac{1-\gamma}{\gamma}D^*_0`, :math:`f \in \{0.01, 1\}`
(Thm 10).  Plus :func:`theory_rl.experiments.instances.cash_or_wait` (both theorems,
:math:`\eta = 1` and :math:`f = 1`), where the optimal action wins by a margin that only the
discount decides: action values computed without the discount drive PMD to the wrong action
there, and the gap stalls at :math:`(1-\gamma)/6` above bounds that go to 0.  Tolerances:
:mod:`theory_rl.experiments.claims.pmd._common`.

References:
    L. Xiao. On the convergence rates of policy gradient methods. JMLR 23(282), 2022,
    arXiv:2201.07443.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from theory_rl.algorithms import pmd
from theory_rl.algorithms.exact import reference
from theory_rl.bounds import mdp_constants, xiao2022
from theory_rl.bounds.rates import Verdict
from theory_rl.experiments.base import Claim, product_grid, seed_of, sub_seed
from theory_rl.experiments.checks import bound_verdict, ratio_figure
from theory_rl.experiments.claims.pmd import _common as pmd_common
from theory_rl.experiments.instances import INSTANCE_FAMILIES, make_instance

CLAIM = Claim(
    id="pmd_xiao",
    paper="Xiao (2022)",
    theorem="Thm 8 (O(1/k), constant step) and Thm 10 (linear, geometric steps)",
    statement="V*(rho)-V^k(rho) <= [D*_0/((1-g)eta) + 1/(1-g)^2]/(k+1); "
    "<= (1-1/vartheta)^k [V*(rho)-V^0(rho) + D*_0/(g eta_0)]",
    algorithm="policy_mirror_descent",
    caption="PMD (KL solid, Euclidean dotted): V*(rho) - V^k(rho) divided by Xiao's bound "
    "(median and IQR over instances and step sizes); the bound holds where the ratio is <= 1.",
)


def _grid(n_states: int, gammas: list[float], etas: list[float], factors: list[float]) -> list:
    fams = [*INSTANCE_FAMILIES, {"family": "chain", "branching": 0}]
    thm8 = [
        {**f, **({"horizon": 4} if f["family"] == "chain" else {"n_states": n_states}), **c}
        for f in fams
        for c in product_grid(
            theorem=["thm8"], n_actions=[4], gamma=gammas, mirror=["kl", "euclidean"], eta=etas
        )
    ]
    thm10 = [
        {**f, "n_states": n_states, **c}
        for f in INSTANCE_FAMILIES
        for c in product_grid(
            theorem=["thm10"],
            n_actions=[4],
            gamma=gammas,
            mirror=["kl", "euclidean"],
            eta=factors,
        )
    ]
    trap = [
        {"family": "cash_or_wait", "branching": 0, "n_states": 3, **c}
        for c in product_grid(
            theorem=["thm8", "thm10"],
            n_actions=[2],
            gamma=gammas,
            mirror=["kl", "euclidean"],
            eta=[1.0],
        )
    ]
    return thm8 + thm10 + trap


GRID = _grid(30, [0.5, 0.9, 0.99], [1e-3, 1e-2, 1.0, 1e2, 1e3], [0.01, 1.0, 10.0])
QUICK_GRID = _grid(10, [0.9], [1e-2, 1.0, 1e2], [0.01, 1.0])


def _d0(mirror: str, n_actions: int) -> float:
    """D*_0 from the uniform policy to a deterministic pi*: log A (KL), (1 - 1/A)/2 (Eucl.)."""
    return float(np.log(n_actions)) if mirror == "kl" else 0.5 * (1.0 - 1.0 / n_actions)


def compute(config: dict[str, Any]) -> list[dict[str, Any]]:
    seed = seed_of(config)
    mdp = make_instance(config, sub_seed(seed, 0))
    gamma, mirror = mdp.gamma, config["mirror"]
    ref = reference(mdp)  # pi* solved once: the driver, atol and vartheta_rho share it
    atol = pmd_common.atol_of(mdp, ref)
    if config["theorem"] == "thm8":
        eta, K = float(config["eta"]), 300 if config["family"] != "chain" else 400
        res = pmd.policy_mirror_descent(mdp, eta=eta, mirror=mirror, n_iterations=K, reference=ref)
        d0 = float(res.history["divergence_to_opt"][0])
        k = np.arange(K + 1)
        bound = xiao2022.thm8_bound(k, gamma=gamma, eta=eta, d0=d0)
    else:
        theta = mdp_constants.vartheta_rho(mdp, policy=ref.policy)
        eta0 = float(config["eta"]) * (1 - gamma) / gamma * _d0(mirror, mdp.n_actions)
        rate = xiao2022.thm10_rate(theta)
        # run until the bound is 1e-12 of its start (or 600 updates)
        K = int(min(600, np.ceil(np.log(1e-12) / np.log(max(rate, 1e-300)))))
        res = pmd.policy_mirror_descent(
            mdp, eta=eta0, mirror=mirror, schedule="geometric", n_iterations=K, reference=ref
        )
        d0 = float(res.history["divergence_to_opt"][0])
        k = np.arange(K + 1)
        bound = xiao2022.thm10_bound(
            k, gamma=gamma, vartheta=theta, gap0=float(res.history["gap"][0]), d0=d0, eta0=eta0
        )
    return pmd_common.bound_rows(k, res.history["gap"], bound, atol, d0=d0)


def check(frame: pd.DataFrame) -> list[Verdict]:
    t8, t10 = frame[frame["theorem"] == "thm8"], frame[frame["theorem"] == "thm10"]
    return [
        bound_verdict(
            t8,
            CLAIM,
            theorem="Thm 8 (constant step, KL and Euclidean)",
            stated="V*(rho)-V^k(rho) <= [D*_0/((1-g)eta) + 1/(1-g)^2]/(k+1) at every k",
            what="gap / Thm 8 bound",
            rtol=pmd_common.RTOL,
        ),
        bound_verdict(
            t10,
            CLAIM,
            theorem="Thm 10 (eta_k = eta_0/gamma^k, KL and Euclidean)",
            stated="V*(rho)-V^k(rho) <= (1-1/vartheta_rho)^k [gap_0 + D*_0/(g eta_0)] at every k",
            what="gap / Thm 10 bound",
            rtol=pmd_common.RTOL,
        ),
    ]


def plot(frame: pd.DataFrame) -> Any:
    return ratio_figure(
        frame,
        CLAIM,
        panels="theorem",
        ylabel=r"$(V^*(\rho) - V^k(\rho))$ / bound",
        series="mirror",
        linestyles=MIRROR_STYLES,
        title={"thm8": "Thm 8 (constant step)", "thm10": "Thm 10 (geometric steps)"}.get,
    )


#: KL solid, Euclidean dotted.
MIRROR_STYLES = {"kl": "-", "euclidean": ":"}
