"""Validation patterns from the CAR-T literature, asserted on small scenes with fixed seeds.

The same scenarios at realistic scale (10,000-cell nodules and more, doses up to 10,000 CAR-T)
make docs/validation.md (`cartsim validation-report`); here they are checked to have that scale,
and one runs end to end.
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from cartsim.config import ExperimentConfig
from cartsim.experiments.executors import ProcessExecutor
from cartsim.validation import scenarios
from cartsim.validation.study import REALISTIC, SMALL, Study

# 8 replicates, as in the report: with 3, differences of one standard error (pattern 6b's tissue
# ranking) pass or fail with the random stream rather than with the model
SEEDS = range(8)


@pytest.mark.slow
@pytest.mark.parametrize("scenario", list(scenarios.SCENARIOS.values()), ids=lambda f: f.__name__)
def test_pattern_reproduced(scenario):
    outcome = scenario(Study(SEEDS, SMALL))
    assert outcome.passed, outcome.verdict
    assert len(outcome.table) > 0 and outcome.figure is not None


def test_report_lists_every_pattern_with_its_figure(tmp_path, monkeypatch):
    """The report's structure, on two stand-in scenarios (the real ones are tested above)."""
    import pandas as pd

    from cartsim.validation import report

    def fake(number, part, passed):
        def scenario(study):
            fig, (ax,) = scenarios._fig()
            ax.plot(list(study.seeds))
            return scenarios.Outcome(number, part, f"title {number}{part}", "a pattern", passed,
                                     f"measured on {len(study.seeds)} seeds at {study.scale.name} scale",
                                     pd.DataFrame({"x": [1.5]}), fig)
        return scenario

    monkeypatch.setattr(report, "SCENARIOS", {"1": fake(1, "", True), "6b": fake(6, "b", False)})
    outcomes = report.write_report(tmp_path, replicates=3, first_seed=7, progress=False, scale=SMALL)
    text = (tmp_path / "validation.md").read_text()
    assert [o.label for o in outcomes] == ["1", "6b"]
    assert "**1 of 2 checks passed.**" in text
    assert "| 6b | a pattern | FAIL |" in text and "## 1. title 1: PASS" in text
    assert "measured on 3 seeds at small scale" in text and "--scale small --replicates 3 --first-seed 7" in text
    assert (tmp_path / "validation" / "pattern6b.png").stat().st_size > 0


def test_report_command_runs_the_chosen_checks(tmp_path):
    """The real command, on the quickest real check at realistic scale, and its refusals."""
    cli = [sys.executable, "-m", "cartsim.cli", "validation-report"]
    # with --only and no --out, the report goes to results/validation, not over the full one in docs/
    r = subprocess.run([*cli, "--only", "6a", "--replicates", "2", "--workers", "2"], capture_output=True,
                       text=True, timeout=600, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("PASS  6a. Space: infiltration")
    out = tmp_path / "results" / "validation"
    text = (out / "validation.md").read_text()
    assert "--scale realistic --replicates 2 --first-seed 0 --only 6a" in text and "**1 of 1 checks passed.**" in text
    assert "on 2 processes" in text
    assert (out / "validation" / "pattern6a.png").stat().st_size > 0
    assert not (tmp_path / "docs").exists()
    for bad, word in ((["--only", "99"], "--only 99: no such check"), (["--replicates", "1"], "--replicates 1"),
                      (["--workers", "0"], "--workers 0"), (["--scale", "huge"], "invalid choice: 'huge'")):
        r = subprocess.run([*cli, *bad], capture_output=True, text=True, timeout=60)
        assert r.returncode == 2 and word in r.stderr and "Traceback" not in r.stderr


class _Planned(Exception):
    """Raised in place of running a scenario's experiments: they are only collected."""


def planned_scenes(scenario, scale) -> list[ExperimentConfig]:
    """The configs ``scenario`` would run at ``scale``, without running them."""
    scenes: list[ExperimentConfig] = []

    class Planning(Study):
        def replicate(self, arms, metric, **kwargs):
            scenes.extend([arms] if isinstance(arms, ExperimentConfig) else arms.values())
            raise _Planned

    with pytest.raises(_Planned):
        scenario(Planning(range(2), scale))
    return scenes


@pytest.mark.parametrize("label", list(scenarios.SCENARIOS))
def test_realistic_scale_runs_large_tumors_and_doses(label):
    """Every realistic scene has a tumor of 10,000 cells or more and doses of 12-10,000 CAR-T in
    tissue wide enough for its nodule; the small scenes are much smaller."""
    scenario = scenarios.SCENARIOS[label]
    realistic, small = planned_scenes(scenario, REALISTIC), planned_scenes(scenario, SMALL)
    assert len(realistic) >= len(small) > 0
    assert min(cfg.tumor.initial.cells for cfg in small) < 10_000 / 5
    for big in realistic:
        cells = big.tumor.initial.cells
        assert cells >= 10_000
        radius = np.sqrt(cells / np.pi)
        assert min(big.tissue.width, big.tissue.height) > 2 * radius + 10  # room around the nodule
        for dose in big.dosing:
            assert 12 <= dose.cells <= 10_000
    doses = sorted({dose.cells for cfg in realistic for dose in cfg.dosing})
    assert doses[-1] >= 100


def test_dose_response_spans_100_to_10000_cart_at_realistic_scale():
    doses = [cfg.dosing[0].cells for cfg in planned_scenes(scenarios.dose_response, REALISTIC)]
    assert min(doses) <= 100 and max(doses) == 10_000 and doses == sorted(doses)


def test_replicates_are_the_same_on_worker_processes():
    """The seeds fix a scenario's numbers whatever the executor runs the replicates on."""
    study = Study(range(3), SMALL)
    arms = {label: study.scene(time={"duration_days": 3, "record_every_h": 12},
                               dosing=[{"day": 1, "cells": n, "product": "CAR19", "route": "edge"}])
            for label, n in (("a", 10), ("b", 40))}

    def metric(r):
        return {"peak": r.summary["peak_cart"], "kills": r.summary["kills_total"], "tumor": r.summary["final_tumor"]}

    serial = study.replicate(arms, metric)
    with ProcessExecutor(2) as executor:
        parallel = Study(range(3), SMALL, executor).replicate(arms, metric)
    assert list(serial["arm"]) == ["a"] * 3 + ["b"] * 3 and list(serial["seed"]) == [0, 1, 2] * 2
    assert serial.equals(parallel)
    assert serial["peak"].nunique() > 1  # the seeds differ, so equality means something


def test_expansion_and_contraction_recover_known_rates():
    """On an exact up-then-down exponential the fits return its doubling time and half-life."""
    day = np.arange(0, 28.01, 0.5)
    peak_day, doubling, half_life = 6.0, 0.8, 4.3
    log2_cells = np.where(day <= peak_day, (day - 1) / doubling, (peak_day - 1) / doubling - (day - peak_day) / half_life)
    cart = np.where(day < 1, 0.0, 10 * 2.0**log2_cells)
    d, h = scenarios.expansion_and_contraction(day, cart, infusion_day=1.0)
    assert d == pytest.approx(doubling, rel=1e-9) and h == pytest.approx(half_life, rel=1e-9)
