"""Writing one report folder: masks, pictures, report.json, report.html, optional DICOM SEG.

Everything is written into a hidden staging folder beside ``out``, checked (report.json
against its schema, report.html for external references), and only then renamed to
``out``; a crash leaves no half-made report. A folder that is not a covidct report is never
replaced, and the report folder may not be (or lie inside, or contain) the input.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import re
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from covidct.errors import InvalidInputError
from covidct.io import write_image
from covidct.io.layout import Layout
from covidct.report.analysis import StudyAnalysis, lesion_profile
from covidct.report.html import render_html
from covidct.report.record import build_record, validate_record

__all__ = ["ReportFiles", "check_out_dir", "external_references", "write_report"]

log = logging.getLogger(__name__)

REPORT_JSON = "report.json"
REPORT_HTML = "report.html"
_EXTERNAL = re.compile(
    r"""(?:\b(?:src|href|action|poster|data)\s*=\s*["']?(?!data:|#)[^"'\s>]+)"""
    r"""|(?:url\(\s*["']?(?!data:)[^)"']+)|(?:@import)""",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class ReportFiles:
    """The report folder and its files (kind -> path)."""

    folder: Path
    files: dict[str, Path]
    record: dict[str, Any]

    @property
    def html(self) -> Path:
        """The report page."""
        return self.files["report_html"]


def external_references(html: str) -> list[str]:
    """Every attribute or CSS reference in ``html`` that would load something from elsewhere."""
    return [m.group(0) for m in _EXTERNAL.finditer(html)]


def check_out_dir(out: Path, source: Path) -> None:
    """Refuse a report folder that is, contains or lies inside the input."""
    out_r, src_r = out.resolve(), source.resolve()
    if out_r == src_r or src_r in out_r.parents or out_r in src_r.parents:
        raise InvalidInputError(f"the report folder {out} must lie outside the input {source}")


def _laid(array: np.ndarray | None, layout: Layout) -> np.ndarray | None:
    return None if array is None else layout.lay(array)


def _pictures(analysis: StudyAnalysis, folder: Path, title: str) -> dict[str, Path]:
    from covidct.viz import save_coronal, save_lesion_profile, save_montage

    ct, q = analysis.ct, analysis.quantification
    n = analysis.options.montage_slices
    # drawn the radiological way whatever the file's order (a NIfTI in RAS is flipped in-plane,
    # a reformat transposed to axial slices); the coronal plane keeps the laid y index, its
    # head-up rows come from the direction
    view = Layout.of(ct.direction).display
    side = Layout(order=view.order, flips=tuple(f for f in view.flips if f != 1))
    axial = functools.partial(_laid, layout=view)
    coronal = functools.partial(_laid, layout=side)
    pics = {
        "montage": save_montage(axial(ct.array), folder / "montage.png", spacing=view.lay_spacing(ct.spacing),
                                lungs=axial(analysis.lungs), lesions=axial(q.lesion_mask), n_slices=n,
                                title=title),
        "coronal": save_coronal(coronal(ct.array), folder / "coronal.png", spacing=side.lay_spacing(ct.spacing),
                                direction=side.lay_direction(ct.direction), lungs=coronal(analysis.lungs),
                                lesions=coronal(q.lesion_mask), heatmap=coronal(analysis.heatmap)),
        "profile": save_lesion_profile(lesion_profile(analysis.lungs, q.lesion_mask, ct),
                                       folder / "profile.png"),
    }
    if analysis.heatmap is not None:
        pics["montage_heat"] = save_montage(
            axial(ct.array), folder / "montage_heatmap.png", spacing=view.lay_spacing(ct.spacing),
            lungs=axial(analysis.lungs),
            heatmap=axial(analysis.heatmap), n_slices=n, title=f"{title}: heat map")
    return pics


def _stage(analysis: StudyAnalysis, stage: Path, name: str) -> ReportFiles:
    ct, q = analysis.ct, analysis.quantification
    files: dict[str, Path] = {
        "lungs": write_image(analysis.lungs, ct, stage / "lungs.nii.gz"),
        "lesions": write_image(q.lesion_mask, ct, stage / "lesions.nii.gz"),
    }
    if analysis.heatmap is not None:
        files["heatmap"] = write_image(analysis.heatmap, ct, stage / "heatmap.nii.gz")
    if analysis.options.dicom_seg:
        from covidct.report.dicom_seg import write_dicom_seg

        files["dicom_seg"] = write_dicom_seg(analysis.source, ct, analysis.lungs, q.lesion_mask,
                                             stage / "segmentation.dcm")
    title = f"{name}: {100 * q.lesion_fraction:.1f} % of lung involved ({q.ct_category})"
    pics = _pictures(analysis, stage / "images", title)
    files.update({f"image_{k}": v for k, v in pics.items()})
    files["report_json"], files["report_html"] = stage / REPORT_JSON, stage / REPORT_HTML
    record = build_record(analysis, name=name,
                          outputs={k: str(v.relative_to(stage)) for k, v in files.items()})
    validate_record(record)
    text = json.dumps(record, indent=2)
    if json.loads(text) != record:
        raise InvalidInputError("report.json does not read back as written")
    files["report_json"].write_text(text)
    html = render_html(record, pics)
    if bad := external_references(html):
        raise InvalidInputError(f"report.html would load external content: {bad[:3]}")
    files["report_html"].write_text(html, encoding="utf-8")
    return ReportFiles(folder=stage, files=files, record=record)


def _publish(stage: Path, out: Path) -> None:
    if out.exists():
        if not out.is_dir():
            raise InvalidInputError(f"{out} exists and is not a folder")
        if any(out.iterdir()) and not (out / REPORT_JSON).is_file():
            raise InvalidInputError(f"{out} is a non-empty folder without a covidct report; "
                                    "choose a new or empty folder")
        old = out.with_name(f".{out.name}.old-{uuid.uuid4().hex[:8]}")
        out.rename(old)
        stage.rename(out)
        shutil.rmtree(old, ignore_errors=True)
    else:
        stage.rename(out)


def write_report(analysis: StudyAnalysis, out: str | Path, *, name: str | None = None) -> ReportFiles:
    """Write the report folder of ``analysis`` to ``out`` (created or replaced atomically).

    Files: ``report.html``, ``report.json``, ``lungs.nii.gz`` (0/1 right/2 left),
    ``lesions.nii.gz`` (0/1 GGO/2 consolidation) on the input's geometry, ``heatmap.nii.gz``
    when a heat map was made, ``segmentation.dcm`` with ``options.dicom_seg``, ``images/``.

    Raises:
        InvalidInputError: ``out`` is the input or an unrelated non-empty folder; a DICOM SEG
            asked for a non-DICOM input.
    """
    out = Path(out)
    check_out_dir(out, analysis.source)
    if out.exists() and out.is_dir() and any(out.iterdir()) and not (out / REPORT_JSON).is_file():
        raise InvalidInputError(f"{out} is a non-empty folder without a covidct report; "
                                "choose a new or empty folder")
    out.parent.mkdir(parents=True, exist_ok=True)
    stage = out.with_name(f".{out.name}.partial-{os.getpid()}-{uuid.uuid4().hex[:6]}")
    stage.mkdir()
    try:
        staged = _stage(analysis, stage, name or _study_name(analysis))
        _publish(stage, out)
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise
    files = {k: out / v.relative_to(stage) for k, v in staged.files.items()}
    log.info("wrote report %s", out / REPORT_HTML)
    return ReportFiles(folder=out, files=files, record=staged.record)


def _study_name(analysis: StudyAnalysis) -> str:
    name = analysis.source.name
    for ext in (".nii.gz", ".nii", ".nrrd", ".mha", ".mhd", ".zip"):
        if name.lower().endswith(ext):
            return name[: -len(ext)]
    return name


def analyze_to_folder(
    source: str | Path,
    out: str | Path,
    *,
    options: Any = None,
    name: str | None = None,
    series_uid: str | None = None,
    progress: Any = None,
) -> ReportFiles:
    """Analyse ``source`` (see :func:`covidct.report.analyze_study`) and write its report to
    ``out`` (see :func:`write_report`). A DICOM SEG asked for a non-DICOM input is refused
    before any work."""
    from covidct.pipeline import resolve_input
    from covidct.report.analysis import analyze_study

    path = resolve_input(source)
    check_out_dir(Path(out), path)
    if options is not None and options.dicom_seg and not _looks_dicom(path):
        raise InvalidInputError(f"--dicom-seg needs a DICOM input (folder, zip or files); got {path}")
    analysis = analyze_study(path, options=options, series_uid=series_uid, progress=progress)
    return write_report(analysis, out, name=name)


def _looks_dicom(path: Path) -> bool:
    if path.is_dir() or path.suffix.lower() == ".zip":
        return True
    return path.is_file() and path.suffix.lower() in ("", ".dcm", ".ima")
