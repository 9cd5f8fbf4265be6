"""Fixtures of the report tests: one small simulated COVID-19 study, analysed once per session."""

from __future__ import annotations

from pathlib import Path

import pytest

from covidct.io.write import write_volume
from covidct.phantom import simulate_case
from covidct.report import AnalyzeOptions, analyze_study

ABDOMEN = Path(__file__).resolve().parents[3] / "shared" / "data" / "real-abdomen"


@pytest.fixture(scope="session")
def sim_case():
    """A 'tiny' simulated COVID-19 case (32 x 64 x 64 voxels) with its true masks."""
    return simulate_case(5, diagnosis="covid", size="tiny")


@pytest.fixture(scope="session")
def sim_nifti(sim_case, tmp_path_factory) -> Path:
    """The simulated case written as NIfTI."""
    return write_volume(sim_case.volume, tmp_path_factory.mktemp("sim") / "covid.nii.gz")


@pytest.fixture(scope="session")
def sim_analysis(sim_nifti):
    """The simulated study analysed with the default options (the demo model when installed)."""
    return analyze_study(sim_nifti, options=AnalyzeOptions())


@pytest.fixture(scope="session")
def abdomen_dir() -> Path:
    """The real abdominal CTs (no lungs in view); skipped when absent."""
    if not ABDOMEN.is_dir():
        pytest.skip(f"real abdominal CTs not available at {ABDOMEN}")
    return ABDOMEN
