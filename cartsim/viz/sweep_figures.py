"""Figures of a sweep: response curves with intervals and Hill fits, heatmaps, time-series
envelopes, Sobol indices and scatter plots of sampled designs.

Each ``*_figure`` function takes the table computed by :mod:`cartsim.analysis` and returns a
:class:`matplotlib.figure.Figure` built without pyplot (see :mod:`cartsim.viz.figures`).
:func:`plot_sweep` decides which figures a sweep calls for and writes each as PNG and SVG, with
the table behind it as CSV.
"""

from __future__ import annotations

import math
import textwrap
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib import colormaps
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import LogNorm, Normalize
from matplotlib.figure import Figure
from matplotlib.ticker import FixedLocator, FuncFormatter, LogLocator, NullLocator

from cartsim.analysis import (
    HillFit,
    add_tumor_reduction_at_day,
    envelopes,
    fit_curves,
    fits_table,
    heatmap_table,
    metric_kind,
    response_curve,
    sobol_indices,
)
from cartsim import io
from cartsim.viz.figures import save_figure

__all__ = [
    "envelope_figure",
    "heatmap_figure",
    "plot_sweep",
    "response_figure",
    "scatter_figure",
    "sobol_figure",
]

# Okabe & Ito (2008) colour-blind-safe palette, for one curve per group
GROUP_COLOURS = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#F0E442"]
METRIC_LABELS = {
    "eradicated": "P(eradication)",
    "relapsed": "P(relapse)",
    "responded": "P(response)",
    "antigen_negative_relapse": "P(antigen-negative relapse)",
    "antigen_negative_relapse/relapsed": "antigen-negative share of relapses",
    "tumor_reduction_at_nadir": "tumor reduction at nadir (fraction of baseline)",
    "final_tumor": "tumor cells at the end",
    "min_tumor": "tumor cells at nadir",
    "peak_cart": "peak CAR-T cells",
    "peak_IL6_pM": "peak IL-6 (pM)",
    "tumor_auc_cell_days": "tumor burden AUC (cell·days)",
    "relapse_day": "day of relapse",
    "eradication_day": "day of eradication",
    "kills_total": "tumor cells killed",
}
DEFAULT_METRICS = ["eradicated", "relapsed", "antigen_negative_relapse/relapsed", "tumor_reduction_at_nadir"]
DEFAULT_SAMPLED_METRICS = ["eradicated", "tumor_reduction_at_nadir", "tumor_auc_cell_days"]
ENVELOPE_COLUMNS = {"tumor_total": "tumor cells", "cart_total": "CAR-T cells"}
MAX_ENVELOPE_LINES = 10
DODGE = 0.012  # horizontal offset between groups, as a fraction of the x range


def _new_figure(figsize: tuple[float, float]) -> Figure:
    fig = Figure(figsize=figsize, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def metric_label(metric: str) -> str:
    if metric in METRIC_LABELS:
        return METRIC_LABELS[metric]
    if metric.startswith("tumor_reduction_day_"):
        return f"tumor reduction at day {metric.removeprefix('tumor_reduction_day_')} (fraction of baseline)"
    if "/" in metric:
        what, among = metric.split("/", 1)
        return f"{what} among {among}"
    return metric


def _split(metric: str) -> tuple[str, str | None]:
    """``"antigen_negative_relapse/relapsed"`` -> the metric and the runs it is counted among."""
    what, _, among = metric.partition("/")
    return what, (among or None)


def _numeric(values) -> bool:
    return all(isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool) for v in values)


def _use_log(values, declared: bool) -> bool:
    vals = [float(v) for v in values]
    return bool(vals) and min(vals) > 0 and (declared or max(vals) / min(vals) >= 30)


