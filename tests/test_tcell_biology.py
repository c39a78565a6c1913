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
    sections["tumor"] = {"initial": {"cells": 1}, "death_rate_per_day": 0.0, **sections.get("tumor", {})}
    cfg = small_config(dosing=[], **sections)
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
                cart.p_kill_by[code, 0], cart.p_detach_by[code, 0] = cart._kill_and_detach(k, 2.0 * 20, model.dt)
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


# ----------------------------------------------------------------------------- 2. effector and memory
@pytest.mark.parametrize("rule", ["differentiate", "differentiate_reference"])
def test_resting_effectors_form_memory_at_the_formation_rate(rule):
    """Per step, each resting effector becomes memory with 1 - exp(-ε·dt); activated, engaged and
    exhausted cells do not."""
    model = bare(5, car_t={"memory": {"enabled": True, "formation_per_day": 30.0}})
    cart = model.cart
    resting = [cart.add(x, y, 0, 0.0) for x in range(0, 40, 2) for y in range(0, 40)]
    activated = [cart.add(x, y, 0, 0.0, last_stimulated=60.0) for x in range(1, 40, 4) for y in range(40)]
    exhausted = [cart.add(x, y, 0, 0.0, kills=cart.max_kills) for x in range(3, 40, 4) for y in range(40)]
    formed = getattr(cart, rule)(120.0)
    p = cart.p_memory
    assert p == pytest.approx(1 - math.exp(-30.0 / 1440 * model.dt))
    assert formed == cart.memory.sum() == cart.memory[resting].sum()
    assert within(formed, len(resting), p)
    assert not cart.memory[activated].any() and not cart.memory[exhausted].any()
    # a memory cell lives the memory lifespan from now
    life = cart.death_at[np.array(resting)[cart.memory[resting]]] - 120.0
    assert abs(life.mean() - cart.mean_memory_lifespan) < 4 * cart.mean_memory_lifespan / math.sqrt(formed)


@pytest.mark.parametrize("dt_min", [3.6, 0.9])  # the same analytic answer at both steps
def test_memory_fraction_at_steady_state_matches_the_rates(dt_min):
    """Effectors enter at a constant rate S, die at 1/L_E and become memory at ε; memory cells die
    at 1/L_M. At steady state E = S/(1/L_E + ε) and M = ε·L_M·E, so the memory fraction is
    ε·L_M/(1 + ε·L_M) (2/3 here), and the count is S·L_E·(1 + ε·L_M)/(1 + ε·L_E)."""
    L_E, L_M, eps, S = 2.0, 4.0, 0.5, 240.0  # days, days, 1/day, cells/day
    model = bare(6, tissue={"width": 60, "height": 60}, time={"duration_days": 40, "dt_min": dt_min},
                 car_t={"lifespan_days": L_E, "memory": {"enabled": True, "formation_per_day": eps,
                                                         "lifespan_days": L_M}})
    cart, rng = model.cart, np.random.default_rng(6)
    free = np.argwhere(model.tissue.tcell < 0)
    fractions, counts = [], []
    for step in range(int(36 * 1440 / model.dt)):
        now = step * model.dt
        for _ in range(rng.poisson(S * model.dt / 1440)):
            while True:  # a free site at random
                x, y = free[rng.integers(len(free))]
                if model.tissue.tcell[x, y] < 0:
                    break
            cart.add(int(x), int(y), 0, now)
        cart.die_of_age(now + model.dt)
        cart.differentiate(now + model.dt)
        if now >= 20 * 1440 and step % 100 == 0:  # 5 memory lifespans: at steady state
            live = cart.live_slots()
            fractions.append(cart.memory[live].mean())
            counts.append(live.size)
    expected_fraction = eps * L_M / (1 + eps * L_M)
    expected_count = S * L_E * (1 + eps * L_M) / (1 + eps * L_E)
    # ~1,000 cells: binomial sd of the fraction ~0.015, of a Poisson count ~3 %; averaged over
    # correlated samples, tolerances of about 3 sd
    assert np.mean(fractions) == pytest.approx(expected_fraction, abs=0.04)
    assert np.mean(counts) == pytest.approx(expected_count, rel=0.08)


