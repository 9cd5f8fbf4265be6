"""With several DICOM series, the one read is named in the normal output and in the JSON."""

from __future__ import annotations

import json

from hostile import chest
from typer.testing import CliRunner

from covidct.cli.app import app
from covidct.io import write_dicom_series


def test_series_choice_reported(tmp_path):
    vol, _ = chest()
    folder = tmp_path / "study"
    write_dicom_series(vol, folder / "a", series_uid="1.2.3.1", series_description="lung")
    write_dicom_series(type(vol)(vol.array[:6], vol.spacing), folder / "b",
                       series_uid="1.2.3.2", series_description="scout")
    runner = CliRunner()
    res = runner.invoke(app, ["info", str(folder)])
    assert res.exit_code == 0, res.output
    assert "series: read 1.2.3.1 (12 slices, lung) of 2 series" in res.stderr
    res = runner.invoke(app, ["info", str(folder), "--json"])
    table = json.loads(res.stdout)["metadata"]["series_choice"]
    assert [(r["series_uid"], r["chosen"]) for r in table] == [("1.2.3.1", True),
                                                               ("1.2.3.2", False)]


def test_series_choice_in_quantify_json(tmp_path):
    from covidct.io import read_ct, write_volume

    vol, lungs = chest()
    folder = tmp_path / "study"
    write_dicom_series(vol, folder / "a", series_uid="1.2.3.1", series_description="lung")
    write_dicom_series(type(vol)(vol.array[:6], vol.spacing), folder / "b",
                       series_uid="1.2.3.2", series_description="scout")
    mask = tmp_path / "lungs.nii.gz"
    write_volume(read_ct(folder).with_array(lungs), mask)
    res = CliRunner().invoke(app, ["quantify", str(folder), "--lungs", str(mask), "--json"])
    assert res.exit_code == 0, res.output
    chosen = [r for r in json.loads(res.stdout)["series_choice"] if r["chosen"]]
    assert [r["series_uid"] for r in chosen] == ["1.2.3.1"]
    assert "series: read 1.2.3.1" in res.stderr
