"""The folder a sweep writes, and how to read it back.

Layout of a sweep folder ``DIR``::

    DIR/manifest.json            resolved experiment, sweep block, design table, version, start time, hash
    DIR/runs/run-000123.parquet  one finished run: its time series (one row per record) with the
                                 run's parameters as columns; its summary metrics in the file's
                                 key-value metadata under ``cartsim.run``
    DIR/failed/run-000045.json   one failed run: parameters, seed, error and traceback
    DIR/figures/                 written by ``cartsim plot``

Every file is written to a temporary name starting with ``.`` and renamed into place, so a file
that exists is complete; a sweep killed at any moment leaves at most a temporary file behind,
which the next run removes. ``pandas.read_parquet(DIR / "runs")`` reads all finished runs' time
series at once (pyarrow skips names starting with ``.``).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from cartsim import io
from cartsim.experiments.worker import RunOutcome, RunTask

MANIFEST = "manifest.json"
RUNS = "runs"
FAILED = "failed"
FIGURES = "figures"
METADATA_KEY = b"cartsim.run"
FORMAT_VERSION = 1
RESERVED_COLUMNS = ("run", "point", "replicate", "seed", "status", "error", "wall_seconds", "worker", "day")
_RUN_RE = re.compile(r"^run-(\d+)\.(parquet|json)$")
_PARQUET_MAGIC = b"PAR1"


def run_file(root: Path, run: int) -> Path:
    return Path(root) / RUNS / f"run-{run:06d}.parquet"


def failure_file(root: Path, run: int) -> Path:
    return Path(root) / FAILED / f"run-{run:06d}.json"


def _json_ready(value: Any) -> Any:
    """Numpy scalars to Python, NaN to None: JSON has neither."""
    if isinstance(value, dict):
        return {k: _json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_ready(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


# ------------------------------------------------------------------------------ runs
def write_run(root: Path, task: RunTask, outcome: RunOutcome, param_types: dict[str, pa.DataType]) -> Path:
    """Write a finished run's file atomically and drop any earlier failure record of it."""
    assert outcome.ok and outcome.timeseries is not None
    ts = outcome.timeseries
    ids = {"run": task.run, "point": task.point, "replicate": task.replicate, "seed": task.seed}
    columns: dict[str, pa.Array] = {k: pa.array(np.full(len(ts), v, dtype=np.int64)) for k, v in ids.items()}
    for name, value in task.params.items():
        columns[name] = pa.array([value] * len(ts), type=param_types.get(name))
    table = pa.Table.from_pydict(columns)
    series = pa.Table.from_pandas(ts, preserve_index=False)
    for name in series.column_names:
        table = table.append_column(name, series.column(name))
    meta = {**ids, "params": task.params, "summary": outcome.summary,
            "wall_seconds": outcome.wall_seconds, "worker": outcome.worker}
    table = table.replace_schema_metadata({METADATA_KEY: json.dumps(_json_ready(meta)).encode()})
    # page checksums let a resumed sweep tell a damaged file from a finished run (_intact)
    path = io.write_atomic(run_file(root, task.run), lambda p: pq.write_table(table, p, write_page_checksum=True))
    failure_file(root, task.run).unlink(missing_ok=True)
    return path


def write_failure(root: Path, task: RunTask, outcome: RunOutcome) -> Path:
    record = {"run": task.run, "point": task.point, "replicate": task.replicate, "seed": task.seed,
              "params": task.params, "error": outcome.error, "traceback": outcome.traceback,
              "wall_seconds": outcome.wall_seconds, "worker": outcome.worker}
    return io.write_json(failure_file(root, task.run), _json_ready(record))


def read_run_metadata(path: Path) -> dict[str, Any]:
    """The ``cartsim.run`` record of a run file (ids, params, summary) without reading its data."""
    meta = pq.read_schema(path).metadata or {}
    return json.loads(meta[METADATA_KEY])


def _complete(path: Path) -> bool:
    """A Parquet file ends with its magic bytes; a truncated one (a crash of the machine, not of
    the process: renames are atomic) does not."""
    try:
        size = path.stat().st_size
        if size < 12:
            return False
        with open(path, "rb") as fh:
            fh.seek(-4, os.SEEK_END)
            return fh.read(4) == _PARQUET_MAGIC
    except OSError:
        return False


def _intact(path: Path, run: int) -> bool:
    """Whether a run file reads back whole: footer, the run's own record, and every data page
    (against its checksum). A file damaged on disk or truncated by a crash of the machine fails."""
    if not _complete(path):
        return False
    try:
        pf = pq.ParquetFile(path, page_checksum_verification=True)
        meta = json.loads((pf.schema_arrow.metadata or {})[METADATA_KEY])
        if meta.get("run") != run:
            return False
        table = pf.read()
        return table.num_rows == pf.metadata.num_rows and table.num_rows > 0
    except Exception:  # noqa: BLE001 - pyarrow raises many kinds of error on a damaged file
        return False


