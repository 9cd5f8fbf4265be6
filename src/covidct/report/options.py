"""Settings of ``covidct analyze``: one frozen dataclass with named presets."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Literal

from covidct.errors import InvalidInputError
from covidct.lesions.options import QuantOptions
from covidct.lungs.options import LungOptions
from covidct.lungs.segment import DEFAULT_METHOD, METHODS
from covidct.provenance import options_dict

__all__ = ["ANALYZE_PRESETS", "AnalyzeOptions", "get_analyze_preset"]

#: model value meaning "the demo model shipped in the package, when installed".
DEMO_MODEL = "demo"


@dataclass(frozen=True, kw_only=True)
class AnalyzeOptions:
    """What :func:`covidct.report.analyze_study` does; written into every report.json.

    Attributes:
        preset: name of the preset these options started from.
        lung_method: a method of :func:`covidct.lungs.segment_lungs` (default ``"hybrid"``).
        lungs: lung segmentation settings.
        lesions: HU lesion-quantification settings (used unless ``lesion_model``).
        lesion_model: path of a Mask R-CNN lesion model (needs ``covidct.detection``), or "".
        model: 3D model for the task probabilities: a portable ``.pt`` or a training run,
            ``"demo"`` for the shipped demo model, or "" for none.
        heatmap: compute a 3D Grad-CAM with the 3D model (when ``covidct.explain`` exists).
        dicom_seg: also write a DICOM Segmentation object (DICOM input only).
        montage_slices: number of axial slices in the report's montage.
        heatmap_task: task whose predicted class the heat map explains.
    """

    preset: str = "default"
    lung_method: Literal["refined", "classical", "model", "hybrid"] = DEFAULT_METHOD
    lungs: LungOptions = field(default_factory=LungOptions.fast)
    lesions: QuantOptions = field(default_factory=QuantOptions)
    lesion_model: str = ""
    model: str = DEMO_MODEL
    heatmap: bool = True
    dicom_seg: bool = False
    montage_slices: int = 12
    heatmap_task: str = "ct"

    def __post_init__(self) -> None:
        if self.lung_method not in METHODS:
            raise InvalidInputError(
                f"lung_method must be one of {', '.join(METHODS)}; got {self.lung_method!r}"
            )
        if not 1 <= int(self.montage_slices) <= 48:
            raise InvalidInputError(f"montage_slices must be 1..48; got {self.montage_slices}")

    def with_changes(self, **changes: Any) -> AnalyzeOptions:
        """A copy with some fields replaced."""
        return replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready copy (nested options included)."""
        return options_dict(self)


#: named presets: "default" uses the demo model when installed; "fast" no 3D model.
ANALYZE_PRESETS: dict[str, AnalyzeOptions] = {
    "default": AnalyzeOptions(),
    "fast": AnalyzeOptions(preset="fast", model="", heatmap=False),
}


def get_analyze_preset(name: str) -> AnalyzeOptions:
    """The preset called ``name`` (see :data:`ANALYZE_PRESETS`)."""
    if name not in ANALYZE_PRESETS:
        raise InvalidInputError(f"unknown analyze preset {name!r}; expected one of {sorted(ANALYZE_PRESETS)}")
    return ANALYZE_PRESETS[name]
