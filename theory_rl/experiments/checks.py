r"""Shared verdicts and figures of the claims: bounds at every iterate, fitted rates, ratios.

* :func:`resolved` -- where a bound is large enough, relative to the round-off floor, for a
  ratio to it to mean something.
* :func:`bound_verdict` -- "``measured <= bound (1 + rtol) + atol`` at every iterate of every
  run", with the worst ratio ``measured / bound`` over resolved iterates.  A worst ratio above 1
  can only pass within the tolerance; the verdict then says so and quotes the round-off bound.
* :func:`fit_runs` and :func:`rate_verdict` -- a geometric (or power) rate fitted per run
  (:func:`theory_rl.bounds.rates.fit_rate`) on a window, compared with the stated rate.
* :func:`rate_band_verdict` -- a two-sided rate gate, for instances where the stated rate is
  attained: the fitted rate within a justified band around the stated one.
* :func:`two_sided_t_power` -- the power of a two-sided t-test against a named shift, which the
  sampled claims report.
* :func:`ratio_figure` -- ``measured / bound`` against the iteration, one panel per group, drawn
  only where the bound is resolved, with the bound as the line ``ratio = 1``.

Tolerances come from the claims (round-off floors, reference errors); nothing here is tuned.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any, Literal

import numpy as np
import pandas as pd

from theory_rl.bounds.rates import Verdict, check_bound, fit_rate, rate_excess
from theory_rl.experiments import plotting
from theory_rl.experiments.base import Claim

__all__ = [
    "RESOLVED_FACTOR",
    "bound_verdict",
    "format_ratio",
    "fit_runs",
    "rate_band_verdict",
    "rate_verdict",
    "ratio_figure",
    "resolved",
    "two_sided_t_power",
]

#: A ratio to the bound is reported where the bound exceeds this multiple of ``atol``.
RESOLVED_FACTOR = 100.0


def resolved(bound: Any, atol: Any, factor: float = RESOLVED_FACTOR) -> np.ndarray:
    """Mask of iterates whose bound exceeds ``factor * atol``: there a measured value is
    resolved to 1/factor of the bound, so ratios to the bound are meaningful (below, both sides
    are round-off and only the absolute check ``value <= bound + atol`` is informative)."""
    return np.asarray(bound) > factor * np.asarray(atol)


def format_ratio(r: float) -> str:
    """``r`` to 4 significant digits, or ``1 + d`` when it exceeds 1 by less than 1e-3 (so a
    ratio just above 1 does not print as ``1``)."""
    if 1.0 < r < 1.001:
        return f"1 + {r - 1.0:.2g}"
    return f"{r:.4g}"


def _describe_run(run: pd.DataFrame, columns: Sequence[str]) -> str:
    cfg = {c: run[c].iloc[0] for c in columns if c in run}
    return " ".join(f"{k}={v}" for k, v in cfg.items())


def bound_verdict(
    frame: pd.DataFrame,
    claim: Claim,
    *,
    theorem: str,
    stated: str,
    what: str,
    measured: str = "measured",
    bound: str = "bound",
    atol: str = "atol",
    x: str = "k",
    min_x: float = 1,
    rtol: float = 0.0,
    by: str | Sequence[str] = "spawn_key",
    describe: Sequence[str] = ("family", "gamma", "mirror"),
    paper: str | None = None,
    note: str = "",
) -> Verdict:
    r"""Does ``frame[measured] <= frame[bound] (1 + rtol) + frame[atol]`` hold at every row?

    Args:
        frame: one row per (run, iterate); ``atol`` may differ from row to row.
        claim: the claim (id, paper).
        theorem, stated: the verdict's theorem and stated result.
        what: the ratio in words, e.g. ``"||V*-V^k||_inf / bound"``.
        measured, bound, atol, x: column names.
        min_x: iterates with ``x < min_x`` are checked but left out of the worst ratio (at
            ``k = 0`` a bound is often an identity).
        rtol: relative slack of the bound (a float expression of a few terms).
        by: the columns identifying a run.
        describe: configuration columns quoted for a failing run.
        paper: the verdict's paper (default ``claim.paper``).
        note: appended to the detail.

    Returns:
        A :class:`Verdict` whose ``measured`` reads "worst ``what`` = r over n runs (...)", and
        when ``r > 1`` (the bound is exceeded by less than the tolerance) says that this is
        round-off and quotes the largest ``atol``.  Metrics ``worst_ratio``, ``n_runs``,
        ``n_failures``, ``max_excess_over_bound`` (largest ``measured - bound``) and
        ``max_atol``.
    """
    if rtol < 0:
        raise ValueError(f"rtol must be non-negative, got {rtol}")
    worst, failures, n_runs = 0.0, [], 0
    max_excess, max_atol = -math.inf, 0.0
    for key, run in frame.groupby(by, sort=False):
        n_runs += 1
        run = run.sort_values(x)
        m, b, a = (run[c].to_numpy(dtype=float) for c in (measured, bound, atol))
        res = check_bound(m, b * (1.0 + rtol) + a)
        mask = resolved(b, a) & (run[x].to_numpy() >= min_x)
        if mask.any():
            worst = max(worst, float((m[mask] / b[mask]).max()))
        max_excess = max(max_excess, float(np.nanmax(m - b)) if m.size else -math.inf)
        max_atol = max(max_atol, float(a.max()) if a.size else 0.0)
        if not res.holds:
            failures.append(f"run {key} ({_describe_run(run, describe)}): {res.describe()}")
    n_fail = len(failures)
    text = (
        f"worst {what} = {format_ratio(worst)} over {n_runs} runs "
        f"(iterates {x} >= {min_x:g} with bound > {RESOLVED_FACTOR:g} x round-off); "
        f"{n_fail} runs violate"
    )
    if worst > 1.0 and not failures:
        text += (
            f"; the ratio exceeds 1 by round-off only: measured - bound <= {max_excess:.2g}, "
            f"within the round-off bound atol <= {max_atol:.2g}"
            + (f" (+ rtol {rtol:g})" if rtol else "")
        )
    detail = (
        f"{n_runs} runs, {len(frame)} iterates; check measured <= bound (1 + {rtol:g}) + atol, "
        "atol = round-off floor (+ reference error); ratio over resolved iterates"
        + (f"; {note}" if note else "")
        + ("; FAILURES: " + " | ".join(failures[:4]) if failures else "")
    )
    return Verdict(
        claim_id=claim.id,
        paper=claim.paper if paper is None else paper,
        theorem=theorem,
        stated=stated,
        measured=text,
        holds=not failures,
        detail=detail,
        metrics={
            "worst_ratio": worst,
            "n_runs": n_runs,
            "n_failures": n_fail,
            "max_excess_over_bound": max_excess,
            "max_atol": max_atol,
        },
    )


def fit_runs(
    frame: pd.DataFrame,
    *,
    x: str,
    y: str,
    by: str | Sequence[str] = "spawn_key",
    window: Callable[[pd.DataFrame], np.ndarray] | None = None,
    kind: Literal["geometric", "power"] = "geometric",
    min_points: int = 3,
    stated: str | None = None,
    keep: Sequence[str] = (),
) -> pd.DataFrame:
    """One fitted rate per run: :func:`~theory_rl.bounds.rates.fit_rate` of ``y`` on ``x``.

    Args:
        frame: one row per (run, point).
        x, y: column names.
        by: the columns identifying a run (the rows are sorted by ``x`` within a run).
        window: ``window(run) -> bool mask`` of the points to fit (default: all).
        kind: ``"geometric"`` (rate per unit of ``x``) or ``"power"`` (exponent).
        min_points: runs with fewer window points get NaN (``n_points`` says how many).
        stated: column holding the stated rate (copied, first value per run).
        keep: further columns copied from the first row of each run.

    Returns:
        A DataFrame with the ``by`` columns, ``keep`` columns, ``rate``, ``low``, ``high``
        (the 95% interval of the rate), ``slope`` (log rate or exponent), ``n_points`` and,
        when given, ``stated``.
    """
    keys = [by] if isinstance(by, str) else list(by)
    rows = []
    for key, run in frame.groupby(keys, sort=False):
        run = run.sort_values(x)
        mask = np.ones(len(run), bool) if window is None else np.asarray(window(run), bool)
        values = key if isinstance(key, tuple) else (key,)
        row: dict[str, Any] = dict(zip(keys, values, strict=True))
        row.update({c: run[c].iloc[0] for c in keep})
        n = int(mask.sum())
        if n >= min_points:
            fit = fit_rate(run[x].to_numpy()[mask], run[y].to_numpy()[mask], kind=kind)
            lo, hi = fit.rate_interval
            row.update(rate=fit.rate, low=lo, high=hi, slope=fit.slope, n_points=n)
        else:
            row.update(rate=math.nan, low=math.nan, high=math.nan, slope=math.nan, n_points=n)
        if stated is not None:
            row["stated"] = float(run[stated].iloc[0])
        rows.append(row)
    return pd.DataFrame(rows)


def rate_verdict(
    table: pd.DataFrame,
    claim: Claim,
    *,
    theorem: str,
    stated: str,
    gate: Literal["estimate", "upper", "lower"],
    scale: Literal["rate", "upper", "log"] = "rate",
    rtol: float = 0.0,
    unfitted: Literal["fail", "skip"] = "skip",
    describe: Sequence[str] = (),
    paper: str | None = None,
    detail: str = "",
    metrics: dict[str, Any] | None = None,
) -> Verdict:
    r"""Is each run's fitted linear rate at most the stated one?

    ``table`` has one row per run with ``rate``, ``low``, ``high`` (interval of the rate),
    ``stated`` and optionally ``slope`` (``log rate``), as :func:`fit_runs` returns.

    Args:
        gate: what must be ``<= stated (1 + rtol)``: the ``"estimate"``, the interval's
            ``"upper"`` end (the run is significantly no slower), or its ``"lower"`` end (the run
            is not significantly slower).
        scale: how the measured column compares them: ``"rate"`` -- the largest
            ``rate / stated`` (1 = exactly the stated rate, below 1 faster); ``"upper"`` -- the
            largest ``high / stated`` (the interval's upper end); ``"log"`` -- the
            smallest ``log rate / log stated`` (1 = exactly the stated rate; ``m > 1`` means the
            error shrinks by ``m`` times as many e-folds per iteration as stated, so faster).
        unfitted: runs with NaN rate (too few resolved points) ``"fail"`` or are ``"skip"``\ped.
        describe: columns quoted for a failing run.
        detail, metrics: appended to the verdict's detail and metrics.

    A verdict over no fitted run fails.
    """
    if gate not in ("estimate", "upper", "lower"):
        raise ValueError(f"gate must be 'estimate', 'upper' or 'lower', got {gate!r}")
    if scale not in ("rate", "upper", "log"):
        raise ValueError(f"scale must be 'rate', 'upper' or 'log', got {scale!r}")
    fitted = table[np.isfinite(table["rate"].to_numpy(dtype=float))]
    n_unfit = len(table) - len(fitted)
    st = fitted["stated"].to_numpy(dtype=float)
    # the stated rate as an upper bound on the run's rate (rates.rate_excess): the interval's
    # upper end gates "significantly no slower", its lower end "not significantly slower"
    excess = rate_excess(
        *(fitted[c].to_numpy(dtype=float) for c in ("rate", "low", "high")),
        st,
        kind="geometric",
        side="upper",
        gate={"estimate": "estimate", "upper": "significant", "lower": "consistent"}[gate],
        rtol=rtol,
    )
    ok = excess <= 0
    failures = [
        f"{_describe_run(fitted.iloc[[i]], describe)}: rate {r.rate:.4g} "
        f"[{r.low:.4g}, {r.high:.4g}] vs stated {r.stated:.4g}"
        for i, r in enumerate(fitted.itertuples())
        if not ok[i]
    ]
    if unfitted == "fail" and n_unfit:
        failures.append(f"{n_unfit} runs with too few resolved points to fit (no decay seen)")
    n = len(fitted)
    if scale in ("rate", "upper"):
        ratios = fitted["rate" if scale == "rate" else "high"].to_numpy(dtype=float) / st
        worst = float(ratios.max()) if n else math.nan
        what = "fitted rate" if scale == "rate" else "upper end of the 95% rate interval"
        text = (
            f"worst {what} / stated rate = {worst:.4g} over {n} runs "
            "(1 = the stated rate, below 1 faster)"
        )
    else:
        slope = (
            fitted["slope"].to_numpy(dtype=float)
            if "slope" in fitted
            else np.log(fitted["rate"].to_numpy(dtype=float))
        )
        ratios = slope / np.log(st)
        worst = float(ratios.min()) if n else math.nan
        text = (
            f"slowest run: log(fitted rate) / log(stated rate) = {worst:.3g} over {n} runs "
            f"(>= 1 holds; {worst:.3g} = the error loses {worst:.3g} times as many e-folds per "
            "iteration as the stated rate allows)"
        )
    gate_text = {
        "estimate": "fitted rate",
        "upper": "upper end of the 95% interval",
        "lower": "lower end of the 95% interval",
    }[gate]
    text += f"; {len(failures)} runs fail ({gate_text} above the stated rate)"
    full_detail = (
        f"{n} runs fitted, {n_unfit} without enough resolved points "
        f"({'failing' if unfitted == 'fail' else 'not gated'}); gate: {gate_text} <= stated"
        + (f" (1 + {rtol:g})" if rtol else "")
        + (f"; {detail}" if detail else "")
        + ("; FAILURES: " + " | ".join(failures[:5]) if failures else "")
    )
    return Verdict(
        claim_id=claim.id,
        paper=claim.paper if paper is None else paper,
        theorem=theorem,
        stated=stated,
        measured=text,
        holds=n > 0 and not failures,
        detail=full_detail,
        metrics={
            {"rate": "worst_rate_ratio", "upper": "worst_ratio", "log": "min_log_rate_ratio"}[
                scale
            ]: worst,
            "n_runs": n,
            "n_failures": len(failures),
            "n_unfitted": n_unfit,
            **(metrics or {}),
        },
    )


def ratio_figure(
    frame: pd.DataFrame,
    claim: Claim,
    *,
    panels: str,
    ylabel: str,
    series: str | None = None,
    measured: str = "measured",
    bound: str = "bound",
    atol: str = "atol",
    x: str = "k",
    xlabel: str = "iteration $k$",
    title: Callable[[Any], str] = str,
    colors: dict[Any, str] | None = None,
    linestyles: dict[Any, str] | None = None,
    series_label: Callable[[Any], str] = str,
    axes: Sequence[Any] | None = None,
) -> Any:
    """``measured / bound`` against ``x``, one panel per value of ``panels``, one line per value
    of ``series`` (median over runs with the IQR, or the range for fewer than 4 runs).

    Only iterates where both the bound and the measured value are resolved (> 100 atol,
    :func:`resolved`) are drawn: below, the ratio is round-off noise.  The bound is the line
    ``ratio = 1``; a note in each panel says what is drawn.  ``axes``: draw into these (one per
    panel, in the order of first appearance in ``frame[panels]``) instead of a new figure;
    returns the figure.
    """
    import matplotlib.pyplot as plt

    groups = list(dict.fromkeys(frame[panels]))
    ratio = frame[measured] / frame[bound]
    a = frame[atol].to_numpy()
    keep = resolved(frame[bound].to_numpy(), a) & resolved(frame[measured].to_numpy(), a)
    data = frame.assign(ratio=ratio.where(keep))
    with plotting.paper_style():
        if axes is None:
            fig, grid = plt.subplots(
                1, len(groups), figsize=(2.8 * len(groups), 2.6), squeeze=False
            )
            row = list(grid[0])
        else:
            row = list(axes)
            fig = row[0].figure
        if len(row) != len(groups):
            raise ValueError(f"axes has {len(row)} panels; frame[{panels!r}] has {len(groups)}")
        for ax, g in zip(row, groups, strict=True):
            sub = data[(data[panels] == g) & data["ratio"].notna()]
            names = [None] if series is None else list(dict.fromkeys(sub[series]))
            for name in names:
                part = sub if name is None else sub[sub[series] == name]
                if not len(part):
                    continue
                plotting.median_iqr(
                    ax,
                    part,
                    x=x,
                    y="ratio",
                    color=colors[name]
                    if colors and name in colors
                    else plotting.color(claim.algorithm),
                    label="measured / bound" if name is None else series_label(name),
                    linestyle=(linestyles or {}).get(name, "-"),
                )
            xs = np.sort(data.loc[data[panels] == g, x].unique())
            plotting.reference_line(ax, xs, np.ones_like(xs, dtype=float), "bound (ratio = 1)")
            ax.set_yscale("log")
            ax.set_ylim(top=3.0)
            ax.set_title(title(g))
            ax.set_xlabel(xlabel)
            plotting.note(ax, "drawn where measured and bound > 100 x round-off", loc="lower left")
        row[0].set_ylabel(ylabel)
        plotting.legend(row, row[0], loc="upper right", fontsize=6)
    return fig


def two_sided_t_power(*, shift: float, stderr: float, df: int, confidence: float) -> float:
    r"""Power of the two-sided Student-t test of ``slope = s0`` at level ``1 - confidence``
    against the alternative ``slope = s0 + shift``.

    The statistic :math:`(\hat s - s_0)/\widehat{\mathrm{se}}` follows a noncentral t
    distribution with ``df`` degrees of freedom and noncentrality ``shift / stderr`` (OLS with
    Gaussian errors, ``stderr`` the slope's standard error); the test rejects when its absolute
    value exceeds :math:`t_{df, (1+c)/2}`.

    Args:
        shift: alternative minus null slope.
        stderr: standard error of the slope (``> 0``), e.g. the measured one.
        df: residual degrees of freedom (``>= 1``; ``n - 2`` for a line through ``n`` points).
        confidence: ``c`` in (0, 1).

    Returns:
        The rejection probability under the alternative, in [0, 1].
    """
    from scipy import stats

    if not stderr > 0:
        raise ValueError(f"stderr must be positive, got {stderr}")
    if df < 1:
        raise ValueError(f"df must be >= 1, got {df}")
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    crit = float(stats.t.ppf(0.5 + confidence / 2.0, df))
    ncp = shift / stderr
    # P(T > crit) + P(T < -crit); the lower tail as the upper tail of -T (noncentrality -ncp),
    # since SciPy's nct.cdf returns NaN in parts of the far tail
    power = float(stats.nct.sf(crit, df, ncp) + stats.nct.sf(crit, df, -ncp))
    return min(1.0, max(0.0, power))


def rate_band_verdict(
    table: pd.DataFrame,
    claim: Claim,
    *,
    theorem: str,
    stated: str,
    max_log_ratio: float,
    rtol: float = 0.0,
    describe: Sequence[str] = (),
    paper: str | None = None,
    detail: str = "",
    metrics: dict[str, Any] | None = None,
) -> Verdict:
    r"""Two-sided rate gate for runs on which the stated linear rate is attained.

    ``table`` has one row per run with ``rate``, ``low``, ``high`` (the fitted rate and its
    interval, as :func:`fit_runs` returns) and ``stated``.  A run passes when

    * ``high <= stated (1 + rtol)`` -- not significantly slower than stated (the theorem), and
    * ``log rate / log stated <= max_log_ratio`` -- not faster than ``stated ** max_log_ratio``
      (the rate is attained: a stated rate that is too optimistic, e.g. squared with
      ``max_log_ratio < 2``, fails here or in the first condition).

    ``max_log_ratio > 1`` must come from the instance (a lower-bound construction), not from
    tuning.  Runs without a finite fitted rate fail; a verdict over no run fails.  The measured
    text gives the range of ``log rate / log stated`` (1 = exactly the stated rate).
    """
    if not max_log_ratio > 1.0:
        raise ValueError(f"max_log_ratio must be > 1, got {max_log_ratio}")
    if rtol < 0:
        raise ValueError(f"rtol must be non-negative, got {rtol}")
    rate = table["rate"].to_numpy(dtype=float)
    high = table["high"].to_numpy(dtype=float)
    st = table["stated"].to_numpy(dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.log(rate) / np.log(st)
    # not significantly slower than stated: the interval's upper end within the stated rate
    slow = ~(
        rate_excess(
            rate,
            table["low"].to_numpy(dtype=float),
            high,
            st,
            kind="geometric",
            side="upper",
            gate="significant",
            rtol=rtol,
        )
        <= 0
    )
    fast = ~(ratio <= max_log_ratio)
    bad = slow | fast
    failures = [
        f"{_describe_run(table.iloc[[i]], describe)}: rate {rate[i]:.4g} "
        f"[{table['low'].iloc[i]:.4g}, {high[i]:.4g}] vs stated {st[i]:.4g} "
        f"({'slower than stated' if slow[i] else 'faster than stated^' + f'{max_log_ratio:g}'})"
        for i in np.flatnonzero(bad)
    ]
    n = len(table)
    finite = ratio[np.isfinite(ratio)]
    text = (
        f"log(fitted rate)/log(stated rate) between {finite.min():.3g} and {finite.max():.3g} "
        f"over {n} runs (1 = the stated rate; holds: upper end of the 95% interval <= stated "
        f"and ratio <= {max_log_ratio:g}); {len(failures)} runs fail"
        if finite.size
        else f"no fitted rate over {n} runs"
    )
    return Verdict(
        claim_id=claim.id,
        paper=claim.paper if paper is None else paper,
        theorem=theorem,
        stated=stated,
        measured=text,
        holds=n > 0 and not failures,
        detail=(
            f"{n} runs on which the stated rate is attained; gate: upper end of the 95% rate "
            f"interval <= stated" + (f" (1 + {rtol:g})" if rtol else "") + " and fitted rate >= "
            f"stated^{max_log_ratio:g}"
            + (f"; {detail}" if detail else "")
            + ("; FAILURES: " + " | ".join(failures[:5]) if failures else "")
        ),
        metrics={
            "min_log_rate_ratio": float(finite.min()) if finite.size else math.nan,
            "max_log_rate_ratio": float(finite.max()) if finite.size else math.nan,
            "n_runs": n,
            "n_failures": len(failures),
            **(metrics or {}),
        },
    )
