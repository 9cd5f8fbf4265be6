"""The real sample CTs: reading, DICOM round trip, describe."""

from __future__ import annotations

import numpy as np
import pytest

from covidct.io import describe, read_ct, write_dicom_series

pytestmark = pytest.mark.realct


@pytest.fixture(scope="module")
def lung1(real_ct_paths):
    return read_ct(real_ct_paths["lung1"])


def test_lung1_reads(lung1):
    assert lung1.shape == (48, 512, 512)
    np.testing.assert_allclose(lung1.spacing, (5.0, 0.5703, 0.5703), atol=1e-3)
    assert lung1.array.dtype == np.int16 and lung1.is_hu
    assert -1030 <= lung1.array.min() <= -1000
    assert lung1.metadata["source_format"] == "nrrd"


def test_lung1_dicom_round_trip(lung1, tmp_path):
    files = write_dicom_series(lung1, tmp_path / "dcm", patient_id="LUNG1")
    assert len(files) == 48
    back = read_ct(tmp_path / "dcm")
    assert back.array.dtype == np.int16
    np.testing.assert_array_equal(back.array, lung1.array)
    np.testing.assert_allclose(back.spacing, lung1.spacing, atol=1e-6)
    np.testing.assert_allclose(back.origin, lung1.origin, atol=1e-5)
    np.testing.assert_allclose(back.direction, lung1.direction, atol=1e-9)
    assert back.metadata["patient_id"] == "LUNG1"


def test_lung1_describe(lung1):
    info = describe(lung1)
    assert info["orientation"] == "LPS"
    assert info["shape_zyx"] == [48, 512, 512]
    values = info["values"]
    assert values["min"] == float(lung1.array.min())
    assert values["max"] == float(lung1.array.max())
    assert values["mean"] == pytest.approx(float(lung1.array.mean()), rel=1e-9)
    # percentiles on a subsample: close to the full-array ones
    full = np.percentile(lung1.array, [1, 50, 99])
    assert values["p01"] == pytest.approx(full[0], abs=15)
    assert values["p50"] == pytest.approx(full[1], abs=15)
    assert values["p99"] == pytest.approx(full[2], abs=40)
