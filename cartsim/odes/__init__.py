"""Reference well-mixed ODE models (CARTmath, León-Triana et al., Kuznetsov et al.), with dose impulses.

Python::

    from cartsim.odes import simulate, CARTMATH
    sol = simulate("cartmath", "raji", {"tumor": 3e6}, (0, 15), doses=[(7, 1.5e7)])
    sol.as_dataframe()          # day, tumor_total, cart_total, cart_effector, cart_memory, ...
    sol.at(15, "tumor")         # tumor cells on day 15

    from cartsim.odes import load_ode_config, run_ode
    result = run_ode(load_ode_config("configs/ode_cartmath_raji.yaml"))
    result.write("results/raji")

Command line: ``cartsim ode CONFIG [--model M] [--set PATH=VALUE]`` (``cartsim ode --help``).
Equations, parameters and sources: ``docs/reference_models.md``.
"""

from cartsim.odes.config import OdeConfig, load_ode_config, ode_data_from_experiment, parse_ode_config
from cartsim.odes.models import CARTMATH, KUZNETSOV, LEON_TRIANA, MODELS, OdeModel, ParameterSet, get_model
from cartsim.odes.results import OdeRunResult, run_ode, summarize_ode
from cartsim.odes.solve import Impulse, OdeBlowUpError, OdeSolution, OdeSolverError, simulate

__all__ = [
    "CARTMATH", "KUZNETSOV", "LEON_TRIANA", "MODELS", "Impulse", "OdeBlowUpError", "OdeConfig", "OdeModel",
    "OdeRunResult",
    "OdeSolution", "OdeSolverError", "ParameterSet", "get_model", "load_ode_config", "ode_data_from_experiment",
    "parse_ode_config", "run_ode", "simulate", "summarize_ode",
]
