"""Tests of the chest-CT phantom: geometry, masks, labels, proportions, determinism, HU."""

from __future__ import annotations

import time
from collections import Counter

import numpy as np
import pytest
from scipy import ndimage as ndi

from covidct.errors import InvalidInputError
from covidct.phantom import (
    MORBIDITIES,
    SIZE_PRESETS,
    PhantomOptions,
    SimulatedCase,
    ct_category,
    simulate_case,
    simulate_cohort,
)
from covidct.phantom.labels import draw_case

LABEL_KEYS = {"diagnosis", "ct_positive", "nat_positive", "severity", "morbidity", "age", "sex",
              "lesion_fraction", "ct_category"}


@pytest.fixture(scope="module")
def tiny_cases() -> dict[str, SimulatedCase]:
    return {d: simulate_case(11, diagnosis=d, size="tiny") for d in ("control", "pneumonia", "covid")}


def _check_case(case: SimulatedCase, shape: tuple[int, int, int]) -> None:
    vol = case.volume
    assert vol.shape == shape
    assert vol.array.dtype == np.int16 and vol.is_hu
    assert vol.direction == (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0)
    assert case.lungs.shape == shape and case.lungs.dtype == np.uint8
    assert case.lesions.shape == shape and case.lesions.dtype == np.uint8
    assert set(np.unique(case.lungs)) == {0, 1, 2}
    assert set(np.unique(case.lesions)) <= {0, 1, 2}
    assert not np.any((case.lesions > 0) & (case.lungs == 0)), "lesions outside the lungs"
    # right lung (label 1) lies on the -x side (low x index in LPS with identity direction)
    xs = np.arange(shape[2])
    x_right = (case.lungs == 1).sum(axis=(0, 1)) @ xs / (case.lungs == 1).sum()
    x_left = (case.lungs == 2).sum(axis=(0, 1)) @ xs / (case.lungs == 2).sum()
    assert x_right < shape[2] / 2 < x_left
    # right lung larger than the left
    assert (case.lungs == 1).sum() > (case.lungs == 2).sum()
    # HU range and slice 0 most inferior: the lung apices are near the top, liver at the bottom
    assert vol.array.min() >= -1024 and vol.array.max() <= 3071
    zs = np.flatnonzero(case.lungs.any(axis=(1, 2)))
    assert zs.max() > 0.75 * shape[0] and zs.min() < 0.35 * shape[0]
    # physical lung volume plausible for an adult (mL)
    lung_ml = (case.lungs > 0).sum() * vol.voxel_volume_ml
    assert 1500 < lung_ml < 8000


@pytest.mark.parametrize("diagnosis", ["control", "pneumonia", "covid"])
def test_tiny_geometry_and_masks(tiny_cases, diagnosis):
    _check_case(tiny_cases[diagnosis], SIZE_PRESETS["tiny"].shape)


def test_small_geometry():
    case = simulate_case(3, size="small", diagnosis="covid")
    _check_case(case, SIZE_PRESETS["small"].shape)
    sz, sy, sx = case.volume.spacing
    assert sy == sx and 2.4 <= sx <= 4.5 and 3.0 <= sz <= 6.0


def test_preset_shapes():
    assert SIZE_PRESETS["tiny"].shape == (32, 64, 64)
    assert SIZE_PRESETS["small"].shape == (64, 128, 128)
    assert SIZE_PRESETS["medium"].shape == (96, 256, 256)
    assert SIZE_PRESETS["full"].shape == (100, 512, 512)
    assert SIZE_PRESETS["full"].pixel_mm == (0.6, 0.9)


def test_labels_domains_and_consistency(tiny_cases):
    for diagnosis, case in tiny_cases.items():
        lab = case.labels
        assert set(lab) == LABEL_KEYS
        assert lab["diagnosis"] == diagnosis
        assert lab["ct_positive"] in (0, 1) and lab["nat_positive"] in (0, 1)
        assert lab["severity"] in (0, 1, 2) and lab["morbidity"] in MORBIDITIES
        assert lab["sex"] in ("M", "F") and 18 <= lab["age"] <= 95
        frac = (case.lesions > 0).sum() / (case.lungs > 0).sum()
        assert lab["lesion_fraction"] == pytest.approx(frac, abs=1e-12)
        assert lab["ct_category"] == ct_category(frac)
        assert case.case_id == "sim-000011" and case.patient_id == "P000011"
    assert tiny_cases["control"].labels["lesion_fraction"] == 0.0
    assert tiny_cases["control"].labels["ct_category"] == "CT-0"
    assert tiny_cases["pneumonia"].labels["nat_positive"] == 0
    assert tiny_cases["covid"].labels["nat_positive"] == 1


def test_covid_is_bilateral_and_pneumonia_has_consolidation(tiny_cases):
    covid = tiny_cases["covid"]
    if covid.labels["lesion_fraction"] > 0:
        assert (covid.lesions[covid.lungs == 1] > 0).any()
        assert (covid.lesions[covid.lungs == 2] > 0).any()
    pn = tiny_cases["pneumonia"]
    assert (pn.lesions == 2).sum() > (pn.lesions == 1).sum() * 0.5
    # consolidation is much denser than ground glass
    hu = pn.volume.array
    core = ndi.binary_erosion(pn.lesions == 2)
    if core.any():
        assert np.median(hu[core]) > -300


