"""The ``features`` command: radiomics (+ HOG) of one study or of a preprocessed folder."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import typer

from covidct.cli._common import console, handle_errors

__all__ = ["features"]


@handle_errors
def features(
    input: str = typer.Argument(..., help="A CT (file, DICOM folder, sample:lung1) or a "
                                          "preprocessed folder (with manifest.parquet)."),
    mask: Path | None = typer.Option(None, "--mask", "-m", help="Lung mask of a single CT "
                                        "(default: segment the lungs)."),
    out: Path = typer.Option(Path("features.parquet"), "--out", "-o",
                             help="Output table (.parquet, or .csv)."),
    workers: int = typer.Option(1, help="Processes (one study) or Dask workers (a folder)."),
    scheduler: str | None = typer.Option(None, help="Dask scheduler address (folders)."),
    preset: str = typer.Option("covid-mtl", help="Radiomics preset: covid-mtl, fast."),
    params: Path | None = typer.Option(None, help="pyradiomics YAML parameter file."),
    hog: bool = typer.Option(True, "--hog/--no-hog", help="Add HOG features (folders)."),
    paper_columns: bool = typer.Option(False, "--paper-columns",
                                       help="Write the paper's 375-column view (class prefix dropped)."),
    csv: bool = typer.Option(False, "--csv", help="Write CSV instead of Parquet."),
) -> None:
    """Compute radiomic features (378 for covid-mtl) of a study or of every preprocessed case.

    Example: covidct features prep/ -o features.parquet --workers 2
    """
    import radiomics

    from covidct.features import paper_columns as to_paper

    radiomics.setVerbosity(logging.ERROR)
    if csv and out.suffix.lower() != ".csv":
        out = out.with_suffix(".csv")
    folder = Path(input)
    if folder.is_dir() and (folder / "manifest.parquet").is_file():
        from covidct.features.batch import extract_dataset_features

        summary = extract_dataset_features(folder, out, workers=workers, scheduler=scheduler,
                                           hog=hog, preset=preset, params=params)
        if paper_columns:
            from covidct.ml.run import read_feature_table

            frame = to_paper(read_feature_table(out))
            frame.to_csv(out, index=False) if out.suffix == ".csv" else frame.to_parquet(out, index=False)
        console.print(f"{summary.n_ok} ok, {summary.n_failed} failed, {summary.n_skipped} skipped "
                      f"of {summary.n_cases} cases in {summary.seconds:.1f} s -> {out}")
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
    out.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(out, index=False) if out.suffix.lower() == ".csv" else frame.to_parquet(out, index=False)
    console.print(f"{len(series)} features of {input} -> {out}")
    if console.is_terminal:
        console.print(json.dumps({k: round(v, 4) for k, v in list(series.items())[:5]}))
