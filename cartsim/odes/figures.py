"""The time-series figure of an ODE run, laid out like an agent run's (tumor, CAR-T, kills).

Cell numbers in the reference models span ten orders of magnitude, so both population panels
use the symmetric-log scale of the agent figure (linear below one cell, so that values that only
approach zero stay on the plot). Built on a bare :class:`~matplotlib.figure.Figure` (no pyplot),
saved with :func:`cartsim.viz.figures.save_figure` (atomic).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

__all__ = ["ode_timeseries_figure"]

_TOTALS = ("day", "tumor_total", "cart_total", "kills_total", "cells_infused")
_COLOURS = {"cart_effector": "#009E73", "cart_memory": "#0072B2", "bcells_healthy": "#CC79A7"}
_LABELS = {"bcells_healthy": "healthy B cells"}


def ode_timeseries_figure(ts: pd.DataFrame, summary: dict | None = None) -> Figure:
    """Three stacked panels over days: tumor (and other target cells), CAR-T by compartment, kills.

    ``ts`` is :meth:`cartsim.odes.solve.OdeSolution.as_dataframe` output; ``summary`` may hold
    ``model``, ``parameter_set``, ``infusion_days``, ``challenge_days``, ``day_of_nadir``,
    ``relapse_day`` and ``eradication_day`` (drawn as markers).
    """
    summary = summary or {}
    days = ts["day"].to_numpy(float)
    fig = Figure(figsize=(9.0, 8.5), layout="constrained")
    FigureCanvasAgg(fig)
    ax_t, ax_c, ax_k = fig.subplots(3, 1, sharex=True, height_ratios=(1.2, 1.2, 0.7))
    model = summary.get("model")
    if model:
        fig.suptitle(f"{model} ({summary.get('parameter_set')})", fontweight="bold")

    extra = [c for c in ts.columns if c not in _TOTALS]
    # (a) tumor, and non-tumor target cells (healthy B cells in León-Triana's model)
    ax_t.plot(days, ts["tumor_total"].to_numpy(float), color="black", lw=2.4, label="tumor")
    for col in (c for c in extra if not c.startswith("cart_")):
        ax_t.plot(days, ts[col].to_numpy(float), color=_COLOURS.get(col), lw=1.6, ls="--",
                  label=_LABELS.get(col, col.replace("_", " ")))
    nadir = summary.get("day_of_nadir")
    if nadir is not None:
        ax_t.plot([nadir], [float(np.interp(nadir, days, ts["tumor_total"]))], marker="v", ms=11, color="white",
                  mec="black", mew=1.5, ls="none", zorder=5, label=f"nadir (day {nadir:g})")
    if summary.get("eradication_day") is not None:
        ax_t.axvline(summary["eradication_day"], color="#117733", ls=":", lw=2.0,
                     label=f"below 1 cell (day {summary['eradication_day']:g})")
    if summary.get("relapse_day") is not None:
        ax_t.axvline(summary["relapse_day"], color="#CC3311", ls=":", lw=2.0,
                     label=f"relapse (day {summary['relapse_day']:g})")
    ax_t.set_ylabel("cells")
    ax_t.set_title("(a) Tumor burden", loc="left", fontweight="bold")

    # (b) CAR-T (effector cells) by compartment
    ax_c.plot(days, ts["cart_total"].to_numpy(float), color="black", lw=2.4, label="total")
    for col in (c for c in extra if c.startswith("cart_")):
        ax_c.plot(days, ts[col].to_numpy(float), color=_COLOURS.get(col), lw=1.8,
                  label=col.removeprefix("cart_"))
    ax_c.set_ylabel("cells")
    ax_c.set_title("(b) CAR-T cells", loc="left", fontweight="bold")

    # (c) cumulative kills
    kills = ts["kills_total"].to_numpy(float)
    ax_k.plot(days, kills, color="#882255", lw=2.0)
    ax_k.fill_between(days, kills, color="#882255", alpha=0.15, lw=0)
    ax_k.set_ylabel("tumor cells killed\n(cumulative)")
    ax_k.set_title("(c) Cumulative kills", loc="left", fontweight="bold")
    ax_k.set_xlabel("time since start (days)")

    for i, d in enumerate(float(x) for x in summary.get("infusion_days") or []):
        for ax in (ax_t, ax_c, ax_k):
            label = "CAR-T dose" if (i == 0 and ax is ax_t) else None
            ax.axvline(d, color="0.45", ls="--", lw=1.0, zorder=0, label=label)
    for i, d in enumerate(float(x) for x in summary.get("challenge_days") or []):
        ax_t.axvline(d, color="#EE7733", ls="--", lw=1.2, label="tumor challenge" if i == 0 else None)
    for ax in (ax_t, ax_c):
        ax.set_yscale("symlog", linthresh=1.0, linscale=0.4)
        ax.set_ylim(bottom=0)
        ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    ax_k.set_ylim(bottom=0)
    for ax in (ax_t, ax_c, ax_k):
        ax.grid(True, which="major", alpha=0.3)
        ax.spines[["top", "right"]].set_visible(False)
    if days.size > 1:
        ax_k.set_xlim(days.min(), days.max())
    return fig
