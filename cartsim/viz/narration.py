"""Words for students: what the page shows, and what is happening right now.

Pure functions of a config and the recorded time series, so that the page, notebooks and
tests can use them without a browser.
"""

from __future__ import annotations

import pandas as pd

from cartsim.config import ExperimentConfig
from cartsim.snapshot import phenotype_names
from cartsim.viz.page_params import design_label

# How many recorded hours the "right now" sentence looks back to tell growth from shrinkage.
TREND_HOURS = 6.0


def _antigen_list(names: tuple[str, ...]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def what_you_see(config: ExperimentConfig) -> str:
    """Markdown explaining the picture and the experiment, written for students."""
    antigens = config.antigen_names
    site = config.tissue.site_um
    w_mm = config.tissue.width * site / 1000
    h_mm = config.tissue.height * site / 1000
    both = "both target antigens" if len(antigens) == 2 else (
        f"all {len(antigens)} antigens" if len(antigens) > 2 else f"the {antigens[0]} antigen")
    return (
        f"**What you are seeing.** A {w_mm:.2g} × {h_mm:.2g} mm slice of tissue; each pixel is a "
        f"{site:g} µm patch, about one cell. Blue squares are tumor cells carrying {both} "
        f"({_antigen_list(antigens)}); other colours have lost one or more of them (see the legend). "
        "Darker means more antigen molecules on the cell surface.\n\n"
        "**CAR-T cells** are the small bright dots: cyan ones are hunting, yellow ones are "
        "touching a tumor cell and killing it, black ones are exhausted after many kills. Grey "
        "patches are tumor cells that just died.\n\n"
        "A CAR-T cell only recognises tumor cells that show enough of its target antigen. Cells "
        "that lost it are invisible to it: watch whether they survive and grow back (a relapse). "
        "The plots count the cells, and IL-6, the signal behind the dangerous fever of "
        "cytokine release syndrome.\n\n"
        "**Try it:** move a slider, press *Reset*, then *Step* or ▶. What happens with a bigger "
        "dose? With a CAR that targets CD19 OR CD22? With more antigen loss?"
    )


def escape_phenotypes(antigens: tuple[str, ...], targets: list[str] | tuple[str, ...],
                      logic: str) -> list[str]:
    """Phenotypes a CAR cannot recognise because the antigens it needs are lost.

    ``single``/``or``: every target lost; ``and``: any target lost. Density thresholds are not
    considered here: a cell with too little antigen also escapes, but is not counted.
    """
    out = []
    index = [antigens.index(t) for t in targets]
    for code, name in enumerate(phenotype_names(antigens)):
        present = [bool(code >> i & 1) for i in index]
        invisible = not all(present) if logic == "and" else not any(present)
        if invisible:
            out.append(name)
    return out


def right_now(config: ExperimentConfig, ts: pd.DataFrame) -> str:
    """One or two sentences about the latest row of ``ts`` (a model's recorded time series)."""
    if ts.empty:
        return ""
    last = ts.iloc[-1]
    day = float(last["day"])
    dose = config.dosing[0] if config.dosing else None
    product = config.product(dose.product) if dose else None
    tumor = int(last["tumor_total"])
    cart = int(last["cart_total"])
    lines = [f"**Day {day:.1f}:** {tumor:,} tumor cells, {cart:,} CAR-T cells "
             f"({int(last['cart_engaged']):,} killing, {int(last['cart_exhausted']):,} exhausted)."]

    invisible = 0
    if product is not None:
        names = escape_phenotypes(config.antigen_names, product.targets, product.logic)
        invisible = int(sum(int(last[f"tumor_{n}"]) for n in names))
        if tumor:
            lines.append(f"{invisible:,} tumor cells ({invisible / tumor:.0%}) have lost what this "
                         "CAR needs to see them.")

    earlier = ts[ts["day"] <= day - TREND_HOURS / 24.0]
    before = int(earlier["tumor_total"].iloc[-1]) if len(earlier) else tumor
    if dose is not None and day < dose.day:
        lines.append(f"The tumor grows; {dose.cells:,} CAR-T cells arrive on day {dose.day:g}.")
    elif tumor == 0:
        lines.append("No tumor cells are left.")
    elif tumor < before:
        lines.append("CAR-T cells are finding and killing tumor cells.")
    elif tumor > before and invisible > tumor / 2:
        lines.append("Relapse: tumor cells the CAR cannot see are growing back.")
    elif tumor > before:
        lines.append("The tumor is growing again.")
    return " ".join(lines)


ROUTE_WORDS = {"edge": "from the tissue edge", "vessels": "through blood vessels",
               "uniform": "everywhere at once"}


def run_summary(config: ExperimentConfig, seed: int | None = None) -> str:
    """The settings of a run in one line: dose, CAR design, infusion day and route, tumor, seed."""
    seed = config.seed if seed is None else seed
    tumor = config.tumor.initial
    kind = "liquid (scattered)" if tumor.type == "dispersed" else "solid (nodule)"
    if not config.dosing:
        return f"This run: no CAR-T infusion; {tumor.cells:,}-cell {kind} tumor; seed {seed}."
    d = config.dosing[0]
    design = design_label(config.product(d.product))
    return (f"This run: dose {d.cells:,} CAR-T cells ({design} CAR) on day {d.day:g}, entering "
            f"{ROUTE_WORDS.get(d.route, d.route)}; {tumor.cells:,}-cell {kind} tumor; seed {seed}.")
