"""The schema: defaults are valid, typos and bad values get one clear message naming the field."""

from __future__ import annotations

import pytest

from cartsim.config import ConfigError, ExperimentConfig, apply_overrides, load_config, parse_config
from cartsim.config.loading import parse_yaml, resolve_shortcuts

from .conftest import CONFIGS


def test_defaults_are_valid():
    c = ExperimentConfig()
    assert c.antigen_names == ("CD19",)
    assert c.products[0].targets == ["CD19"]


def _experiment_files():
    """Shipped experiments (sweep, ODE, calibration and cohort files have their own tests)."""
    for path in sorted(CONFIGS.glob("*.yaml")):
        data = parse_yaml(path.read_text())
        if not {"sweep", "model", "calibration", "cohort"} & set(data):
            yield path


def test_every_kind_of_shipped_config_is_checked():
    names = {p.name for p in _experiment_files()}
    assert {"quickstart.yaml", "solid_tumor.yaml", "liquid_tumor.yaml", "dual_target.yaml"} <= names


@pytest.mark.parametrize("path", list(_experiment_files()), ids=lambda p: p.name)
def test_shipped_configs_validate(path):
    cfg = load_config(path)
    assert cfg.time.duration_days > 0


def errors_of(data) -> str:
    with pytest.raises(ConfigError) as info:
        parse_config(data)
    return str(info.value)


def test_typo_is_named_with_suggestion():
    msg = errors_of({"tumor": {"doubling_tme_h": 30}})
    assert "tumor.doubling_tme_h: unknown key" in msg
    assert "'doubling_time_h'" in msg


def test_wrong_type_names_path_and_value():
    msg = errors_of({"car_t": {"speed_um_per_min": "fast"}})
    assert "car_t.speed_um_per_min" in msg and "'fast'" in msg


def test_string_number_is_a_wrong_type_not_silently_converted():
    assert "tissue.width" in errors_of({"tissue": {"width": "60"}})


def test_impossible_value_gives_allowed_range_and_unit():
    msg = errors_of({"tumor": {"death_rate_per_day": -1}})
    assert "tumor.death_rate_per_day" in msg and ">= 0" in msg and "1/day" in msg


def test_probability_above_one_rejected():
    msg = errors_of({"antigens": {"CD19": {"loss_probability": 1.5}}})
    assert "antigens.CD19.loss_probability" in msg and "<= 1" in msg


def test_every_problem_listed_once():
    msg = errors_of({"tumor": {"doubling_tme_h": 30, "death_rate_per_day": -1}})
    assert msg.count("\n") == 2  # header line + two problems


def test_unknown_antigen_target():
    msg = errors_of({"products": [{"name": "X", "targets": ["CD22"]}], "dosing": []})
    assert "CD22" in msg and "CD19" in msg


def test_logic_must_match_targets():
    msg = errors_of({
        "antigens": {"CD19": {}, "CD22": {}},
        "products": [{"name": "X", "targets": ["CD19", "CD22"], "logic": "single"}],
        "dosing": [],
    })
    assert "single" in msg


def test_dose_for_unknown_product():
    assert "CAR22" in errors_of({"dosing": [{"product": "CAR22"}]})


def test_tumor_larger_than_tissue():
    msg = errors_of({"tissue": {"width": 10, "height": 10}, "tumor": {"initial": {"cells": 500}}})
    assert "tumor.initial.cells" in msg


def test_bad_activation_rule():
    msg = errors_of({"products": [{"name": "CAR19", "targets": ["CD19"], "activation": {"rule": "magic"}}]})
    assert "products[0].activation" in msg and "threshold" in msg


def test_yaml_scientific_notation_reads_as_number():
    data = parse_yaml("antigens:\n  CD19:\n    mean_density: 2e4\n")
    assert data["antigens"]["CD19"]["mean_density"] == 20000.0


def test_invalid_yaml_reports_line(tmp_path):
    p = tmp_path / "bad.yaml"
    p.write_text("tumor:\n  initial: [1, 2\n")
    with pytest.raises(ConfigError, match="line"):
        load_config(p)


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="file not found"):
        load_config(tmp_path / "nope.yaml")


def test_overrides_by_dotted_path():
    data = apply_overrides({}, {"dosing.0.cells": 7, "antigens.CD19.loss_probability": 0.1})
    cfg = parse_config({**data, "dosing": [{"product": "CAR19", "cells": 7}]})
    assert cfg.dosing[0].cells == 7
    assert parse_config(apply_overrides({}, {"tumor.initial.cells": 9})).tumor.initial.cells == 9


def test_override_typo_suggests_nearest_path():
    with pytest.raises(ConfigError, match="tumor.initial"):
        apply_overrides({}, {"tumor.intial.cells": 5})


def test_shortcuts_cover_every_antigen():
    data = {"antigens": {"CD19": {}, "CD22": {}}}
    paths = resolve_shortcuts({"antigen_loss_probability": 0.1, "dose": 5}, data)
    assert paths == {"antigens.CD19.loss_probability": 0.1, "antigens.CD22.loss_probability": 0.1,
                     "dosing.0.cells": 5}
    with pytest.raises(ConfigError, match="'dose'"):
        resolve_shortcuts({"dosee": 5}, data)
