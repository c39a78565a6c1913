"""Sobol indices from a Saltelli sweep design, checked on the Ishigami function's known indices."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cartsim.analysis import sobol_indices
from cartsim.config import ExperimentConfig
from cartsim.experiments.design import SweepSpec, design_table


class FakeResults:
    """The parts of SweepResults that sobol_indices reads."""

    def __init__(self, design: pd.DataFrame, runs: pd.DataFrame, design_type: str = "saltelli"):
        self.design, self.ok_runs, self.design_type = design, runs, design_type
        self.parameters = list(design.columns)


def ishigami(x1, x2, x3, a=7.0, b=0.1):
    return np.sin(x1) + a * np.sin(x2) ** 2 + b * x3**4 * np.sin(x1)


def saltelli_design(samples: int) -> pd.DataFrame:
    bounds = {"low": -np.pi, "high": np.pi}
    spec = SweepSpec.model_validate({"design": "saltelli", "samples": samples, "parameters": [
        {"path": "car_t.kill_rate_per_h", "name": "x1", "bounds": bounds},
        {"path": "car_t.detach_rate_per_h", "name": "x2", "bounds": bounds},
        {"path": "tumor.death_rate_per_day", "name": "x3", "bounds": bounds}]})
    return design_table(spec, ExperimentConfig())


def test_ishigami_indices_are_recovered():
    design = saltelli_design(1024)
    assert len(design) == 1024 * 5
    rng = np.random.default_rng(0)
    rows = []
    for point, (x1, x2, x3) in enumerate(design[["x1", "x2", "x3"]].to_numpy()):
        for rep in range(2):  # replicates with a little noise are averaged per point
            rows.append({"point": point, "x1": x1, "x2": x2, "x3": x3,
                         "y": ishigami(x1, x2, x3) + rng.normal(0, 0.05)})
    table = sobol_indices(FakeResults(design, pd.DataFrame(rows)), ["y"]).set_index("parameter")
    # analytic values (Ishigami & Homma 1990; Sobol' & Levitan 1999)
    assert table.loc["x1", "S1"] == pytest.approx(0.3139, abs=0.05)
    assert table.loc["x2", "S1"] == pytest.approx(0.4424, abs=0.05)
    assert table.loc["x3", "S1"] == pytest.approx(0.0, abs=0.05)
    assert table.loc["x1", "ST"] == pytest.approx(0.5576, abs=0.05)
    assert table.loc["x2", "ST"] == pytest.approx(0.4424, abs=0.05)
    assert table.loc["x3", "ST"] == pytest.approx(0.2437, abs=0.05)
    assert (table["S1_conf"] > 0).all()


def test_yes_no_metrics_use_the_fraction_per_point_and_errors_are_clear():
    design = saltelli_design(64)
    runs = pd.DataFrame({"point": np.arange(len(design)), **{c: design[c] for c in design.columns}})
    runs["big"] = pd.array(runs["x2"] > 0, dtype="boolean")  # depends on x2 only
    table = sobol_indices(FakeResults(design, runs), ["big"]).set_index("parameter")
    assert table.loc["x2", "ST"] > 0.8 and table.loc["x1", "ST"] < 0.1 and table.loc["x3", "ST"] < 0.1
    with pytest.raises(ValueError, match="saltelli"):
        sobol_indices(FakeResults(design, runs, "latin_hypercube"), ["big"])
    with pytest.raises(ValueError, match="have no value"):
        sobol_indices(FakeResults(design, runs.iloc[:-3]), ["big"])
