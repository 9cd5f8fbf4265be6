"""Upper / middle / lower zones of each lung, by thirds of its own cranio-caudal extent."""

from __future__ import annotations

import numpy as np

__all__ = ["LUNG_LABELS", "ZONE_NAMES", "superior_mm", "zone_fractions"]

ZONE_NAMES = ("upper", "middle", "lower")
LUNG_LABELS = {"right": 1, "left": 2}

_IDENTITY = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0)


def superior_mm(
    index_zyx: tuple[np.ndarray, np.ndarray, np.ndarray],
    spacing: tuple[float, float, float],
    direction: tuple[float, ...] = _IDENTITY,
) -> np.ndarray:
    """Height of voxels along the patient's superior axis (LPS +z), in mm.

    Args:
        index_zyx: voxel indices ``(k, j, i)`` as from ``np.nonzero`` on a ``(z, y, x)`` array.
        spacing: ``(sz, sy, sx)`` in mm.
        direction: ITK direction cosines, row-major, columns = array x, y, z axes in LPS.

    Returns:
        float64 heights relative to voxel ``[0, 0, 0]`` (larger = more superior).
    """
    d = np.asarray(direction, dtype=float).reshape(3, 3)
    k, j, i = index_zyx
    sz, sy, sx = spacing
    return d[2, 0] * sx * i + d[2, 1] * sy * j + d[2, 2] * sz * k


def zone_fractions(
    lungs: np.ndarray,
    lesion: np.ndarray,
    spacing: tuple[float, float, float],
    direction: tuple[float, ...] = _IDENTITY,
) -> dict[str, dict[str, float]]:
    """Share of each lung zone that is lesion.

    Each lung (label 1 right, 2 left) is cut into thirds of its own superior-inferior extent
    (by voxel-centre height, see :func:`superior_mm`); a zone's value is
    ``lesion voxels in zone / lung voxels in zone`` (0.0 for an empty zone or absent lung).

    Args:
        lungs: ``(z, y, x)`` labels 0/1/2.
        lesion: ``(z, y, x)`` boolean (or non-zero) lesion mask, same shape.
        spacing: ``(sz, sy, sx)`` in mm.
        direction: ITK direction cosines (row-major); identity = slice index grows superiorly.

    Returns:
        ``{"right": {"upper": f, "middle": f, "lower": f}, "left": {...}}``, fractions in [0, 1].
    """
    result: dict[str, dict[str, float]] = {}
    for side, label in LUNG_LABELS.items():
        idx = np.nonzero(lungs == label)
        zones = {name: 0.0 for name in ZONE_NAMES}
        if idx[0].size:
            height = superior_mm(idx, spacing, direction)
            lo, hi = float(height.min()), float(height.max())
            t = (height - lo) / (hi - lo) if hi > lo else np.full(height.shape, 0.5)
            zone = np.where(t > 2.0 / 3.0, 0, np.where(t < 1.0 / 3.0, 2, 1))
            hit = np.asarray(lesion[idx] > 0)
            lung_n = np.bincount(zone, minlength=3)
            lesion_n = np.bincount(zone, weights=hit, minlength=3)
            for z, name in enumerate(ZONE_NAMES):
                zones[name] = float(lesion_n[z] / lung_n[z]) if lung_n[z] else 0.0
        result[side] = zones
    return result
