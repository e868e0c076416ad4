"""What the actor-critic claims share: the statistical gate on a fitted regret exponent."""

from __future__ import annotations

import math

import numpy as np
from scipy import stats

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
