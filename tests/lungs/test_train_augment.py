"""Anatomical variety for the lung model's training: deformation, body, contrast, weights."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from synth import dice

from covidct.io.volume import CTVolume
from covidct.lungs.train_augment import (
    DeformOptions,
    deform,
    deformed_variant,
    enhance_mediastinum,
    grow_body,
)

_STILL = DeformOptions(scale=(1.0, 1.0), rotate_deg=0.0, tilt_deg=0.0, warp_mm=0.0)


@pytest.fixture(scope="module")
def chest_volume(chest):
    return CTVolume(array=chest.hu, spacing=chest.spacing), chest.truth


def test_deformation_keeps_ct_and_labels_aligned(chest_volume):
    """Lung voxels of the deformed CT (< -400 HU inside the body's lung labels' reach) are the
    deformed labels: the CT (linear) and the labels (nearest) moved together."""
    volume, truth = chest_volume
    for seed in (0, 1):
        vol, lab = deform(volume, truth, np.random.default_rng(seed), pixel_mm=2.0)
        assert vol.spacing == (3.0, 2.0, 2.0) and lab.shape == vol.shape and set(np.unique(lab)) == {0, 1, 2}
        air_in_lung_hu = (vol.array < -400) & (vol.array > -960)  # lung parenchyma (-850), not outside air
        near = np.zeros_like(air_in_lung_hu)
        near[:, 1:-1, 1:-1] = True
        assert dice(air_in_lung_hu & near, lab > 0) > 0.95
        # and the deformation moved the lungs: against the undeformed labels on the same grid
        _, still = deform(volume, truth, np.random.default_rng(seed), pixel_mm=2.0, opts=_STILL)
        assert dice(lab > 0, still > 0) < 0.95


def test_still_deformation_is_a_plain_resampling(chest_volume):
    """No scale, rotation or warp at the CT's own pixel size: CT and labels come back unchanged."""
    volume, truth = chest_volume
    vol, lab = deform(volume, truth, np.random.default_rng(0), pixel_mm=1.0, opts=_STILL)
    np.testing.assert_array_equal(lab, truth)
    np.testing.assert_allclose(vol.array, volume.array, atol=1e-3)


def test_scale_changes_lung_volume_by_its_cube(chest_volume):
    """Anatomy scaled by 1.1 on every axis: lung volume x 1.331 (within 3 %)."""
    volume, truth = chest_volume
    opts = DeformOptions(scale=(1.1, 1.1), rotate_deg=0.0, tilt_deg=0.0, warp_mm=0.0)
    vol, lab = deform(volume, truth, np.random.default_rng(0), pixel_mm=2.0, opts=opts)
    ratio = (lab > 0).sum() * np.prod(vol.spacing) / ((truth > 0).sum() * np.prod(volume.spacing))
    assert ratio == pytest.approx(1.331, rel=0.03)


def test_grow_body_adds_a_fat_ring_of_the_asked_thickness():
    """A disk body of radius 50 mm grown by 10 mm: the ring pi (60^2 - 50^2) mm^2 at -100 HU."""
    yy, xx = np.mgrid[:160, :160]
    disk = (yy - 80) ** 2 + (xx - 80) ** 2 <= 50**2  # 1 mm pixels
    hu = np.where(disk, 40.0, -1000.0).astype(np.float32)[None].repeat(3, 0)
    out = grow_body(hu, (5.0, 1.0, 1.0), 10.0, np.random.default_rng(0))
    ring = (out > -500) & ~disk[None]
    assert ring[1].sum() == pytest.approx(np.pi * (60**2 - 50**2), rel=0.05)
    assert abs(out[ring].mean() + 100.0) < 2.0
    np.testing.assert_array_equal(out[:, disk], hu[:, disk])


def test_enhancement_raises_only_soft_tissue_between_the_lungs():
    hu = np.full((1, 60, 100), 40.0, np.float32)  # soft tissue everywhere
    labels = np.zeros(hu.shape, np.uint8)
    labels[0, 10:50, 10:40] = 1
    labels[0, 10:50, 60:90] = 2
    hu[labels > 0] = -850.0
    out = enhance_mediastinum(hu, labels, 200.0)
    assert out[0, 30, 50] == pytest.approx(240.0)  # centre of the mediastinum, full gain
    assert out[0, 30, 5] == 40.0 and out[0, 55, 50] == 40.0  # chest wall, below the lungs
    np.testing.assert_array_equal(out[labels > 0], hu[labels > 0])


def test_deformed_variant_is_reproducible_and_labelled(chest_volume):
    volume, truth = chest_volume
    a_vol, a_lab = deformed_variant(volume, truth, 3, pixel_mm=2.0)
    b_vol, b_lab = deformed_variant(volume, truth, 3, pixel_mm=2.0)
    np.testing.assert_array_equal(a_vol.array, b_vol.array)
    np.testing.assert_array_equal(a_lab, b_lab)
    assert a_vol.array.dtype == np.int16 and set(np.unique(a_lab)) == {0, 1, 2}


def test_slice_weights_give_the_real_share():
    from covidct.lungs.train_data import Example
    from covidct.lungs.train_loop import SliceSet, slice_weights

    def ex(name, n):
        return Example(hu=np.zeros((n, 8, 8), np.int16), lung=np.zeros((n, 8, 8), np.uint8), step=1, name=name)

    slices = SliceSet([ex("phantom-1", 30), ex("phantom-2", 10), ex("lung1-d1-0", 5)])
    w = slice_weights(slices, 0.6)
    assert float(w[-5:].sum() / w.sum()) == pytest.approx(0.6)
    assert torch.allclose(w[:40], w[0].expand(40))
    assert torch.equal(slice_weights(slices, 0.0), torch.ones(45, dtype=torch.double))


def _write_example(file):
    from covidct.lungs.train_data import Example, _save

    rng = np.random.default_rng(0)
    _save(Example(hu=rng.integers(-1024, 400, (40, 192, 192)).astype(np.int16),
                  lung=rng.integers(0, 256, (40, 192, 192)).astype(np.uint8), step=2, name="x"), file)


def test_runs_sharing_a_cache_can_write_the_same_example_at_once(tmp_path):
    from concurrent.futures import ProcessPoolExecutor

    from covidct.lungs.train_data import _read

    file = tmp_path / "phantom-1-small-2mm-192.npz"
    with ProcessPoolExecutor(4) as pool:
        list(pool.map(_write_example, [file] * 8))
    got = _read(file, "x")
    assert got.hu.shape == (40, 192, 192) and got.step == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == [file.name]  # no temporary left
