"""Simulations from the posterior: the curves of posterior draws (for predictive bands) and,
for each of a few draws, the value of a parameter at which an outcome switches (a dose threshold).

Both run on cartsim's executors (serial, processes, Dask); every simulation's seed derives from
the calibration seed and the draw's number, so the tables do not depend on the executor.
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from cartsim.calibration.config import ThresholdSpec
from cartsim.calibration.simulator import Simulator, coerce
from cartsim.experiments.design import run_seed
from cartsim.experiments.executors import Executor, SerialExecutor


def _curves(task: tuple[Simulator, int, dict[str, float], int]) -> pd.DataFrame:
    simulator, draw, values, seed = task
    ts = simulator.run(values, seed)
    long = ts.melt(id_vars="day", value_vars=list(simulator.columns), var_name="column")
    long.insert(0, "draw", draw)
    return long


def run_predictive(simulator: Simulator, draws: list[dict[str, float]], seed: int, *,
                   executor: Executor | None = None) -> pd.DataFrame:
    """The observed columns of one run per posterior draw, as a long table (draw, day, column, value),
    run on ``executor`` (an open cartsim executor; default: this process)."""
    tasks = [(simulator, i, values, run_seed(seed, i, 0) & (2**31 - 1)) for i, values in enumerate(draws)]
    parts: list[pd.DataFrame] = []
    for _task, value, error in (executor or SerialExecutor()).map_unordered(_curves, tasks):
        if error is None:
            parts.append(value)
    if not parts:
        return pd.DataFrame({"draw": pd.Series(dtype=int), "day": pd.Series(dtype=float),
                             "column": pd.Series(dtype=str), "value": pd.Series(dtype=float)})
    out = pd.concat(parts, ignore_index=True).sort_values(["draw", "column", "day"], kind="stable")
    return out.reset_index(drop=True)


def _switches(simulator: Simulator, values: dict[str, float], spec: ThresholdSpec, value: float, seed: int,
              infusion_days: list[float], antigens: tuple[str, ...]) -> bool:
    from cartsim.calibration.paths import value_at
    from cartsim.summary import summarize

    extra = {spec.path: coerce(value, value_at(simulator.experiment, spec.path))}
    ts = simulator.run(values, seed, extra)
    return bool(summarize(ts, antigens, infusion_days)[spec.outcome])


def _threshold(task: tuple) -> dict[str, Any]:
    """Bisection on the log scale between ``spec.low`` and ``spec.high`` (the same seed at every
    value, so that only the value changes)."""
    simulator, draw, values, spec, seed, infusion_days, antigens = task
    lo, hi = math.log10(spec.low), math.log10(spec.high)
    def outcome(x):
        return _switches(simulator, values, spec, 10**x, seed, infusion_days, antigens)
    if outcome(lo):
        return {"draw": draw, "value": math.nan, "note": f"{spec.outcome} already at low", **values}
    if not outcome(hi):
        return {"draw": draw, "value": math.nan, "note": f"not {spec.outcome} at high", **values}
    for _ in range(spec.steps):
        mid = (lo + hi) / 2
        lo, hi = (lo, mid) if outcome(mid) else (mid, hi)
    return {"draw": draw, "value": float(10 ** ((lo + hi) / 2)), "note": "", **values}


def run_thresholds(simulator: Simulator, draws: list[dict[str, float]], spec: ThresholdSpec,
                   infusion_days: list[float], antigens: tuple[str, ...], seed: int, *,
                   executor: Executor | None = None) -> pd.DataFrame:
    """The switching value (e.g. the smallest dose that eradicates) for each posterior draw: one row
    per draw (``draw``, ``value``, ``note`` and the draw's parameter values). ``value`` is NaN, with
    a note, when the outcome does not switch inside the range."""
    tasks = [(simulator, i, values, spec, run_seed(seed, i, 0) & (2**31 - 1), list(infusion_days), antigens)
             for i, values in enumerate(draws)]
    rows: list[dict[str, Any]] = []
    for task, value, error in (executor or SerialExecutor()).map_unordered(_threshold, tasks):
        rows.append(value if error is None else {"draw": task[1], "value": math.nan, "note": error})
    return pd.DataFrame(rows).sort_values("draw").reset_index(drop=True) if rows else pd.DataFrame(
        columns=["draw", "value", "note"])


__all__ = ["run_predictive", "run_thresholds"]
