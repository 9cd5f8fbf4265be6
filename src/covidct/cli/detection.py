"""Command ``predict-lesions``: a Mask R-CNN lesion model (or COVID-CT-Mask-Net) on slices or a CT."""

from __future__ import annotations

from pathlib import Path

import typer

from covidct.cli._common import console, handle_errors

__all__ = ["predict_lesions"]


@handle_errors
def predict_lesions(
    model: Path = typer.Argument(..., help="model.pt of a Mask R-CNN or ct-mask-net run (or its folder)."),
    input: str = typer.Argument(..., help="A PNG slice, a CNCB folder (imgs/, masks/) or a CT study."),
    out: Path = typer.Option(..., "-o", "--out", help="Folder for the figures and masks (PNG)."),
    score_threshold: float = typer.Option(0.5, help="Draw detections scoring at least this."),
    max_slices: int = typer.Option(8, help="Slices pictured at most."),
) -> None:
    """Pictures of predicted lesion masks, boxes, scores, RoI score maps (and class scores).

    Example: covidct predict-lesions runs/r18/model.pt sim_cncb/imgs/p1_0040.png -o figs/
    """
    from covidct.detection.predict import PredictOptions, predict_lesions as run

    paths = run(model, input, out, options=PredictOptions(score_threshold=score_threshold,
                                                          max_slices=max_slices))
    console.print(f"wrote {len(paths)} figures (+ masks, predictions.json) to {out}")
