"""``cartsim validation-report``: regenerate docs/validation.md."""

from __future__ import annotations

import argparse


def _cmd(args: argparse.Namespace) -> int:
    from cartsim.config import ConfigError
    from cartsim.validation.report import write_report
    from cartsim.validation.scenarios import SCENARIOS

    if args.replicates < 2:
        raise ConfigError(f"--replicates {args.replicates}: use at least 2 replicates per design point")
    unknown = [label for label in args.only or [] if label not in SCENARIOS]
    if unknown:
        raise ConfigError(f"--only {' '.join(unknown)}: no such check; choose from {', '.join(SCENARIOS)}")
    # a report of some checks alone must not replace the full one in docs/ unless asked to
    out = args.out or ("results/validation" if args.only else "docs")
    outcomes = write_report(out, replicates=args.replicates, first_seed=args.first_seed, only=args.only)
    for o in outcomes:
        print(f"{'PASS' if o.passed else 'FAIL'}  {o.label}. {o.title}: {o.verdict}")
    print(f"report written to {out}/validation.md")
    return 0 if all(o.passed for o in outcomes) else 1


def register(sub) -> None:
    p = sub.add_parser("validation-report", help="run the validation scenarios and write docs/validation.md",
                       description="Run the validation scenarios (literature patterns) with fixed seeds and write "
                       "a Markdown report with a pass/fail line per pattern and its figures. Exit 1 if a pattern fails.")
    p.add_argument("--out", help="folder for validation.md and validation/*.png (default: docs, or "
                   "results/validation with --only)")
    p.add_argument("--replicates", type=int, default=8, help="runs per design point (default 8; ~4 min in all)")
    p.add_argument("--first-seed", type=int, default=0, help="seeds are first-seed, first-seed+1, ...")
    p.add_argument("--only", nargs="+", metavar="CHECK",
                   help="run only these checks (1 2 3 4 5 6a 6b) and write a report of them alone")
    p.set_defaults(func=_cmd)
