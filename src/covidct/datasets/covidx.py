"""COVIDx-CT / CNCB classification layout (COVIDNet-CT, COVID-CT-Mask-Net classifier).

Layout::

    root/images/{NCP|CP|Normal}_{patient}_{scan}_{slice}.png    512 x 512, 8-bit lung window
    root/train_COVIDx_CT.txt   lines "filename class xmin ymin xmax ymax"
    root/val_COVIDx_CT.txt     (class 0 Normal, 1 Pneumonia, 2 COVID-19;
    root/test_COVIDx_CT.txt     box = body bounding box in pixels, max exclusive)

The reader also accepts the real releases' names (``train_COVIDx_CT-2A.txt``, images in
``2A_images/`` or next to the split files). Rows: one per listed slice; ``class_id`` as in
the file, ``diagnosis`` control/pneumonia/covid, ``covid`` 0/1, ``split`` from the file;
extras ``slice_index``, ``xmin ymin xmax ymax``.

Which slices: COVIDx-CT's COVID-19 and pneumonia slices were selected to show the findings,
so the writer keeps, of a case with lesions, the slices whose lesion area is at least
:data:`~covidct.datasets._common.FINDING_SHARE` of its largest per-slice lesion area, and of
a case without lesions its lung slices (:func:`~covidct.datasets._common.pick_slices`);
``slices_per_case`` keeps that many, evenly spaced, instead of all.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from covidct.datasets._common import (
    CaseLike,
    Progress,
    body_box,
    case_label,
    hu_to_uint8,
    iter_with_progress,
    pick_slices,
    prepare_output_dir,
    resample_slice_to_square,
    safe_name,
    write_png,
    writer_splits,
)
from covidct.datasets.table import DIAGNOSES, make_case_table
from covidct.errors import InvalidInputError
from covidct.io.atomic import write_text
from covidct.io.layout import display_view

__all__ = [
    "CLASS_NAMES",
    "CLASS_PREFIX",
    "LAYOUT",
    "SPLIT_FILE",
    "find_split_files",
    "read_covidx_ct",
    "write_covidx_ct",
]

LAYOUT = "covidx-ct"
IMAGE_DIR = "images"
SLICE_SIZE = 512
#: File-name prefix per class id (0 Normal, 1 common pneumonia CP, 2 COVID-19 NCP).
CLASS_PREFIX: tuple[str, ...] = ("Normal", "CP", "NCP")
CLASS_NAMES: tuple[str, ...] = ("Normal", "Pneumonia", "COVID-19")
SPLIT_FILE = "{split}_COVIDx_CT.txt"
_SPLIT_RE = re.compile(r"^(train|val|test)_COVIDx[_-]?CT.*\.txt$", re.IGNORECASE)
_NAME_RE = re.compile(r"^(?P<cls>NCP|CP|Normal)_(?P<patient>.+)_(?P<scan>\d+)_(?P<slice>\d+)$")
_FALLBACK_RE = re.compile(r"^(?P<scan>.+?)_(?P<slice>\d+)$")


def find_split_files(root: Path) -> dict[str, Path]:
    """``{split: path}`` of the COVIDx-CT split files directly in ``root``."""
    found: dict[str, Path] = {}
    for path in sorted(root.glob("*.txt")):
        match = _SPLIT_RE.match(path.name)
        if match:
            found.setdefault(match.group(1).lower(), path)
    return found


def write_covidx_ct(
    cases: Iterable[CaseLike],
    out: str | Path,
    *,
    slices_per_case: int | None = None,
    seed: int = 0,
    progress: Progress | None = None,
) -> pd.DataFrame:
    """Write the slices of each case as 512 x 512 PNGs with split files; returns the table.

    Slices: those showing the findings, or the lung slices of a case without lesions (module
    docstring); ``slices_per_case``: at most that many, evenly spaced (None = all).
    Patients go to train/val/test (about 70/15/15, stratified by diagnosis when possible,
    ``seed``); the class comes from the case's ``diagnosis`` label.
    """
    root = prepare_output_dir(out)
    cases = list(cases)
    diagnoses = {}
    for case in cases:
        diagnosis = case_label(case, "diagnosis")
        if diagnosis not in DIAGNOSES:
            raise InvalidInputError(
                f"case {case.case_id}: diagnosis must be one of {DIAGNOSES} for COVIDx-CT; "
                f"got {diagnosis!r}"
            )
        diagnoses[str(case.patient_id)] = diagnosis
    split_of = writer_splits(diagnoses, seed=seed)
    lines: dict[str, list[str]] = {"train": [], "val": [], "test": []}
    scans: dict[str, int] = {}
    for _, case in iter_with_progress(cases, progress):
        class_id = DIAGNOSES.index(case_label(case, "diagnosis"))
        patient = safe_name(case.patient_id)
        scans[patient] = scan = scans.get(patient, 0) + 1
        image3d, (lungs, lesions), spacing = display_view(case.volume, case.lungs, case.lesions)
        spacing_yx = spacing[1:]
        for z in pick_slices(lungs, lesions, slices_per_case):
            hu = resample_slice_to_square(  # front up, the patient's right on the left
                image3d[z], spacing_yx, size=SLICE_SIZE, order=1, fill=-2000.0
            )
            name = f"{CLASS_PREFIX[class_id]}_{patient}_{scan}_{z:04d}.png"
            write_png(hu_to_uint8(hu), root / IMAGE_DIR / name)
            xmin, ymin, xmax, ymax = body_box(hu)
            lines[split_of[str(case.patient_id)]].append(
                f"{name} {class_id} {xmin} {ymin} {xmax} {ymax}"
            )
    for split, entries in lines.items():
        text = "\n".join(entries) + ("\n" if entries else "")
        write_text(text, root / SPLIT_FILE.format(split=split), what="split list")
    return read_covidx_ct(root)


def _image_dir(root: Path) -> Path:
    if (root / IMAGE_DIR).is_dir():
        return root / IMAGE_DIR
    others = sorted(p for p in root.glob("*_images") if p.is_dir())
    return others[0] if others else root


def read_covidx_ct(root: str | Path) -> pd.DataFrame:
    """Read a COVIDx-CT folder (split files + PNG slices) into a case table."""
    root = Path(root)
    split_files = find_split_files(root)
    if not split_files:
        raise InvalidInputError(
            f"COVIDx-CT dataset {root} has no split files named like "
            f"{SPLIT_FILE.format(split='train')}"
        )
    img_dir = _image_dir(root)
    rows = []
    for split, path in split_files.items():
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if not line.strip():
                continue
            parts = line.split()
            where = f"{path.name} line {number}"
            if len(parts) != 6 or not all(re.fullmatch(r"-?\d+", p) for p in parts[1:]):
                raise InvalidInputError(
                    f"{where}: expected 'filename class xmin ymin xmax ymax'; got {line.strip()!r}"
                )
            filename, class_id = parts[0], int(parts[1])
            if class_id not in (0, 1, 2):
                raise InvalidInputError(
                    f"{where}: unknown class {class_id} for {filename} "
                    "(expected 0 Normal, 1 Pneumonia, 2 COVID-19)"
                )
            stem = Path(filename).stem
            match = _NAME_RE.match(stem)
            if match is not None:
                if CLASS_PREFIX.index(match["cls"]) != class_id:
                    raise InvalidInputError(
                        f"{where}: class {class_id} contradicts the file name prefix of {filename}"
                    )
                patient, scan, slice_index = match["patient"], match["scan"], int(match["slice"])
            else:
                fallback = _FALLBACK_RE.match(stem)
                patient = fallback["scan"] if fallback else stem
                scan, slice_index = "1", int(fallback["slice"]) if fallback else pd.NA
            xmin, ymin, xmax, ymax = (int(p) for p in parts[2:])
            rows.append(
                {
                    "patient_id": patient,
                    "scan_id": scan,
                    "case_id": stem,
                    "image": str((img_dir / filename).relative_to(root)),
                    "diagnosis": DIAGNOSES[class_id],
                    "covid": int(class_id == 2),
                    "class_id": class_id,
                    "split": split,
                    "slice_index": slice_index,
                    "xmin": xmin,
                    "ymin": ymin,
                    "xmax": xmax,
                    "ymax": ymax,
                }
            )
    table = make_case_table(rows, layout=LAYOUT)
    if "slice_index" in table.columns:
        table["slice_index"] = table["slice_index"].astype("Int64")
    return table
