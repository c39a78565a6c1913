"""Results do not depend on the internal time step: outcome distributions at two step sizes agree."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from cartsim import CarTModel, run

from .conftest import small_config

SEEDS = range(16)


def outcomes(dt_min):
    cfg = small_config(
        time={"duration_days": 3, "record_every_h": 6, "dt_min": dt_min},
        tumor={"initial": {"cells": 300}},
        dosing=[{"day": 0.5, "cells": 12, "product": "CAR19", "route": "uniform"}],
    )
    rows = []
    for seed in SEEDS:
        r = run(cfg, seed=seed, snapshots=False)
        mid = r.timeseries.set_index("day").loc[1.5]
        rows.append((mid["tumor_total"], mid["kills_total"], r.summary["peak_cart"], r.summary["peak_IL6_pM"]))
    return np.array(rows, dtype=float)


@pytest.mark.slow
def test_outcomes_agree_at_two_step_sizes():
    auto = CarTModel(small_config()).dt
    fine = auto / 4
    a, b = outcomes(None), outcomes(fine)
    names = ["tumor at day 1.5", "kills by day 1.5", "peak CAR-T", "peak IL-6"]
    for k, name in enumerate(names):
        # same distribution: no significant shift (Welch, 16 vs 16 replicates) ...
        p = stats.ttest_ind(a[:, k], b[:, k], equal_var=False).pvalue
        assert p > 0.01, f"{name}: means differ between dt={auto:.2f} and {fine:.2f} min (p={p:.3g})"
        # ... and the means within 10 % (20 % for the noisy IL-6 peak)
        rel = abs(a[:, k].mean() - b[:, k].mean()) / b[:, k].mean()
        assert rel < (0.2 if k == 3 else 0.1), f"{name}: {a[:, k].mean():.1f} vs {b[:, k].mean():.1f}"


def test_t_cell_speed_does_not_depend_on_step():
    """Mean squared displacement of free CAR-T after 3 h agrees at two step sizes."""
    msd = {}
    for dt in (0.5, 2.5):
        cfg = small_config(tissue={"width": 200, "height": 200}, tumor={"initial": {"cells": 1}},
                           time={"duration_days": 1, "dt_min": dt, "record_every_h": 1}, dosing=[])
        model = CarTModel(cfg, rng=3)
        for x in range(40, 160, 4):
            for y in range(40, 160, 4):
                model.cart.add(x, y, 0, 0.0)
        live = model.cart.live_slots()
        x0, y0 = model.cart.x[live].copy(), model.cart.y[live].copy()
        while model.minutes < 180 - 1e-9:
            model.cart.move(None)
            model.minutes += dt
        d2 = (model.cart.x[live] - x0) ** 2 + (model.cart.y[live] - y0) ** 2
        msd[dt] = d2.mean()
    assert msd[0.5] == pytest.approx(msd[2.5], rel=0.1)
