"""Figures of a run: time series panels and tissue snapshots.

Everything here builds :class:`matplotlib.figure.Figure` objects directly, with an Agg canvas,
and never touches pyplot: figures are not registered globally, so nothing leaks and the
functions are safe to call from worker threads and processes. Drop a figure by dropping the
reference to it.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from cartsim.config.schema import CYTOKINE_ROLES
from cartsim.io import write_atomic
from cartsim.snapshot import CAR_T_STATES, Snapshot
from cartsim.viz.tissue_image import (
    CAR_T_COLOURS,
    cytokine_label,
    legend_handles,
    overlay_colormap,
    overlay_range,
    phenotype_palette,
    tissue_rgba,
)

__all__ = ["save_figure", "save_run_figures", "snapshots_figure", "timeseries_figure"]

DEFAULT_DPI = 120
MAX_COLUMNS = 6
_PHENOTYPE_RE = re.compile(r"([^+-]+)([+-])")
_CYTOKINE_COLOURS = ["#0072B2", "#009E73", "#E69F00", "#CC79A7", "#56B4E9", "#999933"]
_IL6_COLOUR = "#D55E00"


def _new_figure(figsize: tuple[float, float]) -> Figure:
    fig = Figure(figsize=figsize, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


# --------------------------------------------------------------------------- time series


def _parse_phenotype(name: str) -> tuple[tuple[str, ...], int] | None:
    """``"CD19+CD22-"`` -> ``(("CD19", "CD22"), 1)``; None if ``name`` is not a phenotype."""
    parts = _PHENOTYPE_RE.findall(name)
    if not parts or "".join(a + s for a, s in parts) != name:
        return None
    antigens = tuple(a for a, _ in parts)
    code = sum(1 << i for i, (_, s) in enumerate(parts) if s == "+")
    return antigens, code


def _phenotype_colours(names: list[str]) -> dict[str, object]:
    """Same colours as the tissue images when the names parse; a colour cycle otherwise."""
    parsed = [_parse_phenotype(n) for n in names]
    antigen_sets = {p[0] for p in parsed if p is not None}
    if len(antigen_sets) == 1 and all(p is not None for p in parsed):
        antigens = antigen_sets.pop()
        if 1 <= len(antigens) <= 4:
            pal = phenotype_palette(len(antigens))
            return {n: tuple(pal[p[1]]) for n, p in zip(names, parsed)}  # type: ignore[index]
    return {n: f"C{i}" for i, n in enumerate(names)}


def _line_colour(rgb: tuple[float, float, float]) -> tuple[float, float, float]:
    """Darken light colours (yellow, cyan) so that lines stay visible on white."""
    r, g, b = rgb
    luminance = 0.2126 * r + 0.7152 * g + 0.0722 * b
    if luminance > 0.6:
        f = 0.6 / luminance
        return (r * f, g * f, b * f)
    return rgb


def _is_crs_proxy(name: str) -> bool:
    return name == CYTOKINE_ROLES["crs_proxy"]


def _value_at(days: np.ndarray, values: np.ndarray, day: float) -> float:
    return float(np.interp(day, days, values))


#: cumulative tumor deaths besides CAR-T kills (census columns of the mechanisms switched on)
_THERAPY_DEATHS = (("chemo_kills_total", "by chemotherapy", "#DDAA33"),
                   ("radiation_kills_total", "by radiation", "#004488"),
                   ("bystander_deaths_total", "bystander (IFN-γ, payload)", "#117733"))


def timeseries_figure(ts: pd.DataFrame, summary: dict | None = None) -> Figure:
    """Four stacked panels over time (days): tumor, CAR-T, cumulative kills, cytokine peaks.

    ``ts`` has one row per recorded time, with columns ``day``, ``tumor_total``,
    ``tumor_<phenotype>``, ``cart_total``, ``cart_<state>``, ``kills_total`` and, per
    cytokine, ``<NAME>_total`` / ``<NAME>_max`` (pM); phenotypes, states and cytokines are
    discovered from the column names, and missing groups leave their panel with a note.
    ``summary`` may hold ``infusion_days`` (list of days), ``day_of_nadir`` and
    ``relapse_day`` (None when there was none), drawn as markers.
    """
    if "day" not in ts.columns:
        raise ValueError("time series needs a 'day' column")
    summary = summary or {}
    ts = ts.sort_values("day")
    days = ts["day"].to_numpy(dtype=float)

    fig = _new_figure((9.0, 11.0))
    axes = fig.subplots(4, 1, sharex=True, height_ratios=(1.3, 1.0, 0.8, 1.0))
    ax_t, ax_c, ax_k, ax_y = axes

    def empty(ax, what):
        ax.text(0.5, 0.5, f"no {what} recorded", transform=ax.transAxes,
                ha="center", va="center", color="0.5")

    # (a) tumor cells, symlog so that extinction (0) stays on the plot.
    pheno_cols = [c for c in ts.columns if c.startswith("tumor_") and c != "tumor_total"]
    names = [c[len("tumor_"):] for c in pheno_cols]
    colours = _phenotype_colours(names)
    total = ts["tumor_total"].to_numpy(dtype=float) if "tumor_total" in ts else None
    if total is not None:
        ax_t.plot(days, total, color="black", lw=2.4, label="total", zorder=3)
    for col, name in zip(pheno_cols, names):
        ax_t.plot(days, ts[col].to_numpy(dtype=float), color=colours[name], lw=1.6, label=name)
    if total is None and not pheno_cols:
        empty(ax_t, "tumor counts")
    ax_t.set_yscale("symlog", linthresh=1.0, linscale=0.4)
    ax_t.set_ylim(bottom=0)
    ax_t.set_ylabel("tumor cells (count)")
    ax_t.set_title("(a) Tumor burden by phenotype", loc="left", fontweight="bold")

    nadir = summary.get("day_of_nadir")
    if nadir is not None and total is not None and len(days):
        v = _value_at(days, total, nadir)
        ax_t.plot([nadir], [v], marker="v", ms=11, color="white", mec="black", mew=1.5, ls="none",
                  zorder=5, label=f"nadir (day {nadir:g})")
    relapse = summary.get("relapse_day")
    if relapse is not None:
        ax_t.axvline(relapse, color="#CC3311", ls=":", lw=2.0, label=f"relapse (day {relapse:g})")

    infusions = [float(d) for d in summary.get("infusion_days") or []]
    for i, d in enumerate(infusions):
        for ax in axes:
            ax.axvline(d, color="0.45", ls="--", lw=1.0, zorder=0,
                       label="CAR-T infusion" if (i == 0 and ax is ax_t) else None)
    if infusions:
        ax_t.plot(infusions, [1.0] * len(infusions), ls="none", marker="^", ms=9,
                  color="0.3", transform=ax_t.get_xaxis_transform(), clip_on=False, zorder=6)
    if ax_t.get_legend_handles_labels()[0]:
        ax_t.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1.0),
                    frameon=False)

    # (b) CAR-T cells by state.
    state_cols = [f"cart_{s}" for s in CAR_T_COLOURS if f"cart_{s}" in ts.columns]
    product_cols = [c for c in ts.columns if c.startswith("cart_product_")]
    if "cart_total" in ts:
        ax_c.plot(days, ts["cart_total"].to_numpy(dtype=float), color="black", lw=2.4,
                  label="total")
    for col in state_cols:
        state = col[len("cart_"):]
        colour = _line_colour(CAR_T_COLOURS[state]) if state in CAR_T_COLOURS else None
        dashes = (0, (5, 2)) if state == "exhausted" else "-"  # black like total: dash it
        ax_c.plot(days, ts[col].to_numpy(dtype=float), color=colour, lw=1.8, ls=dashes,
                  label=state)
    if len(product_cols) > 1:  # several products: one thin dotted line each
        for col in product_cols:
            ax_c.plot(days, ts[col].to_numpy(dtype=float), lw=1.2, ls=":",
                      label=col.removeprefix("cart_product_"))
    if "cart_total" not in ts and not state_cols:
        empty(ax_c, "CAR-T counts")
    else:
        ax_c.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1.0),
                    frameon=False)
    ax_c.set_ylim(bottom=0)
    ax_c.set_ylabel("CAR-T cells (count)")
    ax_c.set_title("(b) CAR-T cells by state", loc="left", fontweight="bold")

    # (c) cumulative kills, and the deaths of the treatments and bystander effects switched on.
    others_killed = [(c, label, colour) for c, label, colour in _THERAPY_DEATHS if c in ts]
    if "kills_total" in ts:
        kills = ts["kills_total"].to_numpy(dtype=float)
        ax_k.plot(days, kills, color="#882255", lw=2.0, label="by CAR-T")
        ax_k.fill_between(days, kills, color="#882255", alpha=0.15, lw=0)
    else:
        empty(ax_k, "kills")
    for col, label, colour in others_killed:
        ax_k.plot(days, ts[col].to_numpy(dtype=float), color=colour, lw=1.6, ls="--", label=label)
    if others_killed:
        ax_k.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    ax_k.set_ylim(bottom=0)
    ax_k.set_ylabel("tumor cells killed\n(cumulative)")
    ax_k.set_title("(c) Cumulative CAR-T kills" + (" and other deaths" if others_killed else ""),
                   loc="left", fontweight="bold")

    # (d) cytokine peaks, log y; the CRS proxy (IL-6) emphasised.
    reserved = ("tumor_", "cart_", "kills_")
    cytokines = [c[: -len("_max")] for c in ts.columns
                 if c.endswith("_max") and not c.startswith(reserved)]
    others = iter(_CYTOKINE_COLOURS)
    plotted = False
    for name in sorted(cytokines, key=_is_crs_proxy):  # the CRS proxy last, on top
        values = ts[f"{name}_max"].to_numpy(dtype=float)
        values = np.where(values > 0, values, np.nan)
        if _is_crs_proxy(name):
            ax_y.plot(days, values, color=_IL6_COLOUR, lw=3.0, zorder=4,
                      label=f"{cytokine_label(name)} (CRS proxy)")
        else:
            ax_y.plot(days, values, color=next(others, None), lw=1.5, alpha=0.9,
                      label=cytokine_label(name))
        plotted = plotted or bool(np.isfinite(values).any())
    if plotted:
        ax_y.set_yscale("log")
        ax_y.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1.0),
                    frameon=False)
    else:
        empty(ax_y, "cytokine")
    ax_y.set_ylabel("peak concentration (pM)")
    ax_y.set_title("(d) Cytokine peak concentration in tissue", loc="left", fontweight="bold")
    ax_y.set_xlabel("time since start (days)")

    for ax in axes:
        ax.grid(True, which="major", alpha=0.3)
        ax.spines[["top", "right"]].set_visible(False)
    if len(days):
        ax_y.set_xlim(days.min(), days.max() if days.max() > days.min() else days.min() + 1)
    return fig


# --------------------------------------------------------------------------- snapshots


def _day_label(day: float) -> str:
    return f"day {round(day):d}" if abs(day - round(day)) < 1e-6 else f"day {day:.1f}"


def snapshots_figure(snapshots: list[Snapshot], overlay: str | None = None) -> Figure:
    """One tissue panel per snapshot (up to 6 per row), axes in mm, one shared legend.

    With ``overlay`` (a cytokine name) the cytokine field is drawn under the cells on a log
    colour scale shared by all panels, with a colour bar.
    """
    snapshots = list(snapshots)
    if not snapshots:
        raise ValueError("snapshots_figure needs at least one snapshot")
    n = len(snapshots)
    nrows = math.ceil(n / MAX_COLUMNS)
    ncols = math.ceil(n / nrows)  # balanced rows: 7 panels -> 4 + 3, not 6 + 1

    rng = None
    if overlay is not None:
        missing = [s.day for s in snapshots if overlay not in s.cytokines]
        if missing:
            raise KeyError(f"cytokine {overlay!r} missing from snapshots at days {missing}")
        rng = overlay_range(snapshots, overlay)

    panel = 2.6  # inches per panel width
    same_extent = len({(s.shape, s.site_um) for s in snapshots}) == 1
    aspect = max(s.shape[0] / s.shape[1] for s in snapshots)
    handles = legend_handles(snapshots[0], include_dead=True)
    legend_right = ncols <= 2  # too narrow for a legend row underneath
    if legend_right:
        legend_cols, legend_w, legend_h = 1, 1.9, 0.0
    else:
        legend_cols, legend_w = min(len(handles), 6 if ncols >= 4 else 4), 0.0
        legend_h = 0.25 * math.ceil(len(handles) / legend_cols) + 0.3
    fig = _new_figure((
        panel * ncols + 0.5 + legend_w + (1.0 if rng else 0.0),
        nrows * (0.9 * panel * aspect + 0.45) + legend_h,
    ))
    fig.get_layout_engine().set(wspace=0.06)  # keep "2.0" and the next panel's "0.0" apart
    axes = fig.subplots(nrows, ncols, squeeze=False, sharex=same_extent, sharey=same_extent)
    axes = axes.ravel()
    for i, (ax, snap) in enumerate(zip(axes, snapshots)):
        h, w = snap.shape
        mm = snap.site_um / 1000.0
        img = tissue_rgba(snap, overlay=overlay, overlay_range_pM=rng)
        ax.imshow(img, extent=(0.0, w * mm, h * mm, 0.0), interpolation="nearest",
                  origin="upper")
        ax.set_title(_day_label(snap.day), fontsize="medium")
        ax.tick_params(labelsize="small")
        row, col = divmod(i, ncols)
        if i + ncols >= n:  # nothing below this panel: label its x axis
            ax.set_xlabel("x (mm)", fontsize="small")
            ax.xaxis.set_tick_params(labelbottom=True)
        if col == 0:
            ax.set_ylabel("y (mm)", fontsize="small")
    for ax in axes[n:]:
        ax.set_axis_off()

    fig.legend(handles=handles, ncol=legend_cols,
               loc="outside right upper" if legend_right else "outside lower center",
               fontsize="small", frameon=False, handlelength=1.2, columnspacing=1.2)
    if rng is not None:
        from matplotlib.cm import ScalarMappable
        from matplotlib.colors import LogNorm

        sm = ScalarMappable(norm=LogNorm(*rng), cmap=overlay_colormap())
        cb = fig.colorbar(sm, ax=list(axes[:n]), location="right", shrink=0.8, aspect=25,
                          pad=0.02)
        cb.set_label(f"{cytokine_label(overlay)} concentration (pM)", fontsize="small")
        cb.ax.tick_params(labelsize="small")
    return fig


# --------------------------------------------------------------------------- saving


def save_figure(fig: Figure, path: str | os.PathLike, *, dpi: int = DEFAULT_DPI) -> Path:
    """Write ``fig`` to ``path`` atomically (:func:`cartsim.io.write_atomic`); the format comes
    from the suffix (default png). Missing parent directories are created. Returns the path."""
    path = Path(path)
    fmt = path.suffix.lstrip(".").lower() or "png"

    def render(tmp: Path) -> None:
        with open(tmp, "wb") as fh:
            fig.savefig(fh, format=fmt, dpi=dpi)

    return write_atomic(path, render)


def save_run_figures(out: str | os.PathLike, timeseries: pd.DataFrame, summary: dict | None = None,
                     snapshots: Sequence[Snapshot] = ()) -> list[Path]:
    """The pictures of one run, as ``cartsim run`` writes them into its run folder ``out``:
    timeseries.png (:func:`timeseries_figure`) and, with snapshots, tissue.png
    (:func:`snapshots_figure`). Returns the paths written."""
    out = Path(out)
    written = [save_figure(timeseries_figure(timeseries, summary), out / "timeseries.png")]
    if snapshots:
        written.append(save_figure(snapshots_figure(list(snapshots)), out / "tissue.png"))
    return written
