"""The compiled tumor event loop agrees with its Python reference; its random deviates are sound."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from cartsim import CarTModel
from cartsim.agents import tumor_kernels as kernels
from cartsim.agents.kernel_random import gamma, lognormal, new_stream, normal

from .conftest import small_config


def test_normal_gamma_lognormal_deviates_follow_their_laws():
    rng = new_stream(np.random.default_rng(11))
    z = np.array([normal(rng) for _ in range(20_000)])
    assert stats.kstest(z, "norm").pvalue > 0.001
    for shape in (0.5, 2.0, 25.0):  # below 1 (boosted), small and large shapes
        g = np.array([gamma(rng, shape, 3.0) for _ in range(20_000)])
        assert stats.kstest(g, stats.gamma(shape, scale=3.0).cdf).pvalue > 0.001, shape
    ln = np.array([lognormal(rng, 1.0, 0.3) for _ in range(20_000)])
    assert stats.kstest(np.log(ln), stats.norm(1.0, 0.3).cdf).pvalue > 0.001


def tumor_only(seed: int, **tumor):
    cfg = small_config(tissue={"width": 60, "height": 60}, dosing=[],
                       tumor={"initial": {"cells": 1}, **tumor}, time={"duration_days": 4, "record_every_h": 24})
    return CarTModel(cfg, rng=seed)


def test_residual_cycle_times_match_the_numpy_rule():
    model = tumor_only(1, doubling_time_h=24.0, cycle_cv=0.3)
    t = model.tumor
    rng = new_stream(np.random.default_rng(5))
    compiled = [kernels.residual_cycle_time(rng, t.k_shape, t.theta_min, t.growth_rate_per_min)
                for _ in range(10_000)]
    assert stats.ks_2samp(compiled, t.residual_cycle_times(10_000)).pvalue > 0.001


def test_compiled_inheritance_keeps_the_mean_and_loses_antigens_at_their_rate():
    rng = new_stream(np.random.default_rng(3))
    n, loss = 20_000, np.array([0.05, 0.0])
    sigma = math.sqrt(math.log1p(0.1**2))  # CV 0.1
    antigen = np.tile([1000.0, 500.0], (n, 1))
    for i in range(n):
        kernels._inherit(antigen, i, i, sigma, loss, rng)
    lost = int((antigen[:, 0] == 0).sum())
    assert abs(lost - n * 0.05) < 4 * math.sqrt(n * 0.05 * 0.95)
    kept = antigen[:, 1]
    assert (kept > 0).all()
    assert kept.mean() == pytest.approx(500.0, rel=0.005)  # sd of the mean 0.07 %
    assert kept.std() / kept.mean() == pytest.approx(0.1, rel=0.05)


def test_the_heap_runs_events_in_time_order_then_by_sequence():
    heap_time, heap_key, meta = np.zeros(64), np.zeros((64, 4), dtype=np.int64), np.zeros(2, dtype=np.int64)
    times = np.random.default_rng(2).choice([1.0, 2.0, 3.0, 4.5], size=40)
    for i, t in enumerate(times):
        kernels.push(heap_time, heap_key, meta, t, i, 0, 0)
    popped = []
    while meta[kernels.SIZE]:
        popped.append((heap_time[0], heap_key[0, 0], heap_key[0, 1]))
        kernels.pop(heap_time, heap_key, meta)
    assert popped == sorted(popped)  # by time, ties by sequence number (queue order)
    assert [p[2] for p in popped] == sorted(range(40), key=lambda i: (times[i], i))


def grow(seed: int, reference: bool, days: float, **tumor) -> tuple[int, int, int]:
    """Tumor growth alone in a 60x60 tissue: (cells, divisions, deaths) after ``days``."""
    cfg = small_config(tissue={"width": 60, "height": 60}, dosing=[],
                       tumor={"initial": {"type": "nodule", "cells": 20}, **tumor},
                       time={"duration_days": days, "record_every_h": 24})
    model = CarTModel(cfg, rng=seed)
    t = model.tumor
    if reference:
        t.process_events = t.process_events_reference  # on this instance only
    model.run()
    return t.count, t.divisions, t._tally[1]


@pytest.mark.parametrize("case", [
    # free growth with baseline death, and a tissue that fills up (contact inhibition and waking)
    {"days": 6.0, "doubling_time_h": 24.0, "death_rate_per_day": 0.1},
    {"days": 14.0, "doubling_time_h": 12.0, "death_rate_per_day": 0.3},
])
def test_compiled_event_loop_and_reference_agree_in_distribution(case):
    days = case.pop("days")
    seeds = range(12)
    compiled = np.array([grow(s, False, days, **case) for s in seeds], dtype=float)
    reference = np.array([grow(100 + s, True, days, **case) for s in seeds], dtype=float)
    for k, what in enumerate(("cells", "divisions", "deaths")):
        a, b = compiled[:, k], reference[:, k]
        # Welch's t-test with a loose level: a real bias (a wrong rate, lost events) moves the
        # means by many standard errors; equal rules fail this only 0.1 % of the time
        assert stats.ttest_ind(a, b, equal_var=False).pvalue > 0.001, (what, a.mean(), b.mean())
        assert a.mean() == pytest.approx(b.mean(), rel=0.15), what


def test_full_tissue_stops_dividing_and_wakes_when_a_site_frees():
    cfg = small_config(tissue={"width": 8, "height": 8}, dosing=[],
                       tumor={"initial": {"cells": 64}, "doubling_time_h": 10.0, "death_rate_per_day": 0.0},
                       time={"duration_days": 2, "record_every_h": 12})
    model = CarTModel(cfg, rng=4)
    model.run()
    t = model.tumor
    assert t.count == 64 and t.quiescent[t.live_slots()].all() and t.divisions == 0
    # a kill frees a site: a neighbour wakes, divides into it within a cycle, and waits again
    centre = int(t.layer[4, 4])
    t.remove(centre, model.minutes)
    assert not t.quiescent[t.live_slots()].all()
    t.process_events(until=model.minutes + 5 * 600)
    assert t.count == 64 and t.divisions == 1 and t.layer[4, 4] >= 0
