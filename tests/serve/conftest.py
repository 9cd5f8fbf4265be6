"""Fixtures of the web-app tests: small simulated studies, apps on temporary data folders,
one finished analysis shared by the session, and a real uvicorn server on loopback."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from covidct.io import write_image
from covidct.phantom import simulate_case
from covidct.serve import ServeOptions, create_app

POLL_S = 0.25


@pytest.fixture(scope="session")
def tiny_ct(tmp_path_factory) -> Path:
    """A simulated COVID chest CT on the 'tiny' grid (32 x 64 x 64) as NIfTI."""
    case = simulate_case(3, diagnosis="covid", size="tiny")
    return write_image(case.volume.array, case.volume,
                       tmp_path_factory.mktemp("ct") / "tiny_covid.nii.gz")


def wait_for(client, study_id: str, statuses=("done", "failed"), timeout_s: float = 240) -> dict:
    """Poll a study until its status is one of ``statuses``; returns its record."""
    t_end = time.monotonic() + timeout_s
    while time.monotonic() < t_end:
        record = client.get(f"/api/studies/{study_id}").json()
        if record["status"] in statuses:
            return record
        time.sleep(POLL_S)
    raise AssertionError(f"study {study_id} still {record['status']} after {timeout_s} s")


def upload(client, path: Path, name: str | None = None):
    with open(path, "rb") as fh:
        return client.post("/api/studies", files={"file": (name or path.name, fh)})


@pytest.fixture(scope="session")
def served(tmp_path_factory, tiny_ct) -> Iterator[dict]:
    """One app for the session with a finished study ('done') and a non-CT one ('failed')."""
    data = tmp_path_factory.mktemp("serve-data")
    with TestClient(create_app(data, ServeOptions(workers=2))) as client:
        done_id = upload(client, tiny_ct).json()["id"]
        failed_id = client.post(
            "/api/studies", files={"file": ("notes.nii.gz", b"not a CT at all")}).json()["id"]
        done = wait_for(client, done_id)
        failed = wait_for(client, failed_id)
        yield {"client": client, "data": data, "done": done, "failed": failed}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def running_server(data: Path, options: ServeOptions) -> Iterator[str]:
    """A real uvicorn server on 127.0.0.1 (in a thread) over ``data``; yields its base URL."""
    import uvicorn

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(data, options), host="127.0.0.1",
                                           port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    t_end = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > t_end:
            raise RuntimeError("uvicorn did not start within 30 s")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)


@pytest.fixture
def live_server(tmp_path) -> Iterator[tuple[str, Path]]:
    """A real uvicorn server on loopback over a fresh data folder: (base URL, data folder)."""
    data = tmp_path / "data"
    with running_server(data, ServeOptions(workers=1)) as base:
        yield base, data
