"""Thoracic-cavity recovery of dense lung in bilateral disease.

The per-slice refinement (:mod:`covidct.lungs.refine`) bridges dense lung that is enclosed
by aerated lung, and the mirror prior recovers one opaque lung from the other. Neither helps
when both lungs carry dense, subpleural, posterior disease over many slices (COVID-19): the
dense band lies *between* the aerated lung and the chest wall, at the edge of every convex
hull, in both lungs. This step models the thoracic cavity instead (working grid, per axial
slice, per lung). It runs only when the disease gate (:mod:`covidct.lungs.gate`) is open,
and grows only the gate's ``growing`` lungs: clear lungs are left alone, so the growth
cannot take chest wall, stomach wall or spleen there, and a clear lung beside a sick one
keeps its outline (on a real CT with painted unilateral pneumonia, growing the clear lung
took mediastinal fat and heart wall). Settings: :class:`~covidct.lungs.options.CavityOptions`
(``cavity.*`` below); HU thresholds are read on the in-plane 3 x 3 median of the HU.

1. **Rib line.** Bone (``rib_hu``) is projected over a slab of ``rib_slab_mm`` above and
   below the slice (:func:`rib_slab`): the ribs run obliquely, so one slice cuts only arcs
   of them, the slab shows the whole cage. The slab bone, grown by ``wall_mm``, is the
   wall (ribs with the intercostal muscle between them).
2. **Cage.** The convex hull of the slab bone is the space enclosed by the rib cage; its
   pixels deeper than ``band_mm`` from the hull outline are *central* (mediastinum,
   heart, the liver and spleen domes) and are not taken. Slices with less slab bone than
   ``min_cage_mm2`` have no visible cage and are left unchanged.
3. **Lung-compatible tissue**: inside the cage and the body, not wall, not fat
   (``fat_hu``, in layers thicker than about 2 x ``fat_line_mm`` and regions of
   ``fat_min_ml``: thinner fat-range lines are partial volume at the edge of
   consolidation), below ``max_hu`` (consolidation and ground glass; not contrast blood,
   not bone, mostly not liver), not airway, on the lung's own side of the midline and not
   the other lung.
4. **Growth.** Each lung grows in-plane into the lung-compatible tissue connected to it, at
   most ``reach_mm`` (geodesic) from its current mask. Fat layers (mediastinal and
   pericardial fat, the fat under the diaphragm) stop the growth medially and inferiorly;
   the rib line stops it laterally and posteriorly; a strip of ``midline_mm`` on each side
   of the body midline is never taken (the parts beyond it are kept). An added part must
   reach the rib line (within ``wall_reach_mm``), or be mostly enclosed by the lung
   (``enclosed_share`` of its outline: consolidation at the hilum). Added voxels next to
   dense non-lung tissue (heart wall, muscle) are dropped at the end: they are mostly that
   tissue.
5. **Extent in z.** Going out from the widest lung slice, the slices on one side are only
   grown where the lung already exists; holes are filled per slice. On the other side
   each slice only grows under the lung of its neighbour towards the widest slice (grown
   by ``base_margin_mm``), whose outline is carried onto the compatible tissue (the lung
   outline changes smoothly in z), also into slices with no aerated lung left, and need
   not reach the rib line. The carried side is the head side (towards the apex); the
   bases are only grown where they have lung, since under them lie the liver and spleen
   domes (carrying towards the feet instead: docs/validation.md, "Alternatives measured, not adopted").
6. **Dense holes.** Finally, tissue a grown lung encloses in its slice (up to
   ``max_hole_mm2``, not bone, not airway: vessels, consolidation denser than ``max_hu``)
   is lung.

Unsupervised and rule-based. Every size is in mm, mm² or mL, converted to working-grid
pixels with :func:`covidct.lungs.grid.mm_to_px` / :func:`~covidct.lungs.grid.mm2_to_px`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
from scipy import ndimage as ndi

from covidct.lungs.classical import convex_hull, fill_holes
from covidct.lungs.gate import DiseaseGate
from covidct.lungs.grid import mm2_to_px, mm_to_px
from covidct.lungs.options import CavityOptions, LungOptions
from covidct.lungs.threads import thread_map

__all__ = ["cavity_fill", "rib_slab"]

log = logging.getLogger(__name__)

_SQUARE = np.ones((3, 3), bool)  # 8-connectivity in a slice
_CROSS = ndi.generate_binary_structure(2, 1)[None]  # 4-connectivity in a slice, 3D array
_IN_PLANE = np.zeros((3, 3, 3), bool)  # 8-connectivity within a slice, for 3D labelling
_IN_PLANE[1] = True


def rib_slab(
    smooth_hu: np.ndarray, spacing: tuple[float, float, float], opts: LungOptions
) -> np.ndarray:
    """Boolean ``(z, y, x)`` bone (smoothed HU above ``cavity.rib_hu``) projected over
    ``+-cavity.rib_slab_mm`` in z: the rib cage. Shared by the cavity and dome steps."""
    bone = smooth_hu > opts.cavity.rib_hu
    k = mm_to_px(opts.cavity.rib_slab_mm, spacing[0], minimum=0)
    if k == 0:
        return bone
    return ndi.maximum_filter1d(bone.view(np.uint8), size=2 * k + 1, axis=0).astype(bool)


@dataclass(frozen=True)
class _Tissue:
    """The 3D tissue maps of the cavity step (working grid, from the smoothed HU)."""

    fat_range: np.ndarray  # smoothed HU in cavity.fat_hu
    dense: np.ndarray  # smoothed HU at or above cavity.max_hu: not lung
    compatible: np.ndarray  # lung-compatible tissue, before the cage of each slice


@dataclass(frozen=True)
class _Cage:
    """The rib cage of one slice."""

    wall: np.ndarray  # the slab bone grown by cavity.wall_mm
    near_wall: np.ndarray  # within cavity.wall_reach_mm of the wall, inside the cage
    growable: np.ndarray  # inside the cage, not wall, within cavity.band_mm of its outline


def _fat_layers(fat: np.ndarray, dense: np.ndarray, spacing: tuple[float, float, float],
                c: CavityOptions) -> np.ndarray:
    """The fat that stops the growth (boolean ``(z, y, x)``).

    Partial volume between aerated lung (-850 HU) and consolidation (-50..+50 HU) gives
    thin lines and specks in the fat range that would wall consolidated lung off from the
    lung it belongs to. So fat lines thinner than about 2 x ``fat_line_mm`` (an in-plane
    opening; none on pixels of 3 mm and more) stop the growth only where they lie against
    ``dense`` tissue (the pericardial fat on the heart wall, the fat on chest-wall muscle);
    then only 3D regions of at least ``fat_min_ml`` count.
    """
    it = mm_to_px(c.fat_line_mm, spacing[1], minimum=0)
    if it > 0:
        near_dense = ndi.binary_dilation(dense, structure=_SQUARE[None], iterations=it)
        fat = ndi.binary_opening(fat, structure=_SQUARE[None], iterations=it) | (fat & near_dense)
    lab, n = ndi.label(fat)
    if n == 0 or c.fat_min_ml <= 0:
        return fat
    sizes = np.bincount(lab.ravel()) * float(np.prod(spacing)) / 1000.0
    sizes[0] = 0.0
    return np.isin(lab, np.nonzero(sizes >= c.fat_min_ml)[0])


def _tissue(smooth: np.ndarray, body: np.ndarray, forbidden: np.ndarray,
            spacing: tuple[float, float, float], c: CavityOptions) -> _Tissue:
    """Lung-compatible tissue: in the body, not fat layers, not dense, not forbidden, no specks."""
    fat_range = (smooth > c.fat_hu[0]) & (smooth < c.fat_hu[1])
    dense = smooth >= c.max_hu
    compatible = body & ~_fat_layers(fat_range, dense, spacing, c) & ~forbidden & ~dense
    compatible &= ndi.binary_opening(compatible, structure=_SQUARE[None])  # one-pixel specks
    return _Tissue(fat_range=fat_range, dense=dense, compatible=compatible)


def _cage(bone: np.ndarray, spacing: tuple[float, float, float], c: CavityOptions) -> _Cage | None:
    """The cage of a slice from its slab bone; None without a visible cage."""
    if np.count_nonzero(bone) < round(mm2_to_px(c.min_cage_mm2, spacing)):
        return None
    inside = convex_hull(bone)
    wall = ndi.binary_dilation(bone, iterations=mm_to_px(c.wall_mm, spacing[1]))
    near_wall = ndi.binary_dilation(wall, iterations=mm_to_px(c.wall_reach_mm, spacing[1])) & inside
    depth_mm = ndi.distance_transform_edt(inside, sampling=spacing[1:])
    return _Cage(wall=wall, near_wall=near_wall, growable=inside & ~wall & (depth_mm <= c.band_mm))


def _active_lungs(labels: np.ndarray, cages: list[_Cage | None], growing: tuple[int, ...],
                  min_contact: float) -> list[int]:
    """The growing lungs whose border touches the rib line at least ``min_contact`` of the
    time (a lung that nowhere reaches it lies in an unusual cage: no growth)."""
    contact = np.zeros(3)
    border = np.zeros(3)
    for z in np.nonzero(labels.any(axis=(1, 2)))[0]:
        if cages[z] is None:
            continue
        for k in (1, 2):
            lung = labels[z] == k
            edge = lung & ~ndi.binary_erosion(lung)
            border[k] += np.count_nonzero(edge)
            contact[k] += np.count_nonzero(edge & cages[z].near_wall)
    log.debug("cavity step: rib contact %s", contact[1:] / np.maximum(border[1:], 1))
    return [k for k in growing if border[k] and contact[k] >= min_contact * border[k]]


def _slice_order(labels: np.ndarray, superior_is_high: bool) -> Iterator[tuple[int, int | None]]:
    """(slice, slice it is carried from or None), from the widest lung slice outwards.

    First the widest slice and those below it, towards the feet (grown only where the
    lung already is), then those above it, towards the head, each carried from its
    neighbour below (the outline of that slice, once grown, is carried up towards the
    apex). ``superior_is_high``: the head lies at high z index.
    """
    nz = labels.shape[0]
    z_max = int(np.argmax(np.count_nonzero(labels, axis=(1, 2))))
    up = 1 if superior_is_high else -1  # index step towards the head
    for z in range(z_max, -1 if up == 1 else nz, -up):
        yield z, None
    for z in range(z_max + up, nz if up == 1 else -1, up):
        yield z, z - up


def _side_mask(shape: tuple[int, int], midline_x: float | None, lung: np.ndarray) -> np.ndarray:
    """Pixels on the same side of the midline as ``lung`` (all True without a midline)."""
    if midline_x is None:
        return np.ones(shape, bool)
    xs = np.arange(shape[1])
    low = float(np.mean(np.nonzero(lung)[1])) < midline_x
    side = xs < midline_x if low else xs > midline_x
    return np.broadcast_to(side[None, :], shape)


def _mid_band(shape: tuple[int, int], midline_x: float | None, pixel_x_mm: float,
              c: CavityOptions) -> np.ndarray:
    """The strip of ``cavity.midline_mm`` on each side of the body midline (2D)."""
    band = np.zeros(shape, bool)
    if midline_x is not None:
        centre = round(midline_x)
        half = mm_to_px(c.midline_mm, pixel_x_mm, minimum=2)
        band[:, max(0, centre - half) : centre + half + 1] = True
    return band


def _touching(add: np.ndarray, near_wall: np.ndarray, mid_band: np.ndarray,
              lung: np.ndarray, enclosed_share: float) -> np.ndarray:
    """The connected parts of ``add`` that reach the rib line (dense lung at the pleura),
    or whose outline is at least ``enclosed_share`` lung (a dense pocket enclosed by the
    lung, e.g. at the hilum), and do not reach the body midline (the mediastinum and heart do)."""
    lab, n = ndi.label(add, structure=_SQUARE)
    if n == 0:
        return add
    hit = set(np.unique(lab[near_wall & (lab > 0)]).tolist())
    if enclosed_share <= 1.0:
        ring_lab = ndi.grey_dilation(lab, size=(3, 3))
        ring = (lab == 0) & (ring_lab > 0)
        total = np.bincount(ring_lab[ring], minlength=n + 1)
        on_lung = np.bincount(ring_lab[ring & lung], minlength=n + 1)
        hit |= {i for i in range(1, n + 1) if total[i] and on_lung[i] >= enclosed_share * total[i]}
    hit -= set(np.unique(lab[mid_band & (lab > 0)]).tolist())
    hit.discard(0)
    return np.isin(lab, list(hit))


@dataclass(frozen=True)
class _Growth:
    """What the growth of one slice needs besides the slice itself."""

    mid_band: np.ndarray
    midline_x: float | None
    reach_px: int  # cavity.reach_mm in pixels (geodesic steps)
    margin_px: int  # cavity.base_margin_mm in pixels
    enclosed_share: float


def _grow_lung(sl: np.ndarray, k: int, carried: np.ndarray | None, compat: np.ndarray,
               cage: _Cage, g: _Growth) -> np.ndarray:
    """The pixels lung ``k`` takes in slice ``sl`` (2D labels); ``carried``: the lung of
    the neighbouring slice whose outline is carried into this one, or None."""
    lung = sl == k
    if not (lung if carried is None else carried).any():
        return np.zeros_like(lung)
    region = compat & ~(sl == 3 - k) & _side_mask(sl.shape, g.midline_x,
                                                  lung if carried is None else carried)
    seed = lung
    if carried is not None:
        region &= ndi.binary_dilation(carried, iterations=g.margin_px)
        seed = lung | (region & carried)
    if not seed.any():
        return np.zeros_like(lung)
    # geodesic growth, capped at reach_px steps (in-plane, 8-connectivity)
    grown = ndi.binary_dilation(seed, structure=_SQUARE, iterations=g.reach_px, mask=region | lung)
    grown = fill_holes(grown) & (region | lung)
    add = grown & ~lung & (sl == 0)
    if not add.any():
        return add
    # carried over from the neighbouring slice, the rib line need not be reached
    reach = cage.near_wall | (carried is not None)
    return _touching(add & ~g.mid_band, reach, g.mid_band, lung, g.enclosed_share)


def _grow(out: np.ndarray, compatible: np.ndarray, cages: list[_Cage | None], active: list[int],
          g: _Growth, superior_is_high: bool) -> int:
    """Grow the ``active`` lungs of ``out`` in place, slice by slice; voxels added."""
    added = 0
    for z, z_from in _slice_order(out, superior_is_high):
        cage = cages[z]
        if cage is None:
            continue
        compat = compatible[z] & cage.growable
        for k in active:
            carried = None if z_from is None else out[z_from] == k
            add = _grow_lung(out[z], k, carried, compat, cage, g)
            out[z][add] = k
            added += int(np.count_nonzero(add))
    return added


def _trim_added(out: np.ndarray, labels: np.ndarray, t: _Tissue) -> None:
    """Drop added voxels that are mostly not lung, in place.

    An added voxel next to dense non-lung tissue (heart wall, chest-wall muscle) is mostly
    that tissue (partial volume): the growth stops one voxel short of it. Added fat-range
    tissue open to fat outside the lung is that fat (pericardial, mediastinal), not
    partial volume inside the lung: peeled off.
    """
    out[(out > 0) & (labels == 0)
        & ndi.binary_dilation(t.dense & (out == 0), structure=_CROSS)] = 0
    added_fat = (out > 0) & (labels == 0) & t.fat_range
    lab, n = ndi.label(added_fat, structure=_IN_PLANE)
    if n:
        outside_fat = ndi.binary_dilation((out == 0) & t.fat_range, structure=_CROSS)
        out[np.isin(lab, np.unique(lab[outside_fat & added_fat]))] = 0


def _fill_dense_holes(out: np.ndarray, zs: np.ndarray, active: list[int], smooth: np.ndarray,
                      forbidden: np.ndarray, spacing: tuple[float, float, float],
                      c: CavityOptions) -> int:
    """Tissue a grown lung encloses in its slice (a vessel, consolidation above
    ``cavity.max_hu``) up to ``cavity.max_hole_mm2``, not bone, not forbidden, is lung;
    in place, voxels added."""
    max_hole_px = mm2_to_px(c.max_hole_mm2, spacing)
    added = 0
    for z in zs:
        for k in active:
            lung = out[z] == k
            if not lung.any():
                continue
            holes = fill_holes(lung) & ~lung & (out[z] == 0) & ~forbidden[z]
            holes &= smooth[z] < c.rib_hu
            lab, n = ndi.label(holes)
            if n:
                sizes = np.bincount(lab.ravel())
                small = np.nonzero(sizes <= max_hole_px)[0]
                fill = np.isin(lab, small[small > 0])
                out[z][fill] = k
                added += int(fill.sum())
    return added


def cavity_fill(
    labels: np.ndarray,
    smooth: np.ndarray,
    slab: np.ndarray,
    body: np.ndarray,
    forbidden: np.ndarray,
    spacing: tuple[float, float, float],
    opts: LungOptions,
    gate: DiseaseGate,
    *,
    midline_x: float | None = None,
    superior_is_high: bool = True,
) -> np.ndarray:
    """Grow uint8 lung labels (1 right, 2 left; working grid) into dense lung in the cavity.

    Args:
        labels: ``(z, y, x)`` labels after the per-slice refinement.
        smooth: the in-plane 3 x 3 median of the working HU ``(z, y, x)``.
        slab: :func:`rib_slab` of ``smooth``.
        body: body mask; ``forbidden``: airway (and its wall) and anything not to be taken.
        spacing: ``(sz, sy, sx)`` mm of the working grid.
        gate: :func:`covidct.lungs.gate.disease_gate` of ``labels``; nothing grows when
            it is closed, and only its ``growing`` lungs otherwise.
        midline_x: x index of the body midline (the lungs do not cross it); None: no limit.
        superior_is_high: True when the head lies at high z index.
    Returns:
        new labels (a copy).
    """
    out = labels.copy()
    if not gate.open:
        log.debug("cavity step skipped: clear lungs (shares %s, %s)", gate.ggo, gate.dense)
        return out
    c = opts.cavity
    cages = thread_map(lambda z: _cage(slab[z], spacing, c), range(labels.shape[0]))
    active = _active_lungs(labels, cages, gate.growing, c.min_contact)
    if not active:
        return out
    tissue = _tissue(smooth, body, forbidden, spacing, c)
    growth = _Growth(mid_band=_mid_band(labels.shape[1:], midline_x, spacing[2], c),
                     midline_x=midline_x, reach_px=mm_to_px(c.reach_mm, spacing[1]),
                     margin_px=mm_to_px(c.base_margin_mm, spacing[1]),
                     enclosed_share=c.enclosed_share)
    added = _grow(out, tissue.compatible, cages, active, growth, superior_is_high)
    _trim_added(out, labels, tissue)
    zs = np.nonzero(labels.any(axis=(1, 2)))[0]
    added += _fill_dense_holes(out, zs, active, smooth, forbidden, spacing, c)
    log.debug("cavity step: %d voxels added", added)
    return out
