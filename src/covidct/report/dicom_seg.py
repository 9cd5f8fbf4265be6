"""DICOM Segmentation (highdicom) of an analysed DICOM study: lungs and lesions, for PACS.

Four binary segments with coded concepts, referencing the source CT series:
1 right lung and 2 left lung (SNOMED CT), 3 ground-glass opacity and 4 consolidation
(category SNOMED CT "Morphologically abnormal structure"; types from the project's private
coding scheme ``99COVIDCT``, since the DICOM code dictionaries hold no code for them).
The source files are matched to the CT's slices by position, so their file order is free.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import Dataset

from covidct import __version__
from covidct.errors import InvalidInputError
from covidct.io import CTVolume

__all__ = ["SEGMENTS", "source_datasets", "write_dicom_seg"]

#: segment number -> (label, category (value, scheme, meaning), type (value, scheme, meaning)).
SEGMENTS: dict[int, tuple[str, tuple[str, str, str], tuple[str, str, str]]] = {
    1: ("right lung", ("91723000", "SCT", "Anatomical Structure"), ("3341006", "SCT", "Right lung")),
    2: ("left lung", ("91723000", "SCT", "Anatomical Structure"), ("44029006", "SCT", "Left lung")),
    3: ("ground-glass opacity", ("49755003", "SCT", "Morphologically Abnormal Structure"),
        ("GGO", "99COVIDCT", "Ground-glass opacity")),
    4: ("consolidation", ("49755003", "SCT", "Morphologically Abnormal Structure"),
        ("CONS", "99COVIDCT", "Consolidation")),
}
_POSITION_TOL_MM = 1e-2


def _candidates(source: Path) -> Iterator[tuple[str, Dataset]]:
    """(name, dataset) of every readable DICOM file in a folder, a zip or one file."""
    def read(name: str, fh: object) -> tuple[str, Dataset] | None:
        try:
            return name, pydicom.dcmread(fh, stop_before_pixels=True)
        except (pydicom.errors.InvalidDicomError, OSError, ValueError, EOFError):
            return None

    if source.is_file() and zipfile.is_zipfile(source):
        with zipfile.ZipFile(source) as zf:
            for info in zf.infolist():
                if not info.is_dir() and (got := read(info.filename, io.BytesIO(zf.read(info)))):
                    yield got
        return
    files = [source] if source.is_file() else sorted(p for p in source.rglob("*") if p.is_file())
    for f in files:
        if got := read(str(f), str(f)):
            yield got


def source_datasets(source: str | Path, ct: CTVolume) -> list[Dataset]:
    """Headers of the CT's source DICOM slices, in the CT's z order (any file order on disk).

    Raises:
        InvalidInputError: not a DICOM input, or files that do not match the CT's slices.
    """
    if ct.metadata.get("source_format") != "dicom" or "series_uid" not in ct.metadata:
        raise InvalidInputError("a DICOM Segmentation needs a DICOM input (folder, zip or files); "
                                f"got {ct.metadata.get('source_format', 'unknown')} input")
    uid = ct.metadata["series_uid"]
    datasets = [ds for _, ds in _candidates(Path(source))
                if ds.get("SeriesInstanceUID") == uid and "ImagePositionPatient" in ds]
    if len(datasets) != ct.shape[0]:
        raise InvalidInputError(f"{source}: found {len(datasets)} slices of series {uid}; the CT "
                                f"has {ct.shape[0]}")
    d = np.asarray(ct.direction, float).reshape(3, 3)
    origin = np.asarray(ct.origin, float)
    normal = d[:, 2]
    index = [(float(np.asarray(ds.ImagePositionPatient, float) @ normal - origin @ normal)
              / ct.spacing[0]) for ds in datasets]
    order = np.argsort(index, kind="stable")
    ordered = [datasets[i] for i in order]
    for k, ds in enumerate(ordered):
        expected = origin + d[:, 2] * ct.spacing[0] * k
        if np.abs(np.asarray(ds.ImagePositionPatient, float) - expected).max() > max(
                _POSITION_TOL_MM, 0.05 * ct.spacing[0]):
            raise InvalidInputError(f"{source}: slice {k} of the series is not where the CT "
                                    "puts it; cannot reference it in a segmentation")
    return ordered


def _descriptions() -> list[object]:
    from highdicom import AlgorithmIdentificationSequence
    from highdicom.seg import SegmentAlgorithmTypeValues, SegmentDescription
    from pydicom.sr.codedict import codes
    from pydicom.sr.coding import Code

    algorithm = AlgorithmIdentificationSequence(
        name="covidct analyze", version=__version__,
        family=codes.cid7162.MorphologicalOperations,
    )
    out = []
    for number, (label, category, kind) in SEGMENTS.items():
        out.append(SegmentDescription(
            segment_number=number, segment_label=label,
            segmented_property_category=Code(*category), segmented_property_type=Code(*kind),
            algorithm_type=SegmentAlgorithmTypeValues.AUTOMATIC,
            algorithm_identification=algorithm,
        ))
    return out


def write_dicom_seg(
    source: str | Path, ct: CTVolume, lungs: np.ndarray, lesions: np.ndarray, path: str | Path
) -> Path:
    """Write a binary DICOM SEG of ``lungs`` (1 right, 2 left) and ``lesions`` (1 GGO,
    2 consolidation), (z, y, x) on the CT's grid, referencing the series read from ``source``.
    """
    from highdicom.seg import Segmentation, SegmentationTypeValues
    from pydicom.uid import generate_uid

    if np.shape(lungs) != ct.shape or np.shape(lesions) != ct.shape:
        raise InvalidInputError(f"masks must be on the CT's grid {ct.shape}")
    datasets = source_datasets(source, ct)
    lungs, lesions = np.asarray(lungs), np.asarray(lesions)
    stack = np.stack([lungs == 1, lungs == 2, lesions == 1, lesions == 2], axis=-1)
    seg = Segmentation(
        source_images=datasets, pixel_array=stack.astype(np.uint8),
        segmentation_type=SegmentationTypeValues.BINARY,
        segment_descriptions=_descriptions(),
        series_instance_uid=generate_uid(), series_number=9901,
        sop_instance_uid=generate_uid(), instance_number=1,
        manufacturer="covidct", manufacturer_model_name="covidct analyze",
        software_versions=__version__, device_serial_number="none",
        series_description="covidct lungs and lesions (research use)",
    )
    path = Path(path)
    seg.save_as(path)
    return path
