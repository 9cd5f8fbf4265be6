"""Recovering dense lung: the COVID-MTL per-slice refinement, made robust.

The threshold mask misses lung made dense by infection (consolidation and ground glass
touching the pleura, "white lung"). Per axial slice and per lung (working grid):

1. **Paper step** (Bao et al. 2021): close with a disk of ``refine.close_mm``
   (``refine.small_close_mm`` for slices with little lung or one lung), take the contour
   at level ``snake.contour_level``, run an active contour (``skimage.segmentation.active_contour``, alpha 0.02, beta 20,
   20 iterations) on the slice with the outside zeroed, fill the snake and unite it with
   the closed mask; optional erosion (``refine.final_erode_mm``) and re-closing.
2. **Pleural pockets** (added here): the concavities of the lung's convex hull are
   candidate pockets. A pocket is filled when it faces the chest wall (its centroid lies
   farther from the slice's body centre than the lung's centroid: the heart, mediastinum
   and the liver dome lie on the inner side and are never filled), holds almost no bone
   and little fat, and is not larger than ``pockets.max_fraction`` of the lung in that
   slice (the liver and spleen domes under a basal lung crescent are). This brings back subpleural consolidation and ground glass of any size
   that a disk closing or a snake only partly bridges.
3. **Contralateral prior for white lung** (added here, 3D, before the slices): when one
   lung's aerated volume is below ``mirror.trigger_ratio`` of the other's, the healthy
   lung is mirrored across the body midline and the lesion-like tissue (below
   ``threshold.lesion_max_hu``, not fat, not bone, inside the body) in that mirror image joins the
   small lung. Lungs are near-symmetric, so this recovers an opaque lung the threshold
   left almost empty; it may add a little heart on the left (the heart is off-centre).
4. A closing along z (``refine.smooth_z`` slices) fills a slice missing between two that have
   lung; holes are filled per slice.

Everything stays inside the body outline, off the airways and off the other lung.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
from scipy import ndimage as ndi
from skimage.draw import polygon
from skimage.measure import find_contours
from skimage.morphology import disk
from skimage.segmentation import active_contour
from threadpoolctl import threadpool_limits

from covidct.lungs.classical import convex_hull, fill_holes
from covidct.lungs.grid import mm_to_px
from covidct.lungs.options import LungOptions
from covidct.lungs.threads import thread_map

__all__ = ["mirror_prior", "refine_labels"]

log = logging.getLogger(__name__)


def _close(mask: np.ndarray, radius_px: float) -> np.ndarray:
    """Binary closing with a Euclidean disk (via distance maps), padded at the border."""
    pad = int(np.ceil(radius_px)) + 1
    padded = np.pad(mask, pad)
    if not padded.any():
        return mask.copy()
    dilated = ndi.distance_transform_edt(~padded) <= radius_px
    closed = ndi.distance_transform_edt(dilated) > radius_px
    return (closed | padded)[pad:-pad, pad:-pad]


def _snake(mask: np.ndarray, hu: np.ndarray, opts: LungOptions) -> np.ndarray:
    """The paper's active contour around ``mask`` on the slice; returns its filled area."""
    contours = find_contours(mask.astype(np.float32), opts.snake.contour_level)
    if not contours:
        return mask
    init = max(contours, key=len)
    if len(init) < 8:
        return mask
    if len(init) > opts.snake.points:
        init = init[np.linspace(0, len(init) - 1, opts.snake.points).astype(int)]
    img = np.clip((hu + 1024.0) / 1024.0, 0.0, 2.0).astype(np.float64)
    img[~mask] = 0.0
    snake = active_contour(  # BLAS on one thread (refine_labels): a small matrix
        img,
        init,
        alpha=opts.snake.alpha,
        beta=opts.snake.beta,
        max_num_iter=opts.snake.iterations,
        boundary_condition="periodic",
    )
    rr, cc = polygon(snake[:, 0], snake[:, 1], shape=mask.shape)
    filled = np.zeros_like(mask)
    filled[rr, cc] = True
    return filled


