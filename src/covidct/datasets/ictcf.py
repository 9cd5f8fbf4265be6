"""iCTCF / HUST-19 layout (COVID-MTL): ``Patient <N>/`` DICOM series and ``Patients.xlsx``.

Layout::

    root/
      Patients.xlsx            Hospital, Patient, Age, Gender, SARS-CoV-2 nucleic acids,
                               Computed tomography (CT), Morbidity, Mortality
      Patient 1/  *.dcm        one CT series per patient (or ``Patient 1.zip``)
      Patient 2.zip

Labels (reference-systems.md, section 1): ``ct_positive`` from "Computed tomography (CT)"
(Positive 1 / Negative 0), ``nat_positive`` from "SARS-CoV-2 nucleic acids" (Positive 1 /
Negative 0), ``severity`` from Morbidity (Control, Suspected 0; Mild, Regular 1; Severe,
Critically ill 2). Table rows: ``patient_id`` = the patient number N, ``case_id`` =
``ictcf_{N:04d}``, ``image`` = the folder (or zip); extras age, sex (M/F), morbidity,
hospital, mortality.
"""

from __future__ import annotations

import logging
import re
import tempfile
import zipfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from covidct.datasets._common import (
    CaseLike,
    Progress,
    case_label,
    iter_with_progress,
    prepare_output_dir,
)
from covidct.datasets.table import make_case_table
from covidct.errors import InvalidInputError
from covidct.io import CTVolume, write_dicom_series

__all__ = [
    "LAYOUT",
    "MORBIDITY_SEVERITY",
    "POSITIVE_NEGATIVE",
    "SHEET",
    "XLSX_COLUMNS",
    "ictcf_labels",
    "read_ictcf",
    "write_ictcf",
]

log = logging.getLogger(__name__)

LAYOUT = "ictcf"
SHEET = "Patients.xlsx"
XLSX_COLUMNS: tuple[str, ...] = (
    "Hospital",
    "Patient",
    "Age",
    "Gender",
    "SARS-CoV-2 nucleic acids",
    "Computed tomography (CT)",
    "Morbidity",
    "Mortality",
)
_NAT, _CT = "SARS-CoV-2 nucleic acids", "Computed tomography (CT)"
POSITIVE_NEGATIVE: Mapping[str, int] = {"positive": 1, "negative": 0}
MORBIDITY_SEVERITY: Mapping[str, int] = {
    "control": 0,
    "suspected": 0,
    "mild": 1,
    "regular": 1,
    "severe": 2,
    "critically ill": 2,
}
_SEVERITY_TO_MORBIDITY = {0: "Control", 1: "Mild", 2: "Severe"}
_GENDER = {"male": "M", "female": "F", "m": "M", "f": "F"}
_PATIENT_RE = re.compile(r"^\s*(?:patient\s*)?(\d+)\s*$", re.IGNORECASE)


def _text(value: Any) -> str:
    return "" if pd.isna(value) else str(value).strip()


def ictcf_labels(row: Mapping[str, Any]) -> dict[str, Any]:
    """Map one ``Patients.xlsx`` row to table labels; unknown text raises InvalidInputError.

    Returns ``ct_positive``, ``nat_positive``, ``severity`` (NA when the cell is empty),
    ``morbidity``, ``age``, ``sex`` ('M'/'F'), ``hospital``, ``mortality``.
    """
    out: dict[str, Any] = {}
    for column, key, mapping in (
        (_CT, "ct_positive", POSITIVE_NEGATIVE),
        (_NAT, "nat_positive", POSITIVE_NEGATIVE),
        ("Morbidity", "severity", MORBIDITY_SEVERITY),
    ):
        text = _text(row.get(column))
        if not text:
            out[key] = pd.NA
        elif text.lower() in mapping:
            out[key] = mapping[text.lower()]
        else:
            raise InvalidInputError(
                f"unknown {column!r} value {text!r} for patient {_text(row.get('Patient'))!r} "
                f"in {SHEET}; expected one of {sorted(mapping)} (any case)"
            )
    gender = _text(row.get("Gender")).lower()
    if gender and gender not in _GENDER:
        raise InvalidInputError(
            f"unknown Gender {gender!r} for patient {_text(row.get('Patient'))!r} in {SHEET}; "
            "expected Male or Female"
        )
    age = pd.to_numeric(pd.Series([row.get("Age")]), errors="coerce").iloc[0]
    out.update(
        morbidity=_text(row.get("Morbidity")) or pd.NA,
        age=pd.NA if pd.isna(age) else int(age),
        sex=_GENDER.get(gender, pd.NA),
        hospital=_text(row.get("Hospital")) or pd.NA,
        mortality=_text(row.get("Mortality")) or pd.NA,
    )
    return out


