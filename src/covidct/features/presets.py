"""Radiomics presets: which pyradiomics image types, feature classes and settings to use.

A :class:`RadiomicsPreset` says, per pyradiomics image type (``Original``, ``Wavelet``...),
which feature classes to compute and, per class, which features (``None`` = every
non-deprecated feature of the class). Unlike a single pyradiomics extractor, the classes may
differ between image types, which the COVID-MTL feature set needs.

Other settings come from a standard pyradiomics YAML parameter file (:func:`resolve_preset`):
its ``setting`` section overrides the preset's settings; an ``imageType`` section replaces the
image types and a ``featureClass`` section the classes (applied to every image type, as in
pyradiomics).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any

from covidct.errors import InvalidInputError

__all__ = [
    "COVID_MTL_WAVELET_GLCM",
    "RADIOMICS_PRESETS",
    "RadiomicsPreset",
    "get_preset",
    "resolve_preset",
]

ClassSpec = Mapping[str, "tuple[str, ...] | None"]

#: The 22 GLCM features COVID-MTL computed on wavelet sub-bands (all but SumAverage and MCC).
COVID_MTL_WAVELET_GLCM: tuple[str, ...] = (
    "Autocorrelation", "ClusterProminence", "ClusterShade", "ClusterTendency", "Contrast",
    "Correlation", "DifferenceAverage", "DifferenceEntropy", "DifferenceVariance", "Id", "Idm",
    "Idmn", "Idn", "Imc1", "Imc2", "InverseVariance", "JointAverage", "JointEnergy",
    "JointEntropy", "MaximumProbability", "SumEntropy", "SumSquares",
)


@dataclass(frozen=True)
class RadiomicsPreset:
    """A named radiomics configuration.

    Attributes:
        name: preset name.
        settings: pyradiomics settings (``binWidth``, ``resampledPixelSpacing`` in mm (x, y, z),
            ``interpolator``...), passed to pyradiomics unchanged.
        image_types: pyradiomics image type -> its custom settings (e.g. ``{"Wavelet": {}}``).
        classes: pyradiomics image type -> {feature class -> feature names or None (all)}.
        description: one line for reports.
    """

    name: str
    settings: Mapping[str, Any]
    image_types: Mapping[str, Mapping[str, Any]]
    classes: Mapping[str, ClassSpec]
    description: str = ""
    source: str = field(default="builtin")

    def __post_init__(self) -> None:
        missing = [t for t in self.image_types if t not in self.classes]
        if missing:
            raise InvalidInputError(f"preset {self.name!r}: no feature classes for image types {missing}")
        object.__setattr__(self, "settings", MappingProxyType(dict(self.settings)))
        object.__setattr__(self, "image_types", MappingProxyType(
            {k: MappingProxyType(dict(v)) for k, v in self.image_types.items()}))
        object.__setattr__(self, "classes", MappingProxyType(
            {k: MappingProxyType({c: (None if n is None else tuple(n)) for c, n in v.items()})
             for k, v in self.classes.items()}))

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe description (written into reports)."""
        return {
            "name": self.name,
            "description": self.description,
            "source": self.source,
            "settings": dict(self.settings),
            "image_types": {k: dict(v) for k, v in self.image_types.items()},
            "classes": {k: {c: (None if n is None else list(n)) for c, n in v.items()}
                        for k, v in self.classes.items()},
        }


_COVID_MTL = RadiomicsPreset(
    name="covid-mtl",
    description=(
        "COVID-MTL radiomics: 1 mm B-spline resampling, binWidth 25; original image first order "
        "(18) + GLCM (24) + GLRLM (16) + GLSZM (16); 8 wavelet sub-bands GLCM (22) + GLRLM (16): "
        "378 features"
    ),
    settings={
        "binWidth": 25,
        "resampledPixelSpacing": [1.0, 1.0, 1.0],
        "interpolator": "sitkBSpline",
        "label": 1,
    },
    image_types={"Original": {}, "Wavelet": {}},
    classes={
        "Original": {"firstorder": None, "glcm": None, "glrlm": None, "glszm": None},
        "Wavelet": {"glcm": COVID_MTL_WAVELET_GLCM, "glrlm": None},
    },
)

_FAST = replace(
    _COVID_MTL,
    name="fast",
    description="Original image only, first order + GLCM, 2 mm resampling (quick looks, tests)",
    settings={"binWidth": 25, "resampledPixelSpacing": [2.0, 2.0, 2.0],
              "interpolator": "sitkBSpline", "label": 1},
    image_types={"Original": {}},
    classes={"Original": {"firstorder": None, "glcm": None}},
)

#: Named presets.
RADIOMICS_PRESETS: Mapping[str, RadiomicsPreset] = MappingProxyType(
    {p.name: p for p in (_COVID_MTL, _FAST)}
)


def get_preset(name: str | RadiomicsPreset) -> RadiomicsPreset:
    """The preset called ``name`` (or ``name`` itself when it is already a preset)."""
    if isinstance(name, RadiomicsPreset):
        return name
    try:
        return RADIOMICS_PRESETS[name]
    except KeyError:
        raise InvalidInputError(
            f"unknown radiomics preset {name!r}; expected one of {sorted(RADIOMICS_PRESETS)}"
        ) from None


def _read_params(path: Path) -> dict[str, Any]:
    import yaml
    from radiomics.featureextractor import RadiomicsFeatureExtractor

    if not path.is_file():
        raise InvalidInputError(f"pyradiomics parameter file {path} does not exist")
    try:
        RadiomicsFeatureExtractor(str(path))  # pyradiomics' own schema validation
        data = yaml.safe_load(path.read_text()) or {}
    except Exception as exc:
        raise InvalidInputError(f"invalid pyradiomics parameter file {path}: {exc}") from exc
    if not isinstance(data, dict):
        raise InvalidInputError(f"pyradiomics parameter file {path} must hold a mapping")
    return data


def resolve_preset(preset: str | RadiomicsPreset = "covid-mtl",
                   params: str | Path | None = None) -> RadiomicsPreset:
    """The preset, with a pyradiomics YAML parameter file applied on top when given.

    ``setting`` entries override the preset's settings; an ``imageType`` section replaces
    the image types; a ``featureClass`` section replaces the classes of every image type
    (a class with an empty list or null means all its features).
    """
    base = get_preset(preset)
    if params is None:
        return base
    path = Path(params)
    data = _read_params(path)
    settings = {**base.settings, **(data.get("setting") or {})}
    image_types = dict(base.image_types)
    classes = {k: dict(v) for k, v in base.classes.items()}
    if data.get("imageType"):
        image_types = {k: dict(v or {}) for k, v in data["imageType"].items()}
    if data.get("featureClass"):
        spec = {c: (tuple(n) if n else None) for c, n in data["featureClass"].items()}
        classes = {t: dict(spec) for t in image_types}
    else:
        for t in image_types:
            if t not in classes:
                raise InvalidInputError(
                    f"{path}: image type {t} is not in preset {base.name!r}; add a featureClass section"
                )
    classes = {t: classes[t] for t in image_types}
    return RadiomicsPreset(name=f"{base.name}+{path.name}", settings=settings,
                           image_types=image_types, classes=classes,
                           description=f"{base.description}; overridden by {path}",
                           source=str(path))