def test_ct_category_thresholds():
    assert [ct_category(f) for f in (0.0, 0.1, 0.3, 0.6, 0.8)] == [
        "CT-0", "CT-1", "CT-2", "CT-3", "CT-4"]
    with pytest.raises(InvalidInputError):
        ct_category(1.5)


def test_label_marginals_match_ictcf():
    """Drawn labels reproduce the iCTCF marginals and the NAT/CT disagreement."""
    rng = np.random.default_rng(0)
    opts = PhantomOptions()
    n = 4000
    draws = [draw_case(rng, opts) for _ in range(n)]
    ct_pos = np.array([d.target_fraction > 0 for d in draws])
    nat = np.array([d.nat_positive for d in draws])
    sev = Counter(d.severity for d in draws)
    assert ct_pos.mean() == pytest.approx(998 / 1329, abs=0.03)
    assert nat.mean() == pytest.approx(761 / 1329, abs=0.03)
    assert sev[0] / n == pytest.approx(568 / 1329, abs=0.03)
    assert sev[1] / n == pytest.approx(562 / 1329, abs=0.03)
    assert sev[2] / n == pytest.approx(199 / 1329, abs=0.025)
    assert (ct_pos & (nat == 0)).mean() == pytest.approx(259 / 1329, abs=0.03)
    assert (~ct_pos & (nat == 1)).mean() == pytest.approx(22 / 1329, abs=0.01)


def test_cohort_marginals_and_all_ct_categories():
    """Over tiny cohort cases, measured labels follow the drawn class and CT-0..CT-4 occur."""
    opts = PhantomOptions(p_control=0.15, p_pneumonia=0.1, p_covid=0.75, p_covid_severe=0.6)
    cases = list(simulate_cohort(16, 7, size="tiny", options=opts))
    cats = Counter(c.labels["ct_category"] for c in cases)
    assert set(cats) == {"CT-0", "CT-1", "CT-2", "CT-3", "CT-4"}, cats
    for c in cases:
        assert c.labels["ct_positive"] == int(c.labels["lesion_fraction"] > 0)
        if c.labels["severity"] == 2:
            assert c.labels["lesion_fraction"] >= 0.2


def test_determinism_and_seed_dependence():
    a = simulate_case(5, size="tiny")
    b = simulate_case(5, size="tiny")
    c = simulate_case(6, size="tiny")
    assert np.array_equal(a.volume.array, b.volume.array)
    assert np.array_equal(a.lungs, b.lungs) and np.array_equal(a.lesions, b.lesions)
    assert dict(a.labels) == dict(b.labels)
    assert not np.array_equal(a.volume.array, c.volume.array)


def test_cohort_independent_of_workers():
    one = list(simulate_cohort(2, 3, size="tiny", workers=1))
    two = list(simulate_cohort(2, 3, size="tiny", workers=2))
    assert [c.case_id for c in one] == ["sim-000000", "sim-000001"]
    for x, y in zip(one, two):
        assert np.array_equal(x.volume.array, y.volume.array)
        assert np.array_equal(x.lesions, y.lesions)


def test_control_hu_values(tiny_cases):
    case = tiny_cases["control"]
    hu = case.volume.array.astype(float)
    lung_core = ndi.binary_erosion(case.lungs > 0, iterations=1)
    assert np.median(hu[lung_core]) == pytest.approx(-850, abs=60)
    body = hu > -500
    body = np.stack([ndi.binary_fill_holes(s) for s in body])
    soft = body & (case.lungs == 0) & (hu > -200) & (hu < 200)
    assert 0 <= np.median(hu[soft]) <= 60
    fat = body & (hu > -200) & (hu < -50)
    assert fat.sum() > 0.03 * body.sum()  # subcutaneous / mediastinal fat exists


def test_tiny_speed():
    t0 = time.perf_counter()
    simulate_case(21, size="tiny")
    assert time.perf_counter() - t0 < 3.0


def test_physics_mode_runs_on_tiny():
    case = simulate_case(2, size="tiny", diagnosis="control", options=PhantomOptions(physics=True))
    hu = case.volume.array.astype(float)
    lung_core = ndi.binary_erosion(case.lungs > 0, iterations=1)
    assert np.median(hu[lung_core]) == pytest.approx(-850, abs=80)
    assert case.volume.metadata["physics"] is True


def test_bad_input():
    with pytest.raises(InvalidInputError, match="size"):
        simulate_case(1, size="huge")
    with pytest.raises(InvalidInputError, match="diagnosis"):
        simulate_case(1, size="tiny", diagnosis="flu")
    with pytest.raises(InvalidInputError, match="seed"):
        simulate_case(-1)
    with pytest.raises(InvalidInputError, match="p_control"):
        PhantomOptions(p_control=2.0)
    with pytest.raises(InvalidInputError, match="workers"):
        list(simulate_cohort(1, 0, workers=0))


@pytest.mark.slow
def test_default_cohort_of_60_tiny_cases_covers_ct0_to_ct4():
    cats = Counter(c.labels["ct_category"] for c in simulate_cohort(60, 0, size="tiny"))
    assert set(cats) == {"CT-0", "CT-1", "CT-2", "CT-3", "CT-4"}, cats
