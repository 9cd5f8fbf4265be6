"""Pictures of Mask R-CNN predictions, as in the seed's figure (PNG, matplotlib Figure + Agg).

One row per slice: (1) the slice with the predicted masks, boxes and scores; (2) the mask
score maps (pasted probabilities) of the top-ranked RoIs, each in its own colour; (3) the
ground truth when known (lung field green, lesions yellow / orange); (4) for a classifier,
its class scores (sigmoid of module S's logits), with the true class when known.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from covidct.evaluation.plots import _figure, _save

__all__ = ["save_prediction_figure"]

_COLOURS = np.array([[1.0, 0.2, 0.2], [0.2, 0.6, 1.0], [1.0, 0.8, 0.1], [0.7, 0.3, 1.0],
                     [0.1, 0.9, 0.6], [1.0, 0.5, 0.0]])


def _overlay(grey: np.ndarray, masks: np.ndarray, alpha: float = 0.45) -> np.ndarray:
    rgb = np.repeat(grey[..., None].astype(np.float32) / 255.0, 3, axis=2)
    for i, m in enumerate(masks):
        colour = _COLOURS[i % len(_COLOURS)]
        rgb[m > 0] = (1 - alpha) * rgb[m > 0] + alpha * colour
    return rgb


def save_prediction_figure(
    path: str | Path,
    grey: np.ndarray,
    detection: dict[str, np.ndarray],
    *,
    class_names: Sequence[str],
    score_threshold: float = 0.5,
    top_k: int = 4,
    truth: np.ndarray | None = None,
    class_scores: np.ndarray | None = None,
    classifier_names: Sequence[str] = (),
    true_class: int | None = None,
    title: str = "",
) -> Path:
    """Write the figure of one slice.

    Args:
        grey: (H, W) uint8 slice (lung window).
        detection: ``boxes``, ``labels``, ``scores``, ``masks`` and ``mask_probs`` (H, W)
            per detection, ranked by score (:func:`covidct.detection.infer.predict_slices`).
        class_names: lesion class names (label 1, 2, ...).
        score_threshold: detections drawn in panel 1 score at least this.
        top_k: score maps of this many top-ranked RoIs in panel 2.
        truth: CNCB mask (0 background, 1 lung, 2 GGO, 3 consolidation) or None.
        class_scores: classifier scores (3,) or None; ``classifier_names`` their names.
    """
    keep = detection["scores"] >= score_threshold
    panels = 2 + (truth is not None) + (class_scores is not None)
    fig = _figure(3.2 * panels, 3.6)
    axes = fig.subplots(1, panels)
    ax = axes[0]
    ax.imshow(_overlay(grey, detection["masks"][keep]))
    for i, (box, label, score) in enumerate(zip(detection["boxes"][keep], detection["labels"][keep],
                                                detection["scores"][keep], strict=True)):
        x1, y1, x2, y2 = box
        colour = _COLOURS[i % len(_COLOURS)]
        ax.add_patch(_rect(x1, y1, x2 - x1, y2 - y1, colour))
        ax.text(x1, y1 - 2, f"{class_names[int(label) - 1]} {score:.2f}", color=colour, fontsize=7)
    ax.set_title(f"prediction (score >= {score_threshold:g})", fontsize=9)
    ax = axes[1]
    probs = detection.get("mask_probs", np.zeros((0, *grey.shape), np.float32))[:top_k]
    canvas = np.repeat(grey[..., None].astype(np.float32) / 255.0 * 0.35, 3, axis=2)
    for i, p in enumerate(probs):
        canvas = np.maximum(canvas, p[..., None] * _COLOURS[i % len(_COLOURS)])
    ax.imshow(np.clip(canvas, 0, 1))
    ax.set_title(f"mask score maps, top {len(probs)} RoIs", fontsize=9)
    col = 2
    if truth is not None:
        rgb = np.repeat(grey[..., None].astype(np.float32) / 255.0, 3, axis=2)
        for value, colour in ((1, (0.1, 0.8, 0.2)), (2, (1.0, 0.9, 0.1)), (3, (1.0, 0.5, 0.0))):
            alpha = 0.25 if value == 1 else 0.55
            rgb[truth == value] = (1 - alpha) * rgb[truth == value] + alpha * np.array(colour)
        axes[col].imshow(rgb)
        axes[col].set_title("ground truth (lung green, GGO yellow, C orange)", fontsize=8)
        col += 1
    if class_scores is not None:
        ax = axes[col]
        names = list(classifier_names) or [str(i) for i in range(len(class_scores))]
        colours = ["tab:green" if i == true_class else "tab:red" for i in range(len(names))]
        ax.bar(names, class_scores, color=colours)
        ax.set_ylim(0, 1)
        ax.set_title("class scores" + (" (green = true class)" if true_class is not None else ""),
                     fontsize=9)
    for a in axes[:col]:
        a.set_axis_off()
    if title:
        fig.suptitle(title, fontsize=10)
    return _save(fig, path)


def _rect(x: float, y: float, w: float, h: float, colour: np.ndarray):
    from matplotlib.patches import Rectangle

    return Rectangle((x, y), w, h, fill=False, edgecolor=colour, linewidth=1.2)
