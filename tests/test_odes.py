"""Reference ODE models: analytic checks of the solver and the published protocols of each model.

Numerical tolerance: the default solver settings (LSODA, rtol 1e-8) reproduce closed-form solutions
to ~1e-7 relative over these horizons, so analytic checks use rel=1e-6. Published-behaviour checks
use margins set by the biology (orders of magnitude), stated at each assertion.
"""

from __future__ import annotations

import math
from itertools import pairwise

import numpy as np
import pytest
from scipy.integrate import solve_ivp
from scipy.optimize import brentq, fsolve

from cartsim.odes import (CARTMATH, KUZNETSOV, LEON_TRIANA, MODELS, Impulse, OdeBlowUpError, OdeSolverError,
                          simulate)

RAJI = CARTMATH.params("raji")
HDLM2 = CARTMATH.params("hdlm2")


def raji_day15(dose: float) -> tuple[float, float]:
    """Tumor cells on days 7 and 15 of the Raji protocol: 3e6 cells at day 0, ``dose`` CAR-T at day 7."""
    sol = simulate("cartmath", "raji", {"tumor": 3e6}, (0, 15), doses=[(7, dose)], t_eval=[0, 7, 15])
    return sol.at(7), sol.at(15)


# ----------------------------------------------------------------------------- registry
@pytest.mark.parametrize("model", list(MODELS.values()), ids=list(MODELS))
def test_every_parameter_set_is_complete(model):
    for pset in model.parameter_sets.values():
        assert set(pset.values) == set(model.parameter_names)
        assert set(pset.initial) == set(model.compartment_names)
        assert all(math.isfinite(v) and v >= 0 for v in pset.values.values())
        assert all(model.parameter(k).problem(v) is None for k, v in pset.values.items())
    assert model.dose_compartment in model.compartment_names
    assert model.indices("tumor") and model.indices("cart")


def test_published_values_as_in_the_reference_sheet():
    # a few values typed again from the papers, so that a slip in models.py shows up
    assert RAJI["r"] == 0.5071721 and RAJI["b"] == 0 and RAJI["gamma"] == 3.365388e-8
    assert HDLM2["theta"] == 6.0e-6 and HDLM2["b"] == 1.404029e-12 and HDLM2["rho"] == 0.35
    assert LEON_TRIANA.params()["rho_C"] == pytest.approx(4.5e-11 / 4)
    assert KUZNETSOV.params()["g"] == 2.019e7 and KUZNETSOV.params()["n"] == 1.101e-7


# ----------------------------------------------------------------------------- the equations, typed again
# The right-hand sides written out once more from /work/shared/reference/car-t-biology.md, apart
# from models.py, so that a changed sign or term there shows up here.
def cartmath_reference(y, p):
    """dC_T/dt = (φ − ρ)·C_T + θ·T·C_M − α·T·C_T; dC_M/dt = ε·C_T − θ·T·C_M − μ·C_M;
    dT/dt = r·T·(1 − b·T) − γ·T·C_T (cells/day)."""
    ct, cm, t = y
    return [(p["phi"] - p["rho"]) * ct + p["theta"] * t * cm - p["alpha"] * t * ct,
            p["epsilon"] * ct - p["theta"] * t * cm - p["mu"] * cm,
            p["r"] * t * (1 - p["b"] * t) - p["gamma"] * t * ct]


def leon_triana_reference(y, p):
    """dC/dt = ρ_C·(L + B)·C − C/τ_C; dL/dt = ρ_L·L − α·L·C; dB/dt = −α·B·C − B/τ_B (cells/day)."""
    c, leuk, b = y
    return [p["rho_C"] * (leuk + b) * c - c / p["tau_C"],
            p["rho_L"] * leuk - p["alpha"] * leuk * c,
            -p["alpha"] * b * c - b / p["tau_B"]]


def kuznetsov_reference(y, p):
    """dE/dt = s + p·E·T/(g + T) − m·E·T − d·E; dT/dt = a·T·(1 − b·T) − n·E·T (cells/day)."""
    e, t = y
    return [p["s"] + p["p"] * e * t / (p["g"] + t) - p["m"] * e * t - p["d"] * e,
            p["a"] * t * (1 - p["b"] * t) - p["n"] * e * t]


REFERENCE = {  # model: (right-hand side, kill rate of tumor cells)
    "cartmath": (cartmath_reference, lambda y, p: p["gamma"] * y[2] * y[0]),
    "leon_triana": (leon_triana_reference, lambda y, p: p["alpha"] * y[1] * y[0]),
    "kuznetsov": (kuznetsov_reference, lambda y, p: p["n"] * y[0] * y[1]),
}


