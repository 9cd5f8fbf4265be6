"""DICOM series: writer round trips, raw pydicom series, series choice, bad series."""

from __future__ import annotations

import locale

import logging
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pydicom
import pytest
import SimpleITK as sitk
from io_helpers import make_volume, write_raw_slice
from pydicom.uid import RLELossless

from covidct.errors import InvalidInputError
from covidct.io import CTVolume, read_ct, write_dicom_series


def _assert_same(a: CTVolume, b: CTVolume, *, atol: float = 1e-5) -> None:
    assert a.shape == b.shape
    np.testing.assert_array_equal(a.array, b.array)
    np.testing.assert_allclose(a.spacing, b.spacing, atol=atol)
    np.testing.assert_allclose(a.origin, b.origin, atol=atol)
    np.testing.assert_allclose(a.direction, b.direction, atol=1e-6)


def _shuffle_names(folder: Path, seed: int = 3) -> None:
    """Rename the files so that name order no longer follows slice order."""
    files = sorted(folder.glob("*.dcm"))
    perm = np.random.default_rng(seed).permutation(len(files))
    for f, k in zip(files, perm, strict=True):
        f.rename(folder / f"tmp_{k:03d}")
    for f in folder.glob("tmp_*"):
        f.rename(folder / f"slice_{f.name[4:]}.dcm")


# ------------------------------------------------------------------ round trips
def test_writer_round_trip_exact_hu_and_geometry(small_ct, tmp_path):
    files = write_dicom_series(small_ct, tmp_path / "s", patient_id="P7", series_description="t")
    assert len(files) == small_ct.shape[0]
    ds = pydicom.dcmread(files[0])
    assert ds.SOPClassUID == "1.2.840.10008.5.1.4.1.1.2" and ds.Modality == "CT"
    assert float(ds.RescaleIntercept) == -1024.0 and float(ds.RescaleSlope) == 1.0
    assert ds.BitsAllocated == 16 and ds.PixelRepresentation == 0
    np.testing.assert_allclose([float(v) for v in ds.PixelSpacing], [0.75, 0.625])
    back = read_ct(tmp_path / "s")
    assert back.array.dtype == np.int16
    _assert_same(back, small_ct)
    assert back.metadata["patient_id"] == "P7"
    assert back.metadata["source_format"] == "dicom"
    assert back.metadata["series_description"] == "t"
    assert back.metadata["slice_thickness_mm"] == pytest.approx(2.5)


def test_oblique_flipped_orientation_round_trip(oblique_ct, tmp_path):
    write_dicom_series(oblique_ct, tmp_path / "s")
    _shuffle_names(tmp_path / "s")
    back = read_ct(tmp_path / "s")
    _assert_same(back, oblique_ct)


def test_reader_agrees_with_simpleitk_gdcm(oblique_ct, tmp_path):
    write_dicom_series(oblique_ct, tmp_path / "s")
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(reader.GetGDCMSeriesFileNames(str(tmp_path / "s")))
    ref = reader.Execute()
    ours = read_ct(tmp_path / "s")
    np.testing.assert_array_equal(ours.array, sitk.GetArrayFromImage(ref))
    np.testing.assert_allclose(ours.spacing, ref.GetSpacing()[::-1], atol=1e-5)
    np.testing.assert_allclose(ours.origin, ref.GetOrigin(), atol=1e-5)
    np.testing.assert_allclose(ours.direction, ref.GetDirection(), atol=1e-6)


def test_values_below_intercept_use_signed_storage(tmp_path):
    vol = make_volume((3, 4, 5))
    arr = vol.array.copy()
    arr[0, 0, 0] = -3024  # outside-field value below the default intercept
    vol = vol.with_array(arr)
    files = write_dicom_series(vol, tmp_path / "s")
    assert pydicom.dcmread(files[0]).PixelRepresentation == 1
    np.testing.assert_array_equal(read_ct(tmp_path / "s").array, arr)


def test_rle_compressed_series(tmp_path):
    vol = make_volume((3, 9, 11), seed=5)
    files = write_dicom_series(vol, tmp_path / "rle", compress=True)
    assert pydicom.dcmread(files[0]).file_meta.TransferSyntaxUID == RLELossless
    _assert_same(read_ct(tmp_path / "rle"), vol)


