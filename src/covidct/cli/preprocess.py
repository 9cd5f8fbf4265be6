"""The ``preprocess`` command: a whole dataset onto a common grid, on Dask."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from covidct.cli._common import console, handle_errors

__all__ = ["preprocess"]


@handle_errors
def preprocess(
    dataset: Path = typer.Argument(..., help="Dataset root (iCTCF, MosMedData or plain layout)."),
    out: Path = typer.Argument(..., help="Output folder (cases/, manifest.parquet)."),
    grid: str = typer.Option("cpu-2mm", help="Grid preset: paper, cpu-2mm, cpu-3mm, tiny-6mm."),
    layout: Optional[str] = typer.Option(None, help="Force a dataset layout."),
    workers: int = typer.Option(1, help="Local Dask worker processes."),
    scheduler: Optional[str] = typer.Option(
        None, help="Address of a running Dask scheduler, e.g. tcp://10.0.0.5:8786."
    ),
    retry_failed: bool = typer.Option(False, "--retry-failed", help="Run failed cases again."),
    memory_limit: str = typer.Option("6GiB", help="Memory limit per local worker."),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
) -> None:
    """Segment, resample, blank outside the lungs and store every case on one grid.

    Example: covidct preprocess data/ictcf prep/ --grid paper --workers 2
    """
    from covidct.preprocess import preprocess_dataset

    columns = (
        TextColumn("[progress.description]{task.description}"), BarColumn(),
        MofNCompleteColumn(), TextColumn("{task.fields[rate]}"), TimeRemainingColumn(),
    )
    with Progress(*columns, console=console, disable=as_json) as bar:
        task = bar.add_task("preprocessing", total=None, rate="")

        def report(done: int, total: int, record: dict) -> None:
            elapsed = bar.tasks[0].elapsed or 1e-9
            bar.update(task, completed=done, total=total,
                       rate=f"{60 * done / elapsed:.1f} cases/min")
            if record.get("status") != "ok":
                bar.console.print(f"[yellow]{record['case_id']}[/]: {record.get('error', '')}")

        summary = preprocess_dataset(
            dataset, out, grid=grid, layout=layout, workers=workers, scheduler=scheduler,
            retry_failed=retry_failed, memory_limit=memory_limit, progress=report,
        )
    if as_json:
        typer.echo(json.dumps(summary.to_dict(), indent=2))
        return
    console.print(summary.line(), highlight=False)
