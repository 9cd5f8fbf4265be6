"""False lesion on the clear real lungs (benchmarks/false_lesion_real.py, docs/validation.md)."""

from __future__ import annotations

import numpy as np
import pytest

from covidct.io import read_ct
from covidct.lesions import quantify
from covidct.lungs import LEFT, segment_lungs


@pytest.mark.slow
def test_lung1_clear_lungs_under_two_percent(real_ct_paths):
    volume = read_ct(real_ct_paths["lung1"])
    assert quantify(volume, segment_lungs(volume)).lesion_fraction <= 0.02


@pytest.mark.slow
def test_lung2_spleen_top_is_not_lung_and_tumour_is(real_ct_paths):
    volume = read_ct(real_ct_paths["lung2"])
    labels = segment_lungs(volume)
    # the spleen top rises into the left hemithorax at slices 17-18, ringed by lung:
    # an organ dome, not lung (it read as 60 mL of lesion before)
    assert not (labels[17:19, 290:310, 370:395] > 0).any()
    tumour = read_ct(real_ct_paths["lung2"].with_name("lung2_label.nrrd")).array > 0
    assert (labels[tumour] == LEFT).mean() >= 0.65  # the tumour stays in the left lung
    lesion = quantify(volume, labels).lesion_mask > 0
    outside = (labels > 0) & ~tumour
    # 0.017 measured (0.024 without the hilar vessel test); target 0.02
    assert np.count_nonzero(lesion & outside) / np.count_nonzero(outside) <= 0.02
