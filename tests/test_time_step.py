"""Results do not depend on the internal time step: outcome distributions at two step sizes agree."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from cartsim import CarTModel, run

from .conftest import small_config

SEEDS = range(100, 116)


#: every T-cell mechanism that is off by default, switched on (CD4/CD8 doses, memory, PD-1 with a
#: blockade, trogocytosis with fratricide), with rates that make each matter within 3 days
MECHANISMS = {
    "antigens": {"CD19": {"mean_density": 8000.0}},
    "car_t": {"activation_window_h": 6.0, "memory": {"enabled": True, "formation_per_day": 20.0},
              "pd1": {"enabled": True, "induction_per_h": 0.5, "inhibited_kill_fraction": 0.2},
              "trogocytosis": {"enabled": True, "fraction_per_engagement": 0.15}},
    "tumor": {"initial": {"cells": 300}, "pdl1": {"base_per_cell": 10000.0}},
    "treatments": [{"kind": "anti_pd1", "day": 1.0, "duration_days": 1.0, "blockade": 0.5}],
    "dosing": [{"day": 0.5, "cells": 24, "product": "CAR19", "route": "edge", "cd4_fraction": 0.5}],
}


def outcomes(dt_min, mechanisms=False):
    sections = {"tumor": {"initial": {"cells": 300}},
                "dosing": [{"day": 0.5, "cells": 12, "product": "CAR19", "route": "uniform"}]}
    if mechanisms:
        sections = MECHANISMS
    # the mechanisms' runs cost about three times as much: 2 days of them (the peak comes by then)
    days = 2 if mechanisms else 3
    cfg = small_config(time={"duration_days": days, "record_every_h": 6, "dt_min": dt_min}, **sections)
    rows = []
    for seed in SEEDS:
        r = run(cfg, seed=seed, snapshots=False)
        ts = r.timeseries.set_index("day")
        mid = ts.loc[1.5]
        row = [mid["tumor_total"], mid["kills_total"], r.summary["peak_cart"], r.summary["peak_IL6_pM"]]
        if mechanisms:
            row += [ts["cart_memory"].max(), mid["cart_pd1_positive"], mid["cart_cd4"],
                    r.summary["trogocytosis_escapes"] + r.summary["fratricide_kills"]]
        rows.append(row)
    return np.array(rows, dtype=float)


@pytest.mark.slow
@pytest.mark.parametrize("mechanisms", [False, True], ids=["default", "every-mechanism-on"])
def test_outcomes_agree_at_two_step_sizes(mechanisms):
    auto = CarTModel(small_config(**(MECHANISMS if mechanisms else {}))).dt
    fine = auto / 4
    a, b = outcomes(None, mechanisms), outcomes(fine, mechanisms)
    names = ["tumor at day 1.5", "kills by day 1.5", "peak CAR-T", "peak IL-6"]
    if mechanisms:
        names += ["peak memory CAR-T", "PD-1+ CAR-T at day 1.5", "CD4 CAR-T at day 1.5",
                  "trogocytosis escapes + fratricide kills"]
    for k, name in enumerate(names):
        # the same distribution: neither the means (Welch) nor the shapes (Kolmogorov-Smirnov)
        # differ detectably between 16 and 16 replicates; the fixed seeds make this repeatable
        p_mean = stats.ttest_ind(a[:, k], b[:, k], equal_var=False).pvalue
        p_dist = stats.ks_2samp(a[:, k], b[:, k]).pvalue
        assert p_mean > 0.01 and p_dist > 0.01, (
            f"{name}: dt={auto:.2f} min gives {a[:, k].mean():.1f} ± {a[:, k].std():.1f}, "
            f"dt={fine:.2f} min gives {b[:, k].mean():.1f} ± {b[:, k].std():.1f} "
            f"(Welch p={p_mean:.3g}, KS p={p_dist:.3g})"
        )
        # and a systematic bias would show as a shift larger than the noise allows
        se = np.sqrt(a[:, k].var(ddof=1) / len(a) + b[:, k].var(ddof=1) / len(b))
        assert abs(a[:, k].mean() - b[:, k].mean()) < 3 * se + 1e-9


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
            model.cart.move(model.minutes)
            model.minutes += dt
        d2 = (model.cart.x[live] - x0) ** 2 + (model.cart.y[live] - y0) ** 2
        msd[dt] = d2.mean()
    # 900 cells: the standard error of each MSD is ~3 %
    assert msd[0.5] == pytest.approx(msd[2.5], rel=0.1)


@pytest.mark.parametrize("time,car_t,tissue", [
    ({}, {}, {}),
    ({"dt_min": 0.7}, {}, {}),
    ({"record_every_h": 0.05, "duration_days": 1.3}, {}, {}),
    ({"duration_days": 2.7, "record_every_h": 5}, {"kill_rate_per_h": 40, "division_time_h": 3}, {}),
    ({}, {"speed_um_per_min": 45}, {"site_um": 6}),
])
def test_validation_computes_the_models_time_step(time, car_t, tissue):
    from cartsim.config.feasibility import time_step_min

    cfg = small_config(time={"duration_days": 3, "record_every_h": 6, **time}, car_t=car_t,
                       tissue={"width": 30, "height": 30, **tissue})
    assert CarTModel(cfg).dt == time_step_min(cfg)
