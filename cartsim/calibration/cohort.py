"""Virtual cohorts: draw patients from the ``cohort:`` block, run each, report the trial's rates.

    cohort = Cohort.from_yaml("configs/cohort_eliana.yaml")
    result = cohort.run(executor="processes")
    result.rates        # response, relapse, antigen-negative relapse: count, n, rate, 95 % interval
    result.patients     # one row per patient: characteristics, seed and outcome metrics

Every patient's characteristics come from one random stream seeded by the cohort seed (drawn
before any run), and every patient's run has its own seed derived from it
(:func:`cartsim.experiments.design.run_seed`), so a cohort's result is the same on every
executor, with any number of workers.

Rates (Wilson 95 % intervals, :func:`cartsim.analysis.intervals.wilson_interval`):

* response: patients whose run meets ``outcomes.response`` (``responded``: the tumor falls to 25 %
  of its size at infusion; ``eradicated``: to no cell), of all patients;
* relapse: responders whose tumor grows back to 50 % of that size, of the responders;
* antigen-negative relapse: relapses in which most relapsing cells lack an antigen, of the relapses;
* complete response (eradicated) is reported alongside.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pydantic import ValidationError

from cartsim import io
from cartsim.analysis.intervals import wilson_interval
from cartsim.calibration.cohort_config import CohortSpec, as_config_value
from cartsim.calibration.paths import block_overrides, check_path, check_values, value_at
from cartsim.config import ConfigError, ExperimentConfig, apply_overrides, parse_config
from cartsim.config.errors import format_validation_error
from cartsim.config.loading import read_yaml
from cartsim.experiments.design import run_seed
from cartsim.experiments.executors import make_executor
from cartsim.experiments.worker import RunTask, execute_run

#: Summary metrics kept per patient.
PATIENT_METRICS = ("responded", "eradicated", "relapsed", "antigen_negative_relapse", "baseline_tumor",
                   "min_tumor", "final_tumor", "relapse_day", "peak_cart", "antigen_negative_fraction_end")


def parse_cohort(block: Any, source: str | None = None) -> CohortSpec:
    if not isinstance(block, dict):
        raise ConfigError("invalid cohort:\ncohort: expected a mapping with patients: and characteristics: "
                          "(see configs/cohort_eliana.yaml and docs/calibration.md)", source)
    try:
        return CohortSpec.model_validate(block)
    except ValidationError as exc:
        lines = format_validation_error(exc, CohortSpec).splitlines()
        raise ConfigError("invalid cohort:\n" + "\n".join(f"cohort.{line}" for line in lines), source) from None


class Cohort:
    """An experiment with a ``cohort:`` block, its patients drawn and checked.

    Raises:
        ConfigError: an unknown path, or drawn patients that do not make valid experiments (e.g. more
            tumor cells than sites): the message names the characteristic and the first such patient.
    """

    def __init__(self, config: ExperimentConfig, spec: CohortSpec, source: str | None = None):
        self.config = config
        self.spec = spec
        self.source = source
        self.seed = spec.seed if spec.seed is not None else config.seed
        self._experiment = config.model_dump(mode="json")
        try:
            self.design = self._draw()
            self._check()
        except ConfigError as exc:
            raise ConfigError(str(exc), source) from None

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str | None = None,
                  overrides: dict[str, Any] | None = None) -> Cohort:
        data = dict(data)
        if "cohort" not in data:
            raise ConfigError("no 'cohort:' block: add one with the patients' characteristics "
                              "(see configs/cohort_eliana.yaml and docs/calibration.md)", source)
        data.pop("calibration", None)
        block, rest = block_overrides(data.pop("cohort"), "cohort", overrides, source)
        spec = parse_cohort(block, source)
        if rest:
            try:
                data = apply_overrides(data, rest)
            except ConfigError as exc:
                raise ConfigError(str(exc), source) from None
        return cls(parse_config(data, source), spec, source)

    @classmethod
    def from_yaml(cls, path: str | Path, overrides: dict[str, Any] | None = None) -> Cohort:
        return cls.from_dict(read_yaml(path), str(path), overrides)

    # ------------------------------------------------------------------ patients
    def _draw(self) -> pd.DataFrame:
        rng = np.random.default_rng(self.seed)
        table = pd.DataFrame({"patient": np.arange(self.spec.patients)})
        for i, c in enumerate(self.spec.characteristics):
            default = None
            for path in c.paths:
                default = check_path(self._experiment, path, f"invalid cohort:\ncohort.characteristics[{i}].path")
            x = c.draw(rng, self.spec.patients)
            table[c.name] = [as_config_value(v, default) for v in x]
        table["seed"] = [run_seed(self.seed, p, 0) for p in table["patient"]]
        return table

    def overrides(self, patient: int) -> dict[str, Any]:
        row = self.design.iloc[patient]
        out: dict[str, Any] = {}
        for c in self.spec.characteristics:
            for path in c.paths:
                out[path] = as_config_value(float(row[c.name]), value_at(self._experiment, path))
        return out

    def _check(self, limit: int = 3) -> None:
        problems = []
        for p in range(self.spec.patients):
            try:
                check_values(self._experiment, self.overrides(p), f"patient {p}")
            except ConfigError as exc:
                problems.append(str(exc))
                if len(problems) >= limit:
                    break
        if problems:
            raise ConfigError("invalid cohort: these patients do not make a valid experiment; narrow the "
                              "distributions (or clip them with low/high) in cohort.characteristics:\n"
                              + "\n".join(problems))

    def tasks(self):
        params_cols = [c.name for c in self.spec.characteristics]
        for p in range(self.spec.patients):
            row = self.design.iloc[p]
            params = {c: (row[c].item() if isinstance(row[c], np.generic) else row[c]) for c in params_cols}
            yield RunTask(p, p, 0, int(row["seed"]), params, self.overrides(p), self._experiment)

    # ------------------------------------------------------------------ running
    def run(self, *, executor: str = "processes", workers: int | None = None, scheduler: str | None = None,
            progress: bool = True) -> CohortResult:
        """Run every patient and return the :class:`CohortResult`."""
        from cartsim.progress import ProgressBar

        start = time.perf_counter()
        rows: dict[int, dict[str, Any]] = {}
        failed: dict[int, str] = {}
        with make_executor(executor, workers, scheduler) as ex:
            description = ex.description
            with ProgressBar(total=self.spec.patients, unit="patient", desc=self.config.name, disable=not progress) as bar:
                for task, outcome, error in ex.map_unordered(execute_run, self.tasks()):
                    if error is None and outcome.ok:
                        rows[task.run] = {k: outcome.summary.get(k) for k in PATIENT_METRICS}
                    else:
                        failed[task.run] = error or (outcome.error if outcome else "unknown error")
                    bar.update(1)
        patients = self.design.copy()
        metrics = pd.DataFrame.from_dict(rows, orient="index").reindex(patients["patient"])
        patients = pd.concat([patients, metrics.reset_index(drop=True)], axis=1)
        patients["failed"] = patients["patient"].map(failed)
        result = CohortResult(self.config.name, patients, self.rates(patients), executor=description,
                              wall_seconds=time.perf_counter() - start)
        result.summary = self.summary(result)
        return result

    def rates(self, patients: pd.DataFrame) -> pd.DataFrame:
        ok = patients[patients["failed"].isna()]
        response = ok[self.spec.outcomes.response].astype(bool)
        relapsed = ok["relapsed"].astype(bool) & response
        negative = ok["antigen_negative_relapse"].astype(bool) & relapsed
        published = self.spec.published
        rows = [
            ("response", int(response.sum()), len(ok), published.response if published else None),
            ("complete_response", int(ok["eradicated"].astype(bool).sum()), len(ok), None),
            ("relapse", int(relapsed.sum()), int(response.sum()), published.relapse if published else None),
            ("antigen_negative_relapse", int(negative.sum()), int(relapsed.sum()),
             published.antigen_negative_relapse if published else None),
        ]
        out = []
        for name, k, n, pub in rows:
            low, high = wilson_interval(k, n) if n else (float("nan"), float("nan"))
            out.append({"outcome": name, "count": k, "n": n, "rate": k / n if n else float("nan"),
                        "low": low, "high": high, "published": pub})
        return pd.DataFrame(out)

    def summary(self, result: CohortResult) -> dict[str, Any]:
        return {
            "name": self.config.name, "source": self.source, "space": self.config.space,
            "patients": self.spec.patients, "failed": result.n_failed, "seed": self.seed,
            "executor": result.executor, "wall_seconds": round(result.wall_seconds, 2),
            "response_metric": self.spec.outcomes.response,
            "characteristics": [c.model_dump(mode="json", exclude_none=True) for c in self.spec.characteristics],
            "published": self.spec.published.model_dump() if self.spec.published else None,
            "rates": result.rates.to_dict("records"),
        }


@dataclass
class CohortResult:
    """What a cohort produced: one row per patient, the rates, and a summary (cohort.json)."""

    name: str
    patients: pd.DataFrame
    rates: pd.DataFrame
    executor: str = ""
    wall_seconds: float = 0.0
    summary: dict[str, Any] = field(default_factory=dict)

    @property
    def n_patients(self) -> int:
        return len(self.patients)

    @property
    def n_failed(self) -> int:
        return int(self.patients["failed"].notna().sum())

    def rate(self, outcome: str) -> tuple[float, float, float]:
        row = self.rates.set_index("outcome").loc[outcome]
        return float(row["rate"]), float(row["low"]), float(row["high"])

    def write(self, out: str | Path) -> Path:
        """patients.csv, rates.csv and cohort.json into ``out`` (created if needed), each atomically."""
        from cartsim.calibration.results import json_ready

        root = Path(out)
        root.mkdir(parents=True, exist_ok=True)
        io.write_text(root / "patients.csv", self.patients.to_csv(index=False))
        io.write_text(root / "rates.csv", self.rates.to_csv(index=False))
        io.write_json(root / "cohort.json", json_ready(self.summary))
        return root
