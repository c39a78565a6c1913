"""What every cell population holds: per-cell arrays by slot, reusable slots, and Mesa agents on demand.

A population keeps the state of its cells in numpy arrays indexed by *slot* (``pos``, ``alive``,
``uid`` and the arrays its subclass lists in ``_fields``), so that rules run over whole arrays or
in compiled loops. Slots of dead cells are reused; ``uid`` tells one occupant of a slot from the
next. The Mesa agent of a cell (a :class:`~cartsim.agents.base.LatticeCell`) is made only when
somebody asks for it (:meth:`Population.agent`, ``cell.agents``, ``model.agents``): births and
deaths on the hot path create no Python object.

A population is one entry of the model's registry (``model.populations``): it names itself
(``name``), owns its occupancy layer in the tissue, reports its census columns (:meth:`census`)
and its snapshot layers (:meth:`snapshot_layers`). A new cell type is a new subclass in a module
of its own and a line in :class:`cartsim.model.CarTModel`'s registry.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from cartsim.environment.space import BLOCK_SHIFT

# indices into Population.counters (an int64 array that compiled kernels update in place)
NEXT, N_FREE, LAST_UID = 0, 1, 2


class Population:
    """Per-cell state in numpy arrays indexed by slot, and the Mesa agents made from it.

    Subclasses set ``name`` and ``agent_class`` and list their per-cell arrays in ``_fields`` as
    ``name: (dtype, trailing shape, fill)``. ``counters`` holds the high-water slot
    (``NEXT``), the number of free slots on the ``free`` stack (``N_FREE``) and the last uid
    given (``LAST_UID``).
    """

    name: ClassVar[str] = ""
    agent_class: ClassVar[type] = type(None)
    _fields: ClassVar[dict[str, tuple[type, tuple[int, ...], object]]] = {}

    def __init__(self, model, tissue, layer: np.ndarray, capacity: int = 1024):
        self.model = model
        self.tissue = tissue
        self.space = tissue.space
        self.layer = layer  # the tissue's occupancy layer for this population
        self.blocks: np.ndarray | None = None  # occupied sites per block of the layer, if kept
        self.counters = np.zeros(3, dtype=np.int64)
        self._capacity = 0
        self.alive = np.zeros(0, dtype=bool)
        self.pos = np.zeros((0, self.space.ndim), dtype=np.int64)
        self.uid = np.zeros(0, dtype=np.int64)
        self.free = np.zeros(0, dtype=np.int64)  # stack of free slots below NEXT
        for name, (dtype, shape, fill) in self._fields.items():
            setattr(self, name, np.full((0, *shape), fill, dtype=dtype))
        self._agents: dict[int, object] = {}  # slot -> the agent made for its current cell
        self._grow(capacity)

    # ------------------------------------------------------------------ storage
    def _grow(self, capacity: int) -> None:
        def grown(arr: np.ndarray, fill) -> np.ndarray:
            new = np.full((capacity, *arr.shape[1:]), fill, dtype=arr.dtype)
            new[: len(arr)] = arr
            return new

        self.alive = grown(self.alive, False)
        self.pos = grown(self.pos, -1)
        self.uid = grown(self.uid, -1)
        self.free = grown(self.free, -1)
        for name, (_, _, fill) in self._fields.items():
            setattr(self, name, grown(getattr(self, name), fill))
        self._capacity = capacity

    def reserve(self, n: int) -> None:
        """Make room for ``n`` more cells without growing in between (for compiled kernels)."""
        if int(self.counters[NEXT]) + n > self._capacity:
            capacity = self._capacity
            while capacity < int(self.counters[NEXT]) + n:
                capacity *= 2
            self._grow(capacity)

    @property
    def x(self) -> np.ndarray:
        """First coordinate of each slot (a view of ``pos``)."""
        return self.pos[:, 0]

    @property
    def y(self) -> np.ndarray:
        """Second coordinate of each slot (a view of ``pos``)."""
        return self.pos[:, 1]

    @property
    def _next(self) -> int:
        """Slots ``[0, _next)`` have been used; every live cell is below it."""
        return int(self.counters[NEXT])

    def allocate(self) -> int:
        """A slot for a new cell (the last freed one, else a new one), with a fresh uid."""
        c = self.counters
        if c[N_FREE] > 0:
            c[N_FREE] -= 1
            slot = int(self.free[c[N_FREE]])
        else:
            if c[NEXT] >= self._capacity:
                self._grow(2 * self._capacity)
            slot = int(c[NEXT])
            c[NEXT] += 1
        c[LAST_UID] += 1
        self.uid[slot] = c[LAST_UID]
        return slot

    def place(self, slot: int, site) -> None:
        """Mark ``slot`` alive at ``site`` (a coordinate tuple) in its layer."""
        self.alive[slot] = True
        self.pos[slot] = site
        self.layer[tuple(site)] = slot
        self._count_block(site, 1)

    def _count_block(self, site, change: int) -> None:
        if self.blocks is not None:
            self.blocks[site[0] >> BLOCK_SHIFT, site[1] >> BLOCK_SHIFT] += change

    def release(self, slot: int) -> None:
        """Free the slot of a cell that died or was killed (and remove its agent, if one was made)."""
        self.alive[slot] = False
        self.layer[tuple(self.pos[slot])] = -1
        self._count_block(self.pos[slot], -1)
        c = self.counters
        self.free[c[N_FREE]] = slot
        c[N_FREE] += 1
        self.drop_agent(slot, int(self.uid[slot]))

    def drop_agent(self, slot: int, uid: int) -> None:
        """Remove from Mesa the agent made for the cell ``uid`` in ``slot``, if there is one."""
        agent = self._agents.get(slot)
        if agent is not None and agent.uid == uid:
            del self._agents[slot]
            agent.remove()

    def live_slots(self) -> np.ndarray:
        return np.flatnonzero(self.alive[: self._next])

    @property
    def count(self) -> int:
        return int(self.alive[: self._next].sum())

    def relocate(self, slot: int, x: int, y: int) -> None:
        """Move a cell to (x, y); the site must have room for it."""
        if self.layer[x, y] >= 0 and self.layer[x, y] != slot:
            raise ValueError(f"site ({x}, {y}) already holds a cell of this kind")
        self.layer[self.x[slot], self.y[slot]] = -1
        self._count_block(self.pos[slot], -1)
        self.x[slot], self.y[slot] = x, y
        self.layer[x, y] = slot
        self._count_block((x, y), 1)

    # ------------------------------------------------------------------ Mesa agents
    def agent(self, slot: int):
        """The Mesa agent of the live cell in ``slot``, made on first request."""
        if not self.alive[slot]:
            raise LookupError(f"{self.name} slot {slot} holds no live cell")
        uid = int(self.uid[slot])
        agent = self._agents.get(slot)
        if agent is not None and agent.uid == uid:
            return agent
        if agent is not None:  # made for an earlier cell of this slot, which died in a kernel
            agent.remove()
        agent = self._agents[slot] = self.agent_class(self, slot)
        return agent

    def sync_agents(self) -> None:
        """Remove the agents of cells that died inside compiled code (their slot's uid moved on)."""
        stale = [s for s, a in self._agents.items() if not self.alive[s] or self.uid[s] != a.uid]
        for slot in stale:
            self._agents.pop(slot).remove()

    def all_agents(self) -> list:
        """The agents of every live cell (making those not made yet)."""
        self.sync_agents()
        return [self.agent(s) for s in self.live_slots().tolist()]

    # ------------------------------------------------------------------ registry entry
    def census(self) -> dict[str, float]:
        """This population's columns of the time series."""
        return {f"{self.name}_total": self.count}

    def census_columns(self) -> list[str]:
        """The names :meth:`census` returns, in order, before any cell exists."""
        return [f"{self.name}_total"]

    def snapshot_layers(self, shape: tuple[int, ...]) -> dict[str, np.ndarray]:
        """Arrays of the tissue's shape (indexed like the layers) describing this population now."""
        return {}

    def legend(self) -> list[tuple[str, int, str]]:
        """What the codes of its snapshot layers mean, for pictures: ``(layer, code, label)``
        for each code a picture shows (the picture chooses the colours)."""
        return []
