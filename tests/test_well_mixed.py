"""The well-mixed mode reproduces CARTmath's ODE on average, compartment by compartment, and its threshold."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.integrate import solve_ivp
from scipy.optimize import brentq

from cartsim import CarTModel, ConfigError, WellMixedModel, rates, run
from cartsim.analysis.fitting import fit_hill
from cartsim.config import load_config
from cartsim.well_mixed import CARTMATH_SETS

from .conftest import CONFIGS

REPLICATES = 20

#: Barros et al. 2021 protocols: tumor cells at day 0, CAR-T dose, dose day, end day
#: (HDLM-2: the first 120 of 200 days).
PROTOCOLS = {
    "cartmath_raji": (3e6, 1.5e7, 7, 15),
    "cartmath_hdlm2": (2e6, 1.5e6, 42, 120),
}

#: Time-series column and its index in cartmath_ode's (C_T, C_M, T) columns.
COMPARTMENTS = {"cart_effector": 0, "cart_memory": 1, "tumor_total": 2}


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


def protocol(parameter_set, tumor0, dose, dose_day, end, cells_per_agent=1e3, **overrides):
    return load_config(CONFIGS / "well_mixed_raji.yaml", {
        "well_mixed.parameter_set": parameter_set, "well_mixed.cells_per_agent": cells_per_agent,
        "tumor.initial.cells": tumor0, "dosing.0.cells": dose, "dosing.0.day": dose_day,
        "time.duration_days": end, "time.record_every_h": 24.0, **overrides,
    })


def replicates(cfg, seeds=range(REPLICATES)) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Record days, and each compartment's mean and standard error over replicate runs."""
    runs = [run(cfg, seed=s).timeseries for s in seeds]
    stats = {}
    for col in COMPARTMENTS:
        values = np.array([r[col].to_numpy() for r in runs])
        stats[col] = (values.mean(0), values.std(0, ddof=1) / math.sqrt(len(runs)))
    return runs[0]["day"].to_numpy(), stats


def agree(mean, se, expected, omega, rel=0.02) -> np.ndarray:
    """Where a replicate mean matches ``expected``: within 3 standard errors, ``rel`` and one agent.

    The one agent is the resolution of the counts: a compartment the ODE puts at a fraction of an
    agent (memory cells while the tumor is large) is 0 or 1 agent in most runs.
    """
    return np.abs(mean - expected) <= 3 * se + rel * np.abs(expected) + omega


@pytest.mark.parametrize("parameter_set", list(PROTOCOLS))
def test_mean_trajectory_matches_cartmath(parameter_set):
    """Effectors, memory cells and tumor each follow the ODE, at every record."""
    tumor0, dose, dose_day, end = PROTOCOLS[parameter_set]
    cfg = protocol(parameter_set, tumor0, dose, dose_day, end)
    omega = cfg.well_mixed.cells_per_agent
    days, stats = replicates(cfg)
    ref = cartmath_ode(CARTMATH_SETS[parameter_set], tumor0, dose, dose_day, days)
    for col, j in COMPARTMENTS.items():
        mean, se = stats[col]
        ok = agree(mean, se, ref[:, j], omega)
        assert ok.all(), f"{col} on days {days[~ok]}: {mean[~ok]} vs ODE {ref[~ok, j]}"
        assert (ref[:, j] > 100 * omega).sum() >= 5  # the comparison covers well-resolved records


@pytest.mark.parametrize("parameter_set,end", [("cartmath_raji", 15), ("cartmath_hdlm2", 70)])
def test_results_do_not_depend_on_the_step(parameter_set, end, monkeypatch):
    """A step four times shorter (both the cap and the events per step) changes nothing beyond noise."""
    tumor0, dose, dose_day, _ = PROTOCOLS[parameter_set]
    cfg = protocol(parameter_set, tumor0, dose, dose_day, end)
    omega = cfg.well_mixed.cells_per_agent
    days, default = replicates(cfg)
    monkeypatch.setattr(WellMixedModel, "max_events_per_step", WellMixedModel.max_events_per_step / 4)
    fine_cfg = cfg.model_copy(update={"time": cfg.time.model_copy(
        update={"dt_min": WellMixedModel.default_max_dt_days * rates.MINUTES_PER_DAY / 4})})
    _, fine = replicates(fine_cfg, seeds=range(1000, 1000 + REPLICATES))
    for col in COMPARTMENTS:
        (m1, s1), (m2, s2) = default[col], fine[col]
        ok = agree(m1, np.hypot(s1, s2), m2, omega)
        assert ok.all(), f"{col} on days {days[~ok]}: {m1[~ok]} (default step) vs {m2[~ok]} (shorter)"


