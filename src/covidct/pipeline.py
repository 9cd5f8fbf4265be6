"""Study-level pipelines: the library calls that the ``covidct`` commands wrap.

Each function takes paths (these are the edges where files are read and written), calls the
array-level stages, and returns a small result object; nothing here prints.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from covidct.errors import InvalidInputError
from covidct.io import CTVolume, read_ct, read_mask, write_image
from covidct.io.atomic import check_output, write_json
from covidct.io.layout import Layout
from covidct.io.write import WRITE_SUFFIXES
from covidct.io.samples import SAMPLES, sample_path
from covidct.lesions import LesionQuantification, QuantOptions, quantify
from covidct.lungs import segment_lungs
from covidct.lungs.options import LungOptions
from covidct.lungs.segment import DEFAULT_METHOD
from covidct.lungs.weights import lung_model_record

__all__ = [
    "LUNG_PRESETS",
    "lung_options",
    "with_lung_model",
    "QuantificationRun",
    "SegmentationRun",
    "quantify_study",
    "resolve_input",
    "segment_study",
]

log = logging.getLogger(__name__)

SAMPLE_PREFIX = "sample:"
#: Files :func:`quantify_study` writes into its output folder.
OUTPUT_NAMES = ("lungs.nii.gz", "lesions.nii.gz", "quantification.json", "montage.png")


#: named lung-segmentation settings for ``segment``/``quantify``/``analyze --lung-preset``:
#: "default" (:meth:`LungOptions.fast`), "bases" (:meth:`LungOptions.bases`: a scan of the
#: lung bases alone), "paper" (the COVID-MTL refinement alone: 1 mm grid, -420 HU,
#: the paper's disks and snake, without the pockets, mirror prior and cavity growth added
#: here) and "paper-robust" (:meth:`LungOptions.paper`: the paper's settings with them).
LUNG_PRESETS: dict[str, Callable[[], LungOptions]] = {
    "default": LungOptions.fast,
    "bases": LungOptions.bases,
    "paper": LungOptions.paper_only,
    "paper-robust": LungOptions.paper,
}


def lung_options(preset: str = "default", *, model: str | Path | None = None,
                 choice: str | Path | None = None) -> LungOptions:
    """The :class:`LungOptions` of a named preset (see :data:`LUNG_PRESETS`), with a lung
    network ``model`` and a lung choice classifier ``choice`` (files) instead of the shipped
    ones when given (``LungOptions.hybrid.model`` / ``.choice``)."""
    if preset not in LUNG_PRESETS:
        raise InvalidInputError(f"unknown lung preset {preset!r}; expected one of {list(LUNG_PRESETS)}")
    return with_lung_model(LUNG_PRESETS[preset](), model=model, choice=choice)


def with_lung_model(options: LungOptions, *, model: str | Path | None = None,
                    choice: str | Path | None = None) -> LungOptions:
    """``options`` with the lung network ``model`` and classifier ``choice`` files (each
    when given; their existence is checked here, their content when loaded).

    Raises:
        DataUnavailableError: a file is missing.
    """
    from covidct.lungs.choice import lung_choice_path
    from covidct.lungs.network import lung_model_path
    from covidct.provenance import existing_model_file

    changes: dict[str, str] = {}
    if model is not None:
        for part in str(model).split("+"):
            existing_model_file(part, lung_model_path(), "lung model", "covidct train lungs-unet-2mm")
        changes["model"] = str(model)
    if choice is not None:
        existing_model_file(choice, lung_choice_path(), "lung choice classifier",
                            "covidct train lung-choice")
        changes["choice"] = str(choice)
    if not changes:
        return options
    return dataclasses.replace(options, hybrid=dataclasses.replace(options.hybrid, **changes))


def resolve_input(path: str | Path) -> Path:
    """Resolve ``sample:NAME`` to a sample CT path; other paths are returned unchanged."""
    text = str(path)
    if text.startswith(SAMPLE_PREFIX):
        name = text[len(SAMPLE_PREFIX):]
        if name not in SAMPLES:
            raise InvalidInputError(
                f"unknown sample {name!r} in {text!r}; expected one of "
                + ", ".join(SAMPLE_PREFIX + n for n in SAMPLES)
            )
        return sample_path(name)
    return Path(text)


@dataclass(frozen=True, eq=False)
class SegmentationRun:
    """Result of :func:`segment_study`: the volume, its lung mask, and what was written."""

    volume: CTVolume
    lungs: np.ndarray
    output: Path | None
    seconds: float

    def lung_volumes_ml(self) -> dict[str, float]:
        """Volume of the right lung, left lung and both, in ml."""
        vox = self.volume.voxel_volume_ml
        right = float(np.count_nonzero(self.lungs == 1)) * vox
        left = float(np.count_nonzero(self.lungs == 2)) * vox
        return {"right": right, "left": left, "total": right + left}


@dataclass(frozen=True, eq=False)
class QuantificationRun:
    """Result of :func:`quantify_study`: the quantification and the files written."""

    volume: CTVolume
    lungs: np.ndarray
    result: LesionQuantification
    outputs: dict[str, Path] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    provenance: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe summary: the quantification plus source, timings and written files."""
        out = self.result.to_dict()
        out["source"] = str(self.volume.metadata.get("source_path", ""))
        out["shape_zyx"] = list(self.volume.shape)
        out["spacing_mm_zyx"] = [round(s, 4) for s in self.volume.spacing]
        out["seconds"] = {k: round(v, 3) for k, v in self.seconds.items()}
        out["outputs"] = {k: str(v) for k, v in self.outputs.items()}
        choice = self.volume.metadata.get("series_choice")
        if choice:
            out["series_choice"] = [dict(row) for row in choice]
        if self.provenance:
            out["provenance"] = self.provenance
        return out


