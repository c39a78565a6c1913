"""CAR designs: single, OR, AND and NOT gates; threshold and CARCADE activation; their lookup tables."""

from __future__ import annotations

import numpy as np
import pytest

from cartsim.agents import gates
from cartsim.agents.car import ACTIVATION_RULES, CarDesign, activation_rule, antigen_binding_probability
from cartsim.agents.gates import LOGIC_GATES
from cartsim.config import ConfigError, parse_config
from cartsim.config.schema import ACTIVATION_CONFIGS, CarcadeActivation, ProductConfig, ThresholdActivation
from cartsim.viz.narration import escape_phenotypes

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


# ------------------------------------------------------------------ the lookup tables
def test_every_gate_is_found_by_name_and_combines_as_documented():
    p = np.array([[0.5, 1.0, 0.0], [0.2, 0.0, 1.0]])  # two targets, three cells
    assert np.allclose(LOGIC_GATES["or"].combine(p), [0.6, 1.0, 1.0])
    assert np.allclose(LOGIC_GATES["and"].combine(p), [0.1, 0.0, 0.0])
    assert np.allclose(LOGIC_GATES["not"].combine(p), [0.4, 1.0, 0.0])
    assert np.allclose(LOGIC_GATES["single"].combine(p[:1]), p[0])
    assert set(LOGIC_GATES) == {"single", "or", "and", "not"}


def test_not_gate_spares_cells_that_carry_the_vetoing_antigen():
    # CD19 activates, CD22 vetoes: only CD19+CD22- cells are hit
    p = design(["CD19", "CD22"], "not").encounter_probability(CELLS)
    assert p.tolist() == [0, 0, 1, 0, 0]
    assert escape_phenotypes(ANTIGENS, ["CD19", "CD22"], "not") == ["CD19-CD22-", "CD19-CD22+", "CD19+CD22+"]
    assert escape_phenotypes(ANTIGENS, ["CD19", "CD22"], "and") == ["CD19-CD22-", "CD19+CD22-", "CD19-CD22+"]
    assert escape_phenotypes(ANTIGENS, ["CD19", "CD22"], "or") == ["CD19-CD22-"]


def test_an_unknown_gate_is_a_config_error_listing_the_gates():
    data = {"antigens": {"CD19": {}, "CD22": {}}, "dosing": [],
            "products": [{"name": "X", "targets": ["CD19", "CD22"], "logic": "xor"}]}
    with pytest.raises(ConfigError, match=r"products\[0\]\.logic: unknown logic gate 'xor'; "
                                          "the gates are single, or, and, not"):
        parse_config(data)
    with pytest.raises(ValueError, match="unknown logic gate 'xor'"):
        gates.gate("xor")


def test_a_gate_with_the_wrong_number_of_targets_names_the_gates_that_fit():
    data = {"antigens": {"CD19": {}, "CD22": {}}, "dosing": [],
            "products": [{"name": "X", "targets": ["CD19"], "logic": "not"}]}
    with pytest.raises(ConfigError, match="logic 'not' takes 2 to 4 targets, not 1; for 1 use 'single'"):
        parse_config(data)


def test_a_new_gate_is_one_entry_in_the_table(monkeypatch):
    def exactly_one(p):  # of two targets
        return p[0] * (1.0 - p[1]) + p[1] * (1.0 - p[0])

    xor = gates.Gate(exactly_one, 2, 2, "exactly one antigen activates")
    monkeypatch.setattr(gates, "LOGIC_GATES", {**gates.LOGIC_GATES, "xor": xor})
    p = design(["CD19", "CD22"], "xor").encounter_probability(CELLS)
    assert p.tolist() == [0, 1, 1, 0, 1]


def test_every_activation_rule_has_settings_and_a_binding_function():
    assert set(ACTIVATION_RULES) == {cls().rule for cls in ACTIVATION_CONFIGS}
    d = np.array([0.0, 1000.0, 5000.0])
    assert antigen_binding_probability(d, ThresholdActivation(), 15.0).tolist() == [0, 0, 1]
    with pytest.raises(ValueError, match="unknown activation rule 'hill'; the rules are threshold, carcade"):
        activation_rule("hill")
