"""Axial slices of a study as PNG, rendered on demand: grey-level window presets, lung /
lesion / heat-map overlays with an opacity, and a small in-memory cache of the volumes.

A slice is shown the radiological way, front at the top and the patient's right on the
viewer's left, as in the report's pictures: a file stored otherwise (a NIfTI in RAS) is
flipped in-plane (:attr:`~covidct.io.layout.Layout.display`); slice indices stay the file's
(a reformat's are those of its axial slices).
"""

from __future__ import annotations

import io
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from matplotlib import colormaps
from matplotlib.colors import to_rgb
from PIL import Image
from skimage.segmentation import find_boundaries

from covidct.errors import GeometryMismatchError, InvalidInputError
from covidct.io import CTVolume
from covidct.io.layout import Layout
from covidct.viz.overlays import LESION_COLOURS, LUNG_COLOURS

__all__ = ["LAYERS", "WINDOWS", "StudyVolumes", "VolumeCache", "render_slice", "window_to_uint8"]

#: grey-level windows as (centre, width) in HU.
WINDOWS: dict[str, tuple[float, float]] = {"lung": (-600.0, 1500.0),
                                           "mediastinum": (40.0, 400.0)}
LAYERS: tuple[str, ...] = ("lungs", "lesions", "heatmap")
_HEAT_CMAP = "inferno"


@dataclass(frozen=True, eq=False)
class StudyVolumes:
    """A study's CT and its overlay arrays on the same ``(z, y, x)`` grid.

    ``layers``: ``lungs`` (uint8 0/1 right/2 left), ``lesions`` (uint8 0/1 GGO/2
    consolidation), ``heatmap`` (float, any range; shown scaled to its maximum). A coronal
    or sagittal reformat is laid as a DICOM axial series on construction (its slice indices
    are then those of the axial slices); an axial file is kept as it is.
    """

    ct: CTVolume
    layers: dict[str, np.ndarray]

    def __post_init__(self) -> None:
        for name, arr in self.layers.items():
            if name not in LAYERS:
                raise InvalidInputError(f"unknown overlay layer {name!r}; expected {LAYERS}")
            if arr.shape != self.ct.shape:
                raise GeometryMismatchError(
                    f"overlay {name} has shape {arr.shape}; the CT has {self.ct.shape} (z, y, x)")
        layout = Layout.of(self.ct.direction)
        if not layout.axial:
            object.__setattr__(self, "ct", layout.lay_volume(self.ct))
            object.__setattr__(self, "layers", {k: layout.lay(v) for k, v in self.layers.items()})


def window_to_uint8(hu: np.ndarray, window: str) -> np.ndarray:
    """Map HU to 0..255 with a named window: centre - width/2 -> 0, centre + width/2 -> 255."""
    if window not in WINDOWS:
        raise InvalidInputError(f"unknown window {window!r}; expected one of {sorted(WINDOWS)}")
    centre, width = WINDOWS[window]
    scaled = (np.asarray(hu, dtype=np.float32) - (centre - width / 2)) / width
    return np.round(np.clip(scaled, 0.0, 1.0) * 255).astype(np.uint8)


def _blend(rgb: np.ndarray, where: np.ndarray, colour: Sequence[float], alpha: float) -> None:
    """In place: rgb = (1 - alpha) rgb + alpha colour on the pixels ``where``."""
    if alpha > 0 and where.any():
        rgb[where] = (1 - alpha) * rgb[where] + alpha * 255 * np.asarray(colour, np.float32)


def _draw_labels(rgb: np.ndarray, labels: np.ndarray, colours: dict[int, tuple[str, str]],
                 fill: float, outline: float) -> None:
    for value, (colour, _) in colours.items():
        region = labels == value
        _blend(rgb, region, to_rgb(colour), fill)
        _blend(rgb, find_boundaries(region, mode="inner"), to_rgb(colour), outline)


def render_slice(volumes: StudyVolumes, k: int, *, window: str = "lung",
                 overlays: Sequence[str] = (), opacity: float = 0.4) -> bytes:
    """PNG bytes of axial slice ``k`` (RGB, one pixel per voxel) with the chosen overlays.

    Lungs are outlined (and lightly filled), lesions filled (GGO yellow, consolidation red),
    the heat map drawn with the ``inferno`` colour map, its alpha growing with the value;
    ``opacity`` (0..1) scales all overlays.

    Raises:
        InvalidInputError: ``k`` outside the volume, unknown window or overlay, opacity
            outside 0..1, or an overlay the study does not have.
    """
    nz = volumes.ct.shape[0]
    if not 0 <= k < nz:
        raise InvalidInputError(f"slice {k} is outside 0..{nz - 1}")
    if not 0.0 <= opacity <= 1.0:
        raise InvalidInputError(f"opacity must be in 0..1; got {opacity}")
    for name in overlays:
        if name not in volumes.layers:
            raise InvalidInputError(
                f"overlay {name!r} is not available; this study has {sorted(volumes.layers)}")
    grey = window_to_uint8(volumes.ct.array[k], window)
    rgb = np.repeat(grey[..., None], 3, axis=2).astype(np.float32)
    if "heatmap" in overlays:
        heat = np.asarray(volumes.layers["heatmap"][k], dtype=np.float32)
        top = float(np.max(volumes.layers["heatmap"]))
        level = np.clip(heat / top, 0, 1) if top > 0 else np.zeros_like(heat)
        colour = colormaps[_HEAT_CMAP](level)[..., :3] * 255
        alpha = (opacity * level)[..., None]
        rgb = (1 - alpha) * rgb + alpha * colour
    if "lesions" in overlays:
        _draw_labels(rgb, volumes.layers["lesions"][k], LESION_COLOURS, opacity, opacity)
    if "lungs" in overlays:
        _draw_labels(rgb, volumes.layers["lungs"][k], LUNG_COLOURS, opacity / 3, min(1, 2 * opacity))
    flips = Layout.of(volumes.ct.direction).display.flips
    rgb = np.flip(rgb, tuple(axis - 1 for axis in flips))  # (y, x) of the slice
    buf = io.BytesIO()
    Image.fromarray(np.round(rgb).astype(np.uint8), mode="RGB").save(buf, format="PNG")
    return buf.getvalue()


class VolumeCache:
    """The last ``size`` studies' :class:`StudyVolumes`, loaded once by ``loader(study_id)``."""

    def __init__(self, loader: Callable[[str], StudyVolumes], size: int) -> None:
        self._loader, self._size = loader, size
        self._items: OrderedDict[str, StudyVolumes] = OrderedDict()
        self._lock = threading.Lock()
        self._loading: dict[str, threading.Lock] = {}

    def get(self, study_id: str) -> StudyVolumes:
        """The study's volumes (loaded on first use; one load per study at a time)."""
        with self._lock:
            if study_id in self._items:
                self._items.move_to_end(study_id)
                return self._items[study_id]
            lock = self._loading.setdefault(study_id, threading.Lock())
        with lock:
            with self._lock:
                if study_id in self._items:
                    return self._items[study_id]
            volumes = self._loader(study_id)
            with self._lock:
                self._items[study_id] = volumes
                while len(self._items) > self._size:
                    self._items.popitem(last=False)
                self._loading.pop(study_id, None)
        return volumes

    def drop(self, study_id: str) -> None:
        """Forget a study (deleted or re-run)."""
        with self._lock:
            self._items.pop(study_id, None)
