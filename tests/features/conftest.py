"""Small synthetic CTs for the feature tests."""

from __future__ import annotations

import numpy as np
import pytest

from covidct.io import CTVolume


@pytest.fixture()
def small_ct() -> tuple[CTVolume, np.ndarray]:
    """A 20 x 40 x 40 noisy 'CT' (2.5 x 0.8 x 0.8 mm) with two box 'lungs' (labels 1, 2)."""
    rng = np.random.default_rng(0)
    z, y, x = np.mgrid[:20, :40, :40]
    arr = (-750 + 120 * np.sin(x / 3.0) + 80 * np.cos(y / 4.0) + rng.normal(0, 60, z.shape))
    mask = np.zeros(arr.shape, np.uint8)
    mask[3:17, 5:35, 4:18] = 1
    mask[3:17, 5:35, 22:36] = 2
    return CTVolume(arr.astype(np.int16), (2.5, 0.8, 0.8)), mask
