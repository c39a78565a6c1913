"""`cartsim animate`: the tissue over time as a GIF (or MP4), one frame every --every hours."""

from __future__ import annotations

import shutil
import subprocess
import sys

import numpy as np
import pytest
import yaml
from PIL import Image, ImageSequence

from cartsim.config import ConfigError
from cartsim.viz.animation import animate, frame_count

from .conftest import ROOT, small_config

SMALL = {
    "name": "tiny",
    "tissue": {"width": 30, "height": 30},
    "time": {"duration_days": 1, "record_every_h": 6},
    "tumor": {"initial": {"type": "nodule", "cells": 150}},
    "dosing": [{"day": 0.25, "cells": 60, "product": "CAR19", "route": "edge"}],
}


def cartsim(*args):
    return subprocess.run([sys.executable, "-m", "cartsim.cli", *map(str, args)], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)


@pytest.fixture
def tiny_yaml(tmp_path):
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(SMALL))
    return path


def test_animate_command_writes_one_frame_per_interval(tmp_path, tiny_yaml):
    out = tmp_path / "anim" / "tiny.gif"
    r = cartsim("animate", tiny_yaml, "--out", out, "--every", "6")
    assert r.returncode == 0, r.stderr
    assert "5 frames, day 0 to 1" in r.stdout
    with Image.open(out) as gif:
        frames = [np.asarray(f.convert("RGB")) for f in ImageSequence.Iterator(gif)]
    assert len(frames) == 5 == frame_count(small_config(**SMALL), 6.0)  # days 0, 0.25, 0.5, 0.75, 1
    assert frames[0].shape == (420, 900, 3)
    assert not np.array_equal(frames[0], frames[-1])
    assert [p.name for p in out.parent.iterdir()] == ["tiny.gif"]  # written atomically


def test_frames_fall_on_the_interval_and_the_last_on_the_end_of_the_run(tmp_path):
    config = small_config(**SMALL)
    result = animate(config, tmp_path / "a.gif", every_h=5.0, progress=False)
    assert result.frames == 6 == frame_count(config, 5.0)
    np.testing.assert_allclose(result.days[:-1], [0, 5 / 24, 10 / 24, 15 / 24, 20 / 24])
    # The last, shorter interval ends with the run (the model stops after whole internal steps).
    assert result.days[-1] == pytest.approx(1.0, abs=2 / 1440)
    with Image.open(result.path) as gif:
        assert gif.n_frames == 6


def test_animation_is_reproducible_and_the_overlay_shows(tmp_path):
    config = small_config(**SMALL)
    a = animate(config, tmp_path / "a.gif", every_h=12, seed=4, progress=False)
    b = animate(config, tmp_path / "b.gif", every_h=12, seed=4, progress=False)
    assert a.path.read_bytes() == b.path.read_bytes()
    c = animate(config, tmp_path / "c.gif", every_h=12, seed=4, overlay="IL6", progress=False)
    assert c.path.read_bytes() != a.path.read_bytes()


def test_bad_animation_requests_are_clear_errors(tmp_path, tiny_yaml, capsys):
    from cartsim.cli import main

    for args, message in ((["--every", "0"], "--every"), (["--fps", "0"], "--fps"),
                          (["--every", "nan"], "--every")):
        assert main(["animate", str(tiny_yaml), "--out", str(tmp_path / "x.gif"), *args]) == 2
        assert message in capsys.readouterr().err
    assert main(["animate", str(tiny_yaml), "--out", str(tmp_path / "x.avi")]) == 2
    assert ".gif or .mp4" in capsys.readouterr().err
    with pytest.raises(ConfigError, match="overlay"):
        animate(small_config(**SMALL), tmp_path / "x.gif", overlay="TNF", progress=False)
    assert not list(tmp_path.glob("x.*"))


def test_mp4_where_ffmpeg_exists_and_a_clear_message_where_not(tmp_path):
    out = tmp_path / "tiny.mp4"
    config = small_config(**SMALL)
    if shutil.which("ffmpeg"):
        result = animate(config, out, every_h=12, progress=False)
        assert result.frames == 3 and out.read_bytes()[4:8] == b"ftyp"
    else:
        with pytest.raises(ConfigError, match="ffmpeg"):
            animate(config, out, every_h=12, progress=False)
        assert not out.exists()
