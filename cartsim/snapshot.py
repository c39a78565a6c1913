"""A picture of the tissue at one moment: plain arrays, no model objects.

Snapshots are what the model hands to plots, the results store and the browser page, so that
those layers never reach back into a running model.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

# Codes used in ``Snapshot.tcell_state``; the same order as ``CAR_T_STATES``.
CAR_T_STATES = ("active", "engaged", "exhausted")
EMPTY = -1


def phenotype_name(code: int, antigens: tuple[str, ...]) -> str:
    """Name of a tumor phenotype code: bit ``i`` set means antigen ``i`` is present.

    >>> phenotype_name(1, ("CD19", "CD22"))
    'CD19+CD22-'
    """
    return "".join(f"{name}{'+' if code >> i & 1 else '-'}" for i, name in enumerate(antigens))


def phenotype_names(antigens: tuple[str, ...]) -> list[str]:
    """All phenotype names, indexed by code (``2**len(antigens)`` of them)."""
    return [phenotype_name(code, antigens) for code in range(2 ** len(antigens))]


@dataclass(frozen=True)
class Snapshot:
    """State of the tissue grid at ``day``.

    Arrays are indexed ``[row, column]`` = ``[y, x]``; one site is ``site_um`` µm wide.

    Attributes:
        day: simulated time (days since the start of the run).
        antigens: antigen names, in the order used by phenotype codes and ``tumor_antigen``.
        site_um: side of one tissue site (µm).
        tumor_phenotype: int8, ``-1`` for no tumor cell, else the phenotype code
            (bit ``i`` set = antigen ``i`` present; see :func:`phenotype_name`).
        tumor_antigen: float32 of shape ``(n_antigens, H, W)``, antigen density
            (molecules per cell, 0 where no cell or antigen lost).
        tcell_state: int8, ``-1`` for no CAR-T cell, else an index into ``CAR_T_STATES``.
        dead_age_h: float32, hours since a tumor cell died at the site (``inf`` where none did);
            lets pictures fade dead cells out.
        cytokines: concentration fields in pM, keyed by cytokine name (e.g. ``"IL6"``).
    """

    day: float
    antigens: tuple[str, ...]
    site_um: float
    tumor_phenotype: np.ndarray
    tumor_antigen: np.ndarray
    tcell_state: np.ndarray
    dead_age_h: np.ndarray
    cytokines: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def shape(self) -> tuple[int, int]:
        return self.tumor_phenotype.shape

    @property
    def phenotypes(self) -> list[str]:
        return phenotype_names(self.antigens)
