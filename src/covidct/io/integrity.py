"""Checks that a file's voxels are all there and make sense before anyone measures them.

ITK's NIfTI reader fills a truncated ``.nii``/``.nii.gz`` with zeros, reads NaN and
infinite voxels as 0 and a slice spacing (``pixdim``) of 0 as 1 mm, without a word; its other readers fail with messages
that name neither the problem nor the remedy. This module checks NIfTI headers and data
length itself, rejects non-finite voxels, and turns ITK's messages into the project's own.
"""

from __future__ import annotations

import gzip
import logging
import os
import tempfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

import numpy as np

from covidct.errors import InvalidInputError

if TYPE_CHECKING:  # nibabel (with pydicom, 0.2 s) is imported when a NIfTI is checked
    from nibabel.nifti1 import Nifti1Header
    from nibabel.nifti2 import Nifti2Header

__all__ = [
    "check_finite",
    "check_nifti_file",
    "check_nifti_finite",
    "explain_itk_error",
    "native_stderr_to_log",
]

_CHUNK = 1 << 22  # 4 MiB per read when counting decompressed bytes


def _open(path: Path) -> BinaryIO:
    return gzip.open(path, "rb") if path.name.lower().endswith(".gz") else open(path, "rb")


def _header(path: Path) -> Nifti1Header | Nifti2Header:
    """The raw NIfTI-1 or NIfTI-2 header (no 'fixes' applied)."""
    from nibabel.nifti1 import Nifti1Header
    from nibabel.nifti2 import Nifti2Header

    try:
        with _open(path) as fh:
            head = fh.read(540)
    except (OSError, EOFError, zlib.error) as exc:
        raise InvalidInputError(
            f"{path} is damaged: its header cannot be decompressed ({exc}); "
            "get a complete copy of the file"
        ) from exc
    size_le = int.from_bytes(head[:4], "little") if len(head) >= 4 else 0
    size_be = int.from_bytes(head[:4], "big") if len(head) >= 4 else 0
    klass = Nifti2Header if 540 in (size_le, size_be) else Nifti1Header
    need = klass.template_dtype.itemsize
    if len(head) < need or 348 not in (size_le, size_be) and klass is Nifti1Header:
        raise InvalidInputError(
            f"{path} is not a NIfTI file: {len(head)} header bytes, sizeof_hdr "
            f"{size_le}; expected 348 (NIfTI-1) or 540 (NIfTI-2)"
        )
    return klass.from_fileobj(_BytesReader(head), check=False)


class _BytesReader:
    """Minimal file object over bytes for nibabel's ``from_fileobj``."""

    def __init__(self, data: bytes) -> None:
        self._data, self._pos = data, 0

    def read(self, n: int = -1) -> bytes:
        end = len(self._data) if n < 0 else self._pos + n
        out = self._data[self._pos:end]
        self._pos += len(out)
        return out

    def tell(self) -> int:
        return self._pos

    def seek(self, pos: int, whence: int = 0) -> int:
        self._pos = pos if whence == 0 else (self._pos + pos if whence == 1 else len(self._data) + pos)
        return self._pos


def _data_length(path: Path) -> int:
    """Bytes in the file once decompressed: short when the gzip stream stops early; a
    corrupt stream (bad data or CRC) is an error."""
    if not path.name.lower().endswith(".gz"):
        return path.stat().st_size
    total, inflater = 0, zlib.decompressobj(wbits=31)
    try:
        with open(path, "rb") as fh:
            while chunk := fh.read(_CHUNK):
                while chunk:
                    total += len(inflater.decompress(chunk))
                    chunk = b""
                    if inflater.eof and inflater.unused_data:  # another gzip member
                        chunk, inflater = inflater.unused_data, zlib.decompressobj(wbits=31)
    except zlib.error as exc:
        raise InvalidInputError(
            f"{path} is damaged: the gzip stream is corrupt after {total} bytes ({exc}); "
            "get a complete copy of the file"
        ) from exc
    return total


@contextmanager
def native_stderr_to_log(logger: logging.Logger) -> Iterator[None]:
    """Catch what C++ code (ITK's MetaIO, NRRD readers) prints straight to file descriptor 2
    and log it at DEBUG level instead, so the console gets only covidct's one-line error."""
    try:
        saved = os.dup(2)
    except OSError:  # no usable fd 2 (some embedded interpreters)
        yield
        return
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            sink.seek(0)
            text = sink.read().decode(errors="replace").strip()
            if text:
                logger.debug("native library output: %s", text)


