"""A picture of the tissue at one moment: plain arrays, no model objects.

Snapshots are what the model hands to plots, the results store and the browser page, so that
those layers never reach back into a running model.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from cartsim.units import CAR_T_STATES, MEMORY_PICTURE_CODE, TCELL_PICTURE_STATES, phenotype_name, phenotype_names

__all__ = ["CAR_T_STATES", "EMPTY", "TCELL_PICTURE_STATES", "Snapshot", "default_legend", "phenotype_name",
           "phenotype_names"]

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
        tcell_state: int8, ``-1`` for no CAR-T cell, else an index into ``TCELL_PICTURE_STATES``
            (the ``CAR_T_STATES``, then ``memory`` for the memory cells of ``car_t.memory``).
        dead_age_h: float32, hours since a tumor cell died at the site (``inf`` where none did);
            lets pictures fade dead cells out.
        cytokines: concentration fields in pM, keyed by cytokine name (e.g. ``"IL6"``).
        legend: what the codes of the layers mean, ``(layer, code, label)`` for each code a
            picture shows, as the model's populations state it (:meth:`Population.legend`);
            empty means the standard one, :func:`default_legend`.
    """

    day: float
    antigens: tuple[str, ...]
    site_um: float
    tumor_phenotype: np.ndarray
    tumor_antigen: np.ndarray
    tcell_state: np.ndarray
    dead_age_h: np.ndarray
    cytokines: dict[str, np.ndarray] = field(default_factory=dict)
    legend: tuple[tuple[str, int, str], ...] = ()

    @property
    def legend_entries(self) -> tuple[tuple[str, int, str], ...]:
        """``legend``, or the standard legend of these antigens when the snapshot has none."""
        return self.legend or default_legend(self.antigens,
                                             memory=bool((self.tcell_state == MEMORY_PICTURE_CODE).any()))

    @property
    def shape(self) -> tuple[int, int]:
        return self.tumor_phenotype.shape

    @property
    def phenotypes(self) -> list[str]:
        return phenotype_names(self.antigens)


def default_legend(antigens: tuple[str, ...] | list[str], *, memory: bool = False) -> tuple[tuple[str, int, str], ...]:
    """The legend of a model with a tumor and CAR-T: every phenotype, then every CAR-T state
    (and memory cells, with ``memory``)."""
    states = TCELL_PICTURE_STATES if memory else CAR_T_STATES
    return (*(("tumor_phenotype", code, name) for code, name in enumerate(phenotype_names(tuple(antigens)))),
            *(("tcell_state", code, f"CAR-T {state}") for code, state in enumerate(states)))
