"""Evaluation: the project's one metrics module (with bootstrap CIs), paired comparisons, plots."""

from covidct.evaluation.metrics import SCALAR_METRICS, classification_metrics, scores_to_labels
from covidct.evaluation.paired import paired_difference, verdict
from covidct.evaluation.plots import save_confusion_matrix, save_roc_curves

__all__ = [
    "SCALAR_METRICS",
    "classification_metrics",
    "paired_difference",
    "save_confusion_matrix",
    "save_roc_curves",
    "scores_to_labels",
    "verdict",
]
