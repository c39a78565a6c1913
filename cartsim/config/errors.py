"""Turn validation failures into one message a modeler can act on."""

from __future__ import annotations

import difflib
from types import UnionType
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError


#: Longest line of an error message, and most lines, before the rest is summarised.
MAX_LINE_CHARS = 400
MAX_LINES = 25


def summarise(message: str, max_line: int = MAX_LINE_CHARS, max_lines: int = MAX_LINES) -> str:
    """``message`` with over-long lines cut and a long list of lines shortened, each saying how much
    was left out (a value built from YAML aliases can print as hundreds of kilobytes)."""
    lines = message.splitlines() or [""]
    out = [line if len(line) <= max_line else f"{line[:max_line]}... ({len(line) - max_line:,} more characters)"
           for line in lines[:max_lines]]
    if len(lines) > max_lines:
        out.append(f"... and {len(lines) - max_lines:,} more lines")
    return "\n".join(out)


class ConfigError(ValueError):
    """A problem with an experiment file or override; its message names the field and the fix."""

    def __init__(self, message: str, source: str | None = None):
        self.source = source
        super().__init__(summarise(f"{source}: {message}" if source else message))


def _dotted(loc: tuple[Any, ...]) -> str:
    parts: list[str] = []
    for item in loc:
        parts.append(f"[{item}]" if isinstance(item, int) else ("." if parts else "") + str(item))
    return "".join(parts) or "(top level)"


def _options(ann: Any) -> list[Any]:
    """The alternatives of an annotation: ``X | None`` -> [X]; a tagged union -> its members."""
    while get_origin(ann) is Annotated:
        ann = get_args(ann)[0]
    if get_origin(ann) in (Union, UnionType):
        return [a for a in get_args(ann) if a is not type(None)]
    return [ann]


def _is_section(ann: Any) -> bool:
    return isinstance(ann, type) and issubclass(ann, BaseModel)


def _walk(root: type[BaseModel], loc: tuple[Any, ...]) -> tuple[tuple[Any, ...], type[BaseModel] | None]:
    """Follow an error location through the schema.

    Returns the location without the tags pydantic inserts for tagged unions (so that
    ``activation.threshold.x`` reads ``activation.x``), and the section that owns the last key.
    """
    clean: list[Any] = []
    ann: Any = root
    owner: type[BaseModel] | None = None
    items = list(loc)
    while items:
        options = _options(ann)
        if len(options) > 1:  # a tagged union: the next item names the member
            tag = items.pop(0)
            ann = next((o for o in options if _is_section(o) and any(
                key in o.model_fields and o.model_fields[key].default == tag
                or key in o.model_fields and get_args(o.model_fields[key].annotation) == (tag,)
                for key in ("rule", "kind"))), None)
            continue
        ann = options[0]
        item = items.pop(0)
        clean.append(item)
        if get_origin(ann) in (list, dict):  # an index or a mapping key
            ann = get_args(ann)[-1]
            owner = None
        elif _is_section(ann):
            owner = ann
            field = ann.model_fields.get(item)
            ann = field.annotation if field is not None else None
        else:
            owner, ann = None, None
    return tuple(clean), owner


def _describe_range(model: type[BaseModel] | None, name: Any) -> str:
    if model is None or name not in model.model_fields:
        return ""
    field = model.model_fields[name]
    bounds = []
    for meta in field.metadata:
        for attr, sym in (("gt", ">"), ("ge", ">="), ("lt", "<"), ("le", "<=")):
            value = getattr(meta, attr, None)
            if value is not None:
                bounds.append(f"{sym} {value}")
    extra = field.json_schema_extra if isinstance(field.json_schema_extra, dict) else {}
    unit = extra.get("unit")
    if not bounds:
        return ""
    return " Allowed: " + " and ".join(bounds) + (f" ({unit})." if unit and unit != "-" else ".")


def format_validation_error(err: ValidationError, root: type[BaseModel]) -> str:
    """One line per problem: ``path: what is wrong (got X). What is allowed / did you mean``."""
    lines = []
    for e in err.errors(include_url=False):
        loc, owner = _walk(root, tuple(e["loc"]))
        path = _dotted(loc)
        name = loc[-1] if loc else ""
        if e["type"] == "extra_forbidden":
            msg = f"{path}: unknown key."
            if owner is not None:
                close = difflib.get_close_matches(str(name), list(owner.model_fields), n=3, cutoff=0.5)
                if close:
                    msg += " Did you mean " + " or ".join(repr(c) for c in close) + "?"
                else:
                    msg += " Valid keys here: " + ", ".join(sorted(owner.model_fields)) + "."
        elif e["type"] in ("union_tag_invalid", "union_tag_not_found"):
            # a tagged union (a treatment's kind, an activation rule): name the tag and its choices
            ctx = e.get("ctx", {})
            key = str(ctx.get("discriminator", "")).strip("'\"")
            choices = ctx.get("expected_tags", "")
            if e["type"] == "union_tag_not_found":
                from cartsim.config.schema import TREATMENT_CONFIGS  # the one tagged union without a default

                kinds = ", ".join(repr(k) for k in TREATMENT_CONFIGS) if key == "kind" else choices
                msg = f"{path}.{key}: required but missing; choose one of {kinds}." if key else f"{path}: {e['msg']}."
            else:
                msg = f"{path}.{key}: unknown {key} {ctx.get('tag')!r}; choose one of {choices}."
        elif e["type"] == "missing":
            msg = f"{path}: required but missing."
        else:
            got = e.get("input")
            shown = repr(got) if not isinstance(got, (dict, list)) else type(got).__name__
            text = e["msg"].removeprefix("Value error, ")
            if e["type"] != "value_error":
                msg = f"{path}: {text} (got {shown})."
            else:  # our own validators already name the field when it is not the one at ``loc``
                msg = f"{path}: {text}." if loc else f"{text}."
            msg += _describe_range(owner, name)
        lines.append(msg)
    return "\n".join(lines)
