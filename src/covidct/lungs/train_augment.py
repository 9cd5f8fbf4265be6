"""Anatomical variety for the lung model's training: new chests made from a real CT.

One variant of a real CT and its lung labels (:func:`deformed_variant`):

* a random 3D deformation of CT and labels together (:func:`deform`): scale per axis,
  in-plane rotation, a small tilt and a smooth B-spline displacement field (SimpleITK;
  CT linear, labels nearest neighbour), resampled onto ``pixel_mm`` in-plane pixels
  (the model's grid; slices kept);
* a thicker body (:func:`grow_body`): a layer of subcutaneous fat around the body;
* contrast-enhanced heart and vessels (:func:`enhance_mediastinum`): soft tissue between
  the lungs made brighter;
* simulated disease painted into the deformed lungs (:func:`covidct.phantom.paint_into`),
  COVID or lobar pneumonia at 25-85 % involvement, up to white lung.

The label of a variant is the deformed lung labels: exact by construction.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import SimpleITK as sitk
from scipy import ndimage as ndi

from covidct.io.volume import CTVolume

__all__ = ["DeformOptions", "deform", "deformed_variant", "enhance_mediastinum", "grow_body"]


@dataclass(frozen=True, kw_only=True)
class DeformOptions:
    """Ranges of the random changes of :func:`deformed_variant`.

    Attributes:
        scale: anatomy scale per axis (z, y, x drawn independently).
        rotate_deg: in-plane rotation (degrees, +-).
        tilt_deg: rotation about the left-right axis (degrees, +-).
        warp_mm: SD of the B-spline displacement coefficients in-plane (mm; z: a third).
        warp_mesh: B-spline mesh size (x, y, z).
        fat_mm: thickness range of added subcutaneous fat (mm); drawn with ``fat_p``.
        enhance_hu: HU added to mediastinal soft tissue; drawn with ``enhance_p``.
        involvement: painted lung share range; clear variants with ``clear_p``.
        consolidation: consolidated share of the painted volume.
    """

    scale: tuple[float, float] = (0.85, 1.15)
    rotate_deg: float = 10.0
    tilt_deg: float = 4.0
    warp_mm: float = 6.0
    warp_mesh: tuple[int, int, int] = (4, 4, 3)
    fat_mm: tuple[float, float] = (5.0, 25.0)
    fat_p: float = 0.4
    enhance_hu: tuple[float, float] = (80.0, 250.0)
    enhance_p: float = 0.5
    involvement: tuple[float, float] = (0.25, 0.85)
    consolidation: tuple[float, float] = (0.2, 1.0)
    clear_p: float = 0.2


def _transform(image: sitk.Image, centre_xyz: tuple[float, ...], rng: np.random.Generator,
               opts: DeformOptions) -> sitk.Transform:
    """Output point -> input point: the inverse of the anatomy's scale / rotation, then a warp."""
    sz, sy, sx = rng.uniform(*opts.scale, size=3)
    a = np.deg2rad(rng.uniform(-opts.rotate_deg, opts.rotate_deg))
    t = np.deg2rad(rng.uniform(-opts.tilt_deg, opts.tilt_deg))
    rot_z = np.array([[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0], [0, 0, 1]])
    rot_x = np.array([[1, 0, 0], [0, np.cos(t), -np.sin(t)], [0, np.sin(t), np.cos(t)]])
    forward = rot_x @ rot_z @ np.diag([sx, sy, sz])  # physical x, y, z (LPS)
    affine = sitk.AffineTransform(3)
    affine.SetCenter(tuple(float(c) for c in centre_xyz))
    affine.SetMatrix(tuple(np.linalg.inv(forward).ravel().tolist()))
    warp = sitk.BSplineTransformInitializer(image, list(opts.warp_mesh), 3)
    n = len(warp.GetParameters()) // 3
    sd = np.repeat([opts.warp_mm, opts.warp_mm, opts.warp_mm / 3.0], n)
    warp.SetParameters(tuple((rng.normal(0.0, 1.0, 3 * n) * sd).tolist()))
    return sitk.CompositeTransform([warp, affine])


