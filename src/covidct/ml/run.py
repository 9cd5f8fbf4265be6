"""Run the baselines over tasks x models and write the report (JSON, Markdown, PNG).

Output folder: ``results.json`` (options, every metric with its CI, and the provenance
block: versions, seed, sha256 of the feature table and fold file),
``results.md`` (one table), ``predictions.parquet`` (out-of-fold scores per case),
``roc_<task>.png`` (all models), ``confusion_<task>_<model>.png``, and with
``importance=True`` the LightGBM importance files of :mod:`covidct.ml.importance`.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from covidct.errors import InvalidInputError
from covidct.evaluation.plots import save_confusion_matrix, save_roc_curves
from covidct.ml.baselines import MODELS, TASKS, BaselineOptions, BaselineResult, run_baseline

__all__ = ["read_feature_table", "results_markdown", "run_baselines"]

log = logging.getLogger(__name__)

_TABLE_METRICS = ("auc", "accuracy", "sensitivity", "specificity", "f1_weighted")


def read_feature_table(path: str | Path) -> pd.DataFrame:
    """A feature table from Parquet or CSV (as written by ``extract_dataset_features``)."""
    p = Path(path)
    if not p.is_file():
        raise InvalidInputError(f"feature table {p} does not exist")
    try:
        return pd.read_csv(p) if p.suffix.lower() == ".csv" else pd.read_parquet(p)
    except Exception as exc:
        raise InvalidInputError(f"cannot read feature table {p}: {exc}") from exc


def _cell(m: dict[str, Any]) -> str:
    if not np.isfinite(m["value"]):
        return "-"
    if np.isfinite(m["ci_low"]):
        return f"{m['value']:.3f} ({m['ci_low']:.3f}-{m['ci_high']:.3f})"
    return f"{m['value']:.3f}"


def results_markdown(summaries: Sequence[dict[str, Any]]) -> str:
    """A Markdown table: one row per (task, model), metrics with 95% CIs."""
    head = "| task | model | n (patients) | " + " | ".join(_TABLE_METRICS) + " |"
    lines = [head, "|" + "---|" * (3 + len(_TABLE_METRICS))]
    for s in summaries:
        cells = [_cell(s["metrics"][k]) if k in s["metrics"] else "-" for k in _TABLE_METRICS]
        lines.append(f"| {s['task']} | {s['model']} | {s['n']} ({s.get('n_patients', '?')}) | "
                     + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def run_baselines(
    table: pd.DataFrame | str | Path,
    out_dir: str | Path,
    *,
    tasks: Sequence[str] = ("ct", "nat", "severity"),
    models: Sequence[str] = MODELS,
    options: BaselineOptions = BaselineOptions(),
    importance: bool = True,
    progress: Callable[[str, str, dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Evaluate every model on every task and write the report into ``out_dir``.

    Tasks whose label column is missing or has one class only are skipped (noted in the
    report). Returns the content of ``results.json``.
    """
    from covidct.provenance import provenance

    frame = read_feature_table(table) if isinstance(table, (str, Path)) else table
    bad = [t for t in tasks if t not in TASKS] + [m for m in models if m not in MODELS]
    if bad:
        raise InvalidInputError(f"unknown tasks/models {bad}; tasks {list(TASKS)}, models {list(MODELS)}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    summaries: list[dict[str, Any]] = []
    skipped: dict[str, str] = {}
    predictions: list[pd.DataFrame] = []
    run_tasks: list[str] = []
    for task in tasks:
        spec = TASKS[task]
        if spec.column not in frame.columns or frame[spec.column].dropna().nunique() < 2:
            skipped[task] = f"column {spec.column!r} missing or with fewer than two classes"
            continue
        run_tasks.append(task)
        results: dict[str, BaselineResult] = {}
        for model in models:
            res = run_baseline(frame, task, model, options=options)
            results[model] = res
            summary = res.summary()
            summaries.append(summary)
            if progress is not None:
                progress(task, model, summary)
            save_confusion_matrix(out / f"confusion_{task}_{model}.png", res.metrics["confusion_matrix"],
                                  class_names=spec.class_names, title=f"{task}: {model} (out-of-fold)")
            pred = pd.DataFrame({"case_id": res.case_ids, "task": task, "model": model,
                                 "y_true": res.y_true, "fold": res.fold})
            for c in range(spec.n_classes):
                pred[f"score_{c}"] = res.scores[:, c]
            predictions.append(pred)
        save_roc_curves(out / f"roc_{task}.png",
                        {m: (r.y_true, r.scores[:, 1] if spec.n_classes == 2 else r.scores)
                         for m, r in results.items()},
                        n_classes=spec.n_classes, class_names=spec.class_names,
                        title=f"task {task}: out-of-fold ROC")
    report: dict[str, Any] = {
        "options": options.to_dict(),
        "seed": options.seed,
        "tasks": run_tasks,
        "models": list(models),
        "skipped_tasks": skipped,
        "results": summaries,
        "provenance": provenance(
            options={"baselines": options}, seed=options.seed,
            inputs=[p for p in (table if isinstance(table, (str, Path)) else None,
                                options.folds_file or None) if p]),
    }
    if importance and run_tasks:
        from covidct.ml.importance import feature_importance_report

        report["importance"] = feature_importance_report(frame, run_tasks, out, options=options)
    report["seconds"] = round(time.perf_counter() - t0, 2)
    if predictions:
        pd.concat(predictions, ignore_index=True).to_parquet(out / "predictions.parquet", index=False)
    (out / "results.json").write_text(json.dumps(report, indent=2, default=_json_default))
    (out / "results.md").write_text(results_markdown(summaries))
    return report


def _json_default(value: Any) -> Any:
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return str(value)
