"""Classical ML baselines (LightGBM, random forest, logistic regression) on feature tables."""

from covidct.ml.baselines import (
    MODELS,
    TASKS,
    BaselineOptions,
    BaselineResult,
    TaskSpec,
    cross_val_predict_patients,
    feature_columns,
    make_pipeline,
    patient_splits,
    run_baseline,
    task_data,
)
from covidct.ml.importance import (
    feature_importance_report,
    lightgbm_importance,
    save_feature_boxplots,
    top_features,
)
from covidct.ml.run import read_feature_table, results_markdown, run_baselines

__all__ = [
    "MODELS",
    "TASKS",
    "BaselineOptions",
    "BaselineResult",
    "TaskSpec",
    "cross_val_predict_patients",
    "feature_columns",
    "feature_importance_report",
    "lightgbm_importance",
    "make_pipeline",
    "patient_splits",
    "read_feature_table",
    "results_markdown",
    "run_baseline",
    "run_baselines",
    "save_feature_boxplots",
    "task_data",
    "top_features",
]
