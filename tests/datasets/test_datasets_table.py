"""The case table: defaults, validation of broken datasets, summaries."""

from __future__ import annotations

import re

import pandas as pd
import pytest

from covidct.datasets import (
    COLUMNS,
    make_case_table,
    read_dataset,
    summarize_case_table,
    validate_case_table,
    write_dataset,
)
from covidct.errors import InvalidInputError


def test_make_case_table_defaults():
    rows = [
        {"patient_id": "A", "image": "a.nii.gz", "diagnosis": "covid", "severity": 2.0},
        {"patient_id": "B", "scan_id": 2, "image": "b.nii.gz"},
    ]
    table = make_case_table(rows, layout="plain")
    assert list(table.columns) == list(COLUMNS)
    assert table["case_id"].tolist() == ["A_1", "B_2"]
    assert table["split"].tolist() == ["", ""] and table["fold"].tolist() == [-1, -1]
    assert str(table["severity"].dtype) == "Int64" and table["severity"][0] == 2
    assert table["severity"].isna()[1] and table["lung_mask"].isna().all()
    assert (table["layout"] == "plain").all()


def test_make_case_table_rejects_non_integer_labels():
    with pytest.raises(InvalidInputError, match=r"'severity' must hold integers.*'high'"):
        make_case_table([{"patient_id": "A", "image": "a", "severity": "high"}], layout="plain")


def test_validate_lists_every_problem(tmp_path):
    (tmp_path / "a.nii.gz").write_bytes(b"x")
    table = make_case_table(
        [
            {"patient_id": "A", "case_id": "c1", "image": "a.nii.gz", "split": "train"},
            {"patient_id": "A", "case_id": "c2", "image": "a.nii.gz", "split": "test"},
            {"patient_id": "B", "case_id": "c2", "image": "gone.nii.gz", "diagnosis": "flu"},
            {"patient_id": "C", "case_id": "c3", "image": "a.nii.gz", "ct_category": "CT-9"},
        ],
        layout="plain",
    )
    with pytest.raises(InvalidInputError) as err:
        validate_case_table(table, tmp_path)
    msg = str(err.value)
    assert "duplicate case ids: c2" in msg
    assert f"missing image files: {tmp_path / 'gone.nii.gz'}" in msg
    assert "unknown diagnosis labels 'flu'" in msg and "'CT-9'" in msg
    assert "patients in more than one of the splits: A (test/train)" in msg
    validate_case_table(table.iloc[[0, 3]].assign(ct_category=pd.NA), tmp_path)  # clean rows pass


def test_missing_image_named_on_read(tmp_path, tiny_cases):
    table = write_dataset(tiny_cases[:2], tmp_path / "d", "plain")
    victim = tmp_path / "d" / table["image"][1]
    victim.unlink()
    with pytest.raises(InvalidInputError, match=re.escape(f"missing image files: {victim}")):
        read_dataset(tmp_path / "d")


def test_unknown_label_in_plain_csv(tmp_path, tiny_cases):
    write_dataset(tiny_cases[:2], tmp_path / "d", "plain")
    csv = tmp_path / "d" / "cases.csv"
    df = pd.read_csv(csv)
    df.loc[0, "diagnosis"] = "influenza"
    df.to_csv(csv, index=False)
    with pytest.raises(InvalidInputError, match="unknown diagnosis labels 'influenza'"):
        read_dataset(tmp_path / "d")


def test_patient_across_covidx_splits(tmp_path, tiny_cases):
    table = write_dataset(tiny_cases, tmp_path / "x", "covidx-ct", seed=0)
    first = table[table["split"] == "train"].iloc[0]
    other = "test" if (table["split"] == "test").any() else "val"
    train_file = tmp_path / "x" / "train_COVIDx_CT.txt"
    lines = train_file.read_text().splitlines()
    moved = next(line for line in lines if line.startswith(first["case_id"] + ".png"))
    train_file.write_text("\n".join(line for line in lines if line != moved) + "\n")
    with open(tmp_path / "x" / f"{other}_COVIDx_CT.txt", "a") as fh:
        fh.write(moved + "\n")
    with pytest.raises(
        InvalidInputError, match=f"more than one of the splits: {first['patient_id']}"
    ):
        read_dataset(tmp_path / "x")


def test_unknown_covidx_class(tmp_path, tiny_cases):
    write_dataset(tiny_cases, tmp_path / "x", "covidx-ct")
    path = tmp_path / "x" / "train_COVIDx_CT.txt"
    lines = path.read_text().splitlines()
    parts = lines[0].split()
    lines[0] = " ".join([parts[0], "7", *parts[2:]])
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(InvalidInputError, match=r"train_COVIDx_CT\.txt line 1: unknown class 7"):
        read_dataset(tmp_path / "x")


def test_unknown_mosmed_category(tmp_path, tiny_cases):
    write_dataset(tiny_cases[:1], tmp_path / "m", "mosmed")
    (tmp_path / "m" / "studies" / "CT-7").mkdir()
    with pytest.raises(InvalidInputError, match=r"unknown MosMedData category folder .*CT-7"):
        read_dataset(tmp_path / "m")


def test_summary_counts(tmp_path, tiny_cases):
    table = write_dataset(tiny_cases, tmp_path / "u", "ucsd", seed=0)
    summary = summarize_case_table(table)
    assert summary["layout"] == "ucsd" and summary["n_cases"] == 12 and summary["n_patients"] == 6
    assert (
        summary["labels"]["covid"]["1"]["all"] == 4 and summary["labels"]["covid"]["0"]["all"] == 8
    )
    assert sum(summary["splits"].values()) == 12
    per_split = summary["labels"]["class_id"]
    assert sum(v["all"] for v in per_split.values()) == 12
