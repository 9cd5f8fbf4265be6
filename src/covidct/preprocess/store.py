"""Lossless, compressed, viewer-openable storage of preprocessed studies.

Each case is three gzip-compressed NRRD files (opened as they are by 3D Slicer, ITK-SNAP,
SimpleITK, pynrrd): ``<case>_ct.nrrd`` (int16 HU, blanked outside the lungs),
``<case>_lungs.nrrd`` and, when there is one, ``<case>_lesions.nrrd`` (uint8 labels), with
the exact geometry of the grid. Writes go to a temporary name in the same folder, are read
back and compared, and are renamed into place (:func:`covidct.io.write_image`), so neither a
crash nor a full disk leaves a file that looks complete.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from covidct.errors import InvalidInputError
from covidct.io import CTVolume, write_image

__all__ = ["StoredCase", "case_complete", "case_paths", "load_case", "save_case"]

SUFFIX = ".nrrd"


def case_paths(root: str | Path, case_id: str) -> dict[str, Path]:
    """Paths of a case's files in ``root`` (keys: ct, lungs, lesions)."""
    root = Path(root)
    return {kind: root / f"{case_id}_{kind}{SUFFIX}" for kind in ("ct", "lungs", "lesions")}


def save_case(
    root: str | Path,
    case_id: str,
    volume: CTVolume,
    lungs: np.ndarray,
    lesions: np.ndarray | None = None,
) -> dict[str, Path]:
    """Write a preprocessed case (CT, lung labels, optional lesion labels); return the paths.

    The CT is written last, so its presence marks a complete case.
    """
    if not case_id or any(c in case_id for c in "/\\"):
        raise InvalidInputError(f"case id {case_id!r} cannot be used as a file name")
    paths = case_paths(root, case_id)
    paths["ct"].parent.mkdir(parents=True, exist_ok=True)
    written: dict[str, Path] = {}
    paths["ct"].unlink(missing_ok=True)  # the CT marks a complete case: it goes first, back last
    written["lungs"] = write_image(np.asarray(lungs, np.uint8), volume, paths["lungs"])
    if lesions is not None:
        written["lesions"] = write_image(np.asarray(lesions, np.uint8), volume, paths["lesions"])
    elif paths["lesions"].exists():
        paths["lesions"].unlink()
    written["ct"] = write_image(np.asarray(volume.array, np.int16), volume, paths["ct"])
    return written


def case_complete(root: str | Path, case_id: str, stored_bytes: int | None = None) -> bool:
    """True when the case's CT and lung files exist (the CT is written last), their headers
    read, and (when given) their sizes add up to ``stored_bytes`` as recorded at writing."""
    paths = case_paths(root, case_id)
    if not (paths["ct"].is_file() and paths["lungs"].is_file()):
        return False
    present = [p for p in paths.values() if p.is_file()]
    if stored_bytes is not None and sum(p.stat().st_size for p in present) != int(stored_bytes):
        return False
    reader = sitk.ImageFileReader()
    for path in present:
        reader.SetFileName(str(path))
        try:
            reader.ReadImageInformation()
        except RuntimeError:
            return False
    return True


@dataclass(frozen=True, eq=False)
class StoredCase:
    """A case read back from the store."""

    case_id: str
    volume: CTVolume
    lungs: np.ndarray
    lesions: np.ndarray | None


def load_case(root: str | Path, case_id: str) -> StoredCase:
    """Read a stored case (exactly what :func:`save_case` wrote)."""
    paths = case_paths(root, case_id)
    if not case_complete(root, case_id):
        raise InvalidInputError(f"case {case_id!r} is not complete in {root}: {paths['ct']} missing")
    volume = CTVolume.from_sitk(sitk.ReadImage(str(paths["ct"])), metadata={"case_id": case_id})
    lungs = sitk.GetArrayFromImage(sitk.ReadImage(str(paths["lungs"])))
    lesions = None
    if paths["lesions"].is_file():
        lesions = sitk.GetArrayFromImage(sitk.ReadImage(str(paths["lesions"])))
    return StoredCase(case_id=case_id, volume=volume, lungs=lungs, lesions=lesions)
