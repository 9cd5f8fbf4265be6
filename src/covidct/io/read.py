"""Read any chest CT into a :class:`CTVolume`, and label images onto a reference grid.

Formats: a DICOM series (folder searched recursively, a list of files, or a ``.zip``),
NIfTI (``.nii``, ``.nii.gz``), NRRD (``.nrrd``, ``.nhdr``), MetaImage (``.mha``, ``.mhd``),
and stacks of 2D PNG/JPG slices (not HU). Every failure is an
:class:`~covidct.errors.InvalidInputError` with a one-line message naming the file.
"""

from __future__ import annotations

import logging
import re
import tempfile
import zipfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import SimpleITK as sitk
from PIL import Image, UnidentifiedImageError

from covidct.errors import GeometryMismatchError, InvalidInputError
from covidct.io.integrity import (
    check_finite,
    check_nifti_file,
    check_nifti_finite,
    explain_itk_error,
    native_stderr_to_log,
)
from covidct.io.volume import CTVolume

__all__ = [
    "RASTER_SUFFIXES",
    "VOLUME_FORMATS",
    "ZIP_MAX_BYTES",
    "ZIP_MAX_ENTRIES",
    "read_ct",
    "read_mask",
]

logger = logging.getLogger(__name__)

#: File name endings read by SimpleITK, and the ``source_format`` they report.
VOLUME_FORMATS: dict[str, str] = {
    ".nii.gz": "nifti",
    ".nii": "nifti",
    ".nrrd": "nrrd",
    ".nhdr": "nrrd",
    ".mha": "metaimage",
    ".mhd": "metaimage",
}
#: Largest total uncompressed size (bytes) and number of entries of a zip read as a CT:
#: checked before anything is extracted (a 2 mm-slice chest CT in DICOM is ~100 MB).
ZIP_MAX_BYTES = 4 * 1024**3
ZIP_MAX_ENTRIES = 20_000
#: 2D picture endings accepted as slices of a (non-HU) stack.
RASTER_SUFFIXES: tuple[str, ...] = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")

_PNG_WARNING = (
    "built from 2D pictures: values are grey levels, not Hounsfield units; slice spacing "
    "and pixel size are unknown (1 mm assumed)"
)


def _volume_format(path: Path) -> str | None:
    name = path.name.lower()
    for suffix, fmt in VOLUME_FORMATS.items():
        if name.endswith(suffix):
            return fmt
    return None


def _is_raster(path: Path) -> bool:
    return path.suffix.lower() in RASTER_SUFFIXES


def _is_dicom(path: Path) -> bool:
    """True when ``path`` is a DICOM Part 10 file (pydicom is imported only for those)."""
    from covidct.io.dicom import is_dicom_file

    return is_dicom_file(path)


