"""The ODE experiment schema, and deriving an ODE experiment from an agent experiment.

An ODE experiment file names a model and a published parameter set; everything else is optional
and falls back on that set's protocol::

    name: cartmath_raji
    model: cartmath              # cartmath | leon_triana | kuznetsov
    parameter_set: raji          # a published set of that model (docs/reference_models.md)
    parameters:                  # changes to the set, in the model's units
      alpha: 1.3e-8              # a number in the documented unit, or
      gamma: {value: 3.4e-8, unit: 1/(cell·day)}   # with its unit spelled out (checked)
    initial: {tumor: 3.0e6}      # cells at day 0 by compartment; others from the protocol
    dosing:                      # CAR-T doses: impulses into the dose compartment
      - {day: 7, cells: 1.0e7}
    end_day: 15
    record_every_h: 6

Resolution (:func:`resolve_ode_data`) fills in the protocol, so the ``config.yaml`` written with
the results holds every value used, and re-running it reproduces them.

An agent experiment (``configs/quickstart.yaml``) becomes an ODE experiment with
:func:`ode_data_from_experiment`: its initial tumor cells, its dosing schedule (all products
summed), its duration and record interval, and the published parameters of the chosen model
(for CARTmath and ``space: well_mixed``, the rates of the experiment's ``well_mixed`` section).
"""

from __future__ import annotations

import copy
import difflib
import math
import re
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, ValidationError, model_validator

from cartsim.config import ConfigError, ExperimentConfig, parse_config
from cartsim.config.errors import format_validation_error
from cartsim.config.loading import read_yaml
from cartsim.config.schema import P, Section
from cartsim.odes.cartmath import CARTMATH_SETS, cartmath_parameters
from cartsim.odes.models import MODELS, OdeModel, get_model
from cartsim.odes.solve import DEFAULT_ATOL, DEFAULT_RTOL, MAX_EVALUATIONS

__all__ = ["OdeConfig", "OdeDose", "ParameterValue", "SolverConfig", "apply_ode_overrides", "is_ode_data",
           "load_ode_config", "ode_data_from_experiment", "parse_ode_config", "resolve_ode_data", "switch_model",
           "well_mixed_parameters"]

#: keys only an ODE experiment has (a file with none of them is an agent experiment)
ODE_KEYS = frozenset({"model", "parameter_set", "parameters", "initial", "end_day", "challenges",
                      "solver", "extinction_cells", "record_every_h"})
#: Most rows of an ODE run's time series (100 years at a record every hour is 876,600).
MAX_RECORDS = 1_000_000
#: written into config.yaml with the results, for the record; ignored when the file is read again
RECORD_KEYS = ("cartsim_version",)


def _normalise_unit(unit: str) -> str:
    u = unit.strip().lower().replace(" ", "").replace("*", "·").replace("×", "·").replace("x", "·")
    u = u.replace("cells", "cell").replace("days", "day")
    return re.sub(r"(?<![a-z])d(?![a-z])", "day", u)  # 1/d -> 1/day


class ParameterValue(Section):
    """A parameter value with its unit spelled out; the unit must be the model's own."""

    value: float
    unit: str = Field(min_length=1)


class OdeDose(Section):
    """An impulse: ``cells`` added on ``day``."""

    day: float = P(0.0, "days", "scenario choice", ge=0, le=36500)
    cells: float = P(..., "cells", "scenario choice", ge=0, le=1e15)


class SolverConfig(Section):
    """Numerical settings of :func:`scipy.integrate.solve_ivp`."""

    method: Literal["LSODA", "Radau", "BDF", "RK45", "DOP853"] = P(
        "LSODA", "-", "LSODA switches between stiff and non-stiff methods; Radau/BDF are implicit"
    )
    rtol: float = P(DEFAULT_RTOL, "-", "relative tolerance", gt=0, le=1e-3)
    atol: float = P(DEFAULT_ATOL, "cells", "absolute tolerance", gt=0, le=1.0)
    max_evaluations: int = P(
        MAX_EVALUATIONS, "-", "right-hand-side evaluations allowed before the run stops with an error "
        "(the shipped experiments need at most ~10,000)", ge=1000, le=100_000_000,
    )


