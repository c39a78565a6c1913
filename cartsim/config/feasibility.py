"""What a valid experiment will cost to run, checked before it runs: "valid" means "will run".

The schema checks each value on its own; a run can still be impossible or endless because of how
values combine: a CAR-T cell faster than the shortest internal step allows, a record interval of a
microsecond over three weeks (billions of records), a tiny ``time.dt_min`` (trillions of steps), or
a tissue too big for the machine's memory. :func:`check_feasible` derives those numbers from the
config alone, with the same arithmetic the engine uses (:func:`time_step_min` is the model's step),
and raises a :class:`ConfigError` naming the field to change and by how much.
"""

from __future__ import annotations

import math
import os
import resource
from dataclasses import dataclass

from cartsim import rates
from cartsim.config.errors import ConfigError
from cartsim.config.schema import ExperimentConfig

#: Most rows of a run's time series (3650 days at a record every 30 minutes is 175,200).
MAX_RECORDS = 200_000
#: Most internal steps of a run (at ~0.2 ms a step on a small tissue, about an hour).
MAX_STEPS = 20_000_000
#: Environment variable giving the memory a run may use, in GB (default: 80 % of the machine's
#: memory, or the process limit ``ulimit -v`` where that is lower).
MEMORY_ENV = "CARTSIM_MAX_MEMORY_GB"

# Memory of a grid run, measured with ``cartsim run`` (peak resident memory, plots included) at
# 200² to 2000² sites and up to 10⁶ tumor cells: ~0.42 GB of code and libraries, ~265 bytes per
# site, ~530 bytes per tumor cell (the slot arrays double as the tumor grows, hence twice that).
BASE_BYTES = 450e6
BYTES_PER_SITE = 300
BYTES_PER_TUMOR_CELL = 1100
BYTES_PER_CART_CELL = 600
BYTES_PER_RECORD = 2000
SNAPSHOT_BYTES_PER_SITE = 18  # phenotype, state, dead age and three cytokine fields
SNAPSHOT_BYTES_PER_SITE_ANTIGEN = 4


def _infeasible(message: str) -> ConfigError:
    return ConfigError(f"invalid experiment:\n{message}")


def cart_hazards_per_min(c: ExperimentConfig) -> list[float]:
    """The fastest CAR-T hazards (1/min) the automatic step must resolve: ending an engagement
    and dividing at full IL-2 help, for cells without a subset and, where a dose gives a CD4:CD8
    ratio, for each subset; and the rates of the mechanisms switched on."""
    t = c.car_t
    kinds = [{"kill_rate_per_h": t.kill_rate_per_h, "division_time_h": t.division_time_h}]
    if any(d.cd4_fraction is not None for d in c.dosing):
        kinds += [t.subset("cd4"), t.subset("cd8")]
    hazards = []
    for k in kinds:
        hazards += [rates.per_minute(k["kill_rate_per_h"] + t.detach_rate_per_h),
                    2 * math.log(2) / (k["division_time_h"] * 60) * (1 + t.il2_max_boost)]
    if t.pd1.enabled:
        hazards.append(rates.per_minute(t.pd1.induction_per_h))
    if t.memory.enabled:
        hazards.append(t.memory.formation_per_day / rates.MINUTES_PER_DAY)
    homeostatic = sum(x.homeostatic_division_per_day for x in c.treatments if x.kind == "lymphodepletion")
    if homeostatic > 0:  # all lymphodepletions at once, on top of the fastest division
        hazards.append(hazards[1] + homeostatic / rates.MINUTES_PER_DAY)
    return list(dict.fromkeys(hazards))  # the default: the same two hazards as ever


