"""Small live plots for the browser page: tumor cells by phenotype, CAR-T cells by state, IL-6
(the cytokine-release-syndrome proxy, ``CYTOKINE_ROLES["crs_proxy"]``).

Each plot is built once per model and then only given new data after every step
(:meth:`LivePlot.update`), because building axes and laying out text costs more than drawing
a few lines. Figures use an Agg canvas and no pyplot, so they are safe in the server's threads.
The x axis always spans the whole run, so students see the curves grow towards its end.

Input: a recorded time series (one row per page step; columns as in ``timeseries.parquet``).
"""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import FixedLocator, FuncFormatter, MaxNLocator, MultipleLocator, NullLocator

from cartsim.config.schema import CYTOKINE_ROLES
from cartsim.snapshot import CAR_T_STATES, phenotype_names
from cartsim.viz.tissue_image import CAR_T_COLOURS, cytokine_label, phenotype_palette

# Figure size (inches) and resolution: about 470×330 px, the size of one tile of the page.
FIGSIZE = (5.2, 3.6)
DPI = 90
IL6_COLOUR = "#D55E00"  # as in the run figures (cartsim.viz.figures)
CRS_PROXY = CYTOKINE_ROLES["crs_proxy"]
LOG_TICKS = [0, 1, 10, 100, 1_000, 10_000, 100_000, 1_000_000]


def count_label(value: float, _pos=None) -> str:
    """Plain tick labels (1, 10, 100, 1k, 10k): cheaper to draw than typeset powers of ten."""
    if value >= 1_000_000:
        return f"{value / 1_000_000:g}M"
    if value >= 1_000:
        return f"{value / 1_000:g}k"
    return f"{value:g}"


def line_colour(rgb) -> tuple[float, float, float]:
    """Darken light colours (yellow, cyan) so that lines stay visible on white."""
    r, g, b = (float(c) for c in rgb)
    luminance = 0.2126 * r + 0.7152 * g + 0.0722 * b
    f = min(1.0, 0.6 / luminance) if luminance > 0 else 1.0
    return (r * f, g * f, b * f)


def _decorate(ax, duration_days: float, infusion_days: list[float]) -> None:
    for i, d in enumerate(infusion_days):
        ax.axvline(d, color="0.45", ls="--", lw=1.0, zorder=0,
                   label="CAR-T infusion" if i == 0 else None)
    ax.set_xlim(0, duration_days)
    # Few ticks, few text labels: drawing text dominates the cost of each frame.
    ax.xaxis.set_major_locator(MultipleLocator(7) if duration_days >= 14 else MaxNLocator(5))
    ax.yaxis.set_major_locator(MaxNLocator(4))
    ax.grid(True, alpha=0.3)
    ax.spines[["top", "right"]].set_visible(False)
    ax.tick_params(labelsize="small")


class LivePlot:
    """A figure whose lines are redrawn from a time series: ``update(ts)``, then ``png()``."""

    def __init__(self) -> None:
        self.figure = Figure(figsize=FIGSIZE, dpi=DPI)
        FigureCanvasAgg(self.figure)
        self.lines: dict[str, object] = {}  # time-series column -> Line2D

    def _set_lines(self, ts: pd.DataFrame) -> np.ndarray:
        days = ts["day"].to_numpy(dtype=float)
        for column, line in self.lines.items():
            values = ts[column].to_numpy(dtype=float) if column in ts else np.zeros_like(days)
            line.set_data(days, values)
        return days

    def update(self, ts: pd.DataFrame) -> LivePlot:
        raise NotImplementedError

    def png(self) -> bytes:
        """The figure as PNG bytes (fast compression: the page sends one per step)."""
        buf = io.BytesIO()
        self.figure.savefig(buf, format="png", pil_kwargs={"compress_level": 1})
        return buf.getvalue()


