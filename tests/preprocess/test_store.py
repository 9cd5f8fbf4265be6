"""Lossless store: bit-for-bit round trips, atomic writes, compression."""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk

from covidct.errors import InvalidInputError
from covidct.io import CTVolume
from covidct.preprocess import case_complete, case_paths, load_case, save_case


def _case(seed=0):
    rng = np.random.default_rng(seed)
    arr = np.full((20, 30, 40), -1024, np.int16)
    lungs = np.zeros(arr.shape, np.uint8)
    lungs[4:16, 5:25, 3:18] = 1
    lungs[4:16, 5:25, 22:37] = 2
    arr[lungs > 0] = rng.integers(-1000, 200, size=int((lungs > 0).sum()), dtype=np.int16)
    lesions = np.zeros_like(lungs)
    lesions[6:9, 8:12, 5:9] = 1
    lesions[10:12, 15:20, 25:30] = 2
    vol = CTVolume(arr, (1.5, 0.7, 0.7), origin=(1.0, -2.0, 3.5),
                   direction=(0, 1, 0, 1, 0, 0, 0, 0, 1))
    return vol, lungs, lesions


def test_round_trip_is_bit_exact(tmp_path):
    vol, lungs, lesions = _case()
    paths = save_case(tmp_path, "c1", vol, lungs, lesions)
    assert set(paths) == {"ct", "lungs", "lesions"}
    back = load_case(tmp_path, "c1")
    assert back.volume.array.dtype == np.int16
    assert np.array_equal(back.volume.array, vol.array)
    assert np.array_equal(back.lungs, lungs) and np.array_equal(back.lesions, lesions)
    assert back.volume.same_grid(vol)
    # files are standard NRRD that any ITK-based viewer opens
    img = sitk.ReadImage(str(paths["ct"]))
    assert img.GetSize() == (40, 30, 20)
    assert paths["ct"].read_bytes()[:4] == b"NRRD"


def test_store_compresses_blanked_volumes(tmp_path):
    vol, lungs, _ = _case()
    arr = np.where(lungs > 0, -850, -1024).astype(np.int16)
    paths = save_case(tmp_path, "c2", vol.with_array(arr), lungs)
    assert "lesions" not in paths
    assert paths["ct"].stat().st_size < arr.nbytes / 20


def test_incomplete_case_and_bad_id(tmp_path):
    vol, lungs, _ = _case()
    assert not case_complete(tmp_path, "x")
    with pytest.raises(InvalidInputError, match="not complete"):
        load_case(tmp_path, "x")
    with pytest.raises(InvalidInputError):
        save_case(tmp_path, "../evil", vol, lungs)
    save_case(tmp_path, "ok", vol, lungs)
    # no temporary files left behind
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        p.name for k, p in case_paths(tmp_path, "ok").items() if k != "lesions"
    )
