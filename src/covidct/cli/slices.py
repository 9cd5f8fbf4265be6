"""Command ``predict-slices``: a slice classifier over the lung slices of a CT study."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from covidct.cli._common import console, handle_errors
from covidct.errors import InvalidInputError

__all__ = ["predict_slices"]


@handle_errors
def predict_slices(
    model: Path = typer.Argument(..., help="Slice model (.pt), fold folder or slice run folder."),
    ct: Path = typer.Argument(..., help="CT study (DICOM folder, NIfTI, NRRD, ...)."),
    out: Path = typer.Option(..., "-o", "--out", help="Output JSON (a PNG curve is written beside it)."),
    lungs: Path | None = typer.Option(None, help="Lung mask on the CT's grid (else segmented)."),
    aggregate: str = typer.Option("mean", help="Study score: mean or max of slice probabilities."),
    margin_mm: float = typer.Option(10.0, help="Margin around the lung box (mm)."),
) -> None:
    """Per-slice COVID probability over the lung slices of a CT, and a study score.

    Example: covidct predict-slices runs/ucsd/fold0/model.pt lung1.nrrd -o lung1_slices.json
    """
    from covidct.io import read_ct
    from covidct.io.read import read_mask
    from covidct.provenance import provenance
    from covidct.slices.model_file import load_slice_model
    from covidct.slices.predict import PredictSlicesOptions, predict_ct_slices, save_slice_curve

    if out.suffix.lower() != ".json":
        raise InvalidInputError(f"--out must be a .json file; got {out}")
    if out.resolve() in (ct.resolve(), model.resolve()):
        raise InvalidInputError(f"--out {out} would overwrite an input")
    options = PredictSlicesOptions(aggregate=aggregate, margin_mm=margin_mm)
    slice_model = load_slice_model(model)
    volume = read_ct(ct)
    mask = read_mask(lungs, volume) if lungs else None
    curve = predict_ct_slices(slice_model, volume, mask, options=options)
    out.parent.mkdir(parents=True, exist_ok=True)
    payload = {"model": str(slice_model.source), "model_sha256": slice_model.sha256, "ct": str(ct),
               **curve.to_dict(),
               "provenance": provenance(options={"predict_slices": options}, inputs=[slice_model.source, ct])}
    tmp = out.with_name(out.name + ".part")
    tmp.write_text(json.dumps(payload, indent=2, default=str))
    tmp.replace(out)
    png = save_slice_curve(curve, out.with_suffix(".png"), title=ct.name)
    console.print(f"{len(curve.z)} lung slices, study score P({curve.class_names[-1]}) "
                  f"= {curve.study_score:.3f} ({aggregate}); wrote {out} and {png}")