@pytest.mark.parametrize("rule", ["seek_targets", "seek_targets_reference"])
def test_a_memory_cell_is_reactivated_by_antigen(rule):
    model = bare(7, car_t={"memory": {"enabled": True}})
    cart, tumor = model.cart, model.tumor
    cells = []
    for x in range(1, 39, 3):
        tumor.add(x, 5, np.array([5e4]), 0.0, first_division_in=1e9)
        c = cart.add(x, 5, 0, 0.0, divisions=4)
        cart.memory[c], cart.death_at[c] = True, 1e9
        cells.append(c)
    lonely = cart.add(20, 30, 0, 0.0, divisions=4)
    cart.memory[lonely] = True
    getattr(cart, rule)(100.0)
    cells = np.array(cells)
    assert (cart.state[cells] == ENGAGED).all() and not cart.memory[cells].any()
    assert (cart.divisions[cells] == 0).all() and (cart.last_stimulated[cells] == 100.0).all()
    life = cart.death_at[cells] - 100.0  # a new effector lifespan (mean 8.6 days)
    assert (life < 1e9 - 200).all() and life.mean() < 3 * cart.mean_lifespan
    assert cart.memory[lonely] and cart.divisions[lonely] == 4  # no antigen: stays memory


def test_memory_makes_a_long_tail_that_effectors_alone_do_not():
    cfg = dict(tissue={"width": 40, "height": 40}, time={"duration_days": 60, "record_every_h": 24},
               tumor={"initial": {"cells": 200}},
               dosing=[{"day": 0.5, "cells": 40, "product": "CAR19", "route": "uniform"}])
    on = run(small_config(car_t={"memory": {"enabled": True, "formation_per_day": 0.05}}, **cfg), seed=3,
             snapshots=False)
    off = run(small_config(**cfg), seed=3, snapshots=False)
    assert off.summary["final_cart"] < 3 and "memory_fraction_end" not in off.summary
    assert on.summary["final_cart"] >= 10 and on.summary["memory_fraction_end"] > 0.9


def test_memory_mistakes_name_the_field():
    with pytest.raises(ConfigError, match="car_t.memory.formation_per_day"):
        small_config(car_t={"memory": {"enabled": True, "formation_per_day": -1}})
    with pytest.raises(ConfigError, match="car_t.memory.enabled: the well-mixed mode"):
        small_config(space="well_mixed", car_t={"memory": {"enabled": True}})


# ----------------------------------------------------------------------------- 3. PD-1 / PD-L1
PD1 = {"enabled": True, "induction_per_h": 30.0, "pdl1_half_max_per_cell": 10000.0}


@pytest.mark.parametrize("rule", ["attack", "attack_reference"])
def test_pd1_rises_with_time_in_contact(rule):
    """Per step of contact a PD-1− cell becomes PD-1+ with 1 - exp(-r·dt)."""
    gained, n = 0, 0
    for seed in range(4):
        model = bare(seed, car_t={"kill_rate_per_h": 0.0, "detach_rate_per_h": 0.0, "pd1": PD1})
        cells = pairs(model, NO_SUBSET)
        getattr(model.cart, rule)(0.0)
        gained += int(model.cart.pd1[cells].sum())
        n += cells.size
    p = model.cart.p_pd1
    assert p == pytest.approx(1 - math.exp(-30.0 / 60 * model.dt))
    assert within(gained, n, p)