def test_simpleitk_fallback_when_pydicom_cannot_decode(tmp_path, monkeypatch):
    vol = make_volume((3, 9, 11), seed=6)
    write_dicom_series(vol, tmp_path / "rle", compress=True)

    def refuse(self):  # as when the decoder plugin (e.g. pylibjpeg) is missing
        raise RuntimeError("no decoder available")

    monkeypatch.setattr(pydicom.dataset.Dataset, "pixel_array", property(refuse))
    _assert_same(read_ct(tmp_path / "rle"), vol)


def test_jpeg2000_written_by_gdcm_is_read(tmp_path):
    saved_locale = locale.setlocale(locale.LC_ALL)  # GDCM's writer sets the C locale
    folder = tmp_path / "j2k"
    folder.mkdir()
    rng = np.random.default_rng(2)
    hu = rng.integers(-1000, 1000, size=(3, 8, 8)).astype(np.int16)
    writer = sitk.ImageFileWriter()
    writer.SetImageIO("GDCMImageIO")
    writer.SetUseCompression(True)
    writer.SetCompressor("JPEG")  # JPEG Lossless: pydicom needs pylibjpeg, GDCM does not
    writer.KeepOriginalImageUIDOn()
    series = pydicom.uid.generate_uid()
    for k in range(3):
        img = sitk.GetImageFromArray(hu[k])
        img.SetSpacing((0.8, 0.8))
        for key, value in {
            "0008|0060": "CT",
            "0020|000e": series,
            "0020|000d": "1.2.3",
            "0020|0032": f"0\\0\\{2.0 * k}",
            "0020|0037": "1\\0\\0\\0\\1\\0",
            "0028|0030": "0.8\\0.8",
            "0020|0013": str(k + 1),
        }.items():
            img.SetMetaData(key, value)
        writer.SetFileName(str(folder / f"{k}.dcm"))
        writer.Execute(img)
    locale.setlocale(locale.LC_ALL, saved_locale)
    assert pydicom.dcmread(folder / "0.dcm").file_meta.TransferSyntaxUID.is_compressed
    back = read_ct(folder)
    np.testing.assert_array_equal(back.array, hu)
    np.testing.assert_allclose(back.spacing, (2.0, 0.8, 0.8), atol=1e-6)


