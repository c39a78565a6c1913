"""The tissue: a Mesa grid of sites whose occupancy lives in property layers.

Each site holds at most one tumor cell and at most one CAR-T cell (see
:class:`cartsim.config.schema.TissueConfig`). Who is where is stored in two integer property
layers, ``tumor`` and ``tcell`` (the slot of the occupant in its population, ``-1`` for none),
so that motility and contact detection run as bulk numpy operations. The grid's cells read
their occupants from those layers, so Mesa's own API (``cell.agents``, ``cell.is_empty``,
``grid.agents``, ``agent.cell``) always agrees with the model state without a copy to keep in sync.

Arrays follow Mesa's convention: shape ``(width, height)``, indexed ``[x, y]``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from mesa.discrete_space import Cell, OrthogonalMooreGrid
from scipy import ndimage

if TYPE_CHECKING:
    from mesa.discrete_space import CellAgent

#: Moore neighbourhood offsets (dx, dy), in a fixed order used for directions.
OFFSETS = np.array(
    [(-1, -1), (-1, 0), (-1, 1), (0, -1), (0, 1), (1, -1), (1, 0), (1, 1)], dtype=np.int64
)
#: The same, plus the site itself first: the sites a cell touches.
CONTACT_OFFSETS = np.vstack([[(0, 0)], OFFSETS])


class TissueSite(Cell):
    """A grid cell whose agents are read from the tissue's occupancy layers."""

    __slots__ = ()
    tissue: Tissue  # set on the grid's own cell class once the tissue exists

    @property
    def _agents(self) -> list[CellAgent]:  # type: ignore[override]
        tissue = getattr(type(self), "tissue", None)
        return [] if tissue is None else tissue.occupants(self.coordinate)

    @_agents.setter
    def _agents(self, value) -> None:  # Cell.__init__ assigns an empty list; occupancy lives in layers
        pass

    def add_agent(self, agent) -> None:  # placement goes through the populations
        raise TypeError("place cartsim agents through model.tumor / model.cart, not Cell.add_agent")

    def remove_agent(self, agent) -> None:
        raise TypeError("remove cartsim agents with agent.remove()")


