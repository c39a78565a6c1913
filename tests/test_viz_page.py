"""The teaching page without a browser: its parameters, its model, and its components (solara.render)."""

from __future__ import annotations

import io

import ipyvuetify as v
import ipywidgets
import numpy as np
import pytest
import solara
import yaml
from PIL import Image

from cartsim.config import ConfigError, load_config
from cartsim.config.schema import ChemotherapyConfig, LymphodepletionConfig, RadiationConfig
from cartsim.viz.app import TeachingPage
from cartsim.viz.page_model import PageModel
from cartsim.viz.page_params import (
    PAGE_STEP_H,
    design_labels,
    initial_kwargs,
    model_params,
    page_config,
    product_for_design,
    teaching_config,
)
from cartsim.viz.page_treatments import BRIDGING_LEAD_DAYS, LYMPHODEPLETION_LEAD_DAYS

from .conftest import CONFIGS


# --------------------------------------------------------------------------- parameters


def test_classroom_experiment_offers_four_car_designs_on_two_antigens():
    config = page_config()
    assert config.antigen_names == ("CD19", "CD22")
    assert design_labels(config) == {"CD19": "CAR19", "CD22": "CAR22", "CD19 OR CD22": "CAR19or22",
                                     "CD19 AND CD22": "CAR19and22"}
    assert config.time.record_every_h == PAGE_STEP_H == 1.0
    params = model_params(config)
    assert params["car_design"]["values"] == ["CD19", "CD22", "CD19 OR CD22", "CD19 AND CD22"]
    assert params["dose"]["value"] == teaching_config()["dosing"][0]["cells"]


def test_page_starts_from_a_yaml_file_and_offers_its_products():
    config = page_config(CONFIGS / "dual_target.yaml")
    source = yaml.safe_load((CONFIGS / "dual_target.yaml").read_text())
    params = initial_kwargs(model_params(config))
    assert params["dose"] == source["dosing"][0]["cells"]
    assert params["infusion_day"] == source["dosing"][0]["day"]
    assert params["negative_fraction"] == source["antigens"]["CD19"]["negative_fraction"]
    assert params["car_design"] == "CD19 OR CD22"
    assert list(design_labels(config).values()) == [p["name"] for p in source["products"]]
    assert config.time.record_every_h == PAGE_STEP_H  # page steps are short, whatever the file says
    assert config.tissue.width == source["tissue"]["width"]


def test_a_file_without_infusion_gets_one_and_bad_files_are_config_errors(tmp_path):
    path = tmp_path / "no_dose.yaml"
    path.write_text("products: [{name: CARX, targets: [CD19]}]\ndosing: []\n")
    config = page_config(path)
    assert [(d.product, d.day) for d in config.dosing] == [("CARX", 0.0)]
    bad = tmp_path / "bad.yaml"
    bad.write_text("tumor: {doubling_tme_h: 30}\n")
    with pytest.raises(ConfigError, match="doubling_tme_h"):
        page_config(bad)


def test_slider_ranges_widen_to_hold_the_experiments_values(tmp_path):
    path = tmp_path / "big.yaml"
    path.write_text("dosing: [{day: 1, cells: 5000, product: CAR19}]\n"
                    "tissue: {width: 100, height: 100}\n")
    params = model_params(page_config(path))
    assert params["dose"]["max"] == 5000 and params["dose"]["value"] == 5000


def test_page_model_maps_menu_labels_onto_the_config():
    base = page_config()
    m = PageModel(base, rng=3, car_design="CD19 AND CD22", tumor_kind="liquid", dose=123)
    assert m.config.dosing[0].product == "CAR19and22"
    assert m.config.dosing[0].cells == 123
    assert m.config.tumor.initial.type == "dispersed"
    assert m.config.dosing[0].route == "uniform"
    solid = PageModel(base, car_design="CD22", tumor_kind="solid")
    assert (solid.config.tumor.initial.type, solid.config.dosing[0].route) == ("nodule", "edge")
    assert product_for_design(base, "CAR22") == "CAR22"  # product names work too
    with pytest.raises(ConfigError, match="CD20"):
        PageModel(base, car_design="CD20")
    with pytest.raises(ConfigError, match="tumor_kind"):
        PageModel(base, tumor_kind="gas")


def test_page_model_is_the_same_run_as_cartsim_model_with_the_same_settings():
    from cartsim import CarTModel

    base = page_config()
    a = PageModel(base, rng=5, car_design="CD19 OR CD22", dose=400, infusion_day=0.5)
    b = CarTModel(base, rng=5, product="CAR19or22", dose=400, infusion_day=0.5)
    for _ in range(18):
        a.step()
        b.step()
    pa = a.datacollector.get_model_vars_dataframe()
    pb = b.datacollector.get_model_vars_dataframe()
    assert pa.equals(pb)


