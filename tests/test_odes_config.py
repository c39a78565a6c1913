"""ODE experiments: YAML schema and messages, derivation from agent experiments, files, CLI, docs."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import yaml

from cartsim.cli import main
from cartsim.config import ConfigError
from cartsim.summary import summarize
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


WELL_MIXED = """\
name: wm
space: well_mixed
well_mixed: {parameter_set: cartmath_hdlm2, cells_per_agent: 1.0e+4}
time: {duration_days: 60, record_every_h: 12}
tumor: {initial: {cells: 2.0e+6}}
products: [{name: CAR19, targets: [CD19]}]
dosing: [{day: 42, cells: 1.5e+6, product: CAR19}]
"""


def test_well_mixed_experiment_keeps_its_own_rates(tmp_path):
    """space: well_mixed runs CARTmath's terms with the rates of its well_mixed section: the ODE
    takes the same set and overrides as the agent model (cartsim.well_mixed.cartmath_parameters)."""
    from cartsim.config import load_config
    from cartsim.well_mixed import cartmath_parameters

    hdlm2 = load_ode_config(write(tmp_path, WELL_MIXED))
    assert hdlm2.parameter_set == "hdlm2"
    assert hdlm2.parameter_values() == hdlm2.ode_model.params("hdlm2")
    text = WELL_MIXED.replace("cells_per_agent: 1.0e+4", "gamma_per_cell_day: 1.0e-6, mu_per_day: 0.02")
    changed = load_ode_config(write(tmp_path, text, "changed.yaml"))
    values = changed.parameter_values()
    assert values == cartmath_parameters(load_config(tmp_path / "changed.yaml"))
    assert values["gamma"] == 1e-6 and values["mu"] == 0.02 and values["theta"] == 6e-6
    assert changed.initial["tumor"] == 2e6 and changed.dose_list() == [(42.0, 1.5e6)]
    # --parameter-set picks another published set; the section's overrides still apply to it
    raji = load_ode_config(tmp_path / "changed.yaml", parameter_set="raji")
    assert raji.parameter_set == "raji" and raji.parameter_values()["gamma"] == 1e-6
    assert raji.parameter_values()["r"] == raji.ode_model.params("raji")["r"]
    # another model has its own parameters; the shipped well-mixed file gets the agent model's rates
    assert load_ode_config(tmp_path / "changed.yaml", model="kuznetsov").parameter_set == "default"
    shipped = load_ode_config(CONFIGS / "well_mixed_raji.yaml")
    assert shipped.parameter_set == "raji"
    assert shipped.parameter_values() == cartmath_parameters(load_config(CONFIGS / "well_mixed_raji.yaml"))


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
    "negative rate": ("model: cartmath\nparameters: {gamma: -1.0e-8}\n", "parameters.gamma: must be >= 0 (a rate in 1/(cell·day); got -1e-08)"),
    "zero lifetime": ("model: leon_triana\nparameters: {tau_C: 0}\n", "parameters.tau_C: must be > 0 (a lifetime in days; got 0)"),
    "zero lifetime with unit": ("model: leon_triana\nparameters:\n  tau_B: {value: 0, unit: days}\n", "parameters.tau_B: must be > 0 (a lifetime in days; got 0)"),
    "zero half-saturation": ("model: kuznetsov\nparameters: {g: 0}\n", "parameters.g: must be > 0 (a tumor size in cells; got 0)"),
    "infinite value": ("model: cartmath\nparameters: {gamma: .inf}\n", "parameters.gamma: must be a finite number (a rate in 1/(cell·day); got inf)"),
    "undefined value": ("model: cartmath\nparameters: {r: .nan}\n", "parameters.r: must be a finite number (a rate in 1/day; got nan)"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_ode_config_one_clear_message(tmp_path, case):
    text, expected = BAD[case]
    with pytest.raises(ConfigError) as info:
        load_ode_config(write(tmp_path, text))
    assert expected in str(info.value)
    assert str(info.value).count("\n") == 1  # the header line and one problem


def test_ode_errors_have_the_shape_of_agent_errors(tmp_path):
    """Both: '<file>: invalid ... experiment:' on the first line, then one line per problem."""
    agent = write(tmp_path, "name: x\ntime: {duration_days: -1}\n", "agent.yaml")
    ode = write(tmp_path, "model: cartmath\nend_day: -1\n", "ode.yaml")
    with pytest.raises(ConfigError) as a:
        load_ode_config(agent)
    with pytest.raises(ConfigError) as o:
        load_ode_config(ode)
    for info, path, header in ((a, agent, "invalid experiment:"), (o, ode, "invalid ODE experiment:")):
        first, field = str(info.value).split("\n")
        assert first == f"{path}: {header}"
        assert field.split(":")[0] in ("time.duration_days", "end_day")


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
    with pytest.raises(ConfigError, match=r"parameters.tau_C: must be > 0 \(a lifetime in days; got 0\)"):
        load_ode_config(CONFIGS / "ode_leon_triana.yaml", {"parameters.tau_C": 0})


# ----------------------------------------------------------------------------- another model for an ODE file
def test_model_switch_uses_the_new_models_own_initial_state_and_parameters():
    notes = []
    config = load_ode_config(CONFIGS / "ode_cartmath_raji.yaml", model="kuznetsov", note=notes.append)
    kuz = config.ode_model.parameter_set("default")
    assert config.model == "kuznetsov" and config.parameter_set == "default"
    assert config.initial == dict(kuz.initial) and config.parameter_values() == dict(kuz.values)
    assert config.dose_list() == [(7.0, 1e7)] and config.end_day == 15  # the experiment's protocol stays
    assert notes == ["--model kuznetsov: using kuznetsov's own initial state and parameters "
                     "(the file's are for cartmath)"]
    # --set model=... is the same change, and later --set paths still apply
    notes.clear()
    leon = load_ode_config(CONFIGS / "ode_cartmath_raji.yaml", {"model": "leon_triana", "initial.tumor": 1e9},
                           note=notes.append)
    assert leon.model == "leon_triana" and leon.initial == {"cart": 0.0, "tumor": 1e9, "bcells": 2.5e10}
    assert notes == ["--set model=leon_triana: using leon_triana's own initial state and parameters "
                     "(the file's are for cartmath)"]
    # between two models that both have a set named 'default', the set is still the new model's
    back = load_ode_config(CONFIGS / "ode_leon_triana.yaml", model="kuznetsov")
    assert back.parameter_values() == dict(kuz.values)
    # the file's own model: nothing is dropped, nothing said
    notes.clear()
    same = load_ode_config(CONFIGS / "ode_cartmath_hdlm2.yaml", {"parameters.gamma": 2e-6}, model="cartmath",
                           note=notes.append)
    assert same.parameter_set == "hdlm2" and same.parameter_values()["gamma"] == 2e-6 and notes == []


def test_cli_model_switch_on_an_ode_file(tmp_path):
    r = subprocess.run([sys.executable, "-m", "cartsim.cli", "ode", str(CONFIGS / "ode_cartmath_raji.yaml"),
                        "--model", "kuznetsov", "--out", str(tmp_path / "o"), "--no-plots", "--quiet"],
                       capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stderr == ("cartsim: --model kuznetsov: using kuznetsov's own initial state and parameters "
                        "(the file's are for cartmath)\n")
    assert yaml.safe_load((tmp_path / "o" / "config.yaml").read_text())["model"] == "kuznetsov"


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


def ode_cli(path, tmp_path):
    return subprocess.run([sys.executable, "-m", "cartsim.cli", "ode", str(path), "--out", str(tmp_path / "o"),
                           "--no-plots"], capture_output=True, text=True, cwd=ROOT, timeout=60)


OUT_OF_RANGE = {  # what the file changes, the field named, and the message
    "negative rate": ("model: cartmath\nparameters: {gamma: -1.0e-8}\n", "parameters.gamma", "must be >= 0"),
    "zero lifetime": ("model: leon_triana\nparameters: {tau_C: 0}\n", "parameters.tau_C", "must be > 0"),
    "infinite value": ("model: cartmath\nparameters: {gamma: .inf}\n", "parameters.gamma", "must be a finite number"),
    "blow-up": ("model: cartmath\nparameters: {r: 50}\n", "parameters.r",
                "tumor exceeded 1e20 cells on day 0.6228: the parameters make the system blow up"),
}


@pytest.mark.parametrize("case", list(OUT_OF_RANGE))
def test_cli_parameter_out_of_range_one_message_exit_2(tmp_path, case):
    """Each used to hang, end in a scipy traceback or run silently; now one line names the field."""
    text, field, message = OUT_OF_RANGE[case]
    r = ode_cli(write(tmp_path, text), tmp_path)
    assert r.returncode == 2, r.stderr
    assert "Traceback" not in r.stderr and "Warning" not in r.stderr
    assert r.stderr.startswith("cartsim: error:")
    named = [line for line in r.stderr.splitlines() if field in line]
    assert len(named) == 1 and message in named[0], r.stderr
    assert len(r.stderr.splitlines()) <= 2  # at most the file's header line and that one
    assert not (tmp_path / "o").exists()


def test_cli_prints_a_summary_with_missing_values(tmp_path, capsys, monkeypatch):
    """A summary holds None (or NaN) where a quantity is undefined; the report shows n/a."""
    import cartsim.odes.results as results

    real = results.run_ode

    def run_with_gaps(config):
        result = real(config)
        for key in ("baseline_tumor", "min_tumor", "day_of_nadir", "final_tumor", "peak_cart_day"):
            result.summary[key] = None
        result.summary.update(kills_total=None, eradicated=True, eradication_day=None, relapsed=True,
                              relapse_day=None)
        return result

    monkeypatch.setattr(results, "run_ode", run_with_gaps)
    assert main(["ode", str(CONFIGS / "ode_cartmath_raji.yaml"), "--out", str(tmp_path / "o"), "--no-plots"]) == 0
    printed = capsys.readouterr().out
    assert "-> n/a at the first dose -> nadir n/a on day n/a -> n/a at the end" in printed
    assert "below one cell on day n/a" in printed and "relapse on day n/a" in printed
    assert "n/a tumor cells killed" in printed
    from cartsim.odes.commands import _number

    assert _number(float("nan")) == _number(None) == _number(math.inf) == "n/a" and _number(3e6) == "3e+06"


def test_help_explains(capsys):
    with pytest.raises(SystemExit):
        main(["ode", "--help"])
    text = capsys.readouterr().out
    assert "--model" in text and "--set" in text and "agent experiment" in text and "examples" in text


# ----------------------------------------------------------------------------- docs
def test_reference_doc_holds_the_current_parameter_tables():
    doc = (ROOT / "docs" / "reference_models.md").read_text()
    assert parameters_markdown() in doc, "paste cartsim.odes.models.parameters_markdown() into docs/reference_models.md"
