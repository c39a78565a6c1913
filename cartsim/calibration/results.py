"""What a calibration produced, as plain tables: the posterior, credible intervals, the threshold
of each generation, posterior-predictive bands and a summary (``calibration.json``).

A result does not draw: :func:`cartsim.viz.calibration_figures.save_calibration_figures` does.

Files written into the calibration folder, each atomically:

=========================  ==================================================================
``posterior.csv``          the last generation's particles: one column per parameter (config
                           values), ``weight`` (summing to 1) and ``distance``
``intervals.csv``          per parameter: weighted median, mean, the credible interval
                           (``low``, ``high`` at ``level``) and the prior range
``populations.csv``        per generation: threshold ε, simulations, particles
``observed.csv``           the data as fitted (model column names)
``predictive.parquet``     the simulated curves of posterior draws: draw, day, column, value
``predictive_bands.csv``   per column and record day: the draws' 5 %, 50 % and 95 % quantiles
``threshold.csv``          (with a ``threshold:`` block) the switching value per posterior draw
``calibration.json``       a summary of all of it
=========================  ==================================================================
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from cartsim import io
from cartsim.config import ConfigError

SUMMARY_FILE = "calibration.json"
#: Every file :meth:`CalibrationResult.write` and ``cartsim calibrate`` may write.
RESULT_FILES = (SUMMARY_FILE, "posterior.csv", "intervals.csv", "populations.csv", "observed.csv",
                "predictive.parquet", "predictive_bands.csv", "threshold.csv", "pairs.png", "predictive.png")
BAND_QUANTILES = (0.05, 0.5, 0.95)


def weighted_quantile(values, weights, q) -> np.ndarray:
    """Quantiles ``q`` of ``values`` under ``weights`` (the weighted empirical distribution function,
    interpolated between the mid-points of the sorted particles' weights)."""
    values = np.asarray(values, float)
    weights = np.asarray(weights, float)
    keep = weights > 0
    values, weights = values[keep], weights[keep]
    order = np.argsort(values)
    v, w = values[order], weights[order]
    cdf = (np.cumsum(w) - 0.5 * w) / w.sum()
    return np.interp(np.atleast_1d(q), cdf, v)


@dataclass
class CalibrationResult:
    """The outcome of a fit.

    Attributes:
        name: the experiment's name.
        posterior: the last generation (parameter columns in config units, ``weight``, ``distance``).
        intervals: one row per parameter (``parameter``, ``median``, ``mean``, ``low``, ``high``,
            ``level``, ``prior_low``, ``prior_high``, ``scale``).
        populations: one row per generation (``t``, ``epsilon``, ``samples``, ``particles``).
        observed: the data (``day`` and model columns).
        predictive: simulated curves of posterior draws (long table: draw, day, column, value).
        threshold: switching values per posterior draw (``draw``, ``value``, ``note``), or None.
        summary: the contents of calibration.json.
    """

    name: str
    posterior: pd.DataFrame
    intervals: pd.DataFrame
    populations: pd.DataFrame
    observed: pd.DataFrame
    predictive: pd.DataFrame
    threshold: pd.DataFrame | None = None
    summary: dict[str, Any] = field(default_factory=dict)
    wall_seconds: float = 0.0
    resumed_from: int = 0

    def interval(self, parameter: str) -> tuple[float, float]:
        row = self.intervals.set_index("parameter").loc[parameter]
        return float(row["low"]), float(row["high"])

    def predictive_bands(self) -> pd.DataFrame:
        return predictive_bands(self.predictive)

    def write(self, out: str | Path) -> Path:
        root = Path(out)
        root.mkdir(parents=True, exist_ok=True)
        self.summary["wall_seconds"] = round(self.wall_seconds, 2)
        self.summary["resumed_from_generation"] = self.resumed_from
        io.write_text(root / "posterior.csv", self.posterior.to_csv(index=False))
        io.write_text(root / "intervals.csv", self.intervals.to_csv(index=False))
        io.write_text(root / "populations.csv", self.populations.to_csv(index=False))
        io.write_text(root / "observed.csv", self.observed.to_csv(index=False))
        io.write_parquet(root / "predictive.parquet", self.predictive)
        io.write_text(root / "predictive_bands.csv", self.predictive_bands().to_csv(index=False))
        if self.threshold is not None:
            io.write_text(root / "threshold.csv", self.threshold.to_csv(index=False))
        io.write_json(root / SUMMARY_FILE, json_ready(self.summary))
        return root


def predictive_bands(predictive: pd.DataFrame) -> pd.DataFrame:
    """Per column and day, the 5 %, 50 % and 95 % quantiles of the posterior draws' curves."""
    if predictive.empty:
        return pd.DataFrame(columns=["column", "day", "low", "median", "high", "draws"])
    grouped = predictive.groupby(["column", "day"])["value"]
    out = grouped.quantile(list(BAND_QUANTILES)).unstack()
    out.columns = ["low", "median", "high"]
    out["draws"] = grouped.size()
    return out.reset_index()


def load_calibration(directory: str | Path) -> CalibrationResult:
    """Read the tables of a finished calibration folder back."""
    root = Path(directory)
    if not (root / SUMMARY_FILE).is_file():
        raise ConfigError(f"{root}: no {SUMMARY_FILE}; give a folder written by cartsim calibrate (a fit "
                          "stopped before its end has none: run the same command again to finish it)")
    summary = json.loads((root / SUMMARY_FILE).read_text(encoding="utf-8"))
    threshold = pd.read_csv(root / "threshold.csv") if (root / "threshold.csv").is_file() else None
    return CalibrationResult(
        summary.get("name", root.name), pd.read_csv(root / "posterior.csv"), pd.read_csv(root / "intervals.csv"),
        pd.read_csv(root / "populations.csv"), pd.read_csv(root / "observed.csv"),
        pd.read_parquet(root / "predictive.parquet"), threshold, summary,
        float(summary.get("wall_seconds", 0.0)), int(summary.get("resumed_from_generation", 0)))


def json_ready(value: Any) -> Any:
    """``value`` with numpy scalars as Python numbers and NaN or infinity as None (JSON has neither)."""
    if isinstance(value, dict):
        return {str(k): json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_ready(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


# ------------------------------------------------------------------ from the fit
def posterior_table(cal, history) -> pd.DataFrame:
    """The last generation in config units, with weights and distances."""
    from cartsim.calibration.simulator import parameter_key

    particles, weights = history.get_distribution(m=0, t=history.max_t)
    out = pd.DataFrame({p.column: [p.to_value(x) for x in particles[parameter_key(i)]]
                        for i, p in enumerate(cal.spec.parameters)})
    out["weight"] = np.asarray(weights, float) / np.sum(weights)
    distances = history.get_weighted_distances(t=history.max_t)
    if len(distances) == len(out):
        out["distance"] = distances["distance"].to_numpy(float)
    return out


def interval_table(cal, posterior: pd.DataFrame) -> pd.DataFrame:
    level = cal.spec.credible
    q = [(1 - level) / 2, 0.5, (1 + level) / 2]
    rows = []
    for p in cal.spec.parameters:
        values = posterior[p.column].to_numpy(float)
        w = posterior["weight"].to_numpy(float)
        scaled = np.log10(values) if p.scale == "log" else values
        lo, med, hi = weighted_quantile(scaled, w, q)
        mean = float(np.sum(w * scaled) / np.sum(w))
        rows.append({"parameter": p.column, "path": ",".join(p.paths), "scale": p.scale,
                     "median": p.to_value(med), "mean": p.to_value(mean), "low": p.to_value(lo),
                     "high": p.to_value(hi), "level": level, "prior_low": p.low, "prior_high": p.high,
                     "prior": p.prior})
    return pd.DataFrame(rows)


def draw_particles(posterior: pd.DataFrame, n: int, seed: int) -> list[dict[str, float]]:
    """``n`` particles drawn from the posterior by weight (config values by parameter column)."""
    if n == 0 or posterior.empty:
        return []
    rng = np.random.default_rng(seed)
    picks = rng.choice(len(posterior), size=n, replace=True, p=posterior["weight"].to_numpy(float))
    params = [c for c in posterior.columns if c not in ("weight", "distance")]
    return [{c: float(posterior[c].iloc[i]) for c in params} for i in picks]


def summarise_fit(cal, history, *, executor=None) -> CalibrationResult:
    """The tables of a finished fit: posterior, intervals, generations, predictive draws, threshold;
    the draws run on ``executor`` (an open cartsim executor; default: this process)."""
    import pyabc

    from cartsim.calibration.predictive import run_predictive, run_thresholds

    posterior = posterior_table(cal, history)
    intervals = interval_table(cal, posterior)
    pops = history.get_all_populations()
    pops = pops[pops["t"] >= 0][["t", "epsilon", "samples", "particles"]].reset_index(drop=True)
    spec = cal.spec
    draws = draw_particles(posterior, spec.predictive_draws, cal.seed + 1)
    predictive = run_predictive(cal.simulator, draws, cal.seed + 2, executor=executor)
    threshold = None
    if spec.threshold is not None:
        picks = draw_particles(posterior, spec.threshold.draws, cal.seed + 3)
        threshold = run_thresholds(cal.simulator, picks, spec.threshold, cal.config.infusion_days,
                                   cal.config.antigen_names, cal.seed + 4, executor=executor)
    summary: dict[str, Any] = {
        "name": cal.config.name,
        "source": cal.source,
        "method": f"ABC-SMC (pyabc {pyabc.__version__})",
        "executor": getattr(executor, "description", "serial (this process)"),
        "space": cal.config.space,
        "data": {"file": spec.data.file, "columns": spec.data.column_map, "days": cal.data["day"].tolist(),
                 "points": len(cal.observed)},
        "statistics": spec.statistics.model_dump(), "distance": spec.distance,
        "budget": spec.budget.model_dump(),
        "generations": int(len(pops)),
        "simulations": int(history.total_nr_simulations),
        "final_epsilon": float(pops["epsilon"].iloc[-1]) if len(pops) else None,
        "acceptance_rate_last": (float(pops["particles"].iloc[-1] / pops["samples"].iloc[-1])
                                 if len(pops) and pops["samples"].iloc[-1] else None),
        "credible_level": spec.credible,
        "parameters": intervals.to_dict("records"),
        "predictive_draws": len(draws),
        "seed": cal.seed,
    }
    if threshold is not None:
        found = threshold["value"].dropna().to_numpy(float)
        level = spec.credible
        summary["threshold"] = {
            "path": spec.threshold.path, "outcome": spec.threshold.outcome, "draws": len(threshold),
            "found": int(found.size),
            "median": float(np.median(found)) if found.size else None,
            "low": float(np.quantile(found, (1 - level) / 2)) if found.size else None,
            "high": float(np.quantile(found, (1 + level) / 2)) if found.size else None,
        }
    return CalibrationResult(cal.config.name, posterior, intervals, pops, cal.data, predictive, threshold, summary)
