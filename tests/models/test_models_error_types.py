"""Bad model settings raise the project's InvalidInputError (one line from the CLI)."""

from __future__ import annotations

import pytest

from covidct.errors import InvalidInputError
from covidct.models.resnet3d import ResNet3DFeatures
from covidct.models.squeezenet3d import Fire3D, SqueezeNet3DFeatures


def test_bad_layouts_raise_invalid_input():
    with pytest.raises(InvalidInputError, match="must be positive"):
        ResNet3DFeatures(layers=(2, 0, 2, 2))
    with pytest.raises(InvalidInputError, match="bypass needs in_channels"):
        Fire3D(64, 16, 64, 64, bypass=True)
    with pytest.raises(InvalidInputError, match="Fire config mismatch"):
        SqueezeNet3DFeatures(config=[(32, 16, 64, 64, False)])
