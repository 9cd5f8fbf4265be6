"""Classical ML baselines on radiomic/HOG feature tables: LightGBM, random forest, logistic regression.

One model per task (``ct``, ``nat``, ``severity``). Scaling (MinMax, as COVID-MTL) and the
optional feature selection live inside a scikit-learn :class:`~sklearn.pipeline.Pipeline`,
so they are fit on the training folds only (the paper fit its scaler on all cases).
Evaluation: patient-level stratified k-fold cross-validation (``StratifiedGroupKFold`` on
``patient_id``), or the paper's single stratified 70/30 split, made at patient level.
Out-of-fold predictions go to :func:`covidct.evaluation.classification_metrics`
(bootstrap CIs over patients).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import RandomForestClassifier
from sklearn.feature_selection import SelectKBest, f_classif
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import MinMaxScaler

from covidct.errors import InvalidInputError
from covidct.evaluation.metrics import classification_metrics
from covidct.features.hog import HogPCA
from covidct.tasks import TASKS, TaskSpec, get_task

__all__ = [
    "MODELS",
    "TASKS",
    "BaselineOptions",
    "BaselineResult",
    "TaskSpec",
    "cross_val_predict_patients",
    "feature_columns",
    "constant_splits",
    "fit_split",
    "lightgbm_min_child_samples",
    "make_pipeline",
    "patient_splits",
    "splits_from_folds",
    "task_splits",
    "run_baseline",
    "task_data",
]

log = logging.getLogger(__name__)


MODELS: tuple[str, ...] = ("lightgbm", "rf", "logreg")

#: Columns of a feature table that are never features.
_META = {"case_id", "patient_id", "scan_id", "status", "error", "seconds", "fold", "split",
         "diagnosis", "ct_positive", "nat_positive", "severity", "morbidity", "mortality",
         "ct_category", "covid", "class_id", "age", "sex", "lesion_fraction", "layout",
         "worker_pid", "n_features"}
_FEATURE_PREFIXES = ("original_", "wavelet", "log-sigma", "square", "squareroot", "logarithm",
                     "exponential", "gradient", "lbp-", "hog_")


@dataclass(frozen=True)
class BaselineOptions:
    """Settings of a baseline run (written into every result).

    Attributes:
        n_estimators: trees of LightGBM and the random forest (1000 in COVID-MTL).
        learning_rate: LightGBM learning rate (0.01 in COVID-MTL).
        folds: patient-level stratified CV folds.
        folds_file: a saved fold file (:func:`covidct.datasets.splits.save_folds`) whose
            folds are used instead, so that every model of a study (baselines and networks)
            is tested on the same patients; "" = make folds per task.
        split_70_30: use the paper's single 70/30 patient split instead of CV.
        select_k: keep the k best features (ANOVA F, fit per training fold); None = all.
        hog_pca: PCA components of the ``hog_*`` columns (100 in COVID-MTL), fit per
            training fold inside the pipeline; None = raw HOG columns.
        seed: seed of the folds, the models and the bootstrap.
        bootstrap: bootstrap replicates of the confidence intervals.
        n_jobs: threads of LightGBM / random forest.
        min_child_samples: LightGBM's smallest leaf; None = by training-fold size
            (:func:`lightgbm_min_child_samples`: 20, LightGBM's default, from 400 cases down
            to 2), so that a small cohort does not give a model that cannot split (constant).
    """

    n_estimators: int = 1000
    learning_rate: float = 0.01
    folds: int = 5
    folds_file: str = ""
    split_70_30: bool = False
    select_k: int | None = None
    hog_pca: int | None = 100
    seed: int = 0
    bootstrap: int = 1000
    n_jobs: int = 1
    min_child_samples: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dict."""
        return asdict(self)


@dataclass(frozen=True, eq=False)
class BaselineResult:
    """Out-of-fold predictions and metrics of one model on one task."""

    task: str
    model: str
    case_ids: np.ndarray
    y_true: np.ndarray
    scores: np.ndarray
    fold: np.ndarray
    metrics: dict[str, Any]
    options: BaselineOptions

    def summary(self) -> dict[str, Any]:
        """JSON-safe summary (metrics with CIs, options, sizes)."""
        return {"task": self.task, "model": self.model, "n": len(self.y_true),
                "evaluation": _evaluation(self.options),
                "options": self.options.to_dict(), **self.metrics}


def _evaluation(options: BaselineOptions) -> str:
    if options.folds_file:
        return f"patient-level folds of {options.folds_file}"
    if options.split_70_30:
        return "70/30 patient split"
    return f"{options.folds}-fold patient-level stratified CV"


def feature_columns(table: pd.DataFrame) -> list[str]:
    """Numeric feature columns of a feature table (radiomics names, ``hog_*``)."""
    cols = [c for c in table.columns
            if c not in _META and str(c).startswith(_FEATURE_PREFIXES)
            and pd.api.types.is_numeric_dtype(table[c])]
    if not cols:
        raise InvalidInputError(
            "the feature table has no feature columns (expected radiomics names such as "
            "original_glcm_Contrast or hog_0000)")
    return cols


