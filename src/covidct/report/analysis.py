"""The steps of ``covidct analyze`` on one CT study: read, lungs, lesions, 3D model, heat map.

:func:`analyze_study` runs them in order, times each and records what it did (or why a step
was skipped) in :class:`StepRecord` entries; it writes nothing (see
:func:`covidct.report.write_report`). A step whose software is absent from the installation
(Grad-CAM, the Mask R-CNN lesion model) says so instead of failing.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from covidct.errors import InvalidInputError, NoLungsFoundError
from covidct.io import CTVolume, read_ct
from covidct.io.layout import Layout
from covidct.lesions import LesionQuantification, quantify
from covidct.lesions.quantify import VALIDATED_PIXEL_MM, coverage_warnings, outline_warnings
from covidct.lungs import segment_lungs
from covidct.pipeline import resolve_input
from covidct.report.models import resolve_model
from covidct.report.options import AnalyzeOptions

__all__ = ["StepRecord", "StudyAnalysis", "analyze_study", "lesion_profile", "study_warnings"]

log = logging.getLogger(__name__)

#: slices thicker than this (mm) get a warning: small lesions are averaged away.
THICK_SLICE_MM = 5.0
#: the 1st HU percentile of a chest CT lies near air (-1000); above this, values look off.
AIR_P01_MAX_HU = -850.0


@dataclass(frozen=True)
class StepRecord:
    """One analysis step: ``status`` is "done", "skipped" or "not available"."""

    name: str
    status: str
    seconds: float
    note: str = ""


@dataclass(frozen=True, eq=False)
class StudyAnalysis:
    """Everything one analysis found (arrays on the CT's grid, (z, y, x)).

    Attributes:
        source: the input path as resolved (``sample:NAME`` -> its file).
        ct: the CT (HU).
        lungs: uint8 labels 0 background, 1 right, 2 left.
        quantification: lesion numbers (ml, fractions 0..1, zones, MosMed category).
        lesion_method: "hu" (classical thresholds) or "model" (Mask R-CNN).
        model: the 3D model used (:class:`covidct.inference.volume.VolumeModel`) or None.
        probabilities: task -> class probabilities, when a 3D model ran.
        heatmap: float32 (z, y, x) in [0, 1] Grad-CAM, when it ran.
        steps: what each step did, in order, with its time in seconds.
        warnings: plain sentences for the reader.
        options: the settings used.
    """

    source: Path
    ct: CTVolume
    lungs: np.ndarray
    quantification: LesionQuantification
    lesion_method: str
    model: Any
    probabilities: dict[str, np.ndarray] | None
    heatmap: np.ndarray | None
    steps: tuple[StepRecord, ...]
    warnings: tuple[str, ...]
    options: AnalyzeOptions = field(default_factory=AnalyzeOptions)

    @property
    def seconds(self) -> float:
        """Total time of the steps (s)."""
        return float(sum(s.seconds for s in self.steps))


def study_warnings(ct: CTVolume) -> list[str]:
    """Plain warnings about the input: coarse pixels, thick or uneven slices, values not HU."""
    out = [str(w) for w in ct.metadata.get("warnings", ())]
    sz, sy, sx = Layout.of(ct.direction).lay_spacing(ct.spacing)  # of axial slices
    if max(sy, sx) > VALIDATED_PIXEL_MM:
        out.append(f"coarse pixels ({max(sy, sx):.2f} mm): lesion detection is validated up to "
                   f"{VALIDATED_PIXEL_MM:.1f} mm; vessels may count as lesion")
    if sz > THICK_SLICE_MM:
        out.append(f"thick slices ({sz:.2f} mm): small or faint lesions are averaged away")
    if not ct.is_hu:
        out.append("the values are not Hounsfield units (grey levels)")
    else:
        step = max(1, int(np.ceil((ct.array.size / 2e6) ** (1 / 3))))
        p01 = float(np.percentile(ct.array[::step, ::step, ::step], 1))
        if p01 > AIR_P01_MAX_HU:
            out.append(f"values may not be calibrated HU: the 1st percentile is {p01:.0f} "
                       "(air outside the body should be near -1000 HU)")
    return out


def lesion_profile(
    lungs: np.ndarray, lesions: np.ndarray, ct: CTVolume
) -> dict[str, list[float]]:
    """Lesion share of the lung per axial slice, head first.

    Returns ``{"position_mm": [...], "lung_ml": [...], "lesion_fraction": [...],
    "ggo_fraction": [...], "consolidation_fraction": [...]}`` over the slices holding lung;
    ``position_mm`` is the LPS z (superior positive) of each slice centre. A reformat's axial
    slices are planes of its array axis closest to the body axis.
    """
    axis = Layout.of(ct.direction).order[0]  # the array axis of axial slices
    others = tuple(a for a in range(3) if a != axis)
    lung_n = (lungs > 0).sum(axis=others).astype(np.int64)
    ggo_n = ((lesions == 1) & (lungs > 0)).sum(axis=others)
    cons_n = ((lesions == 2) & (lungs > 0)).sum(axis=others)
    ks = np.flatnonzero(lung_n)
    d = np.asarray(ct.direction, float).reshape(3, 3)
    z_mm = ct.origin[2] + d[2, 2 - axis] * ks * ct.spacing[axis]
    order = np.argsort(-z_mm, kind="stable")
    ks, z_mm = ks[order], z_mm[order]
    frac = (ggo_n[ks] + cons_n[ks]) / lung_n[ks]
    return {
        "position_mm": [round(float(v), 3) for v in z_mm],
        "lung_ml": [float(v) * ct.voxel_volume_ml for v in lung_n[ks]],
        "lesion_fraction": [float(v) for v in frac],
        "ggo_fraction": [float(v) for v in ggo_n[ks] / lung_n[ks]],
        "consolidation_fraction": [float(v) for v in cons_n[ks] / lung_n[ks]],
    }


class _Steps:
    """Times steps and records them; reports progress lines."""

    def __init__(self, progress: Callable[[str], None] | None) -> None:
        self.records: list[StepRecord] = []
        self.progress = progress

    def done(self, name: str, t0: float, note: str = "") -> None:
        self.add(StepRecord(name, "done", time.perf_counter() - t0, note))

    def add(self, record: StepRecord) -> None:
        self.records.append(record)
        if self.progress:
            extra = f" ({record.note})" if record.note else ""
            self.progress(f"{record.name}: {record.status} in {record.seconds:.1f} s{extra}")


def _lesion_model_function(path: str) -> Callable[..., Any]:
    """``covidct.detection.segment_lesions_model``, or a clear error when absent."""
    try:
        from covidct.detection import segment_lesions_model
    except ImportError as exc:
        raise InvalidInputError(
            f"--lesion-model {path}: the Mask R-CNN lesion model (covidct.detection) is not "
            "part of this installation"
        ) from exc
    if not Path(path).exists():
        raise InvalidInputError(f"lesion model {path} does not exist")
    return segment_lesions_model


def _lesions_by_model(
    ct: CTVolume, lungs: np.ndarray, path: str, options: AnalyzeOptions
) -> LesionQuantification:
    mask = np.asarray(_lesion_model_function(path)(ct, lungs, path))
    return quantify(ct, lungs, options=options.lesions, lesion_mask=mask)


def _heatmap(model: Any, prepared: Any, ct: CTVolume, task: str) -> tuple[np.ndarray | None, str]:
    try:
        from covidct.explain import volume_heatmap
    except ImportError:
        return None, "Grad-CAM (covidct.explain) is not part of this installation"
    heat = np.asarray(volume_heatmap(model, prepared, ct, task=task), dtype=np.float32)
    if heat.shape != ct.shape:
        raise InvalidInputError(f"heat map shape {heat.shape} is not the CT's {ct.shape}")
    return np.clip(heat, 0.0, 1.0), ""


def analyze_study(
    source: str | Path,
    *,
    options: AnalyzeOptions | None = None,
    series_uid: str | None = None,
    progress: Callable[[str], None] | None = None,
) -> StudyAnalysis:
    """Analyse one CT study (any format :func:`covidct.io.read_ct` takes, or ``sample:NAME``).

    Args:
        source: the study.
        options: settings (default :class:`AnalyzeOptions`).
        series_uid: DICOM series to read when a folder holds several.
        progress: called with one line per finished step.

    Raises:
        InvalidInputError: unreadable input, non-HU values, bad model.
        NoLungsFoundError: no lungs in view.
    """
    opts = options or AnalyzeOptions()
    steps = _Steps(progress)
    path = resolve_input(source)
    if opts.lesion_model:
        _lesion_model_function(opts.lesion_model)  # refuse before any work
    t0 = time.perf_counter()
    ct = read_ct(path, series_uid=series_uid)
    steps.done("read", t0, f"{' x '.join(map(str, ct.shape))} voxels")
    if not ct.is_hu:
        raise InvalidInputError(f"{path}: the values are not Hounsfield units (grey levels); "
                                "analysis needs a CT in HU")
    warnings = study_warnings(ct)

    t0 = time.perf_counter()
    lungs = segment_lungs(ct, method=opts.lung_method, options=opts.lungs)
    if not np.any(lungs):
        raise NoLungsFoundError(f"{path}: no lungs found in the volume")
    steps.done("lungs", t0, f"{opts.lung_method}")
    warnings += coverage_warnings(lungs, ct.direction)

    t0 = time.perf_counter()
    if opts.lesion_model:
        quant, method = _lesions_by_model(ct, lungs, opts.lesion_model, opts), "model"
    else:
        quant, method = quantify(ct, lungs, options=opts.lesions), "hu"
    steps.done("lesions", t0, f"{method}, {100 * quant.lesion_fraction:.1f} % of lung, "
                              f"{quant.ct_category}")
    warnings += outline_warnings(quant.outline_consolidated)

    model, probs, heat = None, None, None
    t0 = time.perf_counter()
    model, why = resolve_model(opts.model)
    if model is None:
        steps.add(StepRecord("3d model", "skipped", 0.0, why))
        steps.add(StepRecord("heat map", "skipped", 0.0, "no 3D model"))
    else:
        from covidct.inference.volume import predict_volume, prepare_volume

        prepared = prepare_volume(model, ct, lungs)
        probs = predict_volume(model, prepared)
        steps.done("3d model", t0, model.card.get("name", model.source.name))
        if not opts.heatmap:
            steps.add(StepRecord("heat map", "skipped", 0.0, "switched off"))
        else:
            t0 = time.perf_counter()
            heat, why = _heatmap(model, prepared, ct, opts.heatmap_task)
            if heat is None:
                steps.add(StepRecord("heat map", "not available", 0.0, why))
            else:  # the network sees only the lungs (blanked outside): heat elsewhere is no evidence
                heat = np.where(lungs > 0, heat, np.float32(0.0)).astype(np.float32)
                steps.done("heat map", t0, f"Grad-CAM, task {opts.heatmap_task}, inside the lungs")
        if model.card.get("trained_on", "").upper().startswith("SIMULATED"):
            warnings.append(f"the 3D model {model.card.get('name', model.source.name)} was "
                            "trained on simulated data only: its probabilities are a "
                            "demonstration, not evidence about this patient")
    return StudyAnalysis(source=path, ct=ct, lungs=lungs, quantification=quant,
                         lesion_method=method, model=model, probabilities=probs, heatmap=heat,
                         steps=tuple(steps.records), warnings=tuple(warnings), options=opts)