@pytest.mark.parametrize("name", list(REFERENCE))
def test_rhs_matches_the_reference_equations_at_random_states(name):
    """Parameters and states of order one make every term count, so any flipped sign or dropped
    term changes the result far beyond round-off."""
    model, (rhs, kills) = MODELS[name], REFERENCE[name]
    rng = np.random.default_rng(7)
    for _ in range(20):
        p = {k: float(v) for k, v in zip(model.parameter_names, rng.uniform(0.1, 2.0, len(model.parameters)))}
        y = rng.uniform(0.1, 10.0, len(model.compartments))
        np.testing.assert_allclose(model.rhs(y, p), rhs(y, p), rtol=1e-12, atol=0)
        assert model.kill_rate(y, p) == pytest.approx(kills(y, p), rel=1e-12)
    for pset in model.parameter_sets.values():  # and at the published values, on realistic cell numbers
        y = 10 ** rng.uniform(3, 9, len(model.compartments))
        np.testing.assert_allclose(model.rhs(y, pset.values), rhs(y, pset.values), rtol=1e-12)


def reference_solution(rhs, p, y0, dose_index, doses, end):
    """The state at ``end``: scipy's own solve of ``rhs`` (from the reference sheet), restarted at
    each dose with the cells added to ``y0[dose_index]``."""
    y, start = np.array(y0, dtype=float), 0.0
    for day, cells in [*doses, (end, 0.0)]:
        if day > start:
            sol = solve_ivp(lambda _t, z: rhs(z, p), (start, day), y, method="LSODA", rtol=1e-11, atol=1e-9)
            assert sol.success
            y, start = sol.y[:, -1], day
        y[dose_index] += cells
    return y


# ----------------------------------------------------------------------------- analytic checks
def test_untreated_raji_grows_exponentially_to_six_billion():
    """b = 0 and no CAR-T: T(t) = T0·exp(r·t); 3e6·exp(15·0.5071721) = 6.0402e9 (the '~6e9 at day 15')."""
    sol = simulate("cartmath", "raji", {"tumor": 3e6}, (0, 15), doses=[])
    exact = 3e6 * np.exp(RAJI["r"] * sol.t)
    np.testing.assert_allclose(sol["tumor"], exact, rtol=1e-6)
    assert sol.at(15) == pytest.approx(6.0402e9, rel=1e-4)
    assert np.all(sol.cart_total == 0) and np.all(sol.kills == 0)


def test_untreated_hdlm2_follows_the_logistic_solution():
    """b > 0: T(t) = K / (1 + (K/T0 - 1)·exp(-r·t)), K = 1/b = 7.12e11 cells."""
    sol = simulate("cartmath", "hdlm2", {"tumor": 2e6}, (0, 400), doses=[])
    k, r = 1 / HDLM2["b"], HDLM2["r"]
    exact = k / (1 + (k / 2e6 - 1) * np.exp(-r * sol.t))
    np.testing.assert_allclose(sol["tumor"], exact, rtol=1e-6)
    assert sol.at(42) == pytest.approx(2.1459e7, rel=1e-4)  # the burden when the protocol doses


def test_impulses_add_exactly():
    """With every rate zero, the effector compartment holds exactly the doses given so far."""
    zero = dict.fromkeys(CARTMATH.parameter_names, 0.0)
    doses = [(0, 1e6), (2.5, 3e5), (2.5, 2e5), (7, 1.25e6)]
    sol = simulate("cartmath", zero, {"tumor": 5.0}, (0, 10), doses=doses)
    given = np.array([sum(c for d, c in doses if d < t) for t in sol.t])  # left-continuous records
    assert np.array_equal(sol["cart_effector"], given)
    assert np.array_equal(sol.infused, given)
    assert np.all(sol["tumor"] == 5.0) and np.all(sol["cart_memory"] == 0)
    assert sol.at(2.5, "cart_effector") == 1e6 and sol.at(2.75, "cart_effector") == 1.5e6


