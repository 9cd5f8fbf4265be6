"""The tutorial's training policy as a Lightning callback.

After each validation, exponential moving averages (``factor`` 0.2: ``m = 0.2 x + 0.8 m``,
the first epoch's value as it is) of the validation loss and accuracy are compared with the
best averages so far. A metric's patience is *exhausted* when it has not improved for more
than ``patience`` epochs in a row (the tutorial's ``> patience``). Then:

* both exhausted: stop training;
* only the loss exhausted: multiply the learning rate by ``lr_factor`` (0.1) and reset both
  counters;
* otherwise (including only the accuracy exhausted): continue.

:class:`PlateauPolicy` is the state machine (testable on a scripted sequence);
:class:`TutorialPolicy` applies it inside a Lightning ``Trainer``.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from typing import Any, Literal

import lightning as L
from lightning.pytorch.callbacks import Callback

from covidct.errors import InvalidInputError

__all__ = ["PlateauPolicy", "PolicyOptions", "TutorialPolicy"]

log = logging.getLogger(__name__)
Action = Literal["continue", "reduce_lr", "stop"]


@dataclass(frozen=True, kw_only=True)
class PolicyOptions:
    """Settings of the tutorial's policy (its values by default)."""

    factor: float = 0.2
    patience: int = 5
    lr_factor: float = 0.1

    def __post_init__(self) -> None:
        if not 0 < self.factor <= 1 or self.patience < 0 or not 0 < self.lr_factor < 1:
            raise InvalidInputError(f"bad policy options {self}: need 0 < factor <= 1, "
                                    "patience >= 0, 0 < lr_factor < 1")


@dataclass
class PlateauPolicy:
    """Moving averages of validation loss and accuracy, and the action they call for."""

    options: PolicyOptions = field(default_factory=PolicyOptions)
    avg_loss: float = math.nan
    avg_acc: float = math.nan
    best_loss: float = math.inf
    best_acc: float = -math.inf
    loss_stalled: int = 0
    acc_stalled: int = 0

    def update(self, loss: float, accuracy: float) -> Action:
        """Add one epoch's validation loss and accuracy; return what to do."""
        f = self.options.factor
        first = math.isnan(self.avg_loss)
        self.avg_loss = loss if first else f * loss + (1 - f) * self.avg_loss
        self.avg_acc = accuracy if first else f * accuracy + (1 - f) * self.avg_acc
        if self.avg_acc < self.best_acc:
            self.acc_stalled += 1
        else:
            self.best_acc, self.acc_stalled = self.avg_acc, 0
        if self.avg_loss > self.best_loss:
            self.loss_stalled += 1
        else:
            self.best_loss, self.loss_stalled = self.avg_loss, 0
        loss_out = self.loss_stalled > self.options.patience
        acc_out = self.acc_stalled > self.options.patience
        if loss_out and acc_out:
            return "stop"
        if loss_out:
            self.loss_stalled = self.acc_stalled = 0
            return "reduce_lr"
        return "continue"


class TutorialPolicy(Callback):
    """Apply :class:`PlateauPolicy` to ``val_loss`` / ``val_acc`` after every validation.

    ``history`` lists one dict per epoch (epoch, val_loss, val_acc, moving averages, action,
    learning rate after the action).
    """

    def __init__(self, options: PolicyOptions | None = None) -> None:
        self.policy = PlateauPolicy(options or PolicyOptions())
        self.history: list[dict[str, Any]] = []

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.sanity_checking:
            return
        metrics = trainer.callback_metrics
        if "val_loss" not in metrics or "val_acc" not in metrics:
            raise InvalidInputError("the tutorial policy needs val_loss and val_acc to be logged")
        loss, acc = float(metrics["val_loss"]), float(metrics["val_acc"])
        action = self.policy.update(loss, acc)
        if action == "reduce_lr":
            for optimizer in trainer.optimizers:
                for group in optimizer.param_groups:
                    group["lr"] *= self.policy.options.lr_factor
        elif action == "stop":
            trainer.should_stop = True
        lr = trainer.optimizers[0].param_groups[0]["lr"] if trainer.optimizers else math.nan
        self.history.append({"epoch": trainer.current_epoch, "val_loss": loss, "val_acc": acc,
                             "avg_loss": self.policy.avg_loss, "avg_acc": self.policy.avg_acc,
                             "action": action, "lr": lr})
        if trainer.logger is not None:
            trainer.logger.log_metrics({"lr": lr, "val_loss_avg": self.policy.avg_loss,
                                        "val_acc_avg": self.policy.avg_acc}, step=trainer.current_epoch)
        if action != "continue":
            log.info("epoch %d: %s (lr %.3g)", trainer.current_epoch, action, lr)