def _pockets(
    mask: np.ndarray,
    hu: np.ndarray,
    allowed: np.ndarray,
    centre_yx: tuple[float, float],
    opts: LungOptions,
    midline_x: float | None = None,
) -> np.ndarray:
    """Concavities of ``mask``'s convex hull facing the chest wall with lesion-like content."""
    if mask.sum() < 10:
        return mask
    hull = convex_hull(mask)
    cand = hull & ~mask & allowed
    lab, n = ndi.label(cand)
    if n == 0:
        return mask
    cy, cx = centre_yx
    ly, lx = np.mean(np.nonzero(mask), axis=1)
    lung_dist = np.hypot(ly - cy, lx - cx)
    out = mask.copy()
    idx = np.arange(1, n + 1)
    cents = ndi.center_of_mass(cand, lab, idx)
    sizes = ndi.sum_labels(cand, lab, idx)
    bone = ndi.sum_labels(hu > opts.threshold.bone_hu, lab, idx)
    fat = ndi.sum_labels((hu > opts.threshold.fat_hu[0]) & (hu < opts.threshold.fat_hu[1]), lab, idx)
    max_size = opts.pockets.max_fraction * float(mask.sum())
    mid_col = None
    if midline_x is not None and 0 <= round(midline_x) < mask.shape[1]:
        mid_col = round(midline_x)
    for i, (py, px), size, nb, nf in zip(idx, cents, sizes, bone, fat):
        if mid_col is not None and (lab[:, mid_col] == i).any():
            continue  # crosses the body midline: mediastinum
        if size > max_size:
            continue  # larger than the lung part around it: an organ (liver, spleen dome)
        if np.hypot(py - cy, px - cx) <= lung_dist:
            continue  # faces the mediastinum / the abdomen
        if nb > opts.pockets.max_bone_fraction * size or nf > opts.pockets.max_fat_fraction * size:
            continue
        out |= lab == i
    return out


def mirror_prior(
    labels: np.ndarray,
    hu: np.ndarray,
    allowed: np.ndarray,
    midline_x: float,
    opts: LungOptions,
) -> np.ndarray:
    """Add the lesion-like tissue inside the mirrored healthy lung to a much smaller lung.

    Args:
        labels: ``(z, y, x)`` uint8 labels 1/2 on the working grid (x = left-right axis).
        hu: working HU.
        allowed: where lung may be (body, not airway, not bone, not fat).
        midline_x: x index of the body midline.
    Returns:
        new labels (a copy); unchanged when the lungs are of comparable size.
    """
    v = [int((labels == k).sum()) for k in (1, 2)]
    if min(v) >= opts.mirror.trigger_ratio * max(v) or max(v) == 0:
        return labels
    big = 1 if v[0] > v[1] else 2
    small = 3 - big
    nx = labels.shape[2]
    src = np.arange(nx)
    mirrored_from = np.rint(2.0 * midline_x - src).astype(int)  # x' -> source x
    valid = (mirrored_from >= 0) & (mirrored_from < nx)
    mirror = np.zeros(labels.shape, bool)
    mirror[:, :, valid] = (labels == big)[:, :, mirrored_from[valid]]
    add = mirror & allowed & (labels == 0) & (hu < opts.threshold.lesion_max_hu)
    log.info(
        "white-lung prior: lung %d has %.0f%% of lung %d's volume; %d voxels added",
        small, 100.0 * min(v) / max(v), big, int(add.sum()),
    )
    out = labels.copy()
    out[add] = small
    return out


@dataclass(frozen=True)
class _Radii:
    """The refinement's disks in working pixels."""

    close: int  # refine.close_mm
    small: int  # refine.small_close_mm
    erode: int  # refine.final_erode_mm (0: none)


def _paper_step(m: np.ndarray, h: np.ndarray, allowed: np.ndarray, small: bool, r: _Radii,
                opts: LungOptions) -> np.ndarray:
    """The paper's closing, snake and erosion of one lung's slice mask ``m`` (2D)."""
    if small:
        return _close(m, r.small)
    grown = _close(m, r.close)
    if opts.snake.enabled and opts.snake.iterations > 0:
        grown = grown | (_snake(grown, h, opts) & allowed)
    if r.erode > 0:
        grown = _close(ndi.binary_erosion(grown, structure=disk(r.erode)) | m, r.close)
    return grown


