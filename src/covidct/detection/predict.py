"""``predict-lesions``: pictures and masks of a Mask R-CNN model (or classifier) on slices or a CT.

Inputs: one PNG/JPG slice (its CNCB mask ``../masks/<name>`` is the ground truth when
present; a COVIDx-CT name gives the true class), a CNCB folder (``imgs/`` + ``masks/``), or
a CT study (any format :func:`covidct.io.read_ct` reads): then the lungs are segmented,
:func:`~covidct.detection.volume.segment_lesions_model` writes ``lesions.nii.gz`` on the CT's
grid, and the pictures show the slices with the most predicted lesion.

For each slice ``<name>.png`` is the figure (:func:`~covidct.detection.figures.save_prediction_figure`)
and ``<name>_mask.png`` the predicted class map (0, 1.. lesion class labels of the model, at
the slice's pixels); ``predictions.json`` lists detections per slice with provenance.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from covidct.datasets._common import hu_to_uint8, read_png, resample_slice_to_square, write_png
from covidct.errors import InvalidInputError

__all__ = ["PredictOptions", "predict_lesions"]

_IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg"}
_COVIDX_PREFIX = re.compile(r"^(Normal|CP|NCP)_")


@dataclass(frozen=True, kw_only=True)
class PredictOptions:
    """Score threshold of the drawn detections and of the masks; slices pictured at most."""

    score_threshold: float = 0.5
    max_slices: int = 8
    top_k: int = 4


def _slices_of(input_path: Path, max_slices: int) -> list[tuple[str, np.ndarray, np.ndarray | None]]:
    if input_path.is_file() and input_path.suffix.lower() in _IMAGE_SUFFIXES:
        files = [input_path]
    elif (input_path / "imgs").is_dir():
        files = sorted(p for p in (input_path / "imgs").iterdir() if p.suffix.lower() in _IMAGE_SUFFIXES)
        files = files[:max_slices]
    else:
        return []
    out = []
    for f in files:
        mask_path = f.parent.parent / "masks" / f.name
        truth = read_png(mask_path) if mask_path.is_file() else None
        out.append((f.stem, read_png(f), truth))
    return out


def _true_class(name: str) -> int | None:
    match = _COVIDX_PREFIX.match(name)
    return ("Normal", "CP", "NCP").index(match.group(1)) if match else None


def _ct_slices(input_path: str, model_path: str, out: Path, max_slices: int) -> list[tuple[str, np.ndarray, None]]:
    from covidct.detection.volume import segment_lesions_model
    from covidct.io import read_ct, write_image
    from covidct.lungs import segment_lungs

    volume = read_ct(input_path)
    lungs = segment_lungs(volume)
    lesions = segment_lesions_model(volume, lungs, model_path)
    out.mkdir(parents=True, exist_ok=True)
    write_image(lesions, volume, out / "lesions.nii.gz")
    area = (lesions > 0).reshape(lesions.shape[0], -1).sum(axis=1)
    zs = [int(z) for z in np.argsort(-area, kind="stable")[:max_slices] if area[z] > 0]
    if not zs:
        zs = [int(np.argmax((lungs > 0).reshape(lungs.shape[0], -1).sum(axis=1)))]
    spacing = (volume.spacing[1], volume.spacing[2])
    return [(f"slice_{z:04d}", hu_to_uint8(resample_slice_to_square(
        volume.array[z], spacing, size=512, order=1, fill=-2000.0)), None) for z in sorted(zs)]


def predict_lesions(model_path: str | Path, input_path: str | Path, out: str | Path, *,
                    options: PredictOptions | None = None) -> list[Path]:
    """Write figures and predicted masks of ``model_path`` on ``input_path`` into ``out``."""
    import torch

    from covidct.detection.checkpoint import load_model_file
    from covidct.detection.classifier import CLASSIFIER_CLASSES
    from covidct.detection.figures import save_prediction_figure
    from covidct.detection.infer import predict_slices
    from covidct.detection.slices import image_tensor
    from covidct.detection.volume import LesionModelOptions, _class_map
    from covidct.provenance import provenance

    opts = options or PredictOptions()
    out = Path(out)
    if out.resolve() == Path(input_path).resolve():
        raise InvalidInputError(f"output folder {out} is the input; choose another")
    model, meta = load_model_file(model_path)
    classifier = model if hasattr(model, "s") else None
    detector = classifier.detector if classifier is not None else model
    mask_type = meta["options"].mask_type
    names = meta["class_names"]
    slices = _slices_of(Path(input_path), opts.max_slices)
    if not slices:
        if classifier is not None:
            raise InvalidInputError("a CT study needs a lesion model, not a classifier")
        slices = _ct_slices(str(input_path), str(model_path), out, opts.max_slices)
    out.mkdir(parents=True, exist_ok=True)  # only once the model and the input have been read
    written, records = [], []
    if classifier is not None:  # draw the detector's own ranked RoIs, thresholded in the figure
        detector.roi_heads.detections_per_img = 100
    for name, grey, truth in slices:
        det = predict_slices(detector, [image_tensor(grey)], keep_probabilities=True)[0]
        scores = None
        if classifier is not None:
            detector.roi_heads.detections_per_img = classifier.options.roi_batch_size
            with torch.inference_mode():
                scores = torch.sigmoid(classifier([image_tensor(grey)]))[0].numpy()
            detector.roi_heads.detections_per_img = 100
        label_map = _class_map(det, "both" if mask_type != "merge" else "merge",
                               LesionModelOptions(score_threshold=opts.score_threshold), grey.shape)
        write_png(label_map, out / f"{name}_mask.png")
        written.append(save_prediction_figure(
            out / f"{name}.png", grey, det, class_names=names, score_threshold=opts.score_threshold,
            top_k=opts.top_k, truth=truth, class_scores=scores, classifier_names=CLASSIFIER_CLASSES,
            true_class=_true_class(name), title=name))
        keep = det["scores"] >= opts.score_threshold
        rec: dict[str, Any] = {"slice": name, "boxes": det["boxes"][keep].round(1).tolist(),
                               "labels": det["labels"][keep].tolist(),
                               "scores": det["scores"][keep].round(4).tolist()}
        if scores is not None:
            rec["class_scores"] = dict(zip(CLASSIFIER_CLASSES, scores.round(4).tolist(), strict=True))
        records.append(rec)
    summary = {"model": meta["path"], "slices": records,
               "provenance": provenance(options={"predict": opts}, inputs=[model_path])}
    tmp = out / "predictions.json.tmp"
    tmp.write_text(json.dumps(summary, indent=2))
    tmp.replace(out / "predictions.json")
    return written