def time_step_min(c: ExperimentConfig) -> float:
    """The internal step (minutes) of a grid or stirred run: ``time.dt_min`` or the automatic step
    (:func:`cartsim.rates.choose_dt`), shortened to divide the record interval (and the last,
    shorter one, where the duration is not a multiple of it: :func:`cartsim.rates.fit_step`).

    Raises:
        ConfigError: no step both short enough for the CAR-T hop rate and allowed exists.
    """
    hop_rate = rates.hop_rate_per_min(c.car_t.speed_um_per_min, c.tissue.site_um)
    if c.time.dt_min is not None:
        dt = c.time.dt_min
        if hop_rate * dt > 1:
            raise _infeasible(
                f"time.dt_min: {dt:g} min is longer than the time a CAR-T cell takes to cross a site "
                f"at {c.car_t.speed_um_per_min:g} µm/min; use time.dt_min <= {1 / hop_rate:.3g} (or null)")
    else:
        t = c.car_t
        dt = rates.choose_dt(hop_rate=hop_rate, hazards_per_min=cart_hazards_per_min(c))
        if hop_rate * dt > 1 + 1e-12:  # the shortest automatic step is rates.choose_dt's floor
            raise _infeasible(
                f"car_t.speed_um_per_min: at {t.speed_um_per_min:g} µm/min a CAR-T cell crosses a "
                f"{c.tissue.site_um:g} µm site (tissue.site_um) in {60 / hop_rate:.3g} s, less than the shortest "
                f"internal step ({dt:g} min); use car_t.speed_um_per_min <= "
                f"{rates.MEAN_HOP_SITES * c.tissue.site_um / dt:.3g} or tissue.site_um >= "
                f"{_round_up(t.speed_um_per_min * dt / rates.MEAN_HOP_SITES)}")
    return rates.fit_step(dt, c.time.record_every_h * rates.MINUTES_PER_HOUR,
                          c.time.duration_days * rates.MINUTES_PER_DAY)


@dataclass(frozen=True)
class RunCost:
    """What a run will need, derived from its config (:func:`run_cost`)."""

    records: int
    steps: int  # internal steps (for the well-mixed mode, a lower bound)
    dt_min: float | None  # the internal step of a grid run
    sites: int
    tumor_cells: int  # most tumor cells the run can hold at once
    cart_cells: int  # most CAR-T cells
    snapshots: int
    memory_bytes: float

    def memory_parts(self, c: ExperimentConfig) -> dict[str, float]:
        """The estimate by the field that drives each part."""
        if c.space == "well_mixed":
            return {"time.record_every_h": self.records * BYTES_PER_RECORD}
        per_snapshot = SNAPSHOT_BYTES_PER_SITE + SNAPSHOT_BYTES_PER_SITE_ANTIGEN * len(c.antigens)
        return {
            "tissue.width × tissue.height": self.sites * BYTES_PER_SITE + self.tumor_cells * BYTES_PER_TUMOR_CELL
            + self.cart_cells * BYTES_PER_CART_CELL,
            "time.snapshot_days": self.snapshots * self.sites * per_snapshot,
            "time.record_every_h": self.records * BYTES_PER_RECORD,
        }


def run_cost(c: ExperimentConfig) -> RunCost:
    """Records, internal steps, cells and memory of a run of ``c`` (estimates are upper bounds)."""
    duration_min = c.time.duration_days * rates.MINUTES_PER_DAY
    record_min = c.time.record_every_h * rates.MINUTES_PER_HOUR
    records = math.ceil(duration_min / record_min - 1e-9) + 1
    if c.space == "well_mixed":  # adaptive steps of at most time.dt_min (when given) and one record
        longest = record_min if c.time.dt_min is None else min(c.time.dt_min, record_min)
        steps = math.ceil(duration_min / longest - 1e-9)
        return RunCost(records, steps, None, 0, 0, 0, 0, BASE_BYTES + records * BYTES_PER_RECORD)
    dt = time_step_min(c)
    steps = math.ceil(duration_min / dt - 1e-9)
    sites = c.tissue.width * c.tissue.height
    # an untreated tumor grows at most exponentially, and never beyond one cell per site
    doublings = c.time.duration_days * 24 / c.tumor.doubling_time_h
    tumor = sites if doublings > 60 else min(sites, math.ceil(c.tumor.initial.cells * 2**doublings))
    cart = min(sites, sum(d.cells for d in c.dosing) * 2 ** min(c.car_t.max_divisions, 60))
    snapshots = len(c.time.snapshot_days) + 1
    cost = RunCost(records, steps, dt, sites, tumor, cart, snapshots, 0.0)
    memory = BASE_BYTES + sum(cost.memory_parts(c).values())
    return RunCost(records, steps, dt, sites, tumor, cart, snapshots, memory)