def test_step_keeps_every_hazard_small_and_records_exact():
    """Large populations shorten the step (γ·C_T, α·T); records and doses still fall on their times."""
    cfg = protocol("cartmath_raji", 3e6, 1.5e7, 7.3, 9, **{"time.record_every_h": 6.0})
    m = WellMixedModel(cfg, rng=3)
    m.run()
    ts = m.datacollector.get_model_vars_dataframe()
    assert np.array_equal(ts["day"].to_numpy(), np.arange(37) * 0.25)
    assert ts["cells_infused"].to_numpy()[[29, 30]].tolist() == [0, 1.5e7]  # days 7.25 and 7.5
    p, om = m.p, m.omega
    m.n_tumor, m.n_effector, m.n_memory = int(1e9 / om), int(1e9 / om), int(1e6 / om)
    dt = m.longest_step()
    fastest = max(p["r"] + p["gamma"] * 1e9, p["phi"] + p["epsilon"] + p["rho"] + p["alpha"] * 1e9)
    assert dt == pytest.approx(m.max_events_per_step / fastest)
    m.n_tumor = 0
    effector_only = p["phi"] + p["epsilon"] + p["rho"]
    assert m.longest_step() == pytest.approx(min(m.max_dt_days, m.max_events_per_step / effector_only))


@pytest.mark.parametrize("rate_dt", [1e-9, 1e-4, 0.05, 1.0, 30.0, 1e4])
def test_entry_hazard_probability_averages_over_the_remaining_step(rate_dt):
    """A cell appearing at a uniform time in a step has the mean of 1 − exp(−h·s) over the rest of it."""
    s = (np.arange(200_000) + 0.5) / 200_000  # remaining fraction of the step, midpoint rule
    expected = float(np.mean(rates.hazard_probability(rate_dt, s)))
    p = float(rates.entry_hazard_probability(rate_dt, 1.0))
    assert p == pytest.approx(expected, rel=1e-6)
    assert float(rates.entry_hazard_probability(2 * rate_dt, 0.5)) == pytest.approx(p, rel=1e-12)


def test_dose_sweep_recovers_the_ode_threshold():
    """Eradication by day 15 switches on at the ODE's threshold, not merely somewhere between doses.

    The ODE's tumor grows after 1e7 cells and is gone after 1.25e7; between them it falls to one
    agent's worth of cells by day 15 at a single dose (~1.054e7 for 1e3 cells per agent, just above
    the dose at which the tumor stops growing, 1.042e7). A Hill fit to eradication in the agents
    must put its ED50 there.
    """
    p = CARTMATH_SETS["cartmath_raji"]
    days = np.array([0.0, 7.0, 15.0])
    assert cartmath_ode(p, 3e6, 1.0e7, 7, days)[-1, 2] > 1e8
    assert cartmath_ode(p, 3e6, 1.25e7, 7, days)[-1, 2] < 1
    omega, reps = 1e3, 32
    threshold = brentq(lambda d: math.log(max(cartmath_ode(p, 3e6, d, 7, days)[-1, 2], 1e-30) / omega),
                       1.0e7, 1.25e7, xtol=1e3)
    assert 1.04e7 < threshold < 1.07e7
    doses = np.array([0.96e7, 1.0e7, 1.04e7, 1.08e7, 1.12e7])
    eradicated = np.array([
        sum(run(protocol("cartmath_raji", 3e6, dose, 7, 15, omega), seed=s).summary["eradicated"]
            for s in range(reps))
        for dose in doses])
    assert eradicated[1] <= 0.5 * reps <= eradicated[-1]
    fit = fit_hill(doses, eradicated, np.full(len(doses), reps), confidence=0.99)
    assert not fit.note
    assert fit.ed50_ci[0] <= threshold <= fit.ed50_ci[1], (fit, eradicated)
    assert fit.ed50_ci[1] / fit.ed50_ci[0] < 1.06  # the sweep pins the threshold to a few percent


def test_untreated_growth_matches_exponential():
    cfg = protocol("cartmath_raji", 3e6, 1.0, 14, 14)
    finals = [run(cfg, seed=s).summary["final_tumor"] for s in range(REPLICATES)]
    assert np.mean(finals) == pytest.approx(3e6 * np.exp(0.5071721 * 14), rel=0.03)


def test_models_refuse_the_other_space():
    with pytest.raises(ConfigError, match="well_mixed"):
        CarTModel(CONFIGS / "well_mixed_raji.yaml")
    m = WellMixedModel(CONFIGS / "well_mixed_raji.yaml", rng=1)
    m.run()
    assert m.day == pytest.approx(15)
