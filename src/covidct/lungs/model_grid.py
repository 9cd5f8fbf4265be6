"""The lung network's input grid, with NumPy and Pillow only (a run imports no torch).

Each axial slice is resampled to ``pixel_mm`` pixels (bilinear, antialiased: Pillow's
filter, which torch's ``interpolate(antialias=True)`` reproduces) on a ``canvas`` x
``canvas`` square centred on the image centre; the network reads the slice and its
neighbours (:func:`context_offsets`) as channels, HU clipped to a window and scaled to
[-1, 1] (:func:`scale_hu`). Its output comes back to the CT's grid bilinearly in-plane
(:func:`from_model_grid`) and linearly between the predicted slices (:func:`interpolate_z`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

__all__ = [
    "DEFAULT_CONTEXT", "NEIGHBOUR_MM", "SliceGeometry", "context_channels", "context_offsets",
    "from_model_grid", "interpolate_z", "neighbour_stack", "scale_hu", "to_model_grid",
]

#: distance (mm) of the nearest neighbour slices given to the network (the unit of ``context``).
NEIGHBOUR_MM = 5.0
#: neighbour distances (multiples of the ``NEIGHBOUR_MM`` step) of model files that do not say.
DEFAULT_CONTEXT = (1,)


@dataclass(frozen=True)
class SliceGeometry:
    """Where the resampled slices sit on the model canvas (pixels of ``pixel_mm``).

    ``shape``: the CT's in-plane ``(y, x)``; ``scaled``: its size at ``pixel_mm``;
    ``offset``: canvas position of the scaled image's corner (negative = cropped).
    """

    shape: tuple[int, int]
    scaled: tuple[int, int]
    offset: tuple[int, int]
    canvas: int


def _geometry(shape: tuple[int, int], spacing_yx: tuple[float, float], pixel_mm: float,
              canvas: int) -> SliceGeometry:
    scaled = tuple(max(1, int(round(n * s / pixel_mm))) for n, s in zip(shape, spacing_yx))
    offset = tuple((canvas - n) // 2 for n in scaled)
    return SliceGeometry(shape=tuple(shape), scaled=scaled, offset=offset, canvas=canvas)  # type: ignore[arg-type]


def _windows(geo: SliceGeometry) -> tuple[tuple[slice, slice], tuple[slice, slice]]:
    """(canvas window, scaled-image window) of their overlap."""
    can, img = [], []
    for n, off in zip(geo.scaled, geo.offset):
        lo, hi = max(0, off), min(geo.canvas, off + n)
        can.append(slice(lo, hi))
        img.append(slice(lo - off, hi - off))
    return (can[0], can[1]), (img[0], img[1])


def _resize(slices: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Each (y, x) slice of ``slices`` (z, y, x) resized bilinearly to ``size`` (rows,
    columns), pixel centres aligned (half-pixel convention), antialiased when shrinking."""
    out = np.empty((slices.shape[0], *size), np.float32)
    for z, s in enumerate(np.asarray(slices, np.float32)):
        out[z] = np.asarray(Image.fromarray(np.ascontiguousarray(s)).resize(size[::-1], Image.Resampling.BILINEAR))
    return out


def to_model_grid(
    array: np.ndarray, spacing_yx: tuple[float, float], *, pixel_mm: float, canvas: int, fill: float
) -> tuple[np.ndarray, SliceGeometry]:
    """Resample each axial slice of ``array`` (z, y, x) to ``pixel_mm`` pixels (bilinear,
    antialiased) on a ``canvas`` square (outside the image: ``fill``); float32 (z, canvas, canvas)."""
    geo = _geometry(array.shape[1:], spacing_yx, pixel_mm, canvas)
    scaled = _resize(array, geo.scaled)
    out = np.full((array.shape[0], canvas, canvas), float(fill), np.float32)
    (cy, cx), (iy, ix) = _windows(geo)
    out[:, cy, cx] = scaled[:, iy, ix]
    return out, geo


def from_model_grid(values: np.ndarray, geo: SliceGeometry) -> np.ndarray:
    """Inverse of :func:`to_model_grid` for ``values`` (z, canvas, canvas): bilinear back to
    the CT's ``(z, y, x)``; 0 where the canvas did not cover the image."""
    scaled = np.zeros((values.shape[0], *geo.scaled), np.float32)
    (cy, cx), (iy, ix) = _windows(geo)
    scaled[:, iy, ix] = values[:, cy, cx]
    return _resize(scaled, geo.shape)


def context_offsets(context: tuple[int, ...], step: int) -> list[int]:
    """Slice offsets of the channels, in order: ``-k * step`` (farthest first), 0, ``+k * step``."""
    ks = sorted({int(k) for k in context})
    return [-k * step for k in reversed(ks)] + [0] + [k * step for k in ks]


def context_channels(context: tuple[int, ...]) -> int:
    """Number of input channels of a network with neighbour slices ``context``."""
    return len(context_offsets(context, 1))


def neighbour_stack(slices, index: np.ndarray, step: int, context: tuple[int, ...] = DEFAULT_CONTEXT):
    """``(n, context_channels(context), h, w)``: the slices of :func:`context_offsets` around each
    of ``index`` (clamped at the ends) of ``slices`` (z, h, w; a NumPy array or a torch
    tensor, returned as the same kind); the default gives ``index - step``, ``index``, ``index + step``."""
    last = slices.shape[0] - 1
    return slices[np.stack([np.clip(index + d, 0, last) for d in context_offsets(context, step)], axis=1)]


def scale_hu(hu, window: tuple[float, float]):
    """HU (a NumPy array or a torch tensor) clipped to ``window`` and mapped linearly to [-1, 1]."""
    lo, hi = window
    return (hu.clip(lo, hi) - (lo + hi) / 2.0) / ((hi - lo) / 2.0)


def interpolate_z(sampled: np.ndarray, zs: np.ndarray, n: int) -> np.ndarray:
    """Slices ``sampled`` (len(zs), h, w) at slice indices ``zs`` to all ``n`` slices, linear in z."""
    if len(zs) == n:
        return sampled
    pos = np.interp(np.arange(n), zs, np.arange(len(zs)))
    lo = np.floor(pos).astype(int)
    hi = np.minimum(lo + 1, len(zs) - 1)
    w = (pos - lo).astype(np.float32)[:, None, None]
    return sampled[lo] * (1 - w) + sampled[hi] * w
