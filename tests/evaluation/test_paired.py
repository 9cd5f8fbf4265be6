"""Paired comparisons: a difference with a CI from one patient resample per replicate."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from covidct.errors import InvalidInputError
from covidct.evaluation import classification_metrics, paired_difference, verdict


def _scores(n=300, seed=0, extra=0.8):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    base = y + rng.normal(0, 1.0, n)
    a = 1 / (1 + np.exp(-(base + extra * y)))  # A: B plus extra signal
    b = 1 / (1 + np.exp(-(base + rng.normal(0, 0.2, n))))
    return y, a, b


def test_point_difference_matches_sklearn_and_verdicts():
    y, a, b = _scores()
    res = paired_difference(y, a, b, n_classes=2, metric="auc", bootstrap=500, seed=1)
    assert res["difference"] == pytest.approx(roc_auc_score(y, a) - roc_auc_score(y, b))
    assert res["ci_low"] > 0 and verdict(res) == "held"
    flipped = paired_difference(y, b, a, n_classes=2, metric="auc", bootstrap=500, seed=1)
    assert verdict(flipped) == "contradicted"
    assert flipped["ci_high"] == pytest.approx(-res["ci_low"])
    same = paired_difference(y, a, a, n_classes=2, metric="accuracy", bootstrap=200)
    assert same["difference"] == 0 and same["ci_low"] == same["ci_high"] == 0
    assert verdict(same) == "not shown"


def test_pairing_narrows_the_interval_of_correlated_models():
    y, a, b = _scores(seed=3, extra=0.3)
    res = paired_difference(y, a, b, n_classes=2, metric="auc", bootstrap=500, seed=0)
    assert verdict(res) == "held"
    ma = classification_metrics(y, a, n_classes=2, bootstrap=500, seed=0)["metrics"]["auc"]
    mb = classification_metrics(y, b, n_classes=2, bootstrap=500, seed=0)["metrics"]["auc"]
    # the unpaired intervals overlap although the paired difference is clearly positive
    assert ma["ci_low"] < mb["ci_high"]
    assert res["ci_high"] - res["ci_low"] < min(ma["ci_high"] - ma["ci_low"],
                                                mb["ci_high"] - mb["ci_low"])


def test_patients_resampled_together_and_three_classes():
    rng = np.random.default_rng(0)
    y = np.repeat(rng.integers(0, 3, 60), 2)  # 60 patients, 2 scans each
    groups = np.repeat(np.arange(60), 2)
    a = rng.dirichlet(np.ones(3), len(y))
    res = paired_difference(y, a, a[:, ::-1], n_classes=3, groups=groups, bootstrap=100)
    assert res["n_patients"] == 60 and res["resampling"] == "patients" and res["n_boot"] == 100
    with pytest.raises(InvalidInputError, match="unknown metric"):
        paired_difference(y, a, a, n_classes=3, metric="sensitivity", bootstrap=10)
