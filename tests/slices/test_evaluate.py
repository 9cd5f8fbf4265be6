"""Slice-run evaluation: metrics equal scikit-learn's, per-patient aggregation, files written."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import yaml
from sklearn import metrics as skm

from covidct.errors import InvalidInputError
from covidct.slices.evaluate import evaluate_slice_run, patient_scores


def _run(tmp_path, n_classes=2):
    rng = np.random.default_rng(0)
    n = 60
    true = rng.integers(0, n_classes, n)
    logits = rng.normal(size=(n, n_classes)) + 1.5 * np.eye(n_classes)[true]
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    preds = pd.DataFrame({"case_id": [f"c{i}" for i in range(n)], "patient_id": [f"p{i // 3}" for i in range(n)],
                          "image": [f"x/c{i}.png" for i in range(n)], "fold": 0, "true": true,
                          **{f"p{c}": probs[:, c] for c in range(n_classes)}})
    preds["true"] = preds.groupby("patient_id")["true"].transform("first")  # one class per patient
    run = tmp_path / "run"
    run.mkdir()
    preds.to_csv(run / "predictions.csv", index=False)
    (run / "config.yaml").write_text(yaml.safe_dump({"name": "t", "arch": "resnet18", "bootstrap": 200, "seed": 0}))
    names = ["non-COVID", "COVID"] if n_classes == 2 else ["Normal", "Pneumonia", "COVID-19"]
    (run / "run.json").write_text(json.dumps({"classes": names}))
    return run, preds


def test_binary_metrics_match_sklearn_and_files_exist(tmp_path):
    run, preds = _run(tmp_path)
    res = evaluate_slice_run(run)
    y, s = preds["true"].to_numpy(), preds["p1"].to_numpy()
    pred = (s >= 0.5).astype(int)
    m = res["slices"]["metrics"]
    assert m["accuracy"]["value"] == pytest.approx(skm.accuracy_score(y, pred))
    assert m["auc"]["value"] == pytest.approx(skm.roc_auc_score(y, s))
    assert m["sensitivity"]["value"] == pytest.approx(skm.recall_score(y, pred))
    assert m["specificity"]["value"] == pytest.approx(skm.recall_score(1 - y, 1 - pred))
    assert m["auc"]["ci_low"] <= m["auc"]["value"] <= m["auc"]["ci_high"]
    assert res["slices"]["resampling"] == "patients"
    for name in ("metrics.json", "metrics.md", "roc.png", "confusion.png", "misclassified_scores.png", "patients.csv"):
        assert (run / name).is_file()
    patients = pd.read_csv(run / "patients.csv", dtype={"patient_id": str})
    assert len(patients) == 20 and res["patients"]["mean"]["n"] == 20


def test_patient_mean_and_max():
    preds = pd.DataFrame({"patient_id": ["a", "a", "b"], "true": [1, 1, 0],
                          "p0": [0.8, 0.4, 0.9], "p1": [0.2, 0.6, 0.1]})
    mean = patient_scores(preds, 2, "mean").set_index("patient_id")
    assert mean.loc["a", "p1"] == pytest.approx(0.4) and mean.loc["b", "p1"] == pytest.approx(0.1)
    mx = patient_scores(preds, 2, "max").set_index("patient_id")
    assert mx.loc["a", "p1"] == pytest.approx(0.6 / (0.8 + 0.6))
    with pytest.raises(InvalidInputError):
        patient_scores(preds, 2, "median")


def test_three_classes_macro_auc_matches_sklearn(tmp_path):
    run, preds = _run(tmp_path, n_classes=3)
    res = evaluate_slice_run(run, bootstrap=0)
    scores = preds[["p0", "p1", "p2"]].to_numpy()
    expected = skm.roc_auc_score(preds["true"], scores, multi_class="ovr", average="macro")
    assert res["slices"]["metrics"]["auc"]["value"] == pytest.approx(expected)
    assert res["slices"]["metrics"]["accuracy"]["value"] == pytest.approx(
        skm.accuracy_score(preds["true"], scores.argmax(axis=1)))
    covid = (preds["true"] == 2).astype(int)
    vs_rest = res["covid_vs_rest"]["slices"]["metrics"]
    assert vs_rest["auc"]["value"] == pytest.approx(skm.roc_auc_score(covid, scores[:, 2]))
    assert vs_rest["sensitivity"]["value"] == pytest.approx(skm.recall_score(covid, scores[:, 2] >= 0.5))
    assert "COVID-19 vs rest" in (run / "metrics.md").read_text()


def test_unfinished_run_is_refused(tmp_path):
    with pytest.raises(InvalidInputError):
        evaluate_slice_run(tmp_path)
