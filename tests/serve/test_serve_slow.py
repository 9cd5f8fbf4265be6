"""Slow end-to-end analyses through the API: a zipped DICOM series, and a real abdominal CT
(no lungs) that must end as a failed study with the reader's message."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from covidct.io import write_dicom_series
from covidct.phantom import simulate_case
from covidct.serve import create_app

from .conftest import upload, wait_for

ABDOMEN = Path(__file__).resolve().parents[3] / "shared" / "data" / "real-abdomen" / "abdomen_ct.nii.gz"


@pytest.mark.slow
def test_zipped_dicom_series_is_analysed(tmp_path):
    case = simulate_case(7, diagnosis="covid", size="tiny")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for path in write_dicom_series(case.volume, tmp_path / "series"):
            zf.write(path, f"patient/series/{path.name}")
    with TestClient(create_app(tmp_path / "data")) as client:
        sid = client.post("/api/studies", files={"file": ("dicom.zip", buf.getvalue())}).json()["id"]
        record = wait_for(client, sid)
        assert record["status"] == "done", record["error"]
        assert "zip checked and extracted" in [p["step"] for p in record["progress"]]
        numbers = json.loads((tmp_path / "data" / "studies" / sid / "out" /
                              record["numbers_file"]).read_text())
        assert numbers["study"]["description"]["shape_zyx"] == list(case.volume.shape)
        assert client.get(f"/api/studies/{sid}/volume").json()["shape_zyx"] == list(case.volume.shape)


@pytest.mark.slow
def test_abdomen_without_lungs_ends_as_a_failed_study(tmp_path):
    if not ABDOMEN.is_file():
        pytest.skip(f"real abdominal CT not found at {ABDOMEN}")
    with TestClient(create_app(tmp_path / "data")) as client:
        sid = upload(client, ABDOMEN).json()["id"]
        record = wait_for(client, sid, timeout_s=600)
    assert record["status"] == "failed"
    assert "lung" in record["error"].lower() and "\n" not in record["error"]
