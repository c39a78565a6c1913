"""ODE experiments: YAML schema and messages, derivation from agent experiments, files, CLI, docs."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import yaml

from cartsim.cli import main
from cartsim.config import ConfigError
from cartsim.experiments.summary import summarize
from cartsim.odes import load_ode_config, parse_ode_config, run_ode, simulate
from cartsim.odes.models import parameters_markdown

from .conftest import CONFIGS, ROOT

ODE_CONFIGS = sorted(CONFIGS.glob("ode_*.yaml"))


def write(tmp_path, text, name="exp.yaml"):
    p = tmp_path / name
    p.write_text(text)
    return p


# ----------------------------------------------------------------------------- shipped files
@pytest.mark.parametrize("path", ODE_CONFIGS, ids=[p.stem for p in ODE_CONFIGS])
def test_shipped_ode_configs_run(path):
    result = run_ode(load_ode_config(path))
    ts = result.timeseries
    assert ts["day"].iloc[0] == 0 and ts["day"].iloc[-1] == result.config.final_day
    assert np.all(np.diff(ts["day"]) > 0)
    assert np.all(ts.drop(columns="day").to_numpy() >= 0)


def test_raji_config_is_the_published_protocol():
    config = load_ode_config(CONFIGS / "ode_cartmath_raji.yaml")
    assert config.parameter_values() == pytest.approx(dict(config.ode_model.params("raji")))
    result = run_ode(config)
    direct = simulate("cartmath", "raji", {"tumor": 3e6}, (0, 15), doses=[(7, 1e7)])
    np.testing.assert_allclose(result.timeseries["tumor_total"], direct.tumor_total, rtol=1e-9)
    assert result.summary["final_tumor"] == pytest.approx(9.409e8, rel=1e-3)
    assert not result.summary["eradicated"]
    raised = run_ode(load_ode_config(CONFIGS / "ode_cartmath_raji.yaml", {"dosing.0.cells": 1.5e7}))
    assert raised.summary["eradicated"] and raised.summary["eradication_day"] < 15


def test_protocol_fills_what_the_file_leaves_out(tmp_path):
    config = load_ode_config(write(tmp_path, "model: cartmath\nparameter_set: hdlm2\n"))
    assert config.initial == {"cart_effector": 0.0, "cart_memory": 0.0, "tumor": 2e6}
    assert config.dose_list() == [(42.0, 1.5e6)] and config.end_day == 200
    assert len(config.parameters) == 9
    untreated = load_ode_config(write(tmp_path, "model: cartmath\nparameter_set: hdlm2\ndosing: []\n"))
    assert untreated.dose_list() == [] and untreated.infusion_days == []


def test_parameters_with_units(tmp_path):
    text = ("model: cartmath\nparameters:\n  gamma: {value: 4.0e-8, unit: 1/(cell*day)}\n"
            "  r: {value: 0.4, unit: 1/d}\n  alpha: 2.0e-8\n")
    values = load_ode_config(write(tmp_path, text)).parameter_values()
    assert values["gamma"] == 4e-8 and values["r"] == 0.4 and values["alpha"] == 2e-8
    assert values["theta"] == 2.3e-4  # untouched: the raji set's


# ----------------------------------------------------------------------------- derived from an agent experiment
def test_agent_experiment_becomes_an_ode_experiment():
    config = load_ode_config(CONFIGS / "quickstart.yaml", model="cartmath")
    agent = yaml.safe_load((CONFIGS / "quickstart.yaml").read_text())
    assert config.model == "cartmath" and config.parameter_set == "raji"
    assert config.initial["tumor"] == agent["tumor"]["initial"]["cells"] == 1200
    assert config.dose_list() == [(2.0, 300.0)]
    assert config.end_day == 28 and config.record_every_h == 6
    assert config.name == "quickstart_cartmath"
    leon = load_ode_config(CONFIGS / "quickstart.yaml", model="leon_triana")
    assert leon.initial == {"cart": 0.0, "tumor": 1200.0, "bcells": 2.5e10}
    kuz = load_ode_config(CONFIGS / "quickstart.yaml", {"initial.effector": 0}, model="kuznetsov")
    assert kuz.initial == {"effector": 0.0, "tumor": 1200.0}
    hd = load_ode_config(CONFIGS / "quickstart.yaml", parameter_set="hdlm2")
    assert hd.parameter_set == "hdlm2" and hd.parameter_values()["b"] == 1.404029e-12


def test_dual_product_agent_doses_are_summed():
    text = (CONFIGS / "dual_target.yaml").read_text()
    agent = yaml.safe_load(text)
    config = load_ode_config(CONFIGS / "dual_target.yaml")
    assert sum(c for _, c in config.dose_list()) == sum(d["cells"] for d in agent["dosing"])


# ----------------------------------------------------------------------------- messages
BAD = {
    "unknown parameter": ("model: cartmath\nparameters: {alpah: 1.0e-8}\n", "parameters.alpah: model cartmath has no such parameter (did you mean 'alpha'"),
    "wrong unit": ("model: cartmath\nparameters:\n  gamma: {value: 1.0, unit: 1/day}\n", "parameters.gamma.unit: '1/day' is not the unit of gamma; give the value in 1/(cell·day)"),
    "unknown compartment": ("model: kuznetsov\ninitial: {tumour: 5}\n", "initial.tumour: model kuznetsov has no such compartment (did you mean 'tumor'"),
    "unknown set": ("model: leon_triana\nparameter_set: raji\n", "parameter_set: model leon_triana has no set 'raji'; sets are default"),
    "unknown model": ("model: cartmth\n", "model: Input should be 'cartmath', 'leon_triana' or 'kuznetsov'"),
    "typo": ("model: cartmath\nend_dy: 3\n", "end_dy: unknown key. Did you mean 'end_day'?"),
    "negative cells": ("model: cartmath\ninitial: {tumor: -5}\n", "initial.tumor: Input should be greater than or equal to 0"),
    "dose after end": ("model: cartmath\nend_day: 10\ndosing: [{day: 12, cells: 1.0e7}]\n", "dosing[0].day: 12 is after end_day (10)"),
    "missing cells": ("model: cartmath\ndosing: [{day: 2}]\n", "dosing[0].cells: required but missing"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_ode_config_one_clear_message(tmp_path, case):
    text, expected = BAD[case]
    with pytest.raises(ConfigError) as info:
        load_ode_config(write(tmp_path, text))
    assert expected in str(info.value)
    assert str(info.value).count("\n") == 1  # the header line and one problem


def test_bad_overrides(tmp_path):
    path = CONFIGS / "ode_cartmath_raji.yaml"
    with pytest.raises(ConfigError, match="no setting 'dosage'.*did you mean 'dosing'"):
        load_ode_config(path, {"dosage.0.cells": 1})
    with pytest.raises(ConfigError, match="index out of range"):
        load_ode_config(path, {"dosing.3.cells": 1})
    with pytest.raises(ConfigError, match="no such parameter"):
        load_ode_config(path, {"parameters.zeta": 1})
    with pytest.raises(ConfigError, match="unknown model"):
        load_ode_config(path, model="sir")


def test_protocol_doses_beyond_a_shorter_horizon_are_left_out():
    config = parse_ode_config({"model": "cartmath", "end_day": 5})
    assert config.dose_list() == []


# ----------------------------------------------------------------------------- files and command line
def test_cli_writes_a_runs_files_and_they_reproduce(tmp_path, capsys):
    out = tmp_path / "raji"
    args = ["ode", str(CONFIGS / "ode_cartmath_raji.yaml"), "--out", str(out), "--set", "dosing.0.cells=1.5e7"]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "below one cell on day" in printed and "results in" in printed
    for name in ("config.yaml", "timeseries.parquet", "summary.json", "timeseries.png"):
        assert (out / name).stat().st_size > 0, name
    assert not list(out.glob(".*")), "temporary files left behind"
    assert (out / "timeseries.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    ts = pd.read_parquet(out / "timeseries.parquet")
    assert list(ts.columns[:3]) == ["day", "tumor_total", "cart_total"]
    assert {"cart_effector", "cart_memory", "kills_total", "cells_infused"} <= set(ts.columns)
    resolved = yaml.safe_load((out / "config.yaml").read_text())
    assert resolved["dosing"] == [{"day": 7.0, "cells": 1.5e7}] and resolved["cartsim_version"]
    assert resolved["parameters"]["theta"] == 2.3e-4
    # the resolved file alone reproduces the run
    again = tmp_path / "again"
    assert main(["ode", str(out / "config.yaml"), "--out", str(again), "--quiet", "--no-plots"]) == 0
    pd.testing.assert_frame_equal(ts, pd.read_parquet(again / "timeseries.parquet"))
    assert not (again / "timeseries.png").exists()


def test_summary_uses_the_agent_run_key_names(tmp_path):
    result = run_ode(load_ode_config(CONFIGS / "ode_cartmath_hdlm2.yaml"))
    s = result.summary
    json.dumps(s, allow_nan=False)
    # the agent summary of a dummy agent time series gives the key names
    ts = pd.DataFrame({"day": [0.0, 1.0], "tumor_total": [5, 0], "tumor_CD19+": [5, 0], "tumor_CD19-": [0, 0],
                       "cart_total": [0, 3], "kills_total": [0, 5], "IL6_max": [0.0, 1.0], "IFNg_max": [0.0, 1.0]})
    agent_keys = set(summarize(ts, ("CD19",), [0.5]))
    not_in_odes = {k for k in agent_keys if "negative" in k or "IL6" in k or "IFNg" in k}
    assert agent_keys - not_in_odes <= set(s)
    assert s["baseline_tumor"] == pytest.approx(2.1459e7, rel=1e-4) and s["infusion_days"] == [42.0]
    assert s["eradicated"] and 42 < s["eradication_day"] < 50 and s["responded"] and not s["relapsed"]
    assert s["model"] == "cartmath" and s["parameter_set"] == "hdlm2"
    assert s["peak_cart_memory"] > 1e6


def test_cli_agent_experiment_and_list(tmp_path, capsys):
    out = tmp_path / "qs"
    assert main(["ode", str(CONFIGS / "quickstart.yaml"), "--model", "cartmath", "--out", str(out), "--no-plots"]) == 0
    assert "quickstart_cartmath: cartmath (raji)" in capsys.readouterr().out
    assert pd.read_parquet(out / "timeseries.parquet")["cells_infused"].iloc[-1] == 300
    assert main(["ode", "--list"]) == 0
    listed = capsys.readouterr().out
    for name in ("cartmath", "leon_triana", "kuznetsov", "set raji (default)", "set hdlm2", "1/(cell·day)"):
        assert name in listed


def test_cli_bad_input_exit_2_without_traceback(tmp_path):
    bad = write(tmp_path, "model: cartmath\nparameters: {alpah: 1.0}\n")
    r = subprocess.run([sys.executable, "-m", "cartsim.cli", "ode", str(bad), "--out", str(tmp_path / "o")],
                       capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert r.returncode == 2
    assert r.stderr.startswith("cartsim: error:") and "parameters.alpah" in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "o").exists()
    assert main(["ode", str(tmp_path / "missing.yaml")]) == 2


def test_help_explains(capsys):
    with pytest.raises(SystemExit):
        main(["ode", "--help"])
    text = capsys.readouterr().out
    assert "--model" in text and "--set" in text and "agent experiment" in text and "examples" in text


# ----------------------------------------------------------------------------- docs
def test_reference_doc_holds_the_current_parameter_tables():
    doc = (ROOT / "docs" / "reference_models.md").read_text()
    assert parameters_markdown() in doc, "paste cartsim.odes.models.parameters_markdown() into docs/reference_models.md"
