"""Cytokines as a registry of configured fields: a cytokine added by a config entry alone
diffuses, is recorded, pictured and can attract CAR-T; the defaults keep their results.

The shipped experiments must give the same time series as before cytokines became configurable:
``tests/data/timeseries/*.csv`` were written by the engine just before that change (run this file as a
script, ``python tests/test_cytokine_registry.py``, to write them again after a deliberate change
of the model's results).
"""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from cartsim.config import ConfigError, apply_overrides, parse_config
from cartsim.config.loading import read_yaml
from cartsim.config.schema import CYTOKINE_ROLES, DEFAULT_CYTOKINES
from cartsim.environment.cytokines import CytokineFields
from cartsim.experiments.run import run
from cartsim.model import CarTModel
from cartsim.summary import CRS_PROXY
from cartsim.viz.tissue_frame import overlay_menu, tissue_png

from .conftest import small_config

ROOT = Path(__file__).resolve().parents[1]
PINNED = ROOT / "tests" / "data" / "timeseries"

# name -> (shipped config, overrides): each design feature that touches a cytokine field
PINNED_CASES = {
    "quickstart": ("quickstart.yaml", {}),
    "solid_tumor": ("solid_tumor.yaml", {}),  # chemotaxis up IFN-γ
    "liquid_tumor": ("liquid_tumor.yaml", {}),
    "dual_target": ("dual_target.yaml", {"time.duration_days": 14}),
    "quickstart_stirred": ("quickstart.yaml", {"space": "stirred", "time.duration_days": 10}),
    "solid_tumor_IL6_chemotaxis": ("solid_tumor.yaml", {"car_t.chemotaxis.cytokine": "IL6",
                                                        "time.duration_days": 10}),
}


def pinned_config(name: str):
    file, overrides = PINNED_CASES[name]
    data = read_yaml(ROOT / "configs" / file)
    data.pop("sweep", None)
    return parse_config(apply_overrides(data, overrides))


def write_pinned() -> None:
    PINNED.mkdir(parents=True, exist_ok=True)
    for name in PINNED_CASES:
        run(pinned_config(name), snapshots=False).timeseries.to_csv(
            PINNED / f"{name}.csv", index=False, float_format="%.17g")


@pytest.mark.parametrize("name", list(PINNED_CASES))
def test_shipped_experiments_give_the_pinned_time_series(name):
    expected = pd.read_csv(PINNED / f"{name}.csv")
    got = run(pinned_config(name), snapshots=False).timeseries
    assert list(got.columns) == list(expected.columns)
    # cell counts exactly; cytokine amounts to 1e-9: the FFT library may pick other vector code
    # paths on another CPU, which changes the last bits of a field but not the events
    pd.testing.assert_frame_equal(got.reset_index(drop=True), expected, check_dtype=False,
                                  check_exact=False, rtol=1e-9, atol=1e-12)
    counts = [c for c in expected.columns if not c.startswith(tuple(f"{n}_" for n in ("IL2", "IFNg", "IL6")))]
    assert (got[counts].to_numpy() == expected[counts].to_numpy()).all()


# ------------------------------------------------------------------ config
TNFA = {"diffusivity_um2_per_s": 5.0, "half_life_min": 20.0, "secretion_per_activated_cell_per_min": 100.0}


def test_an_entry_adds_a_cytokine_after_the_defaults():
    cfg = small_config(cytokines={"TNFa": TNFA})
    assert list(cfg.cytokines) == ["IL2", "IFNg", "IL6", "TNFa"]
    assert cfg.cytokines["TNFa"].half_life_min == 20.0 and cfg.cytokines["TNFa"].release_per_kill == 0.0
    assert cfg.cytokines["IL2"] == DEFAULT_CYTOKINES["IL2"][0]


def test_an_entry_of_a_default_name_changes_only_the_keys_it_gives():
    cfg = small_config(cytokines={"IL6": {"release_per_kill": 2000.0}})
    il6, default = cfg.cytokines["IL6"], DEFAULT_CYTOKINES["IL6"][0]
    assert il6.release_per_kill == 2000.0
    assert (il6.half_life_min, il6.secretion_per_activated_cell_per_min) == (
        default.half_life_min, default.secretion_per_activated_cell_per_min)
    assert list(cfg.cytokines) == ["IL2", "IFNg", "IL6"]


def test_the_resolved_config_round_trips():
    cfg = small_config(cytokines={"TNFa": TNFA})
    assert parse_config(cfg.model_dump(mode="json")) == cfg