def test_page_model_accepts_mesas_reset_arguments():
    """Mesa's Reset passes every parameter plus an empty ``scenario``."""
    from mesa.experimental.scenarios import Scenario

    params = initial_kwargs(model_params(page_config()))
    m = PageModel(**params, scenario=Scenario())
    assert m.config.dosing[0].cells == params["dose"]


# --------------------------------------------------------------------------- rendered page


def render_page(config=None):
    # AppLayout is what Solara's server wraps a page in; it also shows SolaraViz's sidebar.
    return solara.render(solara.AppLayout(children=[TeachingPage(config)]), handle_error=False)[1]


def button(rc, label):
    return rc.find(v.Btn, children=[label]).widget


def mesa_time(rc) -> float:
    [span] = [w for w in rc.find(v.Html, tag="span").widgets
              if w.children and str(w.children[0]).startswith("Time: ")]
    return float(span.children[0].removeprefix("Time: "))


def html_with_class(rc, cls: str) -> str:
    """The inner HTML of the one element with class ``cls`` (on the element or inside it)."""
    found = [w.unsafe_innerHTML for w in rc.find(solara.widgets.HTML).widgets
             if cls in str(w.attributes.get("class", "")).split()
             or f'class="{cls}"' in (w.unsafe_innerHTML or "")]
    assert len(found) == 1, f"{len(found)} elements with class {cls}"
    return found[0]


def cart_count(rc) -> int:
    import re

    text = html_with_class(rc, "cartsim-now")
    return int(re.search(r"([\d,]+) CAR-T cells", text).group(1).replace(",", ""))


def tissue_image(rc) -> np.ndarray:
    img = rc.find(ipywidgets.Image, _dom_classes=("solara-image", "cartsim-tissue")).widget
    return np.asarray(Image.open(io.BytesIO(img.value)))


def test_page_renders_controls_tissue_and_plots():
    rc = render_page()
    for label in ("Reset", "▶", "Step"):
        button(rc, label)
    assert mesa_time(rc) == 0.0
    assert tissue_image(rc).shape[:2] == (80, 80)  # one pixel per site
    images = rc.find(ipywidgets.Image).widgets
    assert len(images) == 3  # the tissue and two live plots
    assert html_with_class(rc, "cartsim-day") == "Day 0.00"
    legend = html_with_class(rc, "cartsim-legend")
    for entry in ("CD19+CD22+", "CD19-CD22+", "CD19+CD22-", "CD19-CD22-", "CAR-T engaged",
                  "dead tumor cell"):
        assert entry in legend
    labels = [w.label for w in rc.find(v.Slider).widgets]
    for label in ("Dose (CAR-T cells)", "Infusion day", "Antigen loss per division",
                  "Antigen-negative at start", "Kill rate per hour"):
        assert label in labels
    assert rc.find(v.Select, label="CAR design (targets)").widget.items == [
        "CD19", "CD22", "CD19 OR CD22", "CD19 AND CD22"]


def test_step_advances_time_and_redraws():
    rc = render_page()
    before = tissue_image(rc)
    plots_before = [w.value for w in rc.find(ipywidgets.Image).widgets]
    button(rc, "Step").click()
    assert mesa_time(rc) == 1.0
    assert html_with_class(rc, "cartsim-day") == f"Day {1 / 24:.2f}"
    assert not np.array_equal(tissue_image(rc), before)
    plots_after = [w.value for w in rc.find(ipywidgets.Image).widgets]
    assert all(a != b for a, b in zip(plots_before, plots_after))
    assert "Day 0.04" in html_with_class(rc, "cartsim-now")


def test_reset_restarts_with_the_sliders_values():
    rc = render_page()
    button(rc, "Step").click()
    rc.find(v.Slider, label="Dose (CAR-T cells)").widget.v_model = 1500
    rc.find(v.Slider, label="Infusion day").widget.v_model = 0.0
    rc.find(v.Select, label="CAR design (targets)").widget.v_model = "CD19 OR CD22"
    assert "dose 300 CAR-T cells" in html_with_class(rc, "cartsim-run")  # not before Reset
    button(rc, "Reset").click()
    assert mesa_time(rc) == 0.0
    run = html_with_class(rc, "cartsim-run")
    assert "dose 1,500 CAR-T cells (CD19 OR CD22 CAR) on day 0" in run
    button(rc, "Step").click()
    # All 1,500 enter in the first hour (a few may already have divided or died), not 300.
    assert 1450 <= cart_count(rc) <= 1550


