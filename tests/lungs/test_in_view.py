"""Lungs in view or not: real abdominal CTs are refused, a scan of the lung bases is not."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from synth import dice

from covidct.errors import NoLungsFoundError
from covidct.io import read_ct
from covidct.lungs import LEFT, RIGHT, LungOptions, segment_lungs
from covidct.lungs.options import SelectOptions


@pytest.mark.parametrize("kind", ["nifti", "dicom"])
def test_real_abdomen_has_no_lungs(real_abdomen_paths, kind):
    volume = read_ct(real_abdomen_paths[kind])
    with pytest.raises(NoLungsFoundError) as err:
        segment_lungs(volume)
    message = str(err.value)
    assert "\n" not in message and str(real_abdomen_paths[kind].name) in message
    assert "no lungs in view" in message or "no plausible lungs" in message


def test_classical_refuses_abdomen_though_its_mask_keeps_the_gas(real_abdomen_paths):
    """The baseline takes the NIfTI's bowel gas for lung (no gas rule, the seed's method);
    the in-view check counts its mask without the abdominal gas."""
    volume = read_ct(real_abdomen_paths["nifti"])
    with pytest.raises(NoLungsFoundError, match="no lungs in view"):
        segment_lungs(volume, method="classical")
    unchecked = LungOptions(select=SelectOptions(min_view_ml=0.0))
    ml = float(np.count_nonzero(segment_lungs(volume, method="classical", options=unchecked)))
    assert ml * volume.voxel_volume_ml > LungOptions().select.min_view_ml  # the gas it keeps


def test_abdomen_refusal_is_the_in_view_volume(real_abdomen_paths):
    """The NIfTI shows the posterior lung recesses and colon gas at its top edge: found
    with the in-view check off, refused below ``min_view_ml``."""
    volume = read_ct(real_abdomen_paths["nifti"])
    labels = segment_lungs(volume, method="refined", options=LungOptions(select=SelectOptions(min_view_ml=0.0)))
    ml = float(np.count_nonzero(labels)) * volume.voxel_volume_ml
    assert 50.0 < ml < LungOptions().select.min_view_ml


def _bases(volume, labels_full, mm: float):
    """The volume cut to its lowest ``mm`` of lung (feet at index 0 on the sample CTs)."""
    zs = np.nonzero(labels_full.any(axis=(1, 2)))[0]
    top = int(zs.min() + round(mm / volume.spacing[0]))
    return dataclasses.replace(volume, array=np.ascontiguousarray(volume.array[:top])), top


def test_lung_bases_scan_still_works(real_ct_paths):
    volume = read_ct(real_ct_paths["lung1"])
    assert volume.direction[8] > 0  # superior at high z
    # lung1's lungs reach its first slice: its 16 lowest slices (80 mm, 5 mm apart) are
    # the lung bases, as a scan of the upper abdomen would show them
    assert volume.spacing[0] == 5.0
    cut = dataclasses.replace(volume, array=np.ascontiguousarray(volume.array[:16]))
    labels = segment_lungs(cut)
    ml = [float(np.count_nonzero(labels == k)) * volume.voxel_volume_ml for k in (RIGHT, LEFT)]
    assert ml[0] > 300.0 and ml[1] > 150.0  # both lung bases, right the larger
    assert ml[0] > ml[1]


def test_lung_bases_take_no_midline_from_the_oesophagus(real_ct_paths):
    """lung2's 21 lowest slices (its lowest 80 mm of lung): three slices of oesophageal air
    25 mm right of the body's centre are tracked, but give no midline (which had sent the
    right lung's part behind the heart to the left lung); the full scan's trachea does."""
    from covidct.lungs.airways import find_airways
    from covidct.lungs.segment import _working_scan

    volume = read_ct(real_ct_paths["lung2"])
    opts = LungOptions.fast()
    axes = []
    for scan in (volume, dataclasses.replace(volume, array=np.ascontiguousarray(volume.array[:21]))):
        hu, body, grid, orient, _ = _working_scan(scan, None, opts)
        airway, axis_x = find_airways(hu, body, grid.spacing, orient, opts)
        axes.append((bool(airway.any()), axis_x))
    (full_found, full_x), (cut_found, cut_x) = axes
    assert full_found and full_x is not None
    assert cut_found and cut_x is None


@pytest.mark.slow
@pytest.mark.parametrize("name, min_dice", [("lung1", 0.97), ("lung2", 0.95)])
def test_lung_bases_match_the_full_scan(real_ct_paths, name, min_dice):
    volume = read_ct(real_ct_paths[name])
    full = segment_lungs(volume)
    cut, top = _bases(volume, full, 80.0)
    labels = segment_lungs(cut)
    assert dice(labels > 0, full[:top] > 0) >= min_dice


@pytest.mark.parametrize("command", ["segment", "quantify"])
def test_cli_refuses_abdomen_in_one_line_writing_nothing(real_abdomen_paths, tmp_path, command):
    from typer.testing import CliRunner

    from covidct.cli.app import app

    out = tmp_path / "out"
    args = [command, str(real_abdomen_paths["nifti"])]
    args += ["-o", str(out / "lungs.nii.gz")] if command == "segment" else ["--out", str(out)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2
    text = result.output.strip()
    assert "no lungs in view" in text and "Traceback" not in text
    assert not out.exists() or not any(out.iterdir())


def test_bases_preset_analyses_the_bases_the_default_refuses(real_ct_paths):
    """lung2's 13 lowest slices hold its lowest 40 mm of lung (46 mL in the full scan's
    mask): under the default's 300 mL, so refused with a message that names the "bases"
    preset; with it the lungs in view are segmented as the full scan segments them."""
    volume = read_ct(real_ct_paths["lung2"])
    cut = dataclasses.replace(volume, array=np.ascontiguousarray(volume.array[:13]))
    with pytest.raises(NoLungsFoundError, match=r"no lungs in view.*--lung-preset bases"):
        segment_lungs(cut)
    labels = segment_lungs(cut, options=LungOptions.bases())
    full = segment_lungs(volume)[:13]
    ml = float(np.count_nonzero(labels)) * volume.voxel_volume_ml
    assert 30.0 < ml < LungOptions().select.min_view_ml
    assert dice(labels > 0, full > 0) > 0.85


def test_cli_lung_preset_bases_still_refuses_the_abdomen(real_abdomen_paths, tmp_path):
    """With the "bases" preset the abdominal NIfTI is still refused by the default method:
    the network's correction leaves 5 mL of its recesses and colon gas, under 30 mL."""
    from typer.testing import CliRunner

    from covidct.cli.app import app

    out = tmp_path / "lungs.nii.gz"
    result = CliRunner().invoke(app, ["segment", str(real_abdomen_paths["nifti"]), "-o", str(out),
                                      "--lung-preset", "bases"])
    assert result.exit_code == 2
    assert "needs at least 30 mL" in result.output and "Traceback" not in result.output
    assert not out.exists()


def test_cli_segments_the_bases_with_the_preset_and_says_what_is_out_of_view(real_ct_paths, tmp_path):
    """``covidct segment --lung-preset bases`` on lung2's lowest 60 mm of lung (17 slices):
    exit 0, the mask written, and a warning that the lung above the scan is out of view."""
    from typer.testing import CliRunner

    from covidct.cli.app import app
    from covidct.io import read_mask, write_volume

    volume = read_ct(real_ct_paths["lung2"])
    path = write_volume(dataclasses.replace(volume, array=np.ascontiguousarray(volume.array[:17])),
                        tmp_path / "bases.nrrd")
    out = tmp_path / "lungs.nii.gz"
    refused = CliRunner().invoke(app, ["segment", str(path), "-o", str(out)])
    assert refused.exit_code == 2 and "--lung-preset bases" in refused.output and not out.exists()
    result = CliRunner().invoke(app, ["segment", str(path), "-o", str(out), "--lung-preset", "bases"])
    assert result.exit_code == 0, result.output
    assert "warning: the lungs reach the scan's highest slice" in " ".join(result.output.split())
    assert read_mask(out, read_ct(path)).any()
