"""End-to-end training on a tiny store: CV predictions, no leakage, metrics and plots."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from covidct.errors import InvalidInputError
from covidct.training import compare_runs, evaluate_run, get_preset, train
from covidct.training.data import Normaliser, load_cohort


def _cfg(cohort, **kw):
    base = dict(data=str(cohort), features=str(cohort / "features.parquet"), folds=2,
                epochs=1, batch_size=4, bootstrap=50, crop=(12, 16, 16))
    base.update(kw)
    return get_preset("covid-mtl-cpu").with_overrides(**base)


def test_covid_mtl_cv_run(cohort, tmp_path):
    run = train(_cfg(cohort), tmp_path / "mtl")
    preds = pd.read_csv(run / "predictions.csv")
    # every case predicted exactly once, out of fold
    assert sorted(preds.case_id) == [f"c{i:02d}" for i in range(16)]
    splits = pd.read_csv(run / "splits.csv")
    assert splits.groupby("patient_id")["fold"].nunique().max() == 1
    merged = preds.merge(splits, on=["case_id", "patient_id"], suffixes=("", "_split"))
    assert (merged.fold == merged.fold_split).all()
    for task, n in (("ct", 2), ("nat", 2), ("severity", 3)):
        probs = preds[[f"{task}_p{c}" for c in range(n)]].to_numpy()
        assert np.allclose(probs.sum(1), 1.0, atol=1e-5)
    metrics = json.loads((run / "metrics.json").read_text())
    acc = metrics["tasks"]["ct"]["metrics"]["accuracy"]
    y = preds.ct_true.to_numpy()
    pred = preds[["ct_p0", "ct_p1"]].to_numpy().argmax(1)
    assert acc["value"] == pytest.approx((y == pred).mean())
    assert acc["ci_low"] <= acc["value"] <= acc["ci_high"]
    for f in ("roc_ct.png", "confusion_severity.png", "metrics.md", "config.yaml",
              "fold0/fit_state.json", "fold1/checkpoints/last.ckpt"):
        assert (run / f).is_file(), f
    assert list((run / "fold0" / "tensorboard").rglob("events.out.tfevents*"))


def test_normalisation_and_scaling_fit_on_training_fold_only(cohort, tmp_path):
    run = train(_cfg(cohort, run_folds=(0,)), tmp_path / "one", evaluate=False)
    state = json.loads((run / "fold0" / "fit_state.json").read_text())
    splits = pd.read_csv(run / "splits.csv")
    feats = pd.read_parquet(cohort / "features.parquet").merge(splits, on="case_id")
    train_feats = feats[feats.fold != 0]
    # the feature scaler saw only training-fold cases
    assert state["feature_min"][state["feature_columns"].index("f_noise")] == pytest.approx(
        train_feats.f_noise.min())
    assert state["feature_max"][state["feature_columns"].index("f_noise")] == pytest.approx(
        train_feats.f_noise.max())
    assert train_feats.f_noise.max() != feats.f_noise.max() or \
        train_feats.f_noise.min() != feats.f_noise.min()


def test_single_task_run_and_compare(cohort, tmp_path):
    cfg = get_preset("shiftnet3d-ct").with_overrides(
        data=str(cohort), folds=2, epochs=1, batch_size=4, bootstrap=20, crop=(12, 16, 16))
    run = train(cfg, tmp_path / "st")
    res = evaluate_run(run, bootstrap=20)
    assert set(res["tasks"]) == {"ct"}
    table = compare_runs([run], tmp_path / "cmp")
    assert "shiftnet3d-ct" in table and (tmp_path / "cmp" / "comparison.png").is_file()


def test_errors_name_the_problem(cohort, tmp_path):
    with pytest.raises(InvalidInputError, match="no manifest"):
        load_cohort(_cfg(cohort, data=str(tmp_path)))
    with pytest.raises(InvalidInputError, match="features table"):
        load_cohort(_cfg(cohort, features=str(tmp_path / "none.parquet")))
    with pytest.raises(InvalidInputError, match="not a finished training run"):
        evaluate_run(tmp_path)


def test_normaliser_clips_and_standardises():
    vols = [np.array([[[-2000, -1000], [0, 2000]]], np.int16)]
    norm = Normaliser.fit(vols, -1024, 600)
    out = norm(vols[0])
    assert out.dtype == np.float32
    clipped = np.clip(vols[0], -1024, 600).astype(float)
    assert np.allclose(out, (clipped - clipped.mean()) / clipped.std(), atol=1e-4)
