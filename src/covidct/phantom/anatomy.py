"""The chest: body outline, fat, muscle, bones, mediastinum, heart and great vessels,
diaphragm with liver / stomach / spleen below, trachea and main bronchi, and two lungs.

Everything is drawn analytically in physical mm (LPS: +X patient left, +Y posterior,
+Z superior) on a :class:`~covidct.phantom.geometry.Grid`, with anti-aliased edges.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage as ndi

from covidct.phantom.geometry import Grid, ellipsoid_sd, soft, tube_patch
from covidct.phantom.options import SizePreset

__all__ = ["Anatomy", "ChestParams", "draw_chest", "render_anatomy"]

HU_AIR, HU_FAT, HU_MUSCLE, HU_SKIN = -1000.0, -100.0, 40.0, 30.0


@dataclass(frozen=True)
class ChestParams:
    """Per-case anatomy (mm, HU). ``cx, cy``: centre of the thoracic cavity; ``ac, bc``: its
    half width and half depth; ``length``: z coverage; fractions ``t_*`` are heights / length."""

    cx: float
    cy: float
    ac: float
    bc: float
    length: float
    fat: float
    muscle_lat: float
    muscle_ant: float
    muscle_post: float
    rib_t: float
    rib_pitch: float
    rib_drop: float
    rib_phase: float
    t_apex: float
    t_dome_r: float
    t_dome_l: float
    t_recess: float
    t_carina: float
    t_heart: float
    heart_axes: tuple[float, float, float]
    heart_angle: float
    vb_r: float
    trachea_r: float
    blood_hu: float
    liver_hu: float
    lung_hu: float
    female: bool


def draw_chest(rng: np.random.Generator, preset: SizePreset, sex: str, age: int,
               ) -> tuple[ChestParams, Grid]:
    """Draw a case's anatomy and the grid (spacing chosen so the body fits the field of view)."""
    male = sex == "M"
    ac = rng.normal(124 if male else 114, 7)
    bc = ac * rng.uniform(0.58, 0.72)
    fat = float(np.clip(rng.gamma(3.0, 5.0 if male else 7.0) + 0.1 * max(age - 30, 0), 3, 45))
    p = ChestParams(
        cx=rng.uniform(-8, 8), cy=rng.uniform(-20, 5), ac=ac, bc=bc,
        length=rng.uniform(290, 340) if male else rng.uniform(270, 320), fat=fat,
        muscle_lat=rng.uniform(6, 12), muscle_ant=rng.uniform(8, 20),
        muscle_post=rng.uniform(30, 45), rib_t=rng.uniform(9, 12),
        rib_pitch=rng.uniform(23, 28), rib_drop=rng.uniform(45, 70), rib_phase=rng.uniform(0, 30),
        t_apex=rng.uniform(0.90, 0.97), t_dome_r=rng.uniform(0.24, 0.32),
        t_dome_l=0.0, t_recess=rng.uniform(0.03, 0.08), t_carina=rng.uniform(0.62, 0.70),
        t_heart=0.0,
        heart_axes=(rng.uniform(52, 66), rng.uniform(42, 52), rng.uniform(45, 58)),
        heart_angle=np.deg2rad(rng.uniform(20, 45)), vb_r=rng.uniform(15, 20),
        trachea_r=rng.uniform(7.5, 10.5),
        blood_hu=40.0 + (rng.uniform(110, 260) if rng.random() < 0.5 else rng.uniform(-5, 15)),
        liver_hu=rng.uniform(50, 70), lung_hu=rng.uniform(-905, -850), female=not male,
    )
    p = _replace(p, t_dome_l=p.t_dome_r - rng.uniform(0.02, 0.06))
    p = _replace(p, t_heart=p.t_dome_l + p.heart_axes[2] / p.length * rng.uniform(0.8, 1.0))
    nz, ny, nx = preset.shape
    half_width = p.ac + p.rib_t + p.muscle_lat + p.fat + 3 + abs(p.cx)
    min_px = 2 * half_width * 1.06 / nx
    px = max(rng.uniform(*preset.pixel_mm), min_px)
    sz = p.length / nz
    origin = (-(nx - 1) / 2 * px, -(ny - 1) / 2 * px, -(nz - 1) / 2 * sz)
    return p, Grid(shape=(nz, ny, nx), spacing=(sz, px, px), origin=origin)


