"""``cartsim ode``: solve a reference ODE model from an ODE experiment or an agent experiment YAML."""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

from cartsim.config import ConfigError

EXAMPLES = """\
examples:
  cartsim ode configs/ode_cartmath_raji.yaml                     # the Raji protocol -> results/ode_cartmath_raji/
  cartsim ode configs/ode_cartmath_raji.yaml --set dosing.0.cells=1.5e7
  cartsim ode configs/ode_cartmath_hdlm2.yaml --set parameters.gamma=2e-6 --out results/hdlm2_low_kill
  cartsim ode configs/quickstart.yaml --model cartmath           # an agent experiment's tumor and doses
  cartsim ode configs/quickstart.yaml --model kuznetsov --set initial.effector=0
  cartsim ode --list                                             # models, compartments, parameter sets

An ODE experiment file names a model and a published parameter set (docs/reference_models.md);
any other YAML is read as an agent experiment, from which the initial tumor cells, the dosing,
the duration and the record interval are taken, with the chosen model's published parameters.
--set paths are those of the ODE experiment (model, parameter_set, parameters.<name>,
initial.<compartment>, dosing.<i>.day|cells, challenges, end_day, record_every_h,
extinction_cells, solver.method|rtol|atol).
"""


def _parse_sets(items: list[str]) -> dict[str, object]:
    from cartsim.config.loading import parse_set_options

    return parse_set_options(items, example="parameters.alpha=1.3e-8")


def _list_models() -> str:
    from cartsim.odes.models import MODELS

    lines = []
    for m in MODELS.values():
        lines.append(f"{m.name}: {m.title}")
        lines += [f"    {eq}" for eq in m.equations]
        comps = ", ".join(f"{c.name} ({c.symbol})" for c in m.compartments)
        lines.append(f"  compartments: {comps}; doses enter {m.dose_compartment}")
        lines.append("  parameters: " + ", ".join(f"{p.name} [{p.unit}]" for p in m.parameters))
        for s in m.parameter_sets.values():
            default = " (default)" if s.name == m.default_set else ""
            doses = ", ".join(f"{c:g} on day {d:g}" for d, c in s.dosing) or "none"
            init = ", ".join(f"{k}={v:g}" for k, v in s.initial.items())
            lines.append(f"  set {s.name}{default}: {s.title}; initial {init}; doses {doses}; end day {s.end_day:g}")
        lines.append("")
    return "\n".join(lines)


def _default_out(config_path: str, model: str) -> Path:
    from cartsim.config.loading import read_yaml
    from cartsim.odes.config import is_ode_data

    stem = Path(config_path).stem
    return Path("results") / (stem if is_ode_data(read_yaml(config_path)) else f"{stem}_{model}")


