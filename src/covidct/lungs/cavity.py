"""Thoracic-cavity recovery of dense lung in bilateral disease.

The per-slice refinement (:mod:`covidct.lungs.refine`) bridges dense lung that is enclosed
by aerated lung, and the mirror prior recovers one opaque lung from the other. Neither helps
when both lungs carry dense, subpleural, posterior disease over many slices (COVID-19): the
dense band lies *between* the aerated lung and the chest wall, at the edge of every convex
hull, in both lungs. This step models the thoracic cavity instead (working grid, per axial
slice, per lung). It runs only on diseased lungs (:func:`diseased_lungs`: at least
``cavity_min_ggo_share`` of one lung's interior is ground glass, ``cavity_min_dense_share``
is dense, or ``cavity_min_lesion_share`` is either); clear lungs are left alone, so the
growth cannot take chest wall, stomach wall or spleen there. Once it runs, only the lungs
with at least ``cavity_grow_share`` of lesion-range tissue grow: a clear lung beside a
sick one keeps its outline (on a real CT with painted unilateral pneumonia, growing the
clear lung took mediastinal fat and heart wall).

1. **Rib line.** Bone (``cavity_bone_hu``, on an in-plane 3 x 3 median of the HU) is projected
   over a slab of ``rib_slab_mm`` above and below the slice: the ribs run obliquely, so one
   slice cuts only arcs of them, the slab shows the whole cage. The slab bone, grown by one
   pixel, is the wall (ribs with the intercostal muscle between them).
2. **Cage.** The convex hull of the slab bone is the space enclosed by the rib cage; its
   pixels deeper than ``cavity_band_mm`` from the hull outline are *central* (mediastinum,
   heart, the liver and spleen domes) and are not taken.
3. **Lung-compatible tissue**: inside the cage and the body, not wall, not fat
   (``cavity_fat_hu``, smoothed HU, in layers at least 3 pixels thick and regions of
   ``cavity_fat_min_ml``: thinner fat-range lines are partial volume at the edge of
   consolidation), below ``cavity_dense_max_hu`` (consolidation and ground
   glass; not contrast blood, not bone, mostly not liver), not airway, on the lung's own
   side of the midline and not the other lung.
4. **Growth.** Each lung grows in-plane into the lung-compatible tissue connected to it, at
   most ``cavity_reach_mm`` (geodesic) from its current mask. Fat layers (mediastinal and
   pericardial fat, the fat under the diaphragm) stop the growth medially and inferiorly; the
   rib line stops it laterally and posteriorly; a strip of ``_MID_STRIP_MM`` on each side
   of the body midline is never taken (the parts beyond it are kept). An added part must
   reach the rib line, or be mostly enclosed by the lung (``cavity_enclosed_share`` of
   its outline: consolidation at the hilum). Added voxels next to dense non-lung tissue
   (heart wall, muscle) are dropped at the end: they are mostly that tissue.
5. **Extent in z.** Above the widest lung slice, slices are only grown where the lung
   already exists (the apex stays where the aerated lung ends); holes are filled per
   slice. Below the widest lung slice (the diaphragm domes) slices are done from the top
   down and a slice only grows under the lung of the slice above it (grown by ``cavity_base_margin_mm``):
   the liver, stomach and spleen domes rise into the cavity from below and are never
   under lung. There the outline of the slice above is carried down onto the compatible
   tissue under it (the lung outline changes smoothly in z), also into slices with no
   aerated lung left (a consolidated base), and need not reach the rib line.
6. **Dense holes.** Finally, tissue a grown lung encloses in its slice (up to
   ``_MAX_HOLE_MM2``, not bone, not airway: vessels, consolidation denser than
   ``cavity_dense_max_hu``) is lung.

Unsupervised and rule-based. The options are in mm, mm² and mL; a few structural sizes
are still working-grid pixels (1.25 mm by default, the input's pixel when coarser): the
interior erosion of :func:`lesion_shares` (2), the fat-layer thickness (3), the rib wall
(1 + 2) and the dome carving's wall reach (3), and ``_MIN_BONE_PX``. Slices without a
visible cage (fewer than ``_MIN_BONE_PX`` bone pixels in the slab) are left unchanged.
"""

