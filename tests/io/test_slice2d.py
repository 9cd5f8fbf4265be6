"""A single 2D image (one DICOM slice, JPEG 2000 DICOM, PNG) is a valid input of ``covidct info``."""

from __future__ import annotations

import json

import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file
from typer.testing import CliRunner

from covidct.cli.app import app
from covidct.datasets._common import write_png
from covidct.errors import InvalidInputError
from covidct.io.slice2d import describe_slice, is_single_slice, read_slice


def _file(name: str) -> str:
    path = get_testdata_file(name, download=False)
    if path is None:
        pytest.skip(f"pydicom test file {name} not installed")
    return path


def test_single_dicom_slice_in_hu():
    path = _file("CT_small.dcm")
    ds = pydicom.dcmread(path)
    s = read_slice(path)
    expected = ds.pixel_array * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
    assert s.is_hu and np.array_equal(s.array, expected.astype(np.float32))
    assert s.spacing == tuple(float(v) for v in ds.PixelSpacing)
    d = describe_slice(s)
    assert d["shape_yx"] == [128, 128] and d["values"]["unit"] == "HU"


@pytest.mark.parametrize("name", ["693_J2KI.dcm", "J2K_pixelrep_mismatch.dcm"])
def test_jpeg2000_dicom_decodes(name):
    s = read_slice(_file(name))
    assert s.array.shape == (512, 512) and s.is_hu
    assert s.metadata["transfer_syntax"].startswith("1.2.840.10008.1.2.4.9")
    assert -1100 < float(np.median(s.array)) < 100  # air / soft tissue, not garbage


def test_missing_decoder_names_the_extra(monkeypatch):
    path = _file("693_J2KI.dcm")

    def fail(self):
        raise RuntimeError("no plugin can decode JPEG 2000")

    monkeypatch.setattr(pydicom.dataset.Dataset, "pixel_array", property(fail))
    with pytest.raises(InvalidInputError, match="dicom-codecs"):
        read_slice(path)


def test_png_and_cli_info(tmp_path):
    grey = (np.arange(40 * 30) % 256).astype(np.uint8).reshape(40, 30)
    write_png(grey, tmp_path / "s.png")
    assert is_single_slice(tmp_path / "s.png") and not is_single_slice(tmp_path)
    res = CliRunner().invoke(app, ["info", str(tmp_path / "s.png"), "--json"])
    assert res.exit_code == 0, res.output
    info = json.loads(res.output)
    assert info["shape_yx"] == [40, 30] and info["values"]["max"] == 255.0
    res = CliRunner().invoke(app, ["info", _file("CT_small.dcm"), "--json"])
    assert res.exit_code == 0 and json.loads(res.output)["kind"] == "2D slice"
    (tmp_path / "junk.dcm").write_bytes(b"nothing")
    with pytest.raises(InvalidInputError):
        read_slice(tmp_path / "junk.dcm")
