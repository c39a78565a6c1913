"""Tumor cells: cell cycle, contact inhibition, baseline death, antigen profiles and antigen escape.

Tumor cells are event driven. Each live cell has one pending event, its division or its death,
whichever comes first; events are kept in a priority queue, so the cost of a step grows with
the number of cells that divide or die in it, not with the size of the tumor. A cell whose
division finds no free neighbouring site is contact-inhibited: it waits (quiescent, still
subject to death) until a neighbouring site frees, and then resumes its cycle.

Rules (all times in minutes internally, parameters in hours/days):

* cycle time τ ~ Gamma(k = 1/cv², θ) with θ chosen so that the population doubles every
  ``doubling_time_h`` in free space (:func:`cartsim.rates.gamma_cycle_scale`);
* baseline death at ``death_rate_per_day`` (exponential waiting time);
* division puts a daughter on a random free Moore neighbour (no tumor cell there); each daughter
  inherits the parent's antigen densities times log-normal noise, and loses each antigen with
  ``loss_probability`` (antigen escape; a lost antigen never returns);
* initial cells start at random points of their cycle drawn from the stable age distribution,
  so the first divisions are not synchronised.
"""

from __future__ import annotations

import heapq
import math

import numpy as np

from cartsim.agents.base import LatticeCell
from cartsim.agents.tumor_kernels import wake_neighbours
from cartsim.agents.population import Population
from cartsim.environment.tissue import OFFSETS
from cartsim.rates import MINUTES_PER_DAY, MINUTES_PER_HOUR, gamma_cycle_scale

DIVIDE, DIE = 0, 1


class TumorCell(LatticeCell):
    """A tumor cell (a Mesa agent). Its state lives in :class:`TumorPopulation` arrays."""

    @property
    def antigen_density(self) -> dict[str, float]:
        """Antigen densities (molecules/cell) by antigen name."""
        pop = self.population
        return dict(zip(pop.antigen_names, pop.antigen[self.slot].tolist(), strict=True))

    @property
    def phenotype(self) -> int:
        return int(self.population.phenotype_codes(np.array([self.slot]))[0])

    @property
    def quiescent(self) -> bool:
        return bool(self.population.quiescent[self.slot])


