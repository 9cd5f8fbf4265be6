"""Gradient accumulation (batch 4 x 4 steps) gives the same update as one batch of 16
(SGD with momentum and AdamW); the AdamW step is torch's own on the full-batch gradient."""

from __future__ import annotations

import lightning as L
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from covidct.errors import InvalidInputError
from covidct.slices.config import SliceConfig
from covidct.slices.module import SliceClassifier


class _Images(Dataset):
    def __init__(self, n: int = 16):
        g = torch.Generator().manual_seed(0)
        self.x = torch.randn(n, 3, 4, 4, generator=g)
        self.y = torch.randint(0, 2, (n,), generator=g)

    def __len__(self):
        return len(self.y)

    def __getitem__(self, i):
        return {"image": self.x[i], "label": self.y[i], "index": i}


def _net() -> nn.Module:
    torch.manual_seed(1)
    return nn.Sequential(nn.Flatten(), nn.Linear(48, 5), nn.Tanh(), nn.Linear(5, 2))


def _fit(batch_size: int, accumulate: int, epochs: int = 1, optimizer: str = "sgd") -> dict[str, torch.Tensor]:
    net = _net()
    module = SliceClassifier(net, lr=0.1, momentum=0.9, weight_decay=0.01, optimizer=optimizer)
    trainer = L.Trainer(max_epochs=epochs, accumulate_grad_batches=accumulate, logger=False,
                        enable_checkpointing=False, enable_progress_bar=False,
                        enable_model_summary=False, accelerator="cpu", limit_val_batches=0)
    trainer.fit(module, DataLoader(_Images(), batch_size=batch_size, shuffle=False))
    return {k: v.detach().clone() for k, v in net.state_dict().items()}


@pytest.mark.parametrize("optimizer", ["sgd", "adamw"])
def test_accumulated_small_batches_equal_one_large_batch(optimizer):
    start = _fit(16, 1, epochs=0, optimizer=optimizer)
    large = _fit(16, 1, epochs=2, optimizer=optimizer)
    small = _fit(4, 4, epochs=2, optimizer=optimizer)
    for key in large:
        assert not torch.allclose(large[key], start[key])  # the weights did move
        torch.testing.assert_close(small[key], large[key], atol=1e-6, rtol=1e-5)


def test_without_accumulation_the_update_differs():
    large = _fit(16, 1, epochs=1)
    small = _fit(4, 1, epochs=1)
    assert not all(torch.allclose(small[k], large[k], atol=1e-4) for k in large)


def test_adamw_step_is_torch_adamw_on_the_batch_gradient():
    fitted = _fit(16, 1, epochs=1, optimizer="adamw")
    net = _net()
    data = _Images()
    opt = torch.optim.AdamW(net.parameters(), lr=0.1, weight_decay=0.01)
    nn.functional.cross_entropy(net(data.x), data.y).backward()
    opt.step()
    for key, value in net.state_dict().items():
        torch.testing.assert_close(fitted[key], value, atol=1e-6, rtol=1e-5)


def test_unknown_optimizer_is_refused():
    with pytest.raises(InvalidInputError, match="unknown optimizer 'adam'"):
        SliceClassifier(_net(), optimizer="adam")
    with pytest.raises(InvalidInputError, match="unknown optimizer"):
        SliceConfig(optimizer="rmsprop")
