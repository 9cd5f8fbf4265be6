"""NIfTI / NRRD / MetaImage round trips, nibabel agreement, masks, PNG stacks, bad input."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import SimpleITK as sitk
from io_helpers import make_volume, rotation
from PIL import Image

from covidct.errors import GeometryMismatchError, InvalidInputError
from covidct.io import describe, read_ct, read_mask, write_image, write_volume

SUFFIXES = [".nii", ".nii.gz", ".nrrd", ".mha", ".mhd"]
FORMAT = {
    ".nii": "nifti",
    ".nii.gz": "nifti",
    ".nrrd": "nrrd",
    ".mha": "metaimage",
    ".mhd": "metaimage",
}


@pytest.mark.parametrize("suffix", SUFFIXES)
@pytest.mark.parametrize("dtype", [np.int16, np.float32])
def test_volume_round_trip_bit_exact(tmp_path, suffix, dtype):
    vol = make_volume(
        (5, 7, 9),
        spacing=(3.0, 0.5, 0.875),
        dtype=dtype,
        direction=rotation(0.3, -0.4) @ np.diag([1.0, -1.0, -1.0]),
    )
    path = write_volume(vol, tmp_path / "out" / f"ct{suffix}")
    assert path.is_file()
    back = read_ct(path)
    assert back.array.dtype == vol.array.dtype
    np.testing.assert_array_equal(back.array, vol.array)
    np.testing.assert_allclose(back.spacing, vol.spacing, atol=1e-6)
    np.testing.assert_allclose(back.origin, vol.origin, atol=1e-6)
    np.testing.assert_allclose(back.direction, vol.direction, atol=1e-6)
    assert back.metadata["source_format"] == FORMAT[suffix]
    leftovers = [p.name for p in path.parent.iterdir() if p.name.startswith(".")]
    assert leftovers == []


def test_nifti_agrees_with_nibabel(tmp_path):
    vol = make_volume((4, 6, 8), spacing=(2.0, 0.75, 0.5), direction=rotation(0.2, 0.7))
    path = write_volume(vol, tmp_path / "ct.nii.gz")
    img = nib.load(path)
    np.testing.assert_array_equal(np.asarray(img.dataobj).transpose(2, 1, 0), vol.array)
    d = np.asarray(vol.direction).reshape(3, 3)
    lps = np.eye(4)
    lps[:3, :3] = d @ np.diag(vol.spacing[::-1])
    lps[:3, 3] = vol.origin
    ras = np.diag([-1.0, -1.0, 1.0, 1.0]) @ lps
    np.testing.assert_allclose(img.affine, ras, atol=1e-5)
    back = read_ct(path)  # and our reader sees what nibabel sees
    np.testing.assert_array_equal(back.array, np.asarray(img.dataobj).transpose(2, 1, 0))


def test_nrrd_is_compressed(tmp_path):
    vol = make_volume((4, 32, 32))
    vol = vol.with_array(np.zeros(vol.shape, np.int16))
    path = write_volume(vol, tmp_path / "z.nrrd")
    assert path.stat().st_size < vol.array.nbytes / 10


def test_nrrd_read_imports_no_nibabel(tmp_path, small_ct):
    """nibabel (and pydicom with it, 0.2 s of every command's start-up) is imported for a
    NIfTI only; the NIfTI checks still run (a truncated file is refused)."""
    import subprocess
    import sys

    nrrd = write_volume(small_ct, tmp_path / "ct.nrrd")
    nii = write_volume(small_ct, tmp_path / "ct.nii")
    nii.write_bytes(nii.read_bytes()[:-100])
    code = ("import sys\n"
            "from covidct.errors import InvalidInputError\n"
            "from covidct.io import read_ct\n"
            f"read_ct({str(nrrd)!r}); print('nibabel' in sys.modules, 'pydicom' in sys.modules)\n"
            f"try: read_ct({str(nii)!r})\n"
            "except InvalidInputError as exc: print('truncated' in str(exc))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False", "True"]


def test_mask_round_trip_and_grid_check(tmp_path, oblique_ct):
    mask = (oblique_ct.array > 500).astype(bool)
    path = write_image(mask, oblique_ct, tmp_path / "m" / "mask.nii.gz")
    back = read_mask(path, oblique_ct)
    assert back.dtype == np.uint8
    np.testing.assert_array_equal(back, mask.astype(np.uint8))
    other = make_volume((6, 9, 12))
    with pytest.raises(GeometryMismatchError, match=r"\(6, 9, 11\).*\(6, 9, 12\)"):
        read_mask(path, other)
    shifted = make_volume(spacing=(2.0, 0.75, 0.625), direction=None)
    with pytest.raises(GeometryMismatchError, match="spacing"):
        read_mask(path, shifted)
    with pytest.raises(GeometryMismatchError):
        write_image(np.zeros((2, 2, 2), np.uint8), oblique_ct, tmp_path / "bad.nii.gz")


def test_mask_with_bad_labels(tmp_path, small_ct):
    path = write_image(np.full(small_ct.shape, 300, np.int16), small_ct, tmp_path / "m.nrrd")
    with pytest.raises(InvalidInputError, match="0..255"):
        read_mask(path, small_ct)


def test_write_refuses_source_and_unknown_extension(tmp_path, small_ct):
    src = write_volume(small_ct, tmp_path / "ct.nrrd")
    vol = read_ct(src)
    digest = hashlib.sha256(src.read_bytes()).hexdigest()
    with pytest.raises(InvalidInputError, match="refusing"):
        write_volume(vol, src)
    with pytest.raises(InvalidInputError, match="unknown image format"):
        write_volume(vol, tmp_path / "ct.png")
    write_image(np.zeros(vol.shape, np.uint8), vol, tmp_path / "deep" / "er" / "mask.mha")
    assert hashlib.sha256(src.read_bytes()).hexdigest() == digest
    assert (tmp_path / "deep" / "er" / "mask.mha").is_file()


def test_write_refuses_inside_dicom_source(tmp_path, small_ct):
    from covidct.io import write_dicom_series

    write_dicom_series(small_ct, tmp_path / "dcm")
    vol = read_ct(tmp_path / "dcm")
    with pytest.raises(InvalidInputError, match="refusing"):
        write_image(np.zeros(vol.shape, np.uint8), vol, tmp_path / "dcm" / "mask.nii.gz")


def test_writing_does_not_modify_array(tmp_path, small_ct):
    before = small_ct.array.copy()
    write_volume(small_ct, tmp_path / "a.mha")
    np.testing.assert_array_equal(small_ct.array, before)


# ------------------------------------------------------------------ bad images
def test_2d_and_4d_and_vector_images_refused(tmp_path):
    sitk.WriteImage(sitk.Image(8, 8, sitk.sitkInt16), str(tmp_path / "flat.nii.gz"))
    with pytest.raises(InvalidInputError, match="flat.nii.gz.*2D"):
        read_ct(tmp_path / "flat.nii.gz")
    sitk.WriteImage(sitk.Image([4, 4, 4, 3], sitk.sitkInt16), str(tmp_path / "t.nii.gz"))
    with pytest.raises(InvalidInputError, match="t.nii.gz.*4D"):
        read_ct(tmp_path / "t.nii.gz")
    sitk.WriteImage(sitk.Image([4, 4, 4], sitk.sitkVectorFloat32, 3), str(tmp_path / "v.mha"))
    with pytest.raises(InvalidInputError, match="v.mha.*3 channels"):
        read_ct(tmp_path / "v.mha")


def test_missing_empty_and_non_image(tmp_path):
    with pytest.raises(InvalidInputError, match="does not exist"):
        read_ct(tmp_path / "nope.nii.gz")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InvalidInputError, match="empty"):
        read_ct(tmp_path / "empty")
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(InvalidInputError, match="notes.txt.*not a CT image"):
        read_ct(tmp_path / "notes.txt")
    (tmp_path / "broken.nii.gz").write_bytes(b"\x00" * 50)
    with pytest.raises(InvalidInputError, match="broken.nii.gz"):
        read_ct(tmp_path / "broken.nii.gz")
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "a.txt").write_text("x")
    with pytest.raises(InvalidInputError, match="no CT images"):
        read_ct(tmp_path / "docs")


# ------------------------------------------------------------------ PNG stacks
def _png_stack(folder, names, shape=(6, 5)):
    folder.mkdir()
    rng = np.random.default_rng(0)
    rgb = {}
    for name in names:
        rgb[name] = rng.integers(0, 256, size=(*shape, 3)).astype(np.uint8)
        Image.fromarray(rgb[name]).save(folder / name)
    return rgb


def test_png_stack_natural_order_grey(tmp_path):
    names = ["slice10.png", "slice2.png", "slice1.png"]
    rgb = _png_stack(tmp_path / "png", names)
    vol = read_ct(tmp_path / "png")
    assert vol.shape == (3, 6, 5) and not vol.is_hu
    assert vol.spacing == (1.0, 1.0, 1.0)
    assert vol.metadata["source_format"] == "png-stack"
    assert any("not Hounsfield" in w for w in vol.metadata["warnings"])
    for k, name in enumerate(["slice1.png", "slice2.png", "slice10.png"]):
        grey = np.asarray(Image.fromarray(rgb[name]).convert("L"))
        np.testing.assert_array_equal(vol.array[k], grey)
    listed = read_ct([tmp_path / "png" / n for n in names])
    np.testing.assert_array_equal(listed.array, vol.array)
    assert describe(vol)["values"]["unit"] == "grey level"


def test_single_png_and_mixed_sizes(tmp_path):
    _png_stack(tmp_path / "one", ["a.png"])
    with pytest.raises(InvalidInputError, match="a.png.*single 2D image"):
        read_ct(tmp_path / "one" / "a.png")
    with pytest.raises(InvalidInputError, match="single 2D image"):
        read_ct(tmp_path / "one")
    _png_stack(tmp_path / "mix", ["a.png", "b.png"])
    Image.fromarray(np.zeros((7, 5), np.uint8)).save(tmp_path / "mix" / "c.png")
    with pytest.raises(InvalidInputError, match="mixed image sizes"):
        read_ct(tmp_path / "mix")


# ------------------------------------------------------------------ describe
def test_describe_known_values():
    arr = np.arange(2 * 3 * 4, dtype=np.int16).reshape(2, 3, 4) - 10
    vol = make_volume((2, 3, 4), spacing=(2.0, 1.0, 0.5), direction=np.diag([-1.0, -1.0, 1.0]))
    vol = vol.with_array(arr, patient_id="X", where=Path("/some/where"))
    info = describe(vol)
    json.dumps(info)  # JSON-safe
    assert info["shape_zyx"] == [2, 3, 4]
    assert info["spacing_mm_zyx"] == [2.0, 1.0, 0.5]
    assert info["extent_mm_zyx"] == [4.0, 3.0, 2.0]
    assert info["orientation"] == "RAS" and info["slices"] == "axial"
    assert info["voxel_volume_ml"] == pytest.approx(0.001)
    values = info["values"]
    assert values["unit"] == "HU" and values["min"] == -10 and values["max"] == 13
    assert values["mean"] == pytest.approx(1.5) and values["p50"] == pytest.approx(1.5)
    assert info["metadata"]["patient_id"] == "X"
    assert info["metadata"]["where"] == "/some/where"
