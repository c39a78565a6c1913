"""A picture of the tissue at one moment: plain arrays, no model objects.

Snapshots are what the model hands to plots, the results store and the browser page, so that
those layers never reach back into a running model.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from cartsim.units import CAR_T_STATES, phenotype_name, phenotype_names  # CAR_T_STATES: codes of ``tcell_state``

__all__ = ["CAR_T_STATES", "EMPTY", "Snapshot", "phenotype_name", "phenotype_names"]

EMPTY = -1


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
