"""How the validation scenarios run: at which scale, with which seeds, on which executor.

A scenario describes its experiments at the scale of the small scenes (a 400-cell nodule on 50×50
sites, doses of 1 to 120 CAR-T). :class:`Scale` multiplies every tumor and every dose by one
factor and widens the tissue to fit the larger nodule, so the same scenario runs as a quick
check (:data:`SMALL`, used by the tests) or at the scale the literature's experiments have
(:data:`REALISTIC`: nodules of 10,000-30,000 cells, doses of 12 to 10,000 CAR-T; the report).
A :class:`Study` runs the replicates of a scenario's arms on an executor, serial or parallel;
the seeds fix the result whatever the executor.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
from matplotlib.figure import Figure

from cartsim.config import ExperimentConfig, parse_config
from cartsim.experiments.executors import Executor, SerialExecutor
from cartsim.experiments.run import RunResult, run

#: The small scene every scenario starts from: 50×50 sites (15 µm each: 0.75 mm), a 400-cell
#: CD19+ nodule in the middle, one dose of 40 CAR-T entering from the edge on day 1, 21 days
BASE_SCENE: dict = {
    "name": "validation",
    "tissue": {"width": 50, "height": 50},
    "time": {"duration_days": 21, "record_every_h": 12},
    "tumor": {"initial": {"type": "nodule", "cells": 400}},
    "antigens": {"CD19": {"negative_fraction": 0.0, "loss_probability": 0.0}},
    "dosing": [{"day": 1, "cells": 40, "product": "CAR19", "route": "edge"}],
}


@dataclass(frozen=True)
class Scale:
    """A size for the scenes: ``factor`` times the tumor cells and the doses of the small scenes.

    The tissue keeps the width of free tissue the small scene has around its nodule (the way the
    CAR-T come in from the edge), and grows with the nodule's diameter: a nodule of N cells
    (one per site) has a radius of sqrt(N/π) sites.
    """

    name: str
    factor: int
    description: str
    #: runs per design point unless told otherwise: realistic runs vary less (their counts are
    #: larger), so fewer of them give the statistical tests the power 8 give the small scenes
    replicates: int = 8

    def cells(self, n: float) -> int:
        """``n`` cells (or CAR-T) of a small scene, at this scale."""
        return round(n * self.factor)

    def small(self, n: float) -> float:
        """What a scene is given for ``n`` cells (or CAR-T) at this scale: scenes take counts as
        at small scale and scale them (a scenario that sets its design per scale gives these)."""
        return n / self.factor

    def side(self, small_side: int, small_cells: int) -> int:
        """Sites per side for a tissue of ``small_side`` holding a ``small_cells`` nodule at small scale."""
        if self.factor == 1:
            return small_side
        margin = small_side - 2 * math.sqrt(small_cells / math.pi)
        return math.ceil(2 * math.sqrt(self.cells(small_cells) / math.pi) + margin)

    def apply(self, data: dict) -> dict:
        """A small scene's config data, scaled: nodule, doses and tissue (in place; returned)."""
        initial = data["tumor"]["initial"]
        small_cells = initial["cells"]
        initial["cells"] = self.cells(small_cells)
        data["dosing"] = [{**dose, "cells": self.cells(dose["cells"])} for dose in data["dosing"]]
        tissue = data["tissue"]
        tissue["width"] = self.side(tissue["width"], small_cells)
        tissue["height"] = self.side(tissue["height"], small_cells)
        return data


SMALL = Scale("small", 1, "400-cell nodules on 50×50 sites, doses of 1-120 CAR-T")
REALISTIC = Scale("realistic", 25, "nodules of 10,000-30,000 tumor cells, doses of 12-10,000 CAR-T", replicates=6)
SCALES = {s.name: s for s in (SMALL, REALISTIC)}


@dataclass
class Outcome:
    number: int
    part: str  # "" or a letter, for patterns with several parts
    title: str
    pattern: str
    passed: bool
    verdict: str  # one line: what was measured against what
    table: pd.DataFrame
    figure: Figure | None = field(default=None, repr=False)
    statistics: dict = field(default_factory=dict)  # numbers behind the verdict, for tests

    @property
    def label(self) -> str:
        return f"{self.number}{self.part}"


@dataclass
class Study:
    """The seeds, scale and executor the scenarios run with."""

    seeds: range
    scale: Scale = REALISTIC
    executor: Executor = field(default_factory=SerialExecutor)

    def scene(self, **sections: Any) -> ExperimentConfig:
        """The base scene with ``sections`` merged in (a dict section updates the base's), at this scale.

        Cell counts and doses are given as at small scale; :meth:`Scale.apply` scales them.
        """
        data = {key: (dict(value) if isinstance(value, dict) else value) for key, value in BASE_SCENE.items()}
        for key, value in sections.items():
            data[key] = {**data[key], **value} if isinstance(value, dict) and isinstance(data.get(key), dict) else value
        data["tumor"] = {**data["tumor"], "initial": dict(data["tumor"]["initial"])}
        return parse_config(self.scale.apply(data))

    def replicate(self, arms: Mapping[Any, ExperimentConfig] | ExperimentConfig, metric: Callable[[RunResult], dict],
                  *, key: str | tuple[str, ...] = "arm", snapshots: bool = False) -> pd.DataFrame:
        """Run every arm with every seed and tabulate ``metric`` of each run.

        ``arms`` maps a label (a tuple of labels when ``key`` names several columns) to a config;
        a single config is one unlabelled arm. All runs go to the executor at once; ``metric`` is
        applied here, in the order of the arms and seeds, whatever order the runs finish in.
        ``snapshots``: keep the runs' snapshots (the last one holds each cell's state at the end).
        """
        single = isinstance(arms, ExperimentConfig)
        arm_list = [(None, arms)] if single else list(arms.items())
        tasks = [(i, cfg, seed, snapshots) for i, (_, cfg) in enumerate(arm_list) for seed in self.seeds]
        results: dict[tuple[int, int], RunResult] = {}
        for (i, cfg, seed, _), result, error in self.executor.map_unordered(_run_indexed, tasks):
            if error is not None:
                raise RuntimeError(f"validation run {cfg.name!r} with seed {seed} failed: {error}")
            results[i, seed] = result
        keys = (key,) if isinstance(key, str) else key
        rows = []
        for i, _, seed, _ in tasks:
            label = arm_list[i][0]
            labels = {} if single else dict(zip(keys, label if isinstance(label, tuple) else (label,), strict=True))
            rows.append({**labels, "seed": seed, **metric(results.pop((i, seed)))})
        return pd.DataFrame(rows)


def _run_indexed(task: tuple[int, ExperimentConfig, int, bool]) -> RunResult:
    _, config, seed, snapshots = task
    return run(config, seed=seed, snapshots=snapshots)


def figure(ncols: int = 1, width: float = 5.5) -> tuple[Figure, list]:
    """A figure of ``ncols`` panels side by side, for a scenario's outcome."""
    fig = Figure(figsize=(width * ncols, 3.8), layout="constrained")
    axes = [fig.add_subplot(1, ncols, i + 1) for i in range(ncols)]
    return fig, axes
