"""Global sensitivity: first-order and total Sobol indices (SALib) from a Saltelli design.

The model is stochastic, so each design point's output is the mean of its replicates (the
fraction of runs for a yes/no metric). Run-to-run noise that replicates do not average out
shows up as variance no parameter explains: the first-order indices then sum to well below 1,
and the confidence intervals (bootstrap over the design, from SALib) widen. More replicates
shrink that share; more ``samples`` shrink the intervals.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from cartsim.analysis.curves import metric_kind


def point_means(runs: pd.DataFrame, metric: str, n_points: int) -> np.ndarray:
    """The metric averaged over the replicates of each design point (NaN for a point with no runs)."""
    kind = metric_kind(runs, metric)
    values = runs[metric].astype(float) if kind == "proportion" else runs[metric]
    means = values.groupby(runs["point"]).mean()
    return means.reindex(range(n_points)).to_numpy(float)


def sobol_indices(results, metrics: list[str], confidence: float = 0.95, seed: int = 0) -> pd.DataFrame:
    """First-order (S1) and total (ST) Sobol indices of each parameter for each metric.

    Args:
        results: a :class:`~cartsim.experiments.results.SweepResults` of a ``saltelli`` design.
        metrics: summary metrics to analyse.
        confidence: coverage of the intervals (``S1_conf``/``ST_conf`` are half-widths).
        seed: of SALib's bootstrap.

    Returns:
        one row per metric and parameter: ``S1``, ``S1_conf``, ``ST``, ``ST_conf``.

    Raises:
        ValueError: the design is not a Saltelli design, or some design points have no
            finished run yet, or a metric is undefined at some point.
    """
    from SALib.analyze import sobol

    if results.design_type != "saltelli":
        raise ValueError(f"Sobol indices need a 'saltelli' design (this sweep's design is "
                         f"'{results.design_type}'); set `design: saltelli` in the sweep block")
    names = results.parameters
    problem = {"num_vars": len(names), "names": names, "bounds": [[0.0, 1.0]] * len(names)}
    runs = results.ok_runs
    n_points = len(results.design)
    rows = []
    for metric in metrics:
        y = point_means(runs, metric, n_points)
        missing = int(np.isnan(y).sum())
        if missing:
            raise ValueError(f"{metric}: {missing} of {n_points} design points have no value (unfinished or "
                             "failed runs, or a metric undefined there); finish the sweep or pick another metric")
        if np.ptp(y) == 0:
            rows.extend({"metric": metric, "parameter": n, "S1": 0.0, "S1_conf": 0.0, "ST": 0.0, "ST_conf": 0.0}
                        for n in names)
            continue
        res = sobol.analyze(problem, y, calc_second_order=False, conf_level=confidence, seed=seed)
        for i, name in enumerate(names):
            rows.append({"metric": metric, "parameter": name, "S1": float(res["S1"][i]),
                         "S1_conf": float(res["S1_conf"][i]), "ST": float(res["ST"][i]),
                         "ST_conf": float(res["ST_conf"][i])})
    return pd.DataFrame(rows, columns=["metric", "parameter", "S1", "S1_conf", "ST", "ST_conf"])