def task_data(table: pd.DataFrame, task: str | TaskSpec, columns: Sequence[str] | None = None
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, list[str]]:
    """``(X, y, groups, case_ids, feature names)`` of the cases labelled for ``task``.

    Rows without the label, or with a failed status, are left out; non-finite feature
    values are NaN, filled inside the pipeline (:func:`make_pipeline`) from training folds.
    """
    spec = task if isinstance(task, TaskSpec) else get_task(task)
    if spec.column not in table.columns:
        raise InvalidInputError(f"the feature table has no {spec.column!r} column for task {spec.name}")
    for col in ("case_id", "patient_id"):
        if col not in table.columns:
            raise InvalidInputError(f"the feature table has no {col!r} column")
    rows = table[spec.column].notna()
    if "status" in table.columns:
        rows &= table["status"].fillna("ok").eq("ok")
    sub = table.loc[rows]
    cols = list(columns) if columns is not None else feature_columns(table)
    X = sub[cols].to_numpy(dtype=np.float64, na_value=np.nan)
    X = np.where(np.isfinite(X), X, np.nan)
    y = sub[spec.column].astype(int).to_numpy()
    bad = ~np.isin(y, np.arange(spec.n_classes))
    if bad.any():
        raise InvalidInputError(f"task {spec.name}: labels must be 0..{spec.n_classes - 1}; got {np.unique(y[bad])}")
    return X, y, sub["patient_id"].astype(str).to_numpy(), sub["case_id"].astype(str).to_numpy(), cols


