"""CarTModel: CAR-T cells against a tumor on a tissue grid, as a Mesa model.

One call of :meth:`CarTModel.step` advances the model by ``time.record_every_h`` hours of
simulated time (one row of the time series); inside, the model runs internal steps of ``dt``
minutes (:func:`cartsim.rates.choose_dt`). The schedule of one internal step:

1. infusions due now enter the tissue;
2. tumor divisions and deaths due within the step happen, in time order;
3. CAR-T cells that reached the end of their lifespan die (and, with trogocytosis, CAR-T carrying
   antigen may be killed by the CAR-T around them);
4. engaged CAR-T kill, let go, or hold on;
5. active CAR-T test the tumor cells they touch and engage on binding (PD-1+ cells may be
   inhibited by tumor PD-L1, less so under an anti-PD-1 treatment; with trogocytosis, each binding
   takes antigen from the target);
6. unengaged CAR-T migrate;
7. activated CAR-T divide (after lymphodepletion, resting effectors too); resting effectors may
   become memory cells;
8. activated CAR-T secrete cytokines (armored CARs their payload too); every ``cytokine_dt_min``
   the fields diffuse and decay, and then tumor cells where IFN-γ (``tumor.ifng_bystander``) or an
   armored CAR's payload is above its threshold may die.

Treatments besides infusions (``treatments``) act at their times: a radiation dose at the start of
the step it falls in; chemotherapy, lymphodepletion and anti-PD-1 through the rates in effect at
the step's start (chemotherapy kills tumor cells as they divide, in step 2).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import mesa
import numpy as np
from mesa import DataCollector

from cartsim import rates
from cartsim.agents.car import CarDesign
from cartsim.agents.cart import EXHAUSTED, CarTPopulation
from cartsim.agents.tumor import TumorPopulation
from cartsim.config import ConfigError, ExperimentConfig, apply_overrides, parse_config, resolve_shortcuts
from cartsim.config.feasibility import time_step_min
from cartsim.config.loading import read_yaml
from cartsim.environment.cytokines import PROLIFERATION_CYTOKINE, CytokineFields
from cartsim.environment.tissue import Tissue
from cartsim.snapshot import Snapshot
from cartsim.treatments import Treatments


def resolve_config(config: ExperimentConfig | dict | str | Path | None, params: dict[str, Any]) -> ExperimentConfig:
    """A validated config from a config object, a mapping, a YAML path or nothing, plus keyword overrides."""
    if isinstance(config, ExperimentConfig) and not params:
        return config
    if config is None:
        data: dict[str, Any] = {}
    elif isinstance(config, ExperimentConfig):
        data = config.model_dump(mode="python")
    elif isinstance(config, dict):
        data = config
    else:
        data = read_yaml(config)
    if params:
        data = apply_overrides(data, resolve_shortcuts(params, data))
    return parse_config(data)


class CarTModel(mesa.Model):
    """CAR-T therapy against a tumor, in physical units.

    Args:
        config: an :class:`~cartsim.config.ExperimentConfig`, a mapping in the YAML layout, or the
            path of a YAML file; ``None`` uses the defaults.
        rng: seed or numpy Generator (Mesa's convention); defaults to the config's ``seed``.
        **params: keyword parameters applied on top of ``config``: shortcuts such as ``dose``,
            ``infusion_day``, ``antigen_loss_probability``, ``negative_fraction``, ``product``,
            ``kill_rate_per_h``, ``tumor_type``, ``tumor_cells``, ``duration_days``, or any dotted
            config path (``**{"tumor.doubling_time_h": 30}``). This is what ``mesa.batch_run`` passes.
    """

    def __init__(self, config: ExperimentConfig | dict | str | Path | None = None, *, rng=None, **params: Any):
        # Mesa's SolaraViz passes a Scenario on reset; the config plays that role here
        params.pop("scenario", None)
        cfg = resolve_config(config, params)
        if cfg.space == "well_mixed":
            raise ConfigError("space: CarTModel simulates the tissue grid; for space: well_mixed use "
                              "cartsim.WellMixedModel (cartsim.run picks the right one)")
        super().__init__(rng=cfg.seed if rng is None else rng)
        self.config = cfg
        c = cfg
        self.record_min = c.time.record_every_h * rates.MINUTES_PER_HOUR
        self.duration_min = c.time.duration_days * rates.MINUTES_PER_DAY
        self.dt = self._choose_dt(c)
        self.n_field = max(1, round(c.time.cytokine_dt_min / self.dt))
        self.minutes = 0.0
        self._substeps = 0

        self.tissue = Tissue(
            self, c.tissue.width, c.tissue.height, c.tissue.site_um,
            c.tissue.tcells_squeeze_past_tumor, c.tissue.vessels, space=c.space,
        )
        antigens = c.antigen_names
        self.designs = [CarDesign.from_config(p, antigens, c.tissue.site_um) for p in c.products]
        hop_rate = rates.hop_rate_per_min(c.car_t.speed_um_per_min, c.tissue.site_um)
        self.tumor = TumorPopulation(self, self.tissue, c, self.designs, self.dt, hop_rate)
        self.cart = CarTPopulation(self, self.tissue, c, self.designs, self.tumor, self.dt)
        #: the registry of cell populations: each owns its layer, census columns and snapshot layers
        self.populations = [self.tumor, self.cart]
        self.tissue.populations = self.populations
        self.cytokines = CytokineFields(self.tissue, c, self.n_field * self.dt)
        # the fields the cells read at every step; the others are written back at each record
        chemo = c.car_t.chemotaxis
        pdl1_inducer = c.tumor.pdl1.inducer if c.car_t.pd1.enabled else None
        self.treatments = Treatments(c, self.tissue, self.n_field * self.dt)
        self._read_fields = {PROLIFERATION_CYTOKINE, *([chemo.cytokine] if chemo.enabled else []),
                             *([pdl1_inducer] if pdl1_inducer else []), *self.treatments.fields_read}
        self._il2_pM = self.cytokines.concentration_pM(PROLIFERATION_CYTOKINE)
        self._chemo_pM = self.cytokines.concentration_pM(chemo.cytokine) if chemo.enabled else None
        self._pdl1_inducer = pdl1_inducer
        self._pdl1_pM = self.cytokines.concentration_pM(pdl1_inducer) if pdl1_inducer else None
        #: anti-PD-1 blockade windows (start, end in minutes, fraction blocked)
        self._blockades = [(t.day * rates.MINUTES_PER_DAY, (t.day + t.duration_days) * rates.MINUTES_PER_DAY,
                            t.blockade) for t in c.treatments if t.kind == "anti_pd1"]
        product_index = {p.name: i for i, p in enumerate(c.products)}
        self._doses = sorted(
            (d.day * rates.MINUTES_PER_DAY, d.cells, product_index[d.product], d.route, d.cd4_fraction)
            for d in c.dosing
        )
        self.cells_infused = 0

        self.treatments.sense(self.cytokines, self.tumor)
        self.tumor.reports = self.treatments.tumor_columns
        self.tumor.seed(c.tumor.initial, now=0.0)
        self.phenotypes = self.tumor.phenotypes
        self.datacollector = DataCollector(model_reporters=self._reporters())
        self._census: dict[str, float] = self.census()
        self.datacollector.collect(self)

    # ------------------------------------------------------------------ time
    def _choose_dt(self, c: ExperimentConfig) -> float:
        """The internal step (minutes): :func:`cartsim.config.feasibility.time_step_min`, the same
        computation that validation runs, so that a valid experiment is one that runs."""
        return time_step_min(c)

    @property
    def day(self) -> float:
        """Simulated time in days."""
        return self.minutes / rates.MINUTES_PER_DAY

    def step(self) -> None:
        """Advance by one record interval (``time.record_every_h``) and record one row."""
        end = min(self.minutes + self.record_min, self.duration_min)
        while self.minutes < end - 1e-6:
            self.advance()
        self.cytokines.sync()  # Mesa's property layers hold every field at each recorded step
        self._census = self.census()
        self.datacollector.collect(self)
        if self.minutes >= self.duration_min - 1e-6:
            self.running = False

    def run(self) -> None:
        """Run to the configured duration."""
        while self.running:
            self.step()

    def advance(self) -> None:
        """One internal step of ``dt`` minutes (the schedule in the module docstring)."""
        now = self.minutes
        end = now + self.dt
        self.infuse_due(now)
        cart = self.cart
        therapy = self.treatments
        if therapy.scheduled:
            therapy.irradiate_due(self.tumor, now)
            self.tumor.chemo_kill_p = therapy.chemo_kill_probability(now)
            cart.homeostatic_rate = therapy.homeostatic_rate(now)
        self.tumor.process_events(until=end)
        cart.die_of_age(end)
        cart.fratricide(end)
        kill_sites = cart.attack(end)
        if kill_sites:
            self.cytokines.release_on_kill(kill_sites)
        if self._blockades:
            cart.blockade = self.blockade_at(now)
        cart.seek_targets(end, self._pdl1_pM)
        cart.move(end, self._chemo_pM)
        cart.proliferate(end, self._il2_pM)
        cart.differentiate(end)
        cart.secrete(self.cytokines, end, self.dt)
        cart.secrete_payload(self.cytokines, end, self.dt)
        self._substeps += 1
        if self._substeps % self.n_field == 0:
            self.cytokines.advance(current=self._read_fields)
            self._il2_pM = self.cytokines.concentration_pM(PROLIFERATION_CYTOKINE)
            if cart.chemotaxis.enabled:
                self._chemo_pM = self.cytokines.concentration_pM(cart.chemotaxis.cytokine)
            if self._pdl1_inducer:
                self._pdl1_pM = self.cytokines.concentration_pM(self._pdl1_inducer)
            if therapy.fields_read:
                therapy.sense(self.cytokines, self.tumor)
                therapy.bystander_deaths(self.tumor, end)
        self.minutes = self._substeps * self.dt

    def blockade_at(self, now: float) -> float:
        """The anti-PD-1 blockade in effect at ``now`` (minutes): the strongest of the treatments then."""
        return max((b for start, end, b in self._blockades if start <= now + 1e-6 < end), default=0.0)

    def infuse_due(self, now: float) -> None:
        while self._doses and self._doses[0][0] <= now + 1e-6:
            _, cells, product, route, cd4_fraction = self._doses.pop(0)
            self.cells_infused += self.cart.infuse(cells, product, route, now, cd4_fraction)

    # ------------------------------------------------------------------ observation
    def census(self) -> dict[str, float]:
        """The numbers recorded in the time series (see ``docs`` for units)."""
        out: dict[str, float] = {"day": self.day}
        for pop in self.populations:
            out.update(pop.census())
        out["cells_infused"] = self.cells_infused
        for name in self.cytokines.names:
            field = self.cytokines.field(name)
            out[f"{name}_total"] = float(field.sum())
            out[f"{name}_max"] = float(field.max()) * self.cytokines.to_pM
        return out

    def _reporters(self) -> dict[str, Any]:
        keys = ["day", *(k for pop in self.populations for k in pop.census_columns()), "cells_infused"]
        keys += [f"{n}_{k}" for n in self.cytokines.names for k in ("total", "max")]
        return {k: (lambda m, k=k: m._census[k]) for k in keys}

    # ------------------------------------------------------------------ Mesa agents, made on demand
    @property
    def agents(self):  # type: ignore[override]
        """Every live cell's Mesa agent (Mesa's AgentSet; the agents are made on first request)."""
        self._materialise_agents()
        return super().agents

    @property
    def agents_by_type(self):  # type: ignore[override]
        self._materialise_agents()
        return super().agents_by_type

    def _materialise_agents(self) -> None:
        for pop in getattr(self, "populations", ()):
            pop.all_agents()

    def snapshot(self) -> Snapshot:
        """The tissue now, as plain arrays indexed [y, x]."""
        t = self.tissue
        layers: dict[str, np.ndarray] = {}
        for pop in self.populations:
            layers.update(pop.snapshot_layers((t.width, t.height)))
        dead_age = ((self.minutes - t.died_at) / 60.0).astype(np.float32)

        def yx(a: np.ndarray) -> np.ndarray:  # [.., x, y] -> [.., y, x]
            return np.ascontiguousarray(np.swapaxes(a, -1, -2))

        return Snapshot(
            day=self.day,
            antigens=self.config.antigen_names,
            site_um=t.site_um,
            tumor_phenotype=yx(layers.pop("tumor_phenotype")),
            tumor_antigen=yx(layers.pop("tumor_antigen")),
            tcell_state=yx(layers.pop("tcell_state")),
            dead_age_h=yx(dead_age),
            cytokines={n: self.cytokines.concentration_pM(n).T.astype(np.float32) for n in self.cytokines.names},
            legend=tuple(entry for pop in self.populations for entry in pop.legend()),
        )

    @property
    def exhausted_fraction(self) -> float:
        live = self.cart.live_slots()
        return float(np.mean(self.cart.state[live] == EXHAUSTED)) if live.size else 0.0
