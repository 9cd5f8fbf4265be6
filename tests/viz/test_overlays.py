"""Overlay montage PNGs on a small synthetic volume."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from covidct.errors import GeometryMismatchError, InvalidInputError
from covidct.viz import montage_slices, save_montage, save_overlay_slice

SPACING = (2.5, 0.7, 0.7)


@pytest.fixture(scope="module")
def volume():
    z, y, x = np.mgrid[:40, :160, :200]
    image = np.full((40, 160, 200), 40.0, dtype=np.float32)
    lungs = np.zeros(image.shape, np.uint8)
    lungs[((z - 20) / 14.0) ** 2 + ((y - 80) / 60.0) ** 2 + ((x - 60) / 40.0) ** 2 <= 1] = 1
    lungs[((z - 20) / 14.0) ** 2 + ((y - 80) / 60.0) ** 2 + ((x - 140) / 40.0) ** 2 <= 1] = 2
    image[lungs > 0] = -850
    lesions = np.zeros(image.shape, np.uint8)
    lesions[(((z - 20) / 3.0) ** 2 + ((y - 80) / 15.0) ** 2 + ((x - 60) / 15.0) ** 2 <= 1)] = 1
    lesions[(((z - 20) / 3.0) ** 2 + ((y - 70) / 10.0) ** 2 + ((x - 140) / 10.0) ** 2 <= 1)] = 2
    image[lesions == 1] = -550
    image[lesions == 2] = 20
    return image, lungs, lesions


def _colour_pixels(path, rgb, tol=40) -> int:
    arr = np.asarray(Image.open(path).convert("RGB")).astype(int)
    return int((np.abs(arr - np.array(rgb)).max(axis=2) < tol).sum())


def test_montage_png(volume, tmp_path):
    image, lungs, lesions = volume
    before = [a.copy() for a in volume]
    path = save_montage(
        image,
        tmp_path / "sub" / "m.png",
        spacing=SPACING,
        lungs=lungs,
        lesions=lesions,
        title="synthetic",
    )
    assert path == tmp_path / "sub" / "m.png"
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert 20_000 < path.stat().st_size < 5_000_000
    with Image.open(path) as im:
        w, h = im.size
    assert 600 < w < 2000 and 300 < h < 2000
    assert _colour_pixels(path, (255, 225, 0)) > 50  # GGO outline (yellow)
    assert _colour_pixels(path, (255, 26, 26)) > 20  # consolidation outline (red)
    assert _colour_pixels(path, (0, 208, 255)) > 50  # right lung outline (cyan)
    for a, b in zip(before, volume):
        np.testing.assert_array_equal(a, b)


def test_montage_without_masks_and_single_slice(volume, tmp_path):
    image, lungs, lesions = volume
    plain = save_montage(image, tmp_path / "plain.png", spacing=SPACING, n_slices=5)
    assert plain.read_bytes()[:4] == b"\x89PNG"
    assert _colour_pixels(plain, (255, 225, 0)) == 0
    one = save_overlay_slice(
        image, tmp_path / "one.png", spacing=SPACING, lungs=lungs, lesions=lesions
    )
    assert one.read_bytes()[:4] == b"\x89PNG" and one.stat().st_size > 10_000
    assert _colour_pixels(one, (255, 26, 26)) > 20


def test_pixel_aspect_follows_spacing(volume, tmp_path):
    image = volume[0]
    wide = save_overlay_slice(image, tmp_path / "a.png", spacing=(2.5, 0.7, 0.7), index=20)
    tall = save_overlay_slice(image, tmp_path / "b.png", spacing=(2.5, 1.4, 0.7), index=20)
    with Image.open(wide) as a, Image.open(tall) as b:
        assert b.size[1] > 1.5 * a.size[1] - 60  # twice the physical height


def test_montage_slices_span_the_lungs(volume):
    _, lungs, _ = volume
    idx = montage_slices(lungs.shape, lungs, 12)
    zs = np.flatnonzero(lungs.any(axis=(1, 2)))
    assert len(idx) == 12 and idx == sorted(idx)
    assert zs[0] <= idx[0] and idx[-1] <= zs[-1]
    assert montage_slices((3, 4, 4), None, 12) == [0, 1, 2]
    with pytest.raises(InvalidInputError):
        montage_slices((3, 4, 4), None, 0)


def test_bad_inputs(volume, tmp_path):
    image, lungs, _ = volume
    with pytest.raises(GeometryMismatchError):
        save_montage(image, tmp_path / "x.png", spacing=SPACING, lungs=lungs[:-1])
    with pytest.raises(InvalidInputError):
        save_montage(image[0], tmp_path / "x.png", spacing=SPACING)
    with pytest.raises(InvalidInputError):
        save_montage(image, tmp_path / "x.png", spacing=(1.0, 0.0, 1.0))
    with pytest.raises(InvalidInputError):
        save_overlay_slice(image, tmp_path / "x.png", spacing=SPACING, index=99)


def test_import_has_no_pyplot_side_effect():
    code = "import sys, covidct.viz; print('matplotlib.pyplot' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