@pytest.mark.parametrize(("cytokines", "expected"), [
    ({"TNFa": {"diffusivity_um2_per_s": 5.0}}, "cytokines.TNFa.half_life_min"),
    ({"TNFa": {**TNFA, "secreted": 3}}, "cytokines.TNFa.secreted: unknown key"),
    ({"TNF-a": TNFA}, "cytokine name 'TNF-a'"),
    ({"cart": TNFA}, "taken by the time series"),
    ({"IL6": None}, "cytokines.IL6"),
])
def test_bad_cytokine_entries_name_the_field(cytokines, expected):
    with pytest.raises(ConfigError, match=expected):
        small_config(cytokines=cytokines)


def test_chemotaxis_toward_an_unknown_cytokine_names_the_field_and_the_valid_names():
    with pytest.raises(ConfigError) as err:
        small_config(car_t={"chemotaxis": {"enabled": True, "cytokine": "TNFa"}})
    assert "car_t.chemotaxis.cytokine: unknown cytokine 'TNFa'" in str(err.value)
    assert "IL2, IFNg, IL6" in str(err.value)
    cfg = small_config(car_t={"chemotaxis": {"enabled": True, "cytokine": "TNFa"}}, cytokines={"TNFa": TNFA})
    assert cfg.car_t.chemotaxis.cytokine == "TNFa"


def test_the_model_refuses_a_config_without_a_role_cytokine():
    cfg = small_config()
    without_il2 = cfg.model_copy(update={"cytokines": {k: v for k, v in cfg.cytokines.items() if k != "IL2"}})
    with pytest.raises(ConfigError, match="IL2 is missing; the model needs it as the proliferation cytokine"):
        CarTModel(without_il2)
    assert CRS_PROXY == CYTOKINE_ROLES["crs_proxy"]


def test_a_name_taken_by_the_tissue_grid_is_a_config_error():
    with pytest.raises(ConfigError, match="cytokines.width: the tissue grid already has"):
        CarTModel(small_config(cytokines={"width": TNFA}))


# ------------------------------------------------------------------ an added cytokine in a run
def _columns(name):
    return [f"{name}_total", f"{name}_max"]


def test_an_added_cytokine_without_a_source_stays_zero_and_changes_nothing_else():
    base = run(small_config(time={"snapshot_days": [1.0]}))
    added = run(small_config(time={"snapshot_days": [1.0]},
                             cytokines={"TNFa": {"diffusivity_um2_per_s": 5.0, "half_life_min": 20.0}}))
    ts = added.timeseries
    assert list(ts.columns) == list(base.timeseries.columns) + _columns("TNFa")
    assert (ts[_columns("TNFa")] == 0).all().all()
    pd.testing.assert_frame_equal(ts[base.timeseries.columns], base.timeseries)
    assert base.timeseries["IL2_total"].max() > 0  # the CAR-T did secrete
    assert [list(s.cytokines) for s in added.snapshots] == [["IL2", "IFNg", "IL6", "TNFa"]] * 2


def test_an_added_cytokine_configured_like_il2_has_the_il2_field():
    il2 = DEFAULT_CYTOKINES["IL2"][0].model_dump()
    r = run(small_config(cytokines={"Copy": il2}))
    ts = r.timeseries
    assert ts["Copy_total"].max() > 0
    np.testing.assert_array_equal(ts["Copy_total"], ts["IL2_total"])
    np.testing.assert_array_equal(ts["Copy_max"], ts["IL2_max"])
    np.testing.assert_array_equal(r.snapshots[-1].cytokines["Copy"], r.snapshots[-1].cytokines["IL2"])


def test_an_added_cytokine_from_kills_only_is_released_where_tumor_cells_die():
    half_life = 1e6  # minutes: in 3 days at most 1 - 2**(-4320/1e6) = 0.3 % decays
    r = run(small_config(cytokines={"Dying": {"diffusivity_um2_per_s": 1.0, "half_life_min": half_life,
                                              "release_per_kill": 100.0}}))
    ts = r.timeseries
    assert ts["kills_total"].iloc[-1] > 0
    released = 100.0 * ts["kills_total"]  # molecules
    assert np.all(ts["Dying_total"] <= released * (1 + 1e-6))
    assert ts["Dying_total"].iloc[-1] == pytest.approx(released.iloc[-1], rel=0.004)