def _natural_key(path: Path) -> list[object]:
    return [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", str(path))]


def _as_hu_dtype(image: sitk.Image) -> sitk.Image:
    """float64 -> float32; integer types other than int16 -> int16 when the values fit."""
    pid = image.GetPixelID()
    if pid in (sitk.sitkInt16, sitk.sitkFloat32):
        return image
    if pid == sitk.sitkFloat64:
        return sitk.Cast(image, sitk.sitkFloat32)
    stats = sitk.MinimumMaximumImageFilter()
    stats.Execute(image)
    fits = -32768 <= stats.GetMinimum() and stats.GetMaximum() <= 32767
    if (
        pid
        in (
            sitk.sitkUInt8,
            sitk.sitkInt8,
            sitk.sitkUInt16,
            sitk.sitkInt32,
            sitk.sitkUInt32,
            sitk.sitkInt64,
            sitk.sitkUInt64,
        )
        and fits
    ):
        return sitk.Cast(image, sitk.sitkInt16)
    return sitk.Cast(image, sitk.sitkFloat32)


def _read_sitk(path: Path) -> sitk.Image:
    """A 3D single-channel SimpleITK image from ``path``, or InvalidInputError."""
    if _volume_format(path) == "nifti":
        check_nifti_file(path)  # ITK reads truncation as zeros and pixdim 0 as 1 mm
    try:
        with native_stderr_to_log(logger):
            image = sitk.ReadImage(str(path))
    except RuntimeError as exc:
        raise InvalidInputError(explain_itk_error(exc, path)) from exc
    if _volume_format(path) == "nifti" and image.GetPixelID() in (sitk.sitkFloat32,
                                                                  sitk.sitkFloat64):
        check_nifti_finite(path)  # ITK reads NaN and inf as 0
    if image.GetDimension() == 4 and image.GetSize()[3] == 1:
        image = image[:, :, :, 0]
    if image.GetDimension() == 2:
        raise InvalidInputError(
            f"{path} is a single 2D image of size {image.GetSize()}; a CT volume must be 3D"
        )
    if image.GetDimension() != 3:
        raise InvalidInputError(
            f"{path} is a {image.GetDimension()}D image of size {image.GetSize()}; "
            "expected a 3D CT volume"
        )
    if image.GetNumberOfComponentsPerPixel() != 1:
        raise InvalidInputError(
            f"{path} has {image.GetNumberOfComponentsPerPixel()} channels per voxel; "
            "expected a single-channel (grey) CT volume"
        )
    return image


def _read_volume_file(path: Path, source: Path) -> CTVolume:
    raw = _read_sitk(path)
    image = _as_hu_dtype(raw)
    meta = {
        "source_path": str(source.resolve()),
        "source_format": _volume_format(path),
        "stored_dtype": raw.GetPixelIDTypeAsString(),
        "warnings": (),
    }
    return CTVolume.from_sitk(image, metadata=meta)


def _read_raster(path: Path) -> np.ndarray:
    try:
        with Image.open(path) as img:
            img.load()
            if img.mode in ("I;16", "I;16B", "I;16L", "I", "F", "L"):
                arr = np.asarray(img)
            else:
                arr = np.asarray(img.convert("L"))
    except (UnidentifiedImageError, OSError, SyntaxError) as exc:
        raise InvalidInputError(f"{path} is not a readable image: {exc}") from exc
    if arr.ndim != 2:
        raise InvalidInputError(f"{path}: expected a 2D picture; got an array of shape {arr.shape}")
    return arr


def _read_png_stack(files: Sequence[Path], source: Path) -> CTVolume:
    files = sorted(files, key=_natural_key)
    if len(files) == 1:
        raise InvalidInputError(
            f"{files[0]} is a single 2D image; a CT volume needs a stack of slices"
        )
    planes = [_read_raster(f) for f in files]
    shapes = {p.shape for p in planes}
    if len(shapes) > 1:
        k = next(i for i, p in enumerate(planes) if p.shape != planes[0].shape)
        raise InvalidInputError(
            f"mixed image sizes in the slice stack {source}: {files[0].name} is "
            f"{planes[0].shape}, {files[k].name} is {planes[k].shape} (rows, columns)"
        )
    dtype = np.result_type(*[p.dtype for p in planes])
    logger.warning("%s: %s", source, _PNG_WARNING)
    return CTVolume(
        array=np.stack(planes).astype(dtype),
        spacing=(1.0, 1.0, 1.0),
        metadata={
            "source_path": str(source.resolve()),
            "source_format": "png-stack",
            "n_files": len(files),
            "warnings": (_PNG_WARNING,),
        },
        is_hu=False,
    )


def _read_files(files: Sequence[Path], source: Path, series_uid: str | None) -> CTVolume:
    """Dispatch a set of files (a folder's content or a list) to the right reader."""
    files = [f for f in files if not f.name.startswith("._") and "__MACOSX" not in f.parts]
    if not files:
        raise InvalidInputError(f"{source} is empty: no files to read a CT from")
    missing = [f for f in files if not f.is_file()]
    if missing:
        raise InvalidInputError(f"CT file {missing[0]} does not exist (or is not a file)")
    dicom = [f for f in files if _is_dicom(f)]
    if dicom:
        from covidct.io.dicom import read_dicom_series  # pydicom only for DICOM input

        return read_dicom_series(dicom, source=source, series_uid=series_uid)
    volumes = [f for f in files if _volume_format(f)]
    if len(volumes) == 1:
        return _read_volume_file(volumes[0], source)
    if len(volumes) > 1:
        names = ", ".join(v.name for v in volumes[:4])
        raise InvalidInputError(
            f"{source} holds {len(volumes)} image volumes ({names}...); pass one file"
        )
    rasters = [f for f in files if _is_raster(f)]
    if rasters:
        return _read_png_stack(rasters, source)
    raise InvalidInputError(
        f"no CT images in {source}: expected DICOM, NIfTI, NRRD, MetaImage or PNG/JPG files; "
        f"found {len(files)} other file(s), e.g. {files[0].name}"
    )


def _check_zip_size(zf: zipfile.ZipFile, path: Path) -> None:
    """Refuse archives too large to unpack, judged from the directory before extracting.

    zipfile never extracts more than an entry's declared size, so the declared sizes bound
    what lands on disk.
    """
    entries = zf.infolist()
    if len(entries) > ZIP_MAX_ENTRIES:
        raise InvalidInputError(
            f"zip archive {path} has {len(entries)} entries; at most {ZIP_MAX_ENTRIES} are "
            "read as one CT: unpack it yourself and pass the folder of the series"
        )
    total = sum(e.file_size for e in entries)
    if total > ZIP_MAX_BYTES:
        raise InvalidInputError(
            f"zip archive {path} would unpack to {total / 1024**2:.1f} MiB (it holds "
            f"{path.stat().st_size / 1024**2:.1f} MiB); at most {ZIP_MAX_BYTES / 1024**2:.0f} "
            "MiB are unpacked: unpack it yourself and pass the folder of the series"
        )


def _read_zip(path: Path, series_uid: str | None) -> CTVolume:
    try:
        with zipfile.ZipFile(path) as zf:
            _check_zip_size(zf, path)  # before anything is unpacked
            bad = zf.testzip()
            if bad is not None:
                raise InvalidInputError(f"corrupt member {bad} in zip archive {path}")
            with tempfile.TemporaryDirectory(prefix="covidct-zip-") as tmp:
                zf.extractall(tmp)  # zipfile drops absolute paths and '..' components
                files = sorted(p for p in Path(tmp).rglob("*") if p.is_file())
                try:
                    return _read_files(files, path, series_uid)  # arrays are in memory
                except InvalidInputError as exc:  # name the zip's entries, not the scratch
                    text = str(exc).replace(f"{tmp}/", f"{path}:").replace(tmp, str(path))
                    raise type(exc)(text) from exc
    except zipfile.BadZipFile as exc:
        raise InvalidInputError(f"{path} is not a valid zip archive: {exc}") from exc


def read_ct(path: str | Path | Sequence[str | Path], *, series_uid: str | None = None) -> CTVolume:
    """Read a CT from a DICOM folder/zip/file list, NIfTI, NRRD, MetaImage or a PNG/JPG stack.

    Args:
        path: a folder (searched recursively), a ``.zip`` of one, a volume file, or a list
            of DICOM or picture files. The input is never modified.
        series_uid: with several DICOM series, read this one (default: the CT series with
            the most slices; the choice is logged and listed in ``metadata["series_choice"]``).

    Returns:
        A :class:`CTVolume`: ``(z, y, x)`` array (int16 or float32 HU for CT; grey levels and
        ``is_hu=False`` for picture stacks), spacing ``(sz, sy, sx)`` mm, LPS origin and
        direction, and metadata (``source_path``, ``source_format``, DICOM identifiers,
        ``warnings``...).

    Raises:
        InvalidInputError: missing path, empty folder, not an image, not CT, missing or
            duplicated slices, corrupt or truncated files, a voxel size of 0, NaN or
            infinite voxels, a single 2D image, mixed image sizes, an oversized zip.
    """
    volume = _read_any(path, series_uid)
    check_finite(volume.array, volume.metadata.get("source_path", path))
    return volume


def _read_any(path: str | Path | Sequence[str | Path], series_uid: str | None) -> CTVolume:
    if isinstance(path, (list, tuple)):
        files = [Path(p) for p in path]
        source = files[0].parent if files else Path(".")
        return _read_files(files, source, series_uid)
    path = Path(path)  # type: ignore[arg-type]
    if not path.exists():
        raise InvalidInputError(f"CT path {path} does not exist")
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.is_file())
        if not files:
            raise InvalidInputError(f"folder {path} is empty: no CT files found")
        return _read_files(files, path, series_uid)
    if path.suffix.lower() == ".zip":
        return _read_zip(path, series_uid)
    if _volume_format(path):
        return _read_volume_file(path, path)
    if _is_raster(path):
        _read_raster(path)  # a clear error if it is not even a picture
        raise InvalidInputError(
            f"{path} is a single 2D image; a CT volume needs a stack of slices (pass a folder)"
        )
    if _is_dicom(path):
        from covidct.io.dicom import read_dicom_series

        return read_dicom_series([path], source=path, series_uid=series_uid)
    raise InvalidInputError(
        f"{path} is not a CT image: expected a DICOM file/folder, .zip, .nii(.gz), .nrrd, "
        ".nhdr, .mha, .mhd or PNG/JPG slices"
    )


