"""Read experiment YAML, apply overrides, validate: the only way a config enters the model."""

from __future__ import annotations

import copy
import difflib
import re
import stat
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from cartsim.config.errors import ConfigError, format_validation_error
from cartsim.config.feasibility import check_feasible
from cartsim.config.schema import ExperimentConfig


#: The largest experiment file read (bytes): experiment files are a few kilobytes.
MAX_FILE_BYTES = 10 * 1024 * 1024
#: The deepest nesting of mappings and lists accepted (the schema needs 5 levels).
MAX_DEPTH = 40
#: The most values a document may hold once its aliases are expanded (a sweep's list of values
#: holds at most 100,000; an "alias bomb" expands to billions).
MAX_EXPANDED_VALUES = 1_000_000
#: The most digits of an integer (Python refuses to convert more than 4,300).
MAX_INT_DIGITS = 100


class _Loader(yaml.SafeLoader):
    """SafeLoader that reads ``1e7`` as a number (YAML 1.1 needs ``1.0e+7``; people write ``1e7``),
    and refuses what PyYAML lets through: duplicate keys (the later one would silently win), nesting
    deeper than :data:`MAX_DEPTH` (which would exhaust the stack) and integers too long to convert."""

    def __init__(self, stream):
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent, index):
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise yaml.composer.ComposerError(
                    None, None, f"nested more than {MAX_DEPTH} levels deep; an experiment needs only a few",
                    self.peek_event().start_mark)
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_mapping(self, node, deep=False):
        if isinstance(node, yaml.MappingNode):
            seen: dict[Any, Any] = {}
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue
                key = self.construct_object(key_node, deep=True)
                try:
                    first = seen.get(key)
                except TypeError:  # an unhashable key: PyYAML reports it below
                    continue
                if first is not None:
                    raise yaml.constructor.ConstructorError(
                        "while reading a mapping", node.start_mark,
                        f"duplicate key {key!r} (first at line {first.line + 1}); keep one of them",
                        key_node.start_mark)
                seen[key] = key_node.start_mark
        return super().construct_mapping(node, deep=deep)

    def construct_yaml_int(self, node):
        digits = sum(ch.isdigit() for ch in str(node.value))
        if digits > MAX_INT_DIGITS:
            raise yaml.constructor.ConstructorError(
                None, None, f"an integer with {digits} digits; no parameter needs more than {MAX_INT_DIGITS}",
                node.start_mark)
        return super().construct_yaml_int(node)


_Loader.add_constructor("tag:yaml.org,2002:int", _Loader.construct_yaml_int)
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
    """Parse a YAML mapping from ``path``; any failure becomes a :class:`ConfigError`.

    Only regular files up to :data:`MAX_FILE_BYTES` are read: a FIFO would block for ever and a
    device such as ``/dev/zero`` never ends.
    """
    path = Path(path)
    try:
        info = path.stat()
    except FileNotFoundError:
        raise ConfigError(f"file not found: {path}. Check the path (cartsim ships examples in configs/).") from None
    except (OSError, ValueError) as exc:  # ValueError: a NUL byte in the path
        raise ConfigError(f"cannot read {path}: {getattr(exc, 'strerror', None) or exc}") from None
    if stat.S_ISDIR(info.st_mode):
        raise ConfigError(f"{path} is a directory; give the path of a YAML experiment file.")
    if not stat.S_ISREG(info.st_mode):
        raise ConfigError(f"{path} is not a regular file (a device, pipe or socket); give the path of a "
                          "YAML experiment file.")
    if info.st_size > MAX_FILE_BYTES:
        raise ConfigError(f"{path} is {info.st_size / 1e6:.1f} MB; experiment files are at most "
                          f"{MAX_FILE_BYTES // (1024 * 1024)} MB (a few kB is usual). Is it the right file?")
    try:
        with open(path, "rb") as fh:
            raw = fh.read(MAX_FILE_BYTES + 1)
        if len(raw) > MAX_FILE_BYTES:  # it grew after the check
            raise ConfigError(f"{path} is over {MAX_FILE_BYTES // (1024 * 1024)} MB; is it the right file?")
        text = raw.decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from None
    return parse_yaml(text, source=str(path))


