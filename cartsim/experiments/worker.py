"""One run of a sweep, as executed on a worker (a thread, a process or a Dask worker).

Everything a worker needs travels in a :class:`RunTask` (plain data, cheap to pickle), and
everything it sends back in a :class:`RunOutcome`. A run that raises comes back as a failed
outcome carrying its error and traceback, so one bad parameter combination never stops a sweep.
"""

from __future__ import annotations

import os
import socket
import time
import traceback
from dataclasses import dataclass, field
from typing import Any

import pandas as pd


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


def _worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def execute_run(task: RunTask) -> RunOutcome:
    """Build the run's config from the base experiment and its overrides, run it, return the outcome.

    Imports happen here, not at module level, so that submitting tasks stays cheap for the
    coordinating process and each worker imports the model once, on its first run.
    """
    start = time.perf_counter()
    try:
        from cartsim.config import apply_overrides, parse_config
        from cartsim.experiments.run import run

        config = parse_config(apply_overrides(task.experiment, task.overrides))
        result = run(config, seed=task.seed, snapshots=False)
        return RunOutcome(task.run, True, summary=result.summary, timeseries=result.timeseries,
                          wall_seconds=time.perf_counter() - start, worker=_worker_name())
    except Exception as exc:  # noqa: BLE001 - any failure of one run is recorded, not raised
        return RunOutcome(task.run, False, error=f"{type(exc).__name__}: {exc}",
                          traceback=traceback.format_exc(), wall_seconds=time.perf_counter() - start,
                          worker=_worker_name())
