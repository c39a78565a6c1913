"""The sweep block: schema errors, designs, seeds, and the shipped sweep experiments."""

from __future__ import annotations

import copy
import math
import subprocess
import sys

import numpy as np
import pytest

from cartsim.config import ConfigError
from cartsim.experiments.design import run_seed
from cartsim.experiments.sweep import Sweep

from .conftest import CONFIGS, ROOT

BASE = {
    "name": "tiny",
    "seed": 5,
    "tissue": {"width": 25, "height": 25},
    "time": {"duration_days": 2, "record_every_h": 6},
    "tumor": {"initial": {"type": "nodule", "cells": 100}},
    "dosing": [{"day": 0.5, "cells": 40, "product": "CAR19", "route": "edge"}],
}


def sweep_of(**block) -> Sweep:
    data = copy.deepcopy(BASE)
    data["sweep"] = block
    return Sweep.from_dict(data, source="test.yaml")


def error_of(**block) -> str:
    with pytest.raises(ConfigError) as info:
        sweep_of(**block)
    return str(info.value)


DOSE = {"path": "dosing.0.cells", "name": "dose", "values": [10, 20]}


# ------------------------------------------------------------------------------ bad sweep blocks
def test_unknown_key_names_the_sweep_path_and_the_fix():
    msg = error_of(parameters=[DOSE], replicate=3)
    assert "sweep.replicate: unknown key" in msg and "'replicates'" in msg
    msg = error_of(parameters=[{**DOSE, "valuez": [1]}])
    assert "sweep.parameters[0].valuez: unknown key" in msg and "'values'" in msg


def test_wrong_types_and_ranges_are_reported_with_their_path():
    msg = error_of(parameters=[DOSE], replicates=0)
    assert "sweep.replicates" in msg and ">= 1" in msg
    msg = error_of(parameters=[{"path": "dosing.0.cells", "range": {"start": 0, "stop": 10, "num": 3,
                                                                     "scale": "log"}}])
    assert "sweep.parameters[0].range" in msg and "log scale needs start > 0" in msg
    msg = error_of(parameters=[DOSE], design="factorial")
    assert "sweep.design" in msg and "'grid'" in msg


def test_a_parameter_needs_exactly_one_source_of_values():
    msg = error_of(parameters=[{"path": "dosing.0.cells"}])
    assert "sweep.parameters[0]" in msg and "exactly one of 'values'" in msg
    msg = error_of(parameters=[{"path": "dosing.0.cells", "values": [1], "range": {"start": 1, "stop": 2, "num": 2}}])
    assert "got ['values', 'range']" in msg


def test_a_path_that_does_not_exist_names_the_nearest_valid_paths():
    msg = error_of(parameters=[{"path": "dosing.0.celz", "values": [1]}])
    assert "sweep.parameters[0].path" in msg and "'dosing.0.cells'" in msg
    msg = error_of(parameters=[{"path": "antigens.CD19.loss_probabilty", "values": [0.1]}])
    assert "'antigens.CD19.loss_probability'" in msg
    msg = error_of(parameters=[{"path": "tumor", "values": [1]}])
    assert "whole section" in msg


def test_values_the_experiment_schema_rejects_are_reported_before_running():
    msg = error_of(parameters=[{"path": "antigens.CD19.loss_probability", "values": [0.01, 1.5]}])
    assert "design point 1" in msg and "loss_probability=1.5" in msg and "less than or equal to 1" in msg
    msg = error_of(parameters=[{"path": "dosing.0.cells", "values": [2.5]}])  # cells are whole numbers
    assert "design point 0" in msg and "integer" in msg


def test_sampled_designs_need_bounds_and_samples():
    b = {"path": "dosing.0.cells", "bounds": {"low": 10, "high": 100}}
    assert "needs 'samples'" in error_of(parameters=[b], design="latin_hypercube")
    assert "'bounds' need a sampled design" in error_of(parameters=[b])
    assert "power of two (got 100); use 64 or 128" in error_of(parameters=[b], design="sobol", samples=100)
    assert "low (100.0) must be below high (10.0)" in error_of(
        parameters=[{"path": "dosing.0.cells", "bounds": {"low": 100, "high": 10}}], design="sobol", samples=8)
    assert "needs 'bounds'" in error_of(parameters=[DOSE], design="sobol", samples=8)


def test_zip_needs_equal_lengths_and_names_must_be_unique():
    other = {"path": "dosing.0.day", "values": [0.5, 1, 1.5]}
    assert "same length" in error_of(parameters=[DOSE, other], design="zip")
    assert "repeated: ['dose']" in error_of(parameters=[DOSE, {**other, "name": "dose"}])
    assert "taken by result columns" in error_of(parameters=[{**DOSE, "name": "seed"}])


