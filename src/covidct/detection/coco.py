"""Detection / instance-segmentation accuracy: COCO AP with pycocotools, the seed's per-image mAP.

Inputs are per-image dicts of numpy arrays (pixel coordinates of the evaluated image):

* ground truth: ``boxes`` (N, 4) xyxy, ``labels`` (N,), ``masks`` (N, H, W) 0/1;
* predictions: the same plus ``scores`` (N,); ``masks`` already binary (Mask R-CNN's
  probabilities thresholded at 0.5 by :func:`covidct.detection.infer.predict_slices`).

:func:`coco_metrics` gives COCO AP@0.5, AP@0.75 and mAP@[0.5:0.95] (101-point interpolation,
all images pooled, up to 100 detections per image) for boxes and masks, computed by
``pycocotools.cocoeval.COCOeval``. :func:`per_image_map` is the seed's variant (matterport's
``compute_ap``): for each image holding lesions, detections above a score threshold matched
greedily by mask IoU to same-class ground truth, VOC all-point interpolated AP per image and
IoU threshold, then the mean over images. :func:`detection_metrics` adds 95 % bootstrap CIs
over patients to both.
"""

from __future__ import annotations

import contextlib
import copy
import io
from collections.abc import Sequence
from typing import Any

import numpy as np
from pycocotools import mask as mask_utils
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from covidct.errors import InvalidInputError

__all__ = ["IOU_THRESHOLDS", "coco_metrics", "detection_metrics", "per_image_ap", "per_image_map"]

#: The ten COCO IoU thresholds 0.50, 0.55, ..., 0.95.
IOU_THRESHOLDS = np.round(np.arange(0.5, 0.951, 0.05), 2)


def _rle(mask: np.ndarray) -> dict[str, Any]:
    rle = mask_utils.encode(np.asfortranarray(np.asarray(mask, dtype=np.uint8)))
    rle["counts"] = rle["counts"].decode("ascii")
    return rle


def _xywh(box: Sequence[float]) -> list[float]:
    x1, y1, x2, y2 = (float(v) for v in box)
    return [x1, y1, x2 - x1, y2 - y1]


def _check(items: Sequence[dict[str, np.ndarray]], keys: tuple[str, ...], what: str) -> None:
    for i, item in enumerate(items):
        missing = [k for k in keys if k not in item]
        if missing:
            raise InvalidInputError(f"{what} of image {i} lacks {missing}")


def _coco_pair(
    gts: Sequence[dict[str, np.ndarray]], preds: Sequence[dict[str, np.ndarray]], n_classes: int
) -> tuple[COCO, COCO]:
    images, anns, dets = [], [], []
    for i, (gt, pred) in enumerate(zip(gts, preds, strict=True)):
        h, w = np.shape(gt["masks"])[-2:]
        images.append({"id": i, "height": int(h), "width": int(w)})
        for box, label, mask in zip(gt["boxes"], gt["labels"], gt["masks"], strict=True):
            rle = _rle(mask)
            anns.append({"id": len(anns) + 1, "image_id": i, "category_id": int(label),
                         "bbox": _xywh(box), "area": float(mask_utils.area(rle)),
                         "segmentation": rle, "iscrowd": 0})
        for box, label, score, mask in zip(pred["boxes"], pred["labels"], pred["scores"],
                                           pred["masks"], strict=True):
            dets.append({"image_id": i, "category_id": int(label), "bbox": _xywh(box),
                         "score": float(score), "segmentation": _rle(mask)})
    gt_coco = COCO()
    gt_coco.dataset = {"images": images, "annotations": anns,
                       "categories": [{"id": k} for k in range(1, n_classes + 1)]}
    with contextlib.redirect_stdout(io.StringIO()):
        gt_coco.createIndex()
        dt_coco = gt_coco.loadRes(dets) if dets else COCO()
    if not dets:
        dt_coco.dataset = {"images": images, "annotations": [], "categories": gt_coco.dataset["categories"]}
        with contextlib.redirect_stdout(io.StringIO()):
            dt_coco.createIndex()
    return gt_coco, dt_coco


def _evaluated(gt_coco: COCO, dt_coco: COCO, iou_type: str) -> COCOeval:
    """A COCOeval whose per-image matching (``evaluate``) is done."""
    ev = COCOeval(gt_coco, dt_coco, iouType=iou_type)
    with contextlib.redirect_stdout(io.StringIO()):
        ev.evaluate()
    return ev


