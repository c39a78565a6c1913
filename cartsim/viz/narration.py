"""Words for students: what the page shows, and what is happening right now.

Pure functions of a config and the recorded time series, so that the page, notebooks and
tests can use them without a browser.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from cartsim.agents.gates import gate
from cartsim.config import ExperimentConfig
from cartsim.snapshot import phenotype_names
from cartsim.viz.page_params import cd4_cd8_label, design_label
from cartsim.viz.tissue_image import cytokine_label

# How many recorded hours the "right now" sentence looks back to tell growth from shrinkage.
TREND_HOURS = 6.0


def _count(n: int, noun: str) -> str:
    """``1 tumor cell``, ``2 tumor cells``."""
    return f"{n:,} {noun}" + ("" if n == 1 else "s")


def _antigen_list(names: tuple[str, ...]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def what_you_see(config: ExperimentConfig) -> str:
    """Markdown explaining the picture and the experiment, written for students."""
    antigens = config.antigen_names
    site = config.tissue.site_um
    w_mm = config.tissue.width * site / 1000
    h_mm = config.tissue.height * site / 1000
    if len(antigens) == 1:
        carried = f"blue: {antigens[0]}; magenta: lost it"
    else:
        carried = f"blue: {_antigen_list(antigens)}; other colours: lost some or all"
    or_designs = [design_label(p) for p in config.products if p.logic == "or"]
    if or_designs:
        design_idea = f" A {or_designs[0]} CAR?"
    elif len(config.products) > 1:
        design_idea = " Another CAR design?"
    else:
        design_idea = ""
    return (
        f"**What you see:** {w_mm:.2g} × {h_mm:.2g} mm of tissue, one pixel per {site:g} µm "
        f"patch (about one cell). Tumor cells are coloured by the antigens they carry ({carried}), "
        "darker with more antigen. CAR-T cells: cyan = hunting, yellow = killing the tumor cell "
        "they touch, black = exhausted. Grey: tumor cells that just died.\n\n"
        "A CAR-T cell only kills tumor cells that show enough of its target antigen. Cells that "
        "lost it are invisible to it: do they survive and grow back (a relapse)? IL-6 (plot) "
        "drives cytokine release syndrome, the dangerous fever after CAR-T therapy.\n\n"
        "**Try it:** move a slider, press *Reset*, then *Step* or ▶. A bigger dose?"
        f"{design_idea} More antigen loss?"
    )


def escape_phenotypes(antigens: tuple[str, ...], targets: list[str] | tuple[str, ...],
                      logic: str) -> list[str]:
    """Phenotypes a CAR cannot recognise for the antigens they carry or lost.

    The design's gate (:data:`cartsim.agents.gates.LOGIC_GATES`) is asked with each target
    present or absent: ``single``/``or``: every target lost; ``and``: any target lost; ``not``:
    the activating target lost or a vetoing one carried. Density thresholds are not considered
    here: a cell with too little antigen also escapes, but is not counted.
    """
    combine = gate(logic).combine
    out = []
    index = [antigens.index(t) for t in targets]
    for code, name in enumerate(phenotype_names(antigens)):
        present = np.array([[float(code >> i & 1)] for i in index])  # (n_targets, 1 cell)
        if combine(present)[0] == 0:
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
    lines = [f"**Day {day:.2f}:** {_count(tumor, 'tumor cell')}, {_count(cart, 'CAR-T cell')} "
             f"({int(last['cart_engaged']):,} killing, {int(last['cart_exhausted']):,} exhausted)."]

    invisible = 0
    if product is not None:
        names = escape_phenotypes(config.antigen_names, product.targets, product.logic)
        invisible = int(sum(int(last[f"tumor_{n}"]) for n in names))
        if tumor:
            verb = "has" if invisible == 1 else "have"
            lines.append(f"{_count(invisible, 'tumor cell')} ({invisible / tumor:.0%}) {verb} lost "
                         "what this CAR needs to see them.")

    earlier = ts[ts["day"] <= day - TREND_HOURS / 24.0]
    before = int(earlier["tumor_total"].iloc[-1]) if len(earlier) else tumor
    if dose is not None and day < dose.day:
        lines.append(f"The tumor grows; {_count(dose.cells, 'CAR-T cell')} arrive on day {dose.day:g}.")
    elif tumor == 0:
        lines.append("No tumor cells are left.")
    elif tumor < before:
        lines.append("CAR-T cells are finding and killing tumor cells.")
    elif tumor > before and invisible > tumor / 2:
        lines.append("Relapse: tumor cells the CAR cannot see are growing back.")
    elif tumor > before:
        lines.append("The tumor is growing again.")
    mechanisms = mechanisms_now(last)
    return " ".join(lines) + (f"\n\n{mechanisms}" if mechanisms else "")


#: The census columns of tumor cells killed by treatments and bystander effects, and their words.
THERAPY_WORDS = {"chemo_kills_total": "by chemotherapy", "radiation_kills_total": "by radiation",
                 "bystander_deaths_total": "by cytokines around the CAR-T (bystander)"}


def _share(n: int, total: int) -> str:
    return f"{n:,} ({n / total:.0%})" if total else f"{n:,}"


def mechanisms_now(last: pd.Series) -> str:
    """What the mechanisms and treatments switched on have done, from the latest record ``last``
    (their census columns are recorded only when they are on); empty when none is on."""
    out = []
    cart = int(last["cart_total"])
    states = []
    if "cart_memory" in last:
        states.append(f"{_share(int(last['cart_memory']), cart)} resting memory cells")
    if "cart_pd1_positive" in last:
        blockade = float(last.get("anti_pd1_blockade", 0.0))
        states.append(f"{_share(int(last['cart_pd1_positive']), cart)} PD-1+, braked by tumor PD-L1"
                      + (f" (anti-PD-1 blocks {blockade:.0%} of the brake)" if blockade > 0 else ""))
    if states:
        out.append(f"**CAR-T cells:** {'; '.join(states)}.")
    if "trogocytosis_escapes_total" in last:
        out.append(f"**Trogocytosis:** {_count(int(last['trogocytosis_escapes_total']), 'tumor cell')} escaped "
                   f"with too little antigen left; {_count(int(last['fratricide_total']), 'CAR-T cell')} "
                   "killed by other CAR-T (fratricide).")
    killed = [f"{int(last[column]):,} {words}" for column, words in THERAPY_WORDS.items() if column in last]
    if killed:
        out.append(f"**Tumor cells killed so far:** {', '.join(killed)}.")
    if "ifng_arrests_total" in last:
        out.append(f"IFN-γ has stopped {_count(int(last['ifng_arrests_total']), 'tumor cell division')}.")
    return " ".join(out)


ROUTE_WORDS = {"edge": "from the tissue edge", "vessels": "through blood vessels",
               "uniform": "everywhere at once"}


def run_summary(config: ExperimentConfig, seed: int | None = None) -> str:
    """The settings of a run in one line: dose, CAR design, infusion day and route, tumor, seed,
    and what is switched on besides (:func:`switched_on`)."""
    seed = config.seed if seed is None else seed
    tumor = config.tumor.initial
    kind = "liquid (scattered)" if tumor.type == "dispersed" else "solid (nodule)"
    if not config.dosing:
        return f"This run: no CAR-T infusion; {tumor.cells:,}-cell {kind} tumor; seed {seed}."
    d = config.dosing[0]
    design = design_label(config.product(d.product))
    also = switched_on(config)
    return (f"This run: dose {d.cells:,} CAR-T cells ({design} CAR) on day {d.day:g}, entering "
            f"{ROUTE_WORDS.get(d.route, d.route)}; {tumor.cells:,}-cell {kind} tumor; seed {seed}."
            + (f" Also: {'; '.join(also)}." if also else ""))


#: How the run summary names each treatment besides CAR-T (``treatments:`` entries, by kind).
TREATMENT_WORDS = {
    "anti_pd1": lambda t: f"anti-PD-1 blocking {t.blockade:.0%} from day {t.day:g}",
    "lymphodepletion": lambda t: f"lymphodepletion from day {t.day:g}",
    "chemotherapy": lambda t: f"chemotherapy on day {t.day:g}",
    "radiation": lambda t: f"{t.dose_Gy:g} Gy radiation on day {t.day:g}"
                           + ("" if t.region is None else " (part of the tissue)"),
}


def switched_on(config: ExperimentConfig) -> list[str]:
    """The mechanisms and treatments of ``config`` that are off by default, in words."""
    d = config.dosing[0] if config.dosing else None
    out = []
    if d is not None and d.cd4_fraction is not None:
        out.append(f"CD4/CD8 subsets ({cd4_cd8_label(d.cd4_fraction)})")
    out += [words for on, words in ((config.car_t.memory.enabled, "memory CAR-T"),
                                    (config.car_t.trogocytosis.enabled, "trogocytosis"),
                                    (config.tumor.ifng_bystander.enabled, "IFN-γ bystander effect"),
                                    (config.car_t.pd1.enabled, "PD-1 suppression")) if on]
    out += [TREATMENT_WORDS.get(t.kind, lambda t: f"{t.kind} from day {t.day:g}")(t)
            for t in sorted(config.treatments, key=lambda t: t.day)]
    payload = config.product(d.product).armored if d is not None else None
    if payload is not None:
        out.append(f"armored CAR secreting {cytokine_label(payload.cytokine)}")
    return out
