"""Spaces: where cells may go. The populations ask the space, never ``if stirred``.

A space answers the geometric questions of the rules: where an initial nodule is centred
(:meth:`distance_from_centre`), where infused cells enter (:meth:`entry_key`), where a
daughter goes (:meth:`daughter_site`), and, through its ``kind`` code, how the compiled rules
pick hop targets and neighbourhoods (:mod:`cartsim.agents.cart_kernels`,
:mod:`cartsim.agents.tumor_kernels`). Positions are ``pos[:, ndim]`` integer site coordinates,
and the occupancy layers have the space's ``shape``.

* :class:`GridSpace` (``space: grid``): sites on a 2-D lattice with Moore neighbourhoods and
  no-flux edges; geometry matters.
* :class:`StirredSpace` (``space: stirred``): the same sites, rules and parameters, but every
  placement (initial tumor, infusion, CAR-T hop, daughter) is uniform over the tissue, so cells
  meet by mass action instead of by geometry.

A new space (e.g. a 3-D grid) is one new class here with its ``kind`` handled by the kernels.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

#: Moore neighbourhood offsets (dx, dy), in a fixed order used for directions.
OFFSETS = np.array(
    [(-1, -1), (-1, 0), (-1, 1), (0, -1), (0, 1), (1, -1), (1, 0), (1, 1)], dtype=np.int64
)
#: The same, plus the site itself first: the sites a cell touches.
CONTACT_OFFSETS = np.vstack([[(0, 0)], OFFSETS])

GRID, STIRRED = 0, 1  # kind codes understood by the compiled kernels
BLOCK_SHIFT = 3  # occupancy blocks of 8 × 8 sites (Tissue.tumor_blocks): block = site >> BLOCK_SHIFT


class GridSpace:
    """A 2-D lattice of ``width × height`` sites with Moore neighbourhoods and no-flux edges."""

    kind: ClassVar[int] = GRID
    name: ClassVar[str] = "grid"
    ndim: ClassVar[int] = 2
    #: whether cytokine fields are uniform (instantly mixed) rather than diffusing across sites
    mixes_fields: ClassVar[bool] = False

    def __init__(self, width: int, height: int):
        self.width, self.height = width, height
        self.shape = (width, height)

    def inside(self, x, y):
        """Whether the coordinates are sites of the space (elementwise for arrays)."""
        return (x >= 0) & (x < self.width) & (y >= 0) & (y < self.height)

    def neighbours(self, site: tuple[int, int]) -> list[tuple[int, int]]:
        """The Moore neighbours of ``site`` inside the space."""
        x, y = site
        return [(x + int(dx), y + int(dy)) for dx, dy in OFFSETS
                if 0 <= x + dx < self.width and 0 <= y + dy < self.height]

    def distance_from_centre(self) -> np.ndarray:
        """Distance (sites) of each site from the centre: a nodule fills the nearest first."""
        xs = np.arange(self.width)[:, None] - (self.width - 1) / 2
        ys = np.arange(self.height)[None, :] - (self.height - 1) / 2
        return np.hypot(xs, ys)

    def entry_key(self, route: str, vessel_sites: np.ndarray) -> np.ndarray:
        """Distance (sites) of each site from the route's entry structure: cells enter nearest first.

        ``edge``: the tissue boundary; ``vessels``: the vessel sites (flat indices); ``uniform``:
        anywhere (all zero).
        """
        if route == "uniform":
            return np.zeros(self.shape)
        if route == "edge":
            xs = np.arange(self.width)[:, None]
            ys = np.arange(self.height)[None, :]
            return np.minimum(
                np.minimum(xs, self.width - 1 - xs), np.minimum(ys, self.height - 1 - ys)
            ).astype(float)
        if route == "vessels":
            from scipy import ndimage  # only this route needs it

            not_vessel = np.ones(self.width * self.height, dtype=bool)
            not_vessel[vessel_sites] = False
            return ndimage.distance_transform_edt(not_vessel.reshape(self.shape))
        raise ValueError(f"unknown entry route {route!r}")

    def daughter_site(self, layer: np.ndarray, site: tuple[int, int], rng: np.random.Generator,
                      blocker: np.ndarray | None = None) -> tuple[int, int] | None:
        """A uniformly chosen Moore neighbour of ``site`` with no occupant in ``layer`` (nor in
        ``blocker``, if given), or None when there is none."""
        free = [s for s in self.neighbours(site)
                if layer[s] < 0 and (blocker is None or blocker[s] < 0)]
        return free[rng.integers(len(free))] if free else None


class StirredSpace(GridSpace):
    """The grid's sites with every placement uniform over the tissue (mass action)."""

    kind: ClassVar[int] = STIRRED
    name: ClassVar[str] = "stirred"
    mixes_fields: ClassVar[bool] = True

    def distance_from_centre(self) -> np.ndarray:
        return np.zeros(self.shape)  # no geometry: a "nodule" is scattered

    def entry_key(self, route: str, vessel_sites: np.ndarray) -> np.ndarray:
        return np.zeros(self.shape)  # no edge or vessels: every route is uniform

    def daughter_site(self, layer: np.ndarray, site: tuple[int, int], rng: np.random.Generator,
                      blocker: np.ndarray | None = None) -> tuple[int, int] | None:
        """One uniformly chosen site anywhere, taken only if it is free, so that a division
        succeeds with probability equal to the free fraction of the tissue (crowding by mass
        action)."""
        s = (int(rng.integers(self.width)), int(rng.integers(self.height)))
        return s if layer[s] < 0 and (blocker is None or blocker[s] < 0) else None


SPACES: dict[str, type[GridSpace]] = {cls.name: cls for cls in (GridSpace, StirredSpace)}


def make_space(name: str, width: int, height: int) -> GridSpace:
    """The space called ``name`` (``config.space``) of ``width × height`` sites."""
    try:
        return SPACES[name](width, height)
    except KeyError:
        raise ValueError(f"unknown space {name!r}; known: {', '.join(SPACES)}") from None
