"""The well-mixed mode: CARTmath's terms as the rules of agents that meet by mass action.

There is no space: every cell can meet every other, so an encounter rate is the product of the
two population sizes (mass action). Each agent is a *super-individual* standing for Ω cells
(``well_mixed.cells_per_agent``; Scheffer et al. 1995), which lets thousands of agents represent
the millions of cells of a mouse tumor. The rules are the terms of CARTmath (Barros et al. 2021),
one rule per term, as per-agent hazards (per day) with population sizes in cells
(``T = Ω·n_T``, ``C_T = Ω·n_E``, ``C_M = Ω·n_M``):

=================  ==========================================  ===========================
agent              rule (hazard per agent)                      ODE term
=================  ==========================================  ===========================
tumor              divides at ``r``                             ``+ r·T``
tumor              dies of crowding at ``r·b·T``                ``− r·b·T²``
tumor              is killed at ``γ·C_T``                       ``− γ·T·C_T``
effector CAR-T     divides at ``φ``                             ``+ φ·C_T``
effector CAR-T     is lost at ``ρ``                             ``− ρ·C_T``
effector CAR-T     is suppressed by tumor at ``α·T``            ``− α·T·C_T``
effector CAR-T     forms a memory cell at ``ε`` (and stays)     ``+ ε·C_T`` (in C_M)
memory CAR-T       turns effector on tumor contact at ``θ·T``   ``± θ·T·C_M``
memory CAR-T       dies at ``μ``                                ``− μ·C_M``
=================  ==========================================  ===========================

Agents of one type are exchangeable, so instead of one draw per agent the model makes one
multinomial draw per type for its competing rules: the same distribution, at a cost independent
of the number of agents (and so of Ω). The internal step is adaptive
(:meth:`WellMixedModel.longest_step`): no longer than ``time.dt_min`` (default 0.02 day), and
short enough that no agent expects more than 0.05 events in it from any rule but memory
activation. That one's hazard θ·T reaches 10⁴-10⁶ per day and is treated exactly instead
(:meth:`WellMixedModel.advance`): memory cells formed during a step may be activated before it
ends, so while θ·T is fast the memory pool stays at its quasi-steady ε·C_T/(θ·T), however large
θ·T·dt. Encounter rates are taken half-way through each step, and cells that appear within a
step meet their fates over the rest of it, which makes the mean trajectory second-order accurate
in the step; records fall exactly every ``time.record_every_h``. As Ω → 0 the mean trajectory
tends to the ODE's, compartment by compartment. Hazards become step probabilities through
:mod:`cartsim.rates`; doses are impulses added to the effectors at their day, like CARTmath's.
The rules, their scaling and the step are written out in ``docs/model.md``.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import mesa
import numpy as np
from mesa import DataCollector

from cartsim import rates
from cartsim.config import ExperimentConfig
# The published rates live with the ODE they come from; re-exported here, where a well-mixed
# experiment's reader looks for them.
from cartsim.odes.cartmath import CARTMATH_SETS, cartmath_parameters

__all__ = ["CARTMATH_SETS", "WellMixedModel", "cartmath_parameters"]


class WellMixedModel(mesa.Model):
    """CAR-T against a tumor without space (a Mesa model, like :class:`cartsim.CarTModel`).

    Takes the same arguments as CarTModel; the config must have ``space: well_mixed``. One
    :meth:`step` advances ``time.record_every_h`` hours in internal steps chosen by
    :meth:`longest_step`: at most ``time.dt_min`` (default :attr:`default_max_dt_days`), and short
    enough that no agent expects more than :attr:`max_events_per_step` events from its slow rules.
    """

    #: Longest internal step (days) when ``time.dt_min`` is not set.
    default_max_dt_days = 0.02
    #: Events an agent may expect per internal step from every rule but memory activation, which
    #: :meth:`advance` treats exactly whatever the step.
    max_events_per_step = 0.05

    def __init__(self, config: ExperimentConfig | dict | str | Path | None = None, *, rng=None, **params: Any):
        from cartsim.model import resolve_config

        cfg = resolve_config(config, params)
        super().__init__(rng=cfg.seed if rng is None else rng)
        self.config = cfg
        self.p = cartmath_parameters(cfg)
        self.omega = cfg.well_mixed.cells_per_agent
        self.record_days = cfg.time.record_every_h / 24.0
        self.duration_days = cfg.time.duration_days
        self.max_dt_days = (self.default_max_dt_days if cfg.time.dt_min is None
                            else cfg.time.dt_min / rates.MINUTES_PER_DAY)
        self.days = 0.0
        self.steps_taken = 0  # internal steps
        self._probs: dict[tuple[str, bool], list[float]] = {}  # this step's fate probabilities
        self._records = 0
        self.n_tumor = self._agents_for(cfg.tumor.initial.cells)
        self.n_effector = 0
        self.n_memory = 0
        self.kills_total = 0.0  # in cells
        self._doses = sorted((d.day, d.cells) for d in cfg.dosing)
        self.cells_infused = 0
        keys = ["day", "tumor_total", "cart_total", "cart_effector", "cart_memory", "kills_total", "cells_infused"]
        self.datacollector = DataCollector(model_reporters={k: (lambda m, k=k: m.census()[k]) for k in keys})
        self.datacollector.collect(self)

    def _agents_for(self, cells: float) -> int:
        """Whole agents for a number of cells (stochastic rounding keeps the expected number exact)."""
        x = cells / self.omega
        return int(math.floor(x) + (self.rng.random() < x - math.floor(x)))

    @property
    def day(self) -> float:
        return self.days

    # ------------------------------------------------------------------ schedule
    def step(self) -> None:
        """Advance to the next record (exactly ``record_every_h`` after the last) and record."""
        self._records += 1
        end = min(self._records * self.record_days, self.duration_days)
        while self.days < end - 1e-9:
            self.infuse()
            stop = min(end, self._doses[0][0]) if self._doses else end  # land on the next dose
            dt = min(self.longest_step(), stop - self.days)
            self.advance(dt)
            self.days = stop if self.days + dt >= stop - 1e-12 else self.days + dt
        self.datacollector.collect(self)
        if self.days >= self.duration_days - 1e-9:
            self.running = False

    def run(self) -> None:
        while self.running:
            self.step()

    def infuse(self) -> None:
        """Doses due now join the effectors, as CARTmath's impulses do."""
        while self._doses and self._doses[0][0] <= self.days + 1e-9:
            _, cells = self._doses.pop(0)
            self.n_effector += self._agents_for(cells)
            self.cells_infused += cells

    def longest_step(self) -> float:
        """The longest step (days) in which no agent expects more than ``max_events_per_step`` events.

        Every per-agent hazard counts, those that grow with a population (γ·C_T, α·T, r·b·T)
        included, except memory activation θ·T: :meth:`advance` is exact for it at any θ·T·dt.
        Only the effectors that activation adds limit the step: at most that fraction of them.
        """
        p, om = self.p, self.omega
        T, C = self.n_tumor * om, self.n_effector * om
        per_agent = []
        if self.n_tumor:
            per_agent.append(p["r"] * (1 + p["b"] * T) + p["gamma"] * C)
        if self.n_effector:
            per_agent.append(p["phi"] + p["epsilon"] + p["rho"] + p["alpha"] * T)
        if self.n_memory:
            per_agent.append(p["mu"])
            effectors = max(self.n_effector, 1)
            # fewer memory cells than that fraction of the effectors may all activate in one step
            if self.n_memory > self.max_events_per_step * effectors:
                per_agent.append(p["theta"] * T * self.n_memory / effectors)
        fastest = max(per_agent, default=0.0)
        return min(self.max_dt_days, self.max_events_per_step / fastest) if fastest > 0 else self.max_dt_days

    def advance(self, dt: float) -> None:
        """Every agent's rules over one internal step of ``dt`` days.

        Encounter rates are those of the populations expected half-way through the step. Agents
        present at its start meet their competing fates exactly (probability 1 − exp(−Σh·dt), split
        by the ratio of the hazards). Agents that appear during it (both cells of a division, an
        effector and the memory cell it forms, effectors made from memory cells) appear at a uniform
        time and meet the same fates over the rest of the step, for two rounds; the memory cells
        that the last round forms may still be activated. So memory cells activate within the step
        they form in, however fast θ·T, and the mean follows the ODE to second order in ``dt``.
        """
        self._probs = self._fate_probabilities(dt)
        settled, appeared = self._meet_fates((self.n_tumor, self.n_effector, self.n_memory), entering=False)
        for _ in range(2):
            now_settled, appeared = self._meet_fates(appeared, entering=True)
            settled = [a + b for a, b in zip(settled, now_settled)]
        activated, died = self._draw(appeared[2], "memory", True)
        self.n_tumor = settled[0] + appeared[0]
        self.n_effector = settled[1] + appeared[1] + activated
        self.n_memory = settled[2] + appeared[2] - activated - died
        self.steps_taken += 1

    def _fate_probabilities(self, dt: float) -> dict[tuple[str, bool], list[float]]:
        """Per-step probabilities of each rule (and, last, of none) for agents present or appearing.

        Encounter rates come from the tumor and effectors expected half-way through the step.
        Memory cells that appear during the step meet the tumor of its end instead: when θ·T is
        fast, those still memory cells at the end are the ones formed in its last moments.
        """
        p, om, half = self.p, self.omega, dt / 2
        T, C, M = self.n_tumor * om, self.n_effector * om, self.n_memory * om
        tumor_growth = p["r"] * (1 - p["b"] * T) - p["gamma"] * C
        T_mid, T_end = T * math.exp(tumor_growth * half), T * math.exp(tumor_growth * dt)
        C_mid = C * math.exp((p["phi"] - p["rho"] - p["alpha"] * T) * half)
        h_memory = p["theta"] * T + p["mu"]
        if h_memory > 0:  # memory cells present, and those formed in the half step, that activate
            C_mid += p["theta"] * T / h_memory * (
                M * float(rates.hazard_probability(h_memory, half))
                + p["epsilon"] * C * half * float(rates.entry_hazard_probability(h_memory, half)))
        hazards = {
            "tumor": [p["r"], p["r"] * p["b"] * T_mid, p["gamma"] * C_mid],  # divides, crowded out, killed
            # divides, forms a memory cell, lost, suppressed by tumor
            "effector": [p["phi"], p["epsilon"], p["rho"], p["alpha"] * T_mid],
            "memory": [p["theta"] * T_mid, p["mu"]],  # activated on tumor contact, dies
            "memory appearing": [p["theta"] * T_end, p["mu"]],
        }
        totals = np.array([sum(h) for h in hazards.values()])
        p_start = rates.hazard_probability(totals, dt).tolist()
        p_entry = rates.entry_hazard_probability(totals, dt).tolist()
        probs = {}
        for (kind, h), total, start, entry in zip(hazards.items(), totals, p_start, p_entry):
            for entering, p_any in ((False, start), (True, entry)):
                probs[kind, entering] = [p_any * x / total if total > 0 else 0.0 for x in h] + [1.0 - p_any]
        probs["memory", True] = probs.pop(("memory appearing", True))
        return probs

    def _draw(self, n: int, kind: str, entering: bool) -> list[int]:
        """How many of ``n`` agents of a kind undergo each of its competing rules within the step."""
        probs = self._probs[kind, entering]
        if n == 0:
            return [0] * (len(probs) - 1)
        return self.rng.multinomial(n, probs)[:-1].tolist()

    def _meet_fates(self, n: tuple[int, int, int], entering: bool) -> tuple[list[int], list[int]]:
        """One round of fates for ``n`` = (tumor, effector, memory) agents.

        Returns the agents that keep their state to the end of the step, and those that appear
        (to meet their fates in the next round).
        """
        n_tumor, n_effector, n_memory = n
        divided, crowded, killed = self._draw(n_tumor, "tumor", entering)
        activated, died = self._draw(n_memory, "memory", entering)
        if entering:  # effectors from memory cells that appeared in this round act in it too
            n_effector += activated
        expanded, formed, lost, suppressed = self._draw(n_effector, "effector", entering)
        self.kills_total += killed * self.omega
        settled = [n_tumor - divided - crowded - killed,
                   n_effector - expanded - formed - lost - suppressed,
                   n_memory - activated - died]
        appeared = [2 * divided, 2 * expanded + formed + (0 if entering else activated), formed]
        return settled, appeared

    # ------------------------------------------------------------------ observation
    def census(self) -> dict[str, float]:
        om = self.omega
        return {
            "day": self.days,
            "tumor_total": self.n_tumor * om,
            "cart_total": (self.n_effector + self.n_memory) * om,
            "cart_effector": self.n_effector * om,
            "cart_memory": self.n_memory * om,
            "kills_total": self.kills_total,
            "cells_infused": self.cells_infused,
        }
