"""The model behind the browser page: a CarTModel that speaks the page's menu labels."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cartsim.config import ConfigError, ExperimentConfig, apply_overrides, resolve_shortcuts
from cartsim.model import CarTModel, resolve_config
from cartsim.viz.page_params import CD4_CD8_RATIOS, TUMOR_KINDS, entry_route, product_for_design
from cartsim.viz.page_treatments import with_treatments


class PageModel(CarTModel):
    """:class:`~cartsim.CarTModel` with extra keyword parameters for the page's menus and treatments.

    Args:
        config: as for :class:`~cartsim.CarTModel` (the page passes its base config).
        rng: random seed.
        car_design: a CAR-design menu label such as ``"CD19 OR CD22"`` (see
            :func:`~cartsim.viz.page_params.design_labels`); selects the product of the first
            infusion.
        tumor_kind: ``"solid"`` (a nodule) or ``"liquid"`` (scattered cells); also sets how
            the first infusion enters (:func:`~cartsim.viz.page_params.entry_route`).
        cd4_cd8: a CD4:CD8 menu label (:data:`~cartsim.viz.page_params.CD4_CD8_RATIOS`); sets the
            first infusion's ``cd4_fraction`` (a label not in the menu keeps the config's value).
        anti_pd1_percent, lymphodepletion, chemotherapy, radiation_Gy, armored: the treatment
            controls (:mod:`cartsim.viz.page_treatments`), applied after every other parameter, so
            that they see the first infusion's day and product and whether PD-1 is on.
        scenario: accepted for Mesa's Reset and ignored.
        **params: any other :class:`~cartsim.CarTModel` keyword parameter (``dose``, ...).

    Mesa's Reset button builds a new model with ``type(model)(**params)``, so these names are
    exactly the keys of :func:`~cartsim.viz.page_params.model_params`.
    """

    def __init__(
        self,
        config: ExperimentConfig | dict | str | Path | None = None,
        *,
        rng=None,
        car_design: str | None = None,
        tumor_kind: str | None = None,
        cd4_cd8: str | None = None,
        anti_pd1_percent: float | None = None,
        lymphodepletion: bool | None = None,
        chemotherapy: bool | None = None,
        radiation_Gy: float | None = None,
        armored: bool | None = None,
        scenario=None,
        **params: Any,
    ):
        # Mesa 3.5's Reset also passes ``scenario`` (an empty mesa Scenario) to models that take
        # **kwargs; every setting of this model lives in its config, so it is not used.
        del scenario
        base = resolve_config(config, {})
        if car_design is not None:
            params["product"] = product_for_design(base, car_design)
        if tumor_kind is not None:
            if tumor_kind not in TUMOR_KINDS:
                raise ConfigError(f"tumor_kind: {tumor_kind!r} is not one of {', '.join(TUMOR_KINDS)}")
            params["tumor_type"] = TUMOR_KINDS[tumor_kind]
            if base.dosing:
                params["route"] = entry_route(tumor_kind, base.dosing[0].route)
        if cd4_cd8 in CD4_CD8_RATIOS and base.dosing:
            params["cd4_fraction"] = CD4_CD8_RATIOS[cd4_cd8]
        data = base.model_dump(mode="python")
        data = apply_overrides(data, resolve_shortcuts(params, data))
        data = with_treatments(data, anti_pd1_percent=anti_pd1_percent, lymphodepletion=lymphodepletion,
                               chemotherapy=chemotherapy, radiation_Gy=radiation_Gy, armored=armored)
        super().__init__(data, rng=rng)
        self.seed_used = base.seed if rng is None else rng  # shown on the page
