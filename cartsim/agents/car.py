"""CAR designs: which tumor cells a CAR-T product recognises, and how likely one contact binds.

A product targets one or more antigens with a logic gate, looked up by name in
:data:`cartsim.agents.gates.LOGIC_GATES`:

* ``single``: the one antigen activates.
* ``or``: either antigen activates, ``P = 1 - Π(1 - P_i)`` (escape needs every target lost).
* ``and``: every antigen is needed, ``P = Π P_i`` (loss of any target escapes).
* ``not``: the first antigen activates unless others are there, ``P = P_0 · Π_{i>0} (1 - P_i)``
  (an inhibitory CAR; Fedorov et al. 2013).

Per-antigen activation depends on antigen density (molecules per cell), by the rule named in
``products[i].activation.rule``, looked up in :data:`ACTIVATION_RULES`:

* ``threshold``: binds on contact when density >= threshold (Majzner et al. 2020: ~2,000 CD19
  per cell for a CD19-28ζ CAR).
* ``carcade``: CARCADE's binding probability (Prybutok et al. 2022),
  ``h = A·f/(K_D·β + A·f) · (CARs/50,000) · α`` and ``P = 2/(1 + e^{-h}) - 1``,
  with the affinity converted to molecules per site volume, ``K_D·V_site·N_A``.

A new rule is a settings class in :data:`cartsim.config.schema.ACTIVATION_CONFIGS` (its
parameters, units and sources) and one function here; a new gate is one entry in
:data:`~cartsim.agents.gates.LOGIC_GATES`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np

from cartsim import rates
from cartsim.agents.gates import Gate, gate
from cartsim.config.schema import ProductConfig
from cartsim.units import AVOGADRO, site_volume_litre


def threshold_binding(density: np.ndarray, activation, site_um: float) -> np.ndarray:
    """Binds on every contact when the cell carries at least ``activation.threshold`` antigens."""
    return (density >= activation.threshold).astype(float) * (density > 0)


def carcade_binding(density: np.ndarray, activation, site_um: float) -> np.ndarray:
    """CARCADE's saturating binding probability (Prybutok et al. 2022, Front Mol Biosci)."""
    kd_molecules = activation.kd_M * site_volume_litre(site_um) * AVOGADRO
    af = density * activation.f
    h = af / (kd_molecules * activation.beta + af) * (activation.cars_per_cell / 50_000.0) * activation.alpha
    h = np.where(density > 0, h, 0.0)
    return 2.0 / (1.0 + np.exp(-h)) - 1.0


#: Binding probability per contact for one antigen, by ``activation.rule``:
#: ``f(density, activation, site_um)`` with ``density`` in molecules per cell.
ACTIVATION_RULES: MappingProxyType[str, Callable[[np.ndarray, object, float], np.ndarray]] = MappingProxyType({
    "threshold": threshold_binding,
    "carcade": carcade_binding,
})


def activation_rule(name: str) -> Callable[[np.ndarray, object, float], np.ndarray]:
    """The binding function of rule ``name``; a ValueError listing the rules if there is none."""
    try:
        return ACTIVATION_RULES[name]
    except KeyError:
        raise ValueError(f"unknown activation rule {name!r}; the rules are {', '.join(ACTIVATION_RULES)}") from None


def antigen_binding_probability(density: np.ndarray, activation, site_um: float) -> np.ndarray:
    """Probability that one contact with a cell of ``density`` antigens binds (per antigen)."""
    return activation_rule(activation.rule)(np.asarray(density, dtype=float), activation, site_um)


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
        gate(product.logic)  # an unknown gate fails here, not at the first contact
        activation_rule(product.activation.rule)
        return cls(
            name=product.name,
            antigen_index=tuple(antigens.index(t) for t in product.targets),
            logic=product.logic,
            activation=product.activation,
            site_um=site_um,
        )

    @property
    def gate(self) -> Gate:
        return gate(self.logic)

    def encounter_probability(self, densities: np.ndarray) -> np.ndarray:
        """Binding probability per contact for cells with ``densities`` of shape (n_cells, n_antigens)."""
        densities = np.atleast_2d(densities)
        per_antigen = np.array([
            antigen_binding_probability(densities[:, i], self.activation, self.site_um)
            for i in self.antigen_index
        ])
        return self.gate.combine(per_antigen)

    def binding_per_step(self, densities: np.ndarray, hop_rate_per_min: float, dt_min: float) -> np.ndarray:
        """Per-step binding probability of a contact with cells of ``densities`` (n_cells, n_antigens).

        The whole-encounter probability (:meth:`encounter_probability`) spread over an
        encounter's mean duration ``1/hop_rate_per_min`` as a constant hazard, for steps of
        ``dt_min`` minutes (:func:`cartsim.rates.encounter_probability_per_step`), so that a
        contact binds with the same probability at any step length.
        """
        return rates.encounter_probability_per_step(self.encounter_probability(densities),
                                                    hop_rate_per_min, dt_min)
