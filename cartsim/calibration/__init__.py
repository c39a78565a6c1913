"""Calibration to data (ABC-SMC) and virtual cohorts.

    from cartsim.calibration import Calibration, Cohort, load_calibration
    result = Calibration.from_yaml("configs/calibrate_well_mixed_raji.yaml").run("results/raji")
    cohort = Cohort.from_yaml("configs/cohort_eliana.yaml").run()

Names are imported on first use, so that reading a config does not import the inference library.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "Calibration": "cartsim.calibration.fit",
    "CalibrationResult": "cartsim.calibration.results",
    "load_calibration": "cartsim.calibration.results",
    "Cohort": "cartsim.calibration.cohort",
    "CohortResult": "cartsim.calibration.cohort",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