def memory_budget() -> tuple[float, str]:
    """Bytes a run may use, and where that number comes from (for messages)."""
    env = os.environ.get(MEMORY_ENV)
    if env:
        try:
            gb = float(env)
        except ValueError:
            gb = math.nan
        if not math.isfinite(gb) or gb <= 0:
            raise ConfigError(f"{MEMORY_ENV}={env!r}: give the memory a run may use in GB, e.g. {MEMORY_ENV}=8")
        return gb * 1e9, f"the {gb:g} GB set by {MEMORY_ENV}"
    try:
        physical = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        physical = 16e9
    budget, why = 0.8 * physical, f"80 % of this machine's {physical / 1e9:.1f} GB"
    for limit in (resource.RLIMIT_AS, resource.RLIMIT_DATA):
        soft, _ = resource.getrlimit(limit)
        if soft != resource.RLIM_INFINITY and soft < budget:
            budget, why = float(soft), f"this process's limit of {soft / 1e9:.1f} GB (ulimit -v)"
    return budget, why + f" ({MEMORY_ENV} sets another limit)"


def check_feasible(c: ExperimentConfig) -> RunCost:
    """Raise a :class:`ConfigError` naming the field to change if a run of ``c`` cannot finish:
    no valid time step, more than :data:`MAX_RECORDS` records or :data:`MAX_STEPS` internal steps,
    or more memory than :func:`memory_budget` allows. Returns the run's cost otherwise."""
    duration_h = c.time.duration_days * 24
    records = math.ceil(duration_h / c.time.record_every_h - 1e-9) + 1
    if records > MAX_RECORDS:
        raise _infeasible(
            f"time.record_every_h: a record every {c.time.record_every_h:g} h over {c.time.duration_days:g} days "
            f"makes {records:,} records, more than {MAX_RECORDS:,}; use time.record_every_h >= "
            f"{_round_up(duration_h / (MAX_RECORDS - 1))}")
    cost = run_cost(c)
    if cost.steps > MAX_STEPS:
        duration_min = c.time.duration_days * rates.MINUTES_PER_DAY
        if c.time.dt_min is not None:
            raise _infeasible(
                f"time.dt_min: steps of {c.time.dt_min:g} min over {c.time.duration_days:g} days make "
                f"{cost.steps:,} internal steps, more than {MAX_STEPS:,}; use time.dt_min >= "
                f"{_round_up(duration_min / MAX_STEPS)} (or null for the automatic step)")
        raise _infeasible(
            f"time.duration_days: {c.time.duration_days:g} days in internal steps of {cost.dt_min:.3g} min "
            f"(set by car_t.speed_um_per_min, kill_rate_per_h, detach_rate_per_h and division_time_h) make "
            f"{cost.steps:,} steps, more than {MAX_STEPS:,}; use time.duration_days <= "
            f"{MAX_STEPS * cost.dt_min / rates.MINUTES_PER_DAY:.3g} or slower rates")
    budget, why = memory_budget()
    if cost.memory_bytes > budget:
        parts = cost.memory_parts(c)
        field = max(parts, key=parts.get)
        what, fix = {
            "tissue.width × tissue.height": (
                f"{c.tissue.width}×{c.tissue.height} sites with up to {cost.tumor_cells:,} tumor cells",
                "use a smaller tissue.width and tissue.height"),
            "time.snapshot_days": (f"{cost.snapshots} snapshots of {cost.sites:,} sites",
                                   "take fewer snapshots (time.snapshot_days)"),
            "time.record_every_h": (f"{cost.records:,} records", "record less often (time.record_every_h)"),
        }[field]
        raise _infeasible(
            f"{field}: {what} would need about {cost.memory_bytes / 1e9:.1f} GB of memory, more than "
            f"{why}; {fix}")
    return cost


def _round_up(x: float) -> str:
    """``x`` rounded up to 3 significant digits, for a bound the user can type."""
    if x <= 0:
        return "0"
    scale = 10 ** (math.floor(math.log10(x)) - 2)
    return f"{math.ceil(x / scale - 1e-9) * scale:.3g}"
