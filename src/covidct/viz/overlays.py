"""Axial overlay pictures: CT slices with lung outlines and GGO / consolidation masks.

Uses :class:`matplotlib.figure.Figure` with the Agg canvas directly, so importing this
module changes no global matplotlib state (no pyplot, no backend switch).
Display follows the radiological convention for LPS volumes with identity direction: the
patient's right (low x index) on the viewer's left, anterior (low y index) at the top.
"""

from __future__ import annotations

import logging
import math
import textwrap
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import to_rgba
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from covidct.errors import GeometryMismatchError, InvalidInputError

__all__ = ["coronal_view", "montage_slices", "save_coronal", "save_montage", "save_overlay_slice"]

logger = logging.getLogger(__name__)

LUNG_COLOURS = {1: ("#00d0ff", "right lung"), 2: ("#ff7f0e", "left lung")}
LESION_COLOURS = {1: ("#ffe100", "GGO"), 2: ("#ff1a1a", "consolidation")}
_FILL_ALPHA = 0.40
#: heat-map values (0..1) below this are not drawn.
HEAT_FLOOR = 0.2
_MARGIN_MM = 15.0
_PANEL_INCH = 3.0


def _check(
    image_hu: np.ndarray,
    spacing: tuple[float, float, float],
    lungs: np.ndarray | None,
    lesions: np.ndarray | None,
    window_hu: tuple[float, float],
    heatmap: np.ndarray | None = None,
) -> tuple[np.ndarray, tuple[float, float, float]]:
    image = np.asarray(image_hu)
    if image.ndim != 3:
        raise InvalidInputError(f"image must be a 3D (z, y, x) array; got shape {image.shape}")
    sp = tuple(float(s) for s in spacing)
    if len(sp) != 3 or not all(math.isfinite(s) and s > 0 for s in sp):
        raise InvalidInputError(
            f"spacing must be 3 positive numbers (sz, sy, sx) in mm; got {spacing}"
        )
    for name, mask in (("lungs", lungs), ("lesions", lesions), ("heatmap", heatmap)):
        if mask is not None and np.shape(mask) != image.shape:
            raise GeometryMismatchError(
                f"{name} mask shape {np.shape(mask)} does not match the image shape {image.shape}"
            )
    lo, hi = (float(w) for w in window_hu)
    if not lo < hi:
        raise InvalidInputError(f"window_hu must be (low, high) with low < high; got {window_hu}")
    return image, sp  # type: ignore[return-value]


def _crop(
    shape: tuple[int, ...], spacing: tuple[float, float, float], lungs: np.ndarray | None
) -> tuple[slice, slice]:
    """In-plane (y, x) crop: the lungs' bounding box + a margin, else the whole slice."""
    if lungs is None or not np.any(lungs):
        return slice(0, shape[1]), slice(0, shape[2])
    proj = np.any(np.asarray(lungs) > 0, axis=0)
    out = []
    for axis, sp in ((0, spacing[1]), (1, spacing[2])):
        idx = np.flatnonzero(proj.any(axis=1 - axis))
        m = round(_MARGIN_MM / sp)
        out.append(slice(max(int(idx[0]) - m, 0), min(int(idx[-1]) + 1 + m, proj.shape[axis])))
    return out[0], out[1]


