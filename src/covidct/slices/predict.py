"""A slice classifier over the lung slices of a CT study: per-slice curve and study score.

Each axial slice (z) holding enough lung is cut to the study's lung bounding box (all lung
voxels, plus ``margin_mm``, made square in mm), resampled to square pixels, put through the
lung window of the 8-bit slice datasets (centre -600 HU, width 1500 HU, as
:func:`covidct.datasets.hu_to_uint8`) and classified. The study score aggregates the
per-slice probability of the COVID class (``mean`` or ``max``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from covidct.datasets._common import hu_to_uint8, resample_slice_to_square
from covidct.errors import InvalidInputError, NoLungsFoundError
from covidct.io import CTVolume
from covidct.io.layout import Layout
from covidct.io.volume import check_same_grid
from covidct.slices.model_file import SliceModel

__all__ = ["PredictSlicesOptions", "SliceCurve", "lung_slices", "predict_ct_slices", "save_slice_curve"]


@dataclass(frozen=True, kw_only=True)
class PredictSlicesOptions:
    """How slices are taken from a CT.

    Attributes:
        margin_mm: margin around the lungs' bounding box (mm).
        min_lung_fraction: keep slices whose lung area is at least this share of the
            largest slice's lung area.
        size: pixels of the square slice image given to the model's transform.
        aggregate: study score = ``mean`` or ``max`` of the per-slice COVID probability.
    """

    margin_mm: float = 10.0
    min_lung_fraction: float = 0.1
    size: int = 256
    aggregate: str = "mean"

    def __post_init__(self) -> None:
        if self.aggregate not in ("mean", "max"):
            raise InvalidInputError(f"aggregate must be mean or max; got {self.aggregate!r}")
        if not 0 <= self.min_lung_fraction <= 1 or self.margin_mm < 0 or self.size < 16:
            raise InvalidInputError(f"bad options {self}")


@dataclass(frozen=True)
class SliceCurve:
    """Per-slice results of one study.

    Attributes:
        z: axial indices (CT voxel order) of the classified slices.
        probabilities: (n_slices, n_classes) class probabilities.
        class_names: class names; the last is the COVID class.
        study_score: aggregate of ``probabilities[:, -1]``.
        box_yx: lung box (y0, y1, x0, x1) in voxels, max exclusive.
        options: how the slices were taken.
    """

    z: np.ndarray
    probabilities: np.ndarray
    class_names: tuple[str, ...]
    study_score: float
    box_yx: tuple[int, int, int, int]
    options: PredictSlicesOptions = field(default_factory=PredictSlicesOptions)

    @property
    def covid(self) -> np.ndarray:
        """Per-slice probability of the COVID (last) class."""
        return self.probabilities[:, -1]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary."""
        return {"class_names": list(self.class_names), "study_score": self.study_score,
                "aggregate": self.options.aggregate, "box_yx": list(self.box_yx),
                "slices": [{"z": int(z), **{n: float(p) for n, p in zip(self.class_names, row)}}
                           for z, row in zip(self.z, self.probabilities)]}


def _box(lungs: np.ndarray, spacing: tuple[float, float, float], margin_mm: float) -> tuple[int, int, int, int]:
    ys, xs = np.nonzero(lungs.any(axis=0))
    sy, sx = spacing[1], spacing[2]
    cy, cx = (ys.min() + ys.max() + 1) / 2 * sy, (xs.min() + xs.max() + 1) / 2 * sx
    half = max((ys.max() + 1 - ys.min()) * sy, (xs.max() + 1 - xs.min()) * sx) / 2 + margin_mm
    y0, y1 = int(np.floor((cy - half) / sy)), int(np.ceil((cy + half) / sy))
    x0, x1 = int(np.floor((cx - half) / sx)), int(np.ceil((cx + half) / sx))
    ny, nx = lungs.shape[1:]
    return max(y0, 0), min(y1, ny), max(x0, 0), min(x1, nx)


def lung_slices(ct: CTVolume, lungs: np.ndarray, options: PredictSlicesOptions = PredictSlicesOptions()
                ) -> tuple[np.ndarray, list[np.ndarray], tuple[int, int, int, int]]:
    """(z indices, 8-bit lung-window images of the lung box, the box) of a study's lung slices."""
    check_same_grid(ct, lungs, name="lungs")
    # an axial file's slices are cut in its own voxels (z and box the file's) and shown front
    # up, the patient's right on the left (a NIfTI in RAS flipped); a reformat is laid as a
    # DICOM axial series first (z and box are then of that)
    view = Layout.of(ct.direction).display
    laid = Layout() if view.axial else view
    array, lungs, spacing = laid.lay(ct.array), laid.lay(np.asarray(lungs)), laid.lay_spacing(ct.spacing)
    area = (lungs > 0).sum(axis=(1, 2))
    if area.max() == 0:
        raise NoLungsFoundError(f"{ct.metadata.get('source', 'the CT')}: the lung mask is empty")
    z = np.flatnonzero(area >= max(1, options.min_lung_fraction * area.max()))
    y0, y1, x0, x1 = box = _box(lungs > 0, spacing, options.margin_mm)
    flips = tuple(a - 1 for a in view.flips) if view.axial else ()
    images = []
    for k in z:
        hu = resample_slice_to_square(np.flip(array[k, y0:y1, x0:x1], flips), (spacing[1], spacing[2]),
                                      size=options.size, order=1, fill=-2000.0)
        images.append(hu_to_uint8(hu))
    return z, images, box


def predict_ct_slices(model: SliceModel, ct: CTVolume, lungs: np.ndarray | None = None, *,
                      options: PredictSlicesOptions = PredictSlicesOptions()) -> SliceCurve:
    """Classify the lung slices of ``ct`` (HU, z, y, x); lungs segmented when not given.

    Raises:
        NoLungsFoundError: no lungs in the CT (e.g. an abdominal scan).
        GeometryMismatchError: ``lungs`` not on the CT's grid.
    """
    if lungs is None:
        from covidct.lungs import segment_lungs

        lungs = segment_lungs(ct)
    z, images, box = lung_slices(ct, lungs, options)
    probs = model.predict(images).astype(np.float64)
    covid = probs[:, -1]
    score = float(covid.mean() if options.aggregate == "mean" else covid.max())
    return SliceCurve(z=z, probabilities=probs, class_names=model.class_names, study_score=score,
                      box_yx=box, options=options)


def save_slice_curve(curve: SliceCurve, path: str | Path, *, title: str = "") -> Path:
    """Plot the per-slice COVID probability against z to a PNG."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.0, 3.2), dpi=110)
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    ax.plot(curve.z, curve.covid, marker=".", lw=1.2)
    ax.axhline(curve.study_score, ls="--", color="grey",
               label=f"study score ({curve.options.aggregate}) {curve.study_score:.2f}")
    ax.set_ylim(0, 1)
    ax.set_xlabel("slice z (voxel index)")
    ax.set_ylabel(f"P({curve.class_names[-1]})")
    ax.set_title(title or "per-slice probability")
    ax.legend(fontsize=8)
    fig.tight_layout()
    path = Path(path)
    tmp = path.with_name(path.stem + ".part.png")
    fig.savefig(tmp)
    tmp.replace(path)
    return path
