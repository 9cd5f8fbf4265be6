"""Upload safety: the size limit while streaming, checked zips (.., absolute paths, links,
entry and size caps, zip bombs), nothing written outside the data folder."""

from __future__ import annotations

import asyncio
import io
import stat
import zipfile

import numpy as np
import pytest
from fastapi.testclient import TestClient
from starlette.requests import Request

from covidct.errors import InvalidInputError
from covidct.io import read_ct, write_dicom_series
from covidct.phantom import simulate_case
from covidct.serve import ServeOptions, create_app
from covidct.serve.archive import check_zip_entries, extract_zip
from covidct.serve.upload import UploadRejected, receive_upload

from .conftest import wait_for

BOUNDARY = "covidctboundary"


def _multipart_chunks(payload: bytes, chunk: int, filename: str = "big.nii.gz") -> list[bytes]:
    head = (f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; "
            f"filename=\"{filename}\"\r\nContent-Type: application/octet-stream\r\n\r\n").encode()
    body = head + payload + f"\r\n--{BOUNDARY}--\r\n".encode()
    return [body[i:i + chunk] for i in range(0, len(body), chunk)]


def _request(chunks: list[bytes], consumed: list[int], content_length: int | None = None,
             receive=None):
    headers = [(b"content-type", f"multipart/form-data; boundary={BOUNDARY}".encode())]
    if content_length is not None:
        headers.append((b"content-length", str(content_length).encode()))
    pending = list(chunks)

    async def _receive():
        consumed.append(1)
        body = pending.pop(0)
        return {"type": "http.request", "body": body, "more_body": bool(pending)}

    scope = {"type": "http", "method": "POST", "path": "/api/studies", "headers": headers,
             "query_string": b""}
    return Request(scope, receive or _receive)


def test_size_limit_is_enforced_while_streaming(tmp_path):
    """A 1 MB upload against a 100 kB limit stops after about 100 kB of the body is read."""
    chunks = _multipart_chunks(b"\0" * 1_000_000, 10_000)
    consumed: list[int] = []
    with pytest.raises(UploadRejected, match="larger than the limit") as info:
        asyncio.run(receive_upload(_request(chunks, consumed), tmp_path, max_bytes=100_000))
    assert info.value.status_code == 413
    assert len(consumed) <= 12 < len(chunks)  # ~10 chunks read of 101: cut off, not after
    assert (tmp_path / "input.nii.gz").stat().st_size <= 100_000


def test_declared_length_over_the_limit_is_refused_before_reading(tmp_path):
    consumed: list[int] = []
    chunks = _multipart_chunks(b"\0" * 300_000, 10_000)
    with pytest.raises(UploadRejected) as info:
        asyncio.run(receive_upload(_request(chunks, consumed, content_length=300_200), tmp_path,
                                   max_bytes=100_000))
    assert info.value.status_code == 413 and consumed == [] and list(tmp_path.iterdir()) == []


def test_client_disconnect_mid_upload_is_a_clean_refusal(tmp_path):
    sent = _multipart_chunks(b"\1" * 50_000, 10_000)[:3]

    async def receive():
        if sent:
            return {"type": "http.request", "body": sent.pop(0), "more_body": True}
        return {"type": "http.disconnect"}

    request = _request([], [], receive=receive)
    with pytest.raises(UploadRejected, match="disconnected"):
        asyncio.run(receive_upload(request, tmp_path, max_bytes=100_000))


def test_upload_within_the_limit_is_stored_byte_exact(tmp_path):
    payload = np.random.default_rng(0).bytes(250_000)
    stored = asyncio.run(receive_upload(_request(_multipart_chunks(payload, 7_777, "../../x/ct.NRRD"), []),
                                        tmp_path, max_bytes=250_000))
    assert stored.path == tmp_path / "input.nrrd"  # fixed name; the user's path is display text
    assert stored.filename == "ct.NRRD" and stored.size_bytes == 250_000
    assert stored.path.read_bytes() == payload


