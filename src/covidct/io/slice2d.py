"""One 2D image as an input: a single DICOM slice (any transfer syntax pydicom decodes) or a PNG/JPG.

``read_slice`` returns a :class:`Slice2D` (``(y, x)`` array, pixel spacing ``(sy, sx)`` mm,
HU or grey levels); ``describe_slice`` summarises it like :func:`covidct.io.describe` does a
volume. Compressed DICOM (JPEG 2000, JPEG-LS, JPEG lossless) decodes when the
``dicom-codecs`` extra is installed (``pip install 'covidct[dicom-codecs]'``); without it the
error names that extra.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from covidct.errors import InvalidInputError

__all__ = ["Slice2D", "describe_slice", "is_single_slice", "read_slice"]

_RASTER = {".png", ".jpg", ".jpeg"}
CODECS_HINT = "install the decoders with: pip install 'covidct[dicom-codecs]'"


@dataclass(frozen=True)
class Slice2D:
    """A 2D image: ``array`` (y, x) HU (``is_hu``) or grey levels; ``spacing`` (sy, sx) mm."""

    array: np.ndarray
    spacing: tuple[float, float] = (1.0, 1.0)
    is_hu: bool = False
    metadata: dict[str, Any] = field(default_factory=dict)


def _dicom_header(path: Path):
    import pydicom
    from pydicom.errors import InvalidDicomError

    try:
        return pydicom.dcmread(path)
    except (InvalidDicomError, OSError):
        return None


def is_single_slice(path: str | Path) -> bool:
    """True for a PNG/JPG file or a DICOM file holding one 2D frame."""
    path = Path(path)
    if not path.is_file():
        return False
    if path.suffix.lower() in _RASTER:
        return True
    ds = _dicom_header(path)
    return ds is not None and "PixelData" in ds and int(ds.get("NumberOfFrames", 1) or 1) == 1


def _dicom_pixels(ds: Any, path: Path) -> np.ndarray:
    try:
        return np.asarray(ds.pixel_array)
    except (RuntimeError, NotImplementedError, ValueError) as exc:
        syntax = getattr(ds.file_meta, "TransferSyntaxUID", None)
        name = getattr(syntax, "name", str(syntax))
        raise InvalidInputError(f"cannot decode {path} ({name}): {exc}; {CODECS_HINT}") from exc


def read_slice(path: str | Path) -> Slice2D:
    """Read one 2D image; DICOM values become HU (rescale slope/intercept) for CT images."""
    path = Path(path)
    if path.suffix.lower() in _RASTER:
        from covidct.datasets._common import read_png

        return Slice2D(array=read_png(path), metadata={"format": path.suffix.lower()[1:]})
    ds = _dicom_header(path)
    if ds is None or "PixelData" not in ds:
        raise InvalidInputError(f"{path} is neither a PNG/JPG nor a DICOM image")
    pixels = _dicom_pixels(ds, path)
    if pixels.ndim != 2:
        raise InvalidInputError(f"{path} is not a single grey 2D image (pixel array {pixels.shape})")
    slope, intercept = float(ds.get("RescaleSlope", 1) or 1), float(ds.get("RescaleIntercept", 0) or 0)
    is_hu = str(ds.get("Modality", "")) == "CT"
    values = pixels.astype(np.float32) * slope + intercept if is_hu else pixels
    spacing = tuple(float(s) for s in ds.get("PixelSpacing", (1.0, 1.0)))
    meta = {"format": "dicom", "modality": str(ds.get("Modality", "")),
            "transfer_syntax": str(getattr(ds.file_meta, "TransferSyntaxUID", "")),
            "photometric": str(ds.get("PhotometricInterpretation", ""))}
    return Slice2D(array=values, spacing=(spacing[0], spacing[1]), is_hu=is_hu, metadata=meta)


def describe_slice(image: Slice2D) -> dict[str, Any]:
    """Shape, pixel spacing, value statistics and metadata of a 2D image (JSON-safe)."""
    arr = np.asarray(image.array, dtype=np.float64)
    p01, p50, p99 = (float(v) for v in np.percentile(arr, [1, 50, 99]))
    return {
        "kind": "2D slice",
        "shape_yx": list(arr.shape),
        "spacing_mm_yx": [float(s) for s in image.spacing],
        "extent_mm_yx": [float(n * s) for n, s in zip(arr.shape, image.spacing, strict=True)],
        "dtype": str(np.asarray(image.array).dtype),
        "is_hu": bool(image.is_hu),
        "values": {"unit": "HU" if image.is_hu else "grey level", "min": float(arr.min()),
                   "max": float(arr.max()), "mean": float(arr.mean()), "p01": p01, "p50": p50,
                   "p99": p99},
        "metadata": dict(image.metadata),
    }