class TumorPopulation(Population):
    """All tumor cells of a model: arrays by slot, and the queue of pending divisions and deaths."""

    def __init__(self, model, tissue, config, designs, dt_min: float, binding_step_probability):
        self.n_antigens = len(config.antigens)
        self.n_products = len(designs)
        self._fields = {
            "antigen": (np.float64, (self.n_antigens,), 0.0),
            "bind_p": (np.float64, (self.n_products,), 0.0),  # per-step binding probability by product
            "quiescent": (np.bool_, (), False),
            "event_gen": (np.int64, (), 0),  # invalidates queued events of a removed/reset cell
            "uid": (np.int64, (), -1),  # identity of the cell in a slot (slots are reused)
        }
        super().__init__(model, tissue, tissue.tumor, tissue.tumor_agents)
        self.rng: np.random.Generator = model.rng
        self.antigen_names = tuple(config.antigens)
        self.antigen_cfg = list(config.antigens.values())
        self.loss_p = np.array([a.loss_probability for a in self.antigen_cfg])
        self.noise_cv = config.tumor.density_inheritance_cv
        self.designs = designs
        self.binding_step_probability = binding_step_probability
        self.k_shape, self.theta_min = gamma_cycle_scale(config.tumor.doubling_time_h, config.tumor.cycle_cv)
        self.theta_min *= MINUTES_PER_HOUR
        self.growth_rate_per_min = math.log(2.0) / (config.tumor.doubling_time_h * MINUTES_PER_HOUR)
        self.death_rate_per_min = config.tumor.death_rate_per_day / MINUTES_PER_DAY
        self._queue: list[tuple[float, int, int, int, int]] = []
        self._residuals: list[float] = []
        self._seq = 0
        self._uid = 0
        self.deaths = 0
        self.divisions = 0

    # ------------------------------------------------------------------ set-up
    def seed(self, initial, now: float) -> None:
        """Place the initial tumor: a disk (nodule) around the centre, or scattered (dispersed)."""
        t = self.tissue
        n = initial.cells
        jitter = self.rng.random((t.width, t.height))
        if initial.type == "nodule" and not t.stirred:
            xs = np.arange(t.width)[:, None] - (t.width - 1) / 2
            ys = np.arange(t.height)[None, :] - (t.height - 1) / 2
            key = np.hypot(xs, ys) + 1e-3 * jitter  # nearest the centre first, ties at random
        else:
            key = jitter
        flat = np.argpartition(key.ravel(), n - 1)[:n]
        flat = flat[np.argsort(key.ravel()[flat], kind="stable")]
        self.add_many(flat // t.height, flat % t.height, self.initial_densities(n), now,
                      self.residual_cycle_times(n))

    def add_many(self, xs: np.ndarray, ys: np.ndarray, densities: np.ndarray, now: float,
                 first_division_in: np.ndarray) -> np.ndarray:
        """Place cells at free sites (xs, ys) in bulk (the rules of :meth:`add`); returns their slots."""
        n = len(xs)
        if self._free or n == 0:  # reused slots are scattered: place one by one
            return np.array([self.add(int(x), int(y), d, now, float(r))
                             for x, y, d, r in zip(xs, ys, densities, first_division_in, strict=True)],
                            dtype=np.int64)
        capacity = self._capacity
        while capacity < self._next + n:
            capacity *= 2
        if capacity > self._capacity:
            self._grow(capacity)
        slots = np.arange(self._next, self._next + n)
        self._next += n
        self.alive[slots] = True
        self.x[slots], self.y[slots] = xs, ys
        self.layer[xs, ys] = slots
        self.quiescent[slots] = False
        self.uid[slots] = self._uid + 1 + np.arange(n)
        self._uid += n
        self.antigen[slots] = densities
        self.bind_p[slots] = self.binding_probabilities(densities)
        for slot in slots.tolist():
            self.agents[slot] = TumorCell(self, slot)
        # the first event of each: division or death, whichever comes first
        self.event_gen[slots] += 1
        death_in = (self.rng.exponential(1 / self.death_rate_per_min, size=n) if self.death_rate_per_min > 0
                    else np.full(n, math.inf))
        divide = first_division_in <= death_in
        times = now + np.where(divide, first_division_in, death_in)
        kinds = np.where(divide, DIVIDE, DIE)
        seq = self._seq + 1 + np.arange(n)
        self._seq += n
        entries = list(zip(times.tolist(), seq.tolist(), slots.tolist(), self.event_gen[slots].tolist(),
                           kinds.tolist(), strict=True))
        if self._queue:
            for e in entries:
                heapq.heappush(self._queue, e)
        else:
            heapq.heapify(entries)
            self._queue = entries
        return slots

    def binding_probabilities(self, densities: np.ndarray) -> np.ndarray:
        """Per-step binding probability by product for cells with ``densities`` (n_cells, n_antigens)."""
        p = np.column_stack([d.encounter_probability(densities) for d in self.designs])
        return self.binding_step_probability(p)

    def initial_densities(self, n: int) -> np.ndarray:
        """Log-normal antigen densities with the configured mean and CV; a fraction starts negative."""
        out = np.empty((n, self.n_antigens))
        for j, a in enumerate(self.antigen_cfg):
            sigma2 = math.log1p(a.cv**2)
            mu = math.log(a.mean_density) - sigma2 / 2  # so that the mean is mean_density
            out[:, j] = self.rng.lognormal(mu, math.sqrt(sigma2), size=n)
            out[self.rng.random(n) < a.negative_fraction, j] = 0.0
        return out

    def residual_cycle_times(self, n: int) -> np.ndarray:
        """Time to next division (minutes) for cells drawn from the stable age distribution.

        In exponential growth at rate r, a cell of cycle length τ is found at age a with density
        ∝ e^{-ra} on [0, τ], and τ itself is seen with weight ∝ (1 - e^{-rτ}); sampled by rejection.
        """
        r = self.growth_rate_per_min
        out = np.empty(0)
        while out.size < n:
            tau = self.rng.gamma(self.k_shape, self.theta_min, size=2 * n)
            keep = self.rng.random(2 * n) < -np.expm1(-r * tau)
            tau = tau[keep]
            u = self.rng.random(tau.size)
            age = -np.log1p(-u * -np.expm1(-r * tau)) / r  # truncated exponential on [0, τ]
            out = np.concatenate([out, tau - age])
        return out[:n]

    # ------------------------------------------------------------------ life cycle
    def add(self, x: int, y: int, densities: np.ndarray, now: float, first_division_in: float | None = None) -> int:
        slot = self.allocate()
        self.alive[slot] = True
        self.x[slot], self.y[slot] = x, y
        self.layer[x, y] = slot
        self.quiescent[slot] = False
        self._uid += 1
        self.uid[slot] = self._uid
        self.set_antigens(slot, densities)
        self.agents[slot] = TumorCell(self, slot)
        self.schedule_next_event(slot, now, first_division_in)
        return slot

    def set_antigens(self, slot: int, densities: np.ndarray) -> None:
        self.antigen[slot] = densities
        self.bind_p[slot] = self.binding_probabilities(densities[None, :])[0]

    def schedule_next_event(self, slot: int, now: float, division_in: float | None = None) -> None:
        """Queue whichever comes first: division (gamma cycle) or death (exponential)."""
        self.event_gen[slot] += 1
        if division_in is None:
            division_in = self.rng.gamma(self.k_shape, self.theta_min)
        death_in = self.rng.exponential(1 / self.death_rate_per_min) if self.death_rate_per_min > 0 else math.inf
        if division_in <= death_in:
            self._push(now + division_in, slot, DIVIDE)
        else:
            self._push(now + death_in, slot, DIE)

    def _push(self, time: float, slot: int, kind: int) -> None:
        self._seq += 1
        heapq.heappush(self._queue, (time, self._seq, slot, int(self.event_gen[slot]), kind))

    def process_events(self, until: float) -> None:
        """Run every division and death due up to ``until`` (minutes), in time order."""
        q = self._queue
        while q and q[0][0] <= until:
            time, _, slot, gen, kind = heapq.heappop(q)
            if gen != self.event_gen[slot] or not self.alive[slot]:
                continue  # the cell died, was killed or rescheduled since this was queued
            if kind == DIE:
                self.remove(slot, time)
            else:
                self.divide(slot, time)

    def divide(self, slot: int, now: float) -> None:
        """Divide into a free neighbouring site, or become quiescent if there is none.

        In a stirred tissue the daughter's site is drawn anywhere; if it is taken the division
        fails and the cell starts a new cycle (there are no neighbours to wait for).
        """
        x, y = int(self.x[slot]), int(self.y[slot])
        # T cells that cannot squeeze past tumor cells hold their site against tumor cells too
        blocker = None if self.tissue.tcells_squeeze_past_tumor else self.tissue.tcell
        site = self.tissue.daughter_site(self.layer, x, y, self.rng, blocker)
        if site is None and self.tissue.stirred:
            self.schedule_next_event(slot, now)
            return
        if site is None:
            self.quiescent[slot] = True
            # still mortal while waiting: death is memoryless, so a fresh draw is exact
            self.event_gen[slot] += 1
            if self.death_rate_per_min > 0:
                self._push(now + self.rng.exponential(1 / self.death_rate_per_min), slot, DIE)
            return
        nx, ny = site
        parent = self.antigen[slot].copy()
        self.divisions += 1
        self.set_antigens(slot, self.inherit(parent))
        self.schedule_next_event(slot, now)
        self.add(nx, ny, self.inherit(parent), now)

    def inherit(self, parent: np.ndarray) -> np.ndarray:
        """A daughter's antigen densities: the parent's with log-normal noise, minus lost antigens."""
        d = parent.copy()
        if self.noise_cv > 0:
            s2 = math.log1p(self.noise_cv**2)
            d *= self.rng.lognormal(-s2 / 2, math.sqrt(s2), size=d.size)
        lost = self.rng.random(d.size) < self.loss_p
        d[lost] = 0.0
        return d

    def remove(self, slot: int, now: float) -> None:
        """A tumor cell dies (baseline death or killed): free its site and wake waiting neighbours."""
        x, y = int(self.x[slot]), int(self.y[slot])
        agent = self.agents[slot]
        self.event_gen[slot] += 1
        self.release(slot)
        self.deaths += 1
        self.tissue.died_at[x, y] = now
        agent.remove()
        self.wake_around(np.array([x]), np.array([y]), now)

    def wake_around(self, xs: np.ndarray, ys: np.ndarray, now: float) -> None:
        """Contact-inhibited cells next to freed sites (xs, ys) resume cycling at a random point of their cycle.

        Sites free up for tumor cells when a tumor cell dies and, where T cells hold their site
        against tumor cells (``tcells_squeeze_past_tumor: false``), when a T cell leaves or dies.
        """
        for slot in wake_neighbours(np.asarray(xs, dtype=np.int64), np.asarray(ys, dtype=np.int64),
                                    self.layer, self.quiescent).tolist():
            self.schedule_next_event(slot, now, self._next_residual())

    def _next_residual(self) -> float:
        """One residual cycle time (minutes), from a buffer drawn in bulk (one draw costs ~50 µs)."""
        if not self._residuals:
            self._residuals = self.residual_cycle_times(1024).tolist()
        return self._residuals.pop()

    # ------------------------------------------------------------------ observation
    def phenotype_codes(self, slots: np.ndarray) -> np.ndarray:
        """Bit i set where antigen i is present."""
        present = self.antigen[slots] > 0
        return (present * (1 << np.arange(self.n_antigens))).sum(axis=1)

    def census(self) -> np.ndarray:
        """Number of live cells per phenotype code."""
        slots = self.live_slots()
        return np.bincount(self.phenotype_codes(slots), minlength=2**self.n_antigens)
