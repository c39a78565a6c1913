"""The ``cartsim`` command line."""

from __future__ import annotations

import argparse
import errno
import importlib
import json
import sys
from pathlib import Path

from cartsim._version import __version__
from cartsim.config import ConfigError, load_config
from cartsim.config.loading import parse_set_options

# Modules that add sub-commands: each has ``register(subparsers)``, adds its parsers with
# ``set_defaults(func=...)`` (a function taking the parsed args and returning an exit status, raising
# ConfigError for bad input), and imports heavy dependencies only inside those functions.
COMMAND_MODULES = (
    "cartsim.experiments.commands",
    "cartsim.viz.commands",
    "cartsim.odes.commands",
    "cartsim.validation.commands",
    "cartsim.calibration.commands",
)

EXAMPLES = """\
examples:
  cartsim run configs/quickstart.yaml
  cartsim run configs/solid_tumor.yaml --out results/solid --seed 7
  cartsim run configs/quickstart.yaml --set dosing.0.cells=500 --set antigens.CD19.loss_probability=0.01
  cartsim validate configs/dual_target.yaml
  cartsim params > docs/parameters.md
  cartsim calibrate configs/calibrate_well_mixed_raji.yaml      # fit to data (ABC-SMC)
  cartsim cohort configs/cohort_eliana.yaml                     # a virtual trial
"""




def mechanism_lines(s: dict) -> list[str]:
    """The summary's outcomes of the mechanisms and treatments switched on (their keys are in the
    summary only then: :func:`cartsim.summary.mechanism_outcomes`, ``therapy_outcomes``), a line each."""
    lines = []
    if "memory_fraction_end" in s:
        lines.append(f"memory CAR-T: {s['memory_fraction_end']:.0%} of the CAR-T at the end "
                     f"(at most {s['peak_memory_cart']})")
    if "pd1_positive_fraction_end" in s:
        lines.append(f"PD-1+ CAR-T: {s['pd1_positive_fraction_end']:.0%} at the end "
                     f"(at most {s['peak_pd1_positive_fraction']:.0%})")
    if "cd4_fraction_end" in s:
        lines.append(f"CD4 CAR-T: {s['cd4_fraction_end']:.0%} at the end")
    if "trogocytosis_escapes" in s:
        lines.append(f"trogocytosis: {s['trogocytosis_escapes']} tumor cells escaped with too little antigen; "
                     f"{s['fratricide_kills']} CAR-T killed by fratricide")
    killed = [f"{s[key]} by {words}" for key, words in (("chemo_kills", "chemotherapy"), ("radiation_kills", "radiation"),
                                                        ("bystander_deaths", "cytokines (bystander)")) if key in s]
    if killed:
        lines.append(f"tumor cells killed {', '.join(killed)}")
    if "ifng_arrests" in s:
        lines.append(f"tumor divisions arrested by IFN-γ: {s['ifng_arrests']}")
    return lines


def _cmd_run(args: argparse.Namespace) -> int:
    from cartsim.experiments.run import run

    config = load_config(args.config, parse_set_options(args.set))
    if args.seed is not None and args.seed < 0:
        raise ConfigError(f"--seed {args.seed}: seeds are whole numbers >= 0")
    out = Path(args.out) if args.out else Path("results") / Path(args.config).stem
    result = run(config, seed=args.seed, progress=not args.quiet)
    result.write(out)
    if not args.no_plots:
        from cartsim.viz.figures import save_run_figures

        save_run_figures(out, result.timeseries, result.summary, result.snapshots)
    s = result.summary
    if not args.quiet:
        print(f"{config.name}: {len(result.timeseries)} records over {config.time.duration_days:g} days "
              f"in {result.wall_seconds:.1f} s (seed {result.seed})")
        print(f"  tumor: {s['initial_tumor']} -> nadir {s['min_tumor']} on day {s['day_of_nadir']:g} "
              f"-> {s['final_tumor']} at the end")
        if s["eradicated"]:
            print(f"  eradicated on day {s['eradication_day']:g}")
        if s["relapsed"]:
            frac = s["antigen_negative_fraction_at_relapse"]
            print(f"  relapse on day {s['relapse_day']:g} ({frac:.0%} antigen-negative)")
        il6 = f"; peak IL-6 {s['peak_IL6_pM']:.3g} pM" if s["peak_IL6_pM"] is not None else ""
        print(f"  CAR-T peak {s['peak_cart']} on day {s['peak_cart_day']:g}{il6}; {s['kills_total']} kills")
        for line in mechanism_lines(s):
            print(f"  {line}")
        planned = sum(d.cells for d in config.dosing)
        if s.get("cells_infused") is not None and s["cells_infused"] < planned:
            print(f"  note: only {s['cells_infused']} of {planned} CAR-T fitted into free sites at infusion")
        print(f"  results in {out}/")
    return 0


