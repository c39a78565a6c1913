"""CAR designs: which tumor cells a CAR-T product recognises, and how likely one contact binds.

A product targets one or more antigens with a logic gate:

* ``single``: the one antigen activates.
* ``or``: either antigen activates, ``P = 1 - Π(1 - P_i)`` (escape needs every target lost).
* ``and``: every antigen is needed, ``P = Π P_i`` (loss of any target escapes).

Per-antigen activation depends on antigen density (molecules per cell):

* ``threshold``: binds on contact when density >= threshold (Majzner et al. 2020: ~2,000 CD19
  per cell for a CD19-28ζ CAR).
* ``carcade``: CARCADE's binding probability (Prybutok et al. 2022),
  ``h = A·f/(K_D·β + A·f) · (CARs/50,000) · α`` and ``P = 2/(1 + e^{-h}) - 1``,
  with the affinity converted to molecules per site volume, ``K_D·V_site·N_A``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cartsim.config.schema import AVOGADRO, CarcadeActivation, ProductConfig, site_volume_litre


def antigen_binding_probability(density: np.ndarray, activation, site_um: float) -> np.ndarray:
    """Probability that one contact with a cell of ``density`` antigens binds (per antigen)."""
    density = np.asarray(density, dtype=float)
    if isinstance(activation, CarcadeActivation):
        kd_molecules = activation.kd_M * site_volume_litre(site_um) * AVOGADRO
        af = density * activation.f
        h = af / (kd_molecules * activation.beta + af) * (activation.cars_per_cell / 50_000.0) * activation.alpha
        h = np.where(density > 0, h, 0.0)
        return 2.0 / (1.0 + np.exp(-h)) - 1.0
    return (density >= activation.threshold).astype(float) * (density > 0)


@dataclass(frozen=True)
class CarDesign:
    """A product resolved against the experiment's antigen list."""

    name: str
    antigen_index: tuple[int, ...]
    logic: str
    activation: object
    site_um: float

    @classmethod
    def from_config(cls, product: ProductConfig, antigens: tuple[str, ...], site_um: float) -> CarDesign:
        return cls(
            name=product.name,
            antigen_index=tuple(antigens.index(t) for t in product.targets),
            logic=product.logic,
            activation=product.activation,
            site_um=site_um,
        )

    def encounter_probability(self, densities: np.ndarray) -> np.ndarray:
        """Binding probability per contact for cells with ``densities`` of shape (n_cells, n_antigens)."""
        densities = np.atleast_2d(densities)
        per_antigen = [
            antigen_binding_probability(densities[:, i], self.activation, self.site_um)
            for i in self.antigen_index
        ]
        if self.logic == "and":
            return np.prod(per_antigen, axis=0)
        # single and or: at least one target binds
        return 1.0 - np.prod([1.0 - p for p in per_antigen], axis=0)
