"""CAR designs: single, OR and AND gates; threshold and CARCADE activation."""

from __future__ import annotations

import numpy as np
import pytest

from cartsim.agents.car import CarDesign, antigen_binding_probability
from cartsim.config.schema import CarcadeActivation, ProductConfig, ThresholdActivation

ANTIGENS = ("CD19", "CD22")
# rows: CD19+CD22+, CD19-CD22+, CD19+CD22-, CD19-CD22-, CD19 low
CELLS = np.array([[20000, 5000], [0, 5000], [20000, 0], [0, 0], [500, 5000]], dtype=float)


def design(targets, logic, activation=None):
    p = ProductConfig(name="X", targets=targets, logic=logic, activation=activation or ThresholdActivation())
    return CarDesign.from_config(p, ANTIGENS, 15.0)


def test_single_target_recognises_only_its_antigen_above_threshold():
    p = design(["CD19"], "single").encounter_probability(CELLS)
    assert p.tolist() == [1, 0, 1, 0, 0]


def test_or_gate_needs_either_antigen():
    p = design(["CD19", "CD22"], "or").encounter_probability(CELLS)
    assert p.tolist() == [1, 1, 1, 0, 1]


def test_and_gate_needs_both():
    p = design(["CD19", "CD22"], "and").encounter_probability(CELLS)
    assert p.tolist() == [1, 0, 0, 0, 0]


def test_carcade_probability_rises_with_density_and_is_zero_without_antigen():
    act = CarcadeActivation()
    d = np.array([0, 10, 100, 1000, 10000, 100000.0])
    p = antigen_binding_probability(d, act, 15.0)
    assert p[0] == 0
    assert np.all(np.diff(p) > 0)
    assert np.all((p >= 0) & (p < 1))


def test_carcade_matches_published_formula():
    act = CarcadeActivation()
    a = 1000.0
    kd = 1e-7 * (15.0**3 * 1e-15) * 6.02214076e23
    h = a * 0.2 / (kd * 0.01 + a * 0.2) * (50000 / 50000) * 3
    expected = 2 / (1 + np.exp(-h)) - 1
    assert antigen_binding_probability(np.array([a]), act, 15.0)[0] == pytest.approx(expected)


def test_or_gate_combines_probabilities():
    act = CarcadeActivation()
    d = design(["CD19", "CD22"], "or", act)
    p19 = antigen_binding_probability(CELLS[:, 0], act, 15.0)
    p22 = antigen_binding_probability(CELLS[:, 1], act, 15.0)
    assert np.allclose(d.encounter_probability(CELLS), 1 - (1 - p19) * (1 - p22))
    assert np.allclose(design(["CD19", "CD22"], "and", act).encounter_probability(CELLS), p19 * p22)
