"""report.json: every number of the report, the settings of each step, versions, timings.

:func:`build_record` turns a :class:`~covidct.report.analysis.StudyAnalysis` into the JSON
document; :func:`validate_record` checks it against the JSON Schema shipped in the package
(``covidct/report/report.schema.json``).
"""

from __future__ import annotations

import json
import math
from functools import lru_cache
from importlib import resources
from typing import Any

from covidct.errors import InvalidInputError
from covidct.io import describe
from covidct.lungs.weights import lung_model_record
from covidct.provenance import options_dict, provenance
from covidct.report.analysis import StudyAnalysis, lesion_profile
from covidct.report.models import model_summary

__all__ = ["RESEARCH_USE", "SCHEMA_ID", "build_record", "report_schema", "validate_record"]

SCHEMA_ID = "covidct-report/1"
RESEARCH_USE = "Research use only, not for diagnosis."


def _probabilities(analysis: StudyAnalysis) -> dict[str, Any]:
    from covidct.training.run import CLASS_NAMES

    out = {}
    for task, p in (analysis.probabilities or {}).items():
        names = CLASS_NAMES.get(task, [str(i) for i in range(len(p))])
        probs = [float(v) for v in p]
        out[task] = {"classes": list(names), "p": probs,
                     "predicted": names[int(max(range(len(probs)), key=probs.__getitem__))]}
    return out


def _model_block(analysis: StudyAnalysis) -> dict[str, Any] | None:
    if analysis.model is None:
        return None
    return {**model_summary(analysis.model), "probabilities": _probabilities(analysis)}


def _heatmap_block(analysis: StudyAnalysis) -> dict[str, Any]:
    step = next((s for s in analysis.steps if s.name == "heat map"), None)
    block: dict[str, Any] = {"status": step.status if step else "skipped",
                             "note": step.note if step else "", "task": analysis.options.heatmap_task}
    if analysis.heatmap is not None:
        block["max"] = float(analysis.heatmap.max())
    return block


def _summary(analysis: StudyAnalysis) -> dict[str, Any]:
    q = analysis.quantification
    probs = analysis.probabilities or {}
    covid = float(probs["ct"][1]) if "ct" in probs else None
    return {
        "lung_volume_ml": q.lung_volume_ml,
        "lesion_volume_ml": q.lesion_volume_ml,
        "lesion_fraction": q.lesion_fraction,
        "ggo_fraction": q.ggo_fraction,
        "consolidation_fraction": q.consolidation_fraction,
        "outline_consolidated": q.outline_consolidated,
        "ct_category": q.ct_category,
        "covid_ct_probability": covid,
    }


def build_record(
    analysis: StudyAnalysis, *, name: str, outputs: dict[str, str]
) -> dict[str, Any]:
    """The report.json document of one analysis (JSON-safe, schema :data:`SCHEMA_ID`).

    Args:
        analysis: the analysis.
        name: the study's display name.
        outputs: kind -> file name (relative to the report folder) of every file written.
    """
    q = analysis.quantification
    quant = q.to_dict()
    lesion_options = quant.pop("options")
    lungs = analysis.lungs
    vox = analysis.ct.voxel_volume_ml
    right, left = float((lungs == 1).sum()) * vox, float((lungs == 2).sum()) * vox
    timings = {s.name: round(s.seconds, 3) for s in analysis.steps}
    timings["total"] = round(analysis.seconds, 3)
    opts = analysis.options
    model_hash = [analysis.model.sha256] if analysis.model is not None else []
    record = {
        "schema": SCHEMA_ID,
        "research_use": RESEARCH_USE,
        "study": {"name": name, "source": str(analysis.source),
                  "description": describe(analysis.ct)},
        "summary": _summary(analysis),
        "lungs": {"method": opts.lung_method, "options": options_dict(opts.lungs),
                  "lung_model": lung_model_record(opts.lung_method, opts.lungs),
                  "volume_ml": {"right": right, "left": left, "total": right + left}},
        "lesions": {"method": analysis.lesion_method,
                    "lesion_model": opts.lesion_model or None,
                    "options": lesion_options, "quantification": quant},
        "profile": lesion_profile(lungs, q.lesion_mask, analysis.ct),
        "model": _model_block(analysis),
        "heatmap": _heatmap_block(analysis),
        "steps": [{"name": s.name, "status": s.status, "seconds": round(s.seconds, 3),
                   "note": s.note} for s in analysis.steps],
        "timings_s": timings,
        "warnings": list(analysis.warnings),
        "outputs": dict(outputs),
        "provenance": provenance(
            options={"analyze": opts, "model_sha256": model_hash},
            inputs=[analysis.source],
        ),
    }
    return _finite(record)


def _finite(value: Any) -> Any:
    """Replace NaN/inf (not JSON) by None, recursively."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


@lru_cache(maxsize=1)
def report_schema() -> dict[str, Any]:
    """The JSON Schema of report.json (shipped as ``covidct/report/report.schema.json``)."""
    text = (resources.files("covidct.report") / "report.schema.json").read_text()
    return json.loads(text)


def validate_record(record: dict[str, Any]) -> None:
    """Raise InvalidInputError naming the first place where ``record`` breaks the schema."""
    import jsonschema

    validator = jsonschema.Draft202012Validator(report_schema())
    errors = sorted(validator.iter_errors(record), key=lambda e: list(e.absolute_path))
    if errors:
        err = errors[0]
        where = "/".join(str(p) for p in err.absolute_path) or "(root)"
        raise InvalidInputError(f"report.json does not follow its schema at {where}: {err.message}")
