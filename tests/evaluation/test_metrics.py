"""Metrics: equal to sklearn, bootstrap CIs contain the estimate and narrow with n, plots."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn import metrics as skm

from covidct.errors import InvalidInputError
from covidct.evaluation import classification_metrics, save_confusion_matrix, save_roc_curves
from covidct.evaluation.metrics import _fast, _point


def _binary(n, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    return y, np.clip(0.35 * y + 0.65 * rng.random(n), 0, 1)


def _multi(n, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    s = rng.dirichlet([1, 1, 1], n)
    s[np.arange(n), y] += 0.4
    return y, s / s.sum(axis=1, keepdims=True)


def test_binary_matches_sklearn():
    y, s = _binary(200)
    res = classification_metrics(y, s, n_classes=2, bootstrap=0)
    m = {k: v["value"] for k, v in res["metrics"].items()}
    pred = (s >= 0.5).astype(int)
    tn, fp, fn, tp = skm.confusion_matrix(y, pred).ravel()
    assert m["auc"] == pytest.approx(skm.roc_auc_score(y, s))
    assert m["accuracy"] == pytest.approx(skm.accuracy_score(y, pred))
    assert m["sensitivity"] == pytest.approx(tp / (tp + fn))
    assert m["specificity"] == pytest.approx(tn / (tn + fp))
    assert m["f1_weighted"] == pytest.approx(skm.f1_score(y, pred, average="weighted"))
    assert res["confusion_matrix"] == [[tn, fp], [fn, tp]]
    # (n, 2) probabilities give the same
    res2 = classification_metrics(y, np.column_stack([1 - s, s]), n_classes=2, bootstrap=0)
    assert res2["metrics"]["auc"]["value"] == m["auc"]


def test_multiclass_matches_sklearn():
    y, s = _multi(300)
    res = classification_metrics(y, s, n_classes=3, bootstrap=0, class_names=["a", "b", "c"])
    m = {k: v["value"] for k, v in res["metrics"].items()}
    pred = s.argmax(axis=1)
    assert m["auc"] == pytest.approx(skm.roc_auc_score(y, s, multi_class="ovr", average="macro"))
    for k in range(3):
        assert m[f"auc_class_{k}"] == pytest.approx(skm.roc_auc_score(y == k, s[:, k]))
    assert m["precision_weighted"] == pytest.approx(skm.precision_score(y, pred, average="weighted"))
    assert m["recall_weighted"] == pytest.approx(skm.recall_score(y, pred, average="weighted"))
    assert res["confusion_matrix"] == skm.confusion_matrix(y, pred).tolist()
    assert res["class_names"] == ["a", "b", "c"] and "sensitivity" not in m


@pytest.mark.parametrize("maker,k", [(_binary, 2), (_multi, 3)])
def test_bootstrap_formulas_equal_sklearn(maker, k):
    for seed in range(5):
        y, s = maker(60, seed)
        s = s if s.ndim == 2 else np.column_stack([1 - s, s])
        s = np.round(s, 2)  # ties
        s[:, -1] = 1.0 - s[:, :-1].sum(axis=1)  # still probabilities (sklearn checks)
        fast, ref = _fast(y, s, k), _point(y, s, k)
        assert fast.keys() == ref.keys()
        for key in ref:
            assert fast[key] == pytest.approx(ref[key], abs=1e-12, nan_ok=True), key


def test_ci_contains_estimate_and_narrows_with_n():
    widths = []
    for n in (80, 800):
        y, s = _binary(n, seed=3)
        res = classification_metrics(y, s, n_classes=2, bootstrap=300, seed=1)
        for name, v in res["metrics"].items():
            assert v["ci_low"] <= v["value"] <= v["ci_high"], name
            assert v["n_boot"] > 250
        widths.append(res["metrics"]["auc"]["ci_high"] - res["metrics"]["auc"]["ci_low"])
    assert widths[1] < widths[0] / 2
    again = classification_metrics(y, s, n_classes=2, bootstrap=300, seed=1)
    assert again == res  # the seed reproduces exactly


def test_patient_bootstrap_is_wider_for_clustered_scans():
    y, s = _binary(100, seed=4)
    y2, s2 = np.repeat(y, 4), np.repeat(s, 4)  # 4 identical scans per patient
    groups = np.repeat(np.arange(100), 4)
    by_case = classification_metrics(y2, s2, n_classes=2, bootstrap=300)
    by_patient = classification_metrics(y2, s2, n_classes=2, bootstrap=300, groups=groups)
    assert by_patient["resampling"] == "patients"
    w = lambda r: r["metrics"]["auc"]["ci_high"] - r["metrics"]["auc"]["ci_low"]
    assert w(by_patient) > 1.5 * w(by_case)


def test_bad_inputs():
    with pytest.raises(InvalidInputError, match="shape"):
        classification_metrics([0, 1, 1], np.zeros((3, 3)), n_classes=2)
    with pytest.raises(InvalidInputError, match="class indices"):
        classification_metrics([0, 2], [0.1, 0.2], n_classes=2)
    with pytest.raises(InvalidInputError, match="n_classes"):
        classification_metrics([0, 1], [0.1, 0.2], n_classes=1)


def test_plots_write_pngs(tmp_path):
    y, s = _multi(90)
    yb, sb = _binary(90)
    roc = save_roc_curves(tmp_path / "roc.png", {"m1": (y, s), "m2": (y, s[:, ::-1])}, n_classes=3)
    rocb = save_roc_curves(tmp_path / "b" / "rocb.png", {"m": (yb, sb)})
    cm = save_confusion_matrix(tmp_path / "cm.png", [[5, 1], [2, 7]], class_names=["neg", "pos"])
    for p in (roc, rocb, cm):
        data = p.read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000
    with pytest.raises(InvalidInputError):
        save_confusion_matrix(tmp_path / "x.png", [[1, 2, 3]])
