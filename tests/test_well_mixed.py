"""The well-mixed mode reproduces CARTmath's ODE on average, and its dose threshold."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.integrate import solve_ivp

from cartsim import CarTModel, ConfigError, WellMixedModel, run
from cartsim.config import load_config
from cartsim.well_mixed import CARTMATH_SETS

from .conftest import CONFIGS

REPLICATES = 20


def cartmath_ode(p, tumor0, dose, dose_day, days):
    """CARTmath (Barros et al. 2021) solved independently: dose as an impulse on the effectors."""

    def rhs(t, y):
        c, m, tu = y
        return [(p["phi"] - p["rho"]) * c + p["theta"] * tu * m - p["alpha"] * tu * c,
                p["epsilon"] * c - p["theta"] * tu * m - p["mu"] * m,
                p["r"] * tu * (1 - p["b"] * tu) - p["gamma"] * tu * c]

    kw = dict(method="LSODA", rtol=1e-9, atol=1e-3, dense_output=True)
    before = solve_ivp(rhs, (0, dose_day), [0, 0, tumor0], **kw)
    y = before.sol(dose_day).copy()
    y[0] += dose
    after = solve_ivp(rhs, (dose_day, days[-1]), y, **kw)
    # a record on the dose day is taken just before the dose, as in the agent models
    return np.array([before.sol(t) if t <= dose_day else after.sol(t) for t in days])


def protocol(parameter_set, tumor0, dose, dose_day, end, cells_per_agent=1e4):
    return load_config(CONFIGS / "well_mixed_raji.yaml", {
        "well_mixed.parameter_set": parameter_set, "well_mixed.cells_per_agent": cells_per_agent,
        "tumor.initial.cells": tumor0, "dosing.0.cells": dose, "dosing.0.day": dose_day,
        "time.duration_days": end, "time.record_every_h": 24.0,
    })


@pytest.mark.parametrize("parameter_set,tumor0,dose,dose_day,end", [
    ("cartmath_raji", 3e6, 1.5e7, 7, 15),     # Barros et al. 2021 Raji protocol
    ("cartmath_hdlm2", 2e6, 1.5e6, 42, 120),  # HDLM-2 protocol (first 120 of 200 days)
])
def test_mean_trajectory_matches_cartmath(parameter_set, tumor0, dose, dose_day, end):
    cfg = protocol(parameter_set, tumor0, dose, dose_day, end)
    runs = [run(cfg, seed=s).timeseries for s in range(REPLICATES)]
    days = runs[0]["day"].to_numpy()
    ref = cartmath_ode(CARTMATH_SETS[parameter_set], tumor0, dose, dose_day, days)
    for col, expected in (("tumor_total", ref[:, 2]), ("cart_total", ref[:, 0] + ref[:, 1])):
        values = np.array([r[col].to_numpy() for r in runs])
        mean, se = values.mean(0), values.std(0, ddof=1) / np.sqrt(REPLICATES)
        resolved = expected > 1e6  # at least 100 agents: below that the ODE's tail is not meaningful
        # within the stochastic spread (3 standard errors) plus 5 % for the finite step
        ok = np.abs(mean - expected) <= 3 * se + 0.05 * expected
        assert ok[resolved].all(), f"{col}: {mean[resolved & ~ok]} vs {expected[resolved & ~ok]}"
        assert resolved.sum() >= 5


def test_dose_sweep_recovers_the_ode_threshold():
    """The ODE separates growth (1e7) from eradication (1.25e7); eradication rises across it."""
    days = np.array([0.0, 7.0, 15.0])
    p = CARTMATH_SETS["cartmath_raji"]
    assert cartmath_ode(p, 3e6, 1.0e7, 7, days)[-1, 2] > 1e8
    assert cartmath_ode(p, 3e6, 1.25e7, 7, days)[-1, 2] < 1
    eradicated = {}
    for dose in (5e6, 1e7, 1.5e7, 2e7):
        cfg = protocol("cartmath_raji", 3e6, dose, 7, 15)
        eradicated[dose] = np.mean([run(cfg, seed=s).summary["eradicated"] for s in range(12)])
    assert eradicated[5e6] <= 0.25
    assert eradicated[1.5e7] >= 0.75 and eradicated[2e7] >= 0.9
    assert eradicated[5e6] <= eradicated[1e7] <= eradicated[1.5e7] <= eradicated[2e7]


def test_untreated_growth_matches_exponential():
    cfg = protocol("cartmath_raji", 3e6, 1.0, 14, 14)
    finals = [run(cfg, seed=s).summary["final_tumor"] for s in range(REPLICATES)]
    assert np.mean(finals) == pytest.approx(3e6 * np.exp(0.5071721 * 14), rel=0.05)


def test_models_refuse_the_other_space():
    with pytest.raises(ConfigError, match="well_mixed"):
        CarTModel(CONFIGS / "well_mixed_raji.yaml")
    m = WellMixedModel(CONFIGS / "well_mixed_raji.yaml", rng=1)
    m.run()
    assert m.day == pytest.approx(15)
