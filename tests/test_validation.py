"""Validation patterns from the CAR-T literature, asserted on small scenes with fixed seeds.

The same scenarios, with more replicates, make docs/validation.md (`cartsim validation-report`).
"""

from __future__ import annotations

import pytest

from cartsim.validation import scenarios

SEEDS = range(3)


@pytest.mark.slow
@pytest.mark.parametrize("scenario", [scenarios.dose_response, scenarios.kinetics, scenarios.antigen_escape,
                                      scenarios.dual_targeting, scenarios.toxicity, scenarios.infiltration,
                                      scenarios.dish_vs_tissue],
                         ids=lambda f: f.__name__)
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

    monkeypatch.setattr(report, "SCENARIOS", (fake(1, "", True), fake(6, "b", False)))
    outcomes = report.write_report(tmp_path, replicates=3, first_seed=7, progress=False)
    text = (tmp_path / "validation.md").read_text()
    assert [o.label for o in outcomes] == ["1", "6b"]
    assert "**1 of 2 checks passed.**" in text
    assert "| 6b | a pattern | FAIL |" in text and "## 1. title 1: PASS" in text
    assert "measured on 3 seeds" in text and "--first-seed 7" in text
    assert (tmp_path / "validation" / "pattern6b.png").stat().st_size > 0