def segment_study(
    path: str | Path,
    output: str | Path | None = None,
    *,
    method: Literal["refined", "classical", "model", "hybrid"] = DEFAULT_METHOD,
    series_uid: str | None = None,
    lung_preset: str = "default",
    lung_model: str | Path | None = None,
    lung_choice: str | Path | None = None,
) -> SegmentationRun:
    """Read a CT, segment its lungs, and write the mask (0/1 right/2 left) on its grid.

    ``lung_preset`` names the segmentation settings (:data:`LUNG_PRESETS`); ``lung_model``
    and ``lung_choice`` replace the shipped lung network and classifier (:func:`lung_options`).

    Raises:
        InvalidInputError: also when ``output`` is the input (by any spelling) or lies in it.
    """
    source = resolve_input(path)
    if output is not None:  # before the (slow) segmentation
        check_output(output, [source], suffixes=WRITE_SUFFIXES, what="mask")
    options = lung_options(lung_preset, model=lung_model, choice=lung_choice)
    _check_lung_model(method, options)
    volume = read_ct(source, series_uid=series_uid)
    t0 = time.perf_counter()
    lungs = segment_lungs(volume, method=method, options=options)
    seconds = time.perf_counter() - t0
    written = write_image(lungs, volume, output) if output is not None else None
    return SegmentationRun(volume=volume, lungs=lungs, output=written, seconds=seconds)


def _check_lung_model(method: str, options: LungOptions) -> None:
    """Refuse a lung network or classifier that ``method`` would not use."""
    if options.hybrid.model is not None and method not in ("model", "hybrid"):
        raise InvalidInputError(f"a lung network (--lung-model) is used by the methods hybrid and model, not {method}")
    if options.hybrid.choice is not None and method != "hybrid":
        raise InvalidInputError(f"a lung choice classifier (--lung-choice) is used by the method hybrid, not {method}")


