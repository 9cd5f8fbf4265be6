"""The analysis glue: the command, progress and error lines, reading an output folder
(``quantify``'s and ``analyze``'s layouts), and the job time-out."""

from __future__ import annotations

import json
import shutil
import sys

import numpy as np
import pytest
from fastapi.testclient import TestClient

from covidct.errors import InvalidInputError
from covidct.io import read_ct, write_image
from covidct.serve import ServeOptions, analysis_command, create_app, read_results
from covidct.serve.analysis import error_line, key_numbers, progress_line

from .conftest import upload, wait_for


def test_analysis_command_runs_this_interpreters_cli(tmp_path):
    argv = analysis_command(tmp_path / "in.nii.gz", tmp_path / "out")
    assert argv[:3] == [sys.executable, "-m", "covidct.cli.app"]
    assert str(tmp_path / "in.nii.gz") in argv and str(tmp_path / "out") in argv


def test_progress_and_error_lines():
    assert progress_line("reading the CT\n") == "reading the CT"
    for not_a_step in ("", "   \n", "{\n", '  "lung_volume_ml": 2593.5,\n', "}\n"):
        assert progress_line(not_a_step) is None
    stderr = ("WARNING covidct.lesions.quantify: coarse grid\n"
              "error: cannot read image file a.nii.gz: not an image\n")
    assert error_line(stderr, 2) == "cannot read image file a.nii.gz: not an image"
    assert error_line("Segmentation fault\n", -11) == "Segmentation fault"
    assert "exit code -9" in error_line("", -9)


def test_read_results_of_both_layouts(served, tmp_path):
    """analyze's folder as it is (report.json, report.html, masks); then quantify's layout
    (quantification.json, no report page) gives the same key numbers."""
    src = served["data"] / "studies" / served["done"]["id"] / "out"
    out = shutil.copytree(src, tmp_path / "out")
    first = read_results(out)
    assert first.numbers_file.name == "report.json" and first.report_html == out / "report.html"
    assert {"lungs", "lesions"} <= set(first.masks)
    assert first.masks["lungs"].name == "lungs.nii.gz"
    quant = first.numbers["lesions"]["quantification"]
    legacy = shutil.copytree(src, tmp_path / "legacy")
    (legacy / "report.json").unlink()
    (legacy / "report.html").unlink()
    (legacy / "quantification.json").write_text(json.dumps(quant))
    lesions = read_ct(legacy / "lesions.nii.gz")
    write_image(lesions.array.astype(np.float32) / 2, lesions, legacy / "heatmap.nii.gz")
    second = read_results(legacy)
    assert second.numbers_file.name == "quantification.json" and second.report_html is None
    assert set(second.masks) == {"lungs", "lesions", "heatmap"}
    assert key_numbers(second.numbers) == key_numbers(first.numbers)
    (out / "report.json").write_text("[1, 2]")
    with pytest.raises(InvalidInputError, match="no JSON object"):
        read_results(out)
    with pytest.raises(InvalidInputError, match="no numbers file"):
        read_results(tmp_path)
    with pytest.raises(InvalidInputError, match="no lesion quantification"):
        key_numbers({"version": 1})


def test_an_analysis_over_the_time_limit_is_killed(tmp_path, tiny_ct):
    with TestClient(create_app(tmp_path / "d", ServeOptions(job_timeout_s=0.5))) as client:
        sid = upload(client, tiny_ct).json()["id"]
        record = wait_for(client, sid, timeout_s=60)
    assert record["status"] == "failed"
    assert record["error"] == "the analysis took longer than 0.5 s and was stopped"
    assert not (tmp_path / "d" / "studies" / sid / "out.partial").exists()
