"""Fitting an experiment to data by ABC-SMC (pyabc), resumable, on any executor.

    cal = Calibration.from_yaml("configs/calibrate_well_mixed_raji.yaml")
    result = cal.run("results/calibrate_raji", executor="processes")
    result.intervals          # per parameter: median and credible interval
    result.posterior          # the last generation's particles and weights

Why ABC-SMC: the agent model is stochastic and has no likelihood one can write down; ABC only
needs simulations. pyabc (Klinger, Rickert & Hasenauer 2018, Bioinformatics 34:3591; Schälte et al.
2022, J Open Source Softw 7:4304) runs the sequential Monte Carlo scheme of Toni et al. 2009 and
Beaumont et al. 2009 with adaptive thresholds and kernels, samples on one core, on local processes
or on Dask, and keeps every generation in a SQLite database: a fit stopped at any moment resumes
from its last finished generation.

The output folder holds ``manifest.json`` (what is being fitted, to refuse mixing fits),
``calibration.db`` (pyabc's history), and once done the tables of :mod:`cartsim.calibration.results`.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import hashlib
import json
import logging
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pydantic import ValidationError

from cartsim import io
from cartsim._version import __version__
from cartsim.calibration.config import CalibrationSpec
from cartsim.calibration.data import read_observed, resolve_data_path
from cartsim.calibration.paths import block_overrides, check_path, check_values
from cartsim.calibration.simulator import Simulator, coerce, parameter_key
from cartsim.config import ConfigError, ExperimentConfig, apply_overrides, parse_config
from cartsim.config.errors import format_validation_error
from cartsim.config.loading import read_yaml

MANIFEST = "manifest.json"
DATABASE = "calibration.db"
FORMAT_VERSION = 1


def parse_calibration(block: Any, source: str | None = None) -> CalibrationSpec:
    """Validate a ``calibration:`` block; one :class:`ConfigError` lists every problem."""
    if not isinstance(block, dict):
        raise ConfigError("invalid calibration:\ncalibration: expected a mapping with data:, parameters: and "
                          "optionally statistics:, distance:, budget: (see docs/calibration.md)", source)
    try:
        return CalibrationSpec.model_validate(block)
    except ValidationError as exc:
        lines = format_validation_error(exc, CalibrationSpec).splitlines()
        text = "\n".join(f"calibration.{line}" for line in lines)
        raise ConfigError("invalid calibration:\n" + text, source) from None


def model_columns(config: ExperimentConfig) -> list[str]:
    """The columns of the time series a run of ``config`` records."""
    from cartsim.experiments.run import make_model

    return [c for c in make_model(config).datacollector.model_reporters if c != "day"]


class Calibration:
    """An experiment with a ``calibration:`` block, checked and ready to fit.

    Args:
        config: the base experiment (validated).
        spec: the calibration block (validated).
        data: the observed data (:func:`cartsim.calibration.data.read_observed`).
        source: where it came from (for messages and the manifest).

    Raises:
        ConfigError: an unknown parameter path, a range that makes an invalid experiment, or a data
            column the model does not record.
    """

    def __init__(self, config: ExperimentConfig, spec: CalibrationSpec, data: pd.DataFrame,
                 source: str | None = None):
        self.config = config
        self.spec = spec
        self.data = data
        self.source = source
        self._experiment = config.model_dump(mode="json")
        try:
            self._check()
        except ConfigError as exc:
            raise ConfigError(str(exc), source) from None
        self.seed = spec.seed if spec.seed is not None else config.seed
        self.simulator = Simulator.from_spec(self._experiment, spec, data["day"])
        self.observed = self.simulator.observed(data)

    def _check(self) -> None:
        for i, p in enumerate(self.spec.parameters):
            where = f"invalid calibration:\ncalibration.parameters[{i}].path"
            for path in p.paths:
                check_path(self._experiment, path, where)
            for bound in (p.low, p.high):
                sim = Simulator(self._experiment, (p,), (), ())
                check_values(self._experiment, sim.overrides({p.column: bound}),
                             f"invalid calibration:\ncalibration.parameters[{i}] (at {bound:g})")
        known = model_columns(self.config)
        unknown = [c for c in self.spec.data.column_map if c not in known]
        if unknown:
            raise ConfigError(f"invalid calibration:\ncalibration.data.columns: the model records no column "
                              f"{', '.join(map(repr, unknown))}; it records {', '.join(known)}")
        if self.spec.threshold is not None:
            t = self.spec.threshold
            default = check_path(self._experiment, t.path, "invalid calibration:\ncalibration.threshold.path")
            for bound in (t.low, t.high):
                check_values(self._experiment, {t.path: coerce(bound, default)},
                             f"invalid calibration:\ncalibration.threshold (at {bound:g})")

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str | None = None,
                  overrides: dict[str, Any] | None = None) -> Calibration:
        """From an experiment mapping holding a ``calibration:`` block; ``overrides`` apply to the experiment."""
        data = dict(data)
        if "calibration" not in data:
            raise ConfigError("no 'calibration:' block: add one with the data and the parameters to fit "
                              "(see configs/calibrate_well_mixed_raji.yaml and docs/calibration.md)", source)
        data.pop("cohort", None)
        block, overrides = block_overrides(data.pop("calibration"), "calibration", overrides, source)
        spec = parse_calibration(block, source)
        if overrides:
            try:
                data = apply_overrides(data, overrides)
            except ConfigError as exc:
                raise ConfigError(str(exc), source) from None
        config = parse_config(data, source)
        try:
            observed = read_observed(resolve_data_path(spec.data.file, source), spec.data.column_map,
                                     config.time.duration_days)
        except ConfigError as exc:
            raise ConfigError(f"invalid calibration:\n{exc}", source) from None
        return cls(config, spec, observed, source)

    @classmethod
    def from_yaml(cls, path: str | Path, overrides: dict[str, Any] | None = None) -> Calibration:
        return cls.from_dict(read_yaml(path), str(path), overrides)

    # ------------------------------------------------------------------ identity
    def _spec_dump(self) -> dict[str, Any]:
        return {**self.spec.model_dump(mode="json"), "seed": self.seed}

    #: Settings of the block that do not change the inference problem: the budget (raise it and run
    #: again to continue a fit) and what is computed from the finished posterior.
    NOT_FITTED = ("budget", "credible", "predictive_draws", "threshold")

    @property
    def config_hash(self) -> str:
        """What identifies the inference problem in a folder: experiment, data, parameters, statistics,
        distance and seed (not the budget or the reports made from the posterior)."""
        fitted = {k: v for k, v in self._spec_dump().items() if k not in self.NOT_FITTED}
        blob = json.dumps({"experiment": self._experiment, "calibration": fitted,
                           "data": self.data.to_dict("list")}, sort_keys=True, default=str)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]

    def manifest(self) -> dict[str, Any]:
        return {
            "format": FORMAT_VERSION,
            "cartsim_version": __version__,
            "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
            "source": self.source,
            "config_hash": self.config_hash,
            "name": self.config.name,
            "experiment": self._experiment,
            "calibration": self._spec_dump(),
        }

    # ------------------------------------------------------------------ the inference problem
    def prior(self):
        """The prior as a pyabc Distribution over the sampling scale (keys ``x0``, ``x1``, ...)."""
        import pyabc

        rvs = {}
        for i, p in enumerate(self.spec.parameters):
            lo, hi = p.scaled_bounds
            if p.prior == "uniform":
                rvs[parameter_key(i)] = pyabc.RV("uniform", lo, hi - lo)
            else:
                a, b = (lo - p.mean) / p.sd, (hi - p.mean) / p.sd
                rvs[parameter_key(i)] = pyabc.RV("truncnorm", a, b, p.mean, p.sd)
        return pyabc.Distribution(**rvs)

    def distance(self):
        import pyabc

        weights = {key: 1.0 / self.spec.noise(key.rpartition("@")[0]) for key in self.observed}
        if self.spec.distance == "adaptive":
            return pyabc.AdaptivePNormDistance(p=2, fixed_weights=weights)
        return pyabc.PNormDistance(p=2 if self.spec.distance == "euclidean" else 1, fixed_weights=weights)

    # ------------------------------------------------------------------ running
    def prepare(self, out: str | Path, force: bool = False) -> Path:
        """Make ``out`` ready: a new folder gets a manifest; one holding this same fit resumes; one
        holding another fit is refused unless ``force``, which deletes it first."""
        root = Path(out)
        if root.exists() and not root.is_dir():
            raise ConfigError(f"--out {root}: exists and is not a folder")
        if force:
            from cartsim.calibration.results import RESULT_FILES

            for name in (MANIFEST, DATABASE, *RESULT_FILES):
                (root / name).unlink(missing_ok=True)
        if (root / MANIFEST).is_file():
            old = json.loads((root / MANIFEST).read_text(encoding="utf-8"))
            if old.get("config_hash") != self.config_hash:
                raise ConfigError(f"{root} holds a calibration of another experiment, data, parameters, statistics "
                                  "or seed; refusing to mix them. Use --force to delete it and start over, or "
                                  "--out to write elsewhere (a larger budget alone continues the fit)")
        elif (root / DATABASE).exists():
            raise ConfigError(f"{root}: holds {DATABASE} but no {MANIFEST}; use --force to start over or "
                              "choose another --out folder")
        else:
            root.mkdir(parents=True, exist_ok=True)
            io.write_json(root / MANIFEST, self.manifest())
        return root

    def run(self, out: str | Path, *, executor: str = "serial", workers: int | None = None,
            scheduler: str | None = None, force: bool = False, progress: bool = True):
        """Fit into ``out`` (resuming a fit stopped there) and return the
        :class:`~cartsim.calibration.results.CalibrationResult`, whose tables are written to ``out``.

        Args:
            executor: ``serial`` (default), ``processes`` (local processes) or ``dask``.
            workers: worker processes (default: all CPUs this process may use).
            scheduler: a running Dask scheduler's address; with ``executor="dask"`` and none a
                LocalCluster is started.
            force: delete an earlier fit in ``out`` and start over.
            progress: a progress bar over the generations.
        """
        from cartsim.calibration.results import SUMMARY_FILE, summarise_fit

        try:
            import pyabc  # noqa: F401
        except ImportError:
            raise ConfigError("cartsim calibrate needs pyabc: pip install 'cartsim[calibration]'") from None
        start = time.perf_counter()
        self.pilot()
        root = self.prepare(out, force=force)
        # calibration.json marks a finished fit: it is written again when this one finishes
        (root / SUMMARY_FILE).unlink(missing_ok=True)
        with _quiet_pyabc(), _sampler(executor, workers, scheduler) as (sampler, ex):
            history, resumed = self._fit(root, sampler, progress)
            result = summarise_fit(self, history, executor=ex)
        result.resumed_from = resumed
        result.wall_seconds = time.perf_counter() - start
        result.write(root)
        return result

    def pilot(self) -> dict[str, float]:
        """One run at the middle of every prior range, before the fit: the fit rejects a simulation
        that fails, so a model that fails everywhere would otherwise search for ever. Raises a
        ConfigError carrying the run's error; returns the run's statistics."""
        centre = {p.column: p.to_value(sum(p.scaled_bounds) / 2) for p in self.spec.parameters}
        try:
            return self.simulator.statistics(self.simulator.run(centre, self.seed))
        except ConfigError as exc:
            raise ConfigError(f"the experiment fails at the middle of the priors ({centre}): {exc}",
                              self.source) from None
        except Exception as exc:  # noqa: BLE001 - said plainly, with what was run
            raise ConfigError(f"the experiment fails at the middle of the priors ({centre}): "
                              f"{type(exc).__name__}: {exc}", self.source) from None

    def _fit(self, root: Path, sampler: Any, progress: bool):
        import pyabc
        from cartsim.progress import ProgressBar

        db = f"sqlite:///{(root / DATABASE).resolve()}"
        budget = self.spec.budget
        abc = pyabc.ABCSMC(self.simulator, self.prior(), self.distance(),
                           population_size=budget.particles, sampler=sampler)
        np.random.seed(self.seed % 2**32)  # pyabc draws from numpy's global stream
        done = 0
        if (root / DATABASE).is_file() and pyabc.History(db).all_runs():
            history = abc.load(db, 1)
            done = int(history.max_t) + 1
            np.random.seed((self.seed + 1000003 * done) % 2**32)  # a fresh stream for the resumed part
        else:
            history = abc.new(db, self.observed, meta_info={"cartsim_config_hash": self.config_hash})
        resumed = done
        remaining = budget.populations - done
        if remaining > 0 and not self._stopped(history):
            desc = f"{self.config.name} (ABC-SMC)"
            with ProgressBar(total=budget.populations, initial=done, unit="gen", desc=desc, disable=not progress) as bar:
                original = history.append_population

                def append_population(*args, **kwargs):
                    original(*args, **kwargs)
                    eps = kwargs.get("current_epsilon", args[1] if len(args) > 1 else float("nan"))
                    bar.set_postfix({"eps": f"{eps:.3g}", "sims": history.total_nr_simulations}, refresh=False)
                    bar.update(1)

                history.append_population = append_population
                try:
                    kwargs: dict[str, Any] = {"max_nr_populations": remaining}
                    if budget.min_epsilon is not None:
                        kwargs["minimum_epsilon"] = budget.min_epsilon
                    if budget.max_simulations is not None:
                        kwargs["max_total_nr_simulations"] = budget.max_simulations
                    abc.run(**kwargs)
                finally:
                    history.append_population = original
        return pyabc.History(db, _id=history.id), resumed

    def _stopped(self, history) -> bool:
        """Whether a loaded fit already met a stopping rule other than the number of generations."""
        budget = self.spec.budget
        if budget.max_simulations is not None and history.total_nr_simulations >= budget.max_simulations:
            return True
        if budget.min_epsilon is not None:
            pops = history.get_all_populations()
            eps = pops.loc[pops.t >= 0, "epsilon"]
            return bool(len(eps) and eps.iloc[-1] <= budget.min_epsilon)
        return False


@contextlib.contextmanager
def _quiet_pyabc():
    """pyabc logs every generation at INFO; cartsim shows a progress bar instead."""
    import pyabc  # noqa: F401 - creates its loggers

    names = ["ABC", *(n for n in logging.root.manager.loggerDict if n.startswith("ABC."))]
    levels = {n: logging.getLogger(n).level for n in names}
    for n in names:
        logging.getLogger(n).setLevel(logging.WARNING)
    try:
        yield
    finally:
        for n, level in levels.items():
            logging.getLogger(n).setLevel(level)


@contextlib.contextmanager
def _sampler(kind: str, workers: int | None, scheduler: str | None):
    """pyabc's sampler for a cartsim executor name, and the open cartsim executor of the same kind
    (for the posterior-predictive runs; a Dask cluster serves both)."""
    import pyabc

    from cartsim.experiments.executors import DaskExecutor, ProcessExecutor, SerialExecutor, default_workers, make_executor

    make_executor(kind, workers, scheduler)  # checks the names and numbers; starts nothing
    if kind == "serial":
        yield pyabc.sampler.SingleCoreSampler(), SerialExecutor()
    elif kind == "processes":
        n = workers or default_workers()
        # pyabc forks its worker processes for each generation (so that the model function need not
        # be importable by name); Python warns about forking a process that has threads (a progress
        # bar's monitor). The workers only run the model and return statistics through a queue.
        with warnings.catch_warnings(), ProcessExecutor(n) as ex:
            warnings.filterwarnings("ignore", message=r".*use of fork\(\) may lead to deadlocks", category=DeprecationWarning)
            ex.description = f"{n} local processes"
            yield pyabc.sampler.MulticoreEvalParallelSampler(n_procs=n), ex
    else:
        with DaskExecutor(workers, scheduler) as ex:
            yield pyabc.sampler.DaskDistributedSampler(dask_client=ex.client), ex
