"""``covidct analyze`` (one study or, with --cohort, a dataset) and ``covidct demo``."""

from __future__ import annotations

import time
from pathlib import Path

import typer

from covidct.cli._common import (
    LUNG_CHOICE_HELP,
    LUNG_MODEL_HELP,
    LUNG_PRESET_HELP,
    console,
    handle_errors,
)

__all__ = ["analyze", "demo"]


def _say(line: str) -> None:
    console.print(line, highlight=False)


@handle_errors
def analyze(
    study: str = typer.Argument(..., help="CT study (DICOM folder or .zip, NIfTI, NRRD, MHA, "
                                          "sample:NAME), or a dataset folder with --cohort."),
    out: Path = typer.Option(..., "-o", "--out", help="Report folder (new, empty, or a previous report)."),
    preset: str = typer.Option("default", help="Settings preset: default (demo model when "
                                               "installed) or fast (no 3D model)."),
    model: str | None = typer.Option(None, "--model", help="3D model (.pt with card, or a "
                                        "training run); 'demo' = the shipped demo model; '' = none."),
    lesion_model: Path | None = typer.Option(None, "--lesion-model",
                                                help="Mask R-CNN lesion model (needs covidct.detection)."),
    dicom_seg: bool = typer.Option(False, "--dicom-seg", help="Also write a DICOM SEG (DICOM input)."),
    no_heatmap: bool = typer.Option(False, "--no-heatmap", help="Skip the 3D Grad-CAM."),
    series: str | None = typer.Option(None, "--series", help="SeriesInstanceUID to read."),
    lung_preset: str | None = typer.Option(None, "--lung-preset", help=LUNG_PRESET_HELP),
    lung_model: Path | None = typer.Option(None, "--lung-model", help=LUNG_MODEL_HELP),
    lung_choice: Path | None = typer.Option(None, "--lung-choice", help=LUNG_CHOICE_HELP),
    cohort: bool = typer.Option(False, "--cohort", help="STUDY is a dataset: analyse every case."),
    workers: int = typer.Option(1, help="Dask worker processes (--cohort)."),
    retry_failed: bool = typer.Option(False, help="Analyse failed cases again (--cohort)."),
) -> None:
    """Analyse a CT study (or a dataset with --cohort) into a readable report.

    Writes report.html (self-contained), report.json, the masks and, with --dicom-seg, a DICOM SEG.

    Example: covidct analyze scans/patient1/ -o reports/p1 --dicom-seg
    """
    from covidct.pipeline import lung_options, with_lung_model
    from covidct.report import get_analyze_preset

    base = get_analyze_preset(preset)
    changes: dict[str, object] = {"dicom_seg": dicom_seg}
    if lung_preset is not None or lung_model is not None or lung_choice is not None:
        lungs = lung_options(lung_preset) if lung_preset is not None else base.lungs
        changes["lungs"] = with_lung_model(lungs, model=lung_model, choice=lung_choice)
    if model is not None:
        changes["model"] = model
    if lesion_model is not None:
        changes["lesion_model"] = str(lesion_model)
    if no_heatmap:
        changes["heatmap"] = False
    options = base.with_changes(**changes)
    if cohort:
        _cohort(study, out, options, workers, retry_failed)
        return
    from covidct.report import analyze_to_folder

    t0 = time.perf_counter()
    files = analyze_to_folder(study, out, options=options, series_uid=series, progress=_say)
    s = files.record["summary"]
    _say(f"{100 * s['lesion_fraction']:.1f} % of lung involved ({s['ct_category']}), "
         f"lungs {s['lung_volume_ml']:.0f} ml")
    for w in files.record["warnings"]:
        _say(f"warning: {w}")
    _say(f"report: {files.html}  ({time.perf_counter() - t0:.1f} s in total)")


def _cohort(dataset: str, out: Path, options: object, workers: int, retry_failed: bool) -> None:
    from covidct.report.cohort import analyze_cohort

    def progress(done: int, total: int, rec: dict) -> None:
        extra = rec.get("error") or rec.get("ct_category", "")
        _say(f"[{done}/{total}] {rec['case_id']}: {rec['status']} {extra}")

    summary = analyze_cohort(dataset, out, options=options, workers=workers,  # type: ignore[arg-type]
                             retry_failed=retry_failed, progress=progress)
    _say(f"{summary.n_ok} ok, {summary.n_failed} failed, {summary.n_skipped} skipped of "
         f"{summary.n_cases} cases in {summary.seconds:.0f} s; summary: {summary.summary}")


@handle_errors
def demo(
    out: Path = typer.Option(Path("covidct-demo"), "-o", "--out", help="Folder for the reports."),
    no_samples: bool = typer.Option(False, "--no-samples", help="Only the simulated study."),
) -> None:
    """Analyse a simulated COVID-19 study and the real samples with the demo model.

    No network needed; the real sample CTs are used when they are on this machine.

    Example: covidct demo -o covidct-demo
    """
    from covidct.report.demo import run_demo

    t0 = time.perf_counter()
    reports = run_demo(out, real_samples=not no_samples, progress=_say)
    for r in reports:
        s = r.record["summary"]
        p = s["covid_ct_probability"]
        prob = "" if p is None else f", P(COVID by CT) {100 * p:.0f} % (demo model, simulated training data)"
        _say(f"{r.record['study']['name']}: {100 * s['lesion_fraction']:.1f} % of lung, "
             f"{s['ct_category']}{prob}\n  report: {r.html}")
    _say(f"done in {time.perf_counter() - t0:.0f} s")