def lightgbm_min_child_samples(n_train: int) -> int:
    """LightGBM's smallest leaf for ``n_train`` training cases: n/20, between 2 and 20."""
    return int(min(20, max(2, n_train // 20)))


def make_pipeline(model: str, *, options: BaselineOptions = BaselineOptions(),
                  n_features: int | None = None, columns: Sequence[str] | None = None) -> Pipeline:
    """Median fill + [HOG PCA] + MinMax scaling [+ SelectKBest] + the model, unfitted.

    Every step is fit by ``Pipeline.fit``, i.e. on the training fold only. With ``columns``
    (the feature names of X), the ``hog_*`` columns are reduced by :class:`HogPCA` to
    ``options.hog_pca`` components; the other columns pass through.
    """
    if model == "lightgbm":
        from lightgbm import LGBMClassifier

        est: Any = LGBMClassifier(n_estimators=options.n_estimators, learning_rate=options.learning_rate,
                                  min_child_samples=options.min_child_samples,
                                  random_state=options.seed, n_jobs=options.n_jobs, verbose=-1)
    elif model == "rf":
        est = RandomForestClassifier(n_estimators=options.n_estimators, random_state=options.seed,
                                     n_jobs=options.n_jobs)
    elif model == "logreg":
        est = LogisticRegression(max_iter=5000, random_state=options.seed)
    else:
        raise InvalidInputError(f"unknown model {model!r}; expected one of {MODELS}")
    steps: list[tuple[str, Any]] = [
        ("impute", SimpleImputer(strategy="median", keep_empty_features=True))]
    names = list(columns) if columns is not None else []
    hog = [i for i, c in enumerate(names) if str(c).startswith("hog_")]
    if hog and options.hog_pca:
        steps.append(("hog_pca", ColumnTransformer(
            [("hog", HogPCA(options.hog_pca, random_state=options.seed), hog)],
            remainder="passthrough", verbose_feature_names_out=False)))
        n_features = len(names) - len(hog) + options.hog_pca
    steps.append(("scale", MinMaxScaler()))
    if options.select_k:
        k = options.select_k if n_features is None else min(options.select_k, n_features)
        steps.append(("select", SelectKBest(f_classif, k=k)))
    steps.append(("model", est))
    return Pipeline(steps)


def constant_splits(scores: np.ndarray, fold: np.ndarray) -> list[int]:
    """The splits whose model gave every one of its (>= 2) test cases the same probabilities."""
    out = []
    for i in np.unique(fold[fold >= 0]):
        s = scores[fold == i]
        if len(s) > 1 and np.ptp(s, axis=0).max() == 0.0:
            out.append(int(i))
    return out


def fit_split(pipeline: Pipeline, X: np.ndarray, y: np.ndarray, train: np.ndarray) -> Pipeline:
    """A clone of ``pipeline`` fit on the ``train`` rows (LightGBM's leaf size set by their count)."""
    pipe = clone(pipeline)
    if type(pipe[-1]).__name__ == "LGBMClassifier" and pipe[-1].min_child_samples is None:
        pipe.set_params(model__min_child_samples=lightgbm_min_child_samples(len(train)))
    return pipe.fit(X[train], y[train])


def patient_splits(y: np.ndarray, groups: np.ndarray, *, folds: int = 5, split_70_30: bool = False,
                   seed: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    """Patient-level stratified (train, test) index pairs; a patient is never on both sides.

    The folds are those of :func:`covidct.datasets.splits.patient_folds` (or, with
    ``split_70_30``, :func:`~covidct.datasets.splits.train_test_split_patients`, the paper's
    fixed split at patient level), so networks and baselines trained with the same seed and
    labels share their splits.
    """
    from covidct.datasets.splits import patient_folds, train_test_split_patients

    table = pd.DataFrame({"patient_id": np.asarray(groups).astype(str), "label": np.asarray(y)})
    index = np.arange(len(table))
    if split_70_30:
        split = train_test_split_patients(table, 0.3, seed=seed, stratify="label")["split"]
        test = split.to_numpy() == "test"
        return [(index[~test], index[test])]
    fold = patient_folds(table, int(folds), seed=seed, stratify="label")["fold"].to_numpy()
    return [(index[fold != k], index[fold == k]) for k in range(int(folds))]


def splits_from_folds(case_ids: Sequence[str], folds: pd.DataFrame
                      ) -> list[tuple[np.ndarray, np.ndarray]]:
    """(train, test) index pairs of ``case_ids`` from a fold table (``case_id``, ``fold``).

    Fold ``k >= 0`` is tested with every other row in training; rows with fold ``-1`` (the
    training side of a fixed split) are only ever trained on. Every case needs a fold.
    """
    from covidct.datasets.splits import assign_folds

    fold = assign_folds(pd.DataFrame({"case_id": [str(c) for c in case_ids]}), folds)["fold"]
    fold = fold.to_numpy()
    index = np.arange(len(fold))
    return [(index[fold != k], index[fold == k]) for k in sorted(set(fold[fold >= 0].tolist()))]


def task_splits(y: np.ndarray, groups: np.ndarray, case_ids: np.ndarray,
                options: BaselineOptions) -> list[tuple[np.ndarray, np.ndarray]]:
    """The splits ``options`` ask for: the fold file's, or folds made on this task's labels."""
    if options.folds_file:
        from covidct.datasets.splits import load_folds

        return splits_from_folds(case_ids, load_folds(options.folds_file))
    return patient_splits(y, groups, folds=options.folds, split_70_30=options.split_70_30,
                          seed=options.seed)


def cross_val_predict_patients(pipeline: Pipeline, X: np.ndarray, y: np.ndarray,
                               splits: Sequence[tuple[np.ndarray, np.ndarray]], n_classes: int
                               ) -> tuple[np.ndarray, np.ndarray, list[Pipeline]]:
    """Out-of-fold class probabilities ``(n, n_classes)`` (NaN for never-tested rows), fold
    index per row (-1 = never tested) and the fitted pipelines (one clone per split)."""
    scores = np.full((len(y), n_classes), np.nan)
    fold = np.full(len(y), -1)
    fitted: list[Pipeline] = []
    for i, (train, test) in enumerate(splits):
        pipe = fit_split(pipeline, X, y, train)
        proba = pipe.predict_proba(X[test])
        if len(test) > 1 and np.ptp(proba, axis=0).max() == 0.0:
            log.warning("split %d: the %s model predicts the same probabilities for all %d test "
                        "cases (a constant model: too few training cases or no usable feature)",
                        i, type(pipe[-1]).__name__, len(test))
        cols = np.asarray(pipe.classes_, dtype=int)
        scores[np.ix_(test, np.arange(n_classes))] = 0.0
        scores[np.ix_(test, cols)] = proba
        fold[test] = i
        fitted.append(pipe)
    return scores, fold, fitted


def run_baseline(table: pd.DataFrame, task: str, model: str, *,
                 options: BaselineOptions = BaselineOptions(),
                 columns: Sequence[str] | None = None) -> BaselineResult:
    """Evaluate one model on one task with patient-level CV (or the 70/30 split)."""
    spec = get_task(task)
    X, y, groups, case_ids, cols = task_data(table, spec, columns)
    if len(np.unique(y)) < 2:
        raise InvalidInputError(f"task {task}: only one class present among {len(y)} labelled cases")
    splits = task_splits(y, groups, case_ids, options)
    pipe = make_pipeline(model, options=options, n_features=len(cols), columns=cols)
    log.info("task %s, model %s: %d cases, %d features, %d splits", task, model, len(y), len(cols), len(splits))
    scores, fold, _ = cross_val_predict_patients(pipe, X, y, splits, spec.n_classes)
    tested = fold >= 0
    s = scores[tested]
    metrics = classification_metrics(
        y[tested], s[:, 1] if spec.n_classes == 2 else s, n_classes=spec.n_classes,
        bootstrap=options.bootstrap, seed=options.seed, groups=groups[tested],
        class_names=spec.class_names)
    metrics["n_features"] = len(cols)
    metrics["n_patients"] = len(np.unique(groups[tested]))
    metrics["constant_splits"] = constant_splits(scores, fold)
    return BaselineResult(task=task, model=model, case_ids=case_ids[tested], y_true=y[tested],
                          scores=s, fold=fold[tested], metrics=metrics, options=options)