def scan(root: Path, clean: bool = False, damaged: list[int] | None = None) -> tuple[set[int], set[int]]:
    """Indices of finished runs and of failed runs.

    With ``clean`` (a sweep about to resume), temporary files left by a killed sweep are removed,
    and every run file is read back in full (:func:`_intact`): a damaged or truncated one is
    removed, so that its run is done again rather than trusted, and its index added to
    ``damaged``. Without ``clean`` (reading results, possibly while a sweep still writes into the
    folder) only files that do not end as a Parquet file does are skipped.
    """
    done: set[int] = set()
    failed: set[int] = set()
    for sub, bucket, suffix in ((RUNS, done, "parquet"), (FAILED, failed, "json")):
        folder = Path(root) / sub
        if not folder.is_dir():
            continue
        for entry in os.scandir(folder):
            if entry.name.startswith(".") and entry.name.endswith(".tmp"):
                if clean:
                    Path(entry.path).unlink(missing_ok=True)  # left by a sweep killed mid-write
                continue
            m = _RUN_RE.match(entry.name)
            if not m or m.group(2) != suffix:
                continue
            if suffix == "parquet":
                run = int(m.group(1))
                if not (_intact(Path(entry.path), run) if clean else _complete(Path(entry.path))):
                    if clean:
                        Path(entry.path).unlink(missing_ok=True)
                        if damaged is not None:
                            damaged.append(run)
                    continue
            bucket.add(int(m.group(1)))
    return done, failed - done


LOCK = ".sweep.lock"


class SweepLock:
    """An exclusive lock on a sweep folder, held while a sweep writes into it.

    ``fcntl.flock`` on ``DIR/.sweep.lock``: the kernel releases it when the process ends, however it
    ends, so a killed sweep never leaves a stale lock. The file holds the owner's process id for
    the message a second sweep gets.
    """

    def __init__(self, root: Path):
        self.path = Path(root) / LOCK
        self._fd: int | None = None

    def __enter__(self) -> SweepLock:
        import fcntl

        from cartsim.config import ConfigError

        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            owner = os.read(fd, 32).decode(errors="replace").strip() or "?"
            os.close(fd)
            raise ConfigError(f"{self.path.parent}: another cartsim sweep (process {owner}) is writing into this "
                              "folder; wait for it to finish, or use another --out") from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd
        return self

    def __exit__(self, *exc: object) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing releases the lock
            self._fd = None


def clear(root: Path) -> None:
    """Remove what a sweep wrote into ``root`` (``--force``); other files are left alone."""
    root = Path(root)
    for sub in (RUNS, FAILED, FIGURES):
        if (root / sub).is_dir():
            shutil.rmtree(root / sub)
    (root / MANIFEST).unlink(missing_ok=True)


# ------------------------------------------------------------------------------ manifest
def config_hash(experiment: dict[str, Any], sweep: dict[str, Any]) -> str:
    """Hash of what determines the results: the experiment (without its name and description) and
    the sweep block (without its plot hints)."""
    exp = {k: v for k, v in experiment.items() if k not in ("name", "description")}
    swp = {k: v for k, v in sweep.items() if k != "plots"}
    text = json.dumps(_json_ready({"experiment": exp, "sweep": swp}), sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def write_manifest(root: Path, manifest: dict[str, Any]) -> Path:
    return io.write_json(Path(root) / MANIFEST, _json_ready(manifest))


def read_manifest(root: Path) -> dict[str, Any]:
    from cartsim.config import ConfigError

    path = Path(root) / MANIFEST
    if not path.exists():
        raise ConfigError(f"{root}: no {MANIFEST} here; is this a sweep folder (made by `cartsim sweep`)?")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{path}: cannot read the manifest ({exc})") from None


def design_from_manifest(manifest: dict[str, Any]) -> pd.DataFrame:
    design = manifest["design"]
    table = pd.DataFrame(design["rows"], columns=design["columns"])
    table.index.name = "point"
    return table


def _flatten(data: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(data, dict):
        out: dict[str, Any] = {}
        for k, v in data.items():
            out.update(_flatten(v, f"{prefix}{k}."))
        return out
    if isinstance(data, list):
        out = {}
        for i, v in enumerate(data):
            out.update(_flatten(v, f"{prefix}{i}."))
        return out or {prefix.rstrip("."): []}
    return {prefix.rstrip("."): data}


def differences(old: dict[str, Any], new: dict[str, Any], limit: int = 6) -> list[str]:
    """Dotted paths whose values differ between two nested mappings (at most ``limit``)."""
    a, b = _flatten(_json_ready(old)), _flatten(_json_ready(new))
    keys = sorted(k for k in set(a) | set(b) if a.get(k, "<absent>") != b.get(k, "<absent>"))
    shown = [f"{k}: {a.get(k, '<absent>')!r} -> {b.get(k, '<absent>')!r}" for k in keys[:limit]]
    if len(keys) > limit:
        shown.append(f"... and {len(keys) - limit} more")
    return shown
