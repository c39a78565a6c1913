"""Parameter sweeps: one experiment, a design over some of its parameters, replicates, any executor.

    sweep = Sweep.from_yaml("configs/dose_response.yaml")
    sweep.design                       # one row per design point
    results = sweep.run("results/dose_response", executor="processes")
    results.runs                       # one row per run: parameters and summary metrics

Every run gets its own seed from the base seed (:func:`cartsim.experiments.design.run_seed`),
so its result is the same whichever executor runs it, with however many workers, in whatever
order. Each finished run is written to its own file as soon as it arrives and then dropped, so
the coordinating process holds no results; running the same sweep again into the same folder
resumes it (see :mod:`cartsim.experiments.sweep_storage` for the layout).
"""

from __future__ import annotations

import datetime as _dt
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd

from cartsim._version import __version__
from cartsim.config import ConfigError, ExperimentConfig, apply_overrides, parse_config
from cartsim.config.loading import read_yaml
from cartsim.experiments import sweep_storage as store
from cartsim.experiments.design import (
    SweepSpec,
    check_paths,
    check_points,
    design_table,
    parse_sweep,
    point_overrides,
    point_row,
    run_seed,
)
from cartsim.experiments.executors import make_executor
from cartsim.experiments.results import SweepReport, SweepResults, load_results
from cartsim.experiments.worker import RunOutcome, RunTask, execute_run


