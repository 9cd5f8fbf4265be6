"""The lung network's input grid (NumPy and Pillow): resampling, neighbour channels, z interpolation."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from synth import dice

from covidct.lungs.model_grid import (
    context_channels,
    context_offsets,
    from_model_grid,
    interpolate_z,
    neighbour_stack,
    scale_hu,
    to_model_grid,
)


def test_neighbour_channels_by_context():
    """Slice z of a stack whose slice k holds the value k: the channels are the slices of the
    context's offsets, clamped at the ends; a torch tensor gives a tensor."""
    slices = np.arange(10, dtype=np.float32)[:, None, None].repeat(2, 1).repeat(2, 2)
    assert context_offsets((1,), 2) == [-2, 0, 2]
    assert context_offsets((4, 1, 2), 1) == [-4, -2, -1, 0, 1, 2, 4] and context_channels((4, 1, 2)) == 7
    x = neighbour_stack(slices, np.array([0, 5, 9]), 1, (1, 3))
    assert x.shape == (3, 5, 2, 2)
    assert x[:, :, 0, 0].tolist() == [[0, 0, 0, 1, 3], [2, 4, 5, 6, 8], [6, 8, 9, 9, 9]]
    t = neighbour_stack(torch.from_numpy(slices), np.array([4]), 2)
    assert isinstance(t, torch.Tensor) and torch.equal(t, torch.from_numpy(slices[[2, 4, 6]][None]))


def test_scale_hu_maps_the_window_to_plus_minus_one():
    hu = np.array([-2000.0, -1000.0, -400.0, 200.0, 3000.0])
    np.testing.assert_allclose(scale_hu(hu, (-1000.0, 200.0)), [-1.0, -1.0, 0.0, 1.0, 1.0])
    assert torch.equal(scale_hu(torch.tensor(hu), (-1000.0, 200.0)), torch.tensor(scale_hu(hu, (-1000.0, 200.0))))


def test_model_grid_round_trip_keeps_a_disk():
    """A 60 mm disk on 0.7 mm pixels, to 3 mm pixels and back: same area within 2 %."""
    yy, xx = np.mgrid[:400, :420]
    disk = ((yy - 190) ** 2 + (xx - 230) ** 2 <= (30 / 0.7) ** 2).astype(np.float32)[None]
    low, geo = to_model_grid(disk, (0.7, 0.7), pixel_mm=3.0, canvas=128, fill=0.0)
    assert geo.scaled == (93, 98) and low.dtype == np.float32
    assert float(low.sum()) * 9.0 == pytest.approx(float(disk.sum()) * 0.49, rel=0.02)
    back = from_model_grid(low, geo) > 0.5
    assert back.shape == disk.shape
    assert dice(back, disk > 0) > 0.98
    # a canvas smaller than the image crops its centre; the rest comes back as 0
    low, geo = to_model_grid(np.ones((1, 400, 400), np.float32), (1.0, 1.0), pixel_mm=4.0, canvas=64, fill=0.0)
    assert geo.offset == (-18, -18) and float(low.min()) == 1.0
    back = from_model_grid(low, geo)[0]
    assert back[200, 200] == pytest.approx(1.0) and back[5, 5] == 0.0


def test_resampling_equals_torch_interpolate():
    """The reference: torch's bilinear ``interpolate`` (antialiased when shrinking, as the
    shipped network was trained) gives the same grid within 0.01 HU, and the same way back."""
    rng = np.random.default_rng(0)
    hu = rng.normal(-500, 400, (3, 150, 170)).astype(np.float32)
    low, geo = to_model_grid(hu, (0.7, 0.75), pixel_mm=2.0, canvas=80, fill=-1024.0)
    ref = F.interpolate(torch.from_numpy(hu)[:, None], size=geo.scaled, mode="bilinear", antialias=True,
                        align_corners=False)[:, 0].numpy()
    assert min(geo.offset) > 0  # the whole image on the canvas
    cy, cx = (slice(o, o + n) for o, n in zip(geo.offset, geo.scaled))
    np.testing.assert_allclose(low[:, cy, cx], ref, atol=0.01)
    assert float(low[:, 0, 0].max()) == -1024.0  # the canvas outside the image
    p = rng.random((3, 80, 80)).astype(np.float32)
    scaled = torch.from_numpy(p[:, cy, cx].copy())[:, None]
    np.testing.assert_allclose(from_model_grid(p, geo), F.interpolate(scaled, size=hu.shape[1:], mode="bilinear",
                                                                      align_corners=False)[:, 0].numpy(), atol=1e-5)


def test_interpolate_z_is_linear_between_the_predicted_slices():
    sampled = np.array([0.0, 1.0, 3.0], np.float32)[:, None, None]
    out = interpolate_z(sampled, np.array([0, 4, 6]), 7)
    np.testing.assert_allclose(out[:, 0, 0], [0.0, 0.25, 0.5, 0.75, 1.0, 2.0, 3.0])
    assert interpolate_z(sampled, np.arange(3), 3) is sampled
