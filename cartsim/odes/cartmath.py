"""The CARTmath rates of an agent experiment with ``space: well_mixed``.

The well-mixed agent model (:mod:`cartsim.well_mixed`) runs CARTmath's terms as agent rules, and
an ODE experiment derived from it (:func:`cartsim.odes.config.well_mixed_parameters`) must use
the same rates. Both read them here, next to the ODE that publishes them, so that the ODE side
never imports the agent model.
"""

from __future__ import annotations

from cartsim.config import ExperimentConfig
from cartsim.odes.models import CARTMATH

__all__ = ["CARTMATH_SETS", "WELL_MIXED_FIELDS", "cartmath_parameters"]

#: Published CARTmath fits (Barros et al. 2021, Cancers 13:2941), per day and per cell, by the
#: name an agent experiment gives them in ``well_mixed.parameter_set``.
CARTMATH_SETS: dict[str, dict[str, float]] = {
    "cartmath_raji": CARTMATH.params("raji"),
    "cartmath_hdlm2": CARTMATH.params("hdlm2"),
}

#: CARTmath parameter -> the ``well_mixed`` setting that overrides it (same unit).
WELL_MIXED_FIELDS = {"r": "r_per_day", "b": "b_per_cell", "gamma": "gamma_per_cell_day", "phi": "phi_per_day",
                     "rho": "rho_per_day", "alpha": "alpha_per_cell_day", "epsilon": "epsilon_per_day",
                     "mu": "mu_per_day", "theta": "theta_per_cell_day"}


def cartmath_parameters(config: ExperimentConfig) -> dict[str, float]:
    """The published set named by ``well_mixed.parameter_set``, with any rates the config overrides
    (per day, per cell, per cell·day as in :data:`cartsim.odes.models.CARTMATH`)."""
    wm = config.well_mixed
    params = dict(CARTMATH_SETS[wm.parameter_set])
    for key, field in WELL_MIXED_FIELDS.items():
        value = getattr(wm, field)
        if value is not None:
            params[key] = value
    return params
