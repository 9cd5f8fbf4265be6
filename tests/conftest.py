"""Shared fixtures: paths to the real sample CTs (skipped with a reason when absent)."""

from __future__ import annotations

from pathlib import Path

import pytest

REAL_CT_DIR = Path(__file__).resolve().parents[2] / "shared" / "data" / "real-ct"


def _real_ct(name: str) -> Path:
    path = REAL_CT_DIR / name
    if not path.is_file():
        pytest.skip(f"real sample CT {name} not found in {REAL_CT_DIR}")
    return path


@pytest.fixture(scope="session")
def real_ct_paths() -> dict[str, Path]:
    """{'lung1': Path, 'lung2': Path} of the two real sample CTs (NRRD, HU int16)."""
    return {"lung1": _real_ct("lung1_image.nrrd"), "lung2": _real_ct("lung2_image.nrrd")}
