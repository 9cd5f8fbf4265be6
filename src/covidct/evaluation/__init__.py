"""Evaluation: the project's one metrics module (with bootstrap CIs) and its plots."""

from covidct.evaluation.metrics import SCALAR_METRICS, classification_metrics, scores_to_labels
from covidct.evaluation.plots import save_confusion_matrix, save_roc_curves

__all__ = [
    "SCALAR_METRICS",
    "classification_metrics",
    "save_confusion_matrix",
    "save_roc_curves",
    "scores_to_labels",
]
