"""The plain layout for users' own data: ``cases.csv`` and NIfTI (or any readable) images.

``cases.csv`` needs ``patient_id`` and ``image``; optional ``scan_id``, ``case_id``,
``lung_mask``, ``lesion_mask``, label columns (``diagnosis``, ``ct_positive``,
``nat_positive``, ``severity``, ``ct_category``, ``covid``, ``class_id``), ``split``,
``fold`` and any extra columns. Paths are relative to the folder holding ``cases.csv`` or
absolute. The writer stores ``images/{case_id}.nii.gz`` (int16 HU), ``lungs/`` and
``lesions/`` masks (uint8, label values kept) and every label of the cases.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd

from covidct.datasets._common import (
    CaseLike,
    Progress,
    iter_with_progress,
    prepare_output_dir,
    safe_name,
    write_nifti,
)
from covidct.datasets.table import LABEL_COLUMNS, make_case_table
from covidct.errors import InvalidInputError

__all__ = ["CSV_NAME", "LAYOUT", "read_plain", "write_plain"]

LAYOUT = "plain"
CSV_NAME = "cases.csv"
_ID_COLUMNS = ("patient_id", "scan_id", "case_id")


def write_plain(
    cases: Iterable[CaseLike], out: str | Path, *, progress: Progress | None = None
) -> pd.DataFrame:
    """Write cases as NIfTI images + masks and ``cases.csv``; returns the table."""
    root = prepare_output_dir(out)
    rows = []
    scans: dict[str, int] = {}
    for _, case in iter_with_progress(cases, progress):
        stem = safe_name(case.case_id)
        patient = str(case.patient_id)
        scans[patient] = scans.get(patient, 0) + 1
        vol = case.volume
        row = {
            "patient_id": patient,
            "scan_id": str(scans[patient]),
            "case_id": str(case.case_id),
            "image": f"images/{stem}.nii.gz",
        }
        write_nifti(vol, root / row["image"], np.asarray(vol.array).astype(np.int16))
        for key, folder, array in (
            ("lung_mask", "lungs", case.lungs),
            ("lesion_mask", "lesions", case.lesions),
        ):
            if array is not None:
                row[key] = f"{folder}/{stem}.nii.gz"
                write_nifti(vol, root / row[key], np.asarray(array).astype(np.uint8))
        labels = dict(case.labels or {})
        row.update({k: labels[k] for k in LABEL_COLUMNS if k in labels})
        row.update({k: v for k, v in labels.items() if k not in row and np.isscalar(v)})
        rows.append(row)
    table = make_case_table(rows, layout=LAYOUT)
    from covidct.io.atomic import write_table

    write_table(table.drop(columns=["layout", "fold", "split"]), root / CSV_NAME, what="case table")
    return read_plain(root)


def read_plain(root: str | Path) -> pd.DataFrame:
    """Read ``cases.csv`` of a plain dataset into a case table."""
    root = Path(root)
    csv = root / CSV_NAME if root.is_dir() else root
    if not csv.is_file():
        raise InvalidInputError(f"plain dataset {root} has no {CSV_NAME}")
    try:
        df = pd.read_csv(csv, dtype={c: str for c in _ID_COLUMNS}, keep_default_na=True)
    except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as exc:
        raise InvalidInputError(f"cannot read {csv}: {exc}") from exc
    lacking = [c for c in ("patient_id", "image") if c not in df.columns]
    if lacking:
        raise InvalidInputError(f"{csv} lacks the columns {lacking}; has {list(df.columns)}")
    if "split" in df.columns:
        df["split"] = df["split"].fillna("")
    return make_case_table(df, layout=LAYOUT)
