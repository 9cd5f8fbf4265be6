"""A JSON-safe summary of a :class:`CTVolume` (what ``covidct info`` prints)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import SimpleITK as sitk

from covidct.io.layout import Layout
from covidct.io.volume import CTVolume

__all__ = ["MAX_STATS_VOXELS", "describe", "orientation_code", "slice_plane"]

#: Percentiles are computed on a regular subsample of at most this many voxels.
MAX_STATS_VOXELS = 2_000_000


def orientation_code(direction: tuple[float, ...]) -> str:
    """Three-letter DICOM/ITK orientation code of a direction matrix (e.g. ``"LPS"``).

    Each letter names the anatomical direction towards which the x, y, z voxel index
    increases (SimpleITK's ``DICOMOrientImageFilter`` convention): the identity direction
    gives ``"LPS"`` (x towards the patient's left, y posterior, z superior).
    """
    flipped = sitk.DICOMOrientImageFilter.GetOrientationFromDirectionCosines(
        [float(d) for d in direction]
    )
    return str(flipped)


def slice_plane(direction: tuple[float, ...]) -> str:
    """The plane of the array's slices (array axis 0): ``"axial"``, or ``"coronal"`` /
    ``"sagittal"`` for a reformat, which every stage lays as an axial series
    (:class:`~covidct.io.layout.Layout`)."""
    return ("axial", "coronal", "sagittal")[Layout.of(direction).order.index(0)]


def _json_safe(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


def _subsample(array: np.ndarray) -> np.ndarray:
    step = max(1, int(np.ceil((array.size / MAX_STATS_VOXELS) ** (1 / 3))))
    return array[::step, ::step, ::step]


def describe(volume: CTVolume) -> dict[str, Any]:
    """Shape, geometry, orientation, value statistics and metadata as a JSON-safe dict.

    Keys: ``shape_zyx``, ``spacing_mm_zyx``, ``extent_mm_zyx``, ``origin_mm_xyz`` (LPS),
    ``direction`` (row-major 3 x 3), ``orientation`` (e.g. ``"LPS"``), ``slices``
    (:func:`slice_plane`), ``dtype``, ``is_hu``,
    ``voxel_volume_ml``, ``values`` (``unit`` "HU" or "grey level"; ``min``, ``max``,
    ``mean`` over all voxels; ``p01``, ``p50``, ``p99`` on a regular subsample of at most
    :data:`MAX_STATS_VOXELS` voxels), ``metadata``.
    """
    arr = volume.array
    sub = _subsample(arr).astype(np.float64)
    p01, p50, p99 = (float(v) for v in np.percentile(sub, [1, 50, 99]))
    values = {
        "unit": "HU" if volume.is_hu else "grey level",
        "min": float(arr.min()),
        "max": float(arr.max()),
        "mean": float(arr.mean(dtype=np.float64)),
        "p01": p01,
        "p50": p50,
        "p99": p99,
    }
    return {
        "shape_zyx": list(volume.shape),
        "spacing_mm_zyx": [float(s) for s in volume.spacing],
        "extent_mm_zyx": [float(e) for e in volume.extent_mm],
        "origin_mm_xyz": [float(o) for o in volume.origin],
        "direction": [float(d) for d in volume.direction],
        "orientation": orientation_code(volume.direction),
        "slices": slice_plane(volume.direction),
        "dtype": str(arr.dtype),
        "is_hu": bool(volume.is_hu),
        "voxel_volume_ml": float(volume.voxel_volume_ml),
        "values": values,
        "metadata": _json_safe(dict(volume.metadata)),
    }
