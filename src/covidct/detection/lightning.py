"""Lightning modules: Mask R-CNN lesion segmentation and the COVID-CT-Mask-Net classifier.

Both optimise with Adam (the seed's lr 1e-5, weight decay 1e-3 unless configured) over the
parameters that require gradients. The segmentation module validates with COCO mask AP@0.5
on the validation patients (``val_ap50``, the checkpoint criterion); the classifier with the
validation loss (``val_loss``).
"""

from __future__ import annotations

import math
from typing import Any

import lightning as L
import numpy as np
import torch
from torch import Tensor, nn

from covidct.detection.classifier import ctmasknet_loss
from covidct.detection.coco import coco_metrics

__all__ = ["ClassifierModule", "SegmentationModule"]


def _optimizer(model: nn.Module, lr: float, weight_decay: float, kind: str = "adam") -> torch.optim.Optimizer:
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW if kind == "adamw" else torch.optim.Adam
    return optimizer(params, lr=lr, weight_decay=weight_decay)


def warmup_cosine(step: int, total: int, warmup: int) -> float:
    """Learning-rate factor at optimiser ``step`` (0-based) of ``total``: linear warm-up over
    ``warmup`` steps, then cosine decay from 1 to 0."""
    if step < warmup:
        return (step + 1) / warmup
    span = max(1, total - warmup)
    return 0.5 * (1.0 + math.cos(math.pi * min(1.0, (step - warmup) / span)))


def _numpy_target(t: dict[str, Any]) -> dict[str, np.ndarray]:
    return {k: t[k].cpu().numpy() for k in ("boxes", "labels", "masks")}


class SegmentationModule(L.LightningModule):
    """Trains a torchvision Mask R-CNN on (images, targets) batches of lists."""

    def __init__(self, model: nn.Module, *, n_classes: int, lr: float, weight_decay: float,
                 optimizer: str = "adam", schedule: str = "none", warmup_steps: int = 0) -> None:
        super().__init__()
        self.model = model
        self.n_classes = n_classes
        self.lr, self.weight_decay = lr, weight_decay
        self.optimizer, self.schedule, self.warmup_steps = optimizer, schedule, warmup_steps
        self._val: list[tuple[dict[str, np.ndarray], dict[str, np.ndarray]]] = []

    def training_step(self, batch: tuple[list[Tensor], list[dict[str, Any]]], batch_idx: int) -> Tensor:
        images, targets = batch
        targets = [{k: v for k, v in t.items() if k != "image_id"} for t in targets]
        losses = self.model(images, targets)
        loss = sum(losses.values())
        self.log("train_loss", loss, batch_size=len(images), prog_bar=False)
        for name, value in losses.items():
            self.log(f"train_{name}", value, batch_size=len(images))
        return loss

    def validation_step(self, batch: tuple[list[Tensor], list[dict[str, Any]]], batch_idx: int) -> None:
        images, targets = batch
        for det, t in zip(self.model(images), targets, strict=True):
            pred = {"boxes": det["boxes"].float().cpu().numpy(), "labels": det["labels"].cpu().numpy(),
                    "scores": det["scores"].float().cpu().numpy(),
                    "masks": (det["masks"][:, 0] >= 0.5).cpu().numpy().astype(np.uint8)}
            self._val.append((_numpy_target(t), pred))

    def on_validation_epoch_end(self) -> None:
        if not self._val:
            return
        gts, preds = zip(*self._val, strict=True)
        ap = coco_metrics(list(gts), list(preds), n_classes=self.n_classes - 1)["segm"]["ap50"]
        self.log("val_ap50", 0.0 if np.isnan(ap) else float(ap))
        self._val.clear()

    def configure_optimizers(self) -> Any:
        opt = _optimizer(self.model, self.lr, self.weight_decay, self.optimizer)
        if self.schedule == "none":
            return opt
        total = int(self.trainer.estimated_stepping_batches)
        sched = torch.optim.lr_scheduler.LambdaLR(
            opt, lambda step: warmup_cosine(step, total, self.warmup_steps))
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}


class ClassifierModule(L.LightningModule):
    """Trains :class:`~covidct.detection.classifier.CTMaskNet` (module S + BN affine)."""

    def __init__(self, model: nn.Module, *, lr: float, weight_decay: float) -> None:
        super().__init__()
        self.model = model
        self.lr, self.weight_decay = lr, weight_decay

    def _loss(self, batch: tuple[list[Tensor], Tensor], stage: str) -> Tensor:
        images, target = batch
        logits = self.model(images)
        loss = ctmasknet_loss(logits, target)
        acc = (logits.argmax(1) == target).float().mean()
        self.log(f"{stage}_loss", loss, batch_size=len(images))
        self.log(f"{stage}_acc", acc, batch_size=len(images))
        return loss

    def training_step(self, batch: tuple[list[Tensor], Tensor], batch_idx: int) -> Tensor:
        return self._loss(batch, "train")

    def validation_step(self, batch: tuple[list[Tensor], Tensor], batch_idx: int) -> None:
        self._loss(batch, "val")

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return _optimizer(self.model, self.lr, self.weight_decay)
