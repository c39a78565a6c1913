"""Fuzzing the command line with mutated shipped configs: every input gives a clean error or a run.

Each example takes one of ``configs/*.yaml``, applies one to three mutations (a value replaced by
one of another type, a number scaled out of range or made non-finite, a null, an unknown key, a
key removed) and perhaps one YAML oddity (a duplicated line, a cut, a tab, an alias, a tag, a huge
integer, deep nesting, bytes that are not UTF-8), and passes the file (perhaps with one
odd ``--set PATH=VALUE``) to the command that file is for, in this process through :func:`cartsim.cli.main`:

* an experiment: ``validate``, and if it is valid, a bounded ``run`` (below);
* a sweep: ``validate`` and ``sweep --dry-run`` (design, every point validated);
* an ODE experiment: ``validate`` and ``ode`` (the ODE solve is short: at most
  ``solver.max_evaluations`` right-hand-side evaluations).

Every case must end in exit 0, or in exit 2 with one message that starts ``cartsim: error:``, names a
field (or the YAML line), is at most ~25 short lines and holds no traceback.

The bound on runs. ``validate`` promises that the whole run is feasible: its records, internal steps
and memory are within :mod:`cartsim.config.feasibility`'s limits, which this test checks with
:func:`~cartsim.config.feasibility.run_cost` for every valid experiment. What it then executes is
the start of the run: the duration is cut to at most :data:`RUN_STEPS` internal steps (infusions and
snapshots due later moved into that window), run through ``cartsim run`` to its end, with a memory
limit of :data:`MEMORY_GB` (``CARTSIM_MAX_MEMORY_GB``) so that a big tissue is refused by the same
check that protects users. Nothing here measures time: a hang shows as the test never finishing.

Profiles: :data:`EXAMPLES` cases (300, about a minute on two cores) in the normal run, with a fixed
seed so that every run of the suite checks the same cases; for a release, set
``CARTSIM_FUZZ_EXAMPLES`` (e.g. ``CARTSIM_FUZZ_EXAMPLES=5000 pytest tests/test_fuzz_configs.py``)
for more cases, and ``CARTSIM_FUZZ_SEED`` to draw other ones.
"""

from __future__ import annotations

import contextlib
import copy
import io
import math
import os
import re
import tempfile
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, Phase, event, given, seed, settings
from hypothesis import strategies as st

from cartsim.cli import main
from cartsim.config import ExperimentConfig, load_config
from cartsim.config.errors import MAX_LINE_CHARS, MAX_LINES
from cartsim.config.loading import parse_set_options
from cartsim.config.feasibility import MAX_RECORDS, MAX_STEPS, memory_budget, run_cost
from cartsim.experiments.design import SweepSpec
from cartsim.odes.config import OdeConfig, is_ode_data
from cartsim.odes.models import MODELS

from .conftest import CONFIGS

EXAMPLES = int(os.environ.get("CARTSIM_FUZZ_EXAMPLES", "300"))
FUZZ_SEED = int(os.environ.get("CARTSIM_FUZZ_SEED", "11"))
RUN_STEPS = 100
MEMORY_GB = 1.0

SHIPPED = {p.name: yaml.safe_load(p.read_text(encoding="utf-8")) for p in sorted(CONFIGS.glob("*.yaml"))}


def _field_names() -> set[str]:
    """Every key the schemas know (sections and fields), and the ODE models' parameters and compartments."""
    names: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            names.update(node.get("properties", {}) if isinstance(node.get("properties"), dict) else ())
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    for model in (ExperimentConfig, SweepSpec, OdeConfig):
        walk(model.model_json_schema())
    for m in MODELS.values():
        names.update(m.parameter_names)
        names.update(m.compartment_names)
    return names


FIELD_NAMES = _field_names()


# ------------------------------------------------------------------------------ mutations
def paths(data: Any, prefix: tuple = ()) -> list[tuple]:
    """Every path into ``data`` (mapping keys and list indices), inner nodes included."""
    out = [prefix] if prefix else []
    if isinstance(data, dict):
        for k, v in data.items():
            out += paths(v, (*prefix, k))
    elif isinstance(data, list):
        for i, v in enumerate(data):
            out += paths(v, (*prefix, i))
    return out


def get(data: Any, path: tuple) -> Any:
    for key in path:
        data = data[key]
    return data


ODD_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**20), max_value=10**20),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0, -1, 0.5, 1e308, -1e-308, 5e-324, 2**63, 10**25, "", "1e7", "nan", ".inf", "CD19",
                     "x" * 300, [], {}, [None], {"a": 1}, [1, 2, 3]]),
    st.text(max_size=12),
    st.lists(st.one_of(st.integers(-3, 30), st.floats(allow_nan=False, width=16)), max_size=4),
)


