"""The scanner: slice thickness, reconstruction-kernel blur, noise, optional CT physics.

Fast mode blurs the ideal HU volume (slice-thickness profile along z, kernel sharpness
in-plane) and adds spatially correlated Gaussian noise. Physics mode instead forward-projects
every axial slice (parallel-beam Radon transform), draws Poisson photon counts, and
reconstructs by filtered back-projection (scikit-image ``radon`` / ``iradon``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage as ndi
from skimage.transform import iradon, radon

from covidct.phantom.options import PhantomOptions, SizePreset

__all__ = ["MU_WATER_PER_MM", "ScannerParams", "acquire", "draw_scanner"]

MU_WATER_PER_MM = 0.0193  # linear attenuation of water at about 70 keV, 1/mm
_REF_VOXEL_MM3 = 0.7 * 0.7 * 3.0
_FILTERS = ("ramp", "shepp-logan", "cosine", "hann")


@dataclass(frozen=True)
class ScannerParams:
    """Acquisition of one case: ``thickness_mm`` (z FWHM), ``blur_mm`` (in-plane sigma),
    ``noise_hu`` (sigma in water, fast mode), ``photons`` (physics mode), ``kernel`` (FBP filter)."""

    thickness_mm: float
    blur_mm: float
    noise_hu: float
    photons: float
    kernel: str


def draw_scanner(rng: np.random.Generator, options: PhantomOptions, preset: SizePreset,
                 spacing: tuple[float, float, float]) -> ScannerParams:
    """Draw the scanner settings of a case for a grid of ``spacing`` (sz, sy, sx) mm."""
    return ScannerParams(
        thickness_mm=float(spacing[0] * rng.uniform(*preset.thickness_factor)),
        blur_mm=float(rng.uniform(*options.blur_mm)),
        noise_hu=float(rng.uniform(*options.noise_hu)),
        photons=float(np.exp(rng.uniform(*np.log(options.photons)))),
        kernel=str(rng.choice(_FILTERS)),
    )


def acquire(rng: np.random.Generator, hu: np.ndarray, spacing: tuple[float, float, float],
            scanner: ScannerParams, *, physics: bool) -> np.ndarray:
    """Image the ideal HU volume (z, y, x) float32; returns int16 HU in [-1024, 3071]."""
    sz, sy, sx = spacing
    sig_z = scanner.thickness_mm / 2.355 / sz
    sig_xy = np.hypot(scanner.blur_mm / sx, 0.35)  # kernel blur + partial volume of a pixel
    if physics:
        img = ndi.gaussian_filter1d(hu, sig_z, axis=0, mode="nearest")
        img = _fbp_slices(rng, img, sx, scanner)
        img = ndi.gaussian_filter(img, sigma=(0, 0.5 * sig_xy, 0.5 * sig_xy))
    else:
        img = ndi.gaussian_filter(hu, sigma=(sig_z, sig_xy, sig_xy), mode="nearest")
        scale = float(np.clip(np.sqrt(_REF_VOXEL_MM3 / (sx * sy * scanner.thickness_mm)), 0.25, 1.0))
        noise = ndi.gaussian_filter(rng.standard_normal(hu.shape).astype(np.float32),
                                    sigma=(0, 0.7, 0.7))
        noise *= scanner.noise_hu * scale / max(float(noise.std()), 1e-6)
        img += noise
    return np.clip(np.rint(img), -1024, 3071).astype(np.int16)


def _fbp_slices(rng: np.random.Generator, hu: np.ndarray, pixel_mm: float,
                scanner: ScannerParams) -> np.ndarray:
    """Radon -> Poisson counts -> filtered back-projection, slice by slice (square slices)."""
    nz, ny, nx = hu.shape
    n = max(ny, nx)
    pad = ((0, n - ny), (0, n - nx))
    angles = np.linspace(0.0, 180.0, max(90, round(n * 1.2)), endpoint=False)
    out = np.empty_like(hu, dtype=np.float32)
    yy, xx = np.mgrid[:n, :n]
    outside = (yy - (n - 1) / 2) ** 2 + (xx - (n - 1) / 2) ** 2 > ((n - 1) / 2) ** 2
    for k in range(nz):
        mu = np.clip(MU_WATER_PER_MM * (1.0 + np.pad(hu[k], pad, constant_values=-1000) / 1000.0),
                     0, None)
        mu[outside] = 0.0
        line = radon(mu, theta=angles, circle=True) * pixel_mm  # line integrals (unitless)
        counts = rng.poisson(scanner.photons * np.exp(-line))
        line_noisy = -np.log(np.maximum(counts, 1) / scanner.photons)
        rec = iradon(line_noisy / pixel_mm, theta=angles, circle=True,
                     filter_name=scanner.kernel)
        rec_hu = (rec / MU_WATER_PER_MM - 1.0) * 1000.0
        rec_hu[outside] = -1000.0
        out[k] = rec_hu[:ny, :nx]
    return out
