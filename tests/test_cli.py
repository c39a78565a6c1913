"""The command line: runs end to end, and bad input gives one clear message, exit 2, no traceback."""

from __future__ import annotations

import json
import subprocess
import sys

import pandas as pd
import pytest
import yaml

from .conftest import CONFIGS, ROOT


def cartsim(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "cartsim.cli", *map(str, args)],
                          capture_output=True, text=True, cwd=cwd or ROOT, timeout=300)


def test_quickstart_end_to_end(tmp_path):
    out = tmp_path / "qs"
    r = cartsim("run", CONFIGS / "quickstart.yaml", "--out", out)
    assert r.returncode == 0, r.stderr
    assert "results in" in r.stdout
    for name in ("config.yaml", "timeseries.parquet", "summary.json", "snapshots.npz",
                 "timeseries.png", "tissue.png"):
        assert (out / name).stat().st_size > 0, name
    assert not list(out.glob(".*")), "temporary files left behind"
    ts = pd.read_parquet(out / "timeseries.parquet")
    summary = json.loads((out / "summary.json").read_text())
    resolved = yaml.safe_load((out / "config.yaml").read_text())
    assert resolved["seed"] == 1 and resolved["cartsim_version"]
    assert ts["day"].iloc[-1] == pytest.approx(resolved["time"]["duration_days"])
    assert summary["final_tumor"] == ts["tumor_total"].iloc[-1]
    assert summary["min_tumor"] == ts.loc[ts.day >= 2, "tumor_total"].min()
    assert summary["peak_cart"] == ts["cart_total"].max()
    for col in ("tumor_CD19+", "tumor_CD19-", "cart_active", "cart_engaged", "cart_exhausted",
                "kills_total", "IL2_total", "IFNg_max", "IL6_max"):
        assert col in ts.columns
    assert (out / "timeseries.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_run_is_reproducible_and_seed_and_set_apply(tmp_path):
    args = ["run", CONFIGS / "quickstart.yaml", "--quiet", "--no-plots", "--seed", "5",
            "--set", "time.duration_days=3", "--set", "dosing.0.cells=50"]
    assert cartsim(*args, "--out", tmp_path / "a").returncode == 0
    assert cartsim(*args, "--out", tmp_path / "b").returncode == 0
    a = pd.read_parquet(tmp_path / "a" / "timeseries.parquet")
    b = pd.read_parquet(tmp_path / "b" / "timeseries.parquet")
    pd.testing.assert_frame_equal(a, b)
    assert a["cells_infused"].iloc[-1] == 50 and a["day"].iloc[-1] == 3
    assert yaml.safe_load((tmp_path / "a" / "config.yaml").read_text())["seed"] == 5


def test_run_reports_the_mechanisms_switched_on(tmp_path):
    """The printed summary names the outcomes of the mechanisms and treatments that are on, and only those."""
    base = ["run", CONFIGS / "quickstart.yaml", "--no-plots", "--set", "time.duration_days=4"]
    plain = cartsim(*base, "--out", tmp_path / "plain")
    assert plain.returncode == 0, plain.stderr
    assert "memory CAR-T" not in plain.stdout and "trogocytosis" not in plain.stdout
    r = cartsim(*base, "--out", tmp_path / "on", "--set", "car_t.memory.enabled=true",
                "--set", "car_t.pd1.enabled=true", "--set", "car_t.trogocytosis.enabled=true",
                "--set", "treatments=[{kind: radiation, day: 0.5, dose_Gy: 2}]")
    assert r.returncode == 0, r.stderr
    summary = json.loads((tmp_path / "on" / "summary.json").read_text())
    assert f"memory CAR-T: {summary['memory_fraction_end']:.0%} of the CAR-T at the end" in r.stdout
    assert f"PD-1+ CAR-T: {summary['pd1_positive_fraction_end']:.0%} at the end" in r.stdout
    assert f"trogocytosis: {summary['trogocytosis_escapes']} tumor cells escaped" in r.stdout
    assert summary["radiation_kills"] > 0 and f"tumor cells killed {summary['radiation_kills']} by radiation" in r.stdout


def test_validate_ok():
    r = cartsim("validate", CONFIGS / "dual_target.yaml")
    assert r.returncode == 0 and "valid" in r.stdout


BAD = {
    "typo": ("tumor:\n  doubling_tme_h: 30\n", "tumor.doubling_tme_h: unknown key. Did you mean 'doubling_time_h'?"),
    "wrong type": ("car_t:\n  speed_um_per_min: fast\n", "car_t.speed_um_per_min"),
    "impossible value": ("antigens:\n  CD19:\n    loss_probability: 2\n", "antigens.CD19.loss_probability"),
    "bad yaml": ("tumor: [1, 2\n", "not valid YAML"),
    "not a mapping": ("- 1\n- 2\n", "mapping"),
}


@pytest.mark.parametrize("case", list(BAD))
@pytest.mark.parametrize("command", ["run", "validate"])
def test_bad_config_one_clear_message(tmp_path, case, command):
    text, expected = BAD[case]
    p = tmp_path / "bad.yaml"
    p.write_text(text)
    r = cartsim(command, p, "--out", tmp_path / "o") if command == "run" else cartsim(command, p)
    assert r.returncode == 2
    assert expected in r.stderr
    assert "Traceback" not in r.stderr and r.stderr.startswith("cartsim: error:")
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("args,expected", [
    (["run", "missing.yaml"], "file not found"),
    (["run", CONFIGS / "quickstart.yaml", "--set", "tumor.intial.cells=5"], "'tumor.initial'"),
    (["run", CONFIGS / "quickstart.yaml", "--set", "nonsense"], "dotted.path=VALUE"),
    (["run", CONFIGS / "quickstart.yaml", "--set", "dosing.3.cells=5"], "index 3 out of range"),
    (["run", CONFIGS / "quickstart.yaml", "--set", "tissue.width=-4"], "tissue.width"),
    (["run", CONFIGS / "quickstart.yaml", "--seed", "-1"], "--seed"),
])
def test_bad_arguments(args, expected):
    r = cartsim(*args)
    assert r.returncode == 2, r.stderr
    assert expected in r.stderr and "Traceback" not in r.stderr


def test_help_explains():
    r = cartsim("--help")
    assert r.returncode == 0 and "run" in r.stdout and "validate" in r.stdout and "examples" in r.stdout
    r = cartsim("run", "--help")
    assert "--set" in r.stdout and "--seed" in r.stdout


def test_params_doc_is_current():
    r = cartsim("params")
    assert r.returncode == 0
    assert (ROOT / "docs" / "parameters.md").read_text() == r.stdout, "run `make params`"


def test_resolved_config_runs_again(tmp_path):
    args = ["--quiet", "--no-plots", "--set", "time.duration_days=3"]
    assert cartsim("run", CONFIGS / "quickstart.yaml", "--out", tmp_path / "a", *args).returncode == 0
    r = cartsim("run", tmp_path / "a" / "config.yaml", "--out", tmp_path / "b", *args)
    assert r.returncode == 0, r.stderr
    a = pd.read_parquet(tmp_path / "a" / "timeseries.parquet")
    pd.testing.assert_frame_equal(a, pd.read_parquet(tmp_path / "b" / "timeseries.parquet"))


def test_too_long_time_step_is_a_config_error(tmp_path):
    r = cartsim("run", CONFIGS / "quickstart.yaml", "--out", tmp_path / "o", "--set", "time.dt_min=10")
    assert r.returncode == 2 and "time.dt_min" in r.stderr and "Traceback" not in r.stderr
