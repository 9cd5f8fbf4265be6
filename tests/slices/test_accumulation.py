"""Gradient accumulation (batch 4 x 4 steps) gives the same update as one batch of 16."""

from __future__ import annotations

import lightning as L
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

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


def _fit(batch_size: int, accumulate: int, epochs: int = 1) -> dict[str, torch.Tensor]:
    torch.manual_seed(1)
    net = nn.Sequential(nn.Flatten(), nn.Linear(48, 5), nn.Tanh(), nn.Linear(5, 2))
    module = SliceClassifier(net, lr=0.1, momentum=0.9)
    trainer = L.Trainer(max_epochs=epochs, accumulate_grad_batches=accumulate, logger=False,
                        enable_checkpointing=False, enable_progress_bar=False,
                        enable_model_summary=False, accelerator="cpu", limit_val_batches=0)
    trainer.fit(module, DataLoader(_Images(), batch_size=batch_size, shuffle=False))
    return {k: v.detach().clone() for k, v in net.state_dict().items()}


def test_accumulated_small_batches_equal_one_large_batch():
    start = _fit(16, 1, epochs=0)
    large = _fit(16, 1, epochs=2)
    small = _fit(4, 4, epochs=2)
    for key in large:
        assert not torch.allclose(large[key], start[key])  # the weights did move
        torch.testing.assert_close(small[key], large[key], atol=1e-6, rtol=1e-5)


def test_without_accumulation_the_update_differs():
    large = _fit(16, 1, epochs=1)
    small = _fit(4, 1, epochs=1)
    assert not all(torch.allclose(small[k], large[k], atol=1e-4) for k in large)