def test_overlay_menu_changes_the_picture_and_shows_a_colour_bar():
    rc = render_page()
    rc.find(v.Slider, label="Infusion day").widget.v_model = 0.0
    button(rc, "Reset").click()
    for _ in range(3):
        button(rc, "Step").click()
    plain = tissue_image(rc)
    toggle = rc.find(v.BtnToggle).widget
    assert [b.children[0] for b in toggle.children] == ["none", "IL-2", "IFN-γ", "IL-6"]
    toggle.v_model = 3  # IL-6: secreted by the CAR-T cells now engaging
    assert not np.array_equal(tissue_image(rc), plain)
    assert "IL-6 (pM)" in html_with_class(rc, "cartsim-overlay-bar")
    toggle.v_model = 0
    assert np.array_equal(tissue_image(rc), plain)


def test_every_page_has_its_own_model():
    a = render_page()
    b = render_page()
    button(a, "Step").click()
    button(a, "Step").click()
    assert mesa_time(a) == 2.0
    assert mesa_time(b) == 0.0


def test_page_from_a_file_shows_its_tissue_size():
    rc = render_page(str(CONFIGS / "liquid_tumor.yaml"))
    assert tissue_image(rc).shape[:2] == (120, 120)
    assert rc.find(v.Select, label="Tumor type").widget.v_model == "liquid"
    assert rc.find(v.Select, label="CAR design (targets)").widget.items == ["CD19"]


def test_page_switches_the_t_cell_mechanisms():
    """The CD4:CD8 menu and the mechanism switches start at the config's values (so the first model
    is the config's) and set the config when changed."""
    base = page_config()
    params = model_params(base)
    assert params["cd4_cd8"]["value"] == "no subsets"
    switches = ("memory", "pd1", "trogocytosis", "ifng_bystander")
    assert [params[k]["value"] for k in switches] == [False] * 4
    first = initial_kwargs(params)
    assert PageModel(**first).config == base
    m = PageModel(base, rng=1, cd4_cd8="1 CD4 : 1 CD8", memory=True, pd1=True, trogocytosis=True,
                  ifng_bystander=True)
    assert m.config.dosing[0].cd4_fraction == 0.5
    assert m.config.car_t.memory.enabled and m.config.car_t.pd1.enabled and m.config.car_t.trogocytosis.enabled
    assert m.config.tumor.ifng_bystander.enabled
    for _ in range(3):
        m.step()
    assert "cart_memory" in m._census and "cart_cd4" in m._census


def test_page_controls_are_grouped_dose_escape_biology_treatments():
    assert list(model_params(page_config())) == [
        "config", "rng", "dose", "infusion_day", "car_design", "antigen_loss_probability",
        "negative_fraction", "kill_rate_per_h", "tumor_kind", "cd4_cd8",
        "memory", "trogocytosis", "ifng_bystander", "pd1",
        "anti_pd1_percent", "lymphodepletion", "chemotherapy", "radiation_Gy", "armored"]


TREATMENTS_OFF = {"anti_pd1_percent": 0, "lymphodepletion": False, "chemotherapy": False,
                  "radiation_Gy": 0.0, "armored": False, "ifng_bystander": False}


@pytest.mark.parametrize("name, on", [
    ("quickstart.yaml", {}),
    ("lymphodepletion.yaml", {"lymphodepletion": True}),
    ("chemo_radiation.yaml", {"chemotherapy": True, "radiation_Gy": 2.0}),
    ("pd1_blockade.yaml", {"anti_pd1_percent": 90}),
    ("armored_il12.yaml", {"armored": True}),
])
def test_treatment_controls_start_at_the_files_treatments(name, on):
    config = page_config(CONFIGS / name)
    first = initial_kwargs(model_params(config))
    assert {k: first[k] for k in TREATMENTS_OFF} == TREATMENTS_OFF | on
    assert PageModel(**first).config == config  # the first model is the file's experiment


def test_ifng_bystander_switch_starts_at_the_files_value(tmp_path):
    path = tmp_path / "bystander.yaml"
    path.write_text("tumor: {ifng_bystander: {enabled: true, death_rate_per_day: 0.5}}\n")
    config = page_config(path)
    first = initial_kwargs(model_params(config))
    assert first["ifng_bystander"] is True
    assert PageModel(**first).config == config
    off = PageModel(config, ifng_bystander=False).config.tumor.ifng_bystander
    assert not off.enabled and off.death_rate_per_day == 0.5


