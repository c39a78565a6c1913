"""What every cartsim cell agent shares: a Mesa CellAgent whose site is held by its population."""

from __future__ import annotations

from mesa.discrete_space import CellAgent


class LatticeCell(CellAgent):
    """A Mesa ``CellAgent`` backed by a slot in a population's arrays.

    The population keeps position and state in numpy arrays (so that whole populations move and
    interact in bulk); the agent object is the handle Mesa and users see. ``agent.cell`` is the
    grid cell at the agent's current position; assigning it moves the agent.
    """

    def __init__(self, population, slot: int):
        super().__init__(population.model)
        self.population = population
        self.slot = slot

    @property
    def cell(self):  # type: ignore[override]
        pop = self.population
        if not pop.alive[self.slot] or pop.agents[self.slot] is not self:
            return None
        return pop.tissue.cell_at(pop.x[self.slot], pop.y[self.slot])

    @cell.setter
    def cell(self, cell) -> None:
        if cell is None:  # CellAgent.remove() clears the cell; the population already freed it
            return
        self.population.relocate(self.slot, *cell.coordinate)

    @property
    def alive(self) -> bool:
        return bool(self.population.alive[self.slot]) and self.population.agents[self.slot] is self
