"""UCSD-AI4H COVID-CT layout (the slice-classifier tutorial).

Layout::

    root/CT_COVID/*.png|jpg         COVID-19 slices        (covid = class_id = 1)
    root/CT_NonCOVID/*.png|jpg      non-COVID slices       (covid = class_id = 0)
    root/Data-split/COVID/{train,val,test}CT_COVID.txt          one file name per line
    root/Data-split/NonCOVID/{train,val,test}CT_NonCOVID.txt

The writer names slices ``{patient}_slice{z:03d}.png`` so that the reader recovers the
patient; for other names (the real dataset's) each image is its own patient, since the
real file names do not say which slices share a patient. Writer: ``slices_per_case``
lung slices per case, isotropic pixels, 8-bit lung window, patients split about 70/15/15
(stratified by COVID when possible).

Which slices: UCSD's images were taken from papers to show the findings, so by default
(``pick="findings"``) a case with lesions gives evenly spaced slices among those whose
lesion area is at least :data:`~covidct.datasets._common.FINDING_SHARE` of the case's
largest per-slice lesion area (COVID and common pneumonia alike); a case without lesions (controls, CT-negative COVID)
gives evenly spaced lung slices. ``pick="even"`` ignores the lesions.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from covidct.datasets._common import (
    CaseLike,
    Progress,
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
from covidct.datasets.table import make_case_table
from covidct.errors import InvalidInputError
from covidct.io.atomic import write_text
from covidct.io.layout import display_view

__all__ = ["CLASS_DIRS", "LAYOUT", "read_ucsd", "split_file", "write_ucsd"]

LAYOUT = "ucsd"
#: ``{covid: (image folder, Data-split sub-folder, split-file suffix)}``.
CLASS_DIRS: dict[int, tuple[str, str, str]] = {
    1: ("CT_COVID", "COVID", "CT_COVID"),
    0: ("CT_NonCOVID", "NonCOVID", "CT_NonCOVID"),
}
_SPLITS = ("train", "val", "test")
_NAME_RE = re.compile(r"^(?P<patient>.+)_slice(?P<slice>\d+)$")
_IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg"}


def split_file(root: Path, covid: int, split: str) -> Path:
    """Path of one split file, e.g. ``Data-split/COVID/trainCT_COVID.txt``."""
    _, sub, suffix = CLASS_DIRS[covid]
    return root / "Data-split" / sub / f"{split}{suffix}.txt"


def _is_covid(case: CaseLike) -> int:
    diagnosis = case_label(case, "diagnosis")
    if diagnosis is not None:
        return int(diagnosis == "covid")
    covid = case_label(case, "covid")
    if covid is None:
        raise InvalidInputError(f"case {case.case_id} has neither a diagnosis nor a covid label")
    return int(covid)


def write_ucsd(
    cases: Iterable[CaseLike],
    out: str | Path,
    *,
    slices_per_case: int = 2,
    pick: str = "findings",
    seed: int = 0,
    progress: Progress | None = None,
) -> pd.DataFrame:
    """Write ``slices_per_case`` lung slices per case in the UCSD layout; returns the table.

    ``pick``: which slices (:func:`pick_slices`; by default those showing the findings).
    """
    if slices_per_case < 1:
        raise InvalidInputError(f"slices_per_case must be >= 1; got {slices_per_case}")
    root = prepare_output_dir(out)
    cases = list(cases)
    split_of = writer_splits({str(c.patient_id): _is_covid(c) for c in cases}, seed=seed)
    listed: dict[tuple[int, str], list[str]] = {(c, s): [] for c in CLASS_DIRS for s in _SPLITS}
    for _, case in iter_with_progress(cases, progress):
        covid = _is_covid(case)
        folder = root / CLASS_DIRS[covid][0]
        image3d, (lungs, lesions), spacing = display_view(case.volume, case.lungs, case.lesions)
        spacing_yx = spacing[1:]
        size = max(image3d.shape[1], image3d.shape[2])
        for z in pick_slices(lungs, lesions, slices_per_case, pick=pick):
            hu = resample_slice_to_square(  # front up, the patient's right on the left
                image3d[z], spacing_yx, size=size, order=1, fill=-2000.0
            )
            name = f"{safe_name(case.patient_id)}_slice{z:03d}.png"
            write_png(hu_to_uint8(hu), folder / name)
            listed[(covid, split_of[str(case.patient_id)])].append(name)
    for (covid, split), names in listed.items():
        path = split_file(root, covid, split)
        write_text("".join(f"{n}\n" for n in names), path, what="split list")
    return read_ucsd(root)


def read_ucsd(root: str | Path) -> pd.DataFrame:
    """Read a UCSD COVID-CT folder into a case table (one row per image)."""
    root = Path(root)
    rows = []
    for covid, (folder, _, _) in CLASS_DIRS.items():
        if not (root / folder).is_dir():
            raise InvalidInputError(f"UCSD COVID-CT dataset {root} has no {folder}/ folder")
        names = {p.name for p in (root / folder).iterdir() if p.suffix.lower() in _IMAGE_SUFFIXES}
        split_of: dict[str, str] = {}
        for split in _SPLITS:
            path = split_file(root, covid, split)
            if not path.is_file():
                continue
            for name in path.read_text(encoding="utf-8").split("\n"):
                name = name.strip()
                if not name:
                    continue
                if name in split_of and split_of[name] != split:
                    raise InvalidInputError(
                        f"{folder}/{name} is listed in two split files "
                        f"({split_of[name]} and {split})"
                    )
                split_of[name] = split
        for name in sorted(names | set(split_of)):
            stem = Path(name).stem
            match = _NAME_RE.match(stem)
            rows.append(
                {
                    "patient_id": match["patient"] if match else stem,
                    "scan_id": "1",
                    "case_id": stem,
                    "image": f"{folder}/{name}",
                    "diagnosis": "covid" if covid else pd.NA,
                    "covid": covid,
                    "class_id": covid,
                    "split": split_of.get(name, ""),
                    "slice_index": int(match["slice"]) if match else pd.NA,
                }
            )
    table = make_case_table(rows, layout=LAYOUT)
    if "slice_index" in table.columns:
        table["slice_index"] = table["slice_index"].astype("Int64")
    return table
