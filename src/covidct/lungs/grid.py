"""Working grid and orientation helpers of the lung segmentation.

The segmentation runs on a coarser working grid (``(z, y, x)`` arrays, spacing in mm) and
returns its labels on the input grid. Both grids cover exactly the same physical box, so
resampling there and back needs no geometry beyond the spacing. Orientation (which array
side is the patient's right, which end is superior) comes from the ITK direction matrix
in LPS: patient right is -x, superior is +z.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import SimpleITK as sitk

from covidct.io.layout import Layout

__all__ = ["Orientation", "WorkingGrid", "labels_to_input", "labels_to_working", "mm2_to_px", "mm_to_px",
           "to_working"]


def mm_to_px(length_mm: float, pixel_mm: float, *, minimum: int = 1) -> int:
    """A length in mm as a whole number of pixels of ``pixel_mm`` mm (rounded, at least
    ``minimum``): radii, dilation and erosion steps of the lung stage."""
    return max(minimum, round(length_mm / pixel_mm))


def mm2_to_px(area_mm2: float, spacing: tuple[float, float, float]) -> float:
    """An in-plane area in mm² as a (fractional) number of pixels of ``spacing`` (z, y, x mm)."""
    return area_mm2 / (spacing[1] * spacing[2])


@dataclass(frozen=True)
class Orientation:
    """Which array directions point where in the patient.

    Attributes:
        lr_axis: array axis (0 z, 1 y, 2 x) closest to the patient left-right axis.
        right_is_low: True when the patient's right lies at low indices along ``lr_axis``.
        superior_is_high: True when superior lies at high z index.
        anterior_is_low: True when the patient's front lies at low y index (LPS +y is
            posterior; a DICOM axial slice's rows run front to back).
        phys_x: coefficients (per z, y, x index, in mm) of the LPS x coordinate.
        layout: how the array lies as a DICOM axial series (:class:`~covidct.io.layout.Layout`).
    """

    lr_axis: int
    right_is_low: bool
    superior_is_high: bool
    anterior_is_low: bool
    phys_x: tuple[float, float, float]
    layout: Layout

    @classmethod
    def from_direction(
        cls, direction: tuple[float, ...], spacing_zyx: tuple[float, float, float]
    ) -> Orientation:
        """Orientation from an ITK row-major direction (columns = index axes x, y, z)."""
        d = np.asarray(direction, dtype=float).reshape(3, 3)
        # column j of d is the physical (LPS) direction of index axis j (x, y, z)
        cols_zyx = [d[:, 2], d[:, 1], d[:, 0]]
        lr = [abs(c[0]) for c in cols_zyx]
        lr_axis = int(np.argmax(lr))
        phys_x = tuple(float(c[0] * s) for c, s in zip(cols_zyx, spacing_zyx))
        return cls(
            lr_axis=lr_axis,
            right_is_low=bool(cols_zyx[lr_axis][0] > 0),
            superior_is_high=bool(cols_zyx[0][2] >= 0),
            anterior_is_low=bool(cols_zyx[1][1] >= 0),
            phys_x=phys_x,  # type: ignore[arg-type]
            layout=Layout.of(direction),
        )

    @property
    def axial(self) -> bool:
        """True when the array slices are close to axial (z the body axis, x the left-right
        one): :attr:`Layout.axial <covidct.io.layout.Layout.axial>`."""
        return self.layout.axial

    def lps_x(self, index_zyx: np.ndarray) -> float:
        """LPS x (mm, up to the origin) of a (z, y, x) index position."""
        return float(np.dot(self.phys_x, np.asarray(index_zyx, dtype=float)))


@dataclass(frozen=True)
class WorkingGrid:
    """A grid covering the same box as the input with coarser voxels.

    Attributes:
        in_shape, in_spacing: input ``(z, y, x)`` shape and spacing (mm).
        shape, spacing: working shape and spacing (mm).
    """

    in_shape: tuple[int, int, int]
    in_spacing: tuple[float, float, float]
    shape: tuple[int, int, int]
    spacing: tuple[float, float, float]

    @classmethod
    def choose(
        cls,
        in_shape: tuple[int, int, int],
        in_spacing: tuple[float, float, float],
        inplane_mm: float,
        slice_mm: float,
    ) -> WorkingGrid:
        """Down-sample each axis to at most the target spacing (never up-sample)."""
        targets = (slice_mm, inplane_mm, inplane_mm)
        shape, spacing = [], []
        for n, s, t in zip(in_shape, in_spacing, targets):
            m = n if s >= t else max(1, round(n * s / t))
            shape.append(m)
            spacing.append(n * s / m)
        return cls(tuple(in_shape), tuple(in_spacing), tuple(shape), tuple(spacing))  # type: ignore[arg-type]

    @property
    def identity(self) -> bool:
        """True when the working grid is the input grid."""
        return self.shape == self.in_shape

    @property
    def voxel_ml(self) -> float:
        """Volume of a working voxel in mL."""
        return float(np.prod(self.spacing)) / 1000.0

    def _image(self, array: np.ndarray, shape, spacing) -> sitk.Image:
        img = sitk.GetImageFromArray(array)
        self._geometry(img, shape, spacing)
        return img

    def _geometry(self, img: sitk.Image, shape, spacing) -> None:
        # voxel centres at (i + 0.5) * spacing - 0.5 * input spacing: same box for both grids
        origin = [
            0.5 * s - 0.5 * s_in for s, s_in in zip(spacing[::-1], self.in_spacing[::-1])
        ]
        img.SetSpacing([float(s) for s in spacing[::-1]])
        img.SetOrigin(origin)

    def _reference(self, shape, spacing) -> sitk.Image:
        ref = sitk.Image([int(n) for n in shape[::-1]], sitk.sitkUInt8)
        self._geometry(ref, shape, spacing)
        return ref


def to_working(hu: np.ndarray, grid: WorkingGrid) -> np.ndarray:
    """HU ``(z, y, x)`` on the input grid -> float32 HU on the working grid.

    Down-sampling first averages blocks of whole voxels (``BinShrink``, anti-aliasing),
    then interpolates linearly onto the working grid.
    """
    arr = np.asarray(hu, dtype=np.float32)
    if grid.identity:
        return arr.copy()
    return _shrunk_and_resampled(arr, grid, [0, 0, 0], [0, 0, 0], grid.shape)


def _shrink_factors(grid: WorkingGrid) -> list[int]:
    """The whole-voxel block sizes (z, y, x) averaged before the working grid is interpolated."""
    return [max(1, int(w / s + 1e-6)) for w, s in zip(grid.spacing, grid.in_spacing)]


def _shrunk_and_resampled(arr: np.ndarray, grid: WorkingGrid, in_start: list[int], work_start: list[int],
                          work_shape: tuple[int, ...]) -> np.ndarray:
    """float32 values of :func:`to_working` on the working voxels ``work_start + [0, work_shape)``
    from ``arr``, the input-grid values from voxel ``in_start`` on (its blocks aligned with
    the whole grid's: ``in_start`` a multiple of the shrink factors)."""
    img = sitk.GetImageFromArray(arr)
    img.SetSpacing([float(s) for s in grid.in_spacing[::-1]])
    img.SetOrigin([float(j * s) for j, s in zip(in_start[::-1], grid.in_spacing[::-1])])
    # integer block averaging first (anti-aliasing and noise reduction, cheap)
    factors = _shrink_factors(grid)
    if any(f > 1 for f in factors):
        img = sitk.BinShrink(img, factors[::-1])
    ref = grid._reference(work_shape, grid.spacing)
    ref.SetOrigin([float((i + 0.5) * s - 0.5 * s_in)
                   for i, s, s_in in zip(work_start[::-1], grid.spacing[::-1], grid.in_spacing[::-1])])
    out = sitk.Resample(img, ref, sitk.Transform(), sitk.sitkLinear, -1024.0, sitk.sitkFloat32)
    return sitk.GetArrayFromImage(out)


def labels_to_working(labels: np.ndarray, grid: WorkingGrid, n_labels: int = 2) -> np.ndarray:
    """uint8 labels (1 .. ``n_labels``) on the input grid -> on the working grid: each
    label's 0 / 1 map taken there as :func:`to_working` takes HU, a voxel labelled where it
    reaches 0.5 (the higher label where two do). Only the box around the labels is
    resampled: the same voxels as the whole grid, a fraction of the work."""
    out = np.zeros(grid.shape, np.uint8)
    keep = (labels >= 1) & (labels <= n_labels)
    if grid.identity:
        out[keep] = labels[keep]
        return out
    if not keep.any():
        return out
    factors = _shrink_factors(grid)
    work, inp = [], []
    for axis in range(3):
        hit = np.flatnonzero(keep.any(axis=tuple(a for a in range(3) if a != axis)))
        ratio = grid.spacing[axis] / grid.in_spacing[axis]  # working voxel i is centred at input index (i + 0.5) * ratio - 0.5
        pad = 2 * factors[axis] + 2  # beyond this (input voxels) the labels reach no working voxel
        i0 = max(0, int(np.floor((hit[0] - pad + 0.5) / ratio - 0.5)))
        i1 = min(grid.shape[axis], int(np.ceil((hit[-1] + pad + 0.5) / ratio - 0.5)) + 1)
        j0 = max(0, int(np.floor((i0 + 0.5) * ratio - 0.5)) - pad)
        j0 -= j0 % factors[axis]
        j1 = min(grid.in_shape[axis], int(np.ceil((i1 - 0.5) * ratio - 0.5)) + pad)
        work.append(slice(i0, i1))
        inp.append(slice(j0, j1))
    sub = labels[tuple(inp)]
    shape = tuple(s.stop - s.start for s in work)
    for k in range(1, n_labels + 1):
        onehot = (sub == k).astype(np.float32)
        if onehot.any():
            frac = _shrunk_and_resampled(onehot, grid, [s.start for s in inp], [s.start for s in work], shape)
            out[tuple(work)][frac >= 0.5] = k
    return out


def _crop(labels: np.ndarray, grid: WorkingGrid, margin: int = 2) -> tuple[list[slice], list[slice]]:
    """Bounding box of ``labels > 0`` grown by ``margin`` working voxels, as working-grid
    slices and the input-grid slices that cover the same physical box."""
    work, inp = [], []
    for axis in range(3):
        other = tuple(a for a in range(3) if a != axis)
        idx = np.flatnonzero(labels.any(axis=other))
        i0 = max(int(idx[0]) - margin, 0)
        i1 = min(int(idx[-1]) + 1 + margin, grid.shape[axis])
        ratio = grid.spacing[axis] / grid.in_spacing[axis]
        j0 = max(int(np.floor(i0 * ratio)), 0)
        j1 = min(int(np.ceil(i1 * ratio)), grid.in_shape[axis])
        work.append(slice(i0, i1))
        inp.append(slice(j0, j1))
    return work, inp


def labels_to_input(labels: np.ndarray, grid: WorkingGrid, n_labels: int = 2) -> np.ndarray:
    """uint8 labels on the working grid -> uint8 labels on the input grid.

    Each label is interpolated linearly as a 0/1 map; a voxel takes the label with the
    largest value when that value is at least 0.5 (smooth boundaries, no blocky steps).
    Only the box around the labels (plus two working voxels) is resampled.
    """
    if grid.identity:
        return labels.astype(np.uint8, copy=True)
    out = np.zeros(grid.in_shape, dtype=np.uint8)
    if not labels.any():
        return out
    work, inp = _crop(labels, grid)
    sub = labels[tuple(work)]
    in_shape = tuple(s.stop - s.start for s in inp)
    ref = grid._reference(in_shape, grid.in_spacing)
    # the input sub-box starts at input voxel j0 (position j0 * s_in from voxel 0); the
    # working sub-box at voxel i0 (position (i0 + 0.5) * s - 0.5 * s_in)
    ref.SetOrigin([float(sl.start * s) for sl, s in zip(inp[::-1], grid.in_spacing[::-1])])
    best = np.zeros(in_shape, dtype=np.float32)
    part = np.zeros(in_shape, dtype=np.uint8)
    for lab in range(1, n_labels + 1):
        onehot = (sub == lab).astype(np.float32)
        if not onehot.any():
            continue
        img = grid._image(onehot, sub.shape, grid.spacing)
        img.SetOrigin([
            float((sl.start + 0.5) * s - 0.5 * s_in)
            for sl, s, s_in in zip(work[::-1], grid.spacing[::-1], grid.in_spacing[::-1])
        ])
        resampled = sitk.Resample(img, ref, sitk.Transform(), sitk.sitkLinear, 0.0, sitk.sitkFloat32)
        prob = sitk.GetArrayViewFromImage(resampled)  # a view: ``resampled`` must stay alive
        take = (prob >= 0.5) & (prob > best)
        part[take] = lab
        np.maximum(best, prob, out=best)
    out[tuple(inp)] = part
    return out
