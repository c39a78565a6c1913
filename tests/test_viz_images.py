"""Tests of the picture-making layer: tissue images, legends and figures."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cartsim.snapshot import CAR_T_STATES, Snapshot, phenotype_names
from cartsim.viz.figures import save_figure, snapshots_figure, timeseries_figure
from cartsim.viz.tissue_image import (
    BACKGROUND,
    CAR_T_COLOURS,
    DEAD_GREY,
    legend_entries,
    phenotype_palette,
    shade_factor,
    tissue_rgba,
)

ANTIGENS = ("CD19", "CD22")
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def rgb255(colour) -> np.ndarray:
    return np.round(np.asarray(colour, dtype=float) * 255).astype(int)


def close(pixel, colour, tol=2) -> bool:
    return bool(np.all(np.abs(pixel[:3].astype(int) - rgb255(colour)) <= tol))


def make_snapshot(
    h=6, w=8, antigens=ANTIGENS, day=1.0, tumors=(), tcells=(), dead=(), cytokines=None,
    site_um=20.0,
) -> Snapshot:
    """``tumors``: (row, col, code, density); ``tcells``: (row, col, state); ``dead``: (row, col, age_h)."""
    n = len(antigens)
    pheno = np.full((h, w), -1, np.int8)
    antigen = np.zeros((n, h, w), np.float32)
    for r, c, code, density in tumors:
        pheno[r, c] = code
        for i in range(n):
            if code >> i & 1:
                antigen[i, r, c] = density
    state = np.full((h, w), -1, np.int8)
    for r, c, s in tcells:
        state[r, c] = s
    age = np.full((h, w), np.inf, np.float32)
    for r, c, a in dead:
        age[r, c] = a
    return Snapshot(day=day, antigens=tuple(antigens), site_um=site_um, tumor_phenotype=pheno,
                    tumor_antigen=antigen, tcell_state=state, dead_age_h=age,
                    cytokines=dict(cytokines or {}))


def luminance(pixel) -> float:
    r, g, b = pixel[:3].astype(float)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


# ----------------------------------------------------------------------------- palette


@pytest.mark.parametrize("n", [1, 2, 3, 4])
def test_palette_distinct_deterministic(n):
    pal = phenotype_palette(n)
    assert pal.shape == (2**n, 3)
    assert np.all((pal >= 0) & (pal <= 1))
    assert len({tuple(np.round(c, 3)) for c in pal}) == 2**n  # all codes distinct
    np.testing.assert_array_equal(pal, phenotype_palette(n))
    # the all-lost colour is the same striking colour whatever the number of antigens
    np.testing.assert_allclose(pal[0], phenotype_palette(2)[0])
    # CAR-T colours differ from every tumor colour
    for colour in CAR_T_COLOURS.values():
        assert np.min(np.abs(pal - np.asarray(colour)).sum(axis=1)) > 0.3


def test_palette_rejects_bad_sizes():
    with pytest.raises(ValueError):
        phenotype_palette(0)
    with pytest.raises(ValueError):
        phenotype_palette(5)


def test_legend_entries():
    entries = legend_entries(ANTIGENS)
    labels = [label for label, _ in entries]
    assert labels[:4] == phenotype_names(ANTIGENS)
    assert labels[4:] == [f"CAR-T {s}" for s in CAR_T_STATES]
    for _, rgb in entries:
        assert len(rgb) == 3 and all(0.0 <= v <= 1.0 for v in rgb)
    assert legend_entries(ANTIGENS, include_dead=True)[-1][0] == "dead tumor cell"


def test_add_legend():
    from matplotlib.figure import Figure

    from cartsim.viz.tissue_image import add_legend

    ax = Figure().subplots()
    legend = add_legend(ax, ANTIGENS)
    assert [t.get_text() for t in legend.get_texts()][:4] == phenotype_names(ANTIGENS)


# ----------------------------------------------------------------------------- tissue image


def test_shape_dtype_and_background():
    snap = make_snapshot(h=5, w=7)
    img = tissue_rgba(snap)
    assert img.shape == (5, 7, 4) and img.dtype == np.uint8
    assert np.all(img[..., 3] == 255)
    assert np.all(np.abs(img[..., :3].astype(int) - rgb255(BACKGROUND)) <= 1)


@pytest.mark.parametrize("antigens", [("CD19",), ANTIGENS, ("CD19", "CD22", "BCMA")])
def test_each_phenotype_gets_its_colour(antigens):
    n = len(antigens)
    # mid-range density (sqrt(1e2 * 1e5)) = unshaded base colour
    mid = 10**3.5
    tumors = [(0, code, code, mid) for code in range(2**n)]
    snap = make_snapshot(h=2, w=2**n, antigens=antigens, tumors=tumors)
    img = tissue_rgba(snap)
    pal = phenotype_palette(n)
    for code in range(2**n):
        assert close(img[0, code], pal[code]), (code, img[0, code], rgb255(pal[code]))
    # untouched row stays background
    assert all(close(img[1, c], BACKGROUND) for c in range(2**n))


def test_cart_drawn_on_top_of_tumor():
    tumors = [(1, c, 3, 1e4) for c in range(3)]
    tcells = [(1, c, s) for c, s in enumerate(range(len(CAR_T_STATES)))]
    snap = make_snapshot(tumors=tumors, tcells=tcells, dead=[(1, 0, 1.0)])
    img = tissue_rgba(snap)
    for c, state in enumerate(CAR_T_STATES):
        assert close(img[1, c], CAR_T_COLOURS[state], tol=1)
    # a CAR-T cell on an empty site too
    snap = make_snapshot(tcells=[(3, 3, 2)])
    assert close(tissue_rgba(snap)[3, 3], CAR_T_COLOURS["exhausted"], tol=1)


def test_dead_cells_fade_from_grey_to_background():
    ages = [0.0, 3.0, 6.0, 9.0, 12.0, 30.0]
    snap = make_snapshot(h=1, w=len(ages) + 1, dead=[(0, i, a) for i, a in enumerate(ages)])
    img = tissue_rgba(snap, fade_hours=12.0)
    assert close(img[0, 0], DEAD_GREY, tol=1)
    assert close(img[0, 4], BACKGROUND, tol=1)  # faded out exactly at fade_hours
    assert close(img[0, 5], BACKGROUND, tol=1)
    assert close(img[0, 6], BACKGROUND, tol=1)  # never died (inf)
    distance = [np.abs(img[0, i, :3].astype(int) - rgb255(BACKGROUND)).sum() for i in range(5)]
    assert all(a > b for a, b in zip(distance, distance[1:]))  # strictly fading
    # halfway = halfway colour
    half = (np.asarray(DEAD_GREY) + np.asarray(BACKGROUND)) / 2
    assert close(img[0, 2], half, tol=2)
    # a live tumor cell covers the dead-cell grey
    snap = make_snapshot(tumors=[(0, 0, 3, 10**3.5)], dead=[(0, 0, 0.0)])
    assert close(tissue_rgba(snap)[0, 0], phenotype_palette(2)[3])


def test_density_shading_is_monotone():
    densities = [10.0, 1e2, 3e2, 1e3, 3e3, 1e4, 3e4, 1e5, 1e6]
    for code in (1, 2, 3):
        tumors = [(0, i, code, d) for i, d in enumerate(densities)]
        img = tissue_rgba(make_snapshot(h=1, w=len(densities), tumors=tumors))
        lum = [luminance(img[0, i]) for i in range(len(densities))]
        inside = lum[1:-1]  # within the 1e2..1e5 range: strictly darker with more antigen
        assert all(a > b for a, b in zip(inside, inside[1:])), (code, lum)
        assert lum[0] == lum[1] and lum[-1] == lum[-2]  # clipped outside the range
    # mean of log density over present antigens only: one lost antigen does not lighten
    t = (4.0 - 2.0) / 3.0  # log10(1e4) within log10(1e2)..log10(1e5)
    for code in (1, 2, 3):
        img = tissue_rgba(make_snapshot(h=1, w=1, tumors=[(0, 0, code, 1e4)]))
        expected = shade_factor(np.array([t]), phenotype_palette(2)[code][None])[0]
        assert close(img[0, 0], expected, tol=1)
    # the shading function itself: t=0.5 is the base colour
    base = np.array([[0.2, 0.4, 0.6]], np.float32)
    np.testing.assert_allclose(shade_factor(np.array([0.5]), base), base, atol=1e-6)


def test_double_negative_is_unshaded():
    snap = make_snapshot(h=1, w=1, tumors=[(0, 0, 0, 0.0)])
    assert close(tissue_rgba(snap)[0, 0], phenotype_palette(2)[0])


def test_overlay_changes_only_sites_with_cytokine():
    h, w = 6, 8
    il6 = np.zeros((h, w), np.float32)
    il6[:, :4] = np.logspace(-1, 2, h * 4).reshape(h, 4)  # left half has cytokine
    tumors = [(0, 0, 3, 1e3), (0, 6, 3, 1e3)]
    tcells = [(1, 1, 0), (1, 6, 0)]
    snap = make_snapshot(h=h, w=w, tumors=tumors, tcells=tcells, cytokines={"IL6": il6})
    plain = tissue_rgba(snap)
    over = tissue_rgba(snap, overlay="IL6", overlay_range_pM=(0.05, 100.0))
    changed = np.any(plain != over, axis=-1)
    cells = (snap.tumor_phenotype >= 0) | (snap.tcell_state >= 0)
    assert np.all(changed[:, :4] | cells[:, :4])  # every empty site with cytokine is tinted
    assert not changed[:, 4:].any()  # no cytokine: untouched
    assert not changed[cells].any()  # cells are drawn above the overlay
    # more cytokine = further from background
    dist = np.abs(over[..., :3].astype(int) - rgb255(BACKGROUND)).sum(-1)
    assert dist[5, 3] > dist[2, 3] > dist[0, 2]
    # automatic range works and unknown names fail clearly
    assert np.any(tissue_rgba(snap, overlay="IL6") != plain)
    with pytest.raises(KeyError):
        tissue_rgba(snap, overlay="TNF")
    # an all-zero field draws nothing
    zero = make_snapshot(h=h, w=w, cytokines={"IL6": np.zeros((h, w), np.float32)})
    np.testing.assert_array_equal(tissue_rgba(zero, overlay="IL6"), tissue_rgba(zero))


def test_large_random_snapshot():
    rng = np.random.default_rng(1)
    n = 50
    pheno = np.where(rng.random((n, n)) < 0.5, rng.integers(0, 4, (n, n)), -1).astype(np.int8)
    snap = Snapshot(
        day=2.0, antigens=ANTIGENS, site_um=10.0, tumor_phenotype=pheno,
        tumor_antigen=(rng.random((2, n, n)) * 1e5).astype(np.float32),
        tcell_state=np.where(rng.random((n, n)) < 0.1, rng.integers(0, 3, (n, n)), -1).astype(np.int8),
        dead_age_h=np.where(rng.random((n, n)) < 0.2, rng.random((n, n)) * 20, np.inf).astype(np.float32),
        cytokines={"IL6": rng.random((n, n)).astype(np.float32)},
    )
    img = tissue_rgba(snap, overlay="IL6")
    assert img.shape == (n, n, 4) and img.dtype == np.uint8


# ----------------------------------------------------------------------------- figures


def make_timeseries(n=40) -> pd.DataFrame:
    day = np.linspace(0, 30, n)
    cart = np.where(day > 5, 800 * (day - 5) * np.exp(-(day - 5) / 4), 0.0)
    data = {"day": day, "cart_total": cart, "cart_active": cart * 0.5,
            "cart_engaged": cart * 0.3, "cart_exhausted": cart * 0.2,
            "kills_total": np.cumsum(cart) * 0.05}
    total = np.zeros(n)
    for code, name in enumerate(phenotype_names(ANTIGENS)):
        counts = np.floor(1000 * np.exp(-0.2 * day * (code == 3)) * (0.02 if code == 0 else 1))
        counts[-3:] = 0 if code == 1 else counts[-3:]  # extinction: zeros on a log axis
        data[f"tumor_{name}"] = counts
        total += counts
    data["tumor_total"] = total
    for k, name in enumerate(("IL2", "IFNg", "IL6")):
        data[f"{name}_total"] = cart * 1e3 * (k + 1)
        data[f"{name}_max"] = cart * 0.01 * (k + 1)
    return pd.DataFrame(data)


def check_png(path):
    assert path.exists()
    data = path.read_bytes()
    assert data[:8] == PNG_MAGIC
    assert len(data) > 10_000
    assert not [p for p in path.parent.iterdir() if p != path and p.name.startswith(".")]


def test_timeseries_figure_png(tmp_path):
    summary = {"infusion_days": [5.0, 12.0], "day_of_nadir": 14.0, "relapse_day": None}
    fig = timeseries_figure(make_timeseries(), summary)
    axes = fig.get_axes()
    assert len(axes) == 4
    assert axes[0].get_yscale() == "symlog" and axes[3].get_yscale() == "log"
    assert any("CRS" in t.get_text() for t in axes[3].get_legend().get_texts())
    labels = [t.get_text() for t in axes[0].get_legend().get_texts()]
    assert set(phenotype_names(ANTIGENS)) <= set(labels)
    assert "CAR-T infusion" in labels and not any("relapse" in lab for lab in labels)
    path = save_figure(fig, tmp_path / "ts.png")
    check_png(path)


def test_timeseries_figure_without_summary_or_cytokines(tmp_path):
    ts = make_timeseries().drop(columns=[c for c in make_timeseries() if c.startswith("I")])
    fig = timeseries_figure(ts)
    check_png(save_figure(fig, tmp_path / "ts.png"))


@pytest.mark.parametrize("count", [1, 3, 7])
def test_snapshots_figure_png(tmp_path, count):
    il6 = np.outer(np.linspace(0, 1, 6), np.linspace(0, 1, 8)).astype(np.float32) * 50
    snaps = [make_snapshot(day=d, tumors=[(2, 2, 3, 1e4), (3, 3, 0, 0)], tcells=[(4, 4, 1)],
                           cytokines={"IL6": il6}) for d in np.arange(count) * 3.5]
    fig = snapshots_figure(snaps, overlay="IL6" if count == 3 else None)
    titles = [ax.get_title() for ax in fig.get_axes() if ax.get_title()]
    assert titles[:2] == ["day 0", "day 3.5"][:count]
    assert len(fig.legends) == 1
    ax = fig.get_axes()[0]
    assert ax.get_images()[0].get_extent() == pytest.approx([0, 8 * 0.02, 6 * 0.02, 0])
    check_png(save_figure(fig, tmp_path / "snaps.png"))


def test_snapshots_figure_empty():
    with pytest.raises(ValueError):
        snapshots_figure([])


def test_save_figure_svg_and_replace(tmp_path):
    fig = timeseries_figure(make_timeseries())
    svg = save_figure(fig, tmp_path / "sub" / "ts.svg")
    assert svg.read_bytes().lstrip().startswith((b"<?xml", b"<svg"))
    target = tmp_path / "ts.png"
    target.write_bytes(b"old")
    save_figure(fig, target)
    check_png(target)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sub", "ts.png"]


def test_save_figure_failure_leaves_no_temporary(tmp_path):
    fig = timeseries_figure(make_timeseries())
    with pytest.raises(ValueError):
        save_figure(fig, tmp_path / "ts.notaformat")
    assert list(tmp_path.iterdir()) == []


def test_no_pyplot_figures_leak():
    import matplotlib.pyplot as plt

    before = plt.get_fignums()
    timeseries_figure(make_timeseries())
    snapshots_figure([make_snapshot()])
    assert plt.get_fignums() == before
