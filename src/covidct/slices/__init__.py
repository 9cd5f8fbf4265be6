"""2D slice classifiers (the UCSD COVID-CT tutorial as a tool): datasets, transforms,
torchvision backbones, the tutorial's training policy, runs, evaluation, and slice models
applied to the lung slices of a CT. Slice images are 8-bit grey levels, not HU.
"""

from covidct.slices.config import PRESETS, SliceConfig, load_slice_config
from covidct.slices.model_file import SliceModel, load_slice_model, save_slice_model
from covidct.slices.models import ARCHS, build_slice_model, cam_layer
from covidct.slices.policy import PlateauPolicy, PolicyOptions, TutorialPolicy
from covidct.slices.predict import PredictSlicesOptions, SliceCurve, predict_ct_slices
from covidct.slices.transforms import TRANSFORM_PRESETS, SliceTransform, get_transform

__all__ = [
    "ARCHS", "PRESETS", "TRANSFORM_PRESETS", "PlateauPolicy", "PolicyOptions", "PredictSlicesOptions",
    "SliceConfig", "SliceCurve", "SliceModel", "SliceTransform", "TutorialPolicy", "build_slice_model",
    "cam_layer", "get_transform", "load_slice_config", "load_slice_model", "predict_ct_slices",
    "save_slice_model",
]
