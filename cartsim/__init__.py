"""cartsim: agent-based simulation of CAR-T cell therapy against tumors, on Mesa."""

__version__ = "0.1.0"

from cartsim.config import ConfigError, ExperimentConfig, load_config  # noqa: E402
from cartsim.experiments.results import SweepResults, load_results  # noqa: E402
from cartsim.experiments.run import RunResult, run  # noqa: E402
from cartsim.experiments.sweep import Sweep  # noqa: E402
from cartsim.model import CarTModel  # noqa: E402
from cartsim.well_mixed import WellMixedModel  # noqa: E402

__all__ = [
    "CarTModel",
    "ConfigError",
    "ExperimentConfig",
    "RunResult",
    "Sweep",
    "SweepResults",
    "WellMixedModel",
    "__version__",
    "load_config",
    "load_results",
    "run",
]
