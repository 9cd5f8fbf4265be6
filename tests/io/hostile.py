"""The catalogue of hostile inputs: each builds a damaged input and the command run on it.

Used by ``tests/io/test_robustness.py`` (each must give exit code 2 and one line naming the
problem) and by ``benchmarks/robustness_table.py``, which writes the table of
``docs/robustness.md`` from what the commands actually print.
"""

from __future__ import annotations

import gzip
import os
import struct
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from covidct.io import CTVolume, write_volume


@dataclass(frozen=True)
class Hostile:
    """One bad input: ``make(tmp)`` builds it and returns the CLI arguments to run."""

    key: str
    what: str
    make: Callable[[Path], list[str]]
    expect: str  # a phrase the one-line error must contain (case-insensitive)


def chest(shape: tuple[int, int, int] = (12, 40, 40)) -> tuple[CTVolume, np.ndarray]:
    """A small chest-like CT in HU (air outside, soft tissue body, two -850 HU lungs)."""
    arr = np.full(shape, -1000, np.int16)
    arr[:, 4:36, 3:37] = 40
    lungs = np.zeros(shape, np.uint8)
    lungs[2:10, 10:30, 6:18] = 1
    lungs[2:10, 10:30, 22:34] = 2
    arr[lungs > 0] = -850
    return CTVolume(arr, (2.5, 0.8, 0.8), origin=(0.0, 0.0, 0.0)), lungs


def _write(tmp: Path, name: str, array: np.ndarray | None = None) -> Path:
    vol, _ = chest()
    path = tmp / name
    write_volume(vol if array is None else vol.with_array(array), path)
    return path


def _truncate(path: Path, keep: float = 0.5) -> Path:
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])
    return path


def _raw_nifti(tmp: Path, name: str, array: np.ndarray) -> Path:
    """An uncompressed NIfTI written by ITK, returned for header surgery."""
    img = sitk.GetImageFromArray(array)
    img.SetSpacing((0.8, 0.8, 2.5))
    path = tmp / name
    sitk.WriteImage(img, str(path))
    return path


def _forms_disagree(tmp: Path) -> list[str]:
    path = _raw_nifti(tmp, "forms.nii", chest()[0].array)
    data = bytearray(path.read_bytes())
    data[88:92] = struct.pack("<f", 1.0)  # pixdim[3] 1 mm; the sform keeps 2.5 mm
    path.write_bytes(bytes(data))
    return ["info", str(path)]


def _pixdim_zero(tmp: Path) -> list[str]:
    path = _raw_nifti(tmp, "zero_dz.nii", chest()[0].array)
    data = bytearray(path.read_bytes())
    data[88:92] = struct.pack("<f", 0.0)  # pixdim[3]: the slice spacing
    gz = tmp / "zero_dz.nii.gz"
    gz.write_bytes(gzip.compress(bytes(data)))
    return ["info", str(gz)]


def _nrrd_zero_spacing(tmp: Path) -> list[str]:
    path = _write(tmp, "ct.nrrd")
    text = path.read_bytes()
    head, sep, body = text.partition(b"\n\n")
    lines = [b"space directions: (0.80000000000000004,0,0) (0,0.80000000000000004,0) (0,0,0)"
             if line.startswith(b"space directions") else line for line in head.split(b"\n")]
    path.write_bytes(b"\n".join(lines) + sep + body)
    return ["info", str(path)]


def _float_with(value: float) -> Callable[[Path], list[str]]:
    def make(tmp: Path) -> list[str]:
        vol = chest()[0]
        arr = vol.array.astype(np.float32)
        arr[5, 20, 20] = value
        path = tmp / "ct.nii.gz"  # written by ITK directly: covidct's writer checks read-back
        sitk.WriteImage(vol.to_sitk(arr), str(path), useCompression=True)
        return ["info", str(path)]

    return make


def _corrupt_gzip(tmp: Path) -> list[str]:
    path = _write(tmp, "ct.nii.gz")
    data = bytearray(path.read_bytes())
    mid = len(data) // 2
    data[mid : mid + 16] = bytes(16)
    path.write_bytes(bytes(data))
    return ["info", str(path)]


