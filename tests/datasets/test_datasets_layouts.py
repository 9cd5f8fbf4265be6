"""Round trips of every layout: write -> detect_layout -> read -> same patients, labels, pixels."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from covidct.datasets import detect_layout, read_dataset, resolve_path, uint8_to_hu, write_dataset
from covidct.datasets._common import (
    FINDING_SHARE,
    hu_to_uint8,
    lung_slice_indices,
    pick_slices,
    read_png,
)
from covidct.datasets.cncb import cncb_mask
from covidct.datasets.covidx import write_covidx_ct
from covidct.datasets.ictcf import write_ictcf
from covidct.errors import InvalidInputError
from covidct.io import read_ct, read_mask

LAYOUT_NAMES = ["plain", "mosmed", "ictcf", "cncb-seg", "covidx-ct", "ucsd"]


@pytest.mark.parametrize("layout", LAYOUT_NAMES)
def test_round_trip_detect_and_read(tmp_path, tiny_cases, layout):
    out = tmp_path / layout
    slices = layout in ("cncb-seg", "covidx-ct", "ucsd")
    # cncb-seg: 3 = one per diagnosis; covidx-ct/ucsd need 2 patients per class (train+test)
    cases = tiny_cases[:3] if layout == "cncb-seg" else tiny_cases
    written = write_dataset(cases, out, layout, seed=3)
    assert detect_layout(out) == layout
    table = read_dataset(out)
    pd.testing.assert_frame_equal(table, written)
    assert (table["layout"] == layout).all()
    assert table["case_id"].is_unique
    assert set(table["patient_id"]) == (
        {c.patient_id for c in cases} if slices else set(table["patient_id"])
    )
    assert table["patient_id"].nunique() == len(cases)
    for path in table["image"]:
        assert resolve_path(out, path).is_file() or resolve_path(out, path).is_dir()


def test_plain_round_trip_exact(tmp_path, tiny_cases):
    table = write_dataset(tiny_cases, tmp_path / "p", "plain")
    assert table["patient_id"].tolist() == [c.patient_id for c in tiny_cases]
    assert table["case_id"].tolist() == [c.case_id for c in tiny_cases]
    for row, case in zip(table.itertuples(), tiny_cases, strict=True):
        for key in ("diagnosis", "ct_positive", "nat_positive", "severity", "ct_category"):
            assert getattr(row, key) == case.labels[key]
        assert row.age == case.labels["age"] and row.sex == case.labels["sex"]
        vol = read_ct(tmp_path / "p" / row.image)
        np.testing.assert_array_equal(vol.array, case.volume.array)
        np.testing.assert_allclose(vol.spacing, case.volume.spacing, rtol=1e-6)
        ref = case.volume
        np.testing.assert_array_equal(read_mask(tmp_path / "p" / row.lung_mask, ref), case.lungs)
        np.testing.assert_array_equal(
            read_mask(tmp_path / "p" / row.lesion_mask, ref), case.lesions
        )


def test_mosmed_categories_and_masks(tmp_path, tiny_cases):
    table = write_dataset(tiny_cases, tmp_path / "m", "mosmed")
    assert table["case_id"].tolist() == [f"study_{i:04d}" for i in range(1, 7)]
    assert table["ct_category"].tolist() == [c.labels["ct_category"] for c in tiny_cases]
    for row, case in zip(table.itertuples(), tiny_cases, strict=True):
        assert row.image.startswith(f"studies/{case.labels['ct_category']}/")
        np.testing.assert_array_equal(read_ct(tmp_path / "m" / row.image).array, case.volume.array)
        mask = read_mask(tmp_path / "m" / row.lesion_mask, case.volume)
        np.testing.assert_array_equal(mask, (case.lesions > 0).astype(np.uint8))


@pytest.mark.parametrize("zipped", [False, True])
def test_ictcf_labels_and_series(tmp_path, tiny_cases, zipped):
    cases = tiny_cases[:3]
    table = write_ictcf(cases, tmp_path / "i", zipped=zipped)
    assert detect_layout(tmp_path / "i") == "ictcf"
    assert table["patient_id"].tolist() == ["1", "2", "3"]
    suffix = ".zip" if zipped else ""
    assert table["image"].tolist() == [f"Patient {k}{suffix}" for k in (1, 2, 3)]
    for row, case in zip(table.itertuples(), cases, strict=True):
        assert row.ct_positive == case.labels["ct_positive"]
        assert row.nat_positive == case.labels["nat_positive"]
        assert row.severity == case.labels["severity"]
        assert row.morbidity == case.labels["morbidity"] and row.sex == case.labels["sex"]
    vol = read_ct(tmp_path / "i" / table["image"][0])
    np.testing.assert_array_equal(vol.array, cases[0].volume.array)
    np.testing.assert_allclose(vol.spacing, cases[0].volume.spacing, rtol=1e-4)


def test_cncb_slices_masks_and_values(tmp_path, tiny_cases):
    cases = tiny_cases[3:]
    table = write_dataset(cases, tmp_path / "c", "cncb-seg")
    expected = sum(len(lung_slice_indices(c.lungs)) for c in cases)
    assert len(table) == expected
    assert sorted(table["patient_id"].unique()) == sorted(c.patient_id for c in cases)
    row = table.iloc[len(table) // 2]
    image = read_png(tmp_path / "c" / row["image"])
    mask = read_png(tmp_path / "c" / row["lesion_mask"])
    assert image.shape == mask.shape == (512, 512)
    assert set(np.unique(mask)) <= {0, 1, 2, 3}
    # 64 x 64 isotropic slices are upsampled x8: averaging the 4 output pixels around each
    # input pixel centre gives back the HU within interpolation + 8-bit error
    case = next(c for c in cases if c.patient_id == row["patient_id"])
    z = int(row["slice_index"])
    assert case.volume.shape[1:] == (64, 64) and case.volume.spacing[1] == case.volume.spacing[2]
    a = image.astype(float)
    back = uint8_to_hu((a[3::8, 3::8] + a[3::8, 4::8] + a[4::8, 3::8] + a[4::8, 4::8]) / 4)
    original = case.volume.array[z].astype(float)
    inside = (original > -1300) & (original < 100)
    err = np.abs(back - original)[inside]
    assert np.median(err) < 5.0 and np.percentile(err, 95) < 40.0
    # the lung field of the mask sits where the lungs are
    np.testing.assert_array_equal(mask[4::8, 4::8] > 0, case.lungs[z] > 0)


def test_cncb_exact_on_512_grid(tmp_path, square_case):
    table = write_dataset([square_case], tmp_path / "c", "cncb-seg")
    assert len(table) == 3 and (table["patient_id"] == "PSQ_1").all()
    for z, row in enumerate(table.itertuples()):
        image = read_png(tmp_path / "c" / row.image)
        np.testing.assert_array_equal(image, hu_to_uint8(square_case.volume.array[z]))
        err = np.abs(uint8_to_hu(image) - square_case.volume.array[z])
        assert err.max() <= 1500 / 255 / 2 + 1e-3
        mask = read_png(tmp_path / "c" / row.lesion_mask)
        np.testing.assert_array_equal(mask, cncb_mask(square_case.lungs[z], square_case.lesions[z]))


def test_covidx_classes_splits_boxes(tmp_path, tiny_cases):
    table = write_dataset(tiny_cases, tmp_path / "x", "covidx-ct", seed=1)
    expected_class = {
        c.patient_id: ("control", "pneumonia", "covid").index(c.labels["diagnosis"])
        for c in tiny_cases
    }
    assert table.groupby("patient_id")["class_id"].unique().map(list).to_dict() == {
        p: [k] for p, k in expected_class.items()
    }
    assert ((table["covid"] == 1) == (table["class_id"] == 2)).all()
    assert table.groupby("patient_id")["split"].nunique().max() == 1
    assert set(table["split"]) <= {"train", "val", "test"}
    assert ((0 <= table["xmin"]) & (table["xmin"] < table["xmax"]) & (table["xmax"] <= 512)).all()
    assert ((0 <= table["ymin"]) & (table["ymin"] < table["ymax"]) & (table["ymax"] <= 512)).all()
    name = table["image"].iloc[0].split("/")[-1]
    prefix = ("Normal", "CP", "NCP")[int(table["class_id"].iloc[0])]
    assert name.startswith(prefix + "_" + table["patient_id"].iloc[0] + "_1_")
    line = (tmp_path / "x" / f"{table['split'].iloc[0]}_COVIDx_CT.txt").read_text().splitlines()[0]
    assert len(line.split()) == 6


def test_ucsd_patients_from_names(tmp_path, tiny_cases):
    table = write_dataset(tiny_cases, tmp_path / "u", "ucsd", seed=0)
    assert len(table) == 2 * len(tiny_cases)
    covid_patients = {c.patient_id for c in tiny_cases if c.labels["diagnosis"] == "covid"}
    assert set(table.loc[table["covid"] == 1, "patient_id"]) == covid_patients
    assert (table["class_id"] == table["covid"]).all()
    assert table.groupby("patient_id")["split"].nunique().max() == 1
    assert (table["split"] != "").all()
    image = read_png(tmp_path / "u" / table["image"].iloc[0])
    assert image.shape == (64, 64)


def test_ucsd_pick_slices_known_answers():
    lungs = np.zeros((10, 4, 4), np.uint8)
    lungs[1:9] = 1  # lung slices z = 1..8
    lesions = np.zeros_like(lungs)
    lesions[5, :2, :2] = 1  # 4 px: the largest lesion slice
    lesions[6, 0, :2] = 1  # 2 px >= 25 % of 4
    lesions[2, 0, 0] = 1  # 1 px = 25 % of 4, kept (threshold inclusive)
    assert pick_slices(lungs, lesions, 2) == [2, 6]  # middles of 2 runs of [2, 5, 6]
    assert pick_slices(lungs, lesions, 1) == [5]
    assert pick_slices(lungs, lesions, 5) == [2, 5, 6]  # fewer when fewer show findings
    assert pick_slices(lungs, lesions, 2, pick="even") == [3, 7]  # middles of z 1-4, 5-8
    assert pick_slices(lungs, np.zeros_like(lungs), 2) == [3, 7]  # no lesion: lung slices
    with pytest.raises(InvalidInputError, match="unknown slice pick"):
        pick_slices(lungs, lesions, 2, pick="random")


def test_pick_slices_all_and_bad_count():
    lungs = np.zeros((10, 4, 4), np.uint8)
    lungs[1:9] = 1
    lesions = np.zeros_like(lungs)
    lesions[5, :2, :2] = 1  # 4 px
    lesions[6, 0, :2] = 1  # 2 px, kept
    lesions[3, 0, 0] = 1  # 1 px = 25 %, kept
    lesions[7, 3, 3] = 1
    lesions[7, 3, 2] = 1  # 2 px, kept
    assert pick_slices(lungs, lesions, None) == [3, 5, 6, 7]  # all slices showing findings
    assert pick_slices(lungs, np.zeros_like(lungs), None) == list(range(1, 9))  # all lung
    with pytest.raises(InvalidInputError, match=">= 1"):
        pick_slices(lungs, lesions, 0)


def test_covidx_slices_show_findings(tmp_path, tiny_cases):
    """COVIDx-CT keeps every slice showing findings of a case with lesions, every lung slice
    of a case without; ``slices_per_case`` keeps that many of them."""
    table = write_dataset(tiny_cases, tmp_path / "x", "covidx-ct", seed=0)
    written = table.groupby("patient_id")["slice_index"].apply(lambda s: sorted(map(int, s)))
    limited = write_covidx_ct(tiny_cases, tmp_path / "y", slices_per_case=2, seed=0)
    limited = limited.groupby("patient_id")["slice_index"].apply(lambda s: sorted(map(int, s)))
    with_lesions = 0
    for case in tiny_cases:
        lesion_px = (case.lesions > 0).reshape(len(case.lesions), -1).sum(1)
        if lesion_px.max() > 0:
            expected = np.flatnonzero(lesion_px >= FINDING_SHARE * lesion_px.max()).tolist()
            assert len(expected) < len(lung_slice_indices(case.lungs))  # a real selection
            with_lesions += 1
        else:
            expected = lung_slice_indices(case.lungs)
        assert written[case.patient_id] == expected
        assert len(limited[case.patient_id]) == min(2, len(expected))
        assert set(limited[case.patient_id]) <= set(expected)
    assert with_lesions >= 4  # the covid and pneumonia cases


def test_ucsd_covid_slices_show_findings(tmp_path, tiny_cases):
    """Every exported slice of a case with lesions holds lesion pixels (UCSD shows findings)."""
    table = write_dataset(tiny_cases, tmp_path / "u", "ucsd", seed=0)
    by_patient = {c.patient_id: c for c in tiny_cases}
    checked = 0
    for row in table.itertuples():
        case = by_patient[row.patient_id]
        if case.lesions.any():
            z = int(row.slice_index)
            share = (case.lesions[z] > 0).sum() / (case.lesions > 0).reshape(len(case.lesions), -1).sum(1).max()
            assert share >= FINDING_SHARE
            checked += 1
    assert checked >= 4  # the covid and pneumonia cases


def test_writer_refuses_non_empty_folder(tmp_path, tiny_cases):
    (tmp_path / "keep.txt").write_text("mine")
    with pytest.raises(InvalidInputError, match="not empty"):
        write_dataset(tiny_cases[:1], tmp_path, "plain")
    assert (tmp_path / "keep.txt").read_text() == "mine"


def test_unknown_layout_name(tmp_path, tiny_cases):
    with pytest.raises(InvalidInputError, match="unknown dataset layout 'nifti'"):
        write_dataset(tiny_cases[:1], tmp_path / "o", "nifti")


def test_detect_layout_lists_what_it_looked_for(tmp_path):
    (tmp_path / "random.txt").write_text("x")
    with pytest.raises(InvalidInputError) as err:
        detect_layout(tmp_path)
    for expected in ("Patients.xlsx", "imgs/", "COVIDx", "CT_COVID/", "studies/", "cases.csv"):
        assert expected in str(err.value)


@pytest.mark.parametrize("layout", ["plain", "covidx-ct"])
def test_writers_leave_cases_unchanged(tmp_path, square_case, layout):
    before = (square_case.volume.array.copy(), square_case.lungs.copy(), square_case.lesions.copy())
    labels = dict(square_case.labels)
    write_dataset([square_case], tmp_path / layout, layout)
    np.testing.assert_array_equal(square_case.volume.array, before[0])
    np.testing.assert_array_equal(square_case.lungs, before[1])
    np.testing.assert_array_equal(square_case.lesions, before[2])
    assert dict(square_case.labels) == labels


def test_cncb_slices_of_a_file_stored_in_ras_are_those_of_dicom_order(tmp_path, tiny_cases):
    """A case stored in RAS (x and y flipped, the direction saying so) writes the PNGs of the
    DICOM-order case: training slices lie front up, the patient's right on the left."""
    import dataclasses

    case = tiny_cases[5]
    flip = lambda a: np.ascontiguousarray(a[:, ::-1, ::-1])
    vol = dataclasses.replace(case.volume, array=flip(case.volume.array),
                              direction=(-1.0, 0, 0, 0, -1.0, 0, 0, 0, 1.0))
    ras = dataclasses.replace(case, volume=vol, lungs=flip(case.lungs), lesions=flip(case.lesions))
    a = write_dataset([case], tmp_path / "lps", "cncb-seg")
    b = write_dataset([ras], tmp_path / "ras", "cncb-seg")
    assert len(a) == len(b) > 0
    for ra, rb in zip(a.itertuples(), b.itertuples(), strict=True):
        for col in ("image", "lesion_mask"):
            assert (tmp_path / "lps" / getattr(ra, col)).read_bytes() == (tmp_path / "ras" / getattr(rb, col)).read_bytes()


@pytest.mark.parametrize("layout", ["cncb-seg", "ucsd", "covidx-ct"])
def test_slices_of_a_reformat_are_those_of_its_axial_series(tmp_path, tiny_cases, reformat, layout):
    """A case stored as coronal or sagittal slices exports the axial series' PNGs, under the
    same names (before: coronal slices)."""
    import dataclasses

    stored = [dataclasses.replace(c, volume=reformat.volume(c.volume), lungs=reformat.mask(c.lungs),
                                  lesions=reformat.mask(c.lesions)) for c in tiny_cases]
    write_dataset(tiny_cases, tmp_path / "axial", layout)
    write_dataset(stored, tmp_path / "reformat", layout)
    files = sorted(p.relative_to(tmp_path / "axial") for p in (tmp_path / "axial").rglob("*.png"))
    assert files and files == sorted(p.relative_to(tmp_path / "reformat")
                                     for p in (tmp_path / "reformat").rglob("*.png"))
    for name in files:
        assert (tmp_path / "axial" / name).read_bytes() == (tmp_path / "reformat" / name).read_bytes()
