"""Findings with exact voxel masks: COVID-19 pneumonia, common (bacterial) pneumonia, nodules.

A smooth "involvement score" is built inside the lungs and thresholded at the quantile that
involves exactly the target share of lung volume; the top of the involved region becomes
consolidation, the rest ground-glass opacity (GGO).

* COVID-19: bilateral, peripheral / subpleural, posterior- and lower-predominant, multifocal
  GGO (-700..-300 HU), crazy paving in some, consolidation growing with severity.
* Common pneumonia: lobar / segmental consolidation (-50..+50 HU), mostly in one lung, with
  a GGO rim; air bronchograms appear where the airway tree crosses it.
* Controls: sometimes 1-3 small solid nodules (not lesions).
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

from covidct.phantom.geometry import Grid
from covidct.phantom.labels import CaseDraw

__all__ = ["CONSOLIDATION", "GGO", "involvement_score", "paint_findings", "paint_nodules"]

GGO, CONSOLIDATION = 1, 2


def _smooth_noise(rng: np.random.Generator, shape: tuple[int, ...], spacing: tuple[float, ...],
                  sigma_mm: float) -> np.ndarray:
    n = ndi.gaussian_filter(rng.standard_normal(shape).astype(np.float32),
                            sigma=[sigma_mm / s for s in spacing], mode="wrap")
    return (n - n.mean()) / max(float(n.std()), 1e-6)


def involvement_score(rng: np.random.Generator, draw: CaseDraw, lungs: np.ndarray,
                      grid: Grid) -> np.ndarray:
    """Score (z, y, x) float32: higher = involved first; -inf outside the lungs."""
    lung = lungs > 0
    dist = ndi.distance_transform_edt(lung, sampling=grid.spacing).astype(np.float32)
    ys = np.broadcast_to(grid.y, lungs.shape)
    zs = np.broadcast_to(grid.z, lungs.shape)
    y_lo, y_hi = np.percentile(ys[lung], [1, 99])
    z_lo, z_hi = np.percentile(zs[lung], [1, 99])
    post = np.clip((ys - y_lo) / max(y_hi - y_lo, 1.0), 0, 1)
    height = np.clip((zs - z_lo) / max(z_hi - z_lo, 1.0), 0, 1)
    if draw.diagnosis == "covid":
        noise = _smooth_noise(rng, lungs.shape, grid.spacing, rng.uniform(10, 18))
        score = (noise + 1.6 * np.exp(-dist / 12.0) + 0.9 * post + 0.5 * (1 - height))
    else:
        noise = _smooth_noise(rng, lungs.shape, grid.spacing, rng.uniform(8, 14))
        score = 0.6 * noise + 0.6 * post + 0.4 * np.exp(-dist / 20.0)
        bilateral = rng.random() < 0.2
        side = int(rng.integers(1, 3))
        for lab in (1, 2):
            lobe = _lobe(rng, lungs, lab, post, height)
            if lab == side:
                score += 3.0 * lobe
            elif bilateral:
                score += 2.0 * lobe
            else:
                score -= 10.0 * (lungs == lab)
    return np.where(lung, score, -np.inf).astype(np.float32)


def _lobe(rng: np.random.Generator, lungs: np.ndarray, lab: int, post: np.ndarray,
          height: np.ndarray) -> np.ndarray:
    """Indicator of one random lobe of lung ``lab`` (rough fissure planes)."""
    lower = height < 0.3 + 0.45 * post  # oblique fissure: posterior-inferior is the lower lobe
    u = rng.random()
    if lab == 1 and u < 0.2:
        lobe = ~lower & (height < 0.55) & (post < 0.55)  # right middle lobe
    elif u < 0.65:
        lobe = lower
    else:
        lobe = ~lower
    return (lobe & (lungs == lab)).astype(np.float32)


def paint_findings(rng: np.random.Generator, draw: CaseDraw, hu: np.ndarray, lungs: np.ndarray,
                   grid: Grid) -> np.ndarray:
    """Paint lesions into ``hu`` (float32 HU, modified in place); return the uint8 lesion mask."""
    lesions = np.zeros(lungs.shape, dtype=np.uint8)
    lung = lungs > 0
    n_lung = int(lung.sum())
    if draw.target_fraction <= 0 or n_lung == 0:
        return lesions
    score = involvement_score(rng, draw, lungs, grid)
    if draw.diagnosis == "covid":
        # threshold each lung on its own so both are involved
        frac_r = float(np.clip(draw.target_fraction * rng.uniform(0.8, 1.2), 0.0, 0.97))
        n_r = int((lungs == 1).sum())
        frac_l = float(np.clip((draw.target_fraction * n_lung - frac_r * n_r)
                               / max(n_lung - n_r, 1), 0.0, 0.97))
        thr = np.full(lungs.shape, np.inf, dtype=np.float32)
        for lab, f in ((1, frac_r), (2, frac_l)):
            vals = score[lungs == lab]
            if vals.size and f > 0:
                thr[lungs == lab] = np.quantile(vals, 1.0 - f)
        involved = lung & (score >= thr)
    else:
        t = np.quantile(score[lung], 1.0 - draw.target_fraction)
        involved = lung & (score >= t)
        thr = np.full(lungs.shape, t, dtype=np.float32)
    if not involved.any():
        return lesions
    vals = score[involved]
    if draw.consolidation_share > 0:
        t_cons = float(np.quantile(vals, 1.0 - draw.consolidation_share))
        cons = involved & (score >= t_cons)
    else:
        t_cons = float(vals.max()) + 1.0
        cons = np.zeros_like(involved)
    ggo = involved & ~cons
    lesions[ggo] = GGO
    lesions[cons] = CONSOLIDATION

    # GGO: denser toward the consolidation core, textured; vessels stay visible (max)
    rank = np.clip((score - thr) / max(t_cons - float(np.min(thr[involved])), 1e-3), 0, 1)
    tex = _smooth_noise(rng, lungs.shape, grid.spacing, 3.0)
    ggo_hu = -690.0 + 360.0 * rank + 35.0 * tex
    if draw.diagnosis == "covid" and rng.random() < 0.4:  # crazy paving
        net = _smooth_noise(rng, lungs.shape, grid.spacing, 3.5)
        ggo_hu += 160.0 * np.exp(-(net / 0.25) ** 2)
    ggo_hu = np.clip(ggo_hu, -720, -250)
    w = 0.5 + 0.5 * np.clip(rank * 4, 0, 1)
    blended = hu + w * (ggo_hu - hu)
    hu[ggo] = np.maximum(hu[ggo], blended[ggo])
    # consolidation: soft-tissue density, vessels merge into it
    cons_hu = rng.uniform(-25, 35) + 12.0 * tex
    hu[cons] = cons_hu[cons]
    return lesions


def paint_nodules(rng: np.random.Generator, hu: np.ndarray, lungs: np.ndarray, grid: Grid,
                  count: int) -> None:
    """Add ``count`` small solid nodules (radius 2-5 mm, +20..+60 HU) inside the lungs."""
    inner = ndi.distance_transform_edt(lungs > 0, sampling=grid.spacing) > 8.0
    idx = np.argwhere(inner)
    if idx.size == 0:
        return
    for _ in range(count):
        k, j, i = idx[int(rng.integers(len(idx)))]
        r = rng.uniform(2.0, 5.0)
        zz, yy, xx = np.ogrid[: hu.shape[0], : hu.shape[1], : hu.shape[2]]
        d = np.sqrt(((zz - k) * grid.spacing[0]) ** 2 + ((yy - j) * grid.spacing[1]) ** 2
                    + ((xx - i) * grid.spacing[2]) ** 2)
        occ = np.clip((r - d) / grid.pixel_mm + 0.5, 0, 1).astype(np.float32)
        hu += occ * (rng.uniform(20, 60) - hu)