def _zip_with_truncated(tmp: Path) -> list[str]:
    inner = _truncate(_write(tmp, "scan.nii.gz"))
    path = tmp / "study.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.write(inner, "patient1/scan.nii.gz")
    inner.unlink()
    return ["info", str(path)]


def _zip_many_entries(tmp: Path) -> list[str]:
    """A zip of 20,001 empty entries (the cap is 20,000), refused before unpacking."""
    path = tmp / "many.zip"
    with zipfile.ZipFile(path, "w") as zf:
        for i in range(20_001):
            zf.writestr(f"s/{i}.dcm", b"")
    return ["info", str(path)]


def _uint8_with_lungs(tmp: Path) -> list[str]:
    vol, lungs = chest()
    grey = ((vol.array.astype(np.float32) + 1000) / 2000 * 255).clip(0, 255).astype(np.uint8)
    ct = tmp / "grey.nii.gz"
    write_volume(vol.with_array(grey), ct)
    m = tmp / "lungs.nii.gz"
    write_volume(vol.with_array(lungs), m)
    return ["quantify", str(ct), "--lungs", str(m), "--json"]


def _ct_and_mask(tmp: Path) -> tuple[Path, Path]:
    vol, lungs = chest()
    ct, m = tmp / "ct.nrrd", tmp / "lungs.nrrd"
    write_volume(vol, ct)
    write_volume(vol.with_array(lungs), m)
    return ct, m


def _features_over(spelling: str) -> Callable[[Path], list[str]]:
    def make(tmp: Path) -> list[str]:
        ct, m = _ct_and_mask(tmp)
        sub = tmp / "sub"
        sub.mkdir()
        target = {
            "same": str(ct),
            "dotdot": str(sub / ".." / ct.name),
            "symlink": str(tmp / "link.nrrd"),
            "hardlink": str(tmp / "hard.nrrd"),
        }[spelling]
        if spelling == "symlink":
            os.symlink(ct, tmp / "link.nrrd")
        if spelling == "hardlink":
            os.link(ct, tmp / "hard.nrrd")
        return ["features", str(ct), "--mask", str(m), "--preset", "fast", "-o", target]

    return make


def _features_xlsx(tmp: Path) -> list[str]:
    ct, m = _ct_and_mask(tmp)
    return ["features", str(ct), "--mask", str(m), "--preset", "fast", "-o", str(tmp / "f.xlsx")]


def _segment_over_input(tmp: Path) -> list[str]:
    path = _write(tmp, "a.nii.gz")
    return ["segment", str(path), "-o", str(path)]


def _segment_to_text(tmp: Path) -> list[str]:
    return ["segment", str(_write(tmp, "a.nii.gz")), "-o", str(tmp / "lungs.txt")]


def _quantify_over_mask(tmp: Path) -> list[str]:
    vol, lungs = chest()
    out = tmp / "res"
    ct = _write(tmp, "ct.nrrd")
    m = out / "lungs.nii.gz"
    write_volume(vol.with_array(lungs), m)
    return ["quantify", str(ct), "--lungs", str(m), "--out", str(out)]


def _quantify_into_dicom_folder(tmp: Path) -> list[str]:
    from covidct.io import write_dicom_series

    vol, _ = chest()
    folder = tmp / "dicom"
    write_dicom_series(vol, folder)
    return ["quantify", str(folder), "--out", str(folder / "results")]


def _mhd_without_data(tmp: Path) -> list[str]:
    path = _write(tmp, "ct.mhd")
    for part in tmp.iterdir():
        if part.suffix in (".raw", ".zraw"):
            part.unlink()
    return ["info", str(path)]


def _junk_named_nifti(tmp: Path) -> list[str]:
    path = tmp / "scan.nii.gz"
    path.write_bytes(gzip.compress(b"this is not an image\n" * 40))
    return ["info", str(path)]


def _junk_named_nrrd(tmp: Path) -> list[str]:
    path = tmp / "scan.nrrd"
    path.write_bytes(b"\x00\x01garbage" * 50)
    return ["info", str(path)]


def _truncated(name: str) -> Callable[[Path], list[str]]:
    return lambda tmp: ["info", str(_truncate(_write(tmp, name)))]


def _truncated_dicom(tmp: Path) -> list[str]:
    from covidct.io import write_dicom_series

    folder = tmp / "dicom"
    write_dicom_series(chest()[0], folder)
    victim = sorted(folder.rglob("*.dcm"))[5]
    _truncate(victim, 0.7)
    return ["info", str(folder)]


