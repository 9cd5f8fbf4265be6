"""Running a Mask R-CNN lesion model on slices: detections as numpy arrays."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import torch
from torch import Tensor, nn

__all__ = ["predict_slices"]


@torch.inference_mode()
def predict_slices(
    model: nn.Module,
    images: Iterable[Tensor] | Sequence[Tensor],
    *,
    batch_size: int = 2,
    mask_threshold: float = 0.5,
    keep_probabilities: bool = False,
) -> list[dict[str, np.ndarray]]:
    """Detections per (3, H, W) image in 0..1: ``boxes`` (N, 4) xyxy px, ``labels``, ``scores``,
    ``masks`` (N, H, W) uint8 (probability >= ``mask_threshold``) and, when asked,
    ``mask_probs`` (N, H, W) float32 (the mask head's pasted score maps)."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    out: list[dict[str, np.ndarray]] = []
    batch: list[Tensor] = []

    def flush() -> None:
        for det in model([b.to(device) for b in batch]):
            probs = det["masks"][:, 0].float().cpu().numpy()
            item = {
                "boxes": det["boxes"].float().cpu().numpy(),
                "labels": det["labels"].cpu().numpy().astype(np.int64),
                "scores": det["scores"].float().cpu().numpy(),
                "masks": (probs >= mask_threshold).astype(np.uint8),
            }
            if keep_probabilities:
                item["mask_probs"] = probs.astype(np.float32)
            out.append(item)
        batch.clear()

    for image in images:
        batch.append(image)
        if len(batch) == batch_size:
            flush()
    if batch:
        flush()
    model.train(was_training)
    return out
