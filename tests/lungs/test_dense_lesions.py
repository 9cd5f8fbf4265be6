"""Dense, infected lung: the refined method recovers what the threshold misses.

Measured (synthetic chest, 3 x 1 x 1 mm, seed 0; `pytest tests/lungs -k dense`):
subpleural consolidation (+40 HU): Dice classical 0.955 -> refined 0.984, lesion volume
kept 1% -> 79%; ground glass (-500 HU): 0.995 vs 0.991 (both keep 98-99% of it: -500 HU
is below the -420 HU threshold); near-white left lung (80% at +20 HU): total Dice
0.758 -> 0.972, left lung 0.31 -> 0.957, lesion kept 0% -> 99.8% (the cavity step runs
here: 84% of the left lung's interior is dense, see ``covidct.lungs.gate.disease_gate``).
"""

from __future__ import annotations

import pytest
from synth import dice, make_chest

from covidct.lungs import LEFT, segment_lungs


def _run(kind: str):
    chest = make_chest(kind, seed=0)
    out = {}
    for method in ("classical", "refined"):
        lab = segment_lungs(chest.hu, chest.spacing, method=method)
        out[method] = (
            dice(lab > 0, chest.truth > 0),
            float(((lab > 0) & chest.lesion).sum()) / chest.lesion.sum(),
            dice(lab == LEFT, chest.truth == 2),
        )
    return out


def test_subpleural_consolidation_recovered():
    r = _run("consolidation")
    assert r["classical"][1] < 0.1  # the threshold drops the consolidation
    assert r["refined"][1] > 0.7  # the refinement brings most of it back
    assert r["refined"][0] > r["classical"][0] + 0.02
    assert r["refined"][0] > 0.97


@pytest.mark.slow
def test_ground_glass_kept():
    r = _run("ggo")
    assert r["refined"][1] > 0.9
    assert r["refined"][0] > 0.97


@pytest.mark.parametrize("kind", ["white"])
def test_near_white_lung_recovered(kind):
    r = _run(kind)
    assert r["classical"][2] < 0.5
    assert r["refined"][2] > 0.94
    assert r["refined"][1] > 0.9
    assert r["refined"][0] > r["classical"][0] + 0.15
