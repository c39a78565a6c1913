"""Combination therapy and bystander effects: lymphodepletion, chemotherapy, radiation, IFN-γ acting on
bystander tumor cells, and armored-CAR payloads.

Each rule is checked against its analytic expectation on a minimal scene with fixed seeds (binomial
counts within four standard deviations), the compiled rules against their numpy references, and each
mechanism's config errors name the field and the fix.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from cartsim import CarTModel, run
from cartsim.config import ConfigError
from cartsim.treatments import Treatments, region_mask

from .conftest import small_config


def within(count: float, n: int, p: float, sds: float = 4.0) -> bool:
    """A binomial count of ``n`` trials lies within ``sds`` standard deviations of ``n·p``."""
    return abs(count - n * p) <= sds * math.sqrt(n * p * (1 - p)) + 1e-9


IL12 = {"IL12": {"diffusivity_um2_per_s": 5.0, "half_life_min": 60.0}}


def full_tissue(seed: int = 1, size: int = 40, **sections) -> CarTModel:
    """A tissue filled with tumor cells (no death, no CAR-T)."""
    tumor = {"initial": {"cells": size * size}, "death_rate_per_day": 0.0, **sections.pop("tumor", {})}
    cfg = small_config(tissue={"width": size, "height": size}, dosing=[], tumor=tumor, **sections)
    return CarTModel(cfg, rng=seed)


# ----------------------------------------------------------------------------- radiation
@pytest.mark.parametrize("dose", [2.0, 6.0])
def test_radiation_leaves_the_linear_quadratic_surviving_fraction(dose):
    treatment = {"kind": "radiation", "day": 0.5, "dose_Gy": dose, "alpha_per_Gy": 0.3, "alpha_beta_Gy": 10.0}
    model = full_tissue(2, size=60, treatments=[treatment])
    s = math.exp(-0.3 * dose - 0.03 * dose**2)  # β = α/(α/β)
    assert model.config.treatments[0].surviving_fraction == pytest.approx(s)
    n = model.tumor.count
    killed = model.treatments.irradiate_due(model.tumor, 0.5 * 1440)
    assert within(n - killed, n, s) and model.tumor.count == n - killed
    assert model.tumor.radiation_kills == killed and model.tumor.killed == 0  # not CAR-T kills


def test_radiation_acts_only_in_its_region_and_at_its_time():
    # a disc of radius 150 µm around (300, 300) µm on 15-µm sites
    treatment = {"kind": "radiation", "day": 1.0, "dose_Gy": 4.0, "region": [300.0, 300.0, 150.0]}
    model = full_tissue(3, treatments=[treatment], time={"duration_days": 2})
    mask = region_mask([300.0, 300.0, 150.0], 40, 40, 15.0)
    assert mask.sum() == pytest.approx(math.pi * 10**2, rel=0.05)  # a disc of 10 sites' radius
    assert model.treatments.irradiate_due(model.tumor, 0.9 * 1440) == 0  # not yet
    model.run()
    t = model.tumor
    alive_at = np.zeros((40, 40), dtype=bool)
    alive_at[t.x[t.live_slots()], t.y[t.live_slots()]] = True
    assert alive_at[~mask].all()  # outside: no one died (no death, no space to divide into)
    s = model.config.treatments[0].surviving_fraction
    assert within(t.radiation_kills, int(mask.sum()), 1 - s)  # the disc was full at the dose
    assert model.datacollector.get_model_vars_dataframe()["radiation_kills_total"].iloc[-1] == t.radiation_kills > 0


def test_a_rectangle_region_holds_the_site_centres_inside_it():
    mask = region_mask([0.0, 0.0, 45.0, 30.0], 10, 10, 15.0)
    assert mask.sum() == 3 * 2 and mask[:3, :2].all()


# ----------------------------------------------------------------------------- chemotherapy
def test_chemotherapy_kill_probability_decays_with_its_half_life():
    cfg = small_config(treatments=[{"kind": "chemotherapy", "day": 1, "duration_days": 1.5, "kill_probability": 0.6,
                                    "half_life_h": 12},
                                   {"kind": "chemotherapy", "day": 2, "duration_days": 1, "kill_probability": 0.5}])
    t = Treatments(cfg, CarTModel(cfg).tissue, 10.0)
    day = 1440.0
    assert t.chemo_kill_probability(0.9 * day) == 0.0
    assert t.chemo_kill_probability(1.0 * day) == pytest.approx(0.6)
    assert t.chemo_kill_probability(1.5 * day) == pytest.approx(0.3)  # one half-life later
    # two drugs at once combine as independent chances
    assert t.chemo_kill_probability(2.0 * day) == pytest.approx(1 - (1 - 0.15) * (1 - 0.5))
    assert t.chemo_kill_probability(2.6 * day) == pytest.approx(0.5 * 2 ** (-0.6 * 24 / 24))
    assert t.chemo_kill_probability(3.1 * day) == 0.0


@pytest.mark.parametrize("reference", [False, True])
def test_chemotherapy_kills_dividing_cells_at_its_probability(reference):
    cfg = small_config(tissue={"width": 80, "height": 80}, dosing=[],
                       tumor={"initial": {"type": "dispersed", "cells": 400}, "death_rate_per_day": 0.0, "doubling_time_h": 12.0},
                       time={"duration_days": 2, "record_every_h": 24})
    model = CarTModel(cfg, rng=5)
    t = model.tumor
    t.chemo_kill_p = 0.3
    (t.process_events_reference if reference else t.process_events)(until=2 * 1440)
    attempts = t.divisions + t.chemo_kills  # every division event with room divides or is killed
    assert attempts > 500 and within(t.chemo_kills, attempts, 0.3)
    assert t.count == 400 + t.divisions - t.chemo_kills


def test_chemotherapy_kills_over_a_run_follow_the_integrated_probability():
    # the drug decays over the run: kills per division event average p(t) over the events' times
    cfg = small_config(tissue={"width": 80, "height": 80}, dosing=[],
                       tumor={"initial": {"type": "dispersed", "cells": 300}, "death_rate_per_day": 0.0, "doubling_time_h": 12.0},
                       time={"duration_days": 2, "record_every_h": 6},
                       treatments=[{"kind": "chemotherapy", "day": 0, "duration_days": 2, "kill_probability": 0.8,
                                    "half_life_h": 12}])
    model = CarTModel(cfg, rng=6)
    seen = []  # (p in effect, division events in the step)
    t = model.tumor
    while model.running:
        before = t.divisions + t.chemo_kills
        model.advance()
        seen.append((t.chemo_kill_p, t.divisions + t.chemo_kills - before))
        if model.minutes >= model.duration_min - 1e-6:
            break
    p = np.array(seen)
    expected = float((p[:, 0] * p[:, 1]).sum())
    variance = float((p[:, 0] * (1 - p[:, 0]) * p[:, 1]).sum())
    assert abs(t.chemo_kills - expected) < 4 * math.sqrt(variance)
    assert p[0, 0] == pytest.approx(0.8) and p[-1, 0] < 0.8 / 8  # four half-lives later


# ----------------------------------------------------------------------------- lymphodepletion
@pytest.mark.parametrize("rule", ["proliferate", "proliferate_reference"])
def test_lymphodepletion_makes_resting_cart_divide_at_the_homeostatic_rate(rule):
    cfg = small_config(tissue={"width": 60, "height": 60}, dosing=[], tumor={"initial": {"cells": 1}},
                       car_t={"lifespan_days": 1e3, "max_divisions": 1},
                       treatments=[{"kind": "lymphodepletion", "day": 0, "duration_days": 1,
                                    "homeostatic_division_per_day": 2.0}])
    model = CarTModel(cfg, rng=7)
    cart = model.cart
    cells = [cart.add(x, y, 0, 0.0) for x in range(1, 59, 3) for y in range(1, 59, 3)]  # never stimulated
    assert model.treatments.homeostatic_rate(0.0) == pytest.approx(2.0 / 1440)
    assert model.treatments.homeostatic_rate(1440.0) == 0.0
    cart.homeostatic_rate = model.treatments.homeostatic_rate(0.0)
    hours = 6.0
    steps = round(hours * 60 / model.dt)
    il2 = np.zeros((60, 60))
    for k in range(steps):  # max_divisions 1: each cell divides once at most, daughters do not
        getattr(cart, rule)(k * model.dt, il2)
    divided = int((cart.divisions[cells] > 0).sum())
    p = 1 - math.exp(-2.0 / 1440 * steps * model.dt)
    assert within(divided, len(cells), p) and cart.count == len(cells) + divided


def test_without_lymphodepletion_resting_cart_do_not_divide():
    model = CarTModel(small_config(dosing=[], tumor={"initial": {"cells": 1}}), rng=1)
    cells = [model.cart.add(x, 5, 0, 0.0) for x in range(2, 28, 2)]
    for k in range(200):
        model.cart.proliferate(k * model.dt, np.zeros((30, 30)))
    assert (model.cart.divisions[cells] == 0).all()


# ----------------------------------------------------------------------------- IFN-γ bystander effects
BYSTANDER = {"enabled": True, "threshold_pM": 10.0, "arrest_probability": 0.4}


@pytest.mark.parametrize("reference", [False, True])
def test_ifng_arrests_divisions_of_exposed_cells_only(reference):
    cfg = small_config(tissue={"width": 80, "height": 80}, dosing=[],
                       tumor={"initial": {"type": "dispersed", "cells": 400}, "death_rate_per_day": 0.0, "doubling_time_h": 12.0,
                              "ifng_bystander": BYSTANDER},
                       time={"duration_days": 2, "record_every_h": 24})
    model = CarTModel(cfg, rng=8)
    t = model.tumor
    run_until = t.process_events_reference if reference else t.process_events
    t.ifng_pM = np.full((80, 80), 50.0)  # every cell senses IFN-γ above the threshold
    run_until(1.0 * 1440)
    # every division event with room is arrested with 0.4 or divides
    assert t.ifng_arrests > 100 and within(t.ifng_arrests, t.ifng_arrests + t.divisions, 0.4)
    arrests = t.ifng_arrests
    t.ifng_pM = np.full((80, 80), 9.9)  # below the threshold: no more arrests
    run_until(1.5 * 1440)
    assert t.ifng_arrests == arrests


@pytest.mark.parametrize("reference", [False, True])
def test_exposed_cells_die_at_the_bystander_rate(reference):
    model = full_tissue(9, tumor={"ifng_bystander": {**BYSTANDER, "death_rate_per_day": 1.0}})
    t = model.tumor
    field = np.zeros((40, 40))
    field[:, :20] = 11.0
    n_exposed = int((t.y[t.live_slots()] < 20).sum())
    p = float(1 - math.exp(-1.0 / 1440 * 600))  # one 10-hour interval's hazard
    died = t.die_where_exposed(field, 10.0, p, 0.0, reference=reference)
    assert within(died, n_exposed, p)
    assert (t.y[t.live_slots()] >= 20).sum() == 1600 - n_exposed  # the unexposed half all live
    assert t.bystander_deaths == died and t.killed == 0


def test_ifng_raises_the_antigen_the_car_sees_on_exposed_cells():
    cfg = small_config(dosing=[], tumor={"initial": {"cells": 1}, "ifng_bystander": {**BYSTANDER, "antigen_fold": 3.0}},
                       products=[{"name": "CAR19", "targets": ["CD19"], "activation": {"rule": "carcade"}}])
    model = CarTModel(cfg, rng=1)
    t = model.tumor
    slots = np.array([t.add(x, 2, np.array([2000.0]), 0.0) for x in (3, 4)])
    field = np.zeros((30, 30))
    field[3, 2] = 20.0
    t.sense_ifng(field)
    plain = t.binding_probabilities(np.array([[2000.0]]))[0, 0]
    tripled = t.binding_probabilities(np.array([[6000.0]]))[0, 0]
    assert t.bind_p[slots[0], 0] == pytest.approx(tripled) and t.bind_p[slots[1], 0] == pytest.approx(plain)
    assert tripled > plain
    field[3, 2], field[4, 2] = 0.0, 20.0  # the IFN-γ moves: the first cell is seen as it is again
    t.sense_ifng(field)
    assert t.bind_p[slots[0], 0] == pytest.approx(plain) and t.bind_p[slots[1], 0] == pytest.approx(tripled)


def test_the_model_hands_ifng_to_the_tumor_and_counts_bystander_outcomes():
    cfg = small_config(tumor={"initial": {"cells": 150}, "ifng_bystander": {**BYSTANDER, "threshold_pM": 0.01,
                                                                            "death_rate_per_day": 0.5}},
                       time={"duration_days": 2})
    r = run(cfg, seed=2, snapshots=False)
    assert {"bystander_deaths_total", "ifng_arrests_total"} <= set(r.timeseries.columns)
    assert r.summary["bystander_deaths"] > 0 and "ifng_arrests" in r.summary


# ----------------------------------------------------------------------------- armored CAR
ARMORED = {"cytokine": "IL12", "secretion_per_activated_cell_per_min": 200.0, "threshold_pM": 0.5,
           "bystander_kill_rate_per_day": 1.0}


def test_activated_armored_cart_secrete_their_payload_and_plain_ones_do_not():
    cfg = small_config(dosing=[], tumor={"initial": {"cells": 1}}, cytokines=IL12,
                       products=[{"name": "CAR19", "targets": ["CD19"], "armored": ARMORED},
                                 {"name": "PLAIN", "targets": ["CD19"]}])
    model = CarTModel(cfg, rng=1)
    cart = model.cart
    armored = [cart.add(x, 5, 0, 0.0, last_stimulated=0.0) for x in (2, 4, 6)]
    cart.add(8, 5, 1, 0.0, last_stimulated=0.0)  # activated, plain product
    cart.add(10, 5, 0, 0.0)  # armored, never stimulated
    cart.secrete_payload(model.cytokines, 1.0, 2.0)
    assert model.cytokines.released["IL12"] == pytest.approx(200.0 * 2.0 * len(armored))
    assert model.cytokines.pending["IL12"][[2, 4, 6], 5].tolist() == [400.0] * 3
    assert model.cytokines.pending["IL12"][[8, 10], 5].tolist() == [0.0, 0.0]


def test_a_constitutive_payload_is_secreted_by_every_effector_but_not_by_exhausted_or_memory_cells():
    cfg = small_config(dosing=[], tumor={"initial": {"cells": 1}}, cytokines=IL12, car_t={"memory": {"enabled": True}},
                       products=[{"name": "CAR19", "targets": ["CD19"], "armored": {**ARMORED, "inducible": False}}])
    model = CarTModel(cfg, rng=1)
    cart = model.cart
    resting = [cart.add(x, 5, 0, 0.0) for x in (2, 4)]  # never stimulated: still secreting
    cart.add(6, 5, 0, 0.0, kills=cart.max_kills)  # exhausted
    cart.memory[cart.add(8, 5, 0, 0.0)] = True  # a memory cell
    cart.secrete_payload(model.cytokines, 1.0, 2.0)
    assert model.cytokines.released["IL12"] == pytest.approx(200.0 * 2.0 * len(resting))
    assert model.cytokines.pending["IL12"][[2, 4, 6, 8], 5].tolist() == [400.0, 400.0, 0.0, 0.0]


def test_an_armored_payload_kills_antigen_negative_cells_near_the_cart():
    cfg = small_config(tissue={"width": 40, "height": 40}, cytokines=IL12, time={"duration_days": 4},
                       antigens={"CD19": {"negative_fraction": 0.5, "loss_probability": 0.0}},
                       tumor={"initial": {"cells": 300}},
                       products=[{"name": "CAR19", "targets": ["CD19"], "armored": ARMORED}])
    armored = run(cfg, seed=3, snapshots=False)
    plain = run(cfg.model_copy(update={"products": [cfg.products[0].model_copy(update={"armored": None})]}),
                seed=3, snapshots=False)
    assert armored.summary["bystander_deaths"] > 0 and "bystander_deaths" not in plain.summary
    assert armored.timeseries["IL12_max"].max() > 0.5
    assert armored.timeseries["tumor_CD19-"].iloc[-1] < plain.timeseries["tumor_CD19-"].iloc[-1]


# ----------------------------------------------------------------------------- config
@pytest.mark.parametrize("change,message", [
    ({"treatments": [{"kind": "radiotherapy", "day": 1}]}, "treatments[0].kind: unknown kind 'radiotherapy'"),
    ({"treatments": [{"day": 1, "dose_Gy": 2}]}, "treatments[0].kind: required but missing"),
    ({"treatments": [{"kind": "radiation", "dose_Gy": -1}]}, "treatments[0].dose_Gy"),
    ({"treatments": [{"kind": "radiation", "region": [1, 2]}]}, "treatments[0].region: give [x_um, y_um, radius_um]"),
    ({"treatments": [{"kind": "radiation", "region": [10, 10, 5, 50]}]}, "needs x1 > x0"),
    ({"treatments": [{"kind": "radiation", "region": [9000, 10, 50]}]}, "treatments[0].region: starts at"),
    ({"treatments": [{"kind": "chemotherapy", "kill_probability": 1.5}]}, "treatments[0].kill_probability"),
    ({"treatments": [{"kind": "chemotherapy", "day": 9}]}, "treatments[0].day: 9.0 is after the end of the run"),
    ({"treatments": [{"kind": "lymphodepletion", "homeostatic_division_per_day": -1}]},
     "treatments[0].homeostatic_division_per_day"),
    ({"products": [{"name": "CAR19", "targets": ["CD19"], "armored": {"cytokine": "IL12"}}]},
     "products[0].armored.cytokine: unknown cytokine 'IL12'; add it under cytokines:"),
    ({"products": [{"name": "CAR19", "targets": ["CD19"], "armored": {"cytokin": "IL2"}}]},
     "products[0].armored.cytokin: unknown key"),
    ({"tumor": {"ifng_bystander": {"enabled": True, "cytokine": "IFNG"}}},
     "tumor.ifng_bystander.cytokine: unknown cytokine 'IFNG'"),
    ({"tumor": {"ifng_bystander": {"arrest_probability": 1.0}}}, "tumor.ifng_bystander.arrest_probability"),
    ({"space": "well_mixed", "treatments": [{"kind": "chemotherapy"}]}, "the well-mixed mode has no chemotherapy"),
    ({"space": "well_mixed", "tumor": {"ifng_bystander": {"enabled": True}}}, "tumor.ifng_bystander.enabled"),
])
def test_therapy_mistakes_name_the_field(change, message):
    with pytest.raises(ConfigError) as err:
        small_config(**change)
    assert message in str(err.value)


def test_defaults_add_no_columns_and_no_treatment():
    model = CarTModel(small_config(), rng=1)
    cols = model.datacollector.get_model_vars_dataframe().columns
    assert not {"chemo_kills_total", "radiation_kills_total", "bystander_deaths_total", "ifng_arrests_total",
                "anti_pd1_blockade"} & set(cols)
    assert not model.treatments.scheduled and not model.treatments.fields_read


# ----------------------------------------------------------------------------- every mechanism on
def every_mechanism() -> dict:
    """Every mechanism that is off by default switched on: the T-cell ones (tests/test_time_step.py)
    and lymphodepletion, chemotherapy, radiation, IFN-γ bystander effects and an armored payload,
    with rates that make each matter within 2 days."""
    from .test_time_step import MECHANISMS

    m = {k: (dict(v) if isinstance(v, dict) else list(v)) for k, v in MECHANISMS.items()}
    m["tumor"] = {**m["tumor"], "ifng_bystander": {"enabled": True, "threshold_pM": 1.0, "arrest_probability": 0.5,
                                                   "death_rate_per_day": 0.5, "antigen_fold": 1.5}}
    m["cytokines"] = IL12
    m["products"] = [{"name": "CAR19", "targets": ["CD19"], "armored": {**ARMORED, "threshold_pM": 0.1}}]
    m["treatments"] = [*m["treatments"],
                       {"kind": "lymphodepletion", "day": 0.0, "duration_days": 2.0, "homeostatic_division_per_day": 1.0},
                       {"kind": "chemotherapy", "day": 0.5, "duration_days": 1.5, "kill_probability": 0.5,
                        "half_life_h": 12.0},
                       {"kind": "radiation", "day": 1.0, "dose_Gy": 2.0, "region": [225.0, 225.0, 150.0]}]
    return m


def therapy_outcomes(dt_min, seeds) -> np.ndarray:
    cfg = small_config(time={"duration_days": 2, "record_every_h": 6, "dt_min": dt_min}, **every_mechanism())
    rows = []
    for seed in seeds:
        r = run(cfg, seed=seed, snapshots=False)
        mid = r.timeseries.set_index("day").loc[1.5]
        rows.append([mid["tumor_total"], mid["kills_total"], r.summary["peak_cart"], r.summary["chemo_kills"],
                     r.summary["radiation_kills"], r.summary["bystander_deaths"], r.summary["ifng_arrests"]])
    return np.array(rows, dtype=float)


@pytest.mark.slow
def test_outcomes_agree_at_two_step_sizes_with_every_mechanism_on():
    from scipy import stats

    auto = CarTModel(small_config(**every_mechanism())).dt
    seeds = range(300, 316)
    a, b = therapy_outcomes(None, seeds), therapy_outcomes(auto / 4, seeds)
    names = ["tumor at day 1.5", "kills by day 1.5", "peak CAR-T", "chemotherapy kills", "radiation kills",
             "bystander deaths", "IFN-γ arrests"]
    for k, name in enumerate(names):
        assert a[:, k].max() > 0, f"{name}: the mechanism never acted"
        p_mean = stats.ttest_ind(a[:, k], b[:, k], equal_var=False).pvalue
        p_dist = stats.ks_2samp(a[:, k], b[:, k]).pvalue
        assert p_mean > 0.01 and p_dist > 0.01, (
            f"{name}: dt={auto:.2f} min gives {a[:, k].mean():.1f} ± {a[:, k].std():.1f}, dt={auto / 4:.2f} min "
            f"gives {b[:, k].mean():.1f} ± {b[:, k].std():.1f} (Welch p={p_mean:.3g}, KS p={p_dist:.3g})")


def test_same_seed_same_run_with_every_mechanism_on():
    cfg = small_config(time={"duration_days": 2}, **every_mechanism())
    a, b = (run(cfg, seed=4, snapshots=False).timeseries for _ in range(2))
    assert a.equals(b) and a["radiation_kills_total"].iloc[-1] > 0
