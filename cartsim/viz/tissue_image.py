"""Turn a :class:`~cartsim.snapshot.Snapshot` into an RGBA image, with bulk numpy only.

Layers, bottom to top:

1. background: a light tissue colour;
2. dead tumor cells: grey, fading linearly to the background over ``fade_hours``;
3. optional cytokine overlay: a semi-transparent, log-scaled colormap whose opacity grows
   with concentration (sites without cytokine are left untouched);
4. live tumor cells, coloured by phenotype and shaded by antigen density (darker = more);
5. CAR-T cells, coloured by state.

Colours (Okabe-Ito / Paul Tol / IBM colour-blind-safe palettes):

* all antigens present: blue; each single antigen loss: orange, bluish green, sky blue, olive;
  all antigens lost ("double negative" for two antigens): magenta; other multiple losses
  (3-4 antigens only): further Tol colours, in code order;
* CAR-T: active = cyan, engaged = yellow, exhausted = near-black, so that T cells stand out
  from every tumor colour by lightness.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Union

import numpy as np

from cartsim.snapshot import TCELL_PICTURE_STATES, Snapshot, default_legend

# How cytokine names are written for people; any other name is shown as configured.
_CYTOKINE_LABELS = {"IL2": "IL-2", "IL6": "IL-6", "IFNG": "IFN-γ", "TNF": "TNF-α", "TNFA": "TNF-α",
                    "IL10": "IL-10", "IL12": "IL-12"}


def cytokine_label(name: str) -> str:
    """``"IFNg"`` -> ``"IFN-γ"``: the usual spelling of a cytokine name, else the name itself."""
    return _CYTOKINE_LABELS.get(name.upper().replace("-", ""), name)

__all__ = [
    "BACKGROUND",
    "CAR_T_COLOURS",
    "DEAD_GREY",
    "add_legend",
    "cytokine_label",
    "legend_entries",
    "legend_handles",
    "overlay_colormap",
    "overlay_range",
    "phenotype_palette",
    "shade_factor",
    "tissue_rgba",
]

MAX_ANTIGENS = 4


def _hex(code: str) -> tuple[float, float, float]:
    code = code.lstrip("#")
    return tuple(int(code[i : i + 2], 16) / 255.0 for i in (0, 2, 4))  # type: ignore[return-value]


BACKGROUND = _hex("#F5ECE3")  # pale tissue
DEAD_GREY = _hex("#8F8F8F")
ALL_PRESENT = _hex("#0072B2")  # Okabe-Ito blue
ALL_LOST = _hex("#DC267F")  # IBM magenta: the striking escape phenotype
SINGLE_LOSS = tuple(_hex(c) for c in ("#E69F00", "#009E73", "#56B4E9", "#999933"))
MULTI_LOSS = tuple(
    _hex(c)
    for c in (
        "#882255",  # wine
        "#44AA99",  # teal
        "#CC6677",  # rose
        "#332288",  # indigo
        "#DDCC77",  # sand
        "#117733",  # green
        "#8C510A",  # brown
        "#AA4499",  # purple
        "#661100",  # dark brown
        "#6699CC",  # steel blue
    )
)
CAR_T_COLOURS: dict[str, tuple[float, float, float]] = {
    "active": _hex("#00E5EE"),
    "engaged": _hex("#FFE119"),
    "exhausted": _hex("#1A1A1A"),
    "memory": _hex("#7B2CBF"),  # violet: a resting cell that persists
}
_CAR_T_RGB = np.array([CAR_T_COLOURS[s] for s in TCELL_PICTURE_STATES], dtype=np.float32)

# Antigen-density shading: the phenotype colour itself is the mid-range density; the lowest
# density is lightened towards white by LIGHTEN, the highest darkened towards black by DARKEN.
LIGHTEN = 0.45
DARKEN = 0.35
DEFAULT_DENSITY_RANGE = (1e2, 1e5)  # molecules per cell
OVERLAY_DECADES = 3.0  # automatic overlay range: the top three decades below the maximum
# Overlay colours: reversed magma from pale yellow (low) to purple (high), stopping short of
# its black end so that exhausted (near-black) CAR-T cells stay visible on the strongest field.
DEFAULT_OVERLAY_CMAP = "magma_r"
DEFAULT_OVERLAY_ALPHA = 0.65
OVERLAY_CMAP_SPAN = (0.0, 0.72)


@lru_cache(maxsize=None)
def _palette(n_antigens: int) -> np.ndarray:
    if not 1 <= n_antigens <= MAX_ANTIGENS:
        raise ValueError(f"phenotype palette supports 1..{MAX_ANTIGENS} antigens, got {n_antigens}")
    full = 2**n_antigens - 1
    pal = np.empty((2**n_antigens, 3), dtype=np.float32)
    extra = iter(MULTI_LOSS)
    for code in range(2**n_antigens):
        lost = [i for i in range(n_antigens) if not code >> i & 1]
        if code == full:
            pal[code] = ALL_PRESENT
        elif code == 0:
            pal[code] = ALL_LOST
        elif len(lost) == 1:
            pal[code] = SINGLE_LOSS[lost[0]]
        else:
            pal[code] = next(extra)
    pal.setflags(write=False)
    return pal


def phenotype_palette(n_antigens: int) -> np.ndarray:
    """Base colours (rgb in 0..1, shape ``(2**n, 3)``) of the phenotype codes, for 1..4 antigens.

    Deterministic: code ``2**n - 1`` (all present) is blue, code 0 (all lost) magenta, the
    code that lost only antigen ``i`` gets ``SINGLE_LOSS[i]``, and any other code the next
    colour of ``MULTI_LOSS`` in increasing code order. Returns a read-only array.
    """
    return _palette(int(n_antigens))


def shade_factor(t: np.ndarray | float, base: np.ndarray) -> np.ndarray:
    """Shade ``base`` colours (``(..., 3)``) by normalised antigen density ``t`` in 0..1.

    ``t = 0.5`` returns ``base``; lower ``t`` lightens towards white, higher darkens towards
    black, so the lightness falls monotonically with antigen density.
    """
    t = np.asarray(t, dtype=np.float32)[..., None]
    up = np.clip(1.0 - 2.0 * t, 0.0, 1.0) * LIGHTEN  # 0 above mid-range
    down = np.clip(2.0 * t - 1.0, 0.0, 1.0) * DARKEN  # 0 below mid-range
    return (base + (1.0 - base) * up) * (1.0 - down)


@lru_cache(maxsize=8)
def _lut(cmap: str) -> np.ndarray:
    from matplotlib import colormaps

    lut = colormaps[cmap](np.linspace(*OVERLAY_CMAP_SPAN, 256))[:, :3].astype(np.float32)
    lut.setflags(write=False)
    return lut


def overlay_colormap(cmap: str = DEFAULT_OVERLAY_CMAP, alpha: float = DEFAULT_OVERLAY_ALPHA):
    """The overlay as it looks over bare background, as a matplotlib colormap (for colour bars).

    Same log mapping as :func:`tissue_rgba`: position ``t`` in 0..1 of the colour bar shows
    the colormap colour at ``t`` blended over the background with opacity ``alpha * t``.
    """
    from matplotlib.colors import ListedColormap

    t = np.linspace(0.0, 1.0, 256, dtype=np.float32)[:, None]
    bg = np.asarray(BACKGROUND, dtype=np.float32)
    composite = bg + alpha * t * (_lut(cmap) - bg)
    return ListedColormap(np.clip(composite, 0.0, 1.0), name=f"{cmap}_over_tissue")


def overlay_range(snapshots: list[Snapshot] | Snapshot, name: str) -> tuple[float, float] | None:
    """Automatic log range (pM) for cytokine ``name``: ``(max / 10**3, max)`` over snapshots.

    Returns ``None`` if no snapshot has a positive concentration of ``name``.
    """
    if isinstance(snapshots, Snapshot):
        snapshots = [snapshots]
    peak = 0.0
    for snap in snapshots:
        field = snap.cytokines.get(name)
        if field is not None and np.size(field):
            peak = max(peak, float(np.nanmax(field)))
    if not np.isfinite(peak) or peak <= 0.0:
        return None
    return peak / 10**OVERLAY_DECADES, peak


def tissue_rgba(
    snapshot: Snapshot,
    *,
    overlay: str | None = None,
    fade_hours: float = 12.0,
    overlay_range_pM: tuple[float, float] | None = None,
    overlay_cmap: str = DEFAULT_OVERLAY_CMAP,
    overlay_alpha: float = DEFAULT_OVERLAY_ALPHA,
    density_range: tuple[float, float] = DEFAULT_DENSITY_RANGE,
) -> np.ndarray:
    """RGBA image (``(H, W, 4)`` uint8, opaque) of ``snapshot``, one pixel per tissue site.

    Args:
        snapshot: the tissue at one moment.
        overlay: name of a cytokine in ``snapshot.cytokines`` to show under the cells, or None.
        fade_hours: dead tumor cells fade from grey to background over this many hours.
        overlay_range_pM: concentrations (pM) mapped to the two ends of the log colour scale;
            at or below the lower end the overlay is fully transparent, and its opacity grows
            to ``overlay_alpha`` at the upper end. Default: :func:`overlay_range` of this
            snapshot (pass a shared range to compare frames).
        overlay_cmap: matplotlib colormap name for the overlay (its ``OVERLAY_CMAP_SPAN``
            part is used; see :func:`overlay_colormap` for a matching colour bar).
        overlay_alpha: opacity of the overlay at the top of its range.
        density_range: antigen densities (molecules/cell) mapped to lightest..darkest shading,
            on a log scale, using the mean log density of the antigens a cell still expresses.
    """
    pheno = np.asarray(snapshot.tumor_phenotype)
    if pheno.ndim != 2:
        raise ValueError(f"tumor_phenotype must be 2-D, got shape {pheno.shape}")
    h, w = pheno.shape
    n = len(snapshot.antigens)
    bg = np.asarray(BACKGROUND, dtype=np.float32)

    # 1-2. background, then dead cells fading to it.
    rgb = np.empty((h, w, 3), dtype=np.float32)
    rgb[:] = bg
    age = np.asarray(snapshot.dead_age_h, dtype=np.float32)
    if fade_hours > 0:
        with np.errstate(invalid="ignore"):
            dead = np.clip(1.0 - age / np.float32(fade_hours), 0.0, 1.0)
        dead = np.nan_to_num(dead, nan=0.0, copy=False)
    else:
        dead = np.zeros((h, w), dtype=np.float32)
    rgb += dead[..., None] * (np.asarray(DEAD_GREY, dtype=np.float32) - bg)

    # 3. cytokine overlay, opacity rising with log concentration.
    if overlay is not None:
        if overlay not in snapshot.cytokines:
            raise KeyError(
                f"no cytokine {overlay!r} in snapshot (have: {sorted(snapshot.cytokines)})"
            )
        conc = np.asarray(snapshot.cytokines[overlay], dtype=np.float32)
        rng = overlay_range_pM if overlay_range_pM is not None else overlay_range(snapshot, overlay)
        if rng is not None:
            lo, hi = (float(v) for v in rng)
            if not (0.0 < lo < hi):
                raise ValueError(f"overlay range must satisfy 0 < low < high, got {rng}")
            with np.errstate(invalid="ignore"):
                t = np.log10(np.maximum(conc, np.float32(lo)) / np.float32(lo))
            t *= np.float32(1.0 / np.log10(hi / lo))
            t = np.nan_to_num(np.clip(t, 0.0, 1.0), nan=0.0, copy=False)
            colour = _lut(overlay_cmap)[(t * 255.0 + 0.5).astype(np.intp)]
            alpha = (np.float32(overlay_alpha) * t)[..., None]
            rgb += alpha * (colour - rgb)

    # 4. live tumor cells by phenotype, shaded by mean log antigen density of present antigens.
    live = pheno >= 0
    if live.any():
        code = np.where(live, pheno, 0).astype(np.intp)
        base = phenotype_palette(n)[code]
        antigen = np.asarray(snapshot.tumor_antigen, dtype=np.float32).reshape(n, h, w)
        present = (code[None] >> np.arange(n, dtype=np.intp)[:, None, None]) & 1
        logd = np.log10(np.maximum(antigen, np.float32(1.0)))
        n_present = present.sum(axis=0)
        mean_log = (present * logd).sum(axis=0) / np.maximum(n_present, 1)
        lo, hi = np.log10(density_range[0]), np.log10(density_range[1])
        t = np.clip((mean_log - lo) / (hi - lo), 0.0, 1.0)
        t = np.where(n_present > 0, t, 0.5)  # nothing to shade: plain phenotype colour
        rgb = np.where(live[..., None], shade_factor(t, base), rgb)

    # 5. CAR-T cells on top.
    state = np.asarray(snapshot.tcell_state)
    tcell = state >= 0
    if tcell.any():
        rgb = np.where(tcell[..., None], _CAR_T_RGB[np.where(tcell, state, 0)], rgb)

    out = np.empty((h, w, 4), dtype=np.uint8)
    out[..., :3] = np.clip(rgb * 255.0 + 0.5, 0, 255)
    out[..., 3] = 255
    return out


#: what a legend is drawn from: a snapshot (its populations' legend), or antigen names (the
#: standard legend of a tumor and CAR-T model)
LegendSource = Union[Snapshot, tuple[str, ...], list[str]]


def legend_colour(layer: str, code: int, n_antigens: int) -> tuple[float, float, float]:
    """The colour pictures give ``code`` of snapshot ``layer``: phenotypes their mid-density base
    colour, CAR-T states theirs (as :func:`tissue_rgba` paints them); a code of a layer this
    module does not paint gets a colour of matplotlib's ``tab10`` cycle."""
    if layer == "tumor_phenotype" and code < 2**n_antigens:
        return tuple(float(c) for c in phenotype_palette(n_antigens)[code])  # type: ignore[return-value]
    if layer == "tcell_state" and code < len(TCELL_PICTURE_STATES):
        return CAR_T_COLOURS[TCELL_PICTURE_STATES[code]]
    import matplotlib

    return tuple(float(c) for c in matplotlib.colormaps["tab10"](code % 10)[:3])  # type: ignore[return-value]


