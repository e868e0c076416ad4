r"""Assertions over a recorded history, for checking an algorithm's stated rate in a test suite.

Each function checks one kind of statement about measured iterates, returns the
:class:`~theory_rl.bounds.rates.Verdict` when it holds (so a test can record it, e.g. with the
``rate_check`` fixture of :mod:`theory_rl.pytest_plugin`) and raises :class:`RateCheckError`
(an ``AssertionError`` carrying the verdict) when it does not, with a message that says where
and by how much:

* :func:`assert_bound` -- :math:`v_k \le b_k (1 + \mathrm{rtol}) + \mathrm{atol}` at every
  iterate ``k``; the message names the first and the worst violating iterate (largest
  :math:`v_k - b_k(1+\mathrm{rtol}) - \mathrm{atol}`), their values and the excess.
* :func:`assert_rate` -- a rate fitted by least squares on the log scale,
  :math:`\log y_k = a + k \log q` (``kind="geometric"``) or :math:`\log y = a + p \log x`
  (``kind="power"``), with its Student-t interval, against a stated rate.
* :func:`assert_sample_complexity` -- the power law :math:`\mathrm{err}(n) \approx C n^{p}`
  over seeded replicates: one log-log slope per seed, the interval of their mean from their
  spread (:math:`\bar p \pm t_{R-1} s/\sqrt R`), against a stated exponent.
* :func:`assert_monotone` -- :math:`v_{k+1} \ge v_k - \mathrm{tol}` (or :math:`\le v_k +
  \mathrm{tol}`) at every step.

**Statistical guarantee of the rate checks.**  ``side`` says what the stated rate is: an upper
bound on the true one (``"upper"``, the default: "the error decays at least as fast as
``rate``", so a contraction factor or exponent no larger), a lower bound (``"lower"``) or the
exact rate (``"two-sided"``).  The check fails only when the data exclude the statement at the
given ``confidence``: for a one-sided statement, when the one-sided ``confidence`` bound of the
fitted rate (an end of the two-sided interval at level ``2 confidence - 1``) lies beyond the
stated rate; for ``"two-sided"``, when the two-sided ``confidence`` interval excludes it.  If
the measured rate is the stated one and the fit's model holds (independent Gaussian residuals
on the log scale, or independent replicates), a check fails with probability at most ``1 -
confidence``.  ``rtol`` widens the stated rate by a relative slack (geometric rates
multiplicatively, :math:`[q/(1+\mathrm{rtol}), q(1+\mathrm{rtol})]`; exponents by
:math:`\mathrm{rtol}|p|`); it must come from a known approximation, not from tuning.

The comparisons are those of the project's own claims: :func:`theory_rl.bounds.rates.check_bound`,
:func:`~theory_rl.bounds.rates.fit_rate` and :func:`~theory_rl.bounds.rates.check_rate` (the
gate :func:`theory_rl.experiments.checks.rate_verdict` also uses).

Example:
    >>> import numpy as np
    >>> k = np.arange(40)
    >>> gap = 2.0 * 0.8**k * (1 + 0.05 * np.sin(k))
    >>> assert_rate(k, gap, kind="geometric", rate=0.9).holds
    True
    >>> print(verdict_of(assert_rate, k, gap, kind="geometric", rate=0.7).detail)
    ... # doctest: +NORMALIZE_WHITESPACE
    fitted geometric rate 0.7999, 90% CI [0.7992, 0.8006] (one-sided 95% lower bound 0.7992):
    the interval lies above the stated rate 0.7: its lower end 0.7992 exceeds 0.7 by 0.09924
    (40 points, R^2 0.9998)
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, Literal

import numpy as np

from theory_rl.bounds.rates import RateFit, Verdict, check_bound, check_rate, fit_rate

__all__ = [
    "RateCheckError",
    "assert_bound",
    "assert_monotone",
    "assert_rate",
    "assert_sample_complexity",
    "verdict_of",
]


class RateCheckError(AssertionError):
    """A failed check; ``verdict`` is the :class:`~theory_rl.bounds.rates.Verdict` (``holds``
    False) and the message its ``detail``."""

    def __init__(self, verdict: Verdict) -> None:
        super().__init__(verdict.detail)
        self.verdict = verdict


def verdict_of(assertion: Callable[..., Verdict], *args: Any, **kwargs: Any) -> Verdict:
    """The verdict of ``assertion(*args, **kwargs)`` whether it holds or not (never raises
    :class:`RateCheckError`), e.g. for a claim's ``check``."""
    try:
        return assertion(*args, **kwargs)
    except RateCheckError as err:
        return err.verdict


