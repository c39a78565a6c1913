"""How long the teaching page takes to draw one frame of the tissue, against Mesa's markers.

A 100×100 tissue with ~5,000 tumor cells and a few hundred CAR-T cells (a real CarTModel run,
stepped until the CAR-T cells are at work). Timed per frame (median of --frames):

* the page's tissue frame: ``model.snapshot()`` + ``tissue_rgba`` + PNG, with and without a
  cytokine overlay (target: <= 100 ms);
* the page's two live plots (update + PNG), for information;
* Mesa's default drawing of the same cells as scatter markers (``draw_space`` on an
  OrthogonalMooreGrid with one CellAgent per cell, then PNG), for comparison;
* one press of Step on the whole page, without a browser (``solara.render``): the model's
  one-hour step plus redrawing every tile, i.e. the server's share of one frame of Play.

Usage: python benchmarks/bench_viz.py [--size 100] [--cells 5000] [--frames 15]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

TARGET_MS = 100.0


def median_ms(fn, frames: int) -> float:
    fn()  # warm up (imports, caches)
    times = []
    for _ in range(frames):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times)


def busy_model(size: int, cells: int):
    from cartsim.viz.page_model import PageModel
    from cartsim.viz.page_params import initial_kwargs, model_params, page_config

    params = initial_kwargs(model_params(page_config()))
    params.update({"width": size, "height": size, "tumor_cells": cells, "dose": cells // 10,
                   "infusion_day": 0.25})
    model = PageModel(**params)
    while model.day < 0.5:  # CAR-T in the tissue, engaging
        model.step()
    return model


def mesa_markers(snapshot):
    """Mesa's own drawing: one CellAgent per tumor cell and CAR-T cell, drawn as markers."""
    import mesa
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from mesa.discrete_space import CellAgent, OrthogonalMooreGrid
    from mesa.visualization.components import AgentPortrayalStyle
    from mesa.visualization.mpl_space_drawing import draw_space

    h, w = snapshot.shape
    model = mesa.Model(rng=0)
    grid = OrthogonalMooreGrid((w, h), torus=False, capacity=2, random=model.random)

    class Cell(CellAgent):
        def __init__(self, model, cell, colour):
            super().__init__(model)
            self.cell = cell
            self.colour = colour

    for y, x in zip(*np.nonzero(snapshot.tumor_phenotype >= 0), strict=True):
        Cell(model, grid[(int(x), int(y))], "tab:blue")
    for y, x in zip(*np.nonzero(snapshot.tcell_state >= 0), strict=True):
        Cell(model, grid[(int(x), int(y))], "tab:cyan")

    def portrayal(agent):
        return AgentPortrayalStyle(color=agent.colour, size=6, marker="s")

    def draw() -> int:
        fig = Figure(figsize=(5, 5))
        FigureCanvasAgg(fig)
        ax = fig.add_subplot()
        draw_space(grid, portrayal, ax=ax)
        buf = io.BytesIO()
        fig.savefig(buf, format="png")
        return buf.tell()

    return draw, len(model.agents)


def page_step(size: int, cells: int, folder: Path):
    """A function pressing Step on a rendered page of the classroom experiment at this size."""
    import ipyvuetify as v
    import solara
    import yaml

    from cartsim.viz.app import TeachingPage
    from cartsim.viz.page_params import teaching_config

    data = teaching_config()
    data["tissue"] = {"width": size, "height": size}
    data["tumor"] = {"initial": {"type": "nodule", "cells": cells}}
    data["dosing"][0].update(day=0.25, cells=cells // 10)
    path = folder / "bench_page.yaml"
    path.write_text(yaml.safe_dump(data))
    with contextlib.redirect_stdout(io.StringIO()):  # Solara prints the app bar it renders
        rc = solara.render(solara.AppLayout(children=[TeachingPage(path)]), handle_error=False)[1]
    step = rc.find(v.Btn, children=["Step"]).widget
    for _ in range(12):  # CAR-T cells at work
        step.click()
    return step.click


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", type=int, default=100, help="tissue side in sites")
    ap.add_argument("--cells", type=int, default=5000, help="initial tumor cells")
    ap.add_argument("--frames", type=int, default=15, help="frames timed per case")
    args = ap.parse_args()

    from cartsim.viz import live_plots
    from cartsim.viz.tissue_frame import tissue_png

    model = busy_model(args.size, args.cells)
    snap = model.snapshot()
    n_tumor = int((snap.tumor_phenotype >= 0).sum())
    n_cart = int((snap.tcell_state >= 0).sum())
    print(f"tissue {args.size}×{args.size} on day {model.day:.2f}: {n_tumor} tumor cells, "
          f"{n_cart} CAR-T cells; median of {args.frames} frames\n")

    rows = [
        ("page tissue frame (snapshot + image + PNG)", lambda: tissue_png(model.snapshot())),
        ("page tissue frame with IL-6 overlay", lambda: tissue_png(model.snapshot(), "IL6")),
    ]
    c = model.config
    ts = model.datacollector.get_model_vars_dataframe()
    tumor_plot = live_plots.TumorPlot(c.antigen_names, c.time.duration_days, c.infusion_days)
    cart_plot = live_plots.CarTPlot(c.time.duration_days, c.infusion_days)
    rows += [
        ("page live plot: tumor by phenotype", lambda: tumor_plot.update(ts).png()),
        ("page live plot: CAR-T by state + IL-6", lambda: cart_plot.update(ts).png()),
    ]
    folder = Path(tempfile.mkdtemp(prefix="bench_viz_"))
    step = page_step(args.size, args.cells, folder)
    rows.append(("page Step: model hour + all tiles redrawn", step))
    draw, n_agents = mesa_markers(snap)
    rows.append((f"Mesa draw_space markers ({n_agents} agents) + PNG", draw))

    results = [(label, median_ms(fn, args.frames)) for label, fn in rows]
    shutil.rmtree(folder)
    width = max(len(label) for label, _ in results)
    for label, ms in results:
        print(f"  {label:<{width}}  {ms:8.1f} ms")
    tissue_ms = max(results[0][1], results[1][1])
    verdict = "meets" if tissue_ms <= TARGET_MS else "MISSES"
    print(f"\ntissue frame: {tissue_ms:.1f} ms, {verdict} the {TARGET_MS:.0f} ms target; "
          f"{results[-1][1] / tissue_ms:.0f}× faster than Mesa's markers")


if __name__ == "__main__":
    main()
