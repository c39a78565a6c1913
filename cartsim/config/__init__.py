"""Experiment configuration: one validated schema, loaded from YAML, with overrides."""

from cartsim.config.errors import ConfigError
from cartsim.config.loading import apply_overrides, load_config, parse_config, resolve_shortcuts
from cartsim.config.schema import ExperimentConfig

__all__ = [
    "ConfigError",
    "ExperimentConfig",
    "apply_overrides",
    "load_config",
    "parse_config",
    "resolve_shortcuts",
]