def _window(mask: np.ndarray, margin: int) -> tuple[slice, slice]:
    """The bounding box of a 2D ``mask`` grown by ``margin`` pixels, inside the slice."""
    ys, xs = np.nonzero(mask)
    ny, nx = mask.shape
    return (slice(max(0, ys.min() - margin), min(ny, ys.max() + margin + 1)),
            slice(max(0, xs.min() - margin), min(nx, xs.max() + margin + 1)))


def _refine_slice(sl: np.ndarray, h: np.ndarray, allowed_z: np.ndarray, fat_z: np.ndarray,
                  body_z: np.ndarray, r: _Radii, px_mm2: float, opts: LungOptions,
                  midline_x: float | None) -> np.ndarray:
    """Refined labels of one slice ``sl`` (2D); each lung in its own window."""
    out = np.zeros_like(sl)
    present = [k for k in (1, 2) if (sl == k).any()]
    small = np.count_nonzero(sl) * px_mm2 < opts.refine.small_slice_mm2 or len(present) < 2
    by, bx = np.mean(np.nonzero(body_z), axis=1)
    taken = np.zeros(sl.shape, bool)
    for k in present:
        win = _window(sl == k, r.close + 2)
        m = sl[win] == k
        allowed = allowed_z[win] & ~taken[win] & ~(sl[win] == 3 - k)
        grown = (_paper_step(m, h[win], allowed, small, r, opts) & allowed) | m
        if opts.pockets.enabled:
            centre = (by - win[0].start, bx - win[1].start)
            mid = None if midline_x is None else midline_x - win[1].start
            grown = _pockets(grown, h[win], allowed & ~fat_z[win], centre, opts, mid)
        grown = fill_holes(grown) & (allowed | m)
        grown &= ~taken[win]
        out[win][grown] = k
        taken[win] |= grown
    return out


def _smooth_z(out: np.ndarray, allowed: np.ndarray, smooth_z: int) -> None:
    """Close each lung along z over ``2 * smooth_z + 1`` slices, into allowed free voxels
    (a slice missing between two that have lung); in place."""
    if smooth_z <= 0 or out.shape[0] <= 2:
        return
    struct = np.ones((2 * smooth_z + 1, 1, 1), bool)
    for k in (1, 2):
        closed = ndi.binary_closing(out == k, structure=struct) & allowed & (out == 0)
        out[closed] = k


def refine_labels(
    labels: np.ndarray,
    hu: np.ndarray,
    body: np.ndarray,
    forbidden: np.ndarray,
    spacing: tuple[float, float, float],
    opts: LungOptions,
    midline_x: float | None = None,
) -> np.ndarray:
    """Per-slice refinement of uint8 lung labels (1 right, 2 left) on the working grid.

    ``hu``: working HU ``(z, y, x)``; ``body``: body mask; ``forbidden``: never lung
    (bone, airway wall, abdominal gas); ``spacing``: ``(sz, sy, sx)`` mm; ``midline_x``:
    x index of the body midline (pockets crossing it are mediastinum). Returns new labels.
    """
    sy = spacing[1]
    r = _Radii(close=mm_to_px(opts.refine.close_mm, sy),
               small=mm_to_px(opts.refine.small_close_mm, sy),
               erode=mm_to_px(opts.refine.final_erode_mm, sy, minimum=0))
    fat = (hu > opts.threshold.fat_hu[0]) & (hu < opts.threshold.fat_hu[1])
    allowed = body & ~forbidden & (hu < opts.threshold.lesion_max_hu)
    out = np.zeros_like(labels)
    zs = np.nonzero(labels.any(axis=(1, 2)))[0]

    def one(z: int) -> np.ndarray:
        return _refine_slice(labels[z], hu[z], allowed[z], fat[z], body[z], r, spacing[1] * spacing[2],
                             opts, midline_x)

    with threadpool_limits(1):  # the snakes' small matrices: BLAS threads only contend
        for z, refined in zip(zs, thread_map(one, zs)):
            out[z] = refined
    _smooth_z(out, allowed, opts.refine.smooth_z)
    return out
