"""Running sweeps: the same results on every executor, failures recorded, resume after SIGKILL,
a changed config refused, a worker that dies does not hang the sweep."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
import time

import pandas as pd
import yaml

import cartsim
from cartsim.experiments import sweep_storage as store
from cartsim.experiments import worker
from cartsim.experiments.executors import ProcessExecutor
from cartsim.experiments.results import load_results
from cartsim.experiments.sweep import Sweep

from .conftest import ROOT

TINY = {
    "name": "tiny",
    "seed": 5,
    "tissue": {"width": 25, "height": 25},
    "time": {"duration_days": 2, "record_every_h": 6},
    "tumor": {"initial": {"type": "nodule", "cells": 100}},
    "dosing": [{"day": 0.5, "cells": 40, "product": "CAR19", "route": "edge"}],
    "sweep": {
        "replicates": 2,
        "parameters": [
            {"path": "dosing.0.cells", "name": "dose", "range": {"start": 5, "stop": 80, "num": 3, "scale": "log"}},
            {"path": "antigens.CD19.loss_probability", "name": "escape", "values": [0.001, 0.1]},
        ],
    },
}
VOLATILE = ["wall_seconds"]


def tiny(**changes) -> dict:
    data = copy.deepcopy(TINY)
    for key, value in changes.items():
        data[key] = value
    return data


def write_yaml(path, data) -> str:
    path.write_text(yaml.safe_dump(data))
    return str(path)


def cartsim_cli(*args, timeout=300):
    return subprocess.run([sys.executable, "-m", "cartsim.cli", *map(str, args)], capture_output=True, text=True,
                          cwd=ROOT, timeout=timeout)


def stable(results) -> tuple[pd.DataFrame, pd.DataFrame]:
    runs = results.runs.drop(columns=VOLATILE)
    return runs, results.timeseries


# ------------------------------------------------------------------------------ executors agree
def test_serial_processes_and_dask_give_identical_runs(tmp_path):
    sweep = Sweep.from_dict(tiny())
    serial = sweep.run(tmp_path / "serial", executor="serial", progress=False)
    assert serial.report.ok == 12 and serial.n_failed == 0
    runs, ts = stable(serial)
    # sanity: the sweep changed something, so identical tables are not trivially identical
    assert runs.groupby("dose")["peak_cart"].mean().is_monotonic_increasing
    assert runs["kills_total"].nunique() > 6
    assert runs["seed"].nunique() == 12
    for executor, workers in (("processes", 2), ("dask", 2)):
        other = sweep.run(tmp_path / executor, executor=executor, workers=workers, progress=False)
        assert other.report.ok == 12, executor
        o_runs, o_ts = stable(other)
        pd.testing.assert_frame_equal(o_runs, runs, obj=f"runs ({executor})")
        pd.testing.assert_frame_equal(o_ts, ts, obj=f"timeseries ({executor})")
    # and a run equals the same run done by hand with its seed and overrides
    task = sweep.task(7)
    by_hand = cartsim.run(cartsim.load_config(write_yaml(tmp_path / "one.yaml", {k: v for k, v in TINY.items()
                                                                                   if k != "sweep"}),
                                              task.overrides), seed=task.seed, snapshots=False)
    mine = ts[ts["run"] == 7].reset_index(drop=True)[by_hand.timeseries.columns]
    pd.testing.assert_frame_equal(mine, by_hand.timeseries, check_dtype=False)


def test_results_tables_are_tidy(tmp_path):
    results = Sweep.from_dict(tiny()).run(tmp_path / "s", executor="serial", progress=False)
    runs = results.runs
    assert list(runs["run"]) == list(range(12))
    assert {"dose", "escape", "seed", "status", "eradicated", "final_tumor"} <= set(runs.columns)
    assert runs["eradicated"].dtype == "boolean"
    assert set(results.metrics) >= {"eradicated", "relapsed", "tumor_reduction_at_nadir"}
    ts = results.timeseries
    assert len(ts) == 12 * 9  # 2 days recorded every 6 h: 9 rows per run
    assert ts.groupby("run")["day"].apply(lambda d: d.is_monotonic_increasing).all()
    long = results.timeseries_long(["tumor_total", "cart_total"])
    assert len(long) == 2 * len(ts) and set(long["variable"]) == {"tumor_total", "cart_total"}
    # every run file is readable on its own, and all at once with pandas
    assert len(pd.read_parquet(tmp_path / "s" / "runs")) == len(ts)
    manifest = json.loads((tmp_path / "s" / "manifest.json").read_text())
    assert manifest["runs"] == 12 and manifest["cartsim_version"] == cartsim.__version__
    assert manifest["design"]["columns"] == ["dose", "escape"] and manifest["created"]
    # reading results never touches files a running sweep may be writing
    partial = tmp_path / "s" / "runs" / ".run-000011.parquet.x.tmp"
    partial.write_bytes(b"half")
    assert load_results(tmp_path / "s").n_ok == 12 and partial.exists()
    # final tumor in the runs table is the last record of the time series
    last = ts.groupby("run")["tumor_total"].last()
    assert (runs.set_index("run")["final_tumor"] == last).all()


# ------------------------------------------------------------------------------ failures
# Runs the command line in a process where one dose makes the model raise: a test-only stand-in
# for a parameter combination that passes validation but fails at run time.
FAILING_CLI = """
import sys
import cartsim.experiments.run as run_module
real_run = run_module.run
def run(config, seed=None, **kw):
    if config.dosing[0].cells == 20:
        raise RuntimeError("injected failure at dose 20")
    return real_run(config, seed=seed, **kw)
