"""CAR logic gates: how the binding probabilities of a CAR's targets combine into one.

:data:`LOGIC_GATES` is the registry: a gate is one entry, a function of the per-target binding
probabilities ``p`` (shape ``(n_targets, n_cells)``, in the order of ``products[i].targets``)
and the number of targets it takes. The config (``products[i].logic``) is checked against this
table, :class:`cartsim.agents.car.CarDesign` combines with it, and the page reads from it
which tumor phenotypes a design cannot see. This module imports nothing from cartsim, so the
config schema can use it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np


@dataclass(frozen=True)
class Gate:
    """One logic gate: ``combine(p)`` gives each cell's binding probability per contact."""

    combine: Callable[[np.ndarray], np.ndarray]
    min_targets: int
    max_targets: int
    meaning: str


def any_binds(p: np.ndarray) -> np.ndarray:
    """At least one target binds: ``1 - Π(1 - p_i)`` (escape needs every target lost)."""
    return 1.0 - np.prod(1.0 - p, axis=0)


def all_bind(p: np.ndarray) -> np.ndarray:
    """Every target binds: ``Π p_i`` (losing any target escapes)."""
    return np.prod(p, axis=0)


def first_binds_unless_others(p: np.ndarray) -> np.ndarray:
    """The first target activates and any other target vetoes: ``p_0 · Π_{i>0} (1 - p_i)``.

    An inhibitory CAR (iCAR) against an antigen of healthy tissue spares the cells that carry it
    (Fedorov et al. 2013, Sci Transl Med 5:215ra172).
    """
    return p[0] * np.prod(1.0 - p[1:], axis=0)


MAX_TARGETS = 4  # products[i].targets holds at most 4 antigens

#: Logic gates by name (``products[i].logic``). A new gate is one entry here.
LOGIC_GATES = MappingProxyType({
    "single": Gate(any_binds, 1, 1, "one antigen activates"),
    "or": Gate(any_binds, 2, MAX_TARGETS, "either antigen activates"),
    "and": Gate(all_bind, 2, MAX_TARGETS, "every antigen is needed"),
    "not": Gate(first_binds_unless_others, 2, MAX_TARGETS,
                "the first antigen activates unless the cell also carries any of the others "
                "(an inhibitory CAR)"),
})


def gate(name: str) -> Gate:
    """The gate called ``name``; a ValueError listing the gates if there is none."""
    try:
        return LOGIC_GATES[name]
    except KeyError:
        raise ValueError(f"unknown logic gate {name!r}; the gates are {', '.join(LOGIC_GATES)}") from None
