"""Which features matter: LightGBM split and gain importance per task, top-k, box plots.

As in COVID-MTL: one LightGBM per task on the MinMax-scaled features (all labelled cases),
the top 10 features per task by split importance, and the union over the tasks; gain
importance is reported beside it. Box plots show each top feature's (scaled) values by class.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from covidct.errors import InvalidInputError
from covidct.ml.baselines import BaselineOptions, get_task, make_pipeline, task_data

__all__ = ["feature_importance_report", "lightgbm_importance", "save_feature_boxplots", "top_features"]


def lightgbm_importance(table: pd.DataFrame, task: str, *,
                        options: BaselineOptions = BaselineOptions(),
                        columns: Sequence[str] | None = None) -> pd.DataFrame:
    """Split and gain importance of every feature for ``task`` (sorted by split, then gain).

    Returns a frame indexed by feature name with columns ``split``, ``gain``, ``split_rank``,
    ``gain_rank`` (1 = most important).
    """
    X, y, _, _, cols = task_data(table, task, columns)
    if len(np.unique(y)) < 2:
        raise InvalidInputError(f"task {task}: need at least two classes to rank features")
    pipe = make_pipeline("lightgbm", options=BaselineOptions(**{**options.to_dict(), "select_k": None}))
    pipe.fit(X, y)
    booster = pipe.named_steps["model"].booster_
    frame = pd.DataFrame({
        "split": booster.feature_importance(importance_type="split").astype(float),
        "gain": booster.feature_importance(importance_type="gain").astype(float),
    }, index=pd.Index(cols, name="feature"))
    frame["split_rank"] = frame["split"].rank(ascending=False, method="first").astype(int)
    frame["gain_rank"] = frame["gain"].rank(ascending=False, method="first").astype(int)
    return frame.sort_values(["split", "gain"], ascending=False)


def top_features(importance: pd.DataFrame, k: int = 10, *, by: str = "split") -> list[str]:
    """The ``k`` most important features by ``split`` or ``gain`` (ties broken by the other)."""
    if by not in ("split", "gain"):
        raise InvalidInputError(f"importance type must be 'split' or 'gain'; got {by!r}")
    other = "gain" if by == "split" else "split"
    return list(importance.sort_values([by, other], ascending=False).index[:k])


def save_feature_boxplots(path: str | Path, table: pd.DataFrame, task: str, features: Sequence[str],
                          *, title: str | None = None) -> Path:
    """Box plots of ``features`` (MinMax-scaled over the labelled cases) by class of ``task``."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    spec = get_task(task)
    X, y, _, _, cols = task_data(table, spec, list(features))
    lo, hi = X.min(axis=0), X.max(axis=0)
    Xs = (X - lo) / np.where(hi > lo, hi - lo, 1.0)
    n = len(cols)
    ncol = min(5, n)
    nrow = int(np.ceil(n / ncol))
    fig = Figure(figsize=(3.0 * ncol, 2.8 * nrow), dpi=100)
    FigureCanvasAgg(fig)
    axes = np.atleast_1d(fig.subplots(nrow, ncol, squeeze=False)).ravel()
    for ax, j in zip(axes, range(n)):
        data = [Xs[y == c, j] for c in range(spec.n_classes)]
        ax.boxplot(data, showfliers=False)
        ax.set_xticks(range(1, spec.n_classes + 1), [s.split("/")[0] for s in spec.class_names],
                      fontsize=7)
        name = cols[j]
        ax.set_title(name if len(name) <= 38 else name[:18] + "..." + name[-17:], fontsize=7)
    for ax in axes[n:]:
        ax.set_visible(False)
    fig.suptitle(title or f"Top features by class, task {task} (MinMax-scaled)")
    fig.tight_layout()
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out)
    return out


def feature_importance_report(table: pd.DataFrame, tasks: Sequence[str], out_dir: str | Path, *,
                              k: int = 10, options: BaselineOptions = BaselineOptions(),
                              columns: Sequence[str] | None = None) -> dict[str, Any]:
    """Top-``k`` features per task (split and gain), their union, importances CSV and box plots.

    Writes ``importance_<task>.csv`` and ``boxplots_<task>.png`` into ``out_dir``; returns
    ``{"per_task": {task: {"split": [...], "gain": [...]}}, "union_split": [...], "union_gain": [...]}``.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    per_task: dict[str, dict[str, list[str]]] = {}
    for task in tasks:
        imp = lightgbm_importance(table, task, options=options, columns=columns)
        imp.to_csv(out / f"importance_{task}.csv")
        per_task[task] = {"split": top_features(imp, k, by="split"),
                          "gain": top_features(imp, k, by="gain")}
        save_feature_boxplots(out / f"boxplots_{task}.png", table, task, per_task[task]["split"])

    def union(kind: str) -> list[str]:
        seen: dict[str, None] = {}
        for t in per_task.values():
            seen.update(dict.fromkeys(t[kind]))
        return list(seen)

    return {"k": k, "per_task": per_task, "union_split": union("split"), "union_gain": union("gain")}
