"""The experiment schema: every parameter with its unit, default, allowed range and source.

All rates and durations here are in physical units (hours, minutes, days, µm, µm²/s,
molecules per cell). Conversion to per-step probabilities happens only in :mod:`cartsim.rates`.
``docs/parameters.md`` is generated from this module (``cartsim params``), so the two cannot drift.
"""

from __future__ import annotations

import math
import re
from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator

from cartsim.agents.gates import LOGIC_GATES, gate


def P(default: Any, unit: str, source: str, **constraints: Any) -> Any:
    """A parameter field carrying its unit and the source of its default."""
    return Field(default, json_schema_extra={"unit": unit, "source": source}, **constraints)


def _whole_number(value: Any) -> Any:
    """Accept 1e7 (a float in YAML) where a count is expected, if it is a whole number."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


#: A number of cells: an int, also written as a whole float such as ``1.5e7``.
Count = Annotated[int, BeforeValidator(_whole_number)]


class Section(BaseModel):
    """Base for all config sections: unknown keys are typos, types are strict."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, validate_default=True)


class PathsTarget:
    """For config blocks that set experiment values by dotted path (a swept, fitted or drawn
    parameter): ``path`` is one path or a list sharing the value, ``name`` the table column."""

    path: str | list[str]
    name: str | None

    @property
    def paths(self) -> list[str]:
        return [self.path] if isinstance(self.path, str) else list(self.path)

    @property
    def column(self) -> str:
        return self.name or self.paths[0]


def check_distinct(targets: list[PathsTarget], field: str, *, twice: str, hint: str = "") -> None:
    """Raise ``ValueError`` if two of ``targets`` share a column name or set the same path."""
    names = [t.column for t in targets]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ValueError(f"{field}: names must be unique; repeated: {dupes}{hint}")
    paths = [path for t in targets for path in t.paths]
    if len(set(paths)) != len(paths):
        raise ValueError(f"{field}: {twice}")


# --------------------------------------------------------------------------------------- tissue
class TissueConfig(Section):
    """The 2-D grid of tissue sites.

    A site is one tumor-cell diameter wide and holds at most one tumor cell and at most one
    CAR-T cell: T cells (~7 µm) are smaller than tumor cells and squeeze between them, so a
    T cell may share a site with a tumor cell when ``tcells_squeeze_past_tumor`` is true.
    """

    width: int = P(60, "sites", "scenario choice", ge=5, le=2000)
    height: int = P(60, "sites", "scenario choice", ge=5, le=2000)
    site_um: float = P(
        15.0, "µm",
        "one tumor-cell diameter: lymphoma lines ~10-15 µm; PhysiCell's default cell volume "
        "2,494 µm³ is a 16.8 µm sphere (Ghaffarizadeh et al. 2018)",
        gt=1, le=100,
    )
    tcells_squeeze_past_tumor: bool = P(
        True, "-", "T cells migrate through tumor tissue (Boissonnas et al. 2007, J Exp Med)"
    )
    vessels: int = P(
        20, "sites", "assumed; only used by the 'vessels' entry route", ge=1, le=100000
    )


# --------------------------------------------------------------------------------------- time
class TimeConfig(Section):
    """Simulated time. The internal step ``dt_min`` is a numerical choice; results must not depend on it."""

    duration_days: float = P(21.0, "days", "scenario choice", gt=0, le=3650)
    record_every_h: float = P(
        6.0, "hours", "output resolution; one Mesa step() per record", gt=0, le=24 * 30
    )
    dt_min: float | None = P(
        None, "minutes",
        "numerical step; null picks the largest step that keeps every per-step probability "
        "small (see cartsim.rates.choose_dt)",
        gt=0, le=60,
    )
    cytokine_dt_min: float = P(
        10.0, "minutes",
        "interval between cytokine field updates (rounded to whole internal steps); the field solver "
        "is exact in time for sources held constant over the interval, so this only delays what "
        "cells sense by about one interval",
        gt=0, le=120,
    )
    snapshot_days: list[float] = P(
        [], "days", "grid snapshots written at these days (plus the last day)"
    )

    @field_validator("snapshot_days")
    @classmethod
    def _non_negative(cls, v: list[float]) -> list[float]:
        if not all(math.isfinite(d) for d in v):
            raise ValueError("snapshot days must be finite numbers of days")
        if any(d < 0 for d in v):
            raise ValueError("snapshot days must be >= 0")
        return sorted(v)


# --------------------------------------------------------------------------------------- tumor
class AntigenConfig(Section):
    """One surface antigen: density across cells, and how it is lost."""

    mean_density: float = P(
        22000.0, "molecules/cell",
        "CD19 on normal B cells 22 ± 7 ×10³ per cell (Ginaldi et al. 1998, J Clin Pathol)",
        gt=0, le=1e7,
    )
    cv: float = P(
        0.32, "-",
        "cell-to-cell coefficient of variation (log-normal); 7/22 from Ginaldi et al. 1998",
        ge=0, le=5,
    )
    negative_fraction: float = P(
        0.0, "fraction", "pre-existing antigen-negative cells at the start; scenario choice", ge=0, le=1
    )
    loss_probability: float = P(
        1e-3, "per division",
        "probability that a daughter loses the antigen at division (antigen escape); scenario "
        "parameter, varied in sweeps",
        ge=0, le=1,
    )


class InitialTumorConfig(Section):
    type: Literal["nodule", "dispersed"] = P(
        "nodule", "-", "nodule: a solid disk of cells; dispersed: cells scattered (liquid tumor)"
    )
    cells: Count = P(400, "cells", "scenario choice (in well-mixed mode: real cells)", ge=1, le=10**13)


class PdL1Config(Section):
    """PD-L1 on tumor cells, raised by IFN-γ (read only when ``car_t.pd1.enabled``).

    A tumor cell's PD-L1 density is ``base_per_cell + ifng_induced_per_cell·c/(c + ifng_half_max_pM)``
    for the inducing cytokine's concentration ``c`` at its site, as it is now (quasi-steady).
    """

    base_per_cell: float = P(
        1000.0, "molecules/cell",
        "constitutive PD-L1, assumed (PD-L1 on tumor cells spans ~10³-10⁵ molecules per cell)",
        ge=0, le=1e7,
    )
    ifng_induced_per_cell: float = P(
        20000.0, "molecules/cell",
        "PD-L1 added at saturating IFN-γ: IFN-γ induces PD-L1 on tumor cells (Garcia-Diaz et al. 2017, "
        "Cell Rep 19:1189); amount assumed",
        ge=0, le=1e7,
    )
    ifng_half_max_pM: float = P(
        20.0, "pM", "IFN-γ concentration giving half the induced PD-L1; assumed (IFN-γ acts at pM)",
        gt=0, le=1e6,
    )
    inducer: str = P("IFNg", "-", "the cytokine that raises PD-L1: the name of one of the configured cytokines")


