"""Pointing numbers: known answers and patient-level summaries."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from covidct.errors import InvalidInputError
from covidct.explain import lesion_pointing, pointing_summary


def test_known_shares():
    heat = np.zeros((4, 10))
    heat[0, :2] = 3.0  # 6 units in the lesion
    heat[3, 5:] = 0.4  # 2 units elsewhere
    lesions = np.zeros((4, 10), bool)
    lesions[0, :4] = True  # 4 of 40 pixels
    r = lesion_pointing(heat, lesions)
    assert r["heat_share"] == pytest.approx(0.75) and r["volume_share"] == pytest.approx(0.1)
    assert r["ratio"] == pytest.approx(7.5) and r["hit"] == 1.0
    region = np.zeros((4, 10), bool)
    region[:, 5:] = True  # the lesion lies outside this region
    with pytest.raises(InvalidInputError):
        lesion_pointing(heat, lesions, region)


def test_uniform_heat_has_ratio_one_and_region_is_respected():
    lesions = np.zeros((3, 5, 5), bool)
    lesions[1, 1:3, 1:3] = True
    r = lesion_pointing(np.ones((3, 5, 5)), lesions)
    assert r["ratio"] == pytest.approx(1.0)
    region = np.zeros_like(lesions)
    region[1] = True
    heat = np.zeros((3, 5, 5))
    heat[0] = 9.0  # outside the region: ignored
    heat[1, 4, 4] = 1.0
    r = lesion_pointing(heat, lesions, region)
    assert r["heat_share"] == 0.0 and r["volume_share"] == pytest.approx(4 / 25) and r["hit"] == 0.0


def test_summary_averages_patients_first():
    rec = pd.DataFrame({"patient_id": ["a", "a", "b"], "heat_share": [0.2, 0.4, 0.9],
                        "volume_share": [0.1, 0.1, 0.3], "ratio": [2.0, 4.0, 3.0], "hit": [1, 0, 1]})
    s = pointing_summary(rec, bootstrap=200)
    assert s["n_patients"] == 2 and s["n_cases"] == 3
    assert s["heat_share"]["value"] == pytest.approx((0.3 + 0.9) / 2)
    assert s["ratio"]["value"] == pytest.approx(3.0)
    assert s["ratio"]["ci_low"] == s["ratio"]["ci_high"] == pytest.approx(3.0)  # no spread
    assert 0.3 <= s["heat_share"]["ci_low"] <= s["heat_share"]["ci_high"] <= 0.9
    with pytest.raises(InvalidInputError):
        pointing_summary(rec.drop(columns="hit"))
