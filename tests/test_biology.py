"""Cell rules checked on minimal scenes with fixed seeds and honest statistical tolerances."""

from __future__ import annotations

import math

import numpy as np
import pytest

from cartsim import CarTModel, run
from cartsim.agents.cart import ENGAGED, EXHAUSTED

from .conftest import small_config


def no_dose(**kw):
    return small_config(dosing=[], **kw)


# ----------------------------------------------------------------------------- antigens
def test_antigen_loss_frequency_matches_probability():
    model = CarTModel(no_dose(antigens={"CD19": {"loss_probability": 0.05}}), rng=1)
    parent = np.array([20000.0])
    lost = sum(model.tumor.inherit(parent)[0] == 0 for _ in range(20000))
    # binomial(20000, 0.05): sd ≈ 31; 4 sd tolerance
    assert abs(lost - 1000) < 4 * math.sqrt(20000 * 0.05 * 0.95)


def test_lost_antigen_never_returns_and_density_is_inherited():
    model = CarTModel(no_dose(antigens={"CD19": {"loss_probability": 0.0}}), rng=2)
    assert model.tumor.inherit(np.array([0.0]))[0] == 0.0
    d = np.array([model.tumor.inherit(np.array([1000.0]))[0] for _ in range(5000)])
    assert d.mean() == pytest.approx(1000.0, rel=0.01)  # log-normal noise keeps the mean
    assert d.std() / d.mean() == pytest.approx(0.1, rel=0.1)


def test_initial_densities_and_negative_fraction():
    model = CarTModel(no_dose(antigens={"CD19": {"mean_density": 5000, "cv": 0.5, "negative_fraction": 0.2}}), rng=3)
    d = model.tumor.initial_densities(20000)[:, 0]
    neg = np.mean(d == 0)
    assert abs(neg - 0.2) < 4 * math.sqrt(0.2 * 0.8 / 20000)
    pos = d[d > 0]
    assert pos.mean() == pytest.approx(5000, rel=0.02)
    assert pos.std() / pos.mean() == pytest.approx(0.5, rel=0.05)


def test_escape_selects_antigen_negative_cells_under_treatment():
    """With killing, CD19-negative cells (pre-existing or from loss) take over the tumor."""
    cfg = small_config(
        antigens={"CD19": {"negative_fraction": 0.05, "loss_probability": 0.01}},
        time={"duration_days": 8, "record_every_h": 12},
        dosing=[{"day": 0.5, "cells": 150, "product": "CAR19", "route": "uniform"}],
    )
    r = run(cfg, seed=1, snapshots=False)
    first, last = r.timeseries.iloc[0], r.timeseries.iloc[-1]
    assert first["tumor_CD19-"] / first["tumor_total"] < 0.1
    assert last["tumor_CD19-"] / last["tumor_total"] > 0.9


# ----------------------------------------------------------------------------- tumor growth
@pytest.mark.parametrize("doubling_time_h", [24.0, 60.0])
def test_free_growth_follows_doubling_time(doubling_time_h):
    """Dispersed cells with space and no death grow as 2^(t/Td) (mean of replicates, within 5 %)."""
    cfg = small_config(
        tissue={"width": 120, "height": 120},
        tumor={"death_rate_per_day": 0.0, "doubling_time_h": doubling_time_h,
               "initial": {"type": "dispersed", "cells": 150}},
        time={"duration_days": 6 * doubling_time_h / 38.6, "record_every_h": 24},
        dosing=[],
    )
    rates_fit = []
    for seed in range(4):
        ts = run(cfg, seed=seed, snapshots=False).timeseries
        t = ts["day"].to_numpy()
        rates_fit.append(np.polyfit(t, np.log(ts["tumor_total"].to_numpy()), 1)[0])
    expected = math.log(2) / (doubling_time_h / 24)
    assert np.mean(rates_fit) == pytest.approx(expected, rel=0.05)


def test_contact_inhibition_keeps_one_cell_per_site_and_rim_growth():
    cfg = small_config(tumor={"initial": {"type": "nodule", "cells": 300}}, dosing=[],
                       time={"duration_days": 4, "record_every_h": 24})
    model = CarTModel(cfg, rng=1)
    model.run()
    assert model.tumor.quiescent[model.tumor.live_slots()].any()
    # the nodule stays compact: every live cell has at least one tumor neighbour
    t = model.tissue
    occupied = t.tumor >= 0
    padded = np.pad(occupied, 1)
    neighbours = sum(np.roll(np.roll(padded, dx, 0), dy, 1) for dx in (-1, 0, 1) for dy in (-1, 0, 1)
                     if (dx, dy) != (0, 0))[1:-1, 1:-1]
    assert np.all(neighbours[occupied] >= 1)