class IfngBystanderConfig(Section):
    """IFN-γ acting on tumor cells that CAR-T need not recognise (Hoekstra et al. 2020, Nat Cancer 1:291).

    A tumor cell at a site where the ``cytokine`` (IFN-γ) is at least ``threshold_pM`` is exposed:
    each of its divisions is arrested with probability ``arrest_probability`` (the cell starts a
    new cycle instead, so its cycle is slowed by a factor ``1/(1 - arrest_probability)``), it dies
    at an extra ``death_rate_per_day``, and the CARs see its antigen densities times
    ``antigen_fold`` (IFN-γ raises antigen presentation). Antigen-negative cells are affected
    alike: the cytokine spreads beyond the cells the CAR-T recognise.
    """

    enabled: bool = P(
        False, "-",
        "IFN-γ bystander effects; off by default: IFN-γ sensing reaches > 800 µm from the T cells and "
        "inhibits the growth of antigen-negative tumor cells in vivo (Hoekstra et al. 2020, Nat Cancer "
        "1:291), but how much per cell is not measured",
    )
    cytokine: str = P("IFNg", "-", "the cytokine sensed: the name of one of the configured cytokines")
    threshold_pM: float = P(
        10.0, "pM",
        "concentration above which a tumor cell responds; assumed (IFN-γ receptor signalling at pM: "
        "K_D of the IFN-γ receptor ~0.1-1 nM, responses at a few pM; Hoekstra et al. 2020)",
        ge=0, le=1e6,
    )
    arrest_probability: float = P(
        0.5, "per division",
        "chance that an exposed cell's division is arrested (cytostasis); assumed: IFN-γ-sensing "
        "bystander tumor regions grew about half as fast (Hoekstra et al. 2020)",
        ge=0, lt=1,
    )
    death_rate_per_day: float = P(
        0.0, "1/day",
        "extra death rate of exposed cells; 0 by default: Hoekstra et al. 2020 saw growth inhibition, "
        "direct IFN-γ cytotoxicity is cell-line dependent",
        ge=0, le=100,
    )
    antigen_fold: float = P(
        1.0, "-",
        "factor on the antigen densities the CARs see on exposed cells; 1 by default (IFN-γ raises "
        "MHC and antigen-processing machinery, Hoekstra et al. 2020; CAR targets such as CD19 are "
        "not IFN-inducible)",
        ge=0.01, le=100,
    )


class TumorConfig(Section):
    """Tumor cell biology."""

    doubling_time_h: float = P(
        38.6, "hours",
        "population doubling time in free space without death; organoid cell cycle 38.6 ± 3.7 h "
        "(Luque et al. 2024, Sci Rep); Burkitt lines 31-67 h (Cell Prolif 1980)",
        gt=1, le=24 * 365,
    )
    cycle_cv: float = P(
        0.096, "-",
        "coefficient of variation of cell-cycle duration (gamma distributed); 3.7/38.6 from "
        "Luque et al. 2024",
        gt=0.01, le=1.0,
    )
    death_rate_per_day: float = P(
        0.04, "1/day", "baseline death ~4 %/day in childhood B-ALL (Br J Haematol 1997;98:999)",
        ge=0, le=10,
    )
    density_inheritance_cv: float = P(
        0.1, "-",
        "multiplicative noise on a daughter's antigen density (log-normal); assumed",
        ge=0, le=2,
    )
    initial: InitialTumorConfig = InitialTumorConfig()
    pdl1: PdL1Config = PdL1Config()
    ifng_bystander: IfngBystanderConfig = IfngBystanderConfig()


# --------------------------------------------------------------------------------------- CAR-T
class ThresholdActivation(Section):
    rule: Literal["threshold"] = "threshold"
    threshold: float = P(
        2000.0, "molecules/cell",
        "CD19-28ζ CAR needs ~2,000 CD19 per cell (Majzner et al. 2020, Cancer Discov)",
        ge=0, le=1e7,
    )


class CarcadeActivation(Section):
    """CARCADE's binding probability (Prybutok et al. 2022, Front Mol Biosci 9:849363)."""

    rule: Literal["carcade"] = "carcade"
    kd_M: float = P(1e-7, "M", "CAR affinity K_D (CARCADE default)", gt=0, le=1)
    cars_per_cell: float = P(50000.0, "CARs/T cell", "CARCADE default", gt=0, le=1e7)
    f: float = P(0.2, "-", "CARCADE default", gt=0, le=1)
    alpha: float = P(3.0, "-", "CARCADE default", gt=0, le=100)
    beta: float = P(0.01, "-", "CARCADE default", gt=0, le=100)


#: The activation rules' settings, told apart by ``rule``; each rule's binding function is the
#: entry of the same name in :data:`cartsim.agents.car.ACTIVATION_RULES`.
ACTIVATION_CONFIGS: tuple[type[Section], ...] = (ThresholdActivation, CarcadeActivation)
Activation = Annotated[Union[ACTIVATION_CONFIGS], Field(discriminator="rule")]  # noqa: UP007


class ArmoredConfig(Section):
    """An armored CAR ("TRUCK"): activated CAR-T of the product secrete a payload cytokine.

    The payload is a configured cytokine (``cytokines:``, e.g. IL12) deposited by each activated
    cell of the product at ``secretion_per_activated_cell_per_min``; where its concentration is at
    least ``threshold_pM`` tumor cells are killed by the innate cells it recruits at
    ``bystander_kill_rate_per_day``, whether the CAR recognises them or not (IL-12 TRUCKs clear
    antigen-negative cancer cells through macrophages: Chmielewski et al. 2011, Cancer Res 71:5697).
    """

    cytokine: str = P(
        "IL12", "-", "the payload: the name of a configured cytokine (add it under cytokines:, e.g. IL12)")
    secretion_per_activated_cell_per_min: float = P(
        100.0, "molecules/cell/min",
        "payload secretion of an activated cell; assumed, the order of CAR-T IL-2 secretion "
        "(CARCADE: 293 molecules/cell/min); inducible IL-12 TRUCKs release ng/mL amounts (Chmielewski "
        "et al. 2011)",
        ge=0, le=1e7,
    )
    inducible: bool = P(
        True, "-",
        "true: secreted only by activated cells (an NFAT-inducible payload, released where the CAR "
        "engages: Chmielewski et al. 2011); false: by every live effector of the product (constitutive "
        "IL-12: Yeku et al. 2017, Sci Rep 7:10541)",
    )
    threshold_pM: float = P(
        1.0, "pM",
        "payload concentration above which bystander killing acts; assumed (IL-12 acts at pM: "
        "receptor K_D ~50 pM, Presky et al. 1996, Proc Natl Acad Sci 93:14002)",
        ge=0, le=1e6,
    )
    bystander_kill_rate_per_day: float = P(
        1.0, "1/day",
        "death rate of tumor cells of any antigen where the payload is above threshold; assumed (a day "
        "on average): IL-12 TRUCKs eliminated antigen-negative tumor cells within about two weeks "
        "(Chmielewski et al. 2011)",
        ge=0, le=100,
    )