def _log_axis(ax, values) -> None:
    """A log x axis ticked at the swept values (when few) in plain numbers, not powers of ten."""
    ax.set_xscale("log")
    vals = sorted({float(v) for v in values})
    plain = FuncFormatter(lambda v, _pos: f"{v:.3g}")
    if 0 < len(vals) <= 10:
        ax.xaxis.set_major_locator(FixedLocator(vals))
    else:  # 1-2-5 steps on short axes, so that an axis spanning about a decade still has labels
        low, high = ax.get_xlim()
        decades = math.log10(high / low) if low > 0 and high > low else 0.0
        ax.xaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0) if decades < 2 else (1.0,)))
    ax.xaxis.set_minor_locator(NullLocator())
    ax.xaxis.set_major_formatter(plain)


def _fmt(v: Any) -> str:
    if isinstance(v, (float, np.floating)):
        return f"{v:.3g}"
    return str(v)


# ------------------------------------------------------------------------------ response curves
def _draw_curve(ax, table: pd.DataFrame, x: str, colour: str, label: str | None, positions=None) -> None:
    xs = table[x].to_numpy() if positions is None else positions
    est = table["estimate"].to_numpy(float)
    low, high = table["low"].to_numpy(float), table["high"].to_numpy(float)
    yerr = np.vstack([np.clip(est - low, 0, None), np.clip(high - est, 0, None)])
    fitted = table.attrs.get("fitted", False)
    ax.errorbar(xs, est, yerr=yerr, fmt="o" if fitted else "o-", color=colour, ms=5, lw=1.4, capsize=3,
                label=label, zorder=3)


def _draw_fit(ax, fit: HillFit, xs: np.ndarray, colour: str, unit_label: str) -> str:
    grid = np.geomspace(xs.min(), xs.max(), 200)
    ax.plot(grid, fit.predict(grid), color=colour, lw=1.8, ls="--", zorder=2)
    lo, hi = fit.band(grid)
    if fit.kind == "binomial":
        ax.fill_between(grid, lo, hi, color=colour, alpha=0.12, lw=0, zorder=1)
    if math.isfinite(fit.ed50):
        ax.axvline(fit.ed50, color=colour, lw=0.8, ls=":", zorder=1)
    low, high = fit.ed50_ci
    text = (f"ED50 {fit.ed50:.3g}" + (f" {unit_label}" if unit_label else "") + f" (95 % CI {low:.3g}–{high:.3g}), "
            f"Hill slope {fit.slope:.2g} ({fit.slope_ci[0]:.2g}–{fit.slope_ci[1]:.2g})")
    return text + (" — " + fit.note if fit.note else "")


