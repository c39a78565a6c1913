"""cartsim: agent-based simulation of CAR-T cell therapy against tumors, on Mesa.

    import cartsim
    result = cartsim.run(cartsim.load_config("configs/quickstart.yaml"))
    result.write("results/quickstart")
    again = cartsim.load_run("results/quickstart")

The package root is the public API only. Its names are imported on first use (PEP 562), so
importing one part of cartsim (``cartsim.config``, the ``cartsim`` command, a sweep worker) does
not load every other part; and no module inside cartsim imports the root (the version lives in
:mod:`cartsim._version`), so imports flow one way.

Importing cartsim defers pandas (:mod:`cartsim._deferred`): Mesa imports it eagerly, but a
model run does not use it, so it loads, in place, on first use, saving ~77 MiB and ~1 s in
processes that never build a table.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from cartsim._deferred import defer
from cartsim._version import __version__

defer("pandas")

# public name -> the module that defines it
_EXPORTS = {
    "CarTModel": "cartsim.model",
    "ConfigError": "cartsim.config",
    "ExperimentConfig": "cartsim.config",
    "RunResult": "cartsim.experiments.run",
    "Sweep": "cartsim.experiments.sweep",
    "SweepResults": "cartsim.experiments.results",
    "WellMixedModel": "cartsim.well_mixed",
    "load_config": "cartsim.config",
    "load_results": "cartsim.experiments.results",
    "load_run": "cartsim.experiments.run",
    "run": "cartsim.experiments.run",
}

__all__ = sorted([*_EXPORTS, "__version__"])


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        # ``cartsim.model`` and the like keep working after a bare ``import cartsim``
        try:
            return importlib.import_module(f"{__name__}.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"{__name__}.{name}":
                raise
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later look-ups do not come back here
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS})


if TYPE_CHECKING:  # what type checkers and editors see
    from cartsim.config import ConfigError, ExperimentConfig, load_config
    from cartsim.experiments.results import SweepResults, load_results
    from cartsim.experiments.run import RunResult, load_run, run
    from cartsim.experiments.sweep import Sweep
    from cartsim.model import CarTModel
    from cartsim.well_mixed import WellMixedModel
