"""Command ``predict-lesions``: a Mask R-CNN lesion model (or COVID-CT-Mask-Net) on slices or a CT."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from covidct.cli._common import console, handle_errors

__all__ = ["predict_lesions"]


@handle_errors
def predict_lesions(
    model: Annotated[Path, typer.Argument(help="model.pt of a Mask R-CNN or ct-mask-net run (or its folder).")],
    input: Annotated[str, typer.Argument(help="A PNG slice, a CNCB folder (imgs/, masks/) or a CT study.")],
    out: Annotated[Path, typer.Option("-o", "--out", help="Folder for the figures and masks (PNG).")],
    score_threshold: Annotated[float, typer.Option(help="Draw detections scoring at least this.")] = 0.5,
    max_slices: Annotated[int, typer.Option(help="Slices pictured at most.")] = 8,
) -> None:
    """Pictures of predicted lesion masks, boxes, scores, RoI score maps (and class scores).

    Example: covidct predict-lesions runs/r18/model.pt sim_cncb/imgs/p1_0040.png -o figs/
    """
    from covidct.detection.predict import PredictOptions
    from covidct.detection.predict import predict_lesions as run

    paths = run(model, input, out, options=PredictOptions(score_threshold=score_threshold,
                                                          max_slices=max_slices))
    console.print(f"wrote {len(paths)} figures (+ masks, predictions.json) to {out}")
