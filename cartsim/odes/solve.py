"""Solving a reference ODE model with dose impulses: a pure function in the style of ``solve_ivp``.

A dose is an impulse: at its day, ``cells`` are added to a compartment (CAR-T doses to the model's
``dose_compartment``; a tumor re-challenge to ``tumor``). Between impulse days the model is
integrated by :func:`scipy.integrate.solve_ivp` (LSODA by default, tight tolerances), so every
impulse lands exactly on its day and adds exactly its cells.

Non-negativity: the right-hand side is evaluated at ``max(y, 0)``. Every loss term of these
models is proportional to the population it removes, so the exact solution stays non-negative;
the clip only stops a round-off undershoot of ~``atol`` cells from feeding back (Kuznetsov's
``g + T`` would otherwise vanish for ``T = -g``). Reported values are clipped at 0 as well.

Recorded values are *left-continuous* at impulse times, like an agent run's records: the row of
a dose day shows the state just before that day's doses (an agent run infuses at the start of
the step after that record), and the next row shows their effect.

Optionally (``extinction_cells``) a tumor compartment that falls below that many cells is set to
0 for good: a continuous model otherwise lets a tumor of 1e-9 cells regrow (the "atto-fox"
problem), which a population of whole cells cannot do.

Failures end in :class:`OdeSolverError`, never in a hang: a compartment above ``max_cells``
(default 1e20 cells, :data:`BLOWUP_CELLS`) stops the run as a blow-up (:class:`OdeBlowUpError`);
so do a non-finite right-hand side, more than ``max_evaluations`` right-hand-side evaluations,
and any ``ValueError`` of the integrator itself.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy.integrate import solve_ivp

from cartsim.odes.models import OdeModel, _fmt, get_model

__all__ = ["BLOWUP_CELLS", "DEFAULT_ATOL", "DEFAULT_RTOL", "MAX_EVALUATIONS", "Impulse", "OdeBlowUpError",
           "OdeSolution", "OdeSolverError", "simulate"]

DEFAULT_RTOL = 1e-8
DEFAULT_ATOL = 1e-6  # cells
DEFAULT_RECORD_DAYS = 0.25  # 6 h, the agent model's default record interval
_DAY_EPS = 1e-9  # impulse days closer than this (days) are the same day
#: cells in one compartment beyond which a run is a blow-up. A mouse has ~1e10 cells and a person
#: ~3e13, so no population of these models means anything here; going on would only run into
#: floating-point overflow, where the integrator shrinks its step without end.
BLOWUP_CELLS = 1e20
#: right-hand-side evaluations allowed per run; the shipped experiments need 500-10,000, so this
#: only stops a run that would otherwise go on for minutes (an extremely stiff parameter choice).
MAX_EVALUATIONS = 500_000


class OdeSolverError(RuntimeError):
    """The integrator failed (e.g. parameters that make the system blow up)."""


class OdeBlowUpError(OdeSolverError):
    """A compartment exceeded ``max_cells``: the parameters make the system grow without bound."""


@dataclass(frozen=True)
class Impulse:
    """``cells`` added to ``compartment`` at ``day``."""

    day: float
    compartment: str
    cells: float


@dataclass
class OdeSolution:
    """The trajectory of one simulation.

    Attributes:
        model: the model solved.
        params: the parameter values used (model units).
        t: record times (days).
        y: cells per compartment at those times, shape ``(n_compartments, len(t))``, in the order
            of ``model.compartments``; left-continuous at impulse days (see module docstring).
        kills: cumulative tumor cells killed by effector cells (``∫ kill_rate dt``), cells.
        infused: cumulative cells dosed into the dose compartment before each record time.
        impulses: every impulse applied, in time order.
        nfev: right-hand-side evaluations used.
        extinctions: ``(day, compartment)`` of every extinction applied (``extinction_cells``).
    """

    model: OdeModel
    params: dict[str, float]
    t: np.ndarray
    y: np.ndarray
    kills: np.ndarray
    infused: np.ndarray
    impulses: tuple[Impulse, ...]
    nfev: int = 0
    extinctions: list[tuple[float, str]] = field(default_factory=list)

    def __getitem__(self, name: str) -> np.ndarray:
        """Cells in a compartment (by name, e.g. ``"tumor"``) or a table column (``"cart_total"``)."""
        if name in self.model.compartment_names:
            return self.y[self.model.index(name)]
        df = self.as_dataframe()
        if name in df.columns:
            return df[name].to_numpy()
        raise KeyError(f"no compartment or column {name!r}; compartments are {', '.join(self.model.compartment_names)}")

    @property
    def tumor_total(self) -> np.ndarray:
        return self.y[self.model.indices("tumor")].sum(axis=0)

    @property
    def cart_total(self) -> np.ndarray:
        return self.y[self.model.indices("cart")].sum(axis=0)

    def at(self, day: float, name: str = "tumor") -> float:
        """Value of a compartment or column at a record time (``day`` must be one of ``t``)."""
        hits = np.flatnonzero(np.abs(self.t - day) < 1e-9)
        if not hits.size:
            raise KeyError(f"day {day} is not a record time")
        return float(self[name][hits[0]])

    def as_dataframe(self) -> pd.DataFrame:
        """The time series like an agent run's: ``day``, ``tumor_total``, ``cart_total``, the model's
        own compartments (e.g. ``cart_effector``, ``cart_memory``), ``kills_total``, ``cells_infused``."""
        cols: dict[str, np.ndarray] = {"day": self.t, "tumor_total": self.tumor_total, "cart_total": self.cart_total}
        for i, c in enumerate(self.model.compartments):
            if c.column not in cols:
                cols[c.column] = self.y[i]
        cols["kills_total"] = self.kills
        cols["cells_infused"] = self.infused
        return pd.DataFrame(cols)


# ------------------------------------------------------------------------------------ inputs
def _initial_vector(model: OdeModel, y0) -> np.ndarray:
    n = len(model.compartments)
    if y0 is None:
        return np.zeros(n)
    if isinstance(y0, Mapping):
        out = np.zeros(n)
        for key, value in y0.items():
            out[model.index(key)] = float(value)
    else:
        out = np.asarray(y0, dtype=float).copy()
        if out.shape != (n,):
            raise ValueError(f"y0 needs {n} values ({', '.join(model.compartment_names)}), got shape {out.shape}")
    if not np.all(np.isfinite(out)) or np.any(out < 0):
        raise ValueError(f"initial cells must be finite and >= 0, got {out.tolist()}")
    return out


def _dose_impulses(model: OdeModel, doses) -> list[Impulse]:
    out = []
    for d in doses or ():
        if isinstance(d, Impulse):
            out.append(d)
            continue
        if isinstance(d, Mapping):
            day, cells = d["day"], d["cells"]
        else:
            day, cells = d
        out.append(Impulse(float(day), model.dose_compartment, float(cells)))
    return out


def _record_times(t0: float, t1: float, t_eval) -> np.ndarray:
    if t_eval is None:
        n = int(np.ceil((t1 - t0) / DEFAULT_RECORD_DAYS - 1e-9))
        t = t0 + DEFAULT_RECORD_DAYS * np.arange(n + 1)
        t[-1] = min(t[-1], t1)
        if t[-1] < t1 - _DAY_EPS:
            t = np.append(t, t1)
        return t
    t = np.asarray(t_eval, dtype=float)
    if t.ndim != 1 or t.size == 0 or np.any(np.diff(t) <= 0):
        raise ValueError("t_eval must be a non-empty, strictly increasing 1-D sequence of days")
    if t[0] < t0 - _DAY_EPS or t[-1] > t1 + _DAY_EPS:
        raise ValueError(f"t_eval must lie within t_span ({t0}, {t1})")
    return t


# ------------------------------------------------------------------------------------ solver
def simulate(
    model: str | OdeModel,
    params: Mapping[str, float] | str | None = None,
    y0: Mapping[str, float] | Sequence[float] | None = None,
    t_span: tuple[float, float] | None = None,
    doses: Iterable = (),
    t_eval: Sequence[float] | None = None,
    *,
    impulses: Iterable[Impulse] = (),
    method: str = "LSODA",
    rtol: float = DEFAULT_RTOL,
    atol: float = DEFAULT_ATOL,
    extinction_cells: float | None = None,
    max_cells: float | None = BLOWUP_CELLS,
    max_evaluations: int | None = MAX_EVALUATIONS,
) -> OdeSolution:
    """Solve ``model`` from ``y0`` over ``t_span`` (days) with dose impulses.

    Args:
        model: an :class:`~cartsim.odes.models.OdeModel` or its name (``cartmath``,
            ``leon_triana``, ``kuznetsov``).
        params: a complete parameter mapping (model units), or the name of a published set;
            ``None`` uses the model's default set (``model.params(set, **overrides)`` builds one
            with changes).
        y0: cells at ``t_span[0]`` by compartment name (missing ones are 0), or a vector in the
            order of ``model.compartments``; ``None`` uses the default set's protocol.
        t_span: ``(start_day, end_day)``; ``None`` uses ``(0, end_day)`` of the default set's protocol.
        doses: CAR-T doses as ``(day, cells)`` pairs, ``{"day", "cells"}`` mappings or
            :class:`Impulse` objects; pairs and mappings go into ``model.dose_compartment``.
        t_eval: record times (days, increasing, within ``t_span``); default every 6 h and the end.
        impulses: further impulses into any compartment (e.g. a tumor re-challenge).
        method, rtol, atol: passed to :func:`scipy.integrate.solve_ivp` (``atol`` in cells).
        extinction_cells: if set, a tumor compartment below this many cells is set to 0 for good.
        max_cells: a compartment above this many cells ends the run with :class:`OdeBlowUpError`
            (``None``: no limit).
        max_evaluations: more right-hand-side evaluations than this end the run with
            :class:`OdeSolverError` (``None``: no limit).

    Returns:
        An :class:`OdeSolution` (``.t``, ``.y``, ``.as_dataframe()``).

    Raises:
        OdeSolverError: the system blew up (:class:`OdeBlowUpError`), the right-hand side became
            non-finite, the evaluation budget ran out, or the integrator failed.
    """
    model = get_model(model)
    if params is None or isinstance(params, str):
        p = model.params(params)
    else:
        p = model.check_params(params)
    protocol = model.parameter_set(params if isinstance(params, str) else None)
    if y0 is None:
        y0 = protocol.initial
    if t_span is None:
        t_span = (0.0, protocol.end_day)
    t0, t1 = float(t_span[0]), float(t_span[1])
    if not t1 > t0:
        raise ValueError(f"t_span must increase, got {t_span}")
    y = _initial_vector(model, y0)
    events = sorted(_dose_impulses(model, doses) + list(impulses), key=lambda i: i.day)
    for imp in events:
        model.index(imp.compartment)
        if not (t0 - _DAY_EPS <= imp.day <= t1 + _DAY_EPS):
            raise ValueError(f"impulse on day {imp.day} lies outside t_span ({t0}, {t1})")
        if not np.isfinite(imp.cells) or imp.cells < 0:
            raise ValueError(f"impulse on day {imp.day}: cells must be finite and >= 0, got {imp.cells}")
    times = _record_times(t0, t1, t_eval)
    tumor_idx = model.indices("tumor")
    n = len(model.compartments)
    rhs, kill_rate = model.rhs, model.kill_rate

    evaluations = 0

    def fun(t: float, z: np.ndarray) -> np.ndarray:
        nonlocal evaluations
        evaluations += 1
        if max_evaluations is not None and evaluations > max_evaluations:
            raise _Stop(f"{model.name}: more than {max_evaluations:,} right-hand-side evaluations by day {t:.4g} "
                        f"of {t1:g} (the parameters make the system extremely stiff); try another method "
                        "(Radau, BDF) or a larger evaluation limit")
        cells = np.maximum(z[:n], 0.0)
        with np.errstate(over="ignore", invalid="ignore"):  # reported below, as one clear error
            dz = np.append(rhs(cells, p), kill_rate(cells, p))
        if not np.all(np.isfinite(dz)):
            # an integrator fed inf or NaN shrinks its step without end (the hang this prevents)
            raise _Stop(f"{model.name}: the rates became infinite or undefined on day {t:.4g} "
                        f"(cells {', '.join(f'{c:.3g}' for c in cells)}): the parameters make the system blow up")
        return dz

    def extinct(z: np.ndarray, day: float) -> None:
        if extinction_cells is None:
            return
        for i in tumor_idx:
            if 0.0 < z[i] <= extinction_cells:
                z[i] = 0.0
                extinctions.append((day, model.compartments[i].name))

    out = np.empty((n + 1, times.size))
    state = np.append(y, 0.0)  # compartments, then cumulative kills
    extinctions: list[tuple[float, str]] = []
    nfev = 0
    recorded = 0
    if abs(times[0] - t0) <= _DAY_EPS:
        out[:, 0] = state  # before any impulse of day t0 (left-continuous)
        recorded = 1
    boundaries = [t0] + sorted({e.day for e in events if t0 + _DAY_EPS < e.day < t1 - _DAY_EPS}) + [t1]
    pending = list(events)
    for a, b in zip(boundaries[:-1], boundaries[1:], strict=True):
        while pending and pending[0].day <= a + _DAY_EPS:
            imp = pending.pop(0)
            state[model.index(imp.compartment)] += imp.cells  # exact: the impulse adds its cells
        extinct(state, a)
        start = a
        while True:
            _check_size(model, state[:n], max_cells, start)  # an impulse may have pushed it over
            stops = _blowup_events(n, max_cells) + _extinction_events(tumor_idx, extinction_cells, state)
            failed = f"{model.name}: the solver failed between day {start:g} and {b:g}"
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                try:
                    sol = solve_ivp(fun, (start, b), state, method=method, rtol=rtol, atol=atol,
                                    dense_output=True, events=stops or None)
                except _Stop as exc:
                    raise OdeSolverError(str(exc)) from None
                except ValueError as exc:  # scipy's own checks, e.g. steps that no longer advance in time
                    raise OdeSolverError(f"{failed}: {str(exc).rstrip('.')}{_said(caught)}; the parameters may "
                                         "make the system blow up") from None
            nfev += sol.nfev
            if sol.status == -1:
                raise OdeSolverError(f"{failed}: {str(sol.message).rstrip('.')}{_said(caught)}")
            for w in caught:  # a run that succeeded keeps the integrator's warnings
                warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
            if not np.all(np.isfinite(sol.y)):
                raise OdeSolverError(f"{model.name}: the state became infinite or undefined between day {start:g} "
                                     f"and {b:g}: the parameters make the system blow up")
            if max_cells is not None and sol.status == 1 and sol.t_events[0].size:
                _check_size(model, sol.y_events[0][0][:n], max_cells, float(sol.t_events[0][0]), at_limit=True)
            end = float(sol.t[-1])  # b, or the day a tumor compartment crossed extinction_cells
            k = recorded + int(np.searchsorted(times[recorded:], end + _DAY_EPS, side="right"))
            if k > recorded:
                out[:, recorded:k] = sol.sol(np.clip(times[recorded:k], start, end))
                recorded = k
            state = sol.y[:, -1].copy()
            if sol.status != 1:
                break
            extinct(state, end)
            start = end
            if start >= b - _DAY_EPS:
                break
    if recorded != times.size:  # pragma: no cover - _record_times keeps every time within t_span
        raise OdeSolverError("internal error: not every record time was reached")
    y_out = np.maximum(out[:n], 0.0)
    kills = np.maximum.accumulate(np.maximum(out[n], 0.0))
    infused = np.array([
        sum(e.cells for e in events if e.compartment == model.dose_compartment and e.day < t - _DAY_EPS)
        for t in times
    ])
    return OdeSolution(model, p, times, y_out, kills, infused, tuple(events), nfev, extinctions)


def _said(caught: list[warnings.WarningMessage]) -> str:
    """What the integrator warned about, to add to an error message ("" if nothing)."""
    texts = dict.fromkeys(str(w.message).strip().rstrip(".") for w in caught)
    return f" ({'; '.join(texts)})" if texts else ""


class _Stop(Exception):
    """Raised inside the right-hand side to end an integration that cannot succeed."""


def _check_size(model: OdeModel, cells: np.ndarray, max_cells: float | None, day: float,
                at_limit: bool = False) -> None:
    """Raise :class:`OdeBlowUpError` if a compartment holds more than ``max_cells`` cells on ``day``
    (``at_limit``: the blow-up event found the largest one exactly at the limit)."""
    if max_cells is None:
        return
    i = int(np.argmax(cells))
    if at_limit or cells[i] > max_cells:
        raise OdeBlowUpError(f"{model.name}: {model.compartments[i].name} exceeded {_fmt(max_cells)} cells on day "
                             f"{day:.4g}: the parameters make the system blow up")


def _blowup_events(n: int, max_cells: float | None) -> list:
    """A terminal event for any of the ``n`` compartments rising through ``max_cells`` (always first)."""
    if max_cells is None:
        return []

    def blowup(_t, z):
        return float(np.max(z[:n])) - max_cells

    blowup.terminal = True
    blowup.direction = 1
    return [blowup]


def _extinction_events(tumor_idx: list[int], threshold: float | None, state: np.ndarray) -> list:
    """Terminal events for tumor compartments crossing ``threshold`` downwards."""
    if threshold is None:
        return []
    events = []
    for i in tumor_idx:
        if state[i] <= 0.0:
            continue  # already extinct: nothing can bring it back but an impulse

        def crossing(_t, z, i=i):
            return z[i] - threshold

        crossing.terminal = True
        crossing.direction = -1
        events.append(crossing)
    return events
