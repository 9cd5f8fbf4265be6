"""Classification metrics with bootstrap confidence intervals: the project's one metrics module.

Point estimates come from :mod:`sklearn.metrics`; bootstrap replicates use equivalent numpy
formulas (checked against sklearn in the tests: 1000 replicates take well under a second). Each scalar gets a percentile bootstrap
interval from resampling cases (or whole patients when ``groups`` is given, so that scans
of one patient stay together). Replicates where a metric is undefined (a resample without
one of the classes, for AUC or sensitivity) are skipped for that metric; the number used
is reported.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from scipy.stats import rankdata
from sklearn import metrics as skm

from covidct.errors import InvalidInputError

__all__ = ["SCALAR_METRICS", "classification_metrics", "scores_to_labels"]

#: Scalar metrics that get a confidence interval (binary adds sensitivity/specificity,
#: multi-class adds per-class one-vs-rest AUCs ``auc_class_<k>``).
SCALAR_METRICS = ("accuracy", "balanced_accuracy", "auc", "precision_weighted",
                  "recall_weighted", "f1_weighted")


def _as_scores(y_score: Any, n_classes: int, n: int) -> np.ndarray:
    s = np.asarray(y_score, dtype=np.float64)
    if n_classes == 2 and s.ndim == 1:
        s = np.column_stack([1.0 - s, s])
    if s.ndim != 2 or s.shape != (n, n_classes):
        raise InvalidInputError(
            f"y_score must have shape ({n}, {n_classes}) (or ({n},) for a binary task: the "
            f"positive-class probability); got {np.shape(y_score)}"
        )
    if not np.all(np.isfinite(s)):
        raise InvalidInputError("y_score contains NaN or infinite values")
    return s


def scores_to_labels(scores: np.ndarray, threshold: float = 0.5) -> np.ndarray:
    """Predicted labels: ``score >= threshold`` for binary 1D scores, else the arg-max class."""
    s = np.asarray(scores)
    if s.ndim == 1:
        return (s >= threshold).astype(int)
    return np.argmax(s, axis=1)


def _point(y: np.ndarray, s: np.ndarray, n_classes: int) -> dict[str, float]:
    pred = np.argmax(s, axis=1) if n_classes > 2 else (s[:, 1] >= 0.5).astype(int)
    labels = list(range(n_classes))
    out: dict[str, float] = {
        "accuracy": skm.accuracy_score(y, pred),
        "balanced_accuracy": np.nan,
        "precision_weighted": skm.precision_score(y, pred, labels=labels, average="weighted",
                                                  zero_division=0),
        "recall_weighted": skm.recall_score(y, pred, labels=labels, average="weighted",
                                            zero_division=0),
        "f1_weighted": skm.f1_score(y, pred, labels=labels, average="weighted", zero_division=0),
    }
    present = np.unique(y)
    if len(present) == n_classes:
        out["balanced_accuracy"] = skm.balanced_accuracy_score(y, pred)
    if n_classes == 2:
        tn, fp, fn, tp = skm.confusion_matrix(y, pred, labels=[0, 1]).ravel()
        out["sensitivity"] = tp / (tp + fn) if tp + fn else np.nan
        out["specificity"] = tn / (tn + fp) if tn + fp else np.nan
        out["auc"] = skm.roc_auc_score(y, s[:, 1]) if len(present) == 2 else np.nan
    else:
        for k in range(n_classes):
            pos = y == k
            out[f"auc_class_{k}"] = (skm.roc_auc_score(pos, s[:, k])
                                     if 0 < pos.sum() < len(y) else np.nan)
        out["auc"] = (skm.roc_auc_score(y, s, multi_class="ovr", average="macro", labels=labels)
                      if len(present) == n_classes else np.nan)
    return {k: float(v) for k, v in out.items()}


def _auc_ranks(pos: np.ndarray, score: np.ndarray) -> float:
    """Binary ROC AUC by the Mann-Whitney rank sum (ties get average ranks): equals sklearn's."""
    n_pos = int(pos.sum())
    n_neg = pos.size - n_pos
    if n_pos == 0 or n_neg == 0:
        return np.nan
    ranks = rankdata(score)
    return float((ranks[pos].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def _fast(y: np.ndarray, s: np.ndarray, n_classes: int) -> dict[str, float]:
    """The same metrics as :func:`_point` in plain numpy (for bootstrap replicates)."""
    k = n_classes
    pred = np.argmax(s, axis=1) if k > 2 else (s[:, 1] >= 0.5).astype(int)
    cm = np.bincount(y * k + pred, minlength=k * k).reshape(k, k).astype(float)
    n = cm.sum()
    support, predicted, tp = cm.sum(axis=1), cm.sum(axis=0), np.diag(cm)
    precision = np.divide(tp, predicted, out=np.zeros(k), where=predicted > 0)
    recall = np.divide(tp, support, out=np.zeros(k), where=support > 0)
    denom = precision + recall
    f1 = np.divide(2 * precision * recall, denom, out=np.zeros(k), where=denom > 0)
    w = support / n
    out = {
        "accuracy": tp.sum() / n,
        "balanced_accuracy": recall.mean() if np.all(support > 0) else np.nan,
        "precision_weighted": float(w @ precision),
        "recall_weighted": float(w @ recall),
        "f1_weighted": float(w @ f1),
    }
    if k == 2:
        out["sensitivity"] = recall[1] if support[1] else np.nan
        out["specificity"] = recall[0] if support[0] else np.nan
        out["auc"] = _auc_ranks(y == 1, s[:, 1])
    else:
        aucs = [_auc_ranks(y == c, s[:, c]) for c in range(k)]
        for c, a in enumerate(aucs):
            out[f"auc_class_{c}"] = a
        out["auc"] = float(np.mean(aucs)) if np.all(support > 0) else np.nan
    return {key: float(v) for key, v in out.items()}


def _resampler(n: int, groups: np.ndarray | None, rng: np.random.Generator
               ) -> Callable[[], np.ndarray]:
    if groups is None:
        return lambda: rng.integers(0, n, n)
    codes = np.unique(groups, return_inverse=True)[1].ravel()
    members = [np.flatnonzero(codes == g) for g in range(codes.max() + 1)]

    def draw() -> np.ndarray:
        picks = rng.integers(0, len(members), len(members))
        return np.concatenate([members[p] for p in picks])

    return draw


def classification_metrics(
    y_true: Sequence[int] | np.ndarray,
    y_score: np.ndarray,
    *,
    n_classes: int,
    bootstrap: int = 1000,
    seed: int = 0,
    ci: float = 0.95,
    groups: Sequence[Any] | np.ndarray | None = None,
    class_names: Sequence[str] | None = None,
) -> dict[str, Any]:
    """Accuracy, sensitivity/specificity (binary), ROC AUC, weighted P/R/F1, confusion matrix.

    Args:
        y_true: true class indices ``0 .. n_classes-1``, one per case.
        y_score: class probabilities ``(n, n_classes)``; for binary tasks also ``(n,)`` =
            probability of class 1. Predicted label: arg-max (binary: score >= 0.5).
        n_classes: number of classes (2 for binary).
        bootstrap: bootstrap replicates for the CIs (0 = no CIs).
        seed: seed of the bootstrap.
        ci: confidence level of the percentile intervals.
        groups: optional patient id per case; the bootstrap then resamples patients.
        class_names: names for the report (default ``"0", "1", ...``).

    Returns:
        ``{"n", "n_classes", "class_names", "metrics": {name: {"value", "ci_low", "ci_high",
        "n_boot"}}, "confusion_matrix": [[...]] (rows true, columns predicted), "bootstrap",
        "ci", "seed", "resampling"}``. AUC for more than two classes is the macro one-vs-rest
        AUC, with per-class ``auc_class_<k>``.
    """
    if isinstance(n_classes, bool) or not isinstance(n_classes, (int, np.integer)) or n_classes < 2:
        raise InvalidInputError(f"n_classes must be an integer >= 2; got {n_classes!r}")
    y = np.asarray(y_true)
    if y.ndim != 1 or y.size == 0:
        raise InvalidInputError(f"y_true must be a non-empty 1D array; got shape {y.shape}")
    if not np.all(np.isin(y, np.arange(n_classes))):
        raise InvalidInputError(f"y_true values must be class indices 0..{n_classes - 1}; got {np.unique(y)}")
    y = y.astype(int)
    s = _as_scores(y_score, int(n_classes), len(y))
    g = None
    if groups is not None:
        g = np.asarray(groups)
        if g.shape != y.shape:
            raise InvalidInputError(f"groups must have one entry per case ({len(y)}); got {g.shape}")
    if not 0 < ci < 1:
        raise InvalidInputError(f"ci must be in (0, 1); got {ci}")

    point = _point(y, s, int(n_classes))
    result: dict[str, Any] = {
        "n": len(y),
        "n_classes": int(n_classes),
        "class_names": list(class_names) if class_names else [str(k) for k in range(n_classes)],
        "metrics": {k: {"value": v, "ci_low": np.nan, "ci_high": np.nan, "n_boot": 0}
                    for k, v in point.items()},
        "confusion_matrix": skm.confusion_matrix(
            y, np.argmax(s, axis=1) if n_classes > 2 else (s[:, 1] >= 0.5).astype(int),
            labels=list(range(n_classes))).tolist(),
        "bootstrap": int(bootstrap),
        "ci": float(ci),
        "seed": int(seed),
        "resampling": "patients" if g is not None else "cases",
    }
    if bootstrap > 0:
        rng = np.random.default_rng(seed)
        draw = _resampler(len(y), g, rng)
        reps: dict[str, list[float]] = {k: [] for k in point}
        for _ in range(int(bootstrap)):
            idx = draw()
            for k, v in _fast(y[idx], s[idx], int(n_classes)).items():
                if np.isfinite(v):
                    reps[k].append(v)
        alpha = (1.0 - ci) / 2.0
        for k, values in reps.items():
            if values:
                lo, hi = np.quantile(values, [alpha, 1.0 - alpha])
                result["metrics"][k].update(ci_low=float(lo), ci_high=float(hi), n_boot=len(values))
    return result
