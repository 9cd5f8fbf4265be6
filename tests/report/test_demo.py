"""`covidct demo`: the simulated study analysed with the shipped demo model (slow: end to end)."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from covidct.cli.app import app
from covidct.report.models import demo_model_path


@pytest.mark.slow
@pytest.mark.skipif(demo_model_path() is None, reason="demo model not installed")
def test_demo_simulated_study(tmp_path):
    res = CliRunner().invoke(app, ["demo", "-o", str(tmp_path / "demo"), "--no-samples"])
    assert res.exit_code == 0, res.output
    record = json.loads((tmp_path / "demo" / "simulated_covid" / "report.json").read_text())
    assert record["model"]["name"] == "covid-mtl-demo"
    assert "simulated" in record["model"]["trained_on"].lower()
    assert record["summary"]["lesion_fraction"] > 0.05  # a COVID-19 case: lesions found
    assert "simulated_covid/report.html" in res.output.replace("\n", "")
