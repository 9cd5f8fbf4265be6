"""The JSON API: upload, status, progress, errors, numbers, files, delete, queue, restart."""

from __future__ import annotations

import json
import shutil
import time

import pytest
from fastapi.testclient import TestClient

from covidct.provenance import sha256_file
from covidct.serve import ServeOptions, create_app
from covidct.serve.store import StudyStore

from .conftest import upload, wait_for


def test_finished_study_reports_the_numbers_of_its_numbers_file(served):
    client, done = served["client"], served["done"]
    assert done["status"] == "done" and done["error"] is None
    steps = [p["step"] for p in done["progress"]]
    assert steps[:3] == ["uploaded", "started", "analysis started"]
    assert steps[-1].startswith("analysis finished in")
    out = served["data"] / "studies" / done["id"] / "out"
    assert done["numbers_file"] == "report.json"
    on_disk = json.loads((out / "report.json").read_text())["lesions"]["quantification"]
    shown = {row["key"]: row["value"] for row in done["numbers"]["key"]}
    for key in ("lung_volume_ml", "lesion_volume_ml", "lesion_fraction", "ggo_fraction",
                "consolidation_fraction", "ct_category"):
        assert shown[key] == on_disk[key]
    assert done["numbers"]["zones"] == on_disk["zones"]
    assert done["numbers"]["lungs"]["right"] == on_disk["right"]
    expected_layers = {"lesions", "lungs"} | ({"heatmap"} if (out / "heatmap.nii.gz").is_file() else set())
    assert set(done["layers"]) == expected_layers
    record = json.loads((served["data"] / "studies" / done["id"] / "study.json").read_text())
    upload_file = served["data"] / "studies" / done["id"] / "upload" / "input.nii.gz"
    assert record["provenance"]["inputs"][0]["sha256"] == sha256_file(upload_file)
    assert record["provenance"]["options"]["serve"]["workers"] == 2
    assert str(upload_file) in record["analysis_command"]
    assert str(upload_file.parents[1] / "out.partial") in record["analysis_command"]
    # every linked file is served with the bytes the analysis wrote
    for name, url in done["links"].items():
        response = client.get(url)
        assert response.status_code == 200
        assert response.content == (served["data"] / "studies" / done["id"] / "out" / name).read_bytes()


def test_non_ct_upload_fails_with_the_readers_one_line_message(served):
    failed, client = served["failed"], served["client"]
    assert failed["status"] == "failed"
    assert "notes.nii.gz is damaged" in failed["error"]
    assert str(served["data"]) not in failed["error"]  # no server paths shown to users
    assert "\n" not in failed["error"] and "Traceback" not in failed["error"]
    assert not (served["data"] / "studies" / failed["id"] / "out").exists()
    assert not (served["data"] / "studies" / failed["id"] / "out.partial").exists()
    # results of a failed study are refused cleanly, never a server error
    assert client.get(f"/api/studies/{failed['id']}/slices/0.png").status_code == 409
    assert client.get(f"/api/studies/{failed['id']}/files/report.json").status_code == 409


def test_list_shows_both_studies_with_status(served):
    rows = {r["id"]: r for r in served["client"].get("/api/studies").json()}
    assert rows[served["done"]["id"]]["status"] == "done"
    assert rows[served["done"]["id"]]["lesion_fraction"] == pytest.approx(
        next(r["value"] for r in served["done"]["numbers"]["key"] if r["key"] == "lesion_fraction"))
    assert rows[served["failed"]["id"]]["status"] == "failed"


@pytest.mark.parametrize("bad_id", ["..", "..%2F..%2Fetc", "ABCDEF", "0" * 23, "0" * 24, "x" * 24])
def test_unknown_or_malformed_ids_answer_404(served, bad_id):
    client = served["client"]
    assert client.get(f"/api/studies/{bad_id}").status_code == 404
    assert client.delete(f"/api/studies/{bad_id}").status_code in (404, 405)


def test_unknown_result_file_is_404_and_paths_do_not_escape(served):
    client, sid = served["client"], served["done"]["id"]
    assert client.get(f"/api/studies/{sid}/files/study.json").status_code == 404
    assert client.get(f"/api/studies/{sid}/files/..%2Fstudy.json").status_code == 404


