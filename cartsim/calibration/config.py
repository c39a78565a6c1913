"""The ``calibration:`` block of an experiment file: the data, the free parameters, the summary
statistics and distance, and the budget of the fit.

    calibration:
      data:
        file: raji_tumor.csv               # CSV with a `day` column; relative to the YAML file
        columns: {tumor_total: tumor_cells}  # model column: CSV column (or a list of shared names)
        noise: 0.1                          # residual scale per column, in the transform's units
      parameters:
        - {path: well_mixed.gamma_per_cell_day, low: 1.0e-8, high: 1.0e-7, scale: log}
      statistics: {transform: log10, floor: 1}
      distance: euclidean
      budget: {populations: 5, particles: 100}

Each free parameter is a dotted config path (as in ``--set`` and sweeps) with a range, a scale
(linear or log) and a prior on that scale: uniform over the range (the default) or normal with
``mean`` and ``sd``, truncated to the range. On a log scale the prior, the perturbation kernel
and ``mean``/``sd`` live in log10 units, so a range spanning decades is explored evenly.

The summary statistics are the data's columns at the data's days, read off the simulated time
series (linear interpolation between records) and transformed (``log10(x + floor)`` by default,
so that a tumor of 1e6 and one of 1e9 cells weigh alike). The distance between a simulation and
the data is the p-norm of the residuals divided by their noise scale: the root of the sum of
squared standardised residuals for ``euclidean``, absolute values for ``manhattan``; ``adaptive``
reweights the statistics each generation by their spread (pyabc's AdaptivePNormDistance).
"""

from __future__ import annotations

import math
from typing import Literal

from pydantic import Field, model_validator

from cartsim.config.schema import PathsTarget, Section, check_distinct


class DataSpec(Section):
    """The observed data: a CSV file with a ``day`` column and one column per observed quantity."""

    file: str = Field(min_length=1, description="CSV path, relative to the experiment file")
    columns: dict[str, str] | list[str] = Field(
        min_length=1, description="model time-series column -> CSV column, or a list of names used by both")
    noise: float | dict[str, float] | None = Field(
        None, description="residual scale per column in the transform's units (log10: 0.1 ~ 26 %); "
        "default 0.1 with the log10 transform, required with the linear one")

    @property
    def column_map(self) -> dict[str, str]:
        """Model column -> CSV column."""
        return dict(self.columns) if isinstance(self.columns, dict) else {c: c for c in self.columns}

    @model_validator(mode="after")
    def _check(self) -> DataSpec:
        if isinstance(self.noise, dict):
            unknown = sorted(set(self.noise) - set(self.column_map))
            if unknown:
                raise ValueError(f"data.noise: {unknown} are not data columns ({sorted(self.column_map)})")
        scales = list(self.noise.values()) if isinstance(self.noise, dict) else [self.noise]
        if any(s is not None and not (s > 0 and math.isfinite(s)) for s in scales):
            raise ValueError("data.noise: noise scales must be finite numbers > 0")
        return self