from __future__ import annotations

import logging

import numpy as np
from scipy import ndimage as ndi
from skimage.morphology import convex_hull_image

from covidct.lungs.options import LungOptions

__all__ = ["carve_domes", "cavity_fill", "diseased_lungs", "is_diseased", "lesion_shares", "rib_slab"]

log = logging.getLogger(__name__)

_MIN_BONE_PX = 30
_MID_STRIP_MM = 8.0  # growth never comes closer than this to the body midline (mediastinum)
# fat-range lines of partial volume at the edge of consolidation are opened away (see
# _fat_layers; none on coarse grids, where a real fat layer is only a pixel or two)
_PV_LINE_MM = 1.5
_MAX_HOLE_MM2 = 600.0  # dense holes inside a grown lung slice up to this area are lung
_IN_PLANE = np.zeros((3, 3, 3), bool)  # 8-connectivity within a slice, for 3D labelling
_IN_PLANE[1] = True


def rib_slab(
    smooth_hu: np.ndarray, spacing: tuple[float, float, float], opts: LungOptions
) -> np.ndarray:
    """Boolean ``(z, y, x)`` bone projected over ``+-rib_slab_mm`` in z (the rib cage)."""
    bone = smooth_hu > opts.cavity_bone_hu
    k = round(opts.rib_slab_mm / spacing[0])
    if k <= 0:
        return bone
    return ndi.maximum_filter1d(bone.view(np.uint8), size=2 * k + 1, axis=0).astype(bool)


def lesion_shares(
    labels: np.ndarray, hu: np.ndarray, opts: LungOptions
) -> tuple[tuple[float, float], tuple[float, float]]:
    """Shares of ground glass and of dense tissue inside the right and left lung.

    The interior is each lung's mask eroded in-plane by 2 pixels (partial volume at the
    pleura is neither). Ground glass: HU in ``cavity_ggo_hu``; dense: from its upper end
    to ``bone_hu`` (vessels, consolidation). Returns ((ggo_right, ggo_left),
    (dense_right, dense_left)); 0 for an empty lung.
    """
    lo, hi = opts.cavity_ggo_hu
    ggo, dense = [], []
    for k in (1, 2):
        inner = ndi.binary_erosion(labels == k, structure=np.ones((1, 5, 5), bool))
        vals = hu[inner]
        n = max(1, vals.size)
        ggo.append(float(np.count_nonzero((vals > lo) & (vals < hi))) / n)
        dense.append(float(np.count_nonzero((vals >= hi) & (vals < opts.bone_hu))) / n)
    return (ggo[0], ggo[1]), (dense[0], dense[1])


def diseased_lungs(
    labels: np.ndarray, hu: np.ndarray, opts: LungOptions,
    *, shares: tuple[tuple[float, float], tuple[float, float]] | None = None,
) -> list[int]:
    """The lung labels (1 right, 2 left) holding at least ``cavity_min_ggo_share`` of ground
    glass, ``cavity_min_dense_share`` of dense tissue (white lung) or
    ``cavity_min_lesion_share`` of both; ``shares``: :func:`lesion_shares` when already known."""
    return _diseased(*(shares or lesion_shares(labels, hu, opts)), opts)


def _diseased(ggo: tuple[float, float], dense: tuple[float, float], opts: LungOptions) -> list[int]:
    return [k for k, g, d in zip((1, 2), ggo, dense)
            if g >= opts.cavity_min_ggo_share or d >= opts.cavity_min_dense_share
            or g + d >= opts.cavity_min_lesion_share]


def is_diseased(labels: np.ndarray, hu: np.ndarray, opts: LungOptions) -> bool:
    """True when at least one lung is diseased (:func:`diseased_lungs`)."""
    return bool(diseased_lungs(labels, hu, opts))


