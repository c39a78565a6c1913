"""The dosing schedule's treatments besides CAR-T, and the cytokine effects on bystander tumor cells.

The model asks this one object, at every step, what is in effect (the settings, units and sources
are in :mod:`cartsim.config.schema`: ``TREATMENT_CONFIGS``, ``tumor.ifng_bystander``,
``products[i].armored``):

* **lymphodepletion** (fludarabine/cyclophosphamide): from its day, for its duration, every
  effector CAR-T divides at an extra homeostatic rate (:meth:`Treatments.homeostatic_rate`);
* **chemotherapy**: a dividing tumor cell dies with probability ``p0·2^(-(t - day)/half-life)``
  while the drug acts; several drugs combine as independent chances
  (:meth:`Treatments.chemo_kill_probability`);
* **radiation**: at its time, each tumor cell in the region survives with the linear-quadratic
  probability ``exp(-α·D - β·D²)`` (:meth:`Treatments.irradiate_due`);
* **IFN-γ bystander effects** and **armored-CAR payloads**: after each cytokine update, tumor
  cells where the cytokine is above its threshold die at their extra rate
  (:meth:`Treatments.bystander_deaths`); IFN-γ also arrests divisions and raises antigen, which the
  tumor reads from the field handed to it (:meth:`Treatments.sense`).

Anti-PD-1 blockade is read by the model itself (``CarTModel.blockade_at``). Every rate is
converted to per-step numbers in :mod:`cartsim.rates`.
"""

from __future__ import annotations

import math

import numpy as np

from cartsim import rates

#: The IL-12 payload of an armored CAR, as in ``configs/armored_il12.yaml``: constitutive
#: secretion (Yeku et al. 2017, Sci Rep 7:10541; the fractions and rates are the schema's defaults
#: of ``products[i].armored``), and the ``cytokines:`` entry for IL-12 that it needs: a 70 kDa
#: heterodimer, slower than IL-2 (assumed), cleared locally in an hour (assumed).
IL12_PAYLOAD: dict = {"cytokine": "IL12", "inducible": False}
IL12_CYTOKINE: dict = {"diffusivity_um2_per_s": 5.0, "half_life_min": 60.0}


def region_mask(region: list[float] | None, width: int, height: int, site_um: float) -> np.ndarray | None:
    """Sites (x, y) whose centre lies in ``region`` (µm from the tissue's corner): a disc
    ``[x, y, radius]`` or a rectangle ``[x0, y0, x1, y1]``; None (the whole tissue) stays None."""
    if region is None:
        return None
    cx = (np.arange(width)[:, None] + 0.5) * site_um
    cy = (np.arange(height)[None, :] + 0.5) * site_um
    if len(region) == 3:
        x, y, r = region
        return (cx - x) ** 2 + (cy - y) ** 2 <= r * r
    x0, y0, x1, y1 = region
    return (cx >= x0) & (cx <= x1) & (cy >= y0) & (cy <= y1)


class Treatments:
    """What the treatments and bystander effects of an experiment do, and when (times in minutes)."""

    def __init__(self, config, tissue, interval_min: float):
        day = rates.MINUTES_PER_DAY
        ts = config.treatments
        #: (start, end, rate per minute) of each lymphodepletion
        self.lymphodepletion = [(t.day * day, (t.day + t.duration_days) * day, t.homeostatic_division_per_day / day)
                                for t in ts if t.kind == "lymphodepletion"]
        #: (start, end, peak kill probability, half-life in minutes) of each chemotherapy
        self.chemotherapy = [(t.day * day, (t.day + t.duration_days) * day, t.kill_probability,
                              t.half_life_h * rates.MINUTES_PER_HOUR) for t in ts if t.kind == "chemotherapy"]
        #: (time, surviving fraction, region mask) of each radiation dose, earliest first
        self.radiation = sorted(
            ((t.day * day, t.surviving_fraction,
              region_mask(t.region, tissue.width, tissue.height, tissue.site_um)) for t in ts if t.kind == "radiation"),
            key=lambda d: d[0])
        self.scheduled = bool(self.lymphodepletion or self.chemotherapy or self.radiation)
        by = config.tumor.ifng_bystander
        self.bystander = by if by.enabled else None
        #: per cytokine update: the IFN-γ death probability, and each payload's (cytokine, threshold, probability)
        self.p_ifng_death = float(rates.hazard_probability(by.death_rate_per_day / day, interval_min)) if by.enabled else 0.0
        self.payloads = [(p.armored.cytokine, p.armored.threshold_pM,
                          float(rates.hazard_probability(p.armored.bystander_kill_rate_per_day / day, interval_min)))
                         for p in config.products if p.armored is not None]
        #: the cytokines whose fields must be current at every update
        self.fields_read = ({by.cytokine} if by.enabled else set()) | {name for name, _, _ in self.payloads}
        self._fields: dict[str, np.ndarray] = {}
        #: the tumor's census columns for what is switched on
        self.tumor_columns = tuple(
            name for name, on in (("chemo_kills_total", bool(self.chemotherapy)),
                                  ("radiation_kills_total", bool(self.radiation)),
                                  ("bystander_deaths_total", self.p_ifng_death > 0 or bool(self.payloads)),
                                  ("ifng_arrests_total", by.enabled and by.arrest_probability > 0)) if on)

    # ------------------------------------------------------------------ in effect at a time
    def chemo_kill_probability(self, now: float) -> float:
        """Chance that a tumor cell dividing at ``now`` is killed: each drug acting then gives
        ``p0·2^(-(now - start)/half-life)``, drugs combine as independent chances."""
        survive = 1.0
        for start, end, p0, half_life in self.chemotherapy:
            if start <= now + 1e-6 < end:
                survive *= 1.0 - p0 * math.exp(-math.log(2.0) * (now - start) / half_life)
        return 1.0 - survive

    def homeostatic_rate(self, now: float) -> float:
        """Extra CAR-T division rate (1/min) at ``now``: the lymphodepletions in effect, added."""
        return sum(rate for start, end, rate in self.lymphodepletion if start <= now + 1e-6 < end)

    # ------------------------------------------------------------------ events
    def irradiate_due(self, tumor, now: float) -> int:
        """Give the radiation doses due by ``now``; returns the tumor cells killed."""
        killed = 0
        while self.radiation and self.radiation[0][0] <= now + 1e-6:
            _, surviving, mask = self.radiation.pop(0)
            killed += tumor.irradiate(surviving, mask, now)
        return killed

    def sense(self, cytokines, tumor) -> None:
        """Hand the fields just updated to the rules that read them (pM)."""
        for name in self.fields_read:
            self._fields[name] = cytokines.concentration_pM(name)
        if self.bystander is not None:
            tumor.sense_ifng(self._fields[self.bystander.cytokine])

    def bystander_deaths(self, tumor, now: float) -> int:
        """Tumor cells where IFN-γ or an armored CAR's payload is above its threshold die at their
        extra rate over the cytokine interval just ended; returns how many died."""
        died = 0
        if self.p_ifng_death > 0:
            died += tumor.die_where_exposed(self._fields[self.bystander.cytokine], self.bystander.threshold_pM,
                                            self.p_ifng_death, now)
        for name, threshold, p in self.payloads:
            died += tumor.die_where_exposed(self._fields[name], threshold, p, now)
        return died
