"""Fixtures for covidct.io tests."""

from __future__ import annotations

import numpy as np
import pytest
from io_helpers import make_volume, rotation

from covidct.io import CTVolume


@pytest.fixture
def small_ct() -> CTVolume:
    """(6, 9, 11) int16 HU, spacing (2.5, 0.75, 0.625) mm, identity direction."""
    return make_volume()


@pytest.fixture
def oblique_ct() -> CTVolume:
    """Same size, oblique and flipped direction (rotation times diag(1, -1, -1))."""
    d = rotation(0.35, 0.5) @ np.diag([1.0, -1.0, -1.0])
    return make_volume(direction=d, seed=1)
