"""Whole CT studies with a Mask R-CNN lesion model: slice by slice, stacked on the CT's grid.

Each axial slice holding lung is prepared as the model was trained (the CNCB export of
:mod:`covidct.datasets.cncb`): resampled to isotropic pixels with the field of view fitting
``slice_size`` (512) pixels, padded, mapped to 8 bits with the lung window. Detections with a
score of at least ``score_threshold`` are pasted into a class map (a pixel takes the class of
the highest-scoring mask covering it), which is resampled back onto the slice grid (nearest
neighbour) and kept inside the lungs. Labels: 0 none, 1 GGO, 2 consolidation. "both" models
give both classes; "ggo" models give GGO only; "merge" models give lesion, split by density:
voxels at or above ``consolidation_hu`` (-300 HU, :class:`covidct.lesions.QuantOptions`)
become consolidation, the rest GGO.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from skimage.transform import resize
from torch import nn

from covidct.datasets._common import hu_to_uint8, lung_slice_indices, resample_slice_to_square
from covidct.detection.slices import image_tensor
from covidct.errors import GeometryMismatchError, InvalidInputError
from covidct.io.layout import Layout
from covidct.io.volume import CTVolume

__all__ = ["LesionModelOptions", "segment_lesions_model", "slice_back_to_grid"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True)
class LesionModelOptions:
    """Options of :func:`segment_lesions_model` (HU, pixels)."""

    score_threshold: float = 0.5
    mask_threshold: float = 0.5
    consolidation_hu: float = -300.0
    batch_size: int = 2


def slice_back_to_grid(square: np.ndarray, shape_yx: tuple[int, int],
                       spacing_yx_mm: tuple[float, float]) -> np.ndarray:
    """Undo :func:`resample_slice_to_square` for a label image (nearest neighbour)."""
    size = square.shape[0]
    ny, nx = shape_yx
    sy, sx = (float(s) for s in spacing_yx_mm)
    pixel_mm = max(ny * sy, nx * sx) / size
    hy, hx = max(1, round(ny * sy / pixel_mm)), max(1, round(nx * sx / pixel_mm))
    y0, x0 = (size - hy) // 2, (size - hx) // 2
    crop = square[y0:y0 + hy, x0:x0 + hx]
    if crop.shape == (ny, nx):
        return crop.copy()
    return resize(crop, (ny, nx), order=0, preserve_range=True, anti_aliasing=False).astype(square.dtype)


def _class_map(det: dict[str, np.ndarray], mask_type: str, opts: LesionModelOptions,
               shape: tuple[int, int]) -> np.ndarray:
    out = np.zeros(shape, dtype=np.uint8)
    best = np.full(shape, -1.0, dtype=np.float32)
    for box_label, score, prob in zip(det["labels"], det["scores"], det["mask_probs"], strict=True):
        if score < opts.score_threshold:
            continue
        hit = (prob >= opts.mask_threshold) & (score > best)
        out[hit] = int(box_label)
        best[hit] = score
    if mask_type == "merge":
        out[out > 0] = 1  # one class; density split later on the CT grid
    return out


def segment_lesions_model(
    volume: CTVolume,
    lungs: np.ndarray,
    model: nn.Module | str | Path,
    *,
    options: LesionModelOptions | None = None,
    mask_type: str | None = None,
) -> np.ndarray:
    """(z, y, x) uint8 lesion mask of ``volume`` from a Mask R-CNN (0, 1 GGO, 2 consolidation).

    Args:
        volume: CT in HU.
        lungs: (z, y, x) lung labels of the same shape (0 background).
        model: a Mask R-CNN, or a ``model.pt`` / run folder (:func:`load_model_file`).
        options: thresholds (:class:`LesionModelOptions`).
        mask_type: the model's mask type; read from the model file when a path is given.
    """
    from covidct.detection.checkpoint import load_model_file
    from covidct.detection.infer import predict_slices

    opts = options or LesionModelOptions()
    if isinstance(model, (str, Path)):
        model, meta = load_model_file(model)
        mask_type = meta["options"].mask_type
        size = int(meta["slice_size"])
    else:
        size = 512
    if hasattr(model, "s"):
        raise InvalidInputError("segment_lesions_model needs a segmentation model, not a classifier")
    if mask_type is None:
        raise InvalidInputError("give mask_type for a model object (it is stored in model files)")
    lungs = np.asarray(lungs)
    if lungs.shape != volume.array.shape:
        raise GeometryMismatchError(f"lung mask {lungs.shape} and CT {volume.array.shape} differ")
    # axial slices shown to the network front up, the patient's right on the left, as in
    # training (a NIfTI in RAS is flipped in-plane, a reformat transposed; the mask laid back)
    view = Layout.of(volume.direction).display
    hu, lungs_shown = view.lay(volume.array), view.lay(lungs)
    spacing_yx = view.lay_spacing(volume.spacing)[1:]
    zs = [z for z in lung_slice_indices(lungs_shown) if lungs_shown[z].any()]
    out = np.zeros(hu.shape, dtype=np.uint8)
    for start in range(0, len(zs), 32):
        chunk = zs[start:start + 32]
        images = [image_tensor(hu_to_uint8(resample_slice_to_square(
            hu[z], spacing_yx, size=size, order=1, fill=-2000.0))) for z in chunk]
        dets = predict_slices(model, images, batch_size=opts.batch_size,
                              mask_threshold=opts.mask_threshold, keep_probabilities=True)
        for z, det in zip(chunk, dets, strict=True):
            square = _class_map(det, mask_type, opts, (size, size))
            out[z] = slice_back_to_grid(square, hu.shape[1:], spacing_yx)
    out = view.unlay(out)
    out[lungs == 0] = 0
    if mask_type == "merge":
        out[(out > 0) & (volume.array >= opts.consolidation_hu)] = 2
    log.info("lesion model: %d lesion voxels on %d slices", int((out > 0).sum()), len(zs))
    return out