def _cmd_validate(args: argparse.Namespace) -> int:
    """Check an experiment, a sweep or an ODE experiment as ``run``, ``sweep`` or ``ode`` would
    before starting: a file this calls valid runs."""
    from cartsim.config.loading import read_yaml

    data = read_yaml(args.config)
    overrides = parse_set_options(args.set)
    if "calibration" in data:
        from cartsim.calibration.fit import Calibration

        cal = Calibration.from_dict(data, str(args.config), overrides)
        names = ", ".join(p.column for p in cal.spec.parameters)
        print(f"{args.config}: valid calibration. {len(cal.spec.parameters)} free parameter(s) ({names}), "
              f"{len(cal.observed)} data points, up to {cal.spec.budget.populations} generations of "
              f"{cal.spec.budget.particles} particles (run it with cartsim calibrate {args.config}).")
        return 0
    if "cohort" in data:
        from cartsim.calibration.cohort import Cohort

        cohort = Cohort.from_dict(data, str(args.config), overrides)
        print(f"{args.config}: valid cohort. {cohort.spec.patients} virtual patients, "
              f"{len(cohort.spec.characteristics)} characteristics (run it with cartsim cohort {args.config}).")
        return 0
    if "sweep" in data:
        from cartsim.experiments.sweep import Sweep

        sweep = Sweep.from_dict(data, str(args.config), overrides)
        print(f"{args.config}: valid sweep. design '{sweep.spec.design}', {len(sweep.design)} points × "
              f"{sweep.spec.replicates} replicates = {sweep.n_runs} runs (cartsim sweep {args.config} --dry-run "
              "shows them).")
        return 0
    from cartsim.odes.config import is_ode_data

    if is_ode_data(data):
        from cartsim.odes.config import load_ode_config

        ode = load_ode_config(args.config, overrides)
        print(f"{args.config}: valid ODE experiment. {ode.model} ({ode.parameter_set}), {len(ode.dose_list())} "
              f"dose(s), {ode.final_day:g} days (run it with cartsim ode {args.config}).")
        return 0
    config = load_config(args.config, overrides)
    products = ", ".join(f"{p.name} ({' '.join(p.targets)}, {p.logic})" for p in config.products)
    print(f"{args.config}: valid. {config.tissue.width}×{config.tissue.height} sites, "
          f"{config.tumor.initial.cells} tumor cells ({config.tumor.initial.type}), products: {products}, "
          f"{len(config.dosing)} infusion(s), {config.time.duration_days:g} days.")
    return 0


def _cmd_params(args: argparse.Namespace) -> int:
    from cartsim.config.docs import parameters_markdown

    if args.json_schema:
        from cartsim.config import ExperimentConfig

        print(json.dumps(ExperimentConfig.model_json_schema(), indent=2))
    else:
        print(parameters_markdown(), end="")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cartsim",
        description="Agent-based simulation of CAR-T cell therapy against tumors. "
        "Experiments are YAML files (see configs/ and docs/parameters.md).",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"cartsim {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add_config_args(p: argparse.ArgumentParser) -> None:
        p.add_argument("config", help="experiment YAML file")
        p.add_argument("--set", action="append", default=[], metavar="PATH=VALUE",
                       help="override a config value by dotted path (list items by index), "
                       "e.g. --set dosing.0.cells=500; repeatable")

    p = sub.add_parser("run", help="run one experiment and write tables, plots and a summary",
                       description="Run one experiment. Writes config.yaml (resolved, with seed and "
                       "version), timeseries.parquet, summary.json, snapshots.npz, timeseries.png and "
                       "tissue.png into the output folder.")
    add_config_args(p)
    p.add_argument("--out", metavar="DIR", help="output folder (default: results/<config name>)")
    p.add_argument("--seed", type=int, help="random seed (default: the config's seed)")
    p.add_argument("--no-plots", action="store_true", help="skip the PNG plots")
    p.add_argument("--quiet", action="store_true", help="no progress bar or summary")
    p.set_defaults(func=_cmd_run)

    p = sub.add_parser("validate", help="check an experiment, sweep, calibration, cohort or ODE experiment file "
                       "without running it",
                       description="Check an experiment file (or one with a sweep:, calibration: or cohort: "
                       "block, or an ODE experiment) as run, sweep, calibrate, cohort or ode would before starting, including the time step, "
                       "the number of records and internal steps and the memory needed: a valid file runs.")
    add_config_args(p)
    p.set_defaults(func=_cmd_validate)

    for module_name in COMMAND_MODULES:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name is not None and module_name.startswith(exc.name):
                continue  # that part of cartsim is not there (yet)
            raise
        module.register(sub)

    p = sub.add_parser("params", help="print every parameter with unit, default, range and source")
    p.add_argument("--json-schema", action="store_true", help="print the JSON Schema instead (for editors)")
    p.set_defaults(func=_cmd_params)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except ConfigError as exc:
        print(f"cartsim: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("cartsim: interrupted", file=sys.stderr)
        return 130
    except OSError as exc:
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):  # cartsim.io.DiskFullError says what to do
            print(f"cartsim: error: {exc.strerror}: {exc.filename or ''}".rstrip(": "), file=sys.stderr)
            return 2
        print(f"cartsim: error: {exc.strerror or exc}: {exc.filename or ''}".rstrip(": "), file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
