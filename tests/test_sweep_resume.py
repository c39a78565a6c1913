"""Resuming a sweep: after the sweep process is killed with SIGKILL nothing is lost or run twice;
a changed configuration under the same folder is refused; --force starts over."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pandas as pd

from cartsim.experiments.results import load_results
from cartsim.experiments.sweep import Sweep

from .conftest import ROOT
from .test_sweep_execution import cartsim_cli, stable, tiny, write_yaml


def descendants(pid: int) -> list[int]:
    """Processes below ``pid`` (Linux /proc)."""
    parents: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as fh:
                    ppid = int(fh.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            parents.setdefault(ppid, []).append(int(entry))
    out, todo = [], [pid]
    while todo:
        for child in parents.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_resume_after_sigkill_loses_and_duplicates_nothing(tmp_path):
    data = tiny(time={"duration_days": 3, "record_every_h": 6})
    data["sweep"]["replicates"] = 4  # 24 runs
    config = write_yaml(tmp_path / "resume.yaml", data)
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "cartsim.cli", "sweep", config, "--out", str(out), "--workers", "2", "--quiet"]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        runs_dir = out / "runs"
        if runs_dir.is_dir() and len(list(runs_dir.glob("run-*.parquet"))) >= 4:
            break
        assert proc.poll() is None, f"sweep ended before it could be killed: {proc.stderr.read()}"
        time.sleep(0.02)
    helpers = descendants(proc.pid)  # the forkserver and the pool's workers
    assert len(helpers) >= 2
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    # orphaned workers notice that the coordinator is gone and exit instead of waiting forever
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and any(alive(p) for p in helpers):
        time.sleep(0.1)
    assert not [p for p in helpers if alive(p)], "worker processes outlived the killed sweep"
    before = {p.name for p in (out / "runs").glob("run-*.parquet")}
    assert 4 <= len(before) < 24, "the kill should land mid-way"
    # a half-written file as a kill during a write would leave: it must be ignored and removed
    (out / "runs" / ".run-000023.parquet.abc123.tmp").write_bytes(b"PAR1 partial")

    r = cartsim_cli("sweep", config, "--out", out, "--workers", "2")
    assert r.returncode == 0, r.stderr
    done_now = 24 - len(before)
    assert f"({len(before)} already done, {done_now} finished now, 0 failed)" in r.stdout
    files = sorted(p.name for p in (out / "runs").iterdir())
    assert files == [f"run-{i:06d}.parquet" for i in range(24)], "missing, duplicated or temporary files"
    results = load_results(out)
    assert results.runs["run"].tolist() == list(range(24)) and results.n_pending == 0
    assert results.timeseries.groupby("run").size().eq(13).all()  # 3 days every 6 h, no run twice
    # and the resumed sweep holds exactly what an uninterrupted one gives
    clean = Sweep.from_yaml(config).run(tmp_path / "clean", executor="serial", progress=False)
    pd.testing.assert_frame_equal(stable(results)[0], stable(clean)[0])


def test_a_changed_config_is_refused_and_force_starts_over(tmp_path):
    out = tmp_path / "out"
    config = write_yaml(tmp_path / "a.yaml", tiny())
    assert cartsim_cli("sweep", config, "--out", out, "--executor", "serial", "--quiet").returncode == 0
    first = (out / "runs" / "run-000000.parquet").stat().st_mtime_ns
    # the same config again: nothing to do
    r = cartsim_cli("sweep", config, "--out", out, "--executor", "serial")
    assert r.returncode == 0 and "(12 already done, 0 finished now, 0 failed)" in r.stdout
    changed = tiny()
    changed["sweep"]["replicates"] = 3
    changed["tumor"] = {"initial": {"type": "nodule", "cells": 90}}
    config_b = write_yaml(tmp_path / "b.yaml", changed)
    r = cartsim_cli("sweep", config_b, "--out", out, "--executor", "serial")
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "different sweep configuration" in r.stderr and "--force" in r.stderr
    assert "experiment.tumor.initial.cells: 100 -> 90" in r.stderr and "sweep.replicates: 2 -> 3" in r.stderr
    assert (out / "runs" / "run-000000.parquet").stat().st_mtime_ns == first  # untouched
    r = cartsim_cli("sweep", config_b, "--out", out, "--executor", "serial", "--force", "--quiet")
    assert r.returncode == 0, r.stderr
    assert load_results(out).n_ok == 18


