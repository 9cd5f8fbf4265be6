"""Read one CT series out of a set of DICOM files.

Files are scanned header-only; non-DICOM files (no 128-byte preamble + ``DICM``) and
non-image DICOMs (DICOMDIR, structured reports, anything without Rows/Columns) are
ignored. One series is chosen (the CT series with the most slices, or the one named),
its slices sorted along the slice normal ``n = row x col`` of ImageOrientationPatient
by ``n . ImagePositionPatient``, checked (gaps, duplicates, sizes), decoded (pydicom,
falling back to SimpleITK/GDCM per file) and rescaled to HU.
"""

from __future__ import annotations

import locale
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
import SimpleITK as sitk
from pydicom.dataset import Dataset
from pydicom.uid import UID

from covidct.errors import InvalidInputError
from covidct.io.volume import CTVolume

__all__ = ["is_dicom_file", "read_dicom_series"]

logger = logging.getLogger(__name__)

_GAP_FACTOR = 1.5  # a step above 1.5 x the median step means a missing slice
_DUPLICATE_MM = 1e-3  # slices closer than this along the normal are duplicates
_UNEVEN_REL = 0.01  # steps deviating from the median by more than 1 % (and 0.01 mm) warn
_UNEVEN_MM = 0.01
_DICOMDIR = "1.2.840.10008.1.3.10"  # Media Storage Directory Storage


def read_with_gdcm(path: Path) -> np.ndarray:
    """Pixel array of one DICOM file decoded by SimpleITK/GDCM (no rescale applied here).

    GDCM sets the C library's locale to "C" and leaves it so, which makes Python's default text
    encoding ASCII for the rest of the process; the caller's locale is restored.
    """
    saved = locale.setlocale(locale.LC_ALL)
    try:
        return sitk.GetArrayFromImage(sitk.ReadImage(str(path)))
    finally:
        locale.setlocale(locale.LC_ALL, saved)