def response_figure(
    tables: dict[str, pd.DataFrame],
    x: str,
    by: str | None = None,
    x_label: str | None = None,
    log_x: bool = False,
    fits: dict[str, dict[object, HillFit]] | None = None,
    title: str = "",
    by_label: str | None = None,
) -> Figure:
    """One panel per metric: estimate and 95 % interval against ``x``, one curve per ``by`` value.

    Args:
        tables: metric -> :func:`~cartsim.analysis.response_curve` table.
        x: the parameter on the x axis; ``x_label`` its axis label.
        by: the parameter whose values get separate curves (a column of the tables), or None.
        log_x: logarithmic x axis.
        fits: metric -> {group: HillFit}, drawn as dashed curves with their ED50 and confidence band.
        title: figure title; ``by_label``: how to name ``by`` in the legend.
    """
    fits = fits or {}
    n = len(tables)
    cols = 2 if n > 1 else 1
    rows = math.ceil(n / cols)
    fig = _new_figure((6.0 * cols, 3.9 * rows + 0.5))
    axes = np.atleast_1d(fig.subplots(rows, cols, squeeze=False).ravel())
    for ax in axes[n:]:
        ax.set_visible(False)
    all_x = pd.concat([t[x] for t in tables.values()]).unique()
    if _numeric(all_x) and len(all_x):
        x_min, x_max = float(min(all_x)), float(max(all_x))
        x_max = x_max if x_max > x_min else x_min + 1.0
    else:
        x_min, x_max = 0.0, 1.0
    for i, (ax, (metric, table)) in enumerate(zip(axes, tables.items())):
        if table.empty:
            ax.text(0.5, 0.5, f"no runs to count:\n{metric_label(metric)} is undefined in every run",
                    transform=ax.transAxes, ha="center", va="center", color="0.4")
            ax.set_title(f"({chr(97 + i)})", loc="left", fontweight="bold", fontsize="medium")
            ax.set_xlabel(x_label or x)
            ax.set_ylabel(metric_label(metric))
            continue
        groups = list(table.groupby(by, sort=True)) if by else [(None, table)]
        categorical = not _numeric(table[x].unique())
        categories = list(dict.fromkeys(table[x])) if categorical else None
        notes = []
        for j, (key, group) in enumerate(groups):
            colour = GROUP_COLOURS[j % len(GROUP_COLOURS)]
            group = group.sort_values(x)
            fit = fits.get(metric, {}).get(key)
            group.attrs["fitted"] = fit is not None
            shift = (j - (len(groups) - 1) / 2) * DODGE  # side by side, so intervals do not hide each other
            if categories:
                pos = np.array([categories.index(v) for v in group[x]]) + shift
            elif log_x:
                pos = group[x].to_numpy(float) * np.exp(shift * np.log(x_max / x_min))
            else:
                pos = group[x].to_numpy(float) + shift * (x_max - x_min)
            _draw_curve(ax, group, x, colour, _fmt(key) if by else None, pos)
            if fit is not None and not categorical:
                text = _draw_fit(ax, fit, group[x].to_numpy(float), colour, "")
                notes.append((f"{_fmt(key)}: " if by else "") + text)
        kind = table["kind"].iloc[0] if len(table) else "mean"
        if categorical:
            ax.set_xticks(range(len(categories)), [str(c) for c in categories])
        elif log_x:
            _log_axis(ax, all_x)
            pad = (x_max / x_min) ** 0.05
            ax.set_xlim(x_min / pad, x_max * pad)
        else:
            pad = 0.05 * (x_max - x_min)
            ax.set_xlim(x_min - pad, x_max + pad)
        if kind == "proportion":
            ax.set_ylim(-0.03, 1.03)
        ax.set_xlabel(x_label or x)
        ax.set_ylabel(metric_label(metric))
        interval = "Wilson 95 % CI" if kind == "proportion" else "bootstrap 95 % CI of the mean"
        ns = table["n"]
        n_text = f"n = {ns.min()}" if ns.min() == ns.max() else f"n = {ns.min()}–{ns.max()}"
        ax.set_title(f"({chr(97 + i)})", loc="left", fontweight="bold", fontsize="medium")
        ax.set_title(f"{interval}; {n_text} runs per point", loc="right", fontsize="x-small", color="0.35")
        if notes:
            ax.text(0.01, 0.97, "\n".join(notes), transform=ax.transAxes, fontsize="x-small", va="top",
                    bbox={"facecolor": "white", "alpha": 0.8, "edgecolor": "none", "pad": 1.5})
        ax.grid(alpha=0.3)
        if by and i == 0:
            handles, names = ax.get_legend_handles_labels()
            fig.legend(handles, names, loc="outside right upper", fontsize="small", frameon=False,
                       title=textwrap.fill(by_label or by, 20), title_fontsize="small")
    if title:
        fig.suptitle(title, fontsize="large")
    return fig


