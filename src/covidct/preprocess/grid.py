"""Putting every study on one common grid (COVID-MTL's 1 mm, 340 x 390 x 390 and smaller presets).

A study is resampled to the preset's spacing, everything outside the lungs is blanked, and the
result is cropped or padded to the preset's shape. Unlike the paper (a crop about the volume
centre), the window is centred on the lungs' bounding box, so lungs are never cut when they fit;
when they do not fit, the result says so (``fits=False`` and how many lung voxels were lost).
Geometry is kept exact: the grid volume's origin places it in the CT's physical space, so it
overlays the original in any viewer.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import SimpleITK as sitk

from covidct.errors import InvalidInputError, NoLungsFoundError
from covidct.io import CTVolume, check_same_grid
from covidct.io.layout import Layout

__all__ = ["GRID_PRESETS", "GridCase", "GridPreset", "from_grid", "get_grid", "resample", "to_grid"]


@dataclass(frozen=True)
class GridPreset:
    """A common grid: voxel spacing, array shape, and the network's input crop.

    Attributes:
        name: preset name.
        spacing_mm: ``(sz, sy, sx)`` voxel size in mm.
        shape: ``(D, H, W)`` grid shape in voxels.
        crop: ``(D, H, W)`` network input crop taken from the grid (random in training).
        fill_hu: value written outside the lungs (HU); air by default.
    """

    name: str
    spacing_mm: tuple[float, float, float]
    shape: tuple[int, int, int]
    crop: tuple[int, int, int]
    fill_hu: int = -1024

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dict of the preset (written into manifests)."""
        return asdict(self)


GRID_PRESETS: dict[str, GridPreset] = {
    g.name: g
    for g in (
        # The paper's grid: 1 mm isotropic, 340 x 390 x 390, network input 200 x 250 x 250.
        GridPreset("paper", (1.0, 1.0, 1.0), (340, 390, 390), (200, 250, 250)),
        # CPU presets: the same field of view at coarser spacing.
        GridPreset("cpu-2mm", (2.0, 2.0, 2.0), (170, 195, 195), (100, 125, 125)),
        GridPreset("cpu-3mm", (3.0, 3.0, 3.0), (114, 130, 130), (68, 84, 84)),
        GridPreset("tiny-6mm", (6.0, 6.0, 6.0), (57, 65, 65), (34, 42, 42)),
    )
}


def get_grid(name: str) -> GridPreset:
    """The grid preset called ``name`` (see :data:`GRID_PRESETS`)."""
    try:
        return GRID_PRESETS[name]
    except KeyError:
        raise InvalidInputError(
            f"unknown grid preset {name!r}; expected one of {sorted(GRID_PRESETS)}"
        ) from None


def resample(
    volume: CTVolume,
    spacing_mm: tuple[float, float, float],
    *,
    labels: bool = False,
    fill: float = -1024,
) -> CTVolume:
    """Resample a volume to ``spacing_mm`` (z, y, x) over the same physical extent.

    CT values use B-spline interpolation (the COVID-MTL/pyradiomics choice), rounded back to
    the input dtype for integer images; label images (``labels=True``) use label-wise linear
    interpolation, which keeps thin structures better than nearest neighbour.
    """
    image = volume.to_sitk()
    new_spacing = tuple(float(s) for s in spacing_mm[::-1])  # x, y, z for SimpleITK
    size = [
        max(1, int(round(n * s / ns)))
        for n, s, ns in zip(image.GetSize(), image.GetSpacing(), new_spacing)
    ]
    if labels:
        interpolator = sitk.sitkLabelLinear
        default = 0.0
    else:
        interpolator = sitk.sitkBSpline
        default = float(fill)
    # Keep the physical centre of the first voxel's cell edge: origin shifts by half a voxel.
    direction = np.array(image.GetDirection()).reshape(3, 3)
    old_sp = np.array(image.GetSpacing())
    new_sp = np.array(new_spacing)
    origin = np.array(image.GetOrigin()) + direction @ ((new_sp - old_sp) / 2.0)
    pixel = image.GetPixelID() if labels else sitk.sitkFloat32
    out = sitk.Resample(
        image, size, sitk.Transform(), interpolator, origin.tolist(), new_spacing,
        image.GetDirection(), default, pixel,
    )
    result = CTVolume.from_sitk(out, metadata=volume.metadata, is_hu=volume.is_hu)
    dtype = volume.array.dtype
    if not labels and np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        arr = np.clip(np.rint(result.array), info.min, info.max).astype(dtype)
        result = result.with_array(arr)
    return result


@dataclass(frozen=True, eq=False)
class GridCase:
    """One study on a common grid.

    Attributes:
        volume: the CT on the grid (int16 HU, blanked outside the lungs), geometry exact.
        lungs: uint8 (z, y, x) lung labels on the grid (0, 1 right, 2 left).
        lesions: uint8 lesion labels on the grid, or None.
        info: offsets, whether the lungs fit, lost lung voxels, lung bounding box.
    """

    volume: CTVolume
    lungs: np.ndarray
    lesions: np.ndarray | None
    info: dict[str, Any]


def _window(lo: int, hi: int, n_src: int, n_out: int) -> int:
    """Start index (in source voxels, may be negative) of an n_out window centred on [lo, hi)."""
    centre = (lo + hi) / 2.0
    return int(np.floor(centre - n_out / 2.0 + 0.5))


