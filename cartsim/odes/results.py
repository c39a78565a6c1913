"""Run an ODE experiment: config in, tables and summary out (the files of an agent run).

``run_ode(config)`` solves the configured model (:func:`cartsim.odes.solve.simulate`) and
returns an :class:`OdeRunResult`; ``result.write(out)`` writes, each file atomically,
``config.yaml`` (resolved, with every parameter value), ``timeseries.parquet`` and
``summary.json``. The picture of the run (``timeseries.png``) is drawn by the caller
(``cartsim ode``, with :func:`cartsim.odes.figures.ode_timeseries_figure`).

The summary uses the key names and definitions of an agent run's
(:mod:`cartsim.summary`: baseline = tumor at the first dose, response = nadir at most
``RESPONSE_FRACTION`` of it, relapse = back to ``RELAPSE_FRACTION`` of it after a response),
computed on the same records. Counts are real numbers here, and "eradicated" means the tumor
fell below ``ERADICATION_CELLS`` (one cell), since a continuous model only approaches zero.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from cartsim import io
from cartsim._version import __version__
from cartsim.odes.config import OdeConfig
from cartsim.odes.solve import Impulse, OdeSolution, simulate
from cartsim.summary import burden_course, cart_course

__all__ = ["ERADICATION_CELLS", "OdeRunResult", "run_ode", "summarize_ode"]

#: A tumor below one cell is gone: the continuous analogue of an agent run's zero.
ERADICATION_CELLS = 1.0


@dataclass
class OdeRunResult:
    """What one ODE run produced: the config, the solution, its table and its summary."""

    config: OdeConfig
    solution: OdeSolution
    timeseries: pd.DataFrame
    summary: dict
    wall_seconds: float = 0.0

    def resolved_config(self) -> dict:
        return {**self.config.model_dump(mode="json"), "cartsim_version": __version__}

    def write(self, out_dir: str | Path) -> Path:
        """Write config.yaml, timeseries.parquet and summary.json into ``out_dir`` (created if
        needed) and return its path."""
        return io.write_run_tables(Path(out_dir), self.config.model_dump(mode="json"),
                                   self.timeseries, self.summary)


def run_ode(config: OdeConfig) -> OdeRunResult:
    """Solve ``config`` (a resolved :class:`~cartsim.odes.config.OdeConfig`)."""
    start = time.perf_counter()
    model = config.ode_model
    end = config.final_day
    step = config.record_every_h / 24.0
    t_eval = step * np.arange(int(math.ceil(end / step)) + 1)
    t_eval = np.append(t_eval[t_eval < end - 1e-9], end)  # every record interval, and the end
    challenges = [Impulse(d.day, "tumor", d.cells) for d in config.challenges]
    sol = simulate(
        model,
        config.parameter_values(),
        config.initial_cells(),
        (0.0, end),
        doses=config.dose_list(),
        t_eval=t_eval,
        impulses=challenges,
        method=config.solver.method,
        rtol=config.solver.rtol,
        atol=config.solver.atol,
        max_evaluations=config.solver.max_evaluations,
        extinction_cells=config.extinction_cells,
    )
    ts = sol.as_dataframe()
    summary = summarize_ode(ts, config.infusion_days)
    summary.update({
        "model": model.name,
        "parameter_set": config.parameter_set,
        "eradication_threshold_cells": ERADICATION_CELLS,
        "cells_infused": float(sum(c for _, c in config.dose_list())),
        "challenge_days": sorted({float(d.day) for d in config.challenges}),
    })
    return OdeRunResult(config, sol, ts, summary, time.perf_counter() - start)


def summarize_ode(ts: pd.DataFrame, infusion_days: list[float]) -> dict:
    """Outcome metrics of an ODE time series, with an agent run's key names (see module docstring)."""
    day = ts["day"].to_numpy(float)
    summary = burden_course(day, ts["tumor_total"].to_numpy(float), infusion_days,
                            eradicated_below=ERADICATION_CELLS)
    summary.pop("_relapse_index")
    summary.update(cart_course(day, ts["cart_total"].to_numpy(float)))
    summary["kills_total"] = float(ts["kills_total"].iloc[-1])
    summary["infusion_days"] = [float(d) for d in infusion_days]
    for col in ts.columns:  # the model's own compartments (cart_effector, cart_memory, bcells_healthy)
        if col not in ("day", "tumor_total", "cart_total", "kills_total", "cells_infused"):
            values = ts[col].to_numpy(float)
            summary[f"peak_{col}"] = float(values.max())
            summary[f"final_{col}"] = float(values[-1])
    return {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in summary.items()}
