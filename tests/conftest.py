"""Shared fixtures: small, fast experiment configs."""

from __future__ import annotations

from pathlib import Path

import pytest

from cartsim.config import ExperimentConfig, parse_config

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = ROOT / "configs"


def small_config(**sections) -> ExperimentConfig:
    """A 30×30 tissue, 150-cell nodule, 60 CAR-T on day 0.5, 3 days: runs in well under a second."""
    data = {
        "name": "small",
        "tissue": {"width": 30, "height": 30},
        "time": {"duration_days": 3, "record_every_h": 6},
        "tumor": {"initial": {"type": "nodule", "cells": 150}},
        "dosing": [{"day": 0.5, "cells": 60, "product": "CAR19", "route": "edge"}],
    }
    for key, value in sections.items():
        if isinstance(value, dict) and isinstance(data.get(key), dict):
            data[key] = {**data[key], **value}
        else:
            data[key] = value
    return parse_config(data)


@pytest.fixture
def small() -> ExperimentConfig:
    return small_config()
