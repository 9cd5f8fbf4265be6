"""``covidct serve``: a real server process on loopback, options, the --host warning, errors."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import httpx
import uvicorn
from typer.testing import CliRunner

from covidct.cli.app import app

from .conftest import free_port

runner = CliRunner()


def test_serve_runs_a_server_on_loopback(tmp_path):
    port = free_port()
    env = dict(os.environ)
    proc = subprocess.Popen(
        [sys.executable, "-m", "covidct.cli.app", "serve", "--data", str(tmp_path / "d"),
         "--port", str(port)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env)
    try:
        t_end = time.monotonic() + 60
        while True:
            try:
                r = httpx.get(f"http://127.0.0.1:{port}/api/studies", timeout=2)
                break
            except httpx.TransportError:
                if time.monotonic() > t_end or proc.poll() is not None:
                    raise AssertionError(proc.stdout.read().decode() if proc.stdout else "")
                time.sleep(0.3)
        assert r.status_code == 200 and r.json() == []
        assert httpx.get(f"http://127.0.0.1:{port}/").headers["content-type"].startswith("text/html")
        assert (tmp_path / "d" / "studies").is_dir()
    finally:
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=30) == 0


def test_options_and_host_warning(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: calls.append((app, kw)))
    res = runner.invoke(app, ["serve", "--data", str(tmp_path), "--workers", "2",
                              "--max-upload-gb", "0.5", "--host", "0.0.0.0", "--port", "9999"])
    assert res.exit_code == 0, res.output
    assert "warning" in res.output and "no login" in res.output
    served, kw = calls[0]
    assert kw == {"host": "0.0.0.0", "port": 9999, "log_level": "info"}
    options = served.state.studies.options
    assert options.workers == 2 and options.max_upload_bytes == 2**29
    served.state.studies.pool.shutdown()
    res = runner.invoke(app, ["serve", "--data", str(tmp_path), "--port", "9999"])
    assert "warning" not in res.output
    calls[-1][0].state.studies.pool.shutdown()


def test_unknown_preset_is_one_line_exit_2(tmp_path):
    res = runner.invoke(app, ["serve", "--data", str(tmp_path), "--preset", "huge"])
    assert res.exit_code == 2
    assert "unknown serve preset 'huge'" in res.output and "Traceback" not in res.output
    assert res.output.strip().count("\n") == 0


def test_help_has_an_example():
    res = runner.invoke(app, ["serve", "--help"])
    assert res.exit_code == 0 and "Example" in res.output