class OdeConfig(Section):
    """A reference ODE experiment: model, parameters, initial cells, doses and horizon (days)."""

    name: str = Field("ode", min_length=1, max_length=80)
    description: str = ""
    model: Literal["cartmath", "leon_triana", "kuznetsov"] = P(
        "cartmath", "-", "reference model (docs/reference_models.md)"
    )
    parameter_set: str | None = P(None, "-", "published parameter set of the model; null: the model's default")
    parameters: dict[str, float | ParameterValue] = P(
        {}, "model units", "changes to the parameter set; a number, or {value, unit}"
    )
    initial: dict[str, Annotated[float, Field(ge=0, le=1e15)]] = P(
        {}, "cells", "cells at day 0 by compartment; missing ones from the protocol"
    )
    dosing: list[OdeDose] | None = P(None, "cells", "CAR-T doses; null: the parameter set's protocol")
    challenges: list[OdeDose] = P([], "cells", "tumor cells injected later (re-challenge)")
    end_day: float | None = P(None, "days", "end of the simulation; null: the protocol's", gt=0, le=36500)
    record_every_h: float = P(6.0, "hours", "interval between rows of the time series", gt=0, le=24 * 365)
    extinction_cells: float | None = P(
        None, "cells",
        "a tumor compartment below this is set to 0 for good (null: pure ODE, a tumor can regrow "
        "from a fraction of a cell)",
        gt=0, le=1e6,
    )
    solver: SolverConfig = SolverConfig()

    @model_validator(mode="after")
    def _fits_model(self) -> OdeConfig:
        m = MODELS[self.model]
        if self.parameter_set is not None and self.parameter_set not in m.parameter_sets:
            raise ValueError(
                f"parameter_set: model {m.name} has no set {self.parameter_set!r}; sets are "
                f"{', '.join(m.parameter_sets)}"
            )
        for key, value in self.parameters.items():
            if key not in m.parameter_names:
                hint = _hint(key, m.parameter_names)
                raise ValueError(f"parameters.{key}: model {m.name} has no such parameter{hint}")
            unit = m.parameter(key).unit
            if isinstance(value, ParameterValue) and _normalise_unit(value.unit) != _normalise_unit(unit):
                raise ValueError(
                    f"parameters.{key}.unit: {value.unit!r} is not the unit of {key}; give the value in {unit}"
                )
            number = value.value if isinstance(value, ParameterValue) else float(value)
            problem = m.parameter(key).problem(number)
            if problem:
                raise ValueError(f"parameters.{key}: {problem}")
        for key in self.initial:
            if key not in m.compartment_names:
                hint = _hint(key, m.compartment_names)
                raise ValueError(f"initial.{key}: model {m.name} has no such compartment{hint}")
        records = math.ceil(self.final_day * 24 / self.record_every_h - 1e-9) + 1
        if records > MAX_RECORDS:
            raise ValueError(
                f"record_every_h: a record every {self.record_every_h:g} h over {self.final_day:g} days makes "
                f"{records:,} records, more than {MAX_RECORDS:,}; use record_every_h >= "
                f"{math.ceil(self.final_day * 24 / (MAX_RECORDS - 1) * 1000) / 1000:g}")
        if self.end_day is not None:
            for what, doses in (("dosing", self.dosing or []), ("challenges", self.challenges)):
                for i, d in enumerate(doses):
                    if d.day > self.end_day:
                        raise ValueError(f"{what}[{i}].day: {d.day:g} is after end_day ({self.end_day:g})")
        return self

    # ------------------------------------------------------------------ conveniences
    @property
    def ode_model(self) -> OdeModel:
        return MODELS[self.model]

    def parameter_values(self) -> dict[str, float]:
        """Every parameter value (the set, with this config's changes), in model units."""
        m = self.ode_model
        values = dict(m.parameter_set(self.parameter_set).values)
        for key, v in self.parameters.items():
            values[key] = v.value if isinstance(v, ParameterValue) else float(v)
        return values

    def initial_cells(self) -> dict[str, float]:
        m = self.ode_model
        out = dict(m.parameter_set(self.parameter_set).initial)
        out.update(self.initial)
        return out

    def dose_list(self) -> list[tuple[float, float]]:
        if self.dosing is None:
            return list(self.ode_model.parameter_set(self.parameter_set).dosing)
        return [(d.day, d.cells) for d in self.dosing]

    @property
    def final_day(self) -> float:
        return self.end_day if self.end_day is not None else self.ode_model.parameter_set(self.parameter_set).end_day

    @property
    def infusion_days(self) -> list[float]:
        return sorted({d for d, c in self.dose_list() if c > 0})


def _hint(key: str, valid) -> str:
    close = difflib.get_close_matches(key, list(valid), n=3, cutoff=0.5)
    if close:
        return " (did you mean " + " or ".join(repr(c) for c in close) + "?)"
    return " (valid names: " + ", ".join(valid) + ")"


# ------------------------------------------------------------------------------------ dictionaries
def is_ode_data(data: dict[str, Any]) -> bool:
    """Whether a parsed YAML mapping is an ODE experiment (it has an ODE-only key such as ``model``)
    rather than an agent experiment."""
    return bool(set(data) & ODE_KEYS)


