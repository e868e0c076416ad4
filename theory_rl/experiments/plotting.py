"""Plotting conventions shared by the paper figures (STYLE.md section 4).

* :func:`paper_style` applies the packaged ``paper.mplstyle``.
* :data:`COLORS`: one fixed colour per algorithm (:func:`color`); bounds and references are
  drawn in :data:`REFERENCE_COLOR`, dashed (:func:`reference_line`).
* Linear rates on ``semilogy`` with the theorem's bound as a labelled dashed reference; power
  rates on ``loglog``; several seeds or instances as the median with an interquartile band
  (:func:`median_iqr`; the range below 4 runs), the number of runs in the legend.
* Every drawn series has a legend entry (:func:`legend` merges a line with its band and the
  same series across panels); floors and omissions are stated in the figure (:func:`note`).
* :func:`save_figure` writes PNG and PDF with byte-stable metadata (no creation date, no
  software/producer strings), as the pytest-mpl README recommends.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

__all__ = [
    "COLORS",
    "PDF_METADATA",
    "PNG_METADATA",
    "REFERENCE_COLOR",
    "color",
    "MIN_IQR_RUNS",
    "legend",
    "median_iqr",
    "note",
    "paper_style",
    "reference_line",
    "save_figure",
    "style_path",
]

#: One colour per algorithm, fixed across every figure (Okabe-Ito / ColorBrewer Dark2 hues).
COLORS: dict[str, str] = {
    "value_iteration": "#0072B2",
    "policy_iteration": "#D55E00",
    "modified_policy_iteration": "#009E73",
    "linear_programming": "#CC79A7",
    "policy_mirror_descent": "#E69F00",
    "natural_policy_gradient": "#56B4E9",
    "policy_gradient": "#7570B3",
    "stochastic_policy_gradient": "#66A61E",
    "actor_critic": "#A6761D",
    "robust_value_iteration": "#1B9E77",
    "distributional": "#E7298A",
    "nash": "#666666",
}
#: Colour of stated bounds and reference slopes (always dashed).
REFERENCE_COLOR = "0.45"

PNG_METADATA = {"Software": None}
PDF_METADATA = {"CreationDate": None, "Creator": None, "Producer": None}


def color(algorithm: str) -> str:
    """The fixed colour of ``algorithm`` (a key of :data:`COLORS`)."""
    try:
        return COLORS[algorithm]
    except KeyError:
        raise KeyError(
            f"no colour for algorithm {algorithm!r}; add it to COLORS in {__name__}"
        ) from None


def style_path() -> Path:
    """Path of the packaged ``paper.mplstyle``."""
    return Path(str(resources.files("theory_rl.experiments").joinpath("paper.mplstyle")))


@contextlib.contextmanager
def paper_style() -> Iterator[None]:
    """Context in which figures use the package style."""
    import matplotlib.pyplot as plt

    with plt.style.context(str(style_path())):
        yield


def reference_line(ax: Any, x: Any, y: Any, label: str, **kwargs: Any) -> Any:
    """Draw a stated bound or reference rate: dashed, grey, labelled."""
    kw = {"color": REFERENCE_COLOR, "linestyle": "--", "linewidth": 1.1, "zorder": 1}
    kw.update(kwargs)
    return ax.plot(x, y, label=label, **kw)


#: Fewest runs over which an interquartile range is drawn; below, the band is the range.
MIN_IQR_RUNS = 4


def median_iqr(
    ax: Any,
    frame: pd.DataFrame,
    *,
    x: str,
    y: str,
    color: str,
    label: str | None = None,
    floor: float | None = None,
    **kwargs: Any,
) -> int:
    """Plot the median of ``y`` over runs at each ``x`` with a band, and say which band.

    ``frame`` holds one row per (run, x).  Values below ``floor`` (e.g. 0 on a log axis) are
    raised to it before the quantiles are taken.  With at least :data:`MIN_IQR_RUNS` runs the
    band is the interquartile range (legend "median, IQR; n=..."); with 2 or 3 runs it is the
    range (min to max; "median, range; n=..."), an IQR of so few runs meaning nothing; a single
    run is drawn alone ("n=1").  Band and line share the label, so :func:`legend` draws them as
    one entry.  Returns the largest number of runs at any ``x``.
    """
    values = frame[y].to_numpy(dtype=float)
    if floor is not None:
        values = np.maximum(values, floor)
    g = pd.Series(values, index=frame[x].to_numpy()).groupby(level=0)
    xs = np.asarray(g.median().index, dtype=float)
    med = g.median().to_numpy()
    n = int(g.size().max()) if len(xs) else 0
    if n >= MIN_IQR_RUNS:
        lo, hi, what = g.quantile(0.25).to_numpy(), g.quantile(0.75).to_numpy(), "median, IQR"
    elif n > 1:
        lo, hi, what = g.min().to_numpy(), g.max().to_numpy(), "median, range"
    else:
        lo = hi = None
        what = "one run"
    text = f"{label} ({what}; n={n})" if label else f"_{what}"
    ax.plot(xs, med, color=color, label=text, **kwargs)
    if lo is not None:
        ax.fill_between(xs, lo, hi, color=color, alpha=0.25, linewidth=0, label=text)
    return n


def note(ax: Any, text: str, *, loc: str = "upper right") -> Any:
    """A small grey note inside ``ax`` (what is drawn, floors, omissions)."""
    x, ha = (0.98, "right") if "right" in loc else (0.02, "left")
    y, va = (0.98, "top") if "upper" in loc else (0.02, "bottom")
    return ax.text(
        x, y, text, transform=ax.transAxes, ha=ha, va=va, fontsize=5.5, color="0.35", zorder=5
    )


def legend(source: Any, ax: Any, **kwargs: Any) -> Any:
    """One legend on ``ax`` for every labelled artist of ``source``.

    ``source`` is a figure (all its axes), an axes or a list of axes.  Artists sharing a label
    (a median line and its band, the same series in several panels) become one entry, drawn
    overlaid.
    """
    from matplotlib.legend_handler import HandlerTuple

    if hasattr(source, "get_axes") and not hasattr(source, "get_legend_handles_labels"):
        sources = source.get_axes()  # a Figure
    elif hasattr(source, "get_legend_handles_labels"):
        sources = [source]
    else:
        sources = list(source)
    grouped: dict[str, list[Any]] = {}
    for a in sources:
        handles, labels = a.get_legend_handles_labels()
        for h, lab in zip(handles, labels, strict=True):
            kinds = {type(x) for x in grouped.setdefault(lab, [])}
            if type(h) not in kinds:  # one artist of each kind per entry
                grouped[lab].append(h)
    handles = [tuple(hs) if len(hs) > 1 else hs[0] for hs in grouped.values()]
    return ax.legend(handles, list(grouped), handler_map={tuple: HandlerTuple(ndivide=1)}, **kwargs)


def save_figure(fig: Any, stem: str | Path) -> list[Path]:
    """Save ``fig`` as ``<stem>.png`` and ``<stem>.pdf`` with byte-stable metadata."""
    stem = Path(stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    png, pdf = stem.with_suffix(".png"), stem.with_suffix(".pdf")
    fig.savefig(png, metadata=PNG_METADATA, bbox_inches="tight")
    fig.savefig(pdf, metadata=PDF_METADATA, bbox_inches="tight")
    return [png, pdf]
