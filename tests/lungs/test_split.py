"""Right / left labelling of the lung mask (split.py): known answers."""

from __future__ import annotations

import numpy as np
import pytest

from covidct.lungs import LEFT, RIGHT
from covidct.lungs.grid import Orientation
from covidct.lungs.split import label_sides

IDENTITY = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0)
FLIP_X = (-1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0)


def _two_boxes(bridge: bool) -> np.ndarray:
    mask = np.zeros((6, 40, 60), bool)
    mask[:, 5:35, 5:25] = True
    mask[:, 5:35, 35:55] = True
    if bridge:
        mask[:, 18:22, 25:35] = True  # a thin junction line between the lungs
    return mask


@pytest.mark.parametrize("bridge", [False, True])
def test_label_sides_known_answer(bridge):
    mask = _two_boxes(bridge)
    orient = Orientation.from_direction(IDENTITY, (2.0, 1.0, 1.0))
    labels = label_sides(mask, orient, 30.0, (2.0, 1.0, 1.0), min_voxels=10)
    # identity direction: patient right at low x
    assert (labels[:, 5:35, 5:25] == RIGHT).all()
    assert (labels[:, 5:35, 35:55] == LEFT).all()
    if bridge:  # the junction is split between the two lungs, none of it lost
        assert (labels[mask] > 0).all()
    flipped = label_sides(mask, Orientation.from_direction(FLIP_X, (2.0, 1.0, 1.0)), 30.0,
                          (2.0, 1.0, 1.0), min_voxels=10)
    assert (flipped[:, 5:35, 5:25] == LEFT).all() and (flipped[:, 5:35, 35:55] == RIGHT).all()


def test_label_sides_drops_small_parts():
    mask = _two_boxes(False)
    mask[0, 0, 0] = True
    labels = label_sides(mask, Orientation.from_direction(IDENTITY, (2.0, 1.0, 1.0)), 30.0,
                         (2.0, 1.0, 1.0), min_voxels=10)
    assert labels[0, 0, 0] == 0