def _expanded_size(data: Any, limit: int) -> int:
    """How many values ``data`` holds with every alias expanded (shared objects counted each time
    they appear), stopping once past ``limit``; linear in the size of the document as written."""
    sizes: dict[int, int] = {}

    def size(node: Any) -> int:
        if not isinstance(node, (dict, list)):
            return 1
        known = sizes.get(id(node))
        if known is not None:
            return known
        sizes[id(node)] = limit + 1  # a cycle (a self-referencing alias) is never small
        items = list(node.items()) if isinstance(node, dict) else node
        total = 1
        for item in items:
            for part in item if isinstance(node, dict) else (item,):
                total += size(part)
                if total > limit:
                    break
            if total > limit:
                break
        sizes[id(node)] = total
        return total

    return size(data)


def parse_yaml(text: str, source: str = "<string>") -> dict[str, Any]:
    try:
        data = yaml.load(text, Loader=_Loader)  # noqa: S506 - _Loader is a SafeLoader
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"not valid YAML{where}: {problem}", source) from None
    except (RecursionError, ValueError) as exc:  # belt and braces: both are caught above as they arise
        raise ConfigError(f"not valid YAML: {exc}", source) from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError("the file must hold a mapping of sections (tissue:, tumor:, ...)", source)
    if _expanded_size(data, MAX_EXPANDED_VALUES) > MAX_EXPANDED_VALUES:
        raise ConfigError(f"the YAML aliases (*name) expand to more than {MAX_EXPANDED_VALUES:,} values; "
                          "write the values out, or use a sweep range", source)
    return data


def parse_value(text: str) -> Any:
    """A ``--set`` value, read as YAML so that ``3``, ``1e7``, ``true`` and ``[1, 2]`` get their types."""
    try:
        value = yaml.load(text, Loader=_Loader)  # noqa: S506
    except (yaml.constructor.ConstructorError, yaml.composer.ComposerError) as exc:
        raise ConfigError(f"{exc.problem}") from None  # valid YAML, but past a limit: a mistake
    except yaml.YAMLError:
        return text
    if _expanded_size(value, MAX_EXPANDED_VALUES) > MAX_EXPANDED_VALUES:
        raise ConfigError(f"the value expands to more than {MAX_EXPANDED_VALUES:,} values")
    return value


def parse_set_options(items: list[str], example: str = "dosing.0.cells=500") -> dict[str, Any]:
    """``--set PATH=VALUE`` command-line items as ``{"PATH": value}``, values read as YAML."""
    out: dict[str, Any] = {}
    for item in items:
        path, sep, value = item.partition("=")
        if not sep or not path.strip():
            raise ConfigError(f"--set {item!r}: expected dotted.path=VALUE, e.g. --set {example}")
        try:
            out[path.strip()] = parse_value(value)
        except ConfigError as exc:
            raise ConfigError(f"--set {path.strip()}: {exc}") from None
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
            if not isinstance(node, dict):
                above = ".".join(parts[:depth])
                raise ConfigError(f"--set {path}: {above!r} is a value ({node!r}), not a section; "
                                  f"use the path {above!r} itself")
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
    "cd4_fraction": "dosing.0.cd4_fraction",
    "memory": "car_t.memory.enabled",
    "pd1": "car_t.pd1.enabled",
    "trogocytosis": "car_t.trogocytosis.enabled",
    "ifng_bystander": "tumor.ifng_bystander.enabled",
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
    """Validate a mapping against the schema and check that it can run (time step, records, steps,
    memory: :func:`cartsim.config.feasibility.check_feasible`), raising one :class:`ConfigError`
    listing every problem."""
    # a run's resolved config.yaml records the version it was made with; it can be run again
    data = {k: v for k, v in data.items() if k != "cartsim_version"}
    try:
        config = ExperimentConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(
            "invalid experiment:\n" + format_validation_error(exc, ExperimentConfig), source
        ) from None
    try:
        check_feasible(config)  # every check a run makes, so that a valid experiment runs
    except ConfigError as exc:
        raise ConfigError(str(exc), source) from None
    return config


def load_config(path: str | Path, overrides: dict[str, Any] | None = None) -> ExperimentConfig:
    """Load and validate a YAML experiment file, with optional ``{"dotted.path": value}`` overrides."""
    data = read_yaml(path)
    if overrides:
        try:
            data = apply_overrides(data, overrides)
        except ConfigError as exc:
            raise ConfigError(str(exc), str(path)) from None
    return parse_config(data, source=str(path))
