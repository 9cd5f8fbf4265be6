"""Phantom findings painted into a CT: exact masks, the asked involvement, input untouched."""

from __future__ import annotations

import numpy as np
import pytest

from covidct.errors import GeometryMismatchError, InvalidInputError
from covidct.io import CTVolume
from covidct.phantom import paint_into, simulate_case
from covidct.phantom.hybrid import noise_sd


def test_noise_sd_known_answer():
    rng = np.random.default_rng(0)
    hu = (-100.0 + rng.normal(0.0, 12.0, (8, 64, 64))).astype(np.float32)
    region = np.ones(hu.shape, bool)
    assert noise_sd(hu, region) == pytest.approx(12.0, rel=0.05)
    assert noise_sd(hu, np.zeros(hu.shape, bool)) == 0.0


@pytest.mark.parametrize(("diagnosis", "fraction"), [("covid", 0.3), ("pneumonia", 0.2)])
def test_paint_into_gives_the_asked_involvement(diagnosis, fraction):
    case = simulate_case(0, diagnosis="control", size="tiny")
    before = case.volume.array.copy()
    sick, lesions = paint_into(case.volume, case.lungs, diagnosis=diagnosis, fraction=fraction,
                               consolidation_share=0.5, seed=1)
    lung = case.lungs > 0
    assert not (lesions[~lung] > 0).any()  # findings only inside the lungs
    assert (lesions[lung] > 0).mean() == pytest.approx(fraction, abs=0.02)
    assert set(np.unique(lesions)) == {0, 1, 2}
    assert sick.shape == case.volume.shape and sick.spacing == case.volume.spacing
    cons = lesions == 2
    assert np.median(sick.array[cons]) > -100  # consolidation is soft-tissue dense
    np.testing.assert_array_equal(sick.array[~lung], case.volume.array[~lung])
    np.testing.assert_array_equal(case.volume.array, before)  # the input is not modified
    again, _ = paint_into(case.volume, case.lungs, diagnosis=diagnosis, fraction=fraction,
                          consolidation_share=0.5, seed=1)
    np.testing.assert_array_equal(again.array, sick.array)  # deterministic


def test_paint_into_bad_inputs():
    case = simulate_case(0, diagnosis="control", size="tiny")
    with pytest.raises(InvalidInputError, match="diagnosis"):
        paint_into(case.volume, case.lungs, diagnosis="flu")
    with pytest.raises(InvalidInputError, match="fraction"):
        paint_into(case.volume, case.lungs, fraction=1.5)
    with pytest.raises(InvalidInputError, match="both lungs"):
        paint_into(case.volume, (case.lungs == 1).astype(np.uint8))
    with pytest.raises(GeometryMismatchError):
        paint_into(case.volume, case.lungs[1:])
    flat = CTVolume(case.volume.array, case.volume.spacing)
    assert paint_into(flat, case.lungs, fraction=0.1)[1].any()


def test_painted_cases_are_the_named_sets_paint_into_gives():
    """Each case of a named set is ``paint_into`` with that set's finding and seed, in order."""
    from covidct.phantom import PAINTED_SETS, painted_cases

    case = simulate_case(0, diagnosis="control", size="tiny")
    got = list(painted_cases(case.volume, case.lungs, ["standard"]))
    findings, first = PAINTED_SETS["standard"]
    assert [(name, label) for name, label, _, _ in got] == [
        ("standard", f"{d} {f:.2f}/{c:.1f} s{first + i}") for i, (d, f, c) in enumerate(findings)]
    diagnosis, fraction, cons = findings[2]
    sick, lesions = paint_into(case.volume, case.lungs, diagnosis=diagnosis, fraction=fraction,
                               consolidation_share=cons, seed=first + 2)
    np.testing.assert_array_equal(got[2][2].array, sick.array)
    np.testing.assert_array_equal(got[2][3], lesions)
    with pytest.raises(InvalidInputError, match="unknown painted case sets"):
        next(painted_cases(case.volume, case.lungs, ["standard", "nope"]))
