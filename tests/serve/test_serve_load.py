"""Load on loopback: N concurrent uploads and 10 x N status polls against a real uvicorn
server, bounded in time, with no 5xx and no lost study."""

from __future__ import annotations

import asyncio
import time

import httpx

from covidct.serve import ServeOptions

from .conftest import running_server

N_UPLOADS = 8
TIME_BOUND_S = 60.0


async def _load(base: str, payload: bytes) -> tuple[list[httpx.Response], list[httpx.Response], float]:
    limits = httpx.Limits(max_connections=64)
    async with httpx.AsyncClient(base_url=base, timeout=TIME_BOUND_S, limits=limits) as client:
        async def one_upload(i: int) -> httpx.Response:
            return await client.post("/api/studies",
                                     files={"file": (f"study{i}.nii.gz", payload)})

        async def poll(i: int, ids: list[str]) -> httpx.Response:
            await asyncio.sleep(0.01 * (i % 10))
            if i % 2 or not ids:
                return await client.get("/api/studies")
            return await client.get(f"/api/studies/{ids[i % len(ids)]}")

        t0 = time.monotonic()
        seen: list[str] = []
        uploads_task = asyncio.gather(*(one_upload(i) for i in range(N_UPLOADS)))
        early_polls = await asyncio.gather(*(poll(i, seen) for i in range(5 * N_UPLOADS)))
        uploads = await uploads_task
        seen.extend(r.json()["id"] for r in uploads if r.status_code == 201)
        late_polls = await asyncio.gather(*(poll(i, seen) for i in range(5 * N_UPLOADS)))
        return uploads, early_polls + late_polls, time.monotonic() - t0


def test_concurrent_uploads_and_polls(live_server, tiny_ct):
    base, data = live_server
    uploads, polls, seconds = asyncio.run(_load(base, tiny_ct.read_bytes()))
    assert seconds < TIME_BOUND_S
    assert len(polls) == 10 * N_UPLOADS
    assert all(r.status_code == 201 for r in uploads), [r.text for r in uploads]
    assert all(r.status_code == 200 for r in polls), {r.status_code for r in polls}
    ids = [r.json()["id"] for r in uploads]
    assert len(set(ids)) == N_UPLOADS
    with httpx.Client(base_url=base, timeout=30) as client:
        listed = {r["id"]: r for r in client.get("/api/studies").json()}
        assert set(listed) == set(ids)  # no lost study
        assert sum(r["status"] == "running" for r in listed.values()) <= 1  # workers=1
        queued = sorted(r["queue_position"] for r in listed.values() if r["status"] == "queued")
        assert queued == list(range(1, len(queued) + 1))
        for sid in ids:  # every stored upload is byte-exact
            assert (data / "studies" / sid / "upload" / "input.nii.gz").read_bytes() == (
                tiny_ct.read_bytes())
        for sid in ids:
            assert client.delete(f"/api/studies/{sid}").status_code == 204
        assert client.get("/api/studies").json() == []
    print(f"\n{N_UPLOADS} uploads + {len(polls)} polls on loopback in {seconds:.2f} s")


def test_oversized_upload_over_http_is_413_and_stores_nothing(tmp_path):
    """Over a real connection, 20 MB streamed against a 100 kB limit: 413, nothing kept."""
    def body():
        yield (b'--bb\r\nContent-Disposition: form-data; name="file"; filename="a.nii.gz"'
               b"\r\n\r\n")
        for _ in range(2000):
            yield b"\0" * 10_000
        yield b"\r\n--bb--\r\n"

    data = tmp_path / "data"
    with running_server(data, ServeOptions(max_upload_bytes=100_000)) as base:
        r = httpx.post(f"{base}/api/studies", content=body(), timeout=60,
                       headers={"content-type": "multipart/form-data; boundary=bb"})
        assert r.status_code == 413 and "limit of 100000 bytes" in r.json()["detail"]
        assert httpx.get(f"{base}/api/studies").json() == []
    assert [p for p in data.rglob("*") if p.is_file()] == []