class ProductConfig(Section):
    """A CAR-T product: which antigens it targets, with which logic, and how it is activated."""

    name: str = Field(min_length=1, max_length=40, pattern=r"^[A-Za-z0-9_.\-]+$")
    targets: list[str] = Field(min_length=1, max_length=4)
    logic: str = Field(
        "single",
        json_schema_extra={
            "unit": "-", "enum": list(LOGIC_GATES),
            "source": "logic gate (cartsim.agents.gates.LOGIC_GATES): "
            + "; ".join(f"{name}: {g.meaning}" for name, g in LOGIC_GATES.items()),
        },
    )
    activation: Activation = ThresholdActivation()
    armored: ArmoredConfig | None = P(
        None, "-", "null: a plain CAR; a mapping: an armored CAR secreting a payload cytokine (see armored)")

    @field_validator("logic")
    @classmethod
    def _known_gate(cls, v: str) -> str:
        gate(v)  # a ValueError naming the gates
        return v

    @model_validator(mode="after")
    def _logic_matches_targets(self) -> ProductConfig:
        g = gate(self.logic)
        n = len(self.targets)
        if n < g.min_targets or n > g.max_targets:
            several = [name for name, o in LOGIC_GATES.items() if o.min_targets <= n <= o.max_targets]
            if g.min_targets == g.max_targets:
                takes = f"exactly {g.min_targets} target{'s' if g.min_targets > 1 else ''}"
            else:
                takes = f"{g.min_targets} to {g.max_targets} targets"
            raise ValueError(f"logic '{self.logic}' takes {takes}, not {n}"
                             + (f"; for {n} use {', '.join(repr(x) for x in several)}" if several else ""))
        if len(set(self.targets)) != len(self.targets):
            raise ValueError("targets must not repeat")
        return self


class ChemotaxisConfig(Section):
    enabled: bool = P(False, "-", "chemotaxis up a cytokine gradient (IFN-γ by default); off by default")
    cytokine: str = P("IFNg", "-", "chemoattractant field: the name of one of the configured cytokines")
    strength: float = P(
        0.5, "probability",
        "chance that a turning T cell picks the steepest uphill direction instead of a random one "
        "when it senses a gradient; assumed",
        ge=0, le=1,
    )
    sensing_pM: float = P(
        0.1, "pM per site", "smallest concentration difference between neighbours a cell senses; assumed",
        gt=0, le=1e6,
    )


class SubsetConfig(Section):
    """What sets one T-cell subset (CD4 or CD8) apart; a null value takes the ``car_t`` value.

    Only cells infused with a CD4:CD8 ratio (``dosing[i].cd4_fraction``) belong to a subset;
    their daughters inherit it. Secretion rates name a cytokine; a cytokine not named is secreted
    at its own ``secretion_per_activated_cell_per_min``.
    """

    kill_rate_per_h: float | None = P(
        None, "1/hour of contact", "null: car_t.kill_rate_per_h (see per-subset defaults)", ge=0, le=600
    )
    division_time_h: float | None = P(
        None, "hours", "null: car_t.division_time_h (see per-subset defaults)", gt=1, le=24 * 60
    )
    lifespan_days: float | None = P(
        None, "days", "null: car_t.lifespan_days (see per-subset defaults)", gt=0, le=3650
    )
    secretion_per_activated_cell_per_min: dict[str, float] = Field(
        default_factory=dict,
        json_schema_extra={
            "unit": "molecules/cell/min",
            "source": "cytokine name → secretion rate of an activated cell of this subset; cytokines "
            "not named are secreted at their own rate (see per-subset defaults)",
        },
    )

    @field_validator("secretion_per_activated_cell_per_min")
    @classmethod
    def _rates(cls, v: dict[str, float]) -> dict[str, float]:
        for name, rate in v.items():
            if not (isinstance(rate, (int, float)) and math.isfinite(rate) and 0 <= rate <= 1e7):
                raise ValueError(f"{name}: a secretion rate must be a number from 0 to 1e7 molecules/cell/min")
        return v


#: The subsets' own values and their sources (CARCADE: CD4 CAR-T secrete IL-2, CD8 CAR-T kill).
DEFAULT_SUBSETS: dict[str, tuple[SubsetConfig, str]] = {
    "cd4": (
        SubsetConfig(kill_rate_per_h=0.1, secretion_per_activated_cell_per_min={"IL2": 293.0}),
        "CD4 CAR-T secrete IL-2 when activated, 293 molecules/cell/min (CARCADE's CD4 cells, Prybutok "
        "et al. 2022); they kill too, more slowly than CD8 (Wang et al. 2018, JCI Insight 3:e99048): "
        "kill rate 0.1 per hour of contact assumed (a fifth of car_t.kill_rate_per_h); division and "
        "lifespan as car_t",
    ),
    "cd8": (
        SubsetConfig(secretion_per_activated_cell_per_min={"IL2": 0.0}),
        "CD8 CAR-T kill (car_t.kill_rate_per_h) and make granzyme, not IL-2 (CARCADE's CD8 cells, "
        "Prybutok et al. 2022): IL-2 secretion 0; division and lifespan as car_t",
    ),
}


def _subset_default(name: str) -> Any:
    """A subset entry over its defaults: keys given replace the default's, secretion key by key."""

    def merge(value: Any) -> Any:
        if not isinstance(value, dict):
            return value
        default = DEFAULT_SUBSETS[name][0].model_dump()
        merged = {**default, **value}
        if isinstance(value.get("secretion_per_activated_cell_per_min"), dict):
            merged["secretion_per_activated_cell_per_min"] = {
                **default["secretion_per_activated_cell_per_min"], **value["secretion_per_activated_cell_per_min"]}
        return merged

    return merge


