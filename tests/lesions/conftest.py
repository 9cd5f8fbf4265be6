"""Synthetic chests for the lesion tests: two ellipsoid lungs at -850 HU + noise, a tree of
vessel tubes at +40 HU, soft tissue around, optional ellipsoid lesions, slight blur
(partial volume), anisotropic spacing."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pytest
from scipy import ndimage as ndi

SPACING = (2.5, 0.8, 0.8)  # (sz, sy, sx) mm
SHAPE = (52, 150, 230)  # (z, y, x)


@dataclass
class Chest:
    """A synthetic chest: ``image`` (z, y, x) float32 HU, ``lungs`` 0/1/2, truths in voxels."""

    image: np.ndarray
    lungs: np.ndarray
    spacing: tuple[float, float, float]
    truth: dict[str, np.ndarray] = field(default_factory=dict)


def _coords(shape, spacing):
    """Physical (z, y, x) mm coordinates of voxel centres, centred on the volume."""
    return [
        (np.arange(n) - (n - 1) / 2.0)[tuple(slice(None) if a == i else None for a in range(3))] * s
        for i, (n, s) in enumerate(zip(shape, spacing))
    ]


def ellipsoid(shape, spacing, centre_mm, semi_mm) -> np.ndarray:
    """Boolean ellipsoid (voxel centres inside), centre in mm relative to the volume centre."""
    z, y, x = _coords(shape, spacing)
    return (
        ((z - centre_mm[0]) / semi_mm[0]) ** 2
        + ((y - centre_mm[1]) / semi_mm[1]) ** 2
        + ((x - centre_mm[2]) / semi_mm[2]) ** 2
    ) <= 1.0


def _paint_tube(mask, spacing, p0, p1, radius) -> None:
    """Set to True the voxels of ``mask`` within ``radius`` mm of segment p0-p1 (mm, centred)."""
    shape = mask.shape
    p0, p1 = np.asarray(p0, float), np.asarray(p1, float)
    box = []
    for a in range(3):
        centre = (shape[a] - 1) / 2.0
        lo = (min(p0[a], p1[a]) - radius) / spacing[a] + centre
        hi = (max(p0[a], p1[a]) + radius) / spacing[a] + centre
        box.append(slice(max(int(np.floor(lo)), 0), max(min(int(np.ceil(hi)) + 1, shape[a]), 0)))
    if any(b.stop <= b.start for b in box):
        return
    z, y, x = (
        (np.arange(b.start, b.stop) - (n - 1) / 2.0)[
            tuple(slice(None) if i == a else None for i in range(3))
        ]
        * s
        for a, (b, n, s) in enumerate(zip(box, shape, spacing))
    )
    d = p1 - p0
    t = np.clip(
        ((z - p0[0]) * d[0] + (y - p0[1]) * d[1] + (x - p0[2]) * d[2]) / float(d @ d), 0.0, 1.0
    )
    dist2 = (z - p0[0] - t * d[0]) ** 2 + (y - p0[1] - t * d[1]) ** 2 + (x - p0[2] - t * d[2]) ** 2
    mask[tuple(box)] |= dist2 <= radius**2


LUNGS = {  # label: (centre mm, semi-axes mm); label 1 = right lung = low x (LPS +x is left)
    1: ((0.0, 0.0, -45.0), (55.0, 50.0, 38.0)),
    2: ((0.0, 0.0, 45.0), (55.0, 50.0, 38.0)),
}


def make_chest(
    lesions: list[tuple[str, tuple, tuple]] | None = None, *, seed: int = 0, vessels: bool = True
) -> Chest:
    """Build a chest; ``lesions`` = [(kind 'ggo'|'cons', centre_mm, semi_mm), ...]."""
    rng = np.random.default_rng(seed)
    image = np.full(SHAPE, 40.0, dtype=np.float32)  # soft tissue
    lungs = np.zeros(SHAPE, dtype=np.uint8)
    for label, (c, s) in LUNGS.items():
        lungs[ellipsoid(SHAPE, SPACING, c, s)] = label
    image[lungs > 0] = -850.0
    vessel = np.zeros(SHAPE, dtype=bool)
    if vessels:
        for label, (c, s) in LUNGS.items():
            hilum = np.array([c[0], c[1], c[2] - np.sign(c[2]) * 1.02 * s[2]])
            for _ in range(7):
                end = np.array(c) + rng.uniform(-0.85, 0.85, 3) * np.array(s)
                _paint_tube(vessel, SPACING, hilum, end, 2.0)
                mid = (hilum + end) / 2
                for _ in range(2):
                    end2 = np.array(c) + rng.uniform(-0.9, 0.9, 3) * np.array(s)
                    _paint_tube(vessel, SPACING, mid, end2, 1.2)
                    for _ in range(2):
                        end3 = end2 + rng.uniform(-15, 15, 3)
                        _paint_tube(vessel, SPACING, end2, end3, 0.8)
        vessel &= lungs > 0
        image[vessel] = 40.0
    truth = {"ggo": np.zeros(SHAPE, bool), "cons": np.zeros(SHAPE, bool)}
    for kind, centre, semi in lesions or []:
        m = ellipsoid(SHAPE, SPACING, centre, semi) & (lungs > 0)
        image[m] = -550.0 if kind == "ggo" else 20.0
        truth[kind] |= m
        truth["ggo" if kind == "cons" else "cons"] &= ~m
    # partial volume (PSF ~0.6 mm) then noise
    image = ndi.gaussian_filter(image, [0.6 / s for s in SPACING])
    image += rng.normal(0.0, 35.0, SHAPE).astype(np.float32)
    truth["vessel"] = vessel
    return Chest(image.astype(np.float32), lungs, SPACING, truth)


@pytest.fixture(scope="session")
def normal_chest() -> Chest:
    """Lungs with vessels and no lesion."""
    return make_chest()


@pytest.fixture(scope="session")
def lesion_chest() -> Chest:
    """A GGO ellipsoid in the right lung and a consolidation ellipsoid in the left lung."""
    return make_chest(
        [
            ("ggo", (5.0, 5.0, -45.0), (15.0, 14.0, 12.0)),
            ("cons", (-10.0, -5.0, 45.0), (12.5, 10.0, 9.0)),
        ],
        seed=1,
    )
