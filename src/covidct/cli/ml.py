"""The ``ml`` commands: classical baselines on a feature table."""

from __future__ import annotations

from pathlib import Path

import typer

from covidct.cli._common import console, handle_errors

__all__ = ["ml_app", "run"]

ml_app = typer.Typer(help="Classical ML baselines (LightGBM, random forest, logistic regression).",
                     no_args_is_help=True)


@ml_app.callback()
def _ml() -> None:
    """Classical ML baselines on radiomic feature tables."""


@ml_app.command("run")
@handle_errors
def run(
    features_file: Path = typer.Argument(..., help="Feature table (.parquet or .csv)."),
    task: str = typer.Option("all", help="ct, nat, severity or all."),
    model: str = typer.Option("all", help="lightgbm, rf, logreg or all."),
    folds: int = typer.Option(5, help="Patient-level stratified CV folds."),
    split_70_30: bool = typer.Option(False, "--split-70-30", help="The paper's single 70/30 "
                                     "patient split instead of CV."),
    n_estimators: int = typer.Option(1000, help="Trees of LightGBM / random forest."),
    select_k: int = typer.Option(0, help="Keep the k best features per training fold (0 = all)."),
    bootstrap: int = typer.Option(1000, help="Bootstrap replicates for the 95% CIs."),
    seed: int = typer.Option(0, help="Seed of folds, models and bootstrap."),
    n_jobs: int = typer.Option(1, "--workers", "-w", "--n-jobs", help="Threads per model."),
    out: Path = typer.Option(Path("ml-results"), "-o", "--out", help="Output folder."),
) -> None:
    """Cross-validate the baselines per task; write results.json, results.md and PNGs.

    Example: covidct ml run features.parquet --task ct --model lightgbm -o results/
    """
    from covidct.errors import InvalidInputError
    from covidct.ml import MODELS, TASKS, BaselineOptions, run_baselines

    tasks = list(TASKS) if task == "all" else [task]
    models = list(MODELS) if model == "all" else [model]
    if any(t not in TASKS for t in tasks) or any(m not in MODELS for m in models):
        raise InvalidInputError(f"--task must be one of {list(TASKS)} or all, --model one of "
                                f"{list(MODELS)} or all; got {task!r}, {model!r}")
    options = BaselineOptions(n_estimators=n_estimators, folds=folds, split_70_30=split_70_30,
                              select_k=select_k or None, seed=seed, bootstrap=bootstrap, n_jobs=n_jobs)

    def report(t: str, m: str, summary: dict) -> None:
        auc = summary["metrics"]["auc"]
        console.print(f"{t:<9} {m:<9} AUC {auc['value']:.3f} ({auc['ci_low']:.3f}-{auc['ci_high']:.3f})")

    result = run_baselines(features_file, out, tasks=tasks, models=models, options=options,
                           progress=report)
    for t, why in result["skipped_tasks"].items():
        console.print(f"[yellow]skipped {t}[/]: {why}")
    console.print(f"results in {out}/results.json and {out}/results.md ({result['seconds']:.1f} s)")