# ----------------------------------------------------------------------------- writing
def _write_series(volume: CTVolume, folder: Path, patient_id: str) -> list[Path]:
    """One CT DICOM series (HU stored exactly as 16-bit integers) into ``folder``."""
    array = np.asarray(volume.array)
    if not np.issubdtype(array.dtype, np.integer):
        volume = volume.with_array(np.rint(array).astype(np.int16))
    return write_dicom_series(volume, folder, patient_id=patient_id, series_description="covidct")


def _xlsx_row(case: CaseLike, number: int) -> dict[str, Any]:
    def pos_neg(key: str) -> str:
        value = case_label(case, key)
        return "" if value is None or pd.isna(value) else ("Positive" if int(value) else "Negative")

    morbidity = case_label(case, "morbidity")
    if morbidity is None and case_label(case, "severity") is not None:
        morbidity = _SEVERITY_TO_MORBIDITY[int(case_label(case, "severity"))]
    sex = case_label(case, "sex")
    return {
        "Hospital": case_label(case, "hospital", "Simulated"),
        "Patient": f"Patient {number}",
        "Age": case_label(case, "age"),
        "Gender": {"M": "Male", "F": "Female"}.get(str(sex), sex),
        _NAT: pos_neg("nat_positive"),
        _CT: pos_neg("ct_positive"),
        "Morbidity": morbidity,
        "Mortality": case_label(case, "mortality"),
    }


def write_ictcf(
    cases: Iterable[CaseLike],
    out: str | Path,
    *,
    zipped: bool = False,
    progress: Progress | None = None,
) -> pd.DataFrame:
    """Write cases as iCTCF: patients numbered 1..n in the given order; returns the table.

    ``zipped`` stores each series as ``Patient <N>.zip`` (files at the zip's top level).
    """
    root = prepare_output_dir(out)
    rows = []
    for i, case in iter_with_progress(cases, progress):
        number = i + 1
        name = f"Patient {number}"
        if zipped:
            with tempfile.TemporaryDirectory() as tmp:
                files = _write_series(case.volume, Path(tmp), str(case.patient_id))
                with zipfile.ZipFile(root / f"{name}.zip", "w", zipfile.ZIP_DEFLATED) as zf:
                    for f in files:
                        zf.write(f, arcname=f.name)
        else:
            _write_series(case.volume, root / name, str(case.patient_id))
        rows.append(_xlsx_row(case, number))
    pd.DataFrame(rows, columns=list(XLSX_COLUMNS)).to_excel(root / SHEET, index=False)
    return read_ictcf(root)


# ----------------------------------------------------------------------------- reading
def read_ictcf(root: str | Path, *, missing_images: str = "error") -> pd.DataFrame:
    """Read an iCTCF folder into a case table (one row per patient with a CT).

    ``missing_images``: ``"error"`` keeps rows whose series is absent (validation then
    names the files), ``"drop"`` drops them (the real sheet lists patients without CT).
    """
    if missing_images not in ("error", "drop"):
        raise InvalidInputError(f"missing_images must be 'error' or 'drop'; got {missing_images!r}")
    root = Path(root)
    sheet = root / SHEET
    if not sheet.is_file():
        raise InvalidInputError(f"iCTCF dataset {root} has no {SHEET}")
    try:
        xlsx = pd.read_excel(sheet, dtype=object)
    except Exception as exc:  # openpyxl raises many kinds for broken files
        raise InvalidInputError(f"cannot read {sheet}: {exc}") from exc
    xlsx.columns = [str(c).strip() for c in xlsx.columns]
    lacking = [c for c in ("Patient", _NAT, _CT, "Morbidity") if c not in xlsx.columns]
    if lacking:
        raise InvalidInputError(f"{sheet} lacks the columns {lacking}; has {list(xlsx.columns)}")
    rows = []
    for _, rec in xlsx.iterrows():
        match = _PATIENT_RE.match(_text(rec["Patient"]).removesuffix(".0"))
        if match is None:
            raise InvalidInputError(
                f"{sheet}: Patient must be a number or 'Patient <N>'; got {rec['Patient']!r}"
            )
        number = int(match.group(1))
        folder, archive = root / f"Patient {number}", root / f"Patient {number}.zip"
        image = folder.name if folder.is_dir() or not archive.is_file() else archive.name
        if not (root / image).exists() and missing_images == "drop":
            log.info("iCTCF patient %d has no CT series; dropped", number)
            continue
        rows.append(
            {
                "patient_id": str(number),
                "scan_id": "1",
                "case_id": f"ictcf_{number:04d}",
                "image": image,
                **ictcf_labels(rec.to_dict()),
            }
        )
    return make_case_table(rows, layout=LAYOUT)
