"""The ``sweep:`` block of an experiment file, and the design it describes.

A sweep varies parameters of one experiment, addressed by dotted path into the experiment
config (``dosing.0.cells``, ``antigens.CD19.loss_probability``). Each parameter takes its
values from an explicit list, a linear or logarithmic range, or (for sampled designs) bounds.
The design is a table of *design points* (one row per combination of values); every point is
run ``replicates`` times with its own seed, derived from one base seed.

Designs:

* ``grid`` (default): full factorial over the parameters' lists and ranges;
* ``zip``: the i-th values of all parameters together (all lists the same length);
* ``latin_hypercube``, ``sobol``: ``samples`` points spread over the parameters' bounds with
  :mod:`scipy.stats.qmc` (Sobol sequences need a power of two);
* ``saltelli``: Saltelli's extension of a Sobol sequence (SALib), ``samples``·(D+2) points for D
  parameters, the design from which first-order and total Sobol indices are estimated.
"""

from __future__ import annotations

import itertools
import math
from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import Field, ValidationError, model_validator

from cartsim.config import ConfigError, apply_overrides, parse_config
from cartsim.config.errors import format_validation_error
from cartsim.config.schema import ExperimentConfig, PathsTarget, Section, check_distinct

SAMPLED_DESIGNS = ("latin_hypercube", "sobol", "saltelli")
MAX_RUNS = 10_000_000  # a guard against a typo'd range producing a sweep that never ends
#: Most design points: each is validated before the sweep starts (~0.4 ms a point), and a typo'd
#: range (num: 1000 on five parameters) would otherwise build 10¹⁵ rows before any check.
MAX_POINTS = 100_000


class RangeSpec(Section):
    """``num`` evenly spaced values from ``start`` to ``stop`` (both included), on a linear or log scale."""

    start: float
    stop: float
    num: int = Field(ge=2, le=100_000)
    scale: Literal["linear", "log"] = "linear"

    @model_validator(mode="after")
    def _positive_for_log(self) -> RangeSpec:
        if self.scale == "log" and (self.start <= 0 or self.stop <= 0):
            raise ValueError("a log scale needs start > 0 and stop > 0")
        return self

    def values(self) -> list[float]:
        if self.scale == "log":
            grid = np.geomspace(self.start, self.stop, self.num)
        else:
            grid = np.linspace(self.start, self.stop, self.num)
        return [float(v) for v in grid]


class BoundsSpec(Section):
    """The interval a sampled design draws from, on a linear or log scale."""

    low: float
    high: float
    scale: Literal["linear", "log"] = "linear"

    @model_validator(mode="after")
    def _ordered(self) -> BoundsSpec:
        if not self.low < self.high:
            raise ValueError(f"low ({self.low}) must be below high ({self.high})")
        if self.scale == "log" and self.low <= 0:
            raise ValueError("a log scale needs low > 0")
        return self

    def transform(self, unit: np.ndarray) -> np.ndarray:
        """Map points of [0, 1) onto the bounds."""
        if self.scale == "log":
            lo, hi = math.log(self.low), math.log(self.high)
            return np.exp(lo + unit * (hi - lo))
        return self.low + unit * (self.high - self.low)


