"""Slot storage shared by the cell populations: arrays that grow, and slots that are reused."""

from __future__ import annotations

import numpy as np


class Population:
    """Per-cell state in numpy arrays indexed by slot, plus the agent object of each slot.

    Subclasses list their per-cell arrays in ``_fields`` as ``name: (dtype, trailing shape, fill)``.
    """

    _fields: dict[str, tuple[type, tuple[int, ...], object]] = {}

    def __init__(self, model, tissue, layer: np.ndarray, agent_list: list, capacity: int = 1024):
        self.model = model
        self.tissue = tissue
        self.layer = layer  # the tissue's occupancy layer for this population
        self.agents = agent_list
        self._capacity = 0
        self._free: list[int] = []
        self._next = 0
        self.alive = np.zeros(0, dtype=bool)
        self.x = np.zeros(0, dtype=np.int64)
        self.y = np.zeros(0, dtype=np.int64)
        for name, (dtype, shape, fill) in self._fields.items():
            setattr(self, name, np.full((0, *shape), fill, dtype=dtype))
        self._grow(capacity)

    def _grow(self, capacity: int) -> None:
        def grown(arr: np.ndarray, fill) -> np.ndarray:
            new = np.full((capacity, *arr.shape[1:]), fill, dtype=arr.dtype)
            new[: len(arr)] = arr
            return new

        self.alive = grown(self.alive, False)
        self.x = grown(self.x, -1)
        self.y = grown(self.y, -1)
        for name, (_, _, fill) in self._fields.items():
            setattr(self, name, grown(getattr(self, name), fill))
        self.agents.extend([None] * (capacity - len(self.agents)))
        self._capacity = capacity

    def allocate(self) -> int:
        """A free slot (reusing the lowest-cost one), growing the arrays if needed."""
        if self._free:
            return self._free.pop()
        if self._next >= self._capacity:
            self._grow(2 * self._capacity)
        slot = self._next
        self._next += 1
        return slot

    def release(self, slot: int) -> None:
        self.alive[slot] = False
        self.layer[self.x[slot], self.y[slot]] = -1
        self.agents[slot] = None
        self._free.append(slot)

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
        self.x[slot], self.y[slot] = x, y
        self.layer[x, y] = slot