def _replace(p: ChestParams, **kw: float) -> ChestParams:
    from dataclasses import replace
    return replace(p, **kw)


@dataclass
class Anatomy:
    """Rendered anatomy: ``hu`` (z, y, x) float32 HU; ``lungs`` uint8 (1 right, 2 left);
    ``hila`` (X, Y, Z) mm of the right and left hilum; ``z0`` Z (mm) of the volume bottom."""

    hu: np.ndarray
    lungs: np.ndarray
    hila: tuple[np.ndarray, np.ndarray]
    veins: tuple[np.ndarray, np.ndarray]
    z0: float


def _superellipse_sd(dx: np.ndarray, dy: np.ndarray, a: np.ndarray | float,
                     b: np.ndarray | float, power: float = 2.4) -> np.ndarray:
    r = (np.abs(dx / a) ** power + np.abs(dy / b) ** power) ** (1.0 / power)
    rho = np.sqrt(dx**2 + dy**2)
    return (rho * (1.0 - 1.0 / np.maximum(r, 1e-6))).astype(np.float32)


def _blend(hu: np.ndarray, occ: np.ndarray, value: float | np.ndarray,
           sl: tuple[slice, ...] | None = None) -> None:
    """hu = hu * (1 - occ) + value * occ, in place (optionally inside a sub-box)."""
    target = hu if sl is None else hu[sl]
    target += occ * (value - target)


