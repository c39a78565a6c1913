"""Reading a sweep folder back as tidy tables: :func:`load_results`.

    results = cartsim.load_results("results/dose_response")
    results.runs          # one row per finished or failed run: ids, parameters, status, metrics
    results.timeseries    # all finished runs' time series stacked: one row per run and record
    results.design        # one row per design point
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from cartsim.experiments import sweep_storage as store

_ID_COLUMNS = ["run", "point", "replicate", "seed"]


@dataclass
class SweepReport:
    """What one call of :meth:`cartsim.Sweep.run` did (:attr:`SweepResults.report`).

    Attributes:
        total: runs in the design.
        skipped: runs already finished in the folder (resumed), not run again.
        ok: runs finished now.
        failed: runs that failed now, as ``(run, params, error)``.
        wall_seconds: time the call took.
        executor: which executor ran them.
        damaged: runs whose files were found damaged or truncated on resume, removed and run again.
    """

    total: int
    skipped: int = 0
    ok: int = 0
    failed: list[tuple[int, dict[str, Any], str]] = field(default_factory=list)
    wall_seconds: float = 0.0
    executor: str = ""
    damaged: list[int] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        return not self.failed and self.skipped + self.ok == self.total


class SweepResults:
    """The results in a sweep folder. Tables are read on first use and cached.

    Attributes:
        directory: the sweep folder.
        manifest: the sweep's manifest (resolved experiment, sweep block, design, version).
        parameters: names of the swept parameters (columns of ``design`` and ``runs``).
        report: what the :meth:`Sweep.run` call that returned these results did (else None).
    """

    def __init__(self, directory: str | Path):
        self.directory = Path(directory)
        self.manifest: dict[str, Any] = store.read_manifest(self.directory)
        self.parameters: list[str] = [p["name"] for p in self.manifest["parameters"]]
        self.report: SweepReport | None = None

    def __repr__(self) -> str:
        return (f"SweepResults({str(self.directory)!r}: {self.n_ok} finished, {self.n_failed} failed, "
                f"{self.n_pending} pending of {self.n_planned} runs)")

    # ------------------------------------------------------------------ what is there
    @property
    def name(self) -> str:
        return self.manifest.get("name", self.directory.name)

    @property
    def design(self) -> pd.DataFrame:
        """One row per design point (index ``point``), one column per parameter."""
        return store.design_from_manifest(self.manifest)

    @property
    def design_type(self) -> str:
        return self.manifest["design"]["type"]

    @property
    def n_planned(self) -> int:
        return int(self.manifest["runs"])

    @cached_property
    def _scan(self) -> tuple[set[int], set[int]]:
        done, failed = store.scan(self.directory)
        return done, failed

    @property
    def n_ok(self) -> int:
        return len(self._scan[0])

    @property
    def n_failed(self) -> int:
        return len(self._scan[1])

    @property
    def n_pending(self) -> int:
        return self.n_planned - self.n_ok - self.n_failed

    def parameter_info(self, name: str) -> dict[str, Any]:
        """Paths, axis label and scale of a swept parameter."""
        for p in self.manifest["parameters"]:
            if p["name"] == name:
                return p
        raise KeyError(f"{name!r} is not a swept parameter; swept: {self.parameters}")

    # ------------------------------------------------------------------ tables
    @cached_property
    def runs(self) -> pd.DataFrame:
        """One row per finished or failed run, ordered by run index.

        Columns: ``run``, ``point``, ``replicate``, ``seed``, the parameters, ``status`` (``ok`` or
        ``failed``), ``error`` (failed runs), ``wall_seconds`` and every summary metric
        (:mod:`cartsim.summary`; undefined values are NaN; yes/no metrics such as
        ``eradicated`` have pandas' nullable ``boolean`` type, NA for failed runs).
        """
        done, failed = self._scan
        rows: list[dict[str, Any]] = []
        for run in sorted(done):
            meta = store.read_run_metadata(store.run_file(self.directory, run))
            summary = {k: v for k, v in (meta.get("summary") or {}).items() if not isinstance(v, (list, dict))}
            rows.append({**{k: meta[k] for k in _ID_COLUMNS}, **meta["params"], "status": "ok", "error": None,
                         "wall_seconds": meta.get("wall_seconds"), **summary})
        for run in sorted(failed):
            import json

            rec = json.loads(store.failure_file(self.directory, run).read_text(encoding="utf-8"))
            rows.append({**{k: rec[k] for k in _ID_COLUMNS}, **rec["params"], "status": "failed",
                         "error": rec.get("error"), "wall_seconds": rec.get("wall_seconds")})
        columns = [*_ID_COLUMNS, *self.parameters, "status", "error", "wall_seconds"]
        table = pd.DataFrame(rows, columns=None if rows else columns)
        table = table.sort_values("run", kind="stable").reset_index(drop=True) if rows else table
        return _tidy_types(table)

    @property
    def failed(self) -> pd.DataFrame:
        """The failed runs with their parameters and errors."""
        runs = self.runs
        return runs.loc[runs["status"] == "failed", [*_ID_COLUMNS, *self.parameters, "error"]]

    @property
    def ok_runs(self) -> pd.DataFrame:
        """The finished runs only (what the analysis functions use)."""
        runs = self.runs
        return runs.loc[runs["status"] == "ok"].reset_index(drop=True)

    @property
    def metrics(self) -> list[str]:
        """Names of the summary metrics in :attr:`runs`."""
        fixed = {*_ID_COLUMNS, *self.parameters, "status", "error", "wall_seconds"}
        return [c for c in self.runs.columns if c not in fixed]

    @cached_property
    def timeseries(self) -> pd.DataFrame:
        """All finished runs' time series, stacked (long over runs): one row per run and record.

        Columns: ``run``, ``point``, ``replicate``, ``seed``, the parameters, then the run time
        series (``day``, ``tumor_total``, ``cart_total``, ... as written by ``cartsim run``).
        """
        if not self._scan[0]:
            return pd.DataFrame(columns=[*_ID_COLUMNS, *self.parameters, "day"])
        import pyarrow.dataset as ds

        files = [str(store.run_file(self.directory, r)) for r in sorted(self._scan[0])]
        table = ds.dataset(files, format="parquet").to_table()
        return table.to_pandas().sort_values(["run", "day"], kind="stable").reset_index(drop=True)

    def timeseries_long(self, columns: list[str] | None = None) -> pd.DataFrame:
        """The time series fully molten: ``run``, ids, parameters, ``day``, ``variable``, ``value``."""
        ts = self.timeseries
        ids = [*_ID_COLUMNS, *self.parameters, "day"]
        values = columns or [c for c in ts.columns if c not in ids]
        return ts.melt(id_vars=ids, value_vars=values, var_name="variable", value_name="value")


def _tidy_types(table: pd.DataFrame) -> pd.DataFrame:
    """Boolean metrics become pandas' nullable ``boolean`` (NA for failed runs); None becomes NaN
    in numeric columns."""
    for col in table.columns:
        if table[col].dtype == bool:
            table[col] = table[col].astype("boolean")
        elif table[col].dtype == object and col not in ("status", "error"):
            values = table[col].dropna()
            if not len(values):
                table[col] = table[col].astype(float)  # e.g. relapse_day when no run relapsed
            elif len(values) and all(isinstance(v, (bool, np.bool_)) for v in values):
                table[col] = table[col].astype("boolean")
            elif len(values) and all(isinstance(v, (int, float, np.number)) for v in values):
                table[col] = pd.to_numeric(table[col])
    return table


def load_results(directory: str | Path) -> SweepResults:
    """Open the sweep folder ``directory`` (written by ``cartsim sweep`` or :meth:`Sweep.run`)."""
    return SweepResults(directory)