def test_a_dose_equals_restarting_with_the_cells_added():
    """Piecewise integration: solving to the dose day, adding the cells and solving on is the same run."""
    days = np.arange(0, 15.01, 0.5)
    with_dose = simulate("cartmath", "raji", {"tumor": 3e6}, (0, 15), doses=[(7, 1.2e7)], t_eval=days)
    before = simulate("cartmath", "raji", {"tumor": 3e6}, (0, 7), doses=[], t_eval=days[days <= 7])
    y7 = before.y[:, -1].copy()
    y7[CARTMATH.index("cart_effector")] += 1.2e7
    after = simulate("cartmath", "raji", y7, (7, 15), doses=[], t_eval=days[days >= 7])
    np.testing.assert_allclose(with_dose.y[:, days <= 7], before.y, rtol=1e-12)
    np.testing.assert_allclose(with_dose.y[:, days > 7], after.y[:, 1:], rtol=1e-9, atol=1e-6)
    # the row of the dose day shows the state before the dose, like an agent run's record
    assert with_dose.at(7, "cart_effector") == 0 and with_dose.at(7.5, "cart_effector") > 1e7


def test_an_empty_dose_does_not_change_the_trajectory():
    a = simulate("cartmath", "hdlm2", doses=[(42, 1.5e6)])
    b = simulate("cartmath", "hdlm2", doses=[(42, 1.5e6), (20, 0.0), (100, 0.0)])
    np.testing.assert_allclose(a.y, b.y, rtol=1e-6, atol=1e-3)


def test_kills_total_closes_the_tumor_mass_balance():
    """Leukemic cells: L(T) - L(0) = ∫ρ_L·L dt - kills(T), with kills = ∫α·L·C dt."""
    days = np.linspace(0, 60, 6001)
    sol = simulate("leon_triana", "default", t_span=(0, 60), doses=[(0, 1e7)], t_eval=days)
    leuk = sol["tumor"]
    grown = np.trapezoid(LEON_TRIANA.params()["rho_L"] * leuk, days)
    assert leuk[-1] - leuk[0] == pytest.approx(grown - sol.kills[-1], rel=1e-4)
    assert np.all(np.diff(sol.kills) >= 0)


def test_states_stay_non_negative_under_an_overwhelming_dose():
    # Kuznetsov's g + T would vanish at T = -g: without the clip the solver divides by zero
    sol = simulate("kuznetsov", "default", doses=[(10, 1e9)])
    assert np.all(np.isfinite(sol.y)) and np.all(sol.y >= 0)
    assert sol.at(1000) == 0.0  # cured: the immune state returns to the tumor-free level s/d
    assert sol.at(1000, "effector") == pytest.approx(1.3e4 / 0.0412, rel=1e-6)


def test_extinction_makes_a_tumor_below_one_cell_gone_for_good():
    """HDLM-2 with 0.5e6 CAR-T: the pure ODE drives the tumor below one cell and lets it regrow
    (the continuous 'atto-fox'); with extinction_cells=1 it stays at zero."""
    pure = simulate("cartmath", "hdlm2", doses=[(42, 5e5)])
    gone = simulate("cartmath", "hdlm2", doses=[(42, 5e5)], extinction_cells=1.0)
    after = pure.t >= 42
    assert pure["tumor"][after].min() < 1.0 and pure.at(200) > 100.0
    assert gone.at(200) == 0.0 and len(gone.extinctions) == 1
    day, name = gone.extinctions[0]
    assert name == "tumor" and 60 < day < 90
    before = gone.t < day
    np.testing.assert_allclose(gone.y[:, before], pure.y[:, before], rtol=1e-6, atol=1e-3)


def test_bad_inputs_raise():
    with pytest.raises(KeyError, match="missing parameter"):
        simulate("cartmath", {"r": 1.0}, {"tumor": 1}, (0, 1))
    with pytest.raises(KeyError, match="no compartment"):
        simulate("cartmath", "raji", {"tumour": 1}, (0, 1))
    with pytest.raises(ValueError, match="outside t_span"):
        simulate("cartmath", "raji", {"tumor": 1}, (0, 1), doses=[(2, 1)])
    with pytest.raises(ValueError, match=">= 0"):
        simulate("cartmath", "raji", {"tumor": -1}, (0, 1))
    with pytest.raises(KeyError, match="unknown ODE model"):
        simulate("cartmath2")


