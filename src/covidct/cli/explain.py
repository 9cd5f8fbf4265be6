"""Command ``explain``: Grad-CAM overlays / heat volumes of slice and 3D models."""

from __future__ import annotations

from pathlib import Path

import typer

from covidct.cli._common import console, handle_errors

__all__ = ["explain"]


@handle_errors
def explain(
    model: Path = typer.Argument(..., help="Slice model / slice run folder / 3D model (.pt or run)."),
    input_: str = typer.Argument(..., metavar="INPUT",
                                 help="Slice image(s) or folder, a CT, or 'test' for a slice run."),
    out: Path = typer.Option(..., "-o", "--out", help="Output folder."),
    method: str = typer.Option("gradcam", help="CAM variant: gradcam or gradcam++."),
    target: int | None = typer.Option(None, help="Class to explain (default: predicted)."),
    task: str = typer.Option("ct", help="Task of a multi-task 3D model."),
    per_group: int = typer.Option(4, help="Examples per TP/FP/TN/FN group (slice runs)."),
) -> None:
    """Grad-CAM: overlays for slice models, TP/FP/TN/FN grids for slice runs, heat NIfTI for 3D.

    Examples: covidct explain runs/ucsd test -o cams;
    covidct explain mtl.pt study.nii.gz -o heat/
    """
    from covidct.explain.run import ExplainOptions
    from covidct.explain.run import explain as run_explain

    options = ExplainOptions(method=method, target=target, task=task, per_group=per_group)
    folder = run_explain(model, input_, out, options=options)
    console.print(f"wrote {sorted(p.name for p in folder.iterdir())} to {folder}")
