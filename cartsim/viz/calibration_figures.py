"""Figures of a calibration and of a virtual cohort, drawn from their tables.

* :func:`pairs_figure`: the posterior's particles, one panel per pair of parameters, with the
  marginal histograms on the diagonal and the credible intervals marked (log axes for log-scale
  parameters);
* :func:`predictive_figure`: the data against the posterior-predictive band of each observed
  column (5-95 % of the draws' curves, and their median);
* :func:`cohort_figure`: the cohort's rates with their confidence intervals, beside the
  published rates they are compared with.

They take plain tables (:class:`cartsim.calibration.results.CalibrationResult` attributes, or a
cohort's rates table), build Figures without pyplot, and never run anything.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from cartsim.viz.figures import save_figure

__all__ = ["cohort_figure", "pairs_figure", "predictive_figure", "save_calibration_figures"]

_COLOURS = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9"]


def _new_figure(figsize: tuple[float, float]) -> Figure:
    fig = Figure(figsize=figsize, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _values(posterior: pd.DataFrame, row: pd.Series) -> np.ndarray:
    v = posterior[row["parameter"]].to_numpy(float)
    return np.log10(v) if row["scale"] == "log" else v


def _label(row: pd.Series) -> str:
    return f"log10 {row['parameter']}" if row["scale"] == "log" else str(row["parameter"])


def pairs_figure(posterior: pd.DataFrame, intervals: pd.DataFrame, truth: dict[str, float] | None = None) -> Figure:
    """Pair plot of the posterior particles (point size by weight), marginals on the diagonal;
    dashed lines mark the credible interval, a red line the ``truth`` where it is known."""
    rows = [r for _, r in intervals.iterrows()]
    n = len(rows)
    fig = _new_figure((2.6 * n + 0.6, 2.6 * n + 0.4))
    axes = fig.subplots(n, n, squeeze=False)
    w = posterior["weight"].to_numpy(float)
    for i, ri in enumerate(rows):
        for j, rj in enumerate(rows):
            ax = axes[i][j]
            if j > i:
                ax.set_visible(False)
                continue
            if i == j:
                ax.hist(_values(posterior, ri), bins=20, weights=w, color=_COLOURS[0], alpha=0.7)
                for bound in ("low", "high"):
                    b = ri[bound]
                    ax.axvline(math.log10(b) if ri["scale"] == "log" else b, color="k", ls="--", lw=1)
                if truth and ri["parameter"] in truth:
                    t = truth[ri["parameter"]]
                    ax.axvline(math.log10(t) if ri["scale"] == "log" else t, color="#D55E00", lw=1.5)
                ax.set_yticks([])
            else:
                ax.scatter(_values(posterior, rj), _values(posterior, ri), s=8 + 400 * w, alpha=0.5,
                           color=_COLOURS[0], edgecolors="none")
                if truth and ri["parameter"] in truth and rj["parameter"] in truth:
                    tx, ty = truth[rj["parameter"]], truth[ri["parameter"]]
                    ax.plot(math.log10(tx) if rj["scale"] == "log" else tx,
                            math.log10(ty) if ri["scale"] == "log" else ty, "x", color="#D55E00", ms=10, mew=2)
            if i == n - 1:
                ax.set_xlabel(_label(rj))
            if j == 0 and i > 0:
                ax.set_ylabel(_label(ri))
    level = float(intervals["level"].iloc[0]) if len(intervals) else 0.9
    fig.suptitle(f"Posterior, last generation (point size ~ weight)\ndashed: {level:.0%} credible interval"
                 + ("; red: true value" if truth else ""), fontsize=9)
    return fig


def predictive_figure(observed: pd.DataFrame, bands: pd.DataFrame, log: bool = True) -> Figure:
    """Data (points) against the 5-95 % band and median of the posterior draws' curves, one panel
    per observed column."""
    columns = [c for c in observed.columns if c != "day"]
    fig = _new_figure((4.2 * len(columns), 3.4))
    axes = fig.subplots(1, len(columns), squeeze=False)[0]
    for ax, column, colour in zip(axes, columns, _COLOURS):
        b = bands[bands["column"] == column].sort_values("day")
        if len(b):
            ax.fill_between(b["day"], b["low"], b["high"], color=colour, alpha=0.25, lw=0,
                            label=f"posterior predictive 5-95 % ({int(b['draws'].max())} draws)")
            ax.plot(b["day"], b["median"], color=colour, lw=1.5, label="median")
        ax.plot(observed["day"], observed[column], "o", color="k", ms=4, label="data")
        if log:
            ax.set_yscale("symlog", linthresh=1.0)
        ax.set_xlabel("day")
        ax.set_ylabel(f"{column} (cells)")
        ax.legend(fontsize=7, loc="best")
    return fig


def cohort_figure(rates: pd.DataFrame, trial: str = "published trial") -> Figure:
    """The cohort's rates (points with 95 % intervals) beside the published ones (diamonds), one
    row per outcome; ``rates`` has columns ``outcome``, ``rate``, ``low``, ``high`` and optionally
    ``published`` (a fraction)."""
    fig = _new_figure((6.4, 0.7 * len(rates) + 1.4))
    ax = fig.subplots()
    y = np.arange(len(rates))[::-1]
    ax.errorbar(rates["rate"], y, xerr=[rates["rate"] - rates["low"], rates["high"] - rates["rate"]], fmt="o",
                color=_COLOURS[0], capsize=4, label="virtual cohort (95 % Wilson interval)")
    if "published" in rates and rates["published"].notna().any():
        ax.plot(rates["published"], y, "D", color=_COLOURS[1], ms=7, label=trial)
    ax.set_yticks(y, [str(o).replace("_", " ") for o in rates["outcome"]])
    ax.set_xlim(0, 1)
    ax.set_ylim(-1.4, len(rates) - 0.5)  # room for the legend below the last row
    ax.set_xlabel("rate")
    ax.legend(fontsize=8, loc="lower right")
    return fig


def save_calibration_figures(out: str | os.PathLike, result, truth: dict[str, float] | None = None) -> list[Path]:
    """Write pairs.png and predictive.png for a calibration result into ``out``."""
    out = Path(out)
    written = [save_figure(pairs_figure(result.posterior, result.intervals, truth), out / "pairs.png")]
    if not result.predictive.empty:
        written.append(save_figure(predictive_figure(result.observed, result.predictive_bands()),
                                   out / "predictive.png"))
    return written