def _g(x: float) -> str:
    return f"{x:.4g}"


def _finish(verdict: Verdict) -> Verdict:
    if not verdict.holds:
        raise RateCheckError(verdict)
    return verdict


def _where(index: Any) -> str:
    return f"iterate {index}" if isinstance(index, int) else f"index {index}"


def assert_bound(
    values: Any,
    bound: Any,
    *,
    rtol: float = 0.0,
    atol: float = 0.0,
    label: str | None = None,
) -> Verdict:
    r"""Assert :math:`\mathrm{values}_k \le \mathrm{bound}_k (1 + \mathrm{rtol}) + \mathrm{atol}`
    at every iterate (NaN counts as a violation).

    Args:
        values: measured quantities, ``(K,)`` (or any shape: indices become tuples).
        bound: the stated bound, broadcastable against ``values``.
        rtol, atol: slack from numerical precision (e.g. a round-off floor), ``>= 0``.
        label: the verdict's ``claim_id`` (default ``"assert_bound"``).

    Returns:
        The verdict (metrics ``worst_ratio``, ``worst_index``, ``worst_excess``, ``n_checked``,
        ``n_violations``).

    Raises:
        RateCheckError: the bound fails somewhere; the message reads e.g. ``bound violated at
        2 of 5 iterates (value <= bound * (1 + 0) + 0): first at iterate 2: value 0.9 > limit
        0.8 (bound 0.8) by 0.1; worst at iterate 4: value 0.8 > limit 0.5 (bound 0.5) by 0.3``.
        ValueError: empty ``values``, shapes that do not broadcast, negative tolerances.
    """
    v = np.asarray(values, dtype=np.float64)
    if v.size == 0:
        raise ValueError("values is empty: there is no iterate to check")
    res = check_bound(v, bound, rtol=rtol, atol=atol)
    v, b = np.broadcast_arrays(v, np.asarray(bound, dtype=np.float64))
    limit = b * (1.0 + rtol) + atol

    def at(index: Any) -> str:
        return (
            f"{_where(index)}: value {_g(v[index])} > limit {_g(limit[index])} "
            f"(bound {_g(b[index])}) by {_g(v[index] - limit[index])}"
        )

    rule = f"value <= bound * (1 + {rtol:g}) + {atol:g}"
    if res.holds:
        measured = (
            f"holds at all {res.n_checked} iterates; worst value / bound = "
            f"{_g(res.worst_ratio)} at {_where(res.worst_index)}"
        )
        detail = f"{measured}; largest value - limit = {_g(res.worst_excess)} ({rule})"
    else:
        w = res.worst_excess_index
        measured = (
            f"bound violated at {res.n_violations} of {res.n_checked} iterates, worst at "
            f"{_where(w)} by {_g(v[w] - limit[w])}"
        )
        detail = (
            f"bound violated at {res.n_violations} of {res.n_checked} iterates ({rule}): "
            f"first at {at(res.first_violation)}; worst at {at(res.worst_excess_index)}"
        )
    return _finish(
        Verdict(
            claim_id=label or "assert_bound",
            paper="",
            theorem="assert_bound",
            stated=rule + " at every iterate",
            measured=measured,
            holds=res.holds,
            detail=detail,
            metrics={
                "worst_ratio": res.worst_ratio,
                "worst_index": res.worst_index,
                "worst_excess": res.worst_excess,
                "first_violation": res.first_violation,
                "n_checked": res.n_checked,
                "n_violations": res.n_violations,
            },
        )
    )