def _fat_layers(fat: np.ndarray, dense: np.ndarray, spacing: tuple[float, float, float],
                min_ml: float) -> np.ndarray:
    """The fat that stops the growth (boolean ``(z, y, x)``).

    Partial volume between aerated lung (-850 HU) and consolidation (-50..+50 HU) gives
    thin lines and specks in the fat range that would wall consolidated lung off from the
    lung it belongs to. So fat lines thinner than about 2 x ``_PV_LINE_MM`` (an in-plane
    opening of ``round(_PV_LINE_MM / pixel)`` iterations: one on the 1.25 mm working grid,
    none on pixels of 3 mm and more) stop the growth only where they lie against ``dense``
    tissue (the pericardial fat on the heart wall, the fat on chest-wall muscle); then only
    3D regions of at least ``min_ml`` count.
    """
    it = round(_PV_LINE_MM / spacing[1])
    if it > 0:
        near_dense = ndi.binary_dilation(dense, structure=np.ones((1, 3, 3), bool), iterations=it)
        fat = ndi.binary_opening(fat, structure=np.ones((1, 3, 3), bool), iterations=it) | (
            fat & near_dense)
    lab, n = ndi.label(fat)
    if n == 0 or min_ml <= 0:
        return fat
    sizes = np.bincount(lab.ravel()) * float(np.prod(spacing)) / 1000.0
    sizes[0] = 0.0
    return np.isin(lab, np.nonzero(sizes >= min_ml)[0])


def _side_mask(shape: tuple[int, int], midline_x: float | None, lung: np.ndarray) -> np.ndarray:
    """Pixels on the same side of the midline as ``lung`` (all True without a midline)."""
    if midline_x is None:
        return np.ones(shape, bool)
    xs = np.arange(shape[1])
    low = float(np.mean(np.nonzero(lung)[1])) < midline_x
    side = xs < midline_x if low else xs > midline_x
    return np.broadcast_to(side[None, :], shape)


def _touching(add: np.ndarray, near_wall: np.ndarray, mid_band: np.ndarray,
              lung: np.ndarray | None = None, enclosed_share: float = 2.0) -> np.ndarray:
    """The connected parts of ``add`` that reach the rib line (dense lung at the pleura),
    or whose outline is at least ``enclosed_share`` lung (a dense pocket enclosed by the
    lung, e.g. at the hilum), and do not reach the body midline (the mediastinum and heart do)."""
    lab, n = ndi.label(add, structure=np.ones((3, 3), bool))
    if n == 0:
        return add
    hit = set(np.unique(lab[near_wall & (lab > 0)]).tolist())
    if lung is not None and enclosed_share <= 1.0:
        ring_lab = ndi.grey_dilation(lab, size=(3, 3))
        ring = (lab == 0) & (ring_lab > 0)
        total = np.bincount(ring_lab[ring], minlength=n + 1)
        on_lung = np.bincount(ring_lab[ring & lung], minlength=n + 1)
        hit |= {i for i in range(1, n + 1) if total[i] and on_lung[i] >= enclosed_share * total[i]}
    hit -= set(np.unique(lab[mid_band & (lab > 0)]).tolist())
    hit.discard(0)
    return np.isin(lab, list(hit))


