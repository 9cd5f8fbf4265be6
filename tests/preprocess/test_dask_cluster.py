"""A real Dask cluster on loopback (``dask scheduler`` + two ``dask worker`` processes):
preprocess and features run on it by address; a worker killed mid-run leaves every case
done or failed, never lost."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from test_run import _case
from typer.testing import CliRunner

from covidct.cli.app import app
from covidct.datasets import write_dataset
from covidct.preprocess import read_manifest

SRC = str(Path(__file__).resolve().parents[2] / "src")
DASK = str(Path(sys.executable).with_name("dask"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_for_workers(address: str, n: int, timeout: float = 120) -> None:
    from dask.distributed import Client

    with Client(address, timeout=timeout) as client:
        client.wait_for_workers(n, timeout=timeout)


@pytest.fixture()
def cluster(tmp_path):
    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    env = {**os.environ, "PYTHONPATH": SRC, "DASK_LOGGING__DISTRIBUTED": "warning"}
    logs = tmp_path / "dask-logs"
    logs.mkdir()
    with (open(logs / "scheduler.log", "w") as slog, open(logs / "worker0.log", "w") as w0,
          open(logs / "worker1.log", "w") as w1):
        procs = [subprocess.Popen(
            [DASK, "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"],
            env=env, stdout=slog, stderr=subprocess.STDOUT)]
        time.sleep(2)
        for log in (w0, w1):
            procs.append(subprocess.Popen(
                [DASK, "worker", address, "--nthreads", "1", "--nworkers", "1", "--no-nanny",
                 "--memory-limit", "2GiB", "--no-dashboard"], env=env, stdout=log,
                stderr=subprocess.STDOUT))
        try:
            _wait_for_workers(address, 2)
            yield address, procs
        finally:
            for p in procs:
                if p.poll() is None:
                    p.terminate()
            for p in procs:
                try:
                    p.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    p.kill()


@pytest.mark.slow
def test_preprocess_and_features_on_a_real_cluster(cluster, tmp_path):
    address, procs = cluster
    root = tmp_path / "data"
    write_dataset([_case(i) for i in range(8)], root, "plain")
    out = tmp_path / "prep"
    runner = CliRunner()
    killed = {"done": False}

    def kill_one_worker() -> None:  # once the run is under way, kill worker 1 (SIGKILL)
        deadline = time.time() + 120
        while time.time() < deadline and not (out / "manifest.csv").exists():
            time.sleep(0.1)
        os.kill(procs[2].pid, signal.SIGKILL)
        killed["done"] = True

    import threading

    killer = threading.Thread(target=kill_one_worker)
    killer.start()
    res = runner.invoke(app, ["preprocess", str(root), str(out), "--grid", "tiny-6mm",
                              "--scheduler", address, "--json"])
    killer.join()
    assert killed["done"] and procs[2].poll() is not None
    assert res.exit_code == 0, res.output
    manifest = read_manifest(out)
    assert len(manifest) == 8 and set(manifest.status) <= {"ok", "failed"}
    assert (manifest.status == "ok").sum() >= 6  # tasks of the dead worker are rescheduled

    # a rerun redoes nothing finished; failed cases (if any) come back with --retry-failed
    res = runner.invoke(app, ["preprocess", str(root), str(out), "--grid", "tiny-6mm",
                              "--scheduler", address, "--retry-failed", "--json"])
    assert res.exit_code == 0, res.output
    assert set(read_manifest(out).status) == {"ok"}

    res = runner.invoke(app, ["features", str(out), "--preset", "fast", "--no-hog",
                              "--scheduler", address, "-o", str(tmp_path / "f.parquet")])
    assert res.exit_code == 0, res.output
    assert "8 ok, 0 failed of 8 cases" in res.stdout