# ------------------------------------------------------------------------------ heatmaps
def heatmap_figure(table: pd.DataFrame, x: str, y: str, metric: str, x_label: str | None = None,
                   y_label: str | None = None, title: str = "") -> Figure:
    """The metric (colour) on the grid of two swept parameters, each cell annotated with its
    estimate and interval. Axes are the swept values in order (evenly spaced)."""
    xs = sorted(table[x].unique(), key=lambda v: (isinstance(v, str), v))
    ys = sorted(table[y].unique(), key=lambda v: (isinstance(v, str), v))
    grid = np.full((len(ys), len(xs)), np.nan)
    low = np.full_like(grid, np.nan)
    high = np.full_like(grid, np.nan)
    for _, row in table.iterrows():
        i, j = ys.index(row[y]), xs.index(row[x])
        grid[i, j], low[i, j], high[i, j] = row["estimate"], row["low"], row["high"]
    kind = table["kind"].iloc[0]
    fig = _new_figure((1.25 * len(xs) + 3.2, 0.8 * len(ys) + 2.0))
    ax = fig.subplots()
    norm = Normalize(0, 1) if kind == "proportion" else Normalize(np.nanmin(grid), np.nanmax(grid))
    cmap = colormaps["viridis"]
    image = ax.imshow(grid, origin="lower", aspect="auto", cmap=cmap, norm=norm)
    for i in range(len(ys)):
        for j in range(len(xs)):
            if np.isnan(grid[i, j]):
                continue
            colour = "black" if norm(grid[i, j]) > 0.6 else "white"
            ax.text(j, i, f"{grid[i, j]:.2f}\n[{low[i, j]:.2f}, {high[i, j]:.2f}]", ha="center", va="center",
                    fontsize="x-small", color=colour)
    ax.set_xticks(range(len(xs)), [_fmt(v) for v in xs])
    ax.set_yticks(range(len(ys)), [_fmt(v) for v in ys])
    ax.set_xlabel(x_label or x)
    ax.set_ylabel(y_label or y)
    fig.colorbar(image, ax=ax, label=metric_label(metric))
    interval = "Wilson 95 % CI" if kind == "proportion" else "bootstrap 95 % CI"
    ax.set_title(title or f"{metric_label(metric)} [{interval}]", loc="left", fontsize="medium")
    return fig


# ------------------------------------------------------------------------------ envelopes
def envelope_figure(env: pd.DataFrame, colour_by: str | None, panel_by: str | None = None,
                    labels: dict[str, str] | None = None, log_colour: bool = False,
                    infusion_days: list[float] | None = None) -> Figure:
    """Median (line) and interquartile band of tumor and CAR-T counts over time.

    Args:
        env: :func:`~cartsim.analysis.envelopes` table grouped by ``colour_by`` (and ``panel_by``).
        colour_by: parameter whose values are drawn as coloured lines (None: one envelope).
        panel_by: parameter whose values get a column of panels each.
        labels: axis labels of parameters.
        log_colour: colour scale on a log scale (log-spaced parameter).
        infusion_days: CAR-T infusion days, drawn as dashed lines.
    """
    labels = labels or {}
    variables = [v for v in ENVELOPE_COLUMNS if v in set(env["variable"])]
    panels = sorted(env[panel_by].unique()) if panel_by else [None]
    width = 4.2 if len(panels) <= 3 else 3.2
    fig = _new_figure((width * len(panels) + 1.6, 3.2 * len(variables) + 0.6))
    axes = fig.subplots(len(variables), len(panels), squeeze=False, sharex=True, sharey="row")
    values = sorted(env[colour_by].unique(), key=lambda v: (isinstance(v, str), v)) if colour_by else [None]
    numeric = colour_by is not None and _numeric(values)
    if numeric:
        vmin, vmax = float(min(values)), float(max(values))
        norm = LogNorm(vmin, vmax) if log_colour and vmin > 0 and vmax > vmin else Normalize(vmin, vmax)
        cmap = colormaps["viridis"]

        def colour(v):
            return cmap(0.9 * norm(float(v)))  # stop before viridis' pale yellow end
    else:
        def colour(v):
            return GROUP_COLOURS[values.index(v) % len(GROUP_COLOURS)]
    for c, panel in enumerate(panels):
        sub = env if panel is None else env[env[panel_by] == panel]
        for r, var in enumerate(variables):
            ax = axes[r, c]
            for v in values:
                part = sub[sub["variable"] == var]
                if colour_by:
                    part = part[part[colour_by] == v]
                if part.empty:
                    continue
                col = colour(v)
                label = f"{_fmt(v)}" if colour_by else "median"
                ax.plot(part["day"], part["median"], color=col, lw=1.6, label=label)
                ax.fill_between(part["day"], part["q25"], part["q75"], color=col, alpha=0.18, lw=0)
            for d in infusion_days or []:
                ax.axvline(d, color="0.5", ls="--", lw=0.8)
            ax.set_yscale("symlog", linthresh=10, linscale=0.5)
            ax.set_ylim(bottom=0)
            ax.grid(alpha=0.3)
            if c == 0:
                ax.set_ylabel(f"{ENVELOPE_COLUMNS[var]} (median, IQR)")
            if r == len(variables) - 1:
                ax.set_xlabel("day")
            if r == 0 and panel is not None:
                ax.set_title(f"{labels.get(panel_by, panel_by)} = {_fmt(panel)}", fontsize="medium")
    if colour_by:
        handles, names = axes[0, 0].get_legend_handles_labels()
        fig.legend(handles, names, title=textwrap.fill(labels.get(colour_by, colour_by), 22),
                   loc="outside right upper",
                   fontsize="small", frameon=False)
    return fig