Side = Literal["upper", "lower", "two-sided"]


def _interval_level(confidence: float, side: str) -> float:
    """The two-sided level whose interval ends are the ``confidence`` bounds for ``side``."""
    if side not in ("upper", "lower", "two-sided"):
        raise ValueError(f"side must be 'upper', 'lower' or 'two-sided', got {side!r}")
    if side == "two-sided":
        if not 0.0 < confidence < 1.0:
            raise ValueError(f"confidence must be in (0, 1), got {confidence}")
        return confidence
    if not 0.5 < confidence < 1.0:
        raise ValueError(f"confidence of a one-sided check must be in (0.5, 1), got {confidence}")
    return round(2.0 * confidence - 1.0, 12)


def _rate_verdict(
    fit: RateFit,
    stated: float,
    *,
    side: str,
    confidence: float,
    rtol: float,
    name: str,
    label: str | None,
    fitted: str,
) -> Verdict:
    """The verdict of :func:`~theory_rl.bounds.rates.check_rate` on ``fit`` (consistent gate)."""
    lo, hi = fit.rate_interval
    if not (math.isfinite(lo) and math.isfinite(hi)):
        raise ValueError(
            f"{name} cannot form an interval from {fit.n_points} points and "
            f"{fit.n_replicates} replicates (needs >= 3 points, or >= 2 replicates); "
            "such a check could not fail"
        )
    chk = check_rate(fit, stated, side=side, gate="consistent", rtol=rtol)
    what = "rate" if fit.kind == "geometric" else "exponent"
    relation = {"upper": "<=", "lower": ">=", "two-sided": "="}[side]
    stated_text = f"{fit.kind} {what} {relation} {_g(stated)}" + (
        f" (rtol {rtol:g})" if rtol else ""
    )
    level = f"{100 * fit.confidence:.4g}%"
    if side == "two-sided":
        ci = f"{level} CI [{_g(lo)}, {_g(hi)}]"
    else:
        end, value = ("lower", lo) if side == "upper" else ("upper", hi)
        ci = (
            f"{level} CI [{_g(lo)}, {_g(hi)}] (one-sided {100 * confidence:.4g}% {end} "
            f"bound {_g(value)})"
        )
    measured = f"{fitted} {_g(fit.rate)}, {ci}"
    accepted = chk.limits[1] if side == "upper" else chk.limits[0]
    if chk.holds:
        verdict_text = f"consistent with the stated {what} {relation} {_g(stated)}"
    elif side == "upper" or (side == "two-sided" and lo > chk.limits[1]):
        verdict_text = (
            f"the interval lies above the stated {what} {_g(stated)}: its lower end {_g(lo)} "
            f"exceeds {_g(chk.limits[1])} by {_g(chk.excess)}"
        )
    else:
        if side == "two-sided":
            accepted = chk.limits[0]
        verdict_text = (
            f"the interval lies below the stated {what} {_g(stated)}: its upper end {_g(hi)} "
            f"is below {_g(accepted)} by {_g(chk.excess)}"
        )
    fit_text = f"{fit.n_points} points"
    if fit.n_replicates > 1:
        fit_text += f" x {fit.n_replicates} replicates"
    fit_text += f", R^2 {fit.r_squared:.4f}"
    return _finish(
        Verdict(
            claim_id=label or name,
            paper="",
            theorem=name,
            stated=stated_text,
            measured=measured,
            holds=chk.holds,
            detail=f"{measured}: {verdict_text} ({fit_text})",
            metrics={
                "kind": fit.kind,
                "rate": fit.rate,
                "ci_low": lo,
                "ci_high": hi,
                "interval_level": fit.confidence,
                "confidence": confidence,
                "side": side,
                "stated": stated,
                "excess": chk.excess,
                "n_points": fit.n_points,
                "n_replicates": fit.n_replicates,
                "r_squared": fit.r_squared,
            },
        )
    )


