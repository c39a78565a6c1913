"""Animations for slides: the tissue over time with a clock and a small tumor-burden plot.

:func:`animate` runs an experiment and draws one frame every ``every_h`` hours of simulated
time (the first at day 0, the last at the end of the run), then writes a GIF (Pillow) or an
MP4 (ffmpeg, where installed) atomically.
"""

from __future__ import annotations

import math
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import FixedLocator, FuncFormatter, MaxNLocator, MultipleLocator, NullLocator
from PIL import Image
from cartsim.progress import ProgressBar

from cartsim.config import ConfigError, ExperimentConfig
from cartsim.io import write_atomic
from cartsim.model import CarTModel
from cartsim.snapshot import Snapshot, phenotype_names
from cartsim.viz.live_plots import LOG_TICKS, count_label, line_colour
from cartsim.viz.tissue_image import add_legend, overlay_range, phenotype_palette, tissue_rgba

FORMATS = (".gif", ".mp4")
DEFAULT_EVERY_H = 6.0
DEFAULT_FPS = 8
FIGSIZE = (9.0, 4.2)  # inches: tissue and legend on the left, burden plot on the right
DPI = 100


@dataclass(frozen=True)
class AnimationResult:
    """What :func:`animate` wrote: the file, its number of frames and the simulated days shown."""

    path: Path
    frames: int
    days: tuple[float, ...]


def frame_count(config: ExperimentConfig, every_h: float) -> int:
    """Frames of an animation of ``config``: day 0, then one per ``every_h`` hours, the last at the end."""
    return 1 + math.ceil(config.time.duration_days * 24.0 / every_h - 1e-9)


class FrameDrawer:
    """One figure, redrawn for each frame: the tissue image, a clock, and tumor cells over time."""

    def __init__(self, config: ExperimentConfig, first: Snapshot, overlay: str | None = None):
        self.overlay = overlay
        self.overlay_range: tuple[float, float] | None = None
        self.figure = Figure(figsize=FIGSIZE, dpi=DPI)
        FigureCanvasAgg(self.figure)
        fig = self.figure
        h, w = first.shape
        mm = first.site_um / 1000.0
        self.ax_tissue = fig.add_axes((0.02, 0.1, 0.4, 0.8))
        self.image = self.ax_tissue.imshow(tissue_rgba(first), extent=(0, w * mm, h * mm, 0),
                                           interpolation="nearest")
        self.ax_tissue.set_xlabel("mm", fontsize="small")
        self.ax_tissue.tick_params(labelsize="x-small")
        self.clock = fig.text(0.02, 0.93, "", fontsize=15, fontweight="bold")
        fig.text(0.42, 0.93, config.name, fontsize="small", ha="right", color="0.3")
        add_legend(self.ax_tissue, first, include_dead=True, fontsize="x-small",
                   bbox_to_anchor=(1.01, 1.0))

        ax = self.ax_plot = fig.add_axes((0.66, 0.14, 0.32, 0.72))
        pal = phenotype_palette(len(first.antigens))
        self.lines = {"tumor_total": ax.plot([], [], color="black", lw=2.0, label="all")[0]}
        for code, name in enumerate(phenotype_names(first.antigens)):
            self.lines[f"tumor_{name}"] = ax.plot([], [], color=line_colour(pal[code]), lw=1.4)[0]
        for day in config.infusion_days:
            ax.axvline(day, color="0.45", ls="--", lw=1.0, zorder=0)
        self.now = ax.axvline(0.0, color="#CC3311", lw=1.2)
        ax.set_xlim(0, config.time.duration_days)
        ax.xaxis.set_major_locator(MultipleLocator(7) if config.time.duration_days >= 14 else MaxNLocator(5))
        ax.set_yscale("symlog", linthresh=1.0, linscale=0.4)
        ax.yaxis.set_major_locator(FixedLocator(LOG_TICKS))
        ax.yaxis.set_major_formatter(FuncFormatter(count_label))
        ax.yaxis.set_minor_locator(NullLocator())
        ax.set_xlabel("day", fontsize="small")
        ax.set_title("tumor cells (black: all; dashed: CAR-T infusion)", fontsize="small", loc="left")
        ax.tick_params(labelsize="x-small")
        ax.grid(True, alpha=0.3)
        ax.spines[["top", "right"]].set_visible(False)

    def draw(self, snapshot: Snapshot, ts: pd.DataFrame) -> np.ndarray:
        """The frame for ``snapshot`` and the series up to it, as an RGB array ``(H, W, 3)`` uint8."""
        rng = None
        if self.overlay is not None:
            # Widen the colour range as the run goes, so that one scale holds across frames.
            now = overlay_range(snapshot, self.overlay)
            if now is not None:
                lo, hi = self.overlay_range or now
                self.overlay_range = (min(lo, now[0]), max(hi, now[1]))
            rng = self.overlay_range
        self.image.set_data(tissue_rgba(snapshot, overlay=self.overlay if rng else None,
                                        overlay_range_pM=rng))
        self.clock.set_text(f"Day {snapshot.day:.1f}")
        days = ts["day"].to_numpy(dtype=float)
        for column, line in self.lines.items():
            line.set_data(days, ts[column].to_numpy(dtype=float))
        self.now.set_xdata([snapshot.day, snapshot.day])
        self.ax_plot.set_ylim(0, max(10.0, float(ts["tumor_total"].max()) * 3))
        self.figure.canvas.draw()
        return np.asarray(self.figure.canvas.buffer_rgba())[..., :3].copy()