@pytest.mark.parametrize(("model", "change", "message"), [
    ("cartmath", {"gamma": -1e-8}, r"parameter gamma must be >= 0 \(a rate in 1/\(cell·day\); got -1e-08\)"),
    ("cartmath", {"mu": math.inf}, r"parameter mu must be a finite number"),
    ("cartmath", {"theta": math.nan}, r"parameter theta must be a finite number"),
    ("leon_triana", {"tau_C": 0.0}, r"parameter tau_C must be > 0 \(a lifetime in days; got 0\)"),
    ("leon_triana", {"tau_B": -5.0}, r"parameter tau_B must be > 0"),
    ("kuznetsov", {"g": 0.0}, r"parameter g must be > 0 \(a tumor size in cells; got 0\)"),
], ids=["negative-rate", "infinite", "nan", "zero-lifetime", "negative-lifetime", "zero-g"])
def test_parameters_out_of_range_are_refused(model, change, message):
    m = MODELS[model]
    with pytest.raises(ValueError, match=message):
        simulate(model, m.params(**change), t_span=(0, 1))


def test_a_blow_up_stops_with_a_clear_error_at_once():
    """r = 50/day: the untreated Raji tumor passes 1e20 cells on day ln(1e20/3e6)/50 = 0.623;
    without the limit the integrator ran into overflow and went on for minutes."""
    with pytest.raises(OdeBlowUpError, match=r"cartmath: tumor exceeded 1e20 cells on day 0\.62\d*: "
                                             r"the parameters make the system blow up"):
        simulate("cartmath", CARTMATH.params("raji", r=50), {"tumor": 3e6}, (0, 15), doses=[(7, 1e7)])
    with pytest.raises(OdeBlowUpError, match="cart_effector exceeded 1e+?20 cells"):
        simulate("cartmath", CARTMATH.params("raji", phi=100), {"tumor": 3e6}, (0, 15), doses=[(7, 1e7)])
    # a dose above the limit is refused before the integrator sees it
    with pytest.raises(OdeBlowUpError, match="exceeded"):
        simulate("cartmath", "raji", {"tumor": 3e6}, (0, 15), doses=[(7, 1e21)])
    # the limit is a keyword: lifted, the same run just grows
    sol = simulate("cartmath", "raji", {"tumor": 3e6}, (0, 100), doses=[], max_cells=None, t_eval=[0, 100])
    assert sol.at(100) == pytest.approx(3e6 * math.exp(100 * RAJI["r"]), rel=1e-6)


def test_the_integrators_failures_become_solver_errors():
    # without the blow-up limit, r = 5 ends in scipy's "`ts` must be strictly increasing" ValueError
    with pytest.raises(OdeSolverError, match="cartmath: the solver failed between day"):
        simulate("cartmath", CARTMATH.params("raji", r=5), {"tumor": 3e6}, (0, 15), doses=[(7, 1e7)],
                 max_cells=None)
    # finite but absurd: γ·C_T·T overflows to inf on the dose day
    with pytest.raises(OdeSolverError, match="infinite or undefined on day 7"):
        simulate("cartmath", CARTMATH.params("raji", gamma=1e300), {"tumor": 3e6}, (0, 15), doses=[(7, 1e7)])


def test_an_evaluation_limit_ends_any_long_run():
    with pytest.raises(OdeSolverError, match="more than 1,000 right-hand-side evaluations"):
        simulate("kuznetsov", "default", method="RK45", max_evaluations=1000)
    assert simulate("kuznetsov", "default", method="RK45", max_evaluations=None).nfev > 1000


# ----------------------------------------------------------------------------- CARTmath, Raji set
def test_raji_dose_threshold_between_1e7_and_1_5e7():
    """The Raji fit's sharp threshold: 1e7 CAR-T19 at day 7 lets the tumor grow on to day 15; 1.5e7 eradicates it."""
    t7, low = raji_day15(1e7)
    _, high = raji_day15(1.5e7)
    assert t7 == pytest.approx(1.0446e8, rel=1e-4)  # 3e6·exp(7r)
    assert low > 5 * t7  # 9.4e8: the tumor still grows ninefold after 1e7 CAR-T (untreated: 58-fold)
    assert high < 1.0  # 1.5e7: below one cell by day 15 (3e-11)
    # the dose at which the day-15 burden equals the day-7 burden lies between them, near 1.04e7
    threshold = brentq(lambda d: raji_day15(d)[1] - t7, 1e7, 1.5e7, xtol=100)
    assert 1e7 < threshold < 1.5e7
    assert threshold == pytest.approx(1.0415e7, rel=5e-3)
    # and the switch is sharp: 2 % above it the tumor is already 1,000-fold smaller than at day 7
    assert raji_day15(1.02 * threshold)[1] < 1e-3 * t7


def test_raji_day15_burden_falls_with_dose():
    burdens = [raji_day15(d)[1] for d in (0, 5e6, 1e7, 1.04e7, 1.1e7, 1.5e7)]
    assert all(a > b for a, b in pairwise(burdens))
    assert burdens[0] == pytest.approx(6.0402e9, rel=1e-4)


