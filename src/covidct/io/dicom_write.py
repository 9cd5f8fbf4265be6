"""Write a :class:`CTVolume` as a standard DICOM series (one file per slice).

The files carry real tags (SOP class, UIDs from :func:`pydicom.uid.generate_uid`, patient
position/orientation from the volume geometry, pixel spacing, slice thickness, rescale
slope/intercept) so that :func:`covidct.io.read_ct`, SimpleITK/GDCM and ordinary DICOM
viewers read them back on the same grid.
"""

from __future__ import annotations

import datetime as _dt
import logging
from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import (
    PYDICOM_IMPLEMENTATION_UID,
    ExplicitVRLittleEndian,
    RLELossless,
    generate_uid,
)

from covidct.errors import InvalidInputError
from covidct.io.volume import CTVolume

__all__ = ["SOP_CLASS_BY_MODALITY", "write_dicom_series"]

logger = logging.getLogger(__name__)

#: Storage SOP classes used per modality (anything else: Secondary Capture).
SOP_CLASS_BY_MODALITY: dict[str, str] = {
    "CT": "1.2.840.10008.5.1.4.1.1.2",  # CT Image Storage
    "MR": "1.2.840.10008.5.1.4.1.1.4",  # MR Image Storage
    "PT": "1.2.840.10008.5.1.4.1.1.128",  # PET Image Storage
}
_SECONDARY_CAPTURE = "1.2.840.10008.5.1.4.1.1.7"
_UINT16_MAX = 65535


def _storage_plan(array: np.ndarray, intercept: float) -> tuple[float, float, bool]:
    """Choose (slope, intercept, signed) so that ``(array - intercept) / slope`` fits 16 bits."""
    finite = array[np.isfinite(array)] if array.dtype.kind == "f" else array
    if finite.size != array.size:
        raise InvalidInputError("cannot write a DICOM series from a volume with NaN/inf voxels")
    lo, hi = float(finite.min()), float(finite.max())
    integral = array.dtype.kind in "iub" or bool(np.all(np.round(array) == array))
    slope = 1.0
    if not integral or hi - lo > _UINT16_MAX:
        if integral:
            slope = (hi - lo) / _UINT16_MAX
        else:
            # Keep 1/100 HU-ish precision where the range allows, never more than 16 bits.
            slope = max((hi - lo) / _UINT16_MAX, 1e-2) if hi > lo else 1.0
        logger.warning(
            "volume values need rescaling to fit 16 bits; stored with slope %.6g "
            "(quantisation error up to %.3g)",
            slope,
            slope / 2,
        )
    slope = float(f"{slope:.8g}")  # exactly what the DS tag will say
    lo_s, hi_s = (lo - intercept) / slope, (hi - intercept) / slope
    if lo_s >= 0 and hi_s <= _UINT16_MAX:
        return slope, intercept, False
    if lo_s >= -32768 and hi_s <= 32767:
        return slope, intercept, True
    return slope, float(f"{lo:.8g}"), False


def _base_dataset(
    *,
    modality: str,
    patient_id: str,
    study_uid: str,
    series_uid: str,
    frame_uid: str,
    series_description: str,
    volume: CTVolume,
) -> Dataset:
    now = _dt.datetime.now()
    ds = Dataset()
    ds.SOPClassUID = SOP_CLASS_BY_MODALITY.get(modality, _SECONDARY_CAPTURE)
    ds.PatientID = patient_id
    ds.PatientName = patient_id
    ds.PatientBirthDate = ""
    ds.PatientSex = ""
    ds.StudyInstanceUID = study_uid
    ds.SeriesInstanceUID = series_uid
    ds.FrameOfReferenceUID = frame_uid
    ds.StudyDate = now.strftime("%Y%m%d")
    ds.StudyTime = now.strftime("%H%M%S")
    ds.SeriesDate = ds.StudyDate
    ds.SeriesTime = ds.StudyTime
    ds.StudyID = "1"
    ds.AccessionNumber = ""
    ds.ReferringPhysicianName = ""
    ds.Modality = modality
    ds.SeriesNumber = 1
    ds.SeriesDescription = series_description
    ds.Manufacturer = str(volume.metadata.get("manufacturer", "covidct"))
    ds.ImageType = ["DERIVED", "SECONDARY", "AXIAL"]
    ds.PositionReferenceIndicator = ""
    if volume.metadata.get("kernel"):
        ds.ConvolutionKernel = str(volume.metadata["kernel"])
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = 16
    ds.BitsStored = 16
    ds.HighBit = 15
    return ds


