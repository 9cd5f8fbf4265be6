"""Slice PNGs: window presets with known answers, overlays only where the masks are,
opacity, heat maps, errors; and the endpoint against the study's own files."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from covidct.errors import GeometryMismatchError, InvalidInputError
from covidct.io import CTVolume, read_ct, read_mask
from covidct.serve.render import StudyVolumes, render_slice, window_to_uint8


def _png(data: bytes) -> np.ndarray:
    image = Image.open(io.BytesIO(data))
    assert image.format == "PNG" and image.mode == "RGB"
    return np.asarray(image)


def test_window_presets_known_answers():
    hu = np.array([-2000, -1350, -600, 150, 3000, -160, 40, 240], dtype=np.int16)
    np.testing.assert_array_equal(window_to_uint8(hu, "lung"), [0, 0, 128, 255, 255, 202, 236, 255])
    np.testing.assert_array_equal(window_to_uint8(hu, "mediastinum")[5:], [0, 128, 255])
    with pytest.raises(InvalidInputError, match="unknown window"):
        window_to_uint8(hu, "bone")


@pytest.fixture
def synthetic() -> StudyVolumes:
    rng = np.random.default_rng(0)
    ct = CTVolume(rng.integers(-1000, 200, (4, 20, 30)).astype(np.int16), (2.0, 1.0, 1.0))
    lungs = np.zeros(ct.shape, np.uint8)
    lungs[:, 4:16, 3:13], lungs[:, 4:16, 17:27] = 1, 2
    lesions = np.zeros(ct.shape, np.uint8)
    lesions[:, 6:9, 5:9] = 1
    lesions[:, 10:12, 20:23] = 2
    heat = np.zeros(ct.shape, np.float32)
    heat[2, 5:10, 5:10] = 3.0
    return StudyVolumes(ct=ct, layers={"lungs": lungs, "lesions": lesions, "heatmap": heat})


def test_plain_slice_is_the_windowed_ct(synthetic):
    img = _png(render_slice(synthetic, 2, window="mediastinum"))
    expected = window_to_uint8(synthetic.ct.array[2], "mediastinum")
    assert img.shape == (20, 30, 3)
    for c in range(3):
        np.testing.assert_array_equal(img[..., c], expected)


def test_overlays_change_only_masked_pixels(synthetic):
    plain = _png(render_slice(synthetic, 1)).astype(int)
    for layers, region in ((["lesions"], synthetic.layers["lesions"][1] > 0),
                           (["lungs"], synthetic.layers["lungs"][1] > 0),
                           (["heatmap"], synthetic.layers["heatmap"][1] > 0)):
        shown = _png(render_slice(synthetic, 1, overlays=layers, opacity=0.6)).astype(int)
        changed = np.any(shown != plain, axis=2)
        assert not changed[~region].any()
        if region.any():
            assert changed[region].mean() > 0.9
    heat = _png(render_slice(synthetic, 2, overlays=["heatmap"], opacity=1.0)).astype(int)
    changed = np.any(heat != _png(render_slice(synthetic, 2)).astype(int), axis=2)
    np.testing.assert_array_equal(changed, synthetic.layers["heatmap"][2] > 0)
    # GGO yellow-ish (red and green up, blue down), consolidation red
    les = _png(render_slice(synthetic, 1, overlays=["lesions"], opacity=1.0)).astype(int)
    assert tuple(les[7, 6]) == (255, 225, 0) and tuple(les[10, 21]) == (255, 26, 26)


def test_opacity_zero_is_the_plain_slice(synthetic):
    assert render_slice(synthetic, 0, overlays=["lungs", "lesions", "heatmap"], opacity=0.0) == (
        render_slice(synthetic, 0))


def test_render_errors(synthetic):
    with pytest.raises(InvalidInputError, match="outside 0..3"):
        render_slice(synthetic, 4)
    with pytest.raises(InvalidInputError, match="opacity"):
        render_slice(synthetic, 0, opacity=1.5)
    only_ct = StudyVolumes(ct=synthetic.ct, layers={})
    with pytest.raises(InvalidInputError, match="not available"):
        render_slice(only_ct, 0, overlays=["lungs"])
    with pytest.raises(GeometryMismatchError):
        StudyVolumes(ct=synthetic.ct, layers={"lungs": np.zeros((4, 20, 29), np.uint8)})


def test_slice_endpoint_renders_the_studys_files(served, tiny_ct):
    client, done, data = served["client"], served["done"], served["data"]
    sid = done["id"]
    grid = client.get(f"/api/studies/{sid}/volume").json()
    ct = read_ct(tiny_ct)
    out = data / "studies" / sid / "out"
    expected = ["lungs", "lesions"] + (["heatmap"] if (out / "heatmap.nii.gz").is_file() else [])
    assert grid["shape_zyx"] == list(ct.shape) and grid["layers"] == expected
    lesions = read_mask(data / "studies" / sid / "out" / "lesions.nii.gz", ct)
    k = int(np.argmax((lesions > 0).sum(axis=(1, 2))))
    plain = _png(client.get(f"/api/studies/{sid}/slices/{k}.png?window=lung").content)
    np.testing.assert_array_equal(plain[..., 0], window_to_uint8(ct.array[k], "lung"))
    over = _png(client.get(f"/api/studies/{sid}/slices/{k}.png?overlay=lesions&opacity=0.5").content)
    changed = np.any(over != plain, axis=2)
    np.testing.assert_array_equal(changed, lesions[k] > 0)
    if "heatmap" in expected:  # the demo model's Grad-CAM, drawn only where it is warm
        heat = _png(client.get(f"/api/studies/{sid}/slices/{k}.png?overlay=heatmap").content)
        assert np.any(heat != plain)
    missing_heat = 200 if "heatmap" in expected else 400  # an overlay the study lacks is a 400
    for query, code in (("window=bone", 400), ("overlay=heatmap", missing_heat), ("opacity=2", 422)):
        assert client.get(f"/api/studies/{sid}/slices/{k}.png?{query}").status_code == code
    assert client.get(f"/api/studies/{sid}/slices/{ct.shape[0]}.png").status_code == 400


def test_a_file_stored_in_ras_is_shown_as_one_stored_in_dicom_order(synthetic):
    """The same study stored in RAS (x and y flipped, the direction saying so) renders the same
    PNG, front up and the patient's right on the viewer's left; slice indices are the file's."""
    flip = lambda a: np.ascontiguousarray(a[:, ::-1, ::-1])
    ct = synthetic.ct
    ras = StudyVolumes(ct=CTVolume(flip(ct.array), ct.spacing, direction=(-1.0, 0, 0, 0, -1.0, 0, 0, 0, 1.0)),
                       layers={k: flip(v) for k, v in synthetic.layers.items()})
    for k in range(ct.shape[0]):
        overlays = ("lungs", "lesions", "heatmap")
        assert render_slice(ras, k, overlays=overlays) == render_slice(synthetic, k, overlays=overlays)


def test_a_reformat_is_shown_as_its_axial_series(synthetic, reformat):
    """A study stored as coronal or sagittal slices is laid as an axial series on loading: the
    viewer's slices are the axial series' PNGs, in its order (before: coronal slices)."""
    stored = StudyVolumes(ct=reformat.volume(synthetic.ct),
                          layers={k: reformat.mask(v) for k, v in synthetic.layers.items()})
    assert stored.ct.shape == synthetic.ct.shape
    for k in range(synthetic.ct.shape[0]):
        overlays = ("lungs", "lesions", "heatmap")
        assert render_slice(stored, k, overlays=overlays) == render_slice(synthetic, k, overlays=overlays)
