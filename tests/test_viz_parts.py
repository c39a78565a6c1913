"""Pieces of the teaching page: the tissue frame, the live plots and the words for students."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from cartsim.snapshot import Snapshot
from cartsim.viz.live_plots import CarTPlot, TumorPlot, count_label
from cartsim.viz.narration import escape_phenotypes, mechanisms_now, right_now, run_summary, what_you_see
from cartsim.viz.page_params import page_config
from cartsim.viz.tissue_frame import legend_html, overlay_bar_html, tissue_png
from cartsim.viz.tissue_image import legend_entries, tissue_rgba

from .conftest import CONFIGS

ANTIGENS = ("CD19", "CD22")


def snapshot(h=12, w=20, seed=0) -> Snapshot:
    rng = np.random.default_rng(seed)
    pheno = np.where(rng.random((h, w)) < 0.5, rng.integers(0, 4, (h, w)), -1).astype(np.int8)
    bits = (pheno[None] >> np.arange(2)[:, None, None]) & 1
    antigen = np.where((pheno >= 0) & (bits == 1), 10 ** rng.uniform(2, 5, (2, h, w)), 0)
    tcell = np.where(rng.random((h, w)) < 0.1, rng.integers(0, 3, (h, w)), -1).astype(np.int8)
    il6 = np.zeros((h, w), np.float32)
    il6[3:6, 4:9] = 50.0
    return Snapshot(day=1.5, antigens=ANTIGENS, site_um=15.0, tumor_phenotype=pheno,
                    tumor_antigen=antigen.astype(np.float32), tcell_state=tcell,
                    dead_age_h=np.full((h, w), np.inf, np.float32), cytokines={"IL6": il6})


def test_tissue_png_is_the_tissue_image_one_pixel_per_site():
    snap = snapshot()
    png = tissue_png(snap)
    decoded = np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))
    assert decoded.shape == (12, 20, 3)
    np.testing.assert_array_equal(decoded, tissue_rgba(snap)[..., :3])
    with_overlay = np.asarray(Image.open(io.BytesIO(tissue_png(snap, "IL6"))).convert("RGB"))
    np.testing.assert_array_equal(with_overlay, tissue_rgba(snap, overlay="IL6")[..., :3])
    assert not np.array_equal(with_overlay, decoded)


def test_legend_lists_every_phenotype_and_state_with_its_colour():
    html = legend_html(ANTIGENS)
    for label, rgb in legend_entries(ANTIGENS, include_dead=True):
        r, g, b = (round(c * 255) for c in rgb)
        assert f"background:rgb({r},{g},{b})\"></span>{label}</div>" in html


def test_overlay_bar_names_the_range_of_this_frame():
    snap = snapshot()
    html = overlay_bar_html(snap, "IL6", "IL-6")
    assert "IL-6 (pM)" in html and "0.05" in html and ">50<" in html  # max / 10**3 .. max
    empty = Snapshot(**{**snap.__dict__, "cytokines": {"IL6": np.zeros((12, 20), np.float32)}})
    assert "no IL-6 yet" in overlay_bar_html(empty, "IL6", "IL-6")


def timeseries(days=(0.0, 0.5, 1.0), tumor=(100, 60, 30)) -> pd.DataFrame:
    n = len(days)
    return pd.DataFrame({
        "day": days, "tumor_total": tumor,
        "tumor_CD19+CD22+": [t - 2 for t in tumor], "tumor_CD19-CD22+": [1] * n,
        "tumor_CD19+CD22-": [1] * n, "tumor_CD19-CD22-": [0] * n,
        "cart_total": [0, 50, 80][:n], "cart_active": [0, 40, 60][:n],
        "cart_engaged": [0, 10, 15][:n], "cart_exhausted": [0, 0, 5][:n],
        "IL6_max": [0.0, 3.0, 8.0][:n],
    })


def test_live_plots_draw_the_series_they_are_given():
    ts = timeseries()
    tumor = TumorPlot(ANTIGENS, 21.0, [0.5]).update(ts)
    line = tumor.lines["tumor_CD19+CD22+"]
    np.testing.assert_array_equal(line.get_ydata(), ts["tumor_CD19+CD22+"])
    np.testing.assert_array_equal(line.get_xdata(), ts["day"])
    assert tumor.ax.get_xlim() == (0.0, 21.0)
    cart = CarTPlot(21.0, [0.5]).update(ts)
    np.testing.assert_array_equal(cart.lines["IL6_max"].get_ydata(), ts["IL6_max"])
    assert cart.ax_cart.get_ylim()[1] >= 80
    png = cart.png()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert Image.open(io.BytesIO(png)).size == (468, 324)
    # Redrawing with a longer series changes the picture.
    longer = timeseries((0.0, 0.5, 1.0), (100, 60, 90))
    assert tumor.png() != TumorPlot(ANTIGENS, 21.0, [0.5]).update(longer).png()


def test_count_labels_are_plain_numbers():
    assert [count_label(v) for v in (0, 1, 10, 1000, 25_000, 2_000_000)] == [
        "0", "1", "10", "1k", "25k", "2M"]


@pytest.mark.parametrize("targets, logic, invisible", [
    (["CD19"], "single", ["CD19-CD22-", "CD19-CD22+"]),
    (["CD22"], "single", ["CD19-CD22-", "CD19+CD22-"]),
    (["CD19", "CD22"], "or", ["CD19-CD22-"]),
    (["CD19", "CD22"], "and", ["CD19-CD22-", "CD19+CD22-", "CD19-CD22+"]),
])
def test_escape_phenotypes_follow_the_car_logic(targets, logic, invisible):
    assert escape_phenotypes(ANTIGENS, targets, logic) == invisible


def test_right_now_tells_the_phase_of_the_run():
    config = page_config()  # 300 CAR-T cells of the CD19 CAR on day 2
    growing = timeseries((0.0, 0.5, 1.0), (100, 110, 120))
    assert "arrive on day 2" in right_now(config, growing)
    shrinking = timeseries((2.0, 2.5, 3.0), (100, 60, 30))
    text = right_now(config, shrinking)
    assert text.startswith("**Day 3.00:** 30 tumor cells, 80 CAR-T cells (15 killing, 5 exhausted).")
    assert "killing tumor cells" in text
    assert "1 tumor cell (3%) has lost what this CAR needs" in text  # CD19-CD22+
    relapse = timeseries((8.0, 8.5, 9.0), (10, 20, 40))
    relapse["tumor_CD19-CD22+"] = [8, 18, 38]
    relapse["tumor_CD19+CD22+"] = [1, 1, 1]
    assert "Relapse" in right_now(config, relapse)
    gone = timeseries((8.0, 8.5, 9.0), (3, 1, 0))
    gone[["tumor_CD19+CD22+", "tumor_CD19-CD22+", "tumor_CD19+CD22-"]] = 0
    assert "No tumor cells are left" in right_now(config, gone)


def test_right_now_reports_the_mechanisms_and_treatments_switched_on():
    config = page_config()
    plain = right_now(config, timeseries((2.0, 2.5, 3.0), (100, 60, 30)))
    assert "\n\n" not in plain and mechanisms_now(timeseries().iloc[-1]) == ""
    ts = timeseries((2.0, 2.5, 3.0), (100, 60, 30))  # 80 CAR-T cells at the end
    ts["cart_memory"] = [0, 4, 20]
    ts["cart_pd1_positive"] = [0, 10, 40]
    ts["anti_pd1_blockade"] = [0.7, 0.7, 0.7]
    ts["trogocytosis_escapes_total"] = [0, 1, 3]
    ts["fratricide_total"] = [0, 0, 1]
    ts["chemo_kills_total"] = [0, 5, 12]
    ts["radiation_kills_total"] = [400, 400, 400]
    ts["bystander_deaths_total"] = [0, 0, 7]
    ts["ifng_arrests_total"] = [0, 2, 9]
    text = right_now(config, ts)
    first, mechanisms = text.split("\n\n")
    assert first == plain
    assert ("**CAR-T cells:** 20 (25%) resting memory cells; 40 (50%) PD-1+, braked by tumor PD-L1 "
            "(anti-PD-1 blocks 70% of the brake).") in mechanisms
    assert ("**Trogocytosis:** 3 tumor cells escaped with too little antigen left; 1 CAR-T cell killed "
            "by other CAR-T (fratricide).") in mechanisms
    assert ("**Tumor cells killed so far:** 12 by chemotherapy, 400 by radiation, 7 by cytokines around "
            "the CAR-T (bystander).") in mechanisms
    assert mechanisms.endswith("IFN-γ has stopped 9 tumor cell divisions.")


def test_run_summary_names_what_is_switched_on():
    from cartsim.config.schema import TREATMENT_CONFIGS
    from cartsim.viz.narration import TREATMENT_WORDS
    from cartsim.viz.page_model import PageModel

    assert set(TREATMENT_WORDS) == set(TREATMENT_CONFIGS)
    summary = run_summary(page_config(CONFIGS / "chemo_radiation.yaml"))
    assert summary.endswith("seed 1. Also: 2 Gy radiation on day 0.5 (part of the tissue); chemotherapy on day 0.5.")
    config = PageModel(page_config(), cd4_cd8="1 CD4 : 3 CD8", memory=True, pd1=True, anti_pd1_percent=60,
                       lymphodepletion=True, armored=True).config
    assert run_summary(config).endswith(
        "Also: CD4/CD8 subsets (1 CD4 : 3 CD8); memory CAR-T; PD-1 suppression; lymphodepletion from day 0; "
        "anti-PD-1 blocking 60% from day 2; armored CAR secreting IL-12.")


def test_texts_for_students_name_this_experiment():
    config = page_config()
    text = what_you_see(config)
    assert "1.2 × 1.2 mm" in text and "CD19 and CD22" in text and "CD19 OR CD22 CAR" in text
    summary = run_summary(config, seed=7)
    assert summary == ("This run: dose 300 CAR-T cells (CD19 CAR) on day 2, entering from the "
                       "tissue edge; 1,200-cell solid (nodule) tumor; seed 7.")


def test_the_legend_is_what_the_models_populations_say():
    from cartsim import CarTModel
    from cartsim.snapshot import default_legend

    model = CarTModel({"tissue": {"width": 12, "height": 12}, "antigens": {"CD19": {}, "CD22": {}},
                       "tumor": {"initial": {"cells": 10}}, "dosing": [{"day": 0, "cells": 5, "product": "CAR19"}]})
    snap = model.snapshot()
    assert snap.legend == tuple(e for pop in model.populations for e in pop.legend())
    assert snap.legend == default_legend(("CD19", "CD22"))  # tumor phenotypes, then CAR-T states
    labels = [label for label, _ in legend_entries(snap, include_dead=True)]
    assert labels[:4] == ["CD19-CD22-", "CD19+CD22-", "CD19-CD22+", "CD19+CD22+"]
    assert labels[4:] == ["CAR-T active", "CAR-T engaged", "CAR-T exhausted", "dead tumor cell"]


def test_a_new_populations_legend_entries_are_drawn_with_colours_of_their_own():
    snap = snapshot()
    extra = Snapshot(**{**snap.__dict__, "legend": (*snap.legend_entries, ("macrophage_state", 0, "macrophage M1"),
                                                    ("macrophage_state", 1, "macrophage M2"))})
    entries = dict(legend_entries(extra))
    assert set(dict(legend_entries(snap))) < set(entries)
    assert entries["macrophage M1"] != entries["macrophage M2"]
    assert "macrophage M2</div>" in legend_html(extra)


def test_memory_cells_have_their_own_code_colour_and_legend_entry():
    from cartsim import CarTModel
    from cartsim.units import MEMORY_PICTURE_CODE

    model = CarTModel({"tissue": {"width": 30, "height": 30}, "time": {"duration_days": 6},
                       "tumor": {"initial": {"cells": 40}}, "dosing": [{"day": 0, "cells": 60, "product": "CAR19"}],
                       "car_t": {"memory": {"enabled": True, "formation_per_day": 5.0}}})
    model.run()
    memory_slots = model.cart.live_slots()[model.cart.memory[model.cart.live_slots()]]
    assert memory_slots.size > 0
    snap = model.snapshot()
    drawn = int((snap.tcell_state == MEMORY_PICTURE_CODE).sum())
    assert drawn == memory_slots.size  # one CAR-T per site: every memory cell is drawn as one
    entries = dict(legend_entries(snap))
    assert "CAR-T memory" in entries
    rgb = tissue_rgba(snap)[..., :3] / 255.0
    y, x = np.argwhere(snap.tcell_state == MEMORY_PICTURE_CODE)[0]
    np.testing.assert_allclose(rgb[y, x], entries["CAR-T memory"], atol=1 / 255)
    # without memory cells the legend is as before
    assert "CAR-T memory" not in dict(legend_entries(snapshot()))
