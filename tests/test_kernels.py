"""The compiled CAR-T rules agree with their numpy references, and their random numbers are sound.

On fixed inputs the per-step counts (contacts tested, bindings, hop attempts, kills, let-gos) are
compared with their exact expectations; over whole runs the compiled and the reference engines
give the same outcome distributions.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from cartsim import CarTModel
from cartsim.agents import cart_kernels as kernels
from cartsim.agents.cart import ACTIVE, ENGAGED
from cartsim.agents.kernel_random import integer, new_stream, uniform

from .conftest import small_config

REFERENCE_RULES = ("attack", "seek_targets", "move", "proliferate", "differentiate", "fratricide")


def use_reference_rules(model: CarTModel) -> CarTModel:
    """The model with its CAR-T rules swapped for the numpy references (on this instance only)."""
    for name in REFERENCE_RULES:
        setattr(model.cart, name, getattr(model.cart, f"{name}_reference"))
    return model


def test_streams_are_reproducible_and_uniform():
    a, b = new_stream(np.random.default_rng(7)), new_stream(np.random.default_rng(7))
    xa = np.array([uniform(a) for _ in range(20_000)])
    xb = np.array([uniform(b) for _ in range(20_000)])
    assert np.array_equal(xa, xb)
    assert not np.array_equal(xa, [uniform(new_stream(np.random.default_rng(8))) for _ in range(20_000)])
    assert stats.kstest(xa, "uniform").pvalue > 0.001
    counts = np.bincount([integer(a, 0, 7) for _ in range(70_000)], minlength=7)
    assert counts.size == 7
    assert stats.chisquare(counts).pvalue > 0.001


def scene(seed: int, kill_rate=0.0, detach_rate=0.0, speed=None):
    """A 40×40 tissue with no tumor yet and no dosing: cells are placed by the tests."""
    car_t = {"kill_rate_per_h": kill_rate, "detach_rate_per_h": detach_rate}
    if speed is not None:
        car_t["speed_um_per_min"] = speed
    cfg = small_config(tissue={"width": 40, "height": 40, "tcells_squeeze_past_tumor": True},
                       tumor={"initial": {"cells": 1}}, dosing=[], car_t=car_t)
    model = CarTModel(cfg, rng=seed)
    model.tumor.remove(int(model.tumor.live_slots()[0]), 0.0)
    return model


def place_contacts(model, per_cell_p):
    """One active CAR-T every 4 sites; around each, tumor cells with per-step binding probability
    ``per_cell_p`` (one entry per touching tumor cell). Returns the CAR-T slots."""
    tumor, cart = model.tumor, model.cart
    offsets = [(0, 0), (1, 0), (0, 1), (-1, 0), (0, -1), (1, 1)]
    slots = []
    for x in range(2, 38, 4):
        for y in range(2, 38, 4):
            for (dx, dy), p in zip(offsets, per_cell_p, strict=False):
                t = tumor.add(x + dx, y + dy, np.array([5e4]), 0.0)
                tumor.bind_p[t] = p
            slots.append(cart.add(x, y, 0, 0.0))
    return np.array(slots)


@pytest.mark.parametrize("rule", ["seek_targets", "seek_targets_reference"])
def test_bindings_per_step_match_their_expectation(rule):
    ps = [0.3, 0.1, 0.0, 0.6]  # one cell cannot be bound at all: it is never tested
    p_any = 1 - math.prod(1 - p for p in ps)
    bound, tested, n = 0, 0, 0
    for seed in range(30):
        model = scene(seed)
        cells = place_contacts(model, ps)
        out = getattr(model.cart, rule)(0.0)
        if out is not None:
            tested += out[0]
        engaged = model.cart.state[cells] == ENGAGED
        bound += int(engaged.sum())
        n += cells.size
        # an engaged cell holds one of the cells it touches, never the one it cannot bind
        tgt = model.cart.target[cells[engaged]]
        assert (model.tumor.bind_p[tgt, 0] > 0).all()
    if rule == "seek_targets":
        assert tested == n * 3  # every bindable contact is tested once, every step
    assert abs(bound - n * p_any) < 4 * math.sqrt(n * p_any * (1 - p_any))


def test_binding_picks_among_successes_uniformly():
    """Two contacts that always bind: each is chosen half the time."""
    first = 0
    n = 0
    for seed in range(20):
        model = scene(seed)
        cells = place_contacts(model, [1.0, 1.0])
        model.cart.seek_targets(0.0)
        tgt = model.cart.target[cells]
        first += int((model.tumor.x[tgt] == model.cart.x[cells]).sum())  # the cell on its own site
        n += cells.size
    assert abs(first - n / 2) < 4 * math.sqrt(n / 4)


@pytest.mark.parametrize("rule", ["move", "move_reference"])
def test_hops_per_step_match_their_expectation(rule):
    moved, n = 0, 0
    for seed in range(10):
        model = scene(seed, speed=4.0)
        cart = model.cart
        cells = np.array([cart.add(x, y, 0, 0.0) for x in range(2, 38, 3) for y in range(2, 38, 3)])
        x0, y0 = cart.x[cells].copy(), cart.y[cells].copy()
        getattr(cart, rule)(0.0)
        step = np.maximum(abs(cart.x[cells] - x0), abs(cart.y[cells] - y0))
        assert step.max() <= 1  # one hop to a Moore neighbour at most
        assert (model.tissue.tcell[cart.x[cells], cart.y[cells]] == cells).all()  # layer agrees
        moved += int((step == 1).sum())
        n += cells.size
    p = cart.p_hop  # sparse cells, far from the edge: every attempt finds its site free
    assert abs(moved - n * p) < 4 * math.sqrt(n * p * (1 - p))


@pytest.mark.parametrize("rule", ["attack", "attack_reference"])
def test_kills_and_let_gos_per_step_match_their_expectation(rule):
    kills, released, n = 0, 0, 0
    for seed in range(30):
        model = scene(seed, kill_rate=3.0, detach_rate=6.0)
        cart = model.cart
        cells = place_contacts(model, [1.0])
        cart.seek_targets(0.0)
        assert (cart.state[cells] == ENGAGED).all()
        getattr(cart, rule)(0.0)
        kills += int(cart.kills[cells].sum())
        released += int(((cart.state[cells] == ACTIVE) & (cart.kills[cells] == 0)).sum())
        n += cells.size
    for count, p in ((kills, cart.p_kill), (released, cart.p_detach)):
        assert abs(count - n * p) < 4 * math.sqrt(n * p * (1 - p))


def test_one_target_is_killed_once_by_many_killers():
    model = scene(1, kill_rate=600.0)  # a kill within the step is all but certain
    cart, tumor = model.cart, model.tumor
    t = tumor.add(20, 20, np.array([5e4]), 0.0)
    tumor.bind_p[t] = 1.0
    cells = [cart.add(20 + dx, 20 + dy, 0, 0.0) for dx, dy in [(0, 0), (1, 0), (0, 1), (1, 1)]]
    cart.seek_targets(0.0)
    sites = []
    while not sites:  # some killers may hold on without killing in a step
        sites = cart.attack(0.0)
    assert sites == [(20, 20)]
    cart.attack(0.0)  # whoever still holds the dead target lets go at once
    assert cart.kills[cells].sum() == 1 and cart.kills_total == 1
    assert (cart.state[cells] != ENGAGED).all()  # the others lost their target


def test_kernel_scans_agree_with_numpy_masks():
    model = CarTModel(small_config(), rng=4)
    for _ in range(300):
        model.advance()
    cart = model.cart
    live = cart.live_slots()
    now = model.minutes
    assert np.array_equal(cart.activated_slots(now), live[cart.activated(live, now)])
    assert np.array_equal(kernels.dying(cart.alive, cart.death_at, cart._next, now + 5e3),
                          live[cart.death_at[live] <= now + 5e3])


def outcomes(reference: bool, mechanisms: bool = False):
    sections = {"tumor": {"initial": {"cells": 300}},
                "dosing": [{"day": 0.5, "cells": 12, "product": "CAR19", "route": "uniform"}]}
    if mechanisms:  # every T-cell mechanism on (tests/test_time_step.py), over 2 days
        from .test_time_step import MECHANISMS
        sections = MECHANISMS
    cfg = small_config(time={"duration_days": 2 if mechanisms else 3, "record_every_h": 6}, **sections)
    rows = []
    for seed in range(200, 216):
        model = CarTModel(cfg, rng=seed)
        if reference:
            use_reference_rules(model)
        model.run()
        c = model._census
        row = [c["tumor_total"], c["kills_total"], c["cart_total"]]
        if mechanisms:
            row += [c["cart_pd1_positive"], c["trogocytosis_escapes_total"] + c["fratricide_total"]]
        rows.append(row)
    return np.array(rows, dtype=float)


@pytest.mark.slow
@pytest.mark.parametrize("mechanisms", [False, True], ids=["default", "every-mechanism-on"])
def test_compiled_and_reference_engines_agree_over_seeds(mechanisms):
    a, b = outcomes(reference=False, mechanisms=mechanisms), outcomes(reference=True, mechanisms=mechanisms)
    names = ["tumor at the end", "kills by the end", "CAR-T at the end"]
    if mechanisms:
        names += ["PD-1+ CAR-T at the end", "trogocytosis escapes + fratricide kills"]
    for k, name in enumerate(names):
        p_mean = stats.ttest_ind(a[:, k], b[:, k], equal_var=False).pvalue
        p_dist = stats.ks_2samp(a[:, k], b[:, k]).pvalue
        assert p_mean > 0.01 and p_dist > 0.01, (
            f"{name}: compiled {a[:, k].mean():.1f} ± {a[:, k].std():.1f}, "
            f"reference {b[:, k].mean():.1f} ± {b[:, k].std():.1f} (Welch p={p_mean:.3g}, KS p={p_dist:.3g})"
        )


@pytest.mark.parametrize("mechanisms", [False, True], ids=["default", "every-mechanism-on"])
def test_same_seed_same_run(mechanisms):
    from .test_time_step import MECHANISMS

    cfg = small_config(**(MECHANISMS if mechanisms else {}))
    runs = [CarTModel(cfg, rng=9) for _ in range(2)]
    for m in runs:
        m.run()
    a, b = (m.datacollector.get_model_vars_dataframe() for m in runs)
    assert a.equals(b)
