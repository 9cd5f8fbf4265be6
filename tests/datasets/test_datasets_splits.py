"""Patient-level folds and splits: never split a patient, keep class balance, reproducible."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from covidct.datasets import (
    assign_folds,
    load_folds,
    make_case_table,
    patient_folds,
    save_folds,
    split_patients,
    train_test_split_patients,
)
from covidct.errors import InvalidInputError


def _slice_table(n_patients: int = 40, seed: int = 0) -> pd.DataFrame:
    """Patients with 1-6 slices each, 3 classes (patient-level label)."""
    rng = np.random.default_rng(seed)
    rows = []
    for p in range(n_patients):
        cls = p % 3
        for s in range(int(rng.integers(1, 7))):
            rows.append(
                {
                    "patient_id": f"P{p:03d}",
                    "case_id": f"P{p:03d}_{s}",
                    "image": f"{p}_{s}.png",
                    "class_id": cls,
                    "diagnosis": ("control", "pneumonia", "covid")[cls],
                }
            )
    return make_case_table(rows, layout="plain")


def _volume_table(n: int = 47) -> pd.DataFrame:
    rows = [
        {"patient_id": f"P{i}", "image": f"{i}.nii.gz", "severity": [0, 0, 1, 2][i % 4]}
        for i in range(n)
    ]
    return make_case_table(rows, layout="plain")


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_folds_never_split_a_patient(seed):
    table = _slice_table(seed=seed)
    folded = patient_folds(table, k=5, seed=seed)
    assert set(folded["fold"]) == set(range(5))
    assert folded.groupby("patient_id")["fold"].nunique().max() == 1
    assert folded.attrs["folds"] == {"k": 5, "seed": seed, "stratify": ["class_id"],
                                     "unit": "patient", "method": "StratifiedKFold"}
    pd.testing.assert_frame_equal(folded.drop(columns="fold"), table.drop(columns="fold"))


def test_folds_keep_class_balance_per_patient():
    table = _volume_table(47)
    folded = patient_folds(table, k=5, seed=0)
    assert folded.attrs["folds"]["stratify"] == ["severity"]
    counts = pd.crosstab(folded["fold"], folded["severity"])
    assert (counts.max() - counts.min()).max() <= 2
    sizes = folded["fold"].value_counts()
    assert sizes.max() - sizes.min() <= 2


def test_folds_reproducible_and_seed_dependent():
    table = _volume_table(30)
    a = patient_folds(table, k=3, seed=5)["fold"].tolist()
    assert a == patient_folds(table, k=3, seed=5)["fold"].tolist()
    assert a != patient_folds(table, k=3, seed=6)["fold"].tolist()


def test_too_many_folds():
    with pytest.raises(InvalidInputError, match="k=6 for 5 patients"):
        patient_folds(_volume_table(5), k=6)
    with pytest.raises(InvalidInputError, match="k=1"):
        patient_folds(_volume_table(5), k=1)


def test_stratify_options():
    table = _volume_table(20)
    assert patient_folds(table, k=4, stratify=None).attrs["folds"]["stratify"] == []
    with pytest.raises(
        InvalidInputError, match="cannot stratify on 'diagnosis': 20 cases have no value"
    ):
        patient_folds(table, k=4, stratify="diagnosis")
    with pytest.raises(InvalidInputError, match="no such column"):
        patient_folds(table, k=4, stratify="grade")


def test_train_test_split_70_30_stratified():
    table = _volume_table(100)
    out = train_test_split_patients(table, test_size=0.3, seed=0)
    assert (out["split"] == "test").sum() == 30
    per_class = pd.crosstab(out["severity"], out["split"])
    expected_test = table["severity"].value_counts().sort_index() * 0.3
    assert (np.abs(per_class["test"] - expected_test) <= 1).all()


def test_train_test_split_groups_slices():
    table = _slice_table(30)
    out = train_test_split_patients(table, test_size=0.3, seed=1)
    assert out.groupby("patient_id")["split"].nunique().max() == 1
    assert out.loc[out["split"] == "test", "patient_id"].nunique() == 9


def test_split_patients_three_ways():
    out = split_patients(_volume_table(40), val_size=0.15, test_size=0.15, seed=0)
    counts = out["split"].value_counts()
    assert counts["train"] + counts["val"] + counts["test"] == 40
    assert 5 <= counts["test"] <= 7 and 5 <= counts["val"] <= 7


def test_save_and_load_folds(tmp_path):
    folded = patient_folds(_slice_table(), k=4, seed=9)
    path = save_folds(folded, tmp_path / "folds.csv")
    meta = json.loads((tmp_path / "folds.csv.json").read_text())
    assert meta["seed"] == 9 and meta["k"] == 4 and meta["n_cases"] == len(folded)
    assert sum(meta["cases_per_fold"].values()) == len(folded)
    loaded = load_folds(path)
    assert loaded.attrs["folds"]["seed"] == 9
    assert list(loaded.columns[:3]) == ["case_id", "patient_id", "fold"]
    again = assign_folds(_slice_table(), loaded)
    assert again["fold"].tolist() == folded["fold"].tolist()


def _few_positive_patients(n_pos: int, n_neg: int, slices: int = 30) -> pd.DataFrame:
    rows = [{"patient_id": f"P{p:02d}", "case_id": f"P{p:02d}_{s}", "covid": int(p < n_pos)}
            for p in range(n_pos + n_neg) for s in range(slices)]
    return pd.DataFrame(rows)


def test_too_few_patients_per_class_warns_with_patient_counts():
    # 2 positive patients x 30 slices: 60 positive rows, but only 2 patients for 5 folds
    table = _few_positive_patients(2, 20)
    with pytest.warns(UserWarning, match="class 1: 2 patients"):
        folded = patient_folds(table, 5, seed=0, stratify="covid")
    pos_folds = folded.loc[folded["covid"] == 1, "fold"].unique()
    assert len(pos_folds) == 2  # the two positive patients sit in two different folds
    # every fold has 4 of the 20 negative patients: stratified on one row per patient
    neg = folded[folded["covid"] == 0].groupby("fold")["patient_id"].nunique()
    assert sorted(neg.tolist()) == [4, 4, 4, 4, 4]


def test_every_class_short_raises_project_error():
    table = _few_positive_patients(3, 3)
    with pytest.raises(InvalidInputError, match="every class has fewer patients than folds"):
        patient_folds(table, 5, seed=0, stratify="covid")


def test_validation_split_without_test_split():
    table = _slice_table(40)
    out = split_patients(table, val_size=0.25, test_size=0.0, seed=0)
    assert set(out["split"]) == {"train", "val"}
    assert out.groupby("patient_id")["split"].nunique().max() == 1
    assert out.loc[out["split"] == "val", "patient_id"].nunique() == 10
    assert out.attrs["split"]["test_size"] == 0.0
