"""Vessels and bronchial walls at the hila: bright tubes and thin sheets in aerated lung.

Near the mediastinum the lung mask holds the large hilar vessels (+40 HU) and bronchial
walls, crowded enough to pass the lesion detector's density test. They differ from
lesion by shape, measured with the Hessian-based objectness of ITK (Frangi's vesselness
generalised by Antiga, ``sitk.ObjectnessMeasure``; tube = 1-D object, sheet = 2-D object,
bright on dark, in mm through the image spacing) and by their surroundings: a vessel or a
bronchial wall is surrounded by aerated lung, a lesion edge only on one side.

Functions take ``(z, y, x)`` arrays and the spacing ``(sz, sy, sx)`` in mm.
"""

from __future__ import annotations

import numpy as np
import SimpleITK as sitk
from scipy import ndimage as ndi

__all__ = ["aerated_share", "hilum_region", "mediastinal_gap", "objectness"]


def _image(array: np.ndarray, spacing: tuple[float, float, float]) -> sitk.Image:
    image = sitk.GetImageFromArray(np.asarray(array, dtype=np.float32))
    image.SetSpacing(tuple(float(s) for s in spacing[::-1]))
    return image


def objectness(
    image_hu: np.ndarray,
    spacing: tuple[float, float, float],
    *,
    sigma_mm: float,
    dimensions: tuple[int, ...] = (1,),
) -> list[np.ndarray]:
    """Bright-object objectness of ``image_hu`` at scale ``sigma_mm``, scale-normalised.

    Args:
        image_hu: ``(z, y, x)`` image in HU.
        spacing: ``(sz, sy, sx)`` in mm.
        sigma_mm: Gaussian scale in mm (a tube of radius ~``sigma_mm * sqrt(2)`` responds most).
        dimensions: object dimensions to measure, one array each: 1 for tubes (vessels),
            2 for sheets (bronchial walls, fissures).

    Returns:
        ``(z, y, x)`` float32 objectness times ``sigma_mm ** 2`` per dimension (0 where the
        structure is not a bright object of that dimension; a HU contrast scale otherwise).
    """
    array = np.asarray(image_hu, dtype=np.float32)
    # ITK's recursive Gaussian needs at least 4 pixels per axis: pad thin boxes by edge values
    pad = [(0, max(4 - n, 0)) for n in array.shape]
    smooth = sitk.SmoothingRecursiveGaussian(_image(np.pad(array, pad, mode="edge"), spacing),
                                             float(sigma_mm))
    crop = tuple(slice(0, n) for n in array.shape)
    out = []
    for dimension in dimensions:
        measure = sitk.ObjectnessMeasure(
            smooth, alpha=0.5, beta=0.5, gamma=100.0, scaleObjectnessMeasure=True,
            objectDimension=int(dimension), brightObject=True,
        )
        out.append(sitk.GetArrayFromImage(measure)[crop] * np.float32(sigma_mm**2))
    return out


def aerated_share(
    aerated: np.ndarray, lung: np.ndarray, spacing: tuple[float, float, float], sigma_mm: float
) -> np.ndarray:
    """Gaussian-weighted share (0..1) of the lung around each voxel that is ``aerated``."""
    sigma = [sigma_mm / s for s in spacing]
    num = ndi.gaussian_filter((aerated & lung).astype(np.float32), sigma, mode="constant",
                              truncate=2.5)
    den = ndi.gaussian_filter(lung.astype(np.float32), sigma, mode="constant", truncate=2.5)
    return num / np.maximum(den, 1e-3)


def mediastinal_gap(labels: np.ndarray) -> np.ndarray:
    """The space between the two lungs, row by row: ``(z, y, x)`` bool.

    On each ``(z, y)`` row that crosses both lungs, the voxels with ``x`` between the
    right lung's last voxel and the left lung's first one (labels 1 = right, 2 = left, the
    right lung at smaller ``x`` as in LPS); when the mask is not split into two labels, the
    longest run of non-lung between the row's first and last lung voxel.
    """
    lab = np.asarray(labels)
    x = np.arange(lab.shape[2])
    if (lab == 1).any() and (lab == 2).any():
        right, left = lab == 1, lab == 2
        last_right = np.where(right, x, -1).max(axis=2)
        first_left = np.where(left, x, lab.shape[2]).min(axis=2)
        ok = (last_right >= 0) & (first_left < lab.shape[2]) & (first_left > last_right + 1)
        return ok[..., None] & (x > last_right[..., None]) & (x < first_left[..., None])
    lung = lab > 0
    gap = np.zeros(lung.shape, dtype=bool)
    for z, y in zip(*np.nonzero(lung.any(axis=2))):
        row = lung[z, y]
        idx = np.flatnonzero(row)
        inner = ~row[idx[0]:idx[-1] + 1]
        if not inner.any():
            continue
        runs, _ = ndi.label(inner)
        sizes = np.bincount(runs)[1:]
        gap[z, y, idx[0]:idx[-1] + 1] = runs == int(np.argmax(sizes)) + 1
    return gap


def hilum_region(
    labels: np.ndarray, spacing: tuple[float, float, float], reach_mm: float
) -> np.ndarray:
    """Voxels within ``reach_mm`` (in-plane) of the mediastinal gap of their own slice."""
    gap = mediastinal_gap(labels)
    if not gap.any():
        return np.zeros(gap.shape, dtype=bool)
    # on a grid of half the in-plane resolution (the reach is tens of pixels); a huge slice
    # spacing makes the distance in-plane only (other slices are out of reach)
    coarse = gap[:, ::2, ::2]
    far = (1.0e6, 2.0 * float(spacing[1]), 2.0 * float(spacing[2]))
    dist = sitk.SignedMaurerDistanceMap(
        _image(coarse.astype(np.uint8), far) > 0, insideIsPositive=False, squaredDistance=False,
        useImageSpacing=True,
    )
    near = sitk.GetArrayViewFromImage(dist) <= reach_mm
    return np.repeat(np.repeat(near, 2, axis=1), 2, axis=2)[:, : gap.shape[1], : gap.shape[2]]
