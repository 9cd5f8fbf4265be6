"""The LightningModule shared by every setting: single-task nets and COVID-MTL alike.

Single-task networks return one logits tensor; they are wrapped so that every model gives a
dict task -> logits and one multi-task loss (with one task, all weightings reduce to plain
cross-entropy) drives training. Optimiser and schedule follow the paper: SGD with Nesterov
momentum and a cosine learning-rate schedule.
"""

from __future__ import annotations

from typing import Any

import lightning as L
import numpy as np
import torch
from torch import Tensor, nn

from covidct.models import (
    EqualWeightLoss,
    RandomWeightedLoss,
    UncertaintyWeightedLoss,
    build_model,
)
from covidct.training.config import TASK_CLASSES, TrainConfig

__all__ = ["CovidCTModule", "VAL_MONITOR", "build_loss"]

#: the validation metric of early stopping and best-checkpoint selection: the plain mean of
#: the per-task cross-entropies (the weighted total jumps with random or learned weights).
VAL_MONITOR = "val_loss_unweighted"


def build_loss(config: TrainConfig) -> nn.Module:
    """The multi-task loss named by the config."""
    tasks = list(config.tasks)
    if config.loss == "random":
        return RandomWeightedLoss(tasks, **config.loss_options)
    if config.loss == "uncertainty":
        return UncertaintyWeightedLoss(tasks, **config.loss_options)
    return EqualWeightLoss(tasks, **config.loss_options)


class CovidCTModule(L.LightningModule):
    """Train/evaluate one model on one fold; collects test probabilities for evaluation."""

    def __init__(self, config: TrainConfig, n_features: int = 0) -> None:
        super().__init__()
        self.save_hyperparameters({"config": config.to_dict(), "n_features": n_features})
        self.config = config
        tasks = {t: TASK_CLASSES[t] for t in config.tasks}
        options = dict(config.model_options)
        if config.multitask:
            use_afnn = bool(config.use_features and n_features > 0)
            options.update(tasks=tasks, use_afnn=use_afnn, n_features=max(n_features, 1))
        else:
            options.update(num_classes=tasks[config.tasks[0]])
        self.model = build_model(config.model, **options)
        self.loss_fn = build_loss(config)
        self.use_features = config.multitask and config.use_features and n_features > 0
        self.test_outputs: list[dict[str, Any]] = []
        self.val_history: list[float] = []
        self.train_seen: list[int] = []
        self.train_shards: list[list[int]] = []

    def forward(self, volume: Tensor, features: Tensor | None = None) -> dict[str, Tensor]:
        if self.config.multitask:
            return self.model(volume, features if self.use_features else None)
        return {self.config.tasks[0]: self.model(volume)}

    def _step(self, batch: dict[str, Any], stage: str) -> Tensor:
        logits = self(batch["volume"], batch.get("features"))
        targets = {t: batch["targets"][:, k] for k, t in enumerate(self.config.tasks)}
        total, per_task, weights = self.loss_fn(logits, targets)
        n = batch["volume"].shape[0]
        self.log(f"{stage}_loss", total, prog_bar=True, batch_size=n, sync_dist=stage != "train")
        if stage == "val":
            unweighted = torch.stack([per_task[t] for t in self.config.tasks]).mean()
            self.log(VAL_MONITOR, unweighted, batch_size=n, sync_dist=True)
        for t, value in per_task.items():
            self.log(f"{stage}_loss_{t}", value, batch_size=n, sync_dist=stage != "train")
            if stage == "train":
                self.log(f"weight_{t}", float(weights[t]), batch_size=n)
            mask = targets[t] >= 0
            if mask.any():
                acc = (logits[t].argmax(1)[mask] == targets[t][mask]).float().mean()
                self.log(f"{stage}_acc_{t}", acc, batch_size=int(mask.sum()),
                         sync_dist=stage != "train")
        return total

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> Tensor:
        if self.current_epoch == 0:  # which training cases this process sees (its shard)
            self.train_seen.extend(int(i) for i in batch["index"])
        return self._step(batch, "train")

    def on_train_epoch_end(self) -> None:
        if self.current_epoch == 0:
            self.train_shards = self._gather_lists(self.train_seen)

    def _gather_lists(self, values: list[int]) -> list[list[int]]:
        """One sorted list per process (rank order) of the values each one collected."""
        if self.trainer.world_size == 1:
            return [sorted(values)]
        lengths = self.all_gather(torch.tensor([len(values)], device=self.device)).view(-1)
        width = max(int(lengths.max()), 1)
        padded = torch.full((width,), -1, dtype=torch.long, device=self.device)
        padded[: len(values)] = torch.tensor(values, dtype=torch.long, device=self.device)
        rows = self.all_gather(padded).view(-1, width).cpu()
        return [sorted(int(v) for v in row if v >= 0) for row in rows]

    def validation_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        self._step(batch, "val")

    def on_validation_epoch_end(self) -> None:
        if not self.trainer.sanity_checking and VAL_MONITOR in self.trainer.callback_metrics:
            self.val_history.append(float(self.trainer.callback_metrics[VAL_MONITOR]))

    def test_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        logits = self(batch["volume"], batch.get("features"))
        probs = {t: torch.softmax(v.float(), dim=1).cpu() for t, v in logits.items()}
        self.test_outputs.append({"index": batch["index"].cpu(), "probs": probs})

    def on_test_epoch_start(self) -> None:
        self.test_outputs = []

    def on_test_epoch_end(self) -> None:
        """Under DDP: gather every process's predictions and drop the duplicates that the
        distributed sampler pads the shards with, so each test case counts once."""
        if self.trainer.world_size == 1 or not self.test_outputs:
            return
        index = torch.cat([o["index"] for o in self.test_outputs]).to(self.device)
        all_index = self.all_gather(index).reshape(-1).cpu()
        probs = {}
        for task in self.config.tasks:
            local = torch.cat([o["probs"][task] for o in self.test_outputs]).to(self.device)
            probs[task] = self.all_gather(local).reshape(-1, local.shape[-1]).cpu()
        _, first = np.unique(all_index.numpy(), return_index=True)
        keep = torch.from_numpy(first)
        self.test_outputs = [{"index": all_index[keep],
                              "probs": {t: p[keep] for t, p in probs.items()}}]

    def configure_optimizers(self) -> Any:
        cfg = self.config
        params = list(self.model.parameters()) + list(self.loss_fn.parameters())
        opt = torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum,
                              weight_decay=cfg.weight_decay, nesterov=cfg.nesterov)
        if cfg.schedule == "none":
            return opt
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(1, cfg.epochs))
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "epoch"}}
