"""Speed and memory benchmark of the cartsim core simulation.

Scenarios (each run happens in a fresh process, so peak memory and caches of one run do not
leak into the next; the machine may be shared, so CPU seconds are reported next to wall seconds):

* ``quickstart``: ``cartsim.run(cartsim.load_config("configs/quickstart.yaml"))``, best of 3
  (target: < 10 s on one core);
* ``medium``: a 300x300 tissue with a 20,000-cell nodule and 5,000 CAR-T for 28 days
  (targets: < 90 s wall, < 1 GiB peak RSS);
* ``scaling``: N tumor cells and then 4N on a tissue of 4x the area, at the same densities of
  tumor cells and CAR-T (150x150, 5,000 tumor + 1,250 CAR-T vs 300x300, 20,000 + 5,000, 14 days;
  a dispersed tumor and uniform entry, so that both runs have the same dynamics per unit of
  tissue and differ only in size); the ratio of wall times (fastest of 3 runs each) should stay
  <= ~4.5x. (Two nodules of N and 4N cells are not comparable this way: the small one is cleared
  in days while the large one, with twice the radius, survives, so the large run simulates far
  more than 4x the cell-days.)

Figures reported for each scenario:

* wall and CPU seconds, peak RSS (``ru_maxrss`` of the child process, so it includes the
  interpreter and imported libraries);
* simulated days and average live cells (tumor + CAR-T, averaged over the recorded rows);
* live cell-days per wall second = average live cells x simulated days / wall seconds;
* agent updates per second = (CAR-T cell-steps + tumor events) / wall seconds, where CAR-T
  cell-steps are estimated as mean ``cart_total`` x number of internal steps, and tumor events
  are the entries popped from the tumor event queue (divisions, baseline deaths, divisions that
  found no room, and stale entries of cells that had already died, which are skipped cheaply);
* how time splits between model set-up, infusion, agents (tumor events, CAR-T rules and the
  rest of the step), cytokine fields and data collection. The split comes from timing wrappers
  put on the model's bound methods; agents = total - setup - infusion - fields - collection.

Run ``python benchmarks/bench_core.py --help`` for the options. The exit code is 0 even when a
target is missed: this is a report, and missed targets are printed as FAIL.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import platform
import resource
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from importlib import metadata
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
QUICKSTART = REPO / "configs" / "quickstart.yaml"

# Targets
QUICKSTART_MAX_S = 10.0
MEDIUM_MAX_S = 90.0
MEDIUM_MAX_MIB = 1024.0
SCALING_MAX_RATIO = 4.5

LABEL_WIDTH = 34  # width of the scenario column in the tables

# A single-threaded run whose CPU time is below this fraction of its wall time was slowed down by
# other processes competing for the cores
BUSY_CPU_FRACTION = 0.9

# Published figures of live cell-days per wall second, for comparison
REFERENCE_THROUGHPUT = "CARCADE reaches ~31 live cell-days/s, PhysiCell's 3-D cancer-immune sample ~4"

COMMON = {"time.record_every_h": 6.0, "rng": 1}  # CarTModel keyword arguments of every non-config run
MEDIUM = {"width": 300, "height": 300, "tumor_cells": 20_000, "dose": 5_000, "duration_days": 28, **COMMON}


def scaling_params(quick: bool) -> tuple[dict, dict]:
    """Model parameters of the two scaling runs: N cells on area A, then 4N cells on area 4A."""
    if quick:
        small = {"width": 75, "height": 75, "tumor_cells": 1_250, "dose": 300, "duration_days": 7}
        large = {"width": 150, "height": 150, "tumor_cells": 5_000, "dose": 1_200, "duration_days": 7}
    else:
        small = {"width": 150, "height": 150, "tumor_cells": 5_000, "dose": 1_250, "duration_days": 14}
        large = {"width": 300, "height": 300, "tumor_cells": 20_000, "dose": 5_000, "duration_days": 14}
    same_density = {"tumor_type": "dispersed", "route": "uniform"}
    return {**small, **same_density, **COMMON}, {**large, **same_density, **COMMON}


# ============================================================================ child processes
# Everything in this section runs in a fresh (spawned) process; cartsim is imported there only.

CART_RULES = ("die_of_age", "attack", "seek_targets", "move", "proliferate")


class PartTimers:
    """Seconds spent in each part of a run, collected by wrappers around bound methods."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self.calls: dict[str, int] = {}
        self.tumor_events = 0

    def add(self, part: str, seconds: float) -> None:
        self.seconds[part] = self.seconds.get(part, 0.0) + seconds
        self.calls[part] = self.calls.get(part, 0) + 1

    def timed(self, method, part: str):
        """``method`` wrapped so that the time of each call is added to ``part``."""

        def wrapper(*args, **kwargs):
            start = time.perf_counter()
            try:
                return method(*args, **kwargs)
            finally:
                self.add(part, time.perf_counter() - start)

        return wrapper

    def timed_tumor_events(self, tumor):
        """``tumor.process_events`` wrapped to time it and count the queue entries it pops.

        Popped = entries queued before + entries pushed during the call - entries left after.
        This reads the population's private queue and push counter (read only).
        """
        method = tumor.process_events

        def wrapper(until):
            queued, pushed = len(tumor._queue), tumor._seq
            start = time.perf_counter()
            method(until)
            self.add("tumor", time.perf_counter() - start)
            self.tumor_events += queued + (tumor._seq - pushed) - len(tumor._queue)

        return wrapper


