"""Time tissue_rgba and a full matplotlib frame for a random snapshot.

Usage: python benchmarks/bench_tissue_image.py [--size 100] [--cells 5000] [--frames 20]
Prints the median milliseconds per frame.
"""

from __future__ import annotations

import argparse
import io
import statistics
import time

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from cartsim.snapshot import Snapshot
from cartsim.viz.tissue_image import add_legend, tissue_rgba


def random_snapshot(size: int, cells: int, seed: int = 0, antigens=("CD19", "CD22")) -> Snapshot:
    rng = np.random.default_rng(seed)
    n_sites = size * size
    n = len(antigens)
    pheno = np.full(n_sites, -1, np.int8)
    sites = rng.choice(n_sites, size=min(cells, n_sites), replace=False)
    pheno[sites] = rng.integers(0, 2**n, sites.size)
    pheno = pheno.reshape(size, size)
    bits = (pheno[None] >> np.arange(n)[:, None, None]) & 1
    antigen = np.where((pheno >= 0) & (bits == 1),
                       10 ** rng.uniform(2, 5, (n, size, size)), 0).astype(np.float32)
    tcell = np.where(rng.random((size, size)) < 0.05,
                     rng.integers(0, 3, (size, size)), -1).astype(np.int8)
    dead = np.where(rng.random((size, size)) < 0.1,
                    rng.uniform(0, 24, (size, size)), np.inf).astype(np.float32)
    il6 = (10 ** rng.uniform(-2, 2, (size, size))).astype(np.float32)
    return Snapshot(day=1.0, antigens=tuple(antigens), site_um=20.0, tumor_phenotype=pheno,
                    tumor_antigen=antigen, tcell_state=tcell, dead_age_h=dead,
                    cytokines={"IL6": il6})


def median_ms(fn, frames: int) -> float:
    fn()  # warm up (caches, imports)
    times = []
    for _ in range(frames):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times)


def full_draw(snap: Snapshot, overlay: str | None) -> int:
    fig = Figure(figsize=(5, 4), layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    h, w = snap.shape
    mm = snap.site_um / 1000
    ax.imshow(tissue_rgba(snap, overlay=overlay), extent=(0, w * mm, h * mm, 0),
              interpolation="nearest")
    ax.set_title(f"day {snap.day:g}")
    add_legend(ax, snap.antigens)
    buf = io.BytesIO()
    fig.canvas.print_png(buf)
    return buf.tell()


def bare_draw(snap: Snapshot) -> int:
    """The floor: image only, no axes, ticks, title, legend or layout engine."""
    fig = Figure(figsize=(4, 4))
    FigureCanvasAgg(fig)
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_axis_off()
    ax.imshow(tissue_rgba(snap), interpolation="nearest")
    buf = io.BytesIO()
    fig.canvas.print_png(buf)
    return buf.tell()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size", type=int, default=100)
    parser.add_argument("--cells", type=int, default=5000)
    parser.add_argument("--frames", type=int, default=20)
    args = parser.parse_args()

    snap = random_snapshot(args.size, args.cells)
    print(f"grid {args.size}x{args.size}, {args.cells} tumor cells, median of {args.frames} frames")
    for overlay in (None, "IL6"):
        tag = f"overlay={overlay}"
        ms = median_ms(lambda: tissue_rgba(snap, overlay=overlay), args.frames)
        print(f"  tissue_rgba             {tag:13s} {ms:8.2f} ms/frame")
    for overlay in (None, "IL6"):
        tag = f"overlay={overlay}"
        ms = median_ms(lambda: full_draw(snap, overlay), args.frames)
        print(f"  imshow + print_png      {tag:13s} {ms:8.2f} ms/frame"
              "  (axes, title, legend, constrained layout)")
    ms = median_ms(lambda: bare_draw(snap), args.frames)
    print(f"  imshow + print_png bare {'overlay=None':13s} {ms:8.2f} ms/frame"
          "  (image only, no axes/legend/layout)")


if __name__ == "__main__":
    main()
