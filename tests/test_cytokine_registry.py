"""Cytokines as a registry of configured fields.

The shipped experiments must give the same time series as before cytokines became configurable:
``tests/data/timeseries/*.csv`` were written by the code before that change (run this file as a
script, ``python tests/test_cytokine_registry.py``, to write them again after a deliberate change
of the model's results).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd
import pytest

from cartsim.config import apply_overrides, parse_config
from cartsim.config.loading import read_yaml
from cartsim.experiments.run import run

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
    pd.testing.assert_frame_equal(got.reset_index(drop=True), expected, check_dtype=False, check_exact=True)


if __name__ == "__main__":
    if sys.argv[1:] != ["--write"]:
        sys.exit("usage: python tests/test_cytokine_registry.py --write")
    write_pinned()
