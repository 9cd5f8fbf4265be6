"""Fixtures of the lung segmentation tests: synthetic chests, segmented once per module."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from synth import Chest, make_chest


@pytest.fixture(scope="session")
def chest() -> Chest:
    return make_chest("none", seed=1)
