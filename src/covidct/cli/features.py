"""The ``features`` command: radiomics (+ HOG) of one study or of a preprocessed folder."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import typer

from covidct.cli._common import check_output, console, handle_errors

__all__ = ["features"]

#: Files of a preprocessed folder that a feature run reads (never written over).
_PREP_INPUTS = ("manifest.parquet", "manifest.csv", "grid.json", "cases")


@handle_errors
def features(
    input: str = typer.Argument(..., help="A CT (file, DICOM folder, sample:lung1) or a "
                                          "preprocessed folder (with manifest.parquet)."),
    mask: Path | None = typer.Option(None, "--mask", "-m", help="Lung mask of a single CT "
                                        "(default: segment the lungs)."),
    out: Path | None = typer.Option(None, "--out", "-o",
                                    help="Output table, .parquet or .csv [default: "
                                         "features.parquet, features.csv with --csv]."),
    workers: int = typer.Option(1, "--workers", "-w",
                                help="Processes (one study) or Dask workers (a folder)."),
    scheduler: str | None = typer.Option(None, help="Dask scheduler address (folders)."),
    preset: str = typer.Option("covid-mtl", help="Radiomics preset: covid-mtl, fast."),
    params: Path | None = typer.Option(None, help="pyradiomics YAML parameter file."),
    hog: bool = typer.Option(True, "--hog/--no-hog", help="Add HOG features (folders)."),
    preset_spacing: bool = typer.Option(
        False, "--preset-spacing",
        help="Folders: resample stored cases to the preset's voxel size (1 mm for covid-mtl) "
             "instead of computing on the stored grid's spacing."),
    paper_columns: bool = typer.Option(False, "--paper-columns",
                                       help="Write the paper's 375-column view (class prefix dropped)."),
    csv: bool = typer.Option(False, "--csv", help="Write CSV instead of Parquet."),
) -> None:
    """Compute radiomic features (378 for covid-mtl) of a study or of every preprocessed case.

    Example: covidct features prep/ -o features.parquet --workers 2
    """
    import radiomics

    from covidct.features import paper_columns as to_paper
    from covidct.io.atomic import write_table

    radiomics.setVerbosity(logging.ERROR)
    out = out if out is not None else Path("features.csv" if csv else "features.parquet")
    folder = Path(input)
    is_prep = folder.is_dir() and (folder / "manifest.parquet").is_file()
    inputs = [folder / name for name in _PREP_INPUTS] if is_prep else [input, mask]
    check_output(out, inputs, suffixes=(".csv",) if csv else (".parquet", ".csv"),
                 what="feature table")
    if is_prep:
        summary = _folder_features(folder, out, workers=workers, scheduler=scheduler, hog=hog,
                                   preset=preset, params=params, preset_spacing=preset_spacing)
        if paper_columns:
            from covidct.ml.run import read_feature_table

            write_table(to_paper(read_feature_table(out)), out, what="feature table")
        if summary.spacing_mm_xyz is not None:
            console.print(f"radiomics at the stored grid's spacing {summary.spacing_mm_xyz} mm "
                          "(x, y, z); --preset-spacing resamples to the preset's", highlight=False)
        console.print(f"{summary.n_ok} ok, {summary.n_failed} failed of {summary.n_cases} cases "
                      f"({summary.n_skipped} done before) in {summary.seconds:.1f} s -> {out}")
        return

    import pandas as pd

    from covidct.features import extract_radiomics
    from covidct.io import read_ct, read_mask
    from covidct.pipeline import resolve_input

    volume = read_ct(resolve_input(input))
    if mask is not None:
        lungs = read_mask(mask, volume)
    else:
        from covidct.lungs import segment_lungs

        lungs = segment_lungs(volume)
    series = extract_radiomics(volume, lungs, preset=preset, params=params, workers=workers)
    if paper_columns:
        series = to_paper(series)
    frame = pd.DataFrame([{"case_id": Path(str(input)).name, **series.to_dict()}])
    write_table(frame, out, what="feature table")
    console.print(f"{len(series)} features of {input} -> {out}")
    if console.is_terminal:
        console.print(json.dumps({k: round(v, 4) for k, v in list(series.items())[:5]}))


def _folder_features(folder: Path, out: Path, **kwargs: object) -> object:
    """Run :func:`extract_dataset_features` with a progress line per case."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    from covidct.features.batch import extract_dataset_features

    columns = (TextColumn("features"), BarColumn(), MofNCompleteColumn(),
               TextColumn("{task.fields[last]}"), TimeRemainingColumn())
    with Progress(*columns, console=console) as bar:
        task = bar.add_task("features", total=None, last="")

        def report(done: int, total: int, record: dict) -> None:
            bar.update(task, completed=done, total=total,
                       last=f"{record['case_id']} {record.get('seconds', 0):.0f} s")
            if record.get("status") != "ok":
                bar.console.print(f"[yellow]{record['case_id']}[/]: {record.get('error', '')}")

        return extract_dataset_features(folder, out, progress=report, **kwargs)
