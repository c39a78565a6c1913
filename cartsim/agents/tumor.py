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

Treatments and bystander effects (all off by default; see :mod:`cartsim.config.schema`):

* chemotherapy: a cell about to divide dies instead with the probability in effect
  (``chemo_kill_p``, set by the model from its treatments);
* IFN-γ bystander effects (``tumor.ifng_bystander``): where IFN-γ is at least the threshold, a
  division is arrested with ``arrest_probability`` (a new cycle starts), cells die at an extra
  rate (:meth:`die_where_exposed`), and the CARs see the antigen densities times ``antigen_fold``;
* radiation: each cell in the region survives a dose with the linear-quadratic probability
  (:meth:`irradiate`);
* an armored CAR's payload kills tumor cells where it is above its threshold (:meth:`die_where_exposed`).
"""

from __future__ import annotations

import math

import numpy as np

from cartsim.agents import tumor_kernels as kernels
from cartsim.agents.base import LatticeCell
from cartsim.agents.kernel_random import new_stream
from cartsim.agents.population import LAST_UID, N_FREE, NEXT, Population
from cartsim.environment.space import BLOCK_SHIFT
from cartsim.units import phenotype_names
from cartsim.rates import MINUTES_PER_DAY, MINUTES_PER_HOUR, gamma_cycle_scale

_NO_FIELD = np.zeros((1, 1))  # stands in for the IFN-γ field when no tumor cell senses it


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
    """All tumor cells of a model: arrays by slot, and the queue of pending divisions and deaths.

    The event loop runs compiled (:mod:`cartsim.agents.tumor_kernels`); the methods :meth:`divide`
    and :meth:`inherit` state its division rule in Python, with numpy's generator, for tests.
    """

    name = "tumor"
    agent_class = TumorCell
    _fields = {
        "antigen": (np.float64, (0,), 0.0),  # trailing size set per model (antigens)
        "bind_p": (np.float64, (0,), 0.0),  # per-step binding probability by product
        "quiescent": (np.bool_, (), False),
        "event_gen": (np.int64, (), 0),  # invalidates queued events of a removed/reset cell
        "seen_exposed": (np.bool_, (), False),  # bind_p counts the IFN-γ antigen fold (ifng_bystander)
    }

    def __init__(self, model, tissue, config, designs, dt_min: float, hop_rate_per_min: float):
        self.n_antigens = len(config.antigens)
        self.n_products = len(designs)
        self._fields = {
            **type(self)._fields,
            "antigen": (np.float64, (self.n_antigens,), 0.0),
            "bind_p": (np.float64, (self.n_products,), 0.0),
        }
        super().__init__(model, tissue, tissue.tumor)
        self.blocks = tissue.tumor_blocks
        self.rng: np.random.Generator = model.rng
        self.stream = new_stream(self.rng)  # the compiled event loop's random numbers
        self.antigen_names = tuple(config.antigens)
        self.phenotypes = phenotype_names(self.antigen_names)
        self.antigen_cfg = list(config.antigens.values())
        self.loss_p = np.array([a.loss_probability for a in self.antigen_cfg], dtype=np.float64)
        self.noise_cv = config.tumor.density_inheritance_cv
        self.noise_sigma = math.sqrt(math.log1p(self.noise_cv**2))
        self.designs = designs
        self.dt_min, self.hop_rate_per_min = dt_min, hop_rate_per_min  # for the per-step binding
        self.k_shape, self.theta_min = gamma_cycle_scale(config.tumor.doubling_time_h, config.tumor.cycle_cv)
        self.theta_min *= MINUTES_PER_HOUR
        self.growth_rate_per_min = math.log(2.0) / (config.tumor.doubling_time_h * MINUTES_PER_HOUR)
        self.death_rate_per_min = config.tumor.death_rate_per_day / MINUTES_PER_DAY
        self.death_mean_min = 1.0 / self.death_rate_per_min if self.death_rate_per_min > 0 else 0.0
        # T cells that cannot squeeze past tumor cells hold their site against tumor cells too
        self.blocked_by_tcells = not tissue.tcells_squeeze_past_tumor
        # the queue of pending events (see tumor_kernels)
        self.heap_time = np.zeros(1024)
        self.heap_key = np.zeros((1024, 4), dtype=np.int64)
        self.heap_meta = np.zeros(2, dtype=np.int64)
        # what the event loop reports back
        self._changed = np.zeros(4096, dtype=np.int64)
        self._removed = np.zeros((2048, 2), dtype=np.int64)
        self._n_changed = np.zeros(1, dtype=np.int64)
        self._n_removed = np.zeros(1, dtype=np.int64)
        # divisions, deaths, chemotherapy kills and IFN-γ arrests of the event loop
        self._tally = np.zeros(4, dtype=np.int64)
        self.killed = 0
        # treatments and bystander effects (off by default; see the module docstring)
        self.chemo_kill_p = 0.0  # per division, set by the model at every step
        by = config.tumor.ifng_bystander
        self.bystander = by if by.enabled else None
        self.p_arrest = by.arrest_probability if by.enabled else 0.0
        self.ifng_pM: np.ndarray = _NO_FIELD  # the sensed cytokine (pM), set by the model when it changes
        self.antigen_fold = by.antigen_fold if by.enabled else 1.0
        self.bystander_deaths = 0  # deaths from IFN-γ and armored-CAR payloads
        self.radiation_kills = 0

    @property
    def divisions(self) -> int:
        return int(self._tally[0])

    @property
    def deaths(self) -> int:
        """Cells that died of baseline death or chemotherapy, or were killed."""
        return int(self._tally[1]) + int(self._tally[2]) + self.killed

    @property
    def chemo_kills(self) -> int:
        """Cells killed by chemotherapy at division."""
        return int(self._tally[2])

    @property
    def ifng_arrests(self) -> int:
        """Divisions arrested by IFN-γ."""
        return int(self._tally[3])

    # ------------------------------------------------------------------ set-up
    def seed(self, initial, now: float) -> None:
        """Place the initial tumor: a disk (nodule) around the centre, or scattered (dispersed)."""
        t = self.tissue
        n = initial.cells
        jitter = self.rng.random((t.width, t.height))
        if initial.type == "nodule":
            key = self.space.distance_from_centre() + 1e-3 * jitter  # nearest first, ties at random
        else:
            key = jitter
        flat = np.argpartition(key.ravel(), n - 1)[:n]
        flat = flat[np.argsort(key.ravel()[flat], kind="stable")]
        self.add_many(flat // t.height, flat % t.height, self.initial_densities(n), now,
                      self.residual_cycle_times(n))

    def _heap_room(self, n: int) -> None:
        """Room for ``n`` more queued events."""
        size = int(self.heap_meta[kernels.SIZE])
        if size + n > self.heap_time.size:
            capacity = self.heap_time.size
            while capacity < size + n:
                capacity *= 2
            time = np.zeros(capacity)
            key = np.zeros((capacity, 4), dtype=np.int64)
            time[:size], key[:size] = self.heap_time[:size], self.heap_key[:size]
            self.heap_time, self.heap_key = time, key

    def add_many(self, xs: np.ndarray, ys: np.ndarray, densities: np.ndarray, now: float,
                 first_division_in: np.ndarray) -> np.ndarray:
        """Place cells at free sites (xs, ys) in bulk (the rules of :meth:`add`); returns their slots."""
        n = len(xs)
        c = self.counters
        if c[N_FREE] or n == 0:  # reused slots are scattered: place one by one
            return np.array([self.add(int(x), int(y), d, now, float(r))
                             for x, y, d, r in zip(xs, ys, densities, first_division_in, strict=True)],
                            dtype=np.int64)
        self.reserve(n)
        slots = np.arange(c[NEXT], c[NEXT] + n)
        c[NEXT] += n
        self.alive[slots] = True
        self.pos[slots, 0], self.pos[slots, 1] = xs, ys
        self.layer[xs, ys] = slots
        np.add.at(self.blocks, (np.asarray(xs) >> BLOCK_SHIFT, np.asarray(ys) >> BLOCK_SHIFT), 1)
        self.quiescent[slots] = False
        self.uid[slots] = c[LAST_UID] + 1 + np.arange(n)
        c[LAST_UID] += n
        self.antigen[slots] = densities
        self.bind_p[slots] = self.binding_probabilities(densities, slots)
        # the first event of each: division or death, whichever comes first
        self.event_gen[slots] += 1
        death_in = (self.rng.exponential(self.death_mean_min, size=n) if self.death_rate_per_min > 0
                    else np.full(n, math.inf))
        divide = first_division_in <= death_in
        times = now + np.where(divide, first_division_in, death_in)
        kinds = np.where(divide, kernels.DIVIDE, kernels.DIE).astype(np.int64)
        self._heap_room(n + 16)
        kernels.push_many(self.heap_time, self.heap_key, self.heap_meta, times.astype(np.float64),
                          slots, self.event_gen[slots], kinds)
        return slots

    def binding_probabilities(self, densities: np.ndarray, slots: np.ndarray | None = None) -> np.ndarray:
        """Per-step binding probability by product for cells with ``densities`` (n_cells, n_antigens).

        With IFN-γ raising antigen (``tumor.ifng_bystander.antigen_fold``), the cells in ``slots``
        that sense IFN-γ now are seen with their densities times the fold.
        """
        if self.antigen_fold != 1.0 and slots is not None:
            exposed = self.exposed(slots)
            self.seen_exposed[slots] = exposed
            densities = densities * np.where(exposed, self.antigen_fold, 1.0)[:, None]
        return np.column_stack([d.binding_per_step(densities, self.hop_rate_per_min, self.dt_min)
                                for d in self.designs])

    def exposed(self, slots: np.ndarray) -> np.ndarray:
        """Mask of the cells in ``slots`` at sites where the sensed cytokine reaches the bystander threshold."""
        slots = np.asarray(slots, dtype=np.int64)
        if self.bystander is None or self.ifng_pM is _NO_FIELD:
            return np.zeros(slots.size, dtype=bool)
        return self.ifng_pM[self.x[slots], self.y[slots]] >= self.bystander.threshold_pM

    def sense_ifng(self, field_pM: np.ndarray) -> None:
        """The sensed cytokine has changed (pM): with an antigen fold, refresh the binding of the
        cells whose exposure changed."""
        self.ifng_pM = field_pM
        if self.antigen_fold != 1.0:
            live = self.live_slots()
            changed = live[self.exposed(live) != self.seen_exposed[live]]
            if changed.size:
                self.bind_p[changed] = self.binding_probabilities(self.antigen[changed], changed)

    def die_where_exposed(self, field_pM: np.ndarray, threshold_pM: float, p_die: float, now: float,
                          reference: bool = False) -> int:
        """Cells at sites where ``field_pM`` is at least ``threshold_pM`` die with probability ``p_die``
        (one interval's hazard, :func:`cartsim.rates.hazard_probability`); returns how many died.
        ``reference``: the same rule in numpy (for tests)."""
        if p_die <= 0.0 or self.count == 0:
            return 0
        if reference:
            live = self.live_slots()
            hit = live[field_pM[self.x[live], self.y[live]] >= threshold_pM]
            dead = hit[self.rng.random(hit.size) < p_die]
        else:
            dead = kernels.exposed_deaths(self.alive, self.pos, self._next, field_pM, threshold_pM, p_die,
                                          self.stream)
        self.remove_many(dead, now)
        self.killed -= int(dead.size)  # not CAR-T kills: counted apart
        self.bystander_deaths += int(dead.size)
        return int(dead.size)

    def irradiate(self, surviving_fraction: float, region_mask: np.ndarray | None, now: float) -> int:
        """A radiation dose: each live cell in ``region_mask`` (x, y; None: everywhere) survives with
        ``surviving_fraction`` (linear-quadratic, :attr:`RadiationConfig.surviving_fraction`); returns
        how many died. A whole-tissue one-off event: numpy over the live cells."""
        live = self.live_slots()
        if region_mask is not None:
            live = live[region_mask[self.x[live], self.y[live]]]
        dead = live[self.rng.random(live.size) >= surviving_fraction]
        self.remove_many(dead, now)
        self.killed -= int(dead.size)
        self.radiation_kills += int(dead.size)
        return int(dead.size)

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
        """Place one cell at the free site (x, y); its first division in ``first_division_in``
        minutes (default: a full cycle), unless it dies first."""
        slot = self.allocate()
        self.place(slot, (x, y))
        self.quiescent[slot] = False
        self.set_antigens(slot, densities)
        self.schedule_next_event(slot, now, first_division_in)
        return slot

    def set_antigens(self, slot: int, densities: np.ndarray) -> None:
        self.antigen[slot] = densities
        self.bind_p[slot] = self.binding_probabilities(np.asarray(densities)[None, :], np.array([slot]))[0]

    def schedule_next_event(self, slot: int, now: float, division_in: float | None = None) -> None:
        """Queue whichever comes first: division (gamma cycle) or death (exponential)."""
        if division_in is None:
            division_in = self.rng.gamma(self.k_shape, self.theta_min)
        self._heap_room(16)
        kernels.schedule(slot, now, float(division_in), self.event_gen, self.heap_time, self.heap_key,
                         self.heap_meta, self.death_mean_min, self.stream)

    def process_events(self, until: float) -> None:
        """Run every division and death due up to ``until`` (minutes), in time order."""
        blocker = self.tissue.tcell
        while True:
            status = kernels.run_events(
                until, self.heap_time, self.heap_key, self.heap_meta, self.counters, self.alive,
                self.pos, self.uid, self.layer, self.blocks, blocker, self.blocked_by_tcells, self.space.kind,
                self.quiescent, self.event_gen, self.antigen, self.free, self.tissue.died_at,
                self.death_mean_min, self.k_shape, self.theta_min, self.growth_rate_per_min,
                self.noise_sigma, self.loss_p, self._changed, self._n_changed, self._removed,
                self._n_removed, self._tally, self.chemo_kill_p, self.p_arrest, self.ifng_pM,
                self.bystander.threshold_pM if self.bystander else 0.0, self.stream,
            )
            if status == kernels.NEED_HEAP:
                self._heap_room(2 * self.heap_time.size)
            elif status == kernels.NEED_SLOTS:
                self.reserve(self._capacity)
            elif status == kernels.OUTPUT_FULL or status == kernels.DONE:
                self._collect()
            if status == kernels.DONE:
                return

    def _collect(self) -> None:
        """Act on what the event loop reported: new binding probabilities, agents of the dead."""
        n = int(self._n_changed[0])
        if n:
            slots = self._changed[:n]  # a slot listed twice gets the same value twice
            self.bind_p[slots] = self.binding_probabilities(self.antigen[slots], slots)
            self._n_changed[0] = 0
        n = int(self._n_removed[0])
        if n:
            if self._agents:
                for slot, uid in self._removed[:n].tolist():
                    self.drop_agent(slot, uid)
            self._n_removed[0] = 0

    def process_events_reference(self, until: float) -> None:
        """The rule of :meth:`process_events` in Python: the same queue, events run one by one with
        :meth:`divide` and :meth:`die` (numpy's generator; for tests)."""
        while self.heap_meta[kernels.SIZE] > 0 and self.heap_time[0] <= until:
            time = float(self.heap_time[0])
            _, slot, gen, kind = self.heap_key[0].tolist()
            kernels.pop(self.heap_time, self.heap_key, self.heap_meta)
            if gen != self.event_gen[slot] or not self.alive[slot]:
                continue  # the cell died, was killed or rescheduled since this was queued
            if kind == kernels.DIE:
                self.die(slot, time)
            else:
                self.divide(slot, time)

    def divide(self, slot: int, now: float) -> None:
        """The division rule of the event loop, in Python (numpy's generator; for tests).

        Divide into a free neighbouring site, or become quiescent if there is none; with room,
        chemotherapy may kill the cell instead (``chemo_kill_p``), or IFN-γ arrest it (a new cycle
        starts). In a stirred
        tissue the daughter's site is drawn anywhere; if it is taken the division fails and the
        cell starts a new cycle (there are no neighbours to wait for).
        """
        x, y = int(self.x[slot]), int(self.y[slot])
        blocker = self.tissue.tcell if self.blocked_by_tcells else None
        site = self.space.daughter_site(self.layer, (x, y), self.rng, blocker)
        if site is None and self.space.kind == kernels.STIRRED:
            self.schedule_next_event(slot, now)
            return
        if site is None:
            self.quiescent[slot] = True
            # still mortal while waiting: death is memoryless, so a fresh draw is exact
            self.event_gen[slot] += 1
            if self.death_rate_per_min > 0:
                self._heap_room(1)
                kernels.push(self.heap_time, self.heap_key, self.heap_meta,
                             now + self.rng.exponential(self.death_mean_min), slot,
                             int(self.event_gen[slot]), kernels.DIE)
            return
        if self.chemo_kill_p > 0 and self.rng.random() < self.chemo_kill_p:
            self._tally[2] += 1
            self._free_site(slot, now)
            return
        if self.p_arrest > 0 and self.exposed(np.array([slot]))[0] and self.rng.random() < self.p_arrest:
            self._tally[3] += 1
            self.schedule_next_event(slot, now)
            return
        nx, ny = site
        parent = self.antigen[slot].copy()
        self._tally[0] += 1
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
        """A tumor cell is killed (or removed by hand): free its site and wake waiting neighbours."""
        self.killed += 1
        self._free_site(slot, now)

    def remove_many(self, slots: np.ndarray, now: float) -> None:
        """Cells in ``slots`` (distinct) are killed at ``now``, in order (the rule of :meth:`remove`)."""
        slots = np.asarray(slots, dtype=np.int64)
        if slots.size == 0:
            return
        uids = self.uid[slots].tolist() if self._agents else None
        self._heap_room(8 * slots.size + 16)
        kernels.remove_cells(slots, now, self.alive, self.pos, self.layer, self.blocks, self.free, self.counters,
                             self.event_gen, self.tissue.died_at, self.quiescent, self.heap_time,
                             self.heap_key, self.heap_meta, self.death_mean_min, self.k_shape,
                             self.theta_min, self.growth_rate_per_min, self.stream)
        self.killed += int(slots.size)
        if uids is not None:
            for slot, uid in zip(slots.tolist(), uids, strict=True):
                self.drop_agent(slot, uid)

    def die(self, slot: int, now: float) -> None:
        """Baseline death, in Python (the event loop's rule; for tests)."""
        self._tally[1] += 1
        self._free_site(slot, now)

    def _free_site(self, slot: int, now: float) -> None:
        x, y = int(self.x[slot]), int(self.y[slot])
        self.event_gen[slot] += 1
        self.release(slot)
        self.tissue.died_at[x, y] = now
        self.wake_around(np.array([x]), np.array([y]), now)

    def wake_around(self, xs: np.ndarray, ys: np.ndarray, now: float) -> None:
        """Contact-inhibited cells next to freed sites (xs, ys) resume cycling at a random point of their cycle.

        Sites free up for tumor cells when a tumor cell dies and, where T cells hold their site
        against tumor cells (``tcells_squeeze_past_tumor: false``), when a T cell leaves or dies.
        """
        xs = np.asarray(xs, dtype=np.int64)
        if xs.size == 0:
            return
        self._heap_room(8 * xs.size + 16)
        kernels.wake(xs, np.asarray(ys, dtype=np.int64), now, self.layer, self.quiescent, self.event_gen,
                     self.heap_time, self.heap_key, self.heap_meta, self.death_mean_min, self.k_shape,
                     self.theta_min, self.growth_rate_per_min, self.stream)

    # ------------------------------------------------------------------ observation
    def phenotype_codes(self, slots: np.ndarray) -> np.ndarray:
        """Bit i set where antigen i is present."""
        present = self.antigen[slots] > 0
        return (present * (1 << np.arange(self.n_antigens))).sum(axis=1)

    def census_by_phenotype(self) -> np.ndarray:
        """Number of live cells per phenotype code."""
        slots = self.live_slots()
        return np.bincount(self.phenotype_codes(slots), minlength=2**self.n_antigens)

    #: extra census columns, each shown only when its mechanism is on (so default outputs keep their shape)
    reports: tuple[str, ...] = ()

    def census_columns(self) -> list[str]:
        return ["tumor_total", *(f"tumor_{p}" for p in self.phenotypes), "divisions_tumor_total", *self.reports]

    def census(self) -> dict[str, float]:
        """Live cells in all and by phenotype, and divisions so far (and the deaths of the treatments
        and bystander effects switched on)."""
        by_pheno = self.census_by_phenotype()
        out: dict[str, float] = {"tumor_total": int(by_pheno.sum())}
        out.update(zip((f"tumor_{p}" for p in self.phenotypes), by_pheno.tolist(), strict=True))
        out["divisions_tumor_total"] = self.divisions
        extra = {"chemo_kills_total": self.chemo_kills, "radiation_kills_total": self.radiation_kills,
                 "bystander_deaths_total": self.bystander_deaths, "ifng_arrests_total": self.ifng_arrests}
        out.update({k: extra[k] for k in self.reports})
        return out

    def snapshot_layers(self, shape: tuple[int, ...]) -> dict[str, np.ndarray]:
        """Phenotype code (-1: none) and antigen densities (antigen, x, y) of the cell at each site."""
        pheno = np.full(shape, -1, dtype=np.int8)
        antigen = np.zeros((self.n_antigens, *shape), dtype=np.float32)
        slots = self.live_slots()
        pheno[self.x[slots], self.y[slots]] = self.phenotype_codes(slots)
        antigen[:, self.x[slots], self.y[slots]] = self.antigen[slots].T
        return {"tumor_phenotype": pheno, "tumor_antigen": antigen}

    def legend(self) -> list[tuple[str, int, str]]:
        return [("tumor_phenotype", code, name) for code, name in enumerate(phenotype_names(self.antigen_names))]