class MemoryConfig(Section):
    """Effector and memory CAR-T (CARTmath's two compartments; Barros et al. 2021).

    A resting effector (not stimulated within ``activation_window_h``, not exhausted) becomes a
    memory cell at ``formation_per_day``; a memory cell migrates and scans, but neither kills,
    secretes nor divides, and lives ``lifespan_days`` on average. On binding antigen it is
    re-activated: an effector again, with a new effector lifespan and a new clone's division count.
    """

    enabled: bool = P(False, "-", "effector and memory states; off by default (one exponential lifespan)")
    formation_per_day: float = P(
        0.01, "1/day",
        "effector → memory rate, assumed: with the 8.6-day effector lifespan, effectors decline with a "
        "half-life of ln 2/(1/8.6 + 0.01) = 5.5 days (4.3 days in Stein et al. 2019) and ε/(ε + 1/8.6) = "
        "8 % of resting effectors become memory, a small tail under the peak as in Stein's patients. "
        "(CARTmath fits ε = 0.15-1.6/day, but there effectors make memory cells without turning into "
        "them; Barros et al. 2021)",
        ge=0, le=100,
    )
    lifespan_days: float = P(
        317.0, "days",
        "mean memory lifespan: the terminal CAR-T half-life of ~220 days (Stein et al. 2019, CPT "
        "Pharmacometrics Syst Pharmacol 8:285) is a mean of 220/ln 2 = 317 days",
        gt=0, le=36500,
    )


class Pd1Config(Section):
    """PD-1 on CAR-T and its ligation by tumor PD-L1 (``tumor.pdl1``); blocked by ``treatments``.

    An engaged PD-1− cell becomes PD-1+ at ``induction_per_h`` per hour of contact (daughters
    inherit it). When a PD-1+ cell binds a tumor cell with PD-L1 density ``L``, the engagement is
    inhibited with probability ``(1 - b)·L/(L + pdl1_half_max_per_cell)``, ``b`` the anti-PD-1
    blockade in effect: an inhibited engagement does not activate the cell (no secretion or
    division from it) and kills at ``inhibited_kill_fraction`` of the kill rate.
    """

    enabled: bool = P(False, "-", "PD-1/PD-L1 suppression; off by default")
    induction_per_h: float = P(
        0.1, "1/hour of contact",
        "PD-1 appears on T cells within hours to a day of antigen stimulation (Agata et al. 1996, Int "
        "Immunol 8:765); rate assumed: half of the cells PD-1+ after ~7 h of contact, about ten kills",
        ge=0, le=600,
    )
    pdl1_half_max_per_cell: float = P(
        10000.0, "molecules/cell", "PD-L1 density inhibiting half of a PD-1+ cell's engagements; assumed",
        gt=0, le=1e7,
    )
    inhibited_kill_fraction: float = P(
        0.0, "fraction",
        "kill rate of an inhibited engagement relative to car_t.kill_rate_per_h: 0, anergic, as PD-1/PD-L1 "
        "binding makes CAR-T anergic in CARCADE (Prybutok et al. 2022)",
        ge=0, le=1,
    )


class TrogocytosisConfig(Section):
    """CAR-mediated trogocytosis (Hamieh et al. 2019, Nature 568:112).

    Each binding takes ``fraction_per_engagement`` of the target's density of every antigen the
    CAR targets; the CAR-T carries it (losing it with ``carried_half_life_h``). A tumor cell left
    below what any product binds escapes. With ``fratricide``, other CAR-T bind and kill a CAR-T
    that carries enough antigen.
    """

    enabled: bool = P(False, "-", "trogocytosis; off by default")
    fraction_per_engagement: float = P(
        0.1, "fraction",
        "share of the target's antigen taken by one engagement; assumed (CAR engagement transfers "
        "antigen to the T cell and lowers the tumor's density: Hamieh et al. 2019, Nature 568:112)",
        ge=0, le=1,
    )
    carried_half_life_h: float = P(
        24.0, "hours",
        "half-life of antigen carried on the CAR-T (internalised and degraded); assumed, about a day",
        gt=0, le=24 * 365,
    )
    fratricide: bool = P(
        True, "-",
        "CAR-T carrying antigen are bound and killed by other CAR-T of a product targeting it, as "
        "Hamieh et al. 2019 observed",
    )


class CarTConfig(Section):
    """CAR-T cell biology, shared by all products."""

    speed_um_per_min: float = P(
        5.0, "µm/min",
        "CAR-T speed 5 µm/min (Luque et al. 2024); T cells in tumors 5-10 µm/min (Boissonnas 2007)",
        gt=0, le=50,
    )
    persistence_min: float = P(
        10.0, "minutes", "directional persistence of CAR-T migration (Luque et al. 2024)", gt=0, le=1000
    )
    chemotaxis: ChemotaxisConfig = ChemotaxisConfig()
    kill_rate_per_h: float = P(
        0.5, "1/hour of contact",
        "mean 2 h of contact per kill, between CAR-T in bone marrow (engage, kill and detach within "
        "~25 min; Cazaux et al. 2019, J Exp Med) and CTLs in solid tumors (~6 h per kill; Breart "
        "et al. 2008, J Clin Invest); gives 2-16 kills per cell per day as observed (Halle 2016)",
        ge=0, le=600,
    )
    detach_rate_per_h: float = P(
        1.0, "1/hour of contact",
        "unproductive contacts end without a kill; many contacts are unproductive (Cazaux et al. "
        "2019); rate assumed",
        ge=0, le=600,
    )
    max_kills: int = P(
        10, "kills",
        "serial killing limit before exhaustion: 10 bindings in CARCADE (Prybutok 2022); "
        "2-16 kills per CTL per day (Halle 2016)",
        ge=1, le=1000,
    )
    activation_window_h: float = P(
        24.0, "hours",
        "a stimulated CAR-T stays activated (secretes, proliferates) this long after its last "
        "engagement; CAR-T serial killing fades after ~20 h (Davenport et al. 2015); assumed",
        gt=0, le=24 * 60,
    )
    division_time_h: float = P(
        24.0, "hours",
        "doubling time of activated CAR-T without IL-2 help; with full IL-2 help the doubling "
        "time halves to 12 h, bracketing the ~0.78 d clinical expansion (Stein et al. 2019)",
        gt=1, le=24 * 60,
    )
    il2_max_boost: float = P(
        1.0, "-", "extra division rate at saturating IL-2 (1 = twice as fast); assumed", ge=0, le=10
    )
    il2_half_max_pM: float = P(
        10.0, "pM", "high-affinity IL-2 receptor K_D ~10 pM (Wang & Smith 1987, J Exp Med)", gt=0, le=1e6
    )
    max_divisions: int = P(10, "divisions", "at most 10 divisions per lineage (CARCADE)", ge=0, le=100)
    lifespan_days: float = P(
        8.6, "days", "mean CAR-T lifespan 8.6 d (Luque et al. 2024); ~10 d in PhysiCell", gt=0, le=3650
    )
    cd4: Annotated[SubsetConfig, BeforeValidator(_subset_default("cd4"))] = Field(
        default_factory=lambda: DEFAULT_SUBSETS["cd4"][0],
        json_schema_extra={"unit": "-", "source": DEFAULT_SUBSETS["cd4"][1]},
    )
    cd8: Annotated[SubsetConfig, BeforeValidator(_subset_default("cd8"))] = Field(
        default_factory=lambda: DEFAULT_SUBSETS["cd8"][0],
        json_schema_extra={"unit": "-", "source": DEFAULT_SUBSETS["cd8"][1]},
    )

    memory: MemoryConfig = MemoryConfig()
    pd1: Pd1Config = Pd1Config()
    trogocytosis: TrogocytosisConfig = TrogocytosisConfig()

    def subset(self, name: str) -> dict[str, float]:
        """The kill rate, division time and lifespan of subset ``name`` (``cd4``, ``cd8``), nulls resolved."""
        sub = getattr(self, name)
        return {k: getattr(self, k) if getattr(sub, k) is None else getattr(sub, k)
                for k in ("kill_rate_per_h", "division_time_h", "lifespan_days")}


