"""The tiles of the browser page (Solara components), each drawn from a running model.

Each component takes the model as its only argument, as Mesa's SolaraViz passes it, and reads
Mesa's ``update_counter`` so that it is redrawn after every Step. They only read the model:
:meth:`~cartsim.CarTModel.snapshot` and the recorded time series.
"""

from __future__ import annotations

import markdown
import solara
from mesa.visualization.utils import update_counter

from cartsim.model import CarTModel
from cartsim.viz import live_plots
from cartsim.viz.narration import right_now, run_summary, what_you_see
from cartsim.viz.tissue_frame import legend_html, overlay_bar_html, overlay_menu, tissue_png

# On-screen size of the tissue image (CSS pixels); the PNG has one pixel per site.
TISSUE_PX = 320


def _html(md_text: str, classes: list[str]) -> None:
    # Markdown is rendered here, in Python: Solara's Markdown component would make the browser
    # load a maths typesetter and a diagram library, which offline classrooms do not have.
    solara.HTML(tag="div", unsafe_innerHTML=markdown.markdown(md_text), classes=classes)


def _timeseries(model: CarTModel):
    """The model's recorded time series, built once per step for all tiles."""
    cached = getattr(model, "_page_timeseries", None)
    if cached is None or cached[0] != model.steps:
        cached = (model.steps, model.datacollector.get_model_vars_dataframe())
        model._page_timeseries = cached
    return cached[1]


@solara.component
def TissueView(model: CarTModel):
    """The tissue as one image, with the day, a cytokine-overlay menu, a legend and a scale."""
    update_counter.get()
    overlay_label, set_overlay_label = solara.use_state("none")
    snap = model.snapshot()
    overlays = overlay_menu(snap.cytokines)
    overlay = overlays.get(overlay_label)  # (a label of an earlier model's menu: no overlay)
    png = tissue_png(snap, overlay)
    h, w = snap.shape
    with solara.Column(gap="4px", style={"padding": "6px 10px"}):
        with solara.Row(style={"align-items": "center"}, gap="16px"):
            solara.HTML(tag="div", unsafe_innerHTML=f"Day {model.day:.2f}", classes=["cartsim-day"])
            solara.ToggleButtonsSingle(value=overlay_label if overlay else "none", values=list(overlays),
                                       on_value=set_overlay_label, dense=True,
                                       classes=["cartsim-overlay-menu"])
            solara.Text("cytokine overlay", style={"font-size": "12px", "color": "#555"})
        with solara.Row(gap="14px", style={"align-items": "flex-start"}):
            solara.Image(png, width=f"{TISSUE_PX}px", classes=["cartsim-tissue"])
            with solara.Column(gap="0px"):
                solara.HTML(tag="div", unsafe_innerHTML=legend_html(snap))
                if overlay is not None:
                    solara.HTML(tag="div", unsafe_innerHTML=overlay_bar_html(snap, overlay, overlay_label))
        solara.HTML(
            tag="div", classes=["cartsim-scale"],
            unsafe_innerHTML=f"{w * snap.site_um / 1000:.2g} × {h * snap.site_um / 1000:.2g} mm; "
            f"one pixel = one {snap.site_um:g} µm site. Darker tumor colour = more antigen.",
        )


@solara.component
def Explanation(model: CarTModel):
    """What students are looking at, this run's settings, and what is happening right now."""
    update_counter.get()
    config = model.config
    with solara.Column(gap="2px", style={"padding": "6px 12px", "overflow-y": "auto",
                                         "max-height": "380px"}):
        _html(right_now(config, _timeseries(model)), ["cartsim-text", "cartsim-now"])
        _html(run_summary(config, getattr(model, "seed_used", None)), ["cartsim-text", "cartsim-run"])
        _html(what_you_see(config), ["cartsim-text"])


@solara.component
def TumorPlot(model: CarTModel):
    """Tumor cells by antigen phenotype over time."""
    update_counter.get()
    c = model.config
    plot = solara.use_memo(
        lambda: live_plots.TumorPlot(c.antigen_names, c.time.duration_days, c.infusion_days),
        [model])
    solara.Image(plot.update(_timeseries(model)).png(), width="100%")


@solara.component
def CarTPlot(model: CarTModel):
    """CAR-T cells by state and peak IL-6 over time."""
    update_counter.get()
    c = model.config
    plot = solara.use_memo(
        lambda: live_plots.CarTPlot(c.time.duration_days, c.infusion_days), [model])
    solara.Image(plot.update(_timeseries(model)).png(), width="100%")


COMPONENTS = [(TissueView, 0), (Explanation, 0), (TumorPlot, 0), (CarTPlot, 0)]
