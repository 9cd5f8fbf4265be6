"""Write arrays (masks, volumes) on a reference CT's exact geometry.

The format follows the file name ending (``.nii``, ``.nii.gz``, ``.nrrd``, ``.mha``,
``.mhd``); data are compressed where the format allows. Files are written under a
temporary name in the destination folder and renamed into place, so a reader never sees
a half-written file, and the reference's own source is never overwritten.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import uuid
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from covidct.errors import InvalidInputError
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


def _check_not_source(path: Path, reference: CTVolume) -> None:
    source = reference.metadata.get("source_path")
    if not source:
        return
    src = Path(str(source)).resolve()
    dst = path.resolve()
    if dst == src or (src.is_dir() and dst.is_relative_to(src)):
        raise InvalidInputError(
            f"refusing to write {path}: it would overwrite or change the input {src}"
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
    _check_not_source(path, reference)
    image = reference.to_sitk(_storable(arr, path))
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        if suffix == ".mhd":
            _write_mhd(image, path)
        else:
            tmp = path.parent / f".{path.name}.{uuid.uuid4().hex[:8]}.tmp{suffix}"
            try:
                sitk.WriteImage(image, str(tmp), useCompression=True)
                os.replace(tmp, path)
            finally:
                tmp.unlink(missing_ok=True)
    except RuntimeError as exc:
        last = str(exc).strip().splitlines()[-1] if str(exc).strip() else "write failed"
        raise InvalidInputError(f"cannot write {path}: {last}") from exc
    logger.info("wrote %s (%s, shape %s)", path, arr.dtype, arr.shape)
    return path


def _write_mhd(image: sitk.Image, path: Path) -> None:
    """MetaImage header + data file: write both in a scratch folder, move data, then header."""
    scratch = Path(tempfile.mkdtemp(prefix=".covidct-", dir=path.parent))
    try:
        sitk.WriteImage(image, str(scratch / path.name), useCompression=True)
        header = scratch / path.name
        for part in scratch.iterdir():
            if part != header:
                os.replace(part, path.parent / part.name)
        os.replace(header, path)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def write_volume(volume: CTVolume, path: str | Path) -> Path:
    """Write a whole :class:`CTVolume` (array and geometry); see :func:`write_image`."""
    return write_image(volume.array, volume, path)
