"""Quantification refuses values that are not HU and warns on slices thicker than validated,
in the result, the JSON, the CLI table and the montage title."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from covidct.cli.app import app
from covidct.errors import InvalidInputError
from covidct.io import CTVolume, write_volume
from covidct.lesions import quantify
from covidct.lesions.quantify import VALIDATED_SLICE_MM


def _chest(dz: float) -> tuple[CTVolume, np.ndarray]:
    shape = (10, 40, 40)
    arr = np.full(shape, -1000, np.int16)
    arr[:, 4:36, 3:37] = 40
    lungs = np.zeros(shape, np.uint8)
    lungs[1:9, 10:30, 6:18] = 1
    lungs[1:9, 10:30, 22:34] = 2
    arr[lungs > 0] = -850
    arr[4:6, 15:22, 8:15] = -500  # a GGO patch
    return CTVolume(arr, (dz, 0.8, 0.8)), lungs


def test_thick_slices_warn_thin_do_not():
    thin = quantify(*_chest(1.0))
    thick = quantify(*_chest(20.0))
    assert thin.warnings == ()
    assert len(thick.warnings) == 1 and "20.0 mm slices" in thick.warnings[0]
    assert f"{VALIDATED_SLICE_MM:.1f} mm" in thick.warnings[0]
    assert thick.to_dict()["warnings"] == list(thick.warnings)


def test_values_that_are_not_hu_are_refused():
    vol, lungs = _chest(2.0)
    grey = ((vol.array + 1000) / 8).clip(0, 255).astype(np.uint8)
    with pytest.raises(InvalidInputError, match="Hounsfield"):
        quantify(grey, lungs, vol.spacing)
    with pytest.raises(InvalidInputError, match="no voxel below -500 HU"):
        quantify(vol.array + 1024, lungs, vol.spacing)  # unrescaled stored values
    with pytest.raises(InvalidInputError, match="8-bit"):
        quantify(CTVolume(grey.astype(np.int16), vol.spacing,
                          metadata={"stored_dtype": "8-bit unsigned integer"}), lungs)


def test_cli_thick_slice_warning_in_table_json_and_montage(tmp_path, monkeypatch):
    vol, lungs = _chest(20.0)
    ct, m = tmp_path / "ct.nrrd", tmp_path / "lungs.nrrd"
    write_volume(vol, ct)
    write_volume(vol.with_array(lungs), m)
    titles: list[str] = []
    from matplotlib.figure import Figure

    original = Figure.suptitle
    monkeypatch.setattr(Figure, "suptitle",
                        lambda self, t, **k: titles.append(t) or original(self, t, **k))
    res = CliRunner().invoke(app, ["quantify", str(ct), "--lungs", str(m), "--out",
                                   str(tmp_path / "res")])
    assert res.exit_code == 0, res.output
    assert "WARNING" in res.stdout and "20.0 mm slices" in res.stdout
    data = json.loads((tmp_path / "res" / "quantification.json").read_text())
    assert any("20.0 mm slices" in w for w in data["warnings"])
    assert titles and "WARNING: 20.0 mm slices" in titles[0]
    assert (tmp_path / "res" / "montage.png").stat().st_size > 0


def test_lungs_that_run_out_of_the_scan_warn():
    """Lung in the scan's most inferior or superior slice: the lung beyond is out of view,
    and the result says its numbers are of the lung in view; whatever order the file lies in."""
    from covidct.io.layout import Layout
    from covidct.lesions.quantify import coverage_warnings

    ct, lungs = _chest(1.0)
    assert coverage_warnings(lungs) == ()  # slices 1..8 of 0..9
    bases = lungs.copy()
    bases[9] = bases[8]  # the top slice (index grows towards the head)
    (text,) = coverage_warnings(bases)
    assert "highest slice" in text and "lowest" not in text and "of the lung in view" in text
    both = bases.copy()
    both[0] = both[1]
    assert "lowest and highest slice" in coverage_warnings(both)[0]
    head_first = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, -1.0)  # a series stored head first
    assert not Layout.of(head_first).is_standard
    assert "lowest slice" in coverage_warnings(bases, head_first)[0]  # its slice 9 is the feet end
    result = quantify(CTVolume(ct.array, ct.spacing), bases)
    assert result.warnings == coverage_warnings(bases) and result.to_dict()["warnings"] == list(result.warnings)


def test_outline_in_consolidation_is_measured_and_warns():
    """The share of the lungs' in-plane outline that is consolidation, known by counting:
    two 20 x 12 rectangles on 8 slices have 2 * 8 * 60 edge voxels."""
    from covidct.io.layout import Layout
    from covidct.lesions.quantify import OUTLINE_WARN_SHARE, outline_consolidated, outline_warnings

    ct, lungs = _chest(1.0)
    mask = np.zeros(lungs.shape, np.uint8)
    mask[1:9, 10:30, 6] = 2  # the right lung's lateral edge: 8 * 20 voxels
    mask[1:9, 12:28, 10] = 2  # inside the lung: not outline
    mask[1:9, 10:30, 7] = 1  # ground glass beside the edge: not consolidation
    assert outline_consolidated(lungs, mask) == pytest.approx(160 / 960)
    coronal = (1.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, -1.0, 0.0)  # a coronal reformat: its slices are not axial
    stored = [Layout.of(coronal).unlay(a) for a in (lungs, mask)]
    assert outline_consolidated(*stored, coronal) == pytest.approx(160 / 960)
    assert outline_consolidated(*stored) != pytest.approx(160 / 960)
    assert outline_warnings(160 / 960) == ()
    quiet = quantify(ct, lungs, lesion_mask=mask)
    assert quiet.outline_consolidated == pytest.approx(160 / 960) and quiet.warnings == ()
    ring = np.where(lungs == 1, 2, 0).astype(np.uint8)  # the whole right lung consolidated
    assert outline_consolidated(lungs, ring) == pytest.approx(0.5)
    result = quantify(ct, lungs, lesion_mask=ring)
    (text,) = result.warnings
    assert text == outline_warnings(0.5)[0] and "50 % of the lung outline is consolidation" in text
    assert result.to_dict()["outline_consolidated"] == pytest.approx(0.5)
    assert outline_warnings(OUTLINE_WARN_SHARE) and not outline_warnings(np.nextafter(OUTLINE_WARN_SHARE, 0))


def test_outline_share_in_the_lungs_box_equals_the_whole_scan():
    """The share is counted in the lungs' box: the same as over the whole array, with lung
    at the array's border (outside counts as outline) and scattered parts."""
    from scipy import ndimage as ndi

    from covidct.lesions.quantify import outline_consolidated

    rng = np.random.default_rng(3)
    cross = np.zeros((3, 3, 3), bool)
    cross[1, 1, :] = cross[1, :, 1] = True
    for trial in range(4):
        lungs = (rng.random((12, 40, 30)) < 0.4).astype(np.uint8)
        lungs[:, :3 + trial] = 0
        mask = rng.integers(0, 3, lungs.shape).astype(np.uint8)
        edge = (lungs > 0) & ~ndi.binary_erosion(lungs > 0, structure=cross, border_value=0)
        assert outline_consolidated(lungs, mask) == pytest.approx(np.count_nonzero(edge & (mask == 2)) / edge.sum())
    assert outline_consolidated(np.zeros((3, 4, 4), np.uint8), np.zeros((3, 4, 4), np.uint8)) == 0.0