@pytest.mark.parametrize("rule", ["seek_targets", "seek_targets_reference"])
@pytest.mark.parametrize("blockade", [0.0, 0.6])
def test_pd1_positive_bindings_are_inhibited_by_pdl1_unless_blocked(rule, blockade):
    """A PD-1+ cell's binding to a cell with PD-L1 L is inhibited with (1 - b)·L/(L + K): here
    L = K, so 1/2 without blockade and 1/5 at b = 0.6. Inhibited bindings do not stimulate."""
    inhibited, n = 0, 0
    for seed in range(6):
        model = bare(seed, car_t={"pd1": PD1}, tumor={"initial": {"cells": 1}, "pdl1": {"base_per_cell": 10000.0}})
        cart, tumor = model.cart, model.tumor
        cells = []
        for x in range(1, 39, 3):
            for y in range(1, 39, 3):
                tumor.add(x, y, np.array([5e4]), 0.0, first_division_in=1e9)
                cells.append(cart.add(x, y, 0, 0.0))
        cells = np.array(cells)
        cart.pd1[cells[::2]] = True  # half the cells PD-1+
        cart.blockade = blockade
        getattr(cart, rule)(50.0)
        assert (cart.state[cells] == ENGAGED).all()
        assert not cart.inhibited[cells[1::2]].any()  # PD-1− cells are never inhibited
        hit = cart.inhibited[cells]
        assert (cart.last_stimulated[cells[hit]] == -np.inf).all() and (cart.last_stimulated[cells[~hit]] == 50.0).all()
        inhibited += int(hit.sum())
        n += cells[::2].size
    assert within(inhibited, n, (1 - blockade) * 0.5)


def test_an_inhibited_engagement_kills_at_its_fraction_of_the_rate():
    model = bare(8, car_t={"kill_rate_per_h": 3.0, "detach_rate_per_h": 1.0,
                           "pd1": {**PD1, "inhibited_kill_fraction": 0.25}})
    cart = model.cart
    free, held = cart.p_kill_by[NO_SUBSET]
    assert free == pytest.approx(cart._kill_and_detach(3.0, 1.0, model.dt)[0])
    assert held == pytest.approx(cart._kill_and_detach(0.75, 1.0, model.dt)[0])
    kills = {True: 0, False: 0}
    n = {True: 0, False: 0}
    for seed in range(4):
        model = bare(seed, car_t={"kill_rate_per_h": 3.0, "detach_rate_per_h": 1.0,
                                  "pd1": {**PD1, "inhibited_kill_fraction": 0.25}})
        cart = model.cart
        cells = pairs(model, NO_SUBSET)
        cart.inhibited[cells[::2]] = True
        cart.attack(0.0)
        for flag, group in ((True, cells[::2]), (False, cells[1::2])):
            kills[flag] += int(cart.kills[group].sum())
            n[flag] += group.size
    assert within(kills[True], n[True], held) and within(kills[False], n[False], free)


def test_ifng_raises_tumor_pdl1_and_the_model_reads_it():
    model = bare(9, car_t={"pd1": PD1}, tumor={"initial": {"cells": 1},
                                               "pdl1": {"base_per_cell": 1000.0, "ifng_induced_per_cell": 20000.0,
                                                        "ifng_half_max_pM": 20.0}})
    slots = np.array([model.tumor.add(x, 3, np.array([5e4]), 0.0) for x in range(4)])
    field = np.zeros((40, 40))
    field[:4, 3] = [0.0, 20.0, 60.0, 1e9]
    assert model.cart.pdl1_density(slots, field) == pytest.approx([1000.0, 11000.0, 16000.0, 21000.0])
    assert "IFNg" in model._read_fields and model._pdl1_pM is not None


def test_anti_pd1_blockade_follows_its_schedule():
    cfg = small_config(car_t={"pd1": {"enabled": True}}, time={"duration_days": 6},
                       treatments=[{"kind": "anti_pd1", "day": 1, "duration_days": 2, "blockade": 0.5},
                                   {"kind": "anti_pd1", "day": 2, "duration_days": 3, "blockade": 0.8}])
    model = CarTModel(cfg, rng=1)
    at = [model.blockade_at(d * 1440) for d in (0.5, 1.0, 1.5, 2.5, 4.9, 5.0, 5.5)]
    assert at == [0.0, 0.5, 0.5, 0.8, 0.8, 0.0, 0.0]
    model.run()
    ts = model.datacollector.get_model_vars_dataframe()
    assert set(ts["anti_pd1_blockade"]) <= {0.0, 0.5, 0.8} and "cart_pd1_positive" in ts


