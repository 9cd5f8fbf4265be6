"""Lesion quantification on the two real oncology CTs (a tumour, otherwise clear lungs).

Measured (default options, 2.5-5 mm slices; density-gated seeds + fringe, see detect.py):
- threshold lung mask below (test-only, excludes dense tumour touching the mediastinum):
  lung1 0.15 % (2.79 L of lung), lung2 0.19 % (3.83 L).
- ``covidct.lungs.segment_lungs`` mask (includes the tumour and the hila): lung1 1.1 %
  (2.95 L), lung2 4.3 % (4.11 L; most of it the left lower lobe tumour, ~100 ml).
"""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk
from scipy import ndimage as ndi

from covidct.io.volume import CTVolume
from covidct.lesions import quantify
from covidct.viz import save_montage

pytestmark = pytest.mark.realct

EXPECTED_LUNG_ML = {"lung1": 2800.0, "lung2": 3800.0}


def _largest(mask: np.ndarray, n: int) -> list[tuple[int, np.ndarray]]:
    """The ``n`` largest connected parts of ``mask`` as (voxel count, boolean mask)."""
    labels, _ = ndi.label(mask)
    sizes = np.bincount(labels.ravel())
    sizes[0] = 0
    order = [int(c) for c in np.argsort(sizes)[::-1][:n] if sizes[c] > 0]
    return [(int(sizes[c]), labels == c) for c in order]


def rough_lung_mask(image_hu: np.ndarray) -> np.ndarray:
    """TEST-ONLY rough lung labels: air < -400 HU not connected to the outside, holes filled
    per slice, the two largest parts (right = lower x index); one part is split at its
    x-midline. Not a lung segmentation (see covidct.lungs); dense lesions are excluded."""
    air = image_hu < -400
    labels, _ = ndi.label(air)
    edge = np.unique(np.concatenate([labels[:, [0, -1], :].ravel(), labels[:, :, [0, -1]].ravel()]))
    inside = ndi.binary_opening(air & ~np.isin(labels, edge), iterations=2)
    parts = _largest(inside, 2)
    mask = parts[0][1].copy()
    if len(parts) > 1 and parts[1][0] > 0.2 * parts[0][0]:
        mask |= parts[1][1]
    for k in range(mask.shape[0]):
        mask[k] = ndi.binary_fill_holes(ndi.binary_closing(mask[k], iterations=3))
    parts = _largest(mask, 2)
    lungs = np.zeros(image_hu.shape, np.uint8)
    if len(parts) == 2 and parts[1][0] > 0.2 * parts[0][0]:
        (_, a), (_, b) = parts
        right, left = (a, b) if np.nonzero(a)[2].mean() < np.nonzero(b)[2].mean() else (b, a)
        lungs[right], lungs[left] = 1, 2
    else:
        one = parts[0][1]
        xs = np.nonzero(one)[2]
        lungs[one] = 1
        lungs[one & (np.arange(one.shape[2]) >= (xs.min() + xs.max()) / 2)[None, None, :]] = 2
    return lungs


def _read(path) -> CTVolume:
    return CTVolume.from_sitk(sitk.ReadImage(str(path)), metadata={"source_path": str(path)})


@pytest.mark.parametrize("name", ["lung1", "lung2"])
def test_real_ct_threshold_mask_small_fraction(real_ct_paths, name, tmp_path):
    volume = _read(real_ct_paths[name])
    original = volume.array.copy()
    lungs = rough_lung_mask(volume.array)
    q = quantify(volume, lungs)
    print(
        f"{name}: lung {q.lung_volume_ml:.0f} ml, lesion fraction {100 * q.lesion_fraction:.2f} %"
    )
    assert q.lung_volume_ml == pytest.approx(EXPECTED_LUNG_ML[name], rel=0.2)
    assert 0.35 < q.right.lung_volume_ml / q.lung_volume_ml < 0.7
    assert q.lesion_fraction < 0.03
    assert q.ct_category in {"CT-0", "CT-1"}
    np.testing.assert_array_equal(volume.array, original)
    path = save_montage(
        volume.array,
        tmp_path / f"{name}.png",
        spacing=volume.spacing,
        lungs=lungs,
        lesions=q.lesion_mask,
        title=name,
    )
    assert path.stat().st_size > 50_000


@pytest.mark.slow
@pytest.mark.parametrize("name", ["lung1", "lung2"])
def test_real_ct_segment_lungs_small_fraction(real_ct_paths, name):
    lungs_mod = pytest.importorskip("covidct.lungs")
    if not hasattr(lungs_mod, "segment_lungs"):
        pytest.skip("covidct.lungs.segment_lungs not available")
    volume = _read(real_ct_paths[name])
    lungs = lungs_mod.segment_lungs(volume)
    q = quantify(volume, lungs)
    print(
        f"{name}: lung {q.lung_volume_ml:.0f} ml, lesion fraction {100 * q.lesion_fraction:.2f} %"
    )
    assert q.lung_volume_ml == pytest.approx(EXPECTED_LUNG_ML[name], rel=0.25)
    # the tumour is inside this mask and counts as lesion; the rest of the lung is clear
    assert q.lesion_fraction < 0.06
    assert q.ct_category == "CT-1"


def test_real_ct_stored_in_ras_gets_the_same_lesions(real_ct_paths):
    """lung1 stored in RAS (x and y flipped, the direction saying so: the right lung at high x)
    gets the lesion mask of the DICOM-order file: the detector (its hila lie between the right
    lung's last x and the left lung's first) runs on the scan laid the standard way."""
    volume = _read(real_ct_paths["lung1"])
    lungs = rough_lung_mask(volume.array)
    flip = lambda a: np.ascontiguousarray(a[:, ::-1, ::-1])
    ras = CTVolume(flip(volume.array), volume.spacing, direction=(-1.0, 0, 0, 0, -1.0, 0, 0, 0, 1.0))
    a, b = quantify(volume, lungs), quantify(ras, flip(lungs))
    assert np.array_equal(b.lesion_mask[:, ::-1, ::-1], a.lesion_mask)
    assert b.lesion_fraction == a.lesion_fraction
