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
