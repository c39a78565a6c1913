"""The page's treatment controls: what each switch or slider adds to, or removes from, an experiment.

Each control starts at the experiment's own position (:func:`treatment_controls`), and
:func:`with_treatments` turns positions into ``treatments:`` entries or the dosed product's payload
(settings, units and sources of each treatment: ``TREATMENT_CONFIGS`` in :mod:`cartsim.config.schema`):

* ``anti_pd1_percent``: 0, no anti-PD-1 antibody; above 0, an antibody blocking that share of
  PD-1/PD-L1 ligation from the first infusion to the end of the run. It acts on PD-1 suppression
  (``car_t.pd1``) only: with PD-1 off there is nothing to block, and the antibody is left out;
* ``lymphodepletion``: a lymphodepletion window with the schema's defaults (14 days in which every
  CAR-T divides an extra 0.5 times a day), from :data:`LYMPHODEPLETION_LEAD_DAYS` before the first
  infusion;
* ``chemotherapy``: a chemotherapy with the schema's defaults (half of the dividing tumor cells
  killed at first, an effect halving every 24 h, for 7 days), :data:`BRIDGING_LEAD_DAYS` before the
  first infusion;
* ``radiation_Gy``: 0, no radiation; above 0, one dose of that many Gy on the whole tissue,
  :data:`BRIDGING_LEAD_DAYS` before the first infusion;
* ``armored``: the first infusion's product secretes IL-12 (:data:`IL12_PAYLOAD`); the IL-12
  cytokine is declared if the experiment lacks it.

A switch that finds its treatment in the experiment leaves it as it is, and switched off removes
it; a slider at the experiment's position changes nothing and, moved, sets that value in the
experiment's treatments of its kind (their times and regions are kept).
"""

from __future__ import annotations

import copy
from typing import Any

from cartsim.config import ExperimentConfig
from cartsim.treatments import IL12_CYTOKINE, IL12_PAYLOAD

#: Days between the start of the lymphodepletion window and the first infusion. Fludarabine and
#: cyclophosphamide are given on days -5 to -3 before axicabtagene ciloleucel (ZUMA-1: Neelapu et
#: al. 2017, N Engl J Med 377:2531); the window is the time after conditioning in which IL-7 and
#: IL-15 are raised (the schema's ``duration_days``).
LYMPHODEPLETION_LEAD_DAYS = 3.0
#: Days between a chemotherapy or radiation dose added by the page and the first infusion: half a
#: day, as in ``configs/chemo_radiation.yaml``, so that the CAR-T meet the tumor the dose left.
BRIDGING_LEAD_DAYS = 0.5


def _layout(config: ExperimentConfig | dict[str, Any]) -> dict[str, Any]:
    return config.model_dump(mode="python") if isinstance(config, ExperimentConfig) else config