class Tissue:
    """Grid, occupancy layers and geometry helpers shared by the cell populations."""

    def __init__(self, model, width: int, height: int, site_um: float, squeeze: bool, n_vessels: int,
                 stirred: bool = False):
        self.model = model
        self.width, self.height, self.site_um = width, height, site_um
        self.tcells_squeeze_past_tumor = squeeze
        # stirred (``space: stirred``): the same sites, rules and parameters, but every placement
        # (initial tumor, infusion, CAR-T hop, daughter) is uniform over the tissue, so cells meet
        # by mass action instead of by geometry
        self.stirred = stirred
        self.grid = OrthogonalMooreGrid(
            (width, height), torus=False, capacity=2, random=model.random, cell_klass=TissueSite
        )
        self.grid.cell_klass.tissue = self
        self.tumor = self.grid.create_property_layer("tumor", default_value=-1, dtype=np.int32).data
        self.tcell = self.grid.create_property_layer("tcell", default_value=-1, dtype=np.int32).data
        # minute at which a tumor cell last died at a site (-inf: never); pictures fade dead cells
        self.died_at = self.grid.create_property_layer(
            "tumor_died_at_min", default_value=-np.inf, dtype=float
        ).data
        flat = np.arange(width * height)
        self.vessel_sites = model.rng.choice(flat, size=n_vessels, replace=False)
        self.tumor_agents: list = []
        self.tcell_agents: list = []

    # ------------------------------------------------------------------ Mesa-facing
    def occupants(self, coord: tuple[int, int]) -> list:
        out = []
        s = self.tumor[coord]
        if s >= 0:
            out.append(self.tumor_agents[s])
        s = self.tcell[coord]
        if s >= 0:
            out.append(self.tcell_agents[s])
        return out

    def cell_at(self, x: int, y: int) -> Cell:
        return self.grid._cells[(int(x), int(y))]

    def refresh_empty_layer(self) -> None:
        """Bring Mesa's own ``empty`` layer up to date (used by ``grid.select_random_empty_cell``)."""
        self.grid.empty.data[:] = (self.tumor < 0) & (self.tcell < 0)

    # ------------------------------------------------------------------ geometry
    def inside(self, x, y):
        return (x >= 0) & (x < self.width) & (y >= 0) & (y < self.height)

    def free_neighbours(self, layer: np.ndarray, x: int, y: int) -> list[tuple[int, int]]:
        """Moore neighbours of (x, y) with no occupant in ``layer`` (a Python loop: called per event)."""
        w, h = self.width, self.height
        out = []
        for dx, dy in ((-1, -1), (-1, 0), (-1, 1), (0, -1), (0, 1), (1, -1), (1, 0), (1, 1)):
            nx, ny = x + dx, y + dy
            if 0 <= nx < w and 0 <= ny < h and layer[nx, ny] < 0:
                out.append((nx, ny))
        return out

    def daughter_site(self, layer: np.ndarray, x: int, y: int, rng: np.random.Generator,
                      blocker: np.ndarray | None = None) -> tuple[int, int] | None:
        """Where a daughter of the cell at (x, y) goes, or None when there is no room.

        On the grid: a uniformly chosen Moore neighbour with no occupant in ``layer`` (nor in
        ``blocker``, if given). Stirred: one uniformly chosen site anywhere, taken only if it is
        free, so that a division succeeds with probability equal to the free fraction of the
        tissue (crowding by mass action).
        """
        if self.stirred:
            nx, ny = int(rng.integers(self.width)), int(rng.integers(self.height))
            free = layer[nx, ny] < 0 and (blocker is None or blocker[nx, ny] < 0)
            return (nx, ny) if free else None
        free = self.free_neighbours(layer, x, y)
        if blocker is not None:
            free = [(nx, ny) for nx, ny in free if blocker[nx, ny] < 0]
        return free[rng.integers(len(free))] if free else None

    def tcell_free_mask(self) -> np.ndarray:
        """Sites a CAR-T cell may enter: no CAR-T there, and no tumor cell unless T cells squeeze past."""
        free = self.tcell < 0
        if not self.tcells_squeeze_past_tumor:
            free &= self.tumor < 0
        return free

    def entry_sites(self, route: str, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """Up to ``n`` free sites for infused CAR-T, nearest first to the route's entry structure.

        ``edge``: the tissue boundary; ``vessels``: the vessel sites; ``uniform``: anywhere.
        Ties are broken at random. A stirred tissue has no edge or vessels: every route is uniform.
        """
        jitter = rng.random((self.width, self.height))
        if route == "uniform" or self.stirred:
            order_key = jitter
        else:
            if route == "edge":
                xs = np.arange(self.width)[:, None]
                ys = np.arange(self.height)[None, :]
                dist = np.minimum(
                    np.minimum(xs, self.width - 1 - xs), np.minimum(ys, self.height - 1 - ys)
                ).astype(float)
            elif route == "vessels":
                not_vessel = np.ones(self.width * self.height, dtype=bool)
                not_vessel[self.vessel_sites] = False
                dist = ndimage.distance_transform_edt(not_vessel.reshape(self.width, self.height))
            else:
                raise ValueError(f"unknown entry route {route!r}")
            order_key = dist + jitter
        free = self.tcell_free_mask().ravel()
        key = np.where(free, order_key.ravel(), np.inf)
        n = min(n, int(free.sum()))
        chosen = np.argpartition(key, n - 1)[:n] if n > 0 else np.array([], dtype=np.int64)
        chosen = chosen[np.argsort(key[chosen], kind="stable")]
        return chosen // self.height, chosen % self.height
