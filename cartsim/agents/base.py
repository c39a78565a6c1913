"""What every cartsim cell agent shares: a Mesa CellAgent whose site is held by its population."""

from __future__ import annotations

from mesa.discrete_space import CellAgent


class LatticeCell(CellAgent):
    """A Mesa ``CellAgent`` backed by a slot in a population's arrays.

    The population keeps position and state in numpy arrays (so that whole populations move and
    interact in bulk); the agent object is the handle Mesa and users see. ``agent.cell`` is the
    grid cell at the agent's current position; assigning it moves the agent.

    Agents are made on demand (:meth:`cartsim.agents.population.Population.agent`); ``uid``
    identifies the cell, since a slot is reused once its cell has died.
    """

    def __init__(self, population, slot: int):
        super().__init__(population.model)
        self.population = population
        self.slot = slot
        self.uid = int(population.uid[slot])

    @property
    def cell(self):  # type: ignore[override]
        pop = self.population
        if not self.alive:
            return None
        return pop.tissue.cell_at(pop.x[self.slot], pop.y[self.slot])

    @cell.setter
    def cell(self, cell) -> None:
        if cell is None:  # CellAgent.remove() clears the cell; the population already freed it
            return
        self.population.relocate(self.slot, *cell.coordinate)

    @property
    def alive(self) -> bool:
        pop = self.population
        return bool(pop.alive[self.slot]) and int(pop.uid[self.slot]) == self.uid
