"""Analysis of sweep results: intervals, response curves, Hill fits, Sobol indices.

Pure functions of DataFrames and arrays (no files, no plots), so they can be tested against
known answers and used from notebooks on any subset of runs.
"""

from cartsim.analysis.curves import (
    add_tumor_reduction_at_day,
    envelopes,
    fit_curves,
    fits_table,
    heatmap_table,
    metric_kind,
    response_curve,
    value_at_day,
)
from cartsim.analysis.fitting import HillFit, fit_hill, fit_log_logistic
from cartsim.analysis.intervals import bootstrap_interval, wilson_interval
from cartsim.analysis.sensitivity import sobol_indices

__all__ = [
    "HillFit",
    "add_tumor_reduction_at_day",
    "bootstrap_interval",
    "envelopes",
    "fit_curves",
    "fit_hill",
    "fit_log_logistic",
    "fits_table",
    "heatmap_table",
    "metric_kind",
    "response_curve",
    "sobol_indices",
    "value_at_day",
    "wilson_interval",
]