def test_missing_sweep_block_and_bad_yaml_give_one_message(tmp_path):
    with pytest.raises(ConfigError, match="no 'sweep:' block"):
        Sweep.from_dict(copy.deepcopy(BASE))
    path = tmp_path / "bad.yaml"
    path.write_text("name: x\nsweep:\n  parameters:\n    - path: dosing.0.cells\n      values: [1, 2\n")
    r = subprocess.run([sys.executable, "-m", "cartsim.cli", "sweep", str(path), "--dry-run"],
                       capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert r.returncode == 2 and "not valid YAML" in r.stderr and "Traceback" not in r.stderr


# ------------------------------------------------------------------------------ designs
def test_grid_is_full_factorial_with_replicates_and_types_follow_the_field():
    s = sweep_of(parameters=[{"path": "dosing.0.cells", "name": "dose",
                              "range": {"start": 4, "stop": 100, "num": 3, "scale": "log"}},
                             {"path": "antigens.CD19.loss_probability", "name": "escape", "values": [0.001, 0.01]}],
                 replicates=3)
    assert s.design.shape == (6, 2) and s.n_runs == 18
    assert s.design["dose"].tolist() == [4, 4, 20, 20, 100, 100]
    assert all(isinstance(v, int) for v in s.design["dose"])  # the schema's int field stays int
    assert s.design["escape"].tolist() == [0.001, 0.01] * 3
    task = s.task(7)  # point 2, replicate 1
    assert (task.point, task.replicate) == (2, 1)
    assert task.overrides == {"dosing.0.cells": 20, "antigens.CD19.loss_probability": 0.001}


def test_zip_and_one_value_for_several_paths():
    s = sweep_of(parameters=[
        {"path": "dosing.0.cells", "name": "dose", "values": [10, 20, 30]},
        {"path": ["tissue.width", "tissue.height"], "name": "size", "values": [25, 30, 35]},
    ], design="zip")
    assert s.design.to_numpy().tolist() == [[10, 25], [20, 30], [30, 35]]
    assert s.task(1).overrides == {"dosing.0.cells": 20, "tissue.width": 30, "tissue.height": 30}


@pytest.mark.parametrize("design, samples, points", [("latin_hypercube", 10, 10), ("sobol", 16, 16),
                                                     ("saltelli", 8, 8 * (2 + 2))])
def test_sampled_designs_cover_their_bounds_on_the_chosen_scale(design, samples, points):
    params = [{"path": "antigens.CD19.loss_probability", "name": "escape",
               "bounds": {"low": 1e-4, "high": 1e-1, "scale": "log"}},
              {"path": "car_t.kill_rate_per_h", "name": "kill", "bounds": {"low": 1.0, "high": 3.0}}]
    s = sweep_of(parameters=params, design=design, samples=samples)
    assert len(s.design) == points
    esc, kill = s.design["escape"].to_numpy(), s.design["kill"].to_numpy()
    assert esc.min() >= 1e-4 and esc.max() <= 1e-1 and kill.min() >= 1.0 and kill.max() <= 3.0
    if design == "latin_hypercube":  # one point in each of the 10 strata of each axis
        assert sorted(np.floor((np.log10(esc) + 4) / 3 * 10).astype(int)) == list(range(10))
        assert sorted(np.floor((kill - 1) / 2 * 10).astype(int)) == list(range(10))
    again = sweep_of(parameters=params, design=design, samples=samples)
    assert again.design.equals(s.design)  # the sampler is seeded from the base seed
    other = Sweep.from_dict({**copy.deepcopy(BASE), "seed": 6,
                             "sweep": {"parameters": params, "design": design, "samples": samples}})
    assert not other.design.equals(s.design)


def test_run_seeds_are_deterministic_distinct_and_independent_of_the_plan():
    s = sweep_of(parameters=[DOSE], replicates=50)
    seeds = s.runs_table()["seed"].tolist()
    assert len(set(seeds)) == len(seeds) == 100
    assert seeds == sweep_of(parameters=[DOSE], replicates=50).runs_table()["seed"].tolist()
    # a run's seed depends on the base seed and its (point, replicate) only
    assert s.task(51).seed == run_seed(5, 1, 1)
    assert sweep_of(parameters=[DOSE], replicates=50, seed=6).task(51).seed != s.task(51).seed
    assert all(0 <= x < 2**63 for x in seeds)


# ------------------------------------------------------------------------------ shipped experiments
SHIPPED = ["dose_response", "antigen_escape", "dose_x_escape", "sensitivity"]


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_sweeps_validate_and_are_small(name):
    s = Sweep.from_yaml(CONFIGS / f"{name}.yaml")
    assert 50 <= s.n_runs <= 250, "shipped sweeps should finish in a few minutes on 2 cores"
    cfg = s.config
    # every run must stay small: sites × days bounds the cost of one run
    assert cfg.tissue.width * cfg.tissue.height * cfg.time.duration_days <= 60 * 60 * 21
    text = (CONFIGS / f"{name}.yaml").read_text()
    assert "scale up" in text.lower()
    for i in (0, s.n_runs - 1):
        assert math.isfinite(s.task(i).seed)


def test_dry_run_prints_the_design():
    r = subprocess.run([sys.executable, "-m", "cartsim.cli", "sweep", str(CONFIGS / "antigen_escape.yaml"),
                        "--dry-run"], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "14 points × 8 replicates = 112 runs" in r.stdout and "CAR19or22" in r.stdout
