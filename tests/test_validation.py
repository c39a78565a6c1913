"""Validation patterns from the CAR-T literature, asserted on small scenes with fixed seeds.

The same scenarios, with more replicates, make docs/validation.md (`cartsim validation-report`).
"""

from __future__ import annotations

import pytest

from cartsim.validation import scenarios

SEEDS = range(3)


@pytest.mark.slow
@pytest.mark.parametrize("scenario", [scenarios.dose_response, scenarios.kinetics, scenarios.antigen_escape,
                                      scenarios.dual_targeting, scenarios.infiltration],
                         ids=lambda f: f.__name__)
def test_pattern_reproduced(scenario):
    outcome = scenario(SEEDS)
    assert outcome.passed, outcome.verdict
    assert len(outcome.table) > 0 and outcome.figure is not None


@pytest.mark.slow
def test_il6_tracks_car_t_expansion():
    """Peak IL-6 follows peak CAR-T expansion. (That it tracks tumor burden more than dose is NOT
    reproduced by the model at these scales: the report says FAIL for that part of pattern 5.)"""
    outcome = scenarios.toxicity(SEEDS)
    assert outcome.statistics["rho_cart"] > 0.7, outcome.verdict
