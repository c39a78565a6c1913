"""Validation patterns from the CAR-T literature, asserted on small scenes with fixed seeds.

The same scenarios, with more replicates, make docs/validation.md (`cartsim validation-report`).
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from cartsim.validation import scenarios

# 8 replicates, as in the report: with 3, differences of one standard error (pattern 6b's tissue
# ranking) pass or fail with the random stream rather than with the model
SEEDS = range(8)


@pytest.mark.slow
@pytest.mark.parametrize("scenario", list(scenarios.SCENARIOS.values()), ids=lambda f: f.__name__)
def test_pattern_reproduced(scenario):
    outcome = scenario(SEEDS)
    assert outcome.passed, outcome.verdict
    assert len(outcome.table) > 0 and outcome.figure is not None


def test_report_lists_every_pattern_with_its_figure(tmp_path, monkeypatch):
    """The report's structure, on two stand-in scenarios (the real ones are tested above)."""
    import pandas as pd

    from cartsim.validation import report

    def fake(number, part, passed):
        def scenario(seeds):
            fig, (ax,) = scenarios._fig()
            ax.plot(list(seeds))
            return scenarios.Outcome(number, part, f"title {number}{part}", "a pattern", passed,
                                     f"measured on {len(seeds)} seeds", pd.DataFrame({"x": [1.5]}), fig)
        return scenario

    monkeypatch.setattr(report, "SCENARIOS", {"1": fake(1, "", True), "6b": fake(6, "b", False)})
    outcomes = report.write_report(tmp_path, replicates=3, first_seed=7, progress=False)
    text = (tmp_path / "validation.md").read_text()
    assert [o.label for o in outcomes] == ["1", "6b"]
    assert "**1 of 2 checks passed.**" in text
    assert "| 6b | a pattern | FAIL |" in text and "## 1. title 1: PASS" in text
    assert "measured on 3 seeds" in text and "--first-seed 7" in text
    assert (tmp_path / "validation" / "pattern6b.png").stat().st_size > 0


def test_report_command_runs_the_chosen_checks(tmp_path):
    """The real command, on the quickest real check, and its refusals."""
    cli = [sys.executable, "-m", "cartsim.cli", "validation-report"]
    # with --only and no --out, the report goes to results/validation, not over the full one in docs/
    r = subprocess.run([*cli, "--only", "6a", "--replicates", "2"], capture_output=True, text=True, timeout=300,
                       cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("PASS  6a. Space: infiltration")
    out = tmp_path / "results" / "validation"
    text = (out / "validation.md").read_text()
    assert "--replicates 2 --first-seed 0 --only 6a" in text and "**1 of 1 checks passed.**" in text
    assert (out / "validation" / "pattern6a.png").stat().st_size > 0
    assert not (tmp_path / "docs").exists()
    for bad, word in ((["--only", "99"], "--only 99: no such check"), (["--replicates", "1"], "--replicates 1")):
        r = subprocess.run([*cli, *bad], capture_output=True, text=True, timeout=60)
        assert r.returncode == 2 and word in r.stderr and "Traceback" not in r.stderr


def test_expansion_and_contraction_recover_known_rates():
    """On an exact up-then-down exponential the fits return its doubling time and half-life."""
    day = np.arange(0, 28.01, 0.5)
    peak_day, doubling, half_life = 6.0, 0.8, 4.3
    log2_cells = np.where(day <= peak_day, (day - 1) / doubling, (peak_day - 1) / doubling - (day - peak_day) / half_life)
    cart = np.where(day < 1, 0.0, 10 * 2.0**log2_cells)
    d, h = scenarios.expansion_and_contraction(day, cart, infusion_day=1.0)
    assert d == pytest.approx(doubling, rel=1e-9) and h == pytest.approx(half_life, rel=1e-9)