# ------------------------------------------------------------- raw pydicom series
def _raw_series(
    folder: Path,
    *,
    n: int = 5,
    slope: float = 2.0,
    step: float = 1.25,
    series_uid: str = "1.2.3.4.5",
    modality: str = "CT",
    shape=(6, 7),
    seed: int = 0,
) -> np.ndarray:
    """n slices in shuffled file names; returns the stored (raw) values, z order."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    stored = rng.integers(0, 3000, size=(n, *shape)).astype(np.uint16)
    names = rng.permutation(n)
    for k in range(n):
        write_raw_slice(
            folder / f"x{names[k]:02d}",
            stored[k],
            position=(-5.0, 3.0, 40 + k * step),
            slope=slope,
            series_uid=series_uid,
            modality=modality,
            instance=k + 1,
        )
    return stored


def test_raw_series_slope_2_shuffled(tmp_path):
    stored = _raw_series(tmp_path / "raw", slope=2.0)
    vol = read_ct(tmp_path / "raw")
    assert vol.array.dtype == np.int16
    np.testing.assert_array_equal(vol.array, stored.astype(np.int32) * 2 - 1024)
    np.testing.assert_allclose(vol.spacing, (1.25, 0.7, 0.8))
    assert vol.origin == (-5.0, 3.0, 40.0)
    meta = vol.metadata
    assert meta["kernel"] == "B30f" and meta["manufacturer"] == "TestCo"
    assert meta["patient_id"] == "P001" and meta["modality"] == "CT"
    assert meta["slice_thickness_mm"] == 1.25 and meta["warnings"] == ()


def test_fractional_slope_gives_float32(tmp_path):
    stored = _raw_series(tmp_path / "raw", slope=0.5)
    vol = read_ct(tmp_path / "raw")
    assert vol.array.dtype == np.float32
    np.testing.assert_array_equal(vol.array, stored * 0.5 - 1024)


def test_two_series_pick_biggest_ct_or_named(tmp_path, caplog):
    _raw_series(tmp_path / "a", n=5, series_uid="1.1")
    _raw_series(tmp_path / "b", n=3, series_uid="2.2", seed=1)
    mr = _raw_series(tmp_path / "c", n=7, series_uid="3.3", modality="MR", seed=2)
    with caplog.at_level(logging.INFO, logger="covidct.io"):
        vol = read_ct(tmp_path)
    assert vol.metadata["series_uid"] == "1.1" and vol.shape[0] == 5
    assert "1.1" in caplog.text and "most slices" in caplog.text
    choice = {c["series_uid"]: c for c in vol.metadata["series_choice"]}
    assert set(choice) == {"1.1", "2.2", "3.3"}
    assert choice["1.1"]["chosen"] and not choice["2.2"]["chosen"]
    assert choice["3.3"]["modality"] == "MR" and choice["3.3"]["n_slices"] == 7
    assert read_ct(tmp_path, series_uid="2.2").shape[0] == 3
    with pytest.raises(InvalidInputError, match="not found"):
        read_ct(tmp_path, series_uid="9.9")
    with pytest.raises(InvalidInputError, match="not CT.*MR"):
        read_ct(tmp_path, series_uid="3.3")
    assert mr.shape[0] == 7


def test_mr_series_alone_is_refused(tmp_path):
    _raw_series(tmp_path / "mr", modality="MR")
    with pytest.raises(InvalidInputError, match="no CT series.*MR"):
        read_ct(tmp_path / "mr")


def test_zip_of_series_and_input_untouched(small_ct, tmp_path):
    files = write_dicom_series(small_ct, tmp_path / "s")
    archive = tmp_path / "series.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for f in files:
            zf.write(f, f"patient/{f.name}")
    before = archive.read_bytes()
    vol = read_ct(archive)
    _assert_same(vol, small_ct)
    assert archive.read_bytes() == before
    assert vol.metadata["source_path"] == str(archive.resolve())


# ------------------------------------------------------------------ bad series
@pytest.fixture
def series(small_ct, tmp_path) -> Path:
    write_dicom_series(small_ct, tmp_path / "s")
    return tmp_path / "s"


def test_missing_slice_names_positions(series):
    (series / "IM0003.dcm").unlink()
    with pytest.raises(
        InvalidInputError,
        match=r"gap of 5\.000 mm between positions -297\.625 "
        r"and -292\.625.*IM0002\.dcm, IM0004\.dcm",
    ):
        read_ct(series)


def test_duplicated_slice_names_both_files(series):
    shutil.copy(series / "IM0002.dcm", series / "copy.dcm")
    with pytest.raises(InvalidInputError, match="duplicated slice position") as info:
        read_ct(series)
    assert "IM0002.dcm" in str(info.value) and "copy.dcm" in str(info.value)


@pytest.mark.parametrize("keep", [200, 1000])
def test_truncated_file_is_named(series, keep):
    path = series / "IM0004.dcm"
    path.write_bytes(path.read_bytes()[:keep])
    with pytest.raises(InvalidInputError, match="truncated.*IM0004.dcm"):
        read_ct(series)


def test_non_image_files_are_ignored(series, small_ct):
    (series / "README.txt").write_text("not a DICOM")
    raw = (series / "IM0002.dcm").read_bytes()
    (series / "no_preamble").write_bytes(raw[132:])  # DICOM body without preamble/DICM
    sr = pydicom.dcmread(series / "IM0001.dcm", stop_before_pixels=True)
    sr.SOPClassUID = "1.2.840.10008.5.1.4.1.1.88.11"  # Basic Text SR
    sr.file_meta.MediaStorageSOPClassUID = sr.SOPClassUID
    for tag in ("Rows", "Columns"):
        delattr(sr, tag)
    sr.save_as(series / "report.dcm", enforce_file_format=True)
    _assert_same(read_ct(series), small_ct)


def test_uneven_spacing_warns(tmp_path, caplog):
    folder = tmp_path / "u"
    folder.mkdir()
    z = [0.0, 2.0, 4.0, 6.1, 8.0, 10.0]
    for k, pos in enumerate(z):
        write_raw_slice(folder / f"{k}.dcm", np.full((4, 4), 1000 + k), position=(0, 0, pos))
    with caplog.at_level(logging.WARNING, logger="covidct.io"):
        vol = read_ct(folder)
    assert vol.spacing[0] == pytest.approx(2.0)
    assert any("uneven slice spacing" in w for w in vol.metadata["warnings"])
    assert "uneven slice spacing" in caplog.text


def test_mixed_image_sizes(tmp_path):
    folder = tmp_path / "m"
    folder.mkdir()
    for k in range(3):
        shape = (4, 4) if k != 1 else (5, 4)
        write_raw_slice(folder / f"{k}.dcm", np.zeros(shape), position=(0, 0, k))
    with pytest.raises(InvalidInputError, match="mixed image sizes.*4x4.*5x4|mixed image.*5x4"):
        read_ct(folder)


def test_single_dicom_file_is_not_a_volume(series):
    with pytest.raises(InvalidInputError, match="single 2D DICOM image"):
        read_ct(series / "IM0001.dcm")


def test_list_of_files(series, small_ct):
    _assert_same(read_ct(sorted(series.glob("*.dcm"), reverse=True)), small_ct)


def test_writer_refuses_non_empty_folder(series, small_ct):
    with pytest.raises(InvalidInputError, match="new or empty"):
        write_dicom_series(small_ct, series)


def test_float_volume_is_quantised_with_slope(tmp_path):
    vol = make_volume((2, 5, 5), dtype=np.float32, seed=4)
    files = write_dicom_series(vol, tmp_path / "f")
    slope = float(pydicom.dcmread(files[0]).RescaleSlope)
    back = read_ct(tmp_path / "f")
    assert back.array.dtype == np.float32
    np.testing.assert_allclose(back.array, vol.array, atol=slope / 2 + 1e-3)


def test_multiframe_enhanced_ct_file(tmp_path):
    hu = np.random.default_rng(0).integers(-1000, 1000, (4, 6, 7)).astype(np.int16)
    img = sitk.GetImageFromArray(hu)
    img.SetSpacing((0.5, 0.6, 2.0))
    img.SetOrigin((1.0, 2.0, 3.0))
    img.SetMetaData("0008|0060", "CT")
    sitk.WriteImage(img, str(tmp_path / "mf.dcm"))  # GDCM: one Enhanced CT file, 4 frames
    assert int(pydicom.dcmread(tmp_path / "mf.dcm").NumberOfFrames) == 4
    vol = read_ct(tmp_path / "mf.dcm")
    np.testing.assert_array_equal(vol.array, hu)
    np.testing.assert_allclose(vol.spacing, (2.0, 0.6, 0.5), atol=1e-6)
    np.testing.assert_allclose(vol.origin, (1.0, 2.0, 3.0), atol=1e-6)


def test_dicomdir_file_set_is_read_and_left_untouched(small_ct, tmp_path):
    from pydicom.fileset import FileSet

    fs = FileSet()
    for f in write_dicom_series(small_ct, tmp_path / "s"):
        fs.add(f)
    fs.write(tmp_path / "media")  # DICOMDIR + files in a PYDICOM/... tree, no extensions
    assert (tmp_path / "media" / "DICOMDIR").is_file()
    before = {p: p.read_bytes() for p in (tmp_path / "media").rglob("*") if p.is_file()}
    _assert_same(read_ct(tmp_path / "media"), small_ct)
    after = {p: p.read_bytes() for p in (tmp_path / "media").rglob("*") if p.is_file()}
    assert after == before


def test_gantry_tilt_is_read_square_with_a_warning(tmp_path, caplog):
    """Slices tilted by 15 degrees about x, their positions stepping 2 mm along the table (z):
    the step along their normal is 2 cos 15 mm (voxel volumes right), and the reader says the
    last slice lies 4 x 2 sin 15 = 2.07 mm from where the file puts it."""
    t = np.deg2rad(15.0)
    folder = tmp_path / "tilt"
    folder.mkdir()
    for k in range(5):
        write_raw_slice(folder / f"{k}.dcm", np.full((4, 4), 1000 + k), position=(0.0, 0.0, 2.0 * k),
                        orientation=(1, 0, 0, 0, np.cos(t), np.sin(t)), instance=k + 1)
    with caplog.at_level(logging.WARNING, logger="covidct.io"):
        vol = read_ct(folder)
    assert vol.spacing[0] == pytest.approx(2.0 * np.cos(t))
    assert [w for w in vol.metadata["warnings"] if "gantry tilt of 15.0 degrees" in w and "2.1 mm" in w]
    assert "gantry tilt" in caplog.text
    square = tmp_path / "square"  # the same orientation, positions along the normal: no warning
    square.mkdir()
    normal = np.cross((1, 0, 0), (0, np.cos(t), np.sin(t)))
    for k in range(5):
        write_raw_slice(square / f"{k}.dcm", np.full((4, 4), 1000 + k), position=tuple(2.0 * k * normal),
                        orientation=(1, 0, 0, 0, np.cos(t), np.sin(t)), instance=k + 1)
    assert not [w for w in read_ct(square).metadata["warnings"] if "tilt" in w]
