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

Agents of one type are exchangeable, so instead of one Bernoulli draw per agent the model makes
one binomial (or multinomial, for competing fates) draw per type and rule: the same distribution,
at a cost independent of the number of agents. As Ω → 0 (many agents) the mean trajectory tends
to the ODE's. Hazards become step probabilities through :mod:`cartsim.rates`; doses are impulses
added to the effectors at their day, like CARTmath's.
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
from cartsim.odes.models import CARTMATH

#: Published CARTmath fits (Barros et al. 2021, Cancers 13:2941), per day and per cell; the
#: values live with the ODE itself in :mod:`cartsim.odes.models`.
CARTMATH_SETS: dict[str, dict[str, float]] = {
    "cartmath_raji": CARTMATH.params("raji"),
    "cartmath_hdlm2": CARTMATH.params("hdlm2"),
}

_FIELDS = {"r": "r_per_day", "b": "b_per_cell", "gamma": "gamma_per_cell_day", "phi": "phi_per_day",
           "rho": "rho_per_day", "alpha": "alpha_per_cell_day", "epsilon": "epsilon_per_day",
           "mu": "mu_per_day", "theta": "theta_per_cell_day"}


def cartmath_parameters(config: ExperimentConfig) -> dict[str, float]:
    """The published set named by ``well_mixed.parameter_set``, with any rates the config overrides."""
    wm = config.well_mixed
    params = dict(CARTMATH_SETS[wm.parameter_set])
    for key, field in _FIELDS.items():
        value = getattr(wm, field)
        if value is not None:
            params[key] = value
    return params


class WellMixedModel(mesa.Model):
    """CAR-T against a tumor without space (a Mesa model, like :class:`cartsim.CarTModel`).

    Takes the same arguments as CarTModel; the config must have ``space: well_mixed``. One
    :meth:`step` advances ``time.record_every_h`` hours; the internal step is ``time.dt_min`` or,
    by default, short enough that no hazard exceeds 0.1 per step at the starting populations.
    """

    def __init__(self, config: ExperimentConfig | dict | str | Path | None = None, *, rng=None, **params: Any):
        from cartsim.model import resolve_config

        cfg = resolve_config(config, params)
        super().__init__(rng=cfg.seed if rng is None else rng)
        self.config = cfg
        self.p = cartmath_parameters(cfg)
        self.omega = cfg.well_mixed.cells_per_agent
        self.record_days = cfg.time.record_every_h / 24.0
        self.duration_days = cfg.time.duration_days
        self.dt_days = self._choose_dt(cfg)
        self.days = 0.0
        self._substeps = 0
        self.n_tumor = self._agents_for(cfg.tumor.initial.cells)
        self.n_effector = 0
        self.n_memory = 0
        self.kills_total = 0  # in cells
        self._doses = sorted((d.day, d.cells) for d in cfg.dosing)
        self.cells_infused = 0
        keys = ["day", "tumor_total", "cart_total", "cart_effector", "cart_memory", "kills_total", "cells_infused"]
        self.datacollector = DataCollector(model_reporters={k: (lambda m, k=k: m.census()[k]) for k in keys})
        self.datacollector.collect(self)

    def _agents_for(self, cells: float) -> int:
        """Whole agents for a number of cells (stochastic rounding keeps the expected number exact)."""
        x = cells / self.omega
        return int(math.floor(x) + (self.rng.random() < x - math.floor(x)))

    def _choose_dt(self, cfg: ExperimentConfig) -> float:
        if cfg.time.dt_min is not None:
            dt = cfg.time.dt_min / rates.MINUTES_PER_DAY
        else:
            p = self.p
            fastest = max(p["r"], p["phi"], p["rho"] + p["epsilon"], p["mu"], 1e-9)
            dt = min(0.01, 0.1 / fastest)
        n = math.ceil(self.record_days / dt - 1e-9)
        return self.record_days / n

    @property
    def day(self) -> float:
        return self.days

    # ------------------------------------------------------------------ schedule
    def step(self) -> None:
        end = min(self.days + self.record_days, self.duration_days)
        while self.days < end - 1e-9:
            self.advance()
        self.datacollector.collect(self)
        if self.days >= self.duration_days - 1e-9:
            self.running = False

    def run(self) -> None:
        while self.running:
            self.step()

    def advance(self) -> None:
        """One internal step: doses due, then every agent's rules, all from the populations at the step's start."""
        while self._doses and self._doses[0][0] <= self.days + 1e-9:
            _, cells = self._doses.pop(0)
            self.n_effector += self._agents_for(cells)
            self.cells_infused += cells
        p, dt, rng, om = self.p, self.dt_days, self.rng, self.omega
        T, C, M = self.n_tumor * om, self.n_effector * om, self.n_memory * om

        # tumor: divide (r) or die (crowding r·b·T, killing γ·C_T); division and death compete
        births_t, crowded, killed = self._fates(self.n_tumor, [p["r"], p["r"] * p["b"] * T, p["gamma"] * C])
        # effectors: divide (φ), are lost (ρ) or suppressed (α·T); and form memory cells (ε) independently
        births_e, lost, suppressed = self._fates(self.n_effector, [p["phi"], p["rho"], p["alpha"] * T])
        memory_formed = rng.binomial(self.n_effector, rates.hazard_probability(p["epsilon"], dt))
        # memory cells: turn effector on tumor contact (θ·T) or die (μ)
        activated, memory_died = self._fates(self.n_memory, [p["theta"] * T, p["mu"]])

        self.n_tumor += births_t - crowded - killed
        self.n_effector += births_e - lost - suppressed + activated
        self.n_memory += memory_formed - activated - memory_died
        self.kills_total += killed * om
        self._substeps += 1
        self.days = self._substeps * dt

    def _fates(self, n: int, hazards: list[float]) -> list[int]:
        """How many of ``n`` agents undergo each of several competing events within one step."""
        if n == 0:
            return [0] * len(hazards)
        h = np.asarray(hazards, dtype=float)
        total = h.sum()
        if total <= 0:
            return [0] * len(hazards)
        p_any = float(rates.hazard_probability(total, self.dt_days))
        probs = np.append(p_any * h / total, 1.0 - p_any)
        return self.rng.multinomial(n, probs)[:-1].tolist()

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
