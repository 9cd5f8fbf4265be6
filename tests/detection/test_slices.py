"""Slice masks -> Mask R-CNN instances (by pixel value, 8-connected, > 100 px)."""

from __future__ import annotations

import numpy as np
import pytest

from covidct.datasets._common import write_png
from covidct.datasets.cncb import read_cncb_seg
from covidct.detection.slices import (
    LesionSliceDataset,
    class_mask,
    image_tensor,
    instances_from_mask,
)
from covidct.errors import InvalidInputError


def _mask() -> np.ndarray:
    m = np.zeros((64, 64), dtype=np.uint8)
    m[2:62, 2:62] = 1                    # lung field: background
    m[5:15, 5:20] = 2                    # GGO 150 px
    m[15:25, 20:35] = 2                  # GGO 150 px touching the first only at a corner
    m[40:50, 5:15] = 2                   # GGO 100 px: dropped (<= 100)
    m[40:50, 40:60] = 3                  # consolidation 200 px
    m[50:55, 40:60] = 2                  # GGO 100 px below it: dropped alone, merged in "merge"
    return m


def test_both_labels_by_pixel_value_and_8_connectivity():
    inst = instances_from_mask(_mask(), "both")
    assert inst["labels"].tolist() == [1, 2]
    assert inst["areas"].tolist() == [300, 200]  # the two corner-touching GGO squares are one
    assert inst["boxes"].tolist() == [[5, 5, 35, 25], [40, 40, 60, 50]]
    assert inst["masks"].shape == (2, 64, 64) and inst["masks"].sum() == 500


def test_ggo_and_merge_types():
    ggo = instances_from_mask(_mask(), "ggo")
    assert ggo["labels"].tolist() == [1] and ggo["areas"].tolist() == [300]
    merge = instances_from_mask(_mask(), "merge")
    assert merge["labels"].tolist() == [1, 1]
    assert sorted(merge["areas"].tolist()) == [300, 300]  # 200 C + 100 GGO joined


def test_empty_slice_and_bad_input():
    inst = instances_from_mask(np.ones((32, 32), np.uint8), "both")
    assert inst["boxes"].shape == (0, 4) and inst["masks"].shape == (0, 32, 32)
    with pytest.raises(InvalidInputError):
        class_mask(np.zeros((2, 3, 4), np.uint8), "both")
    with pytest.raises(InvalidInputError):
        instances_from_mask(_mask(), "lesions")


def test_dataset_reads_cncb_layout(tmp_path):
    grey = (np.arange(64 * 64) % 256).astype(np.uint8).reshape(64, 64)
    write_png(grey, tmp_path / "imgs" / "p1_0003.png")
    write_png(_mask(), tmp_path / "masks" / "p1_0003.png")
    write_png(grey, tmp_path / "imgs" / "p2_0001.png")
    write_png(np.zeros((64, 64), np.uint8), tmp_path / "masks" / "p2_0001.png")
    ds = LesionSliceDataset(read_cncb_seg(tmp_path), tmp_path, mask_type="both")
    image, target = ds[0]
    assert image.shape == (3, 64, 64) and float(image.max()) <= 1.0
    assert np.allclose(image[1].numpy() * 255, grey)
    assert target["labels"].tolist() == [1, 2]
    assert len(ds[1][1]["labels"]) == 0  # slices without lesions are kept
    assert image_tensor(grey).dtype.is_floating_point


def test_hflip_moves_boxes_with_the_masks(tmp_path):
    """A flipped slice's boxes are the boxes of its flipped masks; flipping twice is identity."""
    import torch

    from covidct.detection.slices import hflip_detection

    inst = instances_from_mask(_mask(), "both")
    image = torch.rand(3, 64, 64)
    target = {"boxes": torch.from_numpy(inst["boxes"]), "labels": torch.from_numpy(inst["labels"]),
              "masks": torch.from_numpy(inst["masks"])}
    flipped, ft = hflip_detection(image, target)
    assert torch.equal(flipped, image.flip(-1))
    for box, mask in zip(ft["boxes"], ft["masks"], strict=True):
        ys, xs = np.nonzero(mask.numpy())
        assert box.tolist() == [xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]
    back, bt = hflip_detection(flipped, ft)
    assert torch.equal(back, image) and torch.equal(bt["boxes"], target["boxes"])
    write_png((np.arange(64 * 64) % 256).astype(np.uint8).reshape(64, 64), tmp_path / "imgs" / "p1_0003.png")
    write_png(_mask(), tmp_path / "masks" / "p1_0003.png")
    ds = LesionSliceDataset(read_cncb_seg(tmp_path), tmp_path, mask_type="both", hflip=1.0)
    assert torch.equal(ds[0][1]["masks"], target["masks"].flip(-1))
