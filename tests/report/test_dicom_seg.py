"""DICOM SEG: read back with highdicom and pydicom, equal to the masks, any file order."""

from __future__ import annotations

import random
import shutil

import highdicom as hd
import numpy as np
import pydicom
import pytest

from covidct.errors import InvalidInputError
from covidct.io import read_ct, read_mask
from covidct.io.dicom_write import write_dicom_series
from covidct.report import AnalyzeOptions, analyze_to_folder
from covidct.report.dicom_seg import SEGMENTS


@pytest.fixture(scope="module")
def shuffled_dicom(sim_case, tmp_path_factory):
    """The simulated case as a DICOM series whose file names run in a random slice order."""
    ordered = tmp_path_factory.mktemp("dcm_ordered") / "series"
    files = write_dicom_series(sim_case.volume, ordered, patient_id="SIM^COVID")
    shuffled = tmp_path_factory.mktemp("dcm_shuffled") / "series"
    shuffled.mkdir()
    names = [f"IM{i:04d}" for i in range(len(files))]
    random.Random(7).shuffle(names)
    for f, name in zip(files, names):
        shutil.copy(f, shuffled / name)
    return shuffled


@pytest.fixture(scope="module")
def seg_report(shuffled_dicom, tmp_path_factory):
    out = tmp_path_factory.mktemp("seg") / "report"
    opts = AnalyzeOptions(model="", dicom_seg=True)
    return analyze_to_folder(shuffled_dicom, out, options=opts)


def test_seg_round_trip_equals_masks(seg_report, shuffled_dicom):
    ct = read_ct(shuffled_dicom)
    lungs = read_mask(seg_report.files["lungs"], ct)
    lesions = read_mask(seg_report.files["lesions"], ct)
    assert lungs.any() and lesions.any()
    # source SOP instance UIDs in the CT's z order, from their positions
    sources = [pydicom.dcmread(p, stop_before_pixels=True) for p in sorted(shuffled_dicom.iterdir())]
    normal = np.cross(*np.asarray(sources[0].ImageOrientationPatient, float).reshape(2, 3))
    sources.sort(key=lambda ds: float(np.asarray(ds.ImagePositionPatient, float) @ normal))
    uids = [ds.SOPInstanceUID for ds in sources]
    seg = hd.seg.segread(seg_report.files["dicom_seg"])
    assert seg.get_segment_numbers() == [1, 2, 3, 4]
    pixels = seg.get_pixels_by_source_instance(
        source_sop_instance_uids=uids, segment_numbers=[1, 2, 3, 4], combine_segments=False,
        ignore_spatial_locations=False, assert_missing_frames_are_empty=True)
    expected = np.stack([lungs == 1, lungs == 2, lesions == 1, lesions == 2], axis=-1)
    np.testing.assert_array_equal(pixels.astype(bool), expected)


def test_seg_tags_with_pydicom(seg_report, shuffled_dicom):
    ds = pydicom.dcmread(seg_report.files["dicom_seg"])
    src = pydicom.dcmread(next(shuffled_dicom.iterdir()), stop_before_pixels=True)
    assert ds.Modality == "SEG" and ds.SegmentationType == "BINARY"
    assert ds.StudyInstanceUID == src.StudyInstanceUID
    assert ds.ReferencedSeriesSequence[0].SeriesInstanceUID == src.SeriesInstanceUID
    segs = {int(s.SegmentNumber): s for s in ds.SegmentSequence}
    for number, (label, category, kind) in SEGMENTS.items():
        item = segs[number]
        assert item.SegmentLabel == label
        assert item.SegmentedPropertyCategoryCodeSequence[0].CodeValue == category[0]
        assert item.SegmentedPropertyTypeCodeSequence[0].CodeValue == kind[0]
        assert item.SegmentedPropertyTypeCodeSequence[0].CodingSchemeDesignator == kind[1]


def test_seg_refused_for_non_dicom_before_work(sim_nifti, tmp_path):
    with pytest.raises(InvalidInputError, match="DICOM"):
        analyze_to_folder(sim_nifti, tmp_path / "r", options=AnalyzeOptions(model="", dicom_seg=True))
    assert not (tmp_path / "r").exists()
