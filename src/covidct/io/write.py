"""Write arrays (masks, volumes) on a reference CT's exact geometry.

The format follows the file name ending (``.nii``, ``.nii.gz``, ``.nrrd``, ``.mha``,
``.mhd``); data are compressed where the format allows. Files are written under a
temporary name in the destination folder, read back and compared voxel for voxel, and only
then renamed into place (:mod:`covidct.io.atomic`), so a reader never sees a half-written
file, a failed write is an error, and the reference's own source is never overwritten.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from covidct.errors import InvalidInputError, OutputError
from covidct.io.atomic import atomic_write, check_output
from covidct.io.integrity import check_nifti_file, explain_itk_error, native_stderr_to_log
from covidct.io.volume import CTVolume, check_same_grid

__all__ = ["WRITE_SUFFIXES", "write_image", "write_volume"]

logger = logging.getLogger(__name__)

#: File name endings :func:`write_image` accepts.
WRITE_SUFFIXES: tuple[str, ...] = (".nii.gz", ".nii", ".nrrd", ".mha", ".mhd")


def _suffix(path: Path) -> str:
    name = path.name.lower()
    for suffix in WRITE_SUFFIXES:
        if name.endswith(suffix):
            return suffix
    raise InvalidInputError(
        f"cannot write {path}: unknown image format; use one of {', '.join(WRITE_SUFFIXES)}"
    )


def _storable(array: np.ndarray, path: Path) -> np.ndarray:
    if array.dtype == bool:
        return array.astype(np.uint8)
    if array.dtype == np.float16:
        return array.astype(np.float32)
    if array.dtype.kind not in "iuf":
        raise InvalidInputError(f"cannot write {path}: arrays of dtype {array.dtype} unsupported")
    return array


def write_image(array: np.ndarray, reference: CTVolume, path: str | Path) -> Path:
    """Write ``array`` (``(z, y, x)``, the reference's shape) with the reference's geometry.

    Spacing ``(sz, sy, sx)`` mm, LPS origin and direction are copied exactly from
    ``reference``; values and dtype are kept (bool is stored as uint8, float16 as float32).
    Parent folders are created. Returns the written path.

    Raises:
        GeometryMismatchError: the array shape differs from the reference's.
        InvalidInputError: unknown extension, unsupported dtype, the target is the
            reference's source, or the write fails.
    """
    path = Path(path)
    suffix = _suffix(path)
    arr = np.asarray(array)
    check_same_grid(reference, arr, name="array to write")
    check_output(path, [reference.metadata.get("source_path")], what="image")
    stored = _storable(arr, path)
    image = reference.to_sitk(stored)
    if suffix == ".mhd":
        _write_mhd(image, stored, path)
    else:
        atomic_write(
            path,
            lambda tmp: sitk.WriteImage(image, str(tmp), useCompression=True),
            verify=lambda tmp: _verify(tmp, stored, path),
            what="image",
        )
    logger.info("wrote %s (%s, shape %s)", path, arr.dtype, arr.shape)
    return path


def _verify(written: Path, expected: np.ndarray, path: Path) -> None:
    """Read ``written`` back; raise OutputError unless it holds exactly ``expected``."""
    try:
        if written.name.lower().endswith((".nii", ".nii.gz")):
            check_nifti_file(written)  # ITK would read a truncated NIfTI as zeros
        with native_stderr_to_log(logger):
            back = sitk.GetArrayFromImage(sitk.ReadImage(str(written)))
    except (RuntimeError, InvalidInputError) as exc:
        reason = explain_itk_error(exc, path) if isinstance(exc, RuntimeError) else str(exc)
        reason = reason.replace(str(written), "it").replace(f"cannot read {path}: ", "")
        raise OutputError(f"{path} was not written completely: {reason}") from exc
    same = np.array_equal(back, expected, equal_nan=expected.dtype.kind == "f")
    if back.shape != expected.shape or not same:
        raise OutputError(f"{path} was not written completely: it reads back different")


def _write_mhd(image: sitk.Image, expected: np.ndarray, path: Path) -> None:
    """MetaImage header + data file: write both in a scratch folder, check, move data, header."""
    path.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=".covidct-", dir=path.parent))
    try:
        try:
            sitk.WriteImage(image, str(scratch / path.name), useCompression=True)
        except RuntimeError as exc:
            raise OutputError(explain_itk_error(exc, path, "write")) from exc
        header = scratch / path.name
        _verify(header, expected, path)
        for part in scratch.iterdir():
            if part != header:
                os.replace(part, path.parent / part.name)
        os.replace(header, path)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def write_volume(volume: CTVolume, path: str | Path) -> Path:
    """Write a whole :class:`CTVolume` (array and geometry); see :func:`write_image`."""
    return write_image(volume.array, volume, path)
