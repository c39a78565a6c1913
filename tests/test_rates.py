"""Rate conversions: exact for any step, and consistent between step sizes."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from cartsim import rates


@given(st.floats(1e-6, 10), st.floats(0.01, 10), st.integers(2, 20))
def test_hazard_probability_composes_over_steps(rate, dt, n):
    """Surviving n steps of dt is surviving one step of n·dt: no dependence on the step."""
    p_small = rates.hazard_probability(rate, dt)
    p_big = rates.hazard_probability(rate, n * dt)
    assert math.isclose((1 - p_small) ** n, 1 - p_big, rel_tol=1e-9, abs_tol=1e-12)


@given(st.floats(0.01, 0.99), st.floats(0.05, 2), st.floats(0.01, 1))
def test_encounter_probability_is_step_independent(p, hop_rate, frac):
    """Over one mean contact (1/hop_rate) the binding chance is p, whatever dt."""
    contact = 1 / hop_rate
    dt = frac * contact
    q = rates.encounter_probability_per_step(p, hop_rate, dt)
    assert math.isclose(1 - (1 - q) ** (contact / dt), p, rel_tol=1e-9)


def test_certain_binding_binds_in_one_step():
    assert rates.encounter_probability_per_step(1.0, 0.3, 1.0) == pytest.approx(1.0)
    assert rates.encounter_probability_per_step(0.0, 0.3, 1.0) == 0.0


def test_hop_probability_keeps_mean_speed_and_refuses_too_long_steps():
    r = rates.hop_rate_per_min(5.0, 15.0)
    assert r == pytest.approx(5.0 / (15.0 * rates.MEAN_HOP_SITES))
    assert rates.hop_probability(r, 1.0) == pytest.approx(r)
    with pytest.raises(ValueError, match="dt_min"):
        rates.hop_probability(r, 2.0 / r)


@pytest.mark.parametrize("cv", [0.05, 0.1, 0.3, 0.8])
def test_gamma_cycle_satisfies_euler_lotka(cv):
    """2·E[exp(-rτ)] = 1 with r = ln2/Td: the population doubles every Td."""
    td = 38.6
    k, theta = rates.gamma_cycle_scale(td, cv)
    r = math.log(2) / td
    assert 2 * (1 + r * theta) ** (-k) == pytest.approx(1.0, rel=1e-12)
    assert math.sqrt(k) * theta / (k * theta) == pytest.approx(cv)


def test_choose_dt_respects_limits():
    dt = rates.choose_dt(hop_rate=0.3, hazards_per_min=[0.05])
    assert dt * 0.3 <= 0.8 + 1e-12 and dt * 0.05 <= 0.2 + 1e-12
    assert dt == pytest.approx(math.floor(min(5.0, 0.8 / 0.3, 0.2 / 0.05) * 10) / 10)


def test_persistence_probability():
    assert rates.persistence_probability(0.5, 10.0) == pytest.approx(np.exp(-1 / 5))


@given(dt=st.floats(0.1, 5.0), record_h=st.integers(1, 48), duration_h=st.integers(1, 24 * 60))
def test_fit_step_divides_every_record_interval(dt, record_h, duration_h):
    """Hours of whole records and a whole-hour duration: the step lands on every record and on the end."""
    record, duration = record_h * 60.0, duration_h * 60.0
    step = rates.fit_step(dt, record, duration)
    assert step <= dt + 1e-12
    assert record / step == pytest.approx(round(record / step), abs=1e-6)
    assert duration / step == pytest.approx(round(duration / step), abs=1e-6)
    # no shorter than it must be: the denominator q <= record_h adds fewer than q steps to the
    # ceil(record/dt) of a record, so step >= record/(record/dt + record_h) = 60·dt/(60 + dt)
    assert step >= 60 * dt / (60 + dt) - 1e-9


def test_fit_step_keeps_the_record_step_when_the_end_is_not_a_simple_fraction():
    step = rates.fit_step(2.8, 420.0, 420.0 * (2 + 1 / math.pi))
    assert step == pytest.approx(420 / 150)
