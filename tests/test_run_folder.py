"""A run folder read back: :func:`cartsim.load_run` returns what :meth:`RunResult.write` wrote,
and a folder that is not an agent run's gives one clear error."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import yaml

import cartsim
from cartsim import ConfigError, load_run
from cartsim.viz.figures import save_run_figures

from .conftest import CONFIGS, small_config


@pytest.fixture(scope="module")
def result():
    config = small_config(time={"duration_days": 1, "record_every_h": 6, "snapshot_days": [0, 0.5]})
    return cartsim.run(config, seed=11)


def assert_same_snapshots(loaded, original):
    assert len(loaded) == len(original) > 0
    for a, b in zip(loaded, original, strict=True):
        assert (a.day, a.antigens, a.site_um) == (b.day, b.antigens, b.site_um)
        for name in ("tumor_phenotype", "tumor_antigen", "tcell_state", "dead_age_h"):
            x, y = getattr(a, name), getattr(b, name)
            assert x.dtype == y.dtype and np.array_equal(x, y), name
        assert list(a.cytokines) == list(b.cytokines)
        for name in a.cytokines:
            np.testing.assert_array_equal(a.cytokines[name], b.cytokines[name])


def test_a_written_run_reads_back_equal(result, tmp_path):
    out = result.write(tmp_path / "run")
    # the data files only: pictures are drawn by the caller
    assert sorted(p.name for p in out.iterdir()) == ["config.yaml", "snapshots.npz", "summary.json",
                                                      "timeseries.parquet"]
    loaded = load_run(out)
    assert isinstance(loaded, cartsim.RunResult)
    assert loaded.config == result.config and loaded.seed == 11
    pd.testing.assert_frame_equal(loaded.timeseries, result.timeseries)
    assert loaded.summary == result.summary
    assert_same_snapshots(loaded.snapshots, result.snapshots)
    # and written again, it gives the same tables
    again = load_run(loaded.write(tmp_path / "again"))
    pd.testing.assert_frame_equal(again.timeseries, result.timeseries)
    assert again.config == result.config and again.summary == result.summary


def test_a_run_without_snapshots_reads_back_without_them(tmp_path):
    result = cartsim.run(small_config(time={"duration_days": 0.5, "record_every_h": 6}), snapshots=False)
    loaded = load_run(result.write(tmp_path / "run"))
    assert loaded.snapshots == [] and not (tmp_path / "run" / "snapshots.npz").exists()
    pd.testing.assert_frame_equal(loaded.timeseries, result.timeseries)


def test_the_run_figures_are_the_callers(result, tmp_path):
    written = save_run_figures(tmp_path, result.timeseries, result.summary, result.snapshots)
    assert [p.name for p in written] == ["timeseries.png", "tissue.png"]
    assert all(p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in written)
    assert [p.name for p in save_run_figures(tmp_path / "no_snap", result.timeseries)] == ["timeseries.png"]


def test_what_cartsim_run_wrote_reads_back(tmp_path):
    from cartsim.cli import main

    out = tmp_path / "quick"
    assert main(["run", str(CONFIGS / "quickstart.yaml"), "--out", str(out), "--quiet", "--no-plots",
                 "--set", "time.duration_days=2.5", "--seed", "3"]) == 0
    loaded = load_run(out)
    assert loaded.seed == 3 and loaded.config.time.duration_days == 2.5
    assert loaded.timeseries["day"].iloc[-1] == pytest.approx(2.5)
    assert loaded.summary["final_tumor"] == loaded.timeseries["tumor_total"].iloc[-1]
    assert not (out / "timeseries.png").exists()


def _message(path) -> str:
    with pytest.raises(ConfigError) as info:
        load_run(path)
    message = str(info.value)
    assert "\n" not in message and "Traceback" not in message
    return message


def test_a_missing_folder_or_not_a_run_gives_one_clear_message(result, tmp_path):
    assert "no such folder" in _message(tmp_path / "nowhere")
    (tmp_path / "file.txt").write_text("x")
    assert "not a folder" in _message(tmp_path / "file.txt")
    (tmp_path / "empty").mkdir()
    message = _message(tmp_path / "empty")
    assert "not a run folder" in message and "config.yaml" in message

    # a sweep folder points to load_results
    (tmp_path / "sweep").mkdir()
    (tmp_path / "sweep" / "manifest.json").write_text("{}")
    assert "load_results" in _message(tmp_path / "sweep")

    # a run folder missing one table says which
    out = result.write(tmp_path / "partial")
    (out / "summary.json").unlink()
    message = _message(out)
    assert "summary.json" in message and "config.yaml" not in message


def test_a_damaged_or_foreign_run_folder_is_a_config_error(result, tmp_path):
    out = result.write(tmp_path / "run")
    config = out / "config.yaml"
    data = yaml.safe_load(config.read_text())
    data["tissue"]["width"] = -3
    config.write_text(yaml.safe_dump(data))
    assert "tissue.width" in str(pytest.raises(ConfigError, load_run, out).value)

    out = result.write(tmp_path / "broken")
    (out / "timeseries.parquet").write_bytes(b"not parquet")
    assert "cannot read" in _message(out)

    ode = tmp_path / "ode"
    ode.mkdir()
    for name in ("timeseries.parquet", "summary.json"):
        (ode / name).write_bytes((out / name).read_bytes() if name == "summary.json" else b"")
    (ode / "config.yaml").write_text(yaml.safe_dump({"name": "x", "model": "cartmath", "parameter_set": "raji"}))
    assert "ODE run" in _message(ode)