def montage_slices(
    shape: tuple[int, int, int], lungs: np.ndarray | None = None, n_slices: int = 12
) -> list[int]:
    """Evenly spaced axial slice indices through the lungs (or the whole volume if none)."""
    if n_slices < 1:
        raise InvalidInputError(f"n_slices must be >= 1; got {n_slices}")
    lo, hi = 0, shape[0] - 1
    if lungs is not None and np.any(lungs):
        idx = np.flatnonzero(np.any(np.asarray(lungs) > 0, axis=(1, 2)))
        lo, hi = int(idx[0]), int(idx[-1])
    n = min(n_slices, hi - lo + 1)
    if n == 1:
        return [(lo + hi) // 2]
    # Inset by half a step so the first/last panels are not the lungs' thin tips.
    step = (hi - lo + 1) / n
    return sorted({int(lo + step * (i + 0.5)) for i in range(n)})


def _overlay_rgba(mask2d: np.ndarray, colours: dict[int, tuple[str, str]]) -> np.ndarray:
    rgba = np.zeros(mask2d.shape + (4,), dtype=np.float32)
    for value, (colour, _) in colours.items():
        rgba[mask2d == value] = to_rgba(colour, _FILL_ALPHA)
    return rgba


def _draw(
    ax,
    image: np.ndarray,
    k: int,
    crop: tuple[slice, slice],
    spacing: tuple[float, float, float],
    lungs: np.ndarray | None,
    lesions: np.ndarray | None,
    window_hu: tuple[float, float],
    heatmap: np.ndarray | None = None,
    label: str = "z",
) -> None:
    ys, xs = crop
    aspect = spacing[1] / spacing[2]
    ax.imshow(
        np.asarray(image[k, ys, xs], dtype=np.float32),
        cmap="gray",
        vmin=window_hu[0],
        vmax=window_hu[1],
        aspect=aspect,
        interpolation="bilinear",
    )
    if heatmap is not None:
        heat = np.clip(np.asarray(heatmap[k, ys, xs], dtype=np.float32), 0.0, 1.0)
        if (heat >= HEAT_FLOOR).any():
            ax.imshow(heat, cmap="inferno", vmin=0.0, vmax=1.0, aspect=aspect,
                      alpha=np.where(heat >= HEAT_FLOOR, 0.55, 0.0), interpolation="bilinear")
    if lesions is not None:
        les = np.asarray(lesions[k, ys, xs])
        if les.any():
            ax.imshow(_overlay_rgba(les, LESION_COLOURS), aspect=aspect, interpolation="nearest")
            for value, (colour, _) in LESION_COLOURS.items():
                if (les == value).any():
                    ax.contour(les == value, levels=[0.5], colors=[colour], linewidths=0.8)
    if lungs is not None:
        lung = np.asarray(lungs[k, ys, xs])
        for value, (colour, _) in LUNG_COLOURS.items():
            if (lung == value).any():
                ax.contour(lung == value, levels=[0.5], colors=[colour], linewidths=0.9)
    ax.text(
        0.02,
        0.98,
        f"{label}={k}",
        transform=ax.transAxes,
        color="white",
        fontsize=9,
        va="top",
        ha="left",
        bbox={"facecolor": "black", "alpha": 0.6, "pad": 1.5, "lw": 0},
    )
    ax.set_xticks([])
    ax.set_yticks([])


def _legend(
    fig: Figure, lungs: np.ndarray | None, lesions: np.ndarray | None, heatmap: bool = False
) -> None:
    handles = []
    if lungs is not None:
        handles += [Patch(facecolor="none", edgecolor=c, label=n) for c, n in LUNG_COLOURS.values()]
    if lesions is not None:
        handles += [
            Patch(facecolor=to_rgba(c, _FILL_ALPHA), edgecolor=c, label=n)
            for c, n in LESION_COLOURS.values()
        ]
    if heatmap:
        handles.append(Patch(facecolor="#f98e09", edgecolor="#f98e09", label="heat map"))
    if handles:
        fig.legend(
            handles=handles,
            loc="lower center",
            ncol=len(handles),
            frameon=False,
            fontsize=10,
            labelcolor="white",
        )


def _verify_png(tmp: Path) -> None:
    from PIL import Image

    with Image.open(tmp) as img:
        img.load()  # a truncated PNG fails here


def _save(fig: Figure, path: str | Path, dpi: int) -> Path:
    from covidct.io.atomic import atomic_write

    FigureCanvasAgg(fig)
    path = atomic_write(
        path,
        lambda tmp: fig.savefig(tmp, format="png", dpi=dpi, facecolor="black"),
        verify=_verify_png,
        what="picture",
    )
    logger.info("wrote %s", path)
    return path


def save_montage(
    image_hu: np.ndarray,
    path: str | Path,
    *,
    spacing: tuple[float, float, float],
    lungs: np.ndarray | None = None,
    lesions: np.ndarray | None = None,
    n_slices: int = 12,
    window_hu: tuple[float, float] = (-1350.0, 150.0),
    title: str | None = None,
    warnings: tuple[str, ...] = (),
    dpi: int = 100,
    heatmap: np.ndarray | None = None,
) -> Path:
    """Save a PNG grid of evenly spaced axial slices with lung and lesion overlays.

    Args:
        image_hu: ``(z, y, x)`` CT in HU.
        path: output PNG file (parent folders are created).
        spacing: ``(sz, sy, sx)`` in mm; sets the pixel aspect ratio.
        lungs: optional ``(z, y, x)`` labels (1 right, 2 left): outlined, one colour per lung;
            slices are chosen through the lungs' z extent and panels cropped around them.
        lesions: optional ``(z, y, x)`` labels (1 GGO yellow, 2 consolidation red): filled
            translucently and outlined.
        n_slices: number of panels (fewer if the lungs span fewer slices).
        window_hu: grey-level window ``(low, high)`` in HU (default: lung window).
        title: optional figure title.
        warnings: lines shown in orange under the title (why the numbers may be off).
        dpi: resolution of the PNG.
        heatmap: optional ``(z, y, x)`` float map in [0, 1] (e.g. Grad-CAM), drawn where
            it is at least :data:`HEAT_FLOOR`.

    Returns:
        The path written.
    """
    image, sp = _check(image_hu, spacing, lungs, lesions, window_hu, heatmap)
    slices = montage_slices(image.shape, lungs, n_slices)
    crop = _crop(image.shape, sp, lungs)
    ncols = min(len(slices), 4 if len(slices) > 6 else 3)
    if warnings:  # wrapped to the figure's width (about 13 characters per inch at 9 pt)
        lines = [ln for w in warnings
                 for ln in textwrap.wrap(f"WARNING: {w}", int(13 * ncols * _PANEL_INCH))]
        title = "\n".join([title or "", *lines]).lstrip("\n")
        warnings = tuple(lines)
    nrows = math.ceil(len(slices) / ncols)
    h_mm = (crop[0].stop - crop[0].start) * sp[1]
    w_mm = (crop[1].stop - crop[1].start) * sp[2]
    panel_h = _PANEL_INCH * h_mm / w_mm
    top = 0.45 + 0.25 * len(warnings) if title else 0.1
    fig = Figure(figsize=(ncols * _PANEL_INCH, nrows * panel_h + top + 0.4), facecolor="black")
    fig.subplots_adjust(
        left=0.005,
        right=0.995,
        wspace=0.02,
        hspace=0.02,
        bottom=0.4 / (nrows * panel_h + top + 0.4),
        top=1 - top / (nrows * panel_h + top + 0.4),
    )
    for i, k in enumerate(slices):
        ax = fig.add_subplot(nrows, ncols, i + 1)
        _draw(ax, image, k, crop, sp, lungs, lesions, window_hu, heatmap)
    if title:
        fig.suptitle(title, color="orange" if warnings else "white",
                     fontsize=12 if not warnings else 9)
    _legend(fig, lungs, lesions, heatmap is not None)
    return _save(fig, path, dpi)


def coronal_view(
    volume: np.ndarray, spacing: tuple[float, float, float], direction: tuple[float, ...]
) -> tuple[np.ndarray, tuple[float, float, float]]:
    """A ``(z, y, x)`` array re-stacked as coronal planes: ``(y, z', x)`` with the head up.

    Returns the view (plane index = y, rows run from head to feet) and its spacing
    ``(sy, sz, sx)`` in mm. ``direction`` (ITK, row-major) says whether z grows towards
    the head (LPS +z); the rows are flipped so that the head is on top.
    """
    view = np.swapaxes(np.asarray(volume), 0, 1)
    if float(direction[8]) >= 0:  # z index grows towards the head: put it on top
        view = view[:, ::-1, :]
    return view, (spacing[1], spacing[0], spacing[2])


def save_coronal(
    image_hu: np.ndarray,
    path: str | Path,
    *,
    spacing: tuple[float, float, float],
    direction: tuple[float, ...] = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0),
    index: int | None = None,
    lungs: np.ndarray | None = None,
    lesions: np.ndarray | None = None,
    heatmap: np.ndarray | None = None,
    window_hu: tuple[float, float] = (-1350.0, 150.0),
    title: str | None = None,
    dpi: int = 100,
) -> Path:
    """Save one coronal plane (head up, patient's right on the left) with overlays.

    Args:
        index: coronal plane (y index); None = the plane with the most lung voxels.
        direction: the volume's direction cosines (ITK order), to put the head on top.
        Other arguments as in :func:`save_montage` (all arrays ``(z, y, x)``).
    """
    image, sp = _check(image_hu, spacing, lungs, lesions, window_hu, heatmap)
    views = [None if a is None else coronal_view(a, sp, direction)[0]
             for a in (lungs, lesions, heatmap)]
    view, vsp = coronal_view(image, sp, direction)
    if index is None:
        index = (int(np.argmax((np.asarray(views[0]) > 0).sum(axis=(1, 2))))
                 if views[0] is not None and np.any(views[0]) else view.shape[0] // 2)
    if not 0 <= index < view.shape[0]:
        raise InvalidInputError(f"coronal index {index} outside 0..{view.shape[0] - 1}")
    crop = _crop(view.shape, vsp, views[0])
    h_mm = (crop[0].stop - crop[0].start) * vsp[1]
    w_mm = (crop[1].stop - crop[1].start) * vsp[2]
    top = 0.45 if title else 0.1
    width = 6.0
    height = width * h_mm / w_mm + top + 0.4
    fig = Figure(figsize=(width, height), facecolor="black")
    fig.subplots_adjust(left=0.01, right=0.99, bottom=0.4 / height, top=1 - top / height)
    ax = fig.add_subplot(1, 1, 1)
    _draw(ax, view, index, crop, vsp, views[0], views[1], window_hu, views[2], label="y")
    if title:
        fig.suptitle(title, color="white", fontsize=12)
    _legend(fig, lungs, lesions, heatmap is not None)
    return _save(fig, path, dpi)


def save_overlay_slice(
    image_hu: np.ndarray,
    path: str | Path,
    *,
    spacing: tuple[float, float, float],
    index: int | None = None,
    lungs: np.ndarray | None = None,
    lesions: np.ndarray | None = None,
    window_hu: tuple[float, float] = (-1350.0, 150.0),
    title: str | None = None,
    dpi: int = 120,
) -> Path:
    """Save one axial slice with overlays as a PNG (same drawing as :func:`save_montage`).

    Args:
        index: axial slice index (z); None = the slice with the most lesion voxels, else the
            one with the most lung, else the middle slice.
        Other arguments as in :func:`save_montage`.
    """
    image, sp = _check(image_hu, spacing, lungs, lesions, window_hu)
    if index is None:
        for mask in (lesions, lungs):
            if mask is not None and np.any(mask):
                index = int(np.argmax((np.asarray(mask) > 0).sum(axis=(1, 2))))
                break
        else:
            index = image.shape[0] // 2
    if not 0 <= index < image.shape[0]:
        raise InvalidInputError(f"slice index {index} outside 0..{image.shape[0] - 1}")
    crop = _crop(image.shape, sp, lungs)
    h_mm = (crop[0].stop - crop[0].start) * sp[1]
    w_mm = (crop[1].stop - crop[1].start) * sp[2]
    width = 6.0
    height = width * h_mm / w_mm + (0.45 if title else 0.1) + 0.4
    fig = Figure(figsize=(width, height), facecolor="black")
    fig.subplots_adjust(
        left=0.01, right=0.99, bottom=0.4 / height, top=1 - (0.45 if title else 0.1) / height
    )
    ax = fig.add_subplot(1, 1, 1)
    _draw(ax, image, index, crop, sp, lungs, lesions, window_hu)
    if title:
        fig.suptitle(title, color="white", fontsize=12)
    _legend(fig, lungs, lesions)
    return _save(fig, path, dpi)