def deform(volume: CTVolume, labels: np.ndarray, rng: np.random.Generator, *, pixel_mm: float,
           opts: DeformOptions = DeformOptions()) -> tuple[CTVolume, np.ndarray]:
    """A random deformation of ``volume`` (HU) and its ``labels`` (z, y, x, same grid) together,
    resampled to ``pixel_mm`` in-plane pixels (slices kept): CT linear (-1024 HU outside),
    labels nearest neighbour. Returns the float32 CT and uint8 labels on the new grid."""
    image = volume.to_sitk(np.asarray(volume.array, np.float32))
    lab = volume.to_sitk(np.asarray(labels, np.uint8))
    idx = np.argwhere(np.asarray(labels) > 0)
    centre_idx = idx.mean(axis=0)[::-1] if len(idx) else (np.array(volume.shape[::-1]) - 1) / 2.0
    centre = image.TransformContinuousIndexToPhysicalPoint(tuple(float(c) for c in centre_idx))
    transform = _transform(image, centre, rng, opts)
    old = np.array(image.GetSpacing())
    new = np.array([pixel_mm, pixel_mm, old[2]])
    size = [max(1, int(round(n * s / ns))) for n, s, ns in zip(image.GetSize(), old, new)]
    direction = np.array(image.GetDirection()).reshape(3, 3)
    origin = (np.array(image.GetOrigin()) + direction @ ((new - old) / 2.0)).tolist()
    args = (size, transform)
    geo = (origin, new.tolist(), image.GetDirection())
    ct = sitk.Resample(image, *args, sitk.sitkLinear, *geo, -1024.0, sitk.sitkFloat32)
    out_lab = sitk.Resample(lab, *args, sitk.sitkNearestNeighbor, *geo, 0.0, sitk.sitkUInt8)
    out = CTVolume.from_sitk(ct, metadata=volume.metadata)
    return out, sitk.GetArrayFromImage(out_lab)


def grow_body(hu: np.ndarray, spacing: tuple[float, float, float], mm: float,
              rng: np.random.Generator, *, body_hu: float = -500.0) -> np.ndarray:
    """``hu`` (z, y, x) with a layer of fat (-100 +- 15 HU) ``mm`` thick (in-plane) around the body."""
    from covidct.lungs.classical import body_mask

    body = body_mask(hu, body_hu)
    if not body.any():
        return hu.copy()
    out = hu.copy()
    outside = hu <= body_hu  # the body mask's opening may leave out single edge voxels: keep them
    for z in np.nonzero(body.any(axis=(1, 2)))[0]:
        dist = ndi.distance_transform_edt(~body[z], sampling=spacing[1:])
        ring = (dist > 0) & (dist <= mm) & outside[z]
        out[z][ring] = rng.normal(-100.0, 15.0, int(ring.sum()))
    return out


def enhance_mediastinum(hu: np.ndarray, labels: np.ndarray, gain_hu: float) -> np.ndarray:
    """``hu`` with soft tissue (-30..150 HU) between the lungs (per slice, inside the convex
    hull of the lung labels, not lung) raised by up to ``gain_hu`` (smooth edges)."""
    from skimage.morphology import convex_hull_image

    lung = np.asarray(labels) > 0
    region = np.zeros(hu.shape, bool)
    for z in np.nonzero(lung.any(axis=(1, 2)))[0]:
        region[z] = convex_hull_image(lung[z])
    region &= ~lung & (hu > -30) & (hu < 150)
    weight = ndi.gaussian_filter(region.astype(np.float32), sigma=(0, 1.0, 1.0)) * region
    return hu + gain_hu * weight


def deformed_variant(volume: CTVolume, labels: np.ndarray, seed: int, *, pixel_mm: float,
                     opts: DeformOptions = DeformOptions()) -> tuple[CTVolume, np.ndarray]:
    """Variant ``seed`` of a real clear-lung CT and its lung labels (1 right, 2 left): deformed,
    maybe a thicker body and enhanced mediastinum, and (unless drawn clear) disease painted in.
    Returns the int16 CT on ``pixel_mm`` in-plane pixels and its uint8 lung labels."""
    from covidct.phantom import paint_into

    rng = np.random.default_rng(seed)
    vol, lab = deform(volume, labels, rng, pixel_mm=pixel_mm, opts=opts)
    hu = np.asarray(vol.array, np.float32)
    if rng.uniform() < opts.fat_p:
        hu = grow_body(hu, vol.spacing, float(rng.uniform(*opts.fat_mm)), rng)
    if rng.uniform() < opts.enhance_p:
        hu = enhance_mediastinum(hu, lab, float(rng.uniform(*opts.enhance_hu)))
    vol = vol.with_array(np.clip(np.rint(hu), -1024, 3071).astype(np.int16))
    if rng.uniform() < opts.clear_p or not ((lab == 1).any() and (lab == 2).any()):
        return vol, lab
    diagnosis = "covid" if rng.uniform() < 0.6 else "pneumonia"
    sick, _ = paint_into(vol, lab, diagnosis=diagnosis, fraction=float(rng.uniform(*opts.involvement)),
                         consolidation_share=float(rng.uniform(*opts.consolidation)), seed=seed)
    return sick, lab
