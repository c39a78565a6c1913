"""T-cell biology beyond the anchors: CD4/CD8 subsets, memory, PD-1/PD-L1, trogocytosis.

Each rule is checked against its analytic expectation on a minimal scene with fixed seeds (tolerances
of four standard deviations), and each mechanism's config errors name the field and the fix.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from cartsim import CarTModel, run
from cartsim.agents.cart import CD4, CD8, ENGAGED, NO_SUBSET
from cartsim.config import ConfigError

from .conftest import small_config


def within(count: float, n: int, p: float, sds: float = 4.0) -> bool:
    """A binomial count of ``n`` trials lies within ``sds`` standard deviations of ``n·p``."""
    return abs(count - n * p) <= sds * math.sqrt(n * p * (1 - p)) + 1e-9


def bare(seed: int = 1, **sections) -> CarTModel:
    """A 40×40 tissue with no tumor and no dosing: the tests place the cells."""
    sections.setdefault("tissue", {"width": 40, "height": 40})
    cfg = small_config(tumor={"initial": {"cells": 1}, "death_rate_per_day": 0.0}, dosing=[], **sections)
    model = CarTModel(cfg, rng=seed)
    model.tumor.remove(int(model.tumor.live_slots()[0]), 0.0)
    return model


def pairs(model: CarTModel, subset: int, density: float = 5e4, spacing: int = 3) -> np.ndarray:
    """Isolated CAR-T/tumor pairs (the CAR-T on its tumor cell's site), CAR-T engaged; their slots."""
    cart, tumor = model.cart, model.tumor
    w = model.tissue.width
    cells = []
    for x in range(1, w - 1, spacing):
        for y in range(1, w - 1, spacing):
            tumor.add(x, y, np.array([density]), 0.0, first_division_in=1e9)
            cells.append(cart.add(x, y, 0, 0.0, subset=subset))
    cells = np.array(cells)
    cart.seek_targets(0.0)
    return cells


# ----------------------------------------------------------------------------- 1. CD4 and CD8 subsets
@pytest.mark.parametrize("fraction", [0.0, 0.3, 0.5, 1.0])
def test_a_dose_is_split_by_its_cd4_fraction_and_daughters_keep_their_subset(fraction):
    cfg = small_config(tissue={"width": 40, "height": 40},
                       dosing=[{"day": 0, "cells": 101, "product": "CAR19", "route": "uniform",
                                "cd4_fraction": fraction}])
    model = CarTModel(cfg, rng=2)
    model.infuse_due(0.0)
    live = model.cart.live_slots()
    assert (model.cart.subset[live] == CD4).sum() == math.floor(101 * fraction + 1e-9)
    assert (model.cart.subset[live] == CD8).sum() == 101 - math.floor(101 * fraction + 1e-9)
    mother = int(live[0])
    model.cart.last_stimulated[mother] = 0.0
    model.cart.divide(mother, 0.0)
    daughter = int(model.cart.live_slots()[-1])
    assert model.cart.subset[daughter] == model.cart.subset[mother]


def test_without_a_ratio_cells_have_no_subset_and_the_census_no_subset_columns():
    model = CarTModel(small_config(), rng=1)
    model.run()
    assert (model.cart.subset[model.cart.live_slots()] == NO_SUBSET).all()
    assert "cart_cd4" not in model._census
    split = CarTModel(small_config(dosing=[{"day": 0.5, "cells": 60, "product": "CAR19", "cd4_fraction": 0.5}]),
                      rng=1)
    split.run()
    c = split._census
    assert c["cart_cd4"] + c["cart_cd8"] == c["cart_total"] and c["cart_cd4"] > 0


@pytest.mark.parametrize("rule", ["attack", "attack_reference"])
def test_each_subset_kills_at_its_own_rate(rule):
    """Kills per step of engaged CD4 and CD8 cells match 1 - exp(-(k + k_off)·dt)·k/(k + k_off)
    with each subset's own kill rate k (CD4 0.1/h by default, CD8 the car_t rate)."""
    for subset, kill_per_h in ((CD4, 0.1 * 20), (CD8, 3.0 * 20)):
        kills, n = 0, 0
        for seed in range(6):
            model = bare(seed, car_t={"kill_rate_per_h": 3.0, "detach_rate_per_h": 2.0, "cd4": {"kill_rate_per_h": 0.1},
                                      "speed_um_per_min": 0.01})
            model.cart.p_kill_by *= 0  # set below from the rates, to test the rule with large counts
            cart = model.cart
            for code, k in ((CD4, 0.1 * 20), (CD8, 3.0 * 20)):
                cart.p_kill_by[code], cart.p_detach_by[code] = cart._kill_and_detach(k, 2.0 * 20, model.dt)
            cells = pairs(model, subset)
            assert (cart.state[cells] == ENGAGED).all()
            getattr(cart, rule)(0.0)
            kills += int(cart.kills[cells].sum())
            n += cells.size
        p = cart._kill_and_detach(kill_per_h, 40.0, model.dt)[0]
        assert within(kills, n, p), (subset, kills, n * p)


def test_cd4_cells_secrete_il2_and_cd8_cells_do_not():
    """Released IL-2 over one step: 293 molecules/cell/min for every activated CD4 cell, none from CD8."""
    model = bare(3)
    cart = model.cart
    n4 = [cart.add(x, 5, 0, 0.0, last_stimulated=0.0, subset=CD4) for x in range(2, 30, 2)]
    n8 = [cart.add(x, 9, 0, 0.0, last_stimulated=0.0, subset=CD8) for x in range(2, 30, 2)]
    cart.secrete(model.cytokines, 1.0, model.dt)
    assert model.cytokines.released["IL2"] == pytest.approx(293.0 * model.dt * len(n4))
    # IFN-γ: both subsets at the cytokine's own rate
    assert model.cytokines.released["IFNg"] == pytest.approx(300.0 * model.dt * (len(n4) + len(n8)))
    il2 = model.cytokines.pending["IL2"]  # released at the cells' sites over the interval
    assert il2[:, 5].sum() == pytest.approx(293.0 * model.dt * len(n4)) and il2[:, 9].sum() == 0
    model.cytokines.advance()
    assert model.cytokines.field("IL2").sum() > 0


def test_each_subset_lives_its_own_lifespan():
    model = bare(4, car_t={"cd4": {"lifespan_days": 20.0}, "cd8": {"lifespan_days": 5.0}})
    for code, days in ((CD4, 20.0), (CD8, 5.0)):
        slots = [model.cart.add(x, y, 0, 0.0, subset=code) for x in range(40) for y in range(0, 40, 2)]
        life = model.cart.death_at[slots] / 1440
        # exponential lifespans: the mean of 800 has a standard error of mean/√800
        assert abs(life.mean() - days) < 4 * days / math.sqrt(len(slots))
        model = bare(4, car_t={"cd4": {"lifespan_days": 20.0}, "cd8": {"lifespan_days": 5.0}})


@pytest.mark.parametrize("change,field", [
    ({"dosing": [{"day": 0, "cells": 10, "product": "CAR19", "cd4_fraction": 1.5}]}, "dosing[0].cd4_fraction"),
    ({"car_t": {"cd4": {"secretion_per_activated_cell_per_min": {"IL7": 5.0}}}},
     "car_t.cd4.secretion_per_activated_cell_per_min: unknown cytokine 'IL7'"),
    ({"car_t": {"cd8": {"kill_rate": 1.0}}}, "car_t.cd8.kill_rate"),
    ({"car_t": {"cd8": {"division_time_h": "fast"}}}, "car_t.cd8.division_time_h"),
    ({"space": "well_mixed", "dosing": [{"day": 0, "cells": 10, "product": "CAR19", "cd4_fraction": 0.5}]},
     "dosing[0].cd4_fraction: the well-mixed mode has no CD4/CD8"),
])
def test_subset_mistakes_name_the_field(change, field):
    with pytest.raises(ConfigError) as err:
        small_config(**change)
    assert field in str(err.value)


def test_subset_entries_keep_their_defaults_key_by_key():
    cfg = small_config(car_t={"cd4": {"secretion_per_activated_cell_per_min": {"IFNg": 10.0}}})
    assert cfg.car_t.cd4.secretion_per_activated_cell_per_min == {"IL2": 293.0, "IFNg": 10.0}
    assert cfg.car_t.cd4.kill_rate_per_h == 0.1
    assert cfg.car_t.subset("cd8")["kill_rate_per_h"] == cfg.car_t.kill_rate_per_h
