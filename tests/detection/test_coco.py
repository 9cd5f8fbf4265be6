"""COCO AP on hand-made cases with known answers; agreement with torchmetrics' COCO backend."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from covidct.detection.coco import coco_metrics, detection_metrics, per_image_ap, per_image_map


def _square(x: int, y: int, size: int = 20, shape: tuple[int, int] = (64, 64)) -> np.ndarray:
    m = np.zeros(shape, np.uint8)
    m[y:y + size, x:x + size] = 1
    return m


def _item(masks, labels, scores=None):
    masks = np.asarray(masks, np.uint8).reshape(-1, 64, 64)
    boxes = []
    for m in masks:
        ys, xs = np.nonzero(m)
        boxes.append([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1])
    item = {"boxes": np.asarray(boxes, np.float32).reshape(-1, 4), "labels": np.asarray(labels),
            "masks": masks}
    if scores is not None:
        item["scores"] = np.asarray(scores, np.float32)
    return item


GT = _item([_square(10, 10)], [1])


def test_perfect_prediction_is_one():
    res = coco_metrics([GT], [_item([_square(10, 10)], [1], [0.9])], n_classes=1)
    for kind in ("segm", "bbox"):
        assert res[kind] == pytest.approx({"map": 1.0, "ap50": 1.0, "ap75": 1.0})


def test_higher_scored_false_positive_halves_ap():
    pred = _item([_square(40, 40), _square(10, 10)], [1, 1], [0.95, 0.9])
    res = coco_metrics([GT], [pred], n_classes=1)
    assert res["segm"]["ap50"] == pytest.approx(0.5) and res["segm"]["map"] == pytest.approx(0.5)


def test_shifted_mask_counts_at_four_of_ten_thresholds():
    # shift by 4 px: IoU = 16 / 24 = 0.667 -> matched at 0.50, 0.55, 0.60, 0.65
    res = coco_metrics([GT], [_item([_square(14, 10)], [1], [0.9])], n_classes=1)
    for kind in ("segm", "bbox"):
        assert res[kind]["ap50"] == pytest.approx(1.0)
        assert res[kind]["ap75"] == pytest.approx(0.0)
        assert res[kind]["map"] == pytest.approx(0.4)


def test_wrong_class_is_a_miss_and_no_gt_is_nan():
    res = coco_metrics([_item([_square(10, 10)], [2])], [_item([_square(10, 10)], [1], [0.9])],
                       n_classes=2)
    assert res["segm"]["ap50"] == pytest.approx(0.0)
    empty = _item([], [])
    assert np.isnan(coco_metrics([empty], [_item([_square(10, 10)], [1], [0.9])],
                                 n_classes=1)["segm"]["map"])


def test_per_image_variant_known_answer():
    gt = _item([_square(5, 5), _square(40, 40)], [1, 1])
    pred = _item([_square(5, 5), _square(5, 40), _square(40, 40)], [1, 1, 1], [0.9, 0.8, 0.76])
    # TP, FP, TP -> VOC all-point AP = 0.5 * 1 + 0.5 * 2/3
    ap = per_image_ap(gt, pred)
    assert ap[0] == pytest.approx(0.5 + 1 / 3)
    # COCO's 101-point interpolation gives (51 * 1 + 50 * 2/3) / 101 on the same case
    coco = coco_metrics([gt], [pred], n_classes=1)["segm"]["ap50"]
    assert coco == pytest.approx((51 + 50 * 2 / 3) / 101)
    # the score threshold (the seed's 0.75) drops detections below it
    assert per_image_ap(gt, pred, score_threshold=0.85)[0] == pytest.approx(0.5)
    assert per_image_ap(_item([], []), pred) is None
    assert per_image_map([gt, _item([], [])], [pred, pred])["ap50"] == pytest.approx(0.5 + 1 / 3)


def test_equals_torchmetrics_pycocotools_backend():
    tm = pytest.importorskip("torchmetrics.detection")
    rng = np.random.default_rng(3)
    gts, preds = [], []
    for _ in range(6):
        g = [_square(int(x), int(y), int(s)) for x, y, s in rng.integers([0, 0, 8], [40, 40, 22], (3, 3))]
        p = [_square(int(x), int(y), int(s)) for x, y, s in rng.integers([0, 0, 8], [40, 40, 22], (4, 3))]
        p[0] = g[0]
        gts.append(_item(g, rng.integers(1, 3, 3)))
        preds.append(_item(p, rng.integers(1, 3, 4), rng.random(4)))
    ours = coco_metrics(gts, preds, n_classes=2)
    metric = tm.MeanAveragePrecision(iou_type="segm", backend="pycocotools")
    metric.update(
        [{"masks": torch.from_numpy(p["masks"]).bool(), "scores": torch.from_numpy(p["scores"]),
          "labels": torch.from_numpy(p["labels"])} for p in preds],
        [{"masks": torch.from_numpy(g["masks"]).bool(), "labels": torch.from_numpy(g["labels"])}
         for g in gts],
    )
    ref = metric.compute()
    assert ours["segm"]["map"] == pytest.approx(float(ref["map"]), abs=1e-6)
    assert ours["segm"]["ap50"] == pytest.approx(float(ref["map_50"]), abs=1e-6)
    assert ours["segm"]["ap75"] == pytest.approx(float(ref["map_75"]), abs=1e-6)


def test_bootstrap_over_patients_brackets_the_value():
    gts = [GT, GT, GT, GT]
    preds = [_item([_square(10, 10)], [1], [0.9]), _item([_square(14, 10)], [1], [0.9]),
             _item([_square(40, 40)], [1], [0.9]), _item([_square(10, 10)], [1], [0.9])]
    res = detection_metrics(gts, preds, n_classes=1, patients=["a", "a", "b", "c"], bootstrap=50)
    segm = res["coco"]["segm"]["ap50"]
    assert segm["ci_low"] <= segm["value"] <= segm["ci_high"]
    assert res["n_patients"] == 3 and res["n_images"] == 4


def test_bootstrap_replicate_equals_metrics_of_the_resampled_list():
    """A replicate resamples pycocotools' per-image matches: the same numbers as evaluating the
    resampled images from scratch (repeats included), for two classes and an empty image."""
    from covidct.detection.coco import _coco_evals, _summary

    gts = [_item([_square(10, 10), _square(40, 40)], [1, 2]), GT, _item([], []),
           _item([_square(30, 5)], [2])]
    preds = [_item([_square(12, 10), _square(40, 42)], [1, 2], [0.9, 0.6]),
             _item([_square(40, 40)], [1], [0.8]),
             _item([_square(5, 30)], [2], [0.95]),
             _item([_square(30, 8), _square(0, 0)], [2, 2], [0.4, 0.7])]
    evals = _coco_evals(gts, preds, 2)
    for idx in ([0, 0, 3], [1, 2, 2, 3], [3, 3, 3, 0, 1]):
        direct = coco_metrics([gts[i] for i in idx], [preds[i] for i in idx], n_classes=2)
        for kind, ev in evals.items():
            assert _summary(ev, np.asarray(idx)) == pytest.approx(direct[kind], nan_ok=True)
