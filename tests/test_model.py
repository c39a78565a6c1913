"""CarTModel: Mesa integration, invariants, determinism."""

from __future__ import annotations

import mesa
import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cartsim import CarTModel, run
from cartsim.agents.cart import CarTCell
from cartsim.agents.tumor import TumorCell
from cartsim.environment.space import BLOCK_SHIFT

from .conftest import small_config


def check_invariants(model: CarTModel) -> None:
    t = model.tissue
    for pop, layer in ((model.tumor, t.tumor), (model.cart, t.tcell)):
        live = pop.live_slots()
        # every live cell is where the layer says, and the layer holds nothing else
        assert np.all(layer[pop.x[live], pop.y[live]] == live)
        assert (layer >= 0).sum() == live.size
    # a site holds at most one tumor cell and one CAR-T cell (Mesa's capacity is 2)
    counts = np.zeros((t.width, t.height), int)
    for agent in model.agents:
        x, y = agent.cell.coordinate
        counts[x, y] += 1
    assert counts.max() <= 2
    # the contact scan's block counts follow the tumor layer
    occupied = np.argwhere(t.tumor >= 0)
    blocks = np.zeros_like(t.tumor_blocks)
    np.add.at(blocks, (occupied[:, 0] >> BLOCK_SHIFT, occupied[:, 1] >> BLOCK_SHIFT), 1)
    assert np.array_equal(blocks, t.tumor_blocks)
    if not t.tcells_squeeze_past_tumor:
        assert not np.any((t.tumor >= 0) & (t.tcell >= 0))
    for field in model.cytokines.fields.values():
        assert np.all(field >= 0)
    assert len(model.agents_by_type.get(TumorCell, [])) == model.tumor.count
    assert len(model.agents_by_type.get(CarTCell, [])) == model.cart.count


@pytest.mark.parametrize(("space", "squeeze"), [("grid", True), ("grid", False), ("stirred", True), ("stirred", False)])
def test_invariants_hold_every_step(space, squeeze):
    cfg = small_config(space=space, tissue={"width": 30, "height": 30, "tcells_squeeze_past_tumor": squeeze})
    model = CarTModel(cfg)
    check_invariants(model)
    while model.running:
        model.step()
        check_invariants(model)
        row = model.datacollector.get_model_vars_dataframe().iloc[-1]
        assert row["tumor_total"] == len(model.agents_by_type.get(TumorCell, []))
        assert row["cart_total"] == len(model.agents_by_type.get(CarTCell, []))
        assert row["tumor_total"] == sum(row[f"tumor_{p}"] for p in model.phenotypes)
        assert row["cart_total"] == row["cart_active"] + row["cart_engaged"] + row["cart_exhausted"]
    assert model.cart.kills_total > 0


def test_mesa_cell_api_sees_agents():
    model = CarTModel(small_config())
    agent = next(iter(model.agents_by_type[TumorCell]))
    cell = agent.cell
    assert agent in cell.agents and not cell.is_empty
    # moving through Mesa's API moves the agent in the model
    target = model.tissue.grid.select_random_empty_cell()
    agent.cell = target
    assert agent.cell is target and model.tissue.tumor[target.coordinate] == agent.slot
    check_invariants(model)


def test_same_seed_same_result_different_seed_differs(small):
    a = run(small, seed=3, snapshots=False)
    b = run(small, seed=3, snapshots=False)
    c = run(small, seed=4, snapshots=False)
    pd.testing.assert_frame_equal(a.timeseries, b.timeseries)
    assert a.summary == b.summary
    assert not a.timeseries.equals(c.timeseries)


def test_model_takes_keyword_parameters_and_rng():
    m = CarTModel(small_config(), rng=5, dose=10, tumor_type="dispersed", **{"tumor.doubling_time_h": 30.0})
    assert m.config.dosing[0].cells == 10
    assert m.config.tumor.initial.type == "dispersed"
    assert m.config.tumor.doubling_time_h == 30.0
    assert isinstance(m, mesa.Model) and hasattr(m, "datacollector")


def test_mesa_batch_run():
    results = mesa.batch_run(
        CarTModel,
        parameters={"dose": [20, 80], "duration_days": 1.5, "width": 25, "height": 25, "tumor_cells": 100},
        rng=[1, 2],
        number_processes=1,
        data_collection_period=-1,
        display_progress=False,
    )
    df = pd.DataFrame(results)
    assert len(df) == 4
    assert set(df["dose"]) == {20, 80}
    assert (df["cells_infused"] == df["dose"]).all()
    assert df["day"].max() == pytest.approx(1.5)


def test_recording_follows_record_interval(small):
    r = run(small, snapshots=False)
    days = r.timeseries["day"].to_numpy()
    assert days[0] == 0 and days[-1] == pytest.approx(3.0)
    assert np.allclose(np.diff(days), 0.25)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 2**31),
    squeeze=st.booleans(),
    route=st.sampled_from(["edge", "vessels", "uniform"]),
    tumor_type=st.sampled_from(["nodule", "dispersed"]),
    dose=st.integers(1, 120),
    loss=st.floats(0, 0.2),
    chemotaxis=st.booleans(),
    space=st.sampled_from(["grid", "stirred"]),
)
def test_invariants_property(seed, squeeze, route, tumor_type, dose, loss, chemotaxis, space):
    """Whatever the scenario: occupancy within capacity, fields non-negative, counts consistent."""
    cfg = small_config(
        space=space,
        tissue={"width": 20, "height": 20, "tcells_squeeze_past_tumor": squeeze},
        tumor={"initial": {"type": tumor_type, "cells": 80}},
        antigens={"CD19": {"loss_probability": loss}},
        car_t={"chemotaxis": {"enabled": chemotaxis}},
        dosing=[{"day": 0.25, "cells": dose, "product": "CAR19", "route": route}],
        time={"duration_days": 1.5, "record_every_h": 6},
    )
    model = CarTModel(cfg, rng=seed)
    while model.running:
        model.step()
        check_invariants(model)
