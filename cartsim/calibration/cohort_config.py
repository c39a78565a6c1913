"""The ``cohort:`` block of an experiment file: virtual patients drawn from stated distributions.

    cohort:
      patients: 200
      characteristics:
        - {name: tumor_burden, path: tumor.initial.cells, distribution: lognormal, median: 300, gsd: 1.8,
           low: 50, high: 1500}
        - {name: dose, path: dosing.0.cells, distribution: loguniform, low: 60, high: 300}
      published: {response: 0.81, antigen_negative_relapse: 0.74}

Each characteristic sets one or more dotted config paths (as ``--set`` and sweeps do) to a value
drawn for each patient. Distributions and their parameters:

==============  =================================================================
``fixed``       ``value``
``uniform``     ``low``, ``high``
``loguniform``  ``low``, ``high`` (> 0): uniform in the logarithm
``normal``      ``mean``, ``sd``
``lognormal``   ``median``, ``gsd`` (geometric standard deviation, > 1)
``beta``        ``a``, ``b`` (a fraction in [0, 1])
``choice``      ``values`` (equally likely)
==============  =================================================================

``low`` and ``high`` also clip the other continuous distributions (values outside are set to the
bound). Counts (e.g. cells) are rounded to whole numbers.
"""

from __future__ import annotations

import math
from typing import Any, Literal

import numpy as np
from pydantic import Field, model_validator

from cartsim.config.schema import PathsTarget, Section, check_distinct

DISTRIBUTIONS = ("fixed", "uniform", "loguniform", "normal", "lognormal", "beta", "choice")
#: The parameters each distribution needs.
NEEDS = {"fixed": ("value",), "uniform": ("low", "high"), "loguniform": ("low", "high"),
         "normal": ("mean", "sd"), "lognormal": ("median", "gsd"), "beta": ("a", "b"), "choice": ("values",)}


class Characteristic(PathsTarget, Section):
    """One patient characteristic: a config path (or several) and the distribution of its value."""

    name: str = Field(min_length=1, max_length=60, pattern=r"^[A-Za-z0-9_.\-]+$")
    path: str | list[str]
    distribution: Literal["fixed", "uniform", "loguniform", "normal", "lognormal", "beta", "choice"]
    value: float | None = None
    low: float | None = None
    high: float | None = None
    mean: float | None = None
    sd: float | None = Field(None, gt=0)
    median: float | None = Field(None, gt=0)
    gsd: float | None = Field(None, gt=1)
    a: float | None = Field(None, gt=0)
    b: float | None = Field(None, gt=0)
    values: list[float] | None = Field(None, min_length=1)

    @model_validator(mode="after")
    def _check(self) -> Characteristic:
        missing = [k for k in NEEDS[self.distribution] if getattr(self, k) is None]
        if missing:
            raise ValueError(f"distribution '{self.distribution}' needs {', '.join(NEEDS[self.distribution])}; "
                             f"missing {', '.join(missing)}")
        used = set(NEEDS[self.distribution]) | {"low", "high"}
        extra = [k for k in ("value", "mean", "sd", "median", "gsd", "a", "b", "values")
                 if getattr(self, k) is not None and k not in used]
        if extra:
            raise ValueError(f"distribution '{self.distribution}' takes {', '.join(NEEDS[self.distribution])}"
                             f" (and low/high to clip), not {', '.join(extra)}")
        for k in ("value", "low", "high", "mean", "median"):
            v = getattr(self, k)
            if v is not None and not math.isfinite(v):
                raise ValueError(f"{k} must be a finite number")
        if self.low is not None and self.high is not None and not self.low < self.high:
            raise ValueError(f"empty range: low ({self.low:g}) must be below high ({self.high:g})")
        if self.distribution == "loguniform" and self.low <= 0:
            raise ValueError("distribution 'loguniform' needs low > 0")
        if isinstance(self.path, list) and not self.path:
            raise ValueError("path: give at least one dotted config path")
        return self

    def draw(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """``n`` values (clipped to low/high where given)."""
        d = self.distribution
        if d == "fixed":
            x = np.full(n, float(self.value))
        elif d == "uniform":
            x = rng.uniform(self.low, self.high, n)
        elif d == "loguniform":
            x = np.exp(rng.uniform(math.log(self.low), math.log(self.high), n))
        elif d == "normal":
            x = rng.normal(self.mean, self.sd, n)
        elif d == "lognormal":
            x = self.median * np.exp(rng.normal(0.0, math.log(self.gsd), n))
        elif d == "beta":
            x = rng.beta(self.a, self.b, n)
        else:
            x = np.asarray(self.values, float)[rng.integers(0, len(self.values), n)]
        lo = -np.inf if self.low is None else self.low
        hi = np.inf if self.high is None else self.high
        return np.clip(x, lo, hi)


class OutcomeSpec(Section):
    """Which run summary metrics count as response and relapse (:mod:`cartsim.summary`)."""

    response: Literal["responded", "eradicated"] = "responded"


class PublishedRates(Section):
    """Rates of a published trial to show beside the cohort's (fractions); all optional."""

    trial: str = "published trial"
    response: float | None = Field(None, ge=0, le=1)
    relapse: float | None = Field(None, ge=0, le=1)
    antigen_negative_relapse: float | None = Field(None, ge=0, le=1)


class CohortSpec(Section):
    """The ``cohort:`` block (see the module docstring)."""

    patients: int = Field(100, ge=1, le=1_000_000)
    seed: int | None = Field(None, ge=0, description="default: the experiment's seed")
    characteristics: list[Characteristic] = Field(min_length=1, max_length=30)
    outcomes: OutcomeSpec = OutcomeSpec()
    published: PublishedRates | None = None

    @model_validator(mode="after")
    def _unique(self) -> CohortSpec:
        check_distinct(self.characteristics, "characteristics", twice="a config path is set by two characteristics")
        return self


def as_config_value(x: float, default: Any) -> Any:
    return int(round(x)) if isinstance(default, int) and not isinstance(default, bool) else float(x)
