"""The Lightning module of a slice classifier: cross-entropy, SGD with momentum (the tutorial)
or AdamW (training from scratch).

Logs ``train_loss``/``train_acc`` per step and ``val_loss``/``val_acc`` per epoch (TensorBoard
scalars through the trainer's logger); gradient accumulation is the trainer's
``accumulate_grad_batches`` (Lightning divides each batch's loss by the number of steps, so
8 batches of 8 give the gradient of one batch of 64).
"""

from __future__ import annotations

from typing import Any

import lightning as L
import torch
from torch import Tensor, nn

from covidct.errors import InvalidInputError
from covidct.slices.config import OPTIMIZERS

__all__ = ["SliceClassifier"]


class SliceClassifier(L.LightningModule):
    """Train one 2D network (``(N, 3, H, W)`` -> ``(N, n_classes)`` logits)."""

    def __init__(self, network: nn.Module, *, lr: float = 0.01, momentum: float = 0.9,
                 weight_decay: float = 0.0, optimizer: str = "sgd") -> None:
        super().__init__()
        if optimizer not in OPTIMIZERS:
            raise InvalidInputError(f"unknown optimizer {optimizer!r}; expected one of {list(OPTIMIZERS)}")
        self.network = network
        self.lr, self.momentum, self.weight_decay = lr, momentum, weight_decay
        self.optimizer = optimizer
        self.loss_fn = nn.CrossEntropyLoss()

    def forward(self, images: Tensor) -> Tensor:
        return self.network(images)

    def _step(self, batch: dict[str, Any], stage: str) -> Tensor:
        logits = self(batch["image"])
        labels = batch["label"]
        loss = self.loss_fn(logits.float(), labels)
        acc = (logits.argmax(dim=1) == labels).float().mean()
        n = labels.shape[0]
        on_step = stage == "train"
        self.log(f"{stage}_loss", loss, batch_size=n, on_step=on_step, on_epoch=True, prog_bar=True)
        self.log(f"{stage}_acc", acc, batch_size=n, on_step=on_step, on_epoch=True)
        return loss

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> Tensor:
        return self._step(batch, "train")

    def validation_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        self._step(batch, "val")

    def configure_optimizers(self) -> torch.optim.Optimizer:
        if self.optimizer == "adamw":
            return torch.optim.AdamW(self.parameters(), lr=self.lr, weight_decay=self.weight_decay)
        return torch.optim.SGD(self.parameters(), lr=self.lr, momentum=self.momentum,
                               weight_decay=self.weight_decay)