def _number(value, spec: str = ".3g") -> str:
    """``value`` formatted with ``spec``, or ``n/a`` when there is none (``None``, NaN): a summary
    holds ``None`` where a quantity is undefined, e.g. no nadir without a dose."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "n/a"
    return format(value, spec)


def _report(config, result, out: Path) -> list[str]:
    """The lines printed after a run."""
    s = result.summary
    n = _number
    lines = [
        f"{config.name}: {config.model} ({config.parameter_set}), {len(result.timeseries)} records over "
        f"{config.final_day:g} days in {result.wall_seconds:.2f} s",
        f"  tumor: {n(s.get('initial_tumor'))} -> {n(s.get('baseline_tumor'))} at the first dose -> nadir "
        f"{n(s.get('min_tumor'))} on day {n(s.get('day_of_nadir'), 'g')} -> {n(s.get('final_tumor'))} at the end",
    ]
    if s.get("eradicated"):
        lines.append(f"  below one cell on day {n(s.get('eradication_day'), 'g')}")
    if s.get("relapsed"):
        lines.append(f"  relapse on day {n(s.get('relapse_day'), 'g')}")
    lines.append(f"  CAR-T peak {n(s.get('peak_cart'))} on day {n(s.get('peak_cart_day'), 'g')}; "
                 f"{n(s.get('kills_total'))} tumor cells killed")
    lines.append(f"  results in {out}/")
    return lines


def _changed_parameters(config) -> str:
    """``parameters.r = 50, ...``: the values that differ from the published set, or ""."""
    published = config.ode_model.parameter_set(config.parameter_set).values
    changed = {k: v for k, v in config.parameter_values().items() if v != published[k]}
    return ", ".join(f"parameters.{k} = {v:g}" for k, v in changed.items())


def _solver_failure(exc: Exception, config) -> str:
    """What went wrong, and what to try, in one line."""
    from cartsim.odes.solve import OdeBlowUpError

    changed = _changed_parameters(config)
    where = f" (changed from the {config.parameter_set} set: {changed})" if changed else ""
    if isinstance(exc, OdeBlowUpError):
        return f"{exc}{where}"
    return f"{exc}{where}. Check the parameters, or try --set solver.method=Radau"


def _cmd_ode(args: argparse.Namespace) -> int:
    if args.list:
        print(_list_models(), end="")
        return 0
    if args.config is None:
        raise ConfigError("cartsim ode: give an experiment YAML file (or --list to see the models)")
    from cartsim.odes.config import load_ode_config
    from cartsim.odes.results import run_ode
    from cartsim.odes.solve import OdeSolverError

    config = load_ode_config(args.config, _parse_sets(args.set), model=args.model, parameter_set=args.parameter_set,
                             note=lambda line: print(f"cartsim: {line}", file=sys.stderr))
    try:
        result = run_ode(config)
    except OdeSolverError as exc:
        raise ConfigError(_solver_failure(exc, config), args.config) from None
    out = Path(args.out) if args.out else _default_out(args.config, config.model)
    result.write(out)
    if not args.no_plots:
        from cartsim.odes.figures import ode_timeseries_figure
        from cartsim.viz.figures import save_figure

        save_figure(ode_timeseries_figure(result.timeseries, result.summary), out / "timeseries.png")
    if not args.quiet:
        print("\n".join(_report(config, result, out)))
    return 0


def register(subparsers) -> None:
    """Add ``cartsim ode`` to the command line."""
    from cartsim.odes.models import MODELS

    p = subparsers.add_parser(
        "ode",
        help="solve a reference ODE model (CARTmath, León-Triana, Kuznetsov) and write tables and plots",
        description="Solve a published well-mixed ODE model with dose impulses (scipy solve_ivp). "
        "Writes config.yaml (resolved: every parameter value), timeseries.parquet (day, tumor_total, "
        "cart_total, the model's compartments, kills_total, cells_infused), summary.json (an agent "
        "run's outcome keys) and timeseries.png into the output folder.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("config", nargs="?", help="ODE experiment YAML, or an agent experiment YAML")
    p.add_argument("--model", choices=list(MODELS),
                   help="reference model (default: the file's; cartmath for an agent experiment)")
    p.add_argument("--parameter-set", metavar="NAME",
                   help="published parameter set of the model, e.g. raji or hdlm2 for cartmath")
    p.add_argument("--set", action="append", default=[], metavar="PATH=VALUE",
                   help="override a value of the ODE experiment by dotted path, e.g. "
                   "--set parameters.alpha=1.3e-8 or --set dosing.0.cells=1.5e7; repeatable")
    p.add_argument("--out", metavar="DIR",
                   help="output folder (default: results/<file name>, or results/<file name>_<model> "
                   "for an agent experiment)")
    p.add_argument("--no-plots", action="store_true", help="skip timeseries.png")
    p.add_argument("--quiet", action="store_true", help="print nothing on success")
    p.add_argument("--list", action="store_true", help="list the models, their compartments, parameters and sets")
    p.set_defaults(func=_cmd_ode)