class Sweep:
    """An experiment with a ``sweep:`` block: a design of parameter values, replicated.

    Args:
        config: the base experiment (validated).
        spec: the sweep block (validated).
        source: where it came from (for messages and the manifest).

    Raises:
        ConfigError: a parameter path that does not exist, or a design point that does not make a
            valid experiment (e.g. a value outside a parameter's allowed range).
    """

    def __init__(self, config: ExperimentConfig, spec: SweepSpec, source: str | None = None):
        self.config = config
        self.spec = spec
        self.source = source
        try:
            check_paths(spec, config)
            reserved = [c for c in spec.columns if c in store.RESERVED_COLUMNS]
            if reserved:
                raise ConfigError(f"invalid sweep:\nsweep.parameters: the name(s) {reserved} are taken by result "
                                  "columns; give those parameters another 'name'")
            self.design = design_table(spec, config)
            check_points(spec, config, self.design)
        except ConfigError as exc:
            raise ConfigError(str(exc), source) from None
        self.base_seed = spec.base_seed(config)
        self.damaged: list[int] = []  # run files found damaged (and removed) by the last prepare()
        self._experiment = config.model_dump(mode="json")

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str | None = None,
                  overrides: dict[str, Any] | None = None) -> Sweep:
        """From an experiment mapping holding a ``sweep:`` block; ``overrides`` apply to the experiment."""
        data = dict(data)
        if "sweep" not in data:
            raise ConfigError("no 'sweep:' block: add one with the parameters to vary "
                              "(see configs/dose_response.yaml and docs/sweeps.md)", source)
        spec = parse_sweep(data.pop("sweep"), source)
        if overrides:
            try:
                data = apply_overrides(data, overrides)
            except ConfigError as exc:
                raise ConfigError(str(exc), source) from None
        return cls(parse_config(data, source), spec, source)

    @classmethod
    def from_yaml(cls, path: str | Path, overrides: dict[str, Any] | None = None) -> Sweep:
        """Read an experiment YAML file with a ``sweep:`` block."""
        return cls.from_dict(read_yaml(path), str(path), overrides)

    # ------------------------------------------------------------------ the plan
    @property
    def n_runs(self) -> int:
        return len(self.design) * self.spec.replicates

    def task(self, run: int) -> RunTask:
        """The task of run number ``run`` (runs are numbered point by point, replicates inside)."""
        point, replicate = divmod(run, self.spec.replicates)
        params = point_row(self.design, point)
        return RunTask(run, point, replicate, run_seed(self.base_seed, point, replicate), params,
                       point_overrides(self.spec, params), self._experiment)

    def tasks(self, runs: list[int] | None = None) -> Iterator[RunTask]:
        """Tasks, made one at a time as the executor asks for them."""
        for run in range(self.n_runs) if runs is None else runs:
            yield self.task(run)

    def runs_table(self) -> pd.DataFrame:
        """Every planned run: run index, design point, replicate, seed and parameters."""
        rows = [{"run": t.run, "point": t.point, "replicate": t.replicate, "seed": t.seed, **t.params}
                for t in self.tasks()]
        return pd.DataFrame(rows)

    @property
    def config_hash(self) -> str:
        return store.config_hash(self._experiment, self._sweep_dump())

    def _sweep_dump(self) -> dict[str, Any]:
        data = self.spec.model_dump(mode="json")
        data["seed"] = self.base_seed
        return data

    def manifest(self) -> dict[str, Any]:
        """What the sweep folder records about the sweep (see :mod:`cartsim.experiments.sweep_storage`)."""
        return {
            "format": store.FORMAT_VERSION,
            "cartsim_version": __version__,
            "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
            "source": self.source,
            "config_hash": self.config_hash,
            "name": self.config.name,
            "experiment": self._experiment,
            "sweep": self._sweep_dump(),
            "parameters": [{"name": p.column, "paths": p.paths, "label": p.axis_label, "log": p.log_scale,
                            "bounds": [p.bounds.low, p.bounds.high] if p.bounds else None}
                           for p in self.spec.parameters],
            "design": {"type": self.spec.design, "columns": list(self.design.columns),
                       "rows": self.design.to_numpy().tolist()},
            "replicates": self.spec.replicates,
            "base_seed": self.base_seed,
            "runs": self.n_runs,
        }

    # ------------------------------------------------------------------ running
    def prepare(self, out: str | Path, force: bool = False) -> list[int]:
        """Make ``out`` ready and return the runs still to do.

        A new folder gets a manifest; a folder holding this same sweep resumes (finished runs are
        kept, failed runs retried, half-written files removed); a folder holding another sweep is
        refused unless ``force``, which deletes its results first.
        """
        root = Path(out)
        if root.exists() and not root.is_dir():
            raise ConfigError(f"--out {root}: exists and is not a folder")
        self.damaged = []
        if force:
            store.clear(root)
        manifest_path = root / store.MANIFEST
        if manifest_path.exists():
            self._check_same_sweep(root)
        else:
            if (root / store.RUNS).exists():
                raise ConfigError(f"{root}: holds run files but no {store.MANIFEST}; use --force to start over "
                                  "or choose another --out folder")
            root.mkdir(parents=True, exist_ok=True)
            store.write_manifest(root, self.manifest())
        done, _failed = store.scan(root, clean=True, damaged=self.damaged)
        self.damaged.sort()
        return [r for r in range(self.n_runs) if r not in done]

    def _check_same_sweep(self, root: Path) -> None:
        old = store.read_manifest(root)
        if old.get("config_hash") == self.config_hash:
            return
        changes = store.differences({"experiment": old.get("experiment"), "sweep": old.get("sweep")},
                                    {"experiment": self._experiment, "sweep": self._sweep_dump()})
        changes = [c for c in changes if not c.startswith(("experiment.name", "experiment.description",
                                                          "sweep.plots"))]
        detail = "".join(f"\n  {c}" for c in changes) if changes else ""
        raise ConfigError(f"{root} holds results of a different sweep configuration; refusing to mix them. "
                          f"Changed:{detail}\nUse --force to delete those results and start over, or "
                          "--out to write somewhere else.")

    def run(self, out: str | Path, *, executor: str = "processes", workers: int | None = None,
            scheduler: str | None = None, force: bool = False, progress: bool = True) -> SweepResults:
        """Run every run not yet finished in ``out`` and return the results found there.

        Args:
            out: the sweep folder (created if needed).
            executor: ``serial``, ``processes`` (default; all cores) or ``dask``.
            workers: number of worker processes (default: all CPUs this process may use).
            scheduler: address of a running Dask scheduler (``tcp://host:8786``); with
                ``executor="dask"`` and no address a LocalCluster is started.
            force: delete earlier results in ``out`` and start over.
            progress: show a progress bar with completed and failed counts and an ETA.

        Returns:
            the results (:func:`cartsim.load_results`), with ``.report`` telling what this call did.
        """
        start = time.perf_counter()
        root = Path(out)
        if root.exists() and not root.is_dir():
            raise ConfigError(f"--out {root}: exists and is not a folder")
        root.mkdir(parents=True, exist_ok=True)
        with store.SweepLock(root):  # a second sweep into the same folder is refused, not interleaved
            todo = self.prepare(root, force=force)
            report = SweepReport(total=self.n_runs, skipped=self.n_runs - len(todo), damaged=list(self.damaged))
            if todo:
                with make_executor(executor, workers, scheduler) as ex:
                    report.executor = ex.description
                    self._execute(ex, todo, root, report, progress)
        report.wall_seconds = time.perf_counter() - start
        results = load_results(root)
        results.report = report
        return results

    def _execute(self, ex: Any, todo: list[int], root: Path, report: SweepReport, progress: bool) -> None:
        from cartsim.progress import ProgressBar

        param_types = _param_types(self.design)
        desc = f"{self.config.name} ({len(todo)} runs)"
        with ProgressBar(total=len(todo), unit="run", desc=desc, disable=not progress, smoothing=0.1) as bar:
            for task, outcome, error in ex.map_unordered(execute_run, self.tasks(todo)):
                if error is not None:
                    outcome = RunOutcome(task.run, False, error=error)
                self._record(root, task, outcome, param_types, report)
                bar.set_postfix({"ok": report.ok, "failed": len(report.failed)}, refresh=False)
                bar.update(1)

    @staticmethod
    def _record(root: Path, task: RunTask, outcome: RunOutcome, param_types: dict, report: SweepReport) -> None:
        if outcome.ok:
            store.write_run(root, task, outcome, param_types)
            report.ok += 1
        else:
            store.write_failure(root, task, outcome)
            report.failed.append((task.run, task.params, outcome.error or "unknown error"))


def _param_types(design: pd.DataFrame) -> dict:
    """Arrow types of the parameter columns, the same in every run file."""
    import pyarrow as pa

    schema = pa.Schema.from_pandas(design, preserve_index=False)
    return {name: schema.field(name).type for name in design.columns}
