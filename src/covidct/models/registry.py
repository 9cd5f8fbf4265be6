"""Build any covidct network by name, and count parameters.

Names: "squeezenet3d", "shiftnet3d", "resnet3d", "resnet3d-shift", "decovnet" (single-task,
option ``num_classes``) and "covid-mtl" (options of :class:`COVIDMTL`: ``tasks``,
``backbone``, ``backbone_options``, ``n_features``, ``use_afnn``...). "covid-mtl-<backbone>"
is a shorthand for ``build_model("covid-mtl", backbone="<backbone>")``.
"""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

from covidct.errors import InvalidInputError
from covidct.models.backbones import BACKBONES
from covidct.models.decovnet import decovnet
from covidct.models.mtl import COVIDMTL
from covidct.models.resnet3d import resnet3d, resnet3d_shift
from covidct.models.squeezenet3d import shiftnet3d, squeezenet3d

__all__ = ["MODELS", "available_models", "build_model", "count_parameters"]

#: model name -> builder(**options).
MODELS: dict[str, Callable[..., nn.Module]] = {
    "squeezenet3d": squeezenet3d,
    "shiftnet3d": shiftnet3d,
    "resnet3d": resnet3d,
    "resnet3d-shift": resnet3d_shift,
    "decovnet": decovnet,
    "covid-mtl": COVIDMTL,
}


def available_models() -> list[str]:
    """All names :func:`build_model` accepts (including the "covid-mtl-<backbone>" forms)."""
    return sorted(MODELS) + [f"covid-mtl-{b}" for b in sorted(BACKBONES)]


def build_model(name: str, **kwargs: object) -> nn.Module:
    """Build the network called ``name`` (case-insensitive, "_" = "-") with its options.

    Raises:
        InvalidInputError: unknown name or options the builder does not accept.
    """
    key = name.strip().lower().replace("_", "-")
    if key.startswith("covid-mtl-") and key[len("covid-mtl-") :] in BACKBONES:
        if "backbone" in kwargs:
            raise InvalidInputError(f"model {name!r} already names its backbone")
        kwargs = {**kwargs, "backbone": key[len("covid-mtl-") :]}
        key = "covid-mtl"
    if key not in MODELS:
        raise InvalidInputError(f"unknown model {name!r}; expected one of {available_models()}")
    try:
        return MODELS[key](**kwargs)
    except TypeError as exc:
        raise InvalidInputError(f"bad options for model {name!r}: {exc}") from exc


def count_parameters(model: nn.Module, *, trainable_only: bool = True) -> int:
    """Number of (trainable, by default) parameters of ``model`` (buffers excluded)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)
