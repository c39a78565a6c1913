"""Validation patterns from the CAR-T literature, asserted on small scenes with fixed seeds.

The same scenarios, with more replicates, make docs/validation.md (`cartsim validation-report`).
"""

from __future__ import annotations

import pytest

from cartsim.validation import scenarios

SEEDS = range(3)


@pytest.mark.slow
@pytest.mark.parametrize("scenario", [scenarios.dose_response, scenarios.kinetics, scenarios.antigen_escape,
                                      scenarios.dual_targeting, scenarios.toxicity, scenarios.infiltration],
                         ids=lambda f: f.__name__)
def test_pattern_reproduced(scenario):
    outcome = scenario(SEEDS)
    assert outcome.passed, outcome.verdict
    assert len(outcome.table) > 0 and outcome.figure is not None