@st.composite
def mutate(draw, data: dict, mild: bool = False) -> tuple[dict, list[str]]:
    """``data`` with one to three mutations, and the keys they touched; ``mild`` ones only nudge
    numbers (so that a good share of the mutants are valid and run)."""
    data = copy.deepcopy(data)
    touched: list[str] = []
    for _ in range(draw(st.integers(1, 3))):
        candidates = paths(data)
        if not candidates:
            break
        path = draw(st.sampled_from(candidates))
        parent, key = get(data, path[:-1]), path[-1]
        value = parent[key]
        kind = "nudge" if mild else draw(st.sampled_from(
            ["replace", "scale", "scale", "nudge", "null", "unknown", "delete"]))
        if kind in ("scale", "nudge") and not (isinstance(value, (int, float)) and not isinstance(value, bool)):
            if mild:
                continue
            kind = "replace"
        if kind == "replace":
            parent[key] = draw(ODD_VALUES)
        elif kind == "scale":
            factor = draw(st.sampled_from([10.0**k for k in range(-12, 13)] + [-1.0, math.inf, math.nan]))
            parent[key] = value * factor
        elif kind == "nudge":  # a plausible change, so that many mutants stay valid and run
            new = value * draw(st.sampled_from([0.5, 0.8, 1.25, 2.0]))
            parent[key] = round(new) if isinstance(value, int) else new
        elif kind == "null":
            parent[key] = None
        elif kind == "unknown":
            target = value if isinstance(value, dict) else parent
            if isinstance(target, dict):
                name = draw(st.sampled_from(["colour", "widht", "dt", "x", "cells ", "CD20", "1"]))
                target[name] = draw(ODD_VALUES)
                touched.append(name)
            else:
                parent[key] = draw(ODD_VALUES)
        elif kind == "delete":
            if isinstance(parent, dict):
                del parent[key]
            elif len(parent) > 0:
                parent.pop(key)
        touched += [str(p) for p in path if isinstance(p, str)]
    return data, touched


TEXT_ODDITIES = ["none", "none", "none", "duplicate line", "cut", "tab", "alias", "python tag", "huge int",
                 "deep", "bad bytes", "bom", "two documents", "empty", "flow"]


