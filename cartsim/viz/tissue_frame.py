"""One frame of the tissue for the browser page: a PNG of one pixel per site, and its legend.

The page draws the whole tissue as one image (:func:`~cartsim.viz.tissue_image.tissue_rgba`,
then a PNG), not as thousands of markers: a frame of a 100×100 grid with ~5,000 cells takes a
few milliseconds (``benchmarks/bench_viz.py``). The browser scales the small PNG up with
``image-rendering: pixelated``, so each site stays a sharp square.
"""

from __future__ import annotations

import html
import io

import numpy as np
from PIL import Image

from cartsim.snapshot import Snapshot
from cartsim.viz.tissue_image import (
    LegendSource,
    cytokine_label,
    legend_entries,
    overlay_colormap,
    overlay_range,
    tissue_rgba,
)

def overlay_menu(cytokines) -> dict[str, str | None]:
    """The cytokine overlay menu, label -> field name in ``Snapshot.cytokines`` (None: no overlay),
    one entry per cytokine of the run, e.g. ``{"none": None, "IL-2": "IL2", "IFN-γ": "IFNg", ...}``."""
    menu: dict[str, str | None] = {"none": None}
    for name in cytokines:
        label = cytokine_label(name)
        menu[label if label not in menu else name] = name
    return menu


def tissue_png(snapshot: Snapshot, overlay: str | None = None) -> bytes:
    """PNG bytes of the tissue (one pixel per site; ``overlay`` a cytokine name or None)."""
    rgba = tissue_rgba(snapshot, overlay=overlay)
    buf = io.BytesIO()
    # compress_level 1: the image is tiny, so speed matters more than a few bytes.
    Image.fromarray(np.ascontiguousarray(rgba[..., :3])).save(buf, format="PNG", compress_level=1)
    return buf.getvalue()


def _css(rgb) -> str:
    r, g, b = (int(round(float(c) * 255)) for c in rgb)
    return f"rgb({r},{g},{b})"


def legend_html(source: LegendSource) -> str:
    """A compact HTML legend of a snapshot (or of antigen names): one coloured square per entry of
    its populations' legend (tumor phenotypes, CAR-T states) and one for dead cells."""
    rows = []
    for label, rgb in legend_entries(source, include_dead=True):
        rows.append(
            '<div class="cartsim-legend-row">'
            f'<span class="cartsim-swatch" style="background:{_css(rgb)}"></span>'
            f"{html.escape(label)}</div>"
        )
    return '<div class="cartsim-legend">' + "".join(rows) + "</div>"


def overlay_bar_html(snapshot: Snapshot, overlay: str, label: str) -> str:
    """A colour bar for the cytokine overlay, with the concentration range (pM) of this frame."""
    rng = overlay_range(snapshot, overlay)
    if rng is None:
        return f'<div class="cartsim-overlay-bar">no {html.escape(label)} yet</div>'
    cmap = overlay_colormap()
    stops = ", ".join(_css(cmap(t)[:3]) for t in np.linspace(0, 1, 8))
    lo, hi = rng
    return (
        '<div class="cartsim-overlay-bar">'
        f"{html.escape(label)} (pM)"
        f'<div style="height:10px;background:linear-gradient(to right, {stops});'
        'border:1px solid #999;margin:2px 0"></div>'
        f'<div style="display:flex;justify-content:space-between"><span>{lo:.2g}</span>'
        f"<span>{hi:.2g}</span></div></div>"
    )


PAGE_CSS = """
.cartsim-tissue { image-rendering: pixelated; image-rendering: crisp-edges;
                  border: 1px solid #bbb; }
.cartsim-legend { font-size: 12px; line-height: 1.55; }
.cartsim-legend-row { white-space: nowrap; }
.cartsim-swatch { display: inline-block; width: 12px; height: 12px; margin-right: 6px;
                  vertical-align: -1px; border: 1px solid #666; }
.cartsim-overlay-bar { font-size: 12px; margin-top: 6px; width: 130px; }
.cartsim-day { font-size: 20px; font-weight: 600; }
.cartsim-overlay-menu .v-btn { text-transform: none; }  /* keep "IFN-γ", not "IFN-Γ" */
.cartsim-scale { font-size: 12px; color: #555; }
.cartsim-text p { font-size: 13.5px; line-height: 1.45; margin-bottom: 8px; }
.cartsim-text strong { font-weight: 700; }
.cartsim-now p { background: #eef3fa; color: #1a1a1a; border-left: 3px solid #1976d2; padding: 4px 8px; }
/* Show each slider's value above its handle: students see the number they choose. */
.v-slider__thumb-container[aria-valuenow]::after {
    content: attr(aria-valuenow); position: absolute; top: -19px; left: 0;
    transform: translateX(-50%); font-size: 11px; font-weight: 600; color: #1565c0;
    white-space: nowrap; pointer-events: none; }
.v-input__slider { margin-top: 6px; }
"""