def resolve_ode_data(data: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``data`` with the protocol filled in: parameter set, every parameter value,
    every initial compartment, the dosing and the end day. Left alone where the model or set is
    unknown (validation then names the problem). Protocol doses after an explicit ``end_day``
    are left out (they could not act within the run); doses written in ``data`` are kept and
    validated."""
    data = copy.deepcopy(data)
    model = MODELS.get(data.get("model", "cartmath")) if isinstance(data.get("model", "cartmath"), str) else None
    if model is None:
        return data
    set_name = data.get("parameter_set") or model.default_set
    if not isinstance(set_name, str) or set_name not in model.parameter_sets:
        return data
    pset = model.parameter_sets[set_name]
    data["parameter_set"] = set_name
    # an explicit ``parameters: null`` or ``initial: null`` is left for validation to refuse (a
    # mapping is expected; leave the key out for the protocol's values)
    params = data.get("parameters", {})
    if isinstance(params, dict):
        data["parameters"] = {**{k: v for k, v in pset.values.items()}, **params}
    initial = data.get("initial", {})
    if isinstance(initial, dict):
        data["initial"] = {**dict(pset.initial), **initial}
    if data.get("end_day") is None:
        data["end_day"] = pset.end_day
    if data.get("dosing") is None:
        end = data["end_day"] if isinstance(data["end_day"], (int, float)) else pset.end_day
        data["dosing"] = [{"day": d, "cells": c} for d, c in pset.dosing if d <= end]
    return data


def ode_data_from_experiment(config: ExperimentConfig, model: str = "cartmath",
                             parameter_set: str | None = None) -> dict[str, Any]:
    """An ODE experiment (as a mapping) from an agent experiment.

    Taken from the agent experiment: the initial tumor cells (into ``initial.tumor``), every
    infusion (``dosing``, all products summed: the reference models have one kind of CAR-T),
    ``time.duration_days`` (``end_day``) and ``time.record_every_h``. The biology comes from the
    model's published parameter set, not from the agent parameters, with one exception: an
    experiment with ``space: well_mixed`` runs CARTmath's own terms, so for ``cartmath`` its
    ``well_mixed`` section gives the set and every rate (:func:`well_mixed_parameters`).
    Compartments other than the tumor and the dose compartment keep the set's protocol values;
    the dose compartment starts empty, since the doses come from the agent schedule.
    """
    m = get_model(model)
    rates = well_mixed_parameters(config, parameter_set) if m.name == "cartmath" else None
    if rates is not None:
        parameter_set, values = rates
    pset = m.parameter_set(parameter_set)
    initial = dict(pset.initial)
    initial["tumor"] = float(config.tumor.initial.cells)
    initial[m.dose_compartment] = 0.0
    source = "the well_mixed rates, " if rates is not None else ""
    data = {
        "name": f"{config.name}_{m.name}",
        "description": f"{m.name} ({pset.name}) with {source}the initial tumor and dosing of agent "
        f"experiment '{config.name}'",
        "model": m.name,
        "parameter_set": pset.name,
        "initial": initial,
        "dosing": [{"day": float(d.day), "cells": float(d.cells)} for d in config.dosing],
        "end_day": float(config.time.duration_days),
        "record_every_h": float(config.time.record_every_h),
    }
    if rates is not None:
        data["parameters"] = values
    return data


def well_mixed_parameters(config: ExperimentConfig,
                          parameter_set: str | None = None) -> tuple[str, dict[str, float]] | None:
    """The CARTmath set name and rates (model units) of an agent experiment with ``space: well_mixed``,
    or ``None`` for any other space.

    The rates are those the well-mixed agent model uses (:func:`cartsim.odes.cartmath.cartmath_parameters`):
    the set named by ``well_mixed.parameter_set`` (``cartmath_hdlm2`` is the ODE set ``hdlm2``) with the
    rates the section overrides. ``parameter_set`` (an ODE set name, ``--parameter-set``) replaces the
    file's set; the section's overrides still apply to it, as ``parameters`` do in an ODE experiment.
    """
    if config.space != "well_mixed":
        return None
    wm = config.well_mixed
    if parameter_set is not None and f"cartmath_{parameter_set}" in CARTMATH_SETS:
        wm = wm.model_copy(update={"parameter_set": f"cartmath_{parameter_set}"})
        config = config.model_copy(update={"well_mixed": wm})
    name = wm.parameter_set.removeprefix("cartmath_")
    return name, {k: float(v) for k, v in cartmath_parameters(config).items()}


def apply_ode_overrides(data: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``data`` with ``{"dotted.path": value}`` overrides (``--set``) applied.

    List items are addressed by index (``dosing.0.cells``); mapping sections (``parameters``,
    ``initial``) accept new keys, which validation then checks against the model.
    """
    data = copy.deepcopy(data)
    fields = OdeConfig.model_fields
    for path, value in overrides.items():
        parts = path.split(".")
        if parts[0] not in fields:
            raise ConfigError(f"--set {path}: no setting {parts[0]!r}{_hint(parts[0], sorted(fields))}")
        node: Any = data
        for depth, key in enumerate(parts):
            last = depth == len(parts) - 1
            here = ".".join(parts[: depth + 1])
            if isinstance(node, list):
                if not key.isdigit() or int(key) >= len(node):
                    raise ConfigError(f"--set {path}: {here!r}: index out of range ({len(node)} item(s))")
                key = int(key)
            elif not isinstance(node, dict):
                raise ConfigError(f"--set {path}: {'.'.join(parts[:depth])!r} is a value, not a section")
            if last:
                node[key] = value
            else:
                if isinstance(node, dict) and node.get(key) is None:
                    node[key] = {}
                node = node[key]
    return data


# ------------------------------------------------------------------------------------ validation and loading
def parse_ode_config(data: dict[str, Any], source: str | None = None) -> OdeConfig:
    """Resolve the protocol into ``data`` and validate it; one :class:`ConfigError` lists every problem."""
    try:
        return OdeConfig.model_validate(resolve_ode_data(data))
    except ValidationError as exc:
        raise ConfigError("invalid ODE experiment:\n" + format_validation_error(exc, OdeConfig), source) from None


def switch_model(data: dict[str, Any], model: str, option: str | None = None) -> tuple[dict[str, Any], str | None]:
    """A copy of the ODE experiment ``data`` for ``model``, and a one-line note if that drops anything.

    The file's ``parameter_set``, ``parameters`` and ``initial`` belong to its own model (a set
    name such as ``default`` means another set in another model), so on a change of model they
    are dropped and the new model's protocol fills them in; the dosing, challenges, horizon and
    solver settings are the experiment's and are kept. ``option`` is how the note names the
    change (default ``--model <model>``).
    """
    data = copy.deepcopy(data)
    old = data.get("model", OdeConfig.model_fields["model"].default)
    if old == model:
        return data, None
    data["model"] = model
    dropped = [key for key in ("parameter_set", "parameters", "initial") if data.pop(key, None)]
    if "parameters" in dropped or "initial" in dropped:
        option = option or f"--model {model}"
        return data, f"{option}: using {model}'s own initial state and parameters (the file's are for {old})"
    return data, None


def load_ode_config(
    path: str | Path,
    overrides: dict[str, Any] | None = None,
    *,
    model: str | None = None,
    parameter_set: str | None = None,
    note: Callable[[str], None] | None = None,
) -> OdeConfig:
    """Load an ODE experiment, or derive one from an agent experiment file.

    ``model`` / ``parameter_set`` replace the file's (for an agent experiment they choose the
    reference model, default ``cartmath`` with its default set). A ``model`` override in
    ``overrides`` (``--set model=...``) counts as ``model``. On a change of model the file's
    set, parameters and initial cells are dropped (:func:`switch_model`) and ``note`` is called
    with one line saying so. ``overrides`` are ``--set`` paths of the ODE schema, applied after
    the protocol is filled in.
    """
    overrides = dict(overrides or {})
    option = None
    if model is None and isinstance(overrides.get("model"), str) and overrides["model"] in MODELS:
        model = overrides.pop("model")
        option = f"--set model={model}"
    if model is not None and model not in MODELS:
        raise ConfigError(f"--model {model!r}: unknown model; models are {', '.join(MODELS)}")
    data = read_yaml(path)
    for key in RECORD_KEYS:
        data.pop(key, None)
    source = str(path)
    if is_ode_data(data):
        if model is not None:
            data, message = switch_model(data, model, option)
            if message and note is not None:
                note(message)
        if parameter_set is not None:
            data["parameter_set"] = parameter_set
    else:
        try:
            experiment = parse_config(data, source=source)
        except ConfigError as exc:
            near = sorted({c for k in data for c in difflib.get_close_matches(str(k), ODE_KEYS, n=1, cutoff=0.7)})
            if not near:
                raise
            raise ConfigError(f"{exc}\n(read as an agent experiment: an ODE experiment names its model; "
                              f"did you mean {', '.join(repr(k) for k in near)}?)") from None
        m = MODELS[model or "cartmath"]
        if parameter_set is not None and parameter_set not in m.parameter_sets:
            raise ConfigError(f"--parameter-set {parameter_set!r}: model {m.name} has the sets "
                              f"{', '.join(m.parameter_sets)}", source)
        data = ode_data_from_experiment(experiment, m.name, parameter_set)
    pre = {k: v for k, v in overrides.items() if k in ("model", "parameter_set")}
    data = apply_ode_overrides(data, pre)
    data = resolve_ode_data(data)
    try:
        data = apply_ode_overrides(data, {k: v for k, v in overrides.items() if k not in pre})
    except ConfigError as exc:
        raise ConfigError(str(exc), source) from None
    return parse_ode_config(data, source=source)
