"""Hand-crafted features: radiomics (pyradiomics presets), HOG, and cohort feature tables."""

from covidct.features.hog import HogPCA, hog_features, largest_lung_slice
from covidct.features.presets import RADIOMICS_PRESETS, RadiomicsPreset, get_preset, resolve_preset
from covidct.features.radiomics import (
    extract_radiomics,
    extract_radiomics_reference,
    feature_names,
    paper_columns,
)

__all__ = [
    "RADIOMICS_PRESETS",
    "HogPCA",
    "RadiomicsPreset",
    "extract_dataset_features",
    "extract_radiomics",
    "extract_radiomics_reference",
    "feature_names",
    "get_preset",
    "hog_features",
    "largest_lung_slice",
    "paper_columns",
    "resolve_preset",
]


def __getattr__(name: str):  # batch pulls in Dask; import it only when asked
    if name == "extract_dataset_features":
        from covidct.features.batch import extract_dataset_features

        return extract_dataset_features
    raise AttributeError(name)
