"""Sweep executors compared: serial, local processes and a Dask LocalCluster on the same sweep.

    python benchmarks/bench_sweep.py                 # 40 runs, 2 workers
    python benchmarks/bench_sweep.py --runs 40 --workers 4

Prints the wall time of each executor (start-up of its workers included, as a user sees it: a
LocalCluster costs a few seconds more to start than a process pool, a fixed cost), the
speed-up of processes over serial (target >= 1.7× on 2 cores), Dask's time relative to processes
(target within 15 %), checks that all three produced identical runs, and shows that the
coordinating process's memory does not grow with the number of runs (results stream to disk).
"""

from __future__ import annotations

import argparse
import copy
import tempfile
import time
import tracemalloc
from pathlib import Path

import pandas as pd

from cartsim.experiments.sweep import Sweep

# dose_response's experiment: runs of about 1-2 s, the size of the shipped sweeps
BASE = {
    "name": "bench_sweep",
    "seed": 7,
    "tissue": {"width": 50, "height": 50},
    "time": {"duration_days": 14, "record_every_h": 6},
    "antigens": {"CD19": {"negative_fraction": 0.0, "loss_probability": 1e-4}},
    "tumor": {"initial": {"type": "nodule", "cells": 400}},
    "dosing": [{"day": 1, "cells": 20, "product": "CAR19", "route": "edge"}],
}
TINY = {**BASE, "tissue": {"width": 25, "height": 25}, "time": {"duration_days": 1, "record_every_h": 6},
        "tumor": {"initial": {"type": "nodule", "cells": 60}}, "dosing": [{"day": 0.5, "cells": 10,
                                                                            "product": "CAR19"}]}


def sweep_dict(base: dict, runs: int) -> dict:
    """The experiment of a ``runs``-run dose sweep over ``base`` (2 replicates per dose), as YAML would hold it."""
    data = copy.deepcopy(base)
    replicates = 2
    data["sweep"] = {"replicates": replicates, "parameters": [
        {"path": "dosing.0.cells", "name": "dose",
         "range": {"start": 5, "stop": 80, "num": max(2, runs // replicates), "scale": "log"}}]}
    return data


def sweep_of(base: dict, runs: int) -> Sweep:
    return Sweep.from_dict(sweep_dict(base, runs))


def timed(sweep: Sweep, out: Path, executor: str, workers: int) -> tuple[float, pd.DataFrame]:
    start = time.perf_counter()
    results = sweep.run(out, executor=executor, workers=workers, progress=False)
    wall = time.perf_counter() - start
    assert results.report is not None and not results.report.failed
    return wall, results.runs.drop(columns=["wall_seconds"])


def coordinator_peak_mib(runs: int, workers: int, root: Path) -> float:
    """Peak Python memory of the coordinating process (tracemalloc) over a sweep of tiny runs."""
    sweep = sweep_of(TINY, runs)
    tracemalloc.start()
    sweep.run(root / f"mem{runs}", executor="processes", workers=workers, progress=False)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak / 2**20


def _burn(_: int) -> float:
    start = time.perf_counter()
    total = 0
    for i in range(5_000_000):
        total += i
    return time.perf_counter() - start


def machine_check(workers: int) -> float:
    """How fast ``workers`` busy processes run relative to one (1.0 on idle cores): other work
    on the machine lowers it, and every parallel executor with it."""
    import multiprocessing

    alone = _burn(0)
    with multiprocessing.get_context("spawn").Pool(workers) as pool:
        together = pool.map(_burn, range(workers))
    return alone / max(together)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--runs", type=int, default=40, help="runs in the timed sweep (default 40)")
    p.add_argument("--workers", type=int, default=2, help="workers for processes and Dask (default 2)")
    args = p.parse_args()
    sweep = sweep_of(BASE, args.runs)
    print(f"sweep: {sweep.n_runs} runs of a 50×50-site, 14-day experiment; {args.workers} workers")
    print(f"machine check: {args.workers} busy processes each run at {machine_check(args.workers):.0%} of the "
          "speed of one (100 % when the cores are otherwise idle)\n")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        times: dict[str, float] = {}
        tables: dict[str, pd.DataFrame] = {}
        for executor in ("serial", "processes", "dask"):
            times[executor], tables[executor] = timed(sweep, root / executor, executor, args.workers)
            print(f"  {executor:<10} {times[executor]:7.1f} s   ({sweep.n_runs / times[executor]:.2f} runs/s)")
        same = all(tables[e].equals(tables["serial"]) for e in ("processes", "dask"))
        speedup = times["serial"] / times["processes"]
        dask_vs = times["dask"] / times["processes"] - 1
        print(f"\nprocesses vs serial: {speedup:.2f}× faster   (target >= 1.7× on 2 cores)  "
              f"{'OK' if speedup >= 1.7 else 'BELOW TARGET'}")
        print(f"dask vs processes:   {dask_vs:+.1%}          (target within ±15 %)    "
              f"{'OK' if abs(dask_vs) <= 0.15 or dask_vs < 0 else 'OUTSIDE TARGET'}")
        print(f"identical runs on all three executors: {same}")

        small, large = 40, 160
        m_small = coordinator_peak_mib(small, args.workers, root)
        m_large = coordinator_peak_mib(large, args.workers, root)
        print(f"machine check after: {machine_check(args.workers):.0%}")
        print(f"\ncoordinator peak memory (tracemalloc): {m_small:.1f} MiB for {small} runs, "
              f"{m_large:.1f} MiB for {large} runs")


if __name__ == "__main__":
    main()
