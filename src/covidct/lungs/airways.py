"""Trachea and main bronchi: find, track, and remove them from the lung candidate.

The trachea is found in the most superior slices as the air lumen (below ``airways.lumen_hu``)
closest to the body's left-right midline; it is then tracked slice by slice towards the
feet: an airway piece in the next slice is a lumen component overlapping the current
airway (grown by a few mm) that stays small (a lumen, not a lung). After the carina
(where the lumen splits in two) the two main bronchi are followed for at most
``_BRONCHUS_DEPTH_MM`` and within ``_BRONCHUS_REACH_MM`` of the trachea, so only the large
central airways are removed and the lungs are not eaten into.
"""

from __future__ import annotations

import logging

import numpy as np
from scipy import ndimage as ndi
from skimage.morphology import disk

from covidct.lungs.classical import dilated
from covidct.lungs.grid import Orientation, mm_to_px
from covidct.lungs.options import LungOptions

__all__ = ["find_airways", "remove_airways", "zs_first"]

log = logging.getLogger(__name__)

_TRACK_MM = 6.0  # in-plane reach from one slice to the next
_BRONCHUS_DEPTH_MM = 50.0  # how far below the carina the main bronchi are followed
_BRONCHUS_REACH_MM = 70.0  # how far from the trachea axis (left-right) they may go
_SEED_OFFSET_MM = 30.0  # the trachea lies within this of the body midline
_MIN_SEED_MM2 = 30.0
_MIN_PIECE_MM2 = 20.0  # lumen specks in the lung parenchyma are smaller than a bronchus
_MIN_TRACHEA_MM = 40.0  # a track without a carina shorter than this is not the trachea


def _find_seed(
    lumen: np.ndarray, body: np.ndarray, slices: list[int], px_mm2: float, spacing_x: float,
    opts: LungOptions,
) -> tuple[int, np.ndarray] | None:
    """First slice (superior first) with a small lumen near the body midline."""
    for z in slices:
        if not body[z].any():
            continue
        mid_x = float(np.mean(np.nonzero(body[z])[1]))
        lab, n = ndi.label(lumen[z])
        if n == 0:
            continue
        idx = np.arange(1, n + 1)
        areas = ndi.sum_labels(np.ones_like(lab), lab, idx) * px_mm2
        cents = ndi.center_of_mass(lumen[z], lab, idx)
        best, best_dx = None, None
        for i, area, (_, cx) in zip(idx, areas, cents):
            dx = abs(cx - mid_x) * spacing_x
            seed_like = _MIN_SEED_MM2 <= area <= opts.airways.max_area_mm2 and dx <= _SEED_OFFSET_MM
            if seed_like and (best is None or dx < best_dx):
                best, best_dx = i, dx
        if best is not None:
            return z, lab == best
    return None


def _pieces(lumen_z: np.ndarray, reach: np.ndarray, px_mm2: float, max_area: float):
    """Lumen components of one slice touching ``reach``, of airway size, biggest first."""
    lab, _ = ndi.label(lumen_z)
    out = []
    for i in np.unique(lab[reach & (lab > 0)]):
        comp = lab == i
        area = comp.sum() * px_mm2
        if _MIN_PIECE_MM2 <= area <= max_area:  # else a speck of parenchyma or a lung
            out.append((area, comp))
    out.sort(key=lambda t: -t[0])
    return [c for _, c in out]


def _track(
    lumen: np.ndarray,
    z0: int,
    seed: np.ndarray,
    spacing: tuple[float, float, float],
    orient: Orientation,
    opts: LungOptions,
) -> tuple[np.ndarray, bool]:
    """Follow the airway from slice ``z0`` towards the feet: (boolean 3D mask, whether it
    reached the carina).

    One branch (the trachea) until it splits into two pieces on either side of its axis
    (the carina); then each main bronchus follows its single best continuation, for at
    most ``_BRONCHUS_DEPTH_MM``: no further branching, so the track cannot leak into
    low-density lung.
    """
    sz, sy, sx = spacing
    px_mm2 = sy * sx
    nz = lumen.shape[0]
    out = np.zeros(lumen.shape, dtype=bool)
    out[z0] = seed
    max_area = opts.airways.max_area_mm2
    axis_x = float(np.mean(np.nonzero(seed)[1]))
    reach_fp = disk(mm_to_px(_TRACK_MM, sy))
    branches = [seed]
    split = False
    step = -1 if orient.superior_is_high else 1
    z = z0 + step
    depth_after = 0.0
    while 0 <= z < nz and branches:
        nxt = []
        for b in branches:
            cands = _pieces(lumen[z], dilated(b, reach_fp), px_mm2, max_area)
            if not cands:
                continue
            if not split and len(cands) >= 2:
                xs = [float(np.mean(np.nonzero(c)[1])) for c in cands[:2]]
                if (xs[0] - axis_x) * (xs[1] - axis_x) < 0:
                    nxt = cands[:2]
                    split = True
                    break
            lateral_mm = abs(float(np.mean(np.nonzero(cands[0])[1])) - axis_x) * sx
            if split and lateral_mm > _BRONCHUS_REACH_MM:
                continue
            nxt.append(cands[0])
        if split:
            depth_after += sz
            if depth_after > _BRONCHUS_DEPTH_MM:
                break
        for c in nxt:
            out[z] |= c
        branches = nxt
        z += step
    return out, split


