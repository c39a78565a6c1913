"""Units, physical constants and the names of cell states, shared by every layer.

The core (agents, environment, model) takes these from here, not from the config schema or
the snapshot module, so that the layers below the config do not depend on it. Time units and
the conversion of rates into per-step probabilities are in :mod:`cartsim.rates`.
"""

from __future__ import annotations

AVOGADRO = 6.02214076e23  # molecules per mole (exact, SI 2019)

#: CAR-T cell states, in the order of their integer codes (the kernels and snapshots use the codes).
CAR_T_STATES = ("active", "engaged", "exhausted")

#: Codes of a snapshot's ``tcell_state`` layer: the states, then memory cells (resting cells of
#: ``car_t.memory``, which are ``active`` in the model but are drawn apart).
TCELL_PICTURE_STATES = (*CAR_T_STATES, "memory")
MEMORY_PICTURE_CODE = TCELL_PICTURE_STATES.index("memory")


def site_volume_litre(site_um: float) -> float:
    """Volume of one site (a cube of side ``site_um`` µm), in litres."""
    return site_um**3 * 1e-15


def molecules_to_pM(site_um: float) -> float:
    """Factor converting molecules per site into picomolar."""
    return 1e12 / (AVOGADRO * site_volume_litre(site_um))


def phenotype_name(code: int, antigens: tuple[str, ...]) -> str:
    """Name of a tumor phenotype code: bit ``i`` set means antigen ``i`` is present.

    >>> phenotype_name(1, ("CD19", "CD22"))
    'CD19+CD22-'
    """
    return "".join(f"{name}{'+' if code >> i & 1 else '-'}" for i, name in enumerate(antigens))


def phenotype_names(antigens: tuple[str, ...]) -> list[str]:
    """All phenotype names, indexed by code (``2**len(antigens)`` of them)."""
    return [phenotype_name(code, antigens) for code in range(2 ** len(antigens))]