run_module.run = run
from cartsim.cli import main
sys.exit(main(sys.argv[1:]))
"""


def test_a_failing_run_is_recorded_the_others_finish_and_the_command_exits_non_zero(tmp_path):
    out = tmp_path / "out"
    config = write_yaml(tmp_path / "fail.yaml", tiny())
    args = [sys.executable, "-c", FAILING_CLI, "sweep", config, "--out", str(out), "--executor", "serial"]
    r = subprocess.run(args, capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert r.returncode == 1, r.stderr
    assert "(0 already done, 8 finished now, 4 failed)" in r.stdout
    assert "run 4 (dose=20, escape=0.001): RuntimeError: injected failure at dose 20" in r.stdout
    failed = sorted(p.name for p in (out / "failed").glob("run-*.json"))
    assert failed == ["run-000004.json", "run-000005.json", "run-000006.json", "run-000007.json"]
    record = json.loads((out / "failed" / "run-000006.json").read_text())
    assert record["params"] == {"dose": 20, "escape": 0.1} and record["error"].startswith("RuntimeError")
    assert "Traceback" in record["traceback"] and record["seed"] == Sweep.from_yaml(config).task(6).seed
    results = load_results(out)
    assert (results.n_ok, results.n_failed, results.n_pending) == (8, 4, 0)
    assert results.runs.loc[results.runs["dose"] == 20, "status"].eq("failed").all()
    assert results.runs.loc[results.runs["dose"] != 20, "status"].eq("ok").all()
    assert results.failed["error"].str.contains("injected failure").all()
    # the plain command retries only the failed runs, which now succeed
    r = cartsim_cli("sweep", config, "--out", out, "--executor", "serial")
    assert r.returncode == 0 and "(8 already done, 4 finished now, 0 failed)" in r.stdout
    assert not list((out / "failed").glob("*.json")) and load_results(out).n_ok == 12


def _double_or_die(task: int) -> int:
    """A worker function for the executor test: task 3 kills its worker process outright."""
    if task == 3:
        os._exit(13)
    time.sleep(0.05)
    return 2 * task


def test_a_worker_process_that_dies_is_recorded_and_the_rest_finish():
    with ProcessExecutor(workers=2) as ex:
        out = {task: (value, error) for task, value, error in ex.map_unordered(_double_or_die, range(8))}
    assert sorted(out) == list(range(8))
    assert out[3][0] is None and "worker process died" in out[3][1]
    assert all(out[t] == (2 * t, None) for t in range(8) if t != 3)


# ------------------------------------------------------------------------------ persistent workers
def _loaded_kernels() -> tuple[int, int]:
    """Compiled kernels of cartsim in this process: how many there are, and how many compiled
    versions of them are loaded (numba loads or compiles one on a kernel's first call)."""
    from numba.core.registry import CPUDispatcher

    kernels = [v for name, m in list(sys.modules.items()) if name.startswith("cartsim.")
               for v in vars(m).values() if isinstance(v, CPUDispatcher)]
    return len(kernels), sum(len(k.signatures) for k in kernels)


def _probe(task: worker.RunTask) -> tuple[int, int, int, int, bool]:
    """A worker function: the worker's pid, and its loaded kernels before and after the run."""
    kernels, before = _loaded_kernels()
    outcome = worker.execute_run(task)
    return os.getpid(), kernels, before, _loaded_kernels()[1], outcome.ok


def test_workers_live_for_the_whole_sweep_and_start_with_the_kernels_loaded(tmp_path):
    six_runs = {"replicates": 2, "parameters": [{"path": "dosing.0.cells", "name": "dose", "values": [5, 20, 40]}]}
    sweep = Sweep.from_dict(tiny(sweep=six_runs, time={"duration_days": 1, "record_every_h": 6}))
    results = sweep.run(tmp_path / "s", executor="processes", workers=2, progress=False)
    assert results.report.ok == 6
    # every run records the process that ran it: two workers ran all six, none was re-spawned
    names = {store.read_run_metadata(store.run_file(tmp_path / "s", run))["worker"] for run in range(6)}
    pids = {int(name.rpartition(":")[2]) for name in names}
    assert len(pids) <= 2 and os.getpid() not in pids, names

    with ProcessExecutor(workers=2) as ex:
        probes = [value for _task, value, _error in ex.map_unordered(_probe, sweep.tasks())]
    assert len({pid for pid, *_ in probes}) <= 2
    for _pid, kernels, before, after, ok in probes:
        assert ok
        # even a worker's first run loads or compiles nothing: the kernels came with the worker
        assert after == before and (before > 0 or kernels == 0)


def test_warm_up_never_raises(monkeypatch):
    monkeypatch.setattr(worker, "_warmed", False)
    monkeypatch.setattr(worker, "WARM_UP_EXPERIMENT", {"tissue": {"width": -1}})
    worker.warm_up()  # an invalid warm-up model is only logged: the real runs report failures
    assert worker._warmed


def test_bad_command_line_values_exit_2(tmp_path):
    config = write_yaml(tmp_path / "a.yaml", tiny())
    for args, text in ((["--workers", "0"], "--workers 0"),
                       (["--scheduler", "tcp://127.0.0.1:1"], "--scheduler needs --executor dask"),
                       (["--set", "tumor.initial.celz=5"], "tumor.initial.cells")):
        r = cartsim_cli("sweep", config, "--out", tmp_path / "o", *args)
        assert r.returncode == 2 and text in r.stderr and "Traceback" not in r.stderr, (args, r.stderr)
    r = cartsim_cli("plot", tmp_path / "nowhere")
    assert r.returncode == 2 and "manifest.json" in r.stderr


# ------------------------------------------------------------------------------ how workers start
# In a fresh interpreter (the test process runs other threads): a serial sweep warms the process
# up, after which the process executor forks its workers from it; with another Python thread
# running it falls back to the forkserver. Both give the serial sweep's runs.
START_METHODS = """
import json, sys, threading, warnings
from pathlib import Path
warnings.simplefilter("error", DeprecationWarning)  # no warning about forking escapes
from cartsim.experiments import executors, worker
from cartsim.experiments.sweep import Sweep

def main():
    sweep = Sweep.from_dict(json.loads(sys.argv[1]))
    out = Path(sys.argv[2])
    cold = executors._copy_safely()
    serial = sweep.run(out / "serial", executor="serial", progress=False).runs.drop(columns=["wall_seconds"])
    with executors.ProcessExecutor(workers=2) as ex:
        forked = ex.start_method
    runs = sweep.run(out / "fork", executor="processes", workers=2, progress=False).runs.drop(columns=["wall_seconds"])
    stop = threading.Event()
    threading.Thread(target=stop.wait, daemon=True).start()
    with executors.ProcessExecutor(workers=2) as ex:
        list(ex.map_unordered(abs, [-1]))
        threaded = ex.start_method
    runs2 = sweep.run(out / "server", executor="processes", workers=2, progress=False).runs.drop(columns=["wall_seconds"])
    stop.set()
    print(json.dumps({"cold": cold, "warm": worker.is_warm(), "forked": forked, "threaded": threaded,
                      "fork_same": runs.equals(serial), "server_same": runs2.equals(serial)}))

if __name__ == "__main__":
    main()
"""


def test_workers_are_forked_from_a_warm_single_threaded_process_and_give_the_same_runs(tmp_path):
    script = tmp_path / "start_methods.py"
    script.write_text(START_METHODS)
    data = tiny(time={"duration_days": 1, "record_every_h": 6})
    proc = subprocess.run([sys.executable, str(script), json.dumps(data), str(tmp_path)], capture_output=True,
                          text=True, cwd=ROOT, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    assert got == {"cold": False, "warm": True, "forked": "fork", "threaded": "forkserver",
                   "fork_same": True, "server_same": True}