# ------------------------------------------------------------------------------ sampled designs
def sobol_figure(table: pd.DataFrame, caption: str = "") -> Figure:
    """First-order and total Sobol indices (bars, 95 % intervals) of each parameter, one panel per metric.

    ``caption`` goes under the panels (e.g. the design size; small designs give wide intervals and
    slightly negative first-order estimates, which are estimation noise around 0)."""
    metrics = list(dict.fromkeys(table["metric"]))
    fig = _new_figure((5.2 * len(metrics), 3.8))
    axes = np.atleast_1d(fig.subplots(1, len(metrics), squeeze=False).ravel())
    for i, (ax, metric) in enumerate(zip(axes, metrics)):
        part = table[table["metric"] == metric]
        pos = np.arange(len(part))
        ax.bar(pos - 0.2, part["S1"], 0.4, yerr=part["S1_conf"], capsize=3, color="#0072B2", label="first order S1")
        ax.bar(pos + 0.2, part["ST"], 0.4, yerr=part["ST_conf"], capsize=3, color="#E69F00", label="total ST")
        ax.set_xticks(pos, part["parameter"], rotation=20, ha="right")
        ax.axhline(0, color="0.3", lw=0.8)
        ax.set_ylabel("Sobol index")
        ax.set_title(f"({chr(97 + i)}) {metric_label(metric)}", loc="left", fontweight="bold", fontsize="medium")
        ax.grid(axis="y", alpha=0.3)
        if i == 0:
            ax.legend(fontsize="small", frameon=False)
    if caption:
        fig.supxlabel(caption, fontsize="small", color="0.35")
    return fig


def scatter_figure(runs: pd.DataFrame, parameters: list[str], metrics: list[str],
                   labels: dict[str, str], log: dict[str, bool]) -> Figure:
    """Each metric against each sampled parameter, one dot per design point (replicates averaged)."""
    fig = _new_figure((3.2 * len(parameters) + 0.5, 2.7 * len(metrics) + 0.4))
    axes = fig.subplots(len(metrics), len(parameters), squeeze=False)
    for r, metric in enumerate(metrics):
        means = runs.groupby("point").agg({**{p: "first" for p in parameters},
                                           metric: lambda s: s.astype(float).mean()})
        for c, p in enumerate(parameters):
            ax = axes[r, c]
            ax.scatter(means[p], means[metric], s=12, color="#0072B2", alpha=0.7, lw=0)
            if log.get(p):
                _log_axis(ax, [])
            ax.grid(alpha=0.3)
            if r == len(metrics) - 1:
                ax.set_xlabel(labels.get(p, p))
            if c == 0:
                ax.set_ylabel(metric_label(metric), fontsize="small")
    return fig


# ------------------------------------------------------------------------------ the whole set
@dataclass
class PlotPlan:
    """Which figures to draw for a sweep, worked out from its design and plot hints."""

    x: str | None = None
    by: str | None = None
    metrics: list[str] = field(default_factory=list)
    fit: list[str] = field(default_factory=list)
    heatmaps: list[str] = field(default_factory=list)
    day: float | None = None


def _distinct(results, name: str) -> list:
    return list(dict.fromkeys(results.design[name]))


