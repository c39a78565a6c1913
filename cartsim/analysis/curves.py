"""Response curves, heatmaps and time-series envelopes from the tables of a sweep.

All functions take plain DataFrames (``results.ok_runs``, ``results.timeseries``) and return
DataFrames, so they work on any subset a user selects. A metric is a *proportion* when it is a
yes/no outcome (``eradicated``, ``relapsed``, ``antigen_negative_relapse``): its estimate is the
fraction of runs with the outcome, with a Wilson interval. Any other metric is a *mean* over the
runs, with a percentile bootstrap interval.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd
from pandas.api.types import is_bool_dtype

from cartsim.analysis.fitting import HillFit, fit_hill, fit_log_logistic
from cartsim.analysis.intervals import bootstrap_interval, wilson_interval

Kind = Literal["proportion", "mean"]


def metric_kind(runs: pd.DataFrame, metric: str) -> Kind:
    """``"proportion"`` for a yes/no metric, ``"mean"`` for a numeric one."""
    if metric not in runs.columns:
        raise KeyError(f"no metric {metric!r} in the runs table")
    col = runs[metric]
    if is_bool_dtype(col.dtype) or (col.dtype == object and col.dropna().map(type).eq(bool).all()):
        return "proportion"
    if not pd.api.types.is_numeric_dtype(col.dtype):
        raise TypeError(f"metric {metric!r} is neither yes/no nor numeric")
    return "mean"


def _select(runs: pd.DataFrame, metric: str, among: str | None) -> pd.DataFrame:
    if among is None:
        return runs
    cond = runs[among].astype("boolean").fillna(False).astype(bool)
    return runs.loc[cond]


def _summarise(values: pd.Series, kind: Kind, confidence: float, n_resamples: int, seed: int) -> dict:
    vals = values.dropna()
    n = int(vals.size)
    if kind == "proportion":
        k = int(vals.astype(bool).sum())
        low, high = wilson_interval(k, n, confidence) if n else (np.nan, np.nan)
        return {"n": n, "successes": k, "estimate": k / n if n else np.nan, "low": low, "high": high}
    arr = vals.to_numpy(float)
    low, high = bootstrap_interval(arr, "mean", confidence, n_resamples, seed)
    return {"n": n, "estimate": float(arr.mean()) if n else np.nan, "low": low, "high": high}


def response_curve(
    runs: pd.DataFrame,
    x: str,
    metric: str,
    by: str | None = None,
    among: str | None = None,
    confidence: float = 0.95,
    n_resamples: int = 4000,
    seed: int = 0,
) -> pd.DataFrame:
    """The metric's estimate and confidence interval at each value of the swept parameter ``x``.

    Args:
        runs: one row per finished run (``results.ok_runs``).
        x: the swept parameter on the x axis.
        metric: a summary metric (yes/no -> proportion with Wilson interval; numeric -> mean
            with bootstrap interval).
        by: another swept parameter: one curve per value of it.
        among: a yes/no metric restricting the runs counted, e.g. ``among="relapsed"`` with
            ``metric="antigen_negative_relapse"`` gives the antigen-negative share of relapses.
        confidence: coverage of the intervals.
        n_resamples, seed: of the bootstrap (means only).

    Returns:
        one row per (``by`` value,) ``x`` value: ``n`` runs counted, ``successes`` (proportions),
        ``estimate``, ``low``, ``high``, plus ``metric`` and ``kind``.
    """
    kind = metric_kind(runs, metric)
    data = _select(runs, metric, among)
    keys = [by, x] if by else [x]
    rows = []
    for key, group in data.groupby(keys, sort=True, dropna=False):
        key = key if isinstance(key, tuple) else (key,)
        rows.append({**dict(zip(keys, key)), **_summarise(group[metric], kind, confidence, n_resamples, seed)})
    columns = [*keys, "n", *(["successes"] if kind == "proportion" else []), "estimate", "low", "high"]
    table = pd.DataFrame(rows, columns=columns)
    table["metric"] = metric if among is None else f"{metric} among {among}"
    table["kind"] = kind
    return table


def heatmap_table(runs: pd.DataFrame, x: str, y: str, metric: str, among: str | None = None,
                  confidence: float = 0.95, seed: int = 0) -> pd.DataFrame:
    """The metric at every combination of two swept parameters (rows ``x`` × ``y``)."""
    table = response_curve(runs, x, metric, by=y, among=among, confidence=confidence, seed=seed)
    return table[[x, y, *[c for c in table.columns if c not in (x, y)]]]


def fit_curves(runs: pd.DataFrame, x: str, metric: str, by: str | None = None,
               confidence: float = 0.95) -> dict[object, HillFit]:
    """Hill fits of ``metric`` against ``x``, one per value of ``by`` (key None without ``by``).

    Yes/no metrics get :func:`~cartsim.analysis.fitting.fit_hill` (binomial counts per dose);
    numeric metrics :func:`~cartsim.analysis.fitting.fit_log_logistic` on the runs' values.
    Groups that cannot be fitted (fewer than two doses, x <= 0) are left out.
    """
    kind = metric_kind(runs, metric)
    groups = runs.groupby(by, sort=True) if by else [(None, runs)]
    fits: dict[object, HillFit] = {}
    for key, group in groups:
        group = group.dropna(subset=[metric])
        try:
            if kind == "proportion":
                counts = group.groupby(x)[metric].agg(["sum", "count"])
                fits[key] = fit_hill(counts.index.to_numpy(float), counts["sum"].to_numpy(float),
                                     counts["count"].to_numpy(float), confidence)
            else:
                fits[key] = fit_log_logistic(group[x].to_numpy(float), group[metric].to_numpy(float), confidence)
        except (ValueError, np.linalg.LinAlgError):
            continue
    return fits


def fits_table(fits: dict[object, HillFit], by: str | None, metric: str) -> pd.DataFrame:
    """A table of fits: one row per group, ED50 and slope with intervals."""
    rows = [{**({by: key} if by else {}), "metric": metric, **fit.as_dict()} for key, fit in fits.items()]
    return pd.DataFrame(rows)


def envelopes(timeseries: pd.DataFrame, columns: list[str], by: list[str] | None = None) -> pd.DataFrame:
    """Median and interquartile range of time-series columns across the replicates of each group.

    Args:
        timeseries: stacked run time series (``results.timeseries``).
        columns: series to summarise, e.g. ``["tumor_total", "cart_total"]`` (cells).
        by: grouping columns (default ``["point"]``: one envelope per design point).

    Returns:
        long table: the ``by`` columns, ``day``, ``variable``, ``median``, ``q25``, ``q75``, ``n``.
    """
    by = by or ["point"]
    long = timeseries.melt(id_vars=[*by, "day"], value_vars=columns, var_name="variable", value_name="value")
    grouped = long.groupby([*by, "variable", "day"], sort=True)["value"]
    out = grouped.quantile([0.25, 0.5, 0.75]).unstack()
    out.columns = ["q25", "median", "q75"]
    out["n"] = grouped.count()
    return out.reset_index()


def value_at_day(timeseries: pd.DataFrame, column: str, day: float) -> pd.Series:
    """Each run's ``column`` at the last record at or before ``day`` (indexed by ``run``)."""
    before = timeseries.loc[timeseries["day"] <= day + 1e-9, ["run", "day", column]]
    last = before.sort_values(["run", "day"]).groupby("run").tail(1)
    return last.set_index("run")[column]


def add_tumor_reduction_at_day(runs: pd.DataFrame, timeseries: pd.DataFrame, day: float) -> tuple[pd.DataFrame, str]:
    """Add ``tumor_reduction_day_<day>``: 1 − B(day)/B0 with B0 the burden at the first infusion
    (``baseline_tumor``), a fraction (1 = tumor gone, < 0 = grew). Returns the table and the name."""
    name = f"tumor_reduction_day_{day:g}"
    burden = value_at_day(timeseries, "tumor_total", day)
    out = runs.copy()
    b = out["run"].map(burden).astype(float)
    out[name] = 1.0 - b / out["baseline_tumor"].astype(float)
    return out, name
