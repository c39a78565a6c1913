"""What the browser page offers: its experiment, its CAR-design menu and its sliders.

The page runs :class:`~cartsim.viz.page_model.PageModel` (a :class:`~cartsim.CarTModel` that
understands the menu labels) on a base config: the user's YAML file, or, without one, the
classroom experiment of :func:`teaching_config` (a CD19+CD22+ tumor and one product for each
CAR design). Each Step of the page advances :data:`PAGE_STEP_H` hours, so that Play shows
smooth motion. The sliders start at the values of the base config.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cartsim.config import ConfigError, ExperimentConfig, parse_config
from cartsim.config.loading import read_yaml
from cartsim.config.schema import ProductConfig
from cartsim.viz.page_treatments import treatment_controls

# Environment variable naming the experiment file the served page starts from (unset: the
# classroom experiment); ``cartsim viz CONFIG`` sets it for the server.
CONFIG_ENV = "CARTSIM_VIZ_CONFIG"

# One page Step = one hour of simulated time: CAR-T cells move 5 µm/min (~20 sites per hour),
# so an hour is the longest step in which their hunt still looks like motion.
PAGE_STEP_H = 1.0

# Tumor types offered by the page, with their initial layout. A liquid tumor (leukemia in
# marrow) is scattered and reached through the blood everywhere at once; a solid tumor is a
# nodule that CAR-T cells enter from its surroundings (see :func:`entry_route`).
TUMOR_KINDS: dict[str, str] = {"solid": "nodule", "liquid": "dispersed"}


def entry_route(kind: str, configured: str) -> str:
    """How CAR-T cells enter a ``kind`` tumor: uniform for liquid; else ``configured`` (edge if uniform)."""
    if kind == "liquid":
        return "uniform"
    return "edge" if configured == "uniform" else configured


def teaching_config() -> dict[str, Any]:
    """The classroom experiment (YAML layout): a CD19+CD22+ nodule and four CAR designs.

    80×80 sites (1.2 mm), 1,200 tumor cells, 300 CAR-T cells on day 2, 21 days. Antigen values
    as in ``configs/dual_target.yaml``: CD22 is less dense than CD19 on B-ALL blasts, so some
    cells fall below the 2,000-molecule activation threshold of a CD22 CAR.
    """
    return {
        "name": "classroom",
        "description": "CD19+CD22+ tumor; choose a CD19, CD22, CD19 OR CD22 or CD19 AND CD22 CAR.",
        "seed": 1,
        "tissue": {"width": 80, "height": 80},
        "time": {"duration_days": 21, "record_every_h": PAGE_STEP_H},
        "antigens": {
            "CD19": {"mean_density": 22000, "cv": 0.32, "negative_fraction": 0.002,
                     "loss_probability": 0.002},
            "CD22": {"mean_density": 5000, "cv": 0.5, "negative_fraction": 0.002,
                     "loss_probability": 0.002},
        },
        "tumor": {"initial": {"type": "nodule", "cells": 1200}},
        "products": [
            {"name": "CAR19", "targets": ["CD19"], "logic": "single"},
            {"name": "CAR22", "targets": ["CD22"], "logic": "single"},
            {"name": "CAR19or22", "targets": ["CD19", "CD22"], "logic": "or"},
            {"name": "CAR19and22", "targets": ["CD19", "CD22"], "logic": "and"},
        ],
        "dosing": [{"day": 2, "cells": 300, "product": "CAR19", "route": "edge"}],
    }


def page_config(path: str | Path | None = None) -> ExperimentConfig:
    """The page's base experiment: ``path``'s values (or :func:`teaching_config`), one-hour steps.

    A file without an infusion gets one (300 cells of its first product on day 0), because the
    page is about what CAR-T cells do.
    Raises :class:`~cartsim.config.ConfigError` for a bad file.
    """
    data = teaching_config() if path is None else read_yaml(path)
    data = dict(data)
    data["time"] = {**(data.get("time") or {}), "record_every_h": PAGE_STEP_H, "snapshot_days": []}
    if path is not None and not data.get("dosing"):
        first = parse_config({k: v for k, v in data.items() if k != "dosing"} | {"dosing": []},
                             source=str(path))
        data["dosing"] = [{"day": 0.0, "cells": 300, "product": first.products[0].name}]
    return parse_config(data, source=None if path is None else str(path))


def design_label(product: ProductConfig) -> str:
    """The menu label of a product's CAR design: ``"CD19"``, ``"CD19 OR CD22"``, ``"CD19 AND CD22"``."""
    if product.logic == "single":
        return product.targets[0]
    return f" {product.logic.upper()} ".join(product.targets)


def design_labels(config: ExperimentConfig) -> dict[str, str]:
    """Menu label -> product name, for every product of ``config`` (names added to tell twins apart)."""
    labels = [design_label(p) for p in config.products]
    out: dict[str, str] = {}
    for label, product in zip(labels, config.products, strict=True):
        if labels.count(label) > 1:
            label = f"{label} ({product.name})"
        out[label] = product.name
    return out


def product_for_design(config: ExperimentConfig, label: str) -> str:
    """The product name behind menu ``label`` (a product name is accepted as well)."""
    labels = design_labels(config)
    if label in labels:
        return labels[label]
    if label in labels.values():
        return label
    raise ConfigError(f"car_design: no product with the design {label!r}; the experiment offers "
                      f"{', '.join(repr(k) for k in labels)}")


