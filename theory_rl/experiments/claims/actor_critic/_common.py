"""What the actor-critic claims share: per-seed fitted exponents and the statistical gate on
their mean."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy import stats

from theory_rl.bounds.rates import fit_rate

#: One-sided level of the exponent gates.
ALPHA = 0.05


def log_factor_slope(T: np.ndarray, scale: float) -> float:
    r"""Least-squares slope of :math:`\log\sqrt{\log(\mathrm{scale}\,T)}` on :math:`\log T` over
    the window: what the :math:`\sqrt{L}`, :math:`L = \log(\mathrm{scale}\,T)`, of an
    :math:`\tilde O(\sqrt T)` bound adds to the exponent there."""
    x = np.log(np.asarray(T, dtype=float))
    y = 0.5 * np.log(np.log(scale * np.asarray(T, dtype=float)))
    return float(np.polyfit(x, y, 1)[0])


def exponent_test(slopes: np.ndarray, stated: float) -> dict[str, float]:
    """Mean of per-seed fitted exponents against ``stated``: one-sided t-test of
    ``mean > stated`` at level :data:`ALPHA`; the gate fails only when the exponent is
    significantly above the stated one."""
    slopes = np.asarray(slopes, dtype=float)
    n = slopes.size
    mean = float(slopes.mean())
    se = float(slopes.std(ddof=1) / math.sqrt(n)) if n > 1 else math.inf
    t = (mean - stated) / se if se > 0 else (math.inf if mean > stated else -math.inf)
    p = float(stats.t.sf(t, n - 1)) if n > 1 else 1.0
    tol = float(stats.t.ppf(1 - ALPHA, n - 1) * se) if n > 1 else math.inf
    return {
        "mean": mean,
        "se": se,
        "p_value": p,
        "tolerance": tol,
        "n": n,
        "holds": bool(mean <= stated + tol),
    }


def seed_exponents(wide: pd.DataFrame, x: np.ndarray) -> np.ndarray:
    """Fitted power-law exponent of each seed over ``x``: ``wide`` has one row per seed and the
    columns ``x`` (as ``pivot_table(index="seed_index", columns=...)`` gives)."""
    return np.array(
        [fit_rate(x, wide.loc[i, x].to_numpy(), kind="power").slope for i in wide.index]
    )


def exponent_measured(test: dict[str, float]) -> str:
    """The measured part of an :func:`exponent_test` verdict."""
    return (
        f"{test['mean']:.3f} (se {test['se']:.3f}, n = {test['n']}; one-sided p = "
        f"{test['p_value']:.2g}; holds when <= stated + {test['tolerance']:.3f})"
    )