def _take(array: np.ndarray, starts: tuple[int, ...], shape: tuple[int, ...], fill: float) -> np.ndarray:
    """Crop/pad ``array`` to ``shape`` starting at ``starts`` (may be negative or past the end)."""
    out = np.full(shape, fill, dtype=array.dtype)
    src, dst = [], []
    for s, n_out, n_src in zip(starts, shape, array.shape):
        a0, a1 = max(s, 0), min(s + n_out, n_src)
        if a1 <= a0:
            return out
        src.append(slice(a0, a1))
        dst.append(slice(a0 - s, a1 - s))
    out[tuple(dst)] = array[tuple(src)]
    return out


def _in_lps_layout(volume: CTVolume, lungs: np.ndarray, lesions: np.ndarray | None
                   ) -> tuple[CTVolume, np.ndarray, np.ndarray | None]:
    """The CT and its masks laid as a DICOM axial series (:class:`~covidct.io.layout.Layout`:
    x to the patient's left, y to the back, z to the head), so that every grid case holds its
    patient the same way whatever the file's order (a NIfTI in RAS is flipped in x and y)."""
    layout = Layout.of(volume.direction)
    if layout.is_standard:
        return volume, lungs, lesions
    masks = [None if m is None else layout.lay(np.asarray(m)) for m in (lungs, lesions)]
    return layout.lay_volume(volume), masks[0], masks[1]


def to_grid(
    volume: CTVolume,
    lungs: np.ndarray,
    grid: GridPreset,
    *,
    lesions: np.ndarray | None = None,
) -> GridCase:
    """Resample a CT and its masks to ``grid``, blank outside the lungs, crop/pad about the lungs.

    Args:
        volume: the CT (HU).
        lungs: lung labels on the CT's grid (0 background, 1 right, 2 left).
        grid: the target grid preset.
        lesions: optional lesion labels on the CT's grid.

    Raises:
        GeometryMismatchError: a mask does not match the CT's shape.
        NoLungsFoundError: the lung mask is empty.
    """
    check_same_grid(volume, lungs, name="lung mask")
    if lesions is not None:
        check_same_grid(volume, lesions, name="lesion mask")
    if not np.any(lungs):
        raise NoLungsFoundError("the lung mask is empty: nothing to put on the grid")
    volume, lungs, lesions = _in_lps_layout(volume, lungs, lesions)
    ct = resample(volume, grid.spacing_mm, fill=grid.fill_hu)
    lung_r = resample(volume.with_array(np.asarray(lungs, np.uint8)), grid.spacing_mm, labels=True)
    lungs_g = lung_r.array.astype(np.uint8)
    if not np.any(lungs_g):
        raise NoLungsFoundError("the lungs vanish when resampled to the grid spacing")
    zyx = np.nonzero(lungs_g)
    lo = [int(a.min()) for a in zyx]
    hi = [int(a.max()) + 1 for a in zyx]
    starts = tuple(_window(a, b, n, g) for a, b, n, g in zip(lo, hi, lungs_g.shape, grid.shape))

    ct_arr = np.where(lungs_g > 0, ct.array, grid.fill_hu).astype(np.int16)
    ct_g = _take(ct_arr, starts, grid.shape, grid.fill_hu)
    lungs_out = _take(lungs_g, starts, grid.shape, 0)
    lesions_out = None
    if lesions is not None:
        les_r = resample(volume.with_array(np.asarray(lesions, np.uint8)), grid.spacing_mm,
                         labels=True)
        lesions_out = _take(les_r.array.astype(np.uint8) * (lungs_g > 0), starts, grid.shape, 0)

    lost = int(np.count_nonzero(lungs_g)) - int(np.count_nonzero(lungs_out))
    direction = np.array(ct.direction).reshape(3, 3)
    offset_xyz = np.array(starts[::-1], float) * np.array(ct.spacing[::-1])
    origin = tuple(np.array(ct.origin) + direction @ offset_xyz)
    grid_volume = CTVolume(
        array=ct_g, spacing=grid.spacing_mm, origin=origin, direction=ct.direction,
        metadata={**volume.metadata, "grid": grid.name},
    )
    info = {
        "grid": grid.name,
        "offset_voxels_zyx": list(starts),
        "lung_bbox_zyx": [lo, hi],
        "lung_extent_mm_zyx": [(b - a) * s for a, b, s in zip(lo, hi, grid.spacing_mm)],
        "fits": lost == 0,
        "lost_lung_voxels": lost,
    }
    return GridCase(volume=grid_volume, lungs=lungs_out, lesions=lesions_out, info=info)


def from_grid(
    values: np.ndarray, grid_volume: CTVolume, target: CTVolume, *, labels: bool = False
) -> np.ndarray:
    """Map an array on a grid case's geometry back onto another volume's (e.g. the original CT).

    Args:
        values: (z, y, x) array with the shape of ``grid_volume`` (heat map, mask, ...).
        grid_volume: the grid CT of :func:`to_grid` (its origin, spacing and direction are exact).
        target: the volume whose grid the result takes (the CT the grid case was made from).
        labels: nearest-neighbour for label arrays (uint8 out); linear otherwise (float32 out).

    Voxels of ``target`` outside the grid's field of view get 0.
    """
    check_same_grid(grid_volume, values, name="grid values")
    dtype = np.uint8 if labels else np.float32
    moving = grid_volume.with_array(np.asarray(values, dtype)).to_sitk()
    reference = target.to_sitk()
    out = sitk.Resample(
        moving, reference, sitk.Transform(),
        sitk.sitkNearestNeighbor if labels else sitk.sitkLinear, 0.0,
        sitk.sitkUInt8 if labels else sitk.sitkFloat32,
    )
    return sitk.GetArrayFromImage(out).astype(dtype, copy=False)