@pytest.mark.parametrize("change,message", [
    ({"treatments": [{"kind": "anti_pd1", "day": 1}]}, "treatments[0]: an anti_pd1 treatment blocks PD-1, which is off"),
    ({"treatments": [{"kind": "anti-pd1", "day": 1}], "car_t": {"pd1": {"enabled": True}}}, "treatments[0].kind"),
    ({"treatments": [{"day": 1}], "car_t": {"pd1": {"enabled": True}}}, "treatments[0].kind"),
    ({"treatments": [{"kind": "anti_pd1", "day": 9}], "car_t": {"pd1": {"enabled": True}}},
     "treatments[0].day: 9.0 is after the end of the run"),
    ({"treatments": [{"kind": "anti_pd1", "blockade": 2}], "car_t": {"pd1": {"enabled": True}}},
     "treatments[0].blockade"),
    ({"tumor": {"pdl1": {"inducer": "IFNG"}}}, "tumor.pdl1.inducer: unknown cytokine 'IFNG'"),
    ({"space": "well_mixed", "car_t": {"pd1": {"enabled": True}}}, "car_t.pd1.enabled: the well-mixed mode"),
])
def test_pd1_mistakes_name_the_field(change, message):
    with pytest.raises(ConfigError) as err:
        small_config(**change)
    assert message in str(err.value)


# ----------------------------------------------------------------------------- 5. trogocytosis
TROG = {"enabled": True, "fraction_per_engagement": 0.1}


def two_antigen_model(seed=1, **car_t):
    return bare(seed, antigens={"CD19": {}, "CD22": {}}, car_t=car_t,
                products=[{"name": "CAR19", "targets": ["CD19"]}])


@pytest.mark.parametrize("rule", ["seek_targets", "seek_targets_reference"])
def test_a_binding_takes_a_fraction_of_the_targeted_antigen(rule):
    model = two_antigen_model(trogocytosis=TROG)
    cart, tumor = model.cart, model.tumor
    t = tumor.add(10, 10, np.array([20000.0, 5000.0]), 0.0, first_division_in=1e9)
    c = cart.add(10, 10, 0, 0.0)
    getattr(cart, rule)(0.0)
    assert cart.state[c] == ENGAGED
    # CD19 (targeted) loses 10 %, which the CAR-T carries; CD22 (not targeted) is untouched
    assert tumor.antigen[t] == pytest.approx([18000.0, 5000.0])
    assert cart.carried[c] == pytest.approx([2000.0, 0.0])
    assert cart.trogocytosis_escapes == 0


def test_a_tumor_cell_taken_below_threshold_escapes_and_its_engagement_ends():
    model = bare(2, car_t={"trogocytosis": TROG})
    cart, tumor = model.cart, model.tumor
    low = tumor.add(10, 10, np.array([2100.0]), 0.0, first_division_in=1e9)  # 1,890 after one binding
    high = tumor.add(20, 20, np.array([2300.0]), 0.0, first_division_in=1e9)  # 2,070: still bound
    a, b = cart.add(10, 10, 0, 0.0), cart.add(20, 20, 0, 0.0)
    cart.seek_targets(0.0)
    assert tumor.bind_p[low, 0] == 0 and tumor.bind_p[high, 0] > 0
    assert cart.trogocytosis_escapes == 1
    cart.attack(0.0)
    assert cart.state[a] != ENGAGED  # its target no longer carries enough antigen
    assert model.cart.census()["trogocytosis_escapes_total"] == 1


def test_carried_antigen_decays_with_its_half_life():
    model = bare(3, car_t={"trogocytosis": {**TROG, "carried_half_life_h": 6.0, "fratricide": False}})
    c = model.cart.add(5, 5, 0, 0.0)
    model.cart.carried[c] = 1000.0
    steps = 40
    for _ in range(steps):
        model.cart.fratricide(0.0)
    assert model.cart.carried[c, 0] == pytest.approx(1000.0 * 0.5 ** (steps * model.dt / 360.0))