def write_dicom_series(
    volume: CTVolume,
    folder: str | Path,
    *,
    patient_id: str = "ANON",
    study_uid: str | None = None,
    series_uid: str | None = None,
    modality: str = "CT",
    series_description: str = "",
    rescale_intercept: float = -1024.0,
    compress: bool = False,
) -> list[Path]:
    """Write ``volume`` as a DICOM series, one file per z slice, into a new/empty ``folder``.

    Slice ``k`` is placed at ``origin + k * sz * direction[:, 2]`` (LPS, mm); rows/columns
    follow ``direction[:, 1]`` / ``direction[:, 0]``; PixelSpacing is ``(sy, sx)`` mm.
    Values (HU when ``volume.is_hu``) are stored as 16-bit integers with
    ``HU = stored * RescaleSlope + RescaleIntercept``: integer volumes are stored exactly
    (slope 1, the given intercept when it fits, unsigned else signed storage); non-integer
    volumes are quantised (a warning is logged). ``compress=True`` uses RLE Lossless.

    Note: a left-handed direction (det < 0) is written correctly, but a reader sorting by
    the slice normal (as DICOM readers do) returns the slices in the opposite order.

    Returns:
        The written file paths, in slice (z) order.

    Raises:
        InvalidInputError: the folder is not empty, or is the volume's own source.
    """
    folder = Path(folder)
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        raise InvalidInputError(
            f"DICOM output folder {folder} must be new or empty; it already holds files"
        )
    source = volume.metadata.get("source_path")
    if source:
        src = Path(str(source)).resolve()
        dst = folder.resolve()
        if dst == src or src in dst.parents or (src.is_dir() and dst.is_relative_to(src)):
            raise InvalidInputError(
                f"refusing to write a DICOM series into the input {src}; choose another folder"
            )
    modality = modality.upper()
    array = volume.array
    if array.dtype.kind not in "iubf":
        raise InvalidInputError(f"cannot store a volume of dtype {array.dtype} in DICOM")
    slope, intercept, signed = _storage_plan(array, float(f"{rescale_intercept:.8g}"))
    storage_dtype = np.int16 if signed else np.uint16

    direction = np.asarray(volume.direction, dtype=float).reshape(3, 3)
    row_cos, col_cos, normal = direction[:, 0], direction[:, 1], direction[:, 2]
    origin = np.asarray(volume.origin, dtype=float)
    sz, sy, sx = volume.spacing

    study_uid = study_uid or generate_uid()
    series_uid = series_uid or generate_uid()
    frame_uid = generate_uid()
    base = _base_dataset(
        modality=modality,
        patient_id=patient_id,
        study_uid=study_uid,
        series_uid=series_uid,
        frame_uid=frame_uid,
        series_description=series_description,
        volume=volume,
    )
    folder.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    width = max(4, len(str(volume.shape[0])))
    for k in range(volume.shape[0]):
        ds = Dataset()
        ds.update(base)
        sop_uid = generate_uid()
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = base.SOPClassUID
        meta.MediaStorageSOPInstanceUID = sop_uid
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
        ds.file_meta = meta
        ds.SOPInstanceUID = sop_uid
        ds.InstanceNumber = k + 1
        position = origin + k * sz * normal
        ds.ImagePositionPatient = [f"{v:.6f}" for v in position]
        ds.ImageOrientationPatient = [f"{v:.8f}" for v in (*row_cos, *col_cos)]
        ds.SliceLocation = f"{float(position @ normal):.6f}"
        ds.PixelSpacing = [f"{sy:.8g}", f"{sx:.8g}"]
        ds.SliceThickness = f"{sz:.8g}"
        ds.SpacingBetweenSlices = f"{sz:.8g}"
        ds.RescaleIntercept = f"{intercept:.8g}"
        ds.RescaleSlope = f"{slope:.8g}"
        ds.RescaleType = "HU" if volume.is_hu else "US"
        ds.Rows, ds.Columns = volume.shape[1], volume.shape[2]
        ds.PixelRepresentation = 1 if signed else 0
        stored = np.round((array[k].astype(np.float64) - intercept) / slope)
        info = np.iinfo(storage_dtype)
        ds.PixelData = np.clip(stored, info.min, info.max).astype(storage_dtype).tobytes()
        if compress:
            ds.compress(RLELossless)
        path = folder / f"IM{k + 1:0{width}d}.dcm"
        ds.save_as(path, enforce_file_format=True)
        written.append(path)
    logger.info(
        "wrote %d %s DICOM files to %s (series %s%s)",
        len(written),
        modality,
        folder,
        series_uid,
        ", RLE" if compress else "",
    )
    return written
