"""The disease gate (gate.py): ground-glass and dense shares per lung, known answers."""

from __future__ import annotations

import numpy as np
import pytest

from covidct.lungs import LungOptions
from covidct.lungs.gate import disease_gate, lesion_shares
from covidct.lungs.options import GateOptions

SPACING = (3.0, 1.25, 1.25)  # (sz, sy, sx) mm: the 2.5 mm interior erosion is 2 pixels


def _block_lungs(ggo_rows: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Two 20 x 40 x 40 box lungs at -850 HU; the first ``ggo_rows`` rows of the right
    lung's interior at -500 HU (ground glass)."""
    labels = np.zeros((20, 60, 100), np.uint8)
    labels[:, 10:50, 5:45] = 1
    labels[:, 10:50, 55:95] = 2
    hu = np.full(labels.shape, 40.0, np.float32)
    hu[labels > 0] = -850.0
    if ggo_rows:
        hu[:, 12 : 12 + ggo_rows, 7:43] = -500.0
    return labels, hu


def test_lesion_shares_known_answer():
    labels, hu = _block_lungs(ggo_rows=9)
    (g_r, g_l), (d_r, d_l) = lesion_shares(labels, hu, SPACING, LungOptions())
    # interior after a 2-pixel in-plane erosion: 36 x 36; 9 of its 36 rows are ground glass
    assert g_r == 0.25 and g_l == 0.0
    assert d_r == 0.0 and d_l == 0.0
    assert disease_gate(labels, hu, SPACING, LungOptions()).open
    assert not disease_gate(*_block_lungs(ggo_rows=3), SPACING, LungOptions()).open  # 3/36


def test_interior_erosion_is_in_mm_and_at_least_two_pixels():
    labels, hu = _block_lungs(ggo_rows=9)
    # 0.625 mm pixels: the 2.5 mm erosion is 4 pixels; interior rows 14-45 and columns
    # 9-40 (32 x 32), of which rows 14-20 are ground glass
    (g_r, _), _ = lesion_shares(labels, hu, (3.0, 0.625, 0.625), LungOptions())
    assert g_r == pytest.approx(7 * 32 / 32**2)
    # 2.5 mm pixels: one pixel would be 2.5 mm, but the partial-volume rim takes two
    (g_r, _), _ = lesion_shares(labels, hu, (3.0, 2.5, 2.5), LungOptions())
    assert g_r == 0.25
    wide = LungOptions(gate=GateOptions(interior_mm=5.0))  # 4 pixels of 1.25 mm
    (g_r, _), _ = lesion_shares(labels, hu, SPACING, wide)
    assert g_r == pytest.approx(7 * 32 / 32**2)


def test_diseased_and_growing_lungs():
    labels, hu = _block_lungs(ggo_rows=9)  # right lung 25 % ground glass
    # left lung: 8 of 36 interior rows dense (22 %): neither share alone reaches its
    # threshold, but the lung carries more than grow_share (0.19) of lesion tissue
    hu[:, 12:20, 57:93] = 20.0
    gate = disease_gate(labels, hu, SPACING, LungOptions())
    assert gate.diseased == (1,) and gate.growing == (1, 2)
    assert gate.dense[1] == pytest.approx(8 / 36)
    # with 2 ground-glass rows (6 %) the sum reaches min_lesion_share (0.25)
    hu[:, 20:22, 57:93] = -500.0
    assert disease_gate(labels, hu, SPACING, LungOptions()).diseased == (1, 2)
    strict = LungOptions(gate=GateOptions(min_lesion_share=0.5))
    assert disease_gate(labels, hu, SPACING, strict).diseased == (1,)


def test_clear_lungs_closed_gate():
    labels, hu = _block_lungs()
    gate = disease_gate(labels, hu, SPACING, LungOptions())
    assert not gate.open and gate.diseased == () and gate.growing == ()
    assert gate.ggo == (0.0, 0.0) and gate.dense == (0.0, 0.0)
