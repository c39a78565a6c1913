"""The one place where physical rates become per-step numbers.

Every process in the model is specified per unit of physical time (see :mod:`cartsim.config.schema`).
The model advances in steps of ``dt`` minutes, and this module converts:

* **hazards** (death, killing, detachment, division, binding) into the probability that the event
  happens within one step, ``1 - exp(-rate·dt)``. This is exact for a Poisson process whatever ``dt``.
* **motility** into the probability of one hop per step, ``rate·dt``. A migrating cell makes at most
  one hop per step, so using the hazard form would lose the hops that would have come second and make
  cells slower at larger steps; ``rate·dt`` keeps the mean hop rate, and so the speed and the
  diffusion coefficient, exact for any ``dt`` with ``rate·dt <= 1`` (:func:`choose_dt` ensures it).
* **per-encounter probabilities** (a CAR binding its antigen during one contact) into per-step
  probabilities with the same total over a contact of any length.

PhysiCell's users found attack rates that silently depended on the mechanics step (PhysiCell issue
223); keeping this conversion in one module, and testing it at two step sizes, avoids that.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np

MINUTES_PER_HOUR = 60.0
MINUTES_PER_DAY = 1440.0

#: Mean hop length on a Moore lattice, in site widths: four hops of 1 and four of √2.
MEAN_HOP_SITES = (4 * 1.0 + 4 * math.sqrt(2.0)) / 8


def per_minute(rate_per_hour: float) -> float:
    return rate_per_hour / MINUTES_PER_HOUR


def hazard_probability(rate_per_min, dt_min: float):
    """Probability that an event with the given hazard (1/min) happens within ``dt_min`` minutes.

    Any one unit of time works as long as both arguments use it (the well-mixed mode passes
    hazards per day and steps in days).
    """
    return -np.expm1(-np.asarray(rate_per_min, dtype=float) * dt_min)


def hop_rate_per_min(speed_um_per_min: float, site_um: float) -> float:
    """Hops per minute that move a cell at ``speed_um_per_min`` across sites ``site_um`` wide."""
    return speed_um_per_min / (MEAN_HOP_SITES * site_um)


def hop_probability(hop_rate: float, dt_min: float) -> float:
    """Probability of a hop within one step (``rate·dt``; see the module docstring for why)."""
    p = hop_rate * dt_min
    if p > 1.0 + 1e-12:
        raise ValueError(
            f"time step {dt_min} min is too long for hops at {hop_rate:.3g}/min; "
            f"use dt_min <= {1 / hop_rate:.3g}"
        )
    return min(p, 1.0)


def persistence_probability(hop_rate: float, persistence_min: float) -> float:
    """Probability that a hop keeps the previous direction: exp(-time between hops / persistence)."""
    return math.exp(-1.0 / (hop_rate * persistence_min))


def encounter_probability_per_step(p_encounter, hop_rate: float, dt_min: float):
    """Per-step binding probability for a contact whose whole-encounter probability is ``p_encounter``.

    An encounter lasts on average one residence time ``1/hop_rate``; spreading the binding
    chance over it as a constant hazard ``-ln(1-p)·hop_rate`` gives the same probability per
    encounter at any ``dt``.
    """
    p = np.clip(np.asarray(p_encounter, dtype=float), 0.0, 1.0)
    # ln(1 - p), -inf where p == 1 (binds at the first step of contact); a masked log instead of
    # np.errstate, which costs more than the arithmetic for the few cells of one step
    log_miss = np.full(p.shape, -np.inf)
    np.log1p(-p, out=log_miss, where=p < 1.0)
    return hazard_probability(-log_miss * hop_rate, dt_min)


def gamma_cycle_scale(doubling_time_h: float, cv: float) -> tuple[float, float]:
    """Shape and scale (hours) of gamma cell-cycle times giving population doubling ``doubling_time_h``.

    For cycle times τ ~ Gamma(k, θ) the Euler-Lotka equation ``2·E[exp(-rτ)] = 1`` gives the
    growth rate ``r = (2^{1/k} - 1)/θ``; we solve for θ so that ``r = ln2 / doubling_time``.
    (Using the mean cycle time as the doubling time would overstate growth by a few percent.)
    """
    k = 1.0 / cv**2
    r = math.log(2.0) / doubling_time_h
    theta = (2.0 ** (1.0 / k) - 1.0) / r
    return k, theta


def choose_dt(
    *,
    hop_rate: float,
    hazards_per_min: list[float],
    max_hop_probability: float = 0.8,
    max_hazard_probability: float = 0.2,
    ceiling_min: float = 5.0,
) -> float:
    """The largest step (minutes, rounded down to 0.1 min) that keeps per-step probabilities small.

    Hops need ``rate·dt <= max_hop_probability``; every hazard needs ``rate·dt <= max_hazard_probability``
    so that two events rarely compete within one step.
    """
    limits = [ceiling_min]
    if hop_rate > 0:
        limits.append(max_hop_probability / hop_rate)
    limits += [max_hazard_probability / h for h in hazards_per_min if h > 0]
    dt = min(limits)
    return max(math.floor(dt * 10) / 10, 0.1)


def fit_step(dt: float, record: float, duration: float, max_denominator: int = 240) -> float:
    """The largest step <= ``dt`` that divides the record interval and, if it can, the last one.

    Records fall every ``record`` until ``duration`` (any one unit of time); when ``duration`` is
    not a multiple of ``record`` the last interval is shorter, and a step that divides it too
    makes the run end exactly at ``duration`` instead of up to one step later. That needs the
    ratio of the two intervals to be a fraction p/q (q <= ``max_denominator``); otherwise the step
    divides the record interval only.
    """
    n = math.ceil(record / dt - 1e-9)
    rest = duration - record * math.floor(duration / record + 1e-9)
    if rest > 1e-9 * record:
        ratio = Fraction(rest / record).limit_denominator(max_denominator)
        if abs(float(ratio) - rest / record) < 1e-9:
            q = ratio.denominator
            n = q * math.ceil(n / q)
    return record / n


def entry_hazard_probability(rate, dt: float):
    """Probability of an event within a step for an individual that appears at a uniform time in it.

    A cell born, formed or converted during a step has a uniformly distributed remainder of it
    left; averaging ``1 - exp(-rate·s)`` over the remainder s gives ``1 - (1 - exp(-rate·dt))/(rate·dt)``:
    about ``rate·dt/2`` for short steps and tending to 1 for long ones. ``rate`` and ``dt`` are in
    reciprocal units of time (e.g. per day and days).
    """
    x = np.asarray(rate, dtype=float) * dt
    with np.errstate(divide="ignore", invalid="ignore"):
        p = 1.0 + np.expm1(-x) / x
    return np.where(x < 1e-6, x / 2 - x * x / 6, p)  # the series where the division loses digits
