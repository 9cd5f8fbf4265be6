"""The thoracic-cavity growth (cavity.py): rib slab, growth into subpleural consolidation."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage as ndi

from covidct.lungs import LEFT, RIGHT, LungOptions
from covidct.lungs.cavity import _slice_order, cavity_fill, rib_slab
from covidct.lungs.gate import disease_gate
from covidct.lungs.options import CavityOptions

SPACING = (5.0, 1.25, 1.25)  # (sz, sy, sx) mm
MIDLINE = 80.0


def _chest() -> dict[str, np.ndarray]:
    """Eight axial slices: a body ellipse with a rib ring, soft tissue (40 HU) in the
    mediastinum, two lungs at -850 HU, the right one (low x) with ground glass in its
    interior and a crescent of consolidation (0 HU) between it and the ribs, the left one
    clear with the same crescent of consolidation beside it."""
    shape = (8, 120, 160)
    yy, xx = np.mgrid[: shape[1], : shape[2]]
    r = np.hypot((yy - 60) / 56.0, (xx - 80) / 76.0)
    hu = np.full(shape, -1000.0, np.float32)
    body = np.broadcast_to(r < 1.0, shape).copy()
    hu[:, r < 1.0] = 40.0
    hu[:, (r >= 0.88) & (r < 0.95)] = 700.0  # the ribs
    right = np.hypot((yy - 60) / 34.0, (xx - 44) / 20.0) < 1.0
    left = np.hypot((yy - 60) / 34.0, (xx - 116) / 20.0) < 1.0
    # a crescent 2 cm deep against the ribs, lateral to each lung
    crescent_r = (np.hypot((yy - 60) / 44.0, (xx - 44) / 32.0) < 1.0) & ~right & (xx < 30)
    crescent_l = (np.hypot((yy - 60) / 44.0, (xx - 116) / 32.0) < 1.0) & ~left & (xx > 130)
    crescent_r &= r < 0.86
    crescent_l &= r < 0.86
    labels = np.zeros(shape, np.uint8)
    labels[:, right] = RIGHT
    labels[:, left] = LEFT
    hu[:, right | left] = -850.0
    hu[:, right & (yy < 60)] = -500.0  # ground glass: the gate opens on the right lung
    hu[:, crescent_r | crescent_l] = 0.0
    return {"hu": hu, "body": body, "labels": labels,
            "crescent_r": np.broadcast_to(crescent_r, shape),
            "crescent_l": np.broadcast_to(crescent_l, shape)}


def _fill(c: dict[str, np.ndarray], opts: LungOptions) -> np.ndarray:
    smooth = ndi.median_filter(c["hu"], size=(1, 3, 3))
    gate = disease_gate(c["labels"], c["hu"], SPACING, opts)
    return cavity_fill(c["labels"], smooth, rib_slab(smooth, SPACING, opts), c["body"],
                       np.zeros(c["hu"].shape, bool), SPACING, opts, gate, midline_x=MIDLINE)


def test_rib_slab_projects_bone_over_the_slab():
    bone = np.zeros((9, 10, 10), np.float32)
    bone[4, 5, 5] = 300.0  # one rib pixel in the middle slice
    slab = rib_slab(bone, SPACING, LungOptions())  # 10 mm = 2 slices of 5 mm each side
    assert slab[:, 5, 5].tolist() == [False, False, True, True, True, True, True, False, False]
    assert slab.sum() == 5


def test_diseased_lung_grows_into_subpleural_consolidation():
    c = _chest()
    out = _fill(c, LungOptions())
    assert out is not c["labels"] and (c["labels"] == _chest()["labels"]).all()  # input kept
    added = (out > 0) & (c["labels"] == 0)
    taken = (out == RIGHT) & c["crescent_r"]
    assert taken.sum() >= 0.8 * c["crescent_r"].sum()  # most of the crescent is lung now
    assert not (added & ~c["crescent_r"]).any()  # nothing else: not the mediastinum, not ribs
    assert not (out[c["crescent_l"]] > 0).any()  # the clear left lung keeps its outline
    assert (out[c["labels"] > 0] == c["labels"][c["labels"] > 0]).all()  # nothing removed


def test_closed_gate_or_disabled_growth_changes_nothing():
    c = _chest()
    c["hu"][c["hu"] == -500.0] = -850.0  # no ground glass: clear lungs, the gate stays shut
    np.testing.assert_array_equal(_fill(c, LungOptions()), c["labels"])
    c = _chest()
    no_reach = LungOptions(cavity=CavityOptions(band_mm=0.0))  # no outer band to grow into
    np.testing.assert_array_equal(_fill(c, no_reach), c["labels"])


def test_slice_order_carries_the_outline_towards_the_head():
    labels = np.zeros((7, 4, 4), np.uint8)
    labels[:, 1:3, 1:3] = RIGHT
    labels[3, 0, :] = RIGHT  # slice 3 is the widest
    # head at high z: slices 3..0 as they are, then 4, 5, 6 each carried from the one below
    assert list(_slice_order(labels, True)) == [
        (3, None), (2, None), (1, None), (0, None), (4, 3), (5, 4), (6, 5)]
    # head at low z
    assert list(_slice_order(labels, False)) == [
        (3, None), (4, None), (5, None), (6, None), (2, 3), (1, 2), (0, 1)]


def _fill_oriented(c: dict[str, np.ndarray], superior_is_high: bool) -> np.ndarray:
    opts = LungOptions()
    smooth = ndi.median_filter(c["hu"], size=(1, 3, 3))
    gate = disease_gate(c["labels"], c["hu"], SPACING, opts)
    return cavity_fill(c["labels"], smooth, rib_slab(smooth, SPACING, opts), c["body"],
                       np.zeros(c["hu"].shape, bool), SPACING, opts, gate, midline_x=MIDLINE,
                       superior_is_high=superior_is_high)


@pytest.mark.parametrize("superior_is_high", [True, False])
def test_white_lung_apex_is_carried_from_below_but_not_a_base(superior_is_high):
    # the right lung is white (0 HU, no aerated lung left) in the two slices at one end of
    # the scan: lung under the lung of the slice below when that end is the head, nothing
    # when the same slices are the bases (the domes of liver and spleen lie there)
    c = _chest()
    right = c["labels"][4] == RIGHT
    c["labels"][4, 59:61, 30:60] = RIGHT  # slice 4 is the widest
    c["hu"][4, 59:61, 30:60] = -850.0
    end = slice(6, 8) if superior_is_high else slice(0, 2)
    c["hu"][end][:, right] = 0.0
    c["labels"][end] = np.where(c["labels"][end] == RIGHT, 0, c["labels"][end])
    out = _fill_oriented(c, superior_is_high)
    assert (out[end][:, right] == RIGHT).mean() > 0.9  # the white apex is lung
    flipped = _fill_oriented(c, not superior_is_high)
    assert not (flipped[end][:, right] == RIGHT).any()  # the same slices as bases: not
