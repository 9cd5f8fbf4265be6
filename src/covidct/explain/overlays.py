"""Pictures of heat maps: colour overlays (pytorch-grad-cam's ``show_cam_on_image``), a grid
of true/false positives/negatives (the tutorial's), and axial montages of a heat volume.

Images are 8-bit grey (slice datasets, or HU through the lung window); heat maps in [0, 1].
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from covidct.datasets._common import hu_to_uint8
from covidct.errors import InvalidInputError

__all__ = ["hottest_slices", "overlay", "save_axial_montage", "save_image_grid", "save_png"]


def overlay(image: np.ndarray, heat: np.ndarray, *, weight: float = 0.4) -> np.ndarray:
    """RGB uint8 (H, W, 3): a 2D grey uint8 ``image`` under the jet-coloured ``heat`` (H, W)."""
    from pytorch_grad_cam.utils.image import show_cam_on_image

    if image.shape != heat.shape or image.ndim != 2:
        raise InvalidInputError(f"image {image.shape} and heat {heat.shape} must be the same 2D shape")
    rgb = np.repeat((image.astype(np.float32) / 255.0)[..., None], 3, axis=2)
    return show_cam_on_image(rgb, np.clip(heat, 0, 1).astype(np.float32), use_rgb=True,
                             image_weight=1.0 - weight)


def save_png(rgb: np.ndarray, path: str | Path) -> Path:
    """Write an RGB or grey uint8 image to a PNG (temporary name, then renamed)."""
    from PIL import Image

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.stem + ".part.png")
    Image.fromarray(np.ascontiguousarray(rgb)).save(tmp)
    tmp.replace(path)
    return path


def _figure(width: float, height: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(fig)
    return fig


def _write(fig, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.stem + ".part.png")
    fig.savefig(tmp)
    tmp.replace(path)
    return path


def save_image_grid(rows: Mapping[str, Sequence[tuple[np.ndarray, str]]], path: str | Path, *,
                    title: str = "") -> Path:
    """One row per group (e.g. TP, FP, TN, FN) of (RGB image, caption) pairs, to a PNG."""
    n_cols = max((len(v) for v in rows.values()), default=0)
    if n_cols == 0:
        raise InvalidInputError("no images to put in the grid")
    fig = _figure(2.2 * n_cols + 0.6, 2.3 * len(rows) + 0.4)
    axes = fig.subplots(len(rows), n_cols, squeeze=False)
    for r, (name, items) in enumerate(rows.items()):
        for c in range(n_cols):
            ax = axes[r][c]
            ax.set_xticks([])
            ax.set_yticks([])
            if c < len(items):
                ax.imshow(items[c][0])
                ax.set_title(items[c][1], fontsize=7)
            if c == 0:
                ax.set_ylabel(f"{name} ({len(items)})", fontsize=9)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return _write(fig, path)


def hottest_slices(heat: np.ndarray, n: int) -> np.ndarray:
    """Indices of the ``n`` axial slices (z) with the most heat, in increasing z."""
    totals = heat.reshape(heat.shape[0], -1).sum(axis=1)
    picks = np.argsort(totals)[::-1][: max(1, n)]
    return np.sort(picks[totals[picks] > 0]) if (totals > 0).any() else np.sort(picks)


def save_axial_montage(hu: np.ndarray, heat: np.ndarray, path: str | Path, *, n: int = 6,
                       spacing: tuple[float, float, float] = (1.0, 1.0, 1.0), title: str = "") -> Path:
    """Axial overlays (lung window) of the ``n`` hottest slices of a (z, y, x) heat volume."""
    if hu.shape != heat.shape:
        raise InvalidInputError(f"CT {hu.shape} and heat {heat.shape} must share the (z, y, x) grid")
    zs = hottest_slices(heat, n)
    fig = _figure(2.6 * len(zs) + 0.4, 3.0)
    axes = fig.subplots(1, len(zs), squeeze=False)[0]
    aspect = spacing[1] / spacing[2]
    for ax, z in zip(axes, zs):
        ax.imshow(overlay(hu_to_uint8(hu[z]), heat[z]), aspect=aspect)
        ax.set_title(f"z = {z}", fontsize=8)
        ax.set_xticks([])
        ax.set_yticks([])
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return _write(fig, path)
