"""Layout: a volume laid as a DICOM axial series, checked against SimpleITK's DICOMOrient."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import SimpleITK as sitk

from covidct.io import CTVolume
from covidct.io.layout import Layout, display_view


def _directions():
    """The 48 axis-aligned directions (row-major ITK: columns = index axes x, y, z)."""
    for perm in itertools.permutations(range(3)):
        for signs in itertools.product((1.0, -1.0), repeat=3):
            d = np.zeros((3, 3))
            for column, (row, sign) in enumerate(zip(perm, signs, strict=True)):
                d[row, column] = sign
            yield tuple(d.ravel())


@pytest.mark.parametrize("direction", list(_directions()))
def test_lay_volume_is_dicom_orient_to_lps(direction):
    rng = np.random.default_rng(0)
    array = rng.normal(size=(4, 5, 6)).astype(np.float32)
    origin, spacing = (10.0, -20.0, 30.0), (2.5, 0.9, 0.7)
    image = sitk.GetImageFromArray(array)
    image.SetSpacing(spacing[::-1])
    image.SetOrigin(origin)
    image.SetDirection(direction)
    ref = sitk.DICOMOrient(image, "LPS")
    layout = Layout.of(direction)
    laid = layout.lay_volume(CTVolume(array, spacing, origin=origin, direction=direction))
    np.testing.assert_array_equal(laid.array, sitk.GetArrayFromImage(ref))
    np.testing.assert_allclose(laid.spacing, ref.GetSpacing()[::-1])
    np.testing.assert_allclose(laid.origin, ref.GetOrigin(), atol=1e-9)
    np.testing.assert_allclose(laid.direction, np.eye(3).ravel(), atol=1e-12)
    np.testing.assert_array_equal(layout.unlay(laid.array), array)
    assert layout.is_standard == (direction == tuple(np.eye(3).ravel()))


def test_known_layouts():
    ras = Layout.of((-1.0, 0, 0, 0, -1.0, 0, 0, 0, 1.0))
    assert ras == Layout(flips=(1, 2)) and ras.axial and ras.display == ras
    head_first = Layout.of((1.0, 0, 0, 0, 1.0, 0, 0, 0, -1.0))
    assert head_first.axial and head_first.display.is_standard  # an axial file keeps its slice order
    coronal = Layout.of((1.0, 0, 0, 0, 0, 1.0, 0, -1.0, 0))  # rows: head to feet, slices front to back
    assert coronal == Layout(order=(1, 0, 2), flips=(0,)) and not coronal.axial
    assert coronal.display == coronal  # a reformat is shown laid the standard way
    assert coronal.lay_spacing((0.7, 5.0, 0.8)) == (5.0, 0.7, 0.8)


def test_display_view_lays_the_array_and_its_masks_alike():
    """A NIfTI in RAS is flipped in-plane, a coronal reformat transposed to axial slices: the
    array and every mask move together, ``None`` stays ``None``."""
    array = np.arange(4 * 5 * 6, dtype=np.int16).reshape(4, 5, 6)
    mask = (array % 7 == 0).astype(np.uint8)
    ras = CTVolume(array, (2.5, 0.9, 0.7), direction=(-1.0, 0, 0, 0, -1.0, 0, 0, 0, 1.0))
    laid, (m, none), spacing = display_view(ras, mask, None)
    np.testing.assert_array_equal(laid, array[:, ::-1, ::-1])
    np.testing.assert_array_equal(m, mask[:, ::-1, ::-1])
    assert none is None and spacing == (2.5, 0.9, 0.7)
    coronal = CTVolume(array, (0.7, 5.0, 0.8), direction=(1.0, 0, 0, 0, 0, 1.0, 0, -1.0, 0))
    laid, (m,), spacing = display_view(coronal, mask)
    np.testing.assert_array_equal(laid, np.flip(np.transpose(array, (1, 0, 2)), 0))
    np.testing.assert_array_equal(m, np.flip(np.transpose(mask, (1, 0, 2)), 0))
    assert spacing == (5.0, 0.7, 0.8)


def test_an_oblique_axial_scan_lies_as_it_is():
    """A gantry tilt of 10 degrees is still an axial series: nothing to transpose or flip."""
    t = np.deg2rad(10.0)
    tilt = (1.0, 0.0, 0.0, 0.0, np.cos(t), -np.sin(t), 0.0, np.sin(t), np.cos(t))
    assert Layout.of(tilt).is_standard


def test_slice_plane_names_the_plane_of_the_files_slices(reformat):
    from covidct.io.describe import describe, slice_plane

    assert slice_plane((-1.0, 0, 0, 0, -1.0, 0, 0, 0, 1.0)) == "axial"
    volume = reformat.volume(CTVolume(np.zeros((4, 5, 6), np.int16), (2.5, 0.9, 0.7)))
    assert describe(volume)["slices"] == reformat.plane
