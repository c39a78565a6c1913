"""The progress bar of every long task (runs, sweeps, validation, animation, downloads).

tqdm's bar, without its monitor thread: that thread only corrects bars that go long without
an update, which these do not, and a process with a second thread cannot safely fork its sweep
workers from itself (see :mod:`cartsim.experiments.executors`).
"""

from __future__ import annotations

from tqdm.auto import tqdm


class ProgressBar(tqdm):
    """``tqdm.auto.tqdm`` (a text bar in a terminal, a widget in a notebook) with no monitor thread."""

    monitor_interval = 0
