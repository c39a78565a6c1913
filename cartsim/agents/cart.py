"""CAR-T cells: migration, recognition, killing, serial killing and exhaustion, expansion, death.

A CAR-T cell is in one of three states:

* **active**: migrating (persistent random walk, optionally chemotactic) and scanning the tumor
  cells it touches (its own site and the 8 around it);
* **engaged**: bound to one tumor cell whose antigen profile satisfies its CAR. It kills at
  ``kill_rate_per_h`` and lets go without a kill at ``detach_rate_per_h`` (both per hour of contact);
  the engagement also ends at once if the target dies or no longer carries the antigen;
* **exhausted**: after ``max_kills`` kills it keeps migrating but no longer kills, secretes or divides.

A binding activates the cell for ``activation_window_h``: activated cells secrete cytokines and
divide (rate ``ln2/division_time_h``, boosted by IL-2 up to ``1 + il2_max_boost``), into a free
neighbouring site, at most ``max_divisions`` times per lineage; daughters inherit the parent's
activation but start with no kills, as in CARCADE (Prybutok et al. 2022), so ``max_kills`` limits
each cell and ``max_divisions`` limits each lineage. Each cell dies after an exponentially
distributed lifespan. Whole populations move and interact in bulk numpy operations; Python runs
only per event (a kill, a division, a death).

Mechanisms that are off by default (``docs/model.md`` §7.12-7.15): cells of a dose with a CD4:CD8
ratio are CD4 or CD8, each subset with its own kill rate, division time, lifespan and secretion
(``subset``); resting effectors become memory cells, re-activated by antigen (``memory``); engaged
cells turn PD-1+, and a PD-1+ cell's engagement of a PD-L1+ tumor cell may be inhibited (``pd1``,
``inhibited``); each binding takes antigen from the target, which the cell carries and for which
other CAR-T may kill it (``carried``, fratricide). Combination therapy (§7.17-7.18): after
lymphodepletion every effector divides at an extra homeostatic rate (``homeostatic_rate``), and
cells of an armored product secrete its payload cytokine (:meth:`CarTPopulation.secrete_payload`).
"""

from __future__ import annotations

import math

import numpy as np

from cartsim import rates
from cartsim.agents import cart_kernels as kernels
from cartsim.agents.kernel_random import new_stream
from cartsim.agents.base import LatticeCell
from cartsim.agents.population import Population
from cartsim.environment.space import CONTACT_OFFSETS, OFFSETS, STIRRED
from cartsim.units import CAR_T_STATES, MEMORY_PICTURE_CODE, TCELL_PICTURE_STATES

ACTIVE, ENGAGED, EXHAUSTED = (CAR_T_STATES.index(s) for s in ("active", "engaged", "exhausted"))
#: T-cell subsets by code: cells infused without a CD4:CD8 ratio have none (the ``car_t`` values).
SUBSETS = ("none", "cd4", "cd8")
NO_SUBSET, CD4, CD8 = range(3)
NO_DIRECTION = -1
_NO_FIELD = np.zeros((1, 1), dtype=np.float32)  # stands in for the chemoattractant when chemotaxis is off


class CarTCell(LatticeCell):
    """A CAR-T cell (a Mesa agent). Its state lives in :class:`CarTPopulation` arrays."""

    @property
    def state(self) -> str:
        return CAR_T_STATES[self.population.state[self.slot]]

    @property
    def product(self) -> str:
        return self.population.designs[self.population.product[self.slot]].name

    @property
    def kills(self) -> int:
        return int(self.population.kills[self.slot])


