"""Evaluation of a slice run: slice- and patient-level metrics with patient-bootstrap CIs.

Writes into the run folder ``metrics.json`` / ``metrics.md`` (accuracy, sensitivity,
specificity, AUC... with 95 % CIs resampling patients; :func:`covidct.evaluation.classification_metrics`),
``roc.png``, ``confusion.png``, ``misclassified_scores.png`` (histogram of the COVID-class score
of misclassified slices, the tutorial's) and ``patients.csv``: per patient the mean and the
max of its slice probabilities (max per class, renormalised to sum 1) with their metrics.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from covidct.errors import InvalidInputError
from covidct.evaluation.metrics import classification_metrics
from covidct.evaluation.plots import save_confusion_matrix, save_roc_curves, save_score_histogram

__all__ = ["evaluate_slice_run", "patient_scores"]

AGGREGATES = ("mean", "max")


def patient_scores(preds: pd.DataFrame, n_classes: int, how: str) -> pd.DataFrame:
    """One row per patient: true class (its slices' majority) and aggregated probabilities.

    ``how``: ``mean`` of the slice probabilities, or ``max`` of each class's probability
    over slices, renormalised to sum 1.
    """
    if how not in AGGREGATES:
        raise InvalidInputError(f"aggregate must be one of {AGGREGATES}; got {how!r}")
    cols = [f"p{c}" for c in range(n_classes)]
    grouped = preds.groupby("patient_id", sort=True)
    probs = grouped[cols].mean() if how == "mean" else grouped[cols].max()
    probs = probs.div(probs.sum(axis=1), axis=0)
    true = grouped["true"].agg(lambda s: s.value_counts().index[0])
    return pd.concat([true, probs], axis=1).reset_index()


def _covid_vs_rest(df: pd.DataFrame, n_classes: int) -> pd.DataFrame:
    """Binary view: true = the COVID (last) class, p1 = its probability."""
    p = df[f"p{n_classes - 1}"]
    return pd.DataFrame({"patient_id": df["patient_id"], "true": (df["true"] == n_classes - 1).astype(int),
                         "p0": 1.0 - p, "p1": p})


def _metrics(df: pd.DataFrame, n_classes: int, names: list[str], n_boot: int, seed: int) -> dict[str, Any]:
    scores = df[[f"p{c}" for c in range(n_classes)]].to_numpy()
    return classification_metrics(df["true"].to_numpy(int), scores if n_classes > 2 else scores[:, 1],
                                  n_classes=n_classes, bootstrap=n_boot, seed=seed,
                                  groups=df["patient_id"].astype(str).to_numpy(), class_names=names)


def _row(label: str, m: dict[str, Any]) -> str:
    cells = []
    for key in ("accuracy", "sensitivity", "specificity", "auc"):
        v = m["metrics"].get(key)
        cells.append("-" if v is None else f"{v['value']:.3f} [{v['ci_low']:.3f}, {v['ci_high']:.3f}]")
    return f"| {label} | {m['n']} | " + " | ".join(cells) + " |"


def evaluate_slice_run(run_dir: str | Path, *, bootstrap: int | None = None) -> dict[str, Any]:
    """Metrics, plots and per-patient results of a finished slice run (see the module docstring)."""
    run = Path(run_dir)
    files = [run / n for n in ("predictions.csv", "config.yaml", "run.json")]
    if not all(f.is_file() for f in files):
        raise InvalidInputError(f"{run} is not a finished slice run (needs predictions.csv, config.yaml, run.json)")
    preds = pd.read_csv(files[0], dtype={"patient_id": str})
    config = yaml.safe_load(files[1].read_text())
    names = json.loads(files[2].read_text())["classes"]
    k = len(names)
    n_boot = int(config["bootstrap"] if bootstrap is None else bootstrap)
    seed = int(config["seed"])
    results: dict[str, Any] = {"run": config["name"], "arch": config["arch"], "classes": names,
                               "slices": _metrics(preds, k, names, n_boot, seed), "patients": {}}
    per_patient = []
    for how in AGGREGATES:
        pat = patient_scores(preds, k, how)
        results["patients"][how] = _metrics(pat, k, names, n_boot, seed)
        per_patient.append(pat.rename(columns={f"p{c}": f"{how}_p{c}" for c in range(k)}))
    if k > 2:  # sensitivity / specificity of the COVID class against the others
        vs_rest = {"slices": _metrics(_covid_vs_rest(preds, k), 2, ["other", names[-1]], n_boot, seed)}
        for how in AGGREGATES:
            pat = _covid_vs_rest(patient_scores(preds, k, how), k)
            vs_rest[f"patients ({how})"] = _metrics(pat, 2, ["other", names[-1]], n_boot, seed)
        results["covid_vs_rest"] = vs_rest
    merged = per_patient[0].merge(per_patient[1].drop(columns="true"), on="patient_id")
    merged.to_csv(run / "patients.csv", index=False)
    scores = preds[[f"p{c}" for c in range(k)]].to_numpy()
    y = preds["true"].to_numpy(int)
    save_roc_curves(run / "roc.png", {config["name"]: (y, scores if k > 2 else scores[:, 1])},
                    n_classes=k, class_names=names, title=f"{config['name']}: test slices")
    save_confusion_matrix(run / "confusion.png", results["slices"]["confusion_matrix"],
                          class_names=names, title=f"{config['name']}: test slices")
    pred = np.argmax(scores, axis=1) if k > 2 else (scores[:, 1] >= 0.5).astype(int)
    wrong = pred != y
    save_score_histogram(run / "misclassified_scores.png",
                         {"false positives": scores[wrong & (y != k - 1), k - 1],
                          "false negatives": scores[wrong & (y == k - 1), k - 1]},
                         xlabel=f"score of {names[-1]}", title="misclassified test slices")
    (run / "metrics.json").write_text(json.dumps(results, indent=2, default=float))
    lines = [f"# {config['name']} ({config['arch']})", "",
             "95 % CIs by patient bootstrap; slice images are 8-bit grey levels (not HU).", "",
             "| level | n | accuracy | sensitivity | specificity | AUC |", "|---|---|---|---|---|---|",
             _row("slices", results["slices"]),
             *(_row(f"patients ({how})", results["patients"][how]) for how in AGGREGATES),
             *(_row(f"{level}, {names[-1]} vs rest", m)
               for level, m in results.get("covid_vs_rest", {}).items())]
    (run / "metrics.md").write_text("\n".join(lines) + "\n")
    return results
