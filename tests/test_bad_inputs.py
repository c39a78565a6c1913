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