# --------------------------------------------------------------------------------------- cytokines
class CytokineConfig(Section):
    """One diffusing cytokine: transport, decay, and which cells release it at what rate.

    Each rate names its source, the kind of cell that releases the cytokine (the registry of
    sources is :data:`cartsim.environment.cytokines.SOURCES`): ``activated_cart``, every
    activated CAR-T cell, at a steady rate; ``tumor_kill``, a tumor cell killed by a CAR-T, at
    once, at its site. A cytokine added by a config entry must state its diffusivity and
    half-life (no value is assumed for it); its rates default to 0 (no source).
    """

    diffusivity_um2_per_s: float = P(..., "µm²/s", "see per-cytokine defaults", ge=0, le=1e4)
    half_life_min: float = P(..., "minutes", "see per-cytokine defaults", gt=0, le=1e6)
    secretion_per_activated_cell_per_min: float = P(
        0.0, "molecules/cell/min",
        "source activated_cart: secreted by every activated CAR-T cell; see per-cytokine defaults",
        ge=0, le=1e7,
    )
    release_per_kill: float = P(
        0.0, "molecules/kill",
        "source tumor_kill: released at the site of every tumor cell a CAR-T kills; see "
        "per-cytokine defaults",
        ge=0, le=1e9,
    )


#: The cytokines every experiment has, with their values and sources. A ``cytokines:`` entry
#: of the same name changes only the keys it gives; an entry of another name adds a cytokine.
DEFAULT_CYTOKINES: dict[str, tuple[CytokineConfig, str]] = {
    "IL2": (
        CytokineConfig(
            diffusivity_um2_per_s=10.0,  # ARCADE; Busse et al. 2010 PNAS
            half_life_min=12.9,  # serum half-life 12.9 min (Konrad et al. 1990)
            secretion_per_activated_cell_per_min=293.0,  # CARCADE CD4 CAR-T
        ),
        "D = 10 µm²/s (ARCADE; Busse et al. 2010 PNAS); half-life 12.9 min (Konrad et al. 1990); "
        "293 molecules/cell/min when active (CARCADE CD4 CAR-T)",
    ),
    "IFNg": (
        CytokineConfig(
            diffusivity_um2_per_s=1.45,  # Liao et al. 2014
            half_life_min=30.0,  # assumed
            secretion_per_activated_cell_per_min=300.0,  # assumed, same order as IL-2
        ),
        "D ≈ 1.45 µm²/s (Liao et al. 2014); half-life 30 min and secretion 300 molecules/cell/min "
        "assumed (same order as IL-2); cytokine range ~250 µm with 10-30 min time constants "
        "(Francis & Palsson 1997)",
    ),
    "IL6": (
        CytokineConfig(
            diffusivity_um2_per_s=10.0,  # assumed, a 21 kDa protein like IL-2 (15 kDa)
            half_life_min=60.0,  # between minutes i.v. and ~5 h s.c.
            secretion_per_activated_cell_per_min=50.0,  # CRS proxy, assumed
            release_per_kill=1000.0,  # CRS proxy, assumed
        ),
        "CRS proxy released in proportion to CAR-T activation and killing (relative scale "
        "assumed); half-life between minutes i.v. and ~5 h s.c.; D assumed as for IL-2",
    ),
}

#: The cytokines the model itself reads, by role, in this one place. ``proliferation``: its
#: field boosts CAR-T division (``car_t.il2_max_boost``, ``car_t.il2_half_max_pM``);
#: ``crs_proxy``: the cytokine-release-syndrome signal of the summaries (``peak_IL6_pM``) and of
#: the page. Both are default cytokines, so every validated config has them. The chemoattractant
#: is chosen per experiment instead (``car_t.chemotaxis.cytokine``).
CYTOKINE_ROLES: dict[str, str] = {"proliferation": "IL2", "crs_proxy": "IL6"}

#: Words a cytokine may not be called: its columns ``<name>_total`` would be the time series'
#: own ``tumor_total``, ``cart_total`` and ``kills_total``.
_RESERVED_CYTOKINE_NAMES = {"tumor", "cart", "kills"}


def default_cytokines() -> dict[str, CytokineConfig]:
    return {name: c for name, (c, _) in DEFAULT_CYTOKINES.items()}


def _with_default_cytokines(value: Any) -> Any:
    """A ``cytokines:`` mapping over the defaults: named defaults are updated key by key, new
    names are added after them. Anything else is left for validation to report."""
    if not isinstance(value, dict):
        return value
    merged: dict[Any, Any] = {}
    for name, default in default_cytokines().items():
        given = value.get(name)
        if isinstance(given, dict):
            merged[name] = {**default.model_dump(), **given}
        else:
            merged[name] = default if name not in value else given
    merged.update({k: v for k, v in value.items() if k not in merged})
    return merged


