"""``space: stirred``: the grid model's rules and parameters with the geometry stirred away.

Stirring must remove spatial memory (where a cell goes next does not depend on where it is), so
that cells meet by mass action, while leaving every rate as configured.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys

import numpy as np
import pytest
from scipy import ndimage

from cartsim import CarTModel, load_config, run

from .conftest import small_config


def stirred(**sections):
    return small_config(space="stirred", **sections)


def touching_tumor(model) -> np.ndarray:
    """For every site: is a tumor cell on it or on one of its 8 neighbours?"""
    return ndimage.maximum_filter(model.tissue.tumor >= 0, size=3, mode="constant", cval=0)


def test_initial_tumor_and_infusions_are_scattered():
    cfg = stirred(tissue={"width": 40, "height": 40}, tumor={"initial": {"type": "nodule", "cells": 300}},
                  dosing=[{"day": 0, "cells": 200, "product": "CAR19", "route": "edge"}])
    model = CarTModel(cfg, rng=2)
    model.advance()
    t = model.tissue
    tx, ty = np.nonzero(t.tumor >= 0)
    # a 300-cell nodule would lie within ~10 sites of the centre; scattered cells fill the tissue
    assert np.hypot(tx - 19.5, ty - 19.5).max() > 20
    cx, cy = np.nonzero(t.tcell >= 0)
    edge_distance = np.minimum.reduce([cx, cy, 39 - cx, 39 - cy])
    assert edge_distance.mean() > 5  # on the grid all 200 would be within 2 sites of the edge


@pytest.mark.parametrize("space", ["grid", "stirred"])
def test_contacts_have_no_memory_only_when_stirred(space):
    """After a hop, a T cell touches tumor with the same chance whether or not it touched it before.

    The tumor cannot be bound (it lacks CD19), does not divide and does not die, so the T cells
    only walk. On the grid, touching is strongly correlated from one hop to the next; stirred,
    both conditional chances equal the fraction of sites that touch tumor (mass action).
    """
    cfg = small_config(
        space=space, tissue={"width": 60, "height": 60},
        tumor={"initial": {"type": "dispersed", "cells": 150}, "doubling_time_h": 8760, "death_rate_per_day": 0},
        antigens={"CD19": {"negative_fraction": 1.0}},
        dosing=[{"day": 0, "cells": 300, "product": "CAR19", "route": "uniform"}],
    )
    model = CarTModel(cfg, rng=5)
    model.advance()
    cart = model.cart
    touch = touching_tumor(model)
    counts = np.zeros((2, 2))  # [touched before, touches after]
    for _ in range(400):
        live = cart.live_slots()
        x0, y0 = cart.x[live].copy(), cart.y[live].copy()
        before = touch[x0, y0]
        model.advance()
        moved = (cart.x[live] != x0) | (cart.y[live] != y0)
        after = touch[cart.x[live], cart.y[live]]
        np.add.at(counts, (before[moved].astype(int), after[moved].astype(int)), 1)
    p_given_touch = counts[1, 1] / counts[1].sum()
    p_given_free = counts[0, 1] / counts[0].sum()
    fraction = touch.mean()
    if space == "stirred":
        # binomial standard errors on thousands of hops: a few percent
        se = math.sqrt(fraction * (1 - fraction) / counts[1].sum())
        assert abs(p_given_touch - fraction) < 4 * se + 0.01
        assert abs(p_given_free - fraction) < 0.01
    else:
        assert p_given_touch > 3 * p_given_free


def test_cytokines_are_uniform_with_the_exact_well_mixed_amount():
    """One secreting cell: the field stays uniform and its total follows S/k (1 - exp(-k t))."""
    cfg = stirred(tissue={"width": 30, "height": 30}, tumor={"initial": {"cells": 1}}, dosing=[])
    model = CarTModel(cfg, rng=1)
    fields = model.cytokines
    k = math.log(2) / cfg.cytokines["IL2"].half_life_min
    rate = cfg.cytokines["IL2"].secretion_per_activated_cell_per_min
    minutes = 0.0
    for _ in range(12):
        fields.secrete(np.array([3]), np.array([4]), fields.interval)
        fields.advance()
        minutes += fields.interval
        field = fields.fields["IL2"]
        assert np.ptp(field) <= 1e-6 * field.max()
    expected = rate / k * (1 - math.exp(-k * minutes))
    assert field.sum() == pytest.approx(expected, rel=1e-4)


def test_crowding_by_mass_action_slows_tumor_growth():
    """Stirred, a division succeeds with the free fraction of sites: growth is logistic in the tissue."""
    cfg = stirred(tissue={"width": 20, "height": 20}, tumor={"initial": {"cells": 40}, "death_rate_per_day": 0},
                  dosing=[], time={"duration_days": 30, "record_every_h": 24})
    model = CarTModel(cfg, rng=4)
    model.run()
    counts = model.datacollector.get_model_vars_dataframe()["tumor_total"].to_numpy()
    assert counts[-1] <= 400 and counts[-1] > 360  # approaches the 400 sites
    assert np.all(np.diff(counts) >= 0)
    assert not model.tumor.quiescent[model.tumor.live_slots()].any()  # no neighbours to wait for


def test_stirred_runs_from_the_command_line_and_python(tmp_path):
    path = tmp_path / "dish.yaml"
    path.write_text("space: stirred\ntissue: {width: 20, height: 20}\ntumor: {initial: {cells: 40}}\n"
                    "time: {duration_days: 2}\ndosing: [{day: 0.5, cells: 10, product: CAR19}]\n")
    r = subprocess.run([sys.executable, "-m", "cartsim.cli", "run", str(path), "--out", str(tmp_path / "out")],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    result = run(load_config(path), snapshots=False)
    assert result.config.space == "stirred"
    assert summary["final_tumor"] == result.summary["final_tumor"]  # same seed, same result
