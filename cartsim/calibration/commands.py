"""The ``cartsim calibrate`` and ``cartsim cohort`` commands."""

from __future__ import annotations

import argparse
import math
from pathlib import Path

CALIBRATE_EXAMPLES = """\
examples:
  cartsim calibrate configs/calibrate_well_mixed_raji.yaml              # -> results/calibrate_well_mixed_raji/
  cartsim calibrate configs/calibrate_well_mixed_raji.yaml --executor processes --workers 2
  cartsim calibrate configs/calibrate_well_mixed_raji.yaml --executor dask --scheduler tcp://head-node:8786

Run the same command again to resume a fit that was stopped: finished generations are kept in
DIR/calibration.db; raise budget.populations and run again to continue a finished fit. Another
experiment, data or parameters under the same --out is refused; --force deletes the old fit.
Exit status: 0 done, 2 bad input.
"""

COHORT_EXAMPLES = """\
examples:
  cartsim cohort configs/cohort_eliana.yaml                  # -> results/cohort_eliana/
  cartsim cohort configs/cohort_eliana.yaml --set cohort.patients=400 --workers 2
"""


def _parse_sets(items: list[str]) -> dict[str, object]:
    from cartsim.config.loading import parse_set_options

    return parse_set_options(items, example="time.duration_days=14")


def _fmt(value: float) -> str:
    return "nan" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.4g}"


def _cmd_calibrate(args: argparse.Namespace) -> int:
    from cartsim.calibration.fit import Calibration

    cal = Calibration.from_yaml(args.config, _parse_sets(args.set))
    out = Path(args.out) if args.out else Path("results") / Path(args.config).stem
    result = cal.run(out, executor=args.executor, workers=args.workers, scheduler=args.scheduler,
                     force=args.force, progress=not args.quiet)
    if not args.no_plots:
        from cartsim.viz.calibration_figures import save_calibration_figures

        save_calibration_figures(out, result)
    if not args.quiet:
        s = result.summary
        resumed = f", resumed after generation {result.resumed_from - 1}" if result.resumed_from else ""
        print(f"{cal.config.name}: {s['generations']} generations, {s['simulations']} simulations, final "
              f"epsilon {_fmt(s['final_epsilon'])} in {result.wall_seconds:.1f} s on {s['executor']}{resumed}")
        level = f"{cal.spec.credible:.0%}"
        for _, row in result.intervals.iterrows():
            print(f"  {row['parameter']}: median {_fmt(row['median'])}, {level} credible interval "
                  f"[{_fmt(row['low'])}, {_fmt(row['high'])}] (prior {_fmt(row['prior_low'])} to "
                  f"{_fmt(row['prior_high'])}, {row['scale']})")
        if "threshold" in s:
            t = s["threshold"]
            print(f"  threshold of {t['path']} for '{t['outcome']}': median {_fmt(t['median'])}, {level} interval "
                  f"[{_fmt(t['low'])}, {_fmt(t['high'])}] ({t['found']} of {t['draws']} posterior draws)")
        print(f"  results in {out}/ (calibration.json, posterior.csv, intervals.csv, pairs.png, predictive.png)")
    return 0


def _cmd_cohort(args: argparse.Namespace) -> int:
    from cartsim.calibration.cohort import Cohort

    cohort = Cohort.from_yaml(args.config, _parse_sets(args.set))
    out = Path(args.out) if args.out else Path("results") / Path(args.config).stem
    result = cohort.run(executor=args.executor, workers=args.workers, scheduler=args.scheduler,
                        progress=not args.quiet)
    result.write(out)
    if not args.no_plots:
        from cartsim.viz.calibration_figures import cohort_figure
        from cartsim.viz.figures import save_figure

        trial = cohort.spec.published.trial if cohort.spec.published else "published trial"
        save_figure(cohort_figure(result.rates, trial), out / "cohort.png")
    if not args.quiet:
        print(f"{cohort.config.name}: {result.n_patients} virtual patients ({result.n_failed} failed) in "
              f"{result.wall_seconds:.1f} s on {result.executor}")
        for _, row in result.rates.iterrows():
            pub = f"; published {row['published']:.0%}" if row.get("published") == row.get("published") \
                and row.get("published") is not None else ""
            print(f"  {row['outcome'].replace('_', ' ')}: {int(row['count'])}/{int(row['n'])} = {row['rate']:.0%} "
                  f"(95 % CI {row['low']:.0%}-{row['high']:.0%}){pub}")
        print(f"  results in {out}/ (patients.csv, rates.csv, cohort.json, cohort.png)")
    return 0


def _add_executor_args(p: argparse.ArgumentParser, default: str) -> None:
    p.add_argument("--executor", choices=("serial", "processes", "dask"), default=default,
                   help=f"where simulations run: this process, local worker processes, or Dask (default: {default})")
    p.add_argument("--workers", type=int, metavar="N", help="worker processes; default: all CPUs")
    p.add_argument("--scheduler", metavar="ADDRESS",
                   help="a running Dask scheduler, e.g. tcp://head-node:8786 (with --executor dask)")
    p.add_argument("--set", action="append", default=[], metavar="PATH=VALUE",
                   help="override a value of the experiment, e.g. --set time.duration_days=14; repeatable")
    p.add_argument("--no-plots", action="store_true", help="skip the PNG figures")
    p.add_argument("--quiet", action="store_true", help="no progress bar or summary")


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``calibrate`` and ``cohort`` to the ``cartsim`` command line."""
    p = subparsers.add_parser(
        "calibrate", help="fit parameters to measured curves by ABC-SMC (a calibration: block), resumable",
        description="Fit the free parameters of an experiment to observed data with ABC-SMC (pyabc). The "
        "calibration: block names the data (a CSV file with a 'day' column and columns such as tumor_total "
        "or cart_total, with a noise scale), the free parameters (dotted config paths, each with a range, a "
        "scale linear|log and a prior uniform|normal), the summary statistics and distance, and the budget "
        "(generations, particles). Writes calibration.json, posterior.csv, intervals.csv, populations.csv, "
        "predictive_bands.csv, pairs.png and predictive.png into the output folder; see docs/calibration.md.",
        epilog=CALIBRATE_EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("config", help="experiment YAML file with a calibration: block")
    p.add_argument("--out", metavar="DIR", help="calibration folder (default: results/<config file name>)")
    p.add_argument("--force", action="store_true", help="delete an earlier fit in DIR and start over")
    _add_executor_args(p, "serial")
    p.set_defaults(func=_cmd_calibrate)

    p = subparsers.add_parser(
        "cohort", help="simulate a virtual cohort (a cohort: block): response and relapse rates with CIs",
        description="Draw virtual patients' characteristics (tumor burden, antigen density and negative "
        "fraction, CAR-T dose, expansion capacity: any dotted config paths) from the distributions of the "
        "cohort: block, run each patient, and report the response, relapse and antigen-negative relapse "
        "rates with 95 % Wilson intervals. Writes patients.csv, rates.csv, cohort.json and cohort.png; "
        "see docs/calibration.md.",
        epilog=COHORT_EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("config", help="experiment YAML file with a cohort: block")
    p.add_argument("--out", metavar="DIR", help="output folder (default: results/<config file name>)")
    _add_executor_args(p, "processes")
    p.set_defaults(func=_cmd_cohort)