def render_anatomy(p: ChestParams, grid: Grid, rng: np.random.Generator) -> Anatomy:
    """Draw the chest in HU on ``grid``; returns HU, lung labels and hilum positions."""
    X, Y, Z = grid.x, grid.y, grid.z
    px = grid.pixel_mm
    z0 = float(grid.origin[2] - 0.5 * grid.spacing[0])
    T = (Z - z0) / p.length  # height fraction, (nz, 1, 1)
    shape = grid.shape
    dx, dy = X - p.cx, Y - p.cy

    # ---- body outline (cavity inflated by the wall), posterior side thicker
    wall_lat = p.rib_t + p.muscle_lat + p.fat + 2.0
    wall_ant = p.rib_t + p.muscle_ant * np.clip((T - 0.3) / 0.4, 0.3, 1.0) + p.fat * 0.8 + 2.0
    wall_post = p.rib_t + p.muscle_post + p.fat * 0.7 + 2.0
    widen = 1.0 + 0.06 * (0.5 - T)  # the abdomen is a little wider than the upper chest
    a_body = (p.ac + wall_lat) * widen
    b_body = np.where(dy < 0, p.bc + wall_ant, p.bc + wall_post) * widen
    sd_body = _superellipse_sd(dx, dy, a_body, b_body, 2.3)
    if p.female:  # breasts
        for side in (-1, 1):
            sd_b = ellipsoid_sd(grid, (p.cx + side * 0.5 * p.ac, p.cy - p.bc - wall_ant.max() + 10,
                                       z0 + 0.5 * p.length), (55, 25 + p.fat * 0.6, 55))
            sd_body = np.minimum(sd_body, sd_b)
    body_occ = soft(sd_body, px)
    depth = -sd_body
    hu = np.full(shape, HU_AIR, dtype=np.float32)
    _blend(hu, body_occ, HU_SKIN)
    _blend(hu, soft(2.0 - depth, px), HU_FAT + rng.uniform(-10, 10))

    # ---- thoracic cavity: wider at the base, tapering to the lung apices (posterior)
    cone = (1.0 - 0.22 * np.clip((T - 0.25) / 0.6, 0, 1)).astype(np.float32)
    taper = np.sqrt(np.clip(1 - ((T - 0.7) / (p.t_apex - 0.7)) ** 2, 0, 1))
    taper = np.where(T < 0.7, 1.0, taper).astype(np.float32)
    ac_t = p.ac * cone * np.maximum(taper, 1e-3)
    bc_t = p.bc * np.maximum(taper, 1e-3) ** 0.5
    cy_t = p.cy + p.bc * (1 - taper ** 0.5) * 0.6  # apices lie posterior
    sd_cav = _superellipse_sd(dx, Y - cy_t, ac_t, bc_t, 2.15)
    sd_cav = np.where(taper > 1e-3, sd_cav, 50.0).astype(np.float32)
    # muscle between fat and cavity (+ the rib layer, drawn as intercostal muscle)
    sd_fat_in = 2.0 + p.fat * np.where(dy < 0, 0.8, np.where(dy > 0, 0.7, 1.0)) - depth
    _blend(hu, soft(sd_fat_in, px), HU_MUSCLE + rng.uniform(-10, 15))

    # ---- ribs and costal cartilage in the wall layer just outside the cavity
    theta = np.arctan2(dy, dx)
    sin_t = np.sin(theta)
    zz = Z - z0 + p.rib_phase + p.rib_drop * (1 - sin_t) / 2
    dz_rib = (np.mod(zz, p.rib_pitch) - p.rib_pitch / 2)
    rib_h = 0.45 * p.rib_t + 1.5
    radial = (sd_cav - 0.5 * p.rib_t - 1.0) / (0.35 * p.rib_t)
    e = np.sqrt(radial**2 + (dz_rib / rib_h) ** 2)
    rib_occ = soft((e - 1.0) * rib_h, px) * (T < 0.92)
    cartilage = (sin_t < -0.8).astype(np.float32)
    bone_val = np.where(e > 0.6, rng.uniform(700, 1000), rng.uniform(180, 300))
    _blend(hu, rib_occ * (1 - cartilage), bone_val)
    _blend(hu, rib_occ * cartilage, rng.uniform(90, 160))

    # ---- cavity content: lungs by default, mediastinum and abdomen carved out
    cav_occ = soft(sd_cav, px)
    _blend(hu, cav_occ, p.lung_hu)
    lung_occ = cav_occ.copy()
    # diaphragm domes (Z of the dome surface), right higher than left
    dome = np.empty(shape[1:], dtype=np.float32)[None]
    dome_r = z0 + p.length * (p.t_dome_r - (p.t_dome_r - p.t_recess) * (
        ((X - (p.cx - 0.45 * p.ac)) / (0.75 * p.ac)) ** 2 + ((Y - p.cy + 0.25 * p.bc) / p.bc) ** 2) / 1.6)
    dome_l = z0 + p.length * (p.t_dome_l - (p.t_dome_l - p.t_recess) * (
        ((X - (p.cx + 0.45 * p.ac)) / (0.75 * p.ac)) ** 2 + ((Y - p.cy + 0.25 * p.bc) / p.bc) ** 2) / 1.6)
    dome = np.where(X < p.cx, dome_r, dome_l).astype(np.float32)
    below = soft(Z - dome, 2 * grid.spacing[0] / 3) * cav_occ
    lung_occ *= 1 - below
    _blend(hu, below, HU_FAT)
    _blend(hu, soft(np.abs(Z - dome + 3.0) - 3.0, px) * cav_occ, HU_MUSCLE)  # diaphragm
    liver_occ = below * soft(X - (p.cx + 0.15 * p.ac) + 0.3 * (Y - p.cy), 8.0)
    _blend(hu, liver_occ, p.liver_hu + (p.blood_hu - 40) * 0.3)
    zl = float(z0 + p.length * p.t_dome_l)
    stomach = soft(ellipsoid_sd(grid, (p.cx + 0.45 * p.ac, p.cy - 0.2 * p.bc, zl - 45),
                                (50, 40, 50), 0.3), px) * below
    _blend(hu, stomach, rng.uniform(10, 35))
    gas_level = zl - 45 + rng.uniform(5, 30)
    _blend(hu, stomach * soft(gas_level - Z, grid.spacing[0]), HU_AIR)
    spleen = soft(ellipsoid_sd(grid, (p.cx + 0.75 * p.ac, p.cy + 0.5 * p.bc, zl - 40),
                               (35, 28, 50), -0.6), px) * below * (1 - stomach)
    _blend(hu, spleen, 45.0 + (p.blood_hu - 40) * 0.3)

    # mediastinum: a central band widening posteriorly + heart + great vessels + spine
    wm = p.ac * 0.17 * (0.35 + 0.8 * np.clip((Y - p.cy + p.bc) / (2 * p.bc), 0, 1))
    wm = wm * (1 + 0.5 * np.clip((T - 0.6) / 0.3, 0, 1))
    sd_med = np.abs(X - p.cx - 5.0) - wm
    med = soft(sd_med, px) * cav_occ * (1 - below)
    vb_y = p.cy + p.bc - 0.9 * p.vb_r
    hc = (p.cx + 0.15 * p.ac, p.cy - 0.2 * p.bc, z0 + p.length * p.t_heart)
    sd_heart = ellipsoid_sd(grid, hc, p.heart_axes, p.heart_angle)
    med = np.maximum(med, soft(sd_heart - 6.0, px) * cav_occ)
    med = np.maximum(med, soft(ellipsoid_sd(grid, (p.cx, vb_y, 0.0), (p.vb_r * 1.5, p.vb_r * 1.25, 1e5)),
                               px) * cav_occ)
    lung_occ *= 1 - med
    _blend(hu, med, HU_FAT + 10)

    # heart: pericardial fat, myocardium, blood pool, septum
    _blend(hu, soft(sd_heart, px), HU_MUSCLE + 5)
    inner = soft(sd_heart + 9.0, px)
    ang = p.heart_angle + np.pi / 2
    septum = soft(np.abs(np.cos(ang) * (X - hc[0]) + np.sin(ang) * (Y - hc[1]) + 8.0) - 5.0, px)
    _blend(hu, inner * (1 - septum), p.blood_hu)

    # great vessels, trachea and bronchi as tubes (X, Y, Z)
    zc = z0 + p.length * p.t_carina
    ztop = z0 + p.length * 1.02
    zh = hc[2] + 0.7 * p.heart_axes[2]
    zarch = zc + rng.uniform(15, 30)
    tr_y = vb_y - p.vb_r - p.trachea_r - 6.0
    ra = rng.uniform(13, 17)
    desc = np.array([p.cx + 0.9 * p.vb_r + 8, vb_y - 0.6 * p.vb_r, 0.0])
    hil_r = np.array([p.cx - 0.32 * p.ac, p.cy + 0.05 * p.bc, zc - 20])
    hil_l = np.array([p.cx + 0.30 * p.ac, p.cy + 0.10 * p.bc, zc - 30])
    tubes_blood = [
        ((p.cx - 8, p.cy - 0.35 * p.bc, hc[2]), (p.cx - 12, p.cy - 0.3 * p.bc, zarch), ra, ra),
        ((p.cx - 12, p.cy - 0.3 * p.bc, zarch), (desc[0], desc[1] - 5, zarch + 8), ra * 0.9, ra * 0.8),
        ((desc[0], desc[1] - 5, zarch + 8), (desc[0], desc[1], zarch - 20), ra * 0.8, ra * 0.75),
        ((desc[0], desc[1], zarch - 20), (desc[0], desc[1], z0 - 10), ra * 0.75, ra * 0.7),
        ((p.cx - 30, p.cy - 0.3 * p.bc, zh), (p.cx - 30, p.cy - 0.25 * p.bc, ztop), 10, 9),
        ((p.cx - 14, p.cy - 0.3 * p.bc, zarch), (p.cx - 22, p.cy - 0.35 * p.bc, ztop), 7, 6),
        ((p.cx + 2, p.cy - 0.3 * p.bc, zarch), (p.cx + 18, p.cy - 0.2 * p.bc, ztop), 6, 5),
        ((p.cx + 15, p.cy - 0.45 * p.bc, hc[2] + 10), (p.cx + 8, p.cy - 0.05 * p.bc, zc - 12), 14, 13),
        ((p.cx + 8, p.cy - 0.05 * p.bc, zc - 12), hil_r + (0, -12, 0), 11, 9),
        ((p.cx + 8, p.cy - 0.05 * p.bc, zc - 12), hil_l + (0, -10, 0), 11, 9),
    ]
    for a, b, r0, r1 in tubes_blood:
        patch = tube_patch(grid, np.array(a), np.array(b), r0, r1)
        if patch is not None:
            sl, occ = patch
            _blend(hu, occ, p.blood_hu, sl)
            lung_occ[sl] *= 1 - occ
    # esophagus behind the trachea
    patch = tube_patch(grid, np.array([p.cx + 4, tr_y + p.trachea_r + 7, ztop]),
                       np.array([p.cx + 20, desc[1] - 18, z0 + p.length * p.t_dome_l]), 7, 7)
    if patch is not None:
        sl, occ = patch
        _blend(hu, occ, HU_MUSCLE, sl)
        lung_occ[sl] *= 1 - occ
    airway = [
        ((p.cx, tr_y, ztop), (p.cx, tr_y + 4, zc), p.trachea_r, p.trachea_r * 0.95),
        ((p.cx, tr_y + 4, zc), hil_r, p.trachea_r * 0.75, p.trachea_r * 0.6),
        ((p.cx, tr_y + 4, zc), hil_l, p.trachea_r * 0.7, p.trachea_r * 0.55),
    ]
    for a, b, r0, r1 in airway:
        outer = tube_patch(grid, np.array(a), np.array(b), r0 + 2.0, r1 + 2.0)
        if outer is not None:
            sl, occ = outer
            _blend(hu, occ, HU_MUSCLE + 20, sl)
            lung_occ[sl] *= 1 - occ
        lumen = tube_patch(grid, np.array(a), np.array(b), r0, r1)
        if lumen is not None:
            sl, occ = lumen
            _blend(hu, occ, HU_AIR, sl)

    # ---- spine (vertebral bodies with discs, canal, posterior elements) and sternum
    vb = soft(ellipsoid_sd(grid, (p.cx, vb_y, 0.0), (p.vb_r * 1.15, p.vb_r, 1e5)), px)
    disc = soft(np.abs(np.mod(Z - z0 + p.rib_phase, 26.0) - 13.0) - 3.0, grid.spacing[0] / 2)
    vb_edge = soft(-ellipsoid_sd(grid, (p.cx, vb_y, 0.0), (p.vb_r * 1.15 - 2.5, p.vb_r - 2.5, 1e5)), px)
    _blend(hu, vb, rng.uniform(180, 280))
    _blend(hu, vb * vb_edge, rng.uniform(600, 900))
    _blend(hu, vb * disc, 85.0)
    canal_y = vb_y + p.vb_r + 9.0
    arch = soft(ellipsoid_sd(grid, (p.cx, canal_y, 0.0), (13.0, 12.0, 1e5)), px)
    spinous = soft(ellipsoid_sd(grid, (p.cx, canal_y + 22, 0.0), (4.0, 18.0, 1e5)), px)
    transverse = soft(ellipsoid_sd(grid, (p.cx, canal_y + 2, 0.0), (30.0, 5.0, 1e5)), px)
    post_el = np.maximum(np.maximum(arch, spinous), transverse) * (1 - disc)
    _blend(hu, post_el, rng.uniform(450, 800))
    _blend(hu, soft(ellipsoid_sd(grid, (p.cx, canal_y, 0.0), (7.5, 7.0, 1e5)), px), 20.0)
    st_y = p.cy - p.bc - 0.5 * p.rib_t - 1
    sternum = soft(ellipsoid_sd(grid, (p.cx, st_y, 0.0), (14.0, 5.5, 1e5)), px)
    sternum *= ((T > 0.30) & (T < 0.88)).astype(np.float32)
    _blend(hu, sternum, rng.uniform(300, 500))
    _blend(hu, sternum * soft(-ellipsoid_sd(grid, (p.cx, st_y, 0.0), (11.5, 3.0, 1e5)), px),
           rng.uniform(700, 950))

    # ---- lungs: smooth parenchymal texture and dependent (posterior) density gradient
    lungs_bin = lung_occ >= 0.5
    tex = ndi.gaussian_filter(rng.standard_normal(shape).astype(np.float32),
                              sigma=[4.0 / s for s in grid.spacing])
    tex *= 16.0 / max(float(tex.std()), 1e-6)
    grad = 45.0 * np.clip((Y - p.cy + p.bc) / (2 * p.bc), 0, 1)
    hu += lung_occ * (tex + grad)
    lungs = np.zeros(shape, dtype=np.uint8)
    side_r = np.broadcast_to(X < p.cx + 5.0, shape)
    lungs[lungs_bin & side_r] = 1
    lungs[lungs_bin & ~side_r] = 2
    veins_r = np.array([p.cx - 0.25 * p.ac, p.cy + 0.05 * p.bc, hc[2] + 0.3 * p.heart_axes[2]])
    veins_l = np.array([p.cx + 0.28 * p.ac, p.cy + 0.15 * p.bc, hc[2] + 0.35 * p.heart_axes[2]])
    return Anatomy(hu=hu, lungs=_clean_lungs(lungs), hila=(hil_r, hil_l),
                   veins=(veins_r, veins_l), z0=z0)


def _clean_lungs(lungs: np.ndarray) -> np.ndarray:
    """Keep the largest 3D component of each lung."""
    out = np.zeros_like(lungs)
    for lab in (1, 2):
        comp, n = ndi.label(lungs == lab)
        if n == 0:
            continue
        sizes = np.bincount(comp.ravel())[1:]
        out[comp == (int(np.argmax(sizes)) + 1)] = lab
    return out
