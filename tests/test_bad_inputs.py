"""Bad and odd inputs through the command line: one clear message naming the field, exit 2, no traceback.

Each case is a reproducer of a defect found by feeding generated inputs to ``validate``, ``run``,
``sweep`` and ``ode`` (issue 11): tracebacks, hangs, memory blow-ups, and bad inputs accepted.
Most run in-process through :func:`cartsim.cli.main`; the ones that could block run in a subprocess
with a timeout.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import yaml

from cartsim.cli import main
from cartsim.config.errors import MAX_LINE_CHARS, MAX_LINES, summarise

from .conftest import CONFIGS, ROOT

QUICKSTART = CONFIGS / "quickstart.yaml"


def cli(capsys, *args) -> tuple[int, str]:
    """Run ``cartsim ARGS`` in this process; the exit status and what went to stderr."""
    code = main([str(a) for a in args])
    return code, capsys.readouterr().err


def assert_clean_error(code: int, err: str, *expected: str) -> None:
    assert code == 2, err
    assert err.startswith("cartsim: error:") and "Traceback" not in err, err
    for text in expected:
        assert text in err, err


def write(path, text: str):
    path.write_text(text, encoding="utf-8")
    return path


# ------------------------------------------------------------------------------ reading files
@pytest.mark.parametrize("text,expected", [
    ("tissue:\n  width: 40\ntime:\n  duration_days: 2\ntissue:\n  width: 50\n",
     ["line 5", "duplicate key 'tissue' (first at line 1)"]),
    ("tissue:\n  width: 40\n  height: 40\n  width: 50\n", ["line 4", "duplicate key 'width' (first at line 2)"]),
    ("tissue:\n  width: " + "7" * 5000 + "\n", ["line 2", "an integer with 5000 digits"]),
    ("tissue: " + "[" * 5000 + "]" * 5000 + "\n", ["nested more than 40 levels"]),
    ("tissue: " + "{a: " * 3000 + "1" + "}" * 3000 + "\n", ["nested more than 40 levels"]),
])
@pytest.mark.parametrize("command", ["validate", "run", "sweep", "ode"])
def test_yaml_that_pyyaml_accepts_or_chokes_on_is_refused(capsys, tmp_path, command, text, expected):
    path = write(tmp_path / "odd.yaml", text)
    extra = ["--out", tmp_path / "out"] if command != "validate" else []
    code, err = cli(capsys, command, path, *extra)
    assert_clean_error(code, err, "not valid YAML", *expected)
    assert not (tmp_path / "out").exists()


def test_an_alias_bomb_is_refused_in_a_short_message(capsys, tmp_path):
    lines = ["a0: &a0 [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 9)]  # 10⁹ values
    data = yaml.safe_load((CONFIGS / "dose_response.yaml").read_text())
    text = "\n".join(lines) + "\n" + yaml.safe_dump(data).replace("sweep:\n", "sweep:\n  extra: *a8\n", 1)
    path = write(tmp_path / "bomb.yaml", text)
    for command in ("validate", "sweep"):
        code, err = cli(capsys, command, path, *(["--dry-run"] if command == "sweep" else []))
        assert_clean_error(code, err, "aliases (*name) expand to more than 1,000,000 values")
        assert len(err) < 500


def test_long_messages_are_capped_and_say_what_was_left_out(capsys):
    code, err = cli(capsys, "validate", QUICKSTART, "--set", "name=" + "x" * 100_000)
    assert_clean_error(code, err, "name: String should have at most 80 characters", "more characters)")
    assert len(err) < 1000
    text = summarise("\n".join(f"line {i}: " + "y" * 1000 for i in range(100)))
    assert len(text.splitlines()) == MAX_LINES + 1 and text.endswith("... and 75 more lines")
    assert all(len(line) <= MAX_LINE_CHARS + 40 for line in text.splitlines())


def test_devices_and_huge_files_are_not_read(capsys, tmp_path):
    for device in ("/dev/zero", "/dev/urandom"):
        code, err = cli(capsys, "validate", device)
        assert_clean_error(code, err, f"{device} is not a regular file")
    big = tmp_path / "big.yaml"
    with open(big, "wb") as fh:
        fh.truncate(11 * 1024 * 1024)  # sparse: no 11 MB actually written
    code, err = cli(capsys, "run", big, "--out", tmp_path / "o")
    assert_clean_error(code, err, "big.yaml is 11.5 MB; experiment files are at most 10 MB")
    code, err = cli(capsys, "validate", "bad\0path.yaml")
    assert_clean_error(code, err, "cannot read")


def test_a_fifo_as_the_config_is_refused_without_blocking(tmp_path):
    fifo = tmp_path / "pipe.yaml"
    os.mkfifo(fifo)
    for command in ("validate", "run", "sweep", "ode"):
        r = subprocess.run([sys.executable, "-m", "cartsim.cli", command, str(fifo)], capture_output=True,
                           text=True, cwd=ROOT, timeout=120)  # opening it would block for ever
        assert r.returncode == 2 and "is not a regular file" in r.stderr and "Traceback" not in r.stderr


# ------------------------------------------------------------------------------ paths through values
def test_a_path_through_a_value_is_an_error_naming_it(capsys, tmp_path):
    code, err = cli(capsys, "validate", QUICKSTART, "--set", "tissue.width.x=1")
    assert_clean_error(code, err, "--set tissue.width.x: 'tissue.width' is a value (80), not a section")
    code, err = cli(capsys, "run", QUICKSTART, "--set", "car_t.speed_um_per_min.fast=1", "--out", tmp_path / "o")
    assert_clean_error(code, err, "'car_t.speed_um_per_min' is a value (5.0), not a section")
    data = yaml.safe_load((CONFIGS / "dose_response.yaml").read_text())
    data["sweep"]["parameters"][0]["path"] = "tissue.width.x"
    path = write(tmp_path / "sweep.yaml", yaml.safe_dump(data))
    for extra in (["--dry-run"], ["--out", tmp_path / "s", "--executor", "serial"]):
        code, err = cli(capsys, "sweep", path, *extra)
        assert_clean_error(code, err, "sweep.parameters[0].path: 'tissue.width' is a value")
    assert not (tmp_path / "s").exists()


# ------------------------------------------------------------------------------ valid means will run
TIME_STEP_CASES = {
    "dt too long for hops": (["time.dt_min=10"], "time.dt_min: 10 min is longer than the time a CAR-T cell"),
    "fast cells, small sites": (["car_t.speed_um_per_min=50", "tissue.site_um=2"],
                                "car_t.speed_um_per_min: at 50 µm/min a CAR-T cell crosses a 2 µm site"),
    "endless record interval": (["time.record_every_h=1e-7"],
                                "time.record_every_h: a record every 1e-07 h over 28 days makes 6,720,000,001"),
    "endless time step": (["time.dt_min=1e-9"], "time.dt_min: steps of 1e-09 min over 28 days make "),
    "infinite snapshot day": (["time.snapshot_days=[.inf]"], "time.snapshot_days: snapshot days must be finite"),
    "NaN snapshot day": (["time.snapshot_days=[1, .nan]"], "time.snapshot_days: snapshot days must be finite"),
}


@pytest.mark.parametrize("case", list(TIME_STEP_CASES))
def test_validate_refuses_what_run_would_refuse_or_never_finish(capsys, tmp_path, case):
    sets, expected = TIME_STEP_CASES[case]
    args = [a for s in sets for a in ("--set", s)]
    code, err = cli(capsys, "validate", QUICKSTART, *args)
    assert_clean_error(code, err, expected)
    code, err = cli(capsys, "run", QUICKSTART, *args, "--out", tmp_path / "o", "--quiet")
    assert_clean_error(code, err, expected)
    assert not (tmp_path / "o").exists()


def test_the_fix_a_message_proposes_makes_the_experiment_valid(capsys):
    code, err = cli(capsys, "validate", QUICKSTART, "--set", "car_t.speed_um_per_min=50", "--set", "tissue.site_um=2")
    fix = err.rsplit("tissue.site_um >= ", 1)[1].strip()
    code, _ = cli(capsys, "validate", QUICKSTART, "--set", "car_t.speed_um_per_min=50", "--set", f"tissue.site_um={fix}")
    assert code == 0
    code, err = cli(capsys, "validate", QUICKSTART, "--set", "time.dt_min=1e-9")
    fix = err.split("time.dt_min >= ", 1)[1].split()[0]
    assert cli(capsys, "validate", QUICKSTART, "--set", f"time.dt_min={fix}")[0] == 0


def test_a_sweep_whose_points_could_not_run_is_refused_before_it_starts(capsys, tmp_path):
    data = yaml.safe_load((CONFIGS / "dose_response.yaml").read_text())
    data["sweep"]["parameters"] = [{"path": "time.dt_min", "values": [1, 1e-9]}]
    path = write(tmp_path / "sweep.yaml", yaml.safe_dump(data))
    code, err = cli(capsys, "sweep", path, "--dry-run")
    assert_clean_error(code, err, "design point 1 (time.dt_min=1e-09)", "time.dt_min >= ")


def test_memory_is_estimated_up_front(capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("CARTSIM_MAX_MEMORY_GB", "2")
    big = ["--set", "tissue.width=2000", "--set", "tissue.height=2000"]
    for command in ("validate", "run"):
        code, err = cli(capsys, command, QUICKSTART, *big, *(["--out", tmp_path / "o"] if command == "run" else []))
        assert_clean_error(code, err, "tissue.width × tissue.height: 2000×2000 sites with up to 4,000,000 tumor cells",
                           "GB of memory, more than the 2 GB set by CARTSIM_MAX_MEMORY_GB",
                           "use a smaller tissue.width and tissue.height")
    assert not (tmp_path / "o").exists()
    monkeypatch.setenv("CARTSIM_MAX_MEMORY_GB", "1.5")
    full = ["--set", "tissue.width=1000", "--set", "tissue.height=1000", "--set", "tumor.initial.cells=1000000"]
    code, err = cli(capsys, "validate", QUICKSTART, *full, "--set", "time.duration_days=3")
    assert_clean_error(code, err, "1000×1000 sites with up to 1,000,000 tumor cells would need about 2.")
    # a short run of a small tumor in the same tissue needs far less and is valid
    code, _ = cli(capsys, "validate", QUICKSTART, *full, "--set", "tumor.initial.cells=10", "--set",
                  "time.duration_days=3")
    assert code == 0
    monkeypatch.setenv("CARTSIM_MAX_MEMORY_GB", "lots")
    code, err = cli(capsys, "validate", QUICKSTART)
    assert_clean_error(code, err, "CARTSIM_MAX_MEMORY_GB='lots': give the memory a run may use in GB")


# ------------------------------------------------------------------------------ ODE experiments
@pytest.mark.parametrize("sets,expected", [
    (["record_every_h=1e-9"], "record_every_h: a record every 1e-09 h over 15 days makes 360,000,000,001 records"),
    (["record_every_h=1e-3", "end_day=36000"], "more than 1,000,000; use record_every_h >= 0.865"),
    (["initial=null"], "initial: Input should be a valid dictionary (got None)"),
    (["parameters=null"], "parameters: Input should be a valid dictionary (got None)"),
])
def test_ode_records_and_nulls(capsys, tmp_path, sets, expected):
    args = [a for s in sets for a in ("--set", s)]
    code, err = cli(capsys, "ode", CONFIGS / "ode_cartmath_raji.yaml", *args, "--out", tmp_path / "o")
    assert_clean_error(code, err, expected)
    assert not (tmp_path / "o").exists()
    data = yaml.safe_load((CONFIGS / "ode_cartmath_raji.yaml").read_text())
    for s in sets:
        key, value = s.split("=")
        data[key] = yaml.safe_load(value)
    code, err = cli(capsys, "ode", write(tmp_path / "ode.yaml", yaml.safe_dump(data)), "--out", tmp_path / "o")
    assert_clean_error(code, err, expected)


def test_a_design_too_big_to_check_is_refused_before_it_is_built(capsys, tmp_path):
    data = yaml.safe_load((CONFIGS / "dose_x_escape.yaml").read_text())
    for p in data["sweep"]["parameters"]:
        p.pop("values", None)
        p["range"] = {"start": 1, "stop": 2, "num": 100_000}
    path = write(tmp_path / "big.yaml", yaml.safe_dump(data))
    code, err = cli(capsys, "sweep", path, "--dry-run")  # 10¹⁰ points: built, this would never end
    assert_clean_error(code, err, "sweep.parameters[0]: the grid design has 10,000,000,000 points, more than 100,000")


@pytest.mark.parametrize("name", sorted(p.name for p in CONFIGS.glob("*.yaml")))
def test_validate_reads_every_kind_of_shipped_file(capsys, name):
    code = main(["validate", str(CONFIGS / name)])
    out = capsys.readouterr().out
    assert code == 0 and ": valid" in out


def test_validate_checks_a_sweep_and_an_ode_experiment_as_their_commands_do(capsys, tmp_path):
    data = yaml.safe_load((CONFIGS / "dose_response.yaml").read_text())
    data["sweep"]["parameters"][0]["range"]["stop"] = 10**9  # doses beyond the sites
    path = write(tmp_path / "sweep.yaml", yaml.safe_dump(data))
    code, err = cli(capsys, "validate", path)
    assert_clean_error(code, err, "design point 5", "dosing[0].cells")
    code, err = cli(capsys, "validate", CONFIGS / "ode_cartmath_raji.yaml", "--set", "record_every_h=1e-9")
    assert_clean_error(code, err, "invalid ODE experiment", "record_every_h: a record every 1e-09 h")