def cavity_fill(
    labels: np.ndarray,
    hu: np.ndarray,
    body: np.ndarray,
    forbidden: np.ndarray,
    spacing: tuple[float, float, float],
    opts: LungOptions,
    midline_x: float | None = None,
    superior_is_high: bool = True,
    *,
    smooth: np.ndarray | None = None,
    shares: tuple[tuple[float, float], tuple[float, float]] | None = None,
) -> np.ndarray:
    """Grow uint8 lung labels (1 right, 2 left; working grid) into dense lung in the cavity.

    Args:
        labels: ``(z, y, x)`` labels after the per-slice refinement.
        hu: working HU ``(z, y, x)``.
        body: body mask; ``forbidden``: airway (and its wall) and anything not to be taken.
        spacing: ``(sz, sy, sx)`` mm of the working grid.
        midline_x: x index of the body midline (the lungs do not cross it); None: no limit.
        superior_is_high: True when the head lies at high z index.
        smooth: the in-plane 3 x 3 median of ``hu`` when already computed.
        shares: :func:`lesion_shares` of ``labels`` when already computed.
    Returns:
        new labels (a copy).
    """
    out = labels.copy()
    ggo, dense = shares or lesion_shares(labels, hu, opts)
    diseased = _diseased(ggo, dense, opts)
    if not diseased:
        log.debug("cavity step skipped: clear lungs (shares %s)", (ggo, dense))
        return out
    # which lungs grow: the diseased one(s), and the other when it also carries some
    # disease; a clear lung next to a sick one keeps its outline
    sick = [k for k, g, d in zip((1, 2), ggo, dense)
            if k in diseased or g + d >= opts.cavity_grow_share]
    sy = spacing[1]
    if smooth is None:
        smooth = ndi.median_filter(hu, size=(1, 3, 3))
    slab = rib_slab(smooth, spacing, opts)
    fat_range = (smooth > opts.cavity_fat_hu[0]) & (smooth < opts.cavity_fat_hu[1])
    dense_tissue = smooth >= opts.cavity_dense_max_hu
    fat = _fat_layers(fat_range, dense_tissue, spacing, opts.cavity_fat_min_ml)
    compat3 = body & ~fat & ~forbidden & ~dense_tissue
    reach_px = max(1, round(opts.cavity_reach_mm / sy))
    compat3 &= ndi.binary_opening(compat3, structure=np.ones((1, 3, 3), bool))  # no speckle
    added_total = 0
    mid_band = np.zeros(labels.shape[1:], bool)
    if midline_x is not None:
        c = round(midline_x)
        half = max(2, round(_MID_STRIP_MM / spacing[2]))
        mid_band[:, max(0, c - half) : c + half + 1] = True
    zs = np.nonzero(labels.any(axis=(1, 2)))[0]
    if zs.size == 0:
        return out
    areas = np.count_nonzero(labels, axis=(1, 2))
    z_max = int(np.argmax(areas))
    step = -1 if superior_is_high else 1  # towards the head
    margin_px = max(1, round(opts.cavity_base_margin_mm / sy))
    # from the widest slice to the apex, then from the widest slice down to the feet:
    # below it (the diaphragm domes), a slice grows only under the lung of the slice above,
    # and the lung outline of the slice above is carried down onto compatible tissue
    # (dense lung at the base, where no aerated lung is left to grow from)
    geo: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray] | None] = {}

    def geometry(z: int) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
        if z not in geo:
            bone = slab[z]
            if np.count_nonzero(bone) < _MIN_BONE_PX:
                geo[z] = None
            else:
                cage = convex_hull_image(bone)
                wall = ndi.binary_dilation(bone, iterations=1)
                geo[z] = (cage, wall, ndi.binary_dilation(wall, iterations=2) & cage)
        return geo[z]

    contact = np.zeros(3)
    border = np.zeros(3)
    for z in zs:
        g = geometry(int(z))
        if g is None:
            continue
        for k in (1, 2):
            lung = labels[z] == k
            edge = lung & ~ndi.binary_erosion(lung)
            border[k] += np.count_nonzero(edge)
            contact[k] += np.count_nonzero(edge & g[2])
    # a lung that nowhere reaches the rib line lies in an unusual cage: no growth
    active = [k for k in sick if border[k] and contact[k] >= opts.cavity_min_contact * border[k]]
    log.debug("cavity step: rib contact %s", contact[1:] / np.maximum(border[1:], 1))
    upward = range(z_max, out.shape[0]) if step == 1 else range(z_max, -1, -1)
    downward = range(z_max - step, -1 if step == 1 else out.shape[0], -step)
    for z in list(upward) + list(downward):
        g = geometry(int(z))
        if g is None:
            continue
        cage, wall, near_wall = g
        depth_mm = ndi.distance_transform_edt(cage, sampling=spacing[1:])
        compat = compat3[z] & cage & ~wall & (depth_mm <= opts.cavity_band_mm)
        sl = out[z]
        below = (z - z_max) * step < 0
        above = z + step
        for k in active:
            lung = sl == k
            prev = out[above] == k if below else None
            if below and not prev.any():
                continue
            if not below and not lung.any():
                continue
            region = compat & ~(sl == 3 - k) & _side_mask(sl.shape, midline_x, prev if below else lung)
            seed = lung
            if below:
                region &= ndi.binary_dilation(prev, iterations=margin_px)
                seed = lung | (region & prev)  # the outline of the slice above, carried down
            if not seed.any():
                continue
            # geodesic growth, capped at reach_px steps (in-plane, 8-connectivity)
            grown = ndi.binary_dilation(
                seed, structure=np.ones((3, 3), bool), iterations=reach_px, mask=region | lung
            )
            grown = ndi.binary_fill_holes(grown) & (region | lung)
            add = grown & ~lung & (sl == 0)
            if add.any():
                # carried down under the lung above, the rib line need not be reached
                add = _touching(add & ~mid_band, near_wall | below, mid_band, lung,
                                opts.cavity_enclosed_share)
            if add.any():
                sl[add] = k
                added_total += int(add.sum())
    # an added voxel next to dense non-lung tissue (heart wall, chest-wall muscle) is mostly
    # that tissue (partial volume): the growth stops one voxel short of it
    cross = ndi.generate_binary_structure(2, 1)[None]
    out[(out > 0) & (labels == 0)
        & ndi.binary_dilation(dense_tissue & (out == 0), structure=cross)] = 0
    # added fat-range tissue open to fat outside the lung is that fat (pericardial,
    # mediastinal), not partial volume inside the lung: peeled off
    added_fat = (out > 0) & (labels == 0) & fat_range
    lab, n = ndi.label(added_fat, structure=_IN_PLANE)
    if n:
        outside_fat = ndi.binary_dilation((out == 0) & fat_range, structure=cross)
        out[np.isin(lab, np.unique(lab[outside_fat & added_fat]))] = 0
    # dense tissue enclosed by a grown lung in its slice (a vessel, consolidation above
    # cavity_dense_max_hu) is lung: holes up to _MAX_HOLE_MM2, not bone, not airway
    max_hole_px = _MAX_HOLE_MM2 / (spacing[1] * spacing[2])
    for z in zs:
        for k in active:
            lung = out[z] == k
            if not lung.any():
                continue
            holes = ndi.binary_fill_holes(lung) & ~lung & (out[z] == 0) & ~forbidden[z]
            holes &= smooth[z] < opts.cavity_bone_hu
            lab, n = ndi.label(holes)
            if n:
                sizes = np.bincount(lab.ravel())
                small = np.nonzero(sizes <= max_hole_px)[0]
                fill = np.isin(lab, small[small > 0])
                out[z][fill] = k
                added_total += int(fill.sum())
    log.debug("cavity step: %d voxels added", added_total)
    return out


