"""The ``cartsim sweep`` and ``cartsim plot`` commands."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from cartsim.config import ConfigError

SWEEP_EXAMPLES = """\
examples:
  cartsim sweep configs/dose_response.yaml                       # all local cores -> results/dose_response/
  cartsim sweep configs/dose_response.yaml --dry-run             # show the design, run nothing
  cartsim sweep configs/antigen_escape.yaml --workers 8 --out runs/escape
  cartsim sweep configs/sensitivity.yaml --executor dask         # a Dask LocalCluster
  cartsim sweep configs/sensitivity.yaml --executor dask --scheduler tcp://head-node:8786

Run the same command again to resume: finished runs are kept, failed and unfinished runs are
run. A different configuration under the same --out is refused; --force deletes the old results.
Exit status: 0 all runs finished, 1 some runs failed, 2 bad input.
"""

PLOT_EXAMPLES = """\
examples:
  cartsim plot results/dose_response
  cartsim plot results/dose_x_escape --metric eradicated --metric relapsed
  cartsim plot results/antigen_escape --x escape --by product --day 14
"""

MAX_FAILURES_SHOWN = 10


def _parse_sets(items: list[str]) -> dict[str, object]:
    from cartsim.config.loading import parse_set_options

    return parse_set_options(items, example="time.duration_days=14")


def _format_params(params: dict) -> str:
    return ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in params.items())


def _cmd_sweep(args: argparse.Namespace) -> int:
    if args.executor == "processes" and not args.dry_run:
        from cartsim.experiments.executors import start_forkserver

        # the workers' server imports the model on another core while this process does the same
        start_forkserver()
    from cartsim.experiments.sweep import Sweep

    sweep = Sweep.from_yaml(args.config, _parse_sets(args.set))
    out = Path(args.out) if args.out else Path("results") / Path(args.config).stem
    if args.dry_run:
        return _dry_run(sweep, out)
    results = sweep.run(out, executor=args.executor, workers=args.workers, scheduler=args.scheduler,
                        force=args.force, progress=not args.quiet)
    report = results.report
    assert report is not None
    if report.damaged:
        shown = ", ".join(map(str, report.damaged[:MAX_FAILURES_SHOWN]))
        more = f" and {len(report.damaged) - MAX_FAILURES_SHOWN} more" if len(report.damaged) > MAX_FAILURES_SHOWN else ""
        print(f"cartsim: note: {len(report.damaged)} damaged run file(s) in {out / 'runs'} were removed and run "
              f"again: run {shown}{more}", file=sys.stderr)
    if not args.quiet:
        where = f" on {report.executor}" if report.executor else ""
        print(f"{sweep.config.name}: {report.total} runs ({report.skipped} already done, {report.ok} finished now, "
              f"{len(report.failed)} failed) in {report.wall_seconds:.1f} s{where}")
    if report.failed:
        print(f"  {len(report.failed)} failed run(s); re-run the same command to retry them. Errors in "
              f"{out / 'failed'}/:")
        for run, params, error in report.failed[:MAX_FAILURES_SHOWN]:
            print(f"    run {run} ({_format_params(params)}): {error.splitlines()[0] if error else ''}")
        if len(report.failed) > MAX_FAILURES_SHOWN:
            print(f"    ... and {len(report.failed) - MAX_FAILURES_SHOWN} more")
    if args.plot and results.n_ok:
        from cartsim.viz.sweep_figures import plot_sweep

        written = plot_sweep(results)
        if not args.quiet:
            print(f"  {len(written)} figure and table files in {out / 'figures'}/")
    if not args.quiet:
        print(f"  results in {out}/  (load them with cartsim.load_results({str(out)!r}); "
              f"plot them with: cartsim plot {out})")
    return 1 if report.failed else 0


def _dry_run(sweep, out: Path) -> int:
    import pandas as pd

    spec = sweep.spec
    print(f"{sweep.config.name}: design '{spec.design}', {len(sweep.design)} points × {spec.replicates} "
          f"replicates = {sweep.n_runs} runs (base seed {sweep.base_seed}), into {out}/")
    with pd.option_context("display.max_rows", 20, "display.width", 120):
        print(sweep.design)
    return 0


def _cmd_plot(args: argparse.Namespace) -> int:
    from cartsim.experiments.results import load_results
    from cartsim.viz.sweep_figures import plot_sweep

    results = load_results(args.dir)
    if not results.n_ok:
        raise ConfigError(f"{args.dir}: no finished runs to plot yet; run `cartsim sweep` first")
    out = Path(args.out) if args.out else None
    written = plot_sweep(results, out, x=args.x, by=args.by, metrics=args.metric or None,
                         fit=args.fit or None, day=args.day)
    folder = out or results.directory / "figures"
    if not args.quiet:
        print(f"{results.name}: {results.n_ok} runs; wrote {len(written)} files to {folder}/")
        for path in written:
            if path.suffix == ".png":
                print(f"  {path.name}")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``sweep`` and ``plot`` to the ``cartsim`` command line."""
    p = subparsers.add_parser(
        "sweep", help="run a parameter sweep (an experiment with a sweep: block), resumable",
        description="Run every run of a parameter sweep: the experiment file's sweep: block names the "
        "parameters (dotted config paths), their values (lists, linear/log ranges, or bounds for Latin "
        "hypercube, Sobol and Saltelli designs) and the replicates. Each run is written to DIR/runs/ as "
        "it finishes; see docs/sweeps.md.",
        epilog=SWEEP_EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("config", help="experiment YAML file with a sweep: block")
    p.add_argument("--out", metavar="DIR", help="sweep folder (default: results/<config file name>)")
    p.add_argument("--executor", choices=("serial", "processes", "dask"), default="processes",
                   help="where runs execute: this process, local worker processes (default), or Dask")
    p.add_argument("--workers", type=int, metavar="N",
                   help="worker processes (processes, or a Dask LocalCluster); default: all CPUs")
    p.add_argument("--scheduler", metavar="ADDRESS",
                   help="a running Dask scheduler, e.g. tcp://head-node:8786 (with --executor dask); "
                   "default: start a LocalCluster")
    p.add_argument("--force", action="store_true", help="delete earlier results in DIR and start over")
    p.add_argument("--set", action="append", default=[], metavar="PATH=VALUE",
                   help="override a value of the base experiment, e.g. --set time.duration_days=14; repeatable")
    p.add_argument("--dry-run", action="store_true", help="print the design and the number of runs; run nothing")
    p.add_argument("--plot", action="store_true", help="write the figures (as cartsim plot DIR) when done")
    p.add_argument("--quiet", action="store_true", help="no progress bar or summary")
    p.set_defaults(func=_cmd_sweep)

    p = subparsers.add_parser(
        "plot", help="plot the results of a sweep: response curves, fits, heatmaps, Sobol indices",
        description="Write the figures of a sweep folder as PNG and SVG, with the tables behind them as "
        "CSV: response curves with Wilson (proportions) or bootstrap (means) 95 % intervals, Hill fits "
        "with ED50, heatmaps for two parameters, time-series envelopes, and Sobol indices for Saltelli "
        "designs. Defaults come from the sweep's plots: block.",
        epilog=PLOT_EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("dir", metavar="DIR", help="sweep folder written by cartsim sweep")
    p.add_argument("--out", metavar="FIGDIR", help="where to write the figures (default: DIR/figures)")
    p.add_argument("--x", metavar="PARAM", help="swept parameter on the x axis of response curves")
    p.add_argument("--by", metavar="PARAM", help="swept parameter drawn as one curve per value")
    p.add_argument("--metric", action="append", metavar="NAME",
                   help="summary metric to plot (repeatable), e.g. eradicated, relapsed, tumor_reduction_at_nadir")
    p.add_argument("--fit", action="append", metavar="NAME",
                   help="yes/no metric to fit a Hill (log-logistic) curve to (repeatable)")
    p.add_argument("--day", type=float, metavar="D",
                   help="also plot the tumor reduction at day D (from the time series)")
    p.add_argument("--quiet", action="store_true", help="print nothing")
    p.set_defaults(func=_cmd_plot)