def install_timers(model, timers: PartTimers) -> None:
    """Replace the model's bound methods by timed ones (on this instance only)."""
    model.infuse_due = timers.timed(model.infuse_due, "infusion")
    model.tumor.process_events = timers.timed_tumor_events(model.tumor)
    for name in CART_RULES:
        setattr(model.cart, name, timers.timed(getattr(model.cart, name), "car_t"))
    model.cytokines.advance = timers.timed(model.cytokines.advance, "fields")
    model.datacollector.collect = timers.timed(model.datacollector.collect, "collection")
    model.census = timers.timed(model.census, "collection")


def process_usage() -> dict:
    """CPU seconds and peak RSS (MiB) of this process so far."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return {"cpu_s": usage.ru_utime + usage.ru_stime, "rss_mib": usage.ru_maxrss / 1024}  # kB on Linux


def series_figures(timeseries) -> dict:
    """Simulated days and average live cells from a recorded time series."""
    live = timeseries["tumor_total"] + timeseries["cart_total"]
    return {
        "sim_days": float(timeseries["day"].iloc[-1]),
        "mean_live": float(live.mean()),
        "mean_cart": float(timeseries["cart_total"].mean()),
    }


def plain_quickstart_run(config_path: str) -> dict:
    """Time ``cartsim.run(cartsim.load_config(path))`` exactly as a user would call it."""
    import cartsim

    cpu_before = process_usage()["cpu_s"]
    start = time.perf_counter()
    result = cartsim.run(cartsim.load_config(config_path))
    wall = time.perf_counter() - start
    usage = process_usage()
    return {"wall_s": wall, "cpu_s": usage["cpu_s"] - cpu_before, "rss_mib": usage["rss_mib"],
            **series_figures(result.timeseries)}


def instrumented_model_run(config_path: str | None, params: dict) -> dict:
    """Build ``CarTModel(config, **params)``, run it to its end with timed parts, and return every figure.

    With a config file and no ``rng`` in ``params`` the config's seed is used, as ``cartsim.run`` does.
    """
    from cartsim import CarTModel, load_config

    config = load_config(config_path) if config_path else None
    timers = PartTimers()
    cpu_before = process_usage()["cpu_s"]
    start = time.perf_counter()
    model = CarTModel(config, **params)
    timers.add("setup", time.perf_counter() - start)
    install_timers(model, timers)
    model.run()
    wall = time.perf_counter() - start
    usage = process_usage()
    timeseries = model.datacollector.get_model_vars_dataframe()
    return {
        "wall_s": wall,
        "cpu_s": usage["cpu_s"] - cpu_before,
        "rss_mib": usage["rss_mib"],
        **series_figures(timeseries),
        "steps": round(model.minutes / model.dt),
        "dt_min": model.dt,
        "grid": f"{model.tissue.width}x{model.tissue.height}",
        "tumor_events": timers.tumor_events,
        "tumor_divisions": int(model.tumor.divisions),
        "tumor_baseline_deaths": int(model.tumor.deaths - model.cart.kills_total),
        "seconds": dict(timers.seconds),
        "calls": dict(timers.calls),
    }


# ============================================================================ parent process
def in_fresh_process(function, *args) -> dict:
    """Run ``function(*args)`` in a new spawned Python process and return its result."""
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
        return pool.submit(function, *args).result()


def progress(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def measure_model(label: str, params: dict, config_path: str | None = None, repeats: int = 1) -> dict:
    """The fastest of ``repeats`` instrumented runs, each in a fresh process.

    Its wall time is the scenario's wall time; the peak RSS is the largest of the repeats.
    """
    runs = []
    for i in range(repeats):
        progress(f"{label}: run {i + 1}/{repeats} ...")
        runs.append(in_fresh_process(instrumented_model_run, config_path, params))
        progress(f"{label}: {runs[-1]['wall_s']:.2f} s wall, {runs[-1]['cpu_s']:.2f} s cpu, "
                 f"{runs[-1]['rss_mib']:.0f} MiB")
    best = min(runs, key=lambda r: r["wall_s"])
    if repeats > 1:
        label = f"{label} (best of {repeats})"
    return {**best, "label": label, "rss_mib": max(r["rss_mib"] for r in runs)}


def measure_quickstart(repeats: int) -> dict:
    """Best of ``repeats`` plain cartsim.run calls, plus one instrumented run for the split and counts.

    The instrumented run uses the same config and seed, so it follows the same trajectory; the
    wall time reported is the best plain run (it includes cartsim.run's snapshots and summary).
    """
    plain = []
    for i in range(repeats):
        progress(f"quickstart: cartsim.run {i + 1}/{repeats} ...")
        plain.append(in_fresh_process(plain_quickstart_run, str(QUICKSTART)))
        progress(f"quickstart: {plain[-1]['wall_s']:.2f} s")
    best = min(plain, key=lambda r: r["wall_s"])
    instrumented = measure_model("quickstart (instrumented)", {}, str(QUICKSTART))
    if abs(instrumented["mean_live"] - best["mean_live"]) > 1e-9:
        print("WARNING: the instrumented quickstart run followed a different trajectory")
    return {
        **instrumented,
        "label": f"quickstart (best of {repeats})",
        "wall_s": best["wall_s"],
        "cpu_s": best["cpu_s"],
        "rss_mib": max(r["rss_mib"] for r in plain),
        "all_walls": [r["wall_s"] for r in plain],
        "instrumented_wall_s": instrumented["wall_s"],
        "instrumented_cpu_s": instrumented["cpu_s"],
    }


# ---------------------------------------------------------------------------- derived figures
def cart_cell_steps(run: dict) -> float:
    """Estimated CAR-T cell-steps: mean live CAR-T over the recorded rows x internal steps."""
    return run["mean_cart"] * run["steps"]


def agent_updates_per_s(run: dict) -> float:
    return (cart_cell_steps(run) + run["tumor_events"]) / run["wall_s"]


def cell_days_per_s(run: dict) -> float:
    return run["mean_live"] * run["sim_days"] / run["wall_s"]


def time_split(run: dict) -> dict[str, float]:
    """Percent of the instrumented run's total time in each part; agents is the remainder."""
    s = run["seconds"]
    total = run.get("instrumented_wall_s", run["wall_s"])
    measured = {k: s.get(k, 0.0) for k in ("setup", "infusion", "fields", "collection", "tumor", "car_t")}
    agents = total - measured["setup"] - measured["infusion"] - measured["fields"] - measured["collection"]
    parts = {
        "setup": measured["setup"],
        "infusion": measured["infusion"],
        "agents": agents,
        "tumor": measured["tumor"],
        "car_t": measured["car_t"],
        "other": agents - measured["tumor"] - measured["car_t"],
        "fields": measured["fields"],
        "collection": measured["collection"],
    }
    return {k: 100.0 * v / total for k, v in parts.items()}


# ---------------------------------------------------------------------------- printing
def print_environment(load_before: float) -> None:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    versions = ", ".join(f"{p} {metadata.version(p)}" for p in ("numpy", "scipy", "mesa", "cartsim"))
    print("cartsim core benchmark")
    print(f"  python {platform.python_version()}, {versions}")
    print(f"  cpu: {cpu}, {os.cpu_count()} logical cores; numeric libraries limited to 1 thread")
    print(f"  1-min load average: {load_before:.2f} before the runs, {os.getloadavg()[0]:.2f} after")
    print()


def print_throughput(runs: list[dict]) -> None:
    print("Throughput (each run in a fresh process; wall includes model set-up, not imports)")
    header = (f"{'scenario':<{LABEL_WIDTH}}{'grid':>9}{'wall s':>8}{'cpu s':>8}{'RSS MiB':>9}{'days':>6}"
              f"{'avg live':>10}{'cell-days/s':>13}{'agent upd/s':>13}")
    print(header)
    print("-" * len(header))
    for r in runs:
        print(f"{r['label']:<{LABEL_WIDTH}}{r['grid']:>9}{r['wall_s']:>8.2f}{r['cpu_s']:>8.2f}{r['rss_mib']:>9.0f}"
              f"{r['sim_days']:>6.0f}{r['mean_live']:>10.0f}{cell_days_per_s(r):>13.0f}"
              f"{agent_updates_per_s(r):>13.3g}")
    print("  cell-days/s = average live cells (tumor + CAR-T) x simulated days / wall s;")
    print(f"  for comparison, {REFERENCE_THROUGHPUT}.")
    print("  agent upd/s = (CAR-T cell-steps + tumor events) / wall s, with CAR-T cell-steps estimated as")
    print("  mean live CAR-T x internal steps, and tumor events = entries popped from the event queue.")
    busy = [r["label"] for r in runs if r["cpu_s"] < BUSY_CPU_FRACTION * r["wall_s"]]
    if busy:
        print(f"  NOTE: cpu s < {BUSY_CPU_FRACTION:.0%} of wall s for: {', '.join(busy)}. The runs are")
        print("  single-threaded, so the machine was busy with other work and those wall times are inflated.")
    print()


def print_updates(runs: list[dict]) -> None:
    print("Agent updates (what the agent upd/s figure counts)")
    header = (f"{'scenario':<{LABEL_WIDTH}}{'dt min':>7}{'steps':>8}{'CAR-T cell-steps':>18}{'tumor events':>14}"
              f"{'divisions':>11}{'base deaths':>13}")
    print(header)
    print("-" * len(header))
    for r in runs:
        print(f"{r['label']:<{LABEL_WIDTH}}{r['dt_min']:>7.2f}{r['steps']:>8}{cart_cell_steps(r):>18.3g}"
              f"{r['tumor_events']:>14}{r['tumor_divisions']:>11}{r['tumor_baseline_deaths']:>13}")
    print("  tumor events also include divisions that found no room and stale entries of dead cells.")
    print()


def print_unit_costs(runs: list[dict]) -> None:
    print("Unit costs (from the instrumented runs)")
    header = (f"{'scenario':<{LABEL_WIDTH}}{'fields ms/update':>18}{'tumor us/event':>16}"
              f"{'CAR-T us/step':>15}{'CAR-T ns/cell-step':>20}")
    print(header)
    print("-" * len(header))
    for r in runs:
        s, calls = r["seconds"], r["calls"]
        fields_ms = 1e3 * s.get("fields", 0.0) / max(calls.get("fields", 0), 1)
        tumor_us = 1e6 * s.get("tumor", 0.0) / max(r["tumor_events"], 1)
        cart_us = 1e6 * s.get("car_t", 0.0) / r["steps"]
        cart_ns = 1e9 * s.get("car_t", 0.0) / max(cart_cell_steps(r), 1)
        print(f"{r['label']:<{LABEL_WIDTH}}{fields_ms:>18.2f}{tumor_us:>16.1f}{cart_us:>15.0f}{cart_ns:>20.0f}")
    print("  fields ms/update = cytokines.advance time per call (all 3 cytokines; idle fields are skipped);")
    print("  CAR-T us/step = time of the 5 CAR-T rules per internal step.")
    print()


def print_split(runs: list[dict]) -> None:
    print("Where the time goes (% of the instrumented run; agents = total - setup - infusion - fields - collection)")
    header = (f"{'scenario':<{LABEL_WIDTH}}{'total s':>8}{'cpu s':>7}{'setup':>7}{'infuse':>7}{'agents':>8}"
              f"{'(tumor':>8}{'CAR-T':>7}{'other)':>8}{'fields':>8}{'collect':>8}")
    print(header)
    print("-" * len(header))
    for r in runs:
        p = time_split(r)
        total = r.get("instrumented_wall_s", r["wall_s"])
        cpu = r.get("instrumented_cpu_s", r["cpu_s"])
        print(f"{r['label']:<{LABEL_WIDTH}}{total:>8.2f}{cpu:>7.2f}{p['setup']:>6.1f}%{p['infusion']:>6.1f}%"
              f"{p['agents']:>7.1f}%{p['tumor']:>7.1f}%{p['car_t']:>6.1f}%{p['other']:>7.1f}%{p['fields']:>7.1f}%"
              f"{p['collection']:>7.1f}%")
    print("  tumor = tumor event queue; CAR-T = die_of_age, attack, seek_targets, move, proliferate;")
    print("  other = rest of the step (secretion, live-slot scans, the step loop); fields = cytokines.advance;")
    print("  collect = datacollector.collect + census; setup = CarTModel(...) incl. seeding the tumor.")
    print()


def print_scaling(small: dict, large: dict, quick: bool) -> float:
    ratio = large["wall_s"] / small["wall_s"]
    name = "scaling (reduced)" if quick else "scaling"
    print(f"{name}: 4x the tumor cells, CAR-T and tissue area")
    work = (large["mean_live"] * large["sim_days"]) / (small["mean_live"] * small["sim_days"])
    print(f"  wall {small['wall_s']:.2f} s -> {large['wall_s']:.2f} s: {ratio:.2f}x "
          f"(live cell-days {work:.2f}x, so wall per live cell-day {ratio / work:.2f}x)")
    print(f"  cpu  {small['cpu_s']:.2f} s -> {large['cpu_s']:.2f} s: {large['cpu_s'] / small['cpu_s']:.2f}x "
          "(less sensitive to other processes on the machine)")
    parts = ("setup", "fields", "collection", "tumor", "car_t")
    ratios = ", ".join(
        f"{p} {large['seconds'].get(p, 0.0) / small['seconds'][p]:.2f}x" for p in parts if small["seconds"].get(p)
    )
    print(f"  by part: {ratios}")
    print()
    return ratio


def verdict(name: str, value: float, limit: float, unit: str, strict: bool = True) -> str:
    ok = value < limit if strict else value <= limit
    sign = "<" if strict else "<="
    return f"{name} {value:.1f}{unit} {sign} {limit:g}{unit}: {'PASS' if ok else 'FAIL'}"


# ---------------------------------------------------------------------------- main
def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=(
            "Benchmark the cartsim core: wall time, peak memory, live cell-days per second, agent "
            "updates per second and where the time goes, for the quickstart, a medium 300x300 "
            "scenario (20,000 tumor cells, 5,000 CAR-T, 28 days) and a 4x scaling check. Each run "
            "happens in a fresh process. Prints PASS/FAIL against the targets (quickstart < 10 s; "
            "medium < 90 s and < 1 GiB; scaling ratio <= 4.5x) and always exits 0. The full "
            "benchmark takes a few minutes."
        ),
    )
    parser.add_argument("--quick", action="store_true",
                        help="run only the quickstart and a reduced scaling check (75x75 vs 150x150, 7 days)")
    parser.add_argument("--scenario", choices=("quickstart", "medium", "scaling"),
                        help="run only this scenario (with --quick, scaling is the reduced one)")
    parser.add_argument("--repeats", type=int, default=3,
                        help="repeats of the quickstart and of each scaling run; the fastest is kept (default 3); "
                             "the medium scenario runs once")
    return parser.parse_args(argv)


