"""Shared fixtures: paths to the real sample CTs (skipped with a reason when absent), and the
hardware a training run on ``accelerator: auto`` must report."""

from __future__ import annotations

from pathlib import Path

import numpy as np
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


#: a reformat's ITK axes (x, y, z) as the axial series' ones, and flips of its ITK axes
_PLANES = {"coronal": ((0, 2, 1), (False, True, False)),  # slices front to back, head at row 0
           "sagittal": ((1, 2, 0), (False, True, True)),  # slices right to left, head at row 0
           "ras": ((0, 1, 2), (True, True, False))}  # axial, as a NIfTI in RAS stores it


class Reformat:
    """A standard-layout study stored as a coronal or sagittal reformat (or in RAS), built with
    SimpleITK (``PermuteAxes`` and ``Flip`` keep every voxel where it is in the patient):
    ``volume(ct)`` and ``mask(m)`` give the reformat, ``back(m)`` lays a reformat's array
    back on the standard grid."""

    def __init__(self, plane: str) -> None:
        self.plane = plane
        self.order, self.flip = _PLANES[plane]

    def _image(self, array, spacing=(1.0, 1.0, 1.0), origin=(0.0, 0.0, 0.0), direction=None):
        import SimpleITK as sitk

        image = sitk.GetImageFromArray(np.ascontiguousarray(array))
        image.SetSpacing(tuple(float(s) for s in spacing[::-1]))
        image.SetOrigin(origin)
        if direction is not None:
            image.SetDirection(direction)
        return sitk.Flip(sitk.PermuteAxes(image, self.order), self.flip)

    def volume(self, ct):
        """``ct`` (a :class:`CTVolume`) stored as the reformat."""
        from covidct.io import CTVolume

        image = self._image(ct.array, ct.spacing, ct.origin, ct.direction)
        return CTVolume.from_sitk(image, metadata=ct.metadata, is_hu=ct.is_hu)

    def mask(self, array):
        """A ``(z, y, x)`` array of the standard grid as the reformat stores it."""
        import SimpleITK as sitk

        return sitk.GetArrayFromImage(self._image(array))

    def back(self, array):
        """A reformat's array laid back on the standard grid (the inverse of :meth:`mask`)."""
        import SimpleITK as sitk

        image = sitk.Flip(sitk.GetImageFromArray(np.ascontiguousarray(array)), self.flip)
        inverse = [self.order.index(i) for i in range(3)]
        return sitk.GetArrayFromImage(sitk.PermuteAxes(image, inverse))


@pytest.fixture(params=["coronal", "sagittal"])
def reformat(request) -> Reformat:
    """A coronal and a sagittal reformat (:class:`Reformat`) of a study."""
    return Reformat(request.param)


@pytest.fixture(params=["ras", "coronal", "sagittal"])
def stored_order(request) -> Reformat:
    """A study stored in RAS, as a coronal and as a sagittal reformat (:class:`Reformat`)."""
    return Reformat(request.param)
