"""iCTCF label mapping from the real Patients.xlsx wording."""

from __future__ import annotations

import pandas as pd
import pytest

from covidct.datasets import detect_layout, read_dataset
from covidct.datasets.ictcf import XLSX_COLUMNS, ictcf_labels, read_ictcf
from covidct.errors import InvalidInputError

ROWS = [
    # Hospital, Patient, Age, Gender, NAT, CT, Morbidity, Mortality
    ("Union Hospital", "Patient 1", 52, "Male", "Positive", "Positive", "Regular", "Cured"),
    ("Union Hospital", "Patient 2", 33, "Female", "Negative", "Negative", "Control", "Cured"),
    (
        "Liyuan Hospital",
        "Patient 3",
        71,
        "Male",
        "Positive",
        "Positive",
        "Critically ill",
        "Deceased",
    ),
    ("Liyuan Hospital", 4, 45, "Female", "Negative", "Positive", "Suspected", "Cured"),
    ("Union Hospital", "Patient 5", 60, "female", "positive", "Negative", "Severe", "Cured"),
    ("Union Hospital", "Patient 6", 28, "Male", "Positive", "Positive", "Mild", "Cured"),
]


def _write(root, rows):
    root.mkdir()
    pd.DataFrame(rows, columns=list(XLSX_COLUMNS)).to_excel(root / "Patients.xlsx", index=False)
    for row in rows:
        number = str(row[1]).replace("Patient ", "")
        (root / f"Patient {number}").mkdir()


def test_label_mapping_from_xlsx_text(tmp_path):
    _write(tmp_path / "i", ROWS)
    assert detect_layout(tmp_path / "i") == "ictcf"
    table = read_dataset(tmp_path / "i")
    assert table["patient_id"].tolist() == ["1", "2", "3", "4", "5", "6"]
    assert table["case_id"].tolist()[:2] == ["ictcf_0001", "ictcf_0002"]
    assert table["nat_positive"].tolist() == [1, 0, 1, 0, 1, 1]
    assert table["ct_positive"].tolist() == [1, 0, 1, 1, 0, 1]
    assert table["severity"].tolist() == [1, 0, 2, 0, 2, 1]
    assert table["sex"].tolist() == ["M", "F", "M", "F", "F", "M"]
    assert table["age"].tolist() == [52, 33, 71, 45, 60, 28]
    assert table["mortality"].tolist()[2] == "Deceased"
    assert table["image"].tolist()[3] == "Patient 4"


def test_unknown_text_raises():
    row = dict(zip(XLSX_COLUMNS, ROWS[0], strict=True))
    row["SARS-CoV-2 nucleic acids"] = "Maybe"
    with pytest.raises(
        InvalidInputError,
        match="unknown 'SARS-CoV-2 nucleic acids' value 'Maybe' for patient 'Patient 1'",
    ):
        ictcf_labels(row)
    row = dict(zip(XLSX_COLUMNS, ROWS[0], strict=True))
    row["Morbidity"] = "Moderate"
    with pytest.raises(InvalidInputError, match="unknown 'Morbidity' value 'Moderate'"):
        ictcf_labels(row)


def test_empty_cells_are_missing_labels():
    row = dict(zip(XLSX_COLUMNS, ROWS[0], strict=True))
    row["Computed tomography (CT)"] = float("nan")
    labels = ictcf_labels(row)
    assert labels["ct_positive"] is pd.NA and labels["nat_positive"] == 1


def test_missing_series_error_or_drop(tmp_path):
    _write(tmp_path / "i", ROWS)
    (tmp_path / "i" / "Patient 3").rmdir()
    with pytest.raises(InvalidInputError, match=r"missing image files: .*Patient 3"):
        read_dataset(tmp_path / "i")
    assert read_ictcf(tmp_path / "i", missing_images="drop")["patient_id"].tolist() == [
        "1",
        "2",
        "4",
        "5",
        "6",
    ]


def test_sheet_without_required_columns(tmp_path):
    (tmp_path / "i").mkdir()
    pd.DataFrame({"Patient": [1], "Age": [3]}).to_excel(
        tmp_path / "i" / "Patients.xlsx", index=False
    )
    with pytest.raises(InvalidInputError, match="lacks the columns"):
        read_dataset(tmp_path / "i")
