"""ROC curves and confusion matrices as PNG files (matplotlib Figure objects, Agg canvas).

No pyplot and no global matplotlib state: each function builds its own
:class:`matplotlib.figure.Figure`, writes it and returns the path.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from sklearn.metrics import auc as sk_auc
from sklearn.metrics import roc_curve

from covidct.errors import InvalidInputError

__all__ = ["save_confusion_matrix", "save_roc_curves", "save_score_histogram"]


def _figure(width: float, height: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=110)
    FigureCanvasAgg(fig)
    return fig


def _save(fig, path: str | Path) -> Path:
    """Lay out ``fig`` and write it to ``path`` (folders created); returns the path."""
    fig.tight_layout()
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, bbox_inches="tight")  # labels beside a colour bar stay in the picture
    return out


def save_roc_curves(
    path: str | Path,
    curves: Mapping[str, tuple[np.ndarray, np.ndarray]],
    *,
    n_classes: int = 2,
    class_names: Sequence[str] | None = None,
    title: str = "ROC curves",
) -> Path:
    """Write ROC curves of one or more models to a PNG.

    Args:
        path: output PNG file.
        curves: model name -> (y_true class indices (n,), scores (n,) for binary or
            (n, n_classes)). Binary: one curve per model. Multi-class: one panel per class
            (one-vs-rest), one curve per model in each.
        n_classes: number of classes.
        class_names: class names for the panel titles.
        title: figure title.
    """
    if not curves:
        raise InvalidInputError("save_roc_curves needs at least one (y_true, scores) pair")
    names = list(class_names) if class_names else [str(k) for k in range(n_classes)]
    panels = [1] if n_classes == 2 else list(range(n_classes))
    fig = _figure(4.2 * len(panels), 4.2)
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    for ax, k in zip(axes, panels):
        for model, (y_true, scores) in curves.items():
            y = np.asarray(y_true).astype(int)
            s = np.asarray(scores, dtype=float)
            s_k = s if s.ndim == 1 else s[:, k]
            pos = y == k
            if pos.all() or not pos.any():
                continue
            fpr, tpr, _ = roc_curve(pos, s_k)
            ax.plot(fpr, tpr, lw=1.6, label=f"{model} (AUC {sk_auc(fpr, tpr):.3f})")
        ax.plot([0, 1], [0, 1], ls="--", lw=0.8, color="grey")
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1.01)
        ax.set_xlabel("1 - specificity")
        ax.set_ylabel("sensitivity")
        ax.set_title(f"positive: {names[k]}" if n_classes == 2 else f"{names[k]} vs rest")
        ax.legend(loc="lower right", fontsize=8)
    fig.suptitle(title)
    return _save(fig, path)


def save_confusion_matrix(
    path: str | Path,
    matrix: Sequence[Sequence[int]] | np.ndarray,
    *,
    class_names: Sequence[str] | None = None,
    title: str = "Confusion matrix",
    normalize: bool = False,
) -> Path:
    """Write a confusion matrix (rows true class, columns predicted) to a PNG.

    Cells show counts (and row percentages); ``normalize`` colours by row fractions.
    """
    cm = np.asarray(matrix, dtype=float)
    if cm.ndim != 2 or cm.shape[0] != cm.shape[1] or cm.shape[0] < 2:
        raise InvalidInputError(f"a confusion matrix must be square, at least 2 x 2; got {cm.shape}")
    k = cm.shape[0]
    names = list(class_names) if class_names else [str(i) for i in range(k)]
    rows = cm.sum(axis=1, keepdims=True)
    frac = np.divide(cm, rows, out=np.zeros_like(cm), where=rows > 0)
    fig = _figure(1.3 * k + 2.4, 1.3 * k + 1.6)
    ax = fig.subplots()
    shown = frac if normalize else cm
    im = ax.imshow(shown, cmap="Blues", vmin=0)
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    threshold = shown.max() / 2.0 if shown.max() > 0 else 1.0
    for i in range(k):
        for j in range(k):
            ax.text(j, i, f"{int(cm[i, j])}\n{100 * frac[i, j]:.0f}%", ha="center", va="center",
                    color="white" if shown[i, j] > threshold else "black", fontsize=9)
    ax.set_xticks(range(k), names)
    ax.set_yticks(range(k), names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    return _save(fig, path)


def save_score_histogram(
    path: str | Path,
    scores: Mapping[str, np.ndarray],
    *,
    bins: int = 10,
    xlabel: str = "score",
    title: str = "Scores",
) -> Path:
    """Write histograms of scores in [0, 1] (one colour per named group, e.g. FP and FN) to a PNG."""
    fig = _figure(5.0, 3.6)
    ax = fig.subplots()
    edges = np.linspace(0.0, 1.0, bins + 1)
    for name, values in scores.items():
        ax.hist(np.asarray(values, dtype=float), bins=edges, alpha=0.6, label=f"{name} (n={len(values)})")
    ax.set_xlim(0, 1)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("slices")
    ax.set_title(title)
    ax.legend(fontsize=8)
    return _save(fig, path)