# --------------------------------------------------------------------------------------- dosing
class InfusionConfig(Section):
    day: float = P(0.0, "days", "scenario choice", ge=0, le=3650)
    cells: Count = P(200, "cells", "scenario choice (in well-mixed mode: real cells)", ge=1, le=10**13)
    product: str = Field(min_length=1)
    route: Literal["edge", "vessels", "uniform"] = P(
        "edge", "-",
        "edge: cells enter at the tissue boundary; vessels: next to random vessel sites; "
        "uniform: anywhere",
    )
    cd4_fraction: float | None = P(
        None, "fraction",
        "CD4 share of the dose (CD4:CD8 ratio r gives r/(1 + r)); the rest are CD8, each subset with "
        "its car_t.cd4 / car_t.cd8 values; lisocabtagene is infused at 1:1 (Abramson et al. 2020, "
        "Lancet 396:839); null: cells without a subset, with the car_t values",
        ge=0, le=1,
    )


class AntiPd1Config(Section):
    """An anti-PD-1 / PD-L1 antibody: from ``day`` for ``duration_days`` it blocks a fraction of
    PD-1/PD-L1 ligation (``car_t.pd1``)."""

    kind: Literal["anti_pd1"] = P(..., "-", "anti_pd1: checkpoint blockade by an anti-PD-1 or anti-PD-L1 antibody")
    day: float = P(0.0, "days", "start of the blockade; scenario choice", ge=0, le=3650)
    duration_days: float = P(
        21.0, "days", "how long the blockade holds; nivolumab keeps PD-1 occupied for weeks after a dose "
        "(Brahmer et al. 2010, J Clin Oncol 28:3167)", gt=0, le=3650,
    )
    blockade: float = P(
        0.7, "fraction",
        "share of PD-1/PD-L1 ligation blocked: ~70 % PD-1 occupancy on circulating T cells after "
        "nivolumab (Brahmer et al. 2010)", ge=0, le=1,
    )


class LymphodepletionConfig(Section):
    """Lymphodepleting chemotherapy (fludarabine/cyclophosphamide) before the infusion.

    From ``day`` for ``duration_days`` the homeostatic cytokines (IL-7, IL-15) freed by removing the
    host's lymphocytes make every live, non-exhausted CAR-T divide at an extra, antigen-independent
    ``homeostatic_division_per_day`` (within ``car_t.max_divisions``). The competing lymphocytes are
    not agents: their removal is what this boost stands for.
    """

    kind: Literal["lymphodepletion"] = P(
        ..., "-", "lymphodepletion: fludarabine/cyclophosphamide conditioning before CAR-T")
    day: float = P(0.0, "days", "start of the window (the infusion day or a few days before); scenario choice",
                   ge=0, le=3650)
    duration_days: float = P(
        14.0, "days",
        "how long IL-7/IL-15 stay raised: serum IL-15 peaks days after Flu/Cy and returns to baseline "
        "within about two weeks (Kochenderfer et al. 2017, J Clin Oncol 35:1803)", gt=0, le=3650,
    )
    homeostatic_division_per_day: float = P(
        0.5, "1/day",
        "extra division rate of every CAR-T in the window: T cells divide about every 2 days in "
        "lymphopenic hosts (homeostatic proliferation; Goldrath & Bevan 1999, Immunity 11:183); with "
        "Flu/Cy peak CAR-T counts were several-fold higher than with Cy alone (Turtle et al. 2016, J "
        "Clin Invest 126:2123)", ge=0, le=24,
    )


class ChemotherapyConfig(Section):
    """A cytotoxic drug that kills cycling cells: from ``day`` for ``duration_days`` a tumor cell
    that divides dies instead with probability ``kill_probability·2^(-(t - day)/half_life_h)``."""

    kind: Literal["chemotherapy"] = P(..., "-", "chemotherapy: a cell-cycle-specific cytotoxic drug")
    day: float = P(0.0, "days", "time of the dose; scenario choice", ge=0, le=3650)
    duration_days: float = P(7.0, "days", "how long the drug acts at all (one cycle of treatment); scenario choice",
                             gt=0, le=3650)
    kill_probability: float = P(
        0.5, "per division",
        "chance that a dividing tumor cell dies at the dose's peak; assumed: cell-cycle-specific drugs "
        "kill a fixed fraction of the cycling cells per dose (the log-kill hypothesis; Skipper et al. "
        "1964, Cancer Chemother Rep 35:1)", ge=0, le=1,
    )
    half_life_h: float = P(
        24.0, "hours",
        "half-life of the drug's effect; cyclophosphamide's elimination half-life is 3-12 h, its "
        "active metabolites and cell-cycle effects last longer (de Jonge et al. 2005, Clin "
        "Pharmacokinet 44:1135); assumed a day", gt=0, le=24 * 365,
    )


class RadiationConfig(Section):
    """A radiation dose on ``day``: every tumor cell in the region survives with the linear-quadratic
    probability ``S = exp(-α·D - β·D²)``; ``region`` null is the whole tissue, otherwise a disc
    (``[x_um, y_um, radius_um]``) or a rectangle (``[x0_um, y0_um, x1_um, y1_um]``) measured from the
    tissue's corner."""

    kind: Literal["radiation"] = P(..., "-", "radiation: an external-beam dose")
    day: float = P(0.0, "days", "time of the dose; scenario choice", ge=0, le=3650)
    dose_Gy: float = P(2.0, "Gy", "dose of one fraction: 2 Gy is the standard fraction", ge=0, le=100)
    alpha_per_Gy: float = P(
        0.35, "1/Gy",
        "linear coefficient α: 0.35/Gy with α/β = 10 Gy, typical of tumors (Fowler 1989, Br J Radiol "
        "62:679); a 2-Gy fraction leaves S ≈ 0.43", ge=0, le=10,
    )
    alpha_beta_Gy: float = P(
        10.0, "Gy", "α/β ratio: ~10 Gy for most tumors and early-responding tissue (Fowler 1989)", gt=0, le=1000,
    )
    region: list[float] | None = P(
        None, "µm",
        "null: the whole tissue; [x, y, radius]: a disc; [x0, y0, x1, y1]: a rectangle (µm from the "
        "tissue's corner, site centres inside count)",
    )

    @field_validator("region")
    @classmethod
    def _region_shape(cls, v: list[float] | None) -> list[float] | None:
        if v is None:
            return v
        if len(v) not in (3, 4) or not all(math.isfinite(x) and x >= 0 for x in v):
            raise ValueError("give [x_um, y_um, radius_um] for a disc or [x0_um, y0_um, x1_um, y1_um] for "
                             "a rectangle, non-negative numbers, or null for the whole tissue")
        if len(v) == 4 and (v[2] <= v[0] or v[3] <= v[1]):
            raise ValueError("a rectangle [x0_um, y0_um, x1_um, y1_um] needs x1 > x0 and y1 > y0")
        return v

    @property
    def surviving_fraction(self) -> float:
        """The linear-quadratic surviving fraction exp(-α·D - β·D²), β = α/(α/β)."""
        beta = self.alpha_per_Gy / self.alpha_beta_Gy
        return math.exp(-self.alpha_per_Gy * self.dose_Gy - beta * self.dose_Gy**2)


