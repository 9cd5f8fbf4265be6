"""Baselines: no leakage (scaler per fold), patients never split, they learn, reports."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from covidct.errors import InvalidInputError
from covidct.ml import (
    BaselineOptions,
    cross_val_predict_patients,
    feature_columns,
    lightgbm_importance,
    make_pipeline,
    patient_splits,
    run_baseline,
    run_baselines,
    task_data,
    top_features,
)

FAST = BaselineOptions(n_estimators=50, bootstrap=100)


def test_feature_columns_exclude_labels(feature_table):
    cols = feature_columns(feature_table)
    assert len(cols) == 8 and "ct_positive" not in cols and "case_id" not in cols


def test_patient_splits_never_split_a_patient(feature_table):
    _, y, groups, _, _ = task_data(feature_table, "severity")
    splits = patient_splits(y, groups, folds=5, seed=3)
    tested = np.concatenate([te for _, te in splits])
    assert sorted(tested) == list(range(len(y)))  # every scan tested exactly once
    for train, test in splits:
        assert not set(groups[train]) & set(groups[test])
    (train, test), = patient_splits(y, groups, split_70_30=True, seed=3)
    assert not set(groups[train]) & set(groups[test])
    assert 0.2 < len(set(groups[test])) / len(set(groups)) < 0.4
    with pytest.raises(InvalidInputError, match="patients"):
        patient_splits(y[:6], groups[:6], folds=5)


def test_scaler_is_fit_on_training_folds_only(feature_table):
    X, y, groups, _, _ = task_data(feature_table, "ct")
    splits = patient_splits(y, groups, folds=4, seed=0)
    # fold-dependent shift: the test rows of fold 0 carry a huge value in feature 0
    X = X.copy()
    X[splits[0][1], 0] += 1000.0
    scores, fold, fitted = cross_val_predict_patients(make_pipeline("logreg"), X, y, splits, 2)
    for (train, test), pipe in zip(splits, fitted):
        scaler = pipe.named_steps["scale"]
        np.testing.assert_array_equal(scaler.data_max_, X[train].max(axis=0))
        np.testing.assert_array_equal(scaler.data_min_, X[train].min(axis=0))
    assert fitted[0].named_steps["scale"].data_max_[0] < 100  # fold 0 never saw its own shift
    assert all(p.named_steps["scale"].data_max_[0] > 1000 for p in fitted[1:])
    assert np.all(fold >= 0) and np.allclose(scores.sum(axis=1), 1.0)


def test_feature_selection_inside_the_pipeline(feature_table):
    opts = BaselineOptions(n_estimators=50, bootstrap=0, select_k=2)
    X, y, groups, _, cols = task_data(feature_table, "ct")
    pipe = make_pipeline("rf", options=opts, n_features=len(cols))
    splits = patient_splits(y, groups, folds=3)
    _, _, fitted = cross_val_predict_patients(pipe, X, y, splits, 2)
    for (train, _), p in zip(splits, fitted):
        assert p.named_steps["select"].get_support().sum() == 2
        assert p.named_steps["select"].get_support()[cols.index("original_glcm_Contrast")]


@pytest.mark.parametrize("model", ["lightgbm", "rf", "logreg"])
def test_baselines_learn_a_separable_task(feature_table, model):
    res = run_baseline(feature_table, "ct", model, options=FAST)
    auc = res.metrics["metrics"]["auc"]
    assert auc["value"] > 0.9 and auc["ci_low"] <= auc["value"] <= auc["ci_high"]
    assert res.metrics["resampling"] == "patients" and res.scores.shape == (120, 2)


def test_severity_three_classes_and_70_30(feature_table):
    res = run_baseline(feature_table, "severity", "logreg",
                       options=BaselineOptions(bootstrap=50, split_70_30=True))
    assert res.scores.shape[1] == 3 and 25 <= len(res.y_true) <= 50
    assert res.metrics["metrics"]["auc"]["value"] > 0.8
    assert "70/30" in res.summary()["evaluation"]


def test_importance_finds_the_informative_features(feature_table):
    imp = lightgbm_importance(feature_table, "nat", options=FAST)
    assert top_features(imp, 1, by="gain") == ["original_firstorder_Mean"]
    assert set(imp.columns) >= {"split", "gain", "split_rank", "gain_rank"}


def test_run_baselines_writes_report(feature_table, tmp_path):
    table = feature_table.drop(columns=["nat_positive"])
    rep = run_baselines(table, tmp_path, tasks=["ct", "nat", "severity"], models=["lightgbm", "logreg"],
                        options=BaselineOptions(n_estimators=30, bootstrap=50, folds=3, seed=7))
    assert rep["tasks"] == ["ct", "severity"] and "nat" in rep["skipped_tasks"]
    assert rep["seed"] == 7 and rep["options"]["n_estimators"] == 30
    saved = json.loads((tmp_path / "results.json").read_text())
    assert len(saved["results"]) == 4
    md = (tmp_path / "results.md").read_text()
    assert md.count("\n") == 6 and "| ct | lightgbm |" in md
    for name in ("roc_ct.png", "roc_severity.png", "confusion_ct_logreg.png", "boxplots_ct.png",
                 "importance_severity.csv", "predictions.parquet"):
        assert (tmp_path / name).is_file(), name
    assert set(saved["importance"]["per_task"]["ct"]["split"]) <= set(feature_columns(table))
    assert "original_glcm_Contrast" in saved["importance"]["union_gain"]
    with pytest.raises(InvalidInputError, match="unknown"):
        run_baselines(table, tmp_path, tasks=["xx"])


def test_missing_values_are_filled_from_training_folds_only(feature_table):
    X, y, groups, _, cols = task_data(feature_table, "ct")
    X = X.copy()
    splits = patient_splits(y, groups, folds=3, seed=0)
    X[splits[0][1], 1] += 500.0  # test rows of fold 0 are far off in feature 1
    X[::7, 1] = np.nan  # and some values are missing
    assert np.isnan(task_data(feature_table.assign(original_firstorder_Mean=np.nan), "ct")[0]).all(
        axis=0)[cols.index("original_firstorder_Mean")]  # task_data no longer fills
    _, _, fitted = cross_val_predict_patients(make_pipeline("logreg"), X, y, splits, 2)
    for (train, _), pipe in zip(splits, fitted):
        fill = pipe.named_steps["impute"].statistics_[1]
        assert fill == pytest.approx(np.nanmedian(X[train, 1]))
    assert fitted[0].named_steps["impute"].statistics_[1] < 100  # never saw fold 0's rows


def test_hog_columns_reduced_by_pca_per_training_fold(feature_table):
    rng = np.random.default_rng(1)
    hog = pd.DataFrame(rng.random((len(feature_table), 300)),
                       columns=[f"hog_{i:04d}" for i in range(300)])
    table = pd.concat([feature_table, hog], axis=1)
    X, y, groups, _, cols = task_data(table, "ct")
    opts = BaselineOptions(n_estimators=20, bootstrap=0, hog_pca=12)
    splits = patient_splits(y, groups, folds=3, seed=0)
    _, _, fitted = cross_val_predict_patients(make_pipeline("logreg", options=opts, columns=cols),
                                              X, y, splits, 2)
    hog_idx = [i for i, c in enumerate(cols) if c.startswith("hog_")]
    for (train, _), pipe in zip(splits, fitted):
        pca = pipe.named_steps["hog_pca"].named_transformers_["hog"].pca_
        assert pca.n_components_ == 12
        np.testing.assert_allclose(pca.mean_, X[np.ix_(train, hog_idx)].mean(axis=0))
        assert pipe.named_steps["model"].coef_.shape[1] == 12 + 8  # 12 components + 8 radiomics


def test_importance_per_training_fold_with_stability(feature_table, tmp_path):
    imp = lightgbm_importance(feature_table, "nat", options=FAST, k=3)
    assert imp.attrs["n_folds"] == FAST.folds
    assert imp.loc["original_firstorder_Mean", "selected_gain"] == 1.0  # top in every fold
    assert 0.0 <= imp.attrs["stability"]["split"] <= 1.0
    from covidct.ml.importance import fold_importances, selection_stability

    frames = fold_importances(feature_table, "nat", options=FAST)
    np.testing.assert_allclose(imp.loc[frames[0].index, "split"],
                               np.mean([f["split"].to_numpy() for f in frames], axis=0))
    assert selection_stability([["a", "b"], ["a", "b"]]) == 1.0
    assert selection_stability([["a", "b"], ["c", "d"]]) == 0.0
    assert selection_stability([["a", "b"], ["a", "c"]]) == pytest.approx(1 / 3)


def test_one_fold_file_for_every_task(feature_table, tmp_path):
    from covidct.datasets.splits import patient_folds, save_folds

    cases = feature_table[["case_id", "patient_id", "severity"]]
    path = save_folds(patient_folds(cases, 4, seed=5, stratify="severity"), tmp_path / "f.csv")
    opts = BaselineOptions(n_estimators=20, bootstrap=0, folds_file=str(path))
    # the nat task sees only some of the cases: its folds are still the file's folds
    table = feature_table.copy()
    table.loc[table.index % 3 == 0, "nat_positive"] = np.nan
    saved = pd.read_csv(path, dtype={"case_id": str}).set_index("case_id")["fold"]
    for task in ("ct", "nat"):
        res = run_baseline(table, task, "logreg", options=opts)
        assert (res.fold == saved.loc[res.case_ids].to_numpy()).all()
    rep = run_baselines(table, tmp_path / "r", tasks=["ct"], models=["logreg"], options=opts,
                        importance=False)
    inputs = rep["provenance"]["inputs"]
    assert inputs[0]["path"] == str(path) and rep["provenance"]["seed"] == 0
    assert rep["results"][0]["evaluation"] == f"patient-level folds of {path}"


def test_lightgbm_leaf_size_follows_the_training_fold():
    from covidct.ml.baselines import lightgbm_min_child_samples

    assert [lightgbm_min_child_samples(n) for n in (10, 40, 100, 400, 5000)] == [2, 2, 5, 20, 20]


def test_small_cohort_lightgbm_is_not_constant_and_constant_models_are_flagged():
    """30 cases with one informative feature: LightGBM's default leaf of 20 cannot split a
    fold of ~20 training cases (a constant model); the fold-sized leaf can."""
    import numpy as np

    from covidct.ml.baselines import (
        BaselineOptions, constant_splits, cross_val_predict_patients, make_pipeline,
    )

    rng = np.random.default_rng(0)
    y = np.repeat([0, 1], 15)
    X = np.c_[y + rng.normal(0, 0.3, 30), rng.normal(0, 1, (30, 3))]
    order = rng.permutation(30)
    splits = [(np.setdiff1d(order, part), part) for part in np.array_split(order, 3)]
    opts = BaselineOptions(n_estimators=50, learning_rate=0.1)
    scores, fold, _ = cross_val_predict_patients(make_pipeline("lightgbm", options=opts), X, y,
                                                 splits, 2)
    assert constant_splits(scores, fold) == []
    default_leaf = BaselineOptions(n_estimators=50, learning_rate=0.1, min_child_samples=20)
    scores, fold, _ = cross_val_predict_patients(make_pipeline("lightgbm", options=default_leaf),
                                                 X, y, splits, 2)
    assert constant_splits(scores, fold) == [0, 1, 2]


def test_no_ranking_of_zero_importances(feature_table, tmp_path):
    from dataclasses import replace

    from covidct.ml.importance import feature_importance_report

    never_splits = replace(FAST, min_child_samples=10_000)  # leaves larger than the cohort
    report = feature_importance_report(feature_table, ["ct"], tmp_path, options=never_splits)
    assert report["per_task"]["ct"]["split"] == [] and "no ranking" in report["per_task"]["ct"]["note"]
    assert not (tmp_path / "boxplots_ct.png").exists()
    assert report["union_split"] == []


def test_compare_takes_ml_runs_labelled_by_folder(feature_table, tmp_path):
    from covidct.training import compare_runs

    out = tmp_path / "baselines"
    rep = run_baselines(feature_table, out, tasks=["ct"], models=["lightgbm", "logreg"],
                        options=BaselineOptions(n_estimators=30, bootstrap=50, folds=3, seed=7),
                        importance=False)
    table = compare_runs([out], tmp_path / "cmp")
    rows = [ln for ln in table.splitlines() if ln.startswith("| baselines / ")]
    assert [r.split(" | ")[0] for r in rows] == ["| baselines / lightgbm", "| baselines / logreg"]
    auc = next(s for s in rep["results"] if s["model"] == "lightgbm")["metrics"]["auc"]["value"]
    assert f"{auc:.3f}" in rows[0] and (tmp_path / "cmp" / "comparison.png").is_file()