def read_mask(path: str | Path, reference: CTVolume) -> np.ndarray:
    """Read a label image that must lie on ``reference``'s grid; return ``(z, y, x)`` uint8.

    Raises:
        InvalidInputError: the file is missing/unreadable, or its values are not integer
            labels in 0..255.
        GeometryMismatchError: shape, spacing (1e-3 mm), origin (1e-3 mm) or direction
            (1e-4) differ from the reference's.
    """
    path = Path(path)
    if not path.is_file():
        raise InvalidInputError(f"mask file {path} does not exist")
    image = _read_sitk(path)
    shape = tuple(image.GetSize())[::-1]
    spacing = tuple(image.GetSpacing())[::-1]
    problems = []
    if shape != reference.shape:
        problems.append("shape")
    if not np.allclose(spacing, reference.spacing, atol=1e-3):
        problems.append("spacing")
    if not np.allclose(image.GetOrigin(), reference.origin, atol=1e-3):
        problems.append(
            f"origin {tuple(round(v, 3) for v in image.GetOrigin())} vs "
            f"{tuple(round(v, 3) for v in reference.origin)}"
        )
    if not np.allclose(image.GetDirection(), reference.direction, atol=1e-4):
        problems.append("direction")
    if problems:
        raise GeometryMismatchError(
            f"mask {path} is not on the CT grid ({'; '.join(problems)} differ): mask shape "
            f"{shape} spacing {tuple(round(s, 4) for s in spacing)} mm vs CT shape "
            f"{reference.shape} spacing {tuple(round(s, 4) for s in reference.spacing)} mm "
            "(z, y, x)"
        )
    array = sitk.GetArrayFromImage(image)
    if array.dtype.kind == "f" and not np.all(np.round(array) == array):
        raise InvalidInputError(f"mask {path} has non-integer values; expected integer labels")
    if array.size and (array.min() < 0 or array.max() > 255):
        raise InvalidInputError(
            f"mask {path} has labels from {array.min()} to {array.max()}; expected 0..255"
        )
    return array.astype(np.uint8)
