"""A small synthetic chest CT with exact lung truth, for the lung segmentation tests.

Physical frame: LPS mm, x to the patient's left, y posterior, z superior; array index x
grows with LPS x (identity direction), so the right lung lies at low x index.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SPACING = (3.0, 1.0, 1.0)  # (sz, sy, sx) mm: anisotropic
SHAPE = (70, 240, 300)  # (z, y, x)
Z0 = 100.0  # lung centre height (mm)


@dataclass
class Chest:
    hu: np.ndarray  # (z, y, x) int16 HU
    truth: np.ndarray  # (z, y, x) uint8: 1 right lung, 2 left lung
    airway: np.ndarray  # trachea and main bronchi lumen (bool)
    lesion: np.ndarray  # dense lesion voxels inside the lungs (bool)
    spacing: tuple[float, float, float] = SPACING


def _grid(shape=SHAPE, spacing=SPACING):
    z = (np.arange(shape[0]) * spacing[0])[:, None, None]
    y = (np.arange(shape[1]) * spacing[1] - shape[1] * spacing[1] / 2)[None, :, None]
    x = (np.arange(shape[2]) * spacing[2] - shape[2] * spacing[2] / 2)[None, None, :]
    return z, y, x


def _tube(z, y, x, p0, p1, radius):
    """Voxels within ``radius`` mm of the segment p0-p1 (points as (x, y, z) mm)."""
    p0, p1 = np.asarray(p0, float), np.asarray(p1, float)
    d = p1 - p0
    t = ((x - p0[0]) * d[0] + (y - p0[1]) * d[1] + (z - p0[2]) * d[2]) / float(d @ d)
    t = np.clip(t, 0.0, 1.0)
    return (x - p0[0] - t * d[0]) ** 2 + (y - p0[1] - t * d[1]) ** 2 + (
        z - p0[2] - t * d[2]
    ) ** 2 <= radius**2


def make_chest(lesions: str = "none", seed: int = 0, noise_hu: float = 20.0) -> Chest:
    """Synthetic chest: body, fat, ribs, spine, heart, two lungs, trachea, vessels, noise.

    ``lesions``: "none"; "consolidation" (subpleural +40 HU balls, lateral right and
    posterior left); "ggo" (subpleural -500 HU balls); "white" (the left lung opaque
    (+20 HU) below its apex: about 80 % of it).
    """
    rng = np.random.default_rng(seed)
    z, y, x = _grid()
    hu = np.full(SHAPE, -1000.0, np.float32)
    body = (x / 140.0) ** 2 + (y / 100.0) ** 2 <= 1.0
    inner = (x / 128.0) ** 2 + (y / 88.0) ** 2 <= 1.0
    body, inner = np.broadcast_to(body, SHAPE), np.broadcast_to(inner, SHAPE)
    hu[body] = -100.0  # subcutaneous fat
    hu[inner] = 40.0  # muscle, mediastinum
    rib_ring = ((x / 122.0) ** 2 + (y / 84.0) ** 2 <= 1.0) & ((x / 116.0) ** 2 + (y / 78.0) ** 2 > 1.0)
    rib_slab = np.abs((z % 24.0) - 12.0) < 5.0
    hu[rib_ring & rib_slab] = 700.0
    spine = np.broadcast_to((x**2 + (y - 68.0) ** 2) <= 15.0**2, SHAPE)
    hu[spine] = 400.0
    right = ((x + 60.0) / 48.0) ** 2 + (y / 68.0) ** 2 + ((z - Z0) / 95.0) ** 2 <= 1.0
    left = ((x - 60.0) / 46.0) ** 2 + (y / 68.0) ** 2 + ((z - Z0) / 95.0) ** 2 <= 1.0
    heart = ((x - 12.0) / 42.0) ** 2 + ((y + 18.0) / 40.0) ** 2 + ((z - Z0 + 40.0) / 45.0) ** 2 <= 1.0
    trachea = _tube(z, y, x, (0, -10, Z0 + 30), (0, -10, 400), 9.0)
    bronchi = _tube(z, y, x, (0, -10, Z0 + 30), (-26, -8, Z0 + 14), 6.0) | _tube(
        z, y, x, (0, -10, Z0 + 30), (26, -8, Z0 + 14), 6.0
    )
    airway = trachea | bronchi
    wall = _tube(z, y, x, (0, -10, Z0 + 30), (0, -10, 400), 11.0) | _tube(
        z, y, x, (0, -10, Z0 + 30), (-26, -8, Z0 + 14), 8.0
    ) | _tube(z, y, x, (0, -10, Z0 + 30), (26, -8, Z0 + 14), 8.0)
    truth = np.zeros(SHAPE, np.uint8)
    truth[right] = 1
    truth[left] = 2
    truth[heart | wall] = 0
    hu[truth > 0] = -850.0
    # vessels: a few tubes of blood inside each lung
    for cx in (-60.0, 60.0):
        for _ in range(6):
            p0 = (cx + rng.uniform(-25, 25), rng.uniform(-40, 40), Z0 + rng.uniform(-60, 60))
            p1 = (p0[0] + rng.uniform(-20, 20), p0[1] + rng.uniform(-20, 20), p0[2] + rng.uniform(-30, 30))
            v = _tube(z, y, x, p0, p1, rng.uniform(1.5, 3.0)) & (truth > 0)
            hu[v] = 40.0
    lesion = np.zeros(SHAPE, bool)
    balls = []
    if lesions in ("consolidation", "ggo"):
        balls = [
            ((-98.0, 5.0, Z0 + 10.0), 32.0),
            ((60.0, 58.0, Z0 - 25.0), 30.0),
            ((-70.0, -52.0, Z0 + 40.0), 24.0),
        ]
        value = 40.0 if lesions == "consolidation" else -500.0
        for (bx, by, bz), r in balls:
            ball = (x - bx) ** 2 + (y - by) ** 2 + (z - bz) ** 2 <= r**2
            lesion |= ball & (truth > 0)
        hu[lesion] = value
    elif lesions == "white":
        lesion = (truth == 2) & (z < Z0 + 45.0)
        hu[lesion] = 20.0
    elif lesions != "none":
        raise ValueError(lesions)
    hu[airway] = -1000.0
    hu += rng.normal(0.0, noise_hu, SHAPE).astype(np.float32)
    return Chest(
        hu=np.clip(np.rint(hu), -1024, 3071).astype(np.int16),
        truth=truth,
        airway=airway & body,
        lesion=lesion,
    )


def dice(a: np.ndarray, b: np.ndarray) -> float:
    """Dice overlap of two boolean masks."""
    a, b = a.astype(bool), b.astype(bool)
    return 2.0 * float((a & b).sum()) / max(1, int(a.sum() + b.sum()))
