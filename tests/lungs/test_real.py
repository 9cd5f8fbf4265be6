"""segment_lungs on the two real chest CTs (volumes, sides, trachea)."""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk
from scipy import ndimage as ndi

from covidct.io.volume import CTVolume
from covidct.lungs import LEFT, RIGHT, segment_lungs

EXPECTED_ML = {"lung1": 2800.0, "lung2": 3800.0}


@pytest.mark.parametrize("name", ["lung1", "lung2"])
def test_real_ct(real_ct_paths, name):
    vol = CTVolume.from_sitk(sitk.ReadImage(str(real_ct_paths[name])))
    labels = segment_lungs(vol)
    right = (labels == RIGHT).sum() * vol.voxel_volume_ml
    left = (labels == LEFT).sum() * vol.voxel_volume_ml
    total = right + left
    assert abs(total - EXPECTED_ML[name]) <= 0.15 * EXPECTED_ML[name], (right, left)
    assert 0.35 <= right / total <= 0.65
    # right lung at low x (identity direction, LPS)
    assert np.nonzero(labels == RIGHT)[2].mean() < np.nonzero(labels == LEFT)[2].mean()
    # trachea: in the most superior slice with both lungs, the round air lumen nearest the
    # image centre is not lung
    zs = [z for z in range(labels.shape[0]) if (labels[z] == RIGHT).any() and (labels[z] == LEFT).any()]
    z = max(zs)
    lab, n = ndi.label(vol.array[z] < -900)
    area_px = np.bincount(lab.ravel())
    px_mm2 = vol.spacing[1] * vol.spacing[2]
    cands = [i for i in range(1, n + 1) if 80 <= area_px[i] * px_mm2 <= 600]
    cx = labels.shape[2] / 2
    best = min(cands, key=lambda i: abs(np.nonzero(lab == i)[1].mean() - cx))
    assert not labels[z][lab == best].any()
