"""The tutorial's plateau policy: exact epochs of the lr drops and of the stop."""

from __future__ import annotations

import lightning as L
import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from covidct.errors import InvalidInputError
from covidct.slices.policy import PlateauPolicy, PolicyOptions, TutorialPolicy

# Loss improves for 3 epochs then jumps to 2.0; its moving average (0.2) rises from epoch 3
# on, so epoch 3 is the first of its stalled epochs. Accuracy improves until epoch 6, then
# drops to 0.5: its average falls from epoch 7 on.
LOSS = [1.0, 0.9, 0.8] + [2.0] * 30
ACC = [0.5, 0.6, 0.7, 0.75, 0.8, 0.85, 0.9] + [0.5] * 26


def _actions(loss, acc, **kw):
    policy = PlateauPolicy(PolicyOptions(**kw))
    return [policy.update(lo, ac) for lo, ac in zip(loss, acc)]


def test_moving_average_is_the_tutorials():
    policy = PlateauPolicy()
    policy.update(1.0, 0.5)
    policy.update(0.5, 1.0)
    assert policy.avg_loss == pytest.approx(0.2 * 0.5 + 0.8 * 1.0)
    assert policy.avg_acc == pytest.approx(0.2 * 1.0 + 0.8 * 0.5)


def test_scripted_sequence_gives_exact_epochs():
    actions = _actions(LOSS, ACC)
    # loss stalled at epochs 3..8 -> 6 > patience 5 at epoch 8: lr x0.1 and both counters
    # reset; accuracy stalled since 7 (2 epochs then). After the reset both stall together:
    # 6 more epochs -> stop at epoch 14.
    assert [e for e, a in enumerate(actions) if a == "reduce_lr"] == [8]
    assert actions.index("stop") == 14


def test_accuracy_alone_never_stops_and_loss_alone_only_lowers_lr():
    improving_loss = [1.0 / (e + 1) for e in range(30)]
    acc_down = [0.9] + [0.1] * 29
    assert set(_actions(improving_loss, acc_down)) == {"continue"}
    rising_acc = [e / 30 for e in range(30)]
    actions = _actions(LOSS[:30], rising_acc)
    assert "stop" not in actions
    assert [e for e, a in enumerate(actions) if a == "reduce_lr"] == [8, 14, 20, 26]


def test_bad_options_are_refused():
    with pytest.raises(InvalidInputError):
        PolicyOptions(factor=0.0)
    with pytest.raises(InvalidInputError):
        PolicyOptions(lr_factor=1.5)


class _Scripted(L.LightningModule):
    """Logs the scripted val_loss / val_acc of each epoch; trains a 1-weight model."""

    def __init__(self):
        super().__init__()
        self.w = torch.nn.Parameter(torch.zeros(1))

    def training_step(self, batch, batch_idx):
        return ((self.w - batch[0]) ** 2).mean()

    def validation_step(self, batch, batch_idx):
        e = self.current_epoch
        self.log("val_loss", LOSS[e])
        self.log("val_acc", ACC[e])

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.01)


def test_callback_drops_lr_and_stops_the_trainer_at_the_scripted_epochs():
    data = DataLoader(TensorDataset(torch.ones(4, 1)), batch_size=4)
    policy = TutorialPolicy()
    trainer = L.Trainer(max_epochs=30, callbacks=[policy], logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False, num_sanity_val_steps=0,
                        accelerator="cpu")
    trainer.fit(_Scripted(), data, data)
    epochs = [h["epoch"] for h in policy.history]
    assert epochs == list(range(15))  # stopped after epoch 14
    lrs = [h["lr"] for h in policy.history]
    assert lrs[:8] == [0.01] * 8
    assert lrs[8:] == pytest.approx([0.001] * 7)
    assert policy.history[14]["action"] == "stop"