#: Treatments besides CAR-T infusions, by ``kind`` (one entry each; more kinds join this table).
TREATMENT_CONFIGS: dict[str, type[Section]] = {
    "anti_pd1": AntiPd1Config, "lymphodepletion": LymphodepletionConfig,
    "chemotherapy": ChemotherapyConfig, "radiation": RadiationConfig,
}
Treatment = Annotated[Union[tuple(TREATMENT_CONFIGS.values())], Field(discriminator="kind")]  # noqa: UP007


# --------------------------------------------------------------------------------------- well-mixed
class WellMixedConfig(Section):
    """The well-mixed mode: no space, encounters by mass action, CARTmath's terms as agent rules.

    Each agent is a super-individual standing for ``cells_per_agent`` cells (system-size scaling),
    so millions of cells are represented by thousands of agents. Tumor cells, CAR-T doses and
    ``tumor.initial.cells`` are then numbers of *cells*, not agents. Rates follow CARTmath
    (Barros et al. 2021, Cancers 13:2941); ``parameter_set`` picks a published fit and any rate
    given here overrides it.
    """

    parameter_set: Literal["cartmath_raji", "cartmath_hdlm2"] = P(
        "cartmath_raji", "-",
        "CARTmath fits: Raji lymphoma with CD19 CAR-T, or HDLM-2 Hodgkin lymphoma with CD123 CAR-T "
        "(Barros et al. 2021)",
    )
    cells_per_agent: float = P(
        10, "cells/agent",
        "system-size scaling: the noise grows with it (near a dose threshold, coarse agents decide the "
        "outcome by chance); the cost does not, since agents of one kind draw their fates together",
        ge=1, le=1e12,
    )
    r_per_day: float | None = P(None, "1/day", "tumor growth r", ge=0, le=100)
    b_per_cell: float | None = P(None, "1/cell", "inverse carrying capacity b", ge=0, le=1)
    gamma_per_cell_day: float | None = P(None, "1/(cell·day)", "killing γ", ge=0, le=1)
    phi_per_day: float | None = P(None, "1/day", "effector expansion φ", ge=0, le=100)
    rho_per_day: float | None = P(None, "1/day", "effector loss ρ", ge=0, le=100)
    alpha_per_cell_day: float | None = P(None, "1/(cell·day)", "tumor suppression of effectors α", ge=0, le=1)
    epsilon_per_day: float | None = P(None, "1/day", "memory formation ε", ge=0, le=100)
    mu_per_day: float | None = P(None, "1/day", "memory death μ", ge=0, le=100)
    theta_per_cell_day: float | None = P(None, "1/(cell·day)", "memory to effector on tumor contact θ", ge=0, le=1)