def assert_rate(
    x: Any,
    y: Any,
    *,
    kind: Literal["geometric", "power"] = "geometric",
    rate: float,
    confidence: float = 0.95,
    side: Side = "upper",
    rtol: float = 0.0,
    window: slice | tuple[int | None, int | None] | None = None,
    label: str | None = None,
) -> Verdict:
    r"""Assert that ``y`` decays at the stated ``rate`` (module docstring: sides, confidence).

    Args:
        x: ``(K,)`` iterate indices (geometric) or positive sizes (power).
        y: ``(K,)`` measured errors, or ``(R, K)`` seed replicates (interval from their spread).
        kind: ``"geometric"`` (``rate`` is the contraction factor ``q`` of :math:`y \approx C
            q^x`) or ``"power"`` (``rate`` is the exponent ``p`` of :math:`y \approx C x^p`).
        rate: the stated rate.
        confidence: level of the check, in (0.5, 1) one-sided, (0, 1) two-sided.
        side: ``"upper"`` (true rate <= ``rate``), ``"lower"`` (>=) or ``"two-sided"`` (=).
        rtol: relative slack of the stated rate, ``>= 0``.
        window: the index range of ``x`` to fit, as in :func:`~theory_rl.bounds.rates.fit_rate`
            (leave out a transient or the round-off floor).  Non-positive ``y`` is dropped.
        label: the verdict's ``claim_id`` (default ``"assert_rate"``).

    Returns:
        The verdict (metrics ``rate``, ``ci_low``, ``ci_high``, ``interval_level``, ``excess``,
        ``n_points``, ...).

    Raises:
        RateCheckError: the interval excludes the statement; the message gives the fitted rate,
        its interval and by how much it misses, e.g. ``fitted geometric rate 0.8002, 90% CI
        [0.7955, 0.805] (one-sided 95% lower bound 0.7955): the interval lies above the stated
        rate 0.7: its lower end 0.7955 exceeds 0.7 by 0.09552 (40 points, R^2 0.9978)``.
        ValueError: bad arguments, or too few points for an interval.
    """
    level = _interval_level(confidence, side)
    fit = fit_rate(x, y, kind=kind, window=window, confidence=level)
    return _rate_verdict(
        fit,
        rate,
        side=side,
        confidence=confidence,
        rtol=rtol,
        name="assert_rate",
        label=label,
        fitted=f"fitted {kind} {'rate' if kind == 'geometric' else 'exponent'}",
    )


def assert_sample_complexity(
    samples: Any,
    errors: Any,
    *,
    exponent: float,
    confidence: float = 0.95,
    side: Side = "upper",
    rtol: float = 0.0,
    label: str | None = None,
) -> Verdict:
    r"""Assert :math:`\mathrm{err}(n) \approx C n^{p}` with the stated exponent over seeds.

    One least-squares slope of :math:`\log \mathrm{err}` on :math:`\log n` per seed; the fitted
    exponent is their mean :math:`\bar p` and its interval :math:`\bar p \pm t_{R-1}
    s/\sqrt{R}` comes from their spread (independent seeds), so the check is valid however the
    errors along one seed's curve are correlated.

    Args:
        samples: ``(n,)`` positive sample sizes, ``n >= 2``.
        errors: ``(n_seeds, n)`` measured errors, one row per seed, ``n_seeds >= 2``.
        exponent: the stated exponent, e.g. ``-0.5`` for :math:`O(1/\sqrt{n})`.
        confidence, side, rtol: as in :func:`assert_rate` (``side="upper"``: the error decays at
            least like :math:`n^{p}`).
        label: the verdict's ``claim_id`` (default ``"assert_sample_complexity"``).

    Raises:
        RateCheckError: the interval excludes the statement; the message gives the mean fitted
        exponent, its interval and the miss.
        ValueError: shapes, fewer than 2 seeds, non-positive sample sizes.
    """
    s = np.asarray(samples, dtype=np.float64)
    e = np.asarray(errors, dtype=np.float64)
    if s.ndim != 1 or s.size < 2:
        raise ValueError(f"samples must be (n,) with n >= 2, got shape {s.shape}")
    if e.ndim != 2 or e.shape[1] != s.size:
        raise ValueError(f"errors must be (n_seeds, n) = (n_seeds, {s.size}), got {e.shape}")
    if e.shape[0] < 2:
        raise ValueError(
            f"errors has {e.shape[0]} seed(s); the interval comes from the spread of the "
            "per-seed slopes and needs >= 2"
        )
    if np.any(~(s > 0)):
        raise ValueError("samples must be positive")
    level = _interval_level(confidence, side)
    fit = fit_rate(s, e, kind="power", confidence=level)
    return _rate_verdict(
        fit,
        exponent,
        side=side,
        confidence=confidence,
        rtol=rtol,
        name="assert_sample_complexity",
        label=label,
        fitted=f"fitted exponent (mean of {fit.n_replicates} per-seed log-log slopes)",
    )


