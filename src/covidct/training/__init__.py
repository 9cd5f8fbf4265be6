"""Training 3D models (single-task and COVID-MTL) with PyTorch Lightning, evaluation, comparison.

``train``, ``evaluate_run`` and ``compare_runs`` (torch, Lightning, plotting) are imported on
first use, so that the other families can use :mod:`covidct.training.hardware` and
:mod:`covidct.training.families` without loading the 3D training stack.
"""

from typing import Any

from covidct.training.config import PRESETS, TASK_CLASSES, TASK_COLUMNS, TrainConfig, get_preset, load_config

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

_RUN = ("train", "evaluate_run", "compare_runs")


def __getattr__(name: str) -> Any:
    if name in _RUN:
        from covidct.training import run

        return getattr(run, name)
    raise AttributeError(f"module 'covidct.training' has no attribute {name!r}")