def _summary(ev: COCOeval, images: np.ndarray | None = None) -> dict[str, float]:
    """AP@0.5, AP@0.75, mAP of an evaluated COCOeval, over ``images`` (positions, repeats
    allowed: a bootstrap replicate) or all of its images.

    pycocotools' ``accumulate`` reads the per-image results ``evalImgs`` laid out as
    [category][area range][image]; a replicate is that list with its images resampled.
    """
    if images is not None:
        n_img = len(ev.params.imgIds)
        blocks = [ev.evalImgs[b * n_img:(b + 1) * n_img] for b in range(len(ev.evalImgs) // n_img)]
        ev = copy.copy(ev)
        ev.params, ev._paramsEval = copy.deepcopy(ev.params), copy.deepcopy(ev._paramsEval)
        ev.params.imgIds = ev._paramsEval.imgIds = list(range(len(images)))
        ev.evalImgs = [block[i] for block in blocks for i in images]
    with contextlib.redirect_stdout(io.StringIO()):
        ev.accumulate()
        ev.summarize()
    stats = [float("nan") if s < 0 else float(s) for s in ev.stats[:3]]
    return {"map": stats[0], "ap50": stats[1], "ap75": stats[2]}


def _coco_evals(
    gts: Sequence[dict[str, np.ndarray]], preds: Sequence[dict[str, np.ndarray]], n_classes: int
) -> dict[str, COCOeval]:
    if len(gts) != len(preds):
        raise InvalidInputError(f"{len(gts)} ground-truth images but {len(preds)} predictions")
    _check(gts, ("boxes", "labels", "masks"), "ground truth")
    _check(preds, ("boxes", "labels", "scores", "masks"), "prediction")
    gt_coco, dt_coco = _coco_pair(gts, preds, n_classes)
    return {t: _evaluated(gt_coco, dt_coco, t) for t in ("bbox", "segm")}


def coco_metrics(
    gts: Sequence[dict[str, np.ndarray]],
    preds: Sequence[dict[str, np.ndarray]],
    *,
    n_classes: int,
) -> dict[str, dict[str, float]]:
    """COCO ``{"bbox"|"segm": {"ap50", "ap75", "map"}}`` (0..1; NaN without ground truth)."""
    return {t: _summary(ev) for t, ev in _coco_evals(gts, preds, n_classes).items()}


def _voc_ap(matched: np.ndarray, n_gt: int) -> float:
    """All-point interpolated AP of detections in score order (``matched`` True = TP)."""
    tp = np.cumsum(matched)
    precision = tp / np.arange(1, len(matched) + 1)
    recall = tp / n_gt
    precision = np.concatenate([[0.0], precision, [0.0]])
    recall = np.concatenate([[0.0], recall, [1.0]])
    precision = np.maximum.accumulate(precision[::-1])[::-1]
    steps = np.flatnonzero(recall[1:] != recall[:-1]) + 1
    return float(np.sum((recall[steps] - recall[steps - 1]) * precision[steps]))


def per_image_ap(
    gt: dict[str, np.ndarray], pred: dict[str, np.ndarray], *,
    iou_thresholds: Sequence[float] = IOU_THRESHOLDS, score_threshold: float = 0.75,
) -> np.ndarray | None:
    """The seed's AP of one image at each IoU threshold (mask IoU); None without ground truth."""
    n_gt = len(gt["labels"])
    if n_gt == 0:
        return None
    keep = np.asarray(pred["scores"]) >= score_threshold
    order = np.argsort(-np.asarray(pred["scores"])[keep], kind="stable")
    p_masks = [_rle(m) for m in np.asarray(pred["masks"])[keep][order]]
    p_labels = np.asarray(pred["labels"])[keep][order]
    if not p_masks:
        return np.zeros(len(iou_thresholds))
    g_masks = [_rle(m) for m in gt["masks"]]
    ious = np.asarray(mask_utils.iou(p_masks, g_masks, [0] * n_gt)).reshape(len(p_masks), n_gt)
    ious[p_labels[:, None] != np.asarray(gt["labels"])[None, :]] = 0.0
    aps = []
    for thr in iou_thresholds:
        used = np.zeros(n_gt, dtype=bool)
        matched = np.zeros(len(p_masks), dtype=bool)
        for d in range(len(p_masks)):
            cand = np.where(~used & (ious[d] >= thr), ious[d], -1.0)
            g = int(np.argmax(cand))
            if cand[g] >= 0:
                used[g] = matched[d] = True
        aps.append(_voc_ap(matched, n_gt))
    return np.asarray(aps)


def _per_image_rows(
    gts: Sequence[dict[str, np.ndarray]], preds: Sequence[dict[str, np.ndarray]], score_threshold: float
) -> list[np.ndarray | None]:
    return [per_image_ap(g, p, score_threshold=score_threshold) for g, p in zip(gts, preds, strict=True)]


def _per_image_summary(rows: Sequence[np.ndarray | None]) -> dict[str, float]:
    kept = [r for r in rows if r is not None]
    if not kept:
        return {"ap50": float("nan"), "ap75": float("nan"), "map": float("nan")}
    table = np.vstack(kept)
    return {"ap50": float(table[:, 0].mean()), "ap75": float(table[:, 5].mean()),
            "map": float(table.mean())}


def per_image_map(
    gts: Sequence[dict[str, np.ndarray]], preds: Sequence[dict[str, np.ndarray]], *,
    score_threshold: float = 0.75,
) -> dict[str, float]:
    """The seed's per-image ``{"ap50", "ap75", "map"}``: means over images holding lesions."""
    return _per_image_summary(_per_image_rows(gts, preds, score_threshold))


def _ci(values: list[dict[str, Any]], key: tuple[str, ...], ci: float) -> tuple[float, float]:
    arr = []
    for v in values:
        x = v
        for k in key:
            x = x[k]
        arr.append(x)
    arr = np.asarray(arr, dtype=float)
    arr = arr[np.isfinite(arr)]
    if arr.size == 0:
        return float("nan"), float("nan")
    a = (1 - ci) / 2
    lo, hi = np.quantile(arr, [a, 1 - a])
    return float(lo), float(hi)


def detection_metrics(
    gts: Sequence[dict[str, np.ndarray]],
    preds: Sequence[dict[str, np.ndarray]],
    *,
    n_classes: int,
    patients: Sequence[Any],
    bootstrap: int = 200,
    seed: int = 0,
    ci: float = 0.95,
    score_threshold: float = 0.75,
) -> dict[str, Any]:
    """COCO and per-image metrics with percentile bootstrap CIs over patients.

    Returns ``{"coco": {"bbox"|"segm": {metric: {"value", "ci_low", "ci_high"}}},
    "per_image": {metric: {...}}, "n_images", "n_patients", "bootstrap", "ci", "seed"}``.
    """
    patients = np.asarray(patients)
    if patients.shape != (len(gts),):
        raise InvalidInputError(f"patients must give one id per image ({len(gts)}); got {patients.shape}")
    evals = _coco_evals(gts, preds, n_classes)  # masks encoded and matched once
    rows = _per_image_rows(gts, preds, score_threshold)
    point = {"coco": {t: _summary(ev) for t, ev in evals.items()}, "per_image": _per_image_summary(rows)}
    reps: list[dict[str, Any]] = []
    ids = np.unique(patients)
    by_patient = {p: np.flatnonzero(patients == p) for p in ids}
    rng = np.random.default_rng(seed)
    for _ in range(int(bootstrap)):
        idx = np.concatenate([by_patient[p] for p in rng.choice(ids, size=len(ids))])
        reps.append({"coco": {t: _summary(ev, idx) for t, ev in evals.items()},
                     "per_image": _per_image_summary([rows[i] for i in idx])})

    def block(path: tuple[str, ...], values: dict[str, float]) -> dict[str, dict[str, float]]:
        out = {}
        for name, value in values.items():
            lo, hi = _ci(reps, (*path, name), ci) if reps else (float("nan"), float("nan"))
            out[name] = {"value": value, "ci_low": lo, "ci_high": hi}
        return out

    return {
        "coco": {t: block(("coco", t), v) for t, v in point["coco"].items()},
        "per_image": block(("per_image",), point["per_image"]),
        "n_images": len(gts), "n_patients": len(ids), "bootstrap": int(bootstrap),
        "ci": ci, "seed": int(seed), "score_threshold_per_image": score_threshold,
    }