# ----------------------------------------------------------------------------- CARTmath, HDLM-2 set
def hdlm2(dose: float, **kw):
    sol = simulate("cartmath", "hdlm2", doses=[(42, dose)], **kw)
    after = sol.t >= 42
    return sol, sol.at(42), sol["tumor"][after].min()


def test_hdlm2_protocol_dose_clears_the_tumor_and_leaves_memory():
    """1.5e6 CAR-T123 at day 42 (the published protocol): cleared within days, memory CAR-T persist."""
    sol, baseline, nadir = hdlm2(1.5e6)
    assert baseline == pytest.approx(2.1459e7, rel=1e-4)
    assert np.all(sol["tumor"][sol.t >= 50] < 1.0)  # below one cell from day 50 to day 200
    assert sol.at(200, "cart_memory") > 5e5  # 1.1e6 memory cells at day 200 (μ = 0.005/day)
    assert sol.at(200, "cart_effector") < 10  # effectors contract once the tumor is gone


def test_hdlm2_memory_on_day_200_matches_an_independent_solution():
    """The HDLM-2 column of the reference sheet, typed again, solved by scipy alone."""
    p = {"r": 0.05650026, "b": 1.404029e-12, "gamma": 3.715843e-6, "phi": 0.265, "rho": 0.35,
         "alpha": 4.5e-8, "epsilon": 0.15, "mu": 5.0e-3, "theta": 6.0e-6}
    ct, cm, _ = reference_solution(cartmath_reference, p, [0, 0, 2e6], 0, [(42, 1.5e6)], 200)
    sol = simulate("cartmath", "hdlm2", doses=[(42, 1.5e6)], t_eval=[0, 42, 200])
    assert sol.at(200, "cart_memory") == pytest.approx(cm, rel=1e-3)  # 1.1e6 cells
    assert sol.at(200, "cart_effector") == pytest.approx(ct, rel=1e-3, abs=1e-3)


def test_hdlm2_lower_doses_control_then_fail():
    """The paper's lower doses: 0.5e6 drives the tumor down > 5 orders of magnitude before it grows
    back; 0.2e6 only dents it (63 %) and the tumor grows past its day-42 size."""
    sol, baseline, nadir = hdlm2(5e5)
    assert nadir < 1e-5 * baseline and sol.at(200) > 100 * nadir
    sol, baseline, nadir = hdlm2(2e5)
    assert 0.25 < 1 - nadir / baseline < 0.9
    assert sol.at(200) > 100 * baseline
    finals = [hdlm2(d)[0].at(200) for d in (0, 2e5, 5e5, 1.5e6)]
    assert all(a > b for a, b in pairwise(finals))


def test_hdlm2_memory_rejects_a_rechallenge():
    """CARTmath app example: 2e6 CAR-T at day 42, 1e6 tumor cells again at day 250: memory CAR-T turn
    back into effectors on contact and clear the new tumor (untreated, it would reach 7e11)."""
    kw = dict(params="hdlm2", y0={"tumor": 2e6}, t_span=(0, 500), impulses=[Impulse(250, "tumor", 1e6)])
    treated = simulate("cartmath", doses=[(42, 2e6)], **kw)
    untreated = simulate("cartmath", doses=[], **kw)
    assert treated.at(250) < 1.0 and treated.at(250, "cart_memory") > 1e6
    assert np.all(treated["tumor"][treated.t >= 256] < 1.0)
    assert untreated.at(500) > 1e11


# ----------------------------------------------------------------------------- León-Triana
def test_leon_triana_peak_cart_barely_depends_on_dose():
    """León-Triana et al. 2021: over a 10,000-fold range of doses the CAR-T peak changes by ~20 %
    (1.87e10 to 1.53e10); a larger dose only brings the peak earlier."""
    peaks, days = [], []
    for dose in (1e5, 1e6, 1e7, 1e8, 1e9):
        sol = simulate("leon_triana", "default", doses=[(0, dose)], t_eval=np.arange(0, 120.01, 0.05))
        i = int(np.argmax(sol.cart_total))
        peaks.append(sol.cart_total[i])
        days.append(sol.t[i])
    assert max(peaks) / min(peaks) < 1.3
    assert min(peaks) > 10 * 1e9  # every dose expands to > 1.5e10, 15× even the largest dose
    assert all(a > b for a, b in pairwise(days))  # 16.7 -> 6.7 days


