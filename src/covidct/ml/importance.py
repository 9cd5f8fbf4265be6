"""Which features matter: LightGBM split and gain importance per task, per training fold.

As in COVID-MTL, one LightGBM per task on the MinMax-scaled features ranks features by split
importance (gain beside it), top 10 per task and their union. Unlike the paper, the models
are fit on the **training folds only** (the same folds as the baselines): the importances
are averaged over folds, and each feature's selection frequency (share of folds whose top k
hold it) and the mean pairwise Jaccard overlap of the folds' top-k sets say how stable the
selection is. The box plots are descriptive: they show every labelled case.
"""

from __future__ import annotations

import logging

import itertools
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from covidct.errors import InvalidInputError
from covidct.ml.baselines import (
    BaselineOptions, fit_split, get_task, make_pipeline, task_data, task_splits,
)

__all__ = ["feature_importance_report", "fold_importances", "lightgbm_importance",
           "save_feature_boxplots", "selection_stability", "top_features"]

log = logging.getLogger(__name__)


def fold_importances(table: pd.DataFrame, task: str, *,
                     options: BaselineOptions = BaselineOptions(),
                     columns: Sequence[str] | None = None) -> list[pd.DataFrame]:
    """Split and gain importance of a LightGBM fit on each training fold of ``task``.

    One frame per fold, indexed by the names the model sees (``hog_pca_*`` when HOG is
    reduced), columns ``split`` and ``gain``. No test case of a fold enters its fit.
    """
    X, y, groups, case_ids, cols = task_data(table, task, columns)
    if len(np.unique(y)) < 2:
        raise InvalidInputError(f"task {task}: need at least two classes to rank features")
    opts = BaselineOptions(**{**options.to_dict(), "select_k": None})
    pipe = make_pipeline("lightgbm", options=opts, columns=cols)
    frames = []
    for train, _ in task_splits(y, groups, case_ids, options):
        fitted = fit_split(pipe, X, y, train)
        booster = fitted.named_steps["model"].booster_
        names = fitted[:-1].get_feature_names_out(np.asarray(cols, dtype=object))
        frames.append(pd.DataFrame({
            "split": booster.feature_importance(importance_type="split").astype(float),
            "gain": booster.feature_importance(importance_type="gain").astype(float),
        }, index=pd.Index(names, name="feature")))
    return frames


def selection_stability(top_sets: Sequence[Sequence[str]]) -> float:
    """Mean pairwise Jaccard overlap of the folds' top-k sets (1 = the same every fold)."""
    sets = [set(t) for t in top_sets]
    pairs = [len(a & b) / len(a | b) for a, b in itertools.combinations(sets, 2) if a | b]
    return float(np.mean(pairs)) if pairs else float("nan")


def lightgbm_importance(table: pd.DataFrame, task: str, *,
                        options: BaselineOptions = BaselineOptions(),
                        columns: Sequence[str] | None = None, k: int = 10) -> pd.DataFrame:
    """Importance of every feature for ``task``, averaged over training folds.

    Returns a frame indexed by feature name, sorted by split then gain, with columns
    ``split``, ``gain`` (fold means), ``split_rank``, ``gain_rank`` (1 = most important),
    ``selected_split``/``selected_gain`` (share of folds whose top ``k`` hold the feature);
    ``attrs["stability"]`` holds the mean pairwise Jaccard of the folds' top-k sets.
    """
    frames = fold_importances(table, task, options=options, columns=columns)
    frame = pd.concat(frames).groupby(level=0, sort=False).mean()
    frame.index.name = "feature"
    frame["split_rank"] = frame["split"].rank(ascending=False, method="first").astype(int)
    frame["gain_rank"] = frame["gain"].rank(ascending=False, method="first").astype(int)
    stability = {}
    for by in ("split", "gain"):
        tops = [top_features(f, k, by=by) for f in frames]
        counts = pd.Series([n for t in tops for n in t]).value_counts()
        frame[f"selected_{by}"] = counts.reindex(frame.index).fillna(0).to_numpy() / len(frames)
        stability[by] = selection_stability(tops)
    frame = frame.sort_values(["split", "gain"], ascending=False)
    frame.attrs["stability"] = stability
    frame.attrs["n_folds"] = len(frames)
    return frame


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
    """Top-``k`` features per task (fold-mean split and gain), their union and stability.

    Writes ``importance_<task>.csv`` and ``boxplots_<task>.png`` into ``out_dir``; returns
    ``{"fit_on": ..., "per_task": {task: {"split": [...], "gain": [...], "stability": {...}}},
    "union_split": [...], "union_gain": [...]}``.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    per_task: dict[str, dict[str, Any]] = {}
    for task in tasks:
        imp = lightgbm_importance(table, task, options=options, columns=columns, k=k)
        imp.to_csv(out / f"importance_{task}.csv")
        if not (imp[["split", "gain"]].to_numpy() > 0).any():
            log.warning("task %s: every LightGBM importance is 0 (the models never split): "
                        "no feature ranking", task)
            per_task[task] = {"split": [], "gain": [], "stability": None,
                              "note": "all importances are 0 (constant models): no ranking"}
            continue
        per_task[task] = {"split": top_features(imp, k, by="split"),
                          "gain": top_features(imp, k, by="gain"),
                          "stability": {"jaccard_top_k": imp.attrs["stability"],
                                        "n_folds": imp.attrs["n_folds"]}}
        raw = [f for f in per_task[task]["split"] if f in table.columns]
        if raw:
            save_feature_boxplots(out / f"boxplots_{task}.png", table, task, raw,
                                  title=f"Top features by class, task {task} (descriptive: "
                                        "all labelled cases, MinMax-scaled)")

    def union(kind: str) -> list[str]:
        seen: dict[str, None] = {}
        for t in per_task.values():
            seen.update(dict.fromkeys(t[kind]))
        return list(seen)

    return {"k": k, "fit_on": "training folds only (fold means); box plots descriptive",
            "per_task": per_task, "union_split": union("split"), "union_gain": union("gain")}
