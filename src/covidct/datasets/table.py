"""The one case table shared by every dataset layout.

A case table is a :class:`pandas.DataFrame` with one row per *case*: a CT volume for the
volume layouts (iCTCF, MosMedData, plain NIfTI) or one 2D slice for the slice layouts
(CNCB segmentation, COVIDx-CT, UCSD COVID-CT). Columns (see :data:`COLUMNS`):

============== ========== ===============================================================
column         dtype      meaning
============== ========== ===============================================================
patient_id     str        the patient; never split across train/val/test or folds
scan_id        str        the scan (study / series) of that patient, ``"1"`` when unknown
case_id        str        unique row id (also a safe file stem)
image          str        image path, relative to the dataset root or absolute
lung_mask      str / NA   optional lung mask path (same rule)
lesion_mask    str / NA   optional lesion mask path (same rule)
diagnosis      str / NA   ``control`` | ``pneumonia`` | ``covid``
ct_positive    Int64      radiology diagnosis (iCTCF CT task): 1 positive, 0 negative
nat_positive   Int64      nucleic acid test (iCTCF NAT task): 1 positive, 0 negative
severity       Int64      0 control/suspected, 1 mild/regular, 2 severe/critically ill
ct_category    str / NA   MosMedData category ``CT-0`` ... ``CT-4``
covid          Int64      slice sets: 1 COVID-19, 0 not
class_id       Int64      the layout's own class index (COVIDx: 0 Normal, 1 Pneumonia,
                          2 COVID-19; UCSD: 0 non-COVID, 1 COVID)
split          str        ``train`` | ``val`` | ``test`` | ``""`` (none)
fold           int64      cross-validation fold, ``-1`` when none
layout         str        the layout the row was read from
============== ========== ===============================================================

Layouts may add extra columns (``slice_index``, ``age``, ``sex``, ``morbidity``, body box
``xmin ymin xmax ymax`` in pixels...); they are kept as they are.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from covidct.errors import InvalidInputError

__all__ = [
    "ALLOWED_LABELS",
    "COLUMNS",
    "CT_CATEGORIES",
    "DIAGNOSES",
    "INT_LABEL_COLUMNS",
    "LABEL_COLUMNS",
    "PATH_COLUMNS",
    "SPLITS",
    "STRING_COLUMNS",
    "check_patient_labels",
    "make_case_table",
    "resolve_path",
    "summarize_case_table",
    "validate_case_table",
]

DIAGNOSES: tuple[str, ...] = ("control", "pneumonia", "covid")
CT_CATEGORIES: tuple[str, ...] = ("CT-0", "CT-1", "CT-2", "CT-3", "CT-4")
SPLITS: tuple[str, ...] = ("train", "val", "test", "")

PATH_COLUMNS: tuple[str, ...] = ("image", "lung_mask", "lesion_mask")
INT_LABEL_COLUMNS: tuple[str, ...] = (
    "ct_positive",
    "nat_positive",
    "severity",
    "covid",
    "class_id",
)
LABEL_COLUMNS: tuple[str, ...] = (
    "diagnosis",
    "ct_positive",
    "nat_positive",
    "severity",
    "ct_category",
    "covid",
    "class_id",
)
STRING_COLUMNS: tuple[str, ...] = (
    "patient_id",
    "scan_id",
    "case_id",
    *PATH_COLUMNS,
    "diagnosis",
    "ct_category",
    "split",
    "layout",
)
COLUMNS: tuple[str, ...] = (
    "patient_id",
    "scan_id",
    "case_id",
    *PATH_COLUMNS,
    *LABEL_COLUMNS,
    "split",
    "fold",
    "layout",
)

#: Allowed values of each label column (missing values are always allowed).
ALLOWED_LABELS: Mapping[str, frozenset[Any]] = {
    "diagnosis": frozenset(DIAGNOSES),
    "ct_positive": frozenset({0, 1}),
    "nat_positive": frozenset({0, 1}),
    "severity": frozenset({0, 1, 2}),
    "ct_category": frozenset(CT_CATEGORIES),
    "covid": frozenset({0, 1}),
    "class_id": frozenset({0, 1, 2}),
}

_MAX_LISTED = 10


def _listing(items: Sequence[str]) -> str:
    shown = ", ".join(items[:_MAX_LISTED])
    more = len(items) - _MAX_LISTED
    return shown + (f" ... and {more} more" if more > 0 else "")


def _id_text(value: Any, default: str) -> str:
    """An id as text: NA -> ``default``, 3.0 -> '3', others stripped."""
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return default
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip() or default


def _to_int_label(values: pd.Series, column: str) -> pd.Series:
    """Cast a label column to nullable Int64; non-integer values raise InvalidInputError."""
    numeric = pd.to_numeric(values, errors="coerce")
    bad = values.notna() & (numeric.isna() | (numeric % 1 != 0))
    if bad.any():
        shown = [repr(v) for v in values[bad].unique()]
        raise InvalidInputError(
            f"column {column!r} must hold integers or be empty; got {_listing(shown)}"
        )
    return numeric.astype("Int64")


def make_case_table(
    rows: Iterable[Mapping[str, Any]] | pd.DataFrame, *, layout: str
) -> pd.DataFrame:
    """Build a case table with every column of :data:`COLUMNS` in order, typed.

    Missing columns are added (NA labels, ``split=""``, ``fold=-1``); ``case_id`` defaults
    to ``{patient_id}_{scan_id}``; extra columns are kept after the standard ones.
    """
    df = rows.copy() if isinstance(rows, pd.DataFrame) else pd.DataFrame(list(rows))
    if "patient_id" not in df.columns or "image" not in df.columns:
        if len(df) == 0:
            df = pd.DataFrame(columns=["patient_id", "image"])
        else:
            raise InvalidInputError(
                f"a case table needs the columns 'patient_id' and 'image'; got {list(df.columns)}"
            )
    if "scan_id" not in df.columns:
        df["scan_id"] = "1"
    df["patient_id"] = df["patient_id"].map(lambda v: _id_text(v, ""))
    df["scan_id"] = df["scan_id"].map(lambda v: _id_text(v, "1"))
    if "case_id" not in df.columns:
        df["case_id"] = pd.NA
    df["case_id"] = [
        _id_text(c, f"{p}_{s}")
        for c, p, s in zip(df["case_id"], df["patient_id"], df["scan_id"], strict=True)
    ]
    for col in COLUMNS:
        if col not in df.columns:
            df[col] = {"split": "", "fold": -1, "layout": layout}.get(col, pd.NA)
    for col in INT_LABEL_COLUMNS:
        df[col] = _to_int_label(df[col], col)
    for col in ("lung_mask", "lesion_mask", "diagnosis", "ct_category"):
        df[col] = df[col].map(lambda v: pd.NA if pd.isna(v) or str(v) == "" else str(v))
        df[col] = df[col].astype("string")
    df["image"] = df["image"].map(lambda v: "" if pd.isna(v) else str(v)).astype(str)
    df["split"] = df["split"].map(lambda v: "" if pd.isna(v) else str(v).strip().lower())
    df["fold"] = pd.to_numeric(df["fold"], errors="coerce").fillna(-1).astype("int64")
    df["layout"] = df["layout"].map(lambda v: layout if pd.isna(v) or v == "" else str(v))
    extras = [c for c in df.columns if c not in COLUMNS]
    return df[list(COLUMNS) + extras].reset_index(drop=True)


def resolve_path(root: str | Path | None, value: str | Path) -> Path:
    """The absolute-or-root-relative path of a table entry."""
    path = Path(value)
    if path.is_absolute() or root is None:
        return path
    return Path(root) / path


def validate_case_table(
    df: pd.DataFrame, root: str | Path | None = None, *, check_files: bool = True
) -> None:
    """Check a case table; raise :class:`InvalidInputError` listing every offender.

    Checks: the standard columns exist; patient and case ids are non-empty; case ids are
    unique; every image / mask path exists (relative to ``root``) when ``check_files``;
    label values are known (:data:`ALLOWED_LABELS`); ``split`` is one of :data:`SPLITS`;
    no patient appears in two splits or in two folds.
    """
    missing_cols = [c for c in COLUMNS if c not in df.columns]
    if missing_cols:
        raise InvalidInputError(f"case table lacks the columns {missing_cols}")
    problems: list[str] = []

    empty = df.index[(df["patient_id"].astype(str) == "") | (df["case_id"].astype(str) == "")]
    if len(empty):
        problems.append(
            f"{len(empty)} rows without patient_id or case_id "
            f"(rows {_listing([str(i) for i in empty])})"
        )

    dup = df["case_id"][df["case_id"].duplicated(keep=False)].unique().tolist()
    if dup:
        problems.append(f"duplicate case ids: {_listing([str(d) for d in dup])}")

    if check_files:
        for col in PATH_COLUMNS:
            values = df[col]
            if col == "image":
                blank = df["case_id"][values.isna() | (values.astype(str) == "")].tolist()
                if blank:
                    problems.append(
                        f"cases without an image path: {_listing([str(b) for b in blank])}"
                    )
            missing = [
                str(resolve_path(root, v))
                for v in values.dropna()
                if str(v) and not resolve_path(root, v).exists()
            ]
            if missing:
                problems.append(f"missing {col} files: {_listing(missing)}")

    for col, allowed in ALLOWED_LABELS.items():
        values = df[col].dropna()
        bad = sorted({repr(v) for v in values if v not in allowed})
        if bad:
            problems.append(
                f"unknown {col} labels {_listing(bad)} (expected one of {sorted(allowed)})"
            )

    bad_splits = sorted({repr(s) for s in df["split"] if s not in SPLITS})
    if bad_splits:
        problems.append(
            f"unknown split names {_listing(bad_splits)} (expected train, val, test or '')"
        )

    for col, what in (("split", "splits"), ("fold", "folds")):
        sub = df[df[col] != ("" if col == "split" else -1)]
        n_per_patient = sub.groupby("patient_id")[col].nunique()
        crossing = n_per_patient.index[n_per_patient > 1].tolist()
        if crossing:
            detail = [
                f"{p} ({'/'.join(sorted(map(str, sub.loc[sub['patient_id'] == p, col].unique())))})"
                for p in crossing
            ]
            problems.append(f"patients in more than one of the {what}: {_listing(detail)}")

    if problems:
        where = f" (dataset root {root})" if root is not None else ""
        raise InvalidInputError("invalid case table" + where + ": " + "; ".join(problems))


def check_patient_labels(df: pd.DataFrame) -> None:
    """Refuse a table where one patient carries different values of a label across scans.

    Patient-level splits, stratification and per-patient evaluation need one label per
    patient; a conflict is a data error to settle at the source, not to average away.

    Raises:
        InvalidInputError: listing, per label column, the patients and their values.
    """
    problems, patients = [], set()
    for col in LABEL_COLUMNS:
        if col not in df.columns:
            continue
        values = df[["patient_id", col]].dropna()
        n = values.groupby("patient_id")[col].nunique()
        bad = n.index[n > 1].tolist()
        if bad:
            patients.update(bad)
            detail = [
                f"{p} ({'/'.join(sorted(map(str, values.loc[values.patient_id == p, col].unique())))})"
                for p in bad
            ]
            problems.append(f"{col}: {_listing(detail)}")
    if problems:
        raise InvalidInputError(
            f"{len(patients)} patient(s) with conflicting labels across scans: "
            f"{'; '.join(problems)}; give each patient one label per column"
        )


def summarize_case_table(df: pd.DataFrame) -> dict[str, Any]:
    """Counts for reports: cases, patients, and per label column the counts per split.

    Returns ``{"layout", "n_cases", "n_patients", "splits": {split: n},
    "labels": {column: {value: {split: n}}}}`` with ``"all"`` for the whole table and
    ``"(none)"`` for rows without a split.
    """
    splits = df["split"].replace("", "(none)")
    labels: dict[str, dict[str, dict[str, int]]] = {}
    for col in LABEL_COLUMNS:
        values = df[col]
        if values.isna().all():
            continue
        per: dict[str, dict[str, int]] = {}
        for value, sub in df.assign(_split=splits).groupby(values.astype(str), sort=True):
            counts = {"all": len(sub)}
            counts.update(
                {str(k): int(v) for k, v in sub["_split"].value_counts().sort_index().items()}
            )
            per[str(value)] = counts
        labels[col] = per
    layouts = sorted(df["layout"].astype(str).unique().tolist())
    return {
        "layout": layouts[0] if len(layouts) == 1 else layouts,
        "n_cases": len(df),
        "n_patients": int(df["patient_id"].nunique()),
        "splits": {str(k): int(v) for k, v in splits.value_counts().sort_index().items()},
        "labels": labels,
    }