@pytest.mark.parametrize("rule", ["fratricide", "fratricide_reference"])
def test_a_cart_carrying_antigen_is_killed_by_its_neighbour(rule):
    """A carrier with one active neighbour (which binds it on contact: 5,000 carried CD19 is above
    the threshold) dies within a step with 1 - exp(-k·dt), k the neighbour's kill rate."""
    killed, n = 0, 0
    for seed in range(4):
        model = bare(seed, car_t={"trogocytosis": TROG, "kill_rate_per_h": 12.0, "detach_rate_per_h": 1.0})
        cart = model.cart
        carriers = []
        for x in range(1, 39, 4):
            for y in range(1, 39, 3):
                v = cart.add(x, y, 0, 0.0)
                cart.carried[v] = 5000.0 / cart.carried_decay  # 5,000 after this step's decay
                cart.add(x + 1, y, 0, 0.0)
                carriers.append(v)
        getattr(cart, rule)(0.0)
        dead = ~cart.alive[carriers]
        killed += int(dead.sum())
        n += len(carriers)
        assert cart.fratricide_total == int(dead.sum())
        assert (model.tissue.tcell[cart.x[np.array(carriers)[dead]], cart.y[np.array(carriers)[dead]]] == -1).all()
    p = 1 - math.exp(-12.0 / 60 * model.dt)
    assert within(killed, n, p)


def test_without_fratricide_carriers_live_on():
    model = bare(4, car_t={"trogocytosis": {**TROG, "fratricide": False}})
    v = model.cart.add(5, 5, 0, 0.0)
    model.cart.carried[v] = 1e5
    model.cart.add(6, 5, 0, 0.0)
    for _ in range(50):
        model.cart.fratricide(0.0)
    assert model.cart.alive[v] and model.cart.fratricide_total == 0


def test_trogocytosis_mistakes_name_the_field():
    with pytest.raises(ConfigError, match="car_t.trogocytosis.fraction_per_engagement"):
        small_config(car_t={"trogocytosis": {"enabled": True, "fraction_per_engagement": 1.5}})
    with pytest.raises(ConfigError, match="car_t.trogocytosis.fratricde: unknown key"):
        small_config(car_t={"trogocytosis": {"fratricde": False}})
    with pytest.raises(ConfigError, match="car_t.trogocytosis.enabled: the well-mixed mode"):
        small_config(space="well_mixed", car_t={"trogocytosis": {"enabled": True}})


# ----------------------------------------------------------------------------- the command line
def test_every_mechanism_is_reached_from_the_command_line(tmp_path):
    """``--set`` switches the mechanisms on in a shipped experiment; the summary reports them."""
    import json
    import subprocess
    import sys

    from .conftest import CONFIGS, ROOT

    out = tmp_path / "run"
    sets = ["time.duration_days=3", "treatments.0.duration_days=2", "dosing.0.cd4_fraction=0.5",
            "car_t.memory.enabled=true", "car_t.trogocytosis.enabled=true", "car_t.pd1.induction_per_h=0.5"]
    r = subprocess.run([sys.executable, "-m", "cartsim.cli", "run", str(CONFIGS / "pd1_blockade.yaml"), "--out",
                        str(out), "--quiet", "--no-plots", *(a for s in sets for a in ("--set", s))],
                       capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert r.returncode == 0, r.stderr
    summary = json.loads((out / "summary.json").read_text())
    for key in ("cd4_fraction_end", "memory_fraction_end", "pd1_positive_fraction_end", "trogocytosis_escapes",
                "fratricide_kills"):
        assert key in summary, key
    assert summary["peak_pd1_positive_fraction"] > 0
    r = subprocess.run([sys.executable, "-m", "cartsim.cli", "run", str(CONFIGS / "pd1_blockade.yaml"),
                        "--set", "car_t.pd1.enabled=false"], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert r.returncode == 2 and "treatments[0]: an anti_pd1 treatment blocks PD-1, which is off" in r.stderr