@pytest.mark.parametrize("leaves_by", ["moving", "dying"])
def test_tumor_cell_hemmed_in_by_t_cells_divides_once_they_leave(leaves_by):
    """T cells that hold their site against tumor cells block a division only while they stay.

    One antigen-negative tumor cell (never bound) in the middle of a 9×9 tissue, ringed by 8 CAR-T
    cells, becomes contact-inhibited. The ring then walks away, or dies, and the tumor cell must
    take up its cycle again instead of waiting for a neighbouring tumor cell to die.
    """
    cfg = small_config(
        tissue={"width": 9, "height": 9, "tcells_squeeze_past_tumor": False},
        tumor={"initial": {"cells": 1}, "doubling_time_h": 24, "death_rate_per_day": 0},
        antigens={"CD19": {"negative_fraction": 1.0}},
        car_t={"lifespan_days": 1000 if leaves_by == "moving" else 0.01},
        time={"duration_days": 3, "record_every_h": 6}, dosing=[],
    )
    model = CarTModel(cfg, rng=3)
    (slot,) = model.tumor.live_slots()
    assert (model.tumor.x[slot], model.tumor.y[slot]) == (4, 4)
    for dx in (-1, 0, 1):
        for dy in (-1, 0, 1):
            if (dx, dy) != (0, 0):
                model.cart.add(4 + dx, 4 + dy, 0, model.minutes)
    model.tumor.divide(slot, model.minutes)
    assert model.tumor.quiescent[slot] and model.tumor.count == 1
    model.run()
    assert model.tumor.count >= 4  # 3 days at a 24 h doubling time: ~8 cells once free


# ----------------------------------------------------------------------------- CAR-T
@pytest.mark.parametrize("lifespan_days", [5.0, 8.6])
def test_cart_lifespan_without_tumor(lifespan_days):
    cfg = small_config(
        tissue={"width": 60, "height": 60}, tumor={"initial": {"cells": 1}, "death_rate_per_day": 0},
        car_t={"lifespan_days": lifespan_days},
        antigens={"CD19": {"negative_fraction": 1.0}},
        dosing=[{"day": 0, "cells": 2000, "product": "CAR19", "route": "uniform"}],
        time={"duration_days": 10, "record_every_h": 24},
    )
    ts = run(cfg, seed=1, snapshots=False).timeseries
    ts = ts[ts.day > 0]  # the day-0 infusion enters during the first step
    n = ts["cart_total"].to_numpy()
    expected = 2000 * np.exp(-ts["day"].to_numpy() / lifespan_days)
    # binomial survival: 4 sd band at every day
    sd = np.sqrt(2000 * (expected / 2000) * (1 - expected / 2000))
    assert np.all(np.abs(n - expected) <= 4 * sd + 1)


def engaged_scene(kill_rate, detach_rate, seed, pairs=400, **car_t):
    """Many isolated CAR-T / tumor pairs, each CAR-T already touching its tumor cell."""
    cfg = small_config(
        tissue={"width": 60, "height": 60},
        tumor={"death_rate_per_day": 0.0, "doubling_time_h": 5000.0, "initial": {"type": "dispersed", "cells": 1}},
        car_t={"kill_rate_per_h": kill_rate, "detach_rate_per_h": detach_rate, "speed_um_per_min": 1e-3,
               "lifespan_days": 1e3, **car_t},
        dosing=[], time={"duration_days": 2, "record_every_h": 1},
    )
    model = CarTModel(cfg, rng=seed)
    # replace the random tumor with isolated pairs on a lattice of spacing 3
    model.tumor.remove(int(model.tumor.live_slots()[0]), 0.0)
    sites = [(x, y) for x in range(1, 60, 3) for y in range(1, 60, 3)][:pairs]
    for x, y in sites:
        model.tumor.add(x, y, np.array([20000.0]), 0.0, first_division_in=1e9)
        model.cart.add(x, y, 0, 0.0)
    return model


def test_kill_time_follows_kill_rate_per_contact_time():
    model = engaged_scene(kill_rate=2.0, detach_rate=0.0, seed=1)
    n0 = model.tumor.count
    hours = 0.5
    while model.minutes < hours * 60 - 1e-9:
        model.advance()
    killed = n0 - model.tumor.count
    # binding takes one step, then kills at 2/h: P(killed by 0.5 h) = 1 - exp(-2·(0.5 h - dt))
    p = 1 - math.exp(-2.0 * (hours - model.dt / 60))
    assert abs(killed - n0 * p) < 4 * math.sqrt(n0 * p * (1 - p))


def test_unproductive_contacts_detach_in_proportion():
    """A contact ends in a kill with probability k/(k+d) and lasts 1/(k+d) on average."""
    kill, detach = 1.0, 3.0  # per hour of contact
    model = engaged_scene(kill_rate=kill, detach_rate=detach, seed=2)
    cart = model.cart
    live = cart.live_slots()
    for _ in range(2):
        model.advance()  # bind
    engaged = cart.state[live] == ENGAGED
    assert engaged.mean() > 0.9
    start, bound_at = model.minutes, cart.last_stimulated[live].copy()
    ended = np.full(live.size, np.nan)  # minute the first contact ended
    killed = np.zeros(live.size, dtype=bool)
    while np.isnan(ended[engaged]).any():
        model.advance()
        # a contact has ended when the cell lets go, or binds anew (a kill or a re-binding
        # both restamp last_stimulated) within the same step
        over = engaged & np.isnan(ended) & ((cart.state[live] != ENGAGED) | (cart.last_stimulated[live] != bound_at))
        ended[over] = model.minutes
        killed[over] = cart.kills[live][over] > 0
    n = int(engaged.sum())
    p = kill / (kill + detach)
    assert abs(killed[engaged].mean() - p) < 4 * math.sqrt(p * (1 - p) / n)
    # memoryless contacts: the time left from any moment is exponential with mean 1/(k+d) hours;
    # ends are seen at step ends, which adds up to one step
    mean_min = np.mean(ended[engaged] - start)
    expected = 60 / (kill + detach)
    assert expected - 4 * expected / math.sqrt(n) < mean_min < expected + model.dt + 4 * expected / math.sqrt(n)


