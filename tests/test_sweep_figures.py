"""Sweep figures: PNG + SVG + the CSV tables behind them, for grid and sampled designs."""

from __future__ import annotations

import copy
import subprocess
import sys

import pandas as pd
import pytest

from cartsim.experiments.sweep import Sweep
from cartsim.viz.sweep_figures import plot_sweep

from .conftest import ROOT
from .test_sweep_execution import TINY


@pytest.fixture(scope="module")
def grid_results(tmp_path_factory):
    data = copy.deepcopy(TINY)
    data["sweep"]["plots"] = {"fit": ["eradicated"], "heatmaps": ["eradicated", "relapsed"]}
    return Sweep.from_dict(data).run(tmp_path_factory.mktemp("grid") / "s", executor="serial", progress=False)


def sampled(tmp_path, design: str, samples: int):
    data = copy.deepcopy(TINY)
    data["sweep"] = {"design": design, "samples": samples, "parameters": [
        {"path": "dosing.0.cells", "name": "dose", "bounds": {"low": 5, "high": 80, "scale": "log"}},
        {"path": "car_t.kill_rate_per_h", "name": "kill", "bounds": {"low": 0.5, "high": 5.0}}]}
    return Sweep.from_dict(data).run(tmp_path / design, executor="serial", progress=False)


def check_files(written, stems):
    names = {p.name for p in written}
    for stem in stems:
        assert {f"{stem}.png", f"{stem}.svg", f"{stem}.csv"} <= names, stem
    for p in written:
        assert p.stat().st_size > 0
        if p.suffix == ".png":
            assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        if p.suffix == ".svg":
            assert b"<svg" in p.read_bytes()[:400]
    assert not [p for p in written[0].parent.iterdir() if p.name.startswith(".")], "temporary files left"


def test_grid_sweep_figures_and_tables(grid_results, tmp_path):
    written = plot_sweep(grid_results, tmp_path / "fig")
    check_files(written, ["response_dose_by_escape", "heatmap_eradicated", "heatmap_relapsed", "envelopes"])
    table = pd.read_csv(tmp_path / "fig" / "response_dose_by_escape.csv")
    runs = grid_results.ok_runs
    # the plotted proportions are the fractions of runs, point by point
    erad = table[table["metric"] == "eradicated"].set_index(["escape", "dose"])["estimate"]
    direct = runs.groupby(["escape", "dose"])["eradicated"].mean()
    pd.testing.assert_series_equal(erad.sort_index(), direct.astype(float).sort_index(), check_names=False)
    assert (table["low"] <= table["estimate"] + 1e-12).all() and (table["estimate"] <= table["high"] + 1e-12).all()
    fits = pd.read_csv(tmp_path / "fig" / "fits_dose.csv")
    assert set(fits["escape"]) <= {0.001, 0.1} and {"ed50", "ed50_low", "ed50_high", "slope"} <= set(fits.columns)
    env = pd.read_csv(tmp_path / "fig" / "envelopes.csv")
    assert set(env["variable"]) == {"tumor_total", "cart_total"}
    assert (env["q25"] <= env["median"]).all() and (env["median"] <= env["q75"]).all()


def test_plot_command_with_options(grid_results, tmp_path):
    r = subprocess.run([sys.executable, "-m", "cartsim.cli", "plot", str(grid_results.directory), "--out",
                        str(tmp_path / "f"), "--x", "escape", "--by", "dose", "--metric", "final_tumor",
                        "--day", "1.5"], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert r.returncode == 0, r.stderr
    table = pd.read_csv(tmp_path / "f" / "response_escape_by_dose.csv")
    assert set(table["metric"]) == {"final_tumor", "tumor_reduction_day_1.5"}
    r = subprocess.run([sys.executable, "-m", "cartsim.cli", "plot", str(grid_results.directory), "--x", "dosage"],
                       capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert r.returncode == 2 and "not a swept parameter" in r.stderr and "Traceback" not in r.stderr


def test_sampled_designs_get_scatter_and_sobol_plots(tmp_path):
    written = plot_sweep(sampled(tmp_path, "latin_hypercube", 6))
    check_files(written, ["scatter"])
    assert not any("sobol" in p.name for p in written)
    results = sampled(tmp_path, "saltelli", 4)  # 4 × (2 + 2) = 16 points
    written = plot_sweep(results)
    check_files(written, ["scatter", "sobol"])
    sobol = pd.read_csv(results.directory / "figures" / "sobol.csv")
    assert set(sobol["parameter"]) == {"dose", "kill"} and {"S1", "ST", "S1_conf", "ST_conf"} <= set(sobol.columns)
