"""3D networks of COVID-MTL and comparators, the multi-task model and its losses.

All networks take (N, 1, D, H, W) float volumes of any size. Single-task classifiers
(:class:`SqueezeNet3D`, ShiftNet3D = SqueezeNet3D + :class:`Shift3D`, :class:`ResNet3D`,
:class:`DeCovNet`) return (N, C) logits; :class:`COVIDMTL` returns a dict task -> logits.
Build by name with :func:`build_model`; multi-task losses in :mod:`covidct.models.losses`.
"""

from __future__ import annotations

from covidct.models.backbones import BACKBONES, build_backbone
from covidct.models.decovnet import DeCovNet, DeCovNetFeatures, decovnet
from covidct.models.losses import (
    EqualWeightLoss,
    MultiTaskLoss,
    RandomWeightedLoss,
    UncertaintyWeightedLoss,
)
from covidct.models.mtl import AFNN, COVIDMTL, PAPER_N_FEATURES, PAPER_TASKS
from covidct.models.registry import MODELS, available_models, build_model, count_parameters
from covidct.models.resnet3d import ResNet3D, ResNet3DFeatures, resnet3d, resnet3d_shift
from covidct.models.shift3d import Shift3D, ShiftDraw, apply_shifts, draw_shifts
from covidct.models.squeezenet3d import (
    Fire3D,
    SqueezeNet3D,
    SqueezeNet3DFeatures,
    shiftnet3d,
    squeezenet3d,
)

__all__ = [
    "AFNN",
    "BACKBONES",
    "COVIDMTL",
    "MODELS",
    "PAPER_N_FEATURES",
    "PAPER_TASKS",
    "DeCovNet",
    "DeCovNetFeatures",
    "EqualWeightLoss",
    "Fire3D",
    "MultiTaskLoss",
    "RandomWeightedLoss",
    "ResNet3D",
    "ResNet3DFeatures",
    "Shift3D",
    "ShiftDraw",
    "SqueezeNet3D",
    "SqueezeNet3DFeatures",
    "UncertaintyWeightedLoss",
    "apply_shifts",
    "available_models",
    "build_backbone",
    "build_model",
    "count_parameters",
    "decovnet",
    "draw_shifts",
    "resnet3d",
    "resnet3d_shift",
    "shiftnet3d",
    "squeezenet3d",
]
