"""Commands ``train``, ``evaluate`` and ``compare``: 3D models on a preprocessed cohort."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from covidct.cli._common import console, handle_errors

__all__ = ["train", "evaluate", "compare"]


@handle_errors
def train(
    config: str = typer.Argument(..., help="Config YAML, or a preset name (e.g. covid-mtl-cpu)."),
    out: Path = typer.Option(..., "-o", "--out", help="Run folder to create."),
    data: Optional[Path] = typer.Option(None, help="Preprocessed folder (overrides the config)."),
    features: Optional[Path] = typer.Option(None, help="Features table (overrides the config)."),
    epochs: Optional[int] = typer.Option(None, help="Epochs (overrides the config)."),
    folds: Optional[int] = typer.Option(None, help="k of patient-level CV; 0 = fixed 70/30."),
    seed: Optional[int] = typer.Option(None, help="Seed (overrides the config)."),
) -> None:
    """Train a model with patient-level cross-validation, then evaluate it.

    Example: covidct train covid-mtl-cpu --data prep/ --features feats.parquet -o runs/mtl
    """
    from covidct.training import load_config
    from covidct.training import train as run_training

    cfg = load_config(config)
    overrides = {k: v for k, v in {"data": str(data) if data else None,
                                   "features": str(features) if features else None,
                                   "epochs": epochs, "folds": folds, "seed": seed}.items()
                 if v is not None}
    cfg = cfg.with_overrides(**overrides)
    run = run_training(cfg, out, progress=lambda msg: console.print(msg))
    console.print((run / "metrics.md").read_text())
    console.print(f"run folder: {run}")


@handle_errors
def evaluate(
    run: Path = typer.Argument(..., help="A finished run folder."),
    bootstrap: Optional[int] = typer.Option(None, help="Bootstrap replicates for the CIs."),
    as_json: bool = typer.Option(False, "--json", help="Print metrics as JSON."),
) -> None:
    """Metrics with 95% bootstrap CIs, ROC curves and confusion matrices of a run.

    Example: covidct evaluate runs/mtl
    """
    from covidct.training import evaluate_run

    results = evaluate_run(run, bootstrap=bootstrap)
    if as_json:
        typer.echo(json.dumps(results, indent=2, default=float))
    else:
        console.print((run / "metrics.md").read_text())


@handle_errors
def compare(
    runs: list[Path] = typer.Argument(..., help="Run folders to compare."),
    out: Optional[Path] = typer.Option(None, "-o", "--out", help="Folder for comparison.md/png."),
) -> None:
    """One table (and chart) of metrics with CIs across runs.

    Example: covidct compare runs/mtl runs/shiftnet3d-ct -o runs/comparison
    """
    from covidct.training import compare_runs

    console.print(compare_runs(list(runs), out))