def _dicom_zero_pixel_spacing(tmp: Path) -> list[str]:
    import pydicom

    from covidct.io import write_dicom_series

    folder = tmp / "dicom"
    write_dicom_series(chest()[0], folder)
    for path in folder.glob("*.dcm"):
        ds = pydicom.dcmread(path)
        ds.PixelSpacing = [0, 0]
        ds.save_as(path)
    return ["info", str(folder)]



#: Every hostile input the suite tries, in the order of docs/robustness.md.
HOSTILE: tuple[Hostile, ...] = (
    Hostile("trunc-nii-gz", "`.nii.gz` cut in half", _truncated("ct.nii.gz"), "truncated"),
    Hostile("trunc-nii", "`.nii` cut in half", _truncated("ct.nii"), "truncated"),
    Hostile("trunc-nrrd", "`.nrrd` (gzip) cut in half", _truncated("ct.nrrd"), "truncated"),
    Hostile("trunc-mha", "`.mha` cut in half", _truncated("ct.mha"), "incomplete"),
    Hostile("trunc-dicom", "one DICOM slice cut to 70 %", _truncated_dicom, "truncated"),
    Hostile("mhd-no-data", "`.mhd` header without its data file", _mhd_without_data, "missing"),
    Hostile("gzip-corrupt", "`.nii.gz` with 16 zeroed bytes mid-stream", _corrupt_gzip,
            "damaged"),
    Hostile("junk-nii-gz", "text gzipped and named `.nii.gz`", _junk_named_nifti,
            "not a NIfTI"),
    Hostile("junk-nrrd", "garbage named `.nrrd`", _junk_named_nrrd, "no image reader"),
    Hostile("nan-voxel", "float NIfTI with one NaN voxel", _float_with(float("nan")), "NaN"),
    Hostile("inf-voxel", "float NIfTI with one +inf voxel", _float_with(float("inf")),
            "infinite"),
    Hostile("pixdim-zero", "NIfTI with slice spacing pixdim[3] = 0", _pixdim_zero,
            "voxel size"),
    Hostile("forms-disagree", "NIfTI whose qform says 1 mm slices and sform 2.5 mm",
            _forms_disagree, "two voxel sizes"),
    Hostile("nrrd-zero-spacing", "NRRD with a zero space direction", _nrrd_zero_spacing,
            "0 mm"),
    Hostile("dicom-zero-pixel", "DICOM series with PixelSpacing 0\\0",
            _dicom_zero_pixel_spacing, "PixelSpacing [0.0, 0.0]"),
    Hostile("zip-entry-truncated", "zip holding a truncated `.nii.gz`", _zip_with_truncated,
            "study.zip:patient1/scan.nii.gz"),
    Hostile("zip-entries", "zip of 20,001 entries", _zip_many_entries, "20001 entries"),
    Hostile("uint8-lungs", "0..255 uint8 volume quantified with `--lungs`", _uint8_with_lungs,
            "Hounsfield"),
    Hostile("out-same", "`features a -o a` (same path)", _features_over("same"), "is the input"),
    Hostile("out-dotdot", "`-o sub/../a` (another spelling)", _features_over("dotdot"),
            "is the input"),
    Hostile("out-symlink", "`-o link` (symlink to the input)", _features_over("symlink"),
            "is the input"),
    Hostile("out-hardlink", "`-o hard` (hard link to the input)", _features_over("hardlink"),
            "is the input"),
    Hostile("out-xlsx", "`features -o f.xlsx` (Parquet would be written)", _features_xlsx,
            "ending must match"),
    Hostile("segment-over-input", "`segment a.nii.gz -o a.nii.gz`", _segment_over_input,
            "is the input"),
    Hostile("segment-to-txt", "`segment a.nii.gz -o lungs.txt` (refused before segmenting)",
            _segment_to_text, "ending must match"),
    Hostile("quantify-over-mask", "`quantify --lungs res/lungs.nii.gz --out res`",
            _quantify_over_mask, "is the input"),
    Hostile("quantify-into-dicom", "`quantify dicom/ --out dicom/results`",
            _quantify_into_dicom_folder, "inside the input folder"),
)

