"""CLI: help, info, samples, and clear errors (exit code 2, one line, no traceback)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from covidct.cli.app import app
from covidct.io import CTVolume, write_volume

runner = CliRunner()


def test_help_lists_commands():
    res = runner.invoke(app, ["--help"])
    assert res.exit_code == 0
    for cmd in ("info", "segment", "quantify", "samples", "preprocess", "phantom", "dataset"):
        assert cmd in res.output


@pytest.mark.parametrize("cmd", ["info", "segment", "quantify", "samples", "preprocess"])
def test_every_command_has_help_with_an_example(cmd):
    res = runner.invoke(app, [cmd, "--help"])
    assert res.exit_code == 0
    assert "Example" in res.output


def test_info_json_matches_the_file(tmp_path):
    arr = np.arange(4 * 5 * 6, dtype=np.int16).reshape(4, 5, 6) - 1000
    path = write_volume(CTVolume(arr, (2.0, 0.5, 0.75)), tmp_path / "ct.nrrd")
    res = runner.invoke(app, ["info", str(path), "--json"])
    assert res.exit_code == 0, res.output
    info = json.loads(res.output)
    assert info["shape_zyx"] == [4, 5, 6]
    assert info["spacing_mm_zyx"] == pytest.approx([2.0, 0.5, 0.75])
    assert info["values"]["min"] == -1000 and info["values"]["max"] == -1000 + arr.size - 1


@pytest.mark.parametrize(
    "args, message",
    [
        (["info", "/no/such/ct.nii.gz"], "does not exist"),
        (["quantify", "sample:lung9"], "unknown sample"),
        (["segment", "/no/such/dir", "-o", "x.nii.gz"], "does not exist"),
    ],
)
def test_bad_input_is_one_line_and_exit_code_2(args, message):
    res = runner.invoke(app, args)
    assert res.exit_code == 2
    assert message in res.output
    assert "Traceback" not in res.output


def test_not_an_image_is_a_clear_error(tmp_path):
    bad = tmp_path / "notes.nii.gz"
    bad.write_text("this is not an image")
    res = runner.invoke(app, ["info", str(bad)])
    assert res.exit_code == 2
    assert "notes.nii.gz" in res.output
    assert "Traceback" not in res.output


def test_samples_lists_both(real_ct_paths):
    res = runner.invoke(app, ["samples"])
    assert res.exit_code == 0
    assert "sample:lung1" in res.output and "sample:lung2" in res.output
    res = runner.invoke(app, ["samples", "--path", "lung1"])
    assert res.exit_code == 0
    assert res.output.strip().endswith("lung1_image.nrrd")