class TumorPlot(LivePlot):
    """Tumor cells by antigen phenotype, and all together, on a log scale (so a few show)."""

    def __init__(self, antigens: tuple[str, ...], duration_days: float, infusion_days: list[float]):
        super().__init__()
        self.figure.subplots_adjust(left=0.12, right=0.7, bottom=0.14, top=0.9)
        ax = self.ax = self.figure.subplots()
        pal = phenotype_palette(len(antigens))
        self.lines["tumor_total"] = ax.plot([], [], color="black", lw=2.2, label="all")[0]
        for code, name in enumerate(phenotype_names(antigens)):
            self.lines[f"tumor_{name}"] = ax.plot([], [], color=line_colour(pal[code]), lw=1.5,
                                                  label=name)[0]
        _decorate(ax, duration_days, infusion_days)
        ax.set_yscale("symlog", linthresh=1.0, linscale=0.4)
        ax.yaxis.set_major_locator(FixedLocator(LOG_TICKS))
        ax.yaxis.set_major_formatter(FuncFormatter(count_label))
        ax.yaxis.set_minor_locator(NullLocator())
        ax.set_xlabel("day", fontsize="small")
        ax.set_ylabel("tumor cells (log scale)", fontsize="small")
        ax.set_title("Tumor cells by antigen phenotype", loc="left", fontsize="medium",
                     fontweight="bold")
        ax.legend(fontsize="x-small", loc="upper left", bbox_to_anchor=(1.02, 1.0), frameon=False)

    def update(self, ts: pd.DataFrame) -> TumorPlot:
        self._set_lines(ts)
        top = float(ts["tumor_total"].max()) if len(ts) else 0.0
        self.ax.set_ylim(0, max(10.0, top * 3))
        return self


class CarTPlot(LivePlot):
    """CAR-T cells by state (top) and peak IL-6, the cytokine-release-syndrome signal (bottom)."""

    def __init__(self, duration_days: float, infusion_days: list[float]):
        super().__init__()
        self.figure.subplots_adjust(left=0.12, right=0.75, bottom=0.14, top=0.92, hspace=0.45)
        ax_c, ax_y = self.ax_cart, self.ax_il6 = self.figure.subplots(
            2, 1, sharex=True, height_ratios=(1.5, 1.0))
        self.lines["cart_total"] = ax_c.plot([], [], color="black", lw=2.2, label="all")[0]
        for state in CAR_T_STATES:
            dashes = (0, (4, 2)) if state == "exhausted" else "-"  # black like "all": dash it
            self.lines[f"cart_{state}"] = ax_c.plot(
                [], [], color=line_colour(CAR_T_COLOURS[state]), lw=1.6, ls=dashes,
                label=state)[0]
        _decorate(ax_c, duration_days, infusion_days)
        ax_c.set_ylabel("CAR-T cells", fontsize="small")
        ax_c.set_title("CAR-T cells by state", loc="left", fontsize="medium", fontweight="bold")
        ax_c.legend(fontsize="x-small", loc="upper left", bbox_to_anchor=(1.02, 1.0), frameon=False)

        self.lines[f"{CRS_PROXY}_max"] = ax_y.plot([], [], color=IL6_COLOUR, lw=2.0)[0]
        _decorate(ax_y, duration_days, infusion_days)
        label = cytokine_label(CRS_PROXY)
        ax_y.set_xlabel("day", fontsize="small")
        ax_y.set_ylabel(f"{label} peak (pM)", fontsize="small")
        ax_y.set_title(f"{label} (cytokine release syndrome signal)", loc="left", fontsize="small")

    def update(self, ts: pd.DataFrame) -> CarTPlot:
        self._set_lines(ts)
        for ax, columns in ((self.ax_cart, ["cart_total"]), (self.ax_il6, [f"{CRS_PROXY}_max"])):
            top = max((float(ts[c].max()) for c in columns if c in ts and len(ts)), default=0.0)
            ax.set_ylim(0, top * 1.1 if top > 0 else 1.0)
        return self