def test_one_secreting_cell_gives_the_exact_mass_balance_of_an_added_cytokine():
    """No-flux tissue: diffusion keeps the amount, so the total follows S/k (1 - exp(-k t))."""
    cfg = small_config(tumor={"initial": {"cells": 1}}, dosing=[],
                       cytokines={"TNFa": {**TNFA, "half_life_min": 45.0}})
    fields = CarTModel(cfg, rng=1).cytokines
    k = math.log(2) / 45.0
    minutes = 0.0
    for _ in range(15):
        fields.secrete(np.array([3]), np.array([4]), fields.interval)
        fields.advance()
        minutes += fields.interval
    total = float(fields.fields["TNFa"].sum(dtype=np.float64))
    assert total == pytest.approx(100.0 / k * (1 - math.exp(-k * minutes)), rel=1e-4)
    assert fields.fields["TNFa"][3, 4] == fields.fields["TNFa"].max() < total  # it spread from the cell


def test_chemotaxis_follows_the_configured_cytokine_by_name():
    """A cytokine configured exactly like IFN-γ attracts exactly as IFN-γ does."""
    chemo = {"speed_um_per_min": 5.0, "chemotaxis": {"enabled": True, "strength": 1.0}}
    ifng = DEFAULT_CYTOKINES["IFNg"][0].model_dump()
    by_ifng = run(small_config(car_t=chemo, cytokines={"Attract": ifng}), snapshots=False).timeseries
    chemo["chemotaxis"]["cytokine"] = "Attract"
    by_copy = run(small_config(car_t=chemo, cytokines={"Attract": ifng}), snapshots=False).timeseries
    pd.testing.assert_frame_equal(by_copy, by_ifng)
    chemo["chemotaxis"]["cytokine"] = "IL6"
    by_il6 = run(small_config(car_t=chemo, cytokines={"Attract": ifng}), snapshots=False).timeseries
    assert not by_il6.equals(by_ifng)  # the choice matters, so the test above can fail


def test_an_added_cytokine_is_a_page_overlay():
    model = CarTModel(small_config(cytokines={"TNFa": TNFA}))
    while model.day < 2:
        model.step()
    snap = model.snapshot()
    menu = overlay_menu(snap.cytokines)
    assert menu == {"none": None, "IL-2": "IL2", "IFN-γ": "IFNg", "IL-6": "IL6", "TNF-α": "TNFa"}
    assert snap.cytokines["TNFa"].max() > 0
    assert tissue_png(snap, "TNFa") != tissue_png(snap, None)


# ------------------------------------------------------------------ command line
def cartsim(*args):
    return subprocess.run([sys.executable, "-m", "cartsim.cli", *map(str, args)],
                          capture_output=True, text=True, cwd=ROOT, timeout=300)


def _experiment(tmp_path, **sections):
    data = {"name": "tnf", "tissue": {"width": 30, "height": 30}, "time": {"duration_days": 2},
            "tumor": {"initial": {"cells": 150}},
            "dosing": [{"day": 0.5, "cells": 60, "product": "CAR19"}], **sections}
    path = tmp_path / "tnf.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def test_an_added_cytokine_runs_from_the_command_line(tmp_path):
    path = _experiment(tmp_path, cytokines={"TNFa": TNFA},
                       car_t={"chemotaxis": {"enabled": True, "cytokine": "TNFa"}})
    r = cartsim("run", path, "--out", tmp_path / "out", "--quiet", "--no-plots")
    assert r.returncode == 0, r.stderr
    ts = pd.read_parquet(tmp_path / "out" / "timeseries.parquet")
    assert ts["TNFa_total"].iloc[-1] > 0 and ts["TNFa_max"].iloc[-1] > 0
    assert "0_cytokine_TNFa" in np.load(tmp_path / "out" / "snapshots.npz").files
    resolved = yaml.safe_load((tmp_path / "out" / "config.yaml").read_text())
    assert list(resolved["cytokines"]) == ["IL2", "IFNg", "IL6", "TNFa"]


def test_chemotaxis_toward_an_unknown_cytokine_is_exit_2_from_the_command_line(tmp_path):
    path = _experiment(tmp_path, car_t={"chemotaxis": {"enabled": True, "cytokine": "TNFa"}})
    r = cartsim("run", path, "--out", tmp_path / "out")
    assert r.returncode == 2
    assert "car_t.chemotaxis.cytokine: unknown cytokine 'TNFa'" in r.stderr and "IL2, IFNg, IL6" in r.stderr
    assert "Traceback" not in r.stderr
    assert not (tmp_path / "out").exists()


if __name__ == "__main__":
    if sys.argv[1:] != ["--write"]:
        sys.exit("usage: python tests/test_cytokine_registry.py --write")
    write_pinned()