class FreeParameter(PathsTarget, Section):
    """One parameter to fit: a config path, its range, scale and prior."""

    path: str | list[str] = Field(description="dotted config path, or several that share the value")
    name: str | None = Field(None, min_length=1, max_length=60, pattern=r"^[A-Za-z0-9_.\-]+$")
    low: float
    high: float
    scale: Literal["linear", "log"] = "linear"
    prior: Literal["uniform", "normal"] = "uniform"
    mean: float | None = None
    sd: float | None = Field(None, gt=0)

    @model_validator(mode="after")
    def _check(self) -> FreeParameter:
        if not (math.isfinite(self.low) and math.isfinite(self.high)):
            raise ValueError("low and high must be finite numbers")
        if not self.low < self.high:
            raise ValueError(f"empty range: low ({self.low:g}) must be below high ({self.high:g})")
        if self.scale == "log" and self.low <= 0:
            raise ValueError(f"scale 'log' needs low > 0 (got {self.low:g}); use scale: linear or a positive low")
        if isinstance(self.path, list) and not self.path:
            raise ValueError("path: give at least one dotted config path")
        if self.prior == "normal":
            if self.mean is None or self.sd is None:
                raise ValueError("prior 'normal' needs 'mean' and 'sd' (on the parameter's scale: log10 "
                                 "units for scale: log)")
            lo, hi = self.scaled_bounds
            if not lo <= self.mean <= hi:
                raise ValueError(f"mean {self.mean:g} lies outside the range on the {self.scale} scale "
                                 f"([{lo:g}, {hi:g}])")
        elif self.mean is not None or self.sd is not None:
            raise ValueError("'mean' and 'sd' belong to prior: normal; a uniform prior takes only low and high")
        return self

    @property
    def scaled_bounds(self) -> tuple[float, float]:
        """The range on the sampling scale (log10 of the values for scale: log)."""
        if self.scale == "log":
            return math.log10(self.low), math.log10(self.high)
        return self.low, self.high

    def to_value(self, x: float) -> float:
        """A value of the sampling scale as a config value."""
        return 10.0**x if self.scale == "log" else float(x)


class StatisticsSpec(Section):
    """How simulated and observed values are compared."""

    transform: Literal["log10", "linear"] = "log10"
    floor: float = Field(1.0, gt=0, description="added before the log, in the data's units (cells)")


class BudgetSpec(Section):
    """How long the ABC-SMC fit runs: it stops at whichever limit comes first."""

    populations: int = Field(5, ge=1, le=1000, description="ABC-SMC generations")
    particles: int = Field(100, ge=5, le=100_000, description="accepted particles per generation")
    min_epsilon: float | None = Field(None, ge=0, description="stop once the acceptance threshold is this small")
    max_simulations: int | None = Field(None, ge=1, description="stop after this many simulations in all")


class ThresholdSpec(Section):
    """A derived quantity: the value of one parameter (e.g. the dose) at which an outcome switches,
    found by bisection on each of ``draws`` posterior draws with the fitted model itself."""

    path: str = "dosing.0.cells"
    low: float = Field(gt=0)
    high: float = Field(gt=0)
    outcome: Literal["eradicated", "responded"] = "eradicated"
    draws: int = Field(10, ge=1, le=1000)
    steps: int = Field(8, ge=2, le=40, description="bisection steps on the log scale")

    @model_validator(mode="after")
    def _check(self) -> ThresholdSpec:
        if not self.low < self.high:
            raise ValueError(f"threshold: empty range: low ({self.low:g}) must be below high ({self.high:g})")
        return self


class CalibrationSpec(Section):
    """The ``calibration:`` block (see the module docstring)."""

    data: DataSpec
    parameters: list[FreeParameter] = Field(min_length=1, max_length=20)
    statistics: StatisticsSpec = StatisticsSpec()
    distance: Literal["euclidean", "manhattan", "adaptive"] = "euclidean"
    budget: BudgetSpec = BudgetSpec()
    credible: float = Field(0.9, gt=0, lt=1, description="level of the credible intervals")
    predictive_draws: int = Field(20, ge=0, le=10_000, description="posterior draws simulated for the bands")
    threshold: ThresholdSpec | None = None
    seed: int | None = Field(None, ge=0, description="default: the experiment's seed")

    @model_validator(mode="after")
    def _check(self) -> CalibrationSpec:
        check_distinct(self.parameters, "parameters", twice="a config path is fitted twice",
                       hint=". Give each a 'name'")
        if self.statistics.transform == "linear":
            noise = self.data.noise
            missing = (sorted(self.data.column_map) if noise is None else
                       sorted(set(self.data.column_map) - set(noise)) if isinstance(noise, dict) else [])
            if missing:
                raise ValueError(f"data.noise: the linear transform needs a noise scale (in cells) for {missing}")
        return self

    def noise(self, column: str) -> float:
        noise = self.data.noise
        if isinstance(noise, dict):
            return float(noise.get(column, 0.1))
        return 0.1 if noise is None else float(noise)
