"""Training 3D models (single-task and COVID-MTL) with PyTorch Lightning, evaluation, comparison."""

from covidct.training.config import PRESETS, TASK_CLASSES, TASK_COLUMNS, TrainConfig, get_preset, load_config
from covidct.training.run import compare_runs, evaluate_run, train

__all__ = [
    "PRESETS",
    "TASK_CLASSES",
    "TASK_COLUMNS",
    "TrainConfig",
    "get_preset",
    "load_config",
    "train",
    "evaluate_run",
    "compare_runs",
]
