"""Published well-mixed ODE models of CAR-T (or effector) cells against a tumor, with their parameter sets.

Each model is an :class:`OdeModel`: its compartments (cell populations, counted in cells), its
parameters (name, unit, meaning), its right-hand side ``rhs(y, p)`` (cells/day) and the published
parameter sets with the protocol each was fitted to. Time is in days throughout.

* **CARTmath** (Barros et al. 2021, Cancers 13:2941): effector CAR-T ``C_T``, memory CAR-T
  ``C_M``, tumor ``T``. Two fitted sets: Raji lymphoma / CD19 CAR-T (``raji``) and HDLM-2
  Hodgkin lymphoma / CD123 CAR-T (``hdlm2``), both in NSG mice.
* **León-Triana et al. 2021** (Commun Nonlinear Sci Numer Simul 94:105570): CAR-T ``C``,
  leukemic B cells ``L``, healthy B cells ``B`` (also CD19+, so they stimulate CAR-T too).
* **Kuznetsov et al. 1994** (Bull Math Biol 56:295): immune effector cells ``E`` and tumor ``T``
  (BCL1 lymphoma in chimeric mice); the classic bistable tumor-immune model.

Doses are impulses added to the model's ``dose_compartment`` (:mod:`cartsim.odes.solve`).
The equations are written out, with their sources, in ``docs/reference_models.md``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np

__all__ = ["CARTMATH", "KUZNETSOV", "LEON_TRIANA", "MODELS", "Compartment", "OdeModel", "Parameter",
           "ParameterSet", "get_model", "parameters_markdown"]


@dataclass(frozen=True)
class Compartment:
    """One cell population of a model.

    ``name`` is the key used in configs (``initial.<name>``); ``column`` the time-series column;
    ``kind`` says whether it counts towards ``tumor_total``, ``cart_total`` or neither.
    """

    name: str
    symbol: str
    column: str
    kind: str  # "tumor", "cart" or "other"
    meaning: str


@dataclass(frozen=True)
class Parameter:
    """One model parameter, in the model's units.

    Every parameter of these models is a rate, a lifetime, an influx or a number of cells, so a
    value must be finite and >= 0: a negative rate turns a loss term into a gain and lets a
    population go below zero. ``positive`` parameters must also be > 0, because the equations
    divide by them (a lifetime τ in ``C/τ``, Kuznetsov's ``g`` in ``T/(g + T)``). ``kind`` says
    what the value is, for messages ("a lifetime").
    """

    name: str
    symbol: str
    unit: str
    meaning: str
    kind: str = "a rate"
    positive: bool = False

    @property
    def bound(self) -> str:
        """The allowed range, e.g. ``>= 0``."""
        return "> 0" if self.positive else ">= 0"

    def problem(self, value: float) -> str | None:
        """Why ``value`` cannot be used for this parameter, or ``None`` if it can."""
        what = f"{self.kind} in {self.unit}; got {value:g}"
        if not math.isfinite(value):
            return f"must be a finite number ({what})"
        if value < 0 or (self.positive and value == 0):
            return f"must be {self.bound} ({what})"
        return None


@dataclass(frozen=True)
class ParameterSet:
    """Published parameter values and the protocol they were fitted to (or shown with)."""

    name: str
    title: str
    values: Mapping[str, float]
    source: str
    initial: Mapping[str, float]  # cells at day 0, by compartment name
    dosing: tuple[tuple[float, float], ...]  # (day, cells) impulses into the dose compartment
    end_day: float
    note: str = ""


@dataclass(frozen=True)
class OdeModel:
    """A well-mixed model: compartments, parameters, right-hand side and published parameter sets.

    ``rhs(y, p)`` returns dy/dt (cells/day) for the compartment vector ``y`` (cells, in the order
    of ``compartments``) and the parameter mapping ``p``; ``kill_rate(y, p)`` is the rate at which
    effector cells kill tumor cells (cells/day), integrated into the ``kills_total`` column.
    """

    name: str
    title: str
    reference: str
    equations: tuple[str, ...]
    compartments: tuple[Compartment, ...]
    parameters: tuple[Parameter, ...]
    dose_compartment: str
    rhs: Callable[[np.ndarray, Mapping[str, float]], np.ndarray]
    kill_rate: Callable[[np.ndarray, Mapping[str, float]], float]
    parameter_sets: Mapping[str, ParameterSet]
    default_set: str
    notes: tuple[str, ...] = field(default_factory=tuple)

    # ------------------------------------------------------------------ look-ups
    @property
    def compartment_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.compartments)

    @property
    def parameter_names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.parameters)

    def index(self, compartment: str) -> int:
        """Position of ``compartment`` in the state vector."""
        try:
            return self.compartment_names.index(compartment)
        except ValueError:
            raise KeyError(
                f"model {self.name} has no compartment {compartment!r}; "
                f"compartments are {', '.join(self.compartment_names)}"
            ) from None

    def indices(self, kind: str) -> list[int]:
        return [i for i, c in enumerate(self.compartments) if c.kind == kind]

    def parameter(self, name: str) -> Parameter:
        for p in self.parameters:
            if p.name == name:
                return p
        raise KeyError(f"model {self.name} has no parameter {name!r}; parameters are {', '.join(self.parameter_names)}")

    def parameter_set(self, name: str | None = None) -> ParameterSet:
        name = self.default_set if name is None else name
        try:
            return self.parameter_sets[name]
        except KeyError:
            raise KeyError(
                f"model {self.name} has no parameter set {name!r}; sets are {', '.join(self.parameter_sets)}"
            ) from None

    def params(self, parameter_set: str | None = None, **overrides: float) -> dict[str, float]:
        """A complete parameter mapping: a published set (default: ``default_set``) plus overrides."""
        values = dict(self.parameter_set(parameter_set).values)
        for key, value in overrides.items():
            self.parameter(key)  # raises on an unknown name
            values[key] = float(value)
        return values

    def check_params(self, params: Mapping[str, float]) -> dict[str, float]:
        """``params`` as a plain dict of floats; unknown or missing names raise ``KeyError``, a value
        out of its parameter's range (:meth:`Parameter.problem`) raises ``ValueError``."""
        unknown = sorted(set(params) - set(self.parameter_names))
        missing = [n for n in self.parameter_names if n not in params]
        if unknown or missing:
            raise KeyError(
                f"model {self.name}: "
                + (f"unknown parameter(s) {', '.join(unknown)}; " if unknown else "")
                + (f"missing parameter(s) {', '.join(missing)}; " if missing else "")
                + f"parameters are {', '.join(self.parameter_names)}"
            )
        values = {n: float(params[n]) for n in self.parameter_names}
        for p in self.parameters:
            problem = p.problem(values[p.name])
            if problem:
                raise ValueError(f"model {self.name}: parameter {p.name} {problem}")
        return values


# =========================================================================================
# CARTmath (Barros et al. 2021)
# =========================================================================================
def _cartmath_rhs(y: np.ndarray, p: Mapping[str, float]) -> np.ndarray:
    c_t, c_m, t = y
    return np.array([
        (p["phi"] - p["rho"]) * c_t + p["theta"] * t * c_m - p["alpha"] * t * c_t,
        p["epsilon"] * c_t - p["theta"] * t * c_m - p["mu"] * c_m,
        p["r"] * t * (1.0 - p["b"] * t) - p["gamma"] * c_t * t,
    ])


def _cartmath_kills(y: np.ndarray, p: Mapping[str, float]) -> float:
    return p["gamma"] * y[0] * y[2]


_CARTMATH_SOURCE = (
    "Barros et al. 2021, Cancers 13:2941, fitted values; identical to the defaults of the authors' "
    "CARTmath app"
)

CARTMATH = OdeModel(
    name="cartmath",
    title="CARTmath: effector and memory CAR-T against a tumor",
    reference="Barros LRC, Paixão EA, Valli AMP, Naozuka GT, Fassoni AC, Almeida RC (2021). "
    "CARTmath—A mathematical model of CAR-T immunotherapy in preclinical studies of hematological "
    "cancers. Cancers 13(12):2941.",
    equations=(
        "dC_T/dt = (φ − ρ)·C_T + θ·T·C_M − α·T·C_T",
        "dC_M/dt = ε·C_T − θ·T·C_M − μ·C_M",
        "dT/dt   = r·T·(1 − b·T) − γ·C_T·T",
    ),
    compartments=(
        Compartment("cart_effector", "C_T", "cart_effector", "cart", "effector CAR-T cells (doses enter here)"),
        Compartment("cart_memory", "C_M", "cart_memory", "cart", "memory CAR-T cells"),
        Compartment("tumor", "T", "tumor_total", "tumor", "tumor cells"),
    ),
    parameters=(
        Parameter("r", "r", "1/day", "tumor growth rate"),
        Parameter("b", "b", "1/cell", "inverse of the tumor carrying capacity", "an inverse carrying capacity"),
        Parameter("gamma", "γ", "1/(cell·day)", "killing of tumor cells by effector CAR-T"),
        Parameter("phi", "φ", "1/day", "effector CAR-T expansion"),
        Parameter("rho", "ρ", "1/day", "effector CAR-T reduction (death and differentiation into memory)"),
        Parameter("alpha", "α", "1/(cell·day)", "inhibition of effector CAR-T by tumor cells"),
        Parameter("epsilon", "ε", "1/day", "conversion of effector into memory CAR-T"),
        Parameter("mu", "μ", "1/day", "memory CAR-T death"),
        Parameter("theta", "θ", "1/(cell·day)", "conversion of memory into effector CAR-T on tumor contact"),
    ),
    dose_compartment="cart_effector",
    rhs=_cartmath_rhs,
    kill_rate=_cartmath_kills,
    parameter_sets={
        "raji": ParameterSet(
            name="raji",
            title="Raji B-cell lymphoma, CD19 CAR-T (CAR-T19), NSG mice",
            values={
                "r": 0.5071721, "b": 0.0, "gamma": 3.365388e-8, "phi": 0.83, "rho": 0.8300536,
                "alpha": 1.248506e-8, "epsilon": 1.59795, "mu": 6.89e-7, "theta": 2.3e-4,
            },
            source=_CARTMATH_SOURCE,
            initial={"cart_effector": 0.0, "cart_memory": 0.0, "tumor": 3e6},
            dosing=((7.0, 1e7),),
            end_day=15.0,
            note="3e6 Raji cells at day 0, 1e7 CAR-T19 at day 7, read at day 15. b = 0: exponential growth.",
        ),
        "hdlm2": ParameterSet(
            name="hdlm2",
            title="HDLM-2 Hodgkin lymphoma, CD123 CAR-T (CAR-T123), NSG mice",
            values={
                "r": 0.05650026, "b": 1.404029e-12, "gamma": 3.715843e-6, "phi": 0.265, "rho": 0.35,
                "alpha": 4.5e-8, "epsilon": 0.15, "mu": 5.0e-3, "theta": 6.0e-6,
            },
            source=_CARTMATH_SOURCE,
            initial={"cart_effector": 0.0, "cart_memory": 0.0, "tumor": 2e6},
            dosing=((42.0, 1.5e6),),
            end_day=200.0,
            note="2e6 HDLM-2 cells at day 0, 1.5e6 CAR-T123 at day 42, 200 days (the paper also shows "
            "0.5e6 and 0.2e6).",
        ),
    },
    default_set="raji",
    notes=(
        "φ − ρ is the net effector expansion without tumor; in the Raji set it is −5.36e-5/day, so "
        "effector cells barely decline once the tumor is gone.",
    ),
)


# =========================================================================================
# León-Triana et al. 2021
# =========================================================================================
def _leon_rhs(y: np.ndarray, p: Mapping[str, float]) -> np.ndarray:
    c, leuk, b = y
    return np.array([
        p["rho_C"] * (leuk + b) * c - c / p["tau_C"],
        p["rho_L"] * leuk - p["alpha"] * leuk * c,
        -p["alpha"] * b * c - b / p["tau_B"],
    ])


def _leon_kills(y: np.ndarray, p: Mapping[str, float]) -> float:
    return p["alpha"] * y[1] * y[0]  # leukemic cells only; healthy B cells are not tumor


_ALPHA_LT = 4.5e-11

LEON_TRIANA = OdeModel(
    name="leon_triana",
    title="León-Triana et al.: CAR-T, leukemic and healthy B cells",
    reference="León-Triana O, Sabir S, Calvo GF, Belmonte-Beitia J, Chulián S, Martínez-Rubio Á, "
    "Rosa M, Pérez-Martínez A, Ramírez-Orellana M, Pérez-García VM (2021). CAR T cell therapy in "
    "B-cell acute lymphoblastic leukaemia: insights from mathematical models. Commun Nonlinear "
    "Sci Numer Simul 94:105570.",
    equations=(
        "dC/dt = ρ_C·(L + B)·C − C/τ_C",
        "dL/dt = ρ_L·L − α·L·C",
        "dB/dt = −α·B·C − B/τ_B",
    ),
    compartments=(
        Compartment("cart", "C", "cart_total", "cart", "CAR-T cells (doses enter here)"),
        Compartment("tumor", "L", "tumor_total", "tumor", "leukemic (CD19+) B cells"),
        Compartment("bcells", "B", "bcells_healthy", "other", "healthy (CD19+) B cells"),
    ),
    parameters=(
        Parameter("alpha", "α", "1/(cell·day)", "killing of CD19+ cells by CAR-T"),
        Parameter("rho_C", "ρ_C", "1/(cell·day)", "CAR-T expansion per CD19+ cell encountered"),
        Parameter("tau_C", "τ_C", "days", "mean CAR-T lifetime", "a lifetime", positive=True),
        Parameter("rho_L", "ρ_L", "1/day", "leukemic cell growth rate"),
        Parameter("tau_B", "τ_B", "days", "mean lifetime of healthy B cells", "a lifetime", positive=True),
    ),
    dose_compartment="cart",
    rhs=_leon_rhs,
    kill_rate=_leon_kills,
    parameter_sets={
        "default": ParameterSet(
            name="default",
            title="B-ALL patient, CD19 CAR-T (the paper's reference values)",
            values={"alpha": _ALPHA_LT, "rho_C": _ALPHA_LT / 4, "tau_C": 14.0, "rho_L": 1 / 30, "tau_B": 60.0},
            source="León-Triana et al. 2021 (ρ_C = α/4 as in the paper)",
            initial={"cart": 0.0, "tumor": 5e10, "bcells": 2.5e10},
            dosing=((0.0, 1e7),),
            end_day=120.0,
            note="C0 = 1e7 CAR-T, L0 = 5e10, B0 = 2.5e10 (C0 given here as a dose at day 0); the "
            "120-day horizon is a scenario choice.",
        ),
    },
    default_set="default",
    notes=(
        "Healthy B cells are CD19+ like the leukemia: they stimulate CAR-T expansion and are killed "
        "(B-cell aplasia); they are not counted in tumor_total.",
    ),
)


# =========================================================================================
# Kuznetsov et al. 1994
# =========================================================================================
def _kuznetsov_rhs(y: np.ndarray, p: Mapping[str, float]) -> np.ndarray:
    e, t = y
    return np.array([
        p["s"] + p["p"] * e * t / (p["g"] + t) - p["m"] * e * t - p["d"] * e,
        p["a"] * t * (1.0 - p["b"] * t) - p["n"] * e * t,
    ])


def _kuznetsov_kills(y: np.ndarray, p: Mapping[str, float]) -> float:
    return p["n"] * y[0] * y[1]


_KUZ = {"s": 1.3e4, "p": 0.1245, "g": 2.019e7, "m": 3.422e-10, "d": 0.0412, "a": 0.18, "b": 2.0e-9, "n": 1.101e-7}

KUZNETSOV = OdeModel(
    name="kuznetsov",
    title="Kuznetsov et al.: immune effector cells against an immunogenic tumor",
    reference="Kuznetsov VA, Makalkin IA, Taylor MA, Perelson AS (1994). Nonlinear dynamics of "
    "immunogenic tumors: parameter estimation and global bifurcation analysis. Bull Math Biol "
    "56(2):295-321.",
    equations=(
        "dE/dt = s + p·E·T/(g + T) − m·E·T − d·E",
        "dT/dt = a·T·(1 − b·T) − n·E·T",
    ),
    compartments=(
        Compartment("effector", "E", "cart_total", "cart",
                    "immune effector cells (cytotoxic T cells; play the CAR-T role; doses enter here)"),
        Compartment("tumor", "T", "tumor_total", "tumor", "tumor cells"),
    ),
    parameters=(
        Parameter("s", "s", "cells/day", "influx of effector cells", "an influx"),
        Parameter("p", "p", "1/day", "maximal tumor-stimulated effector proliferation"),
        Parameter("g", "g", "cells", "tumor size of half-maximal stimulation", "a tumor size",
                  positive=True),
        Parameter("m", "m", "1/(cell·day)", "inactivation of effector cells by tumor cells"),
        Parameter("d", "d", "1/day", "effector cell death"),
        Parameter("a", "a", "1/day", "tumor growth rate"),
        Parameter("b", "b", "1/cell", "inverse of the tumor carrying capacity", "an inverse carrying capacity"),
        Parameter("n", "n", "1/(cell·day)", "killing of tumor cells by effector cells"),
    ),
    dose_compartment="effector",
    rhs=_kuznetsov_rhs,
    kill_rate=_kuznetsov_kills,
    parameter_sets={
        "default": ParameterSet(
            name="default",
            title="BCL1 lymphoma in the spleen of chimeric mice (the paper's estimates)",
            values=dict(_KUZ),
            source="Kuznetsov et al. 1994, estimated from BCL1 lymphoma data",
            initial={"effector": _KUZ["s"] / _KUZ["d"], "tumor": 1e6},
            dosing=(),
            end_day=1000.0,
            note="Effector cells start at their tumor-free level s/d; 1e6 tumor cells settle into the "
            "dormant state (~8.2e6 cells) through damped oscillations. Initial state and horizon are a "
            "scenario choice.",
        ),
    },
    default_set="default",
    notes=(
        "Bistable: a dormant state (E ≈ 1.61e6, T ≈ 8.19e6, stable focus) and an escaped state "
        "(E ≈ 1.73e5, T ≈ 4.47e8, stable node) are separated by a saddle (E ≈ 7.59e5, T ≈ 2.68e8).",
    ),
)


MODELS: dict[str, OdeModel] = {m.name: m for m in (CARTMATH, LEON_TRIANA, KUZNETSOV)}


def get_model(model: str | OdeModel) -> OdeModel:
    """The model of that name (or the model itself)."""
    if isinstance(model, OdeModel):
        return model
    try:
        return MODELS[model]
    except KeyError:
        raise KeyError(f"unknown ODE model {model!r}; models are {', '.join(MODELS)}") from None


def _fmt(value: float) -> str:
    """Shortest faithful form: 0.83, 14, 3e6, 2.3e-4, 1.404029e-12."""
    if value == 0:
        return "0"
    if 1e-3 <= abs(value) < 1e5:
        return f"{value:.7g}"
    mant, exp = f"{value:.7e}".split("e")
    mant = mant.rstrip("0").rstrip(".")
    return f"{mant}e{int(exp)}"


def parameters_markdown() -> str:
    """The parameter tables of every model and set (embedded in docs/reference_models.md)."""
    lines: list[str] = []
    for model in MODELS.values():
        sets = list(model.parameter_sets.values())
        lines += [f"### `{model.name}` parameters", ""]
        lines.append("| parameter | unit | allowed | meaning | " + " | ".join(f"`{s.name}`" for s in sets) + " |")
        lines.append("|---|---|---|---|" + "---|" * len(sets))
        for p in model.parameters:
            vals = " | ".join(_fmt(s.values[p.name]) for s in sets)
            lines.append(f"| `{p.name}` ({p.symbol}) | {p.unit} | {p.bound}, finite | {p.meaning} | {vals} |")
        lines.append("")
        for s in sets:
            init = ", ".join(f"{k} = {_fmt(v)}" for k, v in s.initial.items())
            doses = ", ".join(f"{_fmt(c)} cells on day {_fmt(d)}" for d, c in s.dosing) or "none"
            lines.append(f"- `{s.name}`: {s.title}. Initial cells: {init}; doses: {doses}; "
                         f"end day {_fmt(s.end_day)}. Source: {s.source}.")
        lines.append("")
    return "\n".join(lines)
