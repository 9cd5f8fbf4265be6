"""Grid presets, resampling and lung-centred crop/pad: known answers on phantoms."""

from __future__ import annotations

import numpy as np
import pytest

from covidct.errors import GeometryMismatchError, InvalidInputError, NoLungsFoundError
from covidct.io import CTVolume
from covidct.preprocess import GRID_PRESETS, GridPreset, get_grid, resample, to_grid


def _box_volume(shape=(40, 60, 50), spacing=(2.5, 0.8, 0.9), box=((10, 30), (20, 45), (5, 20))):
    arr = np.full(shape, 40, np.int16)
    lungs = np.zeros(shape, np.uint8)
    (z0, z1), (y0, y1), (x0, x1) = box
    lungs[z0:z1, y0:y1, x0:x1] = 1
    arr[lungs > 0] = -850
    vol = CTVolume(arr, spacing, origin=(-20.0, 5.0, 100.0))
    return vol, lungs


def test_paper_preset_matches_reference():
    g = get_grid("paper")
    assert g.spacing_mm == (1.0, 1.0, 1.0)
    assert g.shape == (340, 390, 390)
    assert g.crop == (200, 250, 250)
    # every preset covers about the paper's field of view and its crop fits inside
    for preset in GRID_PRESETS.values():
        fov = np.array(preset.shape) * np.array(preset.spacing_mm)
        assert np.all(np.abs(fov - np.array([340, 390, 390])) <= 12)
        assert all(c <= s for c, s in zip(preset.crop, preset.shape))


def test_unknown_grid_is_a_clear_error():
    with pytest.raises(InvalidInputError, match="unknown grid preset"):
        get_grid("nope")


def test_resample_keeps_physical_extent_and_values():
    vol, lungs = _box_volume()
    out = resample(vol, (1.0, 1.0, 1.0))
    assert out.spacing == (1.0, 1.0, 1.0)
    assert np.allclose(out.extent_mm, vol.extent_mm, atol=1.0)
    assert out.array.dtype == np.int16
    # the lung box volume is preserved (label-linear interpolation)
    lab = resample(vol.with_array(lungs), (1.0, 1.0, 1.0), labels=True)
    v_in = lungs.sum() * vol.voxel_volume_ml
    v_out = (lab.array > 0).sum() * lab.voxel_volume_ml
    assert v_out == pytest.approx(v_in, rel=0.05)
    # a homogeneous region keeps its HU exactly
    assert out.array[out.shape[0] // 2, 5, 40] == 40


def test_to_grid_centres_lungs_and_keeps_geometry():
    vol, lungs = _box_volume()
    grid = GridPreset("t", (2.0, 2.0, 2.0), (30, 30, 30), (16, 16, 16))
    case = to_grid(vol, lungs, grid)
    assert case.volume.shape == grid.shape
    assert case.info["fits"] and case.info["lost_lung_voxels"] == 0
    # everything outside the lungs is blanked to the fill value
    assert np.all(case.volume.array[case.lungs == 0] == grid.fill_hu)
    # the lungs sit in the middle of the grid
    zyx = np.argwhere(case.lungs > 0)
    centre = (zyx.min(0) + zyx.max(0)) / 2
    assert np.all(np.abs(centre - (np.array(grid.shape) - 1) / 2) <= 1.0)
    # physical position of the lung centre is unchanged by the crop
    def phys(v, idx_zyx):
        d = np.array(v.direction).reshape(3, 3)
        return np.array(v.origin) + d @ (np.array(idx_zyx[::-1]) * np.array(v.spacing[::-1]))
    src = np.argwhere(lungs > 0)
    c_src = phys(vol, (src.min(0) + src.max(0)) / 2)
    c_out = phys(case.volume, centre)
    assert np.allclose(c_src, c_out, atol=2.0)


def test_to_grid_reports_lungs_that_do_not_fit():
    vol, lungs = _box_volume()
    grid = GridPreset("small", (2.0, 2.0, 2.0), (10, 10, 10), (8, 8, 8))
    case = to_grid(vol, lungs, grid)
    assert not case.info["fits"]
    assert case.info["lost_lung_voxels"] > 0


def test_to_grid_errors_and_inputs_untouched():
    vol, lungs = _box_volume()
    before = vol.array.copy(), lungs.copy()
    grid = get_grid("tiny-6mm")
    with pytest.raises(GeometryMismatchError):
        to_grid(vol, lungs[:-1], grid)
    with pytest.raises(NoLungsFoundError):
        to_grid(vol, np.zeros_like(lungs), grid)
    to_grid(vol, lungs, grid, lesions=lungs * 2)
    assert np.array_equal(vol.array, before[0]) and np.array_equal(lungs, before[1])


def test_to_grid_lays_a_file_stored_in_ras_as_a_dicom_series():
    """The same CT stored in RAS (x and y flipped, the direction saying so) gives the grid case
    of the DICOM-order file: the 3D model sees every patient the same way."""
    vol, lungs = _box_volume(box=((10, 30), (20, 45), (5, 20)))
    vol = vol.with_array(vol.array + np.arange(vol.shape[2], dtype=np.int16)[None, None])  # not symmetric
    d = np.diag([-1.0, -1.0, 1.0])
    extent = (np.array(vol.shape[::-1]) - 1) * np.array(vol.spacing[::-1])
    origin = tuple(np.array(vol.origin) + np.array([extent[0], extent[1], 0.0]))  # the far corner in x, y
    flip = lambda a: np.ascontiguousarray(a[:, ::-1, ::-1])
    ras = CTVolume(flip(vol.array), vol.spacing, origin=origin, direction=tuple(d.ravel()))
    grid = GridPreset("t", (2.0, 2.0, 2.0), (30, 30, 30), (16, 16, 16))
    a, b = to_grid(vol, lungs, grid, lesions=lungs * 2), to_grid(ras, flip(lungs), grid, lesions=flip(lungs * 2))
    assert np.array_equal(a.volume.array, b.volume.array) and np.array_equal(a.lungs, b.lungs)
    assert np.array_equal(a.lesions, b.lesions)
    assert np.allclose(b.volume.direction, np.eye(3).ravel()) and np.allclose(a.volume.origin, b.volume.origin)