def test_exhaustion_after_max_kills():
    cfg = small_config(car_t={"max_kills": 2}, tumor={"initial": {"cells": 400}},
                       dosing=[{"day": 0, "cells": 30, "product": "CAR19", "route": "uniform"}],
                       time={"duration_days": 2, "record_every_h": 6})
    model = CarTModel(cfg, rng=1)
    model.run()
    live = model.cart.live_slots()
    assert model.cart.kills[live].max() <= 2
    assert np.all(model.cart.state[live][model.cart.kills[live] >= 2] == EXHAUSTED)
    assert (model.cart.state[live] == EXHAUSTED).any()


def test_daughter_starts_without_kills_and_counts_a_division():
    """A daughter copies its mother's product, divisions and activation but not her kills (CARCADE)."""
    model = CarTModel(no_dose(tumor={"initial": {"cells": 1}}), rng=3)
    mother = model.cart.add(10, 10, 0, 0.0, kills=7, divisions=2, last_stimulated=0.0)
    model.cart.divide(mother, 0.5)
    daughter = int(next(s for s in model.cart.live_slots().tolist() if s != mother))
    assert model.cart.kills[mother] == 7 and model.cart.kills[daughter] == 0
    assert model.cart.divisions[mother] == 3 and model.cart.divisions[daughter] == 3
    assert model.cart.last_stimulated[daughter] == 0.0
    assert max(abs(model.cart.x[daughter] - 10), abs(model.cart.y[daughter] - 10)) == 1


def test_il2_boosts_proliferation():
    cfg = small_config(tissue={"width": 80, "height": 80}, tumor={"initial": {"cells": 1}},
                       car_t={"il2_max_boost": 1.0}, dosing=[])
    counts = {}
    for il2 in (0.0, 1e6):
        model = CarTModel(cfg, rng=7)
        for x in range(2, 78, 3):
            for y in range(2, 78, 3):
                model.cart.add(x, y, 0, 0.0, last_stimulated=0.0)
        n0 = model.cart.count
        field = np.full((80, 80), il2)
        for _ in range(60):
            model.cart.proliferate(0.0, field)
        counts[il2] = model.cart.count - n0
    # with saturating IL-2 the division rate doubles
    assert counts[1e6] / counts[0.0] == pytest.approx(2.0, rel=0.25)


# ----------------------------------------------------------------------------- dosing
@pytest.mark.parametrize("route", ["edge", "vessels", "uniform"])
def test_infusion_day_and_route(route):
    cfg = small_config(dosing=[{"day": 1.0, "cells": 50, "product": "CAR19", "route": route}],
                       tumor={"initial": {"cells": 1}}, time={"duration_days": 1.5, "record_every_h": 6})
    model = CarTModel(cfg, rng=1)
    while model.day < 1.0 - 1e-9:
        model.step()
        assert model.cart.count == 0
    # place the cells: the first internal step at or after day 1
    model.advance()
    live = model.cart.live_slots()
    assert live.size == 50
    x, y = model.cart.x[live], model.cart.y[live]
    if route == "edge":
        dist = np.minimum.reduce([x, y, 29 - x, 29 - y])
        assert dist.max() <= 1  # within a hop of the boundary
    elif route == "vessels":
        vx, vy = np.divmod(model.tissue.vessel_sites, model.tissue.height)
        d = np.min(np.hypot(x[:, None] - vx[None], y[:, None] - vy[None]), axis=1)
        assert d.max() <= 3
    else:
        assert x.std() > 5 and y.std() > 5


def test_several_infusions_and_products():
    cfg = small_config(
        antigens={"CD19": {}, "CD22": {"mean_density": 5000}},
        products=[{"name": "CAR19", "targets": ["CD19"]}, {"name": "CAR1922", "targets": ["CD19", "CD22"], "logic": "or"}],
        dosing=[{"day": 0, "cells": 20, "product": "CAR19"}, {"day": 1, "cells": 30, "product": "CAR1922"}],
    )
    ts = run(cfg, seed=1, snapshots=False).timeseries
    assert ts["cells_infused"].iloc[-1] == 50
    assert ts.loc[ts.day > 1, "cart_product_CAR1922"].iloc[0] > 0
    assert {"tumor_CD19+CD22+", "tumor_CD19-CD22-"} <= set(ts.columns)