# --------------------------------------------------------------------------------------- top level
class ExperimentConfig(Section):
    """A complete experiment: tissue, tumor, antigens, CAR-T products, cytokines and dosing."""

    name: str = Field("experiment", min_length=1, max_length=80)
    description: str = ""
    seed: int = P(1, "-", "base random seed; same seed and config give identical results", ge=0)
    space: Literal["grid", "stirred", "well_mixed"] = P(
        "grid", "-",
        "grid: cells on a tissue grid; stirred: the grid model's own rules and parameters without "
        "geometry (every placement, hop and daughter lands on a uniformly random site, cytokines "
        "are uniform), i.e. a stirred dish where cells meet by mass action; well_mixed: "
        "CARTmath's terms as agent rules (see well_mixed)",
    )
    well_mixed: WellMixedConfig = WellMixedConfig()
    tissue: TissueConfig = TissueConfig()
    time: TimeConfig = TimeConfig()
    antigens: dict[str, AntigenConfig] = Field(
        default_factory=lambda: {"CD19": AntigenConfig()}, min_length=1, max_length=4
    )
    tumor: TumorConfig = TumorConfig()
    car_t: CarTConfig = CarTConfig()
    products: list[ProductConfig] = Field(
        default_factory=lambda: [ProductConfig(name="CAR19", targets=["CD19"])], min_length=1
    )
    cytokines: Annotated[dict[str, CytokineConfig], BeforeValidator(_with_default_cytokines)] = Field(
        default_factory=default_cytokines,
        json_schema_extra={
            "unit": "-",
            "source": "mapping of cytokine name → settings; IL2, IFNg and IL6 are always there "
            "(an entry of their name changes only the keys it gives), other names add a cytokine",
        },
    )
    dosing: list[InfusionConfig] = Field(
        default_factory=lambda: [InfusionConfig(product="CAR19")], min_length=0
    )
    treatments: list[Treatment] = Field(
        default_factory=list,
        json_schema_extra={
            "unit": "-",
            "source": "the dosing schedule's treatments besides CAR-T infusions, each with a kind: "
            "anti_pd1 (checkpoint blockade: day, duration_days, blockade); lymphodepletion (day, "
            "duration_days, homeostatic_division_per_day); chemotherapy (day, duration_days, "
            "kill_probability, half_life_h); radiation (day, dose_Gy, alpha_per_Gy, alpha_beta_Gy, "
            "region); see the treatment kinds below",
        },
    )

    @field_validator("antigens")
    @classmethod
    def _antigen_names(cls, v: dict[str, AntigenConfig]) -> dict[str, AntigenConfig]:
        for name in v:
            if not name or not name.replace("_", "").replace("-", "").isalnum():
                raise ValueError(f"antigen name {name!r} must be letters, digits, '_' or '-'")
        return v

    @field_validator("cytokines")
    @classmethod
    def _cytokine_names(cls, v: dict[str, CytokineConfig]) -> dict[str, CytokineConfig]:
        for name in v:
            if not re.fullmatch(r"[A-Za-z][A-Za-z0-9]{0,19}", name):
                raise ValueError(f"cytokine name {name!r} must be a letter then letters or digits "
                                 "(at most 20), e.g. TNFa or IL10")
            if name.lower() in _RESERVED_CYTOKINE_NAMES:
                raise ValueError(f"cytokine name {name!r} is taken by the time series "
                                 f"({name}_total); choose another")
        return v

    @model_validator(mode="after")
    def _cross_references(self) -> ExperimentConfig:
        antigens = list(self.antigens)
        chemo = self.car_t.chemotaxis.cytokine
        if chemo not in self.cytokines:
            raise ValueError(
                f"car_t.chemotaxis.cytokine: unknown cytokine {chemo!r}; the configured cytokines "
                f"are {', '.join(self.cytokines)}"
            )
        names = [p.name for p in self.products]
        if len(set(names)) != len(names):
            raise ValueError("products: names must be unique")
        for i, product in enumerate(self.products):
            for target in product.targets:
                if target not in self.antigens:
                    raise ValueError(
                        f"products[{i}].targets: unknown antigen {target!r}; "
                        f"antigens defined are {antigens}"
                    )
        for i, dose in enumerate(self.dosing):
            if dose.product not in names:
                raise ValueError(
                    f"dosing[{i}].product: unknown product {dose.product!r}; products are {names}"
                )
            if dose.day > self.time.duration_days:
                raise ValueError(
                    f"dosing[{i}].day: {dose.day} is after the end of the run "
                    f"(time.duration_days = {self.time.duration_days})"
                )
        if self.tumor.pdl1.inducer not in self.cytokines:
            raise ValueError(f"tumor.pdl1.inducer: unknown cytokine {self.tumor.pdl1.inducer!r}; the configured "
                             f"cytokines are {', '.join(self.cytokines)}")
        for i, t in enumerate(self.treatments):
            if t.kind == "anti_pd1" and not self.car_t.pd1.enabled:
                raise ValueError(f"treatments[{i}]: an anti_pd1 treatment blocks PD-1, which is off; set "
                                 "car_t.pd1.enabled: true (or remove the treatment)")
            if t.day > self.time.duration_days:
                raise ValueError(f"treatments[{i}].day: {t.day} is after the end of the run "
                                 f"(time.duration_days = {self.time.duration_days})")
        for i, t in enumerate(self.treatments):
            if t.kind == "radiation" and t.region is not None:
                w, h = self.tissue.width * self.tissue.site_um, self.tissue.height * self.tissue.site_um
                if t.region[0] > w or t.region[1] > h:
                    raise ValueError(f"treatments[{i}].region: starts at ({t.region[0]:g}, {t.region[1]:g}) µm, "
                                     f"outside the {w:g} × {h:g} µm tissue")
        for i, product in enumerate(self.products):
            if product.armored is not None and product.armored.cytokine not in self.cytokines:
                raise ValueError(
                    f"products[{i}].armored.cytokine: unknown cytokine {product.armored.cytokine!r}; add it "
                    f"under cytokines: (e.g. {product.armored.cytokine}: {{diffusivity_um2_per_s: 5, "
                    f"half_life_min: 60}}) or name one of {', '.join(self.cytokines)}")
        bystander = self.tumor.ifng_bystander
        if bystander.enabled and bystander.cytokine not in self.cytokines:
            raise ValueError(f"tumor.ifng_bystander.cytokine: unknown cytokine {bystander.cytokine!r}; the configured "
                             f"cytokines are {', '.join(self.cytokines)}")
        for key in ("cd4", "cd8"):
            for name in getattr(self.car_t, key).secretion_per_activated_cell_per_min:
                if name not in self.cytokines:
                    raise ValueError(
                        f"car_t.{key}.secretion_per_activated_cell_per_min: unknown cytokine {name!r}; "
                        f"the configured cytokines are {', '.join(self.cytokines)}")
        sites = self.tissue.width * self.tissue.height
        if self.space == "well_mixed":
            if self.car_t.trogocytosis.enabled:
                raise ValueError("car_t.trogocytosis.enabled: the well-mixed mode has no antigen densities "
                                 "to take; set it false or use space: grid or stirred")
            if self.car_t.pd1.enabled:
                raise ValueError("car_t.pd1.enabled: the well-mixed mode has no PD-1/PD-L1; set it false "
                                 "or use space: grid or stirred")
            if self.car_t.memory.enabled:
                raise ValueError("car_t.memory.enabled: the well-mixed mode has CARTmath's own memory "
                                 "compartment (well_mixed.epsilon_per_day, mu_per_day, theta_per_cell_day); "
                                 "set it false or use space: grid or stirred")
            for i, t in enumerate(self.treatments):
                if t.kind != "anti_pd1":
                    raise ValueError(f"treatments[{i}]: the well-mixed mode has no {t.kind}; remove it or use "
                                     "space: grid or stirred")
            if self.tumor.ifng_bystander.enabled:
                raise ValueError("tumor.ifng_bystander.enabled: the well-mixed mode has no cytokine fields; set it "
                                 "false or use space: grid or stirred")
            for i, product in enumerate(self.products):
                if product.armored is not None:
                    raise ValueError(f"products[{i}].armored: the well-mixed mode has no cytokine fields; leave it "
                                     "out or use space: grid or stirred")
            for i, dose in enumerate(self.dosing):
                if dose.cd4_fraction is not None:
                    raise ValueError(f"dosing[{i}].cd4_fraction: the well-mixed mode has no CD4/CD8 "
                                     "subsets; leave it out or use space: grid or stirred")
            return self  # cells are super-individuals: no sites to fit into
        if self.tumor.initial.cells > sites:
            raise ValueError(
                f"tumor.initial.cells: {self.tumor.initial.cells} cells do not fit on "
                f"{self.tissue.width}×{self.tissue.height} = {sites} sites"
            )
        for i, dose in enumerate(self.dosing):
            if dose.cells > sites:
                raise ValueError(
                    f"dosing[{i}].cells: {dose.cells} CAR-T do not fit on {sites} sites "
                    "(one CAR-T per site)"
                )
        if self.tissue.vessels > sites:
            raise ValueError(f"tissue.vessels: more vessels ({self.tissue.vessels}) than sites ({sites})")
        return self

    # ------------------------------------------------------------------ conveniences
    @property
    def antigen_names(self) -> tuple[str, ...]:
        return tuple(self.antigens)

    def product(self, name: str) -> ProductConfig:
        return next(p for p in self.products if p.name == name)

    @property
    def infusion_days(self) -> list[float]:
        return sorted({d.day for d in self.dosing})