def check_nifti_file(path: str | Path) -> None:
    """Refuse a NIfTI file whose voxel data are incomplete or whose spacing is not positive.

    Checks: the header parses; ``pixdim[1..3]`` (x, y, z voxel size, mm) are finite and
    > 0; the (decompressed) file holds ``vox_offset + prod(dim) * bitpix / 8`` bytes.

    Raises:
        InvalidInputError: naming the file, the problem and what to do.
    """
    path = Path(path)
    hdr = _header(path)
    dim = [int(d) for d in hdr["dim"]]
    ndim = dim[0]
    if not 1 <= ndim <= 7:
        raise InvalidInputError(f"{path} has an invalid NIfTI header: dim[0] = {ndim}")
    spatial = min(ndim, 3)
    pixdim = [float(p) for p in hdr["pixdim"][1 : spatial + 1]]
    axes = "xyz"
    bad = [f"{axes[i]} (pixdim[{i + 1}]) = {p:g}" for i, p in enumerate(pixdim)
           if not (np.isfinite(p) and p > 0)]
    if bad:
        raise InvalidInputError(
            f"{path} has voxel size {', '.join(bad)} mm in its NIfTI header; a voxel size "
            "must be a positive number (ITK would silently use 1 mm and every volume would "
            "be wrong); fix the header's pixdim with the true spacing"
        )
    _check_forms_agree(path, hdr, pixdim)
    n_voxels = int(np.prod([max(d, 1) for d in dim[1 : ndim + 1]], dtype=np.int64))
    expected = int(hdr["vox_offset"]) + n_voxels * int(hdr["bitpix"]) // 8
    actual = _data_length(path)
    if actual < expected:
        share = 100.0 * max(actual - int(hdr["vox_offset"]), 0) / max(expected - int(hdr["vox_offset"]), 1)
        raise InvalidInputError(
            f"{path} is truncated: its header promises {expected} bytes, the file holds "
            f"{actual} ({share:.1f}% of the voxel data); get a complete copy of the file"
        )


def _check_forms_agree(path: Path, hdr: Nifti1Header | Nifti2Header, pixdim: list[float]) -> None:
    """Refuse a header whose qform (pixdim) and sform give voxel sizes more than 1 % apart
    (nibabel, for one, writes pixdim 1 over a 0 while the sform keeps the true size): which
    one a reader takes decides every volume."""
    if int(hdr["qform_code"]) <= 0 or int(hdr["sform_code"]) <= 0 or len(pixdim) < 3:
        return
    sform = np.asarray(hdr.get_sform(), float)[:3, :3]
    sizes = np.linalg.norm(sform, axis=0)
    if not np.all(np.isfinite(sizes)) or np.allclose(sizes, pixdim, rtol=0.01, atol=1e-4):
        return
    show = lambda v: " x ".join(f"{x:g}" for x in v)  # noqa: E731
    raise InvalidInputError(
        f"{path} gives two voxel sizes in its NIfTI header: {show(pixdim)} mm (qform, pixdim) "
        f"and {show(sizes)} mm (sform); readers differ in which they take, so every volume "
        "would depend on the reader; fix the header so that both give the true spacing"
    )


def check_nifti_finite(path: str | Path) -> None:
    """Refuse a float NIfTI holding NaN or infinite voxels (ITK reads them as 0, silently)."""
    import nibabel as nib

    img = nib.load(str(path))
    if np.dtype(img.get_data_dtype()).kind != "f":
        return
    check_finite(np.asanyarray(img.dataobj), path)


def check_finite(array: np.ndarray, path: str | Path) -> None:
    """Refuse float voxels that are NaN or infinite (no CT or mask has them)."""
    if array.dtype.kind != "f":
        return
    finite = np.isfinite(array)
    if not finite.all():
        n_nan = int(np.isnan(array).sum())
        n_inf = int(array.size - finite.sum()) - n_nan
        raise InvalidInputError(
            f"{path} has {n_nan} NaN and {n_inf} infinite voxel(s) of {array.size}; a CT "
            "must hold finite HU values: fix or replace those voxels before analysis"
        )


#: ITK phrases -> what is wrong (the file is named by the caller).
_FIX_HEADER = "every spacing must be a positive number: fix the header with the true spacing"
_ITK_MESSAGES: tuple[tuple[str, str], ...] = (
    ("Unable to determine ImageIO reader",
     ("no image reader recognises it: the header is damaged, or the file is not the "
     "NIfTI/NRRD/MetaImage its name says; check that the file is complete")),
    ("data not read completely",
     ("it is truncated: the voxel data stop before the size the header gives; get a "
     "complete copy of the file")),
    ("but received",
     ("it is truncated or damaged: fewer voxel bytes than the header gives; get a "
     "complete copy of the file")),
    ("Refusing to change spacing", f"its header gives a voxel size of 0 mm; {_FIX_HEADER}"),
    ("Zero-valued spacing", f"its header gives a voxel size of 0 mm; {_FIX_HEADER}"),
    ("File cannot be read",
     ("its voxel data are missing or incomplete (a truncated file, or a MetaImage .mhd "
     "without its complete data file beside it); get a complete copy of the file")),
    ("ReadImageInformation", "its header cannot be parsed; check that the file is complete"),
)


def explain_itk_error(exc: RuntimeError, path: str | Path, action: str = "read") -> str:
    """One line for a SimpleITK error: which file, what is wrong, what to do."""
    text = str(exc)
    for phrase, meaning in _ITK_MESSAGES:
        if phrase in text:
            return f"cannot {action} {path}: {meaning}"
    last = text.strip().splitlines()[-1] if text.strip() else "unknown ITK error"
    return f"cannot {action} {path}: {last.strip()}"
