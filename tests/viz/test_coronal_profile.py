"""Coronal view (head up for either slice direction) and the lesion profile plot."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from covidct.errors import InvalidInputError
from covidct.viz import coronal_view, save_coronal, save_lesion_profile

IDENTITY = (1.0, 0, 0, 0, 1.0, 0, 0, 0, 1.0)
FLIPPED_Z = (1.0, 0, 0, 0, 1.0, 0, 0, 0, -1.0)


def _marked() -> np.ndarray:
    vol = np.zeros((10, 6, 8), np.int16)
    vol[9, 2, 3] = 1  # the last slice: the head when z grows superior
    return vol


def test_coronal_view_puts_head_on_top():
    view, sp = coronal_view(_marked(), (5.0, 0.7, 0.8), IDENTITY)
    assert view.shape == (6, 10, 8) and sp == (0.7, 5.0, 0.8)
    assert view[2, 0, 3] == 1  # row 0 is the top of the picture
    view, _ = coronal_view(_marked(), (5.0, 0.7, 0.8), FLIPPED_Z)
    assert view[2, 9, 3] == 1  # z grows towards the feet: the last slice goes to the bottom


def test_save_coronal_and_profile(tmp_path):
    ct = np.full((20, 30, 40), -1000, np.int16)
    lungs = np.zeros(ct.shape, np.uint8)
    lungs[2:18, 5:25, 5:18], lungs[2:18, 5:25, 22:35] = 1, 2
    heat = np.zeros(ct.shape, np.float32)
    heat[8:12, 10:20, 8:14] = 0.9
    png = save_coronal(ct, tmp_path / "c.png", spacing=(2.5, 1.0, 1.0), lungs=lungs, heatmap=heat)
    assert Image.open(png).size[0] > 100
    with pytest.raises(InvalidInputError):
        save_coronal(ct, tmp_path / "x.png", spacing=(2.5, 1.0, 1.0), index=99)
    prof = {"position_mm": [10.0, 5.0, 0.0], "ggo_fraction": [0.1, 0.2, 0.0],
            "consolidation_fraction": [0.0, 0.05, 0.0]}
    assert Image.open(save_lesion_profile(prof, tmp_path / "p.png")).size[1] > 100
    with pytest.raises(InvalidInputError):
        save_lesion_profile({**prof, "ggo_fraction": [0.1]}, tmp_path / "q.png")
