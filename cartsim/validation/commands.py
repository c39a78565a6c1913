"""``cartsim validation-report``: regenerate docs/validation.md."""

from __future__ import annotations

import argparse


def _cmd(args: argparse.Namespace) -> int:
    from cartsim.config import ConfigError
    from cartsim.experiments.executors import default_workers
    from cartsim.validation.report import write_report
    from cartsim.validation.scenarios import SCENARIOS
    from cartsim.validation.study import SCALES

    scale = SCALES[args.scale]
    replicates = scale.replicates if args.replicates is None else args.replicates
    if replicates < 2:
        raise ConfigError(f"--replicates {replicates}: use at least 2 replicates per design point")
    if args.workers is not None and args.workers < 1:
        raise ConfigError(f"--workers {args.workers}: give a number of worker processes >= 1")
    unknown = [label for label in args.only or [] if label not in SCENARIOS]
    if unknown:
        raise ConfigError(f"--only {' '.join(unknown)}: no such check; choose from {', '.join(SCENARIOS)}")
    # a report of some checks, or at another scale, must not replace the full one in docs/ unless asked to
    partial = bool(args.only) or args.scale != "realistic"
    out = args.out or ("results/validation" if partial else "docs")
    outcomes = write_report(out, replicates=replicates, first_seed=args.first_seed, only=args.only,
                            scale=scale, workers=args.workers or default_workers())
    for o in outcomes:
        print(f"{'PASS' if o.passed else 'FAIL'}  {o.label}. {o.title}: {o.verdict}")
    print(f"report written to {out}/validation.md")
    return 0 if all(o.passed for o in outcomes) else 1


def register(sub) -> None:
    p = sub.add_parser("validation-report", help="run the validation scenarios and write docs/validation.md",
                       description="Run the validation scenarios (literature patterns) with fixed seeds and write "
                       "a Markdown report with a pass/fail line per pattern and its figures. Exit 1 if a pattern "
                       "fails. The realistic scale (the default) takes ~15 min on 2 cores.")
    p.add_argument("--out", help="folder for validation.md and validation/*.png (default: docs for the full "
                   "realistic report, else results/validation)")
    # the names of cartsim.validation.study.SCALES (not imported here: --help stays quick)
    p.add_argument("--scale", choices=["realistic", "small"], default="realistic",
                   help="realistic (default): nodules of 10,000-30,000 tumor cells, doses of 12-10,000 CAR-T; "
                   "small: 400-cell nodules, doses of 1-120 CAR-T, a quick look in ~3 min")
    p.add_argument("--replicates", type=int, help="runs per design point (default 6 at realistic scale, 8 at small)")
    p.add_argument("--first-seed", type=int, default=0, help="seeds are first-seed, first-seed+1, ...")
    p.add_argument("--workers", type=int, help="processes running the replicates (default: one per CPU); "
                   "the results do not depend on it")
    p.add_argument("--only", nargs="+", metavar="CHECK",
                   help="run only these checks (e.g. 1 6a 12) and write a report of them alone")
    p.set_defaults(func=_cmd)