def test_upload_refusals_create_no_study(served):
    client, data = served["client"], served["data"]
    before = sorted(p.name for p in (data / "studies").iterdir())
    r = client.post("/api/studies", files={"file": ("photo.jpg", b"\xff\xd8\xff")})
    assert r.status_code == 415 and "not a file the analysis reads" in r.json()["detail"]
    r = client.post("/api/studies", files={"other": ("a.nii.gz", b"abc")})
    assert r.status_code == 400 and "'file'" in r.json()["detail"]
    r = client.post("/api/studies", content=b"abc", headers={"content-type": "application/zip"})
    assert r.status_code == 400
    r = client.post("/api/studies", content=b"garbage\r\n--xx\r\n",
                    headers={"content-type": "multipart/form-data; boundary=xx"})
    assert r.status_code == 400 and "malformed" in r.json()["detail"]
    r = client.post("/api/studies", files={"file": ("empty.nii.gz", b"")})
    assert r.status_code == 400 and "empty" in r.json()["detail"]
    assert sorted(p.name for p in (data / "studies").iterdir()) == before
    assert list((data / "incoming").iterdir()) == []


def test_retry_only_for_failed_studies(served):
    client = served["client"]
    r = client.post(f"/api/studies/{served['done']['id']}/retry")
    assert r.status_code == 409


def test_openapi_documents_the_api(served):
    schema = served["client"].get("/openapi.json").json()
    paths = schema["paths"]
    assert set(paths["/api/studies"]) == {"get", "post"}
    assert set(paths["/api/studies/{study_id}"]) == {"get", "delete"}
    assert "/api/studies/{study_id}/slices/{k}.png" in paths
    body = paths["/api/studies"]["post"]["requestBody"]["content"]["multipart/form-data"]
    client = served["client"]
    assert client.get("/docs").status_code == 404  # its scripts would come from a CDN
    assert body["schema"]["required"] == ["file"]


def test_queue_delete_and_restart(tmp_path, tiny_ct):
    """workers=1: the second study waits in line; a stopped server leaves the running one
    'running' on disk, and the next start marks it failed (interrupted) and lists it again,
    with retry; delete removes a study and its files."""
    data = tmp_path / "data"
    with TestClient(create_app(data, ServeOptions(workers=1))) as client:
        first = upload(client, tiny_ct).json()["id"]
        second = upload(client, tiny_ct, "second.nii.gz").json()["id"]
        wait_for(client, first, statuses=("running",), timeout_s=30)
        waiting = client.get(f"/api/studies/{second}").json()
        assert waiting["status"] == "queued" and waiting["queue_position"] == 1
        third = upload(client, tiny_ct, "third.nii.gz").json()["id"]
        assert client.get(f"/api/studies/{third}").json()["queue_position"] == 2
        assert client.delete(f"/api/studies/{second}").status_code == 204
        assert client.get(f"/api/studies/{second}").status_code == 404
        assert not (data / "studies" / second).exists()
        assert client.get(f"/api/studies/{third}").json()["queue_position"] == 1
    # the server has stopped (its analysis killed): a new one on the same folder
    with TestClient(create_app(data, ServeOptions(workers=1))) as client:
        rows = {r["id"]: r for r in client.get("/api/studies").json()}
        assert set(rows) == {first, third}
        for sid in (first, third):
            assert rows[sid]["status"] == "failed"
            assert "server stopped" in rows[sid]["error"] and "retry" in rows[sid]["error"]
        assert client.post(f"/api/studies/{first}/retry").json()["status"] == "queued"
        record = wait_for(client, first, statuses=("running", "done"), timeout_s=30)
        assert record["error"] is None and record["progress"][-2]["step"] in ("retry", "started")
        t0 = time.monotonic()
        assert client.delete(f"/api/studies/{first}").status_code == 204  # kills the analysis
        assert time.monotonic() - t0 < 15
        assert not (data / "studies" / first).exists()


def test_finished_studies_are_listed_again_after_a_restart(served, tmp_path):
    """A copy of the session's data folder, opened by a new server, shows the same results."""
    data = tmp_path / "copy"
    shutil.copytree(served["data"] / "studies", data / "studies")
    with TestClient(create_app(data)) as client:
        again = client.get(f"/api/studies/{served['done']['id']}").json()
        assert again["status"] == "done" and again["numbers"] == served["done"]["numbers"]
        assert client.get(f"/api/studies/{served['failed']['id']}").json()["error"] == (
            served["failed"]["error"])


def test_store_ids_are_random_and_records_are_atomic(tmp_path):
    store = StudyStore(tmp_path)
    ids = {store.new_incoming()[0] for _ in range(50)}
    assert len(ids) == 50 and all(len(i) == 24 and int(i, 16) >= 0 for i in ids)
    sid, incoming = store.new_incoming()
    store.create(sid, incoming, filename="a.nii.gz", input_name="input.nii.gz", size_bytes=3,
                 options={})
    store.update(sid, status="running", step="started")
    assert [p.name for p in (tmp_path / "studies" / sid).iterdir()] == ["study.json"]
    assert store.get(sid)["status"] == "running"
    with pytest.raises(ValueError, match="status must be one of"):
        store.update(sid, status="lost")
