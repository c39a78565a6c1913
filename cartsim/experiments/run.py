"""Run one experiment: config in, :class:`RunResult` (tables, summary, snapshots) out."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from cartsim import __version__
from cartsim.config import ExperimentConfig
from cartsim.experiments import storage
from cartsim.experiments.summary import summarize
from cartsim.model import CarTModel
from cartsim.well_mixed import WellMixedModel
from cartsim.snapshot import Snapshot


@dataclass
class RunResult:
    """What one run produced.

    Attributes:
        config: the resolved config (its ``seed`` is the one used).
        timeseries: one row per recorded time (``day`` in days; counts in cells; cytokine
            ``*_total`` in molecules and ``*_max`` in pM).
        summary: outcome metrics (:mod:`cartsim.experiments.summary`).
        snapshots: tissue pictures at ``time.snapshot_days`` and at the end.
        wall_seconds: time the run took.
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

    def write(self, out_dir: str | Path, plots: bool = True) -> Path:
        """Write config.yaml, timeseries.parquet, summary.json, snapshots.npz and PNG plots."""
        out = storage.write_run_tables(Path(out_dir), self.config.model_dump(mode="json"),
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
            storage.write_npz(out / "snapshots.npz", arrays)
        if plots:
            from cartsim.viz.figures import save_figure, snapshots_figure, timeseries_figure

            save_figure(timeseries_figure(self.timeseries, self.summary), out / "timeseries.png")
            if self.snapshots:
                save_figure(snapshots_figure(self.snapshots), out / "tissue.png")
        return out


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
    with tqdm(total=total, unit="day", disable=not progress, desc=config.name,
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