def zs_first(mask: np.ndarray, orient: Orientation) -> int:
    """Index of the most superior slice holding ``mask``."""
    zs = np.nonzero(mask.any(axis=(1, 2)))[0]
    return int(zs.max() if orient.superior_is_high else zs.min())


def find_airways(
    hu: np.ndarray,
    body: np.ndarray,
    spacing: tuple[float, float, float],
    orient: Orientation,
    opts: LungOptions,
) -> tuple[np.ndarray, float | None]:
    """Boolean ``(z, y, x)`` mask of the trachea and main bronchi lumen (working grid).

    Also returns the x index of the trachea axis in its most superior slice (the body
    midline), or None when the track neither reaches a carina (two main bronchi on either
    side of its axis) nor runs ``_MIN_TRACHEA_MM``: on a scan of the lung bases the only
    lumen near the midline is the oesophagus, a few slices of air (still removed from the
    lung candidate). The mask is all False when no lumen is tracked.
    """
    out = np.zeros(hu.shape, dtype=bool)
    if not orient.axial:
        log.info("non-axial volume: airway tracking skipped")
        return out, None
    _, sy, sx = spacing
    px_mm2 = sy * sx
    lumen = (hu < opts.airways.lumen_hu) & body
    nz = hu.shape[0]
    order = list(range(nz - 1, -1, -1)) if orient.superior_is_high else list(range(nz))
    zs_with_lumen = [z for z in order if lumen[z].any()]
    if not zs_with_lumen:
        return out, None
    # search the superior 40% of the slices that hold air inside the body; every slice
    # there may seed a track (a narrowed trachea can break one): keep the longest track
    search = zs_with_lumen[: max(1, int(0.4 * len(zs_with_lumen)))]
    best: np.ndarray | None = None
    best_len, best_carina = 0, False
    covered = np.zeros(nz, bool)
    for zs in search:
        if covered[zs]:
            continue
        seed = _find_seed(lumen, body, [zs], px_mm2, sx, opts)
        if seed is None:
            continue
        track, carina = _track(lumen, seed[0], seed[1], spacing, orient, opts)
        slices = track.any(axis=(1, 2))
        covered |= slices
        if int(slices.sum()) > best_len:
            best, best_len, best_carina = track, int(slices.sum()), carina
    if best is None:
        log.info("no trachea found in the superior slices")
        return out, None
    out = best
    log.debug("airway tracked over %d slices", best_len)
    if not best_carina and best_len * spacing[0] < _MIN_TRACHEA_MM:
        log.info("a short lumen without a carina: not the trachea, no midline from it")
        return out, None
    axis = np.nonzero(out[zs_first(out, orient)])[1]
    return out, float(np.mean(axis))


def remove_airways(
    air: np.ndarray, airway: np.ndarray, spacing: tuple[float, float, float], opts: LungOptions
) -> np.ndarray:
    """The air mask without the airways (a new array).

    In each slice, a small air component that overlaps the airway is removed whole (the
    lumen with its partial-volume rim); in a large component (airway joined to a lung)
    only the airway grown by ``airways.dilation_mm`` is removed.
    """
    out = air.copy()
    if not airway.any():
        return out
    sy, sx = spacing[1], spacing[2]
    grow = disk(mm_to_px(opts.airways.dilation_mm, sy)) if opts.airways.dilation_mm > 0 else None
    max_px = opts.airways.max_area_mm2 / (sy * sx)
    for z in np.nonzero(airway.any(axis=(1, 2)))[0]:
        a = airway[z]
        if grow is not None:
            a = dilated(a, grow)
        lab, _ = ndi.label(out[z])
        for i in np.unique(lab[a & (lab > 0)]):
            comp = lab == i
            if comp.sum() <= max_px:
                out[z][comp] = False
        out[z][a] = False
    return out
