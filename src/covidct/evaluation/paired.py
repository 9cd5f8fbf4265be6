"""Paired comparisons of two models on the same cases: difference of a metric with a CI.

Both models' scores are for the same cases (the same folds of one fold file), so the
comparison is paired: every bootstrap replicate resamples patients once and computes the
metric of both models on that one resample; the percentile interval of the differences is
the CI. A claim "A beats B" is *held* when the CI of A - B lies above 0, *contradicted*
when it lies below 0, and *not shown* when it includes 0.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from covidct.errors import InvalidInputError
from covidct.evaluation.metrics import _as_scores, _fast, _point, _resampler

__all__ = ["paired_difference", "verdict"]


def paired_difference(
    y_true: Sequence[int] | np.ndarray,
    scores_a: np.ndarray,
    scores_b: np.ndarray,
    *,
    n_classes: int,
    metric: str = "auc",
    groups: Sequence[Any] | np.ndarray | None = None,
    bootstrap: int = 2000,
    seed: int = 0,
    ci: float = 0.95,
) -> dict[str, Any]:
    """Metric of A, of B and A - B on the same cases, with a paired bootstrap CI of A - B.

    Args:
        y_true: class indices ``0 .. n_classes-1``, one per case.
        scores_a, scores_b: class probabilities ``(n, n_classes)`` of the two models (binary:
            also ``(n,)``, the positive-class probability), rows in the same case order.
        n_classes: number of classes.
        metric: a metric of :func:`covidct.evaluation.classification_metrics` (auc,
            accuracy, sensitivity, f1_weighted, ...).
        groups: patient id per case; replicates resample patients (their cases together).
        bootstrap: replicates (> 0).
        seed, ci: seed and confidence level of the percentile interval.

    Returns:
        ``{"metric", "value_a", "value_b", "difference", "ci_low", "ci_high", "n", "n_patients",
        "n_boot", "p_two_sided", "resampling"}``; ``p_two_sided`` is the bootstrap share
        of differences on the other side of 0 (doubled, at most 1).
    """
    y = np.asarray(y_true)
    if y.ndim != 1 or y.size == 0 or not np.all(np.isin(y, np.arange(n_classes))):
        raise InvalidInputError(f"y_true must be a non-empty 1D array of classes 0..{n_classes - 1}")
    y = y.astype(int)
    a = _as_scores(scores_a, int(n_classes), len(y))
    b = _as_scores(scores_b, int(n_classes), len(y))
    if bootstrap < 1 or not 0 < ci < 1:
        raise InvalidInputError(f"bootstrap must be >= 1 and ci in (0, 1); got {bootstrap}, {ci}")
    pa, pb = _point(y, a, n_classes), _point(y, b, n_classes)
    if metric not in pa:
        raise InvalidInputError(f"unknown metric {metric!r}; expected one of {sorted(pa)}")
    g = None if groups is None else np.asarray(groups)
    if g is not None and g.shape != y.shape:
        raise InvalidInputError(f"groups must have one entry per case ({len(y)}); got {g.shape}")
    draw = _resampler(len(y), g, np.random.default_rng(seed))
    diffs = []
    for _ in range(int(bootstrap)):
        idx = draw()
        d = _fast(y[idx], a[idx], n_classes)[metric] - _fast(y[idx], b[idx], n_classes)[metric]
        if np.isfinite(d):
            diffs.append(d)
    diff = np.asarray(diffs)
    alpha = (1.0 - ci) / 2.0
    lo, hi = (np.quantile(diff, [alpha, 1.0 - alpha]) if diff.size else (np.nan, np.nan))
    point = pa[metric] - pb[metric]
    p = min(1.0, 2.0 * min(np.mean(diff <= 0), np.mean(diff >= 0))) if diff.size else np.nan
    return {"metric": metric, "value_a": pa[metric], "value_b": pb[metric], "difference": float(point),
            "ci_low": float(lo), "ci_high": float(hi), "ci": float(ci), "n": len(y),
            "n_patients": len(np.unique(g)) if g is not None else len(y),
            "n_boot": int(diff.size), "p_two_sided": float(p),
            "resampling": "patients" if g is not None else "cases", "seed": int(seed)}


def verdict(comparison: dict[str, Any]) -> str:
    """"held" (CI of A - B above 0), "contradicted" (below 0) or "not shown" (includes 0)."""
    lo, hi = comparison["ci_low"], comparison["ci_high"]
    if not (np.isfinite(lo) and np.isfinite(hi)):
        return "not shown"
    if lo > 0:
        return "held"
    if hi < 0:
        return "contradicted"
    return "not shown"
