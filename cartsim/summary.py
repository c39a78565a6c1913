"""Outcome metrics of one run, computed from its time series.

Definitions (tumor burden B(t) = live tumor cells; baseline B0 = burden at the first infusion,
or at the start when there is none):

* nadir: the minimum of B after the first infusion, and its day;
* eradication: B reaches 0; its day is the first such record;
* response: the nadir is at most ``RESPONSE_FRACTION``·B0;
* relapse: after a response, B climbs back to at least ``RELAPSE_FRACTION``·B0; its day is the
  first such record. Relapse is called antigen-negative when most relapsing cells lack at least
  one antigen;
* area under the tumor curve: ∫B dt by the trapezoid rule (cell·days).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

RESPONSE_FRACTION = 0.25
RELAPSE_FRACTION = 0.5
#: The cytokine whose peak is the cytokine-release-syndrome signal (``peak_IL6_pM``): the
#: ``crs_proxy`` of :data:`cartsim.config.schema.CYTOKINE_ROLES` (this module imports nothing
#: from cartsim; a test checks that the two agree).
CRS_PROXY = "IL6"


def _negative_fraction(row: pd.Series, phenotype_cols: list[str], antigen: str | None = None) -> float:
    total = row["tumor_total"]
    if total <= 0:
        return math.nan
    neg = 0.0
    for col in phenotype_cols:
        name = col.removeprefix("tumor_")
        if antigen is None:
            lacks = "-" in name
        else:
            lacks = f"{antigen}-" in name
        if lacks:
            neg += row[col]
    return float(neg / total)


def burden_course(day: np.ndarray, burden: np.ndarray, infusion_days: list[float],
                  eradicated_below: float = 0.5) -> dict:
    """The tumor-curve metrics shared by agent runs and ODE solutions (module docstring).

    ``eradicated_below`` is the burden (cells) under which the tumor counts as gone: any value
    below one cell for agents, whose counts are whole; one cell for an ODE, which never reaches 0.
    """
    first_dose = min(infusion_days) if infusion_days else 0.0
    after = day >= first_dose - 1e-9
    baseline = float(burden[int(np.argmax(after))])
    post = np.flatnonzero(after)
    i_nadir = int(post[np.argmin(burden[post])])
    nadir = float(burden[i_nadir])
    gone = np.flatnonzero(burden < eradicated_below)
    responded = baseline > 0 and nadir <= RESPONSE_FRACTION * baseline
    relapse_idx = None
    if responded:
        later = np.flatnonzero((np.arange(len(day)) > i_nadir) & (burden >= RELAPSE_FRACTION * baseline))
        relapse_idx = int(later[0]) if later.size else None
    return {
        "final_tumor": float(burden[-1]),
        "initial_tumor": float(burden[0]),
        "baseline_tumor": baseline,
        "min_tumor": nadir,
        "day_of_nadir": float(day[i_nadir]),
        "tumor_reduction_at_nadir": float(1 - nadir / baseline) if baseline > 0 else math.nan,
        "eradicated": bool(gone.size),
        "eradication_day": float(day[gone[0]]) if gone.size else None,
        "responded": bool(responded),
        "relapsed": relapse_idx is not None,
        "relapse_day": float(day[relapse_idx]) if relapse_idx is not None else None,
        "tumor_auc_cell_days": float(np.trapezoid(burden, day)),
        "_relapse_index": relapse_idx,
    }


def cart_course(day: np.ndarray, cart: np.ndarray) -> dict:
    i_peak = int(np.argmax(cart))
    return {"peak_cart": float(cart[i_peak]), "peak_cart_day": float(day[i_peak]), "final_cart": float(cart[-1])}


def _share(last: pd.Series, column: str) -> float:
    total = last["cart_total"]
    return float(last[column] / total) if total > 0 else math.nan


def mechanism_outcomes(ts: pd.DataFrame) -> dict:
    """Outcomes of the T-cell mechanisms switched on (their census columns are there only then):
    memory fraction and PD-1+ fraction of the live CAR-T at the end, and the tumor cells that
    escaped by trogocytosis (lost so much antigen to CAR-T that no product binds them) and CAR-T
    killed by fratricide, over the run."""
    last = ts.iloc[-1]
    out: dict = {}
    if "cart_memory" in ts:
        out["memory_fraction_end"] = _share(last, "cart_memory")
        out["peak_memory_cart"] = int(ts["cart_memory"].max())
    if "cart_pd1_positive" in ts:
        out["pd1_positive_fraction_end"] = _share(last, "cart_pd1_positive")
        out["peak_pd1_positive_fraction"] = float(
            (ts["cart_pd1_positive"] / ts["cart_total"].where(ts["cart_total"] > 0)).max())
    if "trogocytosis_escapes_total" in ts:
        out["trogocytosis_escapes"] = int(last["trogocytosis_escapes_total"])
        out["fratricide_kills"] = int(last["fratricide_total"])
    if "cart_cd4" in ts:
        out["cd4_fraction_end"] = _share(last, "cart_cd4")
    return out


#: census columns of the treatments and bystander effects -> their summary keys (totals over the run)
THERAPY_OUTCOMES = {"chemo_kills_total": "chemo_kills", "radiation_kills_total": "radiation_kills",
                    "bystander_deaths_total": "bystander_deaths", "ifng_arrests_total": "ifng_arrests"}


def therapy_outcomes(ts: pd.DataFrame) -> dict:
    """Tumor cells killed by chemotherapy, radiation and bystander effects (IFN-γ, armored-CAR
    payloads) and divisions arrested by IFN-γ over the run, for those switched on."""
    last = ts.iloc[-1]
    return {key: int(last[col]) for col, key in THERAPY_OUTCOMES.items() if col in ts}


def summarize(ts: pd.DataFrame, antigens: tuple[str, ...], infusion_days: list[float]) -> dict:
    """Summary metrics (see the module docstring) as a JSON-ready dict."""
    day = ts["day"].to_numpy(float)
    pheno_cols = [c for c in ts.columns if c.startswith("tumor_") and c != "tumor_total"]
    summary = burden_course(day, ts["tumor_total"].to_numpy(float), infusion_days)
    summary.update(cart_course(day, ts["cart_total"].to_numpy(float)))
    for key in ("final_tumor", "initial_tumor", "baseline_tumor", "min_tumor", "peak_cart", "final_cart"):
        summary[key] = int(round(summary[key]))  # agent counts are whole cells
    relapse_idx = summary.pop("_relapse_index")
    last = ts.iloc[-1]
    # IL-6 is the CRS proxy; the well-mixed mode has no cytokine fields
    crs = f"{CRS_PROXY}_max"
    il6 = ts[crs].to_numpy(float) if crs in ts else np.full(len(ts), math.nan)
    summary.update({
        "antigen_negative_fraction_end": _negative_fraction(last, pheno_cols),
        "antigen_negative_fraction_at_relapse": (
            _negative_fraction(ts.iloc[relapse_idx], pheno_cols) if relapse_idx is not None else None
        ),
        "peak_IL6_pM": float(np.max(il6)),
        "peak_IL6_day": float(day[int(np.argmax(il6))]) if np.isfinite(il6).any() else math.nan,
        "peak_IFNg_pM": float(ts["IFNg_max"].max()) if "IFNg_max" in ts else math.nan,
        "kills_total": int(last["kills_total"]),
        "infusion_days": [float(d) for d in infusion_days],
        "cells_infused": int(round(last["cells_infused"])) if "cells_infused" in ts else None,
    })
    frac = summary["antigen_negative_fraction_at_relapse"]
    summary["antigen_negative_relapse"] = bool(frac is not None and frac > 0.5)
    for a in antigens:
        summary[f"{a}_negative_fraction_end"] = _negative_fraction(last, pheno_cols, a)
    summary.update(mechanism_outcomes(ts))
    summary.update(therapy_outcomes(ts))
    # JSON has no NaN: report undefined fractions (no tumor left) as null
    return {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in summary.items()}
