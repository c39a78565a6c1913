"""What the inference library calls: free-parameter values in, summary statistics out.

A :class:`Simulator` is plain data (the resolved experiment, the free parameters, the data's
days and columns), so it pickles to worker processes and Dask workers. Each call turns the
sampled values (on their sampling scale: log10 for log parameters) into config overrides, runs
the model with a seed drawn from the caller's random stream (pyabc seeds it), and reads the
observed columns off the simulated time series at the data's days.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from cartsim.calibration.config import CalibrationSpec, FreeParameter
from cartsim.calibration.paths import value_at

#: Statistic of a simulation that failed (e.g. a value the model refuses): it is never accepted.
FAILED = math.inf


def parameter_key(i: int) -> str:
    """The inference library's name for free parameter ``i`` (config paths hold dots)."""
    return f"x{i}"


def statistic_key(column: str, day: float) -> str:
    return f"{column}@{day:g}"


def coerce(value: float, default: Any) -> Any:
    """A sampled value in the type of the setting it replaces (whole numbers for counts)."""
    if isinstance(default, bool):
        raise TypeError("a yes/no setting cannot be fitted")
    return int(round(value)) if isinstance(default, int) else float(value)


@dataclass(frozen=True)
class Simulator:
    """Runs the experiment at given parameter values and returns its summary statistics.

    Attributes:
        experiment: the resolved base experiment (JSON-ready mapping).
        parameters: the free parameters, in order (``x0``, ``x1``, ...).
        days: the data's days.
        columns: the observed model columns.
        transform, floor: how counts become statistics (``log10(x + floor)`` or linear).
    """

    experiment: dict[str, Any] = field(repr=False)
    parameters: tuple[FreeParameter, ...]
    days: tuple[float, ...]
    columns: tuple[str, ...]
    transform: str = "log10"
    floor: float = 1.0

    @classmethod
    def from_spec(cls, experiment: dict[str, Any], spec: CalibrationSpec, days) -> Simulator:
        return cls(experiment, tuple(spec.parameters), tuple(float(d) for d in days),
                   tuple(spec.data.column_map), spec.statistics.transform, spec.statistics.floor)

    # ------------------------------------------------------------------ values
    def values(self, scaled: dict[str, float]) -> dict[str, float]:
        """Sampled values (by library key) as config values by parameter column."""
        return {p.column: p.to_value(float(scaled[parameter_key(i)])) for i, p in enumerate(self.parameters)}

    def overrides(self, values: dict[str, float]) -> dict[str, Any]:
        """Config values by parameter column as ``{dotted.path: value}`` overrides."""
        out: dict[str, Any] = {}
        for p in self.parameters:
            for path in p.paths:
                out[path] = coerce(values[p.column], value_at(self.experiment, path))
        return out

    # ------------------------------------------------------------------ statistics
    def transformed(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=float)
        if self.transform == "log10":
            return np.log10(np.maximum(x, 0.0) + self.floor)
        return x

    def statistics(self, timeseries: pd.DataFrame) -> dict[str, float]:
        """The observed columns of a simulated time series at the data's days, transformed."""
        day = timeseries["day"].to_numpy(float)
        days = np.asarray(self.days)
        out: dict[str, float] = {}
        for column in self.columns:
            at = self.transformed(np.interp(days, day, timeseries[column].to_numpy(float)))
            out.update({statistic_key(column, d): float(v) for d, v in zip(days, at)})
        return out

    def observed(self, data: pd.DataFrame) -> dict[str, float]:
        """The data's statistics (the keys of missing values are left out)."""
        out: dict[str, float] = {}
        for column in self.columns:
            for d, v in zip(data["day"], self.transformed(data[column].to_numpy(float))):
                if math.isfinite(v):
                    out[statistic_key(column, float(d))] = float(v)
        return out

    # ------------------------------------------------------------------ running
    def run(self, values: dict[str, float], seed: int, extra: dict[str, Any] | None = None) -> pd.DataFrame:
        """The time series of one run at ``values`` (config values by parameter column), with
        ``extra`` overrides (e.g. another dose) on top."""
        from cartsim.config import apply_overrides, parse_config
        from cartsim.experiments.run import run

        config = parse_config(apply_overrides(self.experiment, {**self.overrides(values), **(extra or {})}))
        return run(config, seed=seed, snapshots=False).timeseries

    def __call__(self, scaled: dict[str, float]) -> dict[str, float]:
        """What pyabc calls: a seed from its (seeded) random stream, one run, the statistics."""
        seed = int(np.random.randint(0, 2**31 - 1))
        try:
            return self.statistics(self.run(self.values(scaled), seed))
        except Exception:  # noqa: BLE001 - a failed simulation is rejected, not fatal to the fit
            return {statistic_key(c, d): FAILED for c in self.columns for d in self.days}