def tumor_kind(config: ExperimentConfig) -> str:
    """``"solid"`` or ``"liquid"``: the page's name for the config's initial tumor layout."""
    return "liquid" if config.tumor.initial.type == "dispersed" else "solid"


#: The page's CD4:CD8 menu: label -> the first infusion's ``cd4_fraction`` (None: no subsets).
CD4_CD8_RATIOS: dict[str, float | None] = {
    "no subsets": None, "all CD8": 0.0, "1 CD4 : 3 CD8": 0.25, "1 CD4 : 1 CD8": 0.5,
    "3 CD4 : 1 CD8": 0.75, "all CD4": 1.0,
}


def cd4_cd8_label(fraction: float | None) -> str:
    """The CD4:CD8 menu label of a dose's ``cd4_fraction`` (another fraction is shown as it is)."""
    for label, f in CD4_CD8_RATIOS.items():
        if f == fraction:
            return label
    return f"CD4 fraction {fraction:g}"


def _slider(kind: str, label: str, value: float, lo: float, hi: float, step: float) -> dict:
    # Widen the range when the experiment's own value lies outside the classroom range.
    return {"type": kind, "label": label, "value": value, "min": min(lo, value),
            "max": max(hi, value), "step": step}


def model_params(config: ExperimentConfig) -> dict[str, Any]:
    """Mesa SolaraViz ``model_params``: the fixed base config, then sliders, menus and switches.

    Keys are :class:`~cartsim.viz.page_model.PageModel` keyword parameters; initial values come
    from ``config`` (antigen-wide sliders show the first antigen's value and set all antigens).
    In the order shown: the dose and CAR design, antigen escape, kill rate, tumor type and CD4:CD8;
    the T-cell and tumor biology switches; the treatments besides the CAR-T dose.
    """
    first_antigen = next(iter(config.antigens.values()))
    dose = config.dosing[0]
    product = config.product(dose.product)
    duration = config.time.duration_days
    treatments = treatment_controls(config)
    return {
        "config": config,
        "rng": _slider("SliderInt", "Random seed", config.seed, 0, 99, 1),
        "dose": _slider("SliderInt", "Dose (CAR-T cells)", dose.cells, 5, 2000, 5),
        "infusion_day": _slider("SliderFloat", "Infusion day", dose.day, 0.0,
                                min(14.0, duration), 0.5),
        "car_design": {"type": "Select", "label": "CAR design (targets)",
                       "value": design_label_of(config, product.name),
                       "values": list(design_labels(config))},
        "antigen_loss_probability": _slider(
            "SliderFloat", "Antigen loss per division", first_antigen.loss_probability,
            0.0, 0.02, 0.001),
        "negative_fraction": _slider(
            "SliderFloat", "Antigen-negative at start", first_antigen.negative_fraction,
            0.0, 0.05, 0.001),
        "kill_rate_per_h": _slider("SliderFloat", "Kill rate per hour",
                                   config.car_t.kill_rate_per_h, 0.1, 10.0, 0.1),
        "tumor_kind": {"type": "Select", "label": "Tumor type", "value": tumor_kind(config),
                       "values": list(TUMOR_KINDS)},
        "cd4_cd8": {"type": "Select", "label": "CD4:CD8 ratio of the dose",
                    "value": cd4_cd8_label(dose.cd4_fraction),
                    "values": list(dict.fromkeys([*CD4_CD8_RATIOS, cd4_cd8_label(dose.cd4_fraction)]))},
        # the T-cell and tumor biology switches
        "memory": {"type": "Checkbox", "label": "Memory CAR-T (long persistence)",
                   "value": config.car_t.memory.enabled},
        "trogocytosis": {"type": "Checkbox", "label": "Trogocytosis (antigen taken, fratricide)",
                         "value": config.car_t.trogocytosis.enabled},
        "ifng_bystander": {"type": "Checkbox", "label": "IFN-γ slows tumor cells nearby",
                           "value": config.tumor.ifng_bystander.enabled},
        "pd1": {"type": "Checkbox", "label": "PD-1 / PD-L1 suppression", "value": config.car_t.pd1.enabled},
        # the treatments besides the CAR-T dose (cartsim.viz.page_treatments)
        "anti_pd1_percent": _slider("SliderInt", "Anti-PD-1 antibody (% blocked; needs PD-1 on)",
                                    treatments["anti_pd1_percent"], 0, 100, 5),
        "lymphodepletion": {"type": "Checkbox", "label": "Lymphodepletion before the dose",
                            "value": treatments["lymphodepletion"]},
        "chemotherapy": {"type": "Checkbox", "label": "Chemotherapy before the dose",
                         "value": treatments["chemotherapy"]},
        "radiation_Gy": _slider("SliderFloat", "Radiation before the dose (Gy)",
                                treatments["radiation_Gy"], 0.0, 10.0, 0.5),
        "armored": {"type": "Checkbox", "label": "Armored CAR (secretes IL-12)",
                    "value": treatments["armored"]},
    }


def design_label_of(config: ExperimentConfig, product_name: str) -> str:
    """The menu label of the product called ``product_name``."""
    return next(label for label, name in design_labels(config).items() if name == product_name)


def initial_kwargs(params: dict[str, Any]) -> dict[str, Any]:
    """The keyword arguments the page's first model is built with: every ``value`` of ``params``.

    This is what Mesa's Reset passes too (fixed entries as they are, inputs by their value), so
    the first model and a Reset with untouched sliders are the same run.
    """
    return {k: (v["value"] if isinstance(v, dict) and "type" in v else v) for k, v in params.items()}