class ParameterSpec(PathsTarget, Section):
    """One swept parameter.

    ``path`` is a dotted config path, or a list of paths that all take the same value (e.g. the
    loss probability of every antigen). ``name`` is the column name in result tables (default:
    the first path); ``label`` the axis label on plots (default: the name).
    """

    path: str | list[str]
    name: str | None = Field(None, min_length=1, max_length=60, pattern=r"^[A-Za-z0-9_.\-]+$")
    label: str | None = None
    values: list[Any] | None = Field(None, min_length=1)
    range: RangeSpec | None = None
    bounds: BoundsSpec | None = None

    @model_validator(mode="after")
    def _one_source(self) -> ParameterSpec:
        given = [k for k in ("values", "range", "bounds") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(
                "give exactly one of 'values' (a list), 'range' ({start, stop, num, scale}) or "
                f"'bounds' ({{low, high, scale}}, for sampled designs); got {given or 'none'}"
            )
        if isinstance(self.path, list) and not self.path:
            raise ValueError("path: give at least one dotted config path")
        return self

    @property
    def axis_label(self) -> str:
        return self.label or self.column

    @property
    def log_scale(self) -> bool:
        spec = self.range or self.bounds
        return spec is not None and spec.scale == "log"

    def listed_values(self) -> list[Any]:
        """The values of a list or range parameter."""
        if self.values is not None:
            return list(self.values)
        assert self.range is not None
        return self.range.values()


class PlotSpec(Section):
    """Hints for ``cartsim plot``; every key is optional and the command line overrides them."""

    x: str | None = None
    by: str | None = None
    metrics: list[str] | None = None
    fit: list[str] | None = None
    heatmaps: list[str] | None = None
    day: float | None = Field(None, gt=0)


class SweepSpec(Section):
    """The ``sweep:`` block: parameters, design, replicates and the base seed."""

    parameters: list[ParameterSpec] = Field(min_length=1, max_length=50)
    design: Literal["grid", "zip", "latin_hypercube", "sobol", "saltelli"] = "grid"
    samples: int | None = Field(None, ge=1, le=1_000_000)
    replicates: int = Field(1, ge=1, le=100_000)
    seed: int | None = Field(None, ge=0)
    plots: PlotSpec = PlotSpec()

    @model_validator(mode="after")
    def _consistent(self) -> SweepSpec:
        check_distinct(self.parameters, "parameters", twice="a config path is swept twice",
                       hint=". Give each a 'name'")
        if self.design in SAMPLED_DESIGNS:
            self._check_sampled()
        else:
            self._check_listed()
        return self

    def _check_sampled(self) -> None:
        if self.samples is None:
            raise ValueError(f"samples: design '{self.design}' needs 'samples' (the number of points)")
        for i, p in enumerate(self.parameters):
            if p.bounds is None:
                raise ValueError(f"parameters[{i}]: design '{self.design}' needs 'bounds' ({{low, high}}), "
                                 "not a list or range")
        if self.design in ("sobol", "saltelli") and self.samples & (self.samples - 1):
            lo = 1 << (self.samples.bit_length() - 1)
            raise ValueError(f"samples: {self.design} designs need a power of two (got {self.samples}); "
                             f"use {lo} or {2 * lo}")

    def _check_listed(self) -> None:
        if self.samples is not None:
            raise ValueError(f"samples: only sampled designs ({', '.join(SAMPLED_DESIGNS)}) take 'samples'; "
                             f"design '{self.design}' uses the parameters' values")
        for i, p in enumerate(self.parameters):
            if p.bounds is not None:
                raise ValueError(f"parameters[{i}]: 'bounds' need a sampled design "
                                 f"(design: {' | '.join(SAMPLED_DESIGNS)}); use 'values' or 'range' for "
                                 f"design '{self.design}'")
        if self.design == "zip":
            lengths = {len(p.listed_values()) for p in self.parameters}
            if len(lengths) > 1:
                raise ValueError(f"design 'zip' pairs the i-th values of all parameters, so every list "
                                 f"must have the same length (got lengths {sorted(lengths)})")

    @property
    def columns(self) -> list[str]:
        return [p.column for p in self.parameters]

    def base_seed(self, config: ExperimentConfig) -> int:
        return config.seed if self.seed is None else self.seed


def parse_sweep(data: Any, source: str | None = None) -> SweepSpec:
    """Validate a ``sweep:`` block; problems come back as one :class:`ConfigError`, paths prefixed ``sweep.``."""
    if not isinstance(data, dict):
        raise ConfigError("sweep: expected a mapping with 'parameters' (and optionally design, samples, "
                          "replicates, seed, plots)", source)
    try:
        return SweepSpec.model_validate(data)
    except ValidationError as exc:
        lines = format_validation_error(exc, SweepSpec).splitlines()
        lines = [line if line.startswith("sweep") else f"sweep.{line}" for line in lines]
        raise ConfigError("invalid sweep:\n" + "\n".join(lines), source) from None


# ------------------------------------------------------------------------------ the design table
def _unit_sample(spec: SweepSpec, seed: int) -> np.ndarray:
    """Points of the unit hypercube for a sampled design (rows = points)."""
    from scipy.stats import qmc

    d = len(spec.parameters)
    rng = np.random.default_rng(seed)
    n = int(spec.samples or 0)
    if spec.design == "latin_hypercube":
        return qmc.LatinHypercube(d, rng=rng).random(n)
    if spec.design == "sobol":
        return qmc.Sobol(d, scramble=True, rng=rng).random_base2(int(math.log2(n)))
    from SALib.sample import sobol as saltelli

    problem = {"num_vars": d, "names": spec.columns, "bounds": [[0.0, 1.0]] * d}
    return saltelli.sample(problem, n, calc_second_order=False, scramble=True, seed=seed)


def _coerce(value: Any, template: Any) -> Any:
    """Give a swept value the type of the field it replaces: a whole-number float for an int field
    (``1e3`` in YAML, a point of a log range) becomes an int, since the schema is strict."""
    if isinstance(template, bool) or not isinstance(template, int):
        return value
    if isinstance(value, float) and math.isfinite(value):
        return int(round(value))
    return value


def _coerce_listed(value: Any, template: Any) -> Any:
    # an explicit 2.5 for an int field is a mistake the schema should report, not round away
    if isinstance(value, float) and value.is_integer():
        return _coerce(value, template)
    return value


def _value_at(data: Any, path: str) -> Any:
    node = data
    for key in path.split("."):
        if isinstance(node, list):
            node = node[int(key)] if key.isdigit() and int(key) < len(node) else None
        elif isinstance(node, dict):
            node = node.get(key)
        else:
            return None
    return node


def design_table(spec: SweepSpec, config: ExperimentConfig) -> pd.DataFrame:
    """The design points: one row per point (index ``point``), one column per parameter."""
    base = config.model_dump(mode="json")
    templates = [_value_at(base, p.paths[0]) for p in spec.parameters]
    _check_size(spec)
    if spec.design in SAMPLED_DESIGNS:
        seed = design_seed(spec.base_seed(config))
        unit = _unit_sample(spec, seed)
        columns = {}
        for j, (p, tmpl) in enumerate(zip(spec.parameters, templates)):
            assert p.bounds is not None
            columns[p.column] = [_coerce(float(v), tmpl) for v in p.bounds.transform(unit[:, j])]
        rows = list(zip(*columns.values()))
    else:
        lists = [[_coerce_listed(v, t) if p.values is not None else _coerce(v, t) for v in p.listed_values()]
                 for p, t in zip(spec.parameters, templates)]
        rows = list(zip(*lists)) if spec.design == "zip" else list(itertools.product(*lists))
    if len(rows) * spec.replicates > MAX_RUNS:
        raise ConfigError(f"sweep: {len(rows)} points × {spec.replicates} replicates is more than "
                          f"{MAX_RUNS:,} runs; check the ranges")
    columns = list(zip(*rows)) if rows else [[] for _ in spec.columns]
    table = pd.DataFrame({name: _column(values) for name, values in zip(spec.columns, columns)})
    table.index.name = "point"
    return table


def _check_size(spec: SweepSpec) -> None:
    """Refuse a design of more than :data:`MAX_POINTS` points before building it."""
    if spec.design in SAMPLED_DESIGNS:
        n = int(spec.samples or 0) * (len(spec.parameters) + 2 if spec.design == "saltelli" else 1)
        field = "sweep.samples"
    else:
        counts = [len(p.values) if p.values is not None else p.range.num for p in spec.parameters]  # type: ignore[union-attr]
        n = math.prod(counts) if spec.design == "grid" else max(counts)
        field = f"sweep.parameters[{counts.index(max(counts))}]"
    if n > MAX_POINTS:
        raise ConfigError(f"invalid sweep:\n{field}: the {spec.design} design has {n:,} points, more than "
                          f"{MAX_POINTS:,}; use fewer values or samples (replicates multiply the runs, not the points)")


def _column(values: tuple) -> pd.Series:
    """A design column; values of mixed kinds (``null`` among numbers) keep their own types, since
    pandas would turn None into NaN, which the schema reads as a number."""
    kinds = {type(v) for v in values}
    if None.__class__ in kinds or len(kinds - {int, float}) > 1 or (kinds & {bool} and len(kinds) > 1):
        return pd.Series(list(values), dtype=object)
    return pd.Series(list(values))


def design_seed(base_seed: int) -> int:
    """Seed of the sampler that places the points of a sampled design."""
    return int(np.random.SeedSequence(base_seed, spawn_key=(2**31 - 1,)).generate_state(1)[0])


def run_seed(base_seed: int, point: int, replicate: int) -> int:
    """The seed of one run, derived from the base seed and the run's place in the design.

    ``SeedSequence`` mixes the base seed with ``(point, replicate)`` into statistically
    independent streams, so a run's seed depends only on what it is, never on which worker runs
    it or when. 63 bits keep seeds exact in JSON and Parquet int64 columns.
    """
    state = np.random.SeedSequence(base_seed, spawn_key=(point, replicate)).generate_state(1, np.uint64)[0]
    return int(state) & (2**63 - 1)


def point_row(table: pd.DataFrame, point: int) -> dict[str, Any]:
    """One design point as ``{column: value}``, each value keeping its column's type (``iloc`` on a
    row would turn the ints of a mixed table into floats, which the strict schema rejects)."""
    return {c: (v.item() if isinstance(v, np.generic) else v) for c, v in
            ((c, table[c].iloc[point]) for c in table.columns)}


def point_overrides(spec: SweepSpec, row: dict[str, Any]) -> dict[str, Any]:
    """The ``{dotted.path: value}`` overrides of one design point."""
    out: dict[str, Any] = {}
    for p in spec.parameters:
        value = row[p.column]
        value = value.item() if isinstance(value, np.generic) else value
        for path in p.paths:
            out[path] = value
    return out


def check_paths(spec: SweepSpec, config: ExperimentConfig) -> None:
    """Every parameter path must exist in the config; the error names the nearest valid paths."""
    base = config.model_dump(mode="json")
    for i, p in enumerate(spec.parameters):
        for path in p.paths:
            try:
                apply_overrides(base, {path: _value_at(base, path)})
            except ConfigError as exc:
                detail = str(exc).removeprefix(f"--set {path}: ")
                raise ConfigError(f"invalid sweep:\nsweep.parameters[{i}].path: {detail}") from None
            tail = _value_at(base, path)
            if isinstance(tail, (dict, list)):
                raise ConfigError(f"invalid sweep:\nsweep.parameters[{i}].path: {path!r} is a whole section; "
                                  "sweep a single value inside it (e.g. add '.cells' or '.0.cells')")


def check_points(spec: SweepSpec, config: ExperimentConfig, table: pd.DataFrame, limit: int = 5) -> None:
    """Every design point must make a valid experiment; report the first few that do not."""
    base = config.model_dump(mode="json")
    problems: list[str] = []
    seen: set[str] = set()
    for point, row in enumerate(table.to_dict("records")):
        try:
            parse_config(apply_overrides(base, point_overrides(spec, row)))
        except ConfigError as exc:
            detail = str(exc).removeprefix("invalid experiment:\n").replace("\n", "; ")
            if detail in seen:
                continue
            seen.add(detail)
            values = ", ".join(f"{k}={v!r}" for k, v in row.items())
            problems.append(f"design point {point} ({values}): {detail}")
            if len(problems) >= limit:
                break
    if problems:
        raise ConfigError("invalid sweep: these design points do not make a valid experiment "
                          "(check the values and ranges in sweep.parameters):\n" + "\n".join(problems))
