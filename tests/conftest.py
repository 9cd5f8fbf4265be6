"""Shared fixtures: paths to the real sample CTs (skipped with a reason when absent), and the
hardware a training run on ``accelerator: auto`` must report."""

from __future__ import annotations

from pathlib import Path

import pytest

from covidct.errors import DataUnavailableError
from covidct.io.samples import sample_path


@pytest.fixture(scope="session")
def expected_hardware() -> dict[str, object]:
    """``used_hardware`` of a one-process run with ``accelerator`` and ``precision`` "auto":
    the first GPU in 16-mixed where CUDA is available, else the CPU in 32-true."""
    import torch

    if torch.cuda.is_available():
        return {"device": "cuda", "device_name": torch.cuda.get_device_name(0),
                "precision": "16-mixed", "world_size": 1}
    return {"device": "cpu", "device_name": None, "precision": "32-true", "world_size": 1}


def _real_ct(name: str) -> Path:
    try:
        return sample_path(name, fetch=False)
    except DataUnavailableError as exc:
        pytest.skip(f"real sample CT {name} not available (run `covidct samples --fetch`): {exc}")


@pytest.fixture(scope="session")
def real_ct_paths() -> dict[str, Path]:
    """{'lung1': Path, 'lung2': Path} of the two real sample CTs (NRRD, HU int16).

    Found by :func:`covidct.io.samples.sample_path`: ``COVIDCT_SAMPLE_DIR``,
    ``shared/data/real-ct`` beside the repository, or the user cache.
    """
    return {"lung1": _real_ct("lung1"), "lung2": _real_ct("lung2")}
