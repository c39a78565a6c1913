"""The observed data of a calibration: a CSV file with a ``day`` column, read and checked.

Every problem becomes one :class:`~cartsim.config.ConfigError` naming the setting
(``calibration.data.file`` or ``calibration.data.columns``) and what to change.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from cartsim.config import ConfigError
from cartsim.config.loading import MAX_FILE_BYTES

#: The column of days every data file must have.
DAY = "day"


def resolve_data_path(file: str, source: str | None) -> Path:
    """``file`` as given, or relative to the folder of the experiment file ``source``."""
    path = Path(file).expanduser()
    if not path.is_absolute() and source is not None:
        path = Path(source).parent / path
    return path


def read_observed(path: Path, columns: dict[str, str], duration_days: float) -> pd.DataFrame:
    """The data as a table: ``day`` and one column per model column (renamed from the CSV's names),
    sorted by day. Missing values (empty cells) are kept as NaN and left out of the fit.

    Raises:
        ConfigError: the file is missing or unreadable, has no ``day`` column or lacks a named
            column, holds non-numbers or negative values, or days outside the simulated time.
    """
    where = "calibration.data.file"
    if not path.is_file():
        raise ConfigError(f"{where}: no such file {str(path)!r}. Give the path of a CSV file with a 'day' "
                          "column, absolute or relative to the experiment file")
    if path.stat().st_size > MAX_FILE_BYTES:
        raise ConfigError(f"{where}: {path} is over {MAX_FILE_BYTES // (1024 * 1024)} MB; a data file holds "
                          "a few time points")
    try:
        table = pd.read_csv(path, skipinitialspace=True)
    except (OSError, ValueError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{where}: cannot read {path} as CSV ({str(exc).splitlines()[0]})") from None
    table.columns = [str(c).strip() for c in table.columns]
    if DAY not in table.columns:
        raise ConfigError(f"{where}: {path.name} has no '{DAY}' column (its columns: "
                          f"{', '.join(table.columns) or 'none'}). Put the time of each row, in days, "
                          f"in a column headed '{DAY}'")
    missing = [csv for csv in columns.values() if csv not in table.columns]
    if missing:
        raise ConfigError(f"calibration.data.columns: {path.name} has no column {', '.join(map(repr, missing))} "
                          f"(its columns: {', '.join(table.columns)}). Name CSV columns that exist, e.g. "
                          f"columns: {{tumor_total: {[c for c in table.columns if c != DAY][:1] or ['tumor']}[0]}}")
    out = pd.DataFrame({DAY: table[DAY]})
    for model_col, csv_col in columns.items():
        out[model_col] = table[csv_col]
    for col in out.columns:
        values = pd.to_numeric(out[col], errors="coerce")
        bad = out[col][values.isna() & out[col].notna()]
        if len(bad):
            raise ConfigError(f"{where}: column {col if col == DAY else columns[col]!r} of {path.name} holds "
                              f"{bad.iloc[0]!r}, not a number; write plain numbers (empty cells mark missing "
                              "values)")
        out[col] = values.astype(float)
    if out.empty or out.drop(columns=DAY).notna().sum().sum() == 0:
        raise ConfigError(f"{where}: {path.name} holds no data rows; add at least one row with a day and a value")
    if out[DAY].isna().any() or not np.isfinite(out[DAY]).all():
        raise ConfigError(f"{where}: every row of {path.name} needs a finite '{DAY}'")
    if (out[DAY] < 0).any() or (out[DAY] > duration_days + 1e-9).any():
        raise ConfigError(f"{where}: days in {path.name} must lie between 0 and the simulated time "
                          f"(time.duration_days = {duration_days:g}); got {out[DAY].min():g} to {out[DAY].max():g}")
    values = out.drop(columns=DAY).to_numpy()
    if (values[np.isfinite(values)] < 0).any() or np.isinf(values).any():
        raise ConfigError(f"{where}: values in {path.name} must be finite and >= 0 (cell counts)")
    return out.sort_values(DAY, kind="stable").reset_index(drop=True)
