"""Faults in a sweep folder: damaged run files are run again, two sweeps into one folder are refused,
and a full disk stops a sweep with a clear message and no partial file."""

from __future__ import annotations

import errno
import signal
import subprocess
import sys

import pandas as pd
import pyarrow.parquet as pq

from cartsim.cli import main
from cartsim.experiments import sweep_storage as store
from cartsim.experiments.results import load_results

from .conftest import CONFIGS, ROOT
from .test_sweep_execution import tiny, write_yaml


def sweep(capsys, config, out, *extra) -> tuple[int, str, str]:
    code = main(["sweep", str(config), "--out", str(out), "--executor", "serial", *map(str, extra)])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def run_table(path) -> pd.DataFrame:
    return pq.read_table(path).to_pandas()


def test_damaged_and_truncated_run_files_are_run_again_not_trusted(capsys, tmp_path):
    config, out = write_yaml(tmp_path / "s.yaml", tiny()), tmp_path / "out"
    assert sweep(capsys, config, out, "--quiet")[0] == 0
    runs = out / "runs"
    originals = {i: run_table(store.run_file(out, i)) for i in (3, 5, 7, 9)}
    # bytes overwritten in the middle (a bad disk block), keeping the Parquet ending
    damaged = bytearray(store.run_file(out, 3).read_bytes())
    middle = len(damaged) // 3
    damaged[middle:middle + 64] = bytes(64)
    store.run_file(out, 3).write_bytes(bytes(damaged))
    # cut short (a crash of the machine before the data reached the disk)
    whole = store.run_file(out, 5).read_bytes()
    store.run_file(out, 5).write_bytes(whole[: len(whole) // 2])
    # cut short and ending in the magic bytes, which the quick check alone would accept
    whole = store.run_file(out, 7).read_bytes()
    store.run_file(out, 7).write_bytes(whole[: len(whole) // 2] + b"PAR1")
    # another run's file under this run's name
    store.run_file(out, 9).write_bytes(store.run_file(out, 2).read_bytes())

    code, stdout, err = sweep(capsys, config, out)
    assert code == 0, err
    assert "4 damaged run file(s)" in err and "run 3, 5, 7, 9" in err and "Traceback" not in err
    assert "(8 already done, 4 finished now, 0 failed)" in stdout
    for i, before in originals.items():  # run again with the run's own seed: the same result
        pd.testing.assert_frame_equal(run_table(store.run_file(out, i)), before)
    assert sorted(p.name for p in runs.iterdir()) == [f"run-{i:06d}.parquet" for i in range(12)]
    assert load_results(out).n_ok == 12


HOLD_LOCK = """
import sys
from cartsim.experiments.sweep_storage import SweepLock
with SweepLock(sys.argv[1]):
    print("locked", flush=True)
    sys.stdin.read()
"""


def test_a_second_sweep_into_the_same_folder_is_refused_until_the_first_ends(capsys, tmp_path):
    config, out = write_yaml(tmp_path / "s.yaml", tiny()), tmp_path / "out"
    out.mkdir()
    holder = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(out)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        assert holder.stdout.readline().strip() == "locked"
        for extra in ([], ["--force"]):
            code, _, err = sweep(capsys, config, out, *extra)
            assert code == 2 and "Traceback" not in err, err
            assert f"another cartsim sweep (process {holder.pid}) is writing into this folder" in err
            assert not (out / "runs").exists() and not (out / "manifest.json").exists()
        # a dry run reads nothing from the folder and is allowed
        assert main(["sweep", str(config), "--out", str(out), "--dry-run"]) == 0
    finally:
        holder.send_signal(signal.SIGKILL)  # dies without unlocking: the kernel releases the lock
        holder.wait(timeout=30)
    code, stdout, err = sweep(capsys, config, out)
    assert code == 0 and "(0 already done, 12 finished now, 0 failed)" in stdout, err


def test_a_full_disk_stops_the_sweep_with_a_clear_error_and_no_partial_file(capsys, tmp_path, monkeypatch):
    config, out = write_yaml(tmp_path / "s.yaml", tiny()), tmp_path / "out"
    real_write = pq.write_table
    written = []

    def write_until_full(table, where, **kwargs):
        if len(written) == 4:  # the fifth run file: half written, then the disk is full
            with open(where, "wb") as fh:
                fh.write(b"PAR1" + bytes(100))
            raise OSError(errno.ENOSPC, "No space left on device")
        real_write(table, where, **kwargs)
        written.append(where)

    monkeypatch.setattr(pq, "write_table", write_until_full)
    code, _, err = sweep(capsys, config, out, "--quiet")
    assert code == 2 and "Traceback" not in err, err
    assert err.startswith("cartsim: error: no space left on the device to write ") and "run-000004.parquet" in err
    assert "run the command again" in err and len(err.strip().splitlines()) == 1
    assert sorted(p.name for p in (out / "runs").iterdir()) == [f"run-{i:06d}.parquet" for i in range(4)]
    monkeypatch.setattr(pq, "write_table", real_write)
    code, stdout, err = sweep(capsys, config, out)
    assert code == 0 and "(4 already done, 8 finished now, 0 failed)" in stdout, err


def test_a_full_disk_during_a_run_leaves_no_partial_file(capsys, tmp_path, monkeypatch):
    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(pd.DataFrame, "to_parquet", full)
    out = tmp_path / "run"
    code = main(["run", str(CONFIGS / "quickstart.yaml"), "--out", str(out), "--quiet", "--no-plots",
                 "--set", "time.duration_days=2.5", "--set", "tissue.width=40", "--set", "tissue.height=40",
                 "--set", "tumor.initial.cells=100", "--set", "dosing.0.cells=20"])
    err = capsys.readouterr().err
    assert code == 2 and "no space left on the device to write" in err and "timeseries.parquet" in err, err
    assert sorted(p.name for p in out.iterdir()) == ["config.yaml"]  # written before the disk filled
