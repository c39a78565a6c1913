"""Writing result files atomically: a file is either complete or absent, never half written.

Every writer renders into a temporary file beside the target (its name starts with ``.`` and ends
with ``.tmp``) and then renames it into place in one step, so a reader, a resumed sweep or a crash
at any moment never sees a partial file; on failure the temporary file is removed. Used for every
file cartsim writes: run folders, sweep folders, figures, animations and reports.

Also the tables every run folder holds (:func:`write_run_tables`), shared by agent runs
(:mod:`cartsim.experiments.run`) and ODE runs (:mod:`cartsim.odes.results`).
"""

from __future__ import annotations

import errno
import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from cartsim._version import __version__

#: The files of a run folder (``cartsim run``, ``cartsim ode``).
CONFIG_FILE = "config.yaml"
TIMESERIES_FILE = "timeseries.parquet"
SUMMARY_FILE = "summary.json"
SNAPSHOTS_FILE = "snapshots.npz"


def _read_umask() -> int:
    # Read once at import: the umask can only be read by setting it, which races with threads
    # (the teaching page writes files from worker threads).
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


_UMASK = _read_umask()


class DiskFullError(OSError):
    """The disk (or the user's quota) is full: nothing was written, and no partial file is left."""


def write_atomic(path: str | os.PathLike, write: Callable[[Path], None], *, suffix: str = ".tmp") -> Path:
    """Call ``write(tmp)`` on a temporary file beside ``path``, then rename it into place.

    Missing parent folders are created. ``suffix`` ends the temporary file's name: keep the
    default (sweep folders clean up ``.*.tmp`` files left by a killed sweep) unless the writer
    picks its format from the file name (e.g. ffmpeg). Returns ``path``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        os.chmod(tmp_path, 0o666 & ~_UMASK)  # mkstemp makes 0600 files; results should read like any file
        write(tmp_path)
        os.replace(tmp_path, path)
    except BaseException as exc:
        tmp_path.unlink(missing_ok=True)
        if _disk_full(exc):
            raise DiskFullError(errno.ENOSPC, f"no space left on the device to write {path}; nothing partial "
                                "was kept. Free some space (or write elsewhere) and run the command again "
                                "(a sweep resumes where it stopped)") from None
        raise
    return path


def _disk_full(exc: BaseException) -> bool:
    """Whether ``exc`` says the disk or quota is full (pyarrow wraps the OSError it met in its own errors)."""
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return True
    return "No space left on device" in str(exc) or "Disk quota exceeded" in str(exc)


def write_text(path: str | os.PathLike, text: str) -> Path:
    return write_atomic(path, lambda p: p.write_text(text, encoding="utf-8"))


def write_json(path: str | os.PathLike, data: Any) -> Path:
    """JSON, indented; NaN and infinity are refused (JSON has neither)."""
    return write_text(path, json.dumps(data, indent=2, allow_nan=False) + "\n")


def write_yaml(path: str | os.PathLike, data: Any) -> Path:
    return write_text(path, yaml.safe_dump(data, sort_keys=False, allow_unicode=True))


def write_parquet(path: str | os.PathLike, df: pd.DataFrame) -> Path:
    return write_atomic(path, lambda p: df.to_parquet(p, index=False))


def write_npz(path: str | os.PathLike, arrays: dict[str, np.ndarray]) -> Path:
    """Arrays by name, compressed (``numpy.load`` reads them back)."""

    def _write(p: Path) -> None:
        with open(p, "wb") as fh:
            np.savez_compressed(fh, **arrays)

    return write_atomic(path, _write)


def write_run_tables(out: str | os.PathLike, config: dict, timeseries: pd.DataFrame, summary: dict) -> Path:
    """The files every kind of run writes into its folder ``out`` (created if needed):
    config.yaml (the resolved config with the cartsim version), timeseries.parquet and summary.json."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    write_yaml(out / CONFIG_FILE, {**config, "cartsim_version": __version__})
    write_parquet(out / TIMESERIES_FILE, timeseries)
    write_json(out / SUMMARY_FILE, summary)
    return out
