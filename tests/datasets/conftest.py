"""Fixtures for dataset tests: tiny simulated cases and a 512 x 512 stand-in case."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest

from covidct.io import CTVolume


@dataclass(frozen=True, eq=False)
class StandInCase:
    """A SimulatedCase-like case with arbitrary arrays (for exact pixel checks)."""

    case_id: str
    patient_id: str
    volume: CTVolume
    lungs: np.ndarray
    lesions: np.ndarray
    labels: Mapping[str, Any] = field(default_factory=dict)


@pytest.fixture(scope="session")
def tiny_cases() -> list:
    """Six tiny phantom cases: two per diagnosis (control, pneumonia, covid)."""
    from covidct.phantom import simulate_case

    diagnoses = ["control", "pneumonia", "covid"] * 2
    return [simulate_case(100 + i, diagnosis=d, size="tiny") for i, d in enumerate(diagnoses)]


@pytest.fixture()
def square_case() -> StandInCase:
    """Three 512 x 512 slices of 0.7 mm pixels: random HU in the lung window, known masks."""
    rng = np.random.default_rng(7)
    hu = rng.integers(-1350, 151, size=(3, 512, 512)).astype(np.int16)
    hu[:, :20, :] = -1000  # air band above the body
    lungs = np.zeros(hu.shape, np.uint8)
    lungs[:, 100:400, 60:250] = 1
    lungs[:, 100:400, 270:460] = 2
    lesions = np.zeros(hu.shape, np.uint8)
    lesions[:, 150:200, 100:150] = 1
    lesions[:, 300:330, 300:340] = 2
    volume = CTVolume(hu, spacing=(5.0, 0.7, 0.7))
    labels = {
        "diagnosis": "covid",
        "ct_positive": 1,
        "nat_positive": 1,
        "severity": 2,
        "morbidity": "Severe",
        "age": 60,
        "sex": "F",
        "ct_category": "CT-1",
    }
    return StandInCase("square-1", "PSQ_1", volume, lungs, lesions, labels)