def make_plan(results, x=None, by=None, metrics=None, fit=None, day=None) -> PlotPlan:
    """Fill in what the caller did not choose from the sweep's ``plots:`` block, then from the design."""
    from cartsim.config import ConfigError

    hints = results.manifest.get("sweep", {}).get("plots") or {}
    params = results.parameters
    for name, value in (("--x", x), ("--by", by), ("plots.x", hints.get("x")), ("plots.by", hints.get("by"))):
        if value is not None and value not in params:
            raise ConfigError(f"{name} {value!r}: not a swept parameter; swept: {', '.join(params)}")
    x = x or hints.get("x")
    by = by or hints.get("by")
    numeric = [p for p in params if _numeric(_distinct(results, p)) and len(_distinct(results, p)) > 2]
    if x is None:
        x = next((p for p in numeric if p != by), params[0])
    others = [p for p in params if p != x]
    if by is None and others:
        # a categorical parameter (product, route) or the other axis of a 2-D grid, if few values
        few = [p for p in others if len(_distinct(results, p)) <= len(GROUP_COLOURS)]
        by = next((p for p in few if not _numeric(_distinct(results, p))), few[0] if few else None)
    sampled = results.design_type in ("latin_hypercube", "sobol", "saltelli")
    chosen = metrics or hints.get("metrics") or (DEFAULT_SAMPLED_METRICS if sampled else DEFAULT_METRICS)
    runs = results.ok_runs
    available = set(runs.columns)
    chosen = [m for m in chosen if _split(m)[0] in available and (_split(m)[1] in (None, *available))]
    fit_list = fit if fit is not None else hints.get("fit")
    if fit_list is None:
        fit_list = ["eradicated"] if results.parameter_info(x).get("log") else []
    if by is None or sampled:
        heat = []
    elif hints.get("heatmaps") is not None:
        heat = [m for m in hints["heatmaps"] if _split(m)[0] in available]
    else:  # by default for two numeric axes (a dose × escape grid), not for categories
        both = all(_numeric(_distinct(results, p)) for p in (x, by))
        heat = [m for m in chosen if "/" not in m][:2] if both else []
    return PlotPlan(x=x, by=by, metrics=chosen, fit=[m for m in fit_list if m in available],
                    heatmaps=heat, day=day if day is not None else hints.get("day"))


def _write_table(path: Path, table: pd.DataFrame) -> Path:
    return io.write_text(path, table.to_csv(index=False))


def _write(fig: Figure, out: Path, stem: str, table: pd.DataFrame | None, written: list[Path]) -> None:
    for suffix in (".png", ".svg"):
        written.append(save_figure(fig, out / f"{stem}{suffix}"))
    if table is not None:
        written.append(_write_table(out / f"{stem}.csv", table))


def plot_sweep(results, out: str | Path | None = None, *, x: str | None = None, by: str | None = None,
               metrics: list[str] | None = None, fit: list[str] | None = None,
               day: float | None = None) -> list[Path]:
    """Write the figures of a sweep (PNG + SVG) and the tables behind them (CSV).

    Args:
        results: a :class:`~cartsim.experiments.results.SweepResults`.
        out: folder for the files (default: ``<sweep folder>/figures``).
        x, by, metrics, fit, day: override the plan (:func:`make_plan`); ``metrics`` may hold
            ``METRIC/AMONG`` to count a yes/no metric among runs where AMONG is true.

    Returns:
        the paths written.
    """
    out = Path(out) if out is not None else results.directory / "figures"
    plan = make_plan(results, x, by, metrics, fit, day)
    runs = results.ok_runs
    written: list[Path] = []
    labels = {p: results.parameter_info(p).get("label") or p for p in results.parameters}
    if plan.day is not None:
        runs, name = add_tumor_reduction_at_day(runs, results.timeseries, plan.day)
        plan.metrics.append(name)
    if results.design_type in ("latin_hypercube", "sobol", "saltelli"):
        _plot_sampled(results, runs, plan, labels, out, written)
        return written
    _plot_response(results, runs, plan, labels, out, written)
    for metric in plan.heatmaps:
        what, among = _split(metric)
        table = heatmap_table(runs, plan.x, plan.by, what, among=among)
        fig = heatmap_figure(table, plan.x, plan.by, metric, labels[plan.x], labels[plan.by],
                             title=f"{results.name}: {metric_label(metric)}")
        _write(fig, out, f"heatmap_{what}" + (f"_among_{among}" if among else ""), table, written)
    _plot_envelopes(results, plan, labels, out, written)
    return written


