r"""Checking measured iterates against stated bounds and fitting convergence rates.

Three tools, used by every claim in :mod:`theory_rl.experiments`:

* :func:`check_bound` -- does a measured sequence stay below a stated upper bound at *every*
  iterate?  The check is one-sided (converging faster than the bound passes) and reports the
  worst ratio ``values[k] / bound[k]`` and where it occurs, so a verdict can quote the margin.
* :func:`fit_rate` -- ordinary least squares on ``log y`` against ``x`` (geometric rates,
  ``y_k ~ C q^k``: the slope is ``log q``) or against ``log x`` (power rates, ``y ~ C x^p``: the
  slope is ``p``), with a Student-t confidence interval for the slope; given seed replicates (a
  2-D ``y``), the interval comes from the spread of the per-replicate slopes instead.
* :func:`rate_excess` and :func:`check_rate` -- compare a fitted rate (estimate and interval)
  with a stated one: the stated rate as an upper bound (``side="upper"``: the error decays at
  least as fast), a lower bound (``"lower"``) or the exact rate (``"two-sided"``), gated on the
  interval end that makes the check ``"consistent"`` (fails only when the interval excludes the
  stated side), on the ``"estimate"``, or on the end that makes it ``"significant"`` (the whole
  interval on the stated side).  The claims' rate gates and :mod:`theory_rl.testing` share it.
* :class:`Verdict` -- one line of the report of ``theory-rl verify``: claim, paper and theorem,
  the stated result, the measured figure, whether it holds, and details.

Tolerances passed to :func:`check_bound` must come from numerical precision (see
:func:`theory_rl.bounds.mdp_constants.value_error_floor`) or from a stated statistical confidence,
never from tuning until a check passes.

References:
    Puterman, M. L. (1994). *Markov Decision Processes*. Wiley. (Contraction arguments.)
    Montgomery, D. C., Peck, E. A. & Vining, G. G. (2012). *Introduction to Linear Regression
    Analysis*, 5th ed., §2.4 (t-interval for the OLS slope).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Literal

import numpy as np
from scipy import stats

__all__ = [
    "BoundCheck",
    "RateCheck",
    "RateFit",
    "Verdict",
    "check_bound",
    "check_rate",
    "fit_rate",
    "rate_excess",
    "rate_limits",
]


@dataclasses.dataclass(frozen=True)
class BoundCheck:
    """Outcome of :func:`check_bound`.

    Attributes:
        holds: True when ``values <= bound * (1 + rtol) + atol`` at every checked index (NaN in
            ``values`` counts as a violation).
        worst_ratio: the largest ``values / bound`` (``inf`` where the bound is ``<= 0`` and the
            value positive, ``nan`` when nothing was checked).  Ratios above 1 can still pass
            within ``rtol``/``atol``.
        worst_index: index of ``worst_ratio`` (an int for 1-D input, a tuple otherwise).
        n_checked: number of iterates compared.
        n_violations: number of iterates outside the tolerance.
        first_violation: index of the first violation, or None.
        worst_excess: the largest ``values - (bound * (1 + rtol) + atol)`` (negative when the
            bound holds everywhere with room to spare).
        rtol, atol: the tolerances used.
        worst_excess_index: index of ``worst_excess`` (None when nothing was checked).
    """

    holds: bool
    worst_ratio: float
    worst_index: int | tuple[int, ...] | None
    n_checked: int
    n_violations: int
    first_violation: int | tuple[int, ...] | None
    worst_excess: float
    rtol: float
    atol: float
    worst_excess_index: int | tuple[int, ...] | None = None

    def __bool__(self) -> bool:
        return self.holds

    def describe(self) -> str:
        """One line: the worst ratio and where it occurs, and the violation count."""
        where = f" at {self.worst_index}" if self.worst_index is not None else ""
        text = f"worst ratio {self.worst_ratio:.4g}{where} over {self.n_checked} iterates"
        if not self.holds:
            text += f"; {self.n_violations} violations, first at {self.first_violation}"
        return text


def _index(flat: int, shape: tuple[int, ...]) -> int | tuple[int, ...]:
    if len(shape) == 1:
        return int(flat)
    return tuple(int(i) for i in np.unravel_index(flat, shape))


def check_bound(values: Any, bound: Any, *, rtol: float = 0.0, atol: float = 0.0) -> BoundCheck:
    r"""Check that a measured sequence stays below a stated upper bound at every iterate.

    The check passes when, for every index ``k``,

    .. math::  \mathrm{values}_k \le \mathrm{bound}_k (1 + \mathrm{rtol}) + \mathrm{atol}.

    It is one-sided: anything below the bound passes, however far below.  For a lower bound,
    negate both arrays.

    Args:
        values: measured quantities, e.g. ``||V_k - V*||_inf`` for ``k = 0..K``; any shape.
        bound: the stated bound, broadcastable against ``values``.
        rtol: relative slack (for bounds computed in floating point).
        atol: absolute slack, e.g. the round-off floor of the measurement.

    Returns:
        BoundCheck with the verdict, the worst ratio and its index, and the violation count.

    Example:
        >>> check_bound([1.0, 0.5, 0.2], [1.0, 0.9, 0.81]).worst_ratio
        1.0
        >>> check_bound([1.0, 0.95], [1.0, 0.9]).holds
        False
    """
    if rtol < 0 or atol < 0:
        raise ValueError(f"rtol and atol must be non-negative, got rtol={rtol}, atol={atol}")
    v = np.asarray(values, dtype=np.float64)
    b = np.asarray(bound, dtype=np.float64)
    try:
        v, b = np.broadcast_arrays(v, b)
    except ValueError:
        raise ValueError(
            f"values of shape {v.shape} and bound of shape {b.shape} do not broadcast"
        ) from None
    if v.size == 0:
        return BoundCheck(True, math.nan, None, 0, 0, None, -math.inf, float(rtol), float(atol))
    limit = b * (1.0 + rtol) + atol
    excess = v - limit
    # NaN in the measurement is a violation; NaN in the bound too (nothing was stated there).
    violated = ~(excess <= 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(b > 0, v / b, np.where(v > 0, np.inf, 0.0))
    ratio = np.where(np.isnan(v) | np.isnan(b), np.inf, ratio)
    worst = int(np.argmax(ratio))
    n_viol = int(violated.sum())
    first = _index(int(np.flatnonzero(violated)[0]), v.shape) if n_viol else None
    finite_excess = np.where(np.isnan(excess), np.inf, excess)
    worst_at = int(np.argmax(finite_excess))
    return BoundCheck(
        holds=n_viol == 0,
        worst_ratio=float(ratio.flat[worst]),
        worst_index=_index(worst, v.shape),
        n_checked=int(v.size),
        n_violations=n_viol,
        first_violation=first,
        worst_excess=float(finite_excess.flat[worst_at]),
        rtol=float(rtol),
        atol=float(atol),
        worst_excess_index=_index(worst_at, v.shape),
    )


@dataclasses.dataclass(frozen=True)
class RateFit:
    """Outcome of :func:`fit_rate`.

    Attributes:
        kind: ``"geometric"`` (``y ~ C q^x``, ``slope = log q``) or ``"power"`` (``y ~ C x^p``,
            ``slope = p``).
        slope: the fitted slope (the mean of the per-replicate slopes for replicated input).
        intercept: the fitted intercept of ``log y`` (mean over replicates).
        ci_low, ci_high: the ``confidence`` interval for the slope (``-inf``/``inf`` when it is
            undefined: fewer than 3 points, or fewer than 2 replicates).
        stderr: standard error of the slope.
        n_points: points used in the (per-replicate) fit, after the window and after dropping
            non-positive or non-finite ``y``.
        n_replicates: number of replicates (1 for 1-D ``y``).
        confidence: the confidence level.
        r_squared: coefficient of determination of the fit on the log scale (mean over
            replicates).
    """

    kind: str
    slope: float
    intercept: float
    ci_low: float
    ci_high: float
    stderr: float
    n_points: int
    n_replicates: int
    confidence: float
    r_squared: float

    @property
    def rate(self) -> float:
        """``exp(slope)`` (the contraction factor per unit of x) for geometric fits, else slope."""
        return math.exp(self.slope) if self.kind == "geometric" else self.slope

    @property
    def rate_interval(self) -> tuple[float, float]:
        """The slope interval mapped like :attr:`rate`."""
        if self.kind == "geometric":
            return math.exp(self.ci_low), math.exp(self.ci_high)
        return self.ci_low, self.ci_high

    def describe(self) -> str:
        lo, hi = self.rate_interval
        name = "rate" if self.kind == "geometric" else "exponent"
        pct = f"{100 * self.confidence:g}%"
        return f"{name} {self.rate:.4g} [{pct} CI {lo:.4g}, {hi:.4g}]"


def _ols(x: np.ndarray, ly: np.ndarray) -> tuple[float, float, float, float]:
    """Slope, intercept, slope standard error and R^2 of ``ly ~ x``."""
    n = x.size
    xm, ym = x.mean(), ly.mean()
    sxx = float(((x - xm) ** 2).sum())
    if n < 2 or sxx == 0.0:
        raise ValueError(f"fit_rate needs at least 2 distinct x values, got {n} points")
    slope = float(((x - xm) * (ly - ym)).sum() / sxx)
    intercept = float(ym - slope * xm)
    resid = ly - (intercept + slope * x)
    sse = float((resid**2).sum())
    sst = float(((ly - ym) ** 2).sum())
    stderr = math.sqrt(sse / (n - 2) / sxx) if n > 2 else math.inf
    r2 = 1.0 - sse / sst if sst > 0 else 1.0
    return slope, intercept, stderr, r2


def fit_rate(
    x: Any,
    y: Any,
    *,
    kind: Literal["geometric", "power"] = "geometric",
    window: slice | tuple[int | None, int | None] | None = None,
    confidence: float = 0.95,
) -> RateFit:
    r"""Fit a convergence rate by least squares on the log scale.

    ``kind="geometric"`` fits :math:`\log y_k = a + b\,x_k` (so :math:`y \approx e^a q^x` with
    :math:`q = e^b`); ``kind="power"`` fits :math:`\log y = a + b \log x`.

    Args:
        x: ``(K,)`` iterate indices (or sample sizes); must be positive for ``"power"``.
        y: ``(K,)`` measured errors, or ``(R, K)`` for ``R`` seed replicates.
        kind: ``"geometric"`` or ``"power"``.
        window: the index range of ``x`` to fit (a slice or ``(start, stop)``), e.g. to leave
            out a transient or the round-off floor.
        confidence: level of the slope interval.  One replicate: the OLS Student-t interval
            ``slope +- t_{n-2} * stderr``.  Several replicates: the interval of the mean slope
            from their spread, ``mean +- t_{R-1} * sd / sqrt(R)``.

    Points with non-positive or non-finite ``y`` are dropped (the log is undefined there).

    Example:
        >>> k = np.arange(20)
        >>> round(fit_rate(k, 3.0 * 0.9**k).rate, 12)
        0.9
    """
    if kind not in ("geometric", "power"):
        raise ValueError(f'kind must be "geometric" or "power", got {kind!r}')
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if x.ndim != 1 or y.ndim not in (1, 2) or y.shape[-1] != x.shape[0]:
        raise ValueError(f"x must be (K,) and y (K,) or (R, K); got {x.shape} and {y.shape}")
    if window is not None:
        sl = window if isinstance(window, slice) else slice(*window)
        x, y = x[sl], y[..., sl]
    if kind == "power":
        if np.any(x <= 0):
            raise ValueError("kind='power' needs positive x values")
        x = np.log(x)
    reps = y[None, :] if y.ndim == 1 else y
    fits = []
    for row in reps:
        keep = np.isfinite(row) & (row > 0) & np.isfinite(x)
        fits.append((*_ols(x[keep], np.log(row[keep])), int(keep.sum())))
    slopes = np.array([f[0] for f in fits])
    n_points = min(f[4] for f in fits)
    if len(fits) == 1:
        slope, intercept, stderr, r2, _ = fits[0]
        dof = n_points - 2
    else:
        slope = float(slopes.mean())
        intercept = float(np.mean([f[1] for f in fits]))
        r2 = float(np.mean([f[3] for f in fits]))
        stderr = float(slopes.std(ddof=1) / math.sqrt(len(fits)))
        dof = len(fits) - 1
    if dof >= 1 and math.isfinite(stderr):
        half = float(stats.t.ppf(0.5 + confidence / 2.0, dof)) * stderr
        lo, hi = slope - half, slope + half
    else:
        lo, hi = -math.inf, math.inf
    return RateFit(
        kind=kind,
        slope=float(slope),
        intercept=float(intercept),
        ci_low=float(lo),
        ci_high=float(hi),
        stderr=float(stderr),
        n_points=int(n_points),
        n_replicates=len(fits),
        confidence=float(confidence),
        r_squared=float(r2),
    )


Side = Literal["upper", "lower", "two-sided"]
Gate = Literal["consistent", "estimate", "significant"]
_SIDES = ("upper", "lower", "two-sided")
_GATES = ("consistent", "estimate", "significant")


def rate_limits(
    stated: Any, *, kind: Literal["geometric", "power"], rtol: float = 0.0
) -> tuple[np.ndarray, np.ndarray]:
    r"""The interval ``(low, high)`` of rates accepted as "the stated rate" with slack ``rtol``.

    Geometric rates (contraction factors ``q > 0``) get a multiplicative slack,
    :math:`[q/(1+\mathrm{rtol}),\, q(1+\mathrm{rtol})]`; power exponents ``p`` (of either sign)
    an absolute slack relative to their size, :math:`[p - \mathrm{rtol}|p|,\, p +
    \mathrm{rtol}|p|]`.  ``stated`` may be an array (one stated rate per run).
    """
    if kind not in ("geometric", "power"):
        raise ValueError(f'kind must be "geometric" or "power", got {kind!r}')
    if not rtol >= 0:
        raise ValueError(f"rtol must be non-negative, got {rtol}")
    st = np.asarray(stated, dtype=np.float64)
    if kind == "geometric":
        return st / (1.0 + rtol), st * (1.0 + rtol)
    return st - rtol * np.abs(st), st + rtol * np.abs(st)


def rate_excess(
    estimate: Any,
    low: Any,
    high: Any,
    stated: Any,
    *,
    kind: Literal["geometric", "power"],
    side: Side,
    gate: Gate = "consistent",
    rtol: float = 0.0,
) -> np.ndarray:
    r"""How far fitted rates lie outside what a stated rate allows (``<= 0``: the check holds).

    With ``(lo, hi) = rate_limits(stated, kind=kind, rtol=rtol)``, the value compared is

    ============  =================  ==================  ===============================
    ``gate``      ``side="upper"``   ``side="lower"``    ``side="two-sided"``
    ============  =================  ==================  ===============================
    consistent    ``low - hi``       ``lo - high``       ``max(low - hi, lo - high)``
    estimate      ``estimate - hi``  ``lo - estimate``   ``max(estimate - hi, lo - estimate)``
    significant   ``high - hi``      ``lo - low``        ``max(high - hi, lo - low)``
    ============  =================  ==================  ===============================

    ``"upper"`` reads the stated rate as an upper bound on the true one (the error decays at
    least as fast: a smaller contraction factor, a more negative exponent), ``"lower"`` as a
    lower bound, ``"two-sided"`` as the exact rate.  ``"consistent"`` fails only when the
    interval ``[low, high]`` excludes the stated side (a test of "the statement holds" at the
    interval's level); ``"significant"`` holds only when the whole interval lies on the stated
    side.  NaN anywhere gives NaN, which callers count as a violation (``~(excess <= 0)``).

    Args:
        estimate, low, high: the fitted rates and their interval (rate scale: ``exp(slope)``
            for geometric fits, the exponent for power fits); arrays broadcast together.
        stated: the stated rate(s).
        kind, rtol: as in :func:`rate_limits`.
        side, gate: as above.

    Returns:
        The excess, an array of the broadcast shape (on the rate scale).
    """
    if side not in _SIDES:
        raise ValueError(f"side must be 'upper', 'lower' or 'two-sided', got {side!r}")
    if gate not in _GATES:
        raise ValueError(f"gate must be 'consistent', 'estimate' or 'significant', got {gate!r}")
    lo, hi = rate_limits(stated, kind=kind, rtol=rtol)
    est, lw, hg = (np.asarray(a, dtype=np.float64) for a in (estimate, low, high))
    up_value = {"consistent": lw, "estimate": est, "significant": hg}[gate]
    down_value = {"consistent": hg, "estimate": est, "significant": lw}[gate]
    with np.errstate(invalid="ignore"):
        over = up_value - hi  # positive: slower than the stated upper bound allows
        under = lo - down_value  # positive: faster than the stated lower bound allows
        if side == "upper":
            return np.asarray(over)
        if side == "lower":
            return np.asarray(under)
        # np.fmax would drop a NaN; keep it so that an undefined fit counts as a violation
        return np.where(np.isnan(over) | np.isnan(under), np.nan, np.maximum(over, under))


@dataclasses.dataclass(frozen=True)
class RateCheck:
    """Outcome of :func:`check_rate`.

    Attributes:
        holds: ``excess <= 0``.
        excess: :func:`rate_excess` of the fit (positive: by how much the tested value lies
            outside the accepted range; NaN when the fit is undefined).
        side, gate: as passed.
        stated: the stated rate.
        limits: ``rate_limits(stated, ...)``, the accepted range of rates.
        fit: the :class:`RateFit` checked.
    """

    holds: bool
    excess: float
    side: str
    gate: str
    stated: float
    limits: tuple[float, float]
    fit: RateFit

    def __bool__(self) -> bool:
        return self.holds


def check_rate(
    fit: RateFit,
    stated: float,
    *,
    side: Side = "upper",
    gate: Gate = "consistent",
    rtol: float = 0.0,
) -> RateCheck:
    """Compare one :class:`RateFit` (its rate and interval) with a stated rate.

    See :func:`rate_excess` for ``side``, ``gate`` and ``rtol``.

    Example:
        >>> k = np.arange(30)
        >>> y = 0.8**k * (1 + 0.01 * np.cos(k))
        >>> check_rate(fit_rate(k, y), 0.9).holds, check_rate(fit_rate(k, y), 0.7).holds
        (True, False)
    """
    stated = float(stated)
    if not math.isfinite(stated) or (fit.kind == "geometric" and stated <= 0):
        raise ValueError(f"stated must be a finite rate (> 0 for geometric fits), got {stated}")
    lo, hi = fit.rate_interval
    excess = float(
        rate_excess(fit.rate, lo, hi, stated, kind=fit.kind, side=side, gate=gate, rtol=rtol)
    )
    limits = rate_limits(stated, kind=fit.kind, rtol=rtol)
    return RateCheck(
        holds=bool(excess <= 0),
        excess=excess,
        side=side,
        gate=gate,
        stated=stated,
        limits=(float(limits[0]), float(limits[1])),
        fit=fit,
    )


@dataclasses.dataclass(frozen=True, kw_only=True)
class Verdict:
    """One checked statement: does the measured behaviour satisfy the stated result?

    Built with keywords only (``Verdict(claim_id=..., paper=..., ...)``): eight fields of which
    five are strings are too easy to misplace positionally.

    Attributes:
        claim_id: registry id of the claim (e.g. ``"vi_contraction"``).
        paper: short citation, e.g. ``"Puterman (1994)"``.
        theorem: theorem/proposition number and a short name.
        stated: the stated result, in words or a formula.
        measured: the measured figure that decides it, saying what was compared with what (e.g.
            "worst ||V_k - V*|| / bound = 0.93 over 12 runs").
        holds: whether the measurement satisfies the statement.
        detail: anything else worth reading (instances, tolerances, where it failed).
        metrics: machine-readable numbers behind ``measured`` (JSON-serialisable).
    """

    claim_id: str
    paper: str
    theorem: str
    stated: str
    measured: str
    holds: bool
    detail: str = ""
    metrics: dict[str, Any] = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "holds", bool(self.holds))

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable dict (numpy scalars become Python numbers)."""
        out = dataclasses.asdict(self)
        out["metrics"] = {k: _plain(v) for k, v in self.metrics.items()}
        return out


def _plain(v: Any) -> Any:
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, float) and not math.isfinite(v):
        return str(v)  # JSON has no inf/nan
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    return v