def chosen_scenarios(args: argparse.Namespace) -> list[str]:
    if args.scenario:
        return [args.scenario]
    return ["quickstart", "scaling"] if args.quick else ["quickstart", "medium", "scaling"]


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    load_before = os.getloadavg()[0]
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = "1"  # inherited by the spawned runs: one core
    scenarios = chosen_scenarios(args)
    runs: list[dict] = []
    verdicts: list[str] = []
    scaling_pair = None

    if "quickstart" in scenarios:
        quick = measure_quickstart(args.repeats)
        runs.append(quick)
        verdicts.append(verdict("quickstart", quick["wall_s"], QUICKSTART_MAX_S, " s"))
    if "medium" in scenarios:
        medium = measure_model("medium 300^2, 28d", MEDIUM)
        runs.append(medium)
        verdicts.append(verdict("medium wall", medium["wall_s"], MEDIUM_MAX_S, " s"))
        verdicts.append(verdict("medium peak RSS", medium["rss_mib"], MEDIUM_MAX_MIB, " MiB"))
    if "scaling" in scenarios:
        small_params, large_params = scaling_params(args.quick)
        days = small_params["duration_days"]
        small = measure_model(f"scaling N {small_params['width']}^2, {days}d", small_params, repeats=args.repeats)
        large = measure_model(f"scaling 4N {large_params['width']}^2, {days}d", large_params, repeats=args.repeats)
        runs += [small, large]
        scaling_pair = (small, large)

    print()
    print_environment(load_before)
    print_throughput(runs)
    print_updates(runs)
    print_unit_costs(runs)
    print_split(runs)
    if "quickstart" in scenarios:
        q = runs[0]
        walls = ", ".join(f"{w:.2f}" for w in q["all_walls"])
        print(f"quickstart cartsim.run wall times: {walls} s; the instrumented CarTModel run of the same")
        print(f"config took {q['instrumented_wall_s']:.2f} s wall, {q['instrumented_cpu_s']:.2f} s cpu "
              "(no snapshots or summary)")
        print()
    if scaling_pair:
        ratio = print_scaling(*scaling_pair, args.quick)
        name = "scaling ratio (reduced)" if args.quick else "scaling ratio"
        verdicts.append(verdict(name, ratio, SCALING_MAX_RATIO, "x", strict=False))

    print("Targets")
    for line in verdicts:
        print(f"  {line}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
