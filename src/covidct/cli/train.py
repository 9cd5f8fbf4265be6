"""Commands ``train``, ``evaluate`` and ``compare``: 3D models on a preprocessed cohort."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer
import yaml

from covidct.cli._common import console, handle_errors
from covidct.errors import InvalidInputError

__all__ = ["train", "evaluate", "compare"]


@handle_errors
def train(
    config: Optional[str] = typer.Argument(
        None, help="A preset name (see --list) or a config YAML (its 'preset:' key names one)."
    ),
    out: Optional[Path] = typer.Option(None, "-o", "--out", help="Run folder to create."),
    data: Optional[Path] = typer.Option(None, help="Training data (overrides the config)."),
    features: Optional[Path] = typer.Option(None, help="Features table (3D presets)."),
    epochs: Optional[int] = typer.Option(None, help="Epochs (overrides the config)."),
    folds: Optional[int] = typer.Option(None, help="k of patient-level CV; 0 = fixed split."),
    folds_file: Optional[Path] = typer.Option(
        None, "--folds-file", help="Saved fold file (case_id, patient_id, fold) to use instead "
        "of making folds: the same folds for every model of a study."),
    seed: Optional[int] = typer.Option(None, help="Seed (overrides the config)."),
    weights: Optional[str] = typer.Option(
        None, help="Slice presets: imagenet (local torch cache only), PATH or none."
    ),
    set_: list[str] = typer.Option(
        [], "--set", metavar="FIELD=VALUE", help="Any other config field (YAML value); repeatable."
    ),
    list_: bool = typer.Option(False, "--list", help="List every training preset and exit."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing run folder."),
) -> None:
    """Train a model from a preset or config with patient-level splits, then evaluate it.

    Example: covidct train covid-mtl-cpu --data prep/ --features feats.parquet -o runs/mtl
    """
    from covidct.training.families import all_preset_rows, train_preset

    if list_:
        for row in all_preset_rows():
            n = f"{row.parameters / 1e6:.2f} M" if row.parameters else "-"
            typer.echo(f"{row.name:32s} {row.family:11s} {row.model:22s} {row.task:18s} {n:>9s}")
        return
    if config is None or out is None:
        raise InvalidInputError("give a preset or config and -o/--out (or --list to see presets)")
    overrides = {k: v for k, v in {"data": str(data) if data else None,
                                   "features": str(features) if features else None,
                                   "epochs": epochs, "folds": folds, "seed": seed,
                                   "folds_file": str(folds_file) if folds_file else None,
                                   "weights": weights}.items()
                 if v is not None}
    overrides.update(_parse_sets(set_))
    run = train_preset(config, out, overrides, overwrite=overwrite,
                       progress=lambda msg: console.print(msg))
    summary = run / "metrics.md"
    if summary.is_file():
        console.print(summary.read_text())
    console.print(f"run folder: {run}")


def _parse_sets(items: list[str]) -> dict[str, object]:
    out: dict[str, object] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise InvalidInputError(f"--set takes FIELD=VALUE, got {item!r}")
        try:
            parsed = yaml.safe_load(value)
        except yaml.YAMLError as exc:
            raise InvalidInputError(f"--set {key}: cannot parse {value!r}: {exc}") from exc
        if isinstance(parsed, str):  # YAML 1.1 reads "1e-3" as text
            try:
                parsed = float(parsed)
            except ValueError:
                pass
        out[key.strip()] = parsed
    return out


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
    runs: list[Path] = typer.Argument(..., help="Training run folders and `ml run` folders to compare."),
    out: Optional[Path] = typer.Option(None, "-o", "--out", help="Folder for comparison.md/png."),
) -> None:
    """One table (and chart) of metrics with CIs across runs.

    Example: covidct compare runs/mtl runs/shiftnet3d-ct -o runs/comparison
    """
    from covidct.training import compare_runs

    console.print(compare_runs(list(runs), out))