def _write_gif(frames: list[Image.Image], path: Path, fps: int) -> None:
    frames[0].save(path, format="GIF", save_all=True, append_images=frames[1:],
                   duration=round(1000 / fps), loop=0, optimize=False)


def _write_mp4(frames: list[np.ndarray], path: Path, fps: int, ffmpeg: str) -> None:
    h, w, _ = frames[0].shape
    cmd = [ffmpeg, "-y", "-loglevel", "error", "-f", "rawvideo", "-pix_fmt", "rgb24",
           "-s", f"{w}x{h}", "-r", str(fps), "-i", "-", "-an", "-vcodec", "libx264",
           "-pix_fmt", "yuv420p", "-vf", "pad=ceil(iw/2)*2:ceil(ih/2)*2", "-f", "mp4", str(path)]
    proc = subprocess.run(cmd, input=b"".join(f.tobytes() for f in frames), capture_output=True)
    if proc.returncode != 0:
        raise OSError(f"ffmpeg failed: {proc.stderr.decode(errors='replace').strip()[-300:]}")


def animate(config: ExperimentConfig, out: str | os.PathLike, *, every_h: float = DEFAULT_EVERY_H,
            fps: int = DEFAULT_FPS, overlay: str | None = None, seed: int | None = None,
            progress: bool = True) -> AnimationResult:
    """Run ``config`` and write an animation of the tissue to ``out`` (``.gif`` or ``.mp4``).

    Args:
        config: the experiment.
        out: output file; ``.gif`` always works, ``.mp4`` needs ffmpeg on the PATH.
        every_h: simulated hours between frames (> 0).
        fps: frames per second of the animation.
        overlay: the name of one of the experiment's cytokines (``IL2``, ``IFNg``, ``IL6``, or one
            added in its ``cytokines:``) to show under the cells, or None.
        seed: random seed (default: the config's).
        progress: show a progress bar.

    Raises :class:`~cartsim.config.ConfigError` for a bad format, interval or overlay.
    """
    out = Path(out)
    suffix = out.suffix.lower()
    if suffix not in FORMATS:
        raise ConfigError(f"--out {out}: use a .gif or .mp4 file name")
    ffmpeg = shutil.which("ffmpeg")
    if suffix == ".mp4" and ffmpeg is None:
        raise ConfigError(f"--out {out}: MP4 needs ffmpeg, which is not installed; write a .gif instead")
    if not (every_h > 0 and math.isfinite(every_h)):
        raise ConfigError(f"--every {every_h}: the interval between frames must be > 0 hours")
    if not 1 <= fps <= 60:
        raise ConfigError(f"--fps {fps}: use 1 to 60 frames per second")

    update = {"time": config.time.model_copy(update={"record_every_h": float(every_h)})}
    if seed is not None:
        update["seed"] = int(seed)
    config = config.model_copy(update=update)
    model = CarTModel(config)
    if overlay is not None and overlay not in model.snapshot().cytokines:
        raise ConfigError(f"--overlay {overlay}: no such cytokine; use one of "
                          f"{', '.join(model.snapshot().cytokines)}")
    total = frame_count(config, every_h)
    first = model.snapshot()
    drawer = FrameDrawer(config, first, overlay)
    frames: list = []
    days: list[float] = []
    snap = first
    with ProgressBar(total=total, unit="frame", disable=not progress, desc=f"animating {config.name}") as bar:
        while True:
            rgb = drawer.draw(snap, model.datacollector.get_model_vars_dataframe())
            # GIF frames are stored with their palette right away: a quarter of the memory.
            frames.append(rgb if suffix == ".mp4" else
                          Image.fromarray(rgb).quantize(colors=255, method=Image.Quantize.MEDIANCUT))
            days.append(snap.day)
            bar.update(1)
            if not model.running:
                break
            model.step()
            snap = model.snapshot()

    def encode(tmp: Path) -> None:
        if suffix == ".gif":
            _write_gif(frames, tmp, fps)
        else:
            _write_mp4(frames, tmp, fps, ffmpeg)

    # the temporary file keeps the target's suffix: the encoders pick the format from it
    write_atomic(out, encode, suffix=suffix)
    return AnimationResult(out, len(frames), tuple(days))
