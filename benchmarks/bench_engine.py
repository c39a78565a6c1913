"""The engine benchmark: this tree's engine against the engine of commit 32d159b, in the same run.

    python benchmarks/bench_engine.py                      # quickstart, scaling, medium, sweep
    python benchmarks/bench_engine.py --only quickstart    # one scenario (or several)
    python benchmarks/bench_engine.py --large              # add the 1000x1000 run (current engine only)
    python benchmarks/bench_engine.py --no-baseline        # the current engine alone, no ratios

The baseline is a git worktree of commit 32d159b, created on first use at
``.bench/baseline-32d159b`` in the repository (``git worktree add --detach``) and re-used after
that if it is still at that commit and unmodified. Every run happens in a fresh child process
(this script with ``--child``, the same interpreter) with ``PYTHONPATH`` set to the tree under
test: the worktree for the baseline, the repository for the current engine. The child checks
that ``cartsim`` and every ``cartsim.*`` module it loaded come from that tree (the editable
install of the repository must not shadow the worktree) and stops with an error otherwise.

Each child builds ``cartsim.CarTModel(config_dict)`` and calls ``.run()``, the public API that
both engines have; the config dicts are bench_core.py's scenarios (the quickstart YAML, the
medium run, the scaling pair), written out as nested mappings with the same seed for both
engines. The child reports CPU seconds (user + system, ``getrusage``) and wall seconds of model
construction + run only, the time of ``import cartsim`` separately, its peak RSS (``ru_maxrss``,
so the interpreter and libraries are included) and the simulated live cell-days (average live
tumor + CAR-T cells over the recorded rows x simulated days, as in bench_core.py).

The two engines run interleaved (baseline, current, baseline, current, ...) and the best CPU
time of the repeats is kept, since the machine may be shared; the ratios compare CPU seconds.
Before the timed runs, each engine runs a tiny config once, untimed, in its own process, so that
compiled kernels cached on disk are up to date (every timed process still pays for loading
them).

Targets (the "Engine 2" issue):

* medium (300x300 sites, 20,000-cell nodule, 5,000 CAR-T, 28 d): >= 4x less CPU than 32d159b
  (goal 8x); peak RSS <= 250 MiB; set-up under 1 s;
* quickstart (configs/quickstart.yaml): >= 3x less CPU than 32d159b;
* scaling (bench_core.py's pair: 150x150, dispersed 5,000 tumor + 1,250 CAR-T with uniform
  entry vs 300x300, 20,000 + 5,000, 14 d): CPU per live cell-day of the 4x run <= 1.1x that of
  the small run;
* sweep (bench_sweep.py's 40-run sweep of a 50x50, 14-day experiment): 2 worker processes
  >= 1.85x faster (wall) than serial; current engine only unless --sweep-baseline;
* large (1000x1000 sites, 500,000-cell nodule, 50,000 CAR-T, 28 d; with --large):
  <= 10 min CPU and <= 1.2 GB peak RSS; current engine only unless --large-baseline (32d159b
  takes about 27 min and 1.9 GB).

The exit code is 0 when every run completed, even if targets fail (the output is a report with
PASS/FAIL lines), and 1 if a run crashed or imported the wrong tree.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
if str(BENCH_DIR) not in sys.path:
    sys.path.insert(0, str(BENCH_DIR))

import bench_core as core  # noqa: E402  (standard library only at import: safe before choosing a tree)

BASELINE_COMMIT = "32d159b"
DEFAULT_BASELINE_DIR = REPO / ".bench" / f"baseline-{BASELINE_COMMIT}"
RESULT_MARKER = "BENCH-ENGINE-RESULT "

# Targets
MEDIUM_MIN_RATIO, MEDIUM_GOAL_RATIO = 4.0, 8.0
MEDIUM_MAX_MIB = 250.0
QUICKSTART_MIN_RATIO = 3.0
SCALING_MAX_RATIO = 1.1
SWEEP_MIN_SPEEDUP = 1.85
LARGE_MAX_CPU_S = 600.0
LARGE_MAX_MIB = 1.2e9 / 2**20  # 1.2 GB

# Scenario parameters in bench_core.py's keyword form
LARGE = {"width": 1000, "height": 1000, "tumor_cells": 500_000, "dose": 50_000, "duration_days": 28,
         **core.COMMON}
PRIMING = {"width": 30, "height": 30, "tumor_cells": 150, "dose": 40, "duration_days": 1, **core.COMMON}

# bench_core.py's scenarios use CarTModel's keyword shortcuts; these are the config paths they
# stand for (cartsim.config.loading.SHORTCUTS; ``rng`` plays the role of the config's seed).
SHORTCUT_PATHS = {
    "width": "tissue.width",
    "height": "tissue.height",
    "tumor_cells": "tumor.initial.cells",
    "tumor_type": "tumor.initial.type",
    "dose": "dosing.0.cells",
    "infusion_day": "dosing.0.day",
    "route": "dosing.0.route",
    "duration_days": "time.duration_days",
    "rng": "seed",
}
# The schema's default infusion (day 0, from the edge) names the default product.
DEFAULT_INFUSION = {"product": "CAR19"}

DEFAULT_REPEATS = {"quickstart": 3, "medium": 1, "scaling": 1, "large": 1}
ALL_SCENARIOS = ("quickstart", "scaling", "medium", "sweep", "large")
DEFAULT_SCENARIOS = ("quickstart", "scaling", "medium", "sweep")


def config_dict(params: dict) -> dict:
    """The nested config mapping that ``CarTModel(None, **params)`` would build from the defaults."""
    data: dict = {}
    for key, value in params.items():
        path = SHORTCUT_PATHS.get(key, key)
        parts = path.split(".")
        if len(parts) == 1 and path not in SHORTCUT_PATHS.values():
            raise KeyError(f"no config path for the scenario parameter {key!r}")
        node = data
        for part in parts[:-1]:
            if part == "dosing":
                node = node.setdefault("dosing", [dict(DEFAULT_INFUSION)])
            elif isinstance(node, list):
                node = node[int(part)]
            else:
                node = node.setdefault(part, {})
        node[parts[-1]] = value
    return data


# ============================================================================ child process
# Runs with PYTHONPATH=<tree>: nothing from cartsim is imported before the tree is checked.

def usage_now() -> tuple[float, float]:
    """(CPU seconds of this process so far, wall clock)."""
    u = resource.getrusage(resource.RUSAGE_SELF)
    return u.ru_utime + u.ru_stime, time.perf_counter()


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux


def loaded_cartsim_files(root: Path) -> tuple[list[str], str]:
    """Every loaded cartsim module outside ``root``/cartsim, and a hash of the package's sources
    (all of them, so that jobs loading different modules, a model run and a sweep, compare)."""
    package = (root / "cartsim").resolve()
    wrong, digest = [], hashlib.sha1()
    for path in sorted(package.rglob("*.py")):
        digest.update(str(path.relative_to(package)).encode() + b"\0" + path.read_bytes())
    for name in sorted(sys.modules):
        if name != "cartsim" and not name.startswith("cartsim."):
            continue
        file = getattr(sys.modules[name], "__file__", None)
        if file is None:  # a namespace package would have no file: not expected in cartsim
            wrong.append(f"{name} (no __file__)")
            continue
        path = Path(file).resolve()
        if not path.is_relative_to(package):
            wrong.append(f"{name} from {path}")
    return wrong, digest.hexdigest()[:12]


def check_tree(root: Path, when: str) -> str:
    wrong, digest = loaded_cartsim_files(root)
    if wrong:
        raise SystemExit(
            f"WRONG TREE ({when}): expected every cartsim module under {root / 'cartsim'}, but loaded:\n  "
            + "\n  ".join(wrong)
        )
    return digest


def child_model_run(config: dict) -> dict:
    import numpy as np

    from cartsim import CarTModel

    cpu0, wall0 = usage_now()
    model = CarTModel(config)
    cpu1, wall1 = usage_now()
    model.run()
    cpu2, wall2 = usage_now()
    # the recorded series as plain arrays: a model run needs no table library, and building a
    # DataFrame here would load pandas into the process whose memory is measured
    ts = {k: np.asarray(v) for k, v in model.datacollector.model_vars.items()}
    figures = {"sim_days": float(ts["day"][-1]), "mean_live": float((ts["tumor_total"] + ts["cart_total"]).mean()),
               "mean_cart": float(ts["cart_total"].mean())}
    return {
        "cpu_s": cpu2 - cpu0,
        "wall_s": wall2 - wall0,
        "setup_cpu_s": cpu1 - cpu0,
        "rss_mib": peak_rss_mib(),
        **figures,
        "cell_days": figures["mean_live"] * figures["sim_days"],
        "final_tumor": int(ts["tumor_total"][-1]),
        "final_cart": int(ts["cart_total"][-1]),
        "grid": f"{model.tissue.width}x{model.tissue.height}",
    }


def child_sweep(runs: int, workers: int) -> dict:
    import tempfile

    import bench_sweep  # imports cartsim.experiments.sweep, from the tree already checked

    sweep = bench_sweep.sweep_of(bench_sweep.BASE, runs)
    before = bench_sweep.machine_check(workers)
    walls, tables = {}, {}
    start_method = "forkserver or spawn"
    with tempfile.TemporaryDirectory() as tmp:
        for executor in ("serial", "processes"):
            if executor == "processes":
                try:  # how the workers will start (engines before 68b9936 always used a forkserver)
                    from cartsim.experiments.executors import _copy_safely

                    start_method = "fork from this process" if _copy_safely() else start_method
                except ImportError:
                    pass
            walls[executor], tables[executor] = bench_sweep.timed(sweep, Path(tmp) / executor, executor, workers)
        # as a user of the command line sees it: a fresh `cartsim sweep` process per executor,
        # its start-up (imports, compiled code, the workers' server) included
        config = Path(tmp) / "sweep.yaml"
        config.write_text(json.dumps(bench_sweep.sweep_dict(bench_sweep.BASE, runs)))  # JSON is YAML
        for executor in ("serial", "processes"):
            start = time.perf_counter()
            subprocess.run([sys.executable, "-m", "cartsim.cli", "sweep", str(config), "--executor", executor,
                            "--workers", str(workers), "--out", str(Path(tmp) / f"cli-{executor}"), "--quiet"],
                           check=True, capture_output=True)
            walls[f"cli_{executor}"] = time.perf_counter() - start
    after = bench_sweep.machine_check(workers)
    return {
        "cli_serial_wall_s": walls["cli_serial"],
        "cli_processes_wall_s": walls["cli_processes"],
        "runs": sweep.n_runs,
        "workers": workers,
        "serial_wall_s": walls["serial"],
        "processes_wall_s": walls["processes"],
        "identical": bool(tables["processes"].equals(tables["serial"])),
        "start_method": start_method,
        "machine_before": before,
        "machine_after": after,
        "rss_mib": peak_rss_mib(),
    }


def child_main() -> int:
    job = json.load(sys.stdin)
    root = Path(job["root"]).resolve()
    cpu0, wall0 = usage_now()
    import cartsim

    # The package root may import its parts on first use: resolve the model here, so that both
    # engines' import time (mesa, numba, ...) is counted as import, not as model construction.
    cartsim.CarTModel  # noqa: B018
    cpu1, wall1 = usage_now()
    imported = str(Path(cartsim.__file__).resolve())
    print(f"child: imported cartsim from {imported}", file=sys.stderr, flush=True)
    if Path(imported) != root / "cartsim" / "__init__.py":
        raise SystemExit(f"WRONG TREE: imported cartsim from {imported}, expected {root / 'cartsim' / '__init__.py'}")
    check_tree(root, "after import")
    if job["kind"] == "model":
        result = child_model_run(job["config"])
    elif job["kind"] == "sweep":
        result = child_sweep(job["runs"], job["workers"])
    else:
        raise SystemExit(f"unknown job kind {job['kind']!r}")
    digest = check_tree(root, "after the run")
    result.update(cartsim_file=imported, source_hash=digest, import_s=wall1 - wall0, import_cpu_s=cpu1 - cpu0)
    print(RESULT_MARKER + json.dumps(result), flush=True)
    return 0


# ============================================================================ parent process
class RunFailed(RuntimeError):
    pass


def progress(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def git(cwd: Path, *args: str) -> str:
    done = subprocess.run(["git", "-C", str(cwd), *args], capture_output=True, text=True)
    if done.returncode != 0:
        raise RunFailed(f"git -C {cwd} {' '.join(args)} failed:\n{done.stderr.strip()}")
    return done.stdout.strip()


def ensure_baseline(path: Path, commit: str) -> str:
    """Create the worktree of ``commit`` at ``path``, or check the one there; return its full hash."""
    full = git(REPO, "rev-parse", "--verify", f"{commit}^{{commit}}")
    path = path.resolve()
    if path.exists():
        # inside the repository, git would otherwise answer for the repository itself
        top = Path(git(path, "rev-parse", "--show-toplevel")).resolve() if (path / ".git").exists() else None
        if top != path:
            raise RunFailed(f"{path} exists but is not a git worktree; remove it and run again")
        head = git(path, "rev-parse", "HEAD")
        if head != full:
            raise RunFailed(f"{path} is at {head[:9]}, not {commit}; remove it "
                            f"(git -C {REPO} worktree remove --force {path}) and run again")
        changed = git(path, "status", "--porcelain", "--untracked-files=no")
        if changed:
            raise RunFailed(f"{path} has local changes:\n{changed}\nremove the worktree and run again")
        progress(f"baseline: re-using the worktree of {commit} at {path}")
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
        progress(f"baseline: creating a worktree of {commit} at {path}")
        git(REPO, "worktree", "add", "--detach", str(path), full)
    if not (path / "cartsim" / "__init__.py").exists():
        raise RunFailed(f"{path} has no cartsim/__init__.py")
    return full


def child_env(root: Path) -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(root)  # replaces any PYTHONPATH of the caller
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        env[var] = "1"  # one numeric thread, as in bench_core.py
    return env


def in_child(root: Path, job: dict) -> dict:
    """Run ``job`` in a fresh interpreter on the tree at ``root``; its result dict."""
    done = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--child"],
        input=json.dumps({**job, "root": str(root)}), capture_output=True, text=True,
        cwd=root, env=child_env(root),
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith(RESULT_MARKER)]
    if done.returncode != 0 or not lines:
        tail = "\n".join(done.stderr.strip().splitlines()[-30:])
        raise RunFailed(f"child on {root} exited with code {done.returncode}:\n{tail}")
    result = json.loads(lines[-1][len(RESULT_MARKER):])
    expected = root / "cartsim" / "__init__.py"
    if Path(result["cartsim_file"]) != expected:  # checked in the child too
        raise RunFailed(f"child imported {result['cartsim_file']}, expected {expected}")
    return result


class Bench:
    """The runs of one invocation, by (scenario, engine)."""

    def __init__(self, engines: dict[str, Path]) -> None:
        self.engines = engines  # label -> tree
        self.rows: list[dict] = []
        self.failures: list[str] = []
        self.imported: dict[str, str] = {}
        self.hashes: dict[str, set[str]] = {e: set() for e in engines}
        self.floor_mib: dict[str, float] = {}  # peak RSS of the tiny priming run, per engine

    def record(self, engine: str, result: dict) -> None:
        self.imported[engine] = result["cartsim_file"]
        self.hashes[engine].add(result["source_hash"])

    def prime(self) -> None:
        for engine, root in self.engines.items():
            progress(f"priming {engine} (untimed tiny run: caches of compiled code) ...")
            try:
                r = in_child(root, {"kind": "model", "config": config_dict(PRIMING)})
                # the first run may compile what the cache lacks (LLVM's memory counts then):
                # the floor is a run that only loads
                r = in_child(root, {"kind": "model", "config": config_dict(PRIMING)})
            except RunFailed as exc:
                self.fail(f"priming {engine}", exc)
                continue
            self.record(engine, r)
            self.floor_mib[engine] = r["rss_mib"]
            progress(f"priming {engine}: {r['import_s']:.1f} s import + {r['wall_s']:.1f} s run, "
                     f"{r['rss_mib']:.0f} MiB")

    def fail(self, what: str, exc: Exception) -> None:
        self.failures.append(f"{what}: {exc}")
        print(f"ERROR {what}: {exc}", file=sys.stderr, flush=True)

    def model(self, scenario: str, label: str, config: dict, repeats: int, engines: list[str]) -> dict[str, dict]:
        """Interleaved repeats of one scenario on ``engines``; per engine the run of least CPU."""
        runs: dict[str, list[dict]] = {e: [] for e in engines}
        crashed: set[str] = set()
        for i in range(repeats):
            for engine in engines:
                if engine in crashed:
                    continue
                progress(f"{label}: {engine} run {i + 1}/{repeats} ...")
                try:
                    r = in_child(self.engines[engine], {"kind": "model", "config": config})
                except RunFailed as exc:
                    self.fail(f"{label} on {engine}", exc)
                    crashed.add(engine)
                    continue
                self.record(engine, r)
                runs[engine].append(r)
                progress(f"{label}: {engine}: {r['cpu_s']:.2f} s CPU, {r['wall_s']:.2f} s wall, "
                         f"{r['rss_mib']:.0f} MiB")
        best = {}
        for engine, rs in runs.items():
            if engine in crashed or not rs:
                continue
            b = min(rs, key=lambda r: r["cpu_s"])
            best[engine] = {**b, "scenario": scenario, "label": label, "engine": engine, "repeats": len(rs),
                            "rss_mib": max(r["rss_mib"] for r in rs), "all_cpu_s": [r["cpu_s"] for r in rs]}
            self.rows.append(best[engine])
        return best

    def sweep(self, runs: int, workers: int, engines: list[str]) -> dict[str, dict]:
        out = {}
        for engine in engines:
            progress(f"sweep: {engine}, {runs} runs serial then on {workers} workers ...")
            try:
                r = in_child(self.engines[engine], {"kind": "sweep", "runs": runs, "workers": workers})
            except RunFailed as exc:
                self.fail(f"sweep on {engine}", exc)
                continue
            self.record(engine, r)
            out[engine] = r
            progress(f"sweep: {engine}: serial {r['serial_wall_s']:.1f} s, processes {r['processes_wall_s']:.1f} s")
        return out


# ---------------------------------------------------------------------------- report
def pass_fail(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def ratio_line(name: str, best: dict, target: float, goal: float | None = None) -> str:
    if "baseline" not in best or "current" not in best:
        return f"{name}: baseline CPU / current CPU = n/a (needs both engines)"
    ratio = best["baseline"]["cpu_s"] / best["current"]["cpu_s"]
    aim = f"target ≥ {target:g}×" + (f", goal {goal:g}×" if goal else "")
    extra = f"; goal {'reached' if ratio >= goal else 'not reached'}" if goal else ""
    line = f"{name}: baseline CPU / current CPU = {ratio:.2f}× ({aim}) {pass_fail(ratio >= target)}{extra}"
    work = best["current"]["cell_days"] / best["baseline"]["cell_days"]
    if abs(work - 1) > 0.15:
        per_day = ratio * work
        line += (f"\n  note: the engines simulated different work (current/baseline live cell-days = {work:.2f}); "
                 f"per live cell-day the ratio is {per_day:.2f}×")
    return line


def print_table(bench: Bench) -> None:
    header = (f"{'scenario':<28}{'engine':>9}{'runs':>5}{'wall s':>9}{'CPU s':>9}{'import s':>9}{'RSS MiB':>9}"
              f"{'cell-days':>12}{'final tumor':>12}{'final CAR-T':>12}")
    print(header)
    print("-" * len(header))
    for r in bench.rows:
        print(f"{r['label']:<28}{r['engine']:>9}{r['repeats']:>5}{r['wall_s']:>9.2f}{r['cpu_s']:>9.2f}"
              f"{r['import_s']:>9.2f}{r['rss_mib']:>9.0f}{r['cell_days']:>12,.0f}{r['final_tumor']:>12,}"
              f"{r['final_cart']:>12,}")
    print("  wall s and CPU s: model construction + run (the repeat of least CPU), imports excluded;")
    print("  import s: wall time of `import cartsim` and of resolving `cartsim.CarTModel`, in the same")
    print("  process; RSS: peak of the process, largest of the repeats; cell-days: average live tumor +")
    print("  CAR-T cells over the recorded rows x days.")
    multi = [r for r in bench.rows if r["repeats"] > 1]
    for r in multi:
        print(f"  {r['label']} {r['engine']} CPU s of each repeat: " + ", ".join(f"{c:.2f}" for c in r["all_cpu_s"]))
    print()


def print_environment(bench: Bench, baseline_hash: str | None, load_before: float) -> None:
    from importlib import metadata

    versions = ", ".join(f"{p} {metadata.version(p)}" for p in ("numpy", "mesa"))
    print("cartsim engine benchmark")
    print(f"  python {platform.python_version()} ({sys.executable}), {versions}; {os.cpu_count()} logical cores")
    print(f"  1-min load average: {load_before:.2f} before the runs, {os.getloadavg()[0]:.2f} after")
    head = git(REPO, "rev-parse", "--short", "HEAD")
    changed = git(REPO, "status", "--porcelain", "--", "cartsim").splitlines()
    for engine in bench.engines:
        where = bench.imported.get(engine, "(no run completed)")
        if engine == "baseline":
            what = f"commit {baseline_hash[:9] if baseline_hash else BASELINE_COMMIT}"
        else:
            what = f"working tree at {head} with {len(changed)} changed or new file(s) under cartsim/"
        print(f"  {engine:<8} {what}; imported {where}")
        if len(bench.hashes[engine]) > 1:
            print(f"  WARNING: the {engine} engine's sources changed during the bench "
                  f"({len(bench.hashes[engine])} versions ran); its runs are not all of the same code")
    print()


def report(bench: Bench, best: dict[str, dict], sweeps: dict[str, dict], args: argparse.Namespace) -> None:
    if bench.rows:
        print_table(bench)
    lines = []
    if "medium" in best:
        b = best["medium"]
        lines.append(ratio_line("medium", b, MEDIUM_MIN_RATIO, MEDIUM_GOAL_RATIO))
        if "current" in b:
            rss = b["current"]["rss_mib"]
            lines.append(f"medium: peak RSS {rss:.0f} MiB (target ≤ {MEDIUM_MAX_MIB:g} MiB) "
                         f"{pass_fail(rss <= MEDIUM_MAX_MIB)}")
            setup = b["current"]["setup_cpu_s"]
            lines.append(f"medium: set-up (model construction, loading compiled code included) "
                         f"{setup:.2f} s CPU (target < 1 s) {pass_fail(setup < 1.0)}")
            # what the model itself needs: the priming run (a 30x30 tissue, same imports and
            # compiled code) is the floor of the interpreter, the libraries and the kernels
            above = {e: b[e]["rss_mib"] - bench.floor_mib[e] for e in b if e in bench.floor_mib}
            if above:
                lines.append("medium: peak RSS above a tiny run's (imports, libraries, compiled code): "
                             + ", ".join(f"{e} {v:.0f} MiB (tiny run {bench.floor_mib[e]:.0f})"
                                         for e, v in above.items()))
    if "quickstart" in best:
        lines.append(ratio_line("quickstart", best["quickstart"], QUICKSTART_MIN_RATIO))
    if "scaling N" in best and "scaling 4N" in best:
        small, large = best["scaling N"], best["scaling 4N"]
        name = "scaling (reduced pair, target is for the full one)" if args.quick else "scaling"
        for engine in ("current", "baseline"):
            if engine not in small or engine not in large:
                continue
            s, g = small[engine], large[engine]
            work = g["cell_days"] / s["cell_days"]
            per_day = (g["cpu_s"] / s["cpu_s"]) / work
            text = (f"{name}: CPU per live cell-day, 4N / N = {per_day:.2f}× "
                    f"(CPU {s['cpu_s']:.1f} -> {g['cpu_s']:.1f} s, cell-days {work:.2f}×)")
            if engine == "current":
                lines.append(f"{text} (target ≤ {SCALING_MAX_RATIO:g}×) {pass_fail(per_day <= SCALING_MAX_RATIO)}")
            else:
                lines.append(f"  baseline, for comparison: {text.split(': ', 1)[1]}")
        for which, pair in (("N", small), ("4N", large)):
            if "baseline" in pair and "current" in pair:
                lines.append(f"  scaling {which}: baseline CPU / current CPU = "
                             f"{pair['baseline']['cpu_s'] / pair['current']['cpu_s']:.2f}×")
    for engine in ("current", "baseline"):
        if engine not in sweeps:
            continue
        r = sweeps[engine]
        speedup = r["serial_wall_s"] / r["processes_wall_s"]
        text = (f"sweep{'' if engine == 'current' else ' (baseline)'}: {r['runs']} runs, serial "
                f"{r['serial_wall_s']:.1f} s / {r['workers']} workers {r['processes_wall_s']:.1f} s = {speedup:.2f}× "
                f"(target ≥ {SWEEP_MIN_SPEEDUP:g}×)")
        if engine == "current":
            text += f" {pass_fail(speedup >= SWEEP_MIN_SPEEDUP)}"
        lines.append(text)
        lines.append(f"  in this process after its serial sweep; workers started by: {r.get('start_method', '?')}")
        ceiling = r["workers"] * min(1.0, (r["machine_before"] + r["machine_after"]) / 2)
        lines.append(f"  what the cores allowed: {r['workers']} busy processes ran at {ceiling / r['workers']:.0%} of one "
                     f"each (mean of the checks), so at most {ceiling:.2f}×; the sweep reached "
                     f"{speedup / ceiling:.0%} of that")
        if "cli_serial_wall_s" in r:
            cli = r["cli_serial_wall_s"] / r["cli_processes_wall_s"]
            lines.append(f"  command line, a fresh `cartsim sweep` each (start-up included): serial "
                         f"{r['cli_serial_wall_s']:.1f} s / {r['workers']} workers {r['cli_processes_wall_s']:.1f} s "
                         f"= {cli:.2f}×")
        lines.append(f"  machine check: {r['workers']} busy processes each ran at {r['machine_before']:.0%} "
                     f"before and {r['machine_after']:.0%} after of the speed of one (100 % on idle cores); "
                     f"identical runs serial and parallel: {r['identical']}")
    if "large" in best:
        b = best["large"]
        if "current" in b:
            c = b["current"]
            lines.append(f"large: CPU {c['cpu_s']:.0f} s = {c['cpu_s'] / 60:.1f} min (target ≤ "
                         f"{LARGE_MAX_CPU_S / 60:g} min) {pass_fail(c['cpu_s'] <= LARGE_MAX_CPU_S)}")
            lines.append(f"large: peak RSS {c['rss_mib']:.0f} MiB = {c['rss_mib'] * 2**20 / 1e9:.2f} GB "
                         f"(target ≤ 1.2 GB = {LARGE_MAX_MIB:.0f} MiB) {pass_fail(c['rss_mib'] <= LARGE_MAX_MIB)}")
        if "baseline" in b and "current" in b:
            lines.append(f"large: baseline CPU / current CPU = {b['baseline']['cpu_s'] / b['current']['cpu_s']:.2f}× "
                         f"(baseline {b['baseline']['cpu_s'] / 60:.1f} min, {b['baseline']['rss_mib']:.0f} MiB)")
    print("Targets (CPU-time ratios: the machine may be shared)")
    for line in lines:
        print(f"  {line}")
    if bench.failures:
        print()
        print("Crashed runs (exit code 1):")
        for f in bench.failures:
            print(f"  {f.splitlines()[0]}")


# ---------------------------------------------------------------------------- main
def parse_args(argv: list[str] | None) -> argparse.Namespace:

    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
        usage="%(prog)s [--only SCENARIO ...] [--large] [--no-baseline] [--repeats N] [options]",
    )
    parser.add_argument("--only", nargs="+", choices=ALL_SCENARIOS, metavar="SCENARIO",
                        help=f"run only these scenarios, of: {', '.join(ALL_SCENARIOS)} "
                             f"(default: {', '.join(DEFAULT_SCENARIOS)}; --large adds large)")
    parser.add_argument("--large", action="store_true",
                        help="add the large scenario (1000x1000, 500,000 tumor cells, 50,000 CAR-T, 28 d; "
                             "minutes on the current engine) to the default scenarios or to --only")
    parser.add_argument("--large-baseline", action="store_true",
                        help="run the large scenario on 32d159b too (about 27 min and 1.9 GB); implies --large")
    parser.add_argument("--no-baseline", action="store_true",
                        help="measure the current engine only (no worktree, no ratios)")
    parser.add_argument("--repeats", type=int,
                        help="repeats per engine of each model scenario; the least CPU is kept "
                             "(default: quickstart 3, scaling 1, medium 1, large 1)")
    parser.add_argument("--quick", action="store_true",
                        help="use bench_core.py's reduced scaling pair (75x75 vs 150x150, 7 d)")
    parser.add_argument("--sweep-runs", type=int, default=40, help="runs of the sweep (default 40)")
    parser.add_argument("--workers", type=int, default=2, help="worker processes of the sweep (default 2)")
    parser.add_argument("--sweep-baseline", action="store_true", help="run the sweep on 32d159b too")
    parser.add_argument("--baseline-dir", type=Path, default=DEFAULT_BASELINE_DIR,
                        help=f"where the worktree of {BASELINE_COMMIT} is kept (default: "
                             f"{DEFAULT_BASELINE_DIR.relative_to(REPO)} in the repository)")
    parser.add_argument("--no-prime", action="store_true",
                        help="skip the untimed tiny run of each engine before the timed runs")
    parser.add_argument("--json", type=Path, help="also write every figure to this JSON file")
    args = parser.parse_args(argv)
    if args.repeats is not None and args.repeats < 1:
        parser.error("--repeats must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    scenarios = [*(args.only or DEFAULT_SCENARIOS), *(["large"] if args.large or args.large_baseline else [])]
    scenarios = [s for s in ALL_SCENARIOS if s in scenarios]
    load_before = os.getloadavg()[0]

    def uses_baseline(s: str) -> bool:
        if args.no_baseline:
            return False
        return {"large": args.large_baseline, "sweep": args.sweep_baseline}.get(s, True)

    engines: dict[str, Path] = {}
    baseline_hash = None
    if any(uses_baseline(s) for s in scenarios):
        try:
            baseline_hash = ensure_baseline(args.baseline_dir, BASELINE_COMMIT)
        except RunFailed as exc:
            print(f"ERROR: {exc}", file=sys.stderr)
            return 1
        engines["baseline"] = args.baseline_dir.resolve()
    engines["current"] = REPO
    bench = Bench(engines)
    if not args.no_prime:
        bench.prime()

    def on(s: str) -> list[str]:
        return [e for e in ("baseline", "current") if e in engines and (e == "current" or uses_baseline(s))]

    def repeats(s: str) -> int:
        return args.repeats or DEFAULT_REPEATS[s]

    best: dict[str, dict] = {}
    sweeps: dict[str, dict] = {}
    if "quickstart" in scenarios:
        import yaml

        config = yaml.safe_load(core.QUICKSTART.read_text(encoding="utf-8"))
        best["quickstart"] = bench.model("quickstart", "quickstart 80x80, 28 d", config,
                                         repeats("quickstart"), on("quickstart"))
    if "scaling" in scenarios:
        for which, params in zip(("N", "4N"), core.scaling_params(args.quick), strict=True):
            label = f"scaling {which} {params['width']}x{params['height']}, {params['duration_days']} d"
            best[f"scaling {which}"] = bench.model("scaling", label, config_dict(params),
                                                   repeats("scaling"), on("scaling"))
    if "medium" in scenarios:
        best["medium"] = bench.model("medium", "medium 300x300, 28 d", config_dict(core.MEDIUM),
                                     repeats("medium"), on("medium"))
    if "sweep" in scenarios:
        sweeps = bench.sweep(args.sweep_runs, args.workers, on("sweep"))
    if "large" in scenarios:
        best["large"] = bench.model("large", "large 1000x1000, 28 d", config_dict(LARGE),
                                    repeats("large"), on("large"))

    print()
    print_environment(bench, baseline_hash, load_before)
    report(bench, best, sweeps, args)
    if args.json:
        args.json.write_text(json.dumps({"runs": bench.rows, "sweeps": sweeps, "failures": bench.failures,
                                         "imported": bench.imported}, indent=1), encoding="utf-8")
    return 1 if bench.failures else 0


if __name__ == "__main__":
    if sys.argv[1:] == ["--child"]:
        sys.exit(child_main())
    sys.exit(main())
