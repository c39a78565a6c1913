"""Hill / log-logistic fits recover known ED50 and slopes, with honest intervals."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cartsim.analysis import fit_curves, fit_hill, fit_log_logistic, response_curve
from cartsim.analysis.fitting import HillFit


def hill(x, ed50, slope):
    return 1.0 / (1.0 + (ed50 / np.asarray(x, float)) ** slope)


DOSES = np.geomspace(10, 1000, 9)


def test_recovers_ed50_and_slope_from_large_synthetic_samples():
    rng = np.random.default_rng(42)
    n = np.full(DOSES.size, 400)
    k = rng.binomial(n, hill(DOSES, 120.0, 2.5))
    fit = fit_hill(DOSES, k, n)
    assert fit.ed50 == pytest.approx(120.0, rel=0.06) and fit.slope == pytest.approx(2.5, rel=0.08)
    assert fit.ed50_ci[0] < 120.0 < fit.ed50_ci[1] and fit.slope_ci[0] < 2.5 < fit.slope_ci[1]
    assert fit.converged and fit.note == ""
    # the curve goes through half-way at ED50
    assert fit.predict([fit.ed50])[0] == pytest.approx(0.5)


def test_falling_curves_get_a_negative_slope():
    rng = np.random.default_rng(1)
    n = np.full(DOSES.size, 300)
    k = rng.binomial(n, 1 - hill(DOSES, 50.0, 1.5))
    fit = fit_hill(DOSES, k, n)
    assert fit.slope == pytest.approx(-1.5, rel=0.12) and fit.ed50 == pytest.approx(50.0, rel=0.12)


def test_interval_coverage_is_close_to_nominal():
    # with 10 replicates at 9 doses (a typical sweep) the 95 % intervals should cover the truth
    # in about 95 % of experiments
    rng = np.random.default_rng(2024)
    n = np.full(DOSES.size, 10)
    covered_ed50 = covered_slope = 0
    trials = 300
    for _ in range(trials):
        k = rng.binomial(n, hill(DOSES, 100.0, 1.5))
        fit = fit_hill(DOSES, k, n)
        covered_ed50 += fit.ed50_ci[0] <= 100.0 <= fit.ed50_ci[1]
        covered_slope += fit.slope_ci[0] <= 1.5 <= fit.slope_ci[1]
    assert 0.90 <= covered_ed50 / trials <= 0.99
    assert 0.90 <= covered_slope / trials <= 0.995


def test_complete_separation_gives_finite_estimates():
    # a clean 0 -> 1 step: plain maximum likelihood diverges; Firth's estimate stays finite with
    # ED50 between the last all-0 and the first all-1 dose
    fit = fit_hill([10, 20, 40, 80], [0, 0, 5, 5], [5, 5, 5, 5])
    assert np.isfinite(fit.slope) and fit.slope > 0 and 20 < fit.ed50 < 40
    assert fit.ed50_ci[0] < fit.ed50 < fit.ed50_ci[1]
    flat = fit_hill([10, 20, 40], [0, 0, 0], [5, 5, 5])
    assert "no variation" in flat.note


def test_bad_inputs_are_rejected():
    with pytest.raises(ValueError, match="x > 0"):
        fit_hill([0, 10], [0, 1], [2, 2])
    with pytest.raises(ValueError, match="two different doses"):
        fit_hill([10, 10], [0, 1], [2, 2])
    with pytest.raises(ValueError, match="successes"):
        fit_hill([1, 10], [3, 1], [2, 2])


def test_four_parameter_fit_recovers_a_continuous_curve():
    rng = np.random.default_rng(5)
    x = np.repeat(DOSES, 6)
    y = 0.1 + 0.8 * hill(x, 200.0, 1.8) + rng.normal(0, 0.03, x.size)
    fit = fit_log_logistic(x, y)
    assert fit.kind == "continuous" and fit.converged
    assert fit.ed50 == pytest.approx(200.0, rel=0.1) and fit.slope == pytest.approx(1.8, rel=0.15)
    assert fit.bottom == pytest.approx(0.1, abs=0.04) and fit.top == pytest.approx(0.9, abs=0.04)
    assert fit.ed50_ci[0] < 200.0 < fit.ed50_ci[1]
    falling = fit_log_logistic(x, 1.0 - y)
    assert falling.slope < 0 and falling.bottom < falling.top


def test_fit_curves_and_response_curve_on_a_runs_table():
    rng = np.random.default_rng(9)
    rows = []
    for product, ed50 in (("A", 30.0), ("B", 300.0)):
        for dose in DOSES:
            for rep in range(40):
                rows.append({"dose": dose, "product": product, "eradicated": bool(rng.random() < hill(dose, ed50, 2.0)),
                             "burden": float(rng.normal(1000 / (1 + dose / ed50), 5))})
    runs = pd.DataFrame(rows)
    runs["eradicated"] = runs["eradicated"].astype("boolean")
    fits = fit_curves(runs, "dose", "eradicated", by="product")
    assert set(fits) == {"A", "B"} and all(isinstance(f, HillFit) for f in fits.values())
    assert fits["A"].ed50 == pytest.approx(30, rel=0.25) and fits["B"].ed50 == pytest.approx(300, rel=0.25)
    table = response_curve(runs, "dose", "eradicated", by="product")
    assert len(table) == 18 and (table["n"] == 40).all() and table["kind"].eq("proportion").all()
    assert ((table["low"] <= table["estimate"]) & (table["estimate"] <= table["high"])).all()
    means = response_curve(runs, "dose", "burden")
    assert means["kind"].eq("mean").all() and (means["n"] == 80).all()
    assert means["estimate"].is_monotonic_decreasing