def _write_outputs(run: QuantificationRun, out: Path, *, segmented: bool) -> None:
    """Masks, montage and JSON of a quantification; on any failure none of them is left."""
    from covidct.viz import save_montage  # matplotlib only when pictures are asked for

    volume, result, outputs = run.volume, run.result, run.outputs
    written: list[Path] = []
    try:
        if segmented:
            outputs["lungs"] = write_image(run.lungs, volume, out / "lungs.nii.gz")
            written.append(outputs["lungs"])
        outputs["lesions"] = write_image(result.lesion_mask, volume, out / "lesions.nii.gz")
        written.append(outputs["lesions"])
        view = Layout.of(volume.direction).display  # axial slices, front up, the right on the left
        outputs["montage"] = save_montage(
            view.lay(volume.array),
            out / "montage.png",
            spacing=view.lay_spacing(volume.spacing),
            lungs=view.lay(run.lungs),
            lesions=view.lay(result.lesion_mask),
            title=f"{Path(str(volume.metadata.get('source_path', 'CT'))).name}: "
            f"{100 * result.lesion_fraction:.1f}% of lung involved ({result.ct_category})",
            warnings=result.warnings,
        )
        written.append(outputs["montage"])
        write_json(run.to_dict(), outputs["json"], what="quantification")
    except BaseException:
        for path in written:
            path.unlink(missing_ok=True)
        raise


def quantify_study(
    path: str | Path,
    *,
    lungs_path: str | Path | None = None,
    out_dir: str | Path | None = None,
    series_uid: str | None = None,
    lung_preset: str = "default",
    lesion_model: str | Path | None = None,
    lung_model: str | Path | None = None,
    lung_choice: str | Path | None = None,
) -> QuantificationRun:
    """Read a CT, get its lungs (given mask or segmentation with ``lung_preset``), quantify.

    ``lesion_model`` (a Mask R-CNN ``model.pt`` or run folder) replaces the HU lesion method
    with :func:`covidct.detection.volume.segment_lesions_model`; ``lung_model`` and
    ``lung_choice`` the shipped lung network and classifier (:func:`lung_options`).

    With ``out_dir``, writes ``lungs.nii.gz`` (when segmented here), ``lesions.nii.gz``
    (0 none, 1 GGO, 2 consolidation), ``quantification.json`` and ``montage.png``; none of
    them may be one of the inputs. The result's ``warnings`` (coarse pixels, thick slices)
    go into the JSON and the montage title.
    """
    source = resolve_input(path)
    if lungs_path is not None and (lung_model is not None or lung_choice is not None):
        raise InvalidInputError("a lung network or classifier (--lung-model, --lung-choice) segments the lungs; "
                                "it does not go with a given lung mask (--lungs)")
    lung_opts = lung_options(lung_preset, model=lung_model, choice=lung_choice)
    if out_dir is not None:
        for name in OUTPUT_NAMES:
            check_output(Path(out_dir) / name, [source, lungs_path], what="output")
    seconds: dict[str, float] = {}
    t0 = time.perf_counter()
    volume = read_ct(source, series_uid=series_uid)
    seconds["read"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    quant_options = QuantOptions()
    steps: dict[str, Any] = {"lesions": quant_options}
    if lungs_path is not None:
        lungs = read_mask(lungs_path, volume)
    else:
        lungs = segment_lungs(volume, options=lung_opts)
        seconds["segment_lungs"] = time.perf_counter() - t0
        steps.update(lung_preset=lung_preset, lungs=lung_opts,
                     lung_model=lung_model_record(DEFAULT_METHOD, lung_opts))
    t0 = time.perf_counter()
    lesion_mask = None
    if lesion_model is not None:
        from covidct.detection.volume import segment_lesions_model

        lesion_mask = segment_lesions_model(volume, lungs, lesion_model)
        steps["lesion_model"] = str(lesion_model)
    result = quantify(volume, lungs, options=quant_options, lesion_mask=lesion_mask)
    seconds["quantify"] = time.perf_counter() - t0

    outputs: dict[str, Path] = {}
    if out_dir is not None:
        outputs["json"] = Path(out_dir) / "quantification.json"
    record = None
    if out_dir is not None:
        from covidct.provenance import provenance

        inputs = [source, *(p for p in (lungs_path, lesion_model) if p is not None)]
        record = provenance(options=steps, inputs=inputs)
    run = QuantificationRun(volume=volume, lungs=lungs, result=result, outputs=outputs,
                            seconds=seconds, provenance=record or {})
    if out_dir is not None:
        _write_outputs(run, Path(out_dir), segmented=lungs_path is None)
    return run