def assert_monotone(
    values: Any, *, tol: float = 0.0, increasing: bool = True, label: str | None = None
) -> Verdict:
    r"""Assert :math:`v_{k+1} \ge v_k - \mathrm{tol}` at every step (``increasing=False``:
    :math:`v_{k+1} \le v_k + \mathrm{tol}`).

    Args:
        values: ``(K,)`` measured values, ``K >= 2``.
        tol: allowed step against the direction (round-off), ``>= 0``.
        increasing: the direction.
        label: the verdict's ``claim_id`` (default ``"assert_monotone"``).

    Raises:
        RateCheckError: some step goes the wrong way by more than ``tol``; the message names the
        first and the largest such step (``iterate k`` is the later of the two iterates),
        e.g. ``not non-decreasing (tol 0): 1 of 3 steps decrease by more than tol; first at
        iterate 2: 2 -> 1.5 (decrease 0.5, beyond tol by 0.5); worst at iterate 2: ...``.
        ValueError: not 1-D, fewer than 2 values, negative ``tol``.
    """
    v = np.asarray(values, dtype=np.float64)
    if v.ndim != 1 or v.size < 2:
        raise ValueError(f"values must be (K,) with K >= 2, got shape {v.shape}")
    if not tol >= 0:
        raise ValueError(f"tol must be non-negative, got {tol}")
    if increasing:  # v[k] <= v[k+1] + tol
        res = check_bound(v[:-1], v[1:], atol=tol)
    else:  # v[k+1] <= v[k] + tol
        res = check_bound(v[1:], v[:-1], atol=tol)
    direction = "non-decreasing" if increasing else "non-increasing"
    change = "decrease" if increasing else "increase"
    n_steps = v.size - 1

    def at(j: int) -> str:
        step = abs(v[j + 1] - v[j])
        return (
            f"iterate {j + 1}: {_g(v[j])} -> {_g(v[j + 1])} ({change} {_g(step)}, beyond tol "
            f"by {_g(step - tol)})"
        )

    if res.holds:
        worst = float(res.worst_excess) + tol  # largest step against the direction (or < 0)
        measured = (
            f"{direction} at all {n_steps} steps; largest {change} "
            f"{_g(max(worst, 0.0))} (tol {tol:g})"
        )
        detail = measured
    else:
        j, first = int(res.worst_excess_index), int(res.first_violation)
        measured = (
            f"{res.n_violations} of {n_steps} steps {change} by more than tol; worst at "
            f"iterate {j + 1} by {_g(abs(v[j + 1] - v[j]))}"
        )
        detail = (
            f"not {direction} (tol {tol:g}): {res.n_violations} of {n_steps} steps {change} by "
            f"more than tol; first at {at(first)}; worst at {at(j)}"
        )
    return _finish(
        Verdict(
            claim_id=label or "assert_monotone",
            paper="",
            theorem="assert_monotone",
            stated=f"values {direction} within tol {tol:g}",
            measured=measured,
            holds=res.holds,
            detail=detail,
            metrics={
                "n_steps": n_steps,
                "n_violations": res.n_violations,
                "first_violation": None if res.holds else int(res.first_violation) + 1,
                "worst_excess": res.worst_excess,
            },
        )
    )