def _big_parts(mask: np.ndarray, min_px: int, radius_px: int) -> np.ndarray:
    """Parts of a 2D ``mask`` of at least ``min_px`` pixels once opened by a diamond
    (city-block ball) of ``radius_px`` (thin bridges cut), grown back into the mask by it."""
    disk = ndi.iterate_structure(ndi.generate_binary_structure(2, 1), radius_px)
    opened = ndi.binary_opening(mask, structure=disk)
    lab, n = ndi.label(opened, structure=np.ones((3, 3), bool))
    if n == 0:
        return np.zeros_like(mask)
    sizes = np.bincount(lab.ravel())
    sizes[0] = 0
    big = np.isin(lab, np.nonzero(sizes >= min_px)[0])
    return ndi.binary_dilation(big, structure=disk, mask=mask) if big.any() else big


def carve_domes(
    labels: np.ndarray,
    hu: np.ndarray,
    body: np.ndarray,
    spacing: tuple[float, float, float],
    opts: LungOptions,
    superior_is_high: bool = True,
    diseased: bool | None = None,
    *,
    smooth: np.ndarray | None = None,
) -> np.ndarray:
    """Remove organ domes (liver, stomach, spleen tops) that the refinement put into the lung.

    Per-slice hole filling, closing and the snake take the top of an organ dome when the
    lung rings it. Going from the feet up, dense pixels (smoothed HU above ``dome_min_hu``)
    of a lung slice that lie over non-lung body in the slice below, in parts that do not
    reach the rib line (a subpleural consolidation of the costophrenic recess does), are
    not lung. In diseased lungs (``diseased``; default: the ground-glass gate of
    :func:`cavity_fill`) dense lung over the diaphragm may be consolidation: only dense
    parts enclosed by aerated lung in the slice are removed there; in clear lungs, a part
    of at least ``dome_wall_area_mm2`` (after bridges thinner than twice ``dome_bridge_mm``
    are opened away) is removed even where it reaches the rib line (the spleen top ringed
    by the left lung of the real lung2 CT; a basal pleural tumour in one slice is smaller).

    ``smooth``: the in-plane 3 x 3 median of ``hu`` when already computed. Returns new
    labels (a copy).
    """
    if smooth is None:
        smooth = ndi.median_filter(hu, size=(1, 3, 3))
    slab = rib_slab(smooth, spacing, opts)
    dense3 = smooth > opts.dome_min_hu
    out = labels.copy()
    zs = np.nonzero(labels.any(axis=(1, 2)))[0]
    if zs.size == 0:
        return out
    if diseased is None:
        diseased = is_diseased(labels, hu, opts)
    zs = zs if superior_is_high else zs[::-1]  # feet first
    below_step = -1 if superior_is_high else 1
    min_px = max(1, int(opts.dome_min_area_mm2 / (spacing[1] * spacing[2])))
    max_px = max(min_px, int(opts.dome_wall_area_mm2 / (spacing[1] * spacing[2])))
    bridge_px = max(1, round(opts.dome_bridge_mm / min(spacing[1], spacing[2])))
    removed = 0
    for z in zs:
        zb = z + below_step
        if np.count_nonzero(slab[z]) < _MIN_BONE_PX:
            continue
        # the first slice of a scan that starts inside the lung: the unseen slice below
        # is taken as non-lung body (an organ dome cut by the scan's edge)
        under = body[zb] & (out[zb] == 0) if 0 <= zb < out.shape[0] else body[z]
        cand = (out[z] > 0) & dense3[z] & under
        if diseased:
            aerated = (out[z] > 0) & ~dense3[z]
            cand &= ndi.binary_fill_holes(aerated)  # enclosed by aerated lung
        if np.count_nonzero(cand) < min_px:
            continue
        near_wall = ndi.binary_dilation(slab[z], iterations=3)
        lab, n = ndi.label(cand, structure=np.ones((3, 3), bool))
        sizes = np.bincount(lab.ravel())
        hit = set(np.unique(lab[near_wall & (lab > 0)]).tolist())
        drop = [i for i in range(1, n + 1) if sizes[i] >= min_px and i not in hit]
        rm = np.isin(lab, drop)
        if not diseased:
            # in clear lungs a part wider than any basal lesion is an organ dome even
            # where it reaches the ribs (the spleen top ringed by lung on lung2); thin
            # bridges along the lung floor (to a pleural tumour) are opened first
            rm |= _big_parts(cand & ~rm, max_px, bridge_px)
        if rm.any():
            out[z][rm] = 0
            removed += int(rm.sum())
    log.debug("dome carving: %d voxels removed", removed)
    return out
