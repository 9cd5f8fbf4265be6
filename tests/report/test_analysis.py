"""Analysis helpers: the craniocaudal profile, input warnings, the demo model and its card."""

from __future__ import annotations

import json

import numpy as np
import pytest

from covidct.io import CTVolume
from covidct.provenance import sha256_file
from covidct.report import lesion_profile
from covidct.report.analysis import study_warnings
from covidct.report.models import demo_model_path, resolve_model


def test_profile_known_answer():
    lungs = np.zeros((4, 4, 4), np.uint8)
    lungs[1:4, :2, :] = 1  # 8 lung voxels in slices 1, 2, 3
    les = np.zeros_like(lungs)
    les[1, 0, :2] = 1  # 2 GGO voxels in slice 1
    les[3, 0, :] = 2  # 4 consolidation voxels in slice 3
    les[3, 3, :] = 2  # outside the lungs: not counted
    ct = CTVolume(np.full((4, 4, 4), -800, np.int16), spacing=(2.0, 1.0, 1.0),
                  origin=(0.0, 0.0, 10.0))
    p = lesion_profile(lungs, les, ct)
    assert p["position_mm"] == [16.0, 14.0, 12.0]  # head first (z grows superior)
    assert p["lesion_fraction"] == [0.5, 0.0, 0.25]
    assert p["ggo_fraction"] == [0.0, 0.0, 0.25]
    assert p["consolidation_fraction"] == [0.5, 0.0, 0.0]
    assert p["lung_ml"] == pytest.approx([0.016] * 3)


def test_input_warnings():
    arr = np.full((4, 8, 8), -1000, np.int16)
    fine = CTVolume(arr, spacing=(1.0, 0.7, 0.7))
    assert study_warnings(fine) == []
    coarse = CTVolume(arr, spacing=(6.0, 3.0, 3.0), metadata={"warnings": ("uneven slice spacing",)})
    w = " | ".join(study_warnings(coarse))
    assert "coarse pixels" in w and "thick slices" in w and "uneven slice spacing" in w
    off = CTVolume(np.full((4, 8, 8), 24, np.int16), spacing=(1.0, 0.7, 0.7))
    assert any("calibrated HU" in x for x in study_warnings(off))


@pytest.mark.skipif(demo_model_path() is None, reason="demo model not installed")
def test_demo_model_card():
    path = demo_model_path()
    card = json.loads(path.with_name(path.stem + ".card.json").read_text())
    assert card["sha256"] == sha256_file(path)
    assert path.stat().st_size < 10e6
    assert card["trained_on"].startswith("SIMULATED") and card["radiomic_features"] is False
    for task in ("ct", "nat", "severity"):
        auc = card["metrics_held_out"][task]["auc"]
        assert auc["ci_low"] <= auc["value"] <= auc["ci_high"]
    model, why = resolve_model("demo")
    assert why == "" and model.card == card and model.tasks == ("ct", "nat", "severity")
    assert resolve_model("") == (None, "no 3D model asked for")
