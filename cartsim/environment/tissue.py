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

import copyreg
from functools import cached_property
from itertools import product

import numpy as np
from mesa.discrete_space import Cell, OrthogonalMooreGrid
from mesa.discrete_space.grid import Grid, pickle_gridcell

from cartsim.environment.space import BLOCK_SHIFT, CONTACT_OFFSETS, OFFSETS, make_space

__all__ = ["CONTACT_OFFSETS", "OFFSETS", "LazyMooreGrid", "Tissue", "TissueSite"]

if TYPE_CHECKING:
    from mesa.discrete_space import CellAgent

class TissueSite(Cell):
    """A grid cell whose agents are read from the tissue's occupancy layers.

    Its neighbours (``connections``) are looked up when asked for, so that sites nobody looks
    at need no cell object at all (:class:`LazyMooreGrid`).
    """

    __slots__ = ()
    tissue: Tissue  # set on the grid's own cell class once the tissue exists

    @property
    def connections(self) -> dict:  # type: ignore[override]
        tissue = getattr(type(self), "tissue", None)
        if tissue is None:
            return {}
        x, y = self.coordinate
        cells = tissue.grid._cells
        return {
            (int(dx), int(dy)): cells[x + int(dx), y + int(dy)]
            for dx, dy in OFFSETS
            if 0 <= x + dx < tissue.width and 0 <= y + dy < tissue.height
        }

    @connections.setter
    def connections(self, value) -> None:  # Cell.__init__ assigns an empty dict; neighbours are computed
        pass

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


class _CellsOnDemand(dict):
    """The grid's ``coordinate -> cell`` mapping, filling itself as cells are asked for."""

    def __init__(self, grid: LazyMooreGrid):
        super().__init__()
        self.grid = grid

    def __missing__(self, coord):
        x, y = coord
        w, h = self.grid.dimensions
        if not (0 <= x < w and 0 <= y < h):
            raise KeyError(coord)
        cell = self.grid.cell_klass((int(x), int(y)), capacity=self.grid.capacity, random=self.grid.random)
        self[cell.coordinate] = cell
        return cell

    def fill(self) -> None:
        for coord in product(*(range(d) for d in self.grid.dimensions)):
            self[coord]  # noqa: B018  (creates the cell if missing)

    def values(self):
        self.fill()
        return super().values()

    def __iter__(self):
        self.fill()
        return super().__iter__()

    def __len__(self):
        w, h = self.grid.dimensions
        return w * h


class LazyMooreGrid(OrthogonalMooreGrid):
    """Mesa's ``OrthogonalMooreGrid`` whose cell objects are made the first time they are asked for.

    A Mesa grid builds a cell object with its neighbour links for every site up front (about
    1.3 kB per site: 1.25 GiB and seconds of set-up for 1000×1000 sites). The model itself only
    uses the grid's property layers (plain numpy arrays), so here ``grid[x, y]``, ``agent.cell``
    and neighbourhoods build the cells they touch, and whole-grid views (``all_cells``,
    ``agents``, iteration) build the rest on first use.
    """

    def __init__(self, dimensions, torus: bool = False, capacity=None, random=None, cell_klass=Cell):
        # Grid.__init__ without building and connecting every cell
        super(Grid, self).__init__(capacity=capacity, random=random, cell_klass=cell_klass)
        self.torus = torus
        self.dimensions = dimensions
        self._try_random = True
        self._ndims = len(dimensions)
        self._validate_parameters()
        self.cell_klass = type("GridCell", (self.cell_klass,), {"_mesa_properties": set(), "__slots__": ()})
        copyreg.pickle(self.cell_klass, pickle_gridcell)
        self._cells = _CellsOnDemand(self)
        self.create_property_layer("empty", default_value=True, dtype=bool)

    @property
    def _celllist(self) -> list:
        return list(self._cells.values())

    @cached_property
    def all_cells(self):
        self._cells.fill()
        return super().all_cells


class Tissue:
    """Grid, occupancy layers and the space shared by the cell populations."""

    def __init__(self, model, width: int, height: int, site_um: float, squeeze: bool, n_vessels: int,
                 space: str = "grid"):
        self.model = model
        self.width, self.height, self.site_um = width, height, site_um
        self.tcells_squeeze_past_tumor = squeeze
        #: the geometry the rules ask (grid, stirred: :mod:`cartsim.environment.space`)
        self.space = make_space(space, width, height)
        self.grid = LazyMooreGrid(
            (width, height), torus=False, capacity=2, random=model.random, cell_klass=TissueSite
        )
        self.grid.cell_klass.tissue = self
        self.tumor = self.grid.create_property_layer("tumor", default_value=-1, dtype=np.int32).data
        self.tcell = self.grid.create_property_layer("tcell", default_value=-1, dtype=np.int32).data
        #: tumor cells per block of 2**BLOCK_SHIFT × 2**BLOCK_SHIFT sites: the contact scan skips
        #: CAR-T with no tumor cell in the blocks around them (most of them, most of the time)
        self.tumor_blocks = np.zeros(((width >> BLOCK_SHIFT) + 1, (height >> BLOCK_SHIFT) + 1), dtype=np.int32)
        # minute at which a tumor cell last died at a site (-inf: never); pictures fade dead cells
        self.died_at = self.grid.create_property_layer(
            "tumor_died_at_min", default_value=-np.inf, dtype=float
        ).data
        flat = np.arange(width * height)
        self.vessel_sites = model.rng.choice(flat, size=n_vessels, replace=False)
        self.populations: list = []  # the model's populations, in the order they were added

    # ------------------------------------------------------------------ Mesa-facing
    def occupants(self, coord: tuple[int, int]) -> list:
        """The Mesa agents at a site (made on demand)."""
        out = []
        for pop in self.populations:
            s = pop.layer[coord]
            if s >= 0:
                out.append(pop.agent(int(s)))
        return out

    def cell_at(self, x: int, y: int) -> Cell:
        return self.grid._cells[(int(x), int(y))]

    def refresh_empty_layer(self) -> None:
        """Bring Mesa's own ``empty`` layer up to date (used by ``grid.select_random_empty_cell``)."""
        self.grid.empty.data[:] = (self.tumor < 0) & (self.tcell < 0)

    # ------------------------------------------------------------------ geometry
    def inside(self, x, y):
        return self.space.inside(x, y)

    def tcell_free_mask(self) -> np.ndarray:
        """Sites a CAR-T cell may enter: no CAR-T there, and no tumor cell unless T cells squeeze past."""
        free = self.tcell < 0
        if not self.tcells_squeeze_past_tumor:
            free &= self.tumor < 0
        return free

    def entry_sites(self, route: str, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """Up to ``n`` free sites for infused CAR-T, nearest first to the route's entry structure.

        ``edge``: the tissue boundary; ``vessels``: the vessel sites; ``uniform``: anywhere
        (:meth:`cartsim.environment.space.GridSpace.entry_key`). Ties are broken at random.
        """
        jitter = rng.random((self.width, self.height))
        order_key = self.space.entry_key(route, self.vessel_sites) + jitter
        free = self.tcell_free_mask().ravel()
        key = np.where(free, order_key.ravel(), np.inf)
        n = min(n, int(free.sum()))
        chosen = np.argpartition(key, n - 1)[:n] if n > 0 else np.array([], dtype=np.int64)
        chosen = chosen[np.argsort(key[chosen], kind="stable")]
        return chosen // self.height, chosen % self.height