@st.composite
def yaml_bytes(draw, data: dict, plain: bool = False) -> tuple[bytes, str]:
    text = yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
    oddity = "none" if plain else draw(st.sampled_from(TEXT_ODDITIES))
    lines = text.splitlines(keepends=True) or ["\n"]
    i = draw(st.integers(0, len(lines) - 1))
    if oddity == "duplicate line":
        lines.insert(i, lines[i])
    elif oddity == "cut":
        text = text[: draw(st.integers(0, len(text)))]
        lines = [text]
    elif oddity == "tab":
        lines[i] = "\t" + lines[i]
    elif oddity == "alias":
        lines = ["_defaults: &d {cells: 10}\n", *lines, "extra: *d\n"]
    elif oddity == "python tag":
        lines.insert(i, "evil: !!python/object/apply:os.system ['true']\n")
    elif oddity == "huge int":
        lines.append("seed: " + "9" * draw(st.integers(20, 6000)) + "\n")
    elif oddity == "deep":
        n = draw(st.integers(10, 3000))
        lines.append("deep: " + "[" * n + "]" * n + "\n")
    elif oddity == "bom":
        lines.insert(0, "\ufeff")
    elif oddity == "two documents":
        lines.append("---\nname: second\n")
    elif oddity == "empty":
        lines = [""]
    elif oddity == "flow":
        lines = [yaml.safe_dump(data, default_flow_style=True, width=10**9)]
    raw = "".join(lines).encode("utf-8")
    if oddity == "bad bytes":
        raw = raw[: len(raw) // 2] + b"\xff\xfe\x80" + raw[len(raw) // 2:]
    return raw, oddity


@st.composite
def set_options(draw, data: dict) -> tuple[list[str], list[str]]:
    """Zero or one ``--set PATH=VALUE`` (a path of the file, perhaps through a value or past its
    end, and an odd value written as YAML), and the keys it names."""
    if draw(st.integers(0, 3)):
        return [], []
    path = [str(p) for p in draw(st.sampled_from(paths(data) or [("name",)]))]
    path += draw(st.sampled_from([[], [], ["x"], ["0"], ["99"]]))
    value = yaml.safe_dump(draw(ODD_VALUES), default_flow_style=True, width=10**9).strip()
    value = value.removesuffix("...").strip()
    return ["--set", f"{'.'.join(path)}={value}"], [p for p in path if not p.isdigit()]


# ------------------------------------------------------------------------------ checks
def cli(*args: Any) -> tuple[int, str]:
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        code = main([str(a) for a in args])
    return code, err.getvalue()


def assert_clean(code: int, err: str, touched: list[str], what: str) -> None:
    assert code in (0, 2), f"{what}: exit {code}\n{err}"
    if code == 0:
        return
    assert err.startswith("cartsim: error:") and "Traceback" not in err, f"{what}:\n{err}"
    lines = err.rstrip("\n").splitlines()
    assert len(lines) <= MAX_LINES + 1 and all(len(line) <= MAX_LINE_CHARS + 60 for line in lines), \
        f"{what}: message too long ({len(err)} characters)"
    body = err.removeprefix("cartsim: error:")
    named = re.search(r"\bline \d+\b", body) or any(
        re.search(rf"(?<![\w]){re.escape(name)}(?![\w])", body) for name in {*FIELD_NAMES, *touched} if name)
    assert named, f"{what}: the message names no field:\n{err}"


def shortened(config: ExperimentConfig) -> dict:
    """``config`` cut to two records of at most :data:`RUN_STEPS` internal steps in all, with
    infusions, treatments and snapshots due later moved to its end."""
    data = config.model_dump(mode="json")
    record_h = min(config.time.record_every_h, 6.0)
    if config.space != "well_mixed":
        record_h = min(record_h, RUN_STEPS / 2 * run_cost(config).dt_min / 60)
    days = min(config.time.duration_days, 2 * record_h / 24)
    data["time"].update(duration_days=days, record_every_h=record_h)
    for dose in [*data["dosing"], *data["treatments"]]:
        dose["day"] = min(dose["day"], days)
    data["time"]["snapshot_days"] = [min(d, days) for d in data["time"]["snapshot_days"]]
    return data


def check_experiment(path: Path, touched: list[str], tmp: Path, sets: list[str]) -> str:
    code, err = cli("validate", path, *sets)
    assert_clean(code, err, touched, f"validate {path.name}")
    if code:
        return "clean error"
    config = load_config(path, parse_set_options(sets[1::2]))
    cost = run_cost(config)  # what validate promised for the whole run
    assert cost.records <= MAX_RECORDS and cost.steps <= MAX_STEPS and cost.memory_bytes <= memory_budget()[0]
    short = tmp / "short.yaml"
    short.write_text(yaml.safe_dump(shortened(config)), encoding="utf-8")
    short_config = load_config(short)
    if short_config.space != "well_mixed":
        assert run_cost(short_config).steps <= RUN_STEPS + 2
    out = tmp / "run"
    code, err = cli("run", short, "--out", out, "--quiet", "--no-plots")
    assert code == 0, f"run of a valid experiment failed:\n{err}"
    import pandas as pd

    ts = pd.read_parquet(out / "timeseries.parquet")
    assert ts["day"].iloc[-1] == pytest.approx(short_config.time.duration_days)
    return "run"


def check_sweep(path: Path, touched: list[str], tmp: Path, sets: list[str]) -> str:
    results = []
    for args in (["validate", path, *sets], ["sweep", path, "--dry-run", "--out", tmp / "sweep", *sets]):
        code, err = cli(*args)
        assert_clean(code, err, touched, " ".join(map(str, args[:2])))
        results.append(code)
    assert results[0] == results[1], "validate and sweep --dry-run disagree"
    return "clean error" if results[0] else "dry run"


def check_ode(path: Path, touched: list[str], tmp: Path, sets: list[str]) -> str:
    code, err = cli("validate", path, *sets)
    assert_clean(code, err, touched, f"validate {path.name}")
    ran, err2 = cli("ode", path, "--out", tmp / "ode", "--no-plots", "--quiet", *sets)
    assert_clean(ran, err2, touched, f"ode {path.name}")
    if code == 0 and ran == 2:  # valid, but the solver gave up: said clearly, and nothing written
        assert not (tmp / "ode").exists()
        return "solver error"
    assert code == 0 or ran == 2, "ode ran a file that validate refused"
    return "clean error" if ran else "ode run"


@pytest.fixture(autouse=True)
def _small_memory(monkeypatch):
    monkeypatch.setenv("CARTSIM_MAX_MEMORY_GB", str(MEMORY_GB))


@seed(FUZZ_SEED)
@settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=False,
          phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.shrink],  # explaining takes minutes
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                 HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_every_mutated_config_gives_a_clean_error_or_a_bounded_run(data):
    name = data.draw(st.sampled_from(sorted(SHIPPED)), label="config")
    mild = data.draw(st.integers(0, 2), label="mild") == 0
    mutated, touched = data.draw(mutate(SHIPPED[name], mild), label="mutated")
    raw, oddity = data.draw(yaml_bytes(mutated, mild), label="yaml")
    sets, named = data.draw(set_options(mutated), label="--set") if not mild else ([], [])
    touched = [*touched, *named]
    event(f"oddity: {oddity}")
    with tempfile.TemporaryDirectory(prefix="cartsim-fuzz-") as tmp:
        tmp = Path(tmp)
        path = tmp / name
        path.write_bytes(raw)
        original = SHIPPED[name]
        with contextlib.suppress(Exception):  # what the file now is (a cut sweep may be an experiment)
            parsed = yaml.safe_load(raw)
            parsed = {} if parsed is None else parsed  # an empty file is the default experiment
            original = parsed if isinstance(parsed, dict) else original
        if "sweep" in original:
            outcome = check_sweep(path, touched, tmp, sets)
        elif is_ode_data(original):
            outcome = check_ode(path, touched, tmp, sets)
        else:
            outcome = check_experiment(path, touched, tmp, sets)
    event(f"outcome: {outcome}")
