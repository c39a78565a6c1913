"""Free parameters as dotted config paths: checking that they exist and that their ranges make
valid experiments."""

from __future__ import annotations

from typing import Any

from cartsim.config import ConfigError, apply_overrides, parse_config


def value_at(data: dict[str, Any], path: str) -> Any:
    """The value at a dotted path of a resolved experiment mapping (list items by index)."""
    node: Any = data
    for key in path.split("."):
        node = node[int(key)] if isinstance(node, list) else node[key]
    return node


def check_path(experiment: dict[str, Any], path: str, where: str) -> Any:
    """The current value at ``path``; a :class:`ConfigError` naming ``where`` if the path does not
    exist, is a whole section, or is not a number."""
    try:
        apply_overrides(experiment, {path: None})
        value = value_at(experiment, path)
    except ConfigError as exc:
        detail = str(exc).removeprefix(f"--set {path}: ")
        raise ConfigError(f"{where}: {detail}") from None
    except (KeyError, IndexError, ValueError, TypeError):
        value = None
    if isinstance(value, (dict, list)):
        raise ConfigError(f"{where}: {path!r} is a whole section; name a single number inside it "
                          "(e.g. add '.cells' or '.0.cells')")
    if isinstance(value, bool) or (value is not None and not isinstance(value, (int, float))):
        raise ConfigError(f"{where}: {path!r} is {value!r}, not a number; only numeric settings can be fitted")
    return value


def check_values(experiment: dict[str, Any], overrides: dict[str, Any], where: str) -> None:
    """The experiment with ``overrides`` must be valid; else a ConfigError naming ``where``."""
    try:
        parse_config(apply_overrides(experiment, overrides))
    except ConfigError as exc:
        detail = str(exc).removeprefix("invalid experiment:\n").replace("\n", "; ")
        raise ConfigError(f"{where}: {detail}") from None


def block_overrides(block: Any, name: str, overrides: dict[str, Any] | None,
                    source: str | None = None) -> tuple[Any, dict[str, Any]]:
    """Apply the ``--set NAME.a.b=value`` overrides to a ``calibration:`` or ``cohort:`` block;
    returns the block and the other overrides (for the experiment)."""
    import copy

    mine = {k.removeprefix(f"{name}."): v for k, v in (overrides or {}).items() if k.startswith(f"{name}.")}
    rest = {k: v for k, v in (overrides or {}).items() if not k.startswith(f"{name}.")}
    if not mine or not isinstance(block, dict):
        return block, rest
    block = copy.deepcopy(block)
    for path, value in mine.items():
        node: Any = block
        parts = path.split(".")
        try:
            for key in parts[:-1]:
                node = node[int(key)] if isinstance(node, list) else node.setdefault(key, {})
            if isinstance(node, list):
                node[int(parts[-1])] = value
            elif isinstance(node, dict):
                node[parts[-1]] = value
            else:
                raise TypeError
        except (KeyError, IndexError, ValueError, TypeError):
            raise ConfigError(f"--set {name}.{path}: no such place in the {name}: block (list items by "
                              f"index, e.g. {name}.parameters.0.low)", source) from None
    return block, rest
