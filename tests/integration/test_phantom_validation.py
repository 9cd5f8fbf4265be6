"""Lung segmentation and lesion quantification against the phantom's exact ground truth.

Measured (see docs/validation.md; lung Dice of ``segment_lungs(case.volume) > 0`` against
``case.lungs > 0``): "small" COVID seed 5 (54 % involved) classical 0.80 -> refined 0.937,
seed 6 (34 %) 0.957; "medium" control 1: 0.983, pneumonia 2: 0.974, COVID 5: 0.935,
COVID 6: 0.962, COVID 23 (77 %, white lung): 0.920, severe COVID 20 (81 %): 0.937.
The segmentation tests assert these measured floors; the unmet part of the issue-3 target
(Dice >= 0.95 at 50-80 % involvement, and quantification within 5 points with the segmented
lungs in those cases) is listed in docs/validation.md; quantification with the true lungs is
checked in tests/lesions/test_phantom_quant.py.
"""

from __future__ import annotations

import numpy as np
import pytest

from covidct.lesions import quantify
from covidct.lungs import segment_lungs
from covidct.phantom import PhantomOptions, simulate_case

_SEVERE = PhantomOptions(p_covid_severe=1.0, p_covid_ct_negative=0.0)


def _dice(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a > 0, b > 0
    return 2.0 * float((a & b).sum()) / max(1, int(a.sum() + b.sum()))


@pytest.fixture(scope="module")
def small_covid():
    out = {}
    for seed in (5, 6):
        case = simulate_case(seed, diagnosis="covid", size="small")
        classical = segment_lungs(case.volume, method="classical")
        out[seed] = (case, segment_lungs(case.volume), classical)
    return out


def test_small_bilateral_covid_dice(small_covid):
    case, refined, classical = small_covid[5]
    assert case.labels["lesion_fraction"] > 0.5  # bilateral, severe
    d_ref, d_cl = _dice(refined, case.lungs), _dice(classical, case.lungs)
    assert d_ref >= 0.93  # measured 0.937
    assert d_ref >= d_cl + 0.05  # the dense lung the threshold loses is recovered
    case6, refined6, _ = small_covid[6]
    assert _dice(refined6, case6.lungs) >= 0.95  # measured 0.957


def test_small_covid_quantification_moderate(small_covid):
    case, refined, _ = small_covid[6]
    true = float(case.labels["lesion_fraction"])  # 0.340
    assert abs(quantify(case.volume, case.lungs).lesion_fraction - true) <= 0.05  # 0.380
    assert abs(quantify(case.volume, refined).lesion_fraction - true) <= 0.08  # 0.344


def test_segmentation_does_not_modify_input(small_covid):
    case, refined, _ = small_covid[6]
    before = case.volume.array.copy()
    np.testing.assert_array_equal(segment_lungs(case.volume), refined)  # deterministic
    np.testing.assert_array_equal(case.volume.array, before)


_MEDIUM = [  # measured Dice: 0.983, 0.974, 0.962, 0.935, 0.920, 0.937
    (1, "control", None, 0.975),
    (2, "pneumonia", None, 0.97),
    (6, "covid", None, 0.955),
    (5, "covid", None, 0.93),
    (23, "covid", None, 0.915),
    (20, "covid", _SEVERE, 0.93),
]


@pytest.mark.slow
@pytest.mark.parametrize(("seed", "diagnosis", "options", "measured_floor"), _MEDIUM)
def test_medium_dice_measured(seed, diagnosis, options, measured_floor):
    case = simulate_case(seed, diagnosis=diagnosis, size="medium", options=options)
    assert _dice(segment_lungs(case.volume), case.lungs) >= measured_floor