def test_leon_triana_causes_b_cell_aplasia_and_a_relapse():
    sol = simulate("leon_triana", "default", doses=[(0, 1e7)])
    assert sol.at(120, "bcells") < 1e-5 * 2.5e10  # healthy B cells are killed too
    after = sol.t > 20
    low = sol["tumor"][after].min()
    assert low < 1e-4 * 5e10 and sol.at(120) > 3 * low  # leukemia falls 5 logs then regrows


def test_leon_triana_day_120_matches_an_independent_solution():
    """The reference values (α = 4.5e-11, ρ_C = α/4, τ_C = 14, ρ_L = 1/30, τ_B = 60; C0 = 1e7,
    L0 = 5e10, B0 = 2.5e10) solved by scipy alone: healthy B cells are down to ~2.6e3 on day 120."""
    alpha = 4.5e-11
    p = {"alpha": alpha, "rho_C": alpha / 4, "tau_C": 14.0, "rho_L": 1 / 30, "tau_B": 60.0}
    c, leuk, b = reference_solution(leon_triana_reference, p, [0, 5e10, 2.5e10], 0, [(0, 1e7)], 120)
    sol = simulate("leon_triana", "default", doses=[(0, 1e7)], t_eval=[0, 60, 120])
    assert sol.at(120, "bcells") == pytest.approx(b, rel=1e-3)
    assert sol.at(120, "tumor") == pytest.approx(leuk, rel=1e-3)
    assert sol.at(120, "cart") == pytest.approx(c, rel=1e-3)


# ----------------------------------------------------------------------------- Kuznetsov
# Steady states reported for this parameter set (Kuznetsov et al. 1994; x = E/1e6, y = T/1e6 cells):
# dormant tumor (1.61, 8.19), saddle (0.759, 268), escaped tumor (0.173, 447).
KUZNETSOV_STEADY = {"dormant": (1.61e6, 8.19e6), "saddle": (7.59e5, 2.68e8), "escape": (1.73e5, 4.47e8)}


def _jacobian(f, y, h=1e-3):
    """Central differences with steps relative to each coordinate."""
    cols = [(f(y + h * y[j] * e) - f(y - h * y[j] * e)) / (2 * h * y[j]) for j, e in enumerate(np.eye(2))]
    return np.column_stack(cols)


def test_kuznetsov_steady_states_match_the_literature():
    p = KUZNETSOV.params()
    f = lambda y: KUZNETSOV.rhs(y, p)  # noqa: E731
    found = {}
    for name, guess in KUZNETSOV_STEADY.items():
        y, info, ok, _ = fsolve(lambda v: f(v) / (1 + np.abs(v)), np.array(guess) * 1.05, full_output=True, xtol=1e-12)
        assert ok == 1, name
        np.testing.assert_allclose(y, guess, rtol=0.01, err_msg=name)
        found[name] = np.linalg.eigvals(_jacobian(f, y))
    assert np.all(found["dormant"].real < 0) and np.all(found["dormant"].imag != 0)  # stable focus
    assert found["saddle"].real.max() > 0 > found["saddle"].real.min()  # saddle
    assert np.all(found["escape"].real < 0) and np.all(found["escape"].imag == 0)  # stable node
    # and the tumor-free state E = s/d is unstable to a few tumor cells (a - n·s/d > 0)
    assert p["a"] - p["n"] * p["s"] / p["d"] > 0


def test_kuznetsov_is_bistable_and_transfer_of_effectors_restores_dormancy():
    e0 = 1.3e4 / 0.0412
    small = simulate("kuznetsov", "default", {"effector": e0, "tumor": 1e7}, (0, 3000), t_eval=[0, 3000])
    large = simulate("kuznetsov", "default", {"effector": e0, "tumor": 1e8}, (0, 3000), t_eval=[0, 3000])
    assert small.at(3000) == pytest.approx(KUZNETSOV_STEADY["dormant"][1], rel=0.01)
    assert large.at(3000) == pytest.approx(KUZNETSOV_STEADY["escape"][1], rel=0.01)
    # from the escaped state, an adoptive transfer of 1e6 effector cells crosses the separatrix
    escaped = {"effector": 1.7321e5, "tumor": 4.4703e8}
    treated = simulate("kuznetsov", "default", escaped, (0, 3000), doses=[(10, 1e6)], t_eval=[0, 10, 3000])
    assert treated.at(3000) == pytest.approx(KUZNETSOV_STEADY["dormant"][1], rel=0.01)
