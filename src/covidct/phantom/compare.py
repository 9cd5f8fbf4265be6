"""Side-by-side picture of phantom cases and a real chest CT (axial slices, HU histograms).

Used to check that the phantom looks like a chest CT; see docs/phantom.md.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from scipy import ndimage as ndi

from covidct.errors import InvalidInputError
from covidct.io.volume import CTVolume
from covidct.phantom.cohort import SimulatedCase

__all__ = ["comparison_figure", "rough_masks"]


def rough_masks(hu: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rough (body, lungs) boolean masks of a (z, y, x) HU volume by thresholding.

    Body: largest component above -500 HU, holes filled per slice. Lungs: below -400 HU
    inside the body, the two largest 3D components of 10 mL or more.
    """
    body = hu > -500
    lab, n = ndi.label(body)
    if n == 0:
        raise InvalidInputError("no body found above -500 HU in the volume")
    body = lab == (np.argmax(np.bincount(lab.ravel())[1:]) + 1)
    body = np.stack([ndi.binary_fill_holes(s) for s in body])
    air = (hu < -400) & ndi.binary_erosion(body, iterations=2)
    lab, n = ndi.label(air)
    sizes = np.bincount(lab.ravel())[1:]
    keep = np.argsort(sizes)[::-1][:2] + 1
    lungs = np.isin(lab, keep) & (sizes.max(initial=0) > 0)
    return body, lungs


def _slices(lung: np.ndarray, fractions: tuple[float, ...]) -> list[int]:
    zs = np.flatnonzero(lung.any(axis=(1, 2)))
    lo, hi = (zs.min(), zs.max()) if zs.size else (0, lung.shape[0] - 1)
    return [round(lo + f * (hi - lo)) for f in fractions]


def comparison_figure(real: CTVolume, cases: list[SimulatedCase], path: str | Path,
                      *, titles: list[str] | None = None) -> Path:
    """Write a PNG: rows = the real CT then each case, axial slices at lung window
    (W 1500 / L -600) at 25 / 50 / 75 % of the lung height, a coronal view, and HU histograms
    inside the body and inside the lungs. Returns the path."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    vols = [("real CT (lung1)", real.array.astype(np.float32), real.spacing, None)]
    for i, c in enumerate(cases):
        name = titles[i] if titles else f"{c.case_id} {c.labels['diagnosis']}"
        vols.append((name, c.volume.array.astype(np.float32), c.volume.spacing, c))
    rows = len(vols)
    fig = plt.figure(figsize=(16, 3.6 * rows + 3.6))
    gs = fig.add_gridspec(rows + 1, 4)
    hist_body = fig.add_subplot(gs[rows, :2])
    hist_lung = fig.add_subplot(gs[rows, 2:])
    bins = np.linspace(-1100, 400, 151)
    for r, (name, hu, spacing, case) in enumerate(vols):
        body, lungs_rough = rough_masks(hu)
        lung = lungs_rough if case is None else case.lungs > 0
        for col, k in enumerate(_slices(lung, (0.25, 0.5, 0.75))):
            ax = fig.add_subplot(gs[r, col])
            ax.imshow(hu[k], cmap="gray", vmin=-1350, vmax=150,
                      aspect=spacing[1] / spacing[2])
            if case is not None and case.lesions[k].any():
                ax.contour(case.lesions[k] > 0, levels=[0.5], colors="orange", linewidths=0.6)
            ax.set_title(f"{name}: slice {k}", fontsize=9)
            ax.axis("off")
        ax = fig.add_subplot(gs[r, 3])
        j = int(np.argmax(lung.sum(axis=(0, 2)))) if lung.any() else hu.shape[1] // 2
        ax.imshow(hu[::-1, j, :], cmap="gray", vmin=-1350, vmax=150,
                  aspect=spacing[0] / spacing[2])
        ax.set_title(f"{name}: coronal", fontsize=9)
        ax.axis("off")
        w = float(np.prod(spacing)) / 1000.0
        hist_body.hist(hu[body], bins=bins, histtype="step", density=True, label=name)
        hist_lung.hist(hu[lung], bins=bins, histtype="step", density=True,
                       label=f"{name} ({lung.sum() * w:.0f} mL)")
    hist_body.set_title("HU inside the body")
    hist_lung.set_title("HU inside the lungs")
    for ax in (hist_body, hist_lung):
        ax.set_xlabel("HU")
        ax.legend(fontsize=8)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path