def is_dicom_file(path: Path) -> bool:
    """True when ``path`` is a file with the DICOM Part 10 preamble and ``DICM`` marker."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(132)
    except OSError:
        return False
    return len(head) == 132 and head[128:132] == b"DICM"


@dataclass(frozen=True)
class _Slice:
    path: Path
    header: Dataset

    @property
    def series_uid(self) -> str:
        return str(self.header.get("SeriesInstanceUID", ""))

    @property
    def modality(self) -> str:
        return str(self.header.get("Modality", "")).upper()


def _scan(files: Sequence[Path]) -> list[_Slice]:
    """Header-only read of every DICOM image file; others are skipped (debug-logged)."""
    slices = []
    for path in files:
        if not is_dicom_file(path):
            logger.debug("ignoring %s: not a DICOM Part 10 file", path)
            continue
        try:
            header = pydicom.dcmread(path, stop_before_pixels=True)
        except Exception as exc:  # pydicom raises many types on corrupt headers
            raise InvalidInputError(
                f"corrupt or truncated DICOM file {path}: {type(exc).__name__}: {exc}"
            ) from exc
        if "Rows" not in header or "Columns" not in header:
            sop = header.get("SOPClassUID")
            media = header.get("file_meta", Dataset()).get("MediaStorageSOPClassUID")
            if media == _DICOMDIR or (sop is not None and "Image Storage" not in sop.name):
                logger.debug(
                    "ignoring %s: DICOM without an image (%s)",
                    path,
                    (sop or media or UID("")).name or "no SOP class",
                )
                continue
            raise InvalidInputError(
                f"corrupt or truncated DICOM file {path}: "
                + ("no SOPClassUID" if sop is None else f"a {sop.name} without Rows/Columns")
            )
        slices.append(_Slice(path, header))
    return slices


def _series_table(groups: dict[str, list[_Slice]], chosen: str) -> tuple[dict[str, Any], ...]:
    return tuple(
        {
            "series_uid": uid,
            "modality": group[0].modality,
            "n_slices": len(group),
            "series_description": str(group[0].header.get("SeriesDescription", "")),
            "chosen": uid == chosen,
        }
        for uid, group in sorted(groups.items(), key=lambda kv: -len(kv[1]))
    )


def _choose_series(
    slices: list[_Slice], series_uid: str | None, source: Path
) -> tuple[list[_Slice], tuple[dict[str, Any], ...] | None]:
    groups: dict[str, list[_Slice]] = {}
    for s in slices:
        groups.setdefault(s.series_uid, []).append(s)
    summary = ", ".join(
        f"{uid or '<no uid>'} ({g[0].modality or '?'}, {len(g)} images)"
        for uid, g in groups.items()
    )
    if series_uid is not None:
        if series_uid not in groups:
            raise InvalidInputError(
                f"series {series_uid} not found in {source}; series present: {summary}"
            )
        chosen, why = series_uid, "named by series_uid"
    else:
        ct = {uid: g for uid, g in groups.items() if g[0].modality in ("CT", "")}
        if not ct:
            raise InvalidInputError(
                f"no CT series in {source}: expected Modality CT, found {summary}"
            )
        chosen = max(ct, key=lambda uid: len(ct[uid]))
        why = "the CT series with the most slices" if len(groups) > 1 else "the only series"
    group = groups[chosen]
    modality = group[0].modality
    if modality not in ("CT", ""):
        raise InvalidInputError(
            f"DICOM series {chosen} in {source} is not CT: Modality is {modality} "
            f"(file {group[0].path})"
        )
    table = None
    if len(groups) > 1:
        table = _series_table(groups, chosen)
        logger.info(
            "%s holds %d series; reading %s (%d images): %s. Others: %s",
            source,
            len(groups),
            chosen,
            len(group),
            why,
            ", ".join(
                f"{t['series_uid']} ({t['modality']}, {t['n_slices']})"
                for t in table
                if not t["chosen"]
            ),
        )
    return group, table


def _geometry(
    group: list[_Slice],
) -> tuple[list[_Slice], np.ndarray, np.ndarray, tuple[float, float], list[str]]:
    """Sort slices along the normal.

    Returns (sorted slices, positions along the normal in mm, direction 3 x 3 with columns
    row/column/normal, (sy, sx) pixel spacing in mm, warnings).
    """
    first = group[0]
    for tag in ("ImageOrientationPatient", "ImagePositionPatient", "PixelSpacing"):
        missing = [s.path for s in group if tag not in s.header]
        if missing:
            raise InvalidInputError(
                f"DICOM file {missing[0]} lacks {tag}; cannot place the slices in space"
            )
    iop = np.asarray(first.header.ImageOrientationPatient, dtype=float)
    for s in group[1:]:
        other = np.asarray(s.header.ImageOrientationPatient, dtype=float)
        if not np.allclose(other, iop, atol=1e-4):
            raise InvalidInputError(
                f"mixed slice orientations in one series: {first.path} has {iop.tolist()}, "
                f"{s.path} has {other.tolist()}"
            )
    sizes = {(int(s.header.Rows), int(s.header.Columns)) for s in group}
    if len(sizes) > 1:
        by_size = {
            size: next(s.path for s in group if (int(s.header.Rows), int(s.header.Columns)) == size)
            for size in sizes
        }
        raise InvalidInputError(
            "mixed image sizes in one series (rows x columns): "
            + "; ".join(f"{r}x{c} in {p}" for (r, c), p in by_size.items())
        )
    pix = np.asarray(first.header.PixelSpacing, dtype=float)
    if pix.shape != (2,) or not np.all(np.isfinite(pix) & (pix > 0)):
        raise InvalidInputError(
            f"DICOM file {first.path} has PixelSpacing {pix.tolist()}: a pixel size must be "
            "two positive numbers (mm); fix the header with the true spacing"
        )
    for s in group[1:]:
        if not np.allclose(np.asarray(s.header.PixelSpacing, dtype=float), pix, atol=1e-4):
            raise InvalidInputError(
                f"mixed PixelSpacing in one series: {first.path} {pix.tolist()}, "
                f"{s.path} {list(s.header.PixelSpacing)}"
            )
    row, col = iop[:3], iop[3:]
    row, col = row / np.linalg.norm(row), col / np.linalg.norm(col)
    normal = np.cross(row, col)
    normal /= np.linalg.norm(normal)
    pos = np.array(
        [float(np.asarray(s.header.ImagePositionPatient, float) @ normal) for s in group]
    )
    order = np.argsort(pos, kind="stable")
    ordered = [group[i] for i in order]
    pos = pos[order]
    warnings: list[str] = []
    if len(ordered) > 1:
        steps = np.diff(pos)
        dup = np.flatnonzero(steps < _DUPLICATE_MM)
        if dup.size:
            i = int(dup[0])
            raise InvalidInputError(
                f"duplicated slice position {pos[i]:.3f} mm: {ordered[i].path} and "
                f"{ordered[i + 1].path}"
            )
        median = float(np.median(steps))
        gaps = np.flatnonzero(steps > _GAP_FACTOR * median)
        if gaps.size:
            i = int(gaps[0])
            raise InvalidInputError(
                f"missing slice(s) in the series from {ordered[0].path.parent}: a gap of "
                f"{steps[i]:.3f} mm between positions {pos[i]:.3f} and {pos[i + 1]:.3f} mm "
                f"({ordered[i].path.name}, {ordered[i + 1].path.name}); median step {median:.3f} mm"
            )
        dev = np.abs(steps - median)
        if np.any(dev > max(_UNEVEN_MM, _UNEVEN_REL * median)):
            msg = (
                f"uneven slice spacing: steps from {steps.min():.4f} to {steps.max():.4f} mm "
                f"(median {median:.4f}); using the mean step"
            )
            logger.warning("%s in %s", msg, ordered[0].path.parent)
            warnings.append(msg)
        tilt = _gantry_tilt(ordered, normal, min(pix))
        if tilt:
            logger.warning("%s in %s", tilt, ordered[0].path.parent)
            warnings.append(tilt)
    direction = np.column_stack([row, col, normal])
    return ordered, pos, direction, (float(pix[0]), float(pix[1])), warnings


def _gantry_tilt(ordered: list[_Slice], normal: np.ndarray, pixel_mm: float) -> str | None:
    """A warning when the slices' positions do not step along their normal (a gantry-tilted
    acquisition) by more than half a pixel over the series; None otherwise. The volume is
    read as slices stacked square to each other: voxel volumes (the step along the normal)
    are right, but the file places its later slices shifted in-plane."""
    p = np.array([np.asarray(s.header.ImagePositionPatient, float) for s in ordered])
    d = p - p[0]
    along = d @ normal
    shift = float(np.linalg.norm(d - np.outer(along, normal), axis=1).max())
    if shift <= 0.5 * pixel_mm:
        return None
    angle = float(np.degrees(np.arctan2(shift, abs(along[-1]))))
    return (f"gantry tilt of {angle:.1f} degrees: the slices are read stacked square to each "
            f"other (volumes are right, but the last slice lies {shift:.1f} mm from where the "
            "file puts it); a tilt-correcting converter (e.g. dcm2niix) gives exact positions")


def _decode(s: _Slice, rows: int, cols: int) -> np.ndarray:
    """One slice in HU (or modality units) as float64 or int64, shape (rows, cols)."""
    try:
        ds = pydicom.dcmread(s.path)
    except Exception as exc:
        raise InvalidInputError(
            f"corrupt or truncated DICOM file {s.path}: {type(exc).__name__}: {exc}"
        ) from exc
    if "PixelData" not in ds:
        raise InvalidInputError(f"DICOM file {s.path} has image tags but no PixelData")
    if int(ds.get("NumberOfFrames", 1) or 1) > 1:
        raise InvalidInputError(
            f"{s.path} is a multi-frame DICOM inside a series of single frames; not supported"
        )
    try:
        raw = ds.pixel_array
        rescaled = False
    except Exception as exc:
        syntax = ds.file_meta.get("TransferSyntaxUID")
        if syntax is None or not syntax.is_compressed:
            raise InvalidInputError(
                f"corrupt or truncated DICOM file {s.path}: {type(exc).__name__}: {exc}"
            ) from exc
        logger.info(
            "pydicom cannot decode %s (%s: %s); trying SimpleITK/GDCM", s.path, syntax.name, exc
        )
        try:
            raw = read_with_gdcm(s.path)
        except RuntimeError as exc2:
            raise InvalidInputError(
                f"cannot decode DICOM file {s.path} ({syntax.name}): pydicom: {exc}; "
                f"SimpleITK: {str(exc2).strip().splitlines()[-1]}"
            ) from exc2
        raw = raw.reshape(raw.shape[-2:]) if raw.ndim == 3 and raw.shape[0] == 1 else raw
        rescaled = True  # GDCM applies RescaleSlope/Intercept itself
    if raw.shape != (rows, cols):
        raise InvalidInputError(
            f"DICOM file {s.path}: pixel data of shape {raw.shape}, expected ({rows}, {cols})"
        )
    if rescaled:
        return raw.astype(np.int64 if raw.dtype.kind in "iu" else np.float64)
    slope = float(ds.get("RescaleSlope", 1) or 1)
    intercept = float(ds.get("RescaleIntercept", 0) or 0)
    if slope.is_integer() and intercept.is_integer() and raw.dtype.kind in "iu":
        return raw.astype(np.int64) * int(slope) + int(intercept)
    return raw.astype(np.float64) * slope + intercept


def _metadata(first: Dataset, source: Path, n_files: int) -> dict[str, Any]:
    def text(tag: str) -> str | None:
        value = first.get(tag)
        if value is None or value == "":
            return None
        if isinstance(value, pydicom.multival.MultiValue):
            return "/".join(str(v) for v in value)
        return str(value)

    meta: dict[str, Any] = {
        "source_path": str(source.resolve()),
        "source_format": "dicom",
        "n_files": n_files,
    }
    for key, tag in (
        ("patient_id", "PatientID"),
        ("study_uid", "StudyInstanceUID"),
        ("series_uid", "SeriesInstanceUID"),
        ("series_description", "SeriesDescription"),
        ("modality", "Modality"),
        ("kernel", "ConvolutionKernel"),
        ("manufacturer", "Manufacturer"),
    ):
        value = text(tag)
        if value is not None:
            meta[key] = value
    if first.get("SliceThickness") not in (None, ""):
        meta["slice_thickness_mm"] = float(first.SliceThickness)
    return meta


def _read_multiframe(s: _Slice, source: Path) -> CTVolume:
    """An enhanced/multi-frame DICOM file, read whole by SimpleITK (GDCM)."""
    try:
        image = sitk.ReadImage(str(s.path))
    except RuntimeError as exc:
        raise InvalidInputError(f"cannot read multi-frame DICOM {s.path}: {exc}") from exc
    if image.GetPixelID() == sitk.sitkFloat64:
        image = sitk.Cast(image, sitk.sitkFloat32)
    meta = _metadata(s.header, source, 1)
    meta["warnings"] = ("multi-frame DICOM read by SimpleITK/GDCM; geometry from its parser",)
    return CTVolume.from_sitk(image, metadata=meta)


def read_dicom_series(
    files: Sequence[Path], *, source: Path, series_uid: str | None = None
) -> CTVolume:
    """Read one CT series from ``files`` (any order) as a :class:`CTVolume` in HU.

    Args:
        files: candidate files; non-DICOM and non-image files are ignored.
        source: the path the user gave (folder, zip or file), for messages and metadata.
        series_uid: read this SeriesInstanceUID; default: the CT series with most slices.

    Returns:
        ``(z, y, x)`` int16 HU when every slice has an integer slope and intercept and the
        values fit, else float32 HU; spacing ``(mean slice step, row spacing, column
        spacing)`` mm; origin = position of the first slice; direction columns =
        (row cosine, column cosine, slice normal).
    """
    slices = _scan(files)
    if not slices:
        raise InvalidInputError(f"no DICOM images found in {source}")
    group, table = _choose_series(slices, series_uid, source)
    if len(group) == 1:
        if int(group[0].header.get("NumberOfFrames", 1) or 1) > 1:
            return _read_multiframe(group[0], source)
        raise InvalidInputError(
            f"{source} holds a single 2D DICOM image ({group[0].path}); a CT volume needs "
            "a series of slices"
        )
    ordered, pos, direction, (sy, sx), warnings = _geometry(group)
    rows, cols = int(ordered[0].header.Rows), int(ordered[0].header.Columns)
    planes = [_decode(s, rows, cols) for s in ordered]
    if all(p.dtype.kind in "iu" for p in planes):
        stack = np.stack(planes)
        info = np.iinfo(np.int16)
        array = stack.astype(
            np.int16 if stack.min() >= info.min and stack.max() <= info.max else np.float32
        )
    else:
        array = np.stack(planes).astype(np.float32)
    if ordered[0].modality == "":
        warnings.append("the series has no Modality tag; assumed CT")
    sz = float((pos[-1] - pos[0]) / (len(pos) - 1))
    meta = _metadata(ordered[0].header, source, len(ordered))
    meta["warnings"] = tuple(warnings)
    if table is not None:
        meta["series_choice"] = table
    return CTVolume(
        array=array,
        spacing=(sz, sy, sx),
        origin=tuple(float(v) for v in ordered[0].header.ImagePositionPatient),
        direction=tuple(direction.ravel()),
        metadata=meta,
    )
