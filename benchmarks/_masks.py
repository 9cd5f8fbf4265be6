"""Mask overlap shared by the benchmarks."""

from __future__ import annotations

import numpy as np


def dice(a: np.ndarray, b: np.ndarray) -> float:
    """Dice of the nonzero voxels of ``a`` and ``b`` (same shape); NaN when both are empty."""
    a, b = np.asarray(a) > 0, np.asarray(b) > 0
    total = np.count_nonzero(a) + np.count_nonzero(b)
    return float("nan") if total == 0 else 2.0 * float(np.count_nonzero(a & b)) / float(total)
