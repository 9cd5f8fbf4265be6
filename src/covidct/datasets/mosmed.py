"""MosMedData layout: NIfTI studies in folders CT-0 ... CT-4, optional lesion masks.

Layout::

    root/studies/CT-0/study_0001.nii.gz ... root/studies/CT-4/study_1110.nii.gz
    root/masks/study_0255_mask.nii.gz        optional, 1 = lesion (binary, as MosMedData)

Labels: ``ct_category`` from the folder (CT-0 normal, CT-1 < 25 % of lung involved,
CT-2 25-50 %, CT-3 50-75 %, CT-4 > 75 %). One study per patient: ``patient_id`` =
``case_id`` = the study name. Writer: studies numbered 1..n in order; the category is the
case's ``ct_category`` label; masks are ``lesions > 0`` when ``masks`` is true.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd

from covidct.datasets._common import (
    CaseLike,
    Progress,
    case_label,
    iter_with_progress,
    prepare_output_dir,
    write_nifti,
)
from covidct.datasets.table import CT_CATEGORIES, make_case_table
from covidct.errors import InvalidInputError

__all__ = ["LAYOUT", "MASK_DIR", "STUDY_DIR", "read_mosmed", "write_mosmed"]

LAYOUT = "mosmed"
STUDY_DIR, MASK_DIR = "studies", "masks"
_STUDY_RE = re.compile(r"^(?P<study>.+?)\.nii(\.gz)?$")


def write_mosmed(
    cases: Iterable[CaseLike],
    out: str | Path,
    *,
    masks: bool = True,
    progress: Progress | None = None,
) -> pd.DataFrame:
    """Write cases as MosMedData studies (int16 HU NIfTI); returns the table."""
    root = prepare_output_dir(out)
    for i, case in iter_with_progress(cases, progress):
        category = case_label(case, "ct_category")
        if category not in CT_CATEGORIES:
            raise InvalidInputError(
                f"case {case.case_id}: ct_category must be one of {CT_CATEGORIES}; got {category!r}"
            )
        study = f"study_{i + 1:04d}"
        vol = case.volume
        write_nifti(
            vol,
            root / STUDY_DIR / category / f"{study}.nii.gz",
            np.asarray(vol.array).astype(np.int16),
        )
        if masks:
            mask = (np.asarray(case.lesions) > 0).astype(np.uint8)
            write_nifti(vol, root / MASK_DIR / f"{study}_mask.nii.gz", mask)
    return read_mosmed(root)


def read_mosmed(root: str | Path) -> pd.DataFrame:
    """Read a MosMedData folder into a case table (one row per study, sorted by study name)."""
    root = Path(root)
    studies = root / STUDY_DIR
    if not studies.is_dir():
        raise InvalidInputError(f"MosMedData dataset {root} has no {STUDY_DIR}/ folder")
    rows = []
    for folder in sorted(p for p in studies.iterdir() if p.is_dir()):
        if folder.name not in CT_CATEGORIES:
            raise InvalidInputError(
                f"unknown MosMedData category folder {folder} (expected one of {CT_CATEGORIES})"
            )
        for path in sorted(folder.iterdir()):
            match = _STUDY_RE.match(path.name)
            if match is None:
                continue
            study = match["study"]
            mask = root / MASK_DIR / f"{study}_mask.nii.gz"
            rows.append(
                {
                    "patient_id": study,
                    "scan_id": "1",
                    "case_id": study,
                    "image": f"{STUDY_DIR}/{folder.name}/{path.name}",
                    "lesion_mask": f"{MASK_DIR}/{mask.name}" if mask.is_file() else pd.NA,
                    "ct_category": folder.name,
                }
            )
    rows.sort(key=lambda r: r["case_id"])
    return make_case_table(rows, layout=LAYOUT)
