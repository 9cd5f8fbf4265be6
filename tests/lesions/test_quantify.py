"""Lesion quantification on synthetic chests with known lesions (anisotropic 2.5 x 0.8 x 0.8 mm)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from .conftest import SHAPE, SPACING, ellipsoid, make_chest

from covidct.errors import GeometryMismatchError, InvalidInputError
from covidct.io.volume import CTVolume
from covidct.lesions import LesionQuantification, QuantOptions, ct_category, quantify

VOXEL_ML = float(np.prod(SPACING)) / 1000.0


def test_normal_lungs_with_vessels_are_near_zero(normal_chest):
    vessel_share = normal_chest.truth["vessel"].sum() / (normal_chest.lungs > 0).sum()
    assert vessel_share > 0.01  # the vessel tree is dense enough to matter
    q = quantify(normal_chest.image, normal_chest.lungs, SPACING)
    assert q.lesion_fraction < 0.005
    assert q.ct_category == "CT-0"
    lung_truth = (normal_chest.lungs > 0).sum() * VOXEL_ML
    assert q.lung_volume_ml == pytest.approx(lung_truth)
    assert q.right.lung_volume_ml + q.left.lung_volume_ml == pytest.approx(lung_truth)


def test_ggo_and_consolidation_volumes_and_classes(lesion_chest):
    q = quantify(lesion_chest.image, lesion_chest.lungs, SPACING)
    ggo_truth = lesion_chest.truth["ggo"].sum() * VOXEL_ML  # right lung
    cons_truth = lesion_chest.truth["cons"].sum() * VOXEL_ML  # left lung
    assert ggo_truth > 8 and cons_truth > 4
    assert q.right.ggo_volume_ml == pytest.approx(ggo_truth, rel=0.10)
    assert q.left.consolidation_volume_ml == pytest.approx(cons_truth, rel=0.10)
    # the other class is (almost) absent in each lung
    assert q.right.consolidation_volume_ml < 0.1 * ggo_truth
    assert q.left.ggo_volume_ml < 0.1 * cons_truth
    # voxel overlap with the truth, by class
    m = q.lesion_mask
    for value, key in ((1, "ggo"), (2, "cons")):
        t = lesion_chest.truth[key]
        dice = 2 * ((m == value) & t).sum() / ((m == value).sum() + t.sum())
        assert dice > 0.85, (key, dice)
    # totals are consistent
    assert q.lesion_volume_ml == pytest.approx(q.ggo_volume_ml + q.consolidation_volume_ml)
    assert q.lesion_fraction == pytest.approx(q.lesion_volume_ml / q.lung_volume_ml)
    assert q.ggo_fraction == pytest.approx(q.ggo_volume_ml / q.lung_volume_ml)
    assert q.right.lesion_fraction == pytest.approx(
        q.right.lesion_volume_ml / q.right.lung_volume_ml
    )
    assert q.ct_category == "CT-1"
    assert q.lesion_mask.dtype == np.uint8 and q.lesion_mask.shape == SHAPE
    assert not np.any(q.lesion_mask[lesion_chest.lungs == 0])


BLOBS = [
    ("ggo", (-20.0, 10.0, -45.0), (5.0, 5.0, 5.0)),
    ("cons", (20.0, -10.0, 45.0), (5.0, 5.0, 5.0)),
]
SPECKS = [
    ("ggo", (0.0, -25.0, -40.0), (2.5, 2.0, 2.0)),
    ("cons", (0.0, 25.0, 40.0), (2.5, 2.0, 2.0)),
]


def _region(lesions, grow_mm: float = 3.0) -> np.ndarray:
    out = np.zeros(SHAPE, bool)
    for _, centre, semi in lesions:
        out |= ellipsoid(SHAPE, SPACING, centre, tuple(s + grow_mm for s in semi))
    return out


def test_specks_below_min_volume_are_removed_by_the_size_filter():
    # No vessels, no opening, no density test, no hilar vessel test: only the minimum component
    # volume separates specks (~0.04 ml) from blobs (~0.5 ml).
    chest = make_chest(BLOBS + SPECKS, seed=5, vessels=False)
    speck_ml = (_region(SPECKS, 0.0) & (chest.truth["ggo"] | chest.truth["cons"])).sum() * VOXEL_ML
    assert 0.01 < speck_ml / 2 < 0.1
    blob_truth = _region(BLOBS, 0.0) & (chest.truth["ggo"] | chest.truth["cons"])
    no_open = {"opening_radius_mm": 0.0, "seed_density": 0.0, "hilum_mm": None}
    q = quantify(chest.image, chest.lungs, SPACING, options=QuantOptions(**no_open))
    assert not np.any(q.lesion_mask[_region(SPECKS)])
    assert q.lesion_volume_ml == pytest.approx(blob_truth.sum() * VOXEL_ML, rel=0.15)
    kept = quantify(
        chest.image, chest.lungs, SPACING, options=QuantOptions(min_component_ml=0.0, **no_open)
    )
    assert np.count_nonzero(kept.lesion_mask[_region(SPECKS)]) * VOXEL_ML > 0.5 * speck_ml
    gone = quantify(
        chest.image, chest.lungs, SPACING, options=QuantOptions(min_component_ml=1.0, **no_open)
    )
    assert gone.lesion_volume_ml == 0.0  # both ~0.5 ml blobs are below a 1 ml minimum


def test_specks_are_removed_with_vessels_and_default_options():
    chest = make_chest(BLOBS + SPECKS, seed=5)
    q = quantify(chest.image, chest.lungs, SPACING)
    assert not np.any(q.lesion_mask[_region(SPECKS)])
    blob_ml = (_region(BLOBS, 0.0) & (chest.truth["ggo"] | chest.truth["cons"])).sum() * VOXEL_ML
    assert q.lesion_volume_ml == pytest.approx(blob_ml, rel=0.2)


UPPER_RIGHT = [("cons", (38.0, 0.0, -45.0), (9.0, 12.0, 12.0))]


def test_zones_identity_direction():
    chest = make_chest(UPPER_RIGHT, seed=7)
    q = quantify(CTVolume(chest.image, SPACING), chest.lungs)
    assert q.zones["right"]["upper"] > 0.01
    for side, zone in [
        ("right", "middle"),
        ("right", "lower"),
        ("left", "upper"),
        ("left", "middle"),
        ("left", "lower"),
    ]:
        assert q.zones[side][zone] < 0.001, (side, zone)
    assert set(q.zones) == {"right", "left"}
    assert set(q.zones["right"]) == {"upper", "middle", "lower"}


def test_zones_follow_direction_when_z_is_flipped():
    chest = make_chest(UPPER_RIGHT, seed=7)
    flipped_img, flipped_lungs = chest.image[::-1].copy(), chest.lungs[::-1].copy()
    direction = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, -1.0)  # slice index grows inferiorly
    q = quantify(CTVolume(flipped_img, SPACING, direction=direction), flipped_lungs)
    assert q.zones["right"]["upper"] > 0.01
    assert q.zones["right"]["lower"] < 0.001
    # the same array read as identity direction puts the lesion at the bottom
    q_wrong = quantify(flipped_img, flipped_lungs, SPACING)
    assert q_wrong.zones["right"]["lower"] > 0.01 and q_wrong.zones["right"]["upper"] < 0.001
    assert q.lesion_volume_ml == pytest.approx(q_wrong.lesion_volume_ml)


@pytest.mark.parametrize(
    ("fraction", "expected"),
    [
        (0.0, "CT-0"),
        (0.000999, "CT-0"),
        (0.001, "CT-1"),
        (0.2499, "CT-1"),
        (0.25, "CT-2"),
        (0.5, "CT-2"),
        (0.5001, "CT-3"),
        (0.75, "CT-3"),
        (0.7501, "CT-4"),
        (1.0, "CT-4"),
    ],
)
def test_ct_category_boundaries(fraction, expected):
    assert ct_category(fraction) == expected


def test_ct_category_options_and_bad_values():
    assert ct_category(0.004, ct0_max_fraction=0.005) == "CT-0"
    assert ct_category(0.004, ct0_max_fraction=0.0) == "CT-1"
    assert ct_category(0.0, ct0_max_fraction=0.0) == "CT-1"
    for bad in (-0.1, 1.5, float("nan")):
        with pytest.raises(InvalidInputError):
            ct_category(bad)


def test_bad_inputs_raise(normal_chest):
    img, lungs = normal_chest.image, normal_chest.lungs
    with pytest.raises(GeometryMismatchError, match="does not match"):
        quantify(img, lungs[:-1], SPACING)
    bad = lungs.copy()
    bad[0, 0, 0] = 3
    with pytest.raises(InvalidInputError, match="0 \\(background\\), 1 \\(right\\), 2 \\(left\\)"):
        quantify(img, bad, SPACING)
    with pytest.raises(InvalidInputError, match="non-integer"):
        quantify(img, lungs.astype(np.float32) * 0.5, SPACING)
    with pytest.raises(InvalidInputError, match="no lung voxels"):
        quantify(img, np.zeros_like(lungs), SPACING)
    with pytest.raises(InvalidInputError, match="spacing"):
        quantify(img, lungs)
    with pytest.raises(InvalidInputError, match="is_hu=False"):
        quantify(CTVolume(img, SPACING, is_hu=False), lungs)
    with pytest.raises(InvalidInputError, match="disagrees"):
        quantify(CTVolume(img, SPACING), lungs, (1.0, 1.0, 1.0))
    with pytest.raises(InvalidInputError):
        QuantOptions(ggo_hu=(-300.0, -750.0))
    with pytest.raises(InvalidInputError):
        QuantOptions(opening_radius_mm=-1.0)


def test_inputs_unchanged_and_dict_round_trip(lesion_chest):
    img, lungs = lesion_chest.image.copy(), lesion_chest.lungs.copy()
    opts = QuantOptions(min_component_ml=0.2)
    q = quantify(lesion_chest.image, lesion_chest.lungs, SPACING, options=opts)
    np.testing.assert_array_equal(img, lesion_chest.image)
    np.testing.assert_array_equal(lungs, lesion_chest.lungs)
    assert isinstance(q, LesionQuantification) and q.options is opts
    d = q.to_dict()
    assert set(d) == {
        "lung_volume_ml",
        "lesion_volume_ml",
        "lesion_fraction",
        "ggo_fraction",
        "consolidation_fraction",
        "ggo_volume_ml",
        "consolidation_volume_ml",
        "right",
        "left",
        "ct_category",
        "zones",
        "options",
        "warnings",
        "outline_consolidated",
    }
    back = json.loads(json.dumps(d))
    assert back == d
    assert back["options"]["min_component_ml"] == 0.2
    assert back["right"]["ggo_volume_ml"] == pytest.approx(q.right.ggo_volume_ml)
    assert back["zones"]["left"] == q.zones["left"]
    # same input, same output
    q2 = quantify(lesion_chest.image, lesion_chest.lungs, SPACING, options=opts)
    np.testing.assert_array_equal(q.lesion_mask, q2.lesion_mask)
    # int16 input gives the same mask as float32 of the same values
    q3 = quantify(np.round(img).astype(np.int16), lungs, SPACING, options=opts)
    q4 = quantify(np.round(img).astype(np.float32), lungs, SPACING, options=opts)
    np.testing.assert_array_equal(q3.lesion_mask, q4.lesion_mask)


def test_distance_transform_of_a_full_mask_is_invalid_input():
    from covidct.lesions.detect import _edt

    with pytest.raises(InvalidInputError, match="at least one background voxel"):
        _edt(np.ones((3, 4, 4), bool), (1.0, 1.0, 1.0))


@pytest.mark.parametrize("axes", [(1, 2), (0, 1, 2)], ids=["RAS", "RAS head first"])
def test_the_detector_sees_a_file_stored_in_ras_laid_the_standard_way(lesion_chest, axes, monkeypatch):
    """The detector assumes the DICOM order (its hila lie between the right lung's last x and
    the left lung's first): a CT stored in RAS, or head first too, reaches it laid that way and
    its mask comes back on the file's grid. A stand-in detector that marks the lung voxels of
    the low-x, front, feet-side corner shows where it looked."""
    import importlib

    quantify_module = importlib.import_module("covidct.lesions.quantify")  # the module, not the function

    def corner(array, labels, spacing, options=None):
        z, y, x = (np.arange(n)[:, None, None] for n in array.shape)
        return ((labels > 0) & (x.reshape(1, 1, -1) < array.shape[2] // 2)
                & (y.reshape(1, -1, 1) < array.shape[1] // 2) & (z < array.shape[0] // 2)).astype(np.uint8)

    monkeypatch.setattr(quantify_module, "detect_lesions", corner)
    c = lesion_chest
    d = np.eye(3)
    d[:, [2 - a for a in axes]] *= -1  # direction columns of array axes z, y, x: 2, 1, 0
    flip = lambda a: np.ascontiguousarray(np.flip(a, axes))
    a = quantify(CTVolume(c.image, c.spacing), c.lungs)
    b = quantify(CTVolume(flip(c.image), c.spacing, direction=tuple(d.ravel())), flip(c.lungs))
    assert a.lesion_mask.any() and np.array_equal(np.flip(b.lesion_mask, axes), a.lesion_mask)
    assert b.lesion_fraction == a.lesion_fraction and b.zones == a.zones


def test_a_reformat_gets_the_lesions_of_the_axial_series(lesion_chest, reformat):
    """The chest stored as coronal or sagittal slices (the direction saying so) is quantified
    laid as an axial series: the same lesion mask (on the reformat's grid), numbers and
    warnings (before: the detector's in-plane steps ran on coronal slices)."""
    c = lesion_chest
    a = quantify(CTVolume(c.image, c.spacing), c.lungs)
    b = quantify(reformat.volume(CTVolume(c.image, c.spacing)), reformat.mask(c.lungs))
    assert b.lesion_mask.shape != a.lesion_mask.shape
    assert a.lesion_mask.any() and np.array_equal(reformat.back(b.lesion_mask), a.lesion_mask)
    assert (b.lesion_fraction, b.zones, b.warnings) == (a.lesion_fraction, a.zones, a.warnings)
    given = quantify(reformat.volume(CTVolume(c.image, c.spacing)), reformat.mask(c.lungs),
                     lesion_mask=reformat.mask(a.lesion_mask))
    assert np.array_equal(given.lesion_mask, b.lesion_mask)
