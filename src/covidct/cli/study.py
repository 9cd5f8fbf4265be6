"""Commands on one CT study: ``info``, ``segment``, ``quantify``."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.table import Table

from covidct.cli._common import (
    LUNG_CHOICE_HELP,
    LUNG_MODEL_HELP,
    LUNG_PRESET_HELP,
    console,
    err_console,
    handle_errors,
    series_note,
)

__all__ = ["info", "quantify", "segment"]

INPUT_HELP = (
    "CT to read: DICOM folder or .zip, NIfTI, NRRD, MHA, a folder of PNG slices, "
    "or sample:lung1 / sample:lung2."
)


def _fmt(value: object) -> str:
    """Short text for a value of :func:`covidct.io.describe` (floats to 4 significant digits)."""
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, dict):
        return ", ".join(f"{k}={_fmt(v)}" for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_fmt(v) for v in value) + "]"
    return str(value)


@handle_errors
def info(
    input: str = typer.Argument(..., help=INPUT_HELP),
    series: str | None = typer.Option(None, "--series", help="SeriesInstanceUID to read."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Print size, spacing, HU range, orientation and metadata of a CT.

    Example: covidct info scans/patient1/ --json
    """
    from covidct.io import describe, read_ct
    from covidct.io.slice2d import describe_slice, is_single_slice, read_slice
    from covidct.pipeline import resolve_input

    if is_single_slice(input):  # one DICOM slice or PNG/JPG: a 2D image, described as such
        summary = describe_slice(read_slice(input))
    else:
        volume = read_ct(resolve_input(input), series_uid=series)
        summary = describe(volume)
        if note := series_note(volume.metadata):
            err_console.print(note, highlight=False)
    if as_json:
        typer.echo(json.dumps(summary, indent=2, default=str))
        return
    table = Table(title=str(input), show_header=False)
    for key, value in summary.items():
        table.add_row(key, _fmt(value))
    console.print(table)


@handle_errors
def segment(
    input: str = typer.Argument(..., help=INPUT_HELP),
    output: Path = typer.Option(
        ..., "-o", "--out", "--output", help="Mask file (.nii.gz, .nii, .nrrd, .mha)."
    ),
    method: str | None = typer.Option(
        None, help="hybrid (default: the rules, corrected by the lung network on diseased "
        "lungs), refined (the rules alone), classical (the baseline) or model (the lung "
        "network alone)."),
    series: str | None = typer.Option(None, "--series", help="SeriesInstanceUID to read."),
    lung_preset: str = typer.Option("default", "--lung-preset", help=LUNG_PRESET_HELP),
    lung_model: Path | None = typer.Option(None, "--lung-model", help=LUNG_MODEL_HELP),
    lung_choice: Path | None = typer.Option(None, "--lung-choice", help=LUNG_CHOICE_HELP),
) -> None:
    """Segment the lungs: write a mask (0 background, 1 right, 2 left) on the CT's grid.

    Example: covidct segment sample:lung1 -o lung1_lungs.nii.gz
    """
    from covidct.errors import InvalidInputError
    from covidct.lesions.quantify import coverage_warnings
    from covidct.lungs.segment import DEFAULT_METHOD, METHODS
    from covidct.pipeline import segment_study

    method = method or DEFAULT_METHOD
    if method not in METHODS:
        raise InvalidInputError(f"--method must be one of {', '.join(METHODS)}; got {method!r}")
    run = segment_study(input, output, method=method, series_uid=series,  # type: ignore[arg-type]
                        lung_preset=lung_preset, lung_model=lung_model, lung_choice=lung_choice)
    vols = run.lung_volumes_ml()
    if note := series_note(run.volume.metadata):
        err_console.print(note, highlight=False)
    for warning in coverage_warnings(run.lungs, run.volume.direction):
        err_console.print(f"warning: {warning}", highlight=False)
    console.print(
        f"lungs: right {vols['right']:.0f} ml, left {vols['left']:.0f} ml, "
        f"total {vols['total']:.0f} ml ({run.seconds:.1f} s) -> {run.output}"
    )


def _pct(x: float) -> str:
    return f"{100 * x:.1f}%"


@handle_errors
def quantify(
    input: str = typer.Argument(..., help=INPUT_HELP),
    lungs: Path | None = typer.Option(
        None, "--lungs", help="Lung mask on the CT's grid (segmented here when omitted)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object on stdout."),
    out: Path | None = typer.Option(
        None, "-o", "--out", help="Folder for lesion mask, lung mask, JSON and a PNG montage."
    ),
    series: str | None = typer.Option(None, "--series", help="SeriesInstanceUID to read."),
    lung_preset: str = typer.Option("default", "--lung-preset", help=LUNG_PRESET_HELP),
    lesion_model: Path | None = typer.Option(
        None, "--lesion-model", help="Mask R-CNN model.pt (or run folder) instead of the HU method."
    ),
    lung_model: Path | None = typer.Option(None, "--lung-model", help=LUNG_MODEL_HELP),
    lung_choice: Path | None = typer.Option(None, "--lung-choice", help=LUNG_CHOICE_HELP),
) -> None:
    """Quantify ground-glass opacity and consolidation in the lungs (share of lung involved).

    Example: covidct quantify sample:lung1 --out results/lung1
    """
    from covidct.pipeline import quantify_study

    run = quantify_study(input, lungs_path=lungs, out_dir=out, series_uid=series,
                         lung_preset=lung_preset, lesion_model=lesion_model, lung_model=lung_model,
                         lung_choice=lung_choice)
    if note := series_note(run.volume.metadata):
        err_console.print(note, highlight=False)
    if as_json:
        typer.echo(json.dumps(run.to_dict(), indent=2))
        return
    r = run.result
    table = Table(title=f"Lesion quantification: {input}")
    for col in ("", "lung ml", "lesion ml", "involved", "GGO", "consolidation"):
        table.add_column(col, justify="right" if col else "left")
    for name, part in (("right", r.right), ("left", r.left), ("both", r)):
        table.add_row(
            name,
            f"{part.lung_volume_ml:.0f}",
            f"{part.lesion_volume_ml:.1f}",
            _pct(part.lesion_fraction),
            _pct(part.ggo_fraction),
            _pct(part.consolidation_fraction),
        )
    console.print(table)
    zones = Table(title="Share involved by zone")
    zones.add_column("lung")
    for z in ("upper", "middle", "lower"):
        zones.add_column(z, justify="right")
    for side, parts in r.zones.items():
        zones.add_row(side, *(_pct(parts[z]) for z in ("upper", "middle", "lower")))
    console.print(zones)
    console.print(f"CT category (MosMed): [bold]{r.ct_category}[/]")
    for text in r.warnings:
        console.print(f"[bold yellow]WARNING[/]: {text}", highlight=False)
    for key, path in run.outputs.items():
        console.print(f"{key}: {path}")
