"""The teaching page: Mesa's SolaraViz around a CAR-T model, one model per browser session.

Serve it with ``cartsim viz [CONFIG]``; show it in Jupyter with ``TeachingPage()`` (or
``TeachingPage(config="configs/quickstart.yaml")``) as the last expression of a cell.

``cartsim viz`` names the experiment file in the environment variable ``CARTSIM_VIZ_CONFIG``
(unset: the classroom experiment of :func:`cartsim.viz.page_params.teaching_config`).
"""

from __future__ import annotations

import os
from pathlib import Path

import solara
from mesa.visualization import SolaraViz

from cartsim.viz.page_components import COMPONENTS
from cartsim.viz.page_model import PageModel
from cartsim.viz.page_params import CONFIG_ENV, initial_kwargs, model_params, page_config
from cartsim.viz.tissue_frame import PAGE_CSS

TITLE = "CAR-T cells against a tumor"
# Milliseconds between steps while playing (on the grid of Mesa's slider, 1, 11, 21, ...). A
# one-hour step of the classroom model computes in a few ms; drawing it takes ~0.05-0.15 s, so a
# simulated day takes about 5 seconds, slow enough to follow single cells, and the browser gets
# time to draw each frame before the next arrives (a shorter interval floods a loaded machine's
# browser with frames it cannot draw).
PLAY_INTERVAL_MS = 151


@solara.component
def TeachingPage(config: str | Path | None = None):
    """The page for experiment file ``config`` (None: the classroom experiment).

    The model is built inside the component with ``use_memo``, so every browser session (and
    every notebook output) gets its own model: two students never share one simulation.
    """
    params = solara.use_memo(lambda: model_params(page_config(config)), [str(config)])
    model = solara.use_memo(lambda: PageModel(**initial_kwargs(params)), [params])
    solara.Style(PAGE_CSS)
    SolaraViz(model, components=list(COMPONENTS), model_params=params, name=TITLE,
              play_interval=PLAY_INTERVAL_MS)


@solara.component
def Page():
    """Entry point for the Solara server: the experiment named by ``$CARTSIM_VIZ_CONFIG``."""
    return TeachingPage(os.environ.get(CONFIG_ENV) or None)