def test_lymphodepletion_switch_adds_the_schemas_window_before_the_first_infusion():
    base = page_config()
    [t] = PageModel(base, lymphodepletion=True, infusion_day=5.0).config.treatments
    assert t == LymphodepletionConfig(kind="lymphodepletion", day=5.0 - LYMPHODEPLETION_LEAD_DAYS)
    assert t.day < 5.0
    [early] = PageModel(base, lymphodepletion=True, infusion_day=1.0).config.treatments
    assert early.day == 0.0  # not before the run starts
    assert PageModel(base, lymphodepletion=False).config.treatments == []
    # A file's own lymphodepletion: the switch is on, keeps it as it is, and off removes it.
    file = page_config(CONFIGS / "lymphodepletion.yaml")
    assert PageModel(file, lymphodepletion=True, infusion_day=3.0).config.treatments == file.treatments
    assert PageModel(file, lymphodepletion=False).config.treatments == []


def test_chemotherapy_switch_and_radiation_slider():
    base = page_config()  # the infusion on day 2
    day = 2.0 - BRIDGING_LEAD_DAYS
    treatments = PageModel(base, chemotherapy=True, radiation_Gy=4.0).config.treatments
    assert sorted(treatments, key=lambda t: t.kind) == [
        ChemotherapyConfig(kind="chemotherapy", day=day),
        RadiationConfig(kind="radiation", day=day, dose_Gy=4.0, region=None)]  # the whole tissue
    assert PageModel(base, chemotherapy=False, radiation_Gy=0.0).config.treatments == []
    # A file's treatments: the radiation slider sets their dose and keeps their time and region.
    file = page_config(CONFIGS / "chemo_radiation.yaml")
    [radiation] = [t for t in file.treatments if t.kind == "radiation"]
    moved = PageModel(file, chemotherapy=True, radiation_Gy=6.0).config.treatments
    assert moved == [radiation.model_copy(update={"dose_Gy": 6.0}) if t.kind == "radiation" else t
                     for t in file.treatments]
    assert PageModel(file, chemotherapy=False, radiation_Gy=0.0).config.treatments == []


def test_anti_pd1_slider_is_the_blockade_and_acts_with_pd1_on():
    base = page_config()
    [t] = PageModel(base, pd1=True, anti_pd1_percent=40).config.treatments
    assert (t.kind, t.blockade, t.day) == ("anti_pd1", 0.4, base.dosing[0].day)
    assert t.day + t.duration_days >= base.time.duration_days  # to the end of the run
    assert PageModel(base, pd1=True, anti_pd1_percent=0).config.treatments == []
    off = PageModel(base, pd1=False, anti_pd1_percent=40).config
    assert off.treatments == [] and not off.car_t.pd1.enabled  # nothing to block
    file = page_config(CONFIGS / "pd1_blockade.yaml")
    assert [t.blockade for t in PageModel(file, anti_pd1_percent=50).config.treatments] == [0.5]
    # Switching the file's PD-1 off also leaves its antibody out (the experiment could not hold it).
    first = initial_kwargs(model_params(file))
    assert PageModel(**(first | {"pd1": False})).config.treatments == []


def test_armored_switch_adds_the_il12_payload_and_cytokine_to_the_dosed_product():
    shipped = load_config(CONFIGS / "armored_il12.yaml")
    base = page_config()
    assert "IL12" not in base.cytokines
    config = PageModel(base, car_design="CD19 OR CD22", armored=True).config
    assert config.product("CAR19or22").armored == shipped.products[0].armored
    assert config.cytokines["IL12"] == shipped.cytokines["IL12"]
    assert [p.name for p in config.products if p.armored is not None] == ["CAR19or22"]
    assert PageModel(base, armored=False).config == base
    file = page_config(CONFIGS / "armored_il12.yaml")
    plain = PageModel(file, armored=False).config
    assert plain.products[0].armored is None and plain.cytokines == file.cytokines



def test_reset_applies_the_biology_and_treatment_controls():
    rc = render_page()
    rc.find(v.Checkbox, label="Lymphodepletion before the dose").widget.v_model = True
    rc.find(v.Slider, label="Radiation before the dose (Gy)").widget.v_model = 2.0
    rc.find(v.Checkbox, label="IFN-γ slows tumor cells nearby").widget.v_model = True
    assert "Also:" not in html_with_class(rc, "cartsim-run")  # not before Reset
    button(rc, "Reset").click()
    run = html_with_class(rc, "cartsim-run")
    assert "IFN-γ bystander effect" in run
    assert "lymphodepletion from day 0" in run and "2 Gy radiation on day 1.5" in run
