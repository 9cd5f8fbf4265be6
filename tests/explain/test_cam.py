"""Grad-CAM (both exposed variants, 2D and 3D) of models whose answer depends on one known
region lands in that region."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from covidct.errors import InvalidInputError
from covidct.explain import METHODS, cam_maps, lesion_pointing


def _images(n: int, size: int, dims: int, rng: np.random.Generator):
    """Noise; positives (every other one) hold a bright cube/square of side size // 5."""
    side = size // 5
    x = rng.normal(0, 0.3, (n, 1) + (size,) * dims).astype(np.float32)
    masks = np.zeros((n,) + (size,) * dims, bool)
    y = np.arange(n) % 2
    for i in np.flatnonzero(y):
        lo = rng.integers(1, size - side - 1, dims)
        box = tuple(slice(a, a + side) for a in lo)
        x[(i, 0, *box)] += 2.0
        masks[(i, *box)] = True
    return torch.from_numpy(x), torch.from_numpy(y), masks


def _net(dims: int) -> nn.Sequential:
    conv = nn.Conv2d if dims == 2 else nn.Conv3d
    pool = nn.AdaptiveAvgPool2d if dims == 2 else nn.AdaptiveAvgPool3d
    return nn.Sequential(conv(1, 8, 3, padding=1), nn.ReLU(), conv(8, 8, 3, padding=1), nn.ReLU(),
                         pool(1), nn.Flatten(), nn.Linear(8, 2))


def _trained(dims: int, size: int, steps: int) -> nn.Sequential:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # small tensors: one thread is fastest on a shared CPU
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    net = _net(dims)
    opt = torch.optim.Adam(net.parameters(), lr=0.01)
    for _ in range(steps):
        x, y, _ = _images(16, size, dims, rng)
        opt.zero_grad()
        nn.functional.cross_entropy(net(x), y).backward()
        opt.step()
    torch.set_num_threads(threads)
    return net.eval()


@pytest.fixture(scope="module")
def net2d():
    return _trained(2, 24, 80)


@pytest.fixture(scope="module")
def net3d():
    return _trained(3, 12, 40)


@pytest.mark.parametrize("method", METHODS)
def test_2d_cam_lands_on_the_square(net2d, method):
    x, y, masks = _images(20, 24, 2, np.random.default_rng(1))
    with torch.no_grad():
        assert (net2d(x).argmax(1) == y).float().mean() >= 0.9  # the model learnt the task
    pos = np.flatnonzero(y.numpy())
    maps, targets = cam_maps(net2d, net2d[2], x[pos], targets=[1] * len(pos), method=method)
    assert maps.shape == (len(pos), 24, 24) and maps.dtype == np.float32
    assert maps.min() >= 0 and maps.max() <= 1 and np.all(targets == 1)
    scores = [lesion_pointing(m, masks[i]) for m, i in zip(maps, pos)]
    assert np.mean([s["hit"] for s in scores]) >= 0.9
    assert np.mean([s["ratio"] for s in scores]) > 3.0  # the square is 2.8 % of the image


@pytest.mark.parametrize("method", METHODS)
def test_3d_cam_lands_on_the_cube(net3d, method):
    x, y, masks = _images(8, 12, 3, np.random.default_rng(2))
    pos = np.flatnonzero(y.numpy())
    maps, _ = cam_maps(net3d, net3d[2], x[pos], targets=None, method=method)
    assert maps.shape == (len(pos), 12, 12, 12)
    scores = [lesion_pointing(m, masks[i]) for m, i in zip(maps, pos)]
    assert np.mean([s["hit"] for s in scores]) >= 0.75
    assert np.mean([s["ratio"] for s in scores]) > 3.0  # the cube is 0.5 % of the volume


def test_bad_calls_are_refused(net2d):
    x = torch.zeros(2, 1, 8, 8)
    with pytest.raises(InvalidInputError):
        cam_maps(net2d, net2d[2], x, method="scorecam")
    with pytest.raises(InvalidInputError):
        cam_maps(net2d, net2d[2], x, targets=[1])
    with pytest.raises(InvalidInputError):
        cam_maps(net2d, net2d[2], torch.zeros(8, 8))