def _plot_response(results, runs, plan: PlotPlan, labels, out: Path, written: list[Path]) -> None:
    x, by = plan.x, plan.by
    tables: dict[str, pd.DataFrame] = {}
    fits: dict[str, dict[object, HillFit]] = {}
    for metric in plan.metrics:
        what, among = _split(metric)
        tables[metric] = response_curve(runs, x, what, by=by, among=among)
        if metric in plan.fit and _numeric(runs[x].unique()) and (runs[x] > 0).all():
            fits[metric] = {k: f for k, f in fit_curves(runs, x, what, by=by).items()}
    log_x = _numeric(runs[x].unique()) and _use_log(runs[x].unique(), bool(results.parameter_info(x).get("log")))
    fig = response_figure(tables, x, by, labels[x], log_x, fits, title=results.name,
                          by_label=labels.get(by) if by else None)
    stem = f"response_{x}" + (f"_by_{by}" if by else "")
    _write(fig, out, stem, pd.concat(tables.values(), ignore_index=True), written)
    if fits:
        table = pd.concat([fits_table(f, by, m) for m, f in fits.items()], ignore_index=True)
        written.append(_write_table(out / f"fits_{x}.csv", table))


def _plot_envelopes(results, plan: PlotPlan, labels, out: Path, written: list[Path]) -> None:
    ts = results.timeseries
    columns = [c for c in ENVELOPE_COLUMNS if c in ts.columns]
    if not columns or plan.x is None:
        return
    group = [plan.x] + ([plan.by] if plan.by else [])
    xs = sorted(ts[plan.x].unique(), key=lambda v: (isinstance(v, str), v))
    if len(xs) > MAX_ENVELOPE_LINES:  # keep the figure legible: every k-th value, ends included
        idx = np.unique(np.linspace(0, len(xs) - 1, MAX_ENVELOPE_LINES).round().astype(int))
        ts = ts[ts[plan.x].isin([xs[i] for i in idx])]
    env = envelopes(ts, columns, by=group)
    log = bool(results.parameter_info(plan.x).get("log"))
    infusions = sorted({float(d["day"]) for d in results.manifest["experiment"].get("dosing", [])})
    fig = envelope_figure(env, plan.x, plan.by, labels, log_colour=log, infusion_days=infusions)
    _write(fig, out, "envelopes", env, written)


def _plot_sampled(results, runs, plan: PlotPlan, labels, out: Path, written: list[Path]) -> None:
    metrics = [m for m in plan.metrics if "/" not in m and runs[m].notna().all()]
    if not metrics:
        return
    params = results.parameters
    log = {p: bool(results.parameter_info(p).get("log")) for p in params}
    means = runs.groupby("point").agg({**{p: "first" for p in params},
                                       **{m: (lambda s: s.astype(float).mean()) for m in metrics}})
    fig = scatter_figure(runs, params, metrics, labels, log)
    _write(fig, out, "scatter", means.reset_index(), written)
    if results.design_type == "saltelli":
        varying = [m for m in metrics if metric_kind(runs, m) in ("proportion", "mean")]
        try:
            table = sobol_indices(results, varying)
        except ValueError as exc:  # unfinished design points: scatter only, and say why
            warnings.warn(f"no Sobol indices: {exc}", stacklevel=2)
            return
        n_points, reps = len(results.design), results.manifest.get("replicates", 1)
        caption = (f"Sobol indices (SALib, Saltelli design): {n_points} design points × {reps} replicates "
                   "(averaged per point); bars: 95 % intervals; values below 0 are estimation noise")
        _write(sobol_figure(table, caption), out, "sobol", table, written)
