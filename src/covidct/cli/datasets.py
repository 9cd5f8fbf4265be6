"""``covidct dataset info|split`` and ``covidct phantom``: inspect, fold and simulate datasets."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from covidct.cli._common import console, handle_errors
from covidct.datasets import (
    LAYOUTS,
    patient_folds,
    read_dataset,
    save_folds,
    summarize_case_table,
)

__all__ = ["dataset_app", "info", "phantom", "split"]

dataset_app = typer.Typer(
    help="Dataset layouts (iCTCF, CNCB, COVIDx-CT, UCSD, MosMedData, plain): inspect and split.",
    no_args_is_help=True,
)

_LAYOUT_HELP = f"Dataset layout ({', '.join(LAYOUTS)}); detected when omitted."


def _summary_tables(summary: dict[str, Any]) -> list[Table]:
    splits = list(summary["splits"])
    tables = []
    for column, values in summary["labels"].items():
        table = Table(title=f"{column}", title_justify="left")
        table.add_column("value")
        table.add_column("all", justify="right")
        for s in splits:
            table.add_column(s, justify="right")
        for value, counts in values.items():
            table.add_row(value, str(counts["all"]), *(str(counts.get(s, 0)) for s in splits))
        tables.append(table)
    return tables


@dataset_app.command("info")
@handle_errors
def info(
    path: Annotated[Path, typer.Argument(help="Dataset folder.")],
    layout: Annotated[str | None, typer.Option("--layout", "-l", help=_LAYOUT_HELP)] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> None:
    """Recognise a dataset's layout and count cases per class and split.

    Example: covidct dataset info data/ictcf
    """
    from covidct.datasets.table import check_patient_labels

    table = read_dataset(path, layout)
    check_patient_labels(table)
    summary = summarize_case_table(table)
    if as_json:
        typer.echo(json.dumps(summary, indent=2))
        return
    splits = ", ".join(f"{k} {v}" for k, v in summary["splits"].items())
    console.print(
        f"[bold]{path}[/]: layout [cyan]{summary['layout']}[/], {summary['n_cases']} cases, "
        f"{summary['n_patients']} patients; splits: {splits}",
        highlight=False,
    )
    for table in _summary_tables(summary):
        console.print(table)


@dataset_app.command("split")
@handle_errors
def split(
    path: Annotated[Path, typer.Argument(help="Dataset folder.")],
    folds: Annotated[int, typer.Option("--folds", "-k", help="Number of folds.")] = 5,
    seed: Annotated[int, typer.Option("--seed", "-s", help="Random seed.")] = 0,
    output: Annotated[Path, typer.Option("--out", "-o", "--output", help="Folds CSV to write.")] = Path(
        "folds.csv"
    ),
    layout: Annotated[str | None, typer.Option("--layout", "-l", help=_LAYOUT_HELP)] = None,
    stratify: Annotated[
        str, typer.Option(help="Label column(s) to stratify on, comma-separated; 'auto' or 'none'.")
    ] = "auto",
) -> None:
    """Patient-level stratified k folds of a dataset, saved as CSV (+ JSON sidecar).

    Example: covidct dataset split data/ictcf --folds 5 --seed 0 -o folds.csv
    """
    strat: str | list[str] | None
    strat = None if stratify == "none" else "auto" if stratify == "auto" else stratify.split(",")
    from covidct.datasets.table import check_patient_labels

    from covidct.cli._common import check_output

    cases = read_dataset(path, layout)
    check_patient_labels(cases)
    if path.is_dir():  # the folds file may not replace any file of the dataset
        check_output(output, [p for p in path.iterdir() if p.is_file()], what="folds file")
    folded = patient_folds(cases, folds, seed=seed, stratify=strat)
    written = save_folds(folded, output)
    cols = folded.attrs["folds"]["stratify"]
    key = folded[cols].astype(str).agg("|".join, axis=1) if cols else None
    table = Table(
        title=f"{folds} patient-level folds (seed {seed}) -> {written}", title_justify="left"
    )
    table.add_column("fold", justify="right")
    table.add_column("patients", justify="right")
    table.add_column("cases", justify="right")
    classes = sorted(key.unique()) if key is not None else []
    for c in classes:
        table.add_column(f"{'|'.join(cols)}={c}", justify="right")
    for fold in range(folds):
        in_fold = folded["fold"] == fold
        per_class = (
            [str(int((key[in_fold] == c).sum())) for c in classes] if key is not None else []
        )
        table.add_row(
            str(fold),
            str(folded.loc[in_fold, "patient_id"].nunique()),
            str(int(in_fold.sum())),
            *per_class,
        )
    console.print(table)


@handle_errors
def phantom(
    out: Annotated[Path, typer.Argument(help="New (or empty) output folder.")],
    n: Annotated[int, typer.Option("--n", "-n", help="Number of cases.")] = 10,
    seed: Annotated[int, typer.Option("--seed", "-s", help="Random seed.")] = 0,
    size: Annotated[
        str, typer.Option(help="Phantom grid preset: tiny, small, medium, full.")
    ] = "small",
    layout: Annotated[
        str, typer.Option("--layout", "-l", help=f"Layout to write ({', '.join(LAYOUTS)}).")
    ] = "plain",
    workers: Annotated[int, typer.Option(help="Processes simulating in parallel.")] = 1,
) -> None:
    """Simulate n chest CTs with exact ground truth and write them as a dataset.

    Example: covidct phantom sim_ictcf -n 20 --seed 1 --size small --layout ictcf
    """
    from covidct.datasets.simulated import write_simulated_dataset

    with Progress(
        TextColumn("[bold]simulating"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    ) as bar:
        task = bar.add_task("simulate", total=n)
        table = write_simulated_dataset(
            out,
            n,
            seed=seed,
            size=size,
            layout=layout,
            workers=workers,
            progress=lambda done: bar.update(task, completed=done),
        )
    console.print(
        f"wrote {len(table)} {layout} cases of {table['patient_id'].nunique()} patients to {out}",
        highlight=False,
    )
