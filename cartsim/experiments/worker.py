"""One run of a sweep, as executed on a worker (a thread, a process or a Dask worker).

Everything a worker needs travels in a :class:`RunTask` (plain data, cheap to pickle), and
everything it sends back in a :class:`RunOutcome`. A run that raises comes back as a failed
outcome carrying its error and traceback, so one bad parameter combination never stops a sweep.

A worker is a long-lived process that runs many tasks: it imports cartsim and loads the
model's compiled kernels once (:func:`warm_up`), not once per run.
"""

from __future__ import annotations

import logging
import os
import socket
import time
import traceback
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunTask:
    """One run: a design point, a replicate and its seed.

    Attributes:
        run: index of the run in the sweep (0-based; also its file name).
        point: index of the design point.
        replicate: replicate number within the point (0-based).
        seed: the run's random seed (see :func:`cartsim.experiments.design.run_seed`).
        params: the swept values by column name (for result tables).
        overrides: the same values by dotted config path (for the model).
        experiment: the resolved base experiment (JSON-ready mapping).
    """

    run: int
    point: int
    replicate: int
    seed: int
    params: dict[str, Any]
    overrides: dict[str, Any]
    experiment: dict[str, Any] = field(repr=False)


@dataclass
class RunOutcome:
    """What came back from one run: its summary and time series, or its error."""

    run: int
    ok: bool
    summary: dict[str, Any] | None = None
    timeseries: pd.DataFrame | None = None
    error: str | None = None
    traceback: str | None = None
    wall_seconds: float = 0.0
    worker: str = ""


#: A run just large enough to call each of the model's compiled kernels once: CAR-T among tumor
#: cells from the start, for one record interval (~0.02 s once the kernels are loaded).
WARM_UP_EXPERIMENT: dict[str, Any] = {
    "name": "warm-up",
    "seed": 0,
    "tissue": {"width": 12, "height": 12},
    "time": {"duration_days": 0.25, "record_every_h": 6},
    "tumor": {"initial": {"type": "nodule", "cells": 20}},
    "dosing": [{"day": 0, "cells": 10, "product": "CAR19"}],
}
_warmed = False


def warm_up() -> None:
    """Import the model and load its compiled kernels in this process, by running one tiny model.

    A compiled kernel's machine code is loaded on its first call: about half a second per
    process from the on-disk cache, several seconds when the cache is stale and it must be
    compiled. Called where a worker process starts (the process executor's forkserver, so that
    every worker forked from it inherits the loaded kernels), this cost is paid once per sweep
    instead of in each worker's first run. Does the work once per process; never raises: a
    model that fails here fails again in the first real run, which records the error.
    """
    global _warmed
    if _warmed:
        return
    _warmed = True
    try:
        from cartsim.config import parse_config
        from cartsim.experiments.run import run

        run(parse_config(WARM_UP_EXPERIMENT), snapshots=False)
    except Exception:  # noqa: BLE001 - only a head start; the runs report real failures
        log.debug("warm-up run failed; kernels load on the first run instead", exc_info=True)


def is_warm() -> bool:
    """Whether this process has the model imported and its compiled kernels loaded: it warmed
    up, or a run completed here."""
    return _warmed


def _worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def execute_run(task: RunTask) -> RunOutcome:
    """Build the run's config from the base experiment and its overrides, run it, return the outcome.

    Imports happen here, not at module level, so that submitting tasks stays cheap for the
    coordinating process; a worker imports the model once (at its first run, or before it with
    :func:`warm_up`) and keeps it for every later run.
    """
    start = time.perf_counter()
    try:
        from cartsim.config import apply_overrides, parse_config
        from cartsim.experiments.run import run

        config = parse_config(apply_overrides(task.experiment, task.overrides))
        result = run(config, seed=task.seed, snapshots=False)
        global _warmed
        _warmed = True  # everything warm_up would load is loaded now
        return RunOutcome(task.run, True, summary=result.summary, timeseries=result.timeseries,
                          wall_seconds=time.perf_counter() - start, worker=_worker_name())
    except Exception as exc:  # noqa: BLE001 - any failure of one run is recorded, not raised
        return RunOutcome(task.run, False, error=f"{type(exc).__name__}: {exc}",
                          traceback=traceback.format_exc(), wall_seconds=time.perf_counter() - start,
                          worker=_worker_name())
