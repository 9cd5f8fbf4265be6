"""Fixtures of the lung segmentation tests: synthetic chests, segmented once per module."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from synth import Chest, make_chest


@pytest.fixture(scope="session")
def chest() -> Chest:
    return make_chest("none", seed=1)


@pytest.fixture(scope="session")
def phantom():
    """A small phantom chest whose seed no lung model trained or validated on (exact lungs)."""
    from covidct.phantom import simulate_case

    return simulate_case(7, diagnosis="covid", size="small")


@pytest.fixture(scope="session")
def masks(phantom):
    """The phantom's lungs by "refined", "model" and "hybrid" (segmented once)."""
    from covidct.lungs import segment_lungs

    return {m: segment_lungs(phantom.volume, method=m) for m in ("refined", "model", "hybrid")}


def _abdomen_dir() -> Path:
    """``shared/data/real-abdomen`` beside the repository (two real CTs with no lungs)."""
    for parent in Path(__file__).resolve().parents:
        candidate = parent / "shared" / "data" / "real-abdomen"
        if (candidate / "abdomen_ct.nii.gz").is_file():
            return candidate
    pytest.skip("real abdominal CTs not available (shared/data/real-abdomen)")


@pytest.fixture(scope="session")
def real_abdomen_paths() -> dict[str, Path]:
    """{'nifti': abdomen_ct.nii.gz, 'dicom': the DICOM series folder}: real CTs without lungs."""
    base = _abdomen_dir()
    return {"nifti": base / "abdomen_ct.nii.gz", "dicom": base / "dicom"}