def test_app_answers_413_and_keeps_nothing(tmp_path):
    data = tmp_path / "data"
    with TestClient(create_app(data, ServeOptions(max_upload_bytes=1000))) as client:
        r = client.post("/api/studies", files={"file": ("a.nii.gz", b"\1" * 5000)})
        assert r.status_code == 413
        assert client.get("/api/studies").json() == []
    assert list((data / "studies").iterdir()) == [] and list((data / "incoming").iterdir()) == []


# ----------------------------------------------------------------------- zips
def _zip(entries: list[tuple[zipfile.ZipInfo | str, bytes]], compression=zipfile.ZIP_DEFLATED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression) as zf:
        for info, data in entries:
            zf.writestr(info, data)
    return buf.getvalue()


def _symlink(name: str, target: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name)
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    return info


LIMITS = {"max_entries": 100, "max_bytes": 10_000_000, "max_ratio": 200.0}


@pytest.mark.parametrize("entries, message", [
    ([("../evil.dcm", b"x")], "climbs out"),
    ([("a/../../evil.dcm", b"x")], "climbs out"),
    ([("/etc/evil.dcm", b"x")], "absolute path"),
    ([("C:/evil.dcm", b"x")], "absolute path"),
    ([("a\\..\\evil.dcm", b"x")], "backslash"),
    ([(_symlink("link", "/etc/passwd"), b"/etc/passwd")], "link or special file"),
    ([(f"f{i}.dcm", b"x") for i in range(101)], "101 entries"),
    ([("big.raw", b"\0" * 8_000_000), ("b2.raw", b"\0" * 3_000_000)], "zip bomb"),
    ([], "no files"),
])
def test_unsafe_zips_are_refused_before_writing(tmp_path, entries, message):
    path = tmp_path / "up.zip"
    path.write_bytes(_zip(entries))
    with pytest.raises(InvalidInputError, match=message):
        extract_zip(path, tmp_path / "out", **LIMITS)
    assert not (tmp_path / "out").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["up.zip"]


def test_total_uncompressed_size_cap(tmp_path):
    path = tmp_path / "up.zip"
    rng = np.random.default_rng(1)
    path.write_bytes(_zip([(f"f{i}.bin", rng.bytes(400_000)) for i in range(3)]))
    with pytest.raises(InvalidInputError, match="expands to 1200000 bytes; at most 1000000"):
        check_zip_entries(path, max_entries=100, max_bytes=1_000_000, max_ratio=200.0)


def test_not_a_zip_is_refused(tmp_path):
    path = tmp_path / "up.zip"
    path.write_bytes(b"PK\3\4 but not really")
    with pytest.raises(InvalidInputError, match="not a valid zip"):
        extract_zip(path, tmp_path / "out", **LIMITS)


def test_dicom_zip_round_trip(tmp_path):
    """A zipped DICOM series extracts byte-exact and reads back as the same volume."""
    case = simulate_case(5, size="tiny")
    series = tmp_path / "series"
    files = sorted(write_dicom_series(case.volume, series))
    path = tmp_path / "up.zip"
    path.write_bytes(_zip([(f"study/{p.name}", p.read_bytes()) for p in files]))
    out = extract_zip(path, tmp_path / "out", **LIMITS)
    for p in files:
        assert (out / "study" / p.name).read_bytes() == p.read_bytes()
    np.testing.assert_array_equal(read_ct(out).array, read_ct(series).array)


def test_unsafe_zip_upload_fails_the_study_and_writes_nothing_outside(tmp_path):
    data = tmp_path / "data"
    bad = _zip([("ok.dcm", b"x"), ("../../../../escaped.dcm", b"owned")])
    with TestClient(create_app(data)) as client:
        sid = client.post("/api/studies", files={"file": ("series.zip", bad)}).json()["id"]
        record = wait_for(client, sid, timeout_s=30)
    assert record["status"] == "failed"
    assert "zip entry '../../../../escaped.dcm' climbs out" in record["error"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data"]
    written = [p.name for p in data.rglob("*") if p.is_file()]
    assert "escaped.dcm" not in written and "ok.dcm" not in written
