"""Preprocessing never leaves a folder silently wrong: one grid per folder, damaged cases
redone, counts that add up, no output inside the dataset, interrupted runs resumable."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from test_run import GRID, _case
from typer.testing import CliRunner

from covidct.cli.app import app
from covidct.datasets import write_dataset
from covidct.errors import InvalidInputError
from covidct.preprocess import GridPreset, preprocess_dataset, read_manifest

SRC = str(Path(__file__).resolve().parents[2] / "src")


@pytest.fixture()
def dataset(tmp_path):
    root = tmp_path / "data"
    write_dataset([_case(i) for i in range(3)], root, "plain")
    return root


def test_grid_damage_counts_and_placement(dataset, tmp_path):
    out = tmp_path / "prep"
    first = preprocess_dataset(dataset, out, grid=GRID, workers=1)
    assert (first.n_cases, first.n_ok, first.n_failed, first.n_pending, first.n_skipped) == (
        3, 3, 0, 0, 0)

    # another grid on the same folder: refused, nothing touched
    before = {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file()}
    other = GridPreset("test-6mm", (6.0, 6.0, 6.0), (20, 28, 28), (12, 16, 16))
    with pytest.raises(InvalidInputError, match="holds cases on grid 'test-4mm'"):
        preprocess_dataset(dataset, out, grid=other, workers=1)
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file()} == before

    # a stored file cut short is not "done": that case is redone, the others skipped
    victim = out / "cases" / "case1_ct.nrrd"
    victim.write_bytes(victim.read_bytes()[:200])
    again = preprocess_dataset(dataset, out, grid=GRID, workers=1)
    assert (again.n_ok, again.n_skipped, again.n_ok + again.n_failed + again.n_pending) == (3, 2, 3)
    assert victim.stat().st_size > 200
    manifest = read_manifest(out).set_index("case_id")
    assert manifest.loc["case1", "stored_bytes"] == sum(
        p.stat().st_size for p in (out / "cases").glob("case1_*.nrrd"))

    # outputs inside the dataset (or the dataset itself) are refused
    for bad in (dataset / "prep", dataset):
        with pytest.raises(InvalidInputError, match="inside the input folder|is the input"):
            preprocess_dataset(dataset, bad, grid=GRID)
    assert not (dataset / "prep").exists()

    # features may not write over the folder's manifest
    res = CliRunner().invoke(app, ["features", str(out), "--preset", "fast", "--no-hog",
                                   "-o", str(out / "manifest.parquet")])
    assert res.exit_code == 2 and "is the input" in res.stderr
    assert read_manifest(out).shape[0] == 3


@pytest.mark.slow
def test_interrupted_run_keeps_finished_cases(tmp_path):
    """SIGTERM mid-run: exit 130 without a traceback, the manifest lists what finished, and
    the rerun redoes none of it."""
    root = tmp_path / "data"
    write_dataset([_case(i) for i in range(8)], root, "plain")
    out = tmp_path / "prep"
    grid = "tiny-6mm"
    env = {**os.environ, "PYTHONPATH": SRC}
    proc = subprocess.Popen(
        [sys.executable, "-m", "covidct.cli.app", "preprocess", str(root), str(out),
         "--grid", grid, "--json"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True)
    deadline = time.time() + 240
    while time.time() < deadline:  # wait until some, not all, cases are done
        try:
            done = int((pd.read_csv(out / "manifest.csv").status == "ok").sum())
        except (FileNotFoundError, pd.errors.EmptyDataError, KeyError):
            done = 0
        if done >= 2:
            break
        time.sleep(0.2)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "interrupted" in err
    finished = set(read_manifest(out).query("status == 'ok'").case_id)
    assert 2 <= len(finished) <= 8
    rerun = preprocess_dataset(root, out, grid=grid, workers=1)
    assert rerun.n_skipped == len(finished) and rerun.n_ok == 8