def _of_kind(data: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    """The treatments of ``kind``, earliest first."""
    return sorted((t for t in data.get("treatments") or [] if t["kind"] == kind), key=lambda t: t.get("day", 0.0))


def treatment_controls(config: ExperimentConfig | dict[str, Any]) -> dict[str, Any]:
    """The position of every treatment control for an experiment (a config, or its complete YAML
    layout as ``model_dump`` gives it), by keyword: sliders show the experiment's first treatment of
    their kind, switches whether it has one, ``armored`` whether the first infusion's product is."""
    data = _layout(config)
    dosing = data.get("dosing") or []
    product = next((p for p in data["products"] if dosing and p["name"] == dosing[0]["product"]), None)
    anti_pd1 = _of_kind(data, "anti_pd1")
    radiation = _of_kind(data, "radiation")
    return {"anti_pd1_percent": round(100 * anti_pd1[0]["blockade"]) if anti_pd1 else 0,
            "lymphodepletion": bool(_of_kind(data, "lymphodepletion")),
            "chemotherapy": bool(_of_kind(data, "chemotherapy")),
            "radiation_Gy": float(radiation[0]["dose_Gy"]) if radiation else 0.0,
            "armored": product is not None and product.get("armored") is not None}


def _switch(treatments: list[dict], kind: str, on: bool, entry: dict) -> list[dict]:
    """``treatments`` with ``entry`` added (on, and none of ``kind`` there) or every ``kind`` removed (off)."""
    if not on:
        return [t for t in treatments if t["kind"] != kind]
    if any(t["kind"] == kind for t in treatments):
        return treatments
    return [*treatments, entry]


def _set_value(treatments: list[dict], kind: str, key: str, value: float, entry: dict) -> list[dict]:
    """``treatments`` with every ``kind`` removed (value 0), or their ``key`` set to ``value``, or
    ``entry`` added (none there)."""
    if value <= 0:
        return [t for t in treatments if t["kind"] != kind]
    if any(t["kind"] == kind for t in treatments):
        return [{**t, key: value} if t["kind"] == kind else t for t in treatments]
    return [*treatments, entry]


def with_treatments(
    data: dict[str, Any],
    *,
    anti_pd1_percent: float | None = None,
    lymphodepletion: bool | None = None,
    chemotherapy: bool | None = None,
    radiation_Gy: float | None = None,
    armored: bool | None = None,
) -> dict[str, Any]:
    """A copy of ``data`` (an experiment's complete YAML layout, as ``model_dump`` gives it) with the
    treatment controls at the given positions; None, or the experiment's own position, leaves it as
    it is. See the module docstring for what each does. The result is to be validated
    (:func:`~cartsim.config.parse_config`)."""
    current = treatment_controls(data)
    asked = {"anti_pd1_percent": anti_pd1_percent, "lymphodepletion": lymphodepletion,
             "chemotherapy": chemotherapy, "radiation_Gy": radiation_Gy, "armored": armored}
    changes = {k: v for k, v in asked.items() if v is not None and v != current[k]}
    pd1_on = data["car_t"]["pd1"]["enabled"]
    if not pd1_on and current["anti_pd1_percent"] > 0:
        changes["anti_pd1_percent"] = 0  # nothing to block: the experiment cannot hold the antibody
    if not changes:
        return data
    data = copy.deepcopy(data)
    treatments: list[dict] = list(data.get("treatments") or [])
    dose_day = data["dosing"][0]["day"] if data.get("dosing") else 0.0
    bridging_day = max(0.0, dose_day - BRIDGING_LEAD_DAYS)
    if "anti_pd1_percent" in changes:
        blockade = changes["anti_pd1_percent"] / 100 if pd1_on else 0.0
        treatments = _set_value(treatments, "anti_pd1", "blockade", blockade, {
            "kind": "anti_pd1", "day": dose_day, "duration_days": data["time"]["duration_days"],
            "blockade": blockade})
    if "lymphodepletion" in changes:
        treatments = _switch(treatments, "lymphodepletion", lymphodepletion, {
            "kind": "lymphodepletion", "day": max(0.0, dose_day - LYMPHODEPLETION_LEAD_DAYS)})
    if "chemotherapy" in changes:
        treatments = _switch(treatments, "chemotherapy", chemotherapy,
                             {"kind": "chemotherapy", "day": bridging_day})
    if "radiation_Gy" in changes:
        gy = float(radiation_Gy)
        treatments = _set_value(treatments, "radiation", "dose_Gy", gy,
                                {"kind": "radiation", "day": bridging_day, "dose_Gy": gy})
    data["treatments"] = treatments
    if "armored" in changes and data.get("dosing"):
        product = next(p for p in data["products"] if p["name"] == data["dosing"][0]["product"])
        product["armored"] = dict(IL12_PAYLOAD) if armored else None
        cytokines = data.setdefault("cytokines", {})
        if armored and IL12_PAYLOAD["cytokine"] not in cytokines:
            cytokines[IL12_PAYLOAD["cytokine"]] = dict(IL12_CYTOKINE)
    return data