def legend_entries(source: LegendSource, *, include_dead: bool = False) -> list[tuple[str, tuple[float, float, float]]]:
    """``(label, rgb)`` pairs, one per entry of the legend that the model's populations gave
    (:attr:`Snapshot.legend_entries`): every tumor phenotype (``"CD19+CD22-"``) and every CAR-T
    state (``"CAR-T <state>"``) for the tumor and CAR-T populations. With ``include_dead`` a
    ``"dead tumor cell"`` entry is appended."""
    if isinstance(source, Snapshot):
        entries, n_antigens = source.legend_entries, len(source.antigens)
    else:
        entries, n_antigens = default_legend(source), len(source)
    out = [(label, legend_colour(layer, code, n_antigens)) for layer, code, label in entries]
    if include_dead:
        out.append(("dead tumor cell", DEAD_GREY))
    return out


def legend_handles(source: LegendSource, *, include_dead: bool = True) -> list:
    """matplotlib patches for :func:`legend_entries` (for ``ax.legend`` or ``fig.legend``)."""
    from matplotlib.patches import Patch

    return [
        Patch(facecolor=rgb, edgecolor="0.3", linewidth=0.5, label=label)
        for label, rgb in legend_entries(source, include_dead=include_dead)
    ]


def add_legend(ax, source: LegendSource, *, include_dead: bool = True, **kwargs):
    """Draw the phenotype / CAR-T state legend on ``ax``; returns the ``Legend``.

    Extra keyword arguments go to ``ax.legend`` (default: small font, upper right outside).
    """
    kwargs.setdefault("fontsize", "small")
    kwargs.setdefault("loc", "upper left")
    kwargs.setdefault("bbox_to_anchor", (1.02, 1.0))
    kwargs.setdefault("frameon", False)
    return ax.legend(handles=legend_handles(source, include_dead=include_dead), **kwargs)