class CarTPopulation(Population):
    """All CAR-T cells of a model."""

    name = "cart"
    agent_class = CarTCell
    _fields = {
        "state": (np.int8, (), ACTIVE),
        "product": (np.int16, (), 0),
        "kills": (np.int32, (), 0),
        "divisions": (np.int32, (), 0),
        "target": (np.int64, (), -1),
        "target_uid": (np.int64, (), -1),
        "direction": (np.int8, (), NO_DIRECTION),
        "last_stimulated": (np.float64, (), -np.inf),  # minute of the last binding
        "death_at": (np.float64, (), np.inf),  # minute of death (drawn at birth)
        "subset": (np.int8, (), NO_SUBSET),  # T-cell subset (SUBSETS), inherited by daughters
        "memory": (np.bool_, (), False),  # a memory cell (car_t.memory), else an effector
        "pd1": (np.bool_, (), False),  # PD-1+ (car_t.pd1), inherited by daughters
        "inhibited": (np.bool_, (), False),  # the current engagement is inhibited by PD-1/PD-L1
        "carried": (np.float64, (0,), 0.0),  # antigen taken by trogocytosis (molecules, by antigen)
    }

    def __init__(self, model, tissue, config, designs, tumor, dt_min: float):
        self._fields = {**type(self)._fields, "carried": (np.float64, (len(config.antigens),), 0.0)}
        super().__init__(model, tissue, tissue.tcell)
        c = config.car_t
        self.rng: np.random.Generator = model.rng
        self.designs = designs
        self.tumor = tumor
        self.dt = dt_min
        self.hop_rate = rates.hop_rate_per_min(c.speed_um_per_min, config.tissue.site_um)
        self.p_hop = rates.hop_probability(self.hop_rate, dt_min)
        self.p_keep_direction = rates.persistence_probability(self.hop_rate, c.persistence_min)
        # per subset (indexed by SUBSETS): cells without one take the car_t values
        by_subset = [{k: getattr(c, k) for k in ("kill_rate_per_h", "division_time_h", "lifespan_days")},
                     c.subset("cd4"), c.subset("cd8")]
        # [subset, inhibited]: an engagement inhibited by PD-1/PD-L1 kills at a fraction of the rate
        ends = [[self._kill_and_detach(b["kill_rate_per_h"] * f, c.detach_rate_per_h, dt_min)
                 for f in (1.0, c.pd1.inhibited_kill_fraction)] for b in by_subset]
        self.p_kill_by = np.array([[e[0] for e in row] for row in ends])
        self.p_detach_by = np.array([[e[1] for e in row] for row in ends])
        self.p_kill, self.p_detach = ends[NO_SUBSET][0]
        self.max_kills = c.max_kills
        self.window = c.activation_window_h * rates.MINUTES_PER_HOUR
        self.division_rate_by = np.array([math.log(2.0) / (b["division_time_h"] * rates.MINUTES_PER_HOUR)
                                          for b in by_subset])
        self.division_rate = float(self.division_rate_by[NO_SUBSET])
        self.il2_boost, self.il2_half_max = c.il2_max_boost, c.il2_half_max_pM
        self.max_divisions = c.max_divisions
        self.mean_lifespan_by = np.array([b["lifespan_days"] * rates.MINUTES_PER_DAY for b in by_subset])
        self.mean_lifespan = float(self.mean_lifespan_by[NO_SUBSET])
        #: secretion (molecules/cell/min) of activated cells by subset and cytokine; cells without a
        #: subset secrete through the cytokines' own rates (CytokineFields.secrete)
        self.cytokine_names = tuple(config.cytokines)
        self.secretion_by = np.array([
            [getattr(c, key).secretion_per_activated_cell_per_min.get(name, cyt.secretion_per_activated_cell_per_min)
             for name, cyt in config.cytokines.items()] if key else [0.0] * len(config.cytokines)
            for key in (None, "cd4", "cd8")])
        self.memory_on = c.memory.enabled
        self.p_memory = float(rates.hazard_probability(c.memory.formation_per_day / rates.MINUTES_PER_DAY, dt_min))
        self.mean_memory_lifespan = c.memory.lifespan_days * rates.MINUTES_PER_DAY
        self.pd1_on = c.pd1.enabled
        self.p_pd1 = float(rates.hazard_probability(rates.per_minute(c.pd1.induction_per_h), dt_min)) if self.pd1_on else 0.0
        self.pdl1 = config.tumor.pdl1
        self.pdl1_half_max = c.pd1.pdl1_half_max_per_cell
        self.blockade = 0.0  # the anti-PD-1 blockade in effect (set by the model from its treatments)
        self.reports_blockade = any(t.kind == "anti_pd1" for t in config.treatments)
        trog = c.trogocytosis
        self.trogocytosis_on = trog.enabled
        self.trogocytosis_fraction = trog.fraction_per_engagement
        self.fratricide_on = trog.enabled and trog.fratricide
        self.carried_decay = math.exp(-math.log(2.0) * dt_min / (trog.carried_half_life_h * rates.MINUTES_PER_HOUR))
        # the antigens each product's CAR binds (and takes by trogocytosis)
        self.targets_mask = np.zeros((len(designs), len(config.antigens)), dtype=bool)
        for i, d in enumerate(designs):
            self.targets_mask[i, list(d.antigen_index)] = True
        # kill rate (1/min) by subset, for fratricide
        self.kill_rate_by = np.array([rates.per_minute(b["kill_rate_per_h"]) for b in by_subset])
        self._bound = np.zeros(0, dtype=np.int64)  # seek_targets(): the cells that bound, in order
        self.trogocytosis_escapes = 0  # tumor cells no product binds any more, after trogocytosis
        self.fratricide_total = 0
        #: CD4/CD8 columns in the census when some dose gives a CD4:CD8 ratio
        self.subsets_in_use = any(d.cd4_fraction is not None for d in config.dosing)
        self.chemotaxis = c.chemotaxis
        #: extra division rate (1/min) of every effector after lymphodepletion (set by the model)
        self.homeostatic_rate = 0.0
        #: armored products: (product index, payload cytokine, molecules/cell/min, inducible)
        self.payloads = [(i, p.armored.cytokine, p.armored.secretion_per_activated_cell_per_min, p.armored.inducible)
                         for i, p in enumerate(config.products) if p.armored is not None]
        self.kills_total = 0
        self._claimed = np.zeros(0, dtype=np.int64)  # attack(): tumor slots taken this step, by stamp
        self._stamp = 0
        self.stream = new_stream(self.rng)  # the compiled rules' random numbers

    @staticmethod
    def _kill_and_detach(kill_rate_per_h: float, detach_rate_per_h: float, dt_min: float) -> tuple[float, float]:
        """Per-step chances that an engagement ends in a kill, or without one."""
        kill, detach = rates.per_minute(kill_rate_per_h), rates.per_minute(detach_rate_per_h)
        # kill and detachment compete; split the chance that either ends the contact in their ratio
        p_end = float(rates.hazard_probability(kill + detach, dt_min))
        p_kill = p_end * kill / (kill + detach) if kill + detach > 0 else 0.0
        return p_kill, p_end - p_kill

    # ------------------------------------------------------------------ birth and death
    def add(self, x, y, product: int, now: float, *, kills=0, divisions=0, last_stimulated=-np.inf,
            subset: int = NO_SUBSET) -> int:
        slot = self.allocate()
        self.place(slot, (x, y))
        self.state[slot] = EXHAUSTED if kills >= self.max_kills else ACTIVE
        self.product[slot] = product
        self.kills[slot] = kills
        self.divisions[slot] = divisions
        self.target[slot] = -1
        self.direction[slot] = NO_DIRECTION
        self.last_stimulated[slot] = last_stimulated
        self.subset[slot] = subset
        self.memory[slot] = False
        self.pd1[slot] = False
        self.inhibited[slot] = False
        self.carried[slot] = 0.0
        self.death_at[slot] = now + self.rng.exponential(self.mean_lifespan_by[subset])
        return slot

    def infuse(self, cells: int, product: int, route: str, now: float, cd4_fraction: float | None = None) -> int:
        """Place an infusion of ``cells`` CAR-T at free sites along ``route``; returns how many fitted.

        With ``cd4_fraction`` f, the cells placed are CD4 and CD8 in the ratio f : 1 - f: cell i
        (in the order placed) is CD4 when ⌊(i + 1)·f⌋ > ⌊i·f⌋, which spreads the ⌊n·f⌋ CD4 cells
        evenly along the entry sites without a random draw.
        """
        xs, ys = self.tissue.entry_sites(route, cells, self.rng)
        if cd4_fraction is None:
            subsets = [NO_SUBSET] * len(xs)
        else:
            i = np.arange(len(xs))
            subsets = np.where(np.floor((i + 1) * cd4_fraction + 1e-9) > np.floor(i * cd4_fraction + 1e-9),
                               CD4, CD8).tolist()
        for x, y, sub in zip(xs.tolist(), ys.tolist(), subsets, strict=True):
            self.add(x, y, product, now, subset=sub)
        return len(xs)

    def die_of_age(self, now: float) -> None:
        """Cells whose lifespan (drawn at birth) ends by ``now`` die."""
        dying = kernels.dying(self.alive, self.death_at, self._next, now)
        for slot in dying.tolist():
            self.release(slot)
        self._left(self.x[dying], self.y[dying], now)

    def _left(self, xs: np.ndarray, ys: np.ndarray, now: float) -> None:
        """T cells have left sites (xs, ys). Where T cells hold their site against tumor cells,
        contact-inhibited tumor cells next to a site that is now empty may divide again."""
        if self.tissue.tcells_squeeze_past_tumor or xs.size == 0:
            return
        empty = self.layer[xs, ys] < 0
        self.tumor.wake_around(xs[empty], ys[empty], now)

    # ------------------------------------------------------------------ killing
    def attack(self, now: float) -> list[tuple[int, int]]:
        """Engaged cells kill their target, let go, or hold on; engagements whose contact ended stop.

        Returns the sites of this step's kills (where killed cells release cytokines).
        """
        tumor = self.tumor
        if self._claimed.size < tumor.alive.size:
            self._claimed = np.zeros(tumor.alive.size, dtype=np.int64)
            self._stamp = 0
        self._stamp += 1
        winners, victims = kernels.attack(
            self.alive, self.state, self.target, self.target_uid, self.product, self.kills, self.subset,
            self.inhibited, self.pd1, self._next, self.max_kills, tumor.alive, tumor.uid, tumor.bind_p,
            self.p_kill_by, self.p_detach_by, self.p_pd1, self._claimed, self._stamp, self.stream,
        )
        if winners.size == 0:
            return []
        sites = list(zip(tumor.x[victims].tolist(), tumor.y[victims].tolist(), strict=True))
        tumor.remove_many(victims, now)
        # serial killing continues until max_kills
        self.kills[winners] += 1
        self.kills_total += int(winners.size)
        self.last_stimulated[winners] = now
        self._disengage(winners)
        return sites

    def attack_reference(self, now: float) -> list[tuple[int, int]]:
        """The rule of :meth:`attack` in numpy (for tests)."""
        sites: list[tuple[int, int]] = []
        live = self.live_slots()
        eng = live[self.state[live] == ENGAGED]
        if eng.size == 0:
            return sites
        tgt = self.target[eng]
        tumor = self.tumor
        still_there = tumor.alive[tgt] & (tumor.uid[tgt] == self.target_uid[eng])
        still_bindable = tumor.bind_p[tgt, self.product[eng]] > 0  # the target may have lost the antigen
        contact = still_there & still_bindable
        u = self.rng.random(eng.size)
        if self.p_pd1 > 0:  # PD-1 rises with time in contact
            gain = eng[contact & ~self.pd1[eng]]
            self.pd1[gain[self.rng.random(gain.size) < self.p_pd1]] = True
        row, col = self.subset[eng], self.inhibited[eng].astype(np.int64)
        p_kill, p_detach = self.p_kill_by[row, col], self.p_detach_by[row, col]
        kill = contact & (u < p_kill)
        release = ~contact | (~kill & (u < p_kill + p_detach))
        self._disengage(eng[release])
        killers = eng[kill]
        if killers.size:
            # several cells may kill the same target in one step: the first in random order does
            order = self.rng.permutation(killers.size)
            _, first = np.unique(self.target[killers[order]], return_index=True)
            winners = killers[order[first]]
            for slot in winners.tolist():
                sites.append(self.kill(slot, now))
            self._disengage(killers)  # the others lost their target
        return sites

    def kill(self, slot: int, now: float) -> tuple[int, int]:
        """This cell kills its target (returns the site); serial killing continues until ``max_kills``."""
        target = int(self.target[slot])
        site = (int(self.tumor.x[target]), int(self.tumor.y[target]))
        self.tumor.remove(target, now)
        self.kills[slot] += 1
        self.kills_total += 1
        self.last_stimulated[slot] = now
        return site

    def _disengage(self, slots: np.ndarray) -> None:
        self.target[slots] = -1
        self.state[slots] = np.where(self.kills[slots] >= self.max_kills, EXHAUSTED, ACTIVE)

    # ------------------------------------------------------------------ recognition
    def seek_targets(self, now: float, pdl1_inducer_pM: np.ndarray | None = None) -> tuple[int, int]:
        """Active cells test the tumor cells they touch; a successful binding engages the cell.

        ``pdl1_inducer_pM``: the cytokine raising tumor PD-L1 (``tumor.pdl1.inducer``), read by
        PD-1+ cells (none: no induced PD-L1). Returns (contacts tested, bindings) of this step.
        """
        tumor = self.tumor
        inducer = _NO_FIELD if pdl1_inducer_pM is None else pdl1_inducer_pM
        pdl1 = self.pdl1
        if self._bound.size < self._next:
            self._bound = np.zeros(self.alive.size, dtype=np.int64)
        tested, bound = kernels.seek_targets(
            self.alive, self.state, self.pos, self.product, self.target, self.target_uid,
            self.last_stimulated, self._next, now, tumor.layer, tumor.blocks, tumor.uid, tumor.bind_p,
            self.memory, self.divisions, self.death_at, self.subset, self.mean_lifespan_by, self.pd1,
            self.inhibited, tumor.pos, inducer, pdl1.base_per_cell,
            pdl1.ifng_induced_per_cell if pdl1_inducer_pM is not None else 0.0, pdl1.ifng_half_max_pM,
            self.pdl1_half_max, self.blockade, self._bound, self.stream,
        )
        if self.trogocytosis_on and bound:
            self.trogocytose(self._bound[:bound])
        return tested, bound

    def pdl1_density(self, tumor_slots: np.ndarray, pdl1_inducer_pM: np.ndarray | None) -> np.ndarray:
        """PD-L1 (molecules/cell) of tumor cells: constitutive plus induced by the cytokine at their site."""
        p = self.pdl1
        if pdl1_inducer_pM is None:
            return np.full(len(tumor_slots), p.base_per_cell)
        c = pdl1_inducer_pM[self.tumor.x[tumor_slots], self.tumor.y[tumor_slots]]
        return p.base_per_cell + p.ifng_induced_per_cell * c / (c + p.ifng_half_max_pM)

    def seek_targets_reference(self, now: float, pdl1_inducer_pM: np.ndarray | None = None) -> None:
        """The rule of :meth:`seek_targets` in numpy (for tests)."""
        live = self.live_slots()
        act = live[self.state[live] == ACTIVE]
        if act.size == 0 or self.tumor.count == 0:
            return
        nx = self.x[act, None] + CONTACT_OFFSETS[None, :, 0]
        ny = self.y[act, None] + CONTACT_OFFSETS[None, :, 1]
        inside = self.tissue.inside(nx, ny)
        slots = np.where(inside, self.tumor.layer[np.clip(nx, 0, self.tissue.width - 1),
                                                  np.clip(ny, 0, self.tissue.height - 1)], -1)
        touching = slots >= 0
        if not touching.any():
            return
        p = np.where(touching, self.tumor.bind_p[np.maximum(slots, 0), self.product[act, None]], 0.0)
        bound = self.rng.random(p.shape) < p
        hit = bound.any(axis=1)
        if not hit.any():
            return
        # among several successful contacts, pick one at random
        choice = np.argmax(bound[hit] * self.rng.random((int(hit.sum()), p.shape[1])), axis=1)
        cells = act[hit]
        targets = slots[hit][np.arange(cells.size), choice]
        self.state[cells] = ENGAGED
        self.target[cells] = targets
        self.target_uid[cells] = self.tumor.uid[targets]
        # PD-1+ cells meeting PD-L1: the engagement is inhibited and does not stimulate the cell
        self.inhibited[cells] = False
        if self.pd1[cells].any():
            ligand = self.pdl1_density(targets, pdl1_inducer_pM)
            q = (1.0 - self.blockade) * ligand / (ligand + self.pdl1_half_max)
            self.inhibited[cells] = self.pd1[cells] & (self.rng.random(cells.size) < q)
        stimulated = cells[~self.inhibited[cells]]
        self.last_stimulated[stimulated] = now
        self._reactivate(cells[self.memory[cells]], now)
        if self.trogocytosis_on:
            self.trogocytose(cells)

    def _reactivate(self, cells: np.ndarray, now: float) -> None:
        """Memory cells that bound antigen become effectors: a new clone, a new effector lifespan."""
        self.memory[cells] = False
        self.divisions[cells] = 0
        self.death_at[cells] = now + self.rng.exponential(self.mean_lifespan_by[self.subset[cells]])

    # ------------------------------------------------------------------ trogocytosis
    def trogocytose(self, cells: np.ndarray) -> int:
        """Cells that just bound take a fraction of their target's density of each antigen their CAR
        targets, in order (several cells on one target take in turn). Tumor cells that no product
        binds any more have escaped; returns how many escaped."""
        tumor = self.tumor
        targets = self.target[cells]
        before = (tumor.bind_p[targets] > 0).any(axis=1)
        f = self.trogocytosis_fraction
        for c, t in zip(cells.tolist(), targets.tolist(), strict=True):
            take = tumor.antigen[t] * f * self.targets_mask[self.product[c]]
            tumor.antigen[t] -= take
            self.carried[c] += take
        hit = np.unique(targets)
        tumor.bind_p[hit] = tumor.binding_probabilities(tumor.antigen[hit], hit)
        after = (tumor.bind_p[targets] > 0).any(axis=1)
        escaped = np.unique(targets[before & ~after]).size
        self.trogocytosis_escapes += escaped
        return escaped

    def fratricide(self, now: float) -> int:
        """CAR-T carrying antigen are killed by the CAR-T around them (``car_t.trogocytosis.fratricide``);
        carried antigen decays first. Returns the number killed."""
        if not self.trogocytosis_on:
            return 0
        n = self._next
        self.carried[:n] *= self.carried_decay
        self.carried[:n][self.carried[:n] < 1.0] = 0.0  # below one molecule: gone
        if not self.fratricide_on:
            return 0
        carriers = np.flatnonzero(self.alive[:n] & (self.carried[:n] > 0).any(axis=1))
        if carriers.size == 0:
            return 0
        encounter_p = np.zeros((self.alive.size, len(self.designs)))
        encounter_p[carriers] = np.column_stack([d.encounter_probability(self.carried[carriers])
                                                 for d in self.designs])
        victims = kernels.fratricide(self.alive, self.state, self.memory, self.pos, self.product, self.subset,
                                     self.kills, self.last_stimulated, encounter_p, carriers, self.layer,
                                     self.max_kills, self.kill_rate_by, self.dt, now, self.stream)
        for slot in victims.tolist():
            self.release(slot)
        self._left(self.x[victims], self.y[victims], now)
        self.fratricide_total += int(victims.size)
        return int(victims.size)

    def fratricide_reference(self, now: float) -> int:
        """The rule of :meth:`fratricide` in numpy (for tests)."""
        if not self.trogocytosis_on:
            return 0
        n = self._next
        self.carried[:n] *= self.carried_decay
        self.carried[:n][self.carried[:n] < 1.0] = 0.0
        if not self.fratricide_on:
            return 0
        carriers = np.flatnonzero(self.alive[:n] & (self.carried[:n] > 0).any(axis=1))
        encounter_p = {d: self.designs[d].encounter_probability(self.carried[carriers])
                       for d in range(len(self.designs))}
        killed = 0
        for i in self.rng.permutation(carriers.size).tolist():
            v = int(carriers[i])
            x, y = int(self.x[v]), int(self.y[v])
            for dx, dy in OFFSETS.tolist():
                if not self.tissue.inside(x + dx, y + dy):
                    continue
                s = int(self.layer[x + dx, y + dy])
                if s < 0 or not self.alive[s] or self.state[s] != ACTIVE or self.memory[s]:
                    continue
                # a contact that binds kills at the neighbour's kill rate (cartsim.rates)
                hazard = self.kill_rate_by[self.subset[s]] * encounter_p[int(self.product[s])][i]
                if hazard > 0 and self.rng.random() < rates.hazard_probability(hazard, self.dt):
                    self.release(v)
                    self.kills[s] += 1
                    self.last_stimulated[s] = now
                    if self.kills[s] >= self.max_kills:
                        self.state[s] = EXHAUSTED
                    killed += 1
                    break
        self.fratricide_total += killed
        return killed

    # ------------------------------------------------------------------ differentiation
    def differentiate(self, now: float) -> int:
        """Resting effectors become memory cells at ``car_t.memory.formation_per_day`` (if enabled)."""
        if not self.memory_on:
            return 0
        return kernels.differentiate(self.alive, self.state, self.memory, self.last_stimulated, self.death_at,
                                     self._next, now, self.window, self.p_memory, self.mean_memory_lifespan,
                                     self.stream)

    def differentiate_reference(self, now: float) -> int:
        """The rule of :meth:`differentiate` in numpy (for tests)."""
        if not self.memory_on:
            return 0
        live = self.live_slots()
        resting = live[(self.state[live] == ACTIVE) & ~self.memory[live]
                       & (now - self.last_stimulated[live] > self.window)]
        formed = resting[self.rng.random(resting.size) < self.p_memory]
        self.memory[formed] = True
        self.death_at[formed] = now + self.rng.exponential(self.mean_memory_lifespan, size=formed.size)
        return int(formed.size)

    # ------------------------------------------------------------------ migration
    def move(self, now: float, chemoattractant: np.ndarray | None = None) -> int:
        """Unengaged cells hop to a free neighbouring site (persistent random walk, optional chemotaxis).

        Returns the number of hop attempts.
        """
        chemo_on = self.chemotaxis.enabled and chemoattractant is not None
        chemo = chemoattractant if chemo_on else _NO_FIELD
        attempts, left_x, left_y = kernels.move(
            self.alive, self.state, self.pos, self.direction, self._next, self.layer,
            self.tissue.tumor, self.tissue.tcells_squeeze_past_tumor, self.space.kind, self.p_hop,
            self.p_keep_direction, chemo, chemo_on, self.chemotaxis.sensing_pM,
            self.chemotaxis.strength, self.stream,
        )
        self._left(left_x, left_y, now)
        return attempts

    def move_reference(self, now: float, chemoattractant: np.ndarray | None = None) -> None:
        """The rule of :meth:`move` in numpy (for tests)."""
        live = self.live_slots()
        motile = live[self.state[live] != ENGAGED]
        movers = motile[self.rng.random(motile.size) < self.p_hop]
        if movers.size == 0:
            return
        if self.space.kind == STIRRED:
            # a hop lands anywhere: the same encounter frequency as on the grid, no geometry
            tx = self.rng.integers(0, self.tissue.width, size=movers.size)
            ty = self.rng.integers(0, self.tissue.height, size=movers.size)
            self._settle(movers, tx, ty, now)
            return
        turn = (self.direction[movers] == NO_DIRECTION) | (self.rng.random(movers.size) >= self.p_keep_direction)
        turners = movers[turn]
        # a turn picks one of the 7 other directions, so that a hop keeps its direction with
        # probability exactly p_keep_direction (the configured persistence time)
        old = self.direction[turners].astype(np.int64)
        new_dir = np.where(old == NO_DIRECTION, self.rng.integers(0, 8, size=turners.size),
                           (old + 1 + self.rng.integers(0, 7, size=turners.size)) % 8)
        if self.chemotaxis.enabled and chemoattractant is not None and turners.size:
            new_dir = self._chemotactic_directions(turners, new_dir, chemoattractant)
        self.direction[turners] = new_dir
        d = self.direction[movers].astype(np.int64)
        blocked = ~self._settle(movers, self.x[movers] + OFFSETS[d, 0], self.y[movers] + OFFSETS[d, 1], now)
        self.direction[movers[blocked]] = NO_DIRECTION  # blocked: pick a new direction next hop

    def _settle(self, movers: np.ndarray, tx: np.ndarray, ty: np.ndarray, now: float) -> np.ndarray:
        """Move ``movers`` to sites (tx, ty) where those are inside and free; returns who moved."""
        ok = self.tissue.inside(tx, ty)
        cx, cy = np.clip(tx, 0, self.tissue.width - 1), np.clip(ty, 0, self.tissue.height - 1)
        free = self.tissue.tcell_free_mask()
        ok &= free[cx, cy]
        cand = np.flatnonzero(ok)
        # two cells aiming at one site: the first in random order gets it
        order = self.rng.permutation(cand)
        _, first = np.unique(tx[order] * self.tissue.height + ty[order], return_index=True)
        win = np.zeros(movers.size, dtype=bool)
        win[order[first]] = True
        w = movers[win]
        left_x, left_y = self.x[w], self.y[w]  # fancy indexing copies
        self.layer[left_x, left_y] = -1
        self.x[w], self.y[w] = tx[win], ty[win]
        self.layer[self.x[w], self.y[w]] = w
        self._left(left_x, left_y, now)
        return win

    def _chemotactic_directions(self, cells: np.ndarray, random_dir: np.ndarray, field: np.ndarray) -> np.ndarray:
        """With probability ``strength``, a turning cell that senses a gradient heads up it."""
        nx = self.x[cells, None] + OFFSETS[None, :, 0]
        ny = self.y[cells, None] + OFFSETS[None, :, 1]
        inside = self.tissue.inside(nx, ny)
        values = np.where(
            inside, field[np.clip(nx, 0, self.tissue.width - 1), np.clip(ny, 0, self.tissue.height - 1)], -np.inf
        )
        best = np.argmax(values, axis=1)
        rise = values[np.arange(cells.size), best] - field[self.x[cells], self.y[cells]]
        follow = (rise >= self.chemotaxis.sensing_pM) & (self.rng.random(cells.size) < self.chemotaxis.strength)
        return np.where(follow, best, random_dir)

    # ------------------------------------------------------------------ expansion
    def activated_slots(self, now: float) -> np.ndarray:
        """Slots of the cells stimulated within the activation window and not exhausted."""
        return kernels.activated(self.alive, self.state, self.last_stimulated, self._next, now, self.window)

    def secrete(self, cytokines, now: float, dt: float) -> None:
        """Activated cells add their secretion over ``dt`` minutes to the cytokine sources: cells
        without a subset at the cytokines' own rates, CD4 and CD8 cells at their subset's rates."""
        secreting = self.activated_slots(now)
        sub = self.subset[secreting]
        if not sub.any():  # no CD4 or CD8 cell among them
            cytokines.secrete(self.x[secreting], self.y[secreting], dt)
            return
        plain = secreting[sub == NO_SUBSET]
        cytokines.secrete(self.x[plain], self.y[plain], dt)
        for code in (CD4, CD8):
            cells = secreting[sub == code]
            if cells.size:
                for name, rate in zip(self.cytokine_names, self.secretion_by[code].tolist(), strict=True):
                    if rate > 0:
                        cytokines.deposit(name, self.x[cells], self.y[cells], rate * dt)

    def secrete_payload(self, cytokines, now: float, dt: float) -> None:
        """Cells of an armored product release its payload cytokine over ``dt`` minutes: the activated
        ones (an inducible payload), or every live effector that is not exhausted (a constitutive one)."""
        if not self.payloads:
            return
        activated = self.activated_slots(now)
        live = self.live_slots()
        effectors = live[(self.state[live] != EXHAUSTED) & ~self.memory[live]]
        for product, name, rate, inducible in self.payloads:
            secreting = activated if inducible else effectors
            cells = secreting[self.product[secreting] == product]
            cytokines.deposit(name, self.x[cells], self.y[cells], rate * dt)

    def activated(self, slots: np.ndarray, now: float) -> np.ndarray:
        """Mask of cells stimulated within the activation window and not exhausted."""
        return (now - self.last_stimulated[slots] <= self.window) & (self.state[slots] != EXHAUSTED)

    def proliferate(self, now: float, il2_pM: np.ndarray) -> None:
        """Activated cells divide into a free neighbouring site, faster with IL-2."""
        slots = kernels.dividing(
            self.alive, self.state, self.pos, self.divisions, self.last_stimulated, self._next,
            self.subset, now, self.window, self.max_divisions, self.division_rate_by, self.il2_boost,
            self.il2_half_max, np.asarray(il2_pM), self.dt, self.homeostatic_rate, self.memory, self.stream,
        )
        if slots.size == 0:
            return
        self.reserve(slots.size)  # a slot for every daughter
        kernels.divide(
            slots, self.pos, self.alive, self.uid, self.counters, self.free, self.layer,
            self.tissue.tumor, self.tissue.tcells_squeeze_past_tumor, self.space.kind, self.state,
            self.product, self.kills, self.divisions, self.target, self.direction,
            self.last_stimulated, self.death_at, self.subset, self.memory, self.pd1, self.inhibited, now,
            self.mean_lifespan_by, self.max_kills,
            self.stream,
        )

    def proliferate_reference(self, now: float, il2_pM: np.ndarray) -> None:
        """The rule of :meth:`proliferate` in numpy (for tests)."""
        live = self.live_slots()
        active = self.activated(live, now)
        if self.homeostatic_rate > 0:  # lymphodepletion: resting effectors divide too
            active |= (self.state[live] != EXHAUSTED) & ~self.memory[live]
        cand = live[active & (self.divisions[live] < self.max_divisions)]
        if cand.size == 0:
            return
        c = il2_pM[self.x[cand], self.y[cand]]
        boost = self.division_rate_by[self.subset[cand]] * (1.0 + self.il2_boost * c / (c + self.il2_half_max))
        rate = np.where(self.activated(cand, now), boost, 0.0) + self.homeostatic_rate
        dividing = cand[self.rng.random(cand.size) < rates.hazard_probability(rate, self.dt)]
        for slot in dividing.tolist():
            self.divide(slot, now)

    def divide(self, slot: int, now: float) -> None:
        """The division rule of :func:`cartsim.agents.cart_kernels.divide`, in Python (for tests)."""
        x, y = int(self.x[slot]), int(self.y[slot])
        blocker = None if self.tissue.tcells_squeeze_past_tumor else self.tissue.tumor
        site = self.space.daughter_site(self.layer, (x, y), self.rng, blocker)
        if site is None:
            return  # no room: the division does not happen
        nx, ny = site
        self.divisions[slot] += 1
        daughter = self.add(
            nx, ny, int(self.product[slot]), now,
            # a daughter starts with no kills (CARCADE): the kill limit is per cell, not per
            # lineage, so expansion keeps pace with the antigen a clone meets
            kills=0, divisions=int(self.divisions[slot]),
            last_stimulated=float(self.last_stimulated[slot]), subset=int(self.subset[slot]),
        )
        self.pd1[daughter] = self.pd1[slot]

    # ------------------------------------------------------------------ observation
    def census_by_state(self) -> np.ndarray:
        """Live cells per state (indexed like ``CAR_T_STATES``)."""
        live = self.live_slots()
        return np.bincount(self.state[live], minlength=len(CAR_T_STATES))

    def census_by_product(self) -> np.ndarray:
        live = self.live_slots()
        return np.bincount(self.product[live], minlength=len(self.designs))

    def census_columns(self) -> list[str]:
        return ["cart_total", *(f"cart_{s}" for s in CAR_T_STATES),
                *(f"cart_product_{d.name}" for d in self.designs), "kills_total", *self._extra_columns()]

    def _extra_columns(self) -> list[str]:
        """Columns of the mechanisms switched on (none by default, so default outputs keep their shape)."""
        return ((["cart_cd4", "cart_cd8"] if self.subsets_in_use else []) + (["cart_memory"] if self.memory_on else [])
                + (["cart_pd1_positive"] if self.pd1_on else []) + (["anti_pd1_blockade"] if self.reports_blockade else [])
                + (["trogocytosis_escapes_total", "fratricide_total"] if self.trogocytosis_on else []))

    def _extra_census(self) -> dict[str, float]:
        out: dict[str, float] = {}
        live = self.live_slots()
        if self.subsets_in_use:
            by_subset = np.bincount(self.subset[live], minlength=len(SUBSETS))
            out["cart_cd4"], out["cart_cd8"] = int(by_subset[CD4]), int(by_subset[CD8])
        if self.memory_on:
            out["cart_memory"] = int(self.memory[live].sum())
        if self.pd1_on:
            out["cart_pd1_positive"] = int(self.pd1[live].sum())
        if self.reports_blockade:
            out["anti_pd1_blockade"] = self.blockade
        if self.trogocytosis_on:
            out["trogocytosis_escapes_total"] = self.trogocytosis_escapes
            out["fratricide_total"] = self.fratricide_total
        return out

    def census(self) -> dict[str, float]:
        """Live cells in all, by state and by product, and kills so far."""
        by_state = self.census_by_state()
        out: dict[str, float] = {"cart_total": int(by_state.sum())}
        out.update(zip((f"cart_{s}" for s in CAR_T_STATES), by_state.tolist(), strict=True))
        out.update(zip((f"cart_product_{d.name}" for d in self.designs),
                       self.census_by_product().tolist(), strict=True))
        out["kills_total"] = self.kills_total
        out.update(self._extra_census())
        return out

    def snapshot_layers(self, shape: tuple[int, ...]) -> dict[str, np.ndarray]:
        """State code (-1: none) of the CAR-T cell at each site."""
        state = np.full(shape, -1, dtype=np.int8)
        live = self.live_slots()
        state[self.x[live], self.y[live]] = self.state[live]
        if self.memory_on:
            resting = live[self.memory[live]]
            state[self.x[resting], self.y[resting]] = MEMORY_PICTURE_CODE
        return {"tcell_state": state}

    def legend(self) -> list[tuple[str, int, str]]:
        states = TCELL_PICTURE_STATES if self.memory_on else CAR_T_STATES
        return [("tcell_state", code, f"CAR-T {state}") for code, state in enumerate(states)]
