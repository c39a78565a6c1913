"""Read experiment YAML, apply overrides, validate: the only way a config enters the model."""

from __future__ import annotations

import copy
import difflib
import re
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from cartsim.config.errors import ConfigError, format_validation_error
from cartsim.config.schema import ExperimentConfig


class _Loader(yaml.SafeLoader):
    """SafeLoader that reads ``1e7`` as a number (YAML 1.1 needs ``1.0e+7``; people write ``1e7``)."""


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(
        r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
        |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
        |\.[0-9_]+(?:[eE][-+]?[0-9]+)?
        |[-+]?\.(?:inf|Inf|INF)
        |\.(?:nan|NaN|NAN))$""",
        re.X,
    ),
    list("-+0123456789."),
)


def read_yaml(path: str | Path) -> dict[str, Any]:
    """Parse a YAML mapping from ``path``; any failure becomes a :class:`ConfigError`."""
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"file not found: {path}. Check the path (cartsim ships examples in configs/).")
    if path.is_dir():
        raise ConfigError(f"{path} is a directory; give the path of a YAML experiment file.")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from None
    return parse_yaml(text, source=str(path))


def parse_yaml(text: str, source: str = "<string>") -> dict[str, Any]:
    try:
        data = yaml.load(text, Loader=_Loader)  # noqa: S506 - _Loader is a SafeLoader
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"not valid YAML{where}: {problem}", source) from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError("the file must hold a mapping of sections (tissue:, tumor:, ...)", source)
    return data


def parse_value(text: str) -> Any:
    """A ``--set`` value, read as YAML so that ``3``, ``1e7``, ``true`` and ``[1, 2]`` get their types."""
    try:
        return yaml.load(text, Loader=_Loader)  # noqa: S506
    except yaml.YAMLError:
        return text


def parse_set_options(items: list[str], example: str = "dosing.0.cells=500") -> dict[str, Any]:
    """``--set PATH=VALUE`` command-line items as ``{"PATH": value}``, values read as YAML."""
    out: dict[str, Any] = {}
    for item in items:
        path, sep, value = item.partition("=")
        if not sep or not path.strip():
            raise ConfigError(f"--set {item!r}: expected dotted.path=VALUE, e.g. --set {example}")
        out[path.strip()] = parse_value(value)
    return out


def _schema_defaults() -> dict[str, Any]:
    return ExperimentConfig().model_dump(mode="python")


def apply_overrides(data: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """Return a copy of ``data`` with ``{"dotted.path": value}`` overrides applied.

    List items are addressed by index (``dosing.0.cells``). A path that does not exist in the
    file or in the schema's defaults is an error naming the nearest valid paths.
    """
    data = copy.deepcopy(data)
    defaults = _schema_defaults()
    for path, value in overrides.items():
        parts = path.split(".")
        node: Any = data
        ref: Any = defaults
        for depth, key in enumerate(parts):
            last = depth == len(parts) - 1
            here = ".".join(parts[: depth + 1])
            if isinstance(node, list) or isinstance(ref, list):
                seq = node if isinstance(node, list) else None
                if not key.isdigit():
                    raise ConfigError(f"--set {path}: {parts[depth - 1]!r} is a list; use an index, e.g. {'.'.join(parts[:depth])}.0")
                idx = int(key)
                if seq is None or idx >= len(seq):
                    n = len(seq) if seq is not None else 0
                    raise ConfigError(f"--set {path}: index {idx} out of range ({n} item(s) in {'.'.join(parts[:depth])})")
                if last:
                    seq[idx] = value
                else:
                    node = seq[idx]
                    ref = ref[0] if isinstance(ref, list) and ref else {}
                continue
            valid = set(node) | (set(ref) if isinstance(ref, dict) else set())
            if key not in valid and not (isinstance(ref, dict) and not ref and depth > 0):
                close = difflib.get_close_matches(key, sorted(valid), n=3, cutoff=0.5)
                hint = f" Did you mean {', '.join(repr('.'.join(parts[:depth] + [c])) for c in close)}?" if close else (
                    f" Valid keys here: {', '.join(sorted(valid))}." if valid else "")
                raise ConfigError(f"--set {path}: no parameter {here!r}.{hint}")
            if last:
                node[key] = value
            else:
                if key not in node:
                    node[key] = copy.deepcopy(ref.get(key, {})) if isinstance(ref, dict) else {}
                node = node[key]
                ref = ref.get(key, {}) if isinstance(ref, dict) else {}
    return data


# Flat keyword parameters accepted by CarTModel (and so by mesa.batch_run and the browser
# page), each mapped onto a config path. Any dotted path is accepted as well.
SHORTCUTS: dict[str, str] = {
    "dose": "dosing.0.cells",
    "infusion_day": "dosing.0.day",
    "route": "dosing.0.route",
    "duration_days": "time.duration_days",
    "tumor_cells": "tumor.initial.cells",
    "tumor_type": "tumor.initial.type",
    "kill_rate_per_h": "car_t.kill_rate_per_h",
    "width": "tissue.width",
    "height": "tissue.height",
}


def resolve_shortcuts(params: dict[str, Any], data: dict[str, Any]) -> dict[str, Any]:
    """Map keyword parameters (shortcuts, antigen-wide settings or dotted paths) to dotted paths.

    ``antigen_loss_probability`` and ``negative_fraction`` set that value for every antigen;
    ``product`` picks the product given by the first infusion.
    """
    out: dict[str, Any] = {}
    antigens = list((data.get("antigens") or _schema_defaults()["antigens"]).keys())
    for key, value in params.items():
        if key in SHORTCUTS:
            out[SHORTCUTS[key]] = value
        elif key in ("antigen_loss_probability", "negative_fraction"):
            field = "loss_probability" if key == "antigen_loss_probability" else key
            for a in antigens:
                out[f"antigens.{a}.{field}"] = value
        elif key == "product":
            out["dosing.0.product"] = value
        elif "." in key:
            out[key] = value
        else:
            known = sorted([*SHORTCUTS, "antigen_loss_probability", "negative_fraction", "product"])
            close = difflib.get_close_matches(key, known, n=3, cutoff=0.5)
            hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
            raise ConfigError(
                f"unknown model parameter {key!r}.{hint} Use one of {', '.join(known)}, "
                "or a dotted config path such as 'tumor.doubling_time_h'."
            )
    return out


def parse_config(data: dict[str, Any], source: str | None = None) -> ExperimentConfig:
    """Validate a mapping against the schema, raising one :class:`ConfigError` listing every problem."""
    # a run's resolved config.yaml records the version it was made with; it can be run again
    data = {k: v for k, v in data.items() if k != "cartsim_version"}
    try:
        return ExperimentConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(
            "invalid experiment:\n" + format_validation_error(exc, ExperimentConfig), source
        ) from None


def load_config(path: str | Path, overrides: dict[str, Any] | None = None) -> ExperimentConfig:
    """Load and validate a YAML experiment file, with optional ``{"dotted.path": value}`` overrides."""
    data = read_yaml(path)
    if overrides:
        try:
            data = apply_overrides(data, overrides)
        except ConfigError as exc:
            raise ConfigError(str(exc), str(path)) from None
    return parse_config(data, source=str(path))
