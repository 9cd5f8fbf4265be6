"""Lossless, compressed, viewer-openable storage of preprocessed studies.

Each case is three gzip-compressed NRRD files (opened as they are by 3D Slicer, ITK-SNAP,
SimpleITK, pynrrd): ``<case>_ct.nrrd`` (int16 HU, blanked outside the lungs),
``<case>_lungs.nrrd`` and, when there is one, ``<case>_lesions.nrrd`` (uint8 labels), with
the exact geometry of the grid. Writes go to a temporary name in the same folder and are
renamed into place, so a crash never leaves a file that looks complete.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from covidct.errors import InvalidInputError
from covidct.io import CTVolume

__all__ = ["StoredCase", "case_paths", "save_case", "load_case", "case_complete"]

SUFFIX = ".nrrd"


def case_paths(root: str | Path, case_id: str) -> dict[str, Path]:
    """Paths of a case's files in ``root`` (keys: ct, lungs, lesions)."""
    root = Path(root)
    return {kind: root / f"{case_id}_{kind}{SUFFIX}" for kind in ("ct", "lungs", "lesions")}


def _atomic_write(image: sitk.Image, path: Path) -> None:
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp{SUFFIX}")
    try:
        sitk.WriteImage(image, str(tmp), useCompression=True)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


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
    _atomic_write(volume.to_sitk(np.asarray(lungs, np.uint8)), paths["lungs"])
    written["lungs"] = paths["lungs"]
    if lesions is not None:
        _atomic_write(volume.to_sitk(np.asarray(lesions, np.uint8)), paths["lesions"])
        written["lesions"] = paths["lesions"]
    elif paths["lesions"].exists():
        paths["lesions"].unlink()
    _atomic_write(volume.to_sitk(np.asarray(volume.array, np.int16)), paths["ct"])
    written["ct"] = paths["ct"]
    return written


def case_complete(root: str | Path, case_id: str) -> bool:
    """True when the case's CT and lung files exist (the CT is written last)."""
    paths = case_paths(root, case_id)
    return paths["ct"].is_file() and paths["lungs"].is_file()


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
