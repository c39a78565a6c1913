"""Virtual cohorts: patients drawn from stated distributions, the same result on every executor,
rates with Wilson intervals, and clear messages for bad cohort blocks."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import yaml

from cartsim.calibration.cohort import Cohort
from cartsim.calibration.cohort_config import Characteristic
from cartsim.cli import main


def tiny_cohort(patients: int = 6, **cohort) -> dict:
    """A stirred 20×20 patch, 4 days: a patient runs in ~0.1 s."""
    return {
        "name": "tiny_cohort", "seed": 5, "space": "stirred",
        "tissue": {"width": 20, "height": 20},
        "time": {"duration_days": 4, "record_every_h": 12},
        "antigens": {"CD19": {"negative_fraction": 0.01, "loss_probability": 0.01}},
        "tumor": {"doubling_time_h": 30, "initial": {"type": "dispersed", "cells": 60}},
        "car_t": {"kill_rate_per_h": 2.4},
        "dosing": [{"day": 0.5, "cells": 30, "product": "CAR19", "route": "uniform"}],
        "cohort": {
            "patients": patients,
            "characteristics": [
                {"name": "burden", "path": "tumor.initial.cells", "distribution": "lognormal", "median": 60,
                 "gsd": 1.5, "low": 10, "high": 200},
                {"name": "cd19", "path": "antigens.CD19.mean_density", "distribution": "lognormal",
                 "median": 13000, "gsd": 2.0},
                {"name": "negative", "path": "antigens.CD19.negative_fraction", "distribution": "beta",
                 "a": 1, "b": 50},
                {"name": "dose", "path": "dosing.0.cells", "distribution": "loguniform", "low": 5, "high": 80},
                {"name": "divisions", "path": "car_t.max_divisions", "distribution": "uniform", "low": 0,
                 "high": 10},
            ],
            "published": {"response": 0.81, "antigen_negative_relapse": 0.74},
            **cohort,
        },
    }


def test_same_seed_same_cohort_on_every_executor():
    cohort = Cohort.from_dict(tiny_cohort())
    tables = {}
    for executor in ("serial", "processes", "dask"):
        result = cohort.run(executor=executor, workers=2, progress=False)
        assert result.n_failed == 0
        tables[executor] = result.patients.drop(columns="failed")
    pd.testing.assert_frame_equal(tables["serial"], tables["processes"])
    pd.testing.assert_frame_equal(tables["serial"], tables["dask"])
    # counts are whole cells, and each patient's characteristics differ
    assert tables["serial"]["burden"].map(type).eq(int).all()
    assert tables["serial"]["dose"].nunique() == 6


def test_rates_count_what_they_say(tmp_path):
    cohort = Cohort.from_dict(tiny_cohort(patients=10))
    result = cohort.run(executor="serial", progress=False)
    p = result.patients
    rates = result.rates.set_index("outcome")
    responders = p["responded"].astype(bool)
    assert rates.loc["response", "count"] == responders.sum() and rates.loc["response", "n"] == 10
    relapsed = p["relapsed"].astype(bool) & responders
    assert rates.loc["relapse", "n"] == responders.sum() and rates.loc["relapse", "count"] == relapsed.sum()
    assert rates.loc["antigen_negative_relapse", "n"] == relapsed.sum()
    for _, row in rates.iterrows():
        if row["n"]:
            assert row["low"] <= row["rate"] <= row["high"]
    assert rates.loc["response", "published"] == 0.81
    result.write(tmp_path)
    summary = json.loads((tmp_path / "cohort.json").read_text())
    assert summary["patients"] == 10 and len(summary["rates"]) == 4
    assert len(pd.read_csv(tmp_path / "patients.csv")) == 10


def test_distributions_draw_what_they_state():
    rng = np.random.default_rng(0)
    c = Characteristic(name="x", path="a", distribution="lognormal", median=100.0, gsd=2.0)
    x = c.draw(rng, 20000)
    assert np.median(x) == pytest.approx(100, rel=0.03)
    assert np.std(np.log(x)) == pytest.approx(np.log(2.0), rel=0.03)
    c = Characteristic(name="x", path="a", distribution="loguniform", low=10.0, high=1000.0)
    x = c.draw(rng, 20000)
    assert x.min() >= 10 and x.max() <= 1000 and np.median(x) == pytest.approx(100, rel=0.05)
    c = Characteristic(name="x", path="a", distribution="normal", mean=0.0, sd=1.0, low=-0.5, high=0.5)
    assert np.abs(c.draw(rng, 1000)).max() <= 0.5


def cli(capsys, *args) -> tuple[int, str]:
    code = main([str(a) for a in args])
    return code, capsys.readouterr().err


@pytest.mark.parametrize("change,expected", [
    (lambda c: c["characteristics"][0].update(path="tumor.initial.cels"),
     ["cohort.characteristics[0].path", "no parameter 'tumor.initial.cels'", "Did you mean"]),
    (lambda c: c["characteristics"][3].update(low=80, high=5),
     ["cohort.characteristics[3]", "empty range"]),
    (lambda c: c["characteristics"][0].pop("gsd"),
     ["cohort.characteristics[0]", "distribution 'lognormal' needs median, gsd; missing gsd"]),
    (lambda c: c["characteristics"][0].update(distribution="gamma"),
     ["cohort.characteristics[0].distribution"]),
    (lambda c: c.update(patients="ten"), ["cohort.patients", "valid integer"]),
    (lambda c: c["characteristics"][0].update(low=10, high=5000, median=3000),
     ["patients do not make a valid experiment", "tumor.initial.cells", "do not fit"]),
])
def test_bad_cohort_blocks_give_one_clear_message(capsys, tmp_path, change, expected):
    data = tiny_cohort()
    change(data["cohort"])
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    code, err = cli(capsys, "cohort", path, "--out", tmp_path / "out")
    assert code == 2, err
    assert err.startswith("cartsim: error:") and "Traceback" not in err, err
    for text in expected:
        assert text in err, err


def test_cohort_from_the_command_line(capsys, tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(tiny_cohort(patients=4)), encoding="utf-8")
    code = main(["cohort", str(path), "--out", str(tmp_path / "out"), "--executor", "serial",
                 "--set", "cohort.patients=3"])
    out = capsys.readouterr().out
    assert code == 0
    assert "3 virtual patients" in out and "response:" in out
    assert (tmp_path / "out" / "cohort.png").is_file()
