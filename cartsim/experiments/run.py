"""Run one experiment: config in, :class:`RunResult` (tables, summary, snapshots) out.

A result is plain data. :meth:`RunResult.write` stores it as a run folder and :func:`load_run`
reads such a folder back; drawing pictures of it is the caller's business
(:func:`cartsim.viz.figures.save_run_figures`, which ``cartsim run`` calls).
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from cartsim.progress import ProgressBar

from cartsim import io
from cartsim._version import __version__
from cartsim.config import ConfigError, ExperimentConfig, parse_config
from cartsim.config.loading import read_yaml
from cartsim.model import CarTModel
from cartsim.snapshot import Snapshot
from cartsim.summary import summarize
from cartsim.well_mixed import WellMixedModel


@dataclass
class RunResult:
    """What one run produced.

    Attributes:
        config: the resolved config (its ``seed`` is the one used).
        timeseries: one row per recorded time (``day`` in days; counts in cells; cytokine
            ``*_total`` in molecules and ``*_max`` in pM).
        summary: outcome metrics (:mod:`cartsim.summary`).
        snapshots: tissue pictures at ``time.snapshot_days`` and at the end.
        wall_seconds: time the run took (s); 0 for a run read back with :func:`load_run`, since a
            run folder does not record it.
    """

    config: ExperimentConfig
    timeseries: pd.DataFrame
    summary: dict
    snapshots: list[Snapshot] = field(default_factory=list)
    wall_seconds: float = 0.0

    @property
    def seed(self) -> int:
        return self.config.seed

    def resolved_config(self) -> dict:
        return {**self.config.model_dump(mode="json"), "cartsim_version": __version__}

    def write(self, out_dir: str | Path) -> Path:
        """Write the run folder ``out_dir`` (created if needed) and return its path.

        Files, each written atomically: config.yaml (the resolved config, with the cartsim
        version), timeseries.parquet, summary.json and, when there are snapshots, snapshots.npz
        (arrays ``day`` and ``<i>_tumor_phenotype``, ``<i>_tumor_antigen``, ``<i>_tcell_state``,
        ``<i>_dead_age_h``, ``<i>_cytokine_<name>`` for snapshot ``i``). :func:`load_run` reads
        them back.
        """
        out = io.write_run_tables(Path(out_dir), self.config.model_dump(mode="json"),
                                  self.timeseries, self.summary)
        if self.snapshots:
            arrays: dict[str, np.ndarray] = {"day": np.array([s.day for s in self.snapshots])}
            for i, s in enumerate(self.snapshots):
                arrays[f"{i}_tumor_phenotype"] = s.tumor_phenotype
                arrays[f"{i}_tumor_antigen"] = s.tumor_antigen
                arrays[f"{i}_tcell_state"] = s.tcell_state
                arrays[f"{i}_dead_age_h"] = s.dead_age_h
                for name, f in s.cytokines.items():
                    arrays[f"{i}_cytokine_{name}"] = f
            io.write_npz(out / io.SNAPSHOTS_FILE, arrays)
        return out


def load_run(directory: str | Path) -> RunResult:
    """Read a run folder written by ``cartsim run`` or :meth:`RunResult.write` back as a :class:`RunResult`.

    The config is validated again (so a folder from another cartsim version that no longer
    validates says which setting changed); snapshots are rebuilt from snapshots.npz, with the
    antigen names and site size of the config.

    Raises:
        ConfigError: ``directory`` does not exist, is not a folder, or is not an agent run's
            folder (no config.yaml, timeseries.parquet or summary.json; an ODE run; a sweep).
    """
    root = Path(directory)
    if not root.exists():
        raise ConfigError(f"{root}: no such folder; give the folder a run was written to "
                          "(cartsim run ... --out DIR)")
    if not root.is_dir():
        raise ConfigError(f"{root}: not a folder; give the folder a run was written to (cartsim run ... --out DIR)")
    missing = [name for name in (io.CONFIG_FILE, io.TIMESERIES_FILE, io.SUMMARY_FILE) if not (root / name).is_file()]
    if missing:
        hint = (" It is a sweep folder: read it with cartsim.load_results." if (root / "manifest.json").is_file()
                else " Is it the folder of a run (written by cartsim run or RunResult.write)?")
        raise ConfigError(f"{root}: not a run folder (no {', '.join(missing)}).{hint}")
    source = str(root / io.CONFIG_FILE)
    data = read_yaml(source)
    from cartsim.odes.config import is_ode_data

    if is_ode_data(data):
        raise ConfigError("the folder of an ODE run (cartsim ode), not of an agent run; read its tables "
                          "with pandas.read_parquet and json", source)
    config = parse_config(data, source)
    try:
        timeseries = pd.read_parquet(root / io.TIMESERIES_FILE)
        summary = json.loads((root / io.SUMMARY_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{root}: cannot read the run's tables ({exc})") from None
    snapshots = _read_snapshots(root / io.SNAPSHOTS_FILE, config) if (root / io.SNAPSHOTS_FILE).is_file() else []
    return RunResult(config, timeseries, summary, snapshots)


_SNAPSHOT_KEY = re.compile(r"^(\d+)_(tumor_phenotype|tumor_antigen|tcell_state|dead_age_h|cytokine_(.+))$")


def _read_snapshots(path: Path, config: ExperimentConfig) -> list[Snapshot]:
    """The snapshots of snapshots.npz (layout in :meth:`RunResult.write`)."""
    try:
        with np.load(path) as npz:
            arrays = {key: npz[key] for key in npz.files}
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{path}: cannot read the snapshots ({exc})") from None
    days = arrays.pop("day", np.array([]))
    parts: list[dict] = [{"cytokines": {}} for _ in days]
    for key, value in arrays.items():
        m = _SNAPSHOT_KEY.match(key)
        if not m or int(m.group(1)) >= len(parts):
            raise ConfigError(f"{path}: unexpected array {key!r}; not written by cartsim run?")
        part = parts[int(m.group(1))]
        if m.group(3) is not None:
            part["cytokines"][m.group(3)] = value
        else:
            part[m.group(2)] = value
    antigens = tuple(config.antigen_names)
    try:
        return [Snapshot(day=float(day), antigens=antigens, site_um=config.tissue.site_um, **part)
                for day, part in zip(days, parts, strict=True)]
    except TypeError as exc:  # an array missing for one snapshot
        raise ConfigError(f"{path}: incomplete snapshot arrays ({exc})") from None


def make_model(config: ExperimentConfig) -> CarTModel | WellMixedModel:
    """The model for ``config.space``: the tissue grid (stirred or not), or the well-mixed mode."""
    return WellMixedModel(config) if config.space == "well_mixed" else CarTModel(config)


def run(
    config: ExperimentConfig,
    seed: int | None = None,
    *,
    progress: bool = False,
    snapshots: bool = True,
) -> RunResult:
    """Run ``config`` to its duration with ``seed`` (default: the config's) and return the result."""
    if seed is not None:
        config = config.model_copy(update={"seed": int(seed)})
    start = time.perf_counter()
    model = make_model(config)
    snapshots = snapshots and hasattr(model, "snapshot")  # the well-mixed mode has no tissue to picture
    snap_days = list(config.time.snapshot_days) if snapshots else []
    taken: list[Snapshot] = []
    if snap_days and snap_days[0] <= 0:
        taken.append(model.snapshot())
        snap_days = [d for d in snap_days if d > 0]
    total = config.time.duration_days
    with ProgressBar(total=total, unit="day", disable=not progress, desc=config.name,
              bar_format="{l_bar}{bar}| {n:.1f}/{total:.1f} days [{elapsed}<{remaining}]") as bar:
        while model.running:
            model.step()
            bar.update(model.day - bar.n)
            while snap_days and model.day >= snap_days[0] - 1e-9:
                taken.append(model.snapshot())
                snap_days.pop(0)
    if snapshots and (not taken or taken[-1].day < model.day):
        taken.append(model.snapshot())
    ts = model.datacollector.get_model_vars_dataframe().reset_index(drop=True)
    summary = summarize(ts, config.antigen_names, config.infusion_days)
    return RunResult(config, ts, summary, taken, time.perf_counter() - start)
